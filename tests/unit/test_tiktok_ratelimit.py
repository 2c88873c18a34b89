"""The in-process rate limiter's settings and its edges: rates below one per second, the window guard's boundary.

TikTok counts requests per app and shop per second (tiktok-api.md sec. 11). The clock and sleep are injected:
nothing here waits or reads a real timer. (Its schedule under load: tests/unit/test_tiktok_signing.py.)
"""

from __future__ import annotations

import pytest

from adapters.tiktok.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("per_second", "headroom", "message"),
    [
        (0, 0.95, "^per_second must be positive$"),
        (-1, 0.95, "^per_second must be positive$"),
        (50, 0, "^headroom must be in \\(0, 1\\]$"),
        (50, -0.5, "^headroom must be in \\(0, 1\\]$"),
        (50, 1.01, "^headroom must be in \\(0, 1\\]$"),
    ],
)
def test_a_rate_or_headroom_out_of_range_is_refused(per_second: float, headroom: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimiter(per_second, headroom=headroom)


def test_the_smallest_valid_rate_and_the_whole_budget_are_accepted() -> None:
    clock = Clock()
    limiter = RateLimiter(0.001, headroom=1.0, clock=clock)
    assert [limiter.reserve("k"), limiter.reserve("k")] == pytest.approx([0, 1000])


async def test_below_one_request_per_second_the_window_holds_one_dispatch() -> None:
    # given a lane of one request every 2 s, which has just sent one
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    limiter = RateLimiter(0.5, headroom=1.0, clock=clock, sleep=sleep)
    await limiter.acquire("k")
    # then the next dispatch must wait for its slot 2 s later, and the window is full for 1 s meanwhile
    assert limiter.window_wait("k") == 1.0
    clock.now += 0.25
    assert limiter.window_wait("k") == 0.75
    await limiter.acquire("k")
    assert slept == [1.75]
    assert limiter.window_wait("k") == 1.0


def test_the_window_frees_exactly_one_second_after_the_oldest_dispatch() -> None:
    # given a 2/s lane whose window holds 2 dispatches, 0.5 s apart
    clock = Clock()
    limiter = RateLimiter(2, headroom=1.0, clock=clock)
    assert limiter.window_wait("unknown lane") == 0
    limiter.record_dispatch("k")
    assert limiter.window_wait("k") == 0  # one of two: room left
    clock.now += 0.5
    limiter.record_dispatch("k")
    # then a third waits until the first is 1 s old, and not a moment longer
    assert limiter.window_wait("k") == 0.5
    clock.now += 0.5
    assert limiter.window_wait("k") == 0
    clock.now += 0.25
    assert limiter.window_wait("k") == 0
    # and after a third dispatch only the last two count
    limiter.record_dispatch("k")
    assert limiter.window_wait("k") == 0.25


async def test_back_to_back_requests_each_sleep_until_their_slot() -> None:
    # given a 10/s lane (at the whole budget) and a sleep that lets the clock run
    clock = Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    limiter = RateLimiter(10, headroom=1.0, clock=clock, sleep=sleep)
    # when three requests go one after the other
    for _ in range(3):
        await limiter.acquire("k")
    # then the first goes at once and each of the others sleeps 0.1 s, however short the wait
    assert slept == pytest.approx([0.1, 0.1])
    assert clock.now == pytest.approx(1000.2)
