"""The push outbox's write side: mark a (shop, TikTok product) dirty in the transaction that changes stock.

One set-based statement per call: every LINKED `sku_links` row of the given pool items names a (shop, product) whose
Update Inventory target may have changed; its `inventory_push_outbox` row is inserted or gets `dirty_version + 1`
and `next_attempt_at = now` (live-sync.md §7.3). Push enabled or not: the pusher reads the shop's policy.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among
from adapters.db.tables import UTCDateTime, inventory_push_outbox, products, sku_links
from domain.stored import ACTIVE_PRODUCT_STATUS

LINKED = "LINKED"


async def mark_push_dirty(
    session: AsyncSession, inventory_item_ids: Collection[str], now: datetime, kept: tuple[str, str] | None = None
) -> list[str]:
    """Mark dirty the outbox row of every (shop, TikTok product) with a LINKED SKU of the given items.

    Returns the ids of the shops touched (sorted), whose `push_inventory` the caller enqueues after commit.
    An empty `inventory_item_ids` writes nothing. `kept`: a (shop id, TikTok product id) whose row is locked with the
    others, in their order, but left as it is (a push finishing that row: `finish_claim` follows).
    """
    if not inventory_item_ids:
        return []
    ids = sorted(set(inventory_item_ids))
    at = literal(now, UTCDateTime)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    source = (
        select(
            sku_links.c.shop_id,
            sku_links.c.tiktok_product_id,
            literal(1).label("dirty_version"),
            literal(0).label("pushed_version"),
            at.label("next_attempt_at"),
            literal(0).label("attempts"),
            at.label("updated_at"),
        )
        .where(among(sku_links.c.inventory_item_id, ids, dialect), sku_links.c.state == LINKED)
        .distinct()
        # A fixed order: two transactions marking overlapping rows take their locks in the same order.
        .order_by(sku_links.c.shop_id, sku_links.c.tiktok_product_id)
    )
    columns = ["shop_id", "tiktok_product_id", "dirty_version", "pushed_version", "next_attempt_at", "attempts",
               "updated_at"]  # fmt: skip
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(inventory_push_outbox).from_select(columns, source)
    outbox = inventory_push_outbox.c
    marked: dict[str, Any] = {
        "dirty_version": outbox.dirty_version + 1,
        "next_attempt_at": statement.excluded.next_attempt_at,
        "updated_at": statement.excluded.updated_at,
    }
    if kept is not None:
        is_kept = and_(outbox.shop_id == kept[0], outbox.tiktok_product_id == kept[1])
        marked = {column: case((is_kept, getattr(outbox, column)), else_=value) for column, value in marked.items()}
    upsert = statement.on_conflict_do_update(index_elements=["shop_id", "tiktok_product_id"], set_=marked).returning(
        outbox.shop_id, outbox.tiktok_product_id
    )
    rows = (await session.execute(upsert)).all()
    return sorted({shop_id for shop_id, product_id in rows if (shop_id, product_id) != kept})


async def lock_push_rows(
    session: AsyncSession, rows: Collection[tuple[str, str]], inventory_item_ids: Collection[str] = ()
) -> None:
    """Lock until commit the outbox rows `rows` ((shop id, TikTok product id)) and those `mark_push_dirty` would mark
    for `inventory_item_ids`, all at once in (shop, product) order, the order of `mark_push_dirty`'s own statement
    (PostgreSQL, `FOR NO KEY UPDATE`, what its upsert takes; SQLite's writer is alone already: nothing to do). For a
    transaction that writes several products' rows statement after statement (a push finishing up to 50 unchanged
    products: `finish_claim` and `mark_push_dirty` per product), whose statements together follow no one order.
    Rows not stored yet are left out (an insert of a row nobody else sees)."""
    if session.bind is None or session.bind.dialect.name != "postgresql" or not (rows or inventory_item_ids):
        return
    outbox = inventory_push_outbox.c
    named = []
    if rows:
        named.append(tuple_(outbox.shop_id, outbox.tiktok_product_id).in_(sorted(set(rows))))
    if inventory_item_ids:
        linked = select(sku_links.c.shop_id, sku_links.c.tiktok_product_id).where(
            among(sku_links.c.inventory_item_id, sorted(set(inventory_item_ids)), "postgresql"),
            sku_links.c.state == LINKED,
        )
        named.append(tuple_(outbox.shop_id, outbox.tiktok_product_id).in_(linked))
    query = select(outbox.shop_id).where(or_(*named)).order_by(outbox.shop_id, outbox.tiktok_product_id)
    await session.execute(query.with_for_update(key_share=True))  # the rows locked as the sort gives them


async def waiting_on_sale(session: AsyncSession, shop_id: str, tiktok_product_ids: Collection[str]) -> bool:
    """Whether one of the shop's products `tiktok_product_ids`, stored `ACTIVATE`, has a dirty outbox row: one that
    waited while TikTok did not sell the product (the pusher claims no row of a product in another status,
    `inventory_push._ON_SALE`), due now that it is on sale again, or one dirty anyway. The products' store (an import
    page, a webhook's refresh) then enqueues the shop's push after commit, so a product back on sale gets the pool's
    value at once, not at the scheduler's next tick. One indexed read of at most the products' rows."""
    if not tiktok_product_ids:
        return False
    outbox = inventory_push_outbox.c
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    query = (
        select(outbox.tiktok_product_id)
        .join(
            products,
            and_(products.c.shop_id == outbox.shop_id, products.c.tiktok_product_id == outbox.tiktok_product_id),
        )
        .where(
            outbox.shop_id == shop_id,
            among(outbox.tiktok_product_id, sorted(set(tiktok_product_ids)), dialect),
            outbox.dirty_version > outbox.pushed_version,
            products.c.status == ACTIVE_PRODUCT_STATUS,
        )
        .limit(1)
    )
    return (await session.execute(query)).first() is not None
