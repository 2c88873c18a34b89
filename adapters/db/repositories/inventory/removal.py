"""A merchant's delete of one inventory item (`inventoryItemDelete`, tryout61 F3): what points at it, then the item.

`item_use` counts, in the delete's transaction (the item locked by `get_item(lock=True)`), the links naming it, the
order lines RESERVED on it and the units of its unseen sales a push's fence holds (`domain.inventory.removal.ItemUse`);
`delete_item` removes it as a shop's delete removes the items it alone linked (`shop_items.delete_items`): its
movements go, ledger rows and links that remember it lose the reference, and what a deleted shop kept on it
(`deleted_shop_*`, `sku_link_periods`) goes with it (the foreign keys' `ON DELETE CASCADE`): no foreign key is left
dangling.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.repositories.inventory.shop_items import delete_items
from adapters.db.tables import order_line_stock, sku_ledger_units, sku_links
from domain.inventory.items import InventoryItem
from domain.inventory.ledger import LineState
from domain.inventory.links import hold_item, hold_parts
from domain.inventory.removal import ItemUse
from domain.inventory_push import standing_units
from domain.ports import PoolChange


async def item_use(session: AsyncSession, item_id: str, now: datetime, hold_horizon: timedelta) -> ItemUse:
    """The links naming the item (any state) and its RESERVED order lines: two counts through their indexes; and the
    units of its sales any shop's push holds unseen at `now` (`_held_for`)."""
    links = select(func.count()).select_from(sku_links).where(sku_links.c.inventory_item_id == item_id)
    reserved = (
        select(func.count())
        .select_from(order_line_stock)
        .where(order_line_stock.c.inventory_item_id == item_id, order_line_stock.c.state == LineState.RESERVED.value)
    )
    await _lock_naming(session, item_id)
    held, until = await _held_for(session, item_id, now, hold_horizon)
    unpushed, unpushed_until = await _unpushed_for(session, item_id, now, hold_horizon)
    return ItemUse(
        links=(await session.execute(links)).scalar_one(),
        reserved_lines=(await session.execute(reserved)).scalar_one(),
        held_units=held,
        held_until=until,
        unpushed_links=unpushed,
        unpushed_until=unpushed_until,
    )


def _intent_names(item_id: str) -> Any:
    """A push intent (`sku_links.push_intent`, `inventory_push_links.intent_json`'s compact JSON) made for the item:
    its text holds `"item_id":"<id>"` (confirmed on the decoded intent by the callers that count)."""
    return sku_links.c.push_intent.contains(
        json.dumps({"item_id": item_id}, separators=(",", ":"))[1:-1], autoescape=True
    )


