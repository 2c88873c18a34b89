"""One API process per data directory when it holds what only one process may write: an exclusive advisory lock
(`fcntl.flock`) on `<data_dir>/shopbridge.lock`, held for the process's life.

The kernel releases it when the process ends, however it ends (a crash or SIGKILL included), so a stale file never
blocks a start. The file holds the holder's pid, for the refusal's message only.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "shopbridge.lock"


class AlreadyLocked(Exception):
    """Another live process holds the lock: `path`, and `holder_pid` (None when it cannot be read)."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        super().__init__(f"{path} is locked by {'pid ' + str(holder_pid) if holder_pid else 'another process'}")
        self.path = path
        self.holder_pid = holder_pid


def hold(directory: Path) -> int:
    """Take the lock in `directory` (created if missing) for the rest of this process's life; the file descriptor
    it lives on is returned (closing it releases the lock). AlreadyLocked when another process holds it; OSError
    when the directory cannot be written."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        os.close(descriptor)
        raise AlreadyLocked(path, int(holder) if holder.isdigit() else None) from None
    except BaseException:
        os.close(descriptor)
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor


def holder(directory: Path) -> AlreadyLocked | None:
    """Whether another live process holds the lock in `directory`, asked without creating anything: the directory
    and its lock file are left as they are (missing, or unlocked once asked). AlreadyLocked (returned, not raised)
    when one does; None when none does, or when there is no lock file to ask."""
    path = directory / LOCK_FILE
    try:
        descriptor = os.open(path, os.O_RDONLY)  # flock needs no write access; no O_CREAT
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
        return AlreadyLocked(path, int(pid) if pid.isdigit() else None)
    finally:
        os.close(descriptor)  # releases the lock when this call took it
    return None
