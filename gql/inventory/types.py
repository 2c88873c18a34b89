"""GraphQL types of the pool: DTOs built from `adapters.db.inventory_queries` read models."""

from __future__ import annotations

from datetime import datetime

import strawberry

from adapters.db.inventory_queries import LinkRead, MovementRead
from domain.inventory.items import InventoryItem, MovementKind
from domain.inventory.links import LinkSource, LinkState
from gql import descriptions as d
from gql import mappers
from gql import types as t
from gql.context import Info
from gql.descriptions import After, First
from gql.live_outage import load_live, load_many_live

SkuLinkState = d.enum(
    LinkState,
    {
        LinkState.LINKED: "Draws on an inventory item: its orders reserve there, and the pool pushes its stock.",
        LinkState.AMBIGUOUS: "Its seller SKU appears on several SKUs of the shop: link one by hand (skuLink).",
        LinkState.NO_SELLER_SKU: "It has no seller SKU at TikTok to match an item by (Sku.sellerSku is null): give it "
        "one on TikTok, or link it by hand (skuLink).",
        LinkState.LONG_SELLER_SKU: "Its seller SKU at TikTok is over 255 characters, longer than Shopbridge keeps "
        "(Sku.sellerSku is null), so nothing matches it to an item: shorten it on TikTok (the next import or product "
        "event links it by it), or link it by hand (skuLink).",
        LinkState.EXCLUDED: "A bundle (combo) SKU, whose stock TikTok derives from its components: never linked.",
        LinkState.UNLINKED: "Unlinked by the merchant (skuUnlink), or not decided yet.",
    },
    name="SkuLinkState",
    description="LINKED to an inventory item; AMBIGUOUS: its seller SKU appears on several SKUs of the shop; "
    "NO_SELLER_SKU: none at TikTok; LONG_SELLER_SKU: its seller SKU is over 255 characters; EXCLUDED: a bundle "
    "(combo) SKU, whose stock TikTok derives; UNLINKED by the merchant, or not decided yet.",
)
SkuLinkSource = d.enum(
    LinkSource,
    {
        LinkSource.AUTO: "Decided by Shopbridge after an import (exact trimmed seller SKU); later imports may "
        "change it.",
        LinkSource.MANUAL: "The merchant's (skuLink, skuUnlink); later imports keep it.",
    },
    name="SkuLinkSource",
    description="AUTO: by exact (trimmed) seller SKU after an import; MANUAL: the merchant's, kept by imports.",
)
InventoryMovementKind = d.enum(
    MovementKind,
    {
        MovementKind.CREATED: "inventoryItemCreate, with its initial on-hand (recorded even at 0 units).",
        MovementKind.SEEDED: "A new item took its on-hand from the first linked shop's TikTok stock.",
        MovementKind.SET: "inventorySetOnHand: a stock count, by the difference it made.",
        MovementKind.ADJUSTED: "inventoryAdjust, with the merchant's reason.",
        MovementKind.RESERVED: "An open order's line reserved units.",
        MovementKind.DEDUCTED: "A shipped line left the shelf: on-hand and reserved both drop.",
        MovementKind.RELEASED: "A cancelled line, an unlinked SKU or a deleted shop gave its reservation back.",
        MovementKind.CORRECTED: "Units a shop's delete took off on-hand as sold unseen went back: the same TikTok "
        "shop, connected again, imported its orders and no sale took them (reason 'shop connected again: no sale "
        "unseen').",
    },
    name="InventoryMovementKind",
    description="Why an item's counters moved.",
)


@strawberry.type(description="A change of an item's counters, in the order it happened.")
class InventoryMovement:
    kind: InventoryMovementKind = strawberry.field(description="Why it moved.")  # type: ignore[valid-type]
    on_hand_delta: int = strawberry.field(description="Units added to (negative: removed from) on-hand.")
    reserved_delta: int = strawberry.field(description="Units added to (negative: removed from) reserved.")
    reason: str | None = strawberry.field(description="The merchant's reason (inventoryAdjust), or why it moved.")
    tiktok_order_id: str | None = strawberry.field(description="The TikTok order that moved it, if any.")
    created_at: datetime = strawberry.field(description="UTC.")
    shop_internal_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The shop of the order that moved it; null for a merchant's edit or a deleted shop.")
    async def shop(self, info: Info) -> t.Shop | None:
        if self.shop_internal_id is None:
            return None
        return await load_live(info, info.context.loaders.shop, self.shop_internal_id)


