"""Benchmark 8 (issue 8): the shared inventory pool's push. One merchant, three shops (us-local, us-local-2 and a
seller added with `POST /_sandbox/sellers`), their SKUs pooled by seller SKU at import.

    await pool(harness, "sqlite", PoolSizes()) -> dict of figures (see ROWS in bench/report.py)

Set-up as benchmark 5: a sandbox process pushing webhooks to Shopbridge (`gql.app.create_app`, embedded worker pool)
served in a thread of this process; shops connected through OAuth, imports awaited. Items are chosen among those
linked on all three shops, to SKUs of live (ACTIVATE) products. TikTok's side is read from the sandbox's log of
Update Inventory calls (`GET /_sandbox/inventory-updates`: every call, its quantities and the sandbox's wall time).

a. Sale -> every other shop updated: `sales` buyer sales of one unit of a shared item (10,000 units counted), round
   robin over the shops at `sale_rate`/s. A sale's latency runs from sending it to the sandbox's time of the first
   Update Inventory, on every other shop, that sets a quantity at or below the pool's available after that sale
   (sales only lower it) (goal p95 <= 2 s).
b. Burst: `burst` sales of one unit of another shared item on the first shop, back to back; once every shop shows the
   final target, Update Inventory calls per shop for that product / `burst` (goal <= 0.05 per shop).
c. Flash sale: a third shared item gets on-hand 50 and safety stock 3; once pushed, the oracle is told 50 units
   (`POST /_sandbox/oracle`); buyers on the three shops each buy one unit every 1/`flash_rate_per_shop` s until
   their shop refuses (no stock shown) three times in a row; oversold units from `GET /_sandbox/oracle` (goal 0).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx

from adapters.config import WEBHOOK_PATH
from bench.harness import Harness, SandboxProcess, free_port, log
from bench.live_app import LiveApp
from bench.live_bench import percentile

ITEMS = """query($after: String) { inventoryItems(first: 100, after: $after) { pageInfo { hasNextPage endCursor }
  edges { node { id sku onHand reserved safetyStock available
    links { state shop { id tiktokShopId } sku { tiktokSkuId } } } } } }"""
SET_ON_HAND = """mutation($input: InventorySetOnHandInput!) { inventorySetOnHand(input: $input) {
  userErrors { code message } } }"""
SAFETY = """mutation($input: InventoryItemUpdateInput!) { inventoryItemUpdate(input: $input) {
  userErrors { code message } } }"""
SELLERS = ("us-local", "us-local-2")


@dataclass(frozen=True)
class PoolSizes:
    sales: int = 200
    sale_rate: float = 5.0  # sales per second, all shops together
    burst: int = 100
    flash_units: int = 50
    flash_safety: int = 3
    flash_rate_per_shop: float = 2.0  # buyer attempts per second and shop
    products: int = 20
    orders: int = 20
    worker_threads: int = 16  # the embedded pool's Dramatiq threads (SHOPBRIDGE_EMBEDDED_WORKER_THREADS)

    def scaled(self, scale: float) -> PoolSizes:
        return replace(self, sales=max(30, round(self.sales * scale)))


def _items(app: LiveApp) -> list[dict[str, Any]]:
    found, after = [], None
    while True:
        page = app.graphql(ITEMS, {"after": after})["inventoryItems"]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def _shared(app: LiveApp, sandbox: SandboxProcess, shops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items linked on every shop, each to a SKU of a live product: `{id, sku, skus: {tiktok shop id: sku id}}`."""
    live: set[str] = set()
    for shop in shops:
        for product in sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/products")["products"]:
            if product["status"] == "ACTIVATE" and not product.get("product_types"):
                live.update(sku["id"] for sku in product["skus"])
    shared = []
    for item in _items(app):
        linked = {
            ln["shop"]["tiktokShopId"]: ln["sku"]["tiktokSkuId"] for ln in item["links"] if ln["state"] == "LINKED"
        }
        if len(linked) == len(shops) and set(linked.values()) <= live:
            shared.append({"id": item["id"], "sku": item["sku"], "skus": linked})
    return shared


