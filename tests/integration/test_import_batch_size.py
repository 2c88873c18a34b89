"""The records an import stores per transaction are its database's (`Database.import_batch_records`): 1,000 on
SQLite, where every other write waits for the one write lock the batch holds; 2,000 on PostgreSQL, where a write waits
only for the rows the batch shares with it (bench/README.md, "Records per transaction by database, stop 69", and
"SQLite's records per transaction, stop 70"). The real
engine through the embedded worker pool, the sandbox over HTTP; a transaction's records are counted from the
task's own progress writes (`UPDATE sync_tasks ... processed`), never timed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from domain.inventory_push import InventoryPolicy
from domain.services.sync import start_sync
from domain.sync import SyncKind, SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import until_a_writer_waits_on_a_lock

ORDER_SEARCH = "/order/202309/orders/search"
PAGES_WAITING = 24  # pages of 100 orders queued behind the writer: more than either database's batch


async def test_an_import_stores_its_databases_records_per_transaction(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # given an orders import of 3,000 orders (one slice of 100-order pages), held at TikTok before its first page
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=3000))
    settings = sync_settings(database_url, sandbox, tmp_path, sync_order_slices=1, sync_page_size=100)
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS))
    harness = sync_harness_factory(settings)
    queue = harness.start_worker()
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.uow_factory() as uow:  # nothing but the import writes the shop's rows
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(push_enabled=False), harness.clock.now())
        await uow.commit()
    sandbox.hold(ORDER_SEARCH)
    since = harness.clock.now() - timedelta(days=46)  # every order of the sandbox (spread over 45 days)
    (task,) = await start_sync(harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id,
                               [SyncKind.ORDERS], since)  # fmt: skip
    await asyncio.to_thread(sandbox.wait_held)

    processed: list[int] = []  # `processed` as each write of the task stored it

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().startswith("UPDATE sync_tasks") and context is not None:
            values = context.compiled_parameters[0]
            if values.get("id_1") == task.id and "processed" in values:
                processed.append(values["processed"])

    event.listen(Engine, "before_cursor_execute", record)
    try:
        async with harness.db.write_sessionmaker() as holder:
            # when the writer's first batch (the first page alone) waits for another writer of the task's row, and
            # meanwhile more pages than either database's batch queue up behind it
            await holder.execute(text("UPDATE sync_tasks SET id = id WHERE id = :id"), {"id": task.id})
            await asyncio.to_thread(sandbox.let_through, 1)
            await until_a_writer_waits_on_a_lock(harness.db)
            await asyncio.to_thread(sandbox.let_through, PAGES_WAITING)
            await holder.rollback()  # the other writer ends: the first batch commits, the next takes what waits
        sandbox.hold()  # TikTok answers every page from then on
        done = await harness.wait(task.id)
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    # then the import succeeded, and the batch that found the pages waiting stored the database's size at once (a
    # batch stops once it holds `SyncOptions.batch_records`), never more
    assert done.status is SyncTaskStatus.SUCCEEDED, done
    batches = [after - before for before, after in itertools.pairwise([0, *processed]) if after > before]
    assert sum(batches) == 3000, batches
    assert batches[0] == 100, batches
    assert max(batches) == (1000 if harness.db.is_sqlite else 2000), batches
