"""The limit an import is measured against: the same pages fetched with the same concurrency, the same rows inserted.

`await bare_import(...)` fetches with signed httpx requests (the project's `sign`), decodes the response bytes with
the engine's own decoder (msgspec into `adapters.tiktok.wire` Structs: envelope, then page), and inserts the rows
with each database's fastest bulk path into the same tables of a fresh database: `COPY` (asyncpg's
`copy_records_to_table`) on PostgreSQL, one `executemany` per table straight to the driver on SQLite; in
transactions of about `batch_records` records, one writer overlapping the fetches. Rows are plain tuples in column
order, the TikTok ids serve as row ids: no domain objects, fingerprints, upserts, checkpoints or task updates, no
per-value processing by SQLAlchemy. Whatever the sync engine spends beyond this is its overhead.

`pool=True` (the default) also writes, in the same transactions, every row the engine's inventory pool stores
during the import (`bench.limit_pool`: items, links, ledger rows, movements, counters, outbox); `pool=False` is the
catalog alone (products, SKUs, stock, orders, line items), the limit as it was before the pool landed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.db import Database
from adapters.db.tables import (
    line_items,
    orders,
    products,
    shops,
    skus,
    warehouse_stocks,
)
from adapters.tiktok import wire
from adapters.tiktok.ratelimit import RateLimiter
from adapters.tiktok.signing import sign
from bench.harness import SandboxProcess
from bench.limit_pool import OrderPool, ProductPool
from bench.limit_writes import Batch, copy_batch, executemany_batch
from domain.inventory.links import trimmed
from domain.shops import shop_name_key

PRODUCT_SEARCH_PATH = "/product/202309/products/search"
ORDER_SEARCH_PATH = "/order/202309/orders/search"
BENCH_SHOP_ID = "b" * 32
BENCH_MERCHANT_ID = "bench-limit"

When = Callable[[int], Any]  # Unix seconds -> the value a time column takes on this database


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
    """Signed TikTok calls, the wire format of `adapters.tiktok.transport` without its retries; paced by the engine's
    own `RateLimiter` when given one (benchmark 2), else as fast as the sandbox answers."""

    def __init__(self, http: httpx.AsyncClient, target: Target, limiter: RateLimiter | None = None) -> None:
        self.http, self.target, self.limiter, self.requests = http, target, limiter, 0

    async def call(self, path: str, query: dict[str, str], body: dict[str, Any], kind: type[Any]) -> Any:
        if self.limiter is not None:
            await self.limiter.acquire(self.target.cipher)
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
        envelope = wire.envelope(response.content)
        if envelope is None or envelope.code != 0:
            raise RuntimeError(f"{path}: {envelope and envelope.code} {envelope and envelope.message}")
        return wire.decode(envelope.data, kind)

    async def product_pages(self, page_size: int) -> AsyncIterator[list[wire.Product]]:
        token = ""
        while True:
            query = {"page_size": str(page_size), **({"page_token": token} if token else {})}
            page = await self.call(PRODUCT_SEARCH_PATH, query, {"update_time_ge": 0}, wire.ProductPage)
            yield page.products or []
            token = page.next_page_token or ""
            if not token:
                return

    async def order_pages(self, ge: int, lt: int, page_size: int) -> AsyncIterator[list[wire.Order]]:
        token = ""
        while True:
            query = {"page_size": str(page_size), "sort_field": "create_time", "sort_order": "ASC"}
            if token:
                query["page_token"] = token
            body = {"create_time_ge": ge, "create_time_lt": lt}
            page = await self.call(ORDER_SEARCH_PATH, query, body, wire.OrderPage)
            yield page.orders or []
            token = page.next_page_token or ""
            if not token:
                return


async def bare_import(
    target: Target,
    kind: str,
    *,
    slices: list[tuple[int, int]] | None = None,
    page_size: int = 100,
    batch_records: int = 2_000,
    queue_pages: int = 32,
    pool: bool = True,
    rate: float | None = None,
) -> BareResult:
    """Import `kind` ("products": one sequential scan; "orders": the given [ge, lt) slices concurrently); `rate`:
    requests/s the fetches are paced at by the engine's `RateLimiter` (its default headroom), None: unpaced."""
    db = Database(target.database_url)
    try:
        await _ensure_shop(db)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            fetcher = _Fetcher(http, target, None if rate is None else RateLimiter(rate))
            sources: Sequence[AsyncIterator[list[Any]]]
            build: Callable[..., Batch]
            postgres = db.dialect_name == "postgresql"
            if kind == "products":
                sources = [fetcher.product_pages(page_size)]
                build = functools.partial(_product_rows, pool=ProductPool(BENCH_SHOP_ID, BENCH_MERCHANT_ID))
            else:
                sources = [fetcher.order_pages(ge, lt, page_size) for ge, lt in slices or ()]
                async with db.write_engine.connect() as connection:
                    order_pool = await OrderPool.load(connection, BENCH_SHOP_ID, BENCH_MERCHANT_ID)
                build = functools.partial(_order_rows, pool=order_pool)
            if not pool:
                build = functools.partial(_catalog_only, build)
            insert_rows = copy_batch if postgres else executemany_batch
            to_rows = functools.partial(build, when=_aware if postgres else _sqlite_text)
            started = time.perf_counter()
            records, write_seconds = await _pipeline(db, sources, to_rows, insert_rows, batch_records, queue_pages)
            seconds = time.perf_counter() - started
        return BareResult(seconds, fetcher.requests, records, write_seconds)
    finally:
        await db.dispose()


