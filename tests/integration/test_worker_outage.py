"""A database outage while a worker takes messages (PostgreSQL restarting, a failover): each run that fails on it is
retried as before, and says so in one WARNING line. Dramatiq logged every such run at ERROR with a traceback ("Failed
to process message ... with unhandled exception"): about 70 tracebacks in 12 s of outage on the production layout
(pushes, polls, webhook processing, registrations), burying the log of an expected condition."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from cryptography.fernet import Fernet

from adapters.config import Settings, load_settings
from adapters.events import InProcessEventBus
from tests.fixtures.processes import free_port
from tests.fixtures.waiting import log_lines, until
from workers.embedded import EmbeddedWorker


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
