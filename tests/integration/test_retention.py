"""Retention of sync tasks and OAuth requests on SQLite and PostgreSQL: finished tasks past the retention go, in
bounded batches, but never an active one nor the newest of a role of a shop and kind (whatever reads tasks reads
the same before and after); OAuth requests go a day after they expired; marks of unreadable records go once their
first failure is past the task retention; the worker's sweep runs them, and prunes the records of a deleted shop's
lines (their rule: tests/integration/test_db_inventory_shop_delete.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.latest_tasks import latest_sync_tasks
from adapters.db.shop_facts import shop_sync_facts
from adapters.db.tables import (
    authorization_requests,
    deleted_shop_connections,
    deleted_shop_holds,
    deleted_shop_lines,
    inventory_items,
    metadata,
    sync_tasks,
    unreadable_records,
)
from domain.attention import Unreadable
from domain.authorization import AuthorizationRequest
from domain.errors import ErrorCode
from domain.services.retention import FINISHED_TASKS, SPENT_AUTHORIZATIONS, UNREADABLE_RECORDS, prune
from domain.services.sync import rerun_failed_imports
from domain.shops import Region, Shop
from domain.sync import RecordFailure, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import FakeClock
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, sync_settings, utc_now
from tests.integration.db_samples import NOW, add_shop, make_shop, make_task_as

RETENTION = timedelta(days=30)
SWEEP_WAIT_SECONDS = 15.0  # the sweep runs every 0.5 to 1 s here: many turns, even on a loaded machine

PRODUCTS, ORDERS = SyncKind.PRODUCTS, SyncKind.ORDERS
AUTHORIZATION, MANUAL, SCHEDULED = SyncTrigger.AUTHORIZATION, SyncTrigger.MANUAL, SyncTrigger.SCHEDULED
SUCCEEDED, FAILED, CANCELLED = SyncTaskStatus.SUCCEEDED, SyncTaskStatus.FAILED, SyncTaskStatus.CANCELLED
QUEUED, RUNNING = SyncTaskStatus.QUEUED, SyncTaskStatus.RUNNING


async def _store(uows: Any, tasks: list[SyncTask]) -> None:
    async with uows() as uow:
        for task in tasks:
            await uow.sync_tasks.add(task)
        await uow.commit()


async def _task_ids(database: Database) -> set[str]:
    async with database.read_sessionmaker() as session:
        return set((await session.execute(select(sync_tasks.c.id))).scalars())


async def _what_readers_see(database: Database, uows: Any, shop: Shop) -> dict[str, Any]:
    """Everything but the Task Center's history that reads finished tasks: the current state of each kind
    (`syncTaskUpdated`'s first message), the shop's attention facts, the last successful import (where a first
    poll starts) and poll of each kind, and the newest import of each kind whatever its status (what the re-run rules
    read: `latest_import`)."""
    async with database.read_sessionmaker() as session:
        latest = [row.id for row in await latest_sync_tasks(session, shop.merchant_id)]
        facts = await shop_sync_facts(session, shop.merchant_id, [shop.id])
    async with uows() as uow:
        last_succeeded = [
            await uow.sync_tasks.last_succeeded(shop.id, kind, scheduled=scheduled)
            for kind in SyncKind
            for scheduled in (False, True)
        ]
        latest_imports = [await uow.sync_tasks.latest_import(shop.id, kind) for kind in SyncKind]
    return {
        "latest": latest, "facts": facts, "last succeeded": [task and task.id for task in last_succeeded],
        "latest imports": [task and task.id for task in latest_imports],
    }  # fmt: skip


def test_nothing_references_the_rows_retention_deletes() -> None:
    # Retention deletes sync tasks and authorization requests by themselves: a foreign key to either would make
    # the delete fail (or cascade to rows nobody meant to delete). A new one must come with a retention rule.
    pruned = {sync_tasks, authorization_requests}
    referencing = [
        f"{table.name}.{fk.parent.name}"
        for table in metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table in pruned
    ]
    assert referencing == []


async def test_finished_tasks_past_the_retention_go_but_the_newest_of_each_role_and_active_ones_stay(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    shop, other = await add_shop(uows, make_shop()), await add_shop(uows, make_shop("merchant-b"))
    # given a shop's products history, oldest first, all of it past the 30 days of retention:
    products = {
        "first import": make_task_as(shop, PRODUCTS, AUTHORIZATION, SUCCEEDED, 100, created=40),
        "last import": make_task_as(shop, PRODUCTS, MANUAL, SUCCEEDED, 90, unchanged=40),  # where a first poll starts
        "poll with changes": make_task_as(shop, PRODUCTS, SCHEDULED, SUCCEEDED, 80, created=3),
        "last poll with changes": make_task_as(shop, PRODUCTS, SCHEDULED, SUCCEEDED, 70, updated=2),  # WEBHOOKS_SILENT
        "failed import": make_task_as(shop, PRODUCTS, MANUAL, FAILED, 60),
        "cancelled import": make_task_as(shop, PRODUCTS, MANUAL, CANCELLED, 55),  # the newest import (`latest_import`)
        "empty poll": make_task_as(shop, PRODUCTS, SCHEDULED, SUCCEEDED, 52),
        "last empty poll": make_task_as(shop, PRODUCTS, SCHEDULED, SUCCEEDED, 50),  # the last successful poll
        "last finished": make_task_as(shop, PRODUCTS, SCHEDULED, FAILED, 40),  # SYNC_FAILING, though a newer one runs
        "running": make_task_as(shop, PRODUCTS, SCHEDULED, RUNNING, 35),  # stuck for weeks: active all the same
    }
    # and its orders: an old import, an old failed poll, and two recent polls
    orders = {
        "import": make_task_as(shop, ORDERS, AUTHORIZATION, SUCCEEDED, 45, created=10),
        "failed poll": make_task_as(shop, ORDERS, SCHEDULED, FAILED, 40),
        "recent empty poll": make_task_as(shop, ORDERS, SCHEDULED, SUCCEEDED, 20),  # superseded, but within retention
        "recent poll": make_task_as(shop, ORDERS, SCHEDULED, SUCCEEDED, 10, updated=1),
    }
    # and another merchant's shop: one task per kind, ages old, one of them still queued
    lone = [make_task_as(other, PRODUCTS, MANUAL, CANCELLED, 200), make_task_as(other, ORDERS, MANUAL, QUEUED, 300)]
    await _store(uows, [*products.values(), *orders.values(), *lone])
    before = await _what_readers_see(database, uows, shop)
    before_other = await _what_readers_see(database, uows, other)

    # when the sweep runs with a retention of 30 days, two tasks per transaction
    deleted = await prune(uows, FakeClock(NOW), FINISHED_TASKS, RETENTION, batch_size=2, pause_seconds=0)

    # then the superseded finished tasks past the retention are gone, and only they
    gone = {products[n].id for n in ("first import", "poll with changes", "failed import", "empty poll")}
    gone |= {orders["failed poll"].id}
    assert deleted == len(gone) == 5
    everything = {t.id for t in [*products.values(), *orders.values(), *lone]}
    assert await _task_ids(database) == everything - gone
    # and whatever reads tasks reads the same rows as before: the newest of each kind, the last finished (with
    # its failure), the last successful import, the last poll that found changes, the newest import of any status
    assert await _what_readers_see(database, uows, shop) == before
    assert await _what_readers_see(database, uows, other) == before_other
    assert before["facts"][shop.id].failing_kind == "PRODUCTS"  # the kept FAILED poll still says so
    # and running it again changes nothing
    assert await prune(uows, FakeClock(NOW), FINISHED_TASKS, RETENTION, batch_size=2, pause_seconds=0) == 0
    # and a month later the recent empty poll has aged past the retention too: superseded, it goes
    later = FakeClock(NOW + timedelta(days=15))
    assert await prune(uows, later, FINISHED_TASKS, RETENTION, pause_seconds=0) == 1
    assert orders["recent empty poll"].id not in await _task_ids(database)


async def test_one_call_deletes_at_most_its_batches_and_two_at_once_delete_each_task_once(
    database: Database, cipher: TokenCipher
) -> None:
    # given a shop with 41 finished polls a day apart, all past the retention (40 superseded by the newest)
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())
    polls = [make_task_as(shop, ORDERS, SCHEDULED, SUCCEEDED, 80 - n, updated=1) for n in range(41)]
    await _store(uows, polls)
    # when one call may run two batches of 3
    first = await prune(uows, FakeClock(NOW), FINISHED_TASKS, RETENTION, batch_size=3, max_batches=2)
    # then it deleted 6, the oldest ones
    assert first == 6
    assert await _task_ids(database) == {t.id for t in polls[6:]}

    # and when two sweeps (two worker processes) then run at once until nothing is left to do
    async def sweep() -> int:
        total = 0
        while count := await prune(uows, FakeClock(NOW), FINISHED_TASKS, RETENTION, batch_size=5, pause_seconds=0):
            total += count
        return total

    counts = await asyncio.gather(sweep(), sweep())
    # then together they deleted each of the others exactly once, without an error, and kept the newest
    assert sum(counts) == 34
    assert await _task_ids(database) == {polls[-1].id}


async def test_an_import_a_lost_authorization_failed_outlives_the_retention_until_an_import_follows_it(
    database: Database, cipher: TokenCipher
) -> None:
    """review70 F5: the re-run a lost authorization owes is read from the kind's newest import
    (`SyncTaskRepository.latest_import`, `domain.sync.rerun_after_reauthorization`), and only that row records the
    window never read. Retention treated a failed import as any failed task, superseded by any newer finished one: a
    poll. So once it was past `SHOPBRIDGE_TASK_RETENTION`, the polls since (after a lift of the release before, which
    queued nothing; or failing after a re-authorization that left the re-run to a poll's success) deleted it, and the
    next re-authorization re-ran nothing: the orders of that window stayed unread, reserving nothing in the pool."""
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())
    # given an ORDERS import failed by the lost authorization 40 days ago, its window the 30 days before it
    failed = make_task_as(shop, ORDERS, AUTHORIZATION, FAILED, 40)
    failed.error_code = ErrorCode.REAUTHORIZATION_REQUIRED
    failed.orders_created_since, failed.orders_created_until = failed.created_at - timedelta(days=30), failed.created_at
    # and the polls of the kind since (the shop ACTIVE again without a re-run): some found changes, one failed
    polls = [
        make_task_as(shop, ORDERS, SCHEDULED, SUCCEEDED, 39, updated=2),
        make_task_as(shop, ORDERS, SCHEDULED, FAILED, 35),
        make_task_as(shop, ORDERS, SCHEDULED, SUCCEEDED, 1),
    ]
    await _store(uows, [failed, *polls])

    # when the sweep runs with a retention of 30 days
    await prune(uows, FakeClock(NOW), FINISHED_TASKS, RETENTION, pause_seconds=0)

    # then the failed import is kept, the newest import of its kind (the polls past the retention go)
    assert await _task_ids(database) == {failed.id, polls[-1].id, polls[0].id}
    # and the shop's next re-authorization queues its re-run: the failed window's part within TikTok's 90 days to now
    async with uows() as uow:
        assert await uow.sync_tasks.latest_import(shop.id, ORDERS) == failed
        (again,) = await rerun_failed_imports(uow, uows, None, None, shop, NOW, "re-authorized")
        await uow.commit()
    assert (again.trigger, again.orders_created_since, again.orders_created_until) == (
        SyncTrigger.REAUTHORIZATION, failed.orders_created_since, NOW,
    )  # fmt: skip
    # and once an import has followed it (the re-run itself, whatever became of it), it goes as any failure does
    assert again.begin_attempt(NOW + timedelta(minutes=1))
    again.succeed(NOW + timedelta(minutes=10))
    async with uows() as uow:
        assert await uow.sync_tasks.update(again)
        await uow.commit()
    assert await prune(uows, FakeClock(NOW + RETENTION), FINISHED_TASKS, RETENTION, pause_seconds=0) == 1
    assert failed.id not in await _task_ids(database)


def _request(merchant_id: str, created_at: datetime, *, used: bool = False) -> AuthorizationRequest:
    request, _state = AuthorizationRequest.start(merchant_id, Region.US, "My shop", True, created_at)
    if used:
        request.consume(created_at + timedelta(minutes=1), merchant_id)
    return request


async def test_authorization_requests_go_a_day_after_they_expired(database: Database, cipher: TokenCipher) -> None:
    # given authorization requests (each valid 30 minutes): used or not, expired days ago, expired an hour ago,
    # still pending; one of them re-authorizes a shop
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())
    used_long_ago = _request("merchant-a", NOW - timedelta(days=3), used=True)
    expired_long_ago = _request("merchant-b", NOW - timedelta(days=2))
    reauthorization, _ = AuthorizationRequest.start_reauthorization(
        "merchant-a", shop.id, Region.US, "My shop", NOW - timedelta(days=1, hours=1)
    )
    expired_lately = _request("merchant-a", NOW - timedelta(hours=1))
    pending = _request("merchant-b", NOW - timedelta(minutes=5))
    async with uows() as uow:
        for request in (used_long_ago, expired_long_ago, reauthorization, expired_lately, pending):
            await uow.authorizations.add(request)
        await uow.commit()
    # when the sweep runs, one request per transaction
    deleted = await prune(uows, FakeClock(NOW), SPENT_AUTHORIZATIONS, batch_size=1, pause_seconds=0)
    # then those expired more than a day ago are gone; the others stay (a link opened again within the day is
    # still told "expired" or "already used", not "unknown")
    assert deleted == 3
    async with database.read_sessionmaker() as session:
        digests = set((await session.execute(select(authorization_requests.c.state_digest))).scalars())
    assert digests == {expired_lately.state_digest, pending.state_digest}
    # and running it again changes nothing
    assert await prune(uows, FakeClock(NOW), SPENT_AUTHORIZATIONS, pause_seconds=0) == 0


async def _deleted_line(harness: SyncHarness, deleted_at: datetime) -> None:
    """A record of an open line that a shop's delete deducted at `deleted_at` (`deleted_shop_lines`), and one of units
    it took off as sold unseen (`deleted_shop_holds`), on an item of their own; and its connection's times
    (`deleted_shop_connections`)."""
    async with harness.db.write_sessionmaker() as session, session.begin():
        item = {"id": "item-sock", "merchant_id": "merchant-a", "sku": "SOCK", "on_hand": 3}
        await session.execute(insert(inventory_items).values(**item, created_at=deleted_at, updated_at=deleted_at))
        line = {"merchant_id": "merchant-a", "tiktok_shop_id": "tts-gone", "tiktok_order_id": "o1"}
        line |= {"tiktok_line_item_id": "o1-0", "component_sku_id": "", "inventory_item_id": "item-sock"}
        await session.execute(insert(deleted_shop_lines).values(**line, quantity=1, deleted_at=deleted_at))
        held = {"merchant_id": "merchant-a", "tiktok_shop_id": "tts-gone", "tiktok_sku_id": "s1", "quantity": 2}
        held |= {"inventory_item_id": "item-sock", "deleted_at": deleted_at, "sold_before": deleted_at}
        await session.execute(insert(deleted_shop_holds).values(**held))
        await session.execute(
            insert(deleted_shop_connections).values(
                merchant_id="merchant-a", tiktok_shop_id="tts-gone", connected_at=deleted_at, deleted_at=deleted_at
            )
        )


async def _mark(uows: Any, shop: Shop, kind: SyncKind, tiktok_id: str, failed_at: datetime) -> None:
    async with uows() as uow:
        await uow.catalog.mark_unreadable(shop.id, kind, [RecordFailure(tiktok_id, "create_time is 0")], failed_at)
        await uow.commit()


async def _unreadable_facts(database: Database, shops: list[Shop]) -> dict[str, Unreadable | None]:
    async with database.read_sessionmaker() as session:
        facts = {s.id: (await shop_sync_facts(session, s.merchant_id, [s.id]))[s.id] for s in shops}
    return {shop_id: f.unreadable for shop_id, f in facts.items()}


async def test_unreadable_marks_past_the_task_retention_go_and_recent_ones_stay(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    shop, other = await add_shop(uows, make_shop()), await add_shop(uows, make_shop("merchant-b"))
    # given marks no read will clear (a completed order never updated again, a product deleted at TikTok) that
    # first failed 40 and 31 days ago, a product that failed 29 days ago, and another shop's order 60 days ago
    await _mark(uows, shop, ORDERS, "o-done", NOW - timedelta(days=40))
    await _mark(uows, shop, PRODUCTS, "p-deleted", NOW - timedelta(days=31))
    await _mark(uows, shop, PRODUCTS, "p-recent", NOW - timedelta(days=29))
    await _mark(uows, other, ORDERS, "o-other", NOW - timedelta(days=60))
    assert (await _unreadable_facts(database, [shop]))[shop.id] == Unreadable(
        3, "ORDERS", "o-done", "create_time is 0", NOW - timedelta(days=40)
    )
    # when the sweep runs with the task retention of 30 days, one mark per transaction
    deleted = await prune(uows, FakeClock(NOW), UNREADABLE_RECORDS, RETENTION, batch_size=1, pause_seconds=0)
    # then the marks past the retention are gone, of every shop, and the shop's notice names the recent one only
    assert deleted == 3
    assert await _unreadable_facts(database, [shop, other]) == {
        shop.id: Unreadable(1, "PRODUCTS", "p-recent", "create_time is 0", NOW - timedelta(days=29)),
        other.id: None,
    }
    # and running it again changes nothing; two days later the recent one has aged past it too
    assert await prune(uows, FakeClock(NOW), UNREADABLE_RECORDS, RETENTION, pause_seconds=0) == 0
    later = FakeClock(NOW + timedelta(days=2))
    assert await prune(uows, later, UNREADABLE_RECORDS, RETENTION, pause_seconds=0) == 1
    assert await _unreadable_facts(database, [shop]) == {shop.id: None}
    # and a record that still fails is marked again by the next sync that reads it, with that failure's time
    await _mark(uows, shop, ORDERS, "o-done", NOW + timedelta(days=2))
    assert (await _unreadable_facts(database, [shop]))[shop.id] == Unreadable(
        1, "ORDERS", "o-done", "create_time is 0", NOW + timedelta(days=2)
    )


async def test_the_workers_sweep_prunes_tasks_and_authorization_requests(
    database_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # given an embedded worker pool whose sweep runs every second, a shop with two finished imports of its
    # products 40 and 35 days ago, an authorization request that expired two days ago, and the record of an open
    # line of a shop deleted 100 days ago and never connected again, and of units it sold unseen (kept 97 days),
    # and the marks of an order a sync could not read 40 days ago and of one it could not read 2 days ago
    settings = sync_settings(database_url, sandbox, tmp_path, sync_stale_after_seconds=1)
    assert settings.task_retention_seconds == 30 * 24 * 3600  # the default
    harness = SyncHarness(settings)
    try:
        shop = await add_shop(harness.uow_factory, make_shop())
        now = utc_now()
        old, newest = (make_task_as(shop, PRODUCTS, MANUAL, SUCCEEDED, days, now) for days in (40, 35))
        expired = _request("merchant-a", now - timedelta(days=2))
        await _store(harness.uow_factory, [old, newest])
        async with harness.uow_factory() as uow:
            await uow.authorizations.add(expired)
            await uow.commit()
        await _deleted_line(harness, now - timedelta(days=100))
        await _mark(harness.uow_factory, shop, ORDERS, "o-old", now - timedelta(days=40))
        await _mark(harness.uow_factory, shop, ORDERS, "o-recent", now - timedelta(days=2))
        # when the worker runs
        harness.start_worker()
        # then its sweep deletes the older import, the request, the record and the old mark within a few seconds,
        # and keeps the newest import and the recent mark
        deadline = asyncio.get_running_loop().time() + SWEEP_WAIT_SECONDS
        while True:
            async with harness.db.read_sessionmaker() as session:
                tasks = set((await session.execute(select(sync_tasks.c.id))).scalars())
                requests = list((await session.execute(select(authorization_requests.c.state_digest))).scalars())
                lines = list((await session.execute(select(deleted_shop_lines.c.tiktok_order_id))).scalars())
                lines += list((await session.execute(select(deleted_shop_holds.c.tiktok_sku_id))).scalars())
                lines += list((await session.execute(select(deleted_shop_connections.c.tiktok_shop_id))).scalars())
                marks = list((await session.execute(select(unreadable_records.c.tiktok_id))).scalars())
            swept = old.id not in tasks and not requests and not lines and marks == ["o-recent"]
            if swept or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert (tasks, requests, lines, marks) == ({newest.id}, [], [], ["o-recent"])
    finally:
        await harness.close()