def _available(app: LiveApp, item_id: str) -> int:
    return next(int(i["available"]) for i in _items(app) if i["id"] == item_id)


def _updates(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    return list(sandbox.control("GET", "/inventory-updates")["updates"])


def _shown(update: dict[str, Any], sku_id: str) -> int | None:
    rows = [row for sku in update["skus"] if sku["id"] == sku_id for row in sku["inventory"]]
    return sum(row["quantity"] for row in rows) if rows else None


def _settle(app: LiveApp, sandbox: SandboxProcess, item: dict[str, Any], what: str) -> int:
    """Wait until every shop's TikTok stock of the item (the sandbox's) equals the pool's available; returns it."""

    def stock(shop: str) -> int:
        for product in sandbox.control("GET", f"/shops/{shop}/products")["products"]:
            for sku in product["skus"]:
                if sku["id"] == item["skus"][shop]:
                    return sum(level["quantity"] for level in sku["inventory"])
        raise RuntimeError(f"no SKU {item['skus'][shop]} on shop {shop}")

    def settled() -> int | None:
        available = _available(app, item["id"])
        return available if all(stock(shop) == max(0, available) for shop in item["skus"]) else None

    return int(app.wait(lambda: settled() is not None, what, timeout=120) and settled())  # type: ignore[arg-type]


def _set(app: LiveApp, item_id: str, on_hand: int, safety: int | None = None) -> None:
    if safety is not None:
        done = app.graphql(SAFETY, {"input": {"inventoryItemId": item_id, "safetyStock": safety}})
        assert not done["inventoryItemUpdate"]["userErrors"], done
    done = app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": item_id, "onHand": on_hand}})
    assert not done["inventorySetOnHand"]["userErrors"], done


async def sale_to_push(app: LiveApp, sandbox: SandboxProcess, item: dict[str, Any], sizes: PoolSizes) -> dict[str, Any]:
    await asyncio.to_thread(_set, app, item["id"], 10_000)
    start_available = await asyncio.to_thread(_settle, app, sandbox, item, "the first push of the latency item")
    shops = list(item["skus"])
    sent: list[tuple[float, str]] = []  # (wall time sent, shop) per sale, in order
    orders: dict[str, float] = {}  # order id -> wall time sent
    async with httpx.AsyncClient(timeout=30) as client:
        begin = time.monotonic()
        for k in range(sizes.sales):
            await asyncio.sleep(max(0.0, begin + k / sizes.sale_rate - time.monotonic()))
            shop = shops[k % len(shops)]
            sent.append((time.time(), shop))
            response = await client.post(
                f"{sandbox.url}/_sandbox/shops/{shop}/sales", json={"sku_id": item["skus"][shop], "quantity": 1}
            )
            response.raise_for_status()
            orders[response.json()["order_id"]] = sent[-1][0]
    final = start_available - sizes.sales
    await asyncio.to_thread(app.wait, lambda: _available(app, item["id"]) <= final, "the sales' ledger", 300)
    await asyncio.to_thread(_settle, app, sandbox, item, "the last push of the latency item")
    intake = await asyncio.to_thread(_intake_lags, app, orders)
    intake.update(await asyncio.to_thread(_push_metrics, app))
    updates = _updates(sandbox)
    latencies = []
    for k, (at, origin) in enumerate(sent):
        after = start_available - (k + 1)
        reached = []
        for shop in shops:
            if shop == origin:
                continue
            times = [u["at"] for u in updates if u["shop_id"] == shop and u["at"] >= at
                     and (q := _shown(u, item["skus"][shop])) is not None and q <= after]  # fmt: skip
            reached.append(min(times) - at if times else float("inf"))
        latencies.append(max(reached))
    finite = [x for x in latencies if x != float("inf")]
    return {
        "pool_sales": len(sent),
        "pool_sale_rate_per_s": sizes.sale_rate,
        "pool_sales_unreached": len(latencies) - len(finite),
        "pool_push_p50_ms": round(statistics.median(finite) * 1000, 1),
        "pool_push_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "pool_push_max_ms": round(max(latencies) * 1000, 1),
        **intake,
    }


def _intake_lags(app: LiveApp, orders: dict[str, float]) -> dict[str, Any]:
    """Where a sale's time goes before the push: webhook received, and processed (ledger applied), p50 in ms."""
    import sqlalchemy as sa

    from adapters.db.tables import webhook_events

    received, processed = [], []
    with app.db.connect() as conn:
        rows = conn.execute(
            sa.select(webhook_events.c.data, webhook_events.c.received_at, webhook_events.c.processed_at)
        )
        for data, got, done in rows:
            sent = orders.get(str((data or {}).get("order_id")))
            if sent is None:
                continue
            received.append(_ts(got) - sent)
            if done is not None:
                processed.append(_ts(done) - sent)
    return {
        "pool_webhook_received_p50_ms": round(statistics.median(received) * 1000, 1) if received else None,
        "pool_webhook_processed_p50_ms": round(statistics.median(processed) * 1000, 1) if processed else None,
    }


def _push_metrics(app: LiveApp) -> dict[str, Any]:
    """From the API's /metrics: the pushes by outcome and the mean push lag (last stock change -> TikTok accepted)."""
    text = app.http.get(f"{app.url}/metrics").text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("shopbridge_inventory_push"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    lag_sum = values.get("shopbridge_inventory_push_lag_seconds_sum", 0.0)
    lag_count = values.get("shopbridge_inventory_push_lag_seconds_count", 0.0)
    return {
        "pool_push_lag_mean_ms": round(lag_sum / lag_count * 1000, 1) if lag_count else None,
        "pool_pushes": {
            k.split('"')[1]: int(v) for k, v in values.items() if k.startswith("shopbridge_inventory_pushes_total{")
        },
    }


def _ts(value: Any) -> float:
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return float((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


async def burst(app: LiveApp, sandbox: SandboxProcess, item: dict[str, Any], sizes: PoolSizes) -> dict[str, Any]:
    await asyncio.to_thread(_set, app, item["id"], 5_000)
    await asyncio.to_thread(_settle, app, sandbox, item, "the first push of the burst item")
    seq = max((u["seq"] for u in _updates(sandbox)), default=0)
    before = _available(app, item["id"])
    origin = next(iter(item["skus"]))
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(sizes.burst):
            response = await client.post(
                f"{sandbox.url}/_sandbox/shops/{origin}/sales", json={"sku_id": item["skus"][origin], "quantity": 1}
            )
            response.raise_for_status()
    # the ledger first (webhooks, then Get Order Detail), then every shop shows the final target
    await asyncio.to_thread(app.wait, lambda: _available(app, item["id"]) <= before - sizes.burst, "the burst's ledger")
    await asyncio.to_thread(_settle, app, sandbox, item, "the pushes after the burst")
    calls = {
        shop: sum(
            1 for u in _updates(sandbox) if u["seq"] > seq and u["shop_id"] == shop and _shown(u, sku) is not None
        )
        for shop, sku in item["skus"].items()
    }
    return {
        "burst_sales": sizes.burst,
        "burst_calls_per_shop": calls,
        "burst_pushes_per_sale_per_shop": round(max(calls.values()) / sizes.burst, 3),
    }


async def flash_sale(app: LiveApp, sandbox: SandboxProcess, item: dict[str, Any], sizes: PoolSizes) -> dict[str, Any]:
    await asyncio.to_thread(_set, app, item["id"], sizes.flash_units, sizes.flash_safety)
    available = await asyncio.to_thread(_settle, app, sandbox, item, "the flash item's push")
    sandbox.control("POST", "/oracle", {"stock": {item["sku"]: sizes.flash_units}})
    sold: dict[str, int] = {}

    async def buyer(client: httpx.AsyncClient, shop: str) -> None:
        refused, n = 0, 0
        while refused < 3:
            response = await client.post(
                f"{sandbox.url}/_sandbox/shops/{shop}/sales", json={"sku_id": item["skus"][shop], "quantity": 1}
            )
            if response.status_code == 409:
                refused += 1
            else:
                response.raise_for_status()
                refused, n = 0, n + 1
            await asyncio.sleep(1 / sizes.flash_rate_per_shop)
        sold[shop] = n

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(buyer(client, shop) for shop in item["skus"]))
    oracle = next(s for s in sandbox.control("GET", "/oracle")["skus"] if s["seller_sku"] == item["sku"])
    return {
        "flash_units": sizes.flash_units,
        "flash_safety_stock": sizes.flash_safety,
        "flash_available_at_start": available,
        "flash_rate_per_shop": sizes.flash_rate_per_shop,
        "flash_sold": oracle["sold"],
        "flash_sold_per_shop": sold,
        "flash_oversold": oracle["oversold"],
    }


async def pool(harness: Harness, db: str, sizes: PoolSizes) -> dict[str, Any]:
    port = free_port()
    webhook_url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    log(f"8 [{db}] inventory pool: sandbox pushing to {webhook_url}")
    sandbox = harness.sandbox(
        sizes.products, sizes.orders, extra_args=["--allow-insecure-webhooks", "--webhook-url", webhook_url]
    )
    database_url = harness.fresh_database(db)
    try:
        third = sandbox.control("POST", "/sellers", {"name": "Bench Third", "region": "US"})["key"]
        extra = {"SHOPBRIDGE_EMBEDDED_WORKER_THREADS": str(sizes.worker_threads)}
        with LiveApp(harness, database_url, sandbox, port, **extra) as app:
            shops = []
            for n, seller in enumerate((*SELLERS, third)):
                shops.append(await asyncio.to_thread(app.connect_shop, sandbox, seller, f"Pool bench {n + 1}"))
            for shop in shops:
                await asyncio.to_thread(app.wait, lambda s=shop: app.imports_done(s["id"]), "the imports")
            shared = await asyncio.to_thread(_shared, app, sandbox, shops)
            if len(shared) < 3:
                raise RuntimeError(f"only {len(shared)} items are linked on all three shops")
            log(f"8 [{db}] 3 shops imported, {len(shared)} items shared; {sizes.sales} sales at {sizes.sale_rate}/s")
            result = await sale_to_push(app, sandbox, shared[0], sizes)
            log(f"8 [{db}] a burst of {sizes.burst} sales")
            result.update(await burst(app, sandbox, shared[1], sizes))
            log(f"8 [{db}] a flash sale of the last {sizes.flash_units} units, safety stock {sizes.flash_safety}")
            result.update(await flash_sale(app, sandbox, shared[2], sizes))
    finally:
        if sandbox.process is not None:
            harness.forget(sandbox.process)
        harness.drop_database(database_url)
    result["goals"] = {
        "pool_push_p95_ms": {"goal": "<= 2000", "met": result["pool_push_p95_ms"] <= 2000},
        "burst_pushes_per_sale_per_shop": {"goal": "<= 0.05", "met": result["burst_pushes_per_sale_per_shop"] <= 0.05},
        "flash_oversold": {"goal": "0", "met": result["flash_oversold"] == 0},
    }
    log(
        f"8 [{db}] sale -> other shops p95 {result['pool_push_p95_ms']} ms, burst pushes/sale/shop "
        f"{result['burst_pushes_per_sale_per_shop']}, flash oversold {result['flash_oversold']}"
    )
    return result
