"""How SQLite and PostgreSQL plan every read of the order ledger by SKU now that its index by SKU holds no HISTORICAL
line (migration 0068): each reader's own statements, as it sends them, with their parameters bound (PostgreSQL: the
generic plan asyncpg's prepared statements fall back to), go through `(shop_id, tiktok_sku_id, state)`; the two that
count shipped history of orders made since a stock read find those lines through the orders made since and the
ledger's key. None scans the ledger or the orders (perf68)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db import Database
from adapters.db.repositories.inventory.created_from import _released_since_read
from adapters.db.repositories.inventory.ledger import _deducted_on_copies, hold_relink, relink_lines
from adapters.db.repositories.inventory.links import _keep_join_baselines, _open_pending_units
from adapters.db.repositories.inventory_push import SqlInventoryPushRepository

BY_SKU = "ix_order_line_stock_shop_id_tiktok_sku_id_state"
BY_ITEM = "ix_order_line_stock_inventory_item_id_state"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

Reader = Callable[[AsyncSession], Awaitable[Any]]
READERS: dict[str, Reader] = {
    "hold_relink": lambda s: hold_relink(s, "shop-1", ["t1", "t2"], []),
    "relink_lines": lambda s: relink_lines(s, "shop-1", "m1", {"t1": None, "t2": None}, NOW),
    "deducted_on_copies": lambda s: _deducted_on_copies(s, "shop-1", {"t1": "i1"}, {}),
    "ingested_since": lambda s: SqlInventoryPushRepository(s).ingested_since("shop-1", {"t1": NOW}),
    "released_since_read": lambda s: _released_since_read(s, "shop-1", "t1", NOW),
    "open_pending_units": lambda s: _open_pending_units(s, "shop-1", {"t1": NOW, "t2": NOW}),
    "keep_join_baselines": lambda s: _keep_join_baselines(s, "shop-1", {"k1": ("t1", 5, NOW)}),
}
# The readers that count history (HISTORICAL lines asking a deduction) of orders made since a stock read
HISTORY_SINCE = {"open_pending_units", "keep_join_baselines"}


# PostgreSQL plans by its statistics: a shop's 30 days as an import leaves them (20,000 orders, one every two minutes
# up to NOW; two lines each over 500 SKUs, most HISTORICAL as a first import's are), ANALYZEd. SQLite keeps none.
_SHOP = (
    "INSERT INTO shops (id, merchant_id, name, region, tiktok_shop_id, tiktok_shop_name, tiktok_shop_cipher, "
    "access_token_encrypted, access_token_expires_at, refresh_token_encrypted, refresh_token_expires_at, "
    "authorized_at, created_at, name_key) VALUES ('shop-1', 'm1', 'Shop', 'US', 'tt-1', 'Shop', 'c1', 'a', :now, 'r', "
    ":now, :now, :now, 'shop')"
)
_ORDERS = (
    "INSERT INTO orders (id, shop_id, tiktok_order_id, status, created_at, updated_at, total_amount, currency, "
    "fingerprint, imported_at) SELECT 'o' || g, 'shop-1', 'to' || g, 'COMPLETED', "
    "CAST(:now AS timestamptz) - g * interval '2 minutes', :now, '1.00', 'USD', 'f', :now "
    "FROM generate_series(1, 20000) g"
)
_LINES = (
    "INSERT INTO order_line_stock (shop_id, tiktok_order_id, tiktok_line_item_id, merchant_id, tiktok_sku_id, "
    "quantity, state, wanted, order_updated_at, updated_at) SELECT 'shop-1', 'to' || g, 'l' || n, 'm1', "
    "'t' || ((g * 2 + n) % 500), 1, CASE WHEN g % 20 = 0 THEN 'PENDING_LINK' WHEN g % 20 = 1 THEN 'RELEASED' "
    "ELSE 'HISTORICAL' END, CASE WHEN g % 20 = 0 THEN 'RESERVE' ELSE 'DEDUCT' END, :now, :now "
    "FROM generate_series(1, 20000) g, generate_series(1, 2) n"
)


async def _an_imported_shop(database: Database) -> None:
    if database.dialect_name == "sqlite":
        return
    async with database.write_sessionmaker() as session, session.begin():
        for statement in (_SHOP, _ORDERS, _LINES):
            await session.execute(text(statement), {"now": NOW})
        await session.execute(text("ANALYZE orders, order_line_stock"))


async def _ledger_reads(database: Database, reader: Reader) -> list[tuple[str, Any]]:
    """The statements reading `order_line_stock` that `reader` sends, with their parameters, in a transaction rolled
    back at the end."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "FROM order_line_stock" in statement or "JOIN order_line_stock" in statement:
            sent.append((statement, parameters))

    engine = database.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        async with database.write_sessionmaker() as session, session.begin():
            await reader(session)
            await session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return sent


