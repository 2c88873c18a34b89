"""The import engine over fakes, what it writes: the pool is told of every stored record and its change is sent,
progress counts against TikTok's total, and a run that lost its task writes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.polling import PollCursor
from domain.ports import GatewayRefusedError, PoolChange, TikTokUnavailableError
from domain.services.importer import SyncDeps, SyncOptions, run_sync_task
from domain.sync import SyncKind, SyncTask, SyncTaskStatus
from tests.fakes import T0, FakeEventPublisher, FakeShopApi, FakeTaskQueue, FakeUnitOfWork
from tests.unit.test_polling_services import World as PollWorld
from tests.unit.test_sync_importer import World


class Pool:
    """One pool shared by every unit of work of a world, so its records outlive each transaction."""

    def __init__(self, world: World) -> None:
        world.store.push.ledger_change = PoolChange(frozenset({"item-1"}), frozenset({world.shop.id}), "m1")
        self.queue, self.pool = FakeTaskQueue(), FakeUnitOfWork(world.store).inventory

        def uow() -> FakeUnitOfWork:
            made = FakeUnitOfWork(world.store)
            made.inventory = self.pool
            return made

        world.deps = replace(world.deps, uow_factory=uow, queue=self.queue)


async def test_every_imported_product_reaches_the_pool_and_its_change_is_sent() -> None:
    world = World(products=45)
    pool = Pool(world)
    await world.run(world.queue(SyncKind.PRODUCTS))
    # 45 products in batches of ~20: each batch auto-links its products, then (after commit) pushes and signals
    assert pool.pool.linked_products == [f"p{i:05d}" for i in range(45)]
    assert pool.pool.applied_orders == []
    batches = len(pool.pool.pooled_shops)
    assert batches >= 2 and pool.pool.pooled_shops == [world.shop.id] * batches
    assert pool.queue.inventory_pushes == [world.shop.id] * batches
    assert world.events.item_changes == ["item-1"] * batches


async def test_every_imported_order_reaches_the_ledger_and_its_change_is_sent() -> None:
    world = World()
    pool = Pool(world)
    await world.run(world.queue(SyncKind.ORDERS))
    assert sorted(pool.pool.applied_orders) == sorted(world.expected_orders())
    assert len(pool.pool.applied_orders) == len(world.expected_orders())  # each once
    assert pool.pool.linked_products == []
    batches = len(pool.pool.pooled_shops)
    assert batches >= 2 and pool.pool.pooled_shops == [world.shop.id] * batches
    assert pool.queue.inventory_pushes == [world.shop.id] * batches
    assert world.events.item_changes == ["item-1"] * batches


class Progress(FakeEventPublisher):
    """Events that remember each RUNNING task's (processed, total) as the import signals its batches."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int | None]] = []

    async def task_changed(self, task: SyncTask) -> None:
        await super().task_changed(task)
        if task.status is SyncTaskStatus.RUNNING and task.processed:
            self.seen.append((task.processed, task.total))


async def test_a_products_import_counts_its_progress_against_tiktoks_total_from_the_first_page() -> None:
    world = World(products=45)
    progress = Progress()
    world.deps = replace(world.deps, events=progress)
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    # pages of 7 in batches of at most ~20 records: from the first batch on, the total is TikTok's 45
    assert len(progress.seen) >= 3 and progress.seen[0][0] < 45 and progress.seen[-1][0] == 45
    assert {total for _, total in progress.seen} == {45}
    assert (world.task(task.id).processed, world.task(task.id).total) == (45, 45)


async def test_an_attempt_failing_after_a_newer_one_began_asks_no_retry_and_writes_nothing() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)

    async def redelivered_then_down(call: int) -> None:
        if call == 2:
            world.store.tasks[task.id].begin_attempt(world.clock.now())  # a second delivery runs it now
            world.api.failures[call] = TikTokUnavailableError("outage")

    world.api.on_call = redelivered_then_down
    await world.run(task)  # no exception: the newer attempt owns the task, no retry of this one is wanted
    stored = world.task(task.id)
    assert (stored.status, stored.attempts, stored.error_code) == (SyncTaskStatus.RUNNING, 2, None)
    assert (task.id, "QUEUED") not in world.events.changes


async def test_an_attempt_failing_as_its_shop_is_deleted_asks_no_retry() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)

    async def deleted_then_down(call: int) -> None:
        if call == 2:
            async with world.deps.uow_factory() as uow:
                await uow.shops.delete(world.shop.id)
                await uow.commit()
            world.api.failures[call] = TikTokUnavailableError("outage")

    world.api.on_call = deleted_then_down
    await world.run(task)  # no exception: nothing is left to retry
    assert world.store.tasks == {} and world.store.shops == {}


async def test_a_refusal_after_a_newer_attempt_began_leaves_the_task_to_it() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)

    async def redelivered_then_refused(call: int) -> None:
        if call == 2:
            world.store.tasks[task.id].begin_attempt(world.clock.now())
            world.api.failures[call] = GatewayRefusedError("Invalid parameter. (code=36009004)", "R1")

    world.api.on_call = redelivered_then_refused
    await world.run(task)
    stored = world.task(task.id)
    assert (stored.status, stored.attempts, stored.error_code) == (SyncTaskStatus.RUNNING, 2, None)


async def test_a_run_whose_task_was_redelivered_as_it_began_calls_tiktok_not_once() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)

    class Redeliver(FakeEventPublisher):
        async def task_changed(self, changed: SyncTask) -> None:
            await super().task_changed(changed)
            if changed.status is SyncTaskStatus.RUNNING and changed.attempts == 1:
                world.store.tasks[task.id].begin_attempt(world.clock.now())  # a second delivery, just begun

    world.deps = replace(world.deps, events=Redeliver())
    await world.run(task)
    assert world.api.calls == 0 and world.task(task.id).attempts == 2


async def test_a_finished_poll_dates_its_cursor_with_the_finish() -> None:
    polls = PollWorld()
    polls.store.cursors[(polls.shop.id, SyncKind.PRODUCTS)] = PollCursor(
        polls.shop.id, SyncKind.PRODUCTS, cursor_at=T0 - timedelta(minutes=3)
    )
    task_id = await polls.start(SyncKind.PRODUCTS)
    assert task_id is not None
    polls.clock.advance(timedelta(minutes=2))
    deps = SyncDeps(polls.uow, FakeShopApi([], []).factory, polls.events, polls.clock, SyncOptions(page_size=7))
    await run_sync_task(task_id, deps)
    assert polls.store.tasks[task_id].status is SyncTaskStatus.SUCCEEDED
    cursor = polls.store.cursors[(polls.shop.id, SyncKind.PRODUCTS)]
    assert (cursor.cursor_at, cursor.updated_at) == (T0 - timedelta(seconds=30), T0 + timedelta(minutes=2))
