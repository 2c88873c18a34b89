"""The shop feed behind `shopsUpdated` (gql/feeds.py) on SQLite and PostgreSQL: one read per change signal shared
by every follower of the merchant, sending only the shops whose name, status, attention or end changed."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import InProcessEventBus
from domain.shops import Shop
from gql.feeds import ShopFeed, ShopFollower
from tests.fakes import FakeClock
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import NOW, add_shop, make_shop

FOLLOWERS = 30


async def _changed(follower: ShopFollower) -> list[Any]:
    """The next non-empty batch of changed shops the follower gets."""
    async with asyncio.timeout(DEADLINE_SECONDS):
        while True:
            changed = await follower.next()
            if changed:
                return changed


async def _save(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    async with uow_factory(database, cipher)() as uow:
        await uow.shops.update(shop)
        await uow.commit()


@pytest.mark.parametrize("followers", [1, FOLLOWERS])
async def test_one_read_per_signal_whatever_the_number_of_followers(
    database: Database, cipher: TokenCipher, followers: int
) -> None:
    # given a merchant's two shops, followed by many subscribers through one feed that never falls back
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("m1"))
    other = await add_shop(uows, make_shop("m1"))
    bus = InProcessEventBus()
    registry: dict[str, Any] = {}
    feed = ShopFeed(database, bus, FakeClock(NOW), "m1", registry, fallback_interval=600)
    registry["m1"] = feed
    async with AsyncExitStack() as stack:
        members = [await stack.enter_async_context(feed.follow()) for _ in range(followers)]
        async with asyncio.timeout(DEADLINE_SECONDS):
            await feed.ready.wait()  # the baseline: sends nothing
        assert [m.pending for m in members] == [{}] * followers
        reads_before = feed.reads
        # when one shop is renamed, then revoked, each change signalled once
        shop.rename("Renamed store")
        await _save(database, cipher, shop)
        await bus.shop_changed(shop.id, "m1")
        renamed = await asyncio.gather(*(_changed(m) for m in members))
        shop.deauthorize(NOW + timedelta(minutes=1), NOW + timedelta(minutes=1))
        await _save(database, cipher, shop)
        await bus.shop_changed(shop.id, "m1")
        revoked = await asyncio.gather(*(_changed(m) for m in members))
        reads = feed.reads - reads_before
    # then every follower got that shop alone, each time, from one read per signal
    assert {(s.internal_id, s.name) for batch in renamed for s in batch} == {(shop.id, "Renamed store")}
    assert {(s.internal_id, s.status.value) for batch in revoked for s in batch} == {(shop.id, "REVOKED")}
    assert all(len(batch) == 1 for batch in [*renamed, *revoked])
    assert len({id(batch[0]) for batch in revoked}) == 1  # one object shared by all (one execution)
    assert reads == 2, reads
    assert other.id not in {s.internal_id for batch in renamed for s in batch}
    assert registry == {}  # the feed left with its last follower


async def test_the_fallback_read_sends_a_status_the_clock_moved(database: Database, cipher: TokenCipher) -> None:
    """No signal comes when an authorization runs out: the periodic read of all the merchant's shops finds it."""
    shop = await add_shop(uow_factory(database, cipher), make_shop("m1"))
    clock = FakeClock(NOW)
    feed = ShopFeed(database, InProcessEventBus(), clock, "m1", {}, fallback_interval=0.05)
    async with feed.follow() as member:
        async with asyncio.timeout(DEADLINE_SECONDS):
            await feed.ready.wait()
        # when the refresh token's year is over, with no signal at all
        clock.advance(timedelta(days=366))
        (changed,) = await _changed(member)
    # then the shop arrives EXPIRED, with its notice
    assert (changed.internal_id, changed.status.value) == (shop.id, "EXPIRED")
    assert changed.sync_facts is not None  # `attention` reads nothing more


