"""An import already running when its shop's delete takes the shop, on PostgreSQL (delete60 "Not closed" (a) and
(b)): its next batch learns that the delete holds the shop, or waits to take it, without waiting, rolls back with
nothing half-written and hands the run back (the task QUEUED, or left RUNNING under its lease while the delete holds
its row; the message sent again 1 s later, no retry counted). So the worker's one thread serves another shop's sale
meanwhile; a delete that rolls back lets the import resume from its checkpoint, ending with the counts of an import
never interrupted; one that commits leaves the message sent again nothing to do.

Real parts: the embedded pool (Dramatiq's StubBroker and Worker) of ONE thread, which the import holds while it runs
(a run that waited for the shop would stop every other); PostgreSQL; the sandbox over HTTP, its order search held so
that the test knows which page the import stores when. The test holds the shop's row in its own connection (or lets
the real delete, or the delete's own first statements, hold it). Everything is counted (deliveries, sends, events,
rows); the waits are for conditions, never for time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from adapters.config import Settings
from adapters.db.tables import inventory_items, line_items, orders, sync_tasks
from domain.intake import EventOutcome
from domain.services.shops import delete_shop
from domain.services.sync import start_sync
from domain.sync import SyncKind, SyncTask, SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.sync import SyncHarness, expected_catalog, row_counts, stored_catalog, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.db_samples import ledger_units, until_a_writer_waits_on_a_lock
from tests.integration.pool_push_support import PushWorld, outbox_row
from tests.integration.test_shop_delete_worker_threads import (
    OTHER_SHOP_SETTLES_WITHIN_SECONDS,
    Deliveries,
    Pooled,
    World,
    _ended,
    _held,
    _outcome,
    _pooled,
    _sale,
    _sent_back,
    _sessions_waiting_on_a_lock,
)
from workers.broker import LIVE_QUEUE

ORDER_SEARCH = "/order/202309/orders/search"
ORDERS = 200  # per shop at the sandbox
PAGE_SIZE = 20  # so 10 pages of one slice; each held page stored alone is a batch of 20


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer],
    tmp_path: Path, sync_harness_factory: Callable[[Settings], SyncHarness],
) -> AsyncIterator[World]:  # fmt: skip
    # a worker process of ONE thread (no thread reserved from imports: it takes the `live` queue too), two pooled
    # shops of two merchants, each with its products imported, a pool item linked and pushed; orders not imported.
    # (Parametrized indirectly, the TikTok client's retries of a failed call: 5 by default.)
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=ORDERS))
    settings = sync_settings(
        database_url, sandbox, tmp_path, embedded_worker_threads=1, worker_reserved_threads=0,
        sync_order_slices=1, sync_page_size=PAGE_SIZE,
        public_url="https://shopbridge.example",  # TikTok registers https addresses only (36009004)
    )  # fmt: skip
    retries = getattr(request, "param", settings.tiktok.max_retries)
    harness = sync_harness_factory(
        settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS, max_retries=retries))
    )
    push = PushWorld(harness.db, harness.uow_factory, harness.tiktok, harness.http, sandbox)
    kept = await _pooled(push, "us-local", "m1")
    other = await _pooled(push, "uk-local", "m2")
    queue = harness.start_worker()
    assert harness.worker is not None and harness.worker.broker is not None
    broker = harness.worker.broker

    async def boot_work_done() -> bool:
        async with harness.db.read_sessionmaker() as session:
            registered = await session.execute(
                text("SELECT count(*) FROM shops WHERE webhooks_registered_at IS NOT NULL")
            )
            count = registered.scalar_one()
        pushed = [await outbox_row(harness.db, p.shop, p.product_id) for p in (kept, other)]
        return count == 2 and all(row["pushed_version"] == row["dirty_version"] for row in pushed)

    await until(boot_work_done, "the boot sweep's registrations and pushes done")
    await asyncio.to_thread(broker.join, LIVE_QUEUE, timeout=int(DEADLINE_SECONDS * 1000))
    deliveries = Deliveries()
    broker.add_middleware(deliveries)
    yield World(harness, push, queue, broker, deliveries, kept, other, kept_updates_before=0)


async def _import_running(world: World) -> SyncTask:
    """The kept shop's orders import started, its first page (one batch) stored, its second page asked and held at
    TikTok: the import holds the worker's one thread."""
    world.push.sandbox.hold(ORDER_SEARCH)
    harness = world.harness
    (task,) = await start_sync(
        harness.uow_factory, world.queue, harness.events, harness.clock, world.kept.shop.merchant_id,
        world.kept.shop.id, [SyncKind.ORDERS],
    )  # fmt: skip
    await asyncio.to_thread(world.push.sandbox.wait_held)
    await asyncio.to_thread(world.push.sandbox.let_through, 1)
    return await harness.wait(task.id, until=lambda t: t.processed >= PAGE_SIZE)


