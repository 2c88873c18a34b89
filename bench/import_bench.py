"""Benchmarks 1 and 2: import throughput against the bare limit, and use of the request budget under the limit.

    await throughput(harness, sandbox, "sqlite", sizes) -> dict of figures (sync/limit seconds and ratios)
    await budget(harness, sandbox, "postgres", sizes)   -> dict of figures (requests/s, share of 429s)

The sandbox runs in its own process; the sync engine runs in this one (see `bench.sync_run`).
"""

from __future__ import annotations

import statistics
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
    runs: int = 3  # benchmark 1: alternating rounds of sync and limit

    def scaled(self, scale: float) -> Sizes:
        return Sizes(
            products=max(50, int(self.products * scale)),
            orders=max(300, int(self.orders * scale)),
            budget_orders=max(300, int(self.budget_orders * scale)),
            runs=self.runs,
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


async def _sync_once(harness: Harness, sandbox: SandboxProcess, kind: str, sizes: Sizes) -> dict[str, Any]:
    """PRODUCTS then ORDERS through the engine into a fresh database; seconds, CPU and the rows stored."""
    sandbox.reseed(sizes.products, sizes.orders)
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
        cpu = meter.read()
    for run in (product_run, order_run):
        if run.task.status != "SUCCEEDED" or run.task.failed:
            raise RuntimeError(f"the {run.task.kind} task ended {run.task.status}: {run.task.error_message}")
    stored = await _table_counts(url, shop.id)
    harness.drop_database(url)
    log(
        f"[1/{kind}] sync: products {product_run.seconds:.1f}s, orders {order_run.seconds:.1f}s "
        f"({stored['orders']} orders, {stored['line_items']} line items, {stored['skus']} SKUs); CPU {cpu}"
    )
    return {"products_s": product_run.seconds, "orders_s": order_run.seconds, "cpu": cpu, "stored": stored,
            "page_size": settings.sync_page_size, "order_slices": settings.sync_order_slices}  # fmt: skip


async def _limit_once(
    harness: Harness, sandbox: SandboxProcess, kind: str, sizes: Sizes, page_size: int, order_slices: int
) -> dict[str, Any]:
    """The bare loop over the same data, regenerated (render cache emptied), into a fresh database."""
    sandbox.reseed(sizes.products, sizes.orders)
    sandbox.warm()
    limit_url = harness.fresh_database(kind)
    target = Target(sandbox.url, sandbox.access_token(), sandbox.shop()["cipher"], limit_url)
    log(f"[1/{kind}] limit: products")
    # The engine's own batch and queue sizes: the limit differs from it in nothing but the work per record.
    engine = SyncOptions()
    batching = {"batch_records": engine.batch_records, "queue_pages": engine.queue_pages}
    bare_products = await bare_import(target, "products", page_size=page_size, **batching)
    until = datetime.now(UTC)
    slices = [(s.ge, s.lt) for s in plan_slices(until - ORDERS_DEFAULT_WINDOW, until, order_slices)]
    log(f"[1/{kind}] limit: orders ({len(slices)} slices concurrently)")
    meter = CpuMeter(sandbox)
    bare_orders = await bare_import(target, "orders", slices=slices, page_size=page_size, **batching)
    cpu = meter.read()
    stored = await _table_counts(limit_url)
    harness.drop_database(limit_url)
    log(f"[1/{kind}] limit: products {bare_products.seconds:.1f}s, orders {bare_orders.seconds:.1f}s; CPU {cpu}")
    return {"products_s": bare_products.seconds, "orders_s": bare_orders.seconds, "cpu": cpu, "stored": stored,
            "write_s": bare_products.write_seconds + bare_orders.write_seconds}  # fmt: skip


async def throughput(harness: Harness, sandbox: SandboxProcess, kind: str, sizes: Sizes) -> dict[str, Any]:
    """Benchmark 1: `sizes.runs` rounds in alternating order (sync then limit, limit then sync, ...), each side
    checked to have stored the same rows as the other; figures are medians over the rounds, the ratio the median
    of the rounds' sync/limit ratios (checked unrounded)."""
    sandbox.configure(latency_ms=0, rate_limit=None)
    syncs: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    for round_ in range(sizes.runs):
        for side in ("sync", "limit") if round_ % 2 == 0 else ("limit", "sync"):
            if side == "sync":
                syncs.append(await _sync_once(harness, sandbox, kind, sizes))
            else:
                first = syncs[0]  # round 0 runs the sync first: the limit uses its page size and slices
                limits.append(
                    await _limit_once(harness, sandbox, kind, sizes, first["page_size"], first["order_slices"])
                )
    for sync, limit in zip(syncs, limits, strict=True):
        if sync["stored"] != limit["stored"]:  # the same work: every table's rows
            raise RuntimeError(f"sync and limit stored different rows: {sync['stored']} vs {limit['stored']}")
    stored = syncs[0]["stored"]
    run_ratios = [
        (s["products_s"] + s["orders_s"]) / (b["products_s"] + b["orders_s"])
        for s, b in zip(syncs, limits, strict=True)
    ]

    def median(items: list[dict[str, Any]], key: str) -> float:
        return statistics.median(item[key] for item in items)

    return {
        "runs": sizes.runs,
        "products": stored["products"],
        "skus": stored["skus"],
        "orders_in_window": stored["orders"],
        "orders_skipped": sizes.orders - stored["orders"],
        "line_items": stored["line_items"],
        "limit_rows": limits[0]["stored"],
        "sync_products_s": round(median(syncs, "products_s"), 2),
        "sync_orders_s": round(median(syncs, "orders_s"), 2),
        "limit_products_s": round(median(limits, "products_s"), 2),
        "limit_orders_s": round(median(limits, "orders_s"), 2),
        "limit_write_s": round(median(limits, "write_s"), 2),
        "sync_orders_cpu": [s["cpu"] for s in syncs],
        "limit_orders_cpu": [b["cpu"] for b in limits],
        "orders_per_s": round(stored["orders"] / median(syncs, "orders_s")),
        "ratio_products": statistics.median(
            s["products_s"] / b["products_s"] for s, b in zip(syncs, limits, strict=True)
        ),
        "ratio_orders": statistics.median(s["orders_s"] / b["orders_s"] for s, b in zip(syncs, limits, strict=True)),
        "run_ratios": run_ratios,
        "ratio": statistics.median(run_ratios),
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
