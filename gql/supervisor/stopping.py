"""How `shopbridge serve --workers N`'s supervisor stops its worker processes (`StoppingMultiprocess`, over uvicorn
0.54's `Multiprocess`): each told to stop is given `stop_seconds` and killed past them, a second SIGTERM or Ctrl+C
during the stop forces it (`FORCED_STOP_SECONDS`), and the workers a restart retires are reaped the same way.

It rests on uvicorn 0.54's internals: `Process.process` (its sentinel), `Multiprocess.should_exit`, `.signal_queue`,
`handle_int` and `handle_term`, and its loop ending in `terminate_all` then `join_all`. An upgrade of uvicorn
re-checks them.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from multiprocessing.connection import wait
from socket import socket
from time import monotonic

import uvicorn
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

UVICORN_LOG = logging.getLogger("uvicorn.error")  # where uvicorn's supervisor writes its lines (`Supervisor`'s too)
# A worker's own forced shutdown (a second SIGTERM or Ctrl+C: it stops waiting for its connections, waits at most for a
# cancelled request's database call, then disposes of its database pool) gets this long before the parent kills it:
# killed at once, 70 ms into it, its pool was never disposed and its PostgreSQL backend outlived the command (review72b
# F3). Long enough for a shutdown whose requests have ended (0.15 s at load 12), the process ending at once after it
# (`gql.supervisor.worker_process.end_process`: the interpreter's teardown, 0.65 s of CPU, took 4.6 s at load 13-19
# and the worker was killed in it, exit73), short enough that a second Ctrl+C still stops the command soon as a person
# sees it; gunicorn's quick stop waits its whole `graceful_timeout` (30 s) before SIGKILL.
FORCED_STOP_SECONDS = 5.0
STOP_LOOK_SECONDS = 0.1  # how often the parent, waiting for its workers to stop, looks for a SIGTERM or SIGINT


class StoppingMultiprocess(Multiprocess):
    """uvicorn's supervisor of `--workers N` with a bounded stop; `gql.supervisor.supervision.Supervisor` adds the
    looks at the workers and the restarts over it.

    At a stop (SIGTERM, SIGINT, a start-up failure) each worker is sent SIGTERM and given `stop_seconds` from then to
    exit; one still there is killed (SIGKILL), said at ERROR, and its pid kept in `killed`. uvicorn waited for each
    without a bound, so a worker whose application's start-up hung (a database read behind a migration's lock) kept
    the parent, and the command, from ever stopping: only a SIGKILL ended them (review70b A3). gunicorn's arbiter
    does as here with its `graceful_timeout` (30 s by default). A SIGTERM or SIGINT during the stop (a second Ctrl+C)
    gives every worker still there `FORCED_STOP_SECONDS` for its own forced shutdown and kills those still there
    then, said at WARNING, their pids kept in `killed` too (`handle_term`).

    The workers a restart or SIGTTOU replaced are retired (`_retire`): SIGTERM, then `stop_seconds` to exit, reaped at
    the looks (`_reap_retired`), not waited for in one.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket], stop_seconds: float) -> None:
        super().__init__(config, sockets)
        self.stop_seconds = stop_seconds
        self.killed: list[int] = []  # the pids killed at the stop, still there `stop_seconds` after their SIGTERM
        self._retiring: dict[Process, float] = {}  # replaced workers told to stop: when they are killed if still there
        self._stop_deadline = 0.0  # when the workers told to stop by `terminate_all` are killed if still there
        self._forced: str | None = None  # the signal ("SIGTERM", "SIGINT") that forced the stop under way, if one did
        self._forced_deadline = 0.0  # when the workers still there after a forced stop are killed (FORCED_STOP_SECONDS)

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
        """Every worker process there is to stop: the serving ones and the retiring ones."""
        return [*self.processes, *self._retiring]
