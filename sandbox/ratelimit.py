"""Requests-per-second limiting per key (TikTok: per API, app and shop) with token buckets on a monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable


class RateLimiter:
    """A token bucket per key holding up to one second of budget, refilled continuously; None or 0 = unlimited.

    A bucket (rather than a strict sliding window) lets a client that paces itself at the same rate, with the
    same one-second burst, use the whole budget without a 429.
    """

    def __init__(self, per_second: float | None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._buckets: dict[Hashable, tuple[float, float]] = {}
        self.per_second: float | None = None
        self.set_rate(per_second)

    def set_rate(self, per_second: float | None) -> None:
        self.per_second = per_second if per_second else None
        self._buckets.clear()

    def allow(self, key: Hashable) -> bool:
        """Take one token from the key's bucket; False when it is empty."""
        rate = self.per_second
        if rate is None:
            return True
        capacity = max(1.0, rate)
        now = self.monotonic()
        tokens, last = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True
