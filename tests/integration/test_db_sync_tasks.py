"""SqlSyncTaskRepository on SQLite and PostgreSQL: round trip, one active task per shop and kind, cancel."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import text

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.errors import DomainError, ErrorCode
from domain.services import importer
from domain.shops import Shop
from domain.sync import RecordFailure, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import FakeClock, FakeEventPublisher
from tests.fixtures.servers import opened_database
from tests.integration.db_samples import (
    NOW,
    add_shop,
    finishes_before_waiting_on_a_lock,
    make_shop,
    make_task,
    make_task_as,
    until_a_writer_waits_on_a_lock,
)


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


async def test_the_latest_import_is_the_newest_not_a_poll_of_its_shop_and_kind(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    # given an authorization's ORDERS import, then a merchant's that failed, then a newer poll; and another shop's
    other = await add_shop(uow_factory(database, cipher), make_shop(tiktok_shop_id="7777", name="Other"))
    tasks = [
        make_task_as(shop, SyncKind.ORDERS, SyncTrigger.AUTHORIZATION, SyncTaskStatus.SUCCEEDED, 3),
        make_task_as(shop, SyncKind.ORDERS, SyncTrigger.MANUAL, SyncTaskStatus.FAILED, 2),
        make_task_as(shop, SyncKind.ORDERS, SyncTrigger.SCHEDULED, SyncTaskStatus.SUCCEEDED, 1),
        make_task_as(other, SyncKind.ORDERS, SyncTrigger.MANUAL, SyncTaskStatus.SUCCEEDED, 0),
    ]
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        for task in tasks:
            await uow.sync_tasks.add(task)
        await uow.commit()
    # when the re-authorization asks for each kind's latest import
    async with uows() as uow:
        orders = await uow.sync_tasks.latest_import(shop.id, SyncKind.ORDERS)
        products = await uow.sync_tasks.latest_import(shop.id, SyncKind.PRODUCTS)
    # then it is the merchant's failed one (the poll and the other shop's import left out), and none of PRODUCTS
    assert (orders and orders.id, products) == (tasks[1].id, None)


@pytest.mark.parametrize("ending", ["finish", "failure"])
async def test_an_imports_last_write_the_database_aborts_as_a_deadlock_is_run_again_whole(
    postgres_url: str, cipher: TokenCipher, caplog: pytest.LogCaptureFixture, ending: str
) -> None:
    """PostgreSQL only: SQLite's write transactions are exclusive, nothing to interleave there."""
    async with opened_database(postgres_url) as database:
        # given a shop's products import, begun (RUNNING, its run holding the lease)
        uows = uow_factory(database, cipher)
        shop = await add_shop(uows, make_shop())
        task = make_task(shop)
        async with uows() as uow:
            await uow.sync_tasks.add(task)
            await uow.commit()
        deps = importer.SyncDeps(uows, cast(Any, None), FakeEventPublisher(), FakeClock(NOW))  # TikTok not called
        begun = await importer._begin(task.id, deps)
        assert begun is not None
        run, loaded = begun

        # when a writer that breaks the rows' order (the shop, then the task, as everywhere) holds the task's row,
        # the run writes its end (its last sync, or the shop revoked as TikTok refused its authorization: it holds
        # the shop's row, then waits for the task's), and the writer then asks for the shop's row: each waits for
        # the other, and PostgreSQL aborts the run's write, whose wait began first (40P01; the writer's check is put
        # off to 10 s)
        async with database.write_engine.connect() as other:
            await other.execute(text("SET deadlock_timeout = '10s'"))
            await other.execute(text("SELECT id FROM sync_tasks WHERE id = :id FOR UPDATE"), {"id": task.id})
            with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
                if ending == "finish":
                    last = importer._finish(run)
                else:
                    refused = "TikTok no longer honours the shop's authorization; re-authorize it."
                    last = importer._fail(run, ErrorCode.REAUTHORIZATION_REQUIRED, refused, refused=loaded)
                writing = asyncio.create_task(last)
                await until_a_writer_waits_on_a_lock(database)
                shop_row = text("SELECT id FROM shops WHERE id = :id FOR UPDATE")
                await asyncio.wait_for(other.execute(shop_row, {"id": shop.id}), timeout=30)
                await other.commit()
                await asyncio.wait_for(writing, timeout=60)

        # then the write was run again whole, said in one WARNING line with the SQLSTATE, and the task ended once:
        # no failed run counted for the conflict, the shop's row written with it
        lines = [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"]
        assert len(lines) == 1 and "SQLSTATE 40P01" in lines[0] and f"sync task {task.id}: its {ending}" in lines[0]
        async with uows() as uow:
            ended, stored = await uow.sync_tasks.get(task.id), await uow.shops.get(shop.id)
        assert ended is not None and stored is not None
        if ending == "finish":
            assert (ended.status, ended.failed_attempts, stored.last_synced_at) == (SyncTaskStatus.SUCCEEDED, 0, NOW)
        else:
            assert (ended.status, ended.error_code) == (SyncTaskStatus.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED)
            assert stored.revoked_at == NOW


async def test_an_imports_recount_never_waits_for_its_shops_delete(
    postgres_url: str, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL only: SQLite's delete holds the one write lock, which every writer of every shop waits for alike."""
    async with opened_database(postgres_url) as database:
        # given a shop's orders import that ended (its run's lease 1), the shop counted never before (its count's row
        # is the recount's to insert: an import that stored nothing), and the shop's row held FOR UPDATE, as its
        # delete holds it (15-27 s on a 20k-order shop)
        uows = uow_factory(database, cipher)
        shop = await add_shop(uows, make_shop())
        task = make_task(shop, SyncKind.ORDERS)
        async with uows() as uow:
            await uow.sync_tasks.add(task)
            await uow.commit()
        deps = importer.SyncDeps(uows, cast(Any, None), FakeEventPublisher(), FakeClock(NOW))  # TikTok not called
        async with database.write_engine.connect() as holder:
            await holder.execute(text("SELECT id FROM shops WHERE id = :id FOR UPDATE"), {"id": shop.id})
            # when the engine counts the shop's orders again after the import
            with caplog.at_level(logging.INFO, logger=importer.__name__):
                recount = asyncio.create_task(importer._recount(importer._Run(deps, task, 1), SyncKind.ORDERS))
                # then it ends without waiting for the shop (before: its count row's foreign key waited for the
                # delete's end, with the worker's thread), and says it did not count
                assert await finishes_before_waiting_on_a_lock(database, recount)
            await holder.rollback()
        assert f"sync task {task.id}: the shop's orders not counted again" in caplog.text
