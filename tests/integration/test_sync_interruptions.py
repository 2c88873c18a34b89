"""Runs of an import that a stop of its worker pool interrupts spend nothing of its retry budget, on real parts (the
database, the sandbox over HTTP, the embedded worker pool): each stop hands the task back QUEUED, and a TikTok outage
after as many stops as SHOPBRIDGE_SYNC_MAX_ATTEMPTS is still retried. Before `failed_attempts` (migration 0028) every
run begun was an attempt of the budget: the task stayed RUNNING at each stop, and the outage failed it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from domain.errors import ErrorCode
from domain.services.sync import start_sync
from domain.sync import SyncKind, SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness
from tests.integration.test_sync_engine import ORDER_SEARCH, _connect, _held_settings


async def test_stops_of_the_pool_spend_nothing_and_an_outage_after_them_is_still_retried(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # given an orders import of 20-order pages, a budget of 2 failed runs, a client that does not retry TikTok's
    # errors itself, and a queue retry far off (the test restarts the pool instead of waiting for it)
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=100))
    settings = _held_settings(
        database_url, sandbox, tmp_path, sync_max_attempts=2, sync_min_backoff_ms=600_000,
        sync_max_backoff_ms=600_000,
    )  # fmt: skip
    harness = sync_harness_factory(settings.with_overrides(tiktok=replace(settings.tiktok, max_retries=0)))
    queue = harness.start_worker()
    shop = await _connect(harness, sandbox)
    sandbox.hold(ORDER_SEARCH)
    (task,) = await start_sync(harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id,
                               [SyncKind.ORDERS])  # fmt: skip
    for stop in range(1, 3):
        # when a page is stored, the next one waits at TikTok, and the pool stops (Ctrl+C, a deploy)
        before = await harness.task(task.id)
        assert before is not None
        await asyncio.to_thread(sandbox.wait_held)
        await asyncio.to_thread(sandbox.let_through, 1)
        await harness.wait(task.id, until=lambda t, n=before.processed: t.processed > n)
        await asyncio.to_thread(sandbox.wait_held)
        assert harness.worker is not None
        stopping = asyncio.create_task(harness.worker.stop())
        # then the stop hands the task back QUEUED, its run counted as begun, not as failed
        stopped = await harness.wait(task.id, until=lambda t: t.status is not SyncTaskStatus.RUNNING)
        assert (stopped.status, stopped.attempts, stopped.failed_attempts) == (SyncTaskStatus.QUEUED, stop, 0), stopped
        sandbox.hold()  # the held page is answered to nobody: the stop's drain waits for that request to end
        await stopping
        if stop == 1:
            sandbox.hold(ORDER_SEARCH)
        else:  # when TikTok's order search then fails beyond the client's retries
            sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["http_503"], "paths": [ORDER_SEARCH]})
        harness.start_worker()  # its start-up sweep sends the task again
    # then the failed run is the first of the budget: the task waits QUEUED for the queue's retry (it FAILED at once,
    # TIKTOK_UNAVAILABLE, when each stop's run counted)
    waiting = await harness.wait(task.id, until=lambda t: t.attempts == 3 and t.status is not SyncTaskStatus.RUNNING)
    # (errorCode: the last run's reason while it waits, cleared by the success below)
    assert (waiting.status, waiting.failed_attempts, waiting.error_code) == (
        SyncTaskStatus.QUEUED, 1, ErrorCode.TIKTOK_UNAVAILABLE.value
    ), waiting  # fmt: skip
    # and once TikTok answers again, the next run finishes the import from its checkpoint
    assert harness.worker is not None
    await harness.worker.stop()  # instead of waiting for the retry's backoff: the start-up sweep sends it again
    sandbox.control("POST", "/faults", {"rate": 0.0, "kinds": []})
    harness.start_worker()
    done = await harness.wait(task.id)
    assert (done.status, done.attempts, done.failed_attempts) == (SyncTaskStatus.SUCCEEDED, 4, 1), done
    assert done.error_code is None and ErrorCode.TIKTOK_UNAVAILABLE.value not in (done.error_message or "")
