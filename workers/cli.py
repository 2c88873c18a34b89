"""`shopbridge worker --processes N --threads M`: Dramatiq's own CLI over `workers.entrypoint`."""

from __future__ import annotations

import subprocess
import sys

from workers.broker import LIVE_QUEUE, SYNC_QUEUE  # not from workers.actors: importing it would bind a default broker


def worker_command(processes: int, threads: int) -> list[str]:
    return [
        sys.executable, "-m", "dramatiq", "workers.entrypoint",
        "--processes", str(processes), "--threads", str(threads), "--queues", SYNC_QUEUE, LIVE_QUEUE,
    ]  # fmt: skip


def run_worker(processes: int, threads: int) -> int:
    """Run the worker processes in the foreground until stopped; returns Dramatiq's exit code."""
    try:
        return subprocess.call(worker_command(processes, threads))  # noqa: S603 (our own interpreter and args)
    except KeyboardInterrupt:  # Ctrl-C reached the Dramatiq master too; it shuts its workers down itself
        return 130
