"""`inventoryItemUpdated(inventoryItemId, sku)`: an item as it is, then after every change of its counters, safety
stock or links. Change signals only say when to look again (adapters/events.py); the database is the truth, and a
followed item is re-read on each signal naming it (or naming none: some may be lost) and every
`FALLBACK_INTERVAL` whatever happens (signals can be lost). Its
followers in this process share those reads (gql/inventory/shared_reads.py: one per signal, tick or newcomer, never one
begun before what a follower waits for), and yield the one node each read built. Without an item (every item of the
merchant), a subscriber reads nothing itself: the merchant's item feed of this process (gql/inventory/item_feed.py)
reads the items a batch of signals names once for all of them (soak55 F1: one read per subscriber and change filled
the database pool). A database outage does
not end it, open or starting: its reads (the `sku`'s look-up and the first state's included) are tried again with a
bounded back-off and the current state goes out once the database answers (gql/live_outage.py); one started during
the outage starts then, NOT_FOUND included for an item the merchant does not have."""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from adapters.db import inventory_queries
from adapters.events import mark
from domain.errors import NotFoundError
from domain.inventory.items import MAX_SKU_LENGTH, sku_as_typed
from domain.text import code_points_refusal
from gql.context import Info
from gql.errors import BadRequestError
from gql.ids import internal_id
from gql.inventory.item_feed import item_feed
from gql.inventory.shared_reads import Signature, next_tick
from gql.inventory.types import InventoryItemNode, inventory_item
from gql.live_outage import wait_out_own
from gql.shared_reads import next_read

MIN_INTERVAL = 0.1  # coalescing: a burst of sales of one SKU costs a subscriber a message per 100 ms at most


@strawberry.type
class InventorySubscription:
    @strawberry.subscription(
        description="Inventory item changes (counters, safety stock, links). With inventoryItemId or sku (not both: "
        "BAD_USER_INPUT; sku is the merchant SKU, at most 255 Unicode code points as a SKU is, else BAD_USER_INPUT): "
        "that item, first as it is (NOT_FOUND when the merchant has no such item), ending with "
        "NOT_FOUND once it is deleted (with the shop whose SKUs alone it held). With neither: "
        "every item of the merchant as it changes, except that a commit changing more than 100 items (an import's "
        "batch) announces the first 100 only: a list of every item reads its page again after an import; after "
        "change signals were lost (a Redis reconnect), the items changed since, at most the 1,000 changed last. "
        "Coalesced: the latest state wins."
    )
    async def inventory_item_updated(
        self,
        info: Info,
        inventory_item_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this item (InventoryItem.id); null with sku null: every item."),
        ] = None,
        sku: Annotated[
            str | None,
            strawberry.argument(
                description="Only the item of this merchant SKU (exact, at most 255 Unicode code points as a SKU "
                "is: characters, for letters, digits and punctuation)."
            ),
        ] = None,
    ) -> AsyncGenerator[InventoryItemNode, None]:
        merchant_id = info.context.require_merchant()
        if inventory_item_id is not None and sku is not None:  # which one to follow? (two items, or a mistake)
            raise BadRequestError("Give inventoryItemId or sku, not both.")
        if sku is not None and len(typed := sku_as_typed(sku)) > MAX_SKU_LENGTH:  # no stored SKU is longer: refused
            # as a search for it is (`inventoryItems(query:)`), not looked up
            # in code points, as a SKU's limit is; its characters too when they are fewer (`code_points_refusal`)
            raise BadRequestError(code_points_refusal("sku", MAX_SKU_LENGTH, typed))
        wanted: str | None = None
        if inventory_item_id is not None:
            wanted = internal_id(inventory_item_id, "InventoryItem", "inventoryItemId")
        elif sku is not None:

            async def look_up(sku: str) -> str | None:
                async with info.context.services.db.read_sessionmaker() as session:
                    found = await inventory_queries.item_by_sku(session, merchant_id, sku)
                return None if found is None else found.id

            looking_up = functools.partial(look_up, sku)
            wanted = await wait_out_own(info, "inventoryItemUpdated", looking_up)
            if wanted is None:
                raise NotFoundError("Inventory item", ("sku",))
        if wanted is None:
            async for node in _every_item(info, merchant_id):
                yield node
            return
        field = ("inventoryItemId",) if inventory_item_id is not None else ("sku",)
        async for node in _one_item(info, merchant_id, wanted, field):
            yield node


