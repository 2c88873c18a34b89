"""The embedded pool's idle threads sleep until there is work (`workers.embedded._IdleWaits`): a message sent, a
delayed message coming due and the stop each wake them. Here the pool's unwoken sleep is made far longer than a
test waits (`idle_wait_seconds`), so a wake-up that went missing fails the test instead of costing a second."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.config import Settings, load_settings
from adapters.events import InProcessEventBus
from tests.fixtures.waiting import DEADLINE_SECONDS
from workers.broker import SYNC_QUEUE
from workers.embedded import EmbeddedWorker

ASLEEP_LONGER_THAN_A_TEST_WAITS = 4 * DEADLINE_SECONDS


def _settings(database_url: str, data_dir: Path) -> Settings:
    return load_settings(
        {"SHOPBRIDGE_DATABASE_URL": database_url, "SHOPBRIDGE_DATA_DIR": str(data_dir), "SHOPBRIDGE_SCHEDULER": "off"}
    )


async def test_an_idle_pool_wakes_for_a_message_for_a_due_delayed_message_and_for_its_stop(
    sqlite_url: str, tmp_path: Path
) -> None:
    # given a started embedded pool whose idle threads are never woken by their own timeout within the test
    worker = EmbeddedWorker(
        _settings(sqlite_url, tmp_path), events=InProcessEventBus(), idle_wait_seconds=ASLEEP_LONGER_THAN_A_TEST_WAITS
    )
    worker.start()
    stopped = False
    try:
        broker = worker.broker
        assert broker is not None
        from workers.actors import run_sync_task

        # when a message is sent (a task that does not exist: its run is a no-op)
        run_sync_task.send("no-such-task")
        # then a worker thread runs it (the queue's put woke the consumer, and the work queue's a worker thread)
        await asyncio.to_thread(broker.join, SYNC_QUEUE, timeout=int(DEADLINE_SECONDS * 1000), fail_fast=True)
        # when a message is sent with a delay
        run_sync_task.send_with_options(args=("no-such-task-later",), delay=200)
        # then it runs once due (the delay queue's consumer woke at its eta, not at the end of its idle sleep)
        await asyncio.to_thread(broker.join, SYNC_QUEUE, timeout=int(DEADLINE_SECONDS * 1000), fail_fast=True)
        # and the stop wakes the sleeping threads: it ends within a test's wait
        await asyncio.wait_for(worker.stop(), DEADLINE_SECONDS)
        stopped = True
    finally:
        if not stopped:
            await worker.stop()