async def _plan(database: Database, statement: str, parameters: Any, *, generic: bool = True) -> list[str]:
    """The plan's lines of `statement` with `parameters` bound as the driver binds them. PostgreSQL: its generic
    plan (what a prepared statement falls back to after five runs; values unknown), scans priced out (a test's few
    rows would favour them; a shop's ledger rules them out)."""
    async with database.write_sessionmaker() as session, session.begin():
        if database.dialect_name == "sqlite":
            rows = (await session.connection()).exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [str(row[-1]) for row in (await rows).all()]
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        connection = await session.connection()
        if not generic:
            return [
                str(row[-1]) for row in (await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)).all()
            ]
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        # (a prepared statement outlives the transaction: deallocated before the connection goes back to the pool)
        await connection.exec_driver_sql(f"PREPARE ledger_read AS {statement}")
        try:
            values = ", ".join("NULL" for _ in parameters)
            rows = await connection.exec_driver_sql(
                f"EXPLAIN EXECUTE ledger_read ({values})" if values else "EXPLAIN EXECUTE ledger_read"
            )
            return [str(row[-1]) for row in rows.all()]
        finally:
            await connection.exec_driver_sql("DEALLOCATE ledger_read")


@pytest.mark.parametrize("name", sorted(READERS))
async def test_each_read_of_the_ledger_by_sku_goes_through_its_partial_index_never_a_scan(
    database: Database, name: str
) -> None:
    # given a shop's imported ledger and a reader of it by SKU
    if name == "hold_relink" and database.dialect_name == "sqlite":
        pytest.skip("hold_relink reads nothing on SQLite (its write transaction already holds every item)")
    await _an_imported_shop(database)
    # when it runs, and each of its statements reading the ledger is planned as sent (PostgreSQL: the generic plan,
    # which knows no value, so the index's term must be in the statement itself)
    reads = await _ledger_reads(database, READERS[name])
    assert reads, name
    sqlite = database.dialect_name == "sqlite"
    for statement, parameters in reads:
        plan = "\n".join(await _plan(database, statement, parameters))
        # then the ledger is read by SKU through its partial index (an item's lines, `deducted_on_copies`' join from
        # the links, through the index by item), and neither the ledger nor the orders are scanned
        by_index = (BY_SKU, BY_ITEM) if name == "deducted_on_copies" else (BY_SKU,)
        assert any(index in plan for index in by_index), (statement, plan)
        for table in ("order_line_stock", "orders"):
            assert f"SCAN {table} " not in f"{plan} " and f"Seq Scan on {table} " not in plan, (statement, plan)
        if name in HISTORY_SINCE:
            # and the history of orders made since the read (not in that index) through those orders and the key,
            # one probe an order (PostgreSQL: as planned for the read's instant, seconds ago)
            if not sqlite:
                plan = "\n".join(await _plan(database, statement, parameters, generic=False))
            assert "ix_orders_shop_id_created_at_id" in plan, (statement, plan)
            key = (
                "sqlite_autoindex_order_line_stock_1 (shop_id=? AND tiktok_order_id=?)"
                if sqlite
                else "pk_order_line_stock"
            )
            assert key in plan, (statement, plan)
