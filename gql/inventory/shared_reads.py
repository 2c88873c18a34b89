"""The fallback re-reads of followed items, one per item and interval in this process, shared by its followers.

Security audit 50: each `inventoryItemUpdated(inventoryItemId:)` (or `sku:`) subscription re-read its item every
1.5 s on its own, to catch a change whose signal was lost: 400 subscriptions of one merchant on one quiet item took
62 % of a core (400 `syncTaskUpdated`, which share one feed per merchant, gql/feeds.py: 2.8 %). Now the fallback
re-reads wake on one grid per process (`next_tick`: multiples of `FALLBACK_INTERVAL` of the event loop's clock), and
every subscription that follows an item at a tick awaits one read of it (`ItemReads.signature`), started at that
tick or within `TICK_SLACK` before it; a follower whose `sent` differs from what that read saw reads the item
again for itself, as on a signal, and sends it. A change no signal announced still shows within
`FALLBACK_INTERVAL` + `TICK_SLACK` of the read; a signal still makes each follower read at once for itself.

Per process and per merchant: the read is the merchant's own (its loaders, keyed by merchant and item), and the
memo holds only items someone follows (`following`), so nothing is left behind when the last follower goes. The
grid and the memo are gql/shared_reads.py's, which `shopUpdated`'s re-reads share too.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from gql.shared_reads import FALLBACK_INTERVAL, TICK_SLACK, SharedReads, Signature, next_tick

if TYPE_CHECKING:
    from gql.container import Services
    from gql.inventory.types import InventoryItemNode, SkuLink


def signature(node: InventoryItemNode, links: list[SkuLink]) -> Signature:
    """What a subscriber is told about: the counters, and the links with their push outcome. A link added or
    removed moves no counter when the SKU has no open order (nor does a shop's deletion that takes its links
    away, nor a push), so the version alone would leave the subscriber with links that no longer hold."""
    link_states = frozenset(
        (
            link.sku.id,
            link.state,
            link.source,
            link.pushed_quantity,
            link.pushed_at,
            link.held_back_quantity,
            link.push_error_code,
        )
        for link in links
    )
    return (node.on_hand, node.reserved, node.safety_stock, node.version, link_states)


class ItemReads(SharedReads):
    """The latest read of each followed item, by (merchant id, item id), for this process (`Services.item_reads`)."""

    async def signature(
        self, services: Services, merchant_id: str, item_id: str, not_before: float
    ) -> Signature | None:
        """The item's `signature` (None: the merchant has no such item) from a read started at `not_before` (loop
        clock) - `TICK_SLACK` or later (`SharedReads.shared`)."""
        return await self.shared(
            (merchant_id, item_id), not_before, functools.partial(_read, services, merchant_id, item_id)
        )


async def _read(services: Services, merchant_id: str, item_id: str) -> Signature | None:
    from gql.loaders import Loaders

    loaders = Loaders(services, lambda: merchant_id)
    node = await loaders.inventory_item.load(item_id)
    if node is None:
        return None
    return signature(node, await loaders.item_links.load(node.internal_id))


__all__ = ["FALLBACK_INTERVAL", "TICK_SLACK", "ItemReads", "Signature", "next_tick", "signature"]
