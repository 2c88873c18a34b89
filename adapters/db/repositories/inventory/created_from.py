"""An inventory item created from a shop SKU and linked to it in one step (`inventoryItemCreate`'s `skuId`, seed59).

The console's "Create an item" of a SKU that draws on no item made two requests before (create, then `skuLink`): the
on-hand the merchant accepted was TikTok's stock, which already leaves out the units of the SKU's unshipped orders,
and the link then reserved them again (tryout58 F2: available = TikTok's stock less those units, pushed so); a shop
deleted or the SKU linked elsewhere between the two requests left an item linked to nothing (F3, F4). Here the item
is written and the SKU linked in one transaction under the shop's link turn, and, without an on-hand given, seeded
as the products import seeds an item from a SKU (`links._create_items`, `seed_on_hand`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.repositories.inventory.items import edit_item, insert_item
from adapters.db.repositories.inventory.ledger import hold_relink
from adapters.db.repositories.inventory.links import _links, _open_pending_units, sku_for_hand_link, write_hand_link
from adapters.db.tables import LEDGER_BY_SKU, order_line_stock, orders
from domain.errors import DomainError, ErrorCode
from domain.inventory.items import Edit, InventoryItem, MovementKind
from domain.inventory.ledger import LineState, StockEffect, counted_in_stock, released_before_read
from domain.inventory.links import link_compared, seed_on_hand
from domain.ports import PoolChange
from domain.stored import DELETED_PRODUCT_STATUS


async def create_item_from_sku(
    session: AsyncSession, item: InventoryItem, sku_id: str, seeded: bool, now: datetime
) -> PoolChange | None:
    """Create `item` (empty: `item.on_hand` is its on-hand unless `seeded`) and link the merchant's SKU `sku_id` to
    it by hand (MANUAL, LINKED), one transaction. None when the SKU is not the merchant's (its shop deleted,
    or deleted meanwhile: the shop is held before anything is written, so a delete under way finishes first).

    `seeded`: the on-hand is TikTok's stock of the SKU as its product page last read it (`skus.quantity`, read at
    `products.stock_read_at`) plus the units of the shop's open orders of the SKU made before that read which the
    link now reserves, and of those open at the read and cancelled since (`_released_since_read`), less those of
    orders made since and shipped already (`_open_pending_units`, `seed_on_hand`: the products import's rule,
    live-sync.md §1.3, applied to the orders as they were at the read, so the seed is what an import reading TikTok's
    stock now would seed; review59b F2), recorded as a
    SEEDED movement; the link keeps that read (`stock_counted_at`, `seeded_item_id`), so the ledger counts each open
    order made before it into the seed once (`ledger.in_seed`), and the push fence's baseline is the seed's
    (`_keep_seed_baselines`; a push of the SKU under another item before the read is forgotten first, `_fence_anew`;
    one after it keeps its baseline): right after, `available` is TikTok's stock and the first push changes nothing.
    Like an imported item it has no movement by hand: a delete of its shop removes it when nothing else holds it
    (README, "Deleting a shop"). Otherwise the on-hand given is the merchant's count of the shelf, units of unshipped
    orders included, recorded as a count (a SET movement: `ledger.counted_after_shipment` covers a shipment that left
    the shelf before it, first seen after), and those orders reserve on it, as `link_manually` links.

    Refusals, nothing written: `ON_HAND_REQUIRED` on `onHand` (`seeded`, and the product has no `stock_read_at`:
    stored before migration 0020 and not rewritten since, its stored quantity cannot be paired with the open orders,
    review59b F1; the console's dialog then asks for the on-hand), `PRODUCT_DELETED` (its product TikTok reports
    DELETED), `SKU_NOT_LINKABLE` (a bundle),
    `SKU_LINK_CHANGED` on `skuId` when the SKU draws on an item now (linked meanwhile: `link_compared` with none, as
    `skuLink`'s compareInventoryItemId null), `SKU_ALREADY_EXISTS` on `sku`."""
    row = await sku_for_hand_link(session, item.merchant_id, sku_id)
    if row is None:
        return None
    if row.status == DELETED_PRODUCT_STATUS:
        raise DomainError(
            ErrorCode.PRODUCT_DELETED,
            "This SKU's product was deleted at TikTok (status DELETED): TikTok sells it no more and refuses its "
            "stock, so no item is created from it.",
            ("skuId",),
        )
    if row.bundle:
        raise DomainError(
            ErrorCode.SKU_NOT_LINKABLE,
            "A bundle (combo) SKU cannot be linked: its stock is TikTok's to derive from its parts (12052850).",
            ("skuId",),
        )
    if seeded and row.stock_read_at is None:
        raise DomainError(
            ErrorCode.ON_HAND_REQUIRED,
            "TikTok's stock of this SKU was stored with no time of its read (a product stored before stock read "
            "times were kept), so it cannot be told which open orders it already leaves out: enter the on-hand "
            "(the units on the shelf, those of unshipped orders included), or run a products sync first.",
            ("onHand",),
        )
    previous = (await _links(session, [sku_id])).get(sku_id)
    try:
        link_compared(previous.state if previous else None, previous.inventory_item_id if previous else None, None)
    except DomainError:
        raise DomainError(
            ErrorCode.SKU_LINK_CHANGED,
            "This SKU draws on an inventory item now (linked in another tab or on another device since it was "
            "read): no item was created.",
            ("skuId",),
        ) from None
    merchant_id, item_id = item.merchant_id, item.id
    await insert_item(session, item)
    # The on-hand given is the merchant's count of the shelf: a SET movement, as `inventorySetOnHand` records one, so
    # the ledger's count rule holds for it (`ledger.counted_after_shipment`: a shipment that left the shelf by now,
    # first seen after, takes its units off reserved only). Recorded as CREATED (no count), an open order the
    # ledger still held open that shipped before the count took its units off on-hand a second time.
    change = (
        PoolChange()
        if seeded
        else await edit_item(session, item, Edit(MovementKind.SET, item.on_hand), item.created_at)
    )
    read_at = min(now, row.stock_read_at) if row.stock_read_at is not None else now
    seeds: dict[str, int] = {}
    if seeded:
        open_units, shipped = (await _open_pending_units(session, row.shop_id, {row.tiktok_sku_id: read_at})).get(
            row.tiktok_sku_id, (0, 0)
        )
        open_units += await _released_since_read(session, row.shop_id, row.tiktok_sku_id, read_at)
        seeds[item_id] = seed_on_hand(row.quantity, open_units, shipped)
    dirty = [i for i in (item_id, previous.inventory_item_id if previous else None) if i is not None]
    # Every item the change writes held at once in id order before the link names it (`link_manually` says why)
    await hold_relink(session, row.shop_id, [row.tiktok_sku_id], dirty)
    # A first link's push is fenced: from the seed (a seeded item), else from its product's last read, as
    # `link_manually` fences one (README, "A link's first push is fenced"); a SKU pushed under another item measures
    # from that read too when it came after the push (`_fence_anew`, review59b F3)
    return change | await write_hand_link(session, row, previous, merchant_id, item_id, now, dirty, seeds or None)


async def _released_since_read(session: AsyncSession, shop_id: str, tiktok_sku_id: str, read_at: datetime) -> int:
    """Units of the shop's waiting lines of the SKU (PENDING_LINK: on no item) of orders created before the stock
    read at `read_at` (`counted_in_stock`) and released since, by an order version of a later second
    (`released_before_read` false: TikTok's update_time, whole seconds): open at the read, so TikTok's stock read
    had left their units out, and back on the shelf now (cancelled), so the seed counts them in, as the products
    import reading TikTok's stock now would find them in it (review59b F2). `_open_pending_units` counts the lines
    open now only; a line still open, or shipped since (its units left the shelf), is not counted here. A line
    released on an item (RESERVED there before: state RELEASED) gave its units back to that item, and one whose
    order is no longer stored cannot be dated: neither counts. An order cancelled before the read and seen only in
    a later version counts too (TikTok dates no cancellation, `released_before_read`, which the ledger likewise
    takes for a release after the read): the seed is over by its units then, until a count. Whole seconds."""
    lines, stored = order_line_stock.c, orders.c
    query = (
        select(stored.created_at, lines.order_updated_at, func.sum(lines.quantity))
        .select_from(
            order_line_stock.join(
                orders, and_(stored.shop_id == lines.shop_id, stored.tiktok_order_id == lines.tiktok_order_id)
            )
        )
        .where(
            lines.shop_id == shop_id,
            lines.tiktok_sku_id == tiktok_sku_id,
            lines.state == LineState.PENDING_LINK.value,
            lines.wanted == StockEffect.RELEASE.value,
            LEDGER_BY_SKU,
        )
        .group_by(stored.created_at, lines.order_updated_at)
    )
    return sum(
        int(units)
        for created_at, updated_at, units in (await session.execute(query)).all()
        if counted_in_stock(created_at, read_at) and not released_before_read(updated_at, read_at)
    )
