"""Pool mutations, each with `userErrors`: items (create, set on-hand, adjust, safety stock, delete) and manual links.

Units throughout; expected failures: INVALID_INPUT (with the field), NOT_FOUND (another merchant's item or SKU),
VERSION_CONFLICT (compareOnHand differs), SKU_ALREADY_EXISTS, SKU_LINK_CHANGED (compareInventoryItemId differs),
ITEM_LINKED / ITEM_IN_USE (a delete of an item shop SKUs or open orders still draw on).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import strawberry

from domain.errors import DomainError, ErrorCode, ValidationError
from domain.inventory.items import MAX_REASON_CODE_POINTS, reason_too_long, sku_too_long
from domain.services import inventory as pool
from domain.text import NFC_MAX_SHRINK, normalized
from gql import types as t
from gql.context import Info
from gql.descriptions import USER_ERRORS
from gql.errors import user_errors
from gql.ids import internal_id
from gql.inventory.queries import item_by_id
from gql.inventory.types import InventoryItemNode, SkuLink, inventory_item

MAX_TEXT = 1000


def bounded_sku(sku: str) -> str:
    """The SKU input, or INVALID_INPUT on `sku` when it is longer than `MAX_TEXT` code points, before it is read
    further, in the domain's words (`domain.inventory.items.sku_too_long`: its code points, and its characters when
    they are fewer, as "255 family emojis" are 1,785 code points; past `domain.text.COUNTED_MAX_CODE_POINTS`, its code
    points alone, uncounted)."""
    if len(sku) > MAX_TEXT:
        raise ValidationError(ErrorCode.INVALID_INPUT, sku_too_long(sku.strip()), ("sku",))
    return sku


def bounded_reason(reason: str) -> str:
    """The reason input, or INVALID_INPUT on `reason` when it is longer than `MAX_REASON_CODE_POINTS` code points,
    before it is read further, in the domain's words (`domain.inventory.items.reason_too_long`: its characters as a
    reader counts them, or both counts; one past 8,000 code points that trims to a valid reason goes on to the domain's
    rules). One past `NFC_MAX_SHRINK` times that, trimmed, is refused on its code points alone, neither normalized nor
    counted: no NFC form of it fits (a 1 MiB reason held the event loop ~0.5 s in both: review56 F5)."""
    if len(reason) <= MAX_REASON_CODE_POINTS:
        return reason
    trimmed = reason.strip()
    if len(trimmed) > NFC_MAX_SHRINK * MAX_REASON_CODE_POINTS:
        too_long = reason_too_long(trimmed)  # past MAX_REASON_CODE_POINTS: told in code points, not counted
    else:
        too_long = reason_too_long(normalized(trimmed).strip())
    if too_long is not None:
        raise ValidationError(ErrorCode.INVALID_INPUT, too_long, ("reason",))
    return reason


@strawberry.input(description="A new inventory item: its merchant SKU and counts (units).")
class InventoryItemCreateInput:
    sku: str = strawberry.field(
        description="The merchant SKU: trimmed, 1 to 255 Unicode code points (characters, for letters, digits and "
        "punctuation; an emoji sequence or a letter with combining accents takes several, and the refusal says both "
        "counts), as a seller SKU is stored, something visible, no control characters (tab, "
        "line break, bidi override), no invisible character but the plain space (U+200B, U+00A0, U+2800 ...), "
        "not starting with a combining mark (an accent with no letter before it), "
        "unique per merchant as written, in NFC: case and width count (`SB-1`, `sb-1` and its full-width form are "
        "three items), as a shop's seller SKU links by exact match; `inventoryItems(query:)` finds all three."
    )
    on_hand: int | None = strawberry.field(
        default=None,
        description="Units held now (0 to 1,000,000,000): the merchant's count of the shelf, units of unshipped "
        "orders included (with skuId, recorded as a count, a SET movement, as inventorySetOnHand records one). "
        "Left out or null: 0, or with skuId the item is seeded as the products import seeds one "
        "(TikTok's stock of the SKU as last read, which leaves out the units of its unshipped orders, plus the units "
        "of its open orders made before that read, which then reserve on the item: right after, available is what "
        "TikTok shows, and the first push changes nothing).",
    )
    safety_stock: int = strawberry.field(
        default=0, description="Units kept back from every shop (0 to 1,000,000,000; default 0)."
    )
    sku_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The shop SKU (Sku.id) to create the item from: it is linked to the new item by hand (MANUAL: "
        "later imports keep it) in the same step, its open orders reserving there; nothing is created when it is "
        "refused: NOT_FOUND (not the merchant's SKU, its shop deleted), SKU_LINK_CHANGED (it draws on an item now, "
        "linked meanwhile), SKU_NOT_LINKABLE (a bundle), PRODUCT_DELETED, SKU_ALREADY_EXISTS, ON_HAND_REQUIRED on "
        "onHand (left out, and the SKU's stored stock has no read time to pair its open orders with). Left out: an "
        "item linked to nothing.",
    )


COMPARE_ON_HAND_RULE = (
    "The on-hand the merchant saw (-1,000,000,000 to 1,000,000,000: an oversold item's on-hand is below 0 once "
    "shipments deducted more than was counted); when given and the stored value differs, VERSION_CONFLICT "
    "(compare-and-set, as Shopify's changeFromQuantity): nothing is changed."
)


ITEM_ID = "The item's id (InventoryItem.id)."


@strawberry.input(description="A stock count of an item: its new on-hand (units).")
class InventorySetOnHandInput:
    inventory_item_id: strawberry.ID = strawberry.field(description=ITEM_ID)
    on_hand: int = strawberry.field(description="The new on-hand, in units (0 to 1,000,000,000).")
    compare_on_hand: int | None = strawberry.field(default=None, description=COMPARE_ON_HAND_RULE)


@strawberry.input(description="Units added to or removed from an item's on-hand, and why.")
class InventoryAdjustInput:
    inventory_item_id: strawberry.ID = strawberry.field(description=ITEM_ID)
    delta: int = strawberry.field(
        description="Units to add (negative: remove); not 0; a removal never takes on-hand below 0."
    )
    reason: str = strawberry.field(
        description="Why (a count, damage, a delivery): 1 to 500 characters as a reader counts them (an emoji "
        "sequence, a flag or a letter with its accents is one), at most 8,000 Unicode code points, line breaks and "
        "tabs allowed, no other control characters."
    )
    compare_on_hand: int | None = strawberry.field(
        default=None,
        description=COMPARE_ON_HAND_RULE + " Sent with the on-hand read before the adjustment, a retry after a lost "
        "answer is refused if the first one applied, instead of adding the units twice.",
    )


@strawberry.input(description="An item's new safety stock.")
class InventoryItemUpdateInput:
    inventory_item_id: strawberry.ID = strawberry.field(description=ITEM_ID)
    safety_stock: int = strawberry.field(description="Units kept back from every shop (0 to 1,000,000,000).")


@strawberry.input(description="A shop SKU and the item it should draw on.")
class SkuLinkInput:
    sku_id: strawberry.ID = strawberry.field(description="The shop SKU's id (Sku.id).")
    inventory_item_id: strawberry.ID = strawberry.field(description=ITEM_ID)
    compare_inventory_item_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Compare-and-set: the item the SKU draws on as the client last read it (InventoryItem.id), null "
        "for none (an unlinked SKU); refused SKU_LINK_CHANGED, nothing changed, when it draws on another now. Left "
        "out: no check.",
    )


@strawberry.input(description="A shop SKU to unlink.")
class SkuUnlinkInput:
    sku_id: strawberry.ID = strawberry.field(description="The shop SKU's id (Sku.id).")
    compare_inventory_item_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Compare-and-set, as skuLink's: the item the SKU draws on as the client last read it "
        "(InventoryItem.id), null for none; refused SKU_LINK_CHANGED, nothing changed, when it draws on another now "
        "(another tab linked it elsewhere: the unlink would take it off that item). Left out: no check.",
    )


@strawberry.type(description="The item as the mutation left it, or why not.")
class InventoryItemPayload:
    inventory_item: InventoryItemNode | None = strawberry.field(
        description="The item after the change; null with userErrors."
    )
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type(description="The SKU's link as the mutation left it, or why not.")
class SkuLinkPayload:
    sku_link: SkuLink | None = strawberry.field(description="The link after the change; null with userErrors.")
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="The inventory item to delete.")
class InventoryItemDeleteInput:
    inventory_item_id: strawberry.ID = strawberry.field(description=ITEM_ID)


@strawberry.type(description="The id of the inventory item deleted, or why not.")
class InventoryItemDeletePayload:
    deleted_inventory_item_id: strawberry.ID | None = strawberry.field(
        description="The deleted item's id (InventoryItem.id, as given); null with userErrors."
    )
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class InventoryMutation:
    @strawberry.mutation(
        description="Create an inventory item for a merchant SKU; with skuId, created from that shop SKU and linked "
        "to it in one step (seeded from TikTok's stock and its open orders unless onHand is given). "
        "SKU_ALREADY_EXISTS, INVALID_INPUT; with skuId also NOT_FOUND, SKU_LINK_CHANGED, SKU_NOT_LINKABLE, "
        "PRODUCT_DELETED, ON_HAND_REQUIRED (nothing created)."
    )
    async def inventory_item_create(
        self,
        info: Info,
        input: Annotated[
            InventoryItemCreateInput,
            strawberry.argument(description="The item's SKU, on-hand and safety stock, and the shop SKU it is from."),
        ],
    ) -> InventoryItemPayload:
        s = info.context.services
        try:
            sku = bounded_sku(input.sku)
            sku_id = internal_id(input.sku_id, "Sku", "skuId") if input.sku_id is not None else None
            item = await pool.create_item(
                s.uow_factory, s.queue, s.events, s.clock, info.context.require_merchant(), sku, input.on_hand,
                input.safety_stock, sku_id,
            )  # fmt: skip
        except DomainError as exc:
            return InventoryItemPayload(inventory_item=None, user_errors=user_errors(exc))
        return InventoryItemPayload(inventory_item=inventory_item(item), user_errors=[])

    @strawberry.mutation(
        description="Set an item's on-hand (a stock count), a SET movement of the difference. With compareOnHand: "
        "refused with VERSION_CONFLICT when the stored on-hand differs. Every linked shop SKU is pushed the new "
        "target. A count that finds the on-hand the item has is recorded as a SET movement of 0 units, nothing pushed. "
        "NOT_FOUND (inventoryItemId) for no such item of the merchant; INVALID_INPUT (onHand outside 0 to "
        "1,000,000,000; compareOnHand outside -1,000,000,000 to 1,000,000,000)."
    )
    async def inventory_set_on_hand(
        self,
        info: Info,
        input: Annotated[
            InventorySetOnHandInput, strawberry.argument(description="The item, its new on-hand and the on-hand seen.")
        ],
    ) -> InventoryItemPayload:
        s = info.context.services
        try:
            item_id = internal_id(input.inventory_item_id, "InventoryItem", "inventoryItemId")
            item = await pool.set_item_on_hand(
                s.uow_factory, s.queue, s.events, info.context.require_merchant(), item_id, input.on_hand,
                input.compare_on_hand,
            )  # fmt: skip
        except DomainError as exc:
            return InventoryItemPayload(inventory_item=None, user_errors=user_errors(exc))
        return InventoryItemPayload(inventory_item=inventory_item(item), user_errors=[])

    @strawberry.mutation(
        description="Add units to (or remove from) an item's on-hand, for a reason (a movement). With compareOnHand: "
        "refused with VERSION_CONFLICT when the stored on-hand differs (a safe retry). NOT_FOUND (inventoryItemId) "
        "for no such item of the merchant; INVALID_INPUT: delta 0, beyond 1,000,000,000 either way, taking on-hand "
        "below 0 or past 1,000,000,000 (the message says how many units may go); a reason blank or too long; "
        "compareOnHand outside -1,000,000,000 to 1,000,000,000."
    )
    async def inventory_adjust(
        self,
        info: Info,
        input: Annotated[
            InventoryAdjustInput,
            strawberry.argument(description="The item, the units, the reason and the on-hand seen."),
        ],
    ) -> InventoryItemPayload:
        s = info.context.services
        try:
            item_id = internal_id(input.inventory_item_id, "InventoryItem", "inventoryItemId")
            reason = bounded_reason(input.reason)
            item = await pool.adjust_item(
                s.uow_factory, s.queue, s.events, info.context.require_merchant(), item_id, input.delta, reason,
                input.compare_on_hand,
            )  # fmt: skip
        except DomainError as exc:
            return InventoryItemPayload(inventory_item=None, user_errors=user_errors(exc))
        return InventoryItemPayload(inventory_item=inventory_item(item), user_errors=[])

    @strawberry.mutation(
        description="Change an item's safety stock (units kept back from every shop). NOT_FOUND (inventoryItemId) "
        "for no such item of the merchant; INVALID_INPUT (safetyStock outside 0 to 1,000,000,000)."
    )
    async def inventory_item_update(
        self,
        info: Info,
        input: Annotated[
            InventoryItemUpdateInput, strawberry.argument(description="The item and its new safety stock.")
        ],
    ) -> InventoryItemPayload:
        s = info.context.services
        try:
            item_id = internal_id(input.inventory_item_id, "InventoryItem", "inventoryItemId")
            item = await pool.update_safety_stock(
                s.uow_factory, s.queue, s.events, info.context.require_merchant(), item_id, input.safety_stock
            )
        except DomainError as exc:
            return InventoryItemPayload(inventory_item=None, user_errors=user_errors(exc))
        return InventoryItemPayload(inventory_item=inventory_item(item), user_errors=[])

    @strawberry.mutation(
        description="Link a shop SKU to an item by hand (MANUAL: later imports keep it). The SKU's open orders "
        "reserve on the item (and release the item they were reserved on, if another). NOT_FOUND for another "
        "merchant's SKU or item; SKU_NOT_LINKABLE for a bundle (combo) SKU, whose stock TikTok derives; "
        "PRODUCT_DELETED for a SKU of a product TikTok reports DELETED (out of the pool); SKU_LINK_CHANGED "
        "(compareInventoryItemId) when the SKU draws on another item than the one compared."
    )
    async def sku_link(
        self, info: Info, input: Annotated[SkuLinkInput, strawberry.argument(description="The shop SKU and the item.")]
    ) -> SkuLinkPayload:
        s = info.context.services
        try:
            sku_id = internal_id(input.sku_id, "Sku", "skuId")
            item_id = internal_id(input.inventory_item_id, "InventoryItem", "inventoryItemId")
            compare, compare_item_id = _compared_item(input.compare_inventory_item_id)
            await pool.link_sku(
                s.uow_factory, s.queue, s.events, info.context.require_merchant(), sku_id, item_id,
                compare=compare, compare_item_id=compare_item_id,
            )  # fmt: skip
        except DomainError as exc:
            return SkuLinkPayload(sku_link=None, user_errors=user_errors(exc))
        return SkuLinkPayload(sku_link=await info.context.loaders.sku_link.load(sku_id), user_errors=[])

    @strawberry.mutation(
        description="Unlink a shop SKU by hand (UNLINKED, MANUAL: later imports keep it unlinked). Its open orders, "
        "placed while it was the item's, stay reserved on that item, which TikTok ships them from, and move on by "
        "their status (shipped: deducted from it; cancelled: released); linked back to that item they count once. "
        "An order placed before the unlink that Shopbridge first sees after it (a late webhook, a poll, an import) "
        "counts on that item the same way; one placed after it waits for a link. A bundle SKU stays (or goes back "
        "to) EXCLUDED, AUTO, as imports leave it. NOT_FOUND for another merchant's SKU; PRODUCT_DELETED for a SKU "
        "of a product TikTok reports DELETED (its link stays as the pool left it); SKU_LINK_CHANGED "
        "(compareInventoryItemId) when the SKU draws on another item than the one compared."
    )
    async def sku_unlink(
        self, info: Info, input: Annotated[SkuUnlinkInput, strawberry.argument(description="The shop SKU.")]
    ) -> SkuLinkPayload:
        s = info.context.services
        try:
            sku_id = internal_id(input.sku_id, "Sku", "skuId")
            compare, compare_item_id = _compared_item(input.compare_inventory_item_id)
            await pool.link_sku(
                s.uow_factory, s.queue, s.events, info.context.require_merchant(), sku_id, None,
                compare=compare, compare_item_id=compare_item_id,
            )  # fmt: skip
        except DomainError as exc:
            return SkuLinkPayload(sku_link=None, user_errors=user_errors(exc))
        return SkuLinkPayload(sku_link=await info.context.loaders.sku_link.load(sku_id), user_errors=[])

    @strawberry.mutation(
        description="Delete an inventory item nothing draws on (a mistaken one, a look-alike SKU), with its movements "
        "(its history goes with it; shipped or cancelled order lines that named it keep their order, without the "
        "item). Refused, nothing deleted: ITEM_LINKED while shop SKUs are linked to it (the message says how many: "
        "skuUnlink them first); ITEM_IN_USE while units of it are reserved by open orders (an unlinked SKU's open "
        "orders stay reserved on it until they ship or are cancelled), or while a stock push holds units of it sold at "
        "TikTok whose orders are not read yet (the message says how many, and when the hold ends unless the SKU sells "
        "unseen again, which restarts it: an orders sync reads them now), or while a shop SKU moved off it to another "
        "item was not pushed under that item yet (its unseen sales of this item have no hold yet: push off, refused "
        "or in flight; the message says when the move is a hold horizon old); NOT_FOUND for another merchant's item "
        "or one "
        "deleted already (a second delete of the same id). inventoryItemUpdated(inventoryItemId:) then ends with "
        "NOT_FOUND, and inventoryItems no longer lists it."
    )
    async def inventory_item_delete(
        self,
        info: Info,
        input: Annotated[InventoryItemDeleteInput, strawberry.argument(description="The item to delete.")],
    ) -> InventoryItemDeletePayload:
        s = info.context.services
        try:
            item_id = internal_id(input.inventory_item_id, "InventoryItem", "inventoryItemId")
            await pool.delete_item(
                s.uow_factory, s.queue, s.events, info.context.require_merchant(), item_id, clock=s.clock,
                hold_horizon=timedelta(seconds=s.settings.hold_horizon_seconds),
            )  # fmt: skip
        except DomainError as exc:
            return InventoryItemDeletePayload(deleted_inventory_item_id=None, user_errors=user_errors(exc))
        return InventoryItemDeletePayload(deleted_inventory_item_id=input.inventory_item_id, user_errors=[])


def _compared_item(seen: strawberry.ID | None) -> tuple[bool, str | None]:
    """skuLink's and skuUnlink's `compareInventoryItemId` as `link_sku` takes it: whether to compare (left out: no),
    and the item's internal id (null: none). NOT_FOUND on `compareInventoryItemId` for an id that names no
    item (`internal_id`)."""
    if seen is strawberry.UNSET:
        return False, None
    return True, internal_id(seen, "InventoryItem", "compareInventoryItemId") if seen else None


__all__ = ["InventoryMutation", "item_by_id"]
