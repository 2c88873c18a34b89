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
import time
from collections.abc import Callable

from adapters.config import SANDBOX_MOUNT
from gql.throttled_log import ThrottledLog

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
    rest; the next one let through ends `; N more like it not logged in the last S s` (`ThrottledLog.admit`, the
    message its reason)."""

    def __init__(self, interval_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._throttle = ThrottledLog(logging.getLogger("uvicorn.error"), interval_seconds, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if not isinstance(message, str) or message not in UNPARSABLE_REQUEST_LINES:
            return True
        admitted = self._throttle.admit(message, message, ())
        if admitted is None:
            return False
        record.msg, record.args = admitted
        return True


_UNPARSABLE = UnparsableRequestLines()


def install_unparsable_request_filter() -> None:
    """Attach `UnparsableRequestLines` to uvicorn's error logger once per process (idempotent)."""
    target = logging.getLogger("uvicorn.error")
    if _UNPARSABLE not in target.filters:
        target.addFilter(_UNPARSABLE)
