"""The limit's writer (`bench.limit`): a batch's rows into the database, each database's fastest bulk way.

`copy_batch` (PostgreSQL): one transaction, one `COPY` per table (asyncpg's `copy_records_to_table`), one pipelined
executemany per kind of update. `executemany_batch` (SQLite): one `BEGIN IMMEDIATE` transaction, one driver-level
executemany per table and per kind of update. Rows are tuples in column order, values as the database stores them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.db.tables import (
    inventory_items,
    inventory_movements,
    inventory_push_outbox,
    line_items,
    order_line_stock,
    orders,
    products,
    sku_links,
    skus,
    warehouse_stocks,
)
from bench.limit_pool import Updates

Rows = dict[Table, list[tuple[Any, ...]]]
Batch = tuple[Rows, Updates]


# The statements the pool's rows need besides inserts (`bench.limit_pool.Updates`), one parameter tuple per row.
_UPDATES = {
    "relink": "UPDATE sku_links SET state = ?, inventory_item_id = ?, linked_at = ?, updated_at = ? WHERE sku_id = ?",
    "counters": "UPDATE inventory_items SET on_hand = on_hand + ?, reserved = reserved + ?, version = version + 1, "
    "updated_at = ? WHERE id = ?",
    "outbox": "UPDATE inventory_push_outbox SET dirty_version = dirty_version + 1, next_attempt_at = ?, "
    "updated_at = ? WHERE shop_id = ? AND tiktok_product_id = ?",
    "catalog_count": "INSERT INTO shop_catalog_counts (shop_id, catalog, total) VALUES (?, ?, ?) "
    "ON CONFLICT (shop_id, catalog) DO UPDATE SET total = shop_catalog_counts.total + excluded.total",
    "units": "INSERT INTO sku_ledger_units (shop_id, tiktok_sku_id, ingested, released) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (shop_id, tiktok_sku_id) DO UPDATE SET ingested = sku_ledger_units.ingested + excluded.ingested, "
    "released = sku_ledger_units.released + excluded.released",
}


def _numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, ...`."""
    parts = sql.split("?")
    return "".join(f"{part}${i}" if i < len(parts) else part for i, part in enumerate(parts, 1))


_PG_UPDATES = {name: _numbered(sql) for name, sql in _UPDATES.items()}


async def copy_batch(connection: AsyncConnection, batch: Batch) -> None:
    """PostgreSQL: one transaction, one COPY per table (asyncpg's binary COPY protocol), one pipelined
    executemany per kind of update."""
    rows, updates = batch
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    async with driver.transaction():
        for table, records in rows.items():
            if records:
                columns = [column.name for column in table.columns]
                await driver.copy_records_to_table(table.name, records=records, columns=columns)
        for name, params in updates:
            if params:
                await driver.executemany(_PG_UPDATES[name], params)


_SQLITE_INSERTS = {
    table: f"INSERT INTO {table.name} ({', '.join(c.name for c in table.columns)}) "
    f"VALUES ({', '.join('?' for _ in table.columns)})"
    for table in (
        *(products, skus, warehouse_stocks, orders, line_items),
        *(inventory_items, sku_links, inventory_movements, inventory_push_outbox, order_line_stock),
    )
}


async def executemany_batch(connection: AsyncConnection, batch: Batch) -> None:
    """SQLite: one transaction (`BEGIN IMMEDIATE`, as the engine's), one driver-level executemany per table and
    per kind of update."""
    rows, updates = batch
    async with connection.begin():
        for table, records in rows.items():
            if records:
                await connection.exec_driver_sql(_SQLITE_INSERTS[table], records)
        for name, params in updates:
            if params:
                await connection.exec_driver_sql(_UPDATES[name], params)
