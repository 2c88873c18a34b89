"""While Redis is down, Dramatiq's consumer threads log two lines every 3 seconds per queue, for as long as it lasts
(one CRITICAL). Our log handler writes one a minute per queue, saying it is retried and how many it left out; every
other line passes as it was. Over a real Dramatiq worker whose broker is unreachable (its restart delay, the
library's own constant, shortened so that the repeats come in milliseconds), and over records of given times."""

from __future__ import annotations

import io
import logging
import logging.config
import socket
import threading
from collections.abc import Iterator

import dramatiq
import dramatiq.worker
import pytest
from dramatiq.brokers.redis import RedisBroker

from adapters.logs import OUTAGE, BrokerOutageLines, OutageRetryLines, configure_logging, uvicorn_log_config
from tests.fixtures.logs import logged_to, root_logging_kept

QUEUE = "outage_lines"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    with logged_to("text") as stream:
        yield stream


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Counter(logging.Handler):
    """Counts the consumer's connection errors as Dramatiq logs them (before our handler's filter)."""

    def __init__(self, enough: int) -> None:
        super().__init__()
        self.seen = 0
        self.enough = enough
        self.reached = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("Consumer encountered a connection error"):
            self.seen += 1
            if self.seen >= self.enough:
                self.reached.set()


def test_a_broker_outage_is_one_line_not_two_every_few_seconds(logged: io.StringIO, monkeypatch) -> None:
    # given a Dramatiq worker whose Redis refuses connections, retrying at once rather than every 3 s
    monkeypatch.setattr(dramatiq.worker, "CONSUMER_RESTART_DELAY_SECS", 0.005)
    broker = RedisBroker(url=f"redis://127.0.0.1:{closed_port()}/0")
    broker.declare_queue(QUEUE)
    counter = Counter(enough=6)
    consumer_logger = logging.getLogger(f"dramatiq.worker.ConsumerThread({QUEUE})")
    consumer_logger.addHandler(counter)
    worker = dramatiq.Worker(broker, queues={QUEUE}, worker_threads=1, worker_timeout=50)
    try:
        # when its consumer fails to reach it six times over
        worker.start()
        assert counter.reached.wait(timeout=60)
    finally:
        worker.stop()
        consumer_logger.removeHandler(counter)
        broker.close()

    # then the log holds each consumer's first failure alone (the queue's and its delay queue's), saying it is
    # retried; no "Restarting consumer" line
    lines = logged.getvalue().splitlines()
    lost = [line for line in lines if "Consumer encountered a connection error" in line]
    consumers = sorted(line.split(" CRITICAL dramatiq.worker.ConsumerThread(")[1].split(")")[0] for line in lost)
    assert consumers == [QUEUE, f"{QUEUE}.DQ"], lines
    assert all(line.endswith("(retried every few seconds; this line again in 60 s at most)") for line in lost)
    assert not [line for line in lines if "Restarting consumer" in line]


def record(name: str, msg: str, created: float, level: int = logging.CRITICAL) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, msg, ("Connection refused",), None)
    made.created = created
    return made


LOST = "Consumer encountered a connection error: %s"
RESTARTING = "Restarting consumer in %0.2f seconds."


def test_after_the_window_the_next_line_says_how_many_it_left_out() -> None:
    lines = BrokerOutageLines(every_seconds=60)
    queue_a, queue_b = "dramatiq.worker.ConsumerThread(a)", "dramatiq.worker.ConsumerThread(b)"
    first = record(queue_a, LOST, 1000.0)
    assert lines.filter(first)
    assert not lines.filter(record(queue_a, RESTARTING, 1000.1, logging.INFO))
    assert [lines.filter(record(queue_a, LOST, 1000.0 + 3 * n)) for n in range(1, 6)] == [False] * 5
    assert lines.filter(record(queue_b, LOST, 1010.0))  # another queue's outage shows on its own
    later = record(queue_a, LOST, 1060.0)
    assert lines.filter(later)
    assert later.getMessage().endswith("60 s at most, 5 more left out since the last one)")
    assert lines.filter(record(queue_a, RESTARTING, 1200.0, logging.INFO))  # long after: Dramatiq's line again


def test_every_other_line_passes_untouched() -> None:
    lines = BrokerOutageLines(every_seconds=60)
    assert lines.filter(record("dramatiq.worker.ConsumerThread(a)", LOST, 1000.0))
    bug = record("dramatiq.worker.ConsumerThread(a)", "Consumer encountered an unexpected error.", 1001.0)
    ours = record("workers.actors", LOST, 1001.0)
    assert lines.filter(bug) and lines.filter(ours)
    assert (bug.msg, ours.msg) == ("Consumer encountered an unexpected error.", LOST)


def test_the_api_processes_logging_filters_the_same_lines() -> None:
    # (`make run` serves the API with the in-process worker pool: its consumers log through uvicorn's config)
    with root_logging_kept():
        logging.config.dictConfig(uvicorn_log_config("INFO", "text"))
        (handler,) = logging.getLogger().handlers
        assert [type(f) for f in handler.filters] == [BrokerOutageLines, OutageRetryLines]
    with root_logging_kept():  # and `shopbridge worker`'s
        configure_logging("INFO", "text", io.StringIO())
        (ours,) = [h for h in logging.getLogger().handlers if type(h).__name__ == "_Ours"]
        assert [type(f) for f in ours.filters] == [BrokerOutageLines, OutageRetryLines]


def retried(created: float, dependency: str | None = "TikTok") -> logging.LogRecord:
    made = logging.LogRecord("workers.resources", logging.WARNING, __file__, 1, "%s", ("sync task t failed, …",), None)
    made.created = created
    if dependency is not None:
        setattr(made, OUTAGE, dependency)
    return made


def test_runs_retried_on_a_tiktok_outage_are_one_line_a_minute_saying_how_many_it_left_out() -> None:
    # (try-out livesync52: a 60 s TikTok outage, 14 such WARNINGs besides the client's own lines)
    lines = OutageRetryLines(every_seconds=60)
    first = retried(1000.0)
    assert lines.filter(first) and first.getMessage() == "sync task t failed, …"  # the first as it was logged
    assert [lines.filter(retried(1000.0 + 5 * n)) for n in range(1, 9)] == [False] * 8
    assert lines.filter(retried(1010.0, "the database"))  # another dependency's on its own
    assert lines.filter(retried(1010.0, None)) and lines.filter(retried(1011.0, None))  # unmarked: every one
    later = retried(1060.0)
    assert lines.filter(later)
    assert later.getMessage() == (
        "sync task t failed, … (8 more runs retried on this TikTok outage left out since the last such line; one a "
        "60 s at most)"
    )
