"""The shop feed behind `shopsUpdated` (gql/shop_feeds.py) on SQLite and PostgreSQL: each follower first gets every shop
of the merchant as read after it joined (current state first), then one read per change signal shared by every
follower of the merchant sends only the shops whose name, status, attention or end changed."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.crypto import TokenCipher
from adapters.db import Database, queries, uow_factory
from adapters.events import InProcessEventBus
from domain.clock import SystemClock
from domain.shops import Shop
from gql.container import Services
from gql.context import Context
from gql.ids import to_global_id
from gql.schema import schema
from gql.shop_feeds import ShopFeed, ShopFollower
from tests.fakes import FakeClock
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import NOW, add_shop, make_shop
from tests.integration.shop_feed_support import answered_after_a_busy_wait

FOLLOWERS = 30


async def _changed(follower: ShopFollower) -> list[Any]:
    """The next non-empty batch of changed shops the follower gets."""
    async with asyncio.timeout(DEADLINE_SECONDS):
        while True:
            changed = await follower.next()
            if changed:
                return changed


async def _first(follower: ShopFollower) -> list[tuple[str, str, str]]:
    """The follower's first batch as (internal id, name, status): what `shopsUpdated` sends first."""
    async with asyncio.timeout(DEADLINE_SECONDS):
        return [(s.internal_id, s.name, s.status.value) for s in await follower.next()]


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
    other = await add_shop(uows, make_shop("m1", created_at=NOW + timedelta(seconds=1)))
    bus = InProcessEventBus()
    registry: dict[str, Any] = {}
    feed = ShopFeed(database, bus, FakeClock(NOW), "m1", registry, fallback_interval=600)
    registry["m1"] = feed
    async with AsyncExitStack() as stack:
        members = [await stack.enter_async_context(feed.follow()) for _ in range(followers)]
        # each first gets both shops as they are, oldest first
        firsts = [await _first(m) for m in members]
        both = [(shop.id, shop.name, "ACTIVE"), (other.id, other.name, "ACTIVE")]
        assert firsts == [both] * followers
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
        assert await _first(member) == [(shop.id, shop.name, "ACTIVE")]
        # when the refresh token's year is over, with no signal at all
        clock.advance(timedelta(days=366))
        (changed,) = await _changed(member)
    # then the shop arrives EXPIRED, with its notice
    assert (changed.internal_id, changed.status.value) == (shop.id, "EXPIRED")
    assert changed.sync_facts is not None  # `attention` reads nothing more


async def test_silent_wake_ups_read_nothing_until_the_full_read_is_due(database: Database, cipher: TokenCipher) -> None:
    """A wake-up without a signal only lets the followers re-check their tokens: the read of every shop with its
    sync facts (whose cost grows with the shop's task history) waits for `full_read_interval` of the feed's clock."""
    shop = await add_shop(uow_factory(database, cipher), make_shop("m1"))
    clock = FakeClock(NOW)
    feed = ShopFeed(database, InProcessEventBus(), clock, "m1", {}, fallback_interval=0.01, full_read_interval=30)
    async with feed.follow() as member:
        assert await _first(member) == [(shop.id, shop.name, "ACTIVE")]  # its first batch, the first read
        async with asyncio.timeout(DEADLINE_SECONDS):
            # when the feed wakes up five times without a signal, the clock still short of the interval
            for _ in range(5):
                assert await member.next() == []
        # then it read once, its first read (the follower's first batch)
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
        assert {shop_id for shop_id, _, _ in await _first(member)} == {busy.id, quiet.id}
        async with asyncio.timeout(DEADLINE_SECONDS):
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
        assert [{i for i, _, _ in await _first(m)} for m in members] == [{gone.id, kept.id}] * 2  # the first read
        async with asyncio.timeout(DEADLINE_SECONDS):
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
    assert feed.reads == 3  # the first read, then one read per signal


# -- current state first: the race `shopsUpdated` had while it sent nothing first --------------------------------------
# A client reads `shops`, then subscribes; a change committed and signalled between its read and the subscriber's join
# (the server may answer `shops` before it registers the subscriber: graphql-transport-ws has no per-subscription
# ack) was in the feed's baseline, so it was never sent. The feed's steps are driven here in that order.


