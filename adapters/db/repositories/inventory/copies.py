"""Items seeded as copies of another item's count, and what happens to the copies of an item that goes.

A seller SKU renamed in Seller Center to one no item has creates an item seeded from the SKU's TikTok stock, which
is the count the pool pushed for the item the SKU was LINKED to: the new item is a copy of that item's count
(README "Shared inventory pool" -> Seeding; `sku_links.seeded_from_item_id`, `domain.inventory.links.seed_copies`).
The item remembers it (`inventory_items.seeded_from_item_id`, migration 0071), for the link's own may be overwritten
by a later rename of the same SKU.

When such a middle copy B of item A goes, left to nobody (`shop_items.remove_unclaimed_items`: no SKU links it, no
order reserves on it, never counted by hand) or behind by a shop's delete (`remove_shop_items`, the same rule), every
copy of B is a copy of A's count less what B counted out since: the links and items naming B as the count copied
name A instead (`Shop.attention`'s STOCK_COPIED then names A, the item still counting the shelf, not a deleted one:
chain74), and the units each such SKU left B with (shipped while it sat on B, or carried off B when it left: B alone
counted them out, A never did) go with the item that SKU's seed copied from B, whose count has them out already (a
copy of B's), so that linking the SKU back to A deducts them there (`ledger.deducted_on_copy`, review rev73a F3). A
middle item another shop still links stays, and stays named (review rev73a F1).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among, dialect_of
from adapters.db.tables import LEDGER_BY_SKU, inventory_items, order_line_stock, sku_links
from domain.inventory.ledger import LineState


async def record_copies(session: AsyncSession, copies: Mapping[str, str]) -> None:
    """Remember on each item just seeded as a copy (item id -> the item whose count it copied, as its seeding link
    says) the item it copied. None (almost every import): no statement. The items are the caller's, created in this
    transaction."""
    if not copies:
        return
    statement = (
        update(inventory_items)
        .where(inventory_items.c.id == bindparam("copy_id"))
        .values(seeded_from_item_id=bindparam("copied_id"))
    )
    rows = [{"copy_id": copy, "copied_id": copied} for copy, copied in sorted(copies.items())]
    await session.execute(statement, rows)


async def origins_of(session: AsyncSession, removed: Collection[str]) -> dict[str, str]:
    """Of the items about to be removed as left to nobody (`removed`: never counted by hand, `shop_items._left_behind`),
    those seeded as a copy of another item still there: item id -> that item, followed through the removed ones (a
    chain A -> B -> C of which B and C go both names A for each). One statement."""
    item, origin = inventory_items.alias("item"), inventory_items.alias("origin")
    query = (
        select(item.c.id, item.c.seeded_from_item_id)
        .join(origin, origin.c.id == item.c.seeded_from_item_id)
        .where(among(item.c.id, sorted(removed), dialect_of(session)))
    )
    copied = {row.id: row.seeded_from_item_id for row in await session.execute(query)}
    resolved = {}
    for copy in copied:
        first, seen = copied[copy], {copy}
        while first in removed and first in copied and first not in seen:
            seen.add(first)
            first = copied[first]
        if first not in removed:
            resolved[copy] = first
    return resolved


async def hand_copies(session: AsyncSession, origins: Mapping[str, str]) -> None:
    """Hand the copies of each removed item B (`origins`: B -> the item A whose count B copied, `origins_of`) to A,
    before B goes (its lines still name it). For each link that seeded its item as a copy of B (few): its SKU's
    DEDUCTED lines shipped while on B, owed to no item (`left_out_of_seed` null: B counted them out, A never did), go
    to the link's seeded item, counters untouched (its seed, a copy of B's count, has them out already); its lines
    on that seeded item marked owed to B (carried off B when the SKU left it, `ledger.carries_its_units`, or left
    out of B's seed) forget it: B is gone and A never counted them out. Then those links, and the items copied from
    B, name A as the count copied. `ledger.deducted_on_copy` brings those lines back to A when the SKU is linked to
    A, as those shipped on the copy itself. The caller holds the links (`shop_items.delete_items`, in their order)
    and removes B next. No origin: no statement."""
    if not origins:
        return
    dialect = dialect_of(session)
    lines, links, items = order_line_stock.c, sku_links.c, inventory_items.c
    middle = sorted(origins)
    copying = select(links.shop_id, links.tiktok_sku_id, links.seeded_item_id, links.seeded_from_item_id).where(
        among(links.seeded_from_item_id, middle, dialect), links.seeded_item_id.is_not(None)
    )
    seeds = [
        {"shop": r.shop_id, "sku": r.tiktok_sku_id, "copy": r.seeded_item_id, "middle": r.seeded_from_item_id}
        for r in await session.execute(copying)
    ]
    if seeds:
        of_the_sku = (
            lines.shop_id == bindparam("shop"),
            lines.tiktok_sku_id == bindparam("sku"),
            LEDGER_BY_SKU,
        )
        shipped_on_middle = update(order_line_stock).where(
            *of_the_sku,
            lines.inventory_item_id == bindparam("middle"),
            lines.state == LineState.DEDUCTED.value,
            lines.left_out_of_seed.is_(None),
        )
        await session.execute(shipped_on_middle.values(inventory_item_id=bindparam("copy")), seeds)
        owed_to_middle = update(order_line_stock).where(
            *of_the_sku, lines.inventory_item_id == bindparam("copy"), lines.left_out_of_seed == bindparam("middle")
        )
        await session.execute(owed_to_middle.values(left_out_of_seed=None), seeds)
    await session.execute(
        update(sku_links)
        .where(among(links.seeded_from_item_id, middle, dialect))
        .values(seeded_from_item_id=case(dict(origins), value=links.seeded_from_item_id))
    )
    await session.execute(
        update(inventory_items)
        .where(among(items.seeded_from_item_id, middle, dialect))
        .values(seeded_from_item_id=case(dict(origins), value=items.seeded_from_item_id))
    )
