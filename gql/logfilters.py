"""Filters on uvicorn's loggers.

- One log line per TikTok call: in the embedded default the sandbox is served by this very process, so each call
  would appear twice, as httpx's request line and as uvicorn's access line. httpx's line (redacted) is the one kept,
  since it is also the only one in production.
- uvicorn's WARNING for a request it cannot parse ("Invalid HTTP request received.", "Unsupported upgrade
  request."): one line a minute per message, the next saying how many it left out (`UnparsableRequestLines`). Anyone
  can send garbage to the port as fast as they like, with no token, and each connection was a WARNING line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from adapters.config import SANDBOX_MOUNT

# Pages a browser opens (the consent page) and the control surface are not TikTok calls of ours: keep those.
_KEPT = (f"{SANDBOX_MOUNT}/oauth/", f"{SANDBOX_MOUNT}/_sandbox/")


class EmbeddedSandboxAccessFilter(logging.Filter):
    """Drops uvicorn access lines of TikTok API paths under the embedded sandbox's mount."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) < 3:
            return True
        path = str(args[2])
        return not path.startswith(SANDBOX_MOUNT + "/") or path.startswith(_KEPT)


_FILTER = EmbeddedSandboxAccessFilter()


def install_embedded_sandbox_access_filter() -> None:
    """Attach the filter to uvicorn's access logger once per process (idempotent)."""
    target = logging.getLogger("uvicorn.access")
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)


# uvicorn's own lines for requests its parser refuses (uvicorn.protocols.http: httptools_impl, h11_impl), answered 400.
UNPARSABLE_REQUEST_LINES = frozenset({"Invalid HTTP request received.", "Unsupported upgrade request."})


class UnparsableRequestLines(logging.Filter):
    """Lets the first of each of uvicorn's `UNPARSABLE_REQUEST_LINES` through per `interval_seconds`, dropping the
    rest; the next one let through ends `; N more like it not logged in the last S s` (as `gql.throttled_log`)."""

    def __init__(self, interval_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # message -> (when logged, left out since)
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if not isinstance(message, str) or message not in UNPARSABLE_REQUEST_LINES:
            return True
        now = self._clock()
        with self._lock:
            logged_at, left_out = self._last.get(message, (None, 0))
            if logged_at is not None and now - logged_at < self.interval_seconds:
                self._last[message] = (logged_at, left_out + 1)
                return False
            self._last[message] = (now, 0)
        if logged_at is not None and left_out:
            record.msg = message + "; %d more like it not logged in the last %.0f s"
            record.args = (left_out, now - logged_at)
        return True


_UNPARSABLE = UnparsableRequestLines()


def install_unparsable_request_filter() -> None:
    """Attach `UnparsableRequestLines` to uvicorn's error logger once per process (idempotent)."""
    target = logging.getLogger("uvicorn.error")
    if _UNPARSABLE not in target.filters:
        target.addFilter(_UNPARSABLE)
