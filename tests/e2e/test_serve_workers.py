"""`shopbridge serve --workers N` on a busy host: a worker process slow to start is waited for, not killed as hung
(issue 13: on a loaded machine uvicorn's 5 s health check killed and respawned booting workers in a loop)."""

from __future__ import annotations

import signal

import pytest
from cryptography.fernet import Fernet

from tests.e2e.test_cli_serve import REPO, _ready, clean_env, shopbridge
from tests.fixtures.app import free_port
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

# Each process uvicorn spawns takes 7 s before it runs any of uvicorn's code, as Python's start, uvicorn's imports
# and the unpickling of its configuration (~1 s of CPU) do on a host 7x overloaded.
SLOW_START = """
import sys
import time

if "--multiprocessing-fork" in sys.orig_argv:
    time.sleep(7)
"""


@pytest.mark.redis
def test_worker_processes_slow_to_start_are_waited_for_then_stop_on_sigterm(sqlite_url, redis_server, tmp_path) -> None:
    # given a host where each of uvicorn's worker processes takes 7 s to start
    slow = tmp_path / "slow-host"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(SLOW_START)
    port = free_port()
    env = clean_env(
        PYTHONPATH=f"{slow}:{REPO}",
        SHOPBRIDGE_DATABASE_URL=sqlite_url,
        SHOPBRIDGE_BROKER_URL=redis_server.url.rsplit("/", 1)[0] + "/6",
        SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"),
        SHOPBRIDGE_SECRET_KEY="serve-workers-" + "k" * 40,
        SHOPBRIDGE_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    # when `shopbridge serve --workers 2` starts
    process = shopbridge("serve", "--port", str(port), "--workers", "2", env=env, cwd=tmp_path, out=tmp_path / "api")
    log = tmp_path / "api.err"
    try:

        def both_started_or_one_killed() -> bool:
            text = log.read_text()
            return process.poll() is not None or " died" in text or text.count("Application startup complete.") == 2

        wait_until(both_started_or_one_killed, "both worker processes to start")
        # then each worker process started once, none was killed as hung, and the API serves
        assert process.poll() is None, log.read_text()
        assert " died" not in log.read_text(), log.read_text()
        assert log.read_text().count("Started server process") == 2, log.read_text()
        assert _ready(f"http://127.0.0.1:{port}")
        # and SIGTERM stops the parent and both worker processes
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=DEADLINE_SECONDS) == 0, log.read_text()
        assert log.read_text().count("Application shutdown complete.") == 2, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
