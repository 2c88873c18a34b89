"""`RequestRate` over a real Redis: API processes share one budget per merchant, and without Redis each counts alone.

Each limiter stands for one API process (its own connections); the cap is counted, not timed: nothing waits."""

from __future__ import annotations

import logging

import pytest

from adapters.request_rate import CONNECTIONS, LOCAL_AFTER_FAILURE_SECONDS, RequestRate
from tests.fixtures.processes import stop_group

pytestmark = pytest.mark.redis


async def test_two_processes_share_one_budget_per_merchant_through_redis(redis_server) -> None:
    # given two limiters of 3 requests a minute on one Redis, as in two API processes
    url = redis_server.url.rsplit("/", 1)[0] + "/5"  # a database of this test's own
    first, second = RequestRate(3, url), RequestRate(3, url)
    try:
        # when merchant m1 sends 2 requests to the first process and 1 to the second
        assert [await first.admit("merchant:m1"), await first.admit("merchant:m1")] == [None, None]
        assert await second.admit("merchant:m1") is None
        # then its 4th is refused by either, with a wait within the minute
        for limiter in (first, second):
            wait = await limiter.admit("merchant:m1")
            assert wait is not None and 1 <= wait <= 60, wait
        # while another merchant has its own budget
        assert await second.admit("merchant:m2") is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_two_processes_without_redis_count_alone() -> None:
    # given two limiters of 3 requests a minute in memory, as in two processes of the embedded default
    first, second = RequestRate(3), RequestRate(3)
    # when merchant m1 sends 3 requests to the first process
    assert [await first.admit("merchant:m1") for _ in range(3)] == [None, None, None]
    # then its 4th is refused there, but the second process has counted none of them
    assert await first.admit("merchant:m1") is not None
    assert await second.admit("merchant:m1") is None


async def test_while_redis_is_down_the_process_counts_alone_then_asks_redis_again(
    own_redis, caplog: pytest.LogCaptureFixture
) -> None:
    # given a limiter of 2 a minute on a Redis that then goes down, its clock for when to ask Redis again our own
    caplog.set_level(logging.INFO, logger="adapters.request_rate")
    clock = [0.0]
    rate = RequestRate(2, own_redis.url, monotonic=lambda: clock[0])
    try:
        assert await rate.admit("merchant:m1") is None  # counted in Redis
        stop_group(own_redis.process)
        # when the merchant sends 3 requests while Redis is down
        down = [await rate.admit("merchant:m1") for _ in range(3)]
        # then they are capped in this process, not all refused nor all let through (Redis's count is not known)
        assert down[:2] == [None, None] and down[2] is not None and 1 <= down[2] <= 60, down
        # and once Redis is back, the process keeps counting alone until its interval has passed
        own_redis.restart()  # empty: Redis keeps no counts across a restart without persistence
        assert await rate.admit("merchant:m1") is not None
        clock[0] += LOCAL_AFTER_FAILURE_SECONDS
        # then asks Redis again, which counts afresh: 2 more, not the third
        again = [await rate.admit("merchant:m1") for _ in range(3)]
        assert again[:2] == [None, None] and again[2] is not None, again
    finally:
        await rate.aclose()
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [
        (
            "WARNING",
            "request rate limit: Redis unavailable (ConnectionError), counting requests in this process only until it "
            "answers again",
        ),
        ("INFO", "request rate limit: Redis answers again, requests are counted across processes"),
    ]


async def test_a_process_whose_redis_connections_are_all_busy_says_so_not_that_redis_is_down(
    redis_server, caplog: pytest.LogCaptureFixture
) -> None:
    # given a limiter whose pooled connections are all in use, Redis answering: what a burst of requests on a busy
    # event loop does (tryout70: 50 at once on a loaded API process logged "Redis unavailable" with Redis up)
    caplog.set_level(logging.INFO, logger="adapters.request_rate")
    rate = RequestRate(3, redis_server.url.rsplit("/", 1)[0] + "/6")
    pool = rate._pool
    assert pool is not None
    taken = [await pool.get_connection() for _ in range(CONNECTIONS)]
    try:
        # when a request waits for a connection past the timeout
        admitted = await rate.admit("merchant:m1")
    finally:
        for connection in taken:
            await pool.release(connection)
        await rate.aclose()
    # then it is counted in this process, and the one WARNING names the busy connections, not a Redis outage
    assert admitted is None
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said == [
        (
            "WARNING",
            f"request rate limit: no free Redis connection within 2 s (all {CONNECTIONS} of this process in use: "
            "the process is too busy to finish its admissions, or Redis answers slowly), counting requests in this "
            "process only until one is free",
        )
    ]
