"""What operators watch: /healthz, /readyz and /metrics over real HTTP, through the outages and deploys of a
production layout: PostgreSQL stopped or turned read-only, Redis down, a later release's migration."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import make_url

from adapters.db import migrate
from adapters.db.migrate import sync_url
from adapters.tls import tls_context
from gql import metrics
from gql.metrics import MAX_OPERATION_NAMES
from sandbox.config import SandboxConfig
from tests.e2e.databases import sqlite_own_behaviour, subject_not_the_database
from tests.e2e.test_webhooks import envelope, push
from tests.fixtures.app import MutableClock, ShopbridgeServer, build_settings, free_port
from tests.fixtures.processes import oneshot
from tests.fixtures.sandbox import start_sandbox
from tests.fixtures.servers import POSTGRES_ONLY, PostgresServer, start_postgres_server
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines, wait_until
from tests.fixtures.ws import OperationError, WsOperation

SHOPS = "{ shops { edges { node { id name } } } }"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and labels.items() <= dict(ls).items())


def a_write_s_error_codes(app) -> list[str]:
    """The error codes of a small write (`shopAuthorizationStart` by merchant m1); [] when it succeeded."""
    answer = app.raw_graphql(
        'mutation { shopAuthorizationStart(input: {region: US, name: "S", regionConfirmed: true}) '
        "{ authorizationUrl } }",
        None,
        "m1",
    )
    return [e["extensions"]["code"] for e in answer.get("errors", [])]


@subject_not_the_database("the health endpoints")
def test_healthz_and_readyz_answer_without_a_token(app) -> None:
    assert oneshot.get(f"{app.url}/healthz").json() == {"status": "ok"}
    ready = oneshot.get(f"{app.url}/readyz")
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
        assert oneshot.get(f"{app.url}/readyz").status_code == 200
        assert app.graphql("{ shops { edges { node { id } } } }", None, "m1") == {"shops": {"edges": []}}
        assert total(samples(oneshot.get(f"{app.url}/metrics").text), "shopbridge_sync_tasks", status="QUEUED") == 0
        # when the database server stops
        own_postgres.stop()
        # then readiness fails, naming the database, while liveness holds
        response = oneshot.get(f"{app.url}/readyz", timeout=DEADLINE_SECONDS)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert [p["check"] for p in body["problems"]] == ["database"]
        assert oneshot.get(f"{app.url}/healthz").status_code == 200
        # and the task gauges read from it are unknown (NaN), not the last scrape's values shown as current
        scraped = samples(oneshot.get(f"{app.url}/metrics", timeout=DEADLINE_SECONDS).text)
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


def test_a_webhook_pushed_while_postgresql_is_down_is_answered_500_and_logged_in_one_warning_line(
    own_postgres, tmp_path, caplog
) -> None:
    # given an API on a PostgreSQL server of its own, whose database server then stops
    url = own_postgres.create_database("shopbridge")
    migrate.upgrade(url)
    app, sandbox = _serve(url, tmp_path)
    try:
        own_postgres.stop()
        caplog.clear()
        # when TikTok pushes a signed webhook
        answer = push(app, envelope(1, "7", {"order_id": "576461413038785752"}))
        # then it is answered 500, so that TikTok retries it
        assert answer.status_code == 500
        # and the outage is one WARNING line naming the cause, without a traceback: ERROR (with ~120 lines of
        # traceback, and a second WARNING line) is for bugs
        lines = [r for r in caplog.records if r.name == "shopbridge.webhooks"]
        assert [(r.levelname, r.exc_info) for r in lines] == [("WARNING", None)]
        assert "the database is unavailable (ConnectionRefusedError" in lines[0].getMessage()
    finally:
        app.stop()
        sandbox.stop()  # type: ignore[attr-defined]


@POSTGRES_ONLY
def test_a_pool_exhausted_while_postgresql_is_up_is_database_busy_not_an_outage(app_factory, caplog) -> None:
    # given an API whose pool holds one connection, no overflow, waited for 0.5 s, its sessions named
    app = app_factory(
        db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.5, db_application_name="shopbridge-e2e"
    )
    assert app.graphql(SHOPS, None, "m1") == {"shops": {"edges": []}}
    # then each of its PostgreSQL sessions names the process (soak53: every one had an empty application_name)
    others = "datname = current_database() AND pid <> pg_backend_pid()"
    names = {r["application_name"] for r in app.rows(f"SELECT application_name FROM pg_stat_activity WHERE {others}")}
    assert names == {"shopbridge-e2e"}
    lock = sa.create_engine(sync_url(app.settings.database_url), poolclass=sa.pool.NullPool)
    try:
        with ThreadPoolExecutor(1) as threads, lock.begin() as conn:  # the lock let go first, then the thread
            # and its one connection held by a query that waits on a lock the test holds
            conn.execute(sa.text("LOCK TABLE shops IN ACCESS EXCLUSIVE MODE"))
            held = threads.submit(app.raw_graphql, SHOPS, None, "m1")
            # (the API's pool lent its one connection, and a session waits on the lock: the embedded worker pool's
            # own, of the same name, may wait there too)
            pool = app.asgi.state.services.db.write_engine.pool
            waiting = f"SELECT count(*) AS n FROM pg_stat_activity WHERE {others} AND wait_event_type = 'Lock'"
            wait_until(
                lambda: pool.checkedout() == 1 and app.rows(waiting)[0]["n"] >= 1,
                "the API's one connection waiting on the lock",
            )
            caplog.clear()
            # when another query comes, and another (a webhook would not wait for this pool: the intake has a
            # connection of its own, `tests/e2e/test_webhooks.py` holds every connection of the pool for that)
            answers = [app.raw_graphql(SHOPS, None, "m1") for _ in range(2)]
            # then the queries are told the server is busy (DATABASE_BUSY), not that the database is down
            for answer in answers:
                assert [(e["message"], e["extensions"]["code"]) for e in answer["errors"]] == [
                    ("The server is busy: its database connections are all in use; try again shortly.", "DATABASE_BUSY")
                ]
            # and logged in one WARNING line naming the pool's size and the settings, not one per request
            lines = [r for r in caplog.records if r.name == "shopbridge.graphql"]
            assert [(r.levelname, r.exc_info) for r in lines] == [("WARNING", None)]
            assert "DATABASE_BUSY in ['shops']: this process's database connections are all in use" in (
                lines[0].getMessage()
            )
            assert "QueuePool limit of size 1 overflow 0 reached" in lines[0].getMessage()
            assert "SHOPBRIDGE_DB_POOL_SIZE" in lines[0].getMessage()
        # and the held query answers once the lock is let go
        assert held.result(timeout=DEADLINE_SECONDS) == {"data": {"shops": {"edges": []}}}
    finally:
        lock.dispose()


@sqlite_own_behaviour("its file removed while serving")
def test_a_sqlite_file_removed_while_serving_makes_readyz_503_and_writes_service_unavailable(app) -> None:
    # given a ready API on SQLite, a merchant's shop connected
    assert oneshot.get(f"{app.url}/readyz").status_code == 200
    app.connect_shop("m1", "us-local", "US")
    # when its database file is removed (`make clean` does `rm -rf var`)
    path = Path(make_url(app.settings.database_url).database or "")
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    # then /readyz answers 503 `database`, saying the file was removed (before: `migrations`, "revision none"), and
    # the gauge to alert on says the database is down (before: 1)
    response = oneshot.get(f"{app.url}/readyz", timeout=DEADLINE_SECONDS)
    assert response.status_code == 503
    (problem,) = response.json()["problems"]
    assert problem["check"] == "database" and f"the database file {path} was removed" in problem["reason"]
    assert (
        total(samples(oneshot.get(f"{app.url}/metrics").text), "shopbridge_dependency_up", dependency="database") == 0
    )
    # and a write is answered as an outage, where it succeeded into the removed file and was lost at the next start
    assert a_write_s_error_codes(app) == ["SERVICE_UNAVAILABLE"]
    # and a read and a write say, as /readyz does, that only a restart mends it: they said "try again shortly", which
    # never came true (tryout61 F2: a demo kept so after `make clean`); no path of the server's in the answer
    read = app.raw_graphql("{ shops { totalCount } }", None, "m1")
    write = app.raw_graphql('mutation { shopAuthorizationStart(input: {region: US, name: "S", regionConfirmed: true}) '
                            "{ authorizationUrl } }", None, "m1")  # fmt: skip
    for answer in (read, write):
        (error,) = answer["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", answer
        assert "removed or replaced while this server ran; restart the server" in error["message"], answer
        assert "try again shortly" not in error["message"] and str(path) not in error["message"], answer


@subject_not_the_database("how an outage's errors are logged (here: its SQLite file removed)")
def test_a_database_outage_under_many_aliases_is_one_warning_line_for_the_response(app, caplog) -> None:
    """Rule (gql/errors.py `process_errors`, README "The GraphQL API"): an outage writes one WARNING line a response,
    naming the first field and its cause, then how many more and a few of their paths; a line each let a document
    of 30 aliases write 30 lines a request while the database was down (lows72)."""
    # given a ready API on SQLite, a merchant's shop connected, whose database file is then removed (an outage no
    # wait mends: every read fails)
    assert oneshot.get(f"{app.url}/readyz").status_code == 200
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    path = Path(make_url(app.settings.database_url).database or "")
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    # (a nullable field: a root list's null would end the response at its first error)
    aliases = " ".join(f"a{i}: shop(id: $id) {{ name }}" for i in range(20))
    # when one request reads the shop under 20 aliases
    with caplog.at_level(logging.INFO, logger="shopbridge.graphql"), log_lines("shopbridge.graphql") as lines:
        answer = app.raw_graphql("query($id: ID!) { " + aliases + " }", {"id": shop["id"]}, "m1")
        lines.wait_for("database unavailable in")
    # then every alias is told so
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["SERVICE_UNAVAILABLE"] * 20, answer
    # and the log has one WARNING line for the response, without a traceback
    logged = [r for r in caplog.records if r.name == "shopbridge.graphql"]
    assert [(r.levelname, r.exc_info) for r in logged] == [("WARNING", None)], [r.getMessage() for r in logged]
    message = logged[0].getMessage()
    first = answer["errors"][0]["path"]
    assert message.startswith(f"database unavailable in {first}: "), message
    assert "(and 19 more: SERVICE_UNAVAILABLE x19 in ['a" in message and message.endswith(" and 16 other paths)")


def test_readyz_names_migrations_that_are_behind(postgres_server, tmp_path) -> None:
    # given a database that was never migrated
    url = postgres_server.create_database()
    app, sandbox = _serve(url, tmp_path)
    try:
        response = oneshot.get(f"{app.url}/readyz")
        assert response.status_code == 503
        (problem,) = response.json()["problems"]
        assert problem["check"] == "migrations" and "migrate" in problem["reason"]
    finally:
        app.stop()
        sandbox.stop()  # type: ignore[attr-defined]


@subject_not_the_database("the metrics")
def test_metrics_count_an_import(app) -> None:
    before = samples(oneshot.get(f"{app.url}/metrics").text)
    # when a merchant connects a shop and its imports run
    app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    response = oneshot.get(f"{app.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # then the import's records, TikTok calls, task durations and GraphQL operations were counted
    query = "{ shops { edges { node { tiktokShopId syncTasks { edges { node { kind status created } } } } } } }"
    (shop,) = app.graphql(query, None, "m1")["shops"]["edges"]
    tasks = {t["node"]["kind"]: t["node"] for t in shop["node"]["syncTasks"]["edges"]}
    world = app.sandbox.world
    catalog = world.shop_data(world.shops_by_id[shop["node"]["tiktokShopId"]]).catalog
    assert tasks["PRODUCTS"]["created"] == len(catalog.products) > 1 and tasks["ORDERS"]["created"] > 0
    for kind, task in tasks.items():
        assert moved("shopbridge_sync_records_imported_total", kind=kind, outcome="created") == task["created"]
    assert moved("shopbridge_tiktok_requests_total", endpoint="POST /product/202309/products/search", outcome="ok") > 0
    assert moved("shopbridge_sync_task_duration_seconds_count", kind="ORDERS", status="SUCCEEDED") == 1
    assert moved("shopbridge_graphql_operations_total", type="mutation", outcome="ok") >= 2
    assert total(after, "shopbridge_sync_tasks", status="QUEUED") == 0


# The cap the tests below give their process (`no_operation_labelled_yet`): the rule is the same at any cap, and each
# name past it is a GraphQL request over HTTP (at MAX_OPERATION_NAMES, 200, the three tests sent ~860 requests).
CAP = 20
MORE = 25  # names past the cap


def test_a_process_labels_at_most_max_operation_names_by_name() -> None:
    # the process's own labels (those the tests below replace with a fresh, smaller set) cap at MAX_OPERATION_NAMES
    assert metrics._labels.limit == MAX_OPERATION_NAMES


@subject_not_the_database("the metrics' operation labels")
def test_operation_names_chosen_by_clients_cannot_grow_the_metrics_without_end(app, no_operation_labelled_yet) -> None:
    # Given a client that names each of its operations anew (the names are the client's to choose), MORE more
    # names than a process labels by name
    names = [f"Fresh{n}" for n in range(CAP + MORE)]
    before = samples(oneshot.get(f"{app.url}/metrics").text)
    with httpx.Client(verify=tls_context(), headers={"Authorization": f"Bearer {app.token('m1')}"}) as client:
        for name in names:
            assert client.post(f"{app.url}/graphql", json={"query": f"query {name} {{ supportedRegions }}"}).is_success
    after = samples(oneshot.get(f"{app.url}/metrics").text)
    # then at most CAP of them have a series of their own, and the others are counted as `other`
    labelled = {dict(labels).get("operation") for (name, labels) in after if name.startswith("shopbridge_graphql")}
    assert len(labelled & set(names)) <= CAP
    name, kind = "shopbridge_graphql_operations_total", {"type": "query", "outcome": "ok"}
    assert total(after, name, operation="other", **kind) - total(before, name, operation="other", **kind) >= MORE


@pytest.fixture
def no_operation_labelled_yet(monkeypatch) -> None:
    """A fresh `gql.metrics.OperationLabels` of `CAP` names for the test, the process's own given back after: the
    labels are per process, and the tests of a worker share one."""
    monkeypatch.setattr(metrics, "_labels", metrics.OperationLabels(CAP))


@subject_not_the_database("the metrics' operation labels")
def test_new_names_past_the_cap_are_counted_as_other_and_logged_once(app, no_operation_labelled_yet) -> None:
    # Given a process whose CAP labels are taken by operations that really ran
    ran = [f"Ran{n}" for n in range(CAP)]
    late = ["Late0", "Late1", "Late2"]
    with httpx.Client(verify=tls_context(), headers={"Authorization": f"Bearer {app.token('m1')}"}) as client:

        def run(name: str) -> None:
            answer = client.post(f"{app.url}/graphql", json={"query": f"query {name} {{ supportedRegions }}"})
            assert answer.status_code == 200 and "errors" not in answer.json(), answer.text

        with log_lines("shopbridge.metrics", logging.WARNING) as lines:
            for name in ran:
                run(name)
            assert lines.messages == []  # the cap is not reached yet
            before = samples(oneshot.get(f"{app.url}/metrics").text)
            # when three more new names run, and a labelled one again
            for name in [*late, "Ran0"]:
                run(name)
        after = samples(oneshot.get(f"{app.url}/metrics").text)
    # then each new name is counted, under `other` (the series stay bounded, nothing goes uncounted), and the
    # labelled one under its name
    name, query = "shopbridge_graphql_operations_total", {"type": "query", "outcome": "ok"}
    assert total(after, name, operation="other", **query) - total(before, name, operation="other", **query) == 3
    assert total(after, name, operation="Ran0", **query) - total(before, name, operation="Ran0", **query) == 1
    labelled = {dict(labels).get("operation") for (metric, labels) in after if metric.startswith("shopbridge_graphql")}
    assert set(ran) <= labelled and not labelled & set(late)
    # and one WARNING says so, naming the cap and the first name left out (the cap was reached silently before)
    assert lines.messages == [
        f"{CAP} GraphQL operation names have a metrics label of their own in this process "
        '(MAX_OPERATION_NAMES): Late0 and every later new name are counted as operation="other" in '
        "shopbridge_graphql_operations_total and _duration_seconds until a restart (logged once)"
    ]


@subject_not_the_database("the metrics' operation labels")
def test_documents_the_server_never_ran_earn_no_operation_label(app, no_operation_labelled_yet) -> None:
    # Given a merchant sending, under a new name each time, more documents than a process labels by name, none of
    # which runs: it does not parse, does not validate, names no operation of its document, has a variable that
    # does not coerce, or is a subscription over HTTP
    junk = {
        "parse": lambda name: ({"query": f"query {name} {{"}, "GRAPHQL_PARSE_FAILED"),
        "validation": lambda name: ({"query": f"query {name} {{ noSuchField }}"}, "GRAPHQL_VALIDATION_FAILED"),
        "variables": lambda name: (
            {"query": f"query {name}($n: Int) {{ shops(first: $n) {{ totalCount }} }}", "variables": {"n": "x"}},
            "BAD_USER_INPUT",
        ),
        "subscription": lambda name: (
            {"query": f"subscription {name} {{ shopsUpdated {{ id }} }}"},
            "OPERATION_NOT_SUPPORTED",
        ),
    }
    names = [f"Junk{n}" for n in range(CAP + 4)]
    before = samples(oneshot.get(f"{app.url}/metrics").text)
    with httpx.Client(verify=tls_context(), headers={"Authorization": f"Bearer {app.token('m1')}"}) as client:
        for n, name in enumerate(names):
            body, code = list(junk.values())[n % len(junk)](name)
            answer = client.post(f"{app.url}/graphql", json={**body, "operationName": name}).json()
            assert [e["extensions"]["code"] for e in answer["errors"]] == [code], answer
    # when another merchant's console runs its own named query
    all_shops = oneshot.post(
        f"{app.url}/graphql",
        json={"query": "query AllShops { shops { totalCount } }", "operationName": "AllShops"},
        headers={"Authorization": f"Bearer {app.token('m2')}"},
    )
    assert "errors" not in all_shops.json()
    after = samples(oneshot.get(f"{app.url}/metrics").text)
    # then none of the junk names has a label, each junk document was counted as `other`, and AllShops has its label
    labelled = {dict(labels).get("operation") for (name, labels) in after if name.startswith("shopbridge_graphql")}
    assert not labelled & set(names)
    name = "shopbridge_graphql_operations_total"
    assert total(after, name, operation="other", outcome="error") - total(
        before, name, operation="other", outcome="error"
    ) == len(names)
    ran = {"operation": "AllShops", "type": "query", "outcome": "ok"}
    assert total(after, name, **ran) - total(before, name, **ran) == 1


@subject_not_the_database("the metrics' operation labels")
def test_documents_naming_no_operation_to_run_are_counted_too(app, no_operation_labelled_yet) -> None:
    # Given a merchant's documents Strawberry refuses before validation: an `operationName` the document does not
    # have, a document with no operation at all, and a mutation sent with GET
    h = {"Authorization": f"Bearer {app.token('m1')}"}
    before = samples(oneshot.get(f"{app.url}/metrics").text)
    ghost = {"query": "query Real { supportedRegions }", "operationName": "Ghost"}
    answers = [
        oneshot.post(f"{app.url}/graphql", json=ghost, headers=h),
        oneshot.post(f"{app.url}/graphql", json=ghost, headers=h),
        oneshot.post(f"{app.url}/graphql", json={"query": "fragment F on Query { supportedRegions }"}, headers=h),
        oneshot.get(
            f"{app.url}/graphql",
            params={"query": 'mutation Write { shopRename(input: {id: "x", name: "y"}) { userErrors { code } } }'},
            headers=h,
        ),
    ]
    codes = [(a.status_code, a.json()["errors"][0]["extensions"]["code"]) for a in answers]
    assert codes == [(200, "BAD_REQUEST")] * 3 + [(405, "METHOD_NOT_ALLOWED")]
    after = samples(oneshot.get(f"{app.url}/metrics").text)

    def moved(**labels: str) -> float:
        return total(after, "shopbridge_graphql_operations_total", **labels) - total(
            before, "shopbridge_graphql_operations_total", **labels
        )

    # then each is counted as an operation the server did not run, with an error, none under its own name (they
    # were not counted at all, though README said `other`: small56, found but not fixed)
    assert moved(operation="other", type="unknown", outcome="error") == 2
    assert moved(operation="anonymous", type="unknown", outcome="error") == 1
    assert moved(operation="other", type="mutation", outcome="error") == 1
    assert moved() == 4
    assert (
        total(after, "shopbridge_graphql_operation_duration_seconds_count", operation="other", type="unknown")
        - total(before, "shopbridge_graphql_operation_duration_seconds_count", operation="other", type="unknown")
        == 2
    )
    labelled = {dict(labels).get("operation") for (name, labels) in after if name.startswith("shopbridge_graphql")}
    assert not labelled & {"Ghost", "Real", "Write"}


@subject_not_the_database("the metrics' authentication")
def test_metrics_need_the_token_when_one_is_set(app_factory) -> None:
    # Given an API whose /metrics needs a token
    app = app_factory(metrics_token="scrape-me")
    # when a scraper sends none, another scheme, a bare scheme or another bearer token
    unsent = "Send an Authorization: Bearer <SHOPBRIDGE_METRICS_TOKEN> header."
    cases = {
        None: (unsent, 'Bearer realm="metrics"'),
        "Basic c2NyYXBlLW1lOg==": (unsent, 'Bearer realm="metrics"'),
        "Bearer": (unsent, 'Bearer realm="metrics"'),
        "Bearer wrong": ("The token is not SHOPBRIDGE_METRICS_TOKEN.", 'Bearer realm="metrics", error="invalid_token"'),
        "bearer scrape-me-too": (
            "The token is not SHOPBRIDGE_METRICS_TOKEN.",
            'Bearer realm="metrics", error="invalid_token"',
        ),
    }
    for authorization, (message, challenge) in cases.items():
        headers = {} if authorization is None else {"Authorization": authorization}
        refused = oneshot.get(f"{app.url}/metrics", headers=headers)
        # then it is refused 401 in the shape of every refusal off /graphql, with a stable code (it was
        # {"error": "<text>"}, small56), and RFC 6750's challenge: a realm, and invalid_token for a wrong token
        assert refused.status_code == 401, authorization
        assert refused.json() == {"error": {"code": "UNAUTHENTICATED", "message": message}}, authorization
        assert refused.headers["www-authenticate"] == challenge, authorization
        assert "shopbridge_" not in refused.text
    # and the token, its scheme in any case, is let through; /healthz needs none
    for scheme in ("Bearer", "bearer"):
        response = oneshot.get(f"{app.url}/metrics", headers={"Authorization": f"{scheme} scrape-me"})
        assert response.status_code == 200 and "shopbridge_graphql_operations_total" in response.text
    assert oneshot.get(f"{app.url}/healthz").status_code == 200


@subject_not_the_database("the metrics' authentication")
def test_metrics_refuse_two_authorization_headers_as_graphql_does(app_factory) -> None:
    # Given an API whose /metrics needs a token
    guarded = app_factory(metrics_token="scrape-me")
    # when a scraper sends two Authorization headers, the token in the first, the second or both
    pairs = [("scrape-me", "wrong"), ("wrong", "scrape-me"), ("scrape-me", "scrape-me")]
    for pair in pairs:
        headers = [("Authorization", f"Bearer {token}") for token in pair]
        refused = oneshot.get(f"{guarded.url}/metrics", headers=headers)
        # then it is 400 BAD_REQUEST with /graphql's message, in the shape of every refusal off /graphql (small56: the
        # first header was read, so ("scrape-me", "wrong") was let through)
        assert refused.status_code == 400, pair
        message = "Ambiguous credentials: send one Authorization header, not several."
        assert refused.json() == {"error": {"code": "BAD_REQUEST", "message": message}}, pair
        graphql = oneshot.post(f"{guarded.url}/graphql", json={"query": "{ supportedRegions }"}, headers=headers)
        assert (graphql.status_code, graphql.json()["errors"][0]["extensions"]["code"]) == (400, "BAD_REQUEST")
        assert graphql.json()["errors"][0]["message"] == message


@subject_not_the_database("the metrics' authentication")
def test_an_open_metrics_reads_no_authorization_and_so_refuses_none(app) -> None:
    # Given an API without SHOPBRIDGE_METRICS_TOKEN, when a scraper sends two Authorization headers, then /metrics
    # answers: nothing reads them (as GraphiQL's page, which needs no token, does not refuse them either)
    headers = [("Authorization", "Bearer a"), ("Authorization", "Bearer b")]
    response = oneshot.get(f"{app.url}/metrics", headers=headers)
    assert response.status_code == 200 and "shopbridge_graphql_operations_total" in response.text


def test_metrics_count_webhook_answers(app) -> None:
    tiktok = app.settings.tiktok
    url = f"{app.url}/webhooks/tiktok"

    def push(raw: bytes, signed: bool = True) -> int:
        mac = hmac.new(tiktok.app_secret.encode(), tiktok.app_key.encode() + raw, hashlib.sha256).hexdigest()
        return oneshot.post(url, content=raw, headers={"Authorization": mac if signed else "forged"}).status_code

    before = samples(oneshot.get(f"{app.url}/metrics").text)
    envelope = {"type": 1, "tts_notification_id": "n-metrics-1", "shop_id": "404", "timestamp": 1, "data": {}}
    raw = json.dumps(envelope).encode()
    assert [push(raw, signed=False), push(b"not json"), push(raw), push(raw)] == [401, 400, 200, 200]
    assert push(b"x" * (app.settings.webhook_max_bytes + 1)) == 413
    after = samples(oneshot.get(f"{app.url}/metrics").text)
    moved = {
        outcome: total(after, "shopbridge_webhooks_received_total", outcome=outcome)
        - total(before, "shopbridge_webhooks_received_total", outcome=outcome)
        for outcome in ("stored", "duplicate", "unauthorized", "malformed", "too_large", "failed")
    }
    assert moved == {"stored": 1, "duplicate": 1, "unauthorized": 1, "malformed": 1, "too_large": 1, "failed": 0}


def test_an_api_stays_ready_and_serves_once_a_later_release_migrated_its_database(postgres_url, tmp_path) -> None:
    # given an API of this release, ready, serving a merchant's shop
    app, sandbox = _serve(postgres_url, tmp_path)
    try:
        shop = app.connect_shop("m1", "us-local", "US")
        assert oneshot.get(f"{app.url}/readyz").json() == {"status": "ready"}
        # when the next release's `migrate` runs during a rolling deploy: an additive change (a new nullable column,
        # a new table), as the expand-then-contract contract requires, and a revision this release does not know
        app.execute("ALTER TABLE shops ADD COLUMN later_release_note TEXT")
        app.execute("CREATE TABLE later_release_things (id TEXT PRIMARY KEY)")
        app.execute("UPDATE alembic_version SET version_num = '0009_later_release'")
        # then this process stays in rotation, its body saying the database is a later release's
        response = oneshot.get(f"{app.url}/readyz")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "ready" and [n["check"] for n in body["notes"]] == ["migrations"]
        assert "0009_later_release" in body["notes"][0]["reason"]
        # and it still reads and writes: another shop connects, both are listed
        app.connect_shop("m1", "us-local-2", "US")
        names = sorted(e["node"]["name"] for e in app.graphql(SHOPS, None, "m1")["shops"]["edges"])
        assert names == sorted([shop["name"], "us-local-2 shop"])
    finally:
        app.stop()
        sandbox.stop()  # type: ignore[attr-defined]


@POSTGRES_ONLY
def test_with_redis_down_the_api_stays_ready_degraded_and_takes_webhooks_and_mutations(app_factory, own_redis) -> None:
    # given an API process on PostgreSQL and Redis (no worker: what it enqueues waits in Redis)
    app = app_factory(broker_url=own_redis.url)
    assert oneshot.get(f"{app.url}/readyz").json() == {"status": "ready"}
    # when Redis goes down
    own_redis.process.terminate()
    own_redis.process.wait()
    # then the process stays in rotation, reported degraded, with the gauge to alert on, and live
    response = oneshot.get(f"{app.url}/readyz", timeout=DEADLINE_SECONDS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded" and "problems" not in body
    assert [d["check"] for d in body["degraded"]] == ["redis"]
    assert oneshot.get(f"{app.url}/healthz").status_code == 200
    scraped = samples(oneshot.get(f"{app.url}/metrics", timeout=DEADLINE_SECONDS).text)
    assert total(scraped, "shopbridge_dependency_up", dependency="redis") == 0
    assert total(scraped, "shopbridge_dependency_up", dependency="database") == 1
    # and a mutation that enqueues works: the shop connects, its imports QUEUED in the database for the sweep
    shop = app.connect_shop("m1", "us-local", "US")
    query = "query($id: ID!) { shop(id: $id) { status syncTasks { edges { node { status } } } } }"
    found = app.graphql(query, {"id": shop["id"]}, "m1")["shop"]
    assert found["status"] == "ACTIVE"
    assert [t["node"]["status"] for t in found["syncTasks"]["edges"]] == ["QUEUED", "QUEUED"]
    # and webhook intake needs no Redis: a push is stored (PENDING, for a worker once Redis is back) and answered 200
    order = push(app, envelope(1, shop["tiktokShopId"], {"order_id": "576461413038785752"}))
    assert order.status_code == 200
    assert [e["outcome"] for e in app.rows("SELECT outcome FROM webhook_events")] == ["PENDING"]
    # when Redis is back, then the next check says ready again
    own_redis.restart()
    assert oneshot.get(f"{app.url}/readyz").json() == {"status": "ready"}
    scraped = samples(oneshot.get(f"{app.url}/metrics").text)
    assert total(scraped, "shopbridge_dependency_up", dependency="redis") == 1


def test_readyz_turns_503_when_postgresql_turns_read_only(own_postgres, tmp_path) -> None:
    # given a ready API on a PostgreSQL server of its own, its pool holding open connections
    url = own_postgres.create_database("shopbridge")
    migrate.upgrade(url)
    app, sandbox = _serve(url, tmp_path)
    try:
        assert oneshot.get(f"{app.url}/readyz").status_code == 200
        app.connect_shop("m1", "us-local", "US")
        # when the server turns read-only (as a primary demoted, or an operator's default_transaction_read_only)
        connection = own_postgres.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute("ALTER SYSTEM SET default_transaction_read_only = on")
                cursor.execute("SELECT pg_reload_conf()")

            # then readiness fails, naming it, on the connections the pool already held
            def unready() -> dict[str, object] | None:
                response = oneshot.get(f"{app.url}/readyz", timeout=DEADLINE_SECONDS)
                return response.json() if response.status_code == 503 else None

            body = wait_until(unready, "readiness to see the read-only server")
            assert [p["check"] for p in body["problems"]] == ["read_only"], body
            assert "default_transaction_read_only" in body["problems"][0]["reason"]
            # while writes are answered as an outage, not an unexpected error
            assert a_write_s_error_codes(app) == ["SERVICE_UNAVAILABLE"]
            # and once it takes writes again, so is the process ready again
            with connection.cursor() as cursor:
                cursor.execute("ALTER SYSTEM RESET default_transaction_read_only")
                cursor.execute("SELECT pg_reload_conf()")
            wait_until(lambda: oneshot.get(f"{app.url}/readyz").status_code == 200, "readiness to come back")
        finally:
            connection.close()
    finally:
        app.stop()
        sandbox.stop()  # type: ignore[attr-defined]


TASKS_OF_SHOP = "subscription($shopId: ID) { syncTaskUpdated(shopId: $shopId) { id kind status } }"
ITEM_UPDATED = "subscription($id: ID) { inventoryItemUpdated(inventoryItemId: $id) { id onHand } }"
ITEM_CREATE = "mutation($sku: String!) { inventoryItemCreate(input: {sku: $sku, onHand: 5}) { inventoryItem { id } } }"
ITEM_ADJUST = """mutation($id: ID!) { inventoryAdjust(input: {inventoryItemId: $id, delta: 2, reason: "delivery"}) {
  userErrors { code } } }"""
SYNC_START = (
    "mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS]}) { tasks { id } userErrors { code } } }"
)
ITEM_BY_SKU = "subscription($sku: String) { inventoryItemUpdated(sku: $sku) { id onHand } }"
SHOPS_UPDATED = "subscription { shopsUpdated { id name } }"
SHOP_UPDATED = "subscription($id: ID!) { shopUpdated(shopId: $id) { id name } }"
SHOP_RENAME = (
    'mutation($id: ID!) { shopRename(input: {shopId: $id, name: "After the outage"}) { userErrors { code } } }'
)
QUIET_SECONDS = 3.0  # two of the subscriptions' re-read periods (1.5 s): each reads the stopped database meanwhile


async def test_live_subscriptions_wait_out_a_postgresql_outage_and_send_the_state_after_it(
    own_postgres, tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="shopbridge.subscriptions")
    # given an API on a PostgreSQL server of its own, a merchant's shop imported and an item of its pool
    url = own_postgres.create_database("shopbridge")
    migrate.upgrade(url)
    app, sandbox = _serve(url, tmp_path)
    try:
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        await asyncio.to_thread(app.wait_for_idle_sync)
        item = (await app.agraphql(ITEM_CREATE, {"sku": "OUTAGE-1"}, "m1"))["inventoryItemCreate"]["inventoryItem"]
        # and a client following the shop's tasks, the item and the shops (the task feed, the item's own re-reads,
        # the shop feed)
        async with (
            app.subscribe(TASKS_OF_SHOP, {"shopId": shop["id"]}, "m1") as tasks,
            app.subscribe(ITEM_UPDATED, {"id": item["id"]}, "m1") as followed,
            app.subscribe(SHOPS_UPDATED, None, "m1") as shops,
            app.subscribe(SHOP_UPDATED, {"id": shop["id"]}, "m1") as one_shop,
            contextlib.AsyncExitStack() as later,
        ):
            assert (await followed.next())["inventoryItemUpdated"]["onHand"] == 5
            assert (await shops.next())["shopsUpdated"]["name"] == shop["name"]
            assert (await one_shop.next())["shopUpdated"]["name"] == shop["name"]
            assert (await tasks.next())["syncTaskUpdated"]["status"] == "SUCCEEDED"  # the imports, as they are
            # when PostgreSQL stops for a while, and a newcomer to the shop feed makes it read
            await asyncio.to_thread(own_postgres.halt)
            newcomer = await later.enter_async_context(app.subscribe(SHOPS_UPDATED, None, "m1"))
            # and clients subscribe during it, each on a new socket (its connection_init reads no database: acked),
            # with reads of their own at their start: every task (each shop's latest), the shop, an item by its SKU;
            # another merchant to m1's shop, and m1 to an SKU it does not have
            subscribing = (
                (TASKS_OF_SHOP, {}, "m1"),
                (SHOP_UPDATED, {"id": shop["id"]}, "m1"),
                (ITEM_BY_SKU, {"sku": "OUTAGE-1"}, "m1"),
                (SHOP_UPDATED, {"id": shop["id"]}, "m2"),
                (ITEM_BY_SKU, {"sku": "NO-SUCH-SKU"}, "m1"),
            )
            late_tasks, late_shop, late_item, foreign, missing = [
                await later.enter_async_context(app.subscribe(*args)) for args in subscribing
            ]

            # then no subscription ends, nor says anything, while it is down (they ended with SERVICE_UNAVAILABLE: the
            # shop feed's failed read ended every follower of the feed, the one already there included; the ones begun
            # during the outage were refused SERVICE_UNAVAILABLE at their first read)
            async def quiet(op: WsOperation, first_messages: bool) -> None:
                with pytest.raises(TimeoutError):
                    while True:
                        await op.next(timeout=QUIET_SECONDS)
                        assert first_messages  # the other import's first message may still come
                        first_messages = False

            ops = (followed, shops, newcomer, one_shop, late_tasks, late_shop, late_item, foreign, missing)
            await asyncio.gather(quiet(tasks, True), *(quiet(op, False) for op in ops))
            outage = app.asgi.state.services.database_outage
            waiting = {"syncTaskUpdated", "inventoryItemUpdated", "shopsUpdated", "shopUpdated"}
            await asyncio.to_thread(wait_until, lambda: waiting <= outage.waiting, "every one to wait")
            # while a query is still refused at once, SERVICE_UNAVAILABLE: only subscriptions wait
            body = await asyncio.to_thread(app.raw_graphql, SHOPS, None, "m1")
            assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
            unavailable_in = [
                r.getMessage()
                for r in caplog.records
                if r.name == "shopbridge.graphql" and r.getMessage().startswith("database unavailable in ")
            ]
            assert [line.split(":")[0] for line in unavailable_in] == ["database unavailable in ['shops']"]
            # when it is back, and a task starts, the item changes and the shop is renamed
            await asyncio.to_thread(own_postgres.resume)
            ready = lambda: oneshot.get(f"{app.url}/readyz").status_code == 200  # noqa: E731
            await asyncio.to_thread(wait_until, ready, "readiness to come back")
            started = (await app.agraphql(SYNC_START, {"id": shop["id"]}, "m1"))["syncStart"]
            assert started["userErrors"] == []
            assert (await app.agraphql(ITEM_ADJUST, {"id": item["id"]}, "m1"))["inventoryAdjust"]["userErrors"] == []
            renamed = await app.agraphql(SHOP_RENAME, {"id": shop["id"]}, "m1")
            assert renamed["shopRename"]["userErrors"] == []
            # then each subscription delivers the current state, from a read of the database
            while (await followed.next())["inventoryItemUpdated"]["onHand"] != 7:
                pass
            (new,) = started["tasks"]
            while (await tasks.next())["syncTaskUpdated"]["id"] != new["id"]:
                pass
            for op, field in ((shops, "shopsUpdated"), (newcomer, "shopsUpdated"), (one_shop, "shopUpdated")):
                while (await op.next())[field]["name"] != "After the outage":  # the newcomer's first batch first
                    pass
            # and the ones begun during the outage have started: the state after it, then its changes
            while (await late_item.next())["inventoryItemUpdated"]["onHand"] != 7:
                pass
            while (await late_tasks.next())["syncTaskUpdated"]["id"] != new["id"]:  # the imports' latest first
                pass
            while (await late_shop.next())["shopUpdated"]["name"] != "After the outage":
                pass
            # and their refusals are those they get without an outage: m1's shop is none of m2's, NOT_FOUND, as is an
            # SKU m1 does not have, each at its field
            for op, field in ((foreign, "shopUpdated"), (missing, "inventoryItemUpdated")):
                with pytest.raises(OperationError) as refused:
                    await op.next()
                assert [(e["extensions"]["code"], e["path"]) for e in refused.value.payload] == [("NOT_FOUND", [field])]
        # and the outage was told in one WARNING line, however many reads retried, and its end in one INFO line
        lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shopbridge.subscriptions"]
        assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
        assert lines[0][1].startswith("the database is unavailable (")
        assert "(inventoryItemUpdated, shopUpdated, shopsUpdated, syncTaskUpdated waited" in lines[1][1]
    finally:
        app.stop()
        sandbox.stop()  # type: ignore[attr-defined]
