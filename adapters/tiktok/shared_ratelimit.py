"""One request budget per (app, shop) shared by every process: slots booked atomically in Redis.

With several worker processes (and the API), each process's own `RateLimiter` would allow the full 50/s, so two
imports of one shop in two processes would together exceed TikTok's limit and draw 429s. This limiter books
slots `1/rate` apart in one Redis key per lane, with a Lua script that reads Redis's own clock, so machines
with skewed clocks still agree. If Redis cannot be reached, it falls back to the in-process limiter rather
than stopping every import: pacing degrades, correctness does not (429s are retried).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.tiktok.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# Returns the microseconds to wait for the booked slot. TIME makes the script non-deterministic, which Redis
# allows since 5.0 (scripts replicate their effects).
_BOOK_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local booked = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, booked)
redis.call('SET', KEYS[1], string.format('%.0f', slot + tonumber(ARGV[1])), 'PX', ARGV[2])
return string.format('%.0f', slot - now)
"""


class RedisRateLimiter:
    """`await limiter.acquire(key)` before each request, like `RateLimiter`, but one budget across processes."""

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
            wait_us = int(await self._script(keys=[lane], args=[self._interval_us, 60_000]))
        except (RedisError, OSError) as exc:
            if not self._degraded:
                log.warning("shared rate limit unavailable, pacing in process only: %s", type(exc).__name__)
                self._degraded = True
            await self._fallback.acquire(key)
            return
        self._degraded = False
        if wait_us > 0:
            await self._sleep(wait_us / 1_000_000)

    async def aclose(self) -> None:
        await self._redis.aclose()
