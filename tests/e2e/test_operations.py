"""What operators watch: /healthz, /readyz and /metrics over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.db import migrate
from sandbox.config import SandboxConfig
from tests.fixtures.app import MutableClock, ShopbridgeServer, build_settings, free_port
from tests.fixtures.sandbox import start_sandbox
from tests.fixtures.servers import PostgresServer, start_postgres_server
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and labels.items() <= dict(ls).items())


@SQLITE_ONLY
def test_healthz_and_readyz_answer_without_a_token(app) -> None:
    assert httpx.get(f"{app.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{app.url}/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = start_postgres_server()
    try:
        yield server
    finally:
        server.stop()


def _serve(database_url: str, tmp_path: Path, **overrides: object) -> tuple[ShopbridgeServer, object]:
    port = free_port()
    sandbox = start_sandbox(SandboxConfig(redirect_url=f"http://127.0.0.1:{port}/oauth/tiktok/callback"))
    settings = build_settings(database_url, sandbox, tmp_path / "data", port, **overrides)
    return ShopbridgeServer(settings, sandbox, MutableClock(), port).start(), sandbox


def test_readyz_turns_503_and_graphql_says_service_unavailable_when_postgresql_stops(
    own_postgres, tmp_path, caplog
) -> None:
    # given an API on a PostgreSQL server of its own, ready, its embedded scheduler ticking
    url = own_postgres.create_database("shopbridge")
    migrate.upgrade(url)
    app, sandbox = _serve(url, tmp_path, scheduler_enabled=True, scheduler_tick=0.2)
    try:
        assert httpx.get(f"{app.url}/readyz").status_code == 200
        assert app.graphql("{ shops { edges { node { id } } } }", None, "m1") == {"shops": {"edges": []}}
        assert total(samples(httpx.get(f"{app.url}/metrics").text), "shopbridge_sync_tasks", status="QUEUED") == 0
        # when the database server stops
        own_postgres.stop()
        # then readiness fails, naming the database, while liveness holds
        response = httpx.get(f"{app.url}/readyz", timeout=DEADLINE_SECONDS)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert [p["check"] for p in body["problems"]] == ["database"]
        assert httpx.get(f"{app.url}/healthz").status_code == 200
        # and the task gauges read from it are unknown (NaN), not the last scrape's values shown as current
        scraped = samples(httpx.get(f"{app.url}/metrics", timeout=DEADLINE_SECONDS).text)
        assert math.isnan(total(scraped, "shopbridge_sync_tasks", status="QUEUED"))
        # and a query is told the database is unavailable (a coded error to retry on, not "Unexpected error."),
        # logged as one WARNING line that names the cause, without a traceback: an outage is not a bug
        caplog.clear()
        answer = app.raw_graphql("{ shops { edges { node { id } } } }", None, "m1")
        assert [(e["message"], e["extensions"]["code"]) for e in answer["errors"]] == [
            ("The database is unavailable; try again shortly.", "SERVICE_UNAVAILABLE")
        ]
        lines = [r for r in caplog.records if r.name == "shopbridge.graphql"]
        assert [(r.levelname, r.exc_info) for r in lines] == [("WARNING", None)]
        assert "database unavailable in ['shops']: ConnectionRefusedError" in lines[0].getMessage()
        # and the scheduler's every tick says so in one line too, not with a traceback each time
        wait_until(lambda: [r for r in caplog.records if r.name == "workers.resources"], "a failed scheduler tick")
        ticks = [r for r in caplog.records if r.name == "workers.resources"]
        assert all(r.exc_info is None for r in ticks), ticks[0].exc_info
        assert "scheduler tick failed, the database is unavailable (ConnectionRefusedError" in ticks[0].getMessage()
    finally:
        app.stop()
        sandbox.stop()  # type: ignore[attr-defined]


def test_readyz_names_migrations_that_are_behind(postgres_server, tmp_path) -> None:
    # given a database that was never migrated
    url = postgres_server.create_database()
    app, sandbox = _serve(url, tmp_path)
    try:
        response = httpx.get(f"{app.url}/readyz")
        assert response.status_code == 503
        (problem,) = response.json()["problems"]
        assert problem["check"] == "migrations" and "migrate" in problem["reason"]
    finally:
        app.stop()
        sandbox.stop()  # type: ignore[attr-defined]


@SQLITE_ONLY
def test_metrics_count_an_import(app) -> None:
    before = samples(httpx.get(f"{app.url}/metrics").text)
    # when a merchant connects a shop and its imports run
    app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    response = httpx.get(f"{app.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # then the import's records, TikTok calls, task durations and GraphQL operations were counted
    query = "{ shops { edges { node { syncTasks { edges { node { kind status created } } } } } } }"
    (shop,) = app.graphql(query, None, "m1")["shops"]["edges"]
    tasks = {t["node"]["kind"]: t["node"] for t in shop["node"]["syncTasks"]["edges"]}
    assert tasks["PRODUCTS"]["created"] == 30 and tasks["ORDERS"]["created"] > 0
    for kind, task in tasks.items():
        assert moved("shopbridge_sync_records_imported_total", kind=kind, outcome="created") == task["created"]
    assert moved("shopbridge_tiktok_requests_total", endpoint="POST /product/202309/products/search", outcome="ok") > 0
    assert moved("shopbridge_sync_task_duration_seconds_count", kind="ORDERS", status="SUCCEEDED") == 1
    assert moved("shopbridge_graphql_operations_total", type="mutation", outcome="ok") >= 2
    assert total(after, "shopbridge_sync_tasks", status="QUEUED") == 0


@SQLITE_ONLY
def test_metrics_need_the_token_when_one_is_set(app_factory) -> None:
    app = app_factory(metrics_token="scrape-me")
    assert httpx.get(f"{app.url}/metrics").status_code == 401
    assert httpx.get(f"{app.url}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = httpx.get(f"{app.url}/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert response.status_code == 200 and "shopbridge_graphql_operations_total" in response.text
    assert httpx.get(f"{app.url}/healthz").status_code == 200


def test_metrics_count_webhook_answers(app) -> None:
    tiktok = app.settings.tiktok
    url = f"{app.url}/webhooks/tiktok"

    def push(raw: bytes, signed: bool = True) -> int:
        mac = hmac.new(tiktok.app_secret.encode(), tiktok.app_key.encode() + raw, hashlib.sha256).hexdigest()
        return httpx.post(url, content=raw, headers={"Authorization": mac if signed else "forged"}).status_code

    before = samples(httpx.get(f"{app.url}/metrics").text)
    envelope = {"type": 1, "tts_notification_id": "n-metrics-1", "shop_id": "404", "timestamp": 1, "data": {}}
    raw = json.dumps(envelope).encode()
    assert [push(raw, signed=False), push(b"not json"), push(raw), push(raw)] == [401, 400, 200, 200]
    assert push(b"x" * (app.settings.webhook_max_bytes + 1)) == 413
    after = samples(httpx.get(f"{app.url}/metrics").text)
    moved = {
        outcome: total(after, "shopbridge_webhooks_received_total", outcome=outcome)
        - total(before, "shopbridge_webhooks_received_total", outcome=outcome)
        for outcome in ("stored", "duplicate", "unauthorized", "malformed", "too_large", "failed")
    }
    assert moved == {"stored": 1, "duplicate": 1, "unauthorized": 1, "malformed": 1, "too_large": 1, "failed": 0}
