"""Benchmark 7 (issue 7): live sync. A sale's latency to GraphQL, webhook acknowledgement, the cost of a poll.

    await live(harness, "sqlite", LiveSizes()) -> dict of figures (see ROWS in bench/report.py)

Set-up, as production runs it: a sandbox process pushing webhooks (`--allow-insecure-webhooks`, app-wide URL =
the API's `/webhooks/tiktok`; Shopbridge also registers it per shop after authorization), and Shopbridge
(`gql.app.create_app`: the API with its embedded worker pool and scheduler, polls every 300 s) served by uvicorn
in a thread of this process. A shop is connected through OAuth (GraphQL
`shopAuthorizationStart`, the sandbox's consent form, `shopAuthorizationComplete`) and its imports awaited. Then:

a. Poll cost: the poll cursors' times are moved 300 s back in the database (as if the last poll had run 300 s
   ago: the scheduler, on the system clock, finds both kinds due), each kind is polled once (a warm-up that reads
   back to the imports), the sandbox's counters are reset, the cursors moved back again, and once both polls have
   run the counters give the requests of a 300 s poll of an unchanged shop (goal: 1 per kind).
   First, so that the sales below change nothing it reads.
b. Sale -> order visible: `sales` buyer sales (`POST /_sandbox/shops/{id}/sales`, one unit of a stocked SKU) at
   `sale_rate` per second; one reader queries `shop { orders(createdAfter) }` over HTTP back to back; a sale's
   latency runs from sending the sale to the first answer that lists its order (goal p95 <= 1 s).
c. Webhook acknowledgement: `bench/webhook_load.py` in a child process sends signed pushes with distinct
   notification ids at `webhook_rate`/s for `webhook_seconds` s from 8 keep-alive clients (goal p99 <= 50 ms);
   afterwards every push answered 200 must be in the inbox (else the bench fails).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from adapters.config import WEBHOOK_PATH
from adapters.db.migrate import sync_url
from adapters.db.tables import sync_tasks, webhook_events
from bench.harness import VENV_BIN, Harness, SandboxProcess, free_port, log, wait_http
from bench.live_app import POLL_INTERVAL_S, POLL_KINDS, LiveApp

ORDERS = """query($id: ID!, $after: DateTime) { shop(id: $id) {
  orders(first: 100, createdAfter: $after) { edges { node { tiktokOrderId } } } } }"""


@dataclass(frozen=True)
class LiveSizes:
    sales: int = 200
    sale_rate: float = 10.0  # sales per second
    webhook_rate: float = 200.0  # pushes per second
    webhook_seconds: float = 10.0
    products: int = 60  # the sandbox shop's catalog and order history (the imports before the measures)
    orders: int = 600

    def scaled(self, scale: float) -> LiveSizes:
        return replace(
            self, sales=max(20, round(self.sales * scale)), webhook_seconds=max(2.0, self.webhook_seconds * scale)
        )


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def poll_cost(app: LiveApp, sandbox: SandboxProcess) -> dict[str, Any]:
    app.wait(app.scheduled_and_idle, "the scheduler's first look at the shop")
    app.poll_once()  # the first poll after the imports reads back to them: a warm-up
    time.sleep(1.0)  # a few scheduler ticks of quiet: nothing else is due, nothing in flight
    app.wait(app.scheduled_and_idle, "quiet after the warm-up poll")
    sandbox.control("POST", "/counters/reset")
    since = datetime.now(UTC)
    app.poll_once()
    counters = sandbox.counters()
    requests = {
        kind: sum(sum(outcomes.values()) for path, outcomes in counters["by_path"].items() if path.endswith(ending))
        for kind, ending in POLL_KINDS.items()
    }
    with app.db.connect() as conn:
        polls = conn.execute(
            sa.select(sync_tasks.c.kind, sync_tasks.c.status, sync_tasks.c.checkpoint).where(
                sync_tasks.c.trigger == "SCHEDULED", sync_tasks.c.created_at >= since
            )
        ).all()
    return {
        "poll_requests": requests,
        "poll_total_requests": counters["total"],
        "poll_by_path": counters["by_path"],
        "poll_tasks": [
            {"kind": kind, "status": status, "window": (cp or {}).get("poll")} for kind, status, cp in polls
        ],
    }


def stocked_skus(sandbox: SandboxProcess, shop_id: str) -> list[str]:
    """SKU ids of live products, one entry per unit in stock (most stocked first), for the sales to draw from."""
    products = sandbox.control("GET", f"/shops/{shop_id}/products")["products"]
    units = [
        (sku["id"], sum(stock["quantity"] for stock in sku["inventory"]))
        for product in products
        if product["status"] == "ACTIVATE"
        for sku in product["skus"]
    ]
    units.sort(key=lambda pair: -pair[1])
    pool: list[str] = []
    for sku_id, stock in units:
        pool.extend([sku_id] * max(0, stock - 1))
    return pool[::7] + pool[1::7] + pool[2::7] + pool[3::7] + pool[4::7] + pool[5::7] + pool[6::7]


async def sale_latency(app: LiveApp, sandbox: SandboxProcess, shop: dict[str, Any], sizes: LiveSizes) -> dict[str, Any]:
    tiktok_id = shop["tiktokShopId"]
    pool = stocked_skus(sandbox, tiktok_id)
    if len(pool) < sizes.sales:
        raise RuntimeError(f"the sandbox shop has only {len(pool)} units in stock for {sizes.sales} sales")
    placed: dict[str, float] = {}  # order id -> monotonic time the sale was sent
    wall: dict[str, datetime] = {}  # order id -> UTC time the sale was answered
    seen: dict[str, float] = {}  # order id -> monotonic time of the first GraphQL answer listing it
    headers = {"Authorization": f"Bearer {app.token()}"}

    async with httpx.AsyncClient(timeout=30) as control, httpx.AsyncClient(timeout=30, headers=headers) as reader:

        async def sell() -> None:
            start = time.monotonic()
            for i in range(sizes.sales):
                await asyncio.sleep(max(0.0, start + i / sizes.sale_rate - time.monotonic()))
                sent = time.monotonic()
                response = await control.post(
                    f"{sandbox.url}/_sandbox/shops/{tiktok_id}/sales", json={"sku_id": pool[i], "quantity": 1}
                )
                response.raise_for_status()
                order_id = response.json()["order_id"]
                placed[order_id], wall[order_id] = sent, datetime.now(UTC)

        async def read() -> None:
            deadline = time.monotonic() + sizes.sales / sizes.sale_rate + 60
            while len(seen) < sizes.sales:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(seen)} of {sizes.sales} sales became visible")
                # Orders created since the oldest sale not seen yet (5 s of margin for TikTok's whole seconds).
                unseen = [wall[o] for o in placed if o not in seen]
                floor = min(unseen, default=datetime.now(UTC)) - timedelta(seconds=5)
                variables = {"id": shop["id"], "after": floor.isoformat()}
                response = await reader.post(f"{app.url}/graphql", json={"query": ORDERS, "variables": variables})
                answered = time.monotonic()
                for edge in response.json()["data"]["shop"]["orders"]["edges"]:
                    order_id = edge["node"]["tiktokOrderId"]
                    if order_id in placed and order_id not in seen:
                        seen[order_id] = answered
                await asyncio.sleep(0.01)

        started = time.monotonic()
        await asyncio.gather(sell(), read())
    latencies = [seen[o] - placed[o] for o in placed]
    return {
        "sales": len(latencies),
        "sale_rate_per_s": sizes.sale_rate,
        "sales_seconds": round(time.monotonic() - started, 1),
        "sale_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "sale_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "sale_max_ms": round(max(latencies) * 1000, 1),
    }


def webhook_ack(
    url: str, db: sa.Engine, sandbox: SandboxProcess, shop: dict[str, Any], sizes: LiveSizes
) -> dict[str, Any]:
    """Signed pushes at `sizes.webhook_rate`/s to the API at `url` (its root); every push answered 200 must then be
    in the inbox of `db`. Latencies in ms (request sent to response read)."""
    orders = [o["id"] for o in sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/orders")["orders"]][:200]
    args = [
        str(VENV_BIN / "python"), "-m", "bench.webhook_load", url + WEBHOOK_PATH,
        "--app-key", sandbox.APP_KEY, "--app-secret", sandbox.APP_SECRET, "--shop-id", shop["tiktokShopId"],
        "--orders", ",".join(orders), "--rate", str(sizes.webhook_rate), "--seconds", str(sizes.webhook_seconds),
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, check=True, timeout=sizes.webhook_seconds + 120)
    result = json.loads(done.stdout)
    latencies = result.pop("latencies_ms")
    acknowledged = {"tts:" + notification_id for notification_id in result.pop("acknowledged")}
    with db.connect() as conn:  # every push answered 200 must be in the inbox (durable before 200)
        keys = conn.execute(sa.select(webhook_events.c.notification_key).where(webhook_events.c.type == 1))
        missing = acknowledged - set(keys.scalars())
    if missing:
        raise RuntimeError(f"{len(missing)} acknowledged webhooks are not in the inbox, e.g. {sorted(missing)[:3]}")
    return {
        "webhooks_sent": result["sent"],
        "webhook_statuses": result["statuses"],
        "webhook_achieved_per_s": result["achieved_per_s"],
        "webhooks_acknowledged_in_inbox": len(acknowledged),
        "webhook_late_sends": result["late_sends"],
        "webhook_p50_ms": round(statistics.median(latencies), 1),
        "webhook_p99_ms": round(percentile(latencies, 0.99), 1),
        "webhook_max_ms": round(max(latencies), 1),
    }


def webhook_ack_production(
    harness: Harness, database_url: str, sandbox: SandboxProcess, shop: dict[str, Any], sizes: LiveSizes
) -> dict[str, Any]:
    """The same pushes in the production layout (README "Production"): `shopbridge serve` (the API alone) and
    `shopbridge worker` (one process, 4 threads: the events' processing) as processes of their own on a Redis
    broker, over the same database and shop. PostgreSQL only, as production is."""
    port = free_port()
    env = {
        **harness.env(database_url, sandbox.url),
        "SHOPBRIDGE_BROKER_URL": harness.redis(),
        "SHOPBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SHOPBRIDGE_POLL_INTERVAL": str(POLL_INTERVAL_S),
    }
    shopbridge = str(VENV_BIN / "shopbridge")
    api = harness.spawn([shopbridge, "serve", "--host", "127.0.0.1", "--port", str(port)], env, name="api-production")
    worker = harness.spawn([shopbridge, "worker", "--processes", "1", "--threads", "4"], env, name="worker-production")
    db = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", api)
        figures = webhook_ack(f"http://127.0.0.1:{port}", db, sandbox, shop, replace(sizes))
    finally:
        harness.forget(api)
        harness.forget(worker)
        db.dispose()
    return {f"production_{key}": value for key, value in figures.items()}


async def live(harness: Harness, db: str, sizes: LiveSizes) -> dict[str, Any]:
    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    log(f"7 [{db}] live sync: sandbox pushing to {webhook_url}")
    sandbox = harness.sandbox(
        sizes.products, sizes.orders, extra_args=["--allow-insecure-webhooks", "--webhook-url", webhook_url]
    )
    database_url = harness.fresh_database(db)
    try:
        with LiveApp(harness, database_url, sandbox, port) as app:
            shop = await asyncio.to_thread(app.connect_shop, sandbox)
            await asyncio.to_thread(app.wait, lambda: app.imports_done(shop["id"]), "the imports")
            log(f"7 [{db}] shop connected and imported; a 300 s poll")
            result = await asyncio.to_thread(poll_cost, app, sandbox)
            log(f"7 [{db}] {sizes.sales} sales at {sizes.sale_rate}/s")
            result.update(await sale_latency(app, sandbox, shop, sizes))
            log(f"7 [{db}] webhooks at {sizes.webhook_rate}/s for {sizes.webhook_seconds}s")
            result.update(await asyncio.to_thread(webhook_ack, app.url, app.db, sandbox, shop, sizes))
        if db == "postgres":
            log(f"7 [{db}] webhooks at {sizes.webhook_rate}/s, production layout (API and worker processes)")
            result.update(await asyncio.to_thread(webhook_ack_production, harness, database_url, sandbox, shop, sizes))
    finally:
        if sandbox.process is not None:
            harness.forget(sandbox.process)
        harness.drop_database(database_url)
    result["goals"] = {
        "sale_p95_ms": {"goal": "<= 1000", "met": result["sale_p95_ms"] <= 1000},
        "webhook_p99_ms": {"goal": "<= 50", "met": result["webhook_p99_ms"] <= 50},
        **(
            {"production_webhook_p99_ms": {"goal": "<= 50", "met": result["production_webhook_p99_ms"] <= 50}}
            if "production_webhook_p99_ms" in result
            else {}
        ),
        "poll_requests": {"goal": "1 per kind", "met": all(n == 1 for n in result["poll_requests"].values())},
    }
    log(
        f"7 [{db}] sale p95 {result['sale_p95_ms']} ms, webhook p99 {result['webhook_p99_ms']} ms, "
        f"poll requests {result['poll_requests']}"
    )
    return result
