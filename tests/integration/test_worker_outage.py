"""An outage while a worker takes messages (PostgreSQL restarting, a failover; TikTok down or answering garbage): each
run that fails on it is retried as before, and says so in one WARNING line. Dramatiq logged every such run at ERROR
with a traceback ("Failed to process message ... with unhandled exception"): about 70 tracebacks in 12 s of database
outage on the production layout (pushes, polls, webhook processing, registrations), burying the log of an expected
condition, and operators alert on ERROR. A bug still logs at ERROR with its traceback."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from queue import PriorityQueue
from typing import Any

import dramatiq
import pytest
from cryptography.fernet import Fernet
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.worker import ConsumerThread, _WorkQueueItem
from redis import Redis as SyncRedis

from adapters.config import Settings, load_settings
from adapters.events import InProcessEventBus
from adapters.logs import OUTAGE
from domain.errors import ErrorCode
from domain.services.sync import start_sync
from domain.sync import INTERNAL_ERROR, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import FakeTaskQueue
from tests.fixtures.processes import free_port
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines, until
from workers.broker import setup_broker
from workers.embedded import EmbeddedWorker
from workers.outages import OutlastingRetries

ORDER_SEARCH = "/order/202309/orders/search"
RUN_LOGGERS = ("workers", "dramatiq", "domain.services.importer")  # what logs about an actor's run


def _settings_without_a_database(tmp_path: Path, **more: str) -> Settings:
    """A worker's settings whose PostgreSQL does not answer (nothing listens on its port)."""
    return load_settings(
        {
            "SHOPBRIDGE_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/shopbridge",
            "SHOPBRIDGE_DATA_DIR": str(tmp_path),
            "SHOPBRIDGE_SECRET_KEY": "outage-" + "k" * 40,
            "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "SHOPBRIDGE_SCHEDULER": "off",
            **more,
        }
    )


async def test_a_run_that_fails_on_a_database_outage_is_retried_in_one_warning_line(tmp_path: Path) -> None:
    # given a worker whose PostgreSQL does not answer (nothing listens on its port)
    settings = _settings_without_a_database(tmp_path)
    with (
        log_lines("workers", logging.WARNING) as warnings,
        log_lines("dramatiq", logging.INFO) as dramatiq_lines,
        log_lines("dramatiq", logging.ERROR) as errors,
    ):
        worker = EmbeddedWorker(settings, events=InProcessEventBus())
        worker.start()
        try:
            from workers.actors import process_webhook_events

            # when it takes a message: the processing of a shop's webhook events
            process_webhook_events.send("shop-1")
            # then the run says in one line that the database is unavailable, and Dramatiq retries it
            line = await asyncio.to_thread(warnings.wait_for, "webhook events of shop shop-1 failed")
            await asyncio.to_thread(dramatiq_lines.wait_for, "Retrying message")
        finally:
            await worker.stop()
    assert "the database is unavailable (ConnectionRefusedError" in line
    # and nothing is logged at ERROR: neither Dramatiq's "unhandled exception" nor the boot sweep's traceback
    assert errors.messages == []
    assert all("database is unavailable" in m for m in warnings.messages), warnings.messages


async def test_a_periodic_sweep_turn_during_a_database_outage_is_one_warning_line(tmp_path: Path) -> None:
    # given a worker whose PostgreSQL does not answer, and whose periodic sweep turns every 0.5 to 1 s
    settings = _settings_without_a_database(tmp_path, SHOPBRIDGE_SYNC_STALE_AFTER="1")
    with log_lines("workers", logging.WARNING) as warnings:
        worker = EmbeddedWorker(settings, events=InProcessEventBus())
        worker.start()
        try:
            # when the sweep has turned three times
            turn = "stale sync task or webhook sweep failed"
            await until(lambda: sum(turn in m for m in warnings.messages) >= 3, "three sweep turns")
        finally:
            await worker.stop()
    # then each turn said so in one line: the retention prunes were not tried on the database the sweep found down
    # (they logged a second "... retention sweep failed, the database is unavailable" line every turn)
    boot, *turns = warnings.messages
    assert boot.startswith("could not resume the sync tasks or webhook events left active"), boot
    assert turns, warnings.messages
    assert all(m.startswith("stale sync task or webhook sweep failed, the database is unavailable") for m in turns), (
        turns
    )


