"""`serve --workers N`'s supervisor at a second SIGTERM or Ctrl+C during its stop, when no worker process is left:
it says so at INFO and kills nothing (review72b F5: it said at WARNING that it was killing the workers still there,
then exited 0). The case with workers still there runs real processes: tests/e2e/test_serve_workers.py."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.supervisors.multiprocess import SIGNALS

from gql.supervisor import Supervisor


@pytest.fixture
def supervisor() -> Iterator[Supervisor]:
    """A supervisor of no worker process yet (uvicorn's installs its signal handlers as it is made: put back after)."""
    handlers = {number: signal.getsignal(number) for number in SIGNALS}
    try:
        yield Supervisor(
            uvicorn.Config("gql.app:create_app", factory=True, workers=2), [], stop_seconds=40, start_seconds=300
        )
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def test_a_second_sigint_when_every_worker_process_had_stopped_says_so_at_info_and_kills_nothing(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    # given a supervisor stopping (its first SIGINT handled), its worker processes all gone
    supervisor.handle_int()
    assert supervisor.should_exit.is_set()
    # when a second SIGINT comes while it waits for them
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    caplog.clear()
    supervisor.handle_int()
    # then one INFO line says they had all stopped, none a WARNING that it kills any, and it killed none
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("INFO", "Received SIGINT while stopping: every child process had stopped already.")
    ]
    assert supervisor.killed == []
