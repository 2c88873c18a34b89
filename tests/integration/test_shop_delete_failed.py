"""A shop's delete that fails and rolls back leaves its running import going on (review61b D1): the import resumes
from its checkpoint and ends with every order of its window once, as if no delete had come; it is not left CANCELLED
by a stop the delete asked for outside its own transaction, which its rollback did not undo.

The delete fails for real, in the database: on PostgreSQL the test holds one of the shop's orders `FOR UPDATE`, so the
delete's cascade waits there (the import's next batch meanwhile meets the delete and hands its run back), then cancels
the delete's waiting statement (`pg_cancel_backend`: SQLSTATE 57014, as a `statement_timeout` ends it); on SQLite a
trigger of the test's refuses the shop's row delete. Real parts: the engine in the embedded worker pool, the sandbox
over HTTP with its order search held so that the test knows which page is stored when."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from domain.inventory_push import InventoryPolicy
from domain.services.shops import delete_shop
from domain.services.sync import start_sync
from domain.sync import SyncKind, SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, expected_catalog, stored_catalog, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines
from tests.integration.db_samples import until_a_writer_waits_on_a_lock

ORDER_SEARCH = "/order/202309/orders/search"
PAGE_SIZE = 20  # 200 orders in one slice: ten pages, each held page stored alone as a batch

REFUSE_SHOP_DELETE_SQLITE = (
    "CREATE TRIGGER refuse_shop_delete BEFORE DELETE ON shops BEGIN SELECT RAISE(ABORT, 'the test refuses it'); END"
)


async def test_a_delete_that_fails_and_rolls_back_lets_the_running_import_go_on_to_its_end(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # given a shop's orders import running, its first page stored (a batch), its second asked and held at TikTok
    sandbox = sandbox_factory(SandboxConfig(products=5, orders=200))
    settings = sync_settings(database_url, sandbox, tmp_path, sync_order_slices=1, sync_page_size=PAGE_SIZE)
    harness = sync_harness_factory(
        settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS))
    )
    queue = harness.start_worker()
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.uow_factory() as uow:  # nothing but the import writes the shop's rows
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(push_enabled=False), harness.clock.now())
        await uow.commit()
    sandbox.hold(ORDER_SEARCH)
    start = (harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id)
    (task,) = await start_sync(*start, [SyncKind.ORDERS])
    await asyncio.to_thread(sandbox.wait_held)
    await asyncio.to_thread(sandbox.let_through, 1)
    await harness.wait(task.id, until=lambda t: t.processed >= PAGE_SIZE)

    # when the merchant deletes the shop and the delete fails in the database, rolling back
    if harness.db.is_sqlite:
        async with harness.db.write_engine.begin() as conn:
            await conn.execute(text(REFUSE_SHOP_DELETE_SQLITE))
    deleting = asyncio.create_task(delete_shop(harness.uow_factory, harness.clock, "m1", shop.id))
    if harness.db.is_sqlite:
        with pytest.raises(DBAPIError, match="the test refuses it"):
            await deleting
    else:
        async with harness.db.write_engine.connect() as holder:
            await holder.execute(text("SELECT id FROM orders WHERE shop_id = :id LIMIT 1 FOR UPDATE"), {"id": shop.id})
            await until_a_writer_waits_on_a_lock(harness.db)  # the delete, in its cascade, on the test's order
            with log_lines("domain.services.importer") as lines:
                # (its import's next page answered meanwhile: the batch meets the delete and hands the run back)
                assert await asyncio.to_thread(sandbox.release_held) == 1
                await asyncio.to_thread(lines.wait_for, f"sync task {task.id} handed back")
            cancelled = await holder.execute(
                text(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            assert cancelled.scalars().all() == [True]
            with pytest.raises(DBAPIError, match="canceling statement"):
                await deleting
            await holder.rollback()

    # then the shop is kept, and its import, TikTok answering every page from now on, resumes from its checkpoint
    # and succeeds (before: CANCELLED at its next batch or begin, 20 orders of the window's 100-odd stored)
    sandbox.hold()
    done = await harness.wait(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED and done.failed_attempts == 0, done
    # with every order of its window stored once, each counted once
    assert done.orders_created_since is not None and done.orders_created_until is not None
    _, want = expected_catalog(sandbox, shop, done.orders_created_since, done.orders_created_until)
    _, stored = await stored_catalog(harness.db, shop.id)
    assert stored == want
    assert done.created == done.processed == len(want) > PAGE_SIZE, done
