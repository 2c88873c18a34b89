"""Benchmark 4: the orders page query (50 orders with line items and `totalCount`) at 16 concurrent clients, 1,000
vs 100,000 orders stored, in alternating rounds (medians of `runs`).

    await orders_page(harness, "sqlite", QuerySizes()) -> dict of figures (median latency, requests/s, ratios)

The database is seeded directly with SQLAlchemy Core: one shop stored through the shop repository (tokens
encrypted as usual) and generated order and line item rows shaped as the catalog repository writes them (ids are
the same digests; 1-4 line items per order, created over the past 45 days), then ANALYZEd on PostgreSQL. The
API is `shopbridge serve` in a child process (embedded mode: one uvicorn worker, the worker pool idle); the
clients are asyncio + httpx here.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import insert, text

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.repositories.catalog import ADD_TO_COUNT, row_id
from adapters.db.tables import line_items, orders
from bench.harness import SECRET_KEY, VENV_BIN, Harness, free_port, log, wait_http
from domain.shops import AuthorizedShop, Region, Shop, TokenSet
from gql.auth import issue_token
from gql.ids import to_global_id

MERCHANT_ID = "bench-merchant"
QUERY = """
query OrdersPage($id: ID!) {
  shop(id: $id) {
    orders(first: 50) {
      totalCount
      edges { node { tiktokOrderId status total { amount currency }
                     lineItems { tiktokSkuId quantity salePrice { amount } } } }
    }
  }
}
"""
INSERT_BATCH = 5_000


@dataclass(frozen=True)
class QuerySizes:
    small: int = 1_000
    large: int = 100_000
    clients: int = 16
    seconds: float = 8.0  # measured per store and round, after `warmup_seconds`
    warmup_seconds: float = 2.0
    runs: int = 3  # alternating rounds; figures are their medians

    def scaled(self, scale: float) -> QuerySizes:
        return QuerySizes(
            small=self.small,  # the small store is the reference: never scaled
            large=max(self.small * 2, int(self.large * scale)),
            seconds=max(2.0, self.seconds * min(1.0, scale * 2)),
            runs=self.runs,
        )


async def seed(url: str, orders_count: int, encryption_key: str, rng_seed: int = 7) -> str:
    """A shop of the bench merchant with `orders_count` orders; returns the shop's id."""
    db = Database(url)
    try:
        now = datetime.now(UTC)
        tokens = TokenSet("bench-access", now + timedelta(days=7), "bench-refresh", now + timedelta(days=365))
        granted = AuthorizedShop("7494000000000000001", "Bench shop", "US", "LOCAL", "bench-cipher")
        shop = Shop.connect(MERCHANT_ID, "Bench shop", Region.US, granted, tokens, now)
        async with uow_factory(db, TokenCipher(encryption_key))() as uow:
            await uow.shops.add(shop)
            await uow.commit()
        rng = random.Random(rng_seed)
        statuses = ("AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED", "COMPLETED", "CANCELLED", "UNPAID")
        order_rows: list[dict[str, Any]] = []
        item_rows: list[dict[str, Any]] = []
        for n in range(orders_count):
            tiktok_id = f"576{n:016d}"
            order_id = row_id(shop.id, "orders", tiktok_id)
            created = now - timedelta(seconds=rng.randrange(60, 45 * 86400))
            total = Decimal(0)
            for position in range(rng.randint(1, 4)):
                price = Decimal(rng.randrange(299, 12999)) / 100
                total += price
                item_id = f"577{n * 8 + position:016d}"
                item_rows.append(
                    {
                        "id": row_id(order_id, "line_items", item_id), "order_id": order_id, "shop_id": shop.id,
                        "tiktok_line_item_id": item_id, "tiktok_sku_id": f"173{rng.randrange(15_000):016d}",
                        "tiktok_product_id": f"172{rng.randrange(5_000):016d}", "seller_sku": f"SB-{n % 997}-M",
                        "product_name": "Cozy Socks 🧦", "quantity": 1, "sale_price_amount": price, "currency": "USD",
                        "position": position,
                    }
                )  # fmt: skip
            order_rows.append(
                {
                    "id": order_id, "shop_id": shop.id, "tiktok_order_id": tiktok_id, "status": rng.choice(statuses),
                    "created_at": created, "updated_at": created + timedelta(hours=rng.randrange(0, 240)),
                    "total_amount": total, "currency": "USD", "buyer_user_id": f"702{n:016d}",
                    "recipient_name": "Zoë Müller", "recipient_region": "US", "fingerprint": f"{n:032x}",
                    "imported_at": now,
                }
            )  # fmt: skip
            if len(order_rows) >= INSERT_BATCH:
                await _insert(db, order_rows, item_rows)
                order_rows, item_rows = [], []
        await _insert(db, order_rows, item_rows)
        if not db.is_sqlite:
            # Fresh statistics, as autovacuum would have gathered them by now: measured right after a bulk load,
            # PostgreSQL plans the orders page over stale ones (~36 ms instead of ~4 ms at 100,000 orders).
            async with db.write_engine.connect() as connection:
                await connection.execute(text("ANALYZE orders, line_items"))
                await connection.commit()
        return shop.id
    finally:
        await db.dispose()


async def _insert(db: Database, order_rows: list[dict[str, Any]], item_rows: list[dict[str, Any]]) -> None:
    if not order_rows:
        return
    async with db.write_engine.begin() as connection:
        await connection.execute(insert(orders), order_rows)
        await connection.execute(insert(line_items), item_rows)
        # The shop's running count, as the catalog's writer keeps it in the transaction of the rows it counts.
        counted = {"shop_id": order_rows[0]["shop_id"], "catalog": "orders", "added": len(order_rows)}
        await connection.execute(ADD_TO_COUNT, counted)


