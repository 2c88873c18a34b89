"""A run that a worker thread takes after the shutdown began (Ctrl+C while a message is picked up): embedded, it ends
with one INFO line and is not retried, since the in-memory queue dies with the process and the next start's boot
sweep resumes the work from the database; with Redis it goes back to the broker for another worker process.

Issue 13: at Ctrl+C mid-import the demo logged "Retrying message ... in 10000 milliseconds." for such a run
(`test_banner_once_listening_then_sigint_mid_import_is_quiet`, now and then)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import dramatiq
import pytest
from cryptography.fernet import Fernet
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.common import dq_name

from adapters.config import Settings, load_settings
from adapters.events import InProcessEventBus
from tests.fixtures.waiting import log_lines
from workers.broker import SYNC_QUEUE
from workers.embedded import EmbeddedWorker
from workers.resources import Resources


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


async def test_a_run_taken_after_the_embedded_shutdown_began_ends_quietly_without_a_retry(
    sqlite_url: str, tmp_path: Path
) -> None:
    worker = EmbeddedWorker(_settings(sqlite_url, tmp_path), events=InProcessEventBus())
    worker.start()
    try:
        broker = worker.broker
        assert broker is not None
        loop_thread = get_event_loop_thread()
        assert loop_thread is not None
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
    finally:
        await worker.stop()


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
