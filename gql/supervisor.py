"""`shopbridge serve --workers N`: uvicorn's supervisor of the worker processes (`Supervisor`, over uvicorn 0.54's
`Multiprocess`) and how the command runs it (`serve_workers`).

A worker process still starting is waited for until it serves or exits, not killed as hung by uvicorn's health
check: on a busy host every booting worker was killed and replaced, in a loop, and a `serve` whose workers could not
start never exited (flake70). The same rule holds for a SIGHUP's replacements (review70b A4). A worker told to stop has
`stop_seconds` to do so before it is killed (the command then exits 137), so one hung in its start-up no longer keeps
the command from stopping (review70b A3); a second SIGTERM or Ctrl+C during that stop gives them `FORCED_STOP_SECONDS`
for their own forced shutdown (a terminal's Ctrl+C reaches them too), then kills those still there.
Each worker process serves with `gql.serving`'s server (`WorkerProcess`); the options are `gql.cli`'s.

The override rests on uvicorn 0.54's internals: `Process.parent_conn` and `.process` (its sentinel), `Process.server`
and `._server` (made in the spawned process, which unpickles the `Process`: `WorkerProcess`), the pipe's one
ping / one answer protocol (`Process.pong`), and `Multiprocess`'s loop calling `init_processes`, `handle_signals`
(`handle_int`, `handle_term`, `handle_hup`, `handle_ttin`, `handle_ttou`), `keep_subprocess_alive`, then
`terminate_all` and `join_all`. An upgrade of uvicorn re-checks them.
"""

from __future__ import annotations

import logging
import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import wait
from socket import socket
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from adapters import interrupts
from gql.serving import Server

UVICORN_LOG = logging.getLogger("uvicorn.error")  # where uvicorn's supervisor writes its lines (`Supervisor`'s too)
KILLED = 128 + signal.SIGKILL  # `serve --workers N`'s status when it had to kill a worker that would not stop
# A worker's own forced shutdown (a second SIGTERM or Ctrl+C: it stops waiting for its connections, waits at most for a
# cancelled request's database call, then disposes of its database pool) gets this long before the parent kills it:
# killed at once, 70 ms into it, its pool was never disposed and its PostgreSQL backend outlived the command (review72b
# F3). Long enough for a shutdown whose requests have ended (0.15 s, then 1.6 s of the process's exit, at load 12),
# short enough that a second Ctrl+C still stops the command soon as a person sees it; gunicorn's quick stop waits its
# whole `graceful_timeout` (30 s) before SIGKILL.
FORCED_STOP_SECONDS = 5.0
STOP_LOOK_SECONDS = 0.1  # how often the parent, waiting for its workers to stop, looks for a SIGTERM or SIGINT
RESTART_WARNING_SECONDS = 60.0  # the least time between two lines saying a restart's replacement has not served


