"""One request budget per (app, shop) shared by every process: slots booked atomically in Redis.

With several worker processes (and the API), each process's own `RateLimiter` would allow the full 50/s, so two
imports of one shop in two processes would together exceed TikTok's limit and draw 429s. This limiter books
slots `1/rate` apart in one Redis key per lane, with a Lua script that reads Redis's own clock, so machines
with skewed clocks still agree. If Redis cannot be reached, it falls back to the in-process limiter rather
than stopping every import: pacing degrades, correctness does not (429s are retried).

Connect with `limiter_redis(url)`: a few connections, shared by every booking of the process. Each booking is one
short round trip, so a burst of concurrent requests takes turns on them instead of opening one connection each:
with redis-py's default pool, 60 requests of one import opened 60 connections at once and, on a loaded machine
(load 20-30), the last bookings took 4-5 s, past redis-py's 5 s socket timeout, so both processes fell back to
pacing in process and together drew 429s; past 100 concurrent bookings, that pool refuses outright (also a
fallback). The shared pace itself never books two requests into one slot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from adapters.cancellation import cancel_kept
from adapters.tiktok.ratelimit import RateLimiter

log = logging.getLogger(__name__)

LIMITER_CONNECTIONS = 8  # per process: bookings are ~0.1 ms round trips, a few connections carry thousands a second
REDIS_TIMEOUT_SECONDS = 5.0  # to connect, and for each answer: past it, the in-process fallback paces


def limiter_redis(url: str) -> Redis:
    """A Redis client for `RedisRateLimiter`: at most `LIMITER_CONNECTIONS` connections, taken in turn.

    A booking waits for a free connection as long as the bookings ahead of it take (no timeout: a queue of our own
    bookings says nothing about Redis, and a wait timeout fired under load, ~60 bookings behind 4 connections, so
    both processes fell back); each round trip is bounded by `REDIS_TIMEOUT_SECONDS`, past which (or on any other
    Redis error) the limiter paces in process. The cost: a Redis that accepts connections but never answers holds
    a burst of n bookings up to n / `LIMITER_CONNECTIONS` x `REDIS_TIMEOUT_SECONDS` before all have fallen back.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=LIMITER_CONNECTIONS,
        timeout=None,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        # A connection Redis closed while it sat in the pool (a restart) is replaced and the booking sent once more,
        # instead of falling back; a timeout is not retried: it still bounds the round trip.
        retry_on_error=[RedisConnectionError],
    )
    return Redis.from_pool(pool)  # owned: `aclose()` disconnects the pool too


# Returns the booked slot and the time of booking, both in microseconds on Redis's clock (the wait is their
# difference; the slot is logged at DEBUG, so that what was booked can be checked). TIME makes the script
# non-deterministic, which Redis allows since 5.0 (scripts replicate their effects).
_BOOK_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local booked = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, booked)
redis.call('SET', KEYS[1], string.format('%.0f', slot + tonumber(ARGV[1])), 'PX', ARGV[2])
return {string.format('%.0f', slot), string.format('%.0f', now)}
"""


class RedisRateLimiter:
    """`await limiter.acquire(key)` before each request, like `RateLimiter`, but one budget across processes.

    Each booking is logged at DEBUG on this module's logger as `booked lane <key> slot <µs> us (Redis clock),
    <µs> us ahead`: the slots of one lane, from every process, lie on Redis's one timeline `1/(rate x headroom)`
    apart. What the limiter cannot promise is when a request then *arrives* at TikTok: a process stalled past a
    second (a starved CPU) sends the requests that fell due meanwhile at once, which TikTok may answer with 429
    (retried with backoff like any transient error).
    """

    def __init__(
        self,
        redis: Redis,
        per_second: float,
        *,
        headroom: float = 0.95,
        prefix: str = "shopbridge:tiktok-rate:",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (seconds) and `sleep` pace the in-process fallback; Redis's own clock paces the shared lanes."""
        if per_second <= 0 or not 0 < headroom <= 1:
            raise ValueError("per_second must be positive and headroom in (0, 1]")
        self._redis = redis
        self._interval_us = round(1_000_000 / (per_second * headroom))
        self._prefix = prefix
        self._sleep = sleep
        self._script: Any = redis.register_script(_BOOK_SLOT)
        self._fallback = RateLimiter(per_second, headroom=headroom, clock=clock, sleep=sleep)
        self._degraded = False

    async def acquire(self, key: Hashable) -> None:
        lane = self._prefix + hashlib.sha256(repr(key).encode()).hexdigest()[:24]
        try:
            booked = await cancel_kept(self._script(keys=[lane], args=[self._interval_us, 60_000]))
            slot_us, now_us = (int(v) for v in booked)
        except (RedisError, OSError) as exc:
            if not self._degraded:
                log.warning("shared rate limit unavailable, pacing in process only: %s", type(exc).__name__)
                self._degraded = True
            await self._fallback.acquire(key)
            return
        self._degraded = False
        wait_us = slot_us - now_us
        log.debug("booked lane %s slot %d us (Redis clock), %d us ahead", lane, slot_us, wait_us)
        if wait_us > 0:
            await self._sleep(wait_us / 1_000_000)

    async def aclose(self) -> None:
        await self._redis.aclose()