@strawberry.type(description="A shop SKU's place in the pool: which item it draws on, and what was pushed to TikTok.")
class SkuLink:
    state: SkuLinkState = strawberry.field(description="Whether it draws on an item, and if not why.")  # type: ignore[valid-type]
    source: SkuLinkSource = strawberry.field(description="Who decided the state.")  # type: ignore[valid-type]
    sku: t.Sku = strawberry.field(description="The shop SKU (TikTok's).")
    pushed_quantity: int | None = strawberry.field(description="The last quantity TikTok accepted (units).")
    pushed_at: datetime | None = strawberry.field(
        description="When the push TikTok accepted last read the pool for it (UTC): the pushed quantity is the pool's "
        "of that instant; TikTok applied it a moment later (the call's round trip)."
    )
    held_back_quantity: int = strawberry.field(
        description="Units the last push held back from the pool's available (units; 0 for none): sold at TikTok "
        "on this SKU but not yet in the pool (a lost webhook, an order not yet polled), stock lowered in Seller "
        "Center, or a buyer's cancellation TikTok made while a push was writing (the write overwrote its units). Held "
        "back until the sale reaches the pool, at most two order polls (live-sync.md §7.3, the fence); a "
        "cancellation's units until the hold's end (README: \"Holds carry over\", 630 s by default)."
    )
    push_error_code: str | None = strawberry.field(
        description="TikTok's per-SKU code of the last failed push (Update Inventory `data.errors`, tiktok-api.md "
        "§9); null once a push succeeds."
    )
    product_status: str = strawberry.field(
        description="TikTok's status of the SKU's product as last read (tiktok-api.md §7: ACTIVATE, DRAFT, PENDING, "
        "FAILED, SELLER_DEACTIVATED, PLATFORM_DEACTIVATED, FREEZE, DELETED). A LINKED SKU is pushed only while it is "
        "ACTIVATE (TikTok refuses the stock of a product it does not sell: live-sync.md §1.1): in any other status "
        "its link stays, its orders still reserve on the item, and no push is sent (nor a push error shown) until "
        "the product is ACTIVATE again, when the pool's value is pushed."
    )
    shop_internal_id: strawberry.Private[str]
    item_internal_id: strawberry.Private[str | None]
    # False for a SKU of a product TikTok reports DELETED: `Sku.link` is null (`LinkRead.in_pool`)
    in_pool: strawberry.Private[bool] = True

    @strawberry.field(
        description="The shop of the SKU. Null only in a `Sku.link` read while its shop was being deleted (its links "
        "go with it); `InventoryItem.links` leaves such links out."
    )
    async def shop(self, info: Info) -> t.Shop | None:
        return await load_live(info, info.context.loaders.shop, self.shop_internal_id)

    @strawberry.field(description="The item the SKU draws on; null unless LINKED.")
    async def inventory_item(self, info: Info) -> InventoryItemNode | None:
        if self.item_internal_id is None:
            return None
        node: InventoryItemNode | None = await load_live(
            info, info.context.loaders.inventory_item, self.item_internal_id
        )
        return node


