"""SqlSyncTaskRepository on SQLite and PostgreSQL: round trip, one active task per shop and kind, cancel."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.errors import DomainError, ErrorCode
from domain.shops import Shop
from domain.sync import RecordFailure, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.integration.db_samples import NOW, add_shop, make_shop, make_task, until_a_writer_waits_on_a_lock


@pytest.fixture
async def shop(database: Database, cipher: TokenCipher) -> Shop:
    return await add_shop(uow_factory(database, cipher), make_shop())


async def test_a_task_round_trips_with_failures_and_checkpoint(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    task = make_task(shop, SyncKind.ORDERS)
    async with uows() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()

    task.begin_attempt(NOW)
    task.record_batch(3, 1, 2, [RecordFailure("o-9", "no price")])
    task.checkpoint = {"slices": [{"since": 1, "page_token": "abc"}]}
    task.total = 10
    async with uows() as uow:
        assert await uow.sync_tasks.update(task) is True
        await uow.commit()

    async with uows() as uow:
        assert await uow.sync_tasks.get(task.id) == task
        assert await uow.sync_tasks.get(task.id, merchant_id=shop.merchant_id) == task
        assert await uow.sync_tasks.get(task.id, merchant_id="someone-else") is None
        assert await uow.sync_tasks.active(shop.id, SyncKind.ORDERS) == task
        assert await uow.sync_tasks.active(shop.id, SyncKind.PRODUCTS) is None


async def test_a_second_active_task_of_a_kind_is_refused_until_the_first_ends(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    first = make_task(shop, SyncKind.PRODUCTS)
    async with uows() as uow:
        await uow.sync_tasks.add(first)
        await uow.sync_tasks.add(make_task(shop, SyncKind.ORDERS))  # another kind is fine
        await uow.commit()

    # when another PRODUCTS task is added while the first is active: refused, the transaction goes on
    async with uows() as uow:
        with pytest.raises(DomainError) as refused:
            await uow.sync_tasks.add(make_task(shop, SyncKind.PRODUCTS))
        assert refused.value.code is ErrorCode.SYNC_ALREADY_RUNNING
        first.begin_attempt(NOW)
        first.succeed(NOW)
        await uow.sync_tasks.update(first)
        await uow.commit()

    # once it ended, a new one is allowed
    async with uows() as uow:
        await uow.sync_tasks.add(make_task(shop, SyncKind.PRODUCTS))
        await uow.commit()


async def test_two_concurrent_starts_make_exactly_one_task(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    inserted = asyncio.Event()

    async def start(hold: bool) -> str:
        async with uows() as uow:
            if not hold:
                await inserted.wait()
            try:
                await uow.sync_tasks.add(make_task(shop, SyncKind.ORDERS))
            except DomainError as error:
                return error.code.value
            if hold:
                inserted.set()
                await until_a_writer_waits_on_a_lock(database)  # the other writer is blocked behind us
            await uow.commit()
            return "started"

    assert sorted(await asyncio.gather(start(True), start(False))) == ["SYNC_ALREADY_RUNNING", "started"]


async def test_update_says_false_when_the_row_is_gone(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    task = make_task(shop)
    async with uows() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    async with uows() as uow:
        await uow.shops.delete(shop.id)
        await uow.commit()
    async with uows() as uow:
        task.begin_attempt(NOW)
        assert await uow.sync_tasks.update(task) is False


async def test_cancel_active_for_shop_and_a_cancel_request_survives_a_stale_write(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    queued, running = make_task(shop, SyncKind.PRODUCTS), make_task(shop, SyncKind.ORDERS)
    running.begin_attempt(NOW)
    async with uows() as uow:
        await uow.sync_tasks.add(queued)
        await uow.sync_tasks.add(running)
        await uow.commit()
    async with uows() as uow:
        worker_copy = await uow.sync_tasks.get(running.id)
    assert worker_copy is not None

    # when the merchant's delete cancels the shop's tasks
    async with uows() as uow:
        cancelled = await uow.sync_tasks.cancel_active_for_shop(shop.id, NOW)
        await uow.commit()
    assert {t.id: t.status for t in cancelled} == {
        queued.id: SyncTaskStatus.CANCELLED,
        running.id: SyncTaskStatus.RUNNING,
    }

    # and the worker then writes progress from the copy it read before the cancel
    worker_copy.record_batch(5, 0, 0, [])
    async with uows() as uow:
        assert await uow.sync_tasks.update(worker_copy) is True
        await uow.commit()

    # then the running task still has its cancel request, and the queued one is cancelled
    async with uows() as uow:
        stored_running = await uow.sync_tasks.get(running.id)
        stored_queued = await uow.sync_tasks.get(queued.id)
    assert stored_running is not None and stored_running.cancel_requested is True
    assert stored_running.processed == 5
    assert stored_queued is not None and stored_queued.status is SyncTaskStatus.CANCELLED


async def test_list_resumable_finds_active_tasks_with_a_stale_heartbeat(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    stale = make_task(shop, SyncKind.PRODUCTS, created_at=NOW - timedelta(hours=1))
    stale.begin_attempt(NOW - timedelta(minutes=10))
    fresh = make_task(shop, SyncKind.ORDERS, created_at=NOW - timedelta(hours=1))
    fresh.begin_attempt(NOW)
    async with uows() as uow:
        await uow.sync_tasks.add(stale)
        await uow.sync_tasks.add(fresh)
        await uow.commit()
    async with uows() as uow:
        resumable = await uow.sync_tasks.list_resumable(NOW - timedelta(minutes=2))
    assert [t.id for t in resumable] == [stale.id]


async def test_the_last_succeeded_poll_or_import_and_empty_polls_folded_to_the_newest(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    def finished(trigger: SyncTrigger, minute: int, created: int = 0, failed: int = 0) -> SyncTask:
        task = SyncTask.queue(shop.id, shop.merchant_id, SyncKind.ORDERS, trigger, NOW + timedelta(minutes=minute))
        task.begin_attempt(NOW + timedelta(minutes=minute))
        task.record_batch(created, 0, 0, [RecordFailure(f"order-{n}", "bad") for n in range(failed)])
        task.succeed(NOW + timedelta(minutes=minute, seconds=30))
        return task

    # given an old poll whose one record failed (nothing created or updated, yet not empty),
    # four empty polls, a poll that found two orders, then a manual import
    failing = finished(SyncTrigger.SCHEDULED, -1, failed=1)
    empty = [finished(SyncTrigger.SCHEDULED, minute) for minute in range(4)]
    found, imported = finished(SyncTrigger.SCHEDULED, 4, created=2), finished(SyncTrigger.MANUAL, 5)
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        for task in [failing, *empty, found, imported]:
            await uow.sync_tasks.add(task)
        await uow.commit()
    async with uows() as uow:
        last_poll = await uow.sync_tasks.last_succeeded(shop.id, SyncKind.ORDERS, scheduled=True)
        last_import = await uow.sync_tasks.last_succeeded(shop.id, SyncKind.ORDERS, scheduled=False)
        none_yet = await uow.sync_tasks.last_succeeded(shop.id, SyncKind.PRODUCTS, scheduled=False)
        folded = await uow.sync_tasks.fold_empty_polls(shop.id, SyncKind.ORDERS, 1)
        await uow.commit()
    assert (last_poll and last_poll.id, last_import and last_import.id, none_yet) == (found.id, imported.id, None)
    # then folding to the newest empty poll deletes the three older ones, and says so,
    # and keeps the poll with a failure: the Task Center must still show what failed
    assert folded == 3
    async with uows() as uow:
        left = [await uow.sync_tasks.get(task.id) for task in [failing, *empty, found, imported]]
    assert [task is not None for task in left] == [True, False, False, False, True, True, True]
