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
`serve_workers`), never lost.

With `--workers N` (`serve_workers`), a worker process still starting is waited for until it serves or exits,
not killed as hung by uvicorn's health check (`Supervisor`): on a busy host every booting worker was killed and
replaced, in a loop, and a `serve` whose workers could not start never exited. The same rule holds for a SIGHUP's
replacements; and a worker told to stop has a bounded time to do so before it is killed (the command then exits 137),
so one hung in its start-up no longer keeps the command from stopping.

The protocols uvicorn speaks for every way Shopbridge is served (`protocol_options`): the HTTP one, with bounds on a
request's head and body before the app sees it, is `gql.http_protocol`; the WebSocket one (`WebSocketProtocol`) is
here, its shutdown tolerating a peer's close in flight.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress
from socket import socket
from time import monotonic
from types import FrameType
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process
from websockets.protocol import State

from adapters import interrupts
from gql.http_protocol import http_protocol

log = logging.getLogger("shopbridge")
UVICORN_LOG = logging.getLogger("uvicorn.error")  # where uvicorn's supervisor writes its lines (`Supervisor`'s too)
FRAMES_LOG = logging.getLogger("websockets.server")  # the library's own name; adapters.logs.DATA_LOGGERS

WS_PING_SECONDS = 20
FORCED_LINE = "interrupted again: not waiting for open connections; closing them and shutting down"
KILLED = 128 + signal.SIGKILL  # `serve --workers N`'s status when it had to kill a worker that would not stop
CANCELLED_END_SECONDS = 30.0  # a request cancelled at a stop ends within its database call (adapters.db.sessions)
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

    def __init__(self, config: uvicorn.Config, app: Starlette, on_listening: Callable[[], None] | None = None) -> None:
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
        quiesce: Callable[[], Awaitable[None]] | None = getattr(self._app.state, "quiesce", None)
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

    def _lifespan_after_cancelled_requests(self) -> None:
        """uvicorn cancels the requests that outlast `timeout_graceful_shutdown` and runs the lifespan's shutdown at
        once; a cancelled request ends only after its database call in flight (adapters.db.sessions), so the lifespan
        disposed of the database under it and its connection came back to the disposed pool, left open. Here the
        lifespan's shutdown first waits for the requests cancelled (at most `CANCELLED_END_SECONDS`)."""
        lifespan_shutdown = self.lifespan.shutdown

        async def shutdown() -> None:
            cancelled = [task for task in self.server_state.tasks if task.cancelling()]
            if cancelled:
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


