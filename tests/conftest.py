"""Shared fixtures live in tests/fixtures/, one module per real part (servers, sandbox, app).

Every test also runs under `_no_thread_outlives_its_test`: a thread the test started (a server, a Dramatiq
worker or its event loop, an aiosqlite connection) that is still alive once the test's fixtures are torn down
is a leak that would otherwise surface, at random, in a later test.

And under `_root_logging_restored`: a test that configures logging (every `shopbridge` command run in-process
does, `configure_logging` in adapters/logs.py) leaves the root logger as it found it. Otherwise its handler keeps
writing to that test's captured stderr, closed once the test ends: every later log line in that process is a
"--- Logging error --- ValueError: I/O operation on closed file" on the terminal, and the INFO level it set
changes what later tests' `caplog` sees.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.sandbox",
    "tests.fixtures.sync",
    "tests.fixtures.app",
    "tests.fixtures.scheduling",
    "tests.fixtures.sql_cache",
    "tests.fixtures.revisions",
]

# pytest's temporary directories (`tmp_path`: the tests' SQLite databases, the served apps' and CLI runs' data
# directories) go to this tmpfs when it is one with this much room, unless a temporary root is chosen already
# (`--basetemp`, `PYTEST_DEBUG_TEMPROOT`).
TMPFS = Path("/dev/shm")
TMPFS_MIN_FREE_BYTES = 4 * 1024**3
THREAD_EXIT_SECONDS = 5.0  # a stopped thread may still be returning from its last call
FULL_COLLECTION_EVERY = 200  # tests between two collections of the whole heap (`_no_connection_outlives_its_test`)
_TESTS_RUN = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    """Put the run's temporary directories on a tmpfs (`TMPFS`) when there is one with room: SQLite syncs every
    commit of a database not yet in WAL mode to the disk, each DDL statement of a migration among them (Python's
    sqlite3 commits DDL at once), and a migration from scratch took ~2.7 s on /tmp's disk, ~1.0 s on tmpfs; the
    migration tests, the CLI runs (`shopbridge migrate`, `serve`, `demo` on a fresh file) and each worker's
    `sqlite_template` pay it. PostgreSQL's throwaway clusters already run with `fsync=off`. Set in the controller
    before xdist picks the run's base directory (pytest-N under this root; each worker a directory inside), through
    pytest's documented `PYTEST_DEBUG_TEMPROOT`, so concurrent runs still get directories of their own."""
    if config.option.basetemp or os.environ.get("PYTEST_DEBUG_TEMPROOT") or not _roomy_tmpfs(TMPFS):
        return
    os.environ["PYTEST_DEBUG_TEMPROOT"] = str(TMPFS)


def _roomy_tmpfs(path: Path) -> bool:
    """Whether `path` is a writable tmpfs mount with `TMPFS_MIN_FREE_BYTES` free (a container's 64 MB /dev/shm is
    not: the run keeps the default temporary root then)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
        stats = os.statvfs(path)
    except OSError:
        return False
    tmpfs = any(fields[1] == str(path) and fields[2] == "tmpfs" for fields in (line.split() for line in mounts))
    return tmpfs and os.access(path, os.W_OK) and stats.f_bavail * stats.f_frsize >= TMPFS_MIN_FREE_BYTES


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what exists once the tests are collected (the imported modules: about a million objects), so that
    `_no_connection_outlives_its_test`'s collection walks only what the tests made since: ~0.4 s per test
    otherwise on a loaded machine, milliseconds then."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(trylast=True)  # after the session fixtures' teardown
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Thaw the heap: pytest's last collection (at unconfigure) then sees every object, and an unclosed connection
    that only became garbage after its test's collection fails the run there (`_no_connection_outlives_its_test`)."""
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _no_connection_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A connection (socket, asyncio transport, file) the test left unclosed fails THIS test, not a later one.

    Defined first, so torn down last, after the test's own fixtures and threads have stopped: what is unreachable
    then and still open warns (ResourceWarning, an error under `filterwarnings = ["error"]`) during this test's
    teardown, where pytest's unraisable-exception hook reports it. Without it the warning is raised whenever the
    garbage collector happens to run, in whichever later test (issue 13). `PYTHONTRACEMALLOC=20` shows where the
    object was allocated. The fixtures' values are let go of first (pytest would drop them only after the
    teardown), so what they held is this test's garbage too.

    What survives the collection is then frozen like the collected modules (`pytest_collection_finish`): the next
    test's collection walks only what that test made. Walking every survivor of every earlier test instead cost
    each test 25-200 ms of CPU (a unit test's teardown took 0.2 s, 1 s under load, in a full run). A survivor that
    becomes garbage later (what a global Dramatiq broker held until the next app replaced it) is found by the full
    collection every `FULL_COLLECTION_EVERY` tests or the one ending the session (`pytest_sessionfinish`), failing
    that test or the run: it was blamed on a later test before too (the one that dropped it), now up to that many
    tests later still.
    """
    yield
    request.node.funcargs.clear()
    if next(_TESTS_RUN) % FULL_COLLECTION_EVERY == 0:
        gc.unfreeze()  # bounds the memory frozen garbage holds to what this many tests leave
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _no_thread_outlives_its_test() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_EXIT_SECONDS
    while leaked := [t for t in threading.enumerate() if t not in before and t.is_alive()]:
        if time.monotonic() > deadline:
            names = ", ".join(sorted(t.name for t in leaked))
            raise AssertionError(f"{len(leaked)} thread(s) started by the test are still alive: {names}")
        leaked[0].join(timeout=0.05)


def _handlers_not_pytests(root: logging.Logger) -> list[logging.Handler]:
    """The root logger's handlers but pytest's own (its capture handlers come and go with each test phase)."""
    return [handler for handler in root.handlers if not type(handler).__module__.startswith("_pytest.")]


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = _handlers_not_pytests(root), root.level
    yield
    for handler in _handlers_not_pytests(root):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
