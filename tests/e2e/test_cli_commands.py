"""`shopbridge export-schema` and `shopbridge sandbox` as a user runs them (the other subcommands:
tests/e2e/test_cli_serve.py, tests/integration/test_worker_cli.py, tests/e2e/test_production_recipe.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.fixtures.processes import free_port, oneshot
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

REPO = Path(__file__).resolve().parents[2]


def test_export_schema_writes_the_committed_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.graphql"
    done = subprocess.run(
        [sys.executable, "-m", "gql.cli", "export-schema", "--output", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (REPO / "schema.graphql").read_text()


def test_sandbox_serves_tiktoks_stand_in_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gql.cli", "sandbox", "--port", str(port), "--products", "3", "--orders", "4"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:

        def status() -> dict | None:
            try:
                return oneshot.get(f"http://127.0.0.1:{port}/_sandbox/", timeout=DEADLINE_SECONDS).json()
            except httpx.HTTPError:
                return None

        answer = wait_until(status, "the sandbox answering")
        sellers = oneshot.get(f"http://127.0.0.1:{port}/_sandbox/shops", timeout=DEADLINE_SECONDS).json()["sellers"]
        assert {"us-local", "uk-local", "cross-border"} <= {seller["key"] for seller in sellers}, answer
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully and re-raises the signal it caught, which the command only records: exit 0,
        # as `serve` and `worker` (a process manager restarting on failure read the status 143 it had as a crash)
        assert process.wait(timeout=DEADLINE_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()
