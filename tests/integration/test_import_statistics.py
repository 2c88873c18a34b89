"""The worker refreshes PostgreSQL's planner statistics after a large import, outside the import's own time
(`domain.services.importer.refresh_statistics`, run by `workers.actors.run_sync_task` on the import's
`StaleStatistics`). Without it the reads right after a large import run on statistics of empty tables (bench/README
"Benchmarks 1 and 2 on PostgreSQL, stop 66": the orders page 381 ms against 18 ms). Real parts: the embedded worker
pool, PostgreSQL, the sandbox over HTTP (review66 R2: no test reached the actor's call).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

import domain.sync
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import until

# ANALYZE run by a session (the worker's), not autovacuum's (which counts in autoanalyze_count).
_ANALYZED = text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'products'")


@POSTGRES_ONLY
async def test_a_large_imports_worker_analyzes_the_tables_it_wrote_after_the_task_succeeded(
    database_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a products import that counts as large (every import does with the threshold at 0)
    monkeypatch.setattr(domain.sync, "STATISTICS_REFRESH_AFTER", 0)
    harness = sync_harness_factory(sync_settings(database_url, sandbox, tmp_path))
    harness.start_worker()
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.db.read_engine.connect() as connection:
        before = (await connection.execute(_ANALYZED)).scalar_one()
    task = SyncTask.queue(shop.id, shop.merchant_id, SyncKind.PRODUCTS, SyncTrigger.MANUAL, harness.clock.now())
    async with harness.uow_factory() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    assert harness.queue is not None
    # when the worker runs it
    await harness.queue.enqueue_sync(task.id)
    ended = await harness.wait(task.id)
    assert ended.status is SyncTaskStatus.SUCCEEDED and ended.created > 0, ended

    # then, after the task's end, the worker's own ANALYZE of the products table follows
    async def analyzed() -> bool:
        async with harness.db.read_engine.connect() as connection:
            return (await connection.execute(_ANALYZED)).scalar_one() > before

    assert await until(analyzed, "the worker's ANALYZE of products")
