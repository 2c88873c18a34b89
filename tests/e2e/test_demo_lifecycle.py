"""`shopbridge demo` as a newcomer runs it: the banner appears once the server listens, and Ctrl+C mid-import
stops quickly and quietly (issue 12, newcomer trial: items 1 and 6)."""

from __future__ import annotations

import re
import signal
from urllib.parse import parse_qs, urlsplit

import httpx

from adapters.config import SANDBOX_SERVICE_ID
from tests.e2e.test_cli_serve import DEADLINE_SECONDS, clean_env, shopbridge, wait_for
from tests.fixtures.app import START, free_port

ACTIVE = "{ syncTasks { edges { node { kind status processed } } } }"


def test_banner_once_listening_then_sigint_mid_import_is_quiet(tmp_path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stdout, stderr = tmp_path / "demo.out", tmp_path / "demo.err"
    env = clean_env(SHOPBRIDGE_DATA_DIR=str(tmp_path / "data"), SHOPBRIDGE_SANDBOX_ORDERS="400")
    process = shopbridge("demo", "--port", str(port), env=env, cwd=tmp_path, out=tmp_path / "demo")
    try:
        # given the banner: the very first request after it is answered (no "connection refused")
        wait_for(lambda: process.poll() is not None or "GraphiQL" in stdout.read_text(), "the banner")
        assert process.poll() is None, stderr.read_text()
        assert httpx.get(f"{base}/healthz", timeout=DEADLINE_SECONDS).status_code == 200
        banner = stdout.read_text()
        token = re.search(r"Bearer ([\w.-]+)", banner)
        assert token is not None, banner
        headers = {"Authorization": f"Bearer {token.group(1)}"}

        def graphql(query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
            response = httpx.post(
                f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=30
            )
            assert response.status_code == 200, response.text
            return dict(response.json()["data"])

        # and an import under way against a slow TikTok (each call 200 ms)
        assert httpx.post(f"{base}/sandbox/_sandbox/latency", json={"ms": 200}).status_code == 200
        started = graphql(START, {"input": {"region": "US", "name": "Stop shop", "regionConfirmed": True}})
        state = parse_qs(urlsplit(started["shopAuthorizationStart"]["authorizationUrl"]).query)["state"][0]  # type: ignore[index]
        form = {"service_id": SANDBOX_SERVICE_ID, "seller": "us-local", "decision": "approve", "state": state}
        consent = httpx.post(f"{base}/sandbox/oauth/authorize", data=form)
        assert httpx.get(consent.headers["location"], timeout=30).status_code in (200, 303)

        def importing() -> bool:
            tasks = [edge["node"] for edge in graphql(ACTIVE)["syncTasks"]["edges"]]  # type: ignore[index]
            return any(task["status"] == "RUNNING" and task["processed"] > 0 for task in tasks)

        wait_for(importing, "an import to make progress")
        before = len(stderr.read_text())

        # when the user presses Ctrl+C
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE_SECONDS) in (0, 130, -signal.SIGINT)

        # then nothing calls the closed port, nothing warns, and each interrupted run says so once, quietly
        after = stderr.read_text()[before:]
        for noise in ("ConnectError", "attempt", "Traceback", " WARNING ", " ERROR ", "Retrying message"):
            assert noise not in after, after
        interrupted = [line for line in after.splitlines() if "interrupted by the shutdown" in line]
        assert all(" INFO " in line for line in interrupted), interrupted
        assert len(interrupted) == len(set(interrupted_subjects(interrupted))), interrupted
        assert "Application shutdown complete." in after
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def interrupted_subjects(lines: list[str]) -> list[str]:
    return [line.split(": ", 1)[1].split(" interrupted")[0] for line in lines]
