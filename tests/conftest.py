"""Shared fixtures live in tests/fixtures/, one module per real part (servers, sandbox, app).

Every test also runs under `_no_thread_outlives_its_test`: a thread the test started (a server, a Dramatiq
worker or its event loop, an aiosqlite connection) that is still alive once the test's fixtures are torn down
is a leak that would otherwise surface, at random, in a later test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.sandbox",
    "tests.fixtures.sync",
    "tests.fixtures.app",
]

THREAD_EXIT_SECONDS = 5.0  # a stopped thread may still be returning from its last call


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