@strawberry.type(
    name="InventoryItem",
    description="One stock per merchant SKU, shared by every linked shop SKU. Units throughout; "
    "available = onHand - reserved - safetyStock. TikTok (committed_quantity) and Shopify call the reserved units "
    "committed.",
)
class InventoryItemNode(t.Node):
    id: strawberry.ID = strawberry.field(description="Global, opaque id of the item.")
    sku: str = strawberry.field(description="The merchant SKU; shop SKUs link to it by exact (trimmed) seller SKU.")
    on_hand: int = strawberry.field(description="Units physically held.")
    reserved: int = strawberry.field(
        description="Units held for open orders on every shop (the ledger's sum): what TikTok (Inventory Search's "
        "committed_quantity, Seller Center) and Shopify call committed."
    )
    safety_stock: int = strawberry.field(description="Units kept back from every shop.")
    available: int = strawberry.field(
        description="onHand - reserved - safetyStock: what the shops may still sell (at or below a shop's "
        "outOfStockThreshold it pushes 0); negative when oversold, or when the safety stock is more than is left."
    )
    oversold: bool = strawberry.field(
        description="reserved > onHand: more was sold than is held, whatever the safety stock; pushed as 0."
    )
    version: int = strawberry.field(
        description=(
            "+1 on every write that changes the counters: a batch of sales stored in one transaction (an import's, a "
            "webhook burst's) counts once, however many movements it records."
        )
    )
    updated_at: datetime = strawberry.field(
        description="When its counters, safety stock or the shop SKUs linked to it last changed (UTC): a SKU linked "
        "to it, or no longer (linked elsewhere, unlinked, its shop deleted). A link's push does not change it."
    )
    internal_id: strawberry.Private[str]

    @strawberry.field(description="The shop SKUs linked to it, by shop (never a link of a deleted shop).")
    async def links(self, info: Info) -> list[SkuLink]:
        """The item's links whose shop still exists: the links and their shops are two reads, and a shop deleted
        between them (its links deleted with it in one transaction) left a link with `shop: null` in a subscriber's
        message (CI, 2026-12-05: `inventoryItemUpdated` told during a `shopDelete`). In a subscription's message both
        reads wait out a busy or absent database (`load_live`)."""
        links = await load_live(info, info.context.loaders.item_links, self.internal_id)
        shops = await load_many_live(info, info.context.loaders.shop, [link.shop_internal_id for link in links])
        return [link for link, shop in zip(links, shops, strict=True) if shop is not None]

    @strawberry.field(
        description="Its movements, newest first. `first` is 1 to 100 (default 20); `totalCount` is how many the "
        "item has."
    )
    async def movements(self, info: Info, first: First = 20, after: After = None) -> t.Connection[InventoryMovement]:
        from gql.inventory.queries import movements

        return await movements(info, self.internal_id, first, after)


def inventory_item(item: InventoryItem) -> InventoryItemNode:
    return InventoryItemNode(
        id=t.global_id("InventoryItem", item.id),
        sku=item.sku,
        on_hand=item.on_hand,
        reserved=item.reserved,
        safety_stock=item.safety_stock,
        available=item.available,
        oversold=item.oversold,
        version=item.version,
        updated_at=item.updated_at,
        internal_id=item.id,
    )


def sku_link(read: LinkRead) -> SkuLink:
    """The link of `read`; one the pool leaves out (`in_pool` False: its state may be DROPPED, no `LinkState`) is
    never shown (`Sku.link` is null) and reads UNLINKED here."""
    return SkuLink(
        state=LinkState(read.state) if read.in_pool else LinkState.UNLINKED,
        source=LinkSource(read.source),
        sku=mappers.sku(read.sku),
        pushed_quantity=read.pushed_quantity,
        pushed_at=read.pushed_at,
        held_back_quantity=read.held_back_quantity,
        push_error_code=read.push_error_code,
        product_status=read.product_status,
        shop_internal_id=read.shop_id,
        item_internal_id=read.inventory_item_id if read.state == LinkState.LINKED and read.in_pool else None,
        in_pool=read.in_pool,
    )


def movement(read: MovementRead) -> InventoryMovement:
    return InventoryMovement(
        kind=MovementKind(read.kind),
        on_hand_delta=read.on_hand_delta,
        reserved_delta=read.reserved_delta,
        reason=read.reason,
        tiktok_order_id=read.tiktok_order_id,
        created_at=read.created_at,
        shop_internal_id=read.shop_id,
    )
