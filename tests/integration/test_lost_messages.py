"""Sync tasks whose message Redis lost: Redis restarted empty (it needs no persistence), or was down when the task was
sent after its commit. The task stays QUEUED, and with it every poll and `syncStart` of its shop and kind is refused
as already running, until its message is sent again. The sweep asks Redis which tasks it holds a message for, and
re-sends a lost one after SHOPBRIDGE_SYNC_STALE_AFTER, not after the 20 minutes a retry's backoff may take; a task
whose message Redis holds is left alone. A task whose send failed (Redis down) is marked unsent, and the scheduler's
tick sends it seconds after Redis is back, once, however many processes try."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from dramatiq import Message
from redis import Redis as SyncRedis

from adapters.config import Settings
from adapters.queue import DramatiqTaskQueue
from domain.ports import QueueUnavailableError
from domain.services.sync import resend_unsent_tasks, resume_stale_tasks, start_sync
from domain.sync import SyncKind, SyncTask, SyncTaskStatus
from tests.fixtures.app import MutableClock
from tests.fixtures.redis_server import RedisServer, emptied_database
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, settings_env, sync_settings
from tests.fixtures.workers import spawn_worker, stop_worker

QUEUE = "dramatiq:sync"  # Dramatiq's Redis layout: a list of message ids, and their bodies in `.msgs`


def _drop_message(redis: SyncRedis, task_id: str) -> None:
    """Remove the sync message of `task_id` from Redis, as a restart of a Redis without persistence does."""
    for redis_id, body in redis.hscan_iter(f"{QUEUE}.msgs"):
        if Message.decode(body).args == (task_id,):
            redis.hdel(f"{QUEUE}.msgs", redis_id)
            redis.lrem(QUEUE, 0, redis_id)
            return
    raise AssertionError(f"no message of task {task_id} in Redis")


def _messages_of(redis: SyncRedis) -> list[str]:
    return sorted(Message.decode(body).args[0] for _, body in redis.hscan_iter(f"{QUEUE}.msgs"))


def _sender(
    settings: Settings, sync_harness_factory: Callable[..., SyncHarness]
) -> tuple[SyncHarness, DramatiqTaskQueue]:
    """The harness of this test process and its task queue on `settings`' Redis: the process sends sync messages;
    a worker that takes them, if any, is a process of its own (`spawn_worker`)."""
    harness = sync_harness_factory(settings)
    from workers.broker import setup_broker

    setup_broker(settings)
    from workers.actors import task_queue

    return harness, task_queue(settings)


async def _start_both(harness: SyncHarness, queue: DramatiqTaskQueue, shop_id: str) -> list[SyncTask]:
    """A merchant's `syncStart` of an orders and a products import of `shop_id`: [orders task, products task]."""
    return await start_sync(
        harness.uow_factory, queue, harness.events, harness.clock, "m1", shop_id, [SyncKind.ORDERS, SyncKind.PRODUCTS]
    )


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return emptied_database(redis_server, 9)  # a database of its own


@pytest.mark.redis
async def test_the_sweep_resends_only_the_queued_task_whose_message_redis_lost(
    postgres_url: str, redis_url: str, sandbox: SandboxServer, tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    settings = sync_settings(postgres_url, sandbox, tmp_path, broker_url=redis_url)
    harness, queue = _sender(settings, sync_harness_factory)  # this process only sends; no worker takes the messages
    redis = SyncRedis.from_url(redis_url)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    # given an orders and a products import, both QUEUED with their messages in Redis
    orders, products = await _start_both(harness, queue, shop.id)
    # when Redis loses the orders import's message
    _drop_message(redis, orders.id)
    assert _messages_of(redis) == [products.id]
    sweep = (harness.uow_factory, queue, MutableClock(), timedelta(minutes=5))
    # then the sweep leaves both alone within SHOPBRIDGE_SYNC_STALE_AFTER (5 min)...
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20), messages=queue) == []
    # ...and re-sends the lost one past it (6 min later), long before the 20 minutes of a retry's backoff; the task
    # whose message Redis holds is not sent twice
    sweep[2].advance(timedelta(minutes=6))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20), messages=queue) == [orders.id]
    assert _messages_of(redis) == sorted([orders.id, products.id])
    redis.close()