async def test_a_tiktok_outage_the_queue_retries_is_one_warning_line_while_a_bug_keeps_its_traceback(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[[Settings], SyncHarness],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # given two runs per task before it fails, a client that does not retry, and TikTok answering every order
    # search with a body that is not JSON (the sandbox's `malformed_json` fault)
    settings = sync_settings(database_url, sandbox, tmp_path, sync_max_attempts=2)
    harness = sync_harness_factory(settings.with_overrides(tiktok=replace(settings.tiktok, max_retries=0)))
    outage_shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox, seller="us-local")
    buggy_shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox, seller="uk-local")
    sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["malformed_json"], "paths": [ORDER_SEARCH]})
    # and, for a bug, an orders task whose stored checkpoint our code cannot read (a slice without its bounds)
    now = harness.clock.now()
    outage_task = SyncTask.queue(outage_shop.id, "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, now)
    buggy_task = SyncTask.queue(buggy_shop.id, "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, now)
    buggy_task.checkpoint = {"orders": {"slices": [{"resume_ge": 0}]}}
    async with harness.uow_factory() as uow:
        await uow.sync_tasks.add(outage_task)
        await uow.sync_tasks.add(buggy_task)
        await uow.commit()
    with caplog.at_level(logging.INFO):
        # when the worker pool starts and runs both (its boot sweep sends them)
        harness.start_worker()
        failed = await harness.wait(outage_task.id)
        broken = await harness.wait(buggy_task.id)
    # then each task ended as before: the outage FAILED with TIKTOK_UNAVAILABLE after its two runs, the bug INTERNAL
    assert (failed.status, failed.error_code, failed.attempts) == (
        SyncTaskStatus.FAILED, ErrorCode.TIKTOK_UNAVAILABLE.value, 2,
    ), failed  # fmt: skip
    assert (broken.status, broken.error_code, broken.attempts) == (SyncTaskStatus.FAILED, INTERNAL_ERROR, 2), broken
    records = caplog.records
    # and each first run was retried by the queue once, after 50 to 100 ms (Dramatiq's backoff, unchanged)
    delays = [r.args[1] for r in records if r.msg == "Retrying message %r in %d milliseconds." and r.args]
    assert len(delays) == 2 and all(50 <= int(d) <= 100 for d in delays), delays  # type: ignore[call-overload]
    # and the outage's first run said so in ONE WARNING line naming the task, the cause and when it is retried, with
    # no traceback: the worker, Dramatiq and the engine logged nothing else at WARNING (the TikTok client's own line
    # when an outage begins, `adapters.tiktok.availability`, is the client's)
    (warning,) = [r for r in records if r.levelno == logging.WARNING and r.name.startswith(RUN_LOGGERS)]
    line = warning.getMessage()
    assert warning.exc_info is None, warning.exc_info
    assert line.startswith(f"sync task {outage_task.id} failed, TikTok is unavailable (TikTok answered"), line
    # marked as a retry on a TikTok outage: the log handler writes such lines once a minute (`OutageRetryLines`)
    assert getattr(warning, OUTAGE) == "TikTok"
    assert f"api=POST {ORDER_SEARCH}" in line, line
    assert any(line.endswith(f"; retried in {int(d) / 1000:.1f} s (retry 1 of 2)") for d in delays), (line, delays)  # type: ignore[call-overload]
    # and the bug's first run kept Dramatiq's ERROR with its traceback, its last run the engine's own
    errors = [r for r in records if r.levelno >= logging.ERROR]
    (unhandled,) = [r.getMessage() for r in errors if r.name.startswith("dramatiq")]
    assert unhandled.endswith("with unhandled exception."), unhandled
    assert [r.getMessage() for r in errors if not r.name.startswith("dramatiq")] == [
        f"sync task {buggy_task.id} failed on its last attempt"
    ], errors
    assert len(errors) == 2 and all(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in errors), errors


async def test_the_line_of_a_run_whose_retries_are_spent_says_so(tmp_path: Path) -> None:
    # given a worker whose PostgreSQL does not answer, and a message allowed one retry, 10 to 20 ms later
    settings = _settings_without_a_database(tmp_path)
    with (
        log_lines("workers", logging.WARNING) as warnings,
        log_lines("dramatiq", logging.WARNING) as dramatiq_warnings,
    ):
        worker = EmbeddedWorker(settings, events=InProcessEventBus())
        worker.start()
        try:
            from workers.actors import process_webhook_events

            # when it runs the message twice, failing on the outage each time
            process_webhook_events.send_with_options(args=("shop-1",), max_retries=1, min_backoff=10, max_backoff=20)
            await asyncio.to_thread(dramatiq_warnings.wait_for, "Retries exceeded")
        finally:
            await worker.stop()
    # then the first run's line says when it is retried, the last one's that no retry is left, and Dramatiq fails
    # the message as before
    first, last = [m for m in warnings.messages if m.startswith("webhook events of shop shop-1 failed")]
    assert first.startswith("webhook events of shop shop-1 failed, the database is unavailable (Connection"), first
    assert first.endswith(" s (retry 1 of 1)") and "; retried in 0.0" in first, first
    assert last.endswith("; no retries left (1 of 1 spent)"), last
    assert [m for m in dramatiq_warnings.messages if m.startswith("Retries exceeded")] == dramatiq_warnings.messages


@pytest.mark.redis
async def test_on_the_production_layout_the_retried_run_is_one_warning_line_too(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[[Settings], SyncHarness],
    redis_server: Any, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # given a worker as `shopbridge worker` runs it (a Dramatiq Worker on the Redis broker), two runs per task, a
    # client that does not retry, and TikTok answering every order search with a body that is not JSON
    settings = sync_settings(database_url, sandbox, tmp_path, sync_max_attempts=2, broker_url=redis_server.url)
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, max_retries=0))
    harness = sync_harness_factory(settings)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["malformed_json"], "paths": [ORDER_SEARCH]})
    broker = setup_broker(settings)
    from workers.actors import task_queue

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    with caplog.at_level(logging.INFO):
        worker.start()
        try:
            # when an orders sync starts
            (task,) = await start_sync(
                harness.uow_factory, task_queue(settings), harness.events, harness.clock, "m1", shop.id,
                [SyncKind.ORDERS],
            )  # fmt: skip
            failed = await harness.wait(task.id)
            # (the run stores FAILED before it ends: its other slices' requests still wind down. Stopped then, the
            # shutdown cut its tail and had Dramatiq retry the message, a second "Retrying message" line: let the
            # worker finish the message first)
            await asyncio.to_thread(worker.join)
        finally:
            await asyncio.to_thread(worker.stop)
    # then it ended as before: FAILED with TIKTOK_UNAVAILABLE after its two runs
    assert (failed.status, failed.error_code, failed.attempts) == (
        SyncTaskStatus.FAILED, ErrorCode.TIKTOK_UNAVAILABLE.value, 2,
    ), failed  # fmt: skip
    # and its retried run was one WARNING line naming the task, the cause and the delay Dramatiq then waited (50 to
    # 100 ms), with no traceback; nothing at ERROR
    (delay,) = [r.args[1] for r in caplog.records if r.msg == "Retrying message %r in %d milliseconds." and r.args]
    assert 50 <= int(delay) <= 100, delay  # type: ignore[call-overload]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith(RUN_LOGGERS)]
    assert warning.exc_info is None, warning.exc_info
    assert warning.getMessage() == (
        f"sync task {task.id} failed, TikTok is unavailable (TikTok answered without a JSON envelope (http=200, "
        f"api=POST {ORDER_SEARCH})); retried in {int(delay) / 1000:.1f} s (retry 1 of 2)"  # type: ignore[call-overload]
    )
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.redis
async def test_a_periodic_sweep_turn_during_a_redis_outage_is_one_warning_line(
    sqlite_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[[Settings], SyncHarness],
    own_redis: Any, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # given a worker on the production layout (the Redis broker), its sweep turning every 0.5 to 1 s, and a QUEUED
    # task whose message was never sent: the sweep asks Redis which tasks it holds a message for
    settings = sync_settings(sqlite_url, sandbox, tmp_path, broker_url=own_redis.url, sync_stale_after_seconds=1)
    harness = sync_harness_factory(settings)
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    await start_sync(harness.uow_factory, FakeTaskQueue(), None, harness.clock, "m1", shop.id, [SyncKind.ORDERS])
    broker = setup_broker(settings)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    turn = "stale sync task or webhook sweep failed"
    # when Redis stops, and the sweep turns twice meanwhile
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="workers"):
        worker.start()
        try:
            await until(lambda: sum(turn in r.getMessage() for r in caplog.records) >= 2, "two sweep turns")
        finally:
            await asyncio.to_thread(worker.stop)
    # then each turn said so in one line naming Redis, without the traceback it logged every turn of every process
    turns = [r for r in caplog.records if r.getMessage().startswith(turn)]
    assert all(r.exc_info is None for r in turns), turns[0].exc_info
    assert all(
        r.getMessage().startswith(f"{turn}, the queue is unavailable (Redis unavailable: ConnectionError")
        and r.getMessage().endswith("; will try again")
        for r in turns
    ), [r.getMessage() for r in turns]


