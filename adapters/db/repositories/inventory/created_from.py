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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.repositories.inventory.items import edit_item, insert_item
from adapters.db.repositories.inventory.ledger import hold_relink, merchant_of, relink_lines
from adapters.db.repositories.inventory.links import (
    _ended_periods,
    _keep_join_baselines,
    _keep_seed_baselines,
    _kept,
    _link_row,
    _links,
    _open_pending_units,
    _relinked,
    record_link_periods,
    upsert_links,
)
from adapters.db.repositories.inventory.writer import hold_shop_links, touch_items
from adapters.db.tables import products, skus
from domain.errors import DomainError, ErrorCode
from domain.inventory.items import Edit, InventoryItem, MovementKind
from domain.inventory.links import LinkSource, LinkState, link_compared, seed_on_hand
from domain.ports import PoolChange
from domain.stored import DELETED_PRODUCT_STATUS


async def create_item_from_sku(
    session: AsyncSession, item: InventoryItem, sku_id: str, seeded: bool, now: datetime
) -> PoolChange | None:
    """Create `item` (empty: `item.on_hand` is its on-hand unless `seeded`) and link the merchant's SKU `sku_id` to
    it by hand (MANUAL, LINKED), one transaction. None when the SKU is not the merchant's (its shop deleted,
    or deleted meanwhile: the shop is held before anything is written, so a delete under way finishes first).

    `seeded`: the on-hand is TikTok's stock of the SKU as its product page last read it (`skus.quantity`, read at
    `products.stock_read_at`, or now for a product stored before migration 0020) plus the units of the shop's open
    orders of the SKU made before that read which the link now reserves, less those of orders made since and shipped
    already (`_open_pending_units`, `seed_on_hand`: the products import's rule, live-sync.md §1.3), recorded as a
    SEEDED movement; the link keeps that read (`stock_counted_at`, `seeded_item_id`), so the ledger counts each open
    order made before it into the seed once (`ledger.in_seed`), and the push fence's baseline is the seed's
    (`_keep_seed_baselines`): right after, `available` is TikTok's stock and the first push changes nothing. Like an
    imported item it has no movement by hand: a delete of its shop removes it when nothing else holds it (README,
    "Deleting a shop"). Otherwise the on-hand given is the merchant's count of the shelf, units of unshipped orders
    included, recorded as a count (a SET movement: `ledger.counted_after_shipment` covers a shipment that left the
    shelf before it, first seen after), and those orders reserve on it, as `link_manually` links.

    Refusals, nothing written: `PRODUCT_DELETED` (its product TikTok reports DELETED), `SKU_NOT_LINKABLE` (a bundle),
    `SKU_LINK_CHANGED` on `skuId` when the SKU draws on an item now (linked meanwhile: `link_compared` with none, as
    `skuLink`'s compareInventoryItemId null), `SKU_ALREADY_EXISTS` on `sku`."""
    shop_id = (await session.execute(select(skus.c.shop_id).where(skus.c.id == sku_id))).scalar_one_or_none()
    if shop_id is None or await merchant_of(session, shop_id, hold=True) != item.merchant_id:
        return None
    await hold_shop_links(session, shop_id, exclusive=True)
    columns = (
        skus.c.id, skus.c.shop_id, skus.c.tiktok_sku_id, skus.c.seller_sku, skus.c.bundle, skus.c.quantity,
        products.c.tiktok_product_id, products.c.stock_read_at, products.c.status,
    )  # fmt: skip
    query = select(*columns).join(products, products.c.id == skus.c.product_id).where(skus.c.id == sku_id)
    row = (await session.execute(query)).first()
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
        open_units, shipped = (await _open_pending_units(session, shop_id, {row.tiktok_sku_id: read_at})).get(
            row.tiktok_sku_id, (0, 0)
        )
        seeds[item_id] = seed_on_hand(row.quantity, open_units, shipped)
    dirty = [i for i in (item_id, previous.inventory_item_id if previous else None) if i is not None]
    # Every item the change writes held at once in id order before the link names it (`link_manually` says why)
    await hold_relink(session, shop_id, [row.tiktok_sku_id], dirty)
    remembered, since = _kept(previous, item_id, now)
    link = _link_row(
        shop_id, merchant_id, row, LinkState.LINKED, LinkSource.MANUAL, item_id, now,
        read_at if seeded else None, remembered, since,
    )  # fmt: skip
    before = {sku_id: previous} if previous is not None else {}
    await record_link_periods(session, shop_id, _ended_periods([link], before, now), now)
    await upsert_links(session, [link])
    await touch_items(session, _relinked([link], before), now)
    change |= await relink_lines(
        session, shop_id, merchant_id, {row.tiktok_sku_id: item_id}, now, seeds=seeds, extra_dirty=dirty
    )
    # A first link's push is fenced: from the seed (a seeded item), else from its product's last read, as
    # `link_manually` fences one (README, "A link's first push is fenced")
    unfenced = previous is None or (previous.pushed_at is None and previous.seeded_available is None)
    if seeded:
        await _keep_seed_baselines(session, [sku_id])
    elif row.stock_read_at is not None and unfenced:
        await _keep_join_baselines(session, shop_id, {sku_id: (row.tiktok_sku_id, row.quantity, read_at)})
    return change
