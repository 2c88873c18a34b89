"""`ThrottledLog`: at most one log line per interval and reason, telling how many like it were not logged since.

A refusal anyone can provoke without a secret (a forged webhook signature, a body trickled in too slowly) logged
one WARNING line per request: a flood of them flooded the log, and the lines an operator needs went under. Each
request is still counted in its metric (`shopbridge_webhooks_received_total{outcome}`); the log says the first one
of an interval in full, and the next line logged after the interval says how many were left out in between.

The standard library has no such filter (`logging` dedups nothing); a dict of a few fixed reasons and a lock is all
it takes, so no library is brought in. Keys are a caller's fixed reasons, never request data: the dict stays small.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Reason:
    logged_at: float  # monotonic seconds of the last line logged for the reason
    suppressed: int = 0  # lines left out since


class ThrottledLog:
    """`warning(reason, message, *args)`: logs `message % args` at WARNING on `logger` unless a line of the same
    `reason` was logged less than `interval_seconds` ago; then it only counts it (`info`, `log(level, ...)`: the same
    at another level; the interval is the reason's, whatever the level). The next line logged for the reason
    ends `; N more like it not logged in the last S s`. `clock`: monotonic seconds (a test's own)."""

    def __init__(
        self, logger: logging.Logger, interval_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._reasons: dict[str, _Reason] = {}
        self._lock = threading.Lock()

    def warning(self, reason: str, message: str, *args: object) -> None:
        self.log(logging.WARNING, reason, message, *args)

    def info(self, reason: str, message: str, *args: object) -> None:
        """As `warning`, at INFO: a client's mistake that anyone can repeat (a WebSocket refused for a bad token)."""
        self.log(logging.INFO, reason, message, *args)

    def log(self, level: int, reason: str, message: str, *args: object) -> None:
        admitted = self.admit(reason, message, args)
        if admitted is not None:
            self.logger.log(level, admitted[0], *admitted[1])

    def admit(self, reason: str, message: str, args: tuple[object, ...]) -> tuple[str, tuple[object, ...]] | None:
        """The decision alone, for a line logged elsewhere (a `logging.Filter` on a library's logger): None when a
        line of `reason` was let through less than `interval_seconds` ago (then counted), else `(message, args)`
        to log, ending with how many were left out since the last one."""
        now = self._clock()
        with self._lock:
            last = self._reasons.get(reason)
            if last is not None and now - last.logged_at < self.interval_seconds:
                last.suppressed += 1
                return None
            self._reasons[reason] = _Reason(logged_at=now)
        if last is not None and last.suppressed:
            message += "; %d more like it not logged in the last %.0f s"
            args = (*args, last.suppressed, now - last.logged_at)
        return message, args
