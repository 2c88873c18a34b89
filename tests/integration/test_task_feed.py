"""The task feed behind `syncTaskUpdated` (gql/feeds.py) on SQLite and PostgreSQL: one database read per update,
shared by every follower, however many there are; each follower sees every committed state it waits for."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import InProcessEventBus
from domain.clock import SystemClock
from domain.shops import Shop
from domain.sync import SyncKind
from gql.container import Services
from gql.context import Context
from gql.feeds import Follower, Snapshot, TaskFeed
from gql.ids import to_global_id
from gql.schema import schema
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import NOW, add_shop, make_shop, make_task
from tests.integration.shop_feed_support import answered_after_a_busy_wait

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
SHOP_TASKS = "subscription($shop: ID!) { syncTaskUpdated(shopId: $shop) { id status } }"


class InProcess:
    """The schema over the test's database and an in-process bus, the merchant's feed made beforehand (no fallback
    read: 600 s), and the test's own tasks, each committed then signalled as the worker does. A subscription is
    pulled in-process (`subscribe`, `received`): the test decides when its generator runs."""

    def __init__(self, database: Database, cipher: TokenCipher, merchant_id: str) -> None:
        self.uows = uow_factory(database, cipher)
        self.bus = InProcessEventBus()
        self.merchant_id = merchant_id
        unused: Any = None
        self.services = Services(
            settings=unused, db=database, uow_factory=self.uows, tiktok=unused, queue=unused, events=self.bus,
            clock=SystemClock(), intake=unused, cipher=cipher,
        )  # fmt: skip
        self.feed = self.services.task_feeds[merchant_id] = TaskFeed(
            database, self.bus, merchant_id, self.services.task_feeds, fallback_interval=600
        )
        self._added = 0

    async def add(self, of: Shop, kind: SyncKind, finished: bool = False) -> str:
        """A task of `of`, created after the ones before (so sent after them when one read has several); finished:
        it ran and succeeded within one commit (a poll that found nothing). Returns its global id."""
        self._added += 1
        task = make_task(of, kind, created_at=NOW + timedelta(seconds=self._added))
        if finished:
            task.begin_attempt(NOW)
            task.succeed(NOW)
        async with self.uows() as uow:
            await uow.sync_tasks.add(task)
            await uow.commit()
        await self.bus.task_changed(task)
        return to_global_id("SyncTask", task.id)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        subscription = await schema.subscribe(
            query, variable_values=variables, context_value=Context(self.services, self.merchant_id)
        )
        assert hasattr(subscription, "__anext__"), subscription  # not a refusal
        return subscription


async def received(messages: Any) -> dict[str, Any]:
    """The subscription's next message (its generator runs until its next yield, and stays suspended there)."""
    result = await anext(messages)
    assert result.errors is None and result.data is not None, result.errors
    return dict(result.data["syncTaskUpdated"])


async def taken(witness: Follower) -> Snapshot:
    """The witness's next snapshot, and the ids named with it taken (as a subscriber does: else the feed reads them
    for it until it does)."""
    snapshot = await witness.next(None)
    assert snapshot is not None
    witness.take_changed()
    return snapshot