async def load(
    url: str, token: str, body: dict[str, Any], clients: int, requests: int = 0, seconds: float = 0.0
) -> tuple[list[float], float]:
    """`requests` queries (or as many as fit in `seconds`) from `clients` concurrent clients; every answer must be
    200 without errors. (Latencies in seconds, wall seconds.)"""
    headers = {"authorization": f"Bearer {token}"}
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:
        started = time.perf_counter()
        until = started + seconds

        async def client() -> None:
            nonlocal remaining
            while (remaining > 0) if requests else (time.perf_counter() < until):
                remaining -= 1
                sent = time.perf_counter()
                response = await http.post(url, json=body)
                latencies.append(time.perf_counter() - sent)
                payload = response.json()
                if response.status_code != 200 or payload.get("errors"):
                    raise RuntimeError(f"query failed: {response.status_code} {str(payload)[:500]}")

        await asyncio.gather(*(client() for _ in range(clients)))
        return latencies, time.perf_counter() - started


def start_api(harness: Harness, url: str) -> tuple[subprocess.Popen[bytes], str]:
    """`shopbridge serve` (one process, embedded mode, the worker pool idle) on `url`: (process, GraphQL endpoint)."""
    port = free_port()
    env = harness.env(url, "http://127.0.0.1:9", rate_limit=50.0)  # TikTok is never called here
    # A data directory of its own: benchmark 4 serves a small and a large store at once, and on SQLite one API
    # process holds a data directory's lock (`gql.cli._one_process`: the second was refused, ALREADY_RUNNING), as
    # it holds its database file's (each store has a database of its own).
    env["SHOPBRIDGE_DATA_DIR"] = str(harness.directory / f"api-data-{port}")
    server = harness.spawn(
        [str(VENV_BIN / "shopbridge"), "serve", "--host", "127.0.0.1", "--port", str(port)], env, name="api"
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", server)
    return server, f"http://127.0.0.1:{port}/graphql"


async def check_orders_page(endpoint: str, token: str, shop_global_id: str, orders_count: int) -> None:
    """The page is the work claimed: 50 orders with line items, and `totalCount` = the orders stored."""
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.post(
            endpoint,
            json={"query": QUERY, "variables": {"id": shop_global_id}},
            headers={"authorization": f"Bearer {token}"},
        )
    connection = response.json()["data"]["shop"]["orders"]
    edges = connection["edges"]
    assert len(edges) == 50 and all(edge["node"]["lineItems"] for edge in edges), "the orders page came back short"
    assert connection["totalCount"] == orders_count, (connection["totalCount"], orders_count)


def figures_of(latencies: list[float], seconds: float) -> dict[str, Any]:
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "median_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[max(0, math.ceil(len(latencies) * 0.95) - 1)] * 1000, 1),
        "requests_per_s": round(len(latencies) / seconds, 1),
    }


async def orders_page(harness: Harness, kind: str, sizes: QuerySizes) -> dict[str, Any]:
    """Benchmark 4 on one database: a small and a large store, each behind its own API process, measured in
    `sizes.runs` alternating rounds (small, large, large, small, ...); medians of the rounds' figures, and the
    ratios large/small (goal <= 1.3, checked unrounded)."""
    token = issue_token(SECRET_KEY, MERCHANT_ID, 3600)
    stores: dict[str, dict[str, Any]] = {}
    try:
        for name, count in (("small", sizes.small), ("large", sizes.large)):
            url = harness.fresh_database(kind)
            seeding = time.perf_counter()
            shop_id = await seed(url, count, harness.encryption_key)
            log(f"[4/{kind}] seeded {count} orders in {time.perf_counter() - seeding:.1f}s; starting its API")
            server, endpoint = start_api(harness, url)
            shop_global_id = to_global_id("Shop", shop_id)
            stores[name] = {"url": url, "server": server, "endpoint": endpoint, "orders": count, "runs": []}
            await check_orders_page(endpoint, token, shop_global_id, count)
            stores[name]["body"] = {"query": QUERY, "variables": {"id": shop_global_id}}
            await load(endpoint, token, stores[name]["body"], sizes.clients, seconds=sizes.warmup_seconds)
        for round_ in range(sizes.runs):
            order = ("small", "large") if round_ % 2 == 0 else ("large", "small")
            for name in order:
                store = stores[name]
                latencies, seconds = await load(
                    store["endpoint"], token, store["body"], sizes.clients, seconds=sizes.seconds
                )
                store["runs"].append(figures_of(latencies, seconds))
        for store in stores.values():
            runs = store["runs"]
            log(
                f"[4/{kind}] {store['orders']} orders: medians {[r['median_ms'] for r in runs]} ms, "
                f"{[r['requests_per_s'] for r in runs]} requests/s"
            )
    finally:
        for store in stores.values():
            harness.forget(store["server"])
            harness.drop_database(store["url"])
    small, large = (_medians(stores[name]) for name in ("small", "large"))
    return {
        "small": small,
        "large": large,
        "clients": sizes.clients,
        "runs": sizes.runs,
        "latency_ratio": large["median_ms"] / small["median_ms"],
        "throughput_ratio": small["requests_per_s"] / large["requests_per_s"],
    }


def _medians(store: dict[str, Any]) -> dict[str, Any]:
    runs = store["runs"]
    return {
        "orders": store["orders"],
        "requests": sum(r["requests"] for r in runs),
        "median_ms": statistics.median(r["median_ms"] for r in runs),
        "p95_ms": statistics.median(r["p95_ms"] for r in runs),
        "requests_per_s": statistics.median(r["requests_per_s"] for r in runs),
        "per_run": runs,
    }
