"""README claims about an import's tokens and retries, on real parts (database, sandbox over HTTP, the embedded
worker pool): lost authorization fails the task and revokes the shop; a refreshed access token is persisted; a
task a crash left QUEUED is sent again at start-up; an outage is retried by the queue up to the attempt limit
while the task shows QUEUED."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from adapters.db.migrate import downgrade, upgrade
from adapters.db.tables import sync_tasks
from domain.errors import ErrorCode
from domain.services.sync import start_sync
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, orders_import_past_its_first_page, sync_settings
from tests.fixtures.waiting import log_lines

Factory = Callable[..., SyncHarness]
PRODUCT_SEARCH = "/product/202309/products/search"


@pytest.fixture
def harness(database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Factory) -> SyncHarness:
    return sync_harness_factory(sync_settings(database_url, sandbox, tmp_path))


async def test_authorization_lost_mid_import_fails_the_task_and_revokes_the_shop(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # given an orders import running page by page (20 orders a page), its second page held at TikTok: it cannot
    # end before the revocation lands, whatever the machine's speed (150 ms pages only made that likely); its
    # client waits for a held page as long as the test may take, instead of retrying and failing
    harness, sandbox, _, shop, task = await orders_import_past_its_first_page(
        sandbox_factory, database_url, tmp_path, sync_harness_factory, orders=600
    )
    assert task.status is SyncTaskStatus.RUNNING

    # when the seller revokes the app at TikTok (the page held meanwhile is answered; the next call is refused)
    sandbox.control("POST", "/sellers/us-local/revoke")
    sandbox.hold()

    # then the task fails at once with REAUTHORIZATION_REQUIRED (no retry), and the shop is REVOKED, data kept
    failed = await harness.wait(task.id)
    assert (failed.status, failed.error_code, failed.attempts) == (
        SyncTaskStatus.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED.value, 1,
    ), failed  # fmt: skip
    async with harness.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
    assert stored is not None and stored.revoked_at is not None


async def test_an_expired_access_token_is_refreshed_once_and_the_new_pair_is_persisted(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given a shop whose access token TikTok no longer takes (105002 until refreshed)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    sandbox.control("POST", "/sellers/us-local/expire-access-token")
    sandbox.control("POST", "/counters/reset")
    queue = harness.start_worker()

    # when it imports its products
    (task,) = await start_sync(harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id,
                               [SyncKind.PRODUCTS])  # fmt: skip
    done = await harness.wait(task.id)

    # then the import succeeded after one refresh, and the stored pair is the new one, which TikTok takes
    assert done.status is SyncTaskStatus.SUCCEEDED, done
    by_path = sandbox.control("GET", "/counters")["by_path"]
    refreshes = sum(sum(outcomes.values()) for path, outcomes in by_path.items() if "token/refresh" in path)
    assert refreshes == 1, by_path
    async with harness.uow_factory() as uow:
        stored = await uow.shops.get(shop.id)
    assert stored is not None
    assert stored.tokens.access_token != shop.tokens.access_token
    assert stored.tokens.refresh_token != shop.tokens.refresh_token
    assert stored.tokens_refreshed_at is not None
    authorized = await harness.tiktok.authorized_shops(stored.tokens.access_token)
    assert [s.tiktok_shop_id for s in authorized] == [shop.tiktok_shop_id]


async def _queued_without_message(harness: SyncHarness, shop_id: str, kind: SyncKind, at: datetime) -> SyncTask:
    """A task of merchant m1 stored QUEUED at `at`, no message sent for it (one lost, or waiting elsewhere)."""
    task = SyncTask.queue(shop_id, "m1", kind, SyncTrigger.MANUAL, at)
    async with harness.uow_factory() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    return task


async def _queued_behind(harness: SyncHarness, shop_id: str, kind: SyncKind, at: datetime) -> SyncTask:
    """As `_queued_without_message`, on a database an earlier release migrated: only the columns its `sync_tasks`
    has (the repository writes this release's, `failed_attempts` of 0028 among them)."""
    task = SyncTask.queue(shop_id, "m1", kind, SyncTrigger.MANUAL, at)
    async with harness.db.write_engine.begin() as connection:
        await connection.execute(
            insert(sync_tasks).values(
                id=task.id, shop_id=shop_id, merchant_id="m1", kind=kind.value, trigger=task.trigger.value,
                status=task.status.value, failures=[], attempts=0, created_at=at, checkpoint={},
                orders_created_since=task.orders_created_since, orders_created_until=task.orders_created_until,
            )
        )  # fmt: skip
    return task


async def test_a_task_left_queued_by_a_crash_is_sent_again_at_start_up(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given a task the database shows QUEUED whose message died with its process (never delivered)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    task = await _queued_without_message(harness, shop.id, SyncKind.PRODUCTS, harness.clock.now() - timedelta(1))
    # when the embedded worker pool starts
    harness.start_worker()
    # then it runs the task to its end
    done = await harness.wait(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED and done.attempts == 1 and done.processed == 30


async def test_the_start_up_sweep_resends_only_what_was_left_before_the_pool_started(
    database_url: str, harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given a task a crash left QUEUED, and a database one migration behind, which holds the pool's background work
    # (the start-up sweep among it) until migrated: the sweep then runs after the pool took work of its own
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    left = await _queued_without_message(harness, shop.id, SyncKind.PRODUCTS, harness.clock.now() - timedelta(1))
    await asyncio.to_thread(downgrade, database_url, "0008_webhook_retention")
    with log_lines("workers.schema_gate") as gate, log_lines("domain.services.sync") as sweep:
        harness.start_worker()
        await asyncio.to_thread(gate.wait_for, "MIGRATIONS_PENDING")
        # and a task this pool's process sent after it started, its message waiting in the queue (a retry's backoff)
        sent = await _queued_behind(harness, shop.id, SyncKind.ORDERS, harness.clock.now())
        # when the database is migrated and the start-up sweep runs
        await asyncio.to_thread(upgrade, database_url)
        await asyncio.to_thread(sweep.wait_for, "re-enqueued")
    # then it re-sent the task left by the crash only: the other one waits for its own message, untouched
    assert [m for m in sweep.messages if "re-enqueued" in m] == ["re-enqueued 1 stale sync task(s)"]
    waiting = await harness.task(sent.id)
    assert waiting is not None and (waiting.status, waiting.heartbeat_at, waiting.attempts) == (
        SyncTaskStatus.QUEUED, sent.heartbeat_at, 0,
    ), waiting  # fmt: skip
    assert (await harness.wait(left.id)).status is SyncTaskStatus.SUCCEEDED


async def test_an_outage_beyond_the_clients_retries_is_retried_by_the_queue_showing_queued_then_fails(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Factory
) -> None:
    # given TikTok's product search down for good, a client that does not retry, two runs of 2 s backoff apart
    settings = sync_settings(
        database_url, sandbox, tmp_path, sync_max_attempts=2, sync_min_backoff_ms=2000, sync_max_backoff_ms=2000
    )
    harness = sync_harness_factory(settings.with_overrides(tiktok=replace(settings.tiktok, max_retries=0)))
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["http_503"], "paths": [PRODUCT_SEARCH]})
    queue = harness.start_worker()
    (task,) = await start_sync(harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id,
                               [SyncKind.PRODUCTS])  # fmt: skip
    # when the first run fails, the task waits for the queue's retry as QUEUED, its attempt counted
    waiting = await harness.wait(task.id, until=lambda t: t.attempts == 1 and t.status is SyncTaskStatus.QUEUED)
    assert waiting.finished_at is None
    # and says why its last run failed meanwhile (try-out livesync52: errorCode null, errorMessage '')
    assert waiting.error_code == ErrorCode.TIKTOK_UNAVAILABLE.value, waiting
    assert (waiting.error_message or "").startswith("TikTok stayed unavailable: "), waiting
    # and when the queue's retry runs it: the delay the worker drew for it, 1 to 2 s (Dramatiq's jitter of 2 s)
    assert waiting.retry_at is not None and waiting.heartbeat_at is not None, waiting
    assert timedelta(seconds=1) <= waiting.retry_at - waiting.heartbeat_at <= timedelta(seconds=2), waiting
    # then the second run is the last: FAILED, TIKTOK_UNAVAILABLE, two attempts in all
    failed = await harness.wait(task.id)
    assert (failed.status, failed.error_code, failed.attempts) == (
        SyncTaskStatus.FAILED, ErrorCode.TIKTOK_UNAVAILABLE.value, 2,
    ), failed  # fmt: skip
