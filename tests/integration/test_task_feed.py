"""The task feed behind `syncTaskUpdated` (gql/feeds.py) on SQLite and PostgreSQL: one database read per update,
shared by every follower, however many there are; each follower sees every committed state it waits for."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import event

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import InProcessEventBus
from domain.shops import Shop
from domain.sync import SyncKind
from gql.feeds import Follower, TaskFeed
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import NOW, add_shop, make_shop, make_task

UPDATES = 5


@pytest.fixture
async def shop(database: Database, cipher: TokenCipher) -> Shop:
    return await add_shop(uow_factory(database, cipher), make_shop())


async def _until_processed(follower: Follower, task_id: str, processed: int, timeout: float = DEADLINE_SECONDS) -> None:
    """Until the follower's latest snapshot shows the task at `processed` (raises after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        latest = follower.latest
        if latest is not None and task_id in latest.rows and latest.rows[task_id].processed == processed:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"a follower never saw processed={processed}: {latest}")
        await follower.next(deadline - time.monotonic())


@pytest.mark.parametrize("followers", [1, 50])
async def test_one_statement_per_update_whatever_the_number_of_followers(
    database: Database, cipher: TokenCipher, shop: Shop, followers: int
) -> None:
    uows = uow_factory(database, cipher)
    task = make_task(shop, SyncKind.ORDERS)
    task.begin_attempt(NOW)
    async with uows() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    bus = InProcessEventBus()
    registry: dict[str, Any] = {}
    # No fallback read during the test: every read counted below answers a signal.
    feed = TaskFeed(database, bus, shop.merchant_id, registry, fallback_interval=600)
    registry[shop.merchant_id] = feed
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = database.read_engine.sync_engine
    async with AsyncExitStack() as stack:
        members = [await stack.enter_async_context(feed.follow()) for _ in range(followers)]
        generation = feed.refresh()
        await asyncio.gather(*(member.first(generation) for member in members))
        reads_before = feed.reads
        event.listen(engine, "before_cursor_execute", record)
        try:
            for n in range(1, UPDATES + 1):
                task.record_batch(1, 0, 0, [])
                async with uows() as uow:
                    assert await uow.sync_tasks.update(task) is True
                    await uow.commit()
                await bus.task_changed(task)
                await asyncio.gather(*(_until_processed(member, task.id, n) for member in members))
        finally:
            event.remove(engine, "before_cursor_execute", record)
    # (On PostgreSQL the read engine is the write engine too: the test's own UPDATEs are not reads.)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == UPDATES, selects  # one per update, not one per follower and update
    assert all("FROM sync_tasks" in s for s in selects)
    assert feed.reads - reads_before == UPDATES
    assert registry == {}  # the feed left with its last follower


async def test_a_task_deleted_with_its_shop_is_read_as_absent(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    task = make_task(shop, SyncKind.PRODUCTS)
    async with uows() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    bus = InProcessEventBus()
    feed = TaskFeed(database, bus, shop.merchant_id, {}, fallback_interval=600)
    async with feed.follow() as member:
        first = await member.first(feed.refresh())
        assert task.id in first.rows  # active: read without being asked for
        async with uows() as uow:
            await uow.shops.delete(shop.id)
            await uow.commit()
        await bus.task_changed(task)
        deadline = time.monotonic() + 20
        while True:
            latest = await member.next(deadline - time.monotonic())
            if latest is not None and task.id not in latest.rows:
                break
            assert time.monotonic() < deadline, "the deletion was never read"
        assert task.id in latest.asked  # asked for (active at the previous read) and absent: deleted


async def test_a_follower_still_hears_from_the_feed_while_newcomers_keep_it_reading(
    database: Database, shop: Shop
) -> None:
    """Followers wait without a timer of their own, so the feed must send each of them a snapshot at least every
    fallback interval, also when refresh requests of new subscribers (reads for them alone) never let it fall
    back: that snapshot is when a follower re-checks its state and token."""
    registry: dict[str, Any] = {}
    feed = TaskFeed(database, InProcessEventBus(), shop.merchant_id, registry, fallback_interval=0.5)
    registry[shop.merchant_id] = feed

    async def newcomers() -> None:
        while True:  # a new subscriber's refresh request every 50 ms: the feed never waits 0.5 s for a signal
            feed.refresh()
            await asyncio.sleep(0.05)

    async with feed.follow() as old:
        first = await old.first(feed.refresh())
        storm = asyncio.create_task(newcomers())
        try:
            async with asyncio.timeout(20):
                later = await old.next(None)
        finally:
            storm.cancel()
            await asyncio.gather(storm, return_exceptions=True)
    assert later is not None and later.generation > first.generation
