"""A deleted shop's part of the pool: its links and ledger rows, and the items only it linked.

The "left behind" rule of `domain.inventory.items`, set-based: one query finds the items the shop's SKUs link that
no other shop's SKU links (nor reserves units of), with a safety stock of 0 and no movement of the merchant's hand
(`HAND_MADE`); then a fixed number of statements delete the shop's links and ledger rows, and those items with their
movements, whatever their number (a shop has up to 100,000 SKUs). Runs in the delete's transaction after
`release_shop`, which has locked the shop's items already (PostgreSQL), in id order: another shop's import that
links one of them meanwhile either committed first (the item stays) or waits for the delete (it holds the items
before its links name them, `ledger.hold_relink`), then finds the item gone and creates it again: no link is left
naming a missing item.

The same rule after one shop's auto-link change (`remove_unclaimed_items`): the items its SKUs no longer link, once
no SKU at all does. Either way, a removed item that was a copy of another item's count hands its copies to that item
(`copies`: STOCK_COPIED through a chain of renames, chain74).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import ColumnElement, Select, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among, dialect_of
from adapters.db.repositories.inventory.copies import hand_copies, origins_of
from adapters.db.repositories.inventory.ledger import merchant_of
from adapters.db.tables import inventory_items, inventory_movements, order_line_stock, sku_ledger_units, sku_links
from domain.inventory.items import HAND_MADE
from domain.inventory.ledger import LineState


async def remove_unclaimed_items(session: AsyncSession, merchant_id: str, item_ids: Collection[str]) -> list[str]:
    """Delete those of `item_ids` that an import's link change left to nobody, with their movements: no SKU of any
    shop links them, no shop reserves units of them, and nothing on them is the merchant's by hand (the "left behind"
    rule, for one shop's relink instead of its delete). Such an item was a guess undone (a seller SKU that turned out
    to be on two SKUs of the shop once a later page brought the twin) or a seller SKU renamed away: what it holds is
    one SKU's TikTok stock of then, which a SKU linking it later would take for the pool's count. Returns the ids
    removed (sorted). The caller holds the items (`lock_items`, PostgreSQL)."""
    if not item_ids:
        return []
    candidates = among(inventory_items.c.id, sorted(item_ids), dialect_of(session))
    removed = await _left_behind(session, merchant_id, candidates)
    if removed:
        # a removed item that was a copy of another's count hands its copies to that item (`copies`, chain74)
        await delete_items(session, removed, await origins_of(session, removed))
    return removed


async def _left_behind(
    session: AsyncSession, merchant_id: str, candidates: ColumnElement[bool], *, ignoring_shop: str | None = None
) -> list[str]:
    """The ids (sorted) of the merchant's `candidates` items that nobody claims (the "left behind" rule of
    `domain.inventory.items`): no SKU links them, no order line reserves units of them, their safety stock is 0, and
    no movement of theirs is the merchant's by hand (`HAND_MADE`). `ignoring_shop`: that shop's links and
    reservations do not count (it is being deleted).

    The merchant is tested on the rows, not in the statement (`left_behind_query`): with `merchant_id = ?` in it,
    SQLite (no statistics) walked every item of the merchant through `(merchant_id, created_at, id)` and tested each
    id against the candidates, for each products batch that left an item (1.6 ms at 4,100 items, 8.4 ms at 13,800:
    the batches of an import times the merchant's items). Candidates are the merchant's anyway (its shop's links)."""
    rows = (await session.execute(left_behind_query(candidates, ignoring_shop=ignoring_shop))).all()
    return sorted(item_id for item_id, owner in rows if owner == merchant_id)


def left_behind_query(candidates: ColumnElement[bool], *, ignoring_shop: str | None = None) -> Select[str, str]:
    """`_left_behind`'s statement, of any merchant: from the candidates (their primary key), each with its
    merchant."""
    item = inventory_items.c
    link = [sku_links.c.inventory_item_id == item.id]
    units = [order_line_stock.c.inventory_item_id == item.id, order_line_stock.c.state == LineState.RESERVED.value]
    if ignoring_shop is not None:
        link.append(sku_links.c.shop_id != ignoring_shop)
        units.append(order_line_stock.c.shop_id != ignoring_shop)
    by_hand = exists().where(
        inventory_movements.c.inventory_item_id == item.id,
        inventory_movements.c.kind.in_(sorted(kind.value for kind in HAND_MADE)),
    )
    return select(item.id, item.merchant_id).where(
        candidates,
        item.safety_stock == 0,
        ~exists().where(*link),
        ~exists().where(*units),
        ~by_hand,
    )


async def delete_items(session: AsyncSession, removed: list[str], origins: Mapping[str, str] | None = None) -> None:
    """The items and their movements; ledger rows that still name one (history) lose the reference, as the foreign
    key's `ON DELETE SET NULL` would, and so do the links that remember one (`unlinked_item_id`, any shop's).
    `origins`: of those left to nobody, each that was a copy of another item's count -> that item; their copies are
    handed to it first (`copies.hand_copies`: the links naming one as the count their seed copied, any shop's).

    Those links are taken in `sku_id` order first, all at once (`FOR NO KEY UPDATE`, PostgreSQL), the order every
    writer of links keeps (`writer`'s module docstring), then cleared: left to the foreign key, they were cleared
    item after item, each item's in the order of its index entries (the rows' places in the table), and a push or a
    reconcile holding a lower one of them while it asked for a higher one this held deadlocked with it (40P01)."""
    dialect = dialect_of(session)
    remembering = among(sku_links.c.unlinked_item_id, removed, dialect)
    if dialect == "postgresql":
        copying = among(sku_links.c.seeded_from_item_id, sorted(origins), dialect) if origins else None
        linked = or_(remembering, copying) if copying is not None else remembering
        held = select(sku_links.c.sku_id).where(linked).order_by(sku_links.c.sku_id)
        await session.execute(held.with_for_update(key_share=True))  # FOR NO KEY UPDATE: what their UPDATE takes
    await hand_copies(session, origins or {})
    await session.execute(update(sku_links).where(remembering).values(unlinked_item_id=None))
    named = among(order_line_stock.c.inventory_item_id, removed, dialect)
    await session.execute(update(order_line_stock).where(named).values(inventory_item_id=None))
    await session.execute(
        delete(inventory_movements).where(among(inventory_movements.c.inventory_item_id, removed, dialect))
    )
    await session.execute(delete(inventory_items).where(among(inventory_items.c.id, removed, dialect)))


def linked_by_shop(shop_id: str) -> Select[str]:
    """The ids of the items the shop's SKUs link (a subquery)."""
    return select(sku_links.c.inventory_item_id).where(
        sku_links.c.shop_id == shop_id, sku_links.c.inventory_item_id.is_not(None)
    )


async def remove_shop_items(session: AsyncSession, shop_id: str) -> list[str]:
    """Delete the shop's links and ledger rows, and the items it leaves behind with their movements.

    Returns the ids of the items removed (sorted). Another shop's ledger rows that still name a removed item (its
    history: the SKU was unlinked since) lose the reference, as the foreign key's `ON DELETE SET NULL` would.
    """
    merchant_id = await merchant_of(session, shop_id)
    if merchant_id is None:
        return []
    candidates = inventory_items.c.id.in_(linked_by_shop(shop_id))
    removed = await _left_behind(session, merchant_id, candidates, ignoring_shop=shop_id)
    # The shop's own rows first, so that deleting the items has no reference of the shop's left to null.
    await session.execute(delete(order_line_stock).where(order_line_stock.c.shop_id == shop_id))
    await session.execute(delete(sku_ledger_units).where(sku_ledger_units.c.shop_id == shop_id))  # their running units
    await session.execute(delete(sku_links).where(sku_links.c.shop_id == shop_id))
    if removed:  # (a removed copy of another item's count hands its copies to that item, as above)
        await delete_items(session, removed, await origins_of(session, removed))
    return removed