async def _one_item(
    info: Info, merchant_id: str, item_id: str, field: tuple[str, ...]
) -> AsyncGenerator[InventoryItemNode, None]:
    """One item's states, each from a read shared by every follower of the item in this process that it serves
    (gql/inventory/shared_reads.py): its first state read after this follower subscribed to the signals, then one
    read after each signal naming it that wakes it (`gql.shared_reads.next_read`), or at each fallback tick when none
    does."""
    services = info.context.services
    reads = services.item_reads
    loop = asyncio.get_running_loop()
    sent: Signature | None = None
    with reads.following((merchant_id, item_id)):
        async with services.events.subscribe_inventory(merchant_id) as signals:
            after, not_before = mark(), -math.inf  # the first state: a read begun after the signals are heard
            while True:
                # Every read waits out an outage, the first state's too (a subscription started during one).
                reading = functools.partial(
                    reads.state, services, merchant_id, item_id, after=after, not_before=not_before
                )
                state = await wait_out_own(info, "inventoryItemUpdated", reading)
                if state is None:
                    # Not there at the start, or gone since (an item left behind by a deleted shop goes with it): the
                    # subscription ends with NOT_FOUND, as `shopUpdated` does for a deleted shop.
                    raise NotFoundError("Inventory item", field)
                if state.signature != sent:
                    sent = state.signature
                    # The node's `links` (and a link's `inventoryItem`) answer from this read, not a read of their own.
                    loaders = info.context.fresh_loaders()
                    loaders.item_links.prime(item_id, state.links)
                    for shop_id, shop in state.shops.items():
                        loaders.shop.prime(shop_id, shop)
                    loaders.inventory_item.prime(item_id, state.node)
                    yield state.node  # the read's one node, whoever follows it: its execution is shared
                    await asyncio.sleep(MIN_INTERVAL)
                # Signals naming only the merchant's other items are let go: every writer of the pool names each item
                # it changes (`domain.services.inventory.signal_items`; one of more than `MAX_ITEM_SIGNALS` left
                # unnamed shows at the tick).
                tick = next_tick(loop.time())
                after, not_before = await next_read(signals, item_id, tick, info.context.require_merchant)


async def _every_item(info: Info, merchant_id: str) -> AsyncGenerator[InventoryItemNode, None]:
    """Every item of the merchant as it changes, from the merchant's item feed of this process (gql/inventory/
    item_feed.py): no read of its own, the feed reads the items its signals name once for all its followers; each
    item whose signature differs from the one this subscriber sent last goes out, the read's one node (its execution
    shared with the other followers, gql/shared_events.py), its `links` and their `shop` answered from that read."""
    # The feed taken with no await before following it: one taken earlier could have lost its last follower
    # meanwhile and left the registry, and following it would run a second reader beside the next.
    async with item_feed(info.context.services, merchant_id).follow() as me:
        with info.context.ending_at_expiry(me.fail):
            while True:
                states = await me.next()  # at least every FALLBACK_INTERVAL, changes or not
                info.context.require_merchant()  # a subscription does not outlive its token
                for item_id, state in sorted(states.items()):
                    if me.sent.get(item_id) == state.signature:
                        continue
                    me.sent[item_id] = state.signature
                    loaders = info.context.fresh_loaders()
                    loaders.item_links.prime(item_id, state.links)
                    for shop_id, shop in state.shops.items():
                        loaders.shop.prime(shop_id, shop)
                    loaders.inventory_item.prime(item_id, state.node)
                    yield state.node  # the read's one node, whoever follows every item: its execution is shared


__all__ = ["InventorySubscription", "inventory_item"]
