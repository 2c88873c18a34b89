"""Shopbridge served in a thread of the bench process for benchmark 7: GraphQL as a frontend speaks it, the database
read directly (poll cursors, active tasks), and the poll cursors moved back in time.

    with LiveApp(harness, database_url, sandbox, port) as app:
        shop = app.connect_shop(sandbox); app.wait(lambda: app.imports_done(shop["id"]), "the imports")
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import sqlalchemy as sa

from adapters.config import load_settings
from adapters.db.migrate import sync_url
from adapters.db.tables import sync_cursors, sync_tasks
from bench.harness import SELLER, Harness, SandboxProcess, log
from gql.auth import issue_token
from tests.fixtures.app import CONNECT, START, ServedApp

MERCHANT_ID = "bench-live-merchant"
POLL_INTERVAL_S = 300
TASKS = "query($id: ID!) { shop(id: $id) { syncTasks(first: 20) { edges { node { kind trigger status } } } } }"
POLL_KINDS = {"ORDERS": "/orders/search", "PRODUCTS": "/products/search"}  # TikTok path endings of a poll's search


class LiveApp:
    """Shopbridge served in a thread, with its database read directly and GraphQL spoken as a frontend does."""

    def __init__(
        self, harness: Harness, database_url: str, sandbox: SandboxProcess, port: int, **extra_env: str
    ) -> None:
        env = harness.env(database_url, sandbox.url)
        env.update({
            "SHOPBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SHOPBRIDGE_POLL_INTERVAL": str(POLL_INTERVAL_S),
            "SHOPBRIDGE_SCHEDULER_TICK": "0.2",  # so that a poll made due starts within 0.2 s
            **extra_env,
        })  # fmt: skip
        self.settings = load_settings(env)
        from gql.app import create_app

        self.served = ServedApp(create_app(self.settings), port)
        self.url = ""
        self.http = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {self.token()}"})
        self.db = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)

    def token(self) -> str:
        return issue_token(self.settings.secret_key, MERCHANT_ID, 3600)

    def __enter__(self) -> LiveApp:
        self.url = self.served.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.db.dispose()
        self.served.stop()

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"{self.url}/graphql", json={"query": query, "variables": variables})
        body = response.json()
        if response.status_code != 200 or "errors" in body:
            raise RuntimeError(f"GraphQL failed: {response.text[:500]}")
        return dict(body["data"])

    def connect_shop(self, sandbox: SandboxProcess, seller: str = SELLER, name: str = "Live bench") -> dict[str, Any]:
        """OAuth as a merchant does it: start, the seller's consent on TikTok's form, complete. The shop."""
        started = self.graphql(START, {"input": {"region": "US", "name": name, "regionConfirmed": True}})
        state = parse_qs(urlsplit(started["shopAuthorizationStart"]["authorizationUrl"]).query)["state"][0]
        form = {"service_id": sandbox.SERVICE_ID, "seller": seller, "decision": "approve", "state": state}
        consent = sandbox.http.post(f"{sandbox.url}/oauth/authorize", data=form, follow_redirects=False)
        redirect = dict(parse_qs(urlsplit(consent.headers["location"]).query))
        done = self.graphql(CONNECT, {"input": {"state": redirect["state"][0], "code": redirect["code"][0]}})
        if done["shopAuthorizationComplete"]["userErrors"]:
            raise RuntimeError(f"connecting {seller} failed: {done}")
        return dict(done["shopAuthorizationComplete"]["shop"])

    def wait(self, check: Any, what: str, timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.05)
        return result

    def imports_done(self, shop_id: str) -> bool:
        tasks = [e["node"] for e in self.graphql(TASKS, {"id": shop_id})["shop"]["syncTasks"]["edges"]]
        imports = [t for t in tasks if t["trigger"] != "SCHEDULED"]
        if any(t["status"] in ("FAILED", "CANCELLED") for t in imports):
            raise RuntimeError(f"an import failed: {imports}")
        return {t["kind"] for t in imports if t["status"] == "SUCCEEDED"} >= set(POLL_KINDS)

    def cursors(self) -> tuple[dict[str, dict[str, Any]], bool]:
        """The poll cursors by kind, and whether any sync task is active (read through the tables' types)."""
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(sync_cursors)).mappings().all()
            active = conn.execute(sa.select(sync_tasks.c.id).where(sync_tasks.c.status.in_(["QUEUED", "RUNNING"])))
            busy = active.first() is not None
        return {row["kind"]: dict(row) for row in rows}, busy

    def polled_since(self, since: datetime) -> bool:
        """Both kinds polled (their task queued) at or after `since`, and no task left active."""
        cursors, busy = self.cursors()
        polled = {k for k, c in cursors.items() if c["polled_at"] is not None and _aware(c["polled_at"]) >= since}
        return polled >= set(POLL_KINDS) and not busy

    def scheduled_and_idle(self) -> bool:
        cursors, busy = self.cursors()
        return all(cursors.get(kind, {}).get("scheduled_at") for kind in POLL_KINDS) and not busy

    def backdate_polls(self, seconds: float) -> None:
        """Move every poll cursor's times `seconds` back, as if the last poll had run that long ago: the scheduler
        (on the system clock) finds both kinds due at its next tick, and a poll reads the window a poll that
        much later would read (cursor - overlap .. now - settle)."""
        shift = timedelta(seconds=seconds)
        cursors, _ = self.cursors()
        with self.db.begin() as conn:
            for kind, cursor in cursors.items():
                values = {n: cursor[n] - shift for n in ("cursor_at", "scheduled_at", "polled_at") if cursor[n]}
                where = (sync_cursors.c.shop_id == cursor["shop_id"]) & (sync_cursors.c.kind == kind)
                conn.execute(sa.update(sync_cursors).where(where).values(**values))

    def poll_once(self) -> None:
        """Backdate the cursors one poll interval and wait for both polls; again if one was skipped (a task of
        its kind still active at the tick)."""
        for attempt in range(3):
            if attempt:
                log(f"a poll was skipped; cursors {self.cursors()}: backdating again")
            since = datetime.now(UTC)
            self.backdate_polls(POLL_INTERVAL_S)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.polled_since(since):
                    return
                time.sleep(0.05)
        raise RuntimeError("the scheduler did not poll both kinds after three tries")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