class Supervisor(Multiprocess):
    """uvicorn's supervisor of `--workers N`, which waits for a worker process that has not started serving instead
    of killing it as hung, whose every look at its workers (every 0.5 s) is at once: an exit is seen at the next
    look, whatever another worker does; which gives a worker told to stop `stop_seconds` before it kills it; and whose
    SIGHUP restart waits for each replacement as for any worker that starts.

    uvicorn's parent learns of its worker processes only through a health check: it pings each in turn over a pipe
    and waits up to `timeout_worker_healthcheck` seconds for an answer, which comes from a thread the worker starts
    only once Python has started and uvicorn's configuration is unpickled; silence kills the worker (SIGKILL) and
    starts another. On a host where a worker takes longer than that to start (a 10 s check at load ~12), every
    worker was killed while booting, exit status -9 rather than its start-up failure (3): `serve --workers 2` whose
    application cannot start replaced its killed workers in a loop and never exited (flake70), and one that could
    start never served (issue 13, where the 30 s default only moved the load at which it happens). Its waits, one
    worker after another, also held up everything else: while one served worker hung, another's exit went unseen and
    a SIGTERM unanswered for the whole check (review70b A1, A2: 10.65 s and 11 s with a 10 s check).

    Here a worker process is pinged once and its answer taken when it has come (`_answer`, never waiting): one that
    has not answered that its server started is waited for, never killed for its silence, until it serves or exits
    (uvicorn already waits so for one whose application's start-up hangs: it answers "not started"). "Served", not
    "answered once": a worker whose application failed to start answers no more while Python tears it down, ~0.6 s
    of CPU, 5-15 s at load 12-18, and killed then it too exits -9, not 3. One that has served and has left a ping
    unanswered for `timeout_worker_healthcheck` seconds is killed as hung and replaced, as in uvicorn. An exit with
    status 3 (start-up failure) stops the parent, as in uvicorn; a signal waiting to be handled is handled before any
    replacement is started (a SIGTERM's stop starts none).

    At a stop (SIGTERM, SIGINT, a start-up failure) each worker is sent SIGTERM and given `stop_seconds` from then to
    exit; one still there is killed (SIGKILL), said at ERROR, and its pid kept in `killed`. uvicorn waited for each
    without a bound, so a worker whose application's start-up hung (a database read behind a migration's lock) kept
    the parent, and the command, from ever stopping: only a SIGKILL ended them (review70b A3). gunicorn's arbiter
    does as here with its `graceful_timeout` (30 s by default).

    SIGHUP replaces the workers one after the other (uvicorn's order: a replacement serves before its old worker
    retires, so the socket is never without a server), the replacement started and then watched at each look by the
    rule above, however long it takes to start; one that exits before it serves aborts the restart and the workers
    not yet replaced keep serving, as in uvicorn. The old worker then gets SIGTERM and `stop_seconds` to exit, waited
    for at the looks, not in one. uvicorn's restart gave each replacement `timeout_worker_healthcheck` seconds and
    killed it past them, while every other signal and look waited: on a host where a start takes longer, a reload
    never completed (review70b A4). A SIGHUP during a restart replaces every worker running then, once the
    replacement under way is settled.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket], stop_seconds: float) -> None:
        super().__init__(config, sockets)
        self.stop_seconds = stop_seconds
        self.killed: list[int] = []  # the pids killed at the stop, still there `stop_seconds` after their SIGTERM
        self._served: WeakSet[Process] = WeakSet()  # answered that their server started
        self._pinged_at: WeakKeyDictionary[Process, float] = WeakKeyDictionary()  # the ping waiting for its answer
        self._to_restart: list[Process] = []  # the workers a SIGHUP's restart has still to replace, in order
        self._replacing: tuple[Process, Process] | None = None  # (a worker, the replacement starting in its place)
        self._retiring: dict[Process, float] = {}  # replaced workers told to stop: when they are killed if still there
        self._stop_deadline = 0.0  # when the workers told to stop by `terminate_all` are killed if still there

    def keep_subprocess_alive(self) -> None:
        """One look at each worker process, at once (uvicorn's loop calls it every 0.5 s until it should exit): a
        worker that exited with status 3 stops the parent; one that exited otherwise, or that served and then left a
        ping unanswered for `timeout_worker_healthcheck` seconds (then killed), is replaced; one still starting is
        left to start. Then the workers a restart retired are reaped (killed past their `stop_seconds`), and the
        restart goes on (`handle_hup`)."""
        if self.should_exit.is_set():
            return
        self._look_at_workers()
        self._reap_retired()
        if not self.should_exit.is_set() and not self.signal_queue:  # a stop first: it starts no replacement
            self._go_on_restarting()

    def _look_at_workers(self) -> None:
        for index, process in enumerate(self.processes):
            answer = self._answer(process)
            if answer:
                self._served.add(process)
                continue
            if process.exitcode is None:
                if answer is False or process not in self._served:
                    continue  # still starting: waited for, whatever the time it takes
                pinged = self._pinged_at.get(process)  # (none if the ping could not be sent: asked again next look)
                if pinged is None or monotonic() - pinged < self.config.timeout_worker_healthcheck:
                    continue  # its answer is not due yet
            process.kill()  # hung after it served (or exited already: then a no-op)
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                UVICORN_LOG.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.should_exit.is_set() or self.signal_queue:
                return  # the signal first (a stop starts no worker); the next look replaces this one
            UVICORN_LOG.info(f"Child process [{process.pid}] died")
            self.processes[index] = Process(self.config, self.sockets)
            self.processes[index].start()

    def _answer(self, process: Process) -> bool | None:
        """The worker's answer to a health check, if it has come: whether its server started, or None (no answer
        yet, or the pipe broken by its exit). Pings it only when no ping waits for its answer: one ping, one answer,
        in order (uvicorn's pipe protocol, `Process.pong`)."""
        connection = process.parent_conn
        try:
            if process not in self._pinged_at:
                connection.send(b"ping")
                self._pinged_at[process] = monotonic()
            if not connection.poll():
                return None
            del self._pinged_at[process]
            return bool(connection.recv())
        except (OSError, EOFError, pickle.UnpicklingError):  # a pipe closed by a kill, a worker killed mid-answer
            return None

    def handle_hup(self) -> None:
        """SIGHUP: replace every worker running now, one after the other, each replacement waited for until it
        serves or exits (`_go_on_restarting`, at the looks); not uvicorn's `restart_all`, which blocked the loop and
        killed a replacement not serving within `timeout_worker_healthcheck` seconds."""
        UVICORN_LOG.info("Received SIGHUP, restarting processes.")
        underway = self._replacing[0] if self._replacing is not None else None
        self._to_restart = [process for process in self.processes if process is not underway]

    def _go_on_restarting(self) -> None:
        """The restart's next step, if one is under way: the replacement starting is watched (`_settled`); once it
        is settled, the next worker still running is given its replacement."""
        if self._replacing is not None and not self._settled(*self._replacing):
            return
        self._to_restart = [process for process in self._to_restart if process in self.processes]  # not died since
        if self._to_restart:
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self._replacing = (self._to_restart.pop(0), replacement)

    def _settled(self, old: Process, replacement: Process) -> bool:
        """Whether the replacement has served (then it takes `old`'s place, and `old` retires) or exited (then the
        restart is aborted, as uvicorn's); False while it starts, however long that takes."""
        if self._answer(replacement):
            self._served.add(replacement)
            self._replacing = None
            if old in self.processes:
                self.processes[self.processes.index(old)] = replacement
                self._retire(old)
            else:  # `old` died meanwhile and was replaced already: this one is one too many
                self._retire(replacement)
            if not any(process in self.processes for process in self._to_restart):
                UVICORN_LOG.info("Restarted the worker processes.")
            return True
        if replacement.exitcode is None:
            return False
        replacement.join()
        UVICORN_LOG.error(
            f"New child process [{replacement.pid}] exited with status {replacement.exitcode} before it served; "
            f"keeping worker [{old.pid}] and aborting the restart."
        )
        self._replacing = None
        self._to_restart = []
        return True

    def _retire(self, process: Process) -> None:
        process.terminate()  # SIGTERM: it stops serving, its connections get `timeout_graceful_shutdown` seconds
        self._retiring[process] = monotonic() + self.stop_seconds

    def _reap_retired(self) -> None:
        for process, deadline in list(self._retiring.items()):
            if process.exitcode is not None:
                process.join()
            elif monotonic() >= deadline:
                self._kill_late(process)
            else:
                continue
            del self._retiring[process]

    def _kill_late(self, process: Process) -> None:
        UVICORN_LOG.error(
            f"Child process [{process.pid}] did not stop within {self.stop_seconds:g} s of SIGTERM; killed it."
        )
        process.kill()
        process.process.join()

    def terminate_all(self) -> None:
        """SIGTERM to every worker, a restart's replacement among them (uvicorn's, which knew none)."""
        for process in self._running():
            if process not in self._retiring:  # told already
                process.terminate()
        self._stop_deadline = monotonic() + self.stop_seconds

    def join_all(self) -> None:
        """Every worker's exit, each given `stop_seconds` from its SIGTERM; one still there then is killed and its pid
        kept in `killed` (uvicorn waited without a bound: review70b A3)."""
        for process in self._running():
            deadline = self._retiring.get(process, self._stop_deadline)
            UVICORN_LOG.info(f"Waiting for child process [{process.pid}]")
            process.process.join(max(0.0, deadline - monotonic()))
            if process.exitcode is None:
                self._kill_late(process)
                self.killed.append(process.pid or 0)

    def _running(self) -> list[Process]:
        replacement = [self._replacing[1]] if self._replacing is not None else []
        return [*self.processes, *replacement, *self._retiring]


def serve_workers(app: str, workers: int, stop_seconds: float, **options: Any) -> int:
    """Serve the app factory `app` ("module:function") from `workers` processes under uvicorn's supervisor
    (uvicorn.run's multi-process path, with `Supervisor`'s look at its workers) until stopped: 0; 130 if Ctrl+C was
    pressed before the supervisor took over; 3 when a worker process failed to start, seen at the supervisor's next
    look once it exits (every 0.5 s), however slowly it started (uvicorn.run exits 0 then, and a process manager
    restarting on failure would not); 137 (128 + SIGKILL, as `shopbridge worker`) when a worker process had not
    stopped `stop_seconds` after the stop's SIGTERM and was killed.

    A SIGTERM recorded before the supervisor installed its handlers stops here, before any process starts; after,
    the supervisor's handlers take it.
    """
    stop_on_sigterm()
    config = uvicorn.Config(app, factory=True, workers=workers, **options)
    sock = config.bind_socket()
    try:
        supervisor = Supervisor(config, [sock], stop_seconds)  # installs its handlers: no signal is lost from here
        if terminated() or interrupts.pressed():
            return 130 if interrupts.pressed() else 0
        try:
            supervisor.run()
        except KeyboardInterrupt:
            pass
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        return STARTUP_FAILURE
    return KILLED if supervisor.killed else 0
