"""The limit an import is measured against: the same pages fetched with the same concurrency, the same rows inserted.

`await bare_import(...)` fetches with signed httpx requests (the project's `sign`), parses the JSON, and inserts the
rows with plain SQLAlchemy Core `insert()` executemany into the same tables of a fresh database, in transactions of
about `batch_records` records, one writer overlapping the fetches. No domain objects, no fingerprints, no upserts,
no checkpoints: whatever the sync engine spends beyond this is its overhead.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, select

from adapters.db import Database
from adapters.db.tables import inventory_links, line_items, orders, products, shops, skus
from adapters.tiktok.signing import sign
from bench.harness import SandboxProcess

PRODUCT_SEARCH_PATH = "/product/202309/products/search"
ORDER_SEARCH_PATH = "/order/202309/orders/search"
BENCH_SHOP_ID = "b" * 32


@dataclass(frozen=True)
class BareResult:
    seconds: float
    requests: int
    records: int
    write_seconds: float  # time the writer spent inside transactions


@dataclass(frozen=True)
class Target:
    sandbox_url: str
    access_token: str
    cipher: str
    database_url: str


class _Fetcher:
    """Signed TikTok calls, the wire format of `adapters.tiktok.transport` without its retries and pacing."""

    def __init__(self, http: httpx.AsyncClient, target: Target) -> None:
        self.http, self.target, self.requests = http, target, 0

    async def call(self, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        content = json.dumps(body, separators=(",", ":")).encode()
        params = {
            "app_key": SandboxProcess.APP_KEY,
            "timestamp": str(int(time.time())),
            "shop_cipher": self.target.cipher,
            **query,
        }
        params["sign"] = sign(SandboxProcess.APP_SECRET, path, params, content)
        headers = {"content-type": "application/json", "x-tts-access-token": self.target.access_token}
        response = await self.http.post(self.target.sandbox_url + path, params=params, content=content, headers=headers)
        self.requests += 1
        envelope = response.json()
        if envelope.get("code") != 0:
            raise RuntimeError(f"{path}: {envelope.get('code')} {envelope.get('message')}")
        return dict(envelope["data"])

    async def product_pages(self, page_size: int) -> AsyncIterator[list[dict[str, Any]]]:
        token = ""
        while True:
            query = {"page_size": str(page_size), **({"page_token": token} if token else {})}
            data = await self.call(PRODUCT_SEARCH_PATH, query, {"update_time_ge": 0})
            yield data["products"]
            token = data.get("next_page_token") or ""
            if not token:
                return

    async def order_pages(self, ge: int, lt: int, page_size: int) -> AsyncIterator[list[dict[str, Any]]]:
        token = ""
        while True:
            query = {"page_size": str(page_size), "sort_field": "create_time", "sort_order": "ASC"}
            if token:
                query["page_token"] = token
            data = await self.call(ORDER_SEARCH_PATH, query, {"create_time_ge": ge, "create_time_lt": lt})
            yield data["orders"]
            token = data.get("next_page_token") or ""
            if not token:
                return


async def bare_import(
    target: Target,
    kind: str,
    *,
    slices: list[tuple[int, int]] | None = None,
    page_size: int = 100,
    batch_records: int = 500,
    queue_pages: int = 32,
) -> BareResult:
    """Import `kind` ("products": one sequential scan; "orders": the given [ge, lt) slices concurrently)."""
    db = Database(target.database_url)
    try:
        await _ensure_shop(db)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            fetcher = _Fetcher(http, target)
            if kind == "products":
                sources = [fetcher.product_pages(page_size)]
                to_rows: Callable[[list[dict[str, Any]]], dict[Any, list[dict[str, Any]]]] = _product_rows
            else:
                sources = [fetcher.order_pages(ge, lt, page_size) for ge, lt in slices or ()]
                to_rows = _order_rows
            started = time.perf_counter()
            records, write_seconds = await _pipeline(db, sources, to_rows, batch_records, queue_pages)
            seconds = time.perf_counter() - started
        return BareResult(seconds, fetcher.requests, records, write_seconds)
    finally:
        await db.dispose()


async def _pipeline(
    db: Database,
    sources: list[AsyncIterator[list[dict[str, Any]]]],
    to_rows: Callable[[list[dict[str, Any]]], dict[Any, list[dict[str, Any]]]],
    batch_records: int,
    queue_pages: int,
) -> tuple[int, float]:
    queue: asyncio.Queue[list[dict[str, Any]] | None] = asyncio.Queue(maxsize=queue_pages)

    async def produce(source: AsyncIterator[list[dict[str, Any]]]) -> None:
        async for page in source:
            await queue.put(page)

    async def consume() -> tuple[int, float]:
        records, busy, ended = 0, 0.0, False
        while not ended:
            page = await queue.get()
            if page is None:
                return records, busy
            batch = list(page)
            while len(batch) < batch_records and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    ended = True
                    break
                batch.extend(more)
            started = time.perf_counter()
            async with db.write_engine.begin() as connection:
                for table, rows in to_rows(batch).items():
                    if rows:
                        await connection.execute(insert(table), rows)
            busy += time.perf_counter() - started
            records += len(batch)
        return records, busy

    writer = asyncio.create_task(consume())
    try:
        await asyncio.gather(*(produce(source) for source in sources))
        await queue.put(None)
        return await writer
    finally:
        writer.cancel()


def _when(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _product_rows(page: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    now = datetime.now(UTC)
    product_rows, sku_rows, stock_rows = [], [], []
    for product in page:
        product_rows.append(
            {
                "id": product["id"], "shop_id": BENCH_SHOP_ID, "tiktok_product_id": product["id"],
                "title": product["title"], "status": product["status"], "created_at": _when(product["create_time"]),
                "updated_at": _when(product["update_time"]), "fingerprint": "", "imported_at": now,
            }
        )  # fmt: skip
        for position, sku in enumerate(product["skus"]):
            stock = sku.get("inventory", [])
            sku_rows.append(
                {
                    "id": sku["id"], "product_id": product["id"], "shop_id": BENCH_SHOP_ID, "tiktok_sku_id": sku["id"],
                    "seller_sku": sku.get("seller_sku"), "price_amount": sku["price"]["sale_price"],
                    "currency": sku["price"]["currency"], "quantity": sum(s["quantity"] for s in stock),
                    "position": position,
                }
            )  # fmt: skip
            stock_rows.extend(
                {
                    "sku_id": sku["id"],
                    "warehouse_id": s["warehouse_id"],
                    "shop_id": BENCH_SHOP_ID,
                    "quantity": s["quantity"],
                }
                for s in stock
            )
    return {products: product_rows, skus: sku_rows, inventory_links: stock_rows}


def _order_rows(page: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    now = datetime.now(UTC)
    order_rows, item_rows = [], []
    for order in page:
        payment, address = order["payment"], order.get("recipient_address") or {}
        order_rows.append(
            {
                "id": order["id"], "shop_id": BENCH_SHOP_ID, "tiktok_order_id": order["id"], "status": order["status"],
                "created_at": _when(order["create_time"]), "updated_at": _when(order["update_time"]),
                "total_amount": payment["total_amount"], "currency": payment["currency"],
                "buyer_user_id": order.get("user_id"), "recipient_name": address.get("name"),
                "recipient_region": address.get("region_code"), "fingerprint": "", "imported_at": now,
            }
        )  # fmt: skip
        for position, item in enumerate(order["line_items"]):
            item_rows.append(
                {
                    "id": item["id"], "order_id": order["id"], "shop_id": BENCH_SHOP_ID,
                    "tiktok_line_item_id": item["id"], "tiktok_sku_id": item["sku_id"],
                    "tiktok_product_id": item.get("product_id"), "seller_sku": item.get("seller_sku"),
                    "product_name": item["product_name"], "quantity": 1, "sale_price_amount": item["sale_price"],
                    "currency": item.get("currency") or payment["currency"], "position": position,
                }
            )  # fmt: skip
    return {orders: order_rows, line_items: item_rows}


async def _ensure_shop(db: Database) -> None:
    """The parent row every imported row references (foreign keys are on)."""
    now = datetime.now(UTC)
    row = {
        "id": BENCH_SHOP_ID, "merchant_id": "bench-limit", "name": "limit", "region": "US",
        "tiktok_shop_id": "bench-limit-shop", "tiktok_shop_name": "limit", "tiktok_shop_cipher": "x",
        "access_token_encrypted": "x", "access_token_expires_at": now, "refresh_token_encrypted": "x",
        "refresh_token_expires_at": now, "authorized_at": now, "created_at": now,
    }  # fmt: skip
    async with db.write_engine.begin() as connection:
        if (await connection.execute(select(shops.c.id).where(shops.c.id == BENCH_SHOP_ID))).first() is None:
            await connection.execute(insert(shops), [row])
