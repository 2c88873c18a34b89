"""The push's link read for a best-selling SKU (issue 9), on a throwaway PostgreSQL: the fence's units of the SKU
summed over its ledger lines in the read (before migration 0012), or looked up in the running count (since).

`python -m bench.fence_read [lines ...]` (default 10000 100000): for each count, one shop SKU with that many ledger
lines spread over a table 50 times their size (every 50th row is the SKU's, the others 997 other SKUs'; a third
each RESERVED, DEDUCTED, RELEASED), vacuumed and analysed; then the read `linked_skus` makes (the repository's, as
it is now) and the read as it was before (`BEFORE`'s module, with its two correlated SUMs), in one read session,
each 2 times to warm up and 9 times timed, alternating; prints the medians of the round trips (statement, asyncpg,
rows into `LinkedSku`s) and of the database's own execution time (EXPLAIN ANALYZE, 5 each). About 3 minutes at
100,000 lines (5 million rows) on 2 vCPU.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db import Database, migrate
from adapters.db.repositories.inventory_push import SqlInventoryPushRepository
from domain.shops import shop_name_key
from tests.fixtures.servers import start_postgres_server

SPREAD = 50
_FILL = [
    "TRUNCATE order_line_stock, sku_ledger_units",
    "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, component_sku_id, merchant_id, "
    "tiktok_sku_id, inventory_item_id, quantity, state, wanted, order_updated_at, updated_at) "
    "SELECT 's1', 'o' || g, 'l1', '', 'm1', CASE WHEN g % 50 = 0 THEN 'hot' ELSE 'other-' || (g % 997) END, 'i1', 1, "
    "(ARRAY['RESERVED', 'DEDUCTED', 'RELEASED'])[1 + (g / 50) % 3], 'RESERVE', now(), now() "
    "FROM generate_series(1, :rows) AS g",
    # what migration 0012 does, and the ledger's writes keep since
    "INSERT INTO sku_ledger_units (shop_id, tiktok_sku_id, ingested, released) SELECT shop_id, tiktok_sku_id, "
    "SUM(CASE WHEN state IN ('RESERVED', 'DEDUCTED') THEN quantity ELSE 0 END), "
    "SUM(CASE WHEN state = 'RELEASED' THEN quantity ELSE 0 END) FROM order_line_stock "
    "WHERE state IN ('RESERVED', 'DEDUCTED', 'RELEASED') GROUP BY shop_id, tiktok_sku_id",
]
_SETUP = [
    "INSERT INTO shops (id, merchant_id, name, name_key, region, tiktok_shop_id, tiktok_shop_name, tiktok_shop_cipher, "
    "access_token_encrypted, access_token_expires_at, refresh_token_encrypted, refresh_token_expires_at, "
    f"authorized_at, created_at) VALUES ('s1', 'm1', 'Shop', '{shop_name_key('Shop')}', 'US', 't1', 'Shop', 'c1', "
    "'a', now(), 'r', now(), now(), now())",
    "INSERT INTO inventory_items (id, merchant_id, sku, sku_search, on_hand, reserved, created_at, updated_at) "
    "VALUES ('i1', 'm1', 'HOT', 'hot', 100000, 0, now(), now())",
    "INSERT INTO sku_links (sku_id, shop_id, merchant_id, inventory_item_id, tiktok_product_id, tiktok_sku_id, "
    "seller_sku, state, source, updated_at) "
    "VALUES ('k1', 's1', 'm1', 'i1', 'p1', 'hot', 'HOT', 'LINKED', 'AUTO', now())",
]


BEFORE = "b5ef5e6"  # the last commit whose push summed the lines (`git show` reads its repository module)


def _before_repository() -> Any:
    """`LinkPushState` as it was at `BEFORE`, over a session: the read with the two correlated SUMs."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:adapters/db/repositories/inventory_push_links.py"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
    ).stdout  # fmt: skip
    module = types.ModuleType("inventory_push_links_before")
    exec(compile(source, module.__name__, "exec"), module.__dict__)  # (our own file, at that commit)

    class Before(module.LinkPushState):  # type: ignore[misc, name-defined]
        def __init__(self, session: AsyncSession) -> None:
            self._session = session

    return Before


async def _measure(db: Database, lines: int) -> tuple[dict[str, float], dict[str, float], tuple[int, int]]:
    async with db.write_sessionmaker() as session, session.begin():
        await session.execute(text(_FILL[0]))
        await session.execute(text(_FILL[1]), {"rows": lines * SPREAD})
        await session.execute(text(_FILL[2]))
    async with db.write_engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE order_line_stock"))
        await autocommit.execute(text("VACUUM ANALYZE sku_ledger_units"))
    before_class = _before_repository()
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    async with db.read_sessionmaker() as session:
        reads = {
            "before": before_class(session).linked_skus,
            "after": SqlInventoryPushRepository(session).linked_skus,
        }
        timings: dict[str, list[float]] = {"before": [], "after": []}
        counts = set()
        for run in range(11):
            for name, read in reads.items():
                started = time.perf_counter()
                (link,) = await read("s1", "p1")
                if run >= 2:
                    timings[name].append(time.perf_counter() - started)
                counts.add((link.ingested, link.released))
        # the database's own time for each statement (EXPLAIN ANALYZE's execution time, median of 5)
        event.listen(db.read_engine.sync_engine, "before_cursor_execute", keep)
        for read in reads.values():
            await read("s1", "p1")
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", keep)
        executed: dict[str, list[float]] = {"before": [], "after": []}
        connection = await session.connection()
        for name, (statement, parameters) in zip(reads, statements, strict=True):
            for _ in range(5):
                plan = await connection.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
                found = plan.scalar_one()  # asyncpg decodes the JSON already
                found = json.loads(found) if isinstance(found, str) else found
                executed[name].append(found[0]["Execution Time"] / 1000)
        await session.rollback()
    assert len(counts) == 1, counts  # both reads count the same units
    return (
        {name: statistics.median(values) for name, values in timings.items()},
        {name: statistics.median(values) for name, values in executed.items()},
        counts.pop(),
    )


async def _main(sizes: list[int]) -> None:
    server = start_postgres_server()
    try:
        url = server.create_database("fence_read")
        migrate.upgrade(url)
        db = Database(url)
        try:
            async with db.write_sessionmaker() as session, session.begin():
                for statement in _SETUP:
                    await session.execute(text(statement))
            for lines in sizes:
                trips, executed, (ingested, released) = await _measure(db, lines)
                print(
                    f"{lines:>7} lines of the SKU in {lines * SPREAD:>8} rows ({ingested} ingested, {released} "
                    f"released units): round trip before {trips['before'] * 1000:8.2f} ms, after "
                    f"{trips['after'] * 1000:6.2f} ms; in the database before {executed['before'] * 1000:8.2f} ms, "
                    f"after {executed['after'] * 1000:6.2f} ms",
                    flush=True,
                )
        finally:
            await db.dispose()
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(_main([int(arg) for arg in sys.argv[1:]] or [10_000, 100_000]))