async def test_silent_wake_ups_read_nothing_until_the_full_read_is_due(database: Database, cipher: TokenCipher) -> None:
    """A wake-up without a signal only lets the followers re-check their tokens: the read of every shop with its
    sync facts (whose cost grows with the shop's task history) waits for `full_read_interval` of the feed's clock."""
    await add_shop(uow_factory(database, cipher), make_shop("m1"))
    clock = FakeClock(NOW)
    feed = ShopFeed(database, InProcessEventBus(), clock, "m1", {}, fallback_interval=0.01, full_read_interval=30)
    async with feed.follow() as member:
        async with asyncio.timeout(DEADLINE_SECONDS):
            await feed.ready.wait()
            # when the feed wakes up five times without a signal, the clock still short of the interval
            for _ in range(5):
                assert await member.next() == []
        # then it read once, its baseline
        assert feed.reads == 1
        # and once the interval has passed, the next wake-up reads every shop again
        clock.advance(timedelta(seconds=30))
        async with asyncio.timeout(DEADLINE_SECONDS):
            while feed.reads == 1:
                assert await member.next() == []
        assert feed.reads == 2


async def test_signals_of_one_shop_do_not_hold_back_the_full_read(database: Database, cipher: TokenCipher) -> None:
    """The full read is due every `full_read_interval` whatever signals come: a merchant whose shops keep finishing
    polls (a shop signal each) never leaves the feed a silent wake-up, and another shop's authorization running out
    sends no signal of its own."""
    uows = uow_factory(database, cipher)
    busy = make_shop("m1")
    busy.tokens = dataclasses.replace(busy.tokens, refresh_token_expires_at=NOW + timedelta(days=3 * 365))
    await add_shop(uows, busy)
    quiet = await add_shop(uows, make_shop("m1"))  # its refresh token's year ends, with no signal
    bus = InProcessEventBus()
    clock = FakeClock(NOW)
    feed = ShopFeed(database, bus, clock, "m1", {}, fallback_interval=600, full_read_interval=30)
    async with feed.follow() as member:
        async with asyncio.timeout(DEADLINE_SECONDS):
            await feed.ready.wait()
            assert await member.next() == []  # the baseline
            # when the year is over and the busy shop signals (a poll of it finished), as it keeps doing
            clock.advance(timedelta(days=366))
            await bus.shop_changed(busy.id, "m1")
            changed = await member.next()
    # then the read that signal caused was the full read by then due: the quiet shop arrives EXPIRED
    assert [(s.internal_id, s.status.value) for s in changed] == [(quiet.id, "EXPIRED")]


async def test_a_signalled_shop_no_longer_readable_is_delivered_as_deleted(
    database: Database, cipher: TokenCipher
) -> None:
    """Rule (`shopsDeleted`): the feed's read of a signalled shop that finds it gone is a deletion, told by id to every
    follower (the feed never re-reads everything here: the signal alone tells it), and to no one again."""
    uows = uow_factory(database, cipher)
    gone = await add_shop(uows, make_shop("m1"))
    kept = await add_shop(uows, make_shop("m1"))
    bus = InProcessEventBus()
    feed = ShopFeed(database, bus, FakeClock(NOW), "m1", {}, fallback_interval=600, full_read_interval=86_400)
    async with AsyncExitStack() as stack:
        members = [await stack.enter_async_context(feed.follow()) for _ in range(2)]
        async with asyncio.timeout(DEADLINE_SECONDS):
            await feed.ready.wait()
            assert [await m.next() for m in members] == [[], []]  # the baseline
            # when one shop is deleted, and signalled as `shopDelete` does after its commit
            async with uows() as uow:
                await uow.shops.delete(gone.id)
                await uow.commit()
            await bus.shop_changed(gone.id, "m1")
            batches = [await m.next() for m in members]
            deleted = [m.take_deleted() for m in members]
            # and the other shop then changes (signalled)
            kept.rename("Renamed store")
            await _save(database, cipher, kept)
            await bus.shop_changed(kept.id, "m1")
            later = [await m.next() for m in members]
    # then each follower was told the deleted shop's id, with no change of it, once
    assert batches == [[], []]
    assert deleted == [[gone.id], [gone.id]]
    assert [[s.internal_id for s in batch] for batch in later] == [[kept.id], [kept.id]]
    assert [m.take_deleted() for m in members] == [[], []]
    assert feed.reads == 3  # the baseline, then one read per signal
