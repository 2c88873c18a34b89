"""The task feed behind `syncTaskUpdated` (gql/feeds.py) on SQLite and PostgreSQL: one database read per update,
shared by every follower, however many there are; each follower sees every committed state it waits for."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import InProcessEventBus
from domain.clock import SystemClock
from domain.shops import Shop
from domain.sync import SyncKind
from gql.container import Services
from gql.context import Context
from gql.feeds import Follower, TaskFeed
from gql.ids import to_global_id
from gql.schema import schema
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


async def test_a_task_named_while_a_follower_was_busy_is_in_the_snapshot_it_takes(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    """mem54's "Missed task messages": a follower keeps the latest snapshot only, and a task that started and
    finished between two reads is named by one snapshot alone. A follower still busy with its previous message
    (an all-tasks subscriber suspended at a yield) when the next snapshot replaced that one never heard of the task:
    the snapshot it took neither named nor read it. The interleaving is fixed by a second follower, which takes
    every snapshot: no follower waits on a clock, and no fallback read comes (600 s)."""
    uows = uow_factory(database, cipher)
    bus = InProcessEventBus()
    feed = TaskFeed(database, bus, shop.merchant_id, {}, fallback_interval=600)
    async with feed.follow() as busy, feed.follow() as witness:
        generation = feed.refresh()
        await busy.first(generation)
        await witness.first(generation)
        # given a task that started and finished between two reads (a poll that found nothing), committed, then
        # signalled, as the worker does; and read by the feed while `busy` takes nothing
        quick = make_task(shop, SyncKind.ORDERS)
        quick.begin_attempt(NOW)
        quick.succeed(NOW)
        async with uows() as uow:
            await uow.sync_tasks.add(quick)
            await uow.commit()
        await bus.task_changed(quick)
        named = await witness.next(None)
        assert named is not None and named.changed == {quick.id}
        # when another task's signal makes the feed read again before `busy` took that snapshot
        other = make_task(shop, SyncKind.PRODUCTS)
        async with uows() as uow:
            await uow.sync_tasks.add(other)
            await uow.commit()
        await bus.task_changed(other)
        replacing = await witness.next(None)
        assert replacing is not None and replacing.generation == named.generation and replacing is not named
        taken = await busy.next(0)
        # then the snapshot `busy` takes is that later one, and it has the quick task's final state, named
        assert taken is replacing
        assert quick.id in taken.rows, "the task that started and finished meanwhile is lost to this follower"
        assert taken.rows[quick.id].status == "SUCCEEDED"
        assert busy.take_changed() == {quick.id, other.id}
        assert busy.take_changed() == set()  # taken once


ALL_TASKS = "subscription { syncTaskUpdated { id status } }"


async def test_an_all_tasks_subscriber_busy_with_a_message_still_sends_a_task_that_started_and_finished_meanwhile(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    """The same interleaving through the schema: `syncTaskUpdated` without taskId, its generator suspended at the
    yield of a message (a WebSocket send under way) while the feed read twice. Pulled in-process, so the test decides
    when the subscriber runs; the feed is the merchant's (no fallback read: 600 s), with a second follower that
    takes every snapshot, so each read is done before the next signal."""
    uows = uow_factory(database, cipher)
    bus = InProcessEventBus()
    unused: Any = None
    services = Services(
        settings=unused, db=database, uow_factory=uows, tiktok=unused, queue=unused, events=bus,
        clock=SystemClock(), intake=unused, cipher=cipher,
    )  # fmt: skip
    feed = services.task_feeds[shop.merchant_id] = TaskFeed(
        database, bus, shop.merchant_id, services.task_feeds, fallback_interval=600
    )

    added = 0

    async def add(kind: SyncKind, finished: bool = False, of: Shop = shop) -> str:
        """A task of the shop, committed then signalled, as the worker does, created after the ones before (so sent
        after them when one read has several); finished: it ran and succeeded within one commit (a poll that found
        nothing)."""
        nonlocal added
        added += 1
        task = make_task(of, kind, created_at=NOW + timedelta(seconds=added))
        if finished:
            task.begin_attempt(NOW)
            task.succeed(NOW)
        async with uows() as uow:
            await uow.sync_tasks.add(task)
            await uow.commit()
        await bus.task_changed(task)
        return to_global_id("SyncTask", task.id)

    running = await add(SyncKind.PRODUCTS)
    subscription = await schema.subscribe(ALL_TASKS, context_value=Context(services, shop.merchant_id))
    assert hasattr(subscription, "__anext__"), subscription  # not a refusal
    messages: Any = subscription

    async def received() -> dict[str, Any]:
        result = await anext(messages)
        assert result.errors is None and result.data is not None, result.errors
        return dict(result.data["syncTaskUpdated"])

    async with feed.follow() as witness:
        try:
            # given a subscriber that sent its first message (the shop's task) and is suspended at its yield
            assert await received() == {"id": running, "status": "QUEUED"}
            await witness.next(None)  # (the read the subscriber's start asked for, if the witness had not seen it)
            # when a task starts and finishes, is read, and another task's signal makes the feed read again
            quick = await add(SyncKind.ORDERS, finished=True)
            assert (await witness.next(None)) is not None
            other = await add(SyncKind.ORDERS)
            assert (await witness.next(None)) is not None
            # and a last one, read after the subscriber resumed (it tells the test the subscriber is done with those)
            sentinel = await add(SyncKind.PRODUCTS, of=await add_shop(uows, make_shop(shop.merchant_id)))
            # then the subscriber sends the task that started and finished meanwhile, before the last one
            sent = []
            while (message := await received())["id"] != sentinel:
                sent.append(message)
            assert {"id": quick, "status": "SUCCEEDED"} in sent, sent
            assert {"id": other, "status": "QUEUED"} in sent, sent
        finally:
            await messages.aclose()
