"""`OutageWindow`: after a dependency failed, callers skip it for a short while instead of each paying its timeout.

A Redis that accepts connections but never answers (a hung server, a network that drops packets) costs each call the
client's timeout (redis-py: 5 s). Where the work is kept elsewhere and sent again later (a task stays QUEUED in the
database for the sweep), paying it on every call only slows every request down for nothing:

    window = OutageWindow(seconds=15.0)
    if (cause := window.skipping()) is not None:    # within 15 s of a failure: do not try, say why
        raise Unavailable(f"{cause} (not tried again ...)")
    try:
        call()
    except Timeout as exc:
        window.open(describe(exc))                   # the next 15 s of calls skip it
        raise
    window.close()                                   # it answered: the outage, if any, is over

After the window, the next call tries again (the dependency may be back); calls that start together then may each
try once. A circuit breaker opened by one failure. Libraries would do it: pybreaker (`fail_max=1`, `reset_timeout`,
its synchronous `call` around the threaded send; its async path needs Tornado) or `circuitbreaker` (fabfuel).
Not taken: a dependency for a rule this size, which must also open on a timeout only and name that failure in the
error of each call it skips.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class OutageWindow:
    """Thread-safe. `seconds`: how long after a failure calls skip the dependency; `clock`: monotonic seconds."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._cause = ""

    def skipping(self) -> str | None:
        """The last failure's cause while within `seconds` of it (skip the call); None: try the dependency."""
        with self._lock:
            if self._failed_at is None or self._clock() - self._failed_at >= self.seconds:
                return None
            return self._cause

    def open(self, cause: str) -> None:
        """The dependency just failed (`cause`, one short line): skip it for the next `seconds`."""
        with self._lock:
            self._failed_at, self._cause = self._clock(), cause

    def close(self) -> None:
        """The dependency answered."""
        with self._lock:
            self._failed_at = None