async def _task_row(world: World, task_id: str) -> dict[str, Any] | None:
    """The task's row as committed, read without a lock (the delete may hold it)."""
    async with world.harness.db.read_sessionmaker() as session:
        row = (await session.execute(select(sync_tasks).where(sync_tasks.c.id == task_id))).mappings().first()
    return None if row is None else dict(row)


async def _stored(world: World, pooled: Pooled) -> dict[str, Any]:
    """The shop's orders and line items stored, and its merchant's pool: SKU -> (on hand, reserved)."""
    shop = pooled.shop
    async with world.harness.db.read_sessionmaker() as session:
        counts = {
            table.name: (await session.execute(select(func.count()).where(table.c.shop_id == shop.id))).scalar_one()
            for table in (orders, line_items)
        }
        items = inventory_items.c
        pool = await session.execute(
            select(items.sku, items.on_hand, items.reserved).where(items.merchant_id == shop.merchant_id)
        )
        counts["pool"] = {sku: (on_hand, reserved) for sku, on_hand, reserved in pool}
    return counts


async def _exactly_imported(world: World, task: SyncTask) -> None:
    """The shop's orders and line items stored are the sandbox's orders of the task's window, each once, and the pool's
    running units agree with its ledger's lines (what a batch stored twice, or not at all, would break)."""
    assert task.orders_created_since is not None and task.orders_created_until is not None
    since, until_ = task.orders_created_since, task.orders_created_until
    _, want = expected_catalog(world.push.sandbox, world.kept.shop, since, until_)
    _, stored = await stored_catalog(world.harness.db, world.kept.shop.id)
    assert stored == want
    assert task.created == task.processed == len(want) > PAGE_SIZE, task
    running, summed = await ledger_units(world.harness.db)
    assert running == summed


async def _while_the_batch_meets_the_delete(world: World, task: SyncTask, waiting_on_a_lock: int) -> None:
    """With the kept shop held by a delete (or the test): the import's next page answered, then the other shop's
    sale's webhook; checks the import handed its run back with nothing of the page written and the thread served the
    other shop's sale meanwhile."""
    # when TikTok answers the import's second page (asked and held: `_import_running`): its batch meets the delete.
    # (Not `let_through`, which then waits for the third page's request: a run handed back may never send it.)
    assert await asyncio.to_thread(world.push.sandbox.release_held) == 1
    # and then a buyer orders on the other shop, whose webhook is stored and its processing sent
    other_event = await _sale(world, world.other, "other-sale")
    await world.queue.enqueue_webhook_events(world.other.shop.id)

    # then the other shop's event is processed while the shop is held (before: the one thread waited on it)
    async def settled() -> EventOutcome | None:
        outcome = await _outcome(world, other_event)
        return outcome if outcome is not EventOutcome.PENDING else None

    outcome = await until(settled, "the other shop's event settled", timeout=OTHER_SHOP_SETTLES_WITHIN_SECONDS)
    assert outcome is EventOutcome.PROCESSED
    # and the import's message was sent again for the delete, its batch rolled back: the first page only is stored
    await until(lambda: _sent_back(world, "run_sync_task", task.id) >= 1, "the import sent back")
    row = await _task_row(world, task.id)
    assert row is not None and row["processed"] == PAGE_SIZE and row["failed_attempts"] == 0, row
    assert (await _stored(world, world.kept))["orders"] == PAGE_SIZE
    assert await _sessions_waiting_on_a_lock(world) == waiting_on_a_lock
    assert world.deliveries.failed() == []