async def test_an_all_tasks_subscriber_busy_with_a_message_still_sends_a_task_that_started_and_finished_meanwhile(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    """The same interleaving through the schema: `syncTaskUpdated` without taskId, its generator suspended at the
    yield of a message (a WebSocket send under way) while the feed read twice. A second follower of the feed takes
    every snapshot, so each read is done before the next signal."""
    world = InProcess(database, cipher, shop.merchant_id)
    running = await world.add(shop, SyncKind.PRODUCTS)
    messages = await world.subscribe(ALL_TASKS)
    async with world.feed.follow() as witness:
        try:
            # given a subscriber that sent its first message (the shop's task) and is suspended at its yield
            assert await received(messages) == {"id": running, "status": "QUEUED"}
            await taken(witness)  # (the read the subscriber's start asked for)
            # when a task starts and finishes, is read, and another task's signal makes the feed read again
            quick = await world.add(shop, SyncKind.ORDERS, finished=True)
            await taken(witness)
            other = await world.add(shop, SyncKind.ORDERS)
            await taken(witness)
            # and a last one, of another shop, read after the subscriber resumed (so the test knows it is done)
            sentinel = await world.add(await add_shop(world.uows, make_shop(shop.merchant_id)), SyncKind.PRODUCTS)
            # then the subscriber sends the task that started and finished meanwhile, before the last one
            sent = []
            while (message := await received(messages))["id"] != sentinel:
                sent.append(message)
            assert {"id": quick, "status": "SUCCEEDED"} in sent, sent
            assert {"id": other, "status": "QUEUED"} in sent, sent
        finally:
            await messages.aclose()


async def test_a_shop_subscriber_does_not_have_the_other_shops_tasks_read_for_it(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    """`syncTaskUpdated(shopId:)` kept every id a signal named in its pending set, those of the merchant's other
    shops too (out of scope, never sent, so never dropped): the feed read each of them again in every read for as
    long as the subscription lived (its token's days), one more id in each read's statement per task of another
    shop."""
    world = InProcess(database, cipher, shop.merchant_id)
    elsewhere = await add_shop(world.uows, make_shop(shop.merchant_id))
    running = await world.add(shop, SyncKind.PRODUCTS)
    messages = await world.subscribe(SHOP_TASKS, {"shop": to_global_id("Shop", shop.id)})
    async with world.feed.follow() as witness:
        try:
            assert await received(messages) == {"id": running, "status": "QUEUED"}
            await taken(witness)
            # given tasks of the merchant's other shop that ran and finished, read while the subscriber follows
            others = [await world.add(elsewhere, kind, finished=True) for kind in (SyncKind.PRODUCTS, SyncKind.ORDERS)]
            await taken(witness)
            # when a task of its own shop comes, sent (so the subscriber took the snapshots naming the others)
            own = await world.add(shop, SyncKind.ORDERS)
            await taken(witness)
            assert await received(messages) == {"id": own, "status": "QUEUED"}
            # then the feed's next read asks for none of the other shop's tasks
            await world.bus.task_changed(make_task(shop, SyncKind.ORDERS))  # a signal naming no stored task
            later = await taken(witness)
            assert not {to_global_id("SyncTask", task_id) for task_id in later.asked} & set(others), later.asked
        finally:
            await messages.aclose()


TASKS_WITH_SHOP = "subscription { syncTaskUpdated { id status shop { id name } } }"


async def test_a_message_s_shop_read_waits_out_a_busy_pool_as_the_feed_s_read_does(
    database_url: str, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    """soak55 F2: the feed's read waits out a pool timeout, but `SyncTask.shop`, read by the message's execution
    through the loaders, did not: the client got the message with `shop` null and a DATABASE_BUSY error."""
    caplog.set_level(logging.INFO, logger="shopbridge.subscriptions")
    # given a database whose pool lends one connection and waits 0.2 s for it
    db = Database(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    held: AsyncConnection | None = None
    try:
        shop = await add_shop(uow_factory(db, cipher), make_shop())
        world = InProcess(db, cipher, shop.merchant_id)
        running = await world.add(shop, SyncKind.PRODUCTS)
        messages = await world.subscribe(TASKS_WITH_SHOP)
        shop_of_task = {"id": to_global_id("Shop", shop.id), "name": shop.name}
        async with world.feed.follow() as witness:
            try:
                # and a subscriber to every task with its shop, its first message sent
                assert await received(messages) == {"id": running, "status": "QUEUED", "shop": shop_of_task}
                await taken(witness)
                # when a task starts and the feed has read it (its connection given back)
                started = await world.add(shop, SyncKind.ORDERS)
                await taken(witness)
                # and every connection of the pool is in use when the subscriber builds its message
                held = await db.read_engine.connect()
                # then the message waits for a connection (its first read found the pool busy) and carries its shop,
                # no error (received: none)
                message = await answered_after_a_busy_wait(
                    world.services.database_outage, held.close, received(messages),
                    "the shop's read to fail on the busy pool",
                )  # fmt: skip
                assert message == {"id": started, "status": "QUEUED", "shop": shop_of_task}
            finally:
                await messages.aclose()
        # and the wait was told as the subscriptions' own reads' are: one WARNING line, its end one INFO line
        lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shopbridge.subscriptions"]
        assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
        assert lines[0][1].startswith("DATABASE_BUSY: this process's database connections are all in use")
        assert lines[1][1].endswith("(syncTaskUpdated waited, 1 retries)")
    finally:
        if held is not None:
            await held.close()  # (a no-op once given back)
        await db.dispose()
