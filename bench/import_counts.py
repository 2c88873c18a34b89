"""What benchmark 1's sides stored, to check they did the same work (issue 13): `await stored_rows(url)`.

Every table the sync writes for the product's function is counted: the catalog (`products`, `skus`,
`warehouse_stocks`, `orders`, `line_items`) and the inventory pool (`inventory_items`, `sku_links`,
`order_line_stock`, `inventory_movements`, `inventory_push_outbox`). Left out: the sync's bookkeeping for
resumability (`sync_tasks`: checkpoints, counters, heartbeats), which the bare loop has no use for.

`same` holds what both sides must store alike: the catalog's rows (products and orders also per status), the links
and ledger rows per state (ledger rows also per effect asked, `wanted`: the line rules' verdict, which a first-seen
line's HISTORICAL state hides; and per effect asked and order status, e.g. `order_line_stock.wanted.DEDUCT.CANCELLED`,
a cancelled line whose package had left the shelf, or `...RELEASE.COMPLETED`, a line of an order fulfilled by
TikTok), and the pool's items that links name, with their counters, movements and outbox rows. `loose` holds what
depends on where batches happen to split (each side fills a batch with the pages already fetched, so it varies run
to run in the sync alone): a seller SKU linked in one batch and found on a second SKU in a later batch turns
AMBIGUOUS but keeps the item it created, with its SEEDED movement and its product's outbox row; in one batch, no
item is created.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select

from adapters.db import Database
from adapters.db.tables import (
    inventory_items,
    inventory_movements,
    inventory_push_outbox,
    line_items,
    order_line_stock,
    orders,
    products,
    shop_catalog_counts,
    sku_links,
    skus,
    warehouse_stocks,
)

CATALOG_TABLES = (products, skus, warehouse_stocks, orders, line_items)
POOL_TABLES = (inventory_items, sku_links, order_line_stock, inventory_movements, inventory_push_outbox)


async def stored_rows(url: str, pool: bool = True) -> dict[str, dict[str, int]]:
    """{"same": {...}, "loose": {...}} (see the module's docstring); the catalog's alone when `pool` is False."""
    db = Database(url)
    try:
        async with db.read_sessionmaker() as session:

            async def one(query: Any) -> int:
                return int((await session.execute(query)).scalar_one() or 0)

            same: dict[str, int] = {}
            loose: dict[str, int] = {}
            for table in CATALOG_TABLES:
                same[table.name] = await one(select(func.count()).select_from(table))
            for table in (products, orders):  # e.g. "products.DELETED": SKUs stored, not pooled
                query = select(table.c.status, func.count()).group_by(table.c.status)
                for status, count in (await session.execute(query)).all():
                    same[f"{table.name}.{status}"] = int(count)
            for catalog in ("products", "orders"):  # the shop's running counts, kept by both sides
                counted = shop_catalog_counts.c.catalog == catalog
                same[f"shop_catalog_counts.{catalog}"] = await one(
                    select(func.sum(shop_catalog_counts.c.total)).where(counted)
                )
            if not pool:
                return {"same": same, "loose": loose}
            for table in POOL_TABLES:
                loose[table.name] = await one(select(func.count()).select_from(table))
            for table in (sku_links, order_line_stock):
                same[table.name] = loose.pop(table.name)
                query = select(table.c.state, func.count()).group_by(table.c.state)
                for state, count in (await session.execute(query)).all():
                    same[f"{table.name}.{state}"] = int(count)
            wanted = select(order_line_stock.c.wanted, func.count()).group_by(order_line_stock.c.wanted)
            for effect, count in (await session.execute(wanted)).all():
                same[f"order_line_stock.wanted.{effect}"] = int(count)
            ledger, of_order = order_line_stock.c, orders.c
            joined = order_line_stock.join(
                orders, (of_order.shop_id == ledger.shop_id) & (of_order.tiktok_order_id == ledger.tiktok_order_id)
            )
            per_status = select(ledger.wanted, of_order.status, func.count()).select_from(joined)
            per_status = per_status.group_by(ledger.wanted, of_order.status)
            for effect, status, count in (await session.execute(per_status)).all():
                same[f"order_line_stock.wanted.{effect}.{status}"] = int(count)
            linked = select(sku_links.c.inventory_item_id).where(sku_links.c.state == "LINKED")
            of_linked = inventory_items.c.id.in_(linked)
            same["linked items"] = await one(select(func.count(distinct(sku_links.c.inventory_item_id))).where(
                sku_links.c.state == "LINKED"))  # fmt: skip
            same["linked items: on_hand"] = await one(select(func.sum(inventory_items.c.on_hand)).where(of_linked))
            same["linked items: reserved"] = await one(select(func.sum(inventory_items.c.reserved)).where(of_linked))
            same["linked items: movements"] = await one(
                select(func.count()).where(inventory_movements.c.inventory_item_id.in_(linked))
            )
            linked_products = select(sku_links.c.tiktok_product_id).where(sku_links.c.state == "LINKED")
            same["outbox rows of linked products"] = await one(
                select(func.count()).where(inventory_push_outbox.c.tiktok_product_id.in_(linked_products))
            )
            loose["all items: on_hand"] = await one(select(func.sum(inventory_items.c.on_hand)))
            loose["all items: reserved"] = await one(select(func.sum(inventory_items.c.reserved)))
            return {"same": same, "loose": loose}
    finally:
        await db.dispose()