async def _read_shops(database: Database, cipher: TokenCipher) -> list[str]:
    """The client's `shops` read: the merchant's shop ids as listed then."""
    async with database.read_sessionmaker() as session:
        return sorted(await queries.merchant_shops(session, "m1", 100))


async def test_a_change_before_the_first_read_of_a_new_feed_is_in_the_first_batch(
    database: Database, cipher: TokenCipher
) -> None:
    """No feed runs yet (no subscriber in this process): the rename's signal reaches nobody; the subscriber joining
    next must get the shop renamed, not a baseline that swallows it."""
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("m1"))
    bus = InProcessEventBus()
    # given a client that read the shop with its old name
    assert await _read_shops(database, cipher) == [shop.id]
    # when another tab renames it (committed, signalled) before the client's subscriber joins
    shop.rename("Renamed store")
    await _save(database, cipher, shop)
    await bus.shop_changed(shop.id, "m1")
    feed = ShopFeed(database, bus, FakeClock(NOW), "m1", {}, fallback_interval=0.05, full_read_interval=86_400)
    async with feed.follow() as member:
        # then its first message is the shop as renamed
        assert await _first(member) == [(shop.id, "Renamed store", "ACTIVE")]


async def test_a_change_before_a_newcomer_joins_a_running_feed_is_in_its_first_batch_alone(
    database: Database, cipher: TokenCipher
) -> None:
    """A feed already serves another subscriber: the revocation signalled before the newcomer joined was read and sent
    to that one; the newcomer's first batch, read after it joined, has it too. The followers already there get no
    re-send of the unchanged list, and the newcomer costs one read."""
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("m1"))
    other = await add_shop(uows, make_shop("m1", created_at=NOW + timedelta(seconds=1)))
    bus = InProcessEventBus()
    feed = ShopFeed(database, bus, FakeClock(NOW), "m1", {}, fallback_interval=0.05, full_read_interval=86_400)
    async with feed.follow() as earlier:
        await _first(earlier)  # its own first batch (both shops)
        # given a client that read both shops active
        assert await _read_shops(database, cipher) == sorted([shop.id, other.id])
        # when the first is revoked (committed, signalled, read by the feed for the subscriber already there)
        shop.deauthorize(NOW + timedelta(minutes=1), NOW + timedelta(minutes=1))
        await _save(database, cipher, shop)
        await bus.shop_changed(shop.id, "m1")
        assert [(s.internal_id, s.status.value) for s in await _changed(earlier)] == [(shop.id, "REVOKED")]
        reads = feed.reads
        # and only then the client's subscriber joins
        async with feed.follow() as newcomer:
            first = await _first(newcomer)
            served = feed.reads - reads
            # then its first batch is the complete list as it is now: the revocation included
            assert first == [(shop.id, shop.name, "REVOKED"), (other.id, other.name, "ACTIVE")]
            # from one read, which sent the subscriber already there nothing (nothing had changed since its last)
            assert served == 1, served
            assert earlier.pending == {}


async def test_a_deletion_before_the_join_is_left_out_of_the_complete_first_batch(
    database: Database, cipher: TokenCipher
) -> None:
    """Rule (README, shopsUpdated): the first messages are the complete current list. A shop deleted between the
    client's read and its subscriber's join went to the followers already there (`shopsDeleted`), not to the
    newcomer; the newcomer's first batch leaves it out, so a client replacing its list from it drops the row."""
    uows = uow_factory(database, cipher)
    gone = await add_shop(uows, make_shop("m1"))
    kept = await add_shop(uows, make_shop("m1", created_at=NOW + timedelta(seconds=1)))
    bus = InProcessEventBus()
    feed = ShopFeed(database, bus, FakeClock(NOW), "m1", {}, fallback_interval=0.05, full_read_interval=86_400)
    async with feed.follow() as earlier:
        await _first(earlier)  # its own first batch (both shops)
        # given a client that read both shops
        assert await _read_shops(database, cipher) == sorted([gone.id, kept.id])
        # when one is deleted and signalled, as `shopDelete` does, before the client's subscriber joins
        async with uows() as uow:
            await uow.shops.delete(gone.id)
            await uow.commit()
        await bus.shop_changed(gone.id, "m1")
        async with asyncio.timeout(DEADLINE_SECONDS):
            while not earlier.deleted:
                await earlier.next()
        assert earlier.take_deleted() == [gone.id]
        async with feed.follow() as newcomer:
            # then the newcomer's first batch is the one shop left, and it is told no deletion
            assert await _first(newcomer) == [(kept.id, kept.name, "ACTIVE")]
            assert newcomer.take_deleted() == []


