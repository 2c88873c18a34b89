"""Per (app, shop) request pacing: slots `1/rate` apart, and never more than `limit` dispatches in any 1 s window.

TikTok allows 50 requests/s per app and shop (section 11) and answers 429 beyond it. Two mechanisms:

- **Slot scheduling.** Each `acquire` reserves the next free slot (`next = max(now, next) + 1/rate`) synchronously
  and sleeps until it, so a thousand waiting coroutines sleep concurrently instead of queueing on a lock: the
  budget is used in full, at an even pace. An idle lane starts at once (no warm-up).
- **A sliding-window guard** at dispatch time: the times of the last `limit` dispatches are kept, and a coroutine
  that wakes late (a busy event loop bunches wake-ups) waits until the window really has room.

Each dispatch is logged at DEBUG on this module's logger as `dispatched at <seconds> s on the limiter's clock`
(the exact float), so that the guard can be checked: no dispatch comes within 1 s of the `limit`-th before it.
When a request then *arrives* is not the limiter's to promise (a starved CPU delays and bunches arrivals).

`rate` is `headroom` x the limit (default 0.95). The server counts by *arrival*, and arrivals jitter by network
and connection set-up; spacing at 95% leaves ~50 ms of slack per second before a 21st request can share a window
with 20 others, and costs 5% of the budget. Set `headroom=1.0` to spend the whole budget when jitter is nil.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


class Limiter(Protocol):
    """Paces requests per lane (app key, shop): `await acquire(lane)` before each one."""

    async def acquire(self, key: Hashable) -> None: ...


_PRUNE_ABOVE = 1024  # lanes kept before idle ones are dropped: one per shop seen by this process


@dataclass(slots=True)
class _Lane:
    next_slot: float
    dispatched: deque[float] = field(default_factory=deque)


class RateLimiter:
    """`await limiter.acquire(key)` before each request; keys are independent budgets (app key, shop cipher)."""

    def __init__(
        self,
        per_second: float,
        *,
        headroom: float = 0.95,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        self.window = 1.0  # seconds: TikTok counts requests per second
        self.limit = max(1, math.floor(per_second))
        self.interval = 1.0 / (per_second * headroom)
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[Hashable, _Lane] = {}

    def reserve(self, key: Hashable) -> float:
        """Book the next slot of `key`'s lane; the seconds to wait until it (0 when the lane is idle)."""
        now = self._clock()
        lane = self._lanes.get(key)
        if lane is None:
            if len(self._lanes) >= _PRUNE_ABOVE:
                self._prune(now)
            lane = self._lanes[key] = _Lane(next_slot=now)
        slot = max(now, lane.next_slot)
        lane.next_slot = slot + self.interval
        return slot - now

    def window_wait(self, key: Hashable) -> float:
        """Seconds until one more dispatch keeps `key`'s last window within the limit (0: go now)."""
        lane = self._lanes.get(key)
        if lane is None or len(lane.dispatched) < self.limit:
            return 0.0
        return max(0.0, lane.dispatched[0] + self.window - self._clock())

    def record_dispatch(self, key: Hashable) -> None:
        lane = self._lanes.setdefault(key, _Lane(next_slot=self._clock()))
        lane.dispatched.append(self._clock())
        while len(lane.dispatched) > self.limit:
            lane.dispatched.popleft()

    async def acquire(self, key: Hashable) -> None:
        delay = self.reserve(key)
        if delay > 0:
            await self._sleep(delay)
        # Check and record with no await in between: the guard is exact within this event loop.
        while (extra := self.window_wait(key)) > 0:
            await self._sleep(extra)
        self.record_dispatch(key)
        log.debug("dispatched at %r s on the limiter's clock", self._lanes[key].dispatched[-1])

    def _prune(self, now: float) -> None:
        idle = [
            key
            for key, lane in self._lanes.items()
            if lane.next_slot < now and (not lane.dispatched or lane.dispatched[-1] < now - self.window)
        ]
        for key in idle:
            del self._lanes[key]
