"""Benchmarks 1 and 2: import throughput against the bare limit, and use of the request budget under the limit.

    await throughput(harness, sandbox, "sqlite", sizes) -> dict of figures (sync/limit seconds and ratios)
    await budget(harness, sandbox, "postgres", sizes)   -> dict of figures (requests/s, share of 429s)

The sandbox runs in its own process; the sync engine runs in this one (see `bench.sync_run`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from adapters.db import Database
from adapters.db.tables import line_items, orders, products, skus
from bench.harness import CpuMeter, Harness, SandboxProcess, log
from bench.limit import Target, bare_import
from bench.sync_run import SyncWorker
from domain.services.importer import SyncOptions
from domain.services.order_slices import plan_slices
from domain.sync import ORDERS_DEFAULT_WINDOW, SyncKind

ORDER_SEARCH_PATH = "/order/202309/orders/search"
RATE_LIMITED = "36009002"  # the sandbox's outcome for a request answered 429
UNPACED = 10_000.0  # the client's own pacing, requests/s: far above anything the sandbox serves
ALL_ORDERS_WINDOW = timedelta(days=46)  # the sandbox spreads orders over the past 45 days


@dataclass(frozen=True)
class Sizes:
    products: int = 5_000
    orders: int = 75_000  # ~50,000 created in the 30-day window, ~25,000 older (the generator spreads over 45 days)
    budget_orders: int = 50_000  # benchmark 2: all of them imported (window of 46 days)
    budget_latency_ms: int = 100
    budget_rate: float = 50.0

    def scaled(self, scale: float) -> Sizes:
        return Sizes(
            products=max(50, int(self.products * scale)),
            orders=max(300, int(self.orders * scale)),
            budget_orders=max(300, int(self.budget_orders * scale)),
        )


async def _table_counts(url: str, shop_id: str | None = None) -> dict[str, int]:
    db = Database(url)
    try:
        async with db.read_sessionmaker() as session:
            counts = {}
            for table in (products, skus, orders, line_items):
                query = select(func.count()).select_from(table)
                if shop_id is not None:
                    query = query.where(table.c.shop_id == shop_id)
                counts[table.name] = int((await session.execute(query)).scalar_one())
            return counts
    finally:
        await db.dispose()


async def throughput(harness: Harness, sandbox: SandboxProcess, kind: str, sizes: Sizes) -> dict[str, Any]:
    """Benchmark 1: PRODUCTS then ORDERS through the engine; then the bare loop over the same data."""
    sandbox.reseed(sizes.products, sizes.orders)
    sandbox.configure(latency_ms=0, rate_limit=None)
    sandbox.warm()
    url = harness.fresh_database(kind)
    settings = harness.settings(url, sandbox.url, rate_limit=UNPACED)
    async with SyncWorker(settings) as worker:
        shop = await worker.connect(sandbox)
        log(f"[1/{kind}] sync: PRODUCTS ({sizes.products} products)")
        product_run = await worker.run(shop, SyncKind.PRODUCTS)
        log(f"[1/{kind}] sync: ORDERS (30-day window of {sizes.orders} orders over 45 days)")
        meter = CpuMeter(sandbox)
        order_run = await worker.run(shop, SyncKind.ORDERS)
        sync_cpu = meter.read()
    for run in (product_run, order_run):
        if run.task.status != "SUCCEEDED" or run.task.failed:
            raise RuntimeError(f"the {run.task.kind} task ended {run.task.status}: {run.task.error_message}")
    stored = await _table_counts(url, shop.id)
    harness.drop_database(url)
    log(
        f"[1/{kind}] sync: products {product_run.seconds:.1f}s, orders {order_run.seconds:.1f}s "
        f"({stored['orders']} orders, {stored['line_items']} line items, {stored['skus']} SKUs)"
    )

    # The limit: same data regenerated (render cache emptied) into a fresh database.
    sandbox.reseed(sizes.products, sizes.orders)
    sandbox.warm()
    limit_url = harness.fresh_database(kind)
    target = Target(sandbox.url, sandbox.access_token(), sandbox.shop()["cipher"], limit_url)
    log(f"[1/{kind}] limit: products")
    # The engine's own batch and queue sizes: the limit differs from it in nothing but the work per record.
    engine = SyncOptions()
    batching = {"batch_records": engine.batch_records, "queue_pages": engine.queue_pages}
    bare_products = await bare_import(target, "products", page_size=settings.sync_page_size, **batching)
    until = datetime.now(UTC)
    slices = [(s.ge, s.lt) for s in plan_slices(until - ORDERS_DEFAULT_WINDOW, until, settings.sync_order_slices)]
    log(f"[1/{kind}] limit: orders ({len(slices)} slices concurrently)")
    meter = CpuMeter(sandbox)
    bare_orders = await bare_import(target, "orders", slices=slices, page_size=settings.sync_page_size, **batching)
    limit_cpu = meter.read()
    limit_stored = await _table_counts(limit_url)
    harness.drop_database(limit_url)
    log(f"[1/{kind}] limit: products {bare_products.seconds:.1f}s, orders {bare_orders.seconds:.1f}s")
    log(f"[1/{kind}] CPU during the orders import: sync {sync_cpu}, limit {limit_cpu}")

    sync_seconds = product_run.seconds + order_run.seconds
    limit_seconds = bare_products.seconds + bare_orders.seconds
    return {
        "products": stored["products"],
        "skus": stored["skus"],
        "orders_in_window": stored["orders"],
        "orders_skipped": sizes.orders - stored["orders"],
        "line_items": stored["line_items"],
        "limit_rows": limit_stored,
        "sync_products_s": round(product_run.seconds, 2),
        "sync_orders_s": round(order_run.seconds, 2),
        "limit_products_s": round(bare_products.seconds, 2),
        "limit_orders_s": round(bare_orders.seconds, 2),
        "limit_write_s": round(bare_products.write_seconds + bare_orders.write_seconds, 2),
        "sync_orders_cpu": sync_cpu,
        "limit_orders_cpu": limit_cpu,
        "sync_s": round(sync_seconds, 2),
        "limit_s": round(limit_seconds, 2),
        "orders_per_s": round(stored["orders"] / order_run.seconds),
        "ratio_products": round(product_run.seconds / bare_products.seconds, 2),
        "ratio_orders": round(order_run.seconds / bare_orders.seconds, 2),
        "ratio": round(sync_seconds / limit_seconds, 2),
    }


async def budget(harness: Harness, sandbox: SandboxProcess, kind: str, sizes: Sizes) -> dict[str, Any]:
    """Benchmark 2: an orders import against 100 ms of latency and a 50 requests/s limit (the client paces at 50)."""
    sandbox.reseed(sizes.products, sizes.budget_orders)
    sandbox.configure(latency_ms=0, rate_limit=None)
    sandbox.warm()
    url = harness.fresh_database(kind)
    settings = harness.settings(url, sandbox.url, rate_limit=sizes.budget_rate)
    async with SyncWorker(settings) as worker:
        shop = await worker.connect(sandbox)
        sandbox.configure(latency_ms=sizes.budget_latency_ms, rate_limit=sizes.budget_rate)
        log(
            f"[2/{kind}] sync: ORDERS ({sizes.budget_orders} orders, {sizes.budget_latency_ms} ms latency, "
            f"{sizes.budget_rate:g} requests/s limit)"
        )
        meter = CpuMeter(sandbox)
        run = await worker.run(shop, SyncKind.ORDERS, since=datetime.now(UTC) - ALL_ORDERS_WINDOW)
        cpu = meter.read()
    counters = sandbox.counters()
    sandbox.configure(latency_ms=0, rate_limit=None)
    harness.drop_database(url)
    if run.task.status != "SUCCEEDED":
        raise RuntimeError(f"the ORDERS task ended {run.task.status}: {run.task.error_message}")
    outcomes: dict[str, int] = counters["by_path"].get(ORDER_SEARCH_PATH, {})
    answered = sum(outcomes.values())
    ok, limited = outcomes.get("ok", 0), outcomes.get(RATE_LIMITED, 0)
    figures = {
        "orders": run.task.created,
        "seconds": round(run.seconds, 2),
        "requests": answered,
        "requests_ok": ok,
        "requests_429": limited,
        "requests_per_s": round(answered / run.seconds, 1),
        "ok_requests_per_s": round(ok / run.seconds, 1),
        "share_429": round(limited / answered, 4) if answered else 0.0,
        **cpu,
        "outcomes": outcomes,
    }
    log(
        f"[2/{kind}] {ok} ok + {limited} x 429 in {run.seconds:.1f}s: {figures['ok_requests_per_s']} ok requests/s, "
        f"{figures['share_429']:.2%} answered 429; CPU {cpu}"
    )
    return figures