SHOPS_WITH_NESTED_READS = (
    "subscription { shopsUpdated { id name productCount orderCount inventoryPolicy { pushEnabled sharePercent } } }"
)


async def test_a_message_s_nested_reads_wait_out_a_busy_pool_as_the_feed_s_read_does(
    database_url: str, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    """nested55: `shopsUpdated`'s feed reads the shop (its sync facts with it) and waits out a pool timeout, but the
    message's execution then reads `productCount`, `orderCount` and `inventoryPolicy` through the loaders, and those
    did not wait: the client got the shop with those fields null and DATABASE_BUSY errors (the message's data null:
    they are non-null fields)."""
    caplog.set_level(logging.INFO, logger="shopbridge.subscriptions")
    # given a database whose pool lends one connection and waits 0.2 s for it
    db = Database(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    held: AsyncConnection | None = None
    try:
        uows = uow_factory(db, cipher)
        shop = await add_shop(uows, make_shop("m1"))
        bus = InProcessEventBus()
        unused: Any = None
        services = Services(
            settings=unused, db=db, uow_factory=uows, tiktok=unused, queue=unused, events=bus, clock=SystemClock(),
            intake=unused, cipher=cipher,
        )  # fmt: skip
        feed = services.shop_feeds["m1"] = ShopFeed(
            db, bus, services.clock, "m1", services.shop_feeds, fallback_interval=600, cipher=cipher,
            outage=services.database_outage,
        )  # fmt: skip
        messages: Any = await schema.subscribe(SHOPS_WITH_NESTED_READS, context_value=Context(services, "m1"))
        assert hasattr(messages, "__anext__"), messages  # not a refusal
        expected = {
            "id": to_global_id("Shop", shop.id),
            "name": shop.name,
            "productCount": 0,
            "orderCount": 0,
            "inventoryPolicy": {"pushEnabled": True, "sharePercent": 100},
        }
        try:
            # and a subscriber to the merchant's shops, its first message sent
            assert await _message(messages) == expected
            async with feed.follow(first=False) as witness:
                # when the shop is renamed and the feed has read it (its connection given back)
                shop.rename("Renamed store")
                await _save(db, cipher, shop)
                await bus.shop_changed(shop.id, "m1")
                assert [s.name for s in await _changed(witness)] == ["Renamed store"]
                # and every connection of the pool is in use when the subscriber builds its message
                held = await db.read_engine.connect()
                # then the message waits for a connection (a nested read found the pool busy) and carries every
                # field, no error
                message = await answered_after_a_busy_wait(
                    services.database_outage, held.close, _message(messages), "a nested read to fail on the busy pool"
                )
                assert message == {**expected, "name": "Renamed store"}
        finally:
            await messages.aclose()
        # and the wait was told as the subscriptions' own reads' are, under the subscription's field: one WARNING
        # line, its end one INFO line
        lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shopbridge.subscriptions"]
        assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
        assert lines[0][1].startswith("DATABASE_BUSY: this process's database connections are all in use")
        assert lines[0][1].endswith("first shopsUpdated")
        assert "(shopsUpdated waited, " in lines[1][1]
    finally:
        if held is not None:
            await held.close()  # (a no-op once given back)
        await db.dispose()


async def _message(messages: Any) -> dict[str, Any]:
    """The subscription's next message (its generator runs until its next yield, and stays suspended there)."""
    result = await anext(messages)
    assert result.errors is None and result.data is not None, result.errors
    return dict(result.data["shopsUpdated"])