async def _lock_naming(session: AsyncSession, item_id: str) -> None:
    """Hold, until commit, every link row (any shop's) that names the item in a column a push's record reads or
    writes: its hold's items (`held_item_id`, `held_rest_item_id`, `moved_hold_item_id`), the item it remembers
    (`unlinked_item_id`), its last push record's (`pushed_item_id`) and its push intent's (`_intent_names`); in
    `sku_id` order, `FOR NO KEY UPDATE` (what the push's one UPDATE a link takes), after the item (`get_item(lock=
    True)`): the lock order of every writer (`writer` module docstring). PostgreSQL only (SQLite's write transaction
    is exclusive already). Why (review63 F1): the push records a link in one UPDATE that turns its record's item
    (`pushed_item_id`) into its hold's (`held_item_id`); counted in two statements (`_held_for`, `_unpushed_for`) a
    record landing between them was in neither, and one landing after the counts named a deleted item. Held, the
    record waits for this transaction (and, the item gone, names it no more than `ON DELETE SET NULL` leaves), or
    landed before the counts read it; no other row can come to name the item meanwhile: a link change to or from it
    waits for the item, and a record names only the items its row or intent named already."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    links = sku_links.c
    naming = or_(
        links.held_item_id == item_id, links.held_rest_item_id == item_id, links.moved_hold_item_id == item_id,
        links.unlinked_item_id == item_id, links.pushed_item_id == item_id,
        and_(links.push_intent.is_not(None), _intent_names(item_id)),
    )  # fmt: skip
    query = select(links.sku_id).where(naming).order_by(links.sku_id)
    await session.execute(query.with_for_update(key_share=True))  # FOR NO KEY UPDATE


async def _unpushed_for(
    session: AsyncSession, item_id: str, now: datetime, horizon: timedelta
) -> tuple[int, datetime | None]:
    """(links, when the last of their moves is `horizon` old) of any shop's links moved off the item to another
    item within `horizon` of `now` (`linked_at`, the move) whose last push record is still the item's
    (`pushed_item_id`) or whose push in flight (or doubtful) was made for it (the intent's `item_id`): units sold at
    TikTok under the item before the move are held by no push yet (review63 F1: HAT's push in flight, refused by
    TikTok, or push off). Once pushed under the new item, its hold of such units is the item's (`_held_for`). After
    `horizon` (two order polls) the move's earlier sales are read. So does a SKU moved off the item and then
    unlinked (its link remembering the other item, `unlinked_item_id`, or none; `linked_at` the move's): its sales
    under the item are held by no push either (review64 F7: CAP's SKU linked to HAT with push off, then unlinked,
    and CAP's delete was accepted; its unseen sale, read later, was history, deducted from nothing). An SKU unlinked
    straight from the item is left to the holds of the item it remembers (the item itself): a product call, the
    documented way to free an item for delete is to unlink its SKUs. One statement."""
    links = sku_links.c
    since = now - horizon
    elsewhere = or_(
        links.inventory_item_id != item_id,
        and_(
            links.inventory_item_id.is_(None),
            or_(links.unlinked_item_id.is_(None), links.unlinked_item_id != item_id),
        ),
    )
    query = select(links.linked_at, links.pushed_item_id, links.push_intent).where(
        elsewhere,
        links.linked_at >= since,
        or_(links.pushed_item_id == item_id, and_(links.push_intent.is_not(None), _intent_names(item_id))),
    )
    moves = [
        row.linked_at
        for row in (await session.execute(query)).all()
        if row.pushed_item_id == item_id or json.loads(row.push_intent).get("item_id") == item_id
    ]
    last = max(moves, default=None)
    return len(moves), None if last is None else last + horizon


async def _held_for(
    session: AsyncSession, item_id: str, now: datetime, horizon: timedelta
) -> tuple[int, datetime | None]:
    """(units, when the last hold ends) of the item's sales at TikTok that links of any shop hold unseen at `now`:
    each link's hold by the item its units belong to (`domain.inventory.links.hold_item`, `hold_parts`: a split
    hold's parts) and its moved hold (`moved_hold_*`), each standing as a shop's delete takes it off
    (`domain.inventory_push.standing_units`: within `horizon` of its start, less the units the ledger applied for
    its SKU since). The candidate links through the indexes of `held_item_id`, a split's other part
    (`held_rest_item_id`), `unlinked_item_id`, `moved_hold_item_id` and a split moved hold's other part
    (`moved_hold_rest_item_id`) (migrations 0058, 0062, 0063); one statement."""
    links, units = sku_links.c, sku_ledger_units.c
    since = now - horizon
    own = and_(links.held_quantity > 0, links.held_since >= since)
    query = (
        select(
            links.held_quantity, links.held_since, links.held_item_id, links.held_item_quantity,
            links.held_rest_item_id, links.state, links.inventory_item_id, links.unlinked_item_id, links.source,
            links.unlinked_at, links.ingested_at_push, links.moved_hold_item_id, links.moved_hold_quantity,
            links.moved_hold_since, links.moved_hold_ingested_at_push, units.ingested, links.moved_hold_item_quantity,
            links.moved_hold_rest_item_id,
        )
        .select_from(
            sku_links.outerjoin(
                sku_ledger_units, and_(units.shop_id == links.shop_id, units.tiktok_sku_id == links.tiktok_sku_id)
            )
        )
        .where(
            or_(
                and_(links.held_item_id == item_id, own),
                and_(links.held_rest_item_id == item_id, links.held_item_quantity.is_not(None), own),
                and_(links.unlinked_item_id == item_id, links.held_item_id.is_(None), own),
                and_(links.moved_hold_item_id == item_id, links.moved_hold_quantity > 0,
                     links.moved_hold_since >= since),
                and_(links.moved_hold_rest_item_id == item_id, links.moved_hold_item_quantity.is_not(None),
                     links.moved_hold_quantity > 0, links.moved_hold_since >= since),
            )
        )
    )  # fmt: skip
    held, until = 0, None
    for row in (await session.execute(query)).all():
        count, ends = row.ingested or 0, []
        of_hold = hold_item(
            row.held_quantity, row.held_item_id, row.state, row.inventory_item_id, row.unlinked_item_id, row.source,
            row.unlinked_at,
        )  # fmt: skip
        applied = None if row.ingested_at_push is None else count - row.ingested_at_push
        standing = standing_units(row.held_quantity, row.held_since, applied, now, horizon)
        rest = row.held_rest_item_id if row.held_item_quantity is not None else None
        part = hold_parts(standing, of_hold, row.held_item_quantity, rest).get(item_id, 0)
        if part:
            held, ends = held + part, [row.held_since + horizon]
        moved_rest = row.moved_hold_rest_item_id if row.moved_hold_item_quantity is not None else None
        if item_id in (row.moved_hold_item_id, moved_rest):
            moved_applied = None if row.moved_hold_ingested_at_push is None else count - row.moved_hold_ingested_at_push
            moved_all = standing_units(row.moved_hold_quantity, row.moved_hold_since, moved_applied, now, horizon)
            moved_parts = hold_parts(moved_all, row.moved_hold_item_id, row.moved_hold_item_quantity, moved_rest)
            moved = moved_parts.get(item_id, 0)
            if moved > part:  # (the same unseen sale measured twice, the larger stands: as a shop's delete takes it)
                held, ends = held - part + moved, [*ends, row.moved_hold_since + horizon]
        until = max([*ends, *([] if until is None else [until])], default=None)
    return held, until


async def delete_item(session: AsyncSession, item: InventoryItem) -> PoolChange:
    """Delete the (locked) item and its movements (`shop_items.delete_items`); nothing to push (no link names it)."""
    await delete_items(session, [item.id])
    return PoolChange(frozenset({item.id}), frozenset(), item.merchant_id)