@pytest.mark.redis
async def test_a_retry_whose_send_finds_redis_down_is_sent_once_redis_answers_and_said_in_one_warning_line(
    tmp_path: Path, own_redis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # given the production layout's broker (as `shopbridge worker` sets it up), and two push runs that failed on the
    # queue's outage (`Resources.serving` raised a `Retry` of 1.3 s for each)
    broker = setup_broker(_settings_without_a_database(tmp_path, SHOPBRIDGE_BROKER_URL=own_redis.url))
    from workers.actors import push_inventory  # declared on the broker just made

    runs = [MessageProxy(push_inventory.message(shop_id)) for shop_id in ("shop-1", "shop-2")]
    # when Redis is down as Dramatiq's worker threads end both runs (its middleware sends their retries)...
    own_redis.halt()
    with caplog.at_level(logging.DEBUG, logger="workers"):
        ending = asyncio.gather(
            *(asyncio.to_thread(broker.emit_after, "process_message", run, exception=dramatiq.Retry(delay=1_300))
              for run in runs)
        )  # fmt: skip
        waiting = "waits for the queue, unavailable (ConnectionError"
        await until(lambda: sum(waiting in r.getMessage() for r in caplog.records) >= 2, "both retries waiting", 10)
        # ...and comes back a moment later, empty (no persistence)
        await asyncio.to_thread(own_redis.resume)
        await ending
    # then Redis holds both retries, due 1.3 s after their send, each counted as retry 1
    redis = SyncRedis.from_url(own_redis.url)
    retries = [Message.decode(body) for body in redis.hvals("dramatiq:live.DQ.msgs")]
    redis.close()
    assert sorted(m.args[0] for m in retries) == ["shop-1", "shop-2"], retries
    assert all(m.options["retries"] == 1 for m in retries), retries
    # and the log said so once at WARNING, naming the outage, not a CRITICAL traceback per message
    assert not [r.getMessage() for r in caplog.records if r.levelno > logging.WARNING]
    lines = [r for r in caplog.records if waiting in r.getMessage()]
    assert sorted(r.levelno for r in lines) == [logging.DEBUG, logging.WARNING], [r.getMessage() for r in lines]
    assert all(r.getMessage().startswith("the retry of push_inventory(shop-") for r in lines), lines
    assert all(r.exc_info is None for r in lines)


async def test_a_consumer_thread_closing_on_a_redis_outage_survives_to_take_messages_again(
    tmp_path: Path, own_redis: Any
) -> None:
    # given the production layout's broker, and a delay queue's consumer thread holding a delayed message (Dramatiq's
    # thread, as a worker runs it; its consumer has fetched the message from Redis)
    broker = setup_broker(_settings_without_a_database(tmp_path, SHOPBRIDGE_BROKER_URL=own_redis.url))
    from workers.actors import push_inventory  # declared on the broker just made

    push_inventory.send_with_options(args=("shop-1",), delay=60_000)
    thread = ConsumerThread(
        broker=broker, queue_name="live.DQ", prefetch=10, work_queue=PriorityQueue(), worker_timeout=100
    )
    thread.consumer = broker.consume("live.DQ", prefetch=10, timeout=100)
    held = await asyncio.to_thread(next, thread.consumer)
    assert held is not None and held.args == ("shop-1",)
    thread.delay_queue.put(_WorkQueueItem(held.options["eta"], held))
    # when Redis is down as the thread closes its consumer (after a send of a due message failed on the outage:
    # "Consumer encountered an unexpected error"), handing back the delayed messages it holds
    own_redis.halt()
    try:
        # then the close ends quietly, as on any lost connection, and the thread goes on to restart its consumer (it
        # died on Redis's own ConnectionError: "Exception in thread", its queue's delayed messages never moved again)
        await asyncio.to_thread(thread.close)
    finally:
        await asyncio.to_thread(own_redis.resume)


STOP_BOUND_SECONDS = 30  # SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT's default: what a process manager is told to allow


@pytest.mark.redis
def test_a_worker_told_to_stop_while_a_retry_waits_for_redis_stops_at_once_and_says_what_it_gave_up(
    tmp_path: Path, own_redis: Any
) -> None:
    # given a worker on the production layout's broker (a Dramatiq Worker, as `shopbridge worker` runs it), whose
    # retries wait for Redis far longer than any shutdown (an hour), and a run that fails on an outage while Redis is
    # down (`Resources.serving` raises a `Retry` for it: its middleware's send of the retry finds Redis down)
    broker = setup_broker(_settings_without_a_database(tmp_path, SHOPBRIDGE_BROKER_URL=own_redis.url))
    (retries,) = [m for m in broker.middleware if isinstance(m, OutlastingRetries)]
    retries.patience_seconds = 3_600.0
    running, redis_down = threading.Event(), threading.Event()

    def fails_on_an_outage(shop_id: str) -> None:
        running.set()
        redis_down.wait()
        raise dramatiq.Retry(delay=1_300)

    dramatiq.actor(fails_on_an_outage, broker=broker, queue_name="live", max_retries=3).send("shop-1")
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    stopping = threading.Thread(target=worker.stop, args=(3_600_000,), daemon=True)  # Dramatiq's own bound: an hour
    with log_lines("workers", logging.WARNING) as warnings:
        worker.start()
        try:
            assert running.wait(DEADLINE_SECONDS), "the run did not start"
            own_redis.halt()
            redis_down.set()
            warnings.wait_for("the retry of fails_on_an_outage(shop-1) waits for the queue")
            # when the worker is told to stop (SIGTERM to `shopbridge worker`) while the retry waits
            stopping.start()
            # then it stops well within the shutdown timeout (its worker thread waited for Redis: the retry for its
            # hour of patience, then Dramatiq's acknowledgement of the message every 5 s for as long as Redis was down)
            stopping.join(STOP_BOUND_SECONDS)
            assert not stopping.is_alive(), f"the worker did not stop in {STOP_BOUND_SECONDS} s: {warnings.messages}"
        finally:
            if stopping.is_alive() or stopping.ident is None:  # free what waits for Redis, to end the test
                own_redis.resume()
                if stopping.ident is not None:
                    stopping.join()
                else:
                    worker.stop()
    # and it said in one WARNING line each what it gave up: the retry, left to the database sweeps, and the message's
    # acknowledgement, whose message Redis (if it kept its data) hands back once the worker's heartbeat is stale
    refused = f"Error 111 connecting to 127.0.0.1:{own_redis.port}. Connection refused."
    given_up = [m for m in warnings.messages if " is given up: the worker is shutting down" in m]
    assert given_up == [
        "the retry of fails_on_an_outage(shop-1) is given up: the worker is shutting down and the queue is "
        f"unavailable (ConnectionError: {refused}); the database sweeps send its work again (README, Operations)",
        "the acknowledgement of fails_on_an_outage('shop-1') is given up: the worker is shutting down and the queue "
        f"is unavailable ({refused}); Redis, if it kept its data, hands the message back to its queue once this "
        "worker's heartbeat is older than SHOPBRIDGE_BROKER_HEARTBEAT_TIMEOUT_MS, and it runs again (README, "
        "Operations)",
    ], warnings.messages
