"""How `shopbridge serve` and `shopbridge demo` run uvicorn in one process: announce once listening, quiesce
before the listener closes.

uvicorn's order at a stop (SIGINT, SIGTERM) is: close the listening socket, wait for the open connections, then
run the app's lifespan shutdown. In the embedded default the worker pool and the sandbox's webhook deliveries
live in this very process and call this very server (the sandbox is mounted at /sandbox): stopped only in the
lifespan, they would keep calling a closed port for seconds, each call a "connection failed" retry line. So
`Server.shutdown` first awaits the app's `quiesce` (`app.state.quiesce`, set by the lifespan: stop the embedded
worker pool, its running imports cancelled and checkpointed, then the sandbox's deliveries), while the server still
answers, and only then lets uvicorn close the listener. `on_listening` runs once the socket accepts connections
(the demo prints its banner then, not before).

SIGTERM is a request to stop, and a stop done gracefully exits 0, in both ways of serving. uvicorn's `Server`
catches SIGTERM while it serves, shuts down, then restores the handler it found and raises the signal again "to
trigger the expected behaviour": with Python's default handler that killed the process after its clean shutdown
(status 143, -15 to a parent), while `--workers N`, whose parent is uvicorn's supervisor that only queues signals,
exited 0. The `shopbridge` command records SIGTERM from its first lines (`adapters.interrupts.record_sigterm`;
`stop_on_sigterm()` here does the same for a server started otherwise): the signal uvicorn raises again lands there,
and one that arrives before a server or supervisor took over is acted on as soon as one has (`Server.startup`,
`gql.supervisor.serve_workers`), never lost.

With `--workers N`, uvicorn's supervisor of the worker processes is `gql.supervisor`'s, and each worker process
serves with this `Server` too (`gql.supervisor.WorkerProcess`), its app found once uvicorn loaded it from the factory.

The protocols uvicorn speaks for every way Shopbridge is served (`protocol_options`): the HTTP one, with bounds on a
request's head and body before the app sees it, is `gql.http_protocol`; the WebSocket one (`WebSocketProtocol`) is
here, its shutdown tolerating a peer's close in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from socket import socket
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from adapters import interrupts
from gql.http_protocol import http_protocol

log = logging.getLogger("shopbridge")
FRAMES_LOG = logging.getLogger("websockets.server")  # the library's own name; adapters.logs.DATA_LOGGERS

WS_PING_SECONDS = 20
FORCED_LINE = "interrupted again: not waiting for open connections; closing them and shutting down"
CANCELLED_END_SECONDS = 30.0  # a request cancelled at a stop ends within its database call (adapters.db.sessions)
CANCELLED_WAIT_LINE = (
    "waiting for %d cancelled request(s) to end their database call (at most %g s) before the application's shutdown"
)
stop_on_sigterm = interrupts.record_sigterm  # record SIGTERM instead of dying of it (module docstring)
terminated = interrupts.terminated  # SIGTERM was recorded: this process was asked to stop


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol (its `ws="auto"` choice), whose shutdown tolerates a peer's close.

    A connection whose peer sent a close frame is answered and its transport closed at once (`handle_close`), but it
    stays among the server's connections until `connection_lost` runs on a later turn of the loop. A shutdown in
    between (SIGTERM as a browser tab closes) called `send_close(1012)` on a protocol already CLOSING, and
    websockets raised `InvalidState`: uvicorn's shutdown stopped there, the app's lifespan shutdown (the database,
    the worker pool) never ran, and the process logged a traceback (uvicorn 0.54.0; a test server's thread once hung
    on it for 120 s). Such a connection needs nothing more: its close was answered and its transport is closing.

    The websockets library logs every frame with its data at DEBUG, on the logger uvicorn hands it, `uvicorn.error`:
    at SHOPBRIDGE_LOG_LEVEL=DEBUG a `connection_init`'s token and every message were written (sec50). Each
    connection logs on `websockets.server` instead, kept at INFO whatever the level (`adapters.logs.DATA_LOGGERS`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn.logger = FRAMES_LOG
        self.conn.debug = FRAMES_LOG.isEnabledFor(logging.DEBUG)  # decided once, when the connection is made

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent and self.conn.state is not State.OPEN:
            self.stop_keepalive()
            self.transport.close()
            return
        super().shutdown()


def protocol_options(max_message_bytes: int, head_timeout_seconds: float = 30.0) -> dict[str, Any]:
    """uvicorn's HTTP and WebSocket options for every way Shopbridge is served (`shopbridge serve`, the fan-out
    benchmark). HTTP: httptools with bounds on a request's head, its size and `head_timeout_seconds`
    (`gql.http_protocol.HttpProtocol`).

    Per-message deflate is off: subscription messages are a few hundred bytes of JSON, which deflate barely
    shrinks, while compressing each one cost ~22 % of the API's CPU when 1,000 subscribers followed one task
    (`bench/README.md`, benchmark 6), and each connection's zlib streams hold a few hundred KiB. Messages larger
    than `max_message_bytes` close the socket with 1009 before Strawberry parses them; a ping every 20 s drops
    dead peers (no pong within 20 s). The protocol is uvicorn's sans-I/O one with a shutdown that tolerates a
    peer's close in flight (`WebSocketProtocol`).
    """
    return {
        "http": http_protocol(head_timeout_seconds),
        "ws": WebSocketProtocol,
        "ws_per_message_deflate": False,
        "ws_ping_interval": WS_PING_SECONDS,
        "ws_ping_timeout": WS_PING_SECONDS,
        "ws_max_size": max_message_bytes,
    }


class Server(uvicorn.Server):
    """uvicorn's server with a hook once listening, the app's quiesce before the listener closes, and a second
    Ctrl+C that shortens the stop without skipping the app's shutdown.

    uvicorn reads a second SIGINT as "force quit": it stops waiting for open connections and background tasks,
    and also skips the lifespan shutdown, so the database, the TikTok client and the sandbox's saved state were
    never closed, and the lifespan task, cancelled when the loop closed, was logged at ERROR with a traceback.
    Pressing Ctrl+C twice is ordinary: here it still stops waiting for open connections (uvicorn asks them to
    close, WebSockets with 1012), says so in one INFO line, and the app's shutdown runs all the same.
    """

    def __init__(
        self, config: uvicorn.Config, app: Starlette | None = None, on_listening: Callable[[], None] | None = None
    ) -> None:
        """`app`: the Starlette app `config` serves; None when `config` names a factory that uvicorn calls in this
        process (a `--workers` process: `gql.supervisor.WorkerProcess`), then found once loaded (`_served_app`)."""
        super().__init__(config)
        self._app = app
        self._on_listening = on_listening
        self._said_forced = False

    async def startup(self, sockets: list[socket] | None = None) -> None:
        # Before uvicorn's handlers took over: a Ctrl+C whose KeyboardInterrupt was lost (adapters/interrupts), or a
        # SIGTERM `_on_sigterm` recorded.
        if interrupts.pressed() or terminated():
            self.should_exit = True
            return
        await super().startup(sockets)
        if self.started and not self.should_exit and self._on_listening is not None:
            self._on_listening()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.force_exit and not self._said_forced:
            self._said_forced = True
            # A signal handler runs between two bytecodes of the loop's thread: the line is written by the loop.
            with suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(log.info, FORCED_LINE)

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        served = self._served_app()
        quiesce: Callable[[], Awaitable[None]] | None = getattr(getattr(served, "state", None), "quiesce", None)
        if quiesce is not None:  # also after a second Ctrl+C: imports calling a closed port would log retries
            try:
                await quiesce()
            except Exception:
                log.exception("stopping the embedded worker pool failed; shutting down anyway")
        self._lifespan_after_cancelled_requests()
        await super().shutdown(sockets)
        finished = getattr(self.lifespan, "shutdown_event", None)
        if self.force_exit and isinstance(finished, asyncio.Event) and not finished.is_set():
            await self.lifespan.shutdown()  # uvicorn skipped it after the second Ctrl+C

    def _served_app(self) -> Starlette | None:
        """The Starlette app served: the one given, else the one uvicorn loaded from the factory, inside the ASGI
        middlewares uvicorn wraps it in (proxy headers, message logging: each keeps the app it wraps as `.app`)."""
        app: object = self._app if self._app is not None else getattr(self.config, "loaded_app", None)
        while app is not None and not isinstance(app, Starlette):
            app = getattr(app, "app", None)
        return app

    def _lifespan_after_cancelled_requests(self) -> None:
        """uvicorn cancels the requests that outlast `timeout_graceful_shutdown` and runs the lifespan's shutdown at
        once; a cancelled request ends only after its database call in flight (adapters.db.sessions), so the lifespan
        disposed of the database under it and its connection came back to the disposed pool, left open. Here the
        lifespan's shutdown first waits for the requests cancelled (at most `CANCELLED_END_SECONDS`)."""
        lifespan_shutdown = self.lifespan.shutdown

        async def shutdown() -> None:
            cancelled = [task for task in self.server_state.tasks if task.cancelling()]
            if cancelled:
                # said: the stop seems to hang meanwhile, up to a statement's length (a lock waited for at PostgreSQL)
                log.info(CANCELLED_WAIT_LINE, len(cancelled), CANCELLED_END_SECONDS)
                await asyncio.wait(cancelled, timeout=CANCELLED_END_SECONDS)
            await lifespan_shutdown()

        self.lifespan.shutdown = shutdown


def serve(app: Starlette, on_listening: Callable[[], None] | None = None, **options: Any) -> int:
    """Serve `app` in this process until stopped (uvicorn.run's one-process path); 0 (also when SIGTERM came before
    it started), 130 if Ctrl+C was pressed before it started, or 3 if it failed to start."""
    stop_on_sigterm()  # where uvicorn's handler hands SIGTERM back once it has shut down (module docstring)
    config = uvicorn.Config(app, **options)
    server = Server(config, app, on_listening)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if server.started or terminated():
        return 0
    return 130 if interrupts.pressed() else STARTUP_FAILURE
