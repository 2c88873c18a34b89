"""Benchmark 9: a merchant's writes while an import runs. How long a small write transaction (a mutation's: one
row updated, committed) takes from another thread of the same process while a shop's first import (products, then
30 days of orders) writes back to back, as the embedded default runs the API and its worker pool side by side.

    await writes_during_import(harness, "sqlite", WriteSizes()) -> {"writes": n, "p50_ms", "p95_ms", "max_ms", ...}

The writer runs every `interval_s` in its own thread and event loop (the API's), with its own `Database` (as the
API has), and measures from before its first statement to after its commit. On SQLite the writes queue behind the
import's transaction under way (`adapters.db.write_turns`); before turns, SQLite's polling busy handler let a write
wait for seconds while the import committed back to back (p95 1.6-3.3 s in the runs that led to turns). On
PostgreSQL row locks alone order them: a figure to compare against.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from adapters.db import Database
from bench.harness import Harness, log
from bench.import_bench import UNPACED, _window_start
from bench.sync_run import SyncWorker
from domain.sync import SyncKind


@dataclass(frozen=True)
class WriteSizes:
    products: int = 3_000
    orders: int = 30_000
    interval_s: float = 0.2  # between the end of one write and the start of the next

    def scaled(self, scale: float) -> WriteSizes:
        return WriteSizes(max(50, int(self.products * scale)), max(300, int(self.orders * scale)), self.interval_s)


class _Writer(threading.Thread):
    def __init__(self, database_url: str, interval_s: float) -> None:
        super().__init__(name="bench-writer", daemon=True)
        self.database_url, self.interval_s = database_url, interval_s
        self.seconds: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        asyncio.run(self._write())

    async def _write(self) -> None:
        database = Database(self.database_url)
        try:
            while not self.halt.is_set():
                started = time.monotonic()
                async with database.write_sessionmaker() as session:
                    await session.execute(text("UPDATE shops SET name = name"))
                    await session.commit()
                self.seconds.append(time.monotonic() - started)
                await asyncio.sleep(self.interval_s)
        finally:
            await database.dispose()


async def writes_during_import(harness: Harness, kind: str, sizes: WriteSizes) -> dict[str, Any]:
    """Benchmark 9 on database `kind`: the writes' latency percentiles (ms) during one first import."""
    sandbox = harness.sandbox(sizes.products, sizes.orders)
    try:
        sandbox.warm()
        since = _window_start()
        url = harness.fresh_database(kind)
        async with SyncWorker(harness.settings(url, sandbox.url, rate_limit=UNPACED)) as worker:
            shop = await worker.connect(sandbox)
            writer = _Writer(url, sizes.interval_s)
            writer.start()
            try:
                products = await worker.run(shop, SyncKind.PRODUCTS)
                orders = await worker.run(shop, SyncKind.ORDERS, since=since)
            finally:
                writer.halt.set()
                await asyncio.to_thread(writer.join)
    finally:
        if sandbox.process is not None:
            harness.forget(sandbox.process)
    seconds = sorted(writer.seconds)
    if not seconds:
        raise RuntimeError("no write finished during the import")

    def ms(value: float) -> float:
        return round(value * 1000, 1)

    figures = {
        "writes": len(seconds),
        "p50_ms": ms(statistics.median(seconds)),
        "p95_ms": ms(seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]),
        "max_ms": ms(seconds[-1]),
        "import_s": round(products.seconds + orders.seconds, 2),
    }
    log(f"9. {kind}: {figures}")
    return figures
