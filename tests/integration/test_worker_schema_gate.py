"""An actor message delivered while the database is behind this code's migrations (`workers.schema_gate`), on real
parts (database, sandbox over HTTP, the embedded worker pool, or a `shopbridge worker` process with Redis): it is not
run but sent again later, its retries untouched, and runs once `migrate` has. It ran at once before, against a schema
its code does not know: where that code needs a table or column the schema lacks, an ERROR with its traceback, and a
retry spent each time before `migrate`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from dramatiq import Message
from dramatiq.common import dq_name
from redis import Redis as SyncRedis
from sqlalchemy import insert, text

from adapters.db.migrate import downgrade, upgrade
from adapters.db.tables import sync_tasks
from adapters.queue import BROKER_NAMESPACE
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, settings_env, sync_settings
from tests.fixtures.waiting import log_lines, until
from tests.fixtures.workers import spawn_worker, stop_workers
from workers.broker import SYNC_QUEUE

# An earlier release's revision: the one before head. The test's shop is read through this release's code on it,
# so its `shops` table must be the code's (an older one, 0008, lacks `webhooks_registered_address` since 0013). Its
# `sync_tasks` lacks `failed_attempts` (0028): the task is written and read with the columns it has while the
# database is behind (`_queued_task`, `_task_state`).
BEHIND = "0027_shop_facts_indexes"
POSTPONED = "waits for `shopbridge migrate`"
RECHECK_SECONDS = 0.5  # SHOPBRIDGE_SCHEMA_RECHECK here: how long a test waits after `migrate` (the default is 5 s)


async def test_a_message_delivered_while_the_database_is_behind_runs_once_migrated_its_retries_untouched(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> None:
    # given a shop, a database migrated by an earlier release, and the worker pool started on it
    # (the gate looks again, and a postponed message comes back, every RECHECK_SECONDS: not the default 5 s)
    settings = sync_settings(database_url, sandbox, tmp_path, schema_recheck_seconds=RECHECK_SECONDS)
    harness = sync_harness_factory(settings)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    await asyncio.to_thread(downgrade, database_url, BEHIND)
    with (
        log_lines("workers.schema_gate") as gate,
        log_lines("workers.resources", logging.DEBUG) as resources,
        log_lines("dramatiq") as dramatiq,
    ):
        queue = harness.start_worker()
        await asyncio.to_thread(gate.wait_for, "MIGRATIONS_PENDING")
        # when an import is started (after the pool's start: not one its start-up sweep would send again): its
        # message is delivered at once
        task = await _queued_task(harness, shop.id)
        await queue.enqueue_sync(task.id)

        async def run_or_postponed() -> bool:
            return await _task_state(harness, task.id) != ("QUEUED", 0) or _postponed(resources.messages)

        await until(run_or_postponed, "the import to run, or its message to be postponed")
        # then its run did not start: the message is sent again later, the task waits QUEUED, no attempt spent
        assert _postponed(resources.messages), resources.messages
        assert await _task_state(harness, task.id) == ("QUEUED", 0)
        # when `shopbridge migrate` has run
        await asyncio.to_thread(upgrade, database_url)
        # then the import runs, in one attempt, and Dramatiq neither retried nor failed a message
        done = await harness.wait(task.id)
    assert (done.status, done.attempts) == (SyncTaskStatus.SUCCEEDED, 1), done
    # (the boot sweep's webhook registration is refused by TikTok, its `throws` aborting it: no retry either)
    retried_or_failed = [m for m in dramatiq.messages if "Retrying" in m or "message run_sync_task" in m]
    assert not retried_or_failed, dramatiq.messages
    assert any("background work starts" in m for m in gate.messages), gate.messages


def _postponed(messages: list[str]) -> bool:
    return any(POSTPONED in m for m in messages)


async def _queued_task(harness: SyncHarness, shop_id: str) -> SyncTask:
    """A products import of the shop, stored QUEUED as `syncStart` stores it, with the columns the database behind
    has (the repository writes this release's, `failed_attempts` among them)."""
    task = SyncTask.queue(shop_id, "m1", SyncKind.PRODUCTS, SyncTrigger.MANUAL, harness.clock.now())
    async with harness.db.write_engine.begin() as connection:
        await connection.execute(
            insert(sync_tasks).values(
                id=task.id, shop_id=shop_id, merchant_id="m1", kind=task.kind.value, trigger=task.trigger.value,
                status=task.status.value, failures=[], attempts=0, created_at=task.created_at, checkpoint={},
            )
        )  # fmt: skip
    return task


async def _task_state(harness: SyncHarness, task_id: str) -> tuple[str, int]:
    """The task's status and attempts, read in plain SQL: the repository reads columns a database behind lacks."""
    async with harness.db.write_engine.connect() as connection:
        query = text("SELECT status, attempts FROM sync_tasks WHERE id = :id")
        status, attempts = (await connection.execute(query, {"id": task_id})).one()
    return status, attempts


@pytest.mark.redis
async def test_with_redis_the_message_waits_in_the_delayed_queue_until_migrated(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, redis_server: RedisServer,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # given a shop, a database migrated by an earlier release, and a `shopbridge worker` process on it (Redis)
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/10"  # a database of its own: the test empties it
    redis = SyncRedis.from_url(redis_url)
    redis.flushdb()
    settings = sync_settings(
        database_url, sandbox, tmp_path, broker_url=redis_url, schema_recheck_seconds=RECHECK_SECONDS
    )
    harness = sync_harness_factory(settings)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    await asyncio.to_thread(downgrade, database_url, BEHIND)
    from workers.broker import setup_broker

    setup_broker(settings)  # this process only sends
    from workers.actors import task_queue

    worker = spawn_worker(settings_env(settings))
    try:
        # when an import is started
        task = await _queued_task(harness, shop.id)
        await task_queue(settings).enqueue_sync(task.id)

        def delayed() -> bool:  # its message put back on the queue's delayed side (Redis keeps it there until due)
            bodies = redis.hvals(f"{BROKER_NAMESPACE}:{dq_name(SYNC_QUEUE)}.msgs")
            return any(tuple(Message.decode(body).args) == (task.id,) for body in bodies)

        seen_delayed = False  # (it comes due every RECHECK_SECONDS, and is delayed again: seen once is the proof)

        async def run_or_delayed() -> bool:
            nonlocal seen_delayed
            seen_delayed = seen_delayed or delayed()
            return await _task_state(harness, task.id) != ("QUEUED", 0) or seen_delayed

        await until(run_or_delayed, "the import to run, or its message to be delayed")
        # then the worker did not run it: its message waited delayed, the task QUEUED, no attempt spent
        assert seen_delayed
        assert await _task_state(harness, task.id) == ("QUEUED", 0)
        # when `shopbridge migrate` has run, then the import runs, in one attempt
        await asyncio.to_thread(upgrade, database_url)
        done = await harness.wait(task.id)
    finally:
        stop_workers(worker)
    assert (done.status, done.attempts) == (SyncTaskStatus.SUCCEEDED, 1), done
