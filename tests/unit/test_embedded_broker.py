"""The embedded broker delivers a delayed message when it comes due, however many far-off ones wait in its queue.

Try-out pool51 (2026-12-05): Dramatiq's StubBroker lists each delay queue among its ordinary queues, so its worker
consumed `live.DQ` with an ordinary queue's prefetch (2 x threads); eight pushes' `push_later` messages ~630 s ahead
held every slot, and a webhook run sent again in 1 s waited until the tick's next resend (24-68 s), while the shops
showed stock the pool no longer had. `workers.broker.EmbeddedBroker` mends it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import dramatiq
import pytest

from tests.fixtures.waiting import wait_until
from workers.broker import EmbeddedBroker

FAR_OFF_MS = 600_000  # ten minutes: never due within the test


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker()
    yield broker
    broker.close()


def test_a_delay_queue_is_consumed_as_one(broker: EmbeddedBroker) -> None:
    delivered: list[str] = []
    lock = threading.Lock()

    @dramatiq.actor(broker=broker, queue_name="live", max_retries=0)
    def note(tag: str) -> None:
        with lock:
            delivered.append(tag)

    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        assert broker.get_declared_queues() == {"live"}
        assert broker.get_declared_delay_queues() == {"live.DQ"}
        # More far-off messages than an ordinary queue's prefetch: each holds its slot until its eta.
        for index in range(worker.queue_prefetch + 2):
            note.send_with_options(args=(f"far-{index}",), delay=FAR_OFF_MS)
        wait_until(lambda: not broker.queues["live.DQ"].qsize(), "the far-off messages fetched by the worker")
        note.send_with_options(args=("soon",), delay=50)
        wait_until(lambda: "soon" in delivered, "the message due in 50 ms, behind the far-off ones")
        note.send("now")
        wait_until(lambda: "now" in delivered, "an undelayed message")
        assert all(not tag.startswith("far-") for tag in delivered)
    finally:
        worker.stop(timeout=1_000)
