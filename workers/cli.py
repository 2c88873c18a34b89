"""`shopbridge worker --processes N --threads M`: Dramatiq's CLI over `workers.entrypoint`, supervised.

Dramatiq's master runs as a child in a session of its own; this process forwards SIGTERM, SIGINT and SIGHUP to it
(once per signal received) and waits for it, so a process manager's SIGTERM stops every worker process before
`shopbridge worker` exits. Running tasks get `shutdown_timeout` seconds; if the workers are still there a grace
period later (a Redis that went away can stall their shutdown), their whole process group is killed: the
command always exits within that bound, and never leaves a worker behind. If this process itself is killed, the
master gets SIGTERM from the kernel (a parent-death signal); if the master dies, each worker process still running
gets SIGKILL (workers/run.py), so that killing both at once leaves none running (workers/parent_death.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from adapters import interrupts
from workers import parent_death

# not from workers.broker: the command that supervises Dramatiq's processes needs no broker (dramatiq, redis, the
# database adapter: ~1 s of CPU at its start, imports71); nor workers.actors, which would bind a default broker
from workers.queues import LIVE_QUEUE, SYNC_QUEUE

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
KILL_GRACE_SECONDS = 10  # beyond Dramatiq's own shutdown timeout, before the group is killed


def worker_command(processes: int, threads: int, shutdown_timeout: int = 30) -> list[str]:
    return [
        sys.executable, "-m", "workers.run", "workers.entrypoint",
        "--processes", str(processes), "--threads", str(threads), "--queues", SYNC_QUEUE, LIVE_QUEUE,
        "--worker-shutdown-timeout", str(shutdown_timeout * 1000),
    ]  # fmt: skip


def run_worker(processes: int, threads: int, shutdown_timeout: int = 30) -> int:
    """Run the worker processes in the foreground until stopped; returns Dramatiq's exit code (or 128+signal)."""
    # Ctrl+C or SIGTERM while the command started (adapters/interrupts.py): start nothing. Forwarded to a master
    # still starting its interpreter, a Ctrl+C stopped it with a "Fatal Python error" traceback from its site import.
    if interrupts.pressed() or interrupts.terminated():
        return 130 if interrupts.pressed() else 0
    master = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        worker_command(processes, threads, shutdown_timeout),
        start_new_session=True,  # a terminal's Ctrl-C reaches us only; we forward it exactly once
        preexec_fn=parent_death.preexec(signal.SIGTERM),
    )
    deadline: float | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal deadline
        with contextlib.suppress(ProcessLookupError):
            os.kill(master.pid, signum)
        if deadline is None:
            deadline = time.monotonic() + shutdown_timeout + KILL_GRACE_SECONDS

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    if interrupts.pressed():  # Ctrl+C before `forward` took over, its KeyboardInterrupt lost (adapters/interrupts.py)
        forward(signal.SIGINT, None)
    if interrupts.terminated():  # SIGTERM recorded while the master was being started: it is the master's now
        forward(signal.SIGTERM, None)
    try:
        while True:
            try:
                code = master.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() > deadline:
                    print("shopbridge worker: workers did not stop in time; killing them", file=sys.stderr)
                    _kill_group(master.pid)
                    master.wait()
                    return 128 + signal.SIGKILL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _kill_group(master.pid)  # a worker process the master left behind must not go on taking messages
    return code if code >= 0 else 128 - code


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
