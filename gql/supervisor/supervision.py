"""uvicorn's supervisor of `shopbridge serve --workers N`'s worker processes (`Supervisor`): its looks at them (the
health check that waits for a worker still starting) and its SIGHUP, SIGTTIN and SIGTTOU; the stop is
`gql.supervisor.stopping`'s.

It rests on uvicorn 0.54's internals: `Process.parent_conn` (the pipe's one ping / one answer protocol,
`Process.pong`) and `Multiprocess`'s loop calling `init_processes`, `handle_signals` (`handle_hup`, `handle_ttin`,
`handle_ttou`) and `keep_subprocess_alive`. An upgrade of uvicorn re-checks them.
"""

from __future__ import annotations

import pickle
from socket import socket
from time import monotonic
from weakref import WeakKeyDictionary, WeakSet

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

from gql.supervisor.stopping import UVICORN_LOG, StoppingMultiprocess
from gql.supervisor.worker_process import WorkerProcess

RESTART_WARNING_SECONDS = 60.0  # the least time between two lines saying a restart's replacement has not served


class Supervisor(StoppingMultiprocess):
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


    SIGHUP replaces the workers one after the other (uvicorn's order: a replacement serves before its old worker
    retires, so the socket is never without a server), the replacement started and then watched at each look by the
    rule above, up to `start_seconds` after its start; one that exits before it serves, or has not served by then
    (killed, SIGKILL: `_settled`), aborts the restart and the workers not yet replaced keep serving, as in uvicorn.
    The old worker then gets SIGTERM and `stop_seconds` to exit, waited for at the looks, not in one. uvicorn's
    restart gave each replacement `timeout_worker_healthcheck` seconds and killed it past them, while every other
    signal and look waited: on a host where a start takes longer, a reload never completed (review70b A4). A SIGHUP
    during a restart replaces every worker running then, once the replacement under way is settled, and says so. A
    replacement that has not served `timeout_worker_healthcheck` seconds after its start is said at WARNING, then
    again every `max(timeout_worker_healthcheck, 60)` seconds (`RESTART_WARNING_SECONDS`), while the old workers serve
    on: uvicorn's restart gave up past the check at ERROR; here it waits, and said nothing (review71b S2).

    `start_seconds` (`serve --timeout-worker-start`, `gql.cli.WORKER_START_SECONDS`) is a bound of its own: a start
    hung (behind a migration's lock) and one slow but healthy (a loaded host) look the same until one serves, the
    pong thread only running once the worker's imports are done. Without a bound the hung one was waited for for ever,
    that restart and every later SIGHUP's with it (stop 73); bounded by `stop_seconds`, a start slower than the stop's
    bound was killed too and every reload aborted (rev73a F2). Only a restart's replacement has it: the workers started
    otherwise (the first, one replacing a worker that died, SIGTTIN's) hold up nothing while they start (every look,
    signal and SIGHUP goes on; a SIGHUP replaces one still starting as any other), and killing one would leave its
    place to fill again, the kill-and-respawn loop of issue 13 at a longer period.

    SIGTTOU removes the newest worker as uvicorn's does, but retires it as a restart's old worker: SIGTERM and
    `stop_seconds`, reaped at the looks. uvicorn waited for it inside its signal handling without a bound, so one hung
    in its start-up (the newest is the likeliest still starting) stopped the loop: no look, no SIGTERM answered, the
    command never stopping (review71b S1).

    The stop (`stop_seconds`, a forced stop, the pids killed in `killed`) is the base's: `StoppingMultiprocess`.
    """

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket], stop_seconds: float, start_seconds: float
    ) -> None:
        super().__init__(config, sockets, stop_seconds)
        self.start_seconds = start_seconds  # how long a SIGHUP's replacement may take to serve before it is killed
        self._served: WeakSet[Process] = WeakSet()  # answered that their server started
        self._pinged_at: WeakKeyDictionary[Process, float] = WeakKeyDictionary()  # the ping waiting for its answer
        self._to_restart: list[Process] = []  # the workers a SIGHUP's restart has still to replace, in order
        self._replacing: tuple[Process, Process] | None = None  # (a worker, the replacement starting in its place)
        self._replacing_since = 0.0  # when the replacement under way started
        self._replacing_said = 0.0  # when the parent last said that it has not served (0: not yet)

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
        serves or exits, or killed `start_seconds` after its start (`_go_on_restarting`, at the looks); not uvicorn's
        `restart_all`, which blocked the loop and killed a replacement not serving within `timeout_worker_healthcheck`
        seconds. A SIGHUP after a restart was aborted starts a new one."""
        UVICORN_LOG.info("Received SIGHUP, restarting processes.")
        underway = self._replacing[0] if self._replacing is not None else None
        self._to_restart = [process for process in self.processes if process is not underway]
        if self._replacing is not None:
            UVICORN_LOG.info(
                f"The restart waits for new child process [{self._replacing[1].pid}] to serve, then replaces the "
                "other workers running now; if it exits or is killed first, the restart is aborted, this one's too."
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
        """Whether the replacement has served (then it takes `old`'s place, and `old` retires), exited, or not served
        `start_seconds` after its start (then killed, SIGKILL, and reaped); either of the last two is one ERROR line
        and aborts the restart, as uvicorn's, `old` and the workers not yet replaced serving on. False while it starts
        within that bound."""
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
        if replacement.exitcode is None and monotonic() - self._replacing_since < self.start_seconds:
            self._say_not_served(old, replacement)
            return False
        if replacement.exitcode is None:  # hung in its start, or slower than the operator allows: no telling which
            replacement.kill()
            replacement.process.join()
            UVICORN_LOG.error(
                f"New child process [{replacement.pid}] had not served {self.start_seconds:g} s after its start "
                f"(--timeout-worker-start); killed it, keeping worker [{old.pid}] and aborting the restart."
            )
        else:
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
        every `RESTART_WARNING_SECONDS` or that check, whichever is longer, while the restart waits for it (up to
        `start_seconds`: a start-up hung behind a migration's lock looks the same as a slow host), so the operator is
        told."""
        now = monotonic()
        check = self.config.timeout_worker_healthcheck
        since = self._replacing_said or self._replacing_since
        if now - since < (check if not self._replacing_said else max(check, RESTART_WARNING_SECONDS)):
            return
        self._replacing_said = now
        UVICORN_LOG.warning(
            f"New child process [{replacement.pid}] has not served {now - self._replacing_since:.0f} s after its "
            f"start; worker [{old.pid}] serves on and the restart waits for it, killing it "
            f"{self.start_seconds:g} s after its start (--timeout-worker-start; SIGTERM stops the command)."
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

    def _running(self) -> list[Process]:
        """Every worker process there is to stop: a restart's replacement among them (uvicorn's knew none)."""
        replacement = [self._replacing[1]] if self._replacing is not None else []
        return [*self.processes, *replacement, *self._retiring]
