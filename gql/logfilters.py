"""Filters on uvicorn's loggers.

- One log line per TikTok call: in the embedded default the sandbox is served by this very process, so each call
  would appear twice, as httpx's request line and as uvicorn's access line. httpx's line (redacted) is the one kept,
  since it is also the only one in production.
- uvicorn's ERROR "ASGI callable returned without completing response." for an answer the embedded sandbox's `drop`
  fault cut short on purpose: one INFO line instead (`SandboxDropLines`). An operator alerting on ERROR was paged for
  a simulated fault (try-out livesync52); the same line for any other app's answer stays ERROR.
- uvicorn's WARNING for a request it cannot parse ("Invalid HTTP request received.", "Unsupported upgrade
  request."): one line a minute per message, the next saying how many it left out (`UnparsableRequestLines`). Anyone
  can send garbage to the port as fast as they like, with no token, and each connection was a WARNING line.
- Each WebSocket's opening lines, uvicorn's `… "WebSocket /graphql" [accepted]` and the websockets library's
  "connection open" (and its "connection closed", logged only when it reads the peer's EOF, which uvicorn's protocol
  seldom lets it): DEBUG lines (`WebSocketLines`), shown at SHOPBRIDGE_LOG_LEVEL=DEBUG. At INFO they were 65 % of the
  API log's bytes in a soak (soak53: 9,751 sockets in 35 minutes), saying nothing an operator acts on; a socket
  refused (a bad token, too many sockets) still logs our own line (gql/websocket.py). So does a handshake the app
  refuses before accepting it (a foreign `Origin`: 403): the websockets library's INFO "connection rejected (403
  Forbidden)" for it is a DEBUG line too, and Strawberry's WARNING on `strawberry.ws` for a foreign origin is
  dropped (`StrawberryOriginLines`), the view logging one INFO line a minute naming SHOPBRIDGE_CORS_ORIGINS
  instead (gql/view.py `is_websocket_origin_allowed`). Anyone can send a foreign `Origin`, with no token: 100
  handshakes wrote 200 lines, a WARNING among each pair (try-out newcomer54).
- uvicorn's ERROR "Exception in ASGI application" with the traceback of a `CancelledError`, for a request a stop
  cancelled past `timeout_graceful_shutdown` (uvicorn's `run_asgi` logs any exception the app raises): one WARNING
  line naming the request and where it waited, no traceback (`CancelledAtStopLines`); only for uvicorn's own cancel
  (its message in the CancelledError's args), any other CancelledError keeps its ERROR and traceback (review72b F4).
  uvicorn's own ERROR "Cancel N running task(s)" already says the stop cut requests; the traceback (40 lines of
  middlewares ending in the CancelledError `adapters.db.sessions` raises once the statement ended) said nothing more
  (serve72).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from types import TracebackType

from adapters.config import SANDBOX_MOUNT
from adapters.db.outage import unavailable
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


# uvicorn's line (uvicorn.protocols.http: h11_impl and httptools_impl, `run_asgi`) for an app that returned mid-answer.
INCOMPLETE_RESPONSE = "ASGI callable returned without completing response."


class SandboxDropLines(logging.Filter):
    """uvicorn's ERROR `INCOMPLETE_RESPONSE` for a request the sandbox's `drop` fault cut on purpose
    (`sandbox.gateway.DROPPED_ON_PURPOSE`, set in that request's task) becomes an INFO line saying so; the same line
    for any other request passes as uvicorn logged it, ERROR (an app's bug)."""

    def __init__(self) -> None:
        super().__init__()
        # Imported here, in the embedded default only (install_sandbox_drop_filter): the sandbox's modules are ~0.1 s
        # of CPU at every start of a process that serves without it (imports71)
        from sandbox.gateway import DROPPED_ON_PURPOSE

        self._dropped_on_purpose = DROPPED_ON_PURPOSE

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == INCOMPLETE_RESPONSE and self._dropped_on_purpose.get():
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg = "the sandbox's drop fault closed a connection mid-answer, on purpose (%s)"
            record.args = (INCOMPLETE_RESPONSE,)
        return True


def install_sandbox_drop_filter() -> None:
    """Attach `SandboxDropLines` to uvicorn's error logger once per process (idempotent)."""
    target = logging.getLogger("uvicorn.error")
    if not any(isinstance(installed, SandboxDropLines) for installed in target.filters):
        target.addFilter(SandboxDropLines())


# uvicorn's line when the app accepts a WebSocket (uvicorn.protocols.websockets.*_impl, `asgi_send`), and the
# websockets library's per-connection lines (websockets.server.ServerProtocol, websockets.protocol.Protocol).
WEBSOCKET_ACCEPTED = '%s - "WebSocket %s" [accepted]'
WEBSOCKET_LIBRARY_LINES = frozenset({"connection open", "connection closed", "connection rejected (%d %s)"})


class WebSocketLines(logging.Filter):
    """A WebSocket's INFO lines of opening and closing (module docstring) made DEBUG lines: logged only when the
    root logger (SHOPBRIDGE_LOG_LEVEL) takes DEBUG; every other line passes as logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not (
            record.msg == WEBSOCKET_ACCEPTED or record.msg in WEBSOCKET_LIBRARY_LINES
        ):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_WEBSOCKET_LINES = WebSocketLines()


def install_websocket_lines_filter() -> None:
    """Attach `WebSocketLines` to uvicorn's error logger and the websockets library's server logger (gql.serving's
    connections log there) once per process (idempotent)."""
    for name in ("uvicorn.error", "websockets.server"):
        target = logging.getLogger(name)
        if _WEBSOCKET_LINES not in target.filters:
            target.addFilter(_WEBSOCKET_LINES)


# Strawberry's line for a handshake from an origin not in `allowed_origins` (strawberry.http.async_base_view,
# `_check_websocket_origin`, logger `strawberry.ws`): its start, the rest naming the origin and host.
STRAWBERRY_ORIGIN_LINE = "Rejected WebSocket connection from origin "


class StrawberryOriginLines(logging.Filter):
    """Drops Strawberry's WARNING for a WebSocket refused for its origin (`STRAWBERRY_ORIGIN_LINE`); the view logs
    its own line for it (module docstring). Every other line passes as logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(STRAWBERRY_ORIGIN_LINE))


_STRAWBERRY_ORIGIN = StrawberryOriginLines()


def install_strawberry_origin_filter() -> None:
    """Attach `StrawberryOriginLines` to Strawberry's `strawberry.ws` logger once per process (idempotent)."""
    target = logging.getLogger("strawberry.ws")
    if _STRAWBERRY_ORIGIN not in target.filters:
        target.addFilter(_STRAWBERRY_ORIGIN)


# uvicorn's line for an exception the app raised (uvicorn.protocols.http: h11_impl and httptools_impl, `run_asgi`).
ASGI_EXCEPTION = "Exception in ASGI application\n"
# uvicorn's message as it cancels the request tasks outlasting `timeout_graceful_shutdown` (uvicorn/server.py,
# `Server._wait_tasks_to_complete`, `t.cancel(msg=...)`: uvicorn 0.54); the CancelledError raised in the task carries it
STOP_CANCEL_MESSAGE = "Task cancelled, timeout graceful shutdown exceeded"
OUR_PACKAGES = frozenset({"domain", "adapters", "gql", "workers", "sandbox"})  # the project's top-level packages
CANCELLED_AT_STOP = (
    "a request was cancelled by the stop: it outlasted the time given to requests in flight (%s, waiting at %s)"
)


class CancelledAtStopLines(logging.Filter):
    """uvicorn's ERROR `ASGI_EXCEPTION` for a request the stop cancelled, past `timeout_graceful_shutdown`, becomes
    one WARNING line, `CANCELLED_AT_STOP`, without the traceback: the exception a `CancelledError` whose args are
    uvicorn's `STOP_CANCEL_MESSAGE` (as the request's own code re-raises it: adapters.db.sessions), in a task being
    cancelled (`Task.cancelling()`). The line names the request (`METHOD path`, from the ASGI scope of the outermost
    frame that has one; "?" if none) and where it waited (`file:line`: the innermost frame of ours, then the innermost
    of all if a library's, `_request_and_innermost_frame`). Any other exception, a
    `CancelledError` without uvicorn's message among them (a cancelled shared future, a cancellation swallowed before
    a distinct bug: review72b F4), and a stop's `CancelledError` raised from a failure (`adapters.cancellation.
    cancel_kept`: a library call that lost the cancellation, then raised; rev73a F4), pass as uvicorn logged them,
    ERROR and traceback: the failure is not hidden behind the stop's line. A cause that is the database going away
    (`adapters.db.outage.unavailable`: PostgreSQL stopped with the app, 57P01) keeps the stop's WARNING: an outage is
    never a traceback (rev73b F4)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != ASGI_EXCEPTION or not record.exc_info or record.exc_info[0] is not asyncio.CancelledError:
            return True
        error = record.exc_info[1]
        if error is None or error.args != (STOP_CANCEL_MESSAGE,):
            return True
        cause = error.__cause__
        if cause is not None and not isinstance(cause, asyncio.CancelledError) and not unavailable(cause):
            return True
        try:
            task = asyncio.current_task()  # uvicorn logs it in the request's own task
        except RuntimeError:  # no running loop: not a request's line
            return True
        if task is None or not task.cancelling():
            return True
        request, waited_at = _request_and_innermost_frame(error.__traceback__)
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.msg, record.args, record.exc_info, record.exc_text = CANCELLED_AT_STOP, (request, waited_at), None, None
        return True


def _request_and_innermost_frame(trace: TracebackType | None) -> tuple[str, str]:
    """("METHOD path" of the first frame whose local `scope` is an ASGI HTTP or WebSocket scope, else "?"; where it
    waited: the innermost frame of our own code (`OUR_PACKAGES`) as "file:line", followed by " in file:line" of the
    innermost frame of all when that one is a library's (asyncpg, SQLAlchemy, asyncio), or the innermost frame alone
    when none is ours; files relative to site-packages or the working directory where under them). The innermost
    frame alone named a library's line for most waits (a database call: fix72b), not which of ours waited on it."""
    request, innermost, ours = "?", "?", "?"
    while trace is not None:
        frame = trace.tb_frame
        scope = frame.f_locals.get("scope")
        if request == "?" and isinstance(scope, dict) and scope.get("type") in ("http", "websocket"):
            method = scope.get("method", "WebSocket")
            request = f"{method} {scope.get('path', '?')}"
        innermost = f"{_short(frame.f_code.co_filename)}:{trace.tb_lineno}"
        if str(frame.f_globals.get("__name__", "")).partition(".")[0] in OUR_PACKAGES:
            ours = innermost
        trace = trace.tb_next
    if ours == "?" or ours == innermost:
        return request, innermost
    return request, f"{ours} in {innermost}"


def _short(filename: str) -> str:
    """`filename` relative to site-packages, the project's root (our packages' parent, whatever the working
    directory: a `serve --workers` run elsewhere) or the working directory, where under one of them."""
    if "site-packages/" in filename:
        return filename.rsplit("site-packages/", 1)[1]
    for base in (_PROJECT_ROOT, os.getcwd() + os.sep):
        if filename.startswith(base):
            return filename.removeprefix(base)
    return filename


_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


_CANCELLED_AT_STOP = CancelledAtStopLines()


def install_cancelled_at_stop_filter() -> None:
    """Attach `CancelledAtStopLines` to uvicorn's error logger once per process (idempotent)."""
    target = logging.getLogger("uvicorn.error")
    if _CANCELLED_AT_STOP not in target.filters:
        target.addFilter(_CANCELLED_AT_STOP)