@pytest.mark.redis
async def test_a_worker_runs_an_import_whose_message_redis_lost_once_stale_after_has_passed(
    postgres_url: str, redis_url: str, sandbox: SandboxServer, tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # the default backoff: a QUEUED task may wait 2 x 600 s for a scheduled retry, so the long rule alone is 20 min
    settings = sync_settings(
        postgres_url, sandbox, tmp_path, broker_url=redis_url, sync_stale_after_seconds=1,
        sync_min_backoff_ms=10_000, sync_max_backoff_ms=600_000,
    )  # fmt: skip
    harness, queue = _sender(settings, sync_harness_factory)
    redis = SyncRedis.from_url(redis_url)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    (task,) = await start_sync(harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id,
                               [SyncKind.ORDERS])  # fmt: skip
    # given an import whose message Redis lost before any worker took it
    _drop_message(redis, task.id)
    redis.close()
    # when a worker process runs, its sweep re-sends the task within seconds, and the worker imports it
    worker = spawn_worker({**settings_env(settings), "SHOPBRIDGE_SYNC_STALE_AFTER": "1"})
    try:
        done = await harness.wait(task.id, timeout=20)
    finally:
        stop_worker(worker)
    assert done.status is SyncTaskStatus.SUCCEEDED, (done.status, done.error_message)


def _strand_message(redis: SyncRedis, task_id: str, worker_id: str) -> None:
    """Move the sync message of `task_id` from its queue into the ack set of worker `worker_id`, where a worker
    keeps what it fetched (dispatch.lua's `fetch`) until its ack: what `kill -9` leaves of a prefetched message."""
    for redis_id, body in redis.hscan_iter(f"{QUEUE}.msgs"):
        if Message.decode(body).args == (task_id,):
            assert redis.lrem(QUEUE, 0, redis_id) == 1
            redis.sadd(f"dramatiq:__acks__.{worker_id}.sync", redis_id)
            return
    raise AssertionError(f"no message of task {task_id} in Redis")


@pytest.mark.redis
async def test_an_import_a_dead_worker_fetched_and_never_began_runs_on_a_live_worker_within_stale_after(
    postgres_url: str, redis_url: str, sandbox: SandboxServer, tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # the default backoff (a QUEUED task may wait 2 x 600 s for a retry: the long rule alone is 20 min), and no
    # Dramatiq maintenance: its requeue of a dead worker's messages, 1 command in 1000 by default, never runs here
    settings = sync_settings(
        postgres_url, sandbox, tmp_path, broker_url=redis_url, sync_stale_after_seconds=1,
        sync_min_backoff_ms=10_000, sync_max_backoff_ms=600_000, broker_maintenance_chance=0,
    )  # fmt: skip
    harness, queue = _sender(settings, sync_harness_factory)
    redis = SyncRedis.from_url(redis_url)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    orders, products = await _start_both(harness, queue, shop.id)
    # given the orders import's message fetched by a worker process killed before it began it (its last heartbeat
    # two minutes ago, over Dramatiq's 60 s timeout), and the products import's by one alive (a heartbeat now)
    now_ms = int(time.time() * 1000)
    redis.zadd("dramatiq:__heartbeats__", {"killed-worker": now_ms - 120_000, "busy-worker": now_ms})
    _strand_message(redis, orders.id, "killed-worker")
    _strand_message(redis, products.id, "busy-worker")
    # when a worker process runs: within a turn or two of its sweep (every 0.5 to 1 s here) the dead worker's
    # message is back in the queue, and the live worker imports the task (before: the sweep counted the message as
    # held and left the task QUEUED for the 20 min rule, or until Dramatiq's maintenance ran by chance)
    worker = spawn_worker({**settings_env(settings), "SHOPBRIDGE_SYNC_STALE_AFTER": "1"})
    try:
        done = await harness.wait(orders.id, timeout=20)
    finally:
        stop_worker(worker)
    assert (done.status, done.attempts) == (SyncTaskStatus.SUCCEEDED, 1), (done.status, done.error_message)
    # then the message of the live worker is left where it is, its task not sent twice
    waiting = await harness.task(products.id)
    assert waiting is not None and (waiting.status, waiting.attempts) == (SyncTaskStatus.QUEUED, 0)
    assert redis.scard("dramatiq:__acks__.busy-worker.sync") == 1
    assert not redis.exists("dramatiq:__acks__.killed-worker.sync")
    assert _messages_of(redis) == [products.id]
    redis.close()


@pytest.mark.redis
async def test_a_sync_started_while_redis_is_down_runs_once_seconds_after_it_is_back(
    postgres_url: str, own_redis: RedisServer, sandbox: SandboxServer, tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # the sweep's default thresholds (5 min): alone, it would send the tasks 5 to 10 minutes after Redis is back
    settings = sync_settings(
        postgres_url, sandbox, tmp_path, broker_url=own_redis.url, scheduler_enabled=True, scheduler_tick=0.2
    )
    harness, queue = _sender(settings, sync_harness_factory)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    # given Redis down when a merchant starts a sync (both kinds: the scheduler's polls of the shop wait for them)
    own_redis.halt()
    tasks = await _start_both(harness, queue, shop.id)
    # then the start answers its tasks QUEUED, marked unsent
    assert [t.status for t in tasks] == [SyncTaskStatus.QUEUED] * 2
    assert [getattr(await harness.task(t.id), "unsent", None) for t in tasks] == [True, True]
    # when Redis is back, a worker's scheduler tick sends them and the worker imports each, once
    own_redis.resume()
    worker = spawn_worker(settings_env(settings))
    try:
        done = [await harness.wait(t.id, timeout=30) for t in tasks]
    finally:
        stop_worker(worker)
    assert [(t.status, t.attempts, t.unsent) for t in done] == [(SyncTaskStatus.SUCCEEDED, 1, False)] * 2, done


@pytest.mark.redis
async def test_processes_resending_unsent_tasks_at_once_send_each_once(
    postgres_url: str, own_redis: RedisServer, sandbox: SandboxServer, tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    settings = sync_settings(postgres_url, sandbox, tmp_path, broker_url=own_redis.url)
    harness, queue = _sender(settings, sync_harness_factory)  # this process only sends; no worker takes the messages
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    own_redis.halt()
    orders, products = await _start_both(harness, queue, shop.id)
    # given two tasks whose send failed, Redis down: a tick meanwhile sends nothing and writes nothing
    with pytest.raises(QueueUnavailableError):
        await resend_unsent_tasks(harness.uow_factory, queue, harness.clock, messages=queue)
    own_redis.resume()
    redis = SyncRedis.from_url(own_redis.url)
    # and one of them whose message did reach Redis (a send that timed out after Redis took it)
    await queue.enqueue_sync(products.id)
    assert _messages_of(redis) == [products.id]
    # when two processes' ticks re-send the unsent tasks at the same time
    resend = resend_unsent_tasks(harness.uow_factory, queue, harness.clock, messages=queue)
    again = resend_unsent_tasks(harness.uow_factory, queue, harness.clock, messages=queue)
    first, second = await asyncio.gather(resend, again)
    # then the orders task is sent by one of them, once; the products task is not sent a second time
    assert sorted([*first, *second]) == [orders.id], (first, second)
    assert _messages_of(redis) == sorted([orders.id, products.id])
    # and neither is left marked: the next tick sends nothing
    assert await resend_unsent_tasks(harness.uow_factory, queue, harness.clock, messages=queue) == []
    redis.close()
