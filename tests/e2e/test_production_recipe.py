"""The README's recipe for one host: N API processes and M worker processes with the `shopbridge` command, on
PostgreSQL and Redis, sharing one metrics directory; an import through it, watched through /readyz and /metrics."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from adapters.db.migrate import sync_url
from gql.ids import from_global_id
from sandbox.config import SandboxConfig
from tests.e2e.test_operations import samples, total
from tests.fixtures.app import CONNECT, START, build_settings, free_port
from tests.fixtures.processes import oneshot, parent_death_signal, stop_groups
from tests.fixtures.sandbox import start_sandbox
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.sync import settings_env
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

REPO = Path(__file__).resolve().parents[2]
TASKS = "{ shops { edges { node { syncTasks { edges { node { id kind status created } } } } } } }"


def run(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "gql.cli", *args], env=env, cwd=log.parent, stdout=output,
            stderr=subprocess.STDOUT, preexec_fn=parent_death_signal(signal.SIGTERM), start_new_session=True,
        )  # fmt: skip


@pytest.mark.redis
@POSTGRES_ONLY
def test_two_api_and_two_worker_processes_on_one_host(database_url, redis_server, tmp_path) -> None:
    port = free_port()
    sandbox = start_sandbox(
        SandboxConfig(products=20, orders=40, redirect_url=f"http://127.0.0.1:{port}/oauth/tiktok/callback")
    )
    settings = build_settings(database_url, sandbox, tmp_path / "data", port)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")},
        **settings_env(settings),
        "PYTHONPATH": str(REPO),
        "SHOPBRIDGE_BROKER_URL": redis_server.url.rsplit("/", 1)[0] + "/4",
        "SHOPBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SHOPBRIDGE_METRICS_TOKEN": "scrape",
        "SHOPBRIDGE_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    base = f"http://127.0.0.1:{port}"
    api = worker = None
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "gql.cli", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
        )
        assert migrate.returncode == 0, migrate.stderr
        api = run(["serve", "--port", str(port), "--workers", "2"], env, tmp_path / "api.log")
        wait_until(lambda: _status(f"{base}/readyz") == 200 or api.poll() is not None, "the API to be ready")
        assert api.poll() is None, (tmp_path / "api.log").read_text()  # died while starting: say why at once
        token = subprocess.run(
            [sys.executable, "-m", "gql.cli", "token", "m1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
        ).stdout.split()[-1]
        headers = {"Authorization": f"Bearer {token}"}

        def graphql(query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
            response = oneshot.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers)
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            return dict(response.json()["data"])

        # a merchant connects a shop through the API processes; the worker processes import it
        started = graphql(START, {"input": {"region": "US", "name": "Host shop", "regionConfirmed": True}})
        url = started["shopAuthorizationStart"]["authorizationUrl"]  # type: ignore[index]
        state = parse_qs(urlsplit(url).query)["state"][0]
        redirect = sandbox.authorize("us-local", state)
        graphql(CONNECT, {"input": {"state": redirect["state"], "code": redirect["code"]}})
        # with no worker yet, the two import tasks wait: in the database and in Redis
        waiting = samples(oneshot.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape"}).text)
        assert total(waiting, "shopbridge_sync_tasks", status="QUEUED") == 2
        assert total(waiting, "shopbridge_broker_queue_messages", queue="sync") == 2
        # and the webhook registration on the live queue (webhooks, pushes): its backlog is watched too
        assert total(waiting, "shopbridge_broker_queue_messages", queue="live") == 1
        worker = run(["worker", "--processes", "2", "--threads", "2"], env, tmp_path / "worker.log")

        def done() -> list[dict[str, object]] | None:
            edges = graphql(TASKS)["shops"]["edges"]  # type: ignore[index]
            tasks = [t["node"] for e in edges for t in e["node"]["syncTasks"]["edges"]]
            return tasks if len(tasks) == 2 and all(t["status"] == "SUCCEEDED" for t in tasks) else None

        wait_until(lambda: worker.poll() is not None or done(), "both imports to succeed")
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        tasks = done()
        assert tasks is not None
        # any API process's /metrics shows what the worker processes imported
        found = samples(oneshot.get(f"{base}/metrics", headers={"Authorization": "Bearer scrape"}).text)
        for task in tasks:
            assert (
                total(found, "shopbridge_sync_records_imported_total", kind=task["kind"], outcome="created")
                == (task["created"])
            )
        assert total(found, "shopbridge_tiktok_requests_total", outcome="ok") > 0
        assert total(found, "shopbridge_broker_queue_messages", queue="sync") == 0
        # and each PostgreSQL session names its command, the processes serve and worker started included (soak53:
        # 48 nameless sessions, no telling which process held them)
        assert _session_names(database_url) == {"shopbridge-serve", "shopbridge-worker"}
        # every process logs JSON lines: the uvicorn workers, Dramatiq's master and its worker processes
        api_lines = [json.loads(line) for line in (tmp_path / "api.log").read_text().splitlines() if line]
        worker_lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines() if line]
        assert any(line.get("merchant_id") == "m1" and line.get("request_id") for line in api_lines)
        assert any(line["logger"].startswith("dramatiq.MainProcess") for line in worker_lines)
        # and no start-up noise: alembic's plugin lines were logged by each uvicorn worker process (seven each)
        assert not [line for line in api_lines + worker_lines if line["logger"] == "alembic.runtime.plugins"]
        # and no line per TikTok call at INFO (httpx's request lines: 99 % of a worker's log, try-out ops51); each
        # call's line at DEBUG names what it was for (tests/e2e/test_cli_serve.py)
        assert not [line for line in worker_lines if line["logger"] == "httpx"]
    finally:
        # Every process is waited for (SIGKILL after the deadline) and the sandbox stopped, whatever happens. Seen at
        # load 20: an API still booting outlived the wait after SIGTERM, the TimeoutExpired skipped the rest, the
        # sandbox thread outlived the test, and the process, never waited for, was reported in a later test as
        # "ResourceWarning: subprocess N is still running" when its Popen was collected.
        # The API and the workers stop side by side (their shutdowns overlap).
        with contextlib.ExitStack() as stack:
            stack.callback(sandbox.stop)
            stack.callback(stop_groups, [process for process in (worker, api) if process is not None])


def to_local(global_id: object) -> str:
    decoded = from_global_id(str(global_id))
    assert decoded is not None
    return decoded[1]


def _session_names(database_url: str) -> set[str]:
    """`application_name` of the database's sessions but this one's (pg_stat_activity)."""
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT DISTINCT application_name FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def _status(url: str) -> int:
    try:
        return oneshot.get(url, timeout=DEADLINE_SECONDS).status_code
    except httpx.HTTPError:
        return 0
