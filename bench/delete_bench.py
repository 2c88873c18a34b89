"""A large shop's delete on PostgreSQL, statement by statement (tryout59 F-delete-pg; not part of `make bench`).

    python -m bench.delete_bench [--products 3000] [--orders 30000] [--runs 2]

The production layout's shop of tryout59: a sandbox of `--products` products and `--orders` orders (30 days of
which, ~20k, are imported), imported whole by the engine (`bench.sync_run.SyncWorker`, products then orders),
then `domain.services.shops.delete_shop` on `--runs` copies of that database (`CREATE DATABASE ... TEMPLATE`),
each timed whole and per statement (SQLAlchemy's cursor events; statements of 50 ms or more printed, longest first).
Prints one JSON line per run: `seconds` (the delete, end to end), `statements` (count), `slow` ([ms, statement's
first 160 characters]).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from bench.harness import Harness, log
from bench.sync_run import MERCHANT_ID, SyncWorker
from domain.clock import SystemClock
from domain.services.shops import delete_shop
from domain.sync import SyncKind


async def _import(settings: Any, sandbox: Any) -> str:
    async with SyncWorker(settings) as worker:
        shop = await worker.connect(sandbox)
        for kind in (SyncKind.PRODUCTS, SyncKind.ORDERS):
            run = await worker.run(shop, kind)
            log(f"imported {kind}: {run.task.processed} records in {run.seconds:.1f} s")
        return shop.id


async def _delete(url: str, settings: Any, shop_id: str) -> dict[str, object]:
    db = Database(url)
    started: dict[int, float] = {}
    timings: list[tuple[float, str]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        timings.append((time.perf_counter() - started.pop(id(cursor), time.perf_counter()), statement))

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        begun = time.perf_counter()
        await delete_shop(uow_factory(db, TokenCipher(settings.encryption_key)), SystemClock(), MERCHANT_ID, shop_id)
        seconds = time.perf_counter() - begun
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
        await db.dispose()
    slow = sorted(((round(s * 1000), " ".join(q.split())[:160]) for s, q in timings if s >= 0.05), reverse=True)
    return {"seconds": round(seconds, 2), "statements": len(timings), "slow": slow}


# The SELECT of the delete's kept applied lines (`ledger.kept_applied_lines`) before and after it joined the shop's
# links instead of a subquery per line (tryout59's read-only reconstruction, repro/tryout59/delete_lines_query.sql).
_APPLIED = """
SELECT l.merchant_id, s.tiktok_shop_id, l.tiktok_order_id, l.tiktok_line_item_id, l.component_sku_id, {item},
       l.quantity, now(), l.state
FROM order_line_stock l JOIN shops s ON s.id = l.shop_id
JOIN orders o ON o.shop_id = l.shop_id AND o.tiktok_order_id = l.tiktok_order_id {join}
WHERE l.shop_id = %(shop)s AND l.state <> 'RESERVED' AND o.created_at >= now() - interval '60 days'
  AND {item} IS NOT NULL"""
_PER_LINE = """coalesce(l.inventory_item_id, (SELECT max(coalesce(k.inventory_item_id, k.unlinked_item_id))
    FROM sku_links k WHERE k.shop_id = l.shop_id AND k.tiktok_sku_id = l.tiktok_sku_id))"""
_JOINED = """LEFT JOIN (SELECT tiktok_sku_id, max(coalesce(inventory_item_id, unlinked_item_id)) AS item_id
    FROM sku_links WHERE shop_id = %(shop)s GROUP BY tiktok_sku_id) k ON k.tiktok_sku_id = l.tiktok_sku_id"""
_APPLIED_OLD = _APPLIED.format(item=_PER_LINE, join="")
_APPLIED_NEW = _APPLIED.format(item="coalesce(l.inventory_item_id, k.item_id)", join=_JOINED)


def _compare(server: Any, database: str, shop_id: str, rounds: int) -> None:
    """`rounds` of EXPLAIN ANALYZE of the old and the new SELECT, alternating (a loaded machine's drift hits both):
    one JSON line per round, execution ms and rows of each."""
    connection = server.connect(database)
    try:
        with connection.cursor() as cursor:
            for round_ in range(rounds):
                figures: dict[str, object] = {"round": round_ + 1}
                for name, sql in (("per_line", _APPLIED_OLD), ("joined", _APPLIED_NEW)):
                    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, {"shop": shop_id})
                    plan = cursor.fetchone()[0][0]
                    figures[name] = {"ms": round(plan["Execution Time"]), "rows": plan["Plan"]["Actual Rows"]}
                print(json.dumps(figures), flush=True)
    finally:
        connection.close()


def _explain(server: Any, database: str) -> None:
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            for name, value in (
                ("session_preload_libraries", "auto_explain"), ("auto_explain.log_min_duration", "500"),
                ("auto_explain.log_analyze", "on"), ("auto_explain.log_triggers", "on"),
                ("auto_explain.log_nested_statements", "on"),
            ):  # fmt: skip
                cursor.execute(f"ALTER DATABASE \"{database}\" SET {name} = '{value}'")
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--orders", type=int, default=30000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--compare", type=int, default=0, help="rounds of the kept applied lines' SELECT, old and new")
    parser.add_argument("--explain", action="store_true", help="print auto_explain's plans of statements over 500 ms")
    args = parser.parse_args()
    with Harness() as harness:
        sandbox = harness.sandbox(args.products, args.orders)
        url = harness.fresh_database("postgres")
        settings = harness.settings(url, sandbox.url)
        shop_id = asyncio.run(_import(settings, sandbox))
        server = harness.postgres()
        source = url.rsplit("/", 1)[1]
        if args.compare:
            _compare(server, source, shop_id, args.compare)
        for run in range(args.runs):
            copy = server.create_database(f"{source}_delete{run}", template=source)
            server_log = server.directory / "postgres.log"
            logged = server_log.stat().st_size
            if args.explain:  # plans with their foreign keys' trigger times, in the server's log
                _explain(server, copy.rsplit("/", 1)[1])
            result = asyncio.run(_delete(copy, settings, shop_id))
            print(json.dumps({"run": run + 1, **result}), flush=True)
            if args.explain:
                with server_log.open("rb") as plans:
                    plans.seek(logged)
                    print(plans.read().decode(errors="replace"), flush=True)
            harness.drop_database(copy)
        harness.drop_database(url)


if __name__ == "__main__":
    main()
