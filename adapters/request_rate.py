"""How many requests one key (a merchant, a client address) made within the last minute, and the cap on them.

Built on the `limits` library's moving window (`MovingWindowRateLimiter`): a request is admitted when fewer than
`per_minute` requests of its key were admitted within the 60 seconds before it, exactly (no fixed windows that let
twice the cap through across a boundary, nor the sliding-window counter's estimate, which admits a request more
or less depending on where the minute's boundary falls). Refused requests are not counted.

Where the counts live: in this process's memory (`limits`' MemoryStorage) without Redis, the embedded default; in
Redis when the deployment has one (SHOPBRIDGE_BROKER_URL), so that every API process draws on one budget per key
(`limits`' RedisStorage over redis-py's asyncio client, which Shopbridge already uses; a few connections per
process, as `adapters.tiktok.shared_ratelimit`). If Redis cannot answer (within `REDIS_TIMEOUT_SECONDS`, a free
connection included), the process counts alone for `LOCAL_AFTER_FAILURE_SECONDS`, then asks Redis again (one
WARNING line when it starts, one INFO line when Redis answers again): requests are still capped, per process,
rather than every merchant refused, or none capped, because Redis is down; and a Redis that hangs holds up one
request's admission for at most a few seconds per interval, not every request for its timeout. The WARNING tells
the two causes apart: Redis failing (refused, dropped, no answer in time) names the error; no free connection
within the timeout names the busy pool, since Redis may well be up: a burst on a loaded process (50 requests at
once on a 2-vCPU host at load 20, tryout70) keeps its admissions from finishing, so their connections stay taken.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger(__name__)

CONNECTIONS = 8  # per process: each admission is one short script round trip, a few connections carry thousands
REDIS_TIMEOUT_SECONDS = 2.0  # to get a connection, to connect and for each answer; past it the process counts alone
LOCAL_AFTER_FAILURE_SECONDS = 10.0  # how long a process counts alone after Redis failed it, before asking again
KEY_PREFIX = "shopbridge:request-rate"


class RequestRate:
    """`await rate.admit(key, cost=1)`: None when the request is admitted (and counted `cost` times), else the whole
    seconds (at least 1) until `key` may send its next one, for a `Retry-After` header (until the oldest of its
    counted requests is a minute old: a cost above 1 may need longer). At most `per_minute` (1 or more) units of one
    key are admitted within any 60 seconds; a request of `cost` units is admitted whole or not at all, and a cost
    above `per_minute` counts as `per_minute` (admitted only once the key's whole minute is free, never refused for
    ever). `redis_url` (redis://, rediss://, unix://, as
    SHOPBRIDGE_BROKER_URL): the counts are shared through that Redis; None: this process's memory. `now`: the
    clock `limits` counts with (Unix seconds), used only to turn its reset time into a wait; `monotonic` (seconds):
    when to ask Redis again after a failure."""

    def __init__(
        self,
        per_minute: int,
        redis_url: str | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be 1 or more")
        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute)
        self._now = now
        self._monotonic = monotonic
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._pool: BlockingConnectionPool | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if redis_url is not None:
            # Built here, connected on first use (on the serving event loop): nothing connects at start-up.
            self._pool = BlockingConnectionPool.from_url(
                redis_url,
                max_connections=CONNECTIONS,
                timeout=REDIS_TIMEOUT_SECONDS,  # 8 connections busy that long: Redis is not keeping up
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                retry_on_error=[RedisConnectionError],  # a connection Redis closed while pooled (a restart)
            )
            storage = RedisStorage(
                "async+redis://",  # the pool says where: a URL of any scheme SHOPBRIDGE_BROKER_URL accepts
                implementation="redispy",
                wrap_exceptions=True,  # every Redis failure is a StorageError
                key_prefix=KEY_PREFIX,
                # documented (`:param connection_pool:`), though `**options` is annotated as scalars only
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._shared = MovingWindowRateLimiter(storage)
        self._degraded = False
        self._local_until = 0.0  # monotonic seconds: until then, after a Redis failure, count in this process

    async def admit(self, key: str, cost: int = 1) -> int | None:
        cost = min(max(cost, 1), self.per_minute)
        if self._shared is None or (self._degraded and self._monotonic() < self._local_until):
            return await self._admit(self._local, key, cost)
        try:
            wait = await self._admit(self._shared, key, cost)
        except StorageError as exc:
            if not self._degraded:
                if _no_free_connection(exc.storage_error):
                    log.warning(
                        "request rate limit: no free Redis connection within %g s (all %d of this process in use: "
                        "the process is too busy to finish its admissions, or Redis answers slowly), counting "
                        "requests in this process only until one is free",
                        REDIS_TIMEOUT_SECONDS,
                        CONNECTIONS,
                    )
                else:
                    log.warning(
                        "request rate limit: Redis unavailable (%s), counting requests in this process only until "
                        "it answers again",
                        type(exc.storage_error).__name__,
                    )
                self._degraded = True
            self._local_until = self._monotonic() + LOCAL_AFTER_FAILURE_SECONDS
            return await self._admit(self._local, key, cost)
        if self._degraded:
            log.info("request rate limit: Redis answers again, requests are counted across processes")
            self._degraded = False
        return wait

    async def _admit(self, limiter: MovingWindowRateLimiter, key: str, cost: int) -> int | None:
        if await limiter.hit(self._item, key, cost=cost):
            return None
        stats = await limiter.get_window_stats(self._item, key)
        return max(1, math.ceil(stats.reset_time - self._now()))

    async def aclose(self) -> None:
        """Disconnect from Redis (nothing without it)."""
        if self._pool is not None:
            await self._pool.aclose()


def _no_free_connection(error: BaseException) -> bool:
    """Whether redis-py's `BlockingConnectionPool` found no free connection within its timeout: its
    `ConnectionError("No connection available.")` is raised from asyncio's timeout, where Redis refusing or dropping a
    connection is a `ConnectionError` from an `OSError` (and a slow answer redis-py's own `TimeoutError`)."""
    return isinstance(error, RedisConnectionError) and isinstance(error.__cause__, TimeoutError)
