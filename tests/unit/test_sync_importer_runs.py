"""The import engine over fakes, how a run begins and stops: unknown tasks, a cancel or a lost lease mid-import
(dated, signalled, nothing written after it), duplicates in a batch, the orders slices fetched side by side."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.ports import TikTokUnavailableError, UpsertCounts
from domain.services.importer import SyncDeps, SyncOptions, run_sync_task
from domain.services.sync import cancel_task
from domain.sync import SyncKind, SyncTaskStatus
from tests.fakes import T0, FakeShopApi, FakeUnitOfWork, make_order, make_product
from tests.unit.test_polling_services import World as PollWorld
from tests.unit.test_sync_importer import OPTIONS, World


async def test_an_unknown_task_is_a_no_op() -> None:
    world = World()
    await run_sync_task("no-such-task", world.deps)  # a message for a task deleted with its shop: nothing to do
    assert world.api.calls == 0 and world.store.commits == 0 and world.events.changes == []


async def test_a_cancel_during_the_last_attempt_ends_the_task_cancelled_when_the_next_page_is_stored() -> None:
    # given a task on its last attempt, cancelled by the merchant a minute into its import
    world = World()
    world.deps = replace(world.deps, options=replace(OPTIONS, max_attempts=1))
    task = world.queue(SyncKind.ORDERS)

    async def cancel_midway(call: int) -> None:
        if call == 15:
            world.clock.advance(timedelta(minutes=1))
            await cancel_task(world.deps.uow_factory, world.events, world.clock, "m1", task.id)

    world.api.on_call = cancel_midway
    # when it runs: no exception, nothing for the queue to retry
    await world.run(task)
    # then it is CANCELLED (not FAILED), dated by the page that honoured the cancel, and the Task Center was told
    cancelled = world.task(task.id)
    assert (cancelled.status, cancelled.finished_at, cancelled.error_code) == (
        SyncTaskStatus.CANCELLED, T0 + timedelta(minutes=1), None,
    )  # fmt: skip
    assert world.events.changes[-1] == (task.id, "CANCELLED")
    assert world.store.shops[world.shop.id].last_synced_at is None


async def test_a_run_that_lost_its_lease_writes_no_page_after_it() -> None:
    # given a run whose task a second delivery takes over as TikTok answers its fifth request
    world = World()
    task = world.queue(SyncKind.ORDERS)
    at_takeover: dict[str, object] = {}

    async def redeliver(call: int) -> None:
        if call == 5:
            stored = world.store.tasks[task.id]
            at_takeover.update(
                processed=stored.processed,
                checkpoint=repr(stored.checkpoint),
                orders=len(world.store.shop_orders(world.shop.id)),
            )
            stored.begin_attempt(world.clock.now())

    world.api.on_call = redeliver
    await world.run(task)  # stops quietly: the newer attempt owns the task
    # then nothing was stored by the old run after the takeover: no record, no count, no checkpoint
    stored = world.task(task.id)
    assert (stored.status, stored.attempts) == (SyncTaskStatus.RUNNING, 2)
    assert {
        "processed": stored.processed,
        "checkpoint": repr(stored.checkpoint),
        "orders": len(world.store.shop_orders(world.shop.id)),
    } == at_takeover


async def test_a_record_tiktok_serves_twice_in_one_batch_is_stored_once_and_counted_unchanged() -> None:
    # given TikTok listing product 1 twice on its first page (46 listings of 45 products)
    world = World()
    world.api.products.insert(2, make_product(1))
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    # then each product is stored once, and the repeat counts as unchanged: every listing is accounted for
    done = world.task(task.id)
    assert len(world.store.shop_products(world.shop.id)) == 45
    assert (done.processed, done.created, done.updated, done.unchanged, done.failed) == (46, 45, 0, 1, 0)


async def test_a_poll_failing_midway_leaves_its_cursor_where_its_stored_pages_reached_dated_by_them() -> None:
    # given an orders poll whose second request fails, the first page (changes at T0-300 s, T0-290 s) stored
    # a minute after the poll was started
    polls = PollWorld()
    changed = [T0 - timedelta(seconds=300 - 10 * i) for i in range(9)]
    api = FakeShopApi(
        [], [replace(make_order(i, T0 - timedelta(days=3)), updated_at=at) for i, at in enumerate(changed)]
    )
    api.failures[2] = TikTokUnavailableError("down")
    task_id = await polls.start(SyncKind.ORDERS)
    assert task_id is not None
    polls.clock.advance(timedelta(minutes=1))
    options = SyncOptions(page_size=2, queue_pages=1, batch_records=1, max_attempts=3)
    with pytest.raises(TikTokUnavailableError):
        await run_sync_task(task_id, SyncDeps(polls.uow, api.factory, polls.events, polls.clock, options))
    # then the cursor claims what the stored page covers (before its last change's second), dated by the store
    cursor = polls.store.cursors[(polls.shop.id, SyncKind.ORDERS)]
    assert (cursor.cursor_at, cursor.updated_at) == (T0 - timedelta(seconds=290), T0 + timedelta(minutes=1))


async def test_a_write_failing_as_the_shop_is_deleted_on_the_last_attempt_stops_quietly_no_error_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a last attempt whose batch write fails because the shop was deleted meanwhile (a foreign-key error)
    world = World()
    store_uow = world.deps.uow_factory

    def uow() -> FakeUnitOfWork:
        made = store_uow()

        async def upsert_racing_the_delete(shop_id: str, products: object) -> UpsertCounts:
            async with store_uow() as other:
                await other.shops.delete(shop_id)
                await other.commit()
            raise RuntimeError("FOREIGN KEY constraint failed")

        made.catalog.upsert_products = upsert_racing_the_delete  # type: ignore[method-assign]
        return made  # type: ignore[return-value]

    world.deps = replace(world.deps, uow_factory=uow, options=replace(OPTIONS, max_attempts=1))
    task = world.queue(SyncKind.PRODUCTS)
    # when it runs: no exception for the queue
    with caplog.at_level(logging.INFO, logger="domain.services.importer"):
        await world.run(task)
    # then it stopped as a deleted shop's task does: no failure logged for the operator to chase
    assert world.store.tasks == {} and world.store.shops == {}
    assert [r.levelname for r in caplog.records if r.name == "domain.services.importer"] == ["INFO"]
