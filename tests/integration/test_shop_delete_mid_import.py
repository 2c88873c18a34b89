"""A shop's delete sent mid-import, on PostgreSQL (tryout59 F-delete-pg): it waits for at most the import's batch in
flight, not for the whole import. The real engine, the sandbox over HTTP, the embedded worker pool; batches are
counted from the task's own progress writes (`UPDATE sync_tasks ... processed`), never timed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from domain.inventory_push import InventoryPolicy
from domain.services.shops import delete_shop
from domain.services.sync import start_sync
from domain.shops import Shop
from domain.sync import SyncKind
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.sync import SyncHarness, connect_shop, row_counts, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines
from tests.integration.db_samples import until_a_writer_waits_on_a_lock

ORDER_SEARCH = "/order/202309/orders/search"


async def _connect(harness: SyncHarness, sandbox: SandboxServer) -> Shop:
    """A connected shop whose pool does not push (nothing but the import writes the shop's rows here)."""
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.uow_factory() as uow:
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(push_enabled=False), harness.clock.now())
        await uow.commit()
    return shop


@POSTGRES_ONLY
async def test_a_delete_sent_mid_import_lets_at_most_the_batch_in_flight_commit(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # given an orders import of 3,000 orders (one slice of 100-order pages, up to PostgreSQL's 2,000 records a batch),
    # its first page stored and the next ones held at TikTok; and another writer of the shop holding it FOR KEY
    # SHARE, as an import batch of the shop's other task does (tryout59: the products and orders imports' batches
    # overlapped, so there was always one holder)
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=3000))
    settings = sync_settings(database_url, sandbox, tmp_path, sync_order_slices=1, sync_page_size=100)
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS))
    harness = sync_harness_factory(settings)
    queue = harness.start_worker()
    shop = await _connect(harness, sandbox)
    sandbox.hold(ORDER_SEARCH)
    start = (harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id)
    (task,) = await start_sync(*start, [SyncKind.ORDERS])
    await asyncio.to_thread(sandbox.wait_held)
    await asyncio.to_thread(sandbox.let_through, 1)
    await harness.wait(task.id, until=lambda t: t.processed >= 100)

    delete_sent = False
    after_delete: list[int] = []  # `processed` as each batch of the task wrote it once the delete was sent

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if delete_sent and statement.lstrip().startswith("UPDATE sync_tasks") and context is not None:
            values = context.compiled_parameters[0]
            if values.get("id_1") == task.id and "processed" in values:
                after_delete.append(values["processed"])

    event.listen(Engine, "before_cursor_execute", record)
    try:
        async with harness.db.write_engine.connect() as holder:
            await holder.execute(text("SELECT id FROM shops WHERE id = :id FOR KEY SHARE"), {"id": shop.id})
            # when the merchant deletes the shop (it waits for the shop) and TikTok answers every page from then on
            delete_sent = True
            deleting = asyncio.create_task(delete_shop(harness.uow_factory, harness.clock, "m1", shop.id))
            await until_a_writer_waits_on_a_lock(harness.db)
            with log_lines("domain.services.importer") as lines:
                sandbox.hold()
                # the import's next batch meets the waiting delete (its mark, taken before the shop's row) and hands
                # the run back: no batch of it is in flight after its own word (before tryout59's fix the import ran
                # to its end behind the delete; a run that went on would never say this, and the wait would fail)
                await asyncio.to_thread(lines.wait_for, f"sync task {task.id} handed back")
            await holder.rollback()  # the other writer commits: the delete takes the shop
        await deleting
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    # then at most one batch stored records after the delete was sent (before the fix: all that were left, 2,900
    # orders, the import SUCCEEDED behind the waiting delete: 2 batches at PostgreSQL's 2,000 records, 3 at SQLite's
    # 1,000), and nothing of the shop is left, its task included
    stored_after = [after for before, after in itertools.pairwise([100, *after_delete]) if after > before]
    assert len(stored_after) <= 1, after_delete
    assert set((await row_counts(harness.db, shop.id)).values()) == {0}