class WorkerProcess(Process):
    """uvicorn's worker process, serving with Shopbridge's server (`gql.serving.Server`) rather than uvicorn's own:
    the same stop as `shopbridge serve` in one process (the app's quiesce before the listener closes, the requests
    cancelled at the stop waited for before the app's shutdown closes the database, a second Ctrl+C that still runs
    that shutdown). uvicorn's `Process.server` makes a plain `uvicorn.Server` in the worker process (stop 71): a
    request cancelled past `timeout_graceful_shutdown` had the database disposed of under its statement, its
    connection handed back to a disposed pool.

    Made in the parent and pickled to the spawned process (its `target` is a bound method), which imports this
    module to unpickle it; the server is made there, on first use."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = Server(self.config)
        return self._server


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
    does as here with its `graceful_timeout` (30 s by default). A SIGTERM or SIGINT during the stop (a second Ctrl+C)
    gives every worker still there `FORCED_STOP_SECONDS` for its own forced shutdown and kills those still there
    then, said at WARNING, their pids kept in `killed` too (`handle_term`).

    SIGHUP replaces the workers one after the other (uvicorn's order: a replacement serves before its old worker
    retires, so the socket is never without a server), the replacement started and then watched at each look by the
    rule above, however long it takes to start; one that exits before it serves aborts the restart and the workers
    not yet replaced keep serving, as in uvicorn. The old worker then gets SIGTERM and `stop_seconds` to exit, waited
    for at the looks, not in one. uvicorn's restart gave each replacement `timeout_worker_healthcheck` seconds and
    killed it past them, while every other signal and look waited: on a host where a start takes longer, a reload
    never completed (review70b A4). A SIGHUP during a restart replaces every worker running then, once the
    replacement under way is settled, and says so. A replacement that has not served `timeout_worker_healthcheck`
    seconds after its start is said at WARNING, then again every `max(timeout_worker_healthcheck, 60)` seconds
    (`RESTART_WARNING_SECONDS`), while the old workers serve on: uvicorn's restart gave up past the check at ERROR;
    here it waits, and said nothing (review71b S2).

    SIGTTOU removes the newest worker as uvicorn's does, but retires it as a restart's old worker: SIGTERM and
    `stop_seconds`, reaped at the looks. uvicorn waited for it inside its signal handling without a bound, so one hung
    in its start-up (the newest is the likeliest still starting) stopped the loop: no look, no SIGTERM answered, the
    command never stopping (review71b S1).
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket], stop_seconds: float) -> None:
        super().__init__(config, sockets)
        self.stop_seconds = stop_seconds
        self.killed: list[int] = []  # the pids killed at the stop, still there `stop_seconds` after their SIGTERM
        self._served: WeakSet[Process] = WeakSet()  # answered that their server started
        self._pinged_at: WeakKeyDictionary[Process, float] = WeakKeyDictionary()  # the ping waiting for its answer
        self._to_restart: list[Process] = []  # the workers a SIGHUP's restart has still to replace, in order
        self._replacing: tuple[Process, Process] | None = None  # (a worker, the replacement starting in its place)
        self._replacing_since = 0.0  # when the replacement under way started
        self._replacing_said = 0.0  # when the parent last said that it has not served (0: not yet)
        self._retiring: dict[Process, float] = {}  # replaced workers told to stop: when they are killed if still there
        self._stop_deadline = 0.0  # when the workers told to stop by `terminate_all` are killed if still there
        self._forced: str | None = None  # the signal ("SIGTERM", "SIGINT") that forced the stop under way, if one did
        self._forced_deadline = 0.0  # when the workers still there after a forced stop are killed (FORCED_STOP_SECONDS)

    def init_processes(self) -> None:
        """The first `config.workers` worker processes (uvicorn's, as `WorkerProcess`)."""
        for _ in range(self.processes_num):
            process = WorkerProcess(self.config, self.sockets)
            process.start()
            self.processes.append(process)

    def handle_ttin(self) -> None:
        """SIGTTIN: one worker more (uvicorn's, as `WorkerProcess`)."""
        UVICORN_LOG.info("Received SIGTTIN, increasing the number of processes.")
        self.processes_num += 1
        process = WorkerProcess(self.config, self.sockets)
        process.start()
        self.processes.append(process)

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
            self.processes[index] = WorkerProcess(self.config, self.sockets)
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
        if self._replacing is not None:
            UVICORN_LOG.info(
                f"The restart waits for new child process [{self._replacing[1].pid}] to serve, then replaces the "
                "other workers running now; if it exits first, the restart is aborted, this one's too."
            )

    def _go_on_restarting(self) -> None:
        """The restart's next step, if one is under way: the replacement starting is watched (`_settled`); once it
        is settled, the next worker still running is given its replacement."""
        if self._replacing is not None and not self._settled(*self._replacing):
            return
        self._to_restart = [process for process in self._to_restart if process in self.processes]  # not died since
        if self._to_restart:
            replacement = WorkerProcess(self.config, self.sockets)
            replacement.start()
            self._replacing = (self._to_restart.pop(0), replacement)
            self._replacing_since, self._replacing_said = monotonic(), 0.0

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
            self._say_not_served(old, replacement)
            return False
        replacement.join()
        UVICORN_LOG.error(
            f"New child process [{replacement.pid}] exited with status {replacement.exitcode} before it served; "
            f"keeping worker [{old.pid}] and aborting the restart."
        )
        self._replacing = None
        self._to_restart = []
        return True

    def _say_not_served(self, old: Process, replacement: Process) -> None:
        """A WARNING once the replacement has not served `timeout_worker_healthcheck` seconds after its start, then
        every `RESTART_WARNING_SECONDS` or that check, whichever is longer: the restart waits for it without a bound
        (a start-up hung behind a migration's lock looks the same as a slow host), so the operator is told."""
        now = monotonic()
        check = self.config.timeout_worker_healthcheck
        since = self._replacing_said or self._replacing_since
        if now - since < (check if not self._replacing_said else max(check, RESTART_WARNING_SECONDS)):
            return
        self._replacing_said = now
        UVICORN_LOG.warning(
            f"New child process [{replacement.pid}] has not served {now - self._replacing_since:.0f} s after its "
            f"start; worker [{old.pid}] serves on and the restart waits for it (SIGTERM stops the command)."
        )

    def handle_ttou(self) -> None:
        """SIGTTOU: one worker fewer (not below one), the newest removed as uvicorn's, then retired (SIGTERM,
        `stop_seconds`, reaped at the looks) rather than waited for without a bound inside the signal handling; taken
        out of a restart under way, and its replacement, if one is starting, retired too (its place is gone)."""
        UVICORN_LOG.info("Received SIGTTOU, decreasing number of processes.")
        if self.processes_num <= 1:
            UVICORN_LOG.info("Already reached one process, cannot decrease the number of processes anymore.")
            return
        self.processes_num -= 1
        process = self.processes.pop()
        self._to_restart = [waiting for waiting in self._to_restart if waiting is not process]
        if self._replacing is not None and self._replacing[0] is process:
            self._retire(self._replacing[1])
            self._replacing = None
            if not any(waiting in self.processes for waiting in self._to_restart):
                UVICORN_LOG.info("Restarted the worker processes.")
        self._retire(process)

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
        kept in `killed` (uvicorn waited without a bound: review70b A3). A SIGTERM or SIGINT meanwhile shortens every
        worker's time to `FORCED_STOP_SECONDS` from then, those killed then kept in `killed` too (`handle_term`); the
        parent looks for one every `STOP_LOOK_SECONDS` while it waits."""
        waiting = self._running()
        for process in waiting:
            UVICORN_LOG.info(f"Waiting for child process [{process.pid}]")
        while waiting:
            self._handle_stop_signals()
            now = monotonic()
            for process in waiting:
                if process.exitcode is not None:
                    continue
                if self._forced is not None and now >= self._forced_deadline:
                    self._kill_forced(process)
                elif now >= self._deadline(process):
                    self._kill_late(process)
                else:
                    continue
                self.killed.append(process.pid or 0)
            waiting = [process for process in waiting if process.exitcode is None]
            if waiting:
                due = min(self._deadline(process) for process in waiting) - now
                wait([process.process.sentinel for process in waiting], max(0.0, min(STOP_LOOK_SECONDS, due)))

    def handle_int(self) -> None:
        """SIGINT (Ctrl+C): the stop (uvicorn's), or, during one, a forced stop (`handle_term`)."""
        self._stop_or_force("SIGINT", super().handle_int)

    def handle_term(self) -> None:
        """SIGTERM: the stop (uvicorn's); during one (a second SIGTERM or Ctrl+C, or one after a worker failed to
        start), a forced stop: every worker still there gets `FORCED_STOP_SECONDS` rather than the rest of
        `stop_seconds` for its own forced shutdown (a terminal's Ctrl+C reached it too: it stops waiting for open
        connections, then disposes of its database; not passed on by the parent, whose extra SIGINT, re-raised by
        uvicorn in the worker once its server finished, held the worker's exit past the bound); one still there then is
        killed (SIGKILL), said at WARNING, and the command exits 137, as after a kill at the bound; if all stop in time
        it exits 0. When none is left, one INFO line. A second Ctrl+C ends uvicorn's and gunicorn's waits too (uvicorn's
        `force_exit`; gunicorn's quick shutdown, whose SIGKILL comes `graceful_timeout` later); uvicorn's supervisor of
        `--workers` only queued it and went on waiting (stop 71). Killed at once (serve72), a worker never disposed of
        its pool: its PostgreSQL backend outlived the command (review72b F3)."""
        self._stop_or_force("SIGTERM", super().handle_term)

    def _stop_or_force(self, name: str, stop: Callable[[], None]) -> None:
        if not self.should_exit.is_set():
            stop()
            return
        if self._forced is not None:
            return
        self._forced = name
        self._forced_deadline = monotonic() + FORCED_STOP_SECONDS
        alive = [process for process in self._running() if process.exitcode is None]
        if not alive:
            UVICORN_LOG.info(f"Received {name} while stopping: every child process had stopped already.")
            return
        pids = ", ".join(str(process.pid) for process in alive)
        UVICORN_LOG.warning(
            f"Received {name} while stopping: the child processes still there ({pids}) get {FORCED_STOP_SECONDS:g} s "
            f"to finish their own forced shutdown, not their {self.stop_seconds:g} s; then they are killed."
        )

    def _handle_stop_signals(self) -> None:
        """The SIGTERMs and SIGINTs queued while the parent stops (the others, SIGHUP's restart or SIGTTIN's worker,
        have nothing left to act on: they stay queued, unhandled)."""
        for queued in tuple(self.signal_queue):
            if queued == signal.SIGINT:
                self.signal_queue.remove(queued)
                self.handle_int()
            elif queued == signal.SIGTERM:
                self.signal_queue.remove(queued)
                self.handle_term()

    def _deadline(self, process: Process) -> float:
        deadline = self._retiring.get(process, self._stop_deadline)
        return deadline if self._forced is None else min(deadline, self._forced_deadline)

    def _kill_forced(self, process: Process) -> None:
        UVICORN_LOG.warning(
            f"Child process [{process.pid}] killed: the {self._forced} forced the stop and it had not stopped "
            f"{FORCED_STOP_SECONDS:g} s later."
        )
        process.kill()
        process.process.join()

    def _running(self) -> list[Process]:
        replacement = [self._replacing[1]] if self._replacing is not None else []
        return [*self.processes, *replacement, *self._retiring]


def serve_workers(app: str, workers: int, stop_seconds: float, **options: Any) -> int:
    """Serve the app factory `app` ("module:function") from `workers` processes under uvicorn's supervisor
    (uvicorn.run's multi-process path, with `Supervisor`'s look at its workers) until stopped: 0; 130 if Ctrl+C was
    pressed before the supervisor took over; 3 when a worker process failed to start, seen at the supervisor's next
    look once it exits (every 0.5 s), however slowly it started (uvicorn.run exits 0 then, and a process manager
    restarting on failure would not); 137 (128 + SIGKILL, as `shopbridge worker`) when a worker process had not
    stopped `stop_seconds` after the stop's SIGTERM and was killed, or was still there `FORCED_STOP_SECONDS` after a
    second SIGTERM or SIGINT during the stop and was killed (`Supervisor.handle_term`).

    A SIGTERM recorded before the supervisor installed its handlers stops here, before any process starts; after,
    the supervisor's handlers take it.
    """
    interrupts.record_sigterm()  # where uvicorn's handler hands SIGTERM back once it has shut down (gql.serving)
    config = uvicorn.Config(app, factory=True, workers=workers, **options)
    sock = config.bind_socket()
    try:
        supervisor = Supervisor(config, [sock], stop_seconds)  # installs its handlers: no signal is lost from here
        if interrupts.terminated() or interrupts.pressed():
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