@POSTGRES_ONLY
async def test_a_running_import_gives_its_thread_back_to_a_held_shop_and_resumes_exactly_once_the_hold_rolls_back(
    world: World,
) -> None:
    # given the kept shop's orders import running, its first batch stored
    task = await _import_running(world)
    # and the shop's row held FOR UPDATE, as its delete holds it (15-27 s on a 20k-order shop)
    async with _held(world, "SELECT id FROM shops WHERE id = :id FOR UPDATE", world.kept.shop.id):
        await _while_the_batch_meets_the_delete(world, task, waiting_on_a_lock=0)
        # (the task was handed back QUEUED: the test does not hold its row)
        row = await _task_row(world, task.id)
        assert row is not None and row["status"] == SyncTaskStatus.QUEUED.value, row
    # when the hold ends with a rollback (a delete that failed: the shop is kept) and TikTok answers every page
    world.push.sandbox.hold()
    # then the import resumes from its checkpoint and succeeds, no run of it counted as failed
    done = await world.harness.wait(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED and done.failed_attempts == 0 and done.attempts >= 2, done
    # and its data are those of an import never interrupted: every order of its window once, each counted once
    await _exactly_imported(world, done)
    resumed = await _stored(world, world.kept)
    # which a second import of the same orders, never interrupted, neither adds to nor changes
    (again,) = await start_sync(
        world.harness.uow_factory, world.queue, world.harness.events, world.harness.clock,
        world.kept.shop.merchant_id, world.kept.shop.id, [SyncKind.ORDERS],
    )  # fmt: skip
    second = await world.harness.wait(again.id)
    assert second.status is SyncTaskStatus.SUCCEEDED and second.created == 0, second
    assert second.processed == done.processed, second
    assert await _stored(world, world.kept) == resumed
    assert world.deliveries.failed() == []


@POSTGRES_ONLY
async def test_a_running_import_gives_its_thread_back_to_its_shops_delete_and_its_message_then_does_nothing(
    world: World,
) -> None:
    # given the kept shop's orders import running, its first batch stored
    kept = world.kept
    task = await _import_running(world)
    # and the real delete of the shop, holding its row FOR UPDATE and its task's row (cancelled), waiting (as a long
    # delete's statements take the time) on the shop's pool item, which the test holds
    async with _held(world, "SELECT id FROM inventory_items WHERE id = :id FOR UPDATE", kept.item_id):
        harness = world.harness
        deleting = asyncio.create_task(delete_shop(harness.uow_factory, harness.clock, kept.shop.merchant_id,
                                                   kept.shop.id))  # fmt: skip
        await until_a_writer_waits_on_a_lock(harness.db)
        await _while_the_batch_meets_the_delete(world, task, waiting_on_a_lock=1)  # the delete, on the test's item
        # (the task left RUNNING under the run's lease: the delete holds its row)
        row = await _task_row(world, task.id)
        assert row is not None and row["status"] == SyncTaskStatus.RUNNING.value, row
    # when the delete goes on and commits
    world.push.sandbox.hold()
    assert await deleting == kept.shop.id
    # then the import's message, sent again, finds its task gone and ends quietly: nothing failed, nothing is left
    await until(lambda: _ended(world, "run_sync_task", task.id) > _sent_back(world, "run_sync_task", task.id), "ran")
    assert world.deliveries.failed() == []
    assert set((await row_counts(world.harness.db, kept.shop.id)).values()) == {0}
    assert await _task_row(world, task.id) is None


@POSTGRES_ONLY
async def test_a_running_import_gives_its_thread_back_while_the_delete_waits_for_the_shop_and_keeps_it_waiting_no_more(
    world: World,
) -> None:
    # given the kept shop's orders import running (started after the delete cancelled the shop's tasks: not asked to
    # stop), its first batch stored; and another holder of the shop FOR KEY SHARE (another import's batch)
    kept = world.kept
    task = await _import_running(world)
    async with _held(world, "SELECT id FROM shops WHERE id = :id FOR KEY SHARE", kept.shop.id):
        # and the delete's transaction asking for the shop FOR UPDATE, waiting behind that holder (the delete's own
        # first statements: a delete rolled back in the end)
        async def delete_waiting_then_failing() -> None:
            async with world.harness.uow_factory() as uow:
                assert await uow.shops.get(kept.shop.id, kept.shop.merchant_id, for_delete=True) is not None

        delete = asyncio.create_task(delete_waiting_then_failing())
        await until_a_writer_waits_on_a_lock(world.harness.db)
        # when the import's next page comes: its batch is not granted the shop beside the holder (before: it was, and
        # back-to-back batches kept the delete waiting), it hands the run back
        await _while_the_batch_meets_the_delete(world, task, waiting_on_a_lock=1)
    # and once the holder commits the delete takes the shop, then rolls back
    await delete
    # then the import resumes from its checkpoint with every order once
    world.push.sandbox.hold()
    done = await world.harness.wait(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED and done.failed_attempts == 0, done
    await _exactly_imported(world, done)
    assert world.deliveries.failed() == []


@POSTGRES_ONLY
@pytest.mark.parametrize("world", [0], indirect=True)  # the client retries no call: one answer is TikTok's last
@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("missing_scope", SyncTaskStatus.FAILED, "MISSING_SCOPE"),  # a refusal: the task fails at once (`_fail`)
        ("http_503", SyncTaskStatus.SUCCEEDED, None),  # an outage: the run fails, retried (`_failed_attempt`)
    ],
)
async def test_a_running_imports_failure_met_while_its_shop_is_held_gives_the_thread_back_and_counts_once(
    world: World, fault: str, status: SyncTaskStatus, code: str | None
) -> None:
    # given the kept shop's orders import running, its first batch stored, and the shop's row held FOR UPDATE, as
    # its delete holds it
    task = await _import_running(world)
    sandbox = world.push.sandbox
    async with _held(world, "SELECT id FROM shops WHERE id = :id FOR UPDATE", world.kept.shop.id):
        # when TikTok answers the import's second page with a refusal, or with 503 (an outage): the run fails, and
        # its failure is to be recorded while the shop is held
        sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": [fault], "paths": [ORDER_SEARCH]})
        assert await asyncio.to_thread(sandbox.release_held) == 1
        # and a buyer orders on the other shop
        other_event = await _sale(world, world.other, "other-sale")
        await world.queue.enqueue_webhook_events(world.other.shop.id)

        # then the other shop's sale is processed while the shop is held (before: the one thread waited in the
        # failure's write, `shops.get`, for the hold's end)
        async def settled() -> EventOutcome | None:
            outcome = await _outcome(world, other_event)
            return outcome if outcome is not EventOutcome.PENDING else None

        outcome = await until(settled, "the other shop's event settled", timeout=OTHER_SHOP_SETTLES_WITHIN_SECONDS)
        assert outcome is EventOutcome.PROCESSED
        # and the import's message is sent back for the delete (the refusal's run handed back; the outage's retry,
        # probed), nothing of the failure written: no run counted as failed yet, the first page only stored
        await until(lambda: _sent_back(world, "run_sync_task", task.id) >= 1, "the import sent back")
        row = await _task_row(world, task.id)
        assert row is not None and row["processed"] == PAGE_SIZE and row["failed_attempts"] == 0, row
        assert row["error_code"] is None and row["status"] != SyncTaskStatus.FAILED.value, row
        if fault == "http_503":
            sandbox.control("POST", "/faults", {"rate": 0.0})  # TikTok back before the hold ends
    # when the hold ends with a rollback (a delete that failed: the shop is kept) and TikTok answers every page
    sandbox.hold()
    # then the failure counts once: the refusal, met again by the resumed run, fails the task; the outage's run is
    # counted failed by its retry, which imports the rest
    done = await world.harness.wait(task.id)
    assert (done.status, done.error_code, done.failed_attempts) == (status, code, 1), done
    if status is SyncTaskStatus.SUCCEEDED:
        await _exactly_imported(world, done)
