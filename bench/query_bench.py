"""Benchmark 4: the orders page query (50 orders with line items) at 16 concurrent clients, 1,000 vs 100,000 orders.

    await orders_page(harness, "sqlite", QuerySizes()) -> dict of figures (median latency, requests/s, ratios)

The database is seeded directly with SQLAlchemy Core: one shop stored through the shop repository (tokens
encrypted as usual) and generated order and line item rows shaped as the catalog repository writes them (ids are
the same digests; 1-4 line items per order, created over the past 45 days), then ANALYZEd on PostgreSQL. The
API is `shopbridge serve` in a child process (embedded mode: one uvicorn worker, the worker pool idle); the
clients are asyncio + httpx here.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import insert, text

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.repositories.catalog import row_id
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
    requests: int = 1_600  # measured requests per size, after `warmup`
    warmup: int = 160

    def scaled(self, scale: float) -> QuerySizes:
        return QuerySizes(
            small=self.small,  # the small store is the reference: never scaled
            large=max(self.small * 2, int(self.large * scale)),
            requests=max(self.clients * 10, int(self.requests * min(1.0, scale * 2))),
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


async def _load(url: str, token: str, shop_global_id: str, clients: int, requests: int) -> tuple[list[float], float]:
    """`requests` queries from `clients` concurrent clients; (latencies in seconds, wall seconds)."""
    body = {"query": QUERY, "variables": {"id": shop_global_id}}
    headers = {"authorization": f"Bearer {token}"}
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:

        async def client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await http.post(url, json=body)
                latencies.append(time.perf_counter() - started)
                payload = response.json()
                if response.status_code != 200 or payload.get("errors"):
                    raise RuntimeError(f"orders page failed: {response.status_code} {str(payload)[:500]}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return latencies, time.perf_counter() - started


async def _measure(harness: Harness, kind: str, sizes: QuerySizes, orders_count: int) -> dict[str, Any]:
    url = harness.fresh_database(kind)
    seeding = time.perf_counter()
    shop_id = await seed(url, orders_count, harness.encryption_key)
    log(f"[4/{kind}] seeded {orders_count} orders in {time.perf_counter() - seeding:.1f}s; starting the API")
    port = free_port()
    env = harness.env(url, "http://127.0.0.1:9", rate_limit=50.0)  # TikTok is never called here
    server = harness.spawn(
        [str(VENV_BIN / "shopbridge"), "serve", "--host", "127.0.0.1", "--port", str(port)], env, name="api"
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", server)
        token = issue_token(SECRET_KEY, MERCHANT_ID, 3600)
        endpoint, shop_global_id = f"http://127.0.0.1:{port}/graphql", to_global_id("Shop", shop_id)
        async with httpx.AsyncClient(timeout=60) as http:
            check = await http.post(
                endpoint,
                json={"query": QUERY, "variables": {"id": shop_global_id}},
                headers={"authorization": f"Bearer {token}"},
            )
        edges = check.json()["data"]["shop"]["orders"]["edges"]
        assert len(edges) == 50 and edges[0]["node"]["lineItems"], "the orders page came back short"
        await _load(endpoint, token, shop_global_id, sizes.clients, sizes.warmup)
        latencies, seconds = await _load(endpoint, token, shop_global_id, sizes.clients, sizes.requests)
    finally:
        harness.forget(server)
        harness.drop_database(url)
    latencies.sort()
    figures = {
        "orders": orders_count,
        "requests": len(latencies),
        "median_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "requests_per_s": round(len(latencies) / seconds, 1),
    }
    log(
        f"[4/{kind}] {orders_count} orders: median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms, "
        f"{figures['requests_per_s']} requests/s"
    )
    return figures


async def orders_page(harness: Harness, kind: str, sizes: QuerySizes) -> dict[str, Any]:
    """Benchmark 4 on one database: the small store, then the large one; ratios large/small (goal <= 1.3)."""
    small = await _measure(harness, kind, sizes, sizes.small)
    large = await _measure(harness, kind, sizes, sizes.large)
    return {
        "small": small,
        "large": large,
        "clients": sizes.clients,
        "latency_ratio": round(large["median_ms"] / small["median_ms"], 2),
        "throughput_ratio": round(small["requests_per_s"] / large["requests_per_s"], 2),
    }