async def _pipeline(
    db: Database,
    sources: Sequence[AsyncIterator[list[Any]]],
    to_rows: Callable[[list[Any]], Batch],
    insert_rows: Callable[[AsyncConnection, Batch], Any],
    batch_records: int,
    queue_pages: int,
) -> tuple[int, float]:
    queue: asyncio.Queue[list[Any] | None] = asyncio.Queue(maxsize=queue_pages)

    async def produce(source: AsyncIterator[list[Any]]) -> None:
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
            rows = to_rows(batch)
            started = time.perf_counter()
            async with db.write_engine.connect() as connection:
                await insert_rows(connection, rows)
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


def _catalog_only(build: Callable[..., Batch], page: list[Any], when: When) -> Batch:
    """The catalog's rows alone: the limit without the inventory pool."""
    rows, updates = build(page, when=when)
    catalog = {t: r for t, r in rows.items() if t in (products, skus, warehouse_stocks, orders, line_items)}
    return catalog, [(name, params) for name, params in updates if name == "catalog_count"]


def _aware(seconds: int) -> datetime:
    """A time as asyncpg's COPY takes a `timestamptz`."""
    return datetime.fromtimestamp(seconds, UTC)


def _sqlite_text(seconds: int) -> str:
    """A time as the engine stores it on SQLite (`UTCDateTime`: naive UTC, SQLAlchemy's text format)."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _product_rows(page: list[wire.Product], when: When, pool: ProductPool) -> Batch:
    """Rows in the tables' column order (see `adapters.db.tables`)."""
    now = when(int(time.time()))
    _when = when
    product_rows: list[tuple[Any, ...]] = []
    sku_rows: list[tuple[Any, ...]] = []
    stock_rows: list[tuple[Any, ...]] = []
    for product in page:
        created = _when(product.create_time)
        updated = created if product.update_time is None else _when(product.update_time)
        product_rows.append(
            (product.id, BENCH_SHOP_ID, product.id, product.title or "", product.status or "UNKNOWN", created, updated,
             "", now, now)  # (the stock's read time: the engine's is its request's)
        )  # fmt: skip
        for position, sku in enumerate(product.skus or ()):  # all, a DELETED product's too (domain.stored)
            stock = sku.inventory or ()
            price = sku.price
            sku_rows.append(
                (sku.id, product.id, BENCH_SHOP_ID, sku.id, sku.seller_sku, str(price.sale_price), price.currency,
                 sum(s.quantity for s in stock), position,
                 "COMBINED_PRODUCT" in (product.product_types or ()) or bool(sku.combined_skus),
                 trimmed(sku.seller_sku),  # the match key the engine's catalog stores (`skus.seller_sku_key`)
                 False)  # `skus.seller_sku_too_long`: the bench's seller SKUs are all short
            )  # fmt: skip
            stock_rows.extend((sku.id, s.warehouse_id, BENCH_SHOP_ID, s.quantity) for s in stock)
    pool_rows, updates = pool.rows(page, now)
    counted = ("catalog_count", [(BENCH_SHOP_ID, "products", len(product_rows))])  # the shop's running count
    return {products: product_rows, skus: sku_rows, warehouse_stocks: stock_rows, **pool_rows}, [*updates, counted]


def _order_rows(page: list[wire.Order], when: When, pool: OrderPool) -> Batch:
    """Rows in the tables' column order (see `adapters.db.tables`)."""
    now = when(int(time.time()))
    _when = when
    order_rows: list[tuple[Any, ...]] = []
    item_rows: list[tuple[Any, ...]] = []
    for order in page:
        payment, address = order.payment, order.recipient_address or wire.Address()
        created = _when(order.create_time)
        updated = created if order.update_time is None else _when(order.update_time)
        order_rows.append(
            (order.id, BENCH_SHOP_ID, order.id, order.status or "UNKNOWN", created, updated,
             str(payment.total_amount), payment.currency, order.user_id, address.name, address.region_code,
             _when(order.collection_time) if order.collection_time else None,  # `orders.collected_at`
             len({p.id for p in order.packages or ()}) if order.collection_time else None,  # `package_count`
             "", now)
        )  # fmt: skip
        for position, item in enumerate(order.line_items or ()):
            item_rows.append(
                (item.id, order.id, BENCH_SHOP_ID, item.id, item.sku_id, item.product_id, item.seller_sku,
                 item.product_name or "", item.quantity, str(item.sale_price), item.currency or payment.currency,
                 position, item.display_status or None, item.cancel_reason or None, item.cancel_user or None)
            )  # fmt: skip
    pool_rows, updates = pool.rows(page, when, now)
    counted = ("catalog_count", [(BENCH_SHOP_ID, "orders", len(order_rows))])  # the shop's running count
    return {orders: order_rows, line_items: item_rows, **pool_rows}, [*updates, counted]


async def _ensure_shop(db: Database) -> None:
    """The parent row every imported row references (foreign keys are on)."""
    now = datetime.now(UTC)
    row = {
        "id": BENCH_SHOP_ID, "merchant_id": BENCH_MERCHANT_ID, "name": "limit", "name_key": shop_name_key("limit"),
        "region": "US",
        "tiktok_shop_id": "bench-limit-shop", "tiktok_shop_name": "limit", "tiktok_shop_cipher": "x",
        "access_token_encrypted": "x", "access_token_expires_at": now, "refresh_token_encrypted": "x",
        "refresh_token_expires_at": now, "authorized_at": now, "created_at": now,
    }  # fmt: skip
    async with db.write_engine.begin() as connection:
        if (await connection.execute(select(shops.c.id).where(shops.c.id == BENCH_SHOP_ID))).first() is None:
            await connection.execute(insert(shops), [row])
