"""`adapters.outage_window.OutageWindow`: a failure makes callers skip the dependency for `seconds`, then retry."""

from __future__ import annotations

import pytest

from adapters.outage_window import OutageWindow


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_is_skipped_for_its_window_then_tried_again() -> None:
    # given a window of 15 s over a dependency that has not failed: callers try it
    clock = Clock()
    window = OutageWindow(15.0, clock)
    assert window.skipping() is None
    # when it fails
    window.open("Redis unavailable: TimeoutError: Timeout reading from socket")
    # then callers skip it, told why, until 15 s have passed
    clock.now += 14.9
    assert window.skipping() == "Redis unavailable: TimeoutError: Timeout reading from socket"
    # and then try it again (it may be back); a second failure opens a new window from its own time
    clock.now += 0.1
    assert window.skipping() is None
    window.open("Redis unavailable: ConnectionError: refused")
    clock.now += 10
    assert window.skipping() == "Redis unavailable: ConnectionError: refused"


def test_an_answer_closes_the_window() -> None:
    # given a window opened by a failure
    window = OutageWindow(15.0, Clock())
    window.open("Redis unavailable: TimeoutError")
    # when the dependency answers a call (one that started before the failure, say)
    window.close()
    # then callers try it again at once
    assert window.skipping() is None


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        OutageWindow(-1.0)
