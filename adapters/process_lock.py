"""One API process per data directory or SQLite database when they hold what only one process may write: an
exclusive advisory lock (`fcntl.flock`) on a lock file, held for the process's life: `<data_dir>/shopbridge.lock`
(`data_dir_lock`: the embedded sandbox's state, the SQLite database inside) and `<database file>.lock` beside a
SQLite database wherever it is (`database_lock`: two processes on one file, from two data directories, each ran a
worker pool, polls and webhook registrations over the same shops; with its own embedded sandbox, the second's
refused tokens revoked every shop in the shared database, crash52).

The kernel releases a lock when the process ends, however it ends (a crash or SIGKILL included), so a stale file
never blocks a start. The file holds the holder's pid, for the refusal's message only. A separate lock file, not the
database file itself: SQLite locks byte ranges of that file with POSIX locks, which any `close()` of the file by the
process drops (and which NFS emulates `flock` with); and the file may not exist yet (`demo` migrates it after the
lock).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "shopbridge.lock"  # in the data directory
DATABASE_LOCK_SUFFIX = ".lock"  # appended to a SQLite database file's name: shopbridge.db -> shopbridge.db.lock


class AlreadyLocked(Exception):
    """Another live process holds the lock: `path`, and `holder_pid` (None when it cannot be read)."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        super().__init__(f"{path} is locked by {'pid ' + str(holder_pid) if holder_pid else 'another process'}")
        self.path = path
        self.holder_pid = holder_pid


def data_dir_lock(directory: Path) -> Path:
    """The lock file of a data directory: `<directory>/shopbridge.lock`."""
    return directory / LOCK_FILE


def database_lock(database_file: Path) -> Path:
    """The lock file of a SQLite database file, beside it (SQLite's own `-wal` and `-shm` files are there, so the
    directory is writable): `<file>.lock`, of the file's real path, so that a relative path, a symbolic link or `..`
    naming the same file names the same lock."""
    real = Path(os.path.realpath(database_file))
    return real.with_name(real.name + DATABASE_LOCK_SUFFIX)


def hold(lock_file: Path) -> int:
    """Take the lock on `lock_file` (created if missing, in a directory that must exist) for the rest of this
    process's life; the file descriptor it lives on is returned (closing it releases the lock). AlreadyLocked when
    another process holds it (or this one, on another descriptor); OSError when the file cannot be made or opened."""
    descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder_pid = _pid_in(descriptor)
        os.close(descriptor)
        raise AlreadyLocked(lock_file, holder_pid) from None
    except BaseException:
        os.close(descriptor)
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return descriptor


def holder(lock_file: Path) -> AlreadyLocked | None:
    """Whether another live process holds the lock on `lock_file`, asked without creating anything: the file and its
    directory are left as they are (missing, or unlocked once asked). AlreadyLocked (returned, not raised) when one
    does; None when none does, or when there is no lock file to ask. Not to be asked by the process holding it (its
    own lock, on another descriptor, answers AlreadyLocked)."""
    try:
        descriptor = os.open(lock_file, os.O_RDONLY)  # flock needs no write access; no O_CREAT
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return AlreadyLocked(lock_file, _pid_in(descriptor))
    finally:
        os.close(descriptor)  # releases the lock when this call took it
    return None


def _pid_in(descriptor: int) -> int | None:
    text = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
