"""A run that a worker thread takes after the shutdown began (Ctrl+C while a message is picked up): embedded, it ends
with one INFO line and is not retried, since the in-memory queue dies with the process and the next start's boot
sweep resumes the work from the database; with Redis it goes back to the broker for another worker process.

Issue 13: at Ctrl+C mid-import the demo logged "Retrying message ... in 10000 milliseconds." for such a run
(`test_banner_once_listening_then_sigint_mid_import_is_quiet`, now and then)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from cryptography.fernet import Fernet
from dramatiq import Message
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.common import dq_name
from redis import Redis as SyncRedis

from adapters.config import Settings, load_settings
from adapters.events import InProcessEventBus
from adapters.queue import BROKER_NAMESPACE
from tests.fixtures.logs import logged_to
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import log_lines, until
from workers.broker import SYNC_QUEUE, setup_broker
from workers.embedded import EmbeddedWorker
from workers.resources import Resources, RunRefused


def _settings(database_url: str, data_dir: Path, **env: str) -> Settings:
    return load_settings(
        {
            "SHOPBRIDGE_DATABASE_URL": database_url,
            "SHOPBRIDGE_DATA_DIR": str(data_dir),
            "SHOPBRIDGE_SCHEDULER": "off",
            "SHOPBRIDGE_SYNC_MIN_BACKOFF_MS": "50",
            **env,
        }
    )


def _redis_worker(
    sqlite_url: str, tmp_path: Path, redis_server: RedisServer, *, database: int, backoff_ms: int
) -> tuple[SyncRedis, dramatiq.Worker]:
    """A started Dramatiq worker on Redis as `shopbridge worker` runs one (2 threads: one for imports, one
    reserved; 100 ms waits for a message), on Redis database `database` emptied first (each test its own), with
    `SHOPBRIDGE_SYNC_MIN_BACKOFF_MS` = `backoff_ms`; and a client of that database."""
    redis_url = redis_server.url.rsplit("/", 1)[0] + f"/{database}"
    redis = SyncRedis.from_url(redis_url)
    redis.flushdb()
    settings = _settings(
        sqlite_url,
        tmp_path,
        SHOPBRIDGE_BROKER_URL=redis_url,
        SHOPBRIDGE_SECRET_KEY="shutdown-" + "k" * 40,
        SHOPBRIDGE_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        SHOPBRIDGE_SYNC_MIN_BACKOFF_MS=str(backoff_ms),
    )
    broker = setup_broker(settings, events=InProcessEventBus())
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    return redis, worker


@asynccontextmanager
async def embedded_worker(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """The embedded worker pool started on `settings`: (its broker, Dramatiq's event-loop thread); stopped after."""
    worker = EmbeddedWorker(settings, events=InProcessEventBus())
    worker.start()
    try:
        broker = worker.broker
        assert broker is not None
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
        yield broker, loop_thread
    finally:
        await worker.stop()


async def test_a_run_taken_after_the_embedded_shutdown_began_ends_quietly_without_a_retry(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with embedded_worker(_settings(sqlite_url, tmp_path)) as (broker, loop_thread):
        # given the shutdown has begun (Dramatiq announced it) while the worker threads still take messages
        await asyncio.to_thread(loop_thread.run_coroutine, Resources.of(broker).shutdown())
        from workers.actors import run_sync_task

        with (
            log_lines("workers.actors", logging.INFO) as info,
            log_lines("workers", logging.WARNING) as warnings,
            log_lines("dramatiq", logging.INFO) as dramatiq_lines,
        ):
            # when a worker thread takes a message of an import
            run_sync_task.send("task-taken-at-ctrl-c")
            await asyncio.to_thread(broker.join, SYNC_QUEUE, fail_fast=True)
        # then the run says once, at INFO, that it did not start and resumes at the next start
        assert info.messages == [
            "sync task task-taken-at-ctrl-c not started: the worker is shutting down; it resumes at the next start"
        ]
        # and nothing warns, fails or is retried: no message waits in the delay queue either
        assert warnings.messages == []
        assert not [m for m in dramatiq_lines.messages if "Retrying" in m or "Failed" in m], dramatiq_lines.messages
        assert broker.queues[dq_name(SYNC_QUEUE)].qsize() == 0  # type: ignore[attr-defined]


async def test_two_runs_of_one_subject_cut_by_the_embedded_shutdown_say_so_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Two runs of one shop's push may be under way at once (a due one and a changed one); at Ctrl+C the demo said
    "the inventory push of shop ... interrupted" twice for the same shop (`test_banner_once_listening_then_sigint_mid_
    import_is_quiet`, CI of stop 41)."""
    async with embedded_worker(_settings(sqlite_url, tmp_path)) as (broker, loop_thread):
        resources = Resources.of(broker)

        async def two_runs_then_shutdown() -> None:
            started = [asyncio.Event(), asyncio.Event()]

            async def run(n: int) -> None:
                async with resources.serving("the inventory push of shop s1"):
                    started[n].set()
                    await asyncio.Event().wait()  # until the shutdown cancels it

            # given two runs of one subject under way on the worker's loop
            runs = [asyncio.create_task(run(n)) for n in range(2)]
            for event in started:
                await event.wait()
            # when the embedded shutdown cancels them
            await resources.shutdown()
            await asyncio.gather(*runs)

        with log_lines("workers", logging.INFO) as info:
            await asyncio.to_thread(loop_thread.run_coroutine, two_runs_then_shutdown())
        # then the subject is said interrupted once, at INFO
        assert [m for m in info.messages if "interrupted" in m] == [
            "the inventory push of shop s1 interrupted by the shutdown; it resumes at the next start"
        ]


async def test_with_redis_a_run_refused_at_shutdown_goes_back_to_the_broker(sqlite_url: str, tmp_path: Path) -> None:
    # given a worker process's resources with a Redis broker, shutting down (nothing built, nothing to drain)
    settings = _settings(
        sqlite_url,
        tmp_path,
        SHOPBRIDGE_BROKER_URL="redis://127.0.0.1:1/0",
        SHOPBRIDGE_SECRET_KEY="shutdown-" + "k" * 40,
        SHOPBRIDGE_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    resources = Resources(settings)
    await resources.shutdown()
    # when a run asks to start, then it is handed back to the broker with the minimum back-off, its body not run
    ran = False
    with pytest.raises(dramatiq.Retry) as refused:
        async with resources.serving("sync task t1"):
            ran = True
    assert refused.value.delay == 50
    assert not ran


@pytest.mark.redis
async def test_with_redis_a_run_refused_at_shutdown_is_sent_again_its_retries_untouched(
    sqlite_url: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    # given a worker process's pool on Redis (as `shopbridge worker` runs it), whose shutdown has begun while its
    # threads still take messages
    # Production's delay (10 s): the message sent again is not due while the test reads it. At the suite's 50 ms it
    # came due within the test and a thread took it again (flake67): this test begins the shutdown with
    # `Resources.shutdown` alone, which leaves the threads taking messages (Dramatiq's stop first stops them:
    # `Resources.before_worker_shutdown`, this file's last test).
    redis, worker = _redis_worker(sqlite_url, tmp_path, redis_server, database=11, backoff_ms=10000)
    try:
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
        await asyncio.to_thread(loop_thread.run_coroutine, Resources.of(worker.broker).shutdown())
        from workers.actors import run_sync_task

        with (
            logged_to("json") as stream,
            log_lines("workers.actors", logging.INFO) as info,
            log_lines("dramatiq", logging.INFO) as dramatiq_lines,
        ):
            # when a worker thread takes a message of an import
            run_sync_task.send("task-taken-at-sigterm")

            def sent_again() -> list[Message[Any]]:  # on the queue's delayed side, where Redis keeps it until due
                bodies = redis.hvals(f"{BROKER_NAMESPACE}:{dq_name(SYNC_QUEUE)}.msgs")
                return [m for m in map(Message.decode, bodies) if tuple(m.args) == ("task-taken-at-sigterm",)]

            await until(lambda: bool(sent_again()), "the message to be sent again")
            # and the run's line, which the actor logs once the message is sent again, on the worker's thread: the
            # captures end with this block (the line once came after it, and the test read no line at all)
            await until(lambda: bool(info.messages), "the run's INFO line")
        # then the message waits for another worker process, its retries untouched (each stop spent one before, and
        # a long import that lived through SHOPBRIDGE_SYNC_MAX_ATTEMPTS deploys had its message dropped), and the run
        # says so once at INFO, with no "Retrying message" warning
        (again,) = sent_again()
        assert again.options.get("retries", 0) == 0, again.options
        assert info.messages[0] == (
            "sync task task-taken-at-sigterm not started: the worker is shutting down; it is sent again in 10000 ms, "
            "its retries untouched"
        )
        assert not [m for m in dramatiq_lines.messages if "Retrying" in m or "Failed" in m], dramatiq_lines.messages
        # and that line names its task in the JSON logs, as every line of the run does (it had no task_id: logged
        # once the run's log context was left)
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        (line,) = [line for line in lines if line["event"] == info.messages[0]]
        assert line.get("task_id") == "task-taken-at-sigterm", line
    finally:
        await asyncio.to_thread(worker.stop, 10_000)
        redis.flushdb()


async def test_a_run_the_embedded_shutdown_cuts_before_it_started_ends_as_not_started(tmp_path: Path) -> None:
    """A run cancelled by the shutdown before `serving` yielded (waiting for its resources, the schema or the shop's
    delete probe) ended its context manager without yielding: Python raised "RuntimeError: generator didn't yield",
    which Dramatiq logs at ERROR with a traceback (tryout67 F3: the suite's teardown of a shop just connected, its
    import starting). Such a run is refused as one taken after the shutdown began: it says so once, at INFO."""
    unmigrated = tmp_path / "unmigrated.db"
    sqlite3.connect(unmigrated).close()  # an empty database: the run waits for `shopbridge migrate` before it starts
    settings = _settings(f"sqlite+aiosqlite:///{unmigrated}", tmp_path / "data")
    async with embedded_worker(settings) as (broker, loop_thread):
        resources = Resources.of(broker)

        async def a_run_cut_before_it_started() -> BaseException | None:
            entering = asyncio.Event()

            async def run() -> None:
                entering.set()
                async with resources.serving("sync task t1"):
                    raise AssertionError("the run started on a database never migrated")

            # given a run that entered `serving` and waits there (outside a message: for the schema)
            cut = asyncio.create_task(run())
            await entering.wait()
            # when the embedded shutdown cancels it
            await resources.shutdown()
            return (await asyncio.gather(cut, return_exceptions=True))[0]

        ended = await asyncio.to_thread(loop_thread.run_coroutine, a_run_cut_before_it_started())
    # then it is refused as not started (the actor's `refused_quietly` says so at INFO), not a RuntimeError
    assert isinstance(ended, RunRefused), repr(ended)
    assert ended.what == "sync task t1"


@pytest.mark.redis
async def test_with_redis_a_worker_draining_its_stop_does_not_take_its_own_re_sent_message_again_and_again(
    sqlite_url: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    """LOW from stop 67 (flake67): a worker process whose stop drains a run slow to end kept taking messages
    meanwhile; each was refused and sent again a back-off later, due again before the drain ended, taken again by
    the same worker, refused and sent again: one INFO line and one more send per back-off, for as long as the drain
    lasted, the message delayed each time instead of left to another worker process. Now the stop's first step is to
    stop the worker threads taking messages (a thread busy with a run ends it as before): what the consumers fetched
    meanwhile is handed back to Redis when Dramatiq's stop ends, at once, as any message a stop leaves unstarted.
    A thread waiting for a message as the stop begins may still take one, and refuses it once."""
    # the back-off outlasts an idle thread's wait for a message (worker_timeout, 100 ms), so a message refused in that
    # wait is not due again before every stopped thread has left; a fifth of the drain below
    redis, worker = _redis_worker(sqlite_url, tmp_path, redis_server, database=12, backoff_ms=400)
    stopping: asyncio.Task[None] | None = None
    try:
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
        resources = Resources.of(worker.broker)
        entered, cancelled = threading.Event(), threading.Event()

        async def a_run_slow_to_end() -> None:
            """A run whose cancellation takes 2 s to end (a database call that outlives it): the stop's drain."""
            with contextlib.suppress(dramatiq.Retry):  # outside a message, a run cut by a stop asks for a retry
                async with resources.serving("the test's run"):
                    entered.set()
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        cancelled.set()
                        await asyncio.sleep(2.0)
                        raise

        running = asyncio.run_coroutine_threadsafe(a_run_slow_to_end(), loop_thread.loop)
        await until(entered.is_set, "the run to start")
        from workers.actors import run_sync_task

        with log_lines("workers.actors", logging.INFO) as info:
            # given the worker's stop has begun, draining that run
            stopping = asyncio.create_task(asyncio.to_thread(worker.stop, 30_000))
            await until(cancelled.is_set, "the stop to cancel the run")
            # when an import's message is sent during the drain
            run_sync_task.send("task-sent-during-the-drain")
            await stopping
        running.result(timeout=5)

        # then the worker refused it at most once (a thread waiting as the stop began), not once per back-off
        refused = [m for m in info.messages if m.startswith("sync task task-sent-during-the-drain not started")]
        assert len(refused) <= 1, refused
        # and it waits in Redis exactly once for another worker process, its retries untouched
        ready, delayed = f"{BROKER_NAMESPACE}:{SYNC_QUEUE}.msgs", f"{BROKER_NAMESPACE}:{dq_name(SYNC_QUEUE)}.msgs"
        copies = [
            m
            for key in (ready, delayed)
            for m in map(Message.decode, redis.hvals(key))
            if tuple(m.args) == ("task-sent-during-the-drain",)
        ]
        assert len(copies) == 1, copies
        assert copies[0].options.get("retries", 0) == 0, copies[0].options
    finally:
        if stopping is None:
            await asyncio.to_thread(worker.stop, 10_000)
        redis.flushdb()
