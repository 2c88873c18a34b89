"""When a merchant may delete an inventory item (`inventoryItemDelete`, tryout61 F3): an item nothing draws on.

Shopify lets a merchant delete a variant's inventory item; here an item is the pool's count that shop SKUs draw on and
order lines reserve from, so a delete that left a SKU or an open order without its item would lose units or push a
stock nobody counted. The rule, pure (the repository counts, `InventoryRepository.item_use`):

    use = ItemUse(links=0, reserved_lines=0)
    check_deletable(item, use)      # raises DomainError ITEM_LINKED / ITEM_IN_USE, else returns None
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.errors import DomainError, ErrorCode
from domain.inventory.items import InventoryItem


@dataclass(frozen=True, slots=True)
class ItemUse:
    """What still points at an item, counted in the delete's transaction (the item locked).

    `links`: shop SKU links naming it (`sku_links.inventory_item_id`, any state: LINKED, or DROPPED / EXCLUDED
    remembering it for its orders); `reserved_lines`: order lines of a connected shop RESERVED on it (an unlinked SKU's
    open lines stay reserved where they were placed: `domain.inventory.ledger.stays_reserved`). The item's own
    `reserved` counter is read from the item. `held_units`: units of its sales at TikTok that no order read has
    brought to the ledger yet, held back by a push's fence for it (`sku_links` holds standing for the item:
    `held_item_id`, a split hold's part, a moved hold; `domain.inventory.links.hold_item`, `hold_parts`), any shop's;
    `held_until`: when the last of those holds ends unless it is restarted (its start plus the hold horizon,
    `domain.inventory_push.standing_units`; a later unseen sale of the SKU restarts it, carrying these units; None
    without one).

    `unpushed_links`: shop SKU links, any shop's, now naming another item whose last push record or push in
    flight is still this item's (`sku_links.pushed_item_id`, or the intent's `item_id`) and that were moved off it
    within the hold horizon (`linked_at`): units sold at TikTok under it before the move that no order read has
    brought in yet are found by the next push under the new item (held for this item) or not at all while no push
    lands (push off, refused, authorization expired): review63 F1, the hold not recorded yet; `unpushed_until`: when
    the last of those moves is a horizon old (orders polled since have read their sales; None without one)."""

    links: int = 0
    reserved_lines: int = 0
    held_units: int = 0
    held_until: datetime | None = None
    unpushed_links: int = 0
    unpushed_until: datetime | None = None


def check_deletable(item: InventoryItem, use: ItemUse) -> None:
    """Rule: an item may be deleted only when no shop SKU is linked to it, no units of it are reserved and no sale of
    it at TikTok is held unseen.

    `ITEM_LINKED` (field `inventoryItemId`) when `use.links` > 0, naming how many (unlink them first: `skuUnlink`);
    `ITEM_IN_USE` when its `reserved` counter is above 0 or an order line is RESERVED on it (the order must ship or be
    cancelled first). History does not keep an item: its movements go with it, shipped or cancelled lines lose the
    reference, and what a deleted shop kept for its reconnect on it is dropped, as a shop's delete removes the items
    it alone linked (`adapters.db.repositories.inventory.shop_items`). `ITEM_IN_USE` too while a push holds units
    sold at TikTok under it whose orders are not read yet (`use.held_units`): the delete would take their link period
    with it, and once read those lines would deduct from nothing (HISTORICAL: the units gone from no shelf; review62
    R3); the message says how many, that an orders sync reads them now, and when the hold ends unless the SKU sells
    unseen again (`use.held_until`, UTC): a later sale of the SKU that TikTok shows before its order is read restarts
    the hold, carrying these units (review63 F4: worded "at the latest", the time passed and the delete was refused
    again naming a later one). `ITEM_IN_USE` too while shop SKUs moved off it were not pushed under their new item
    yet (`use.unpushed_links`, review63 F1): their unseen sales of it have no hold yet (the push in flight, refused,
    or off), and read after the delete they would be HISTORICAL all the same; the message says what lets it go (the
    SKU pushed under its new item, then an orders sync) and when the moves are a horizon old (`use.unpushed_until`)."""
    if use.links:
        noun = "shop SKU is" if use.links == 1 else "shop SKUs are"
        raise DomainError(
            ErrorCode.ITEM_LINKED,
            f'{use.links} {noun} linked to "{item.sku}": unlink {"it" if use.links == 1 else "them"} first.',
            ("inventoryItemId",),
        )
    if item.reserved or use.reserved_lines:
        held = f"{item.reserved} unit(s) reserved" if item.reserved else f"{use.reserved_lines} order line(s)"
        raise DomainError(
            ErrorCode.ITEM_IN_USE,
            f'"{item.sku}" is in use by open orders ({held}): it can be deleted once they ship or are cancelled.',
            ("inventoryItemId",),
        )
    if use.held_units > 0:
        until = (
            ""
            if use.held_until is None
            else f"; their hold ends at {use.held_until:%Y-%m-%d %H:%M:%S} UTC unless the SKU sells at TikTok again "
            "before its orders are read (each such sale restarts it)"
        )
        raise DomainError(
            ErrorCode.ITEM_IN_USE,
            f'"{item.sku}" has {use.held_units} unit(s) sold at TikTok whose orders are not read yet: it can be '
            f"deleted once they are read (an orders sync reads them now){until}.",
            ("inventoryItemId",),
        )
    if use.unpushed_links > 0:
        noun = "shop SKU" if use.unpushed_links == 1 else "shop SKUs"
        until = "" if use.unpushed_until is None else f", or after {use.unpushed_until:%Y-%m-%d %H:%M:%S} UTC"
        raise DomainError(
            ErrorCode.ITEM_IN_USE,
            f'"{item.sku}" was the item of {use.unpushed_links} {noun} linked to another item since, whose stock '
            "was not pushed to TikTok under the new item yet: units sold at TikTok under it before the move may not "
            "be read yet. It can be deleted once each is pushed under its new item (the shop's stock push on, no "
            f"push error on the SKU) and any sale that push holds for it is read (an orders sync reads it now){until}.",
            ("inventoryItemId",),
        )
