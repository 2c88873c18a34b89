"""The reads of followed items, one in flight per item in this process, shared by their `inventoryItemUpdated`
followers (`ItemReads`, on gql/shared_reads.py's rules: the first state, the re-read on a signal, the fallback re-read),
and the item's `signature`, what a follower is told a change of.

Issue 9: 10 followers of one item made 10 reads of it per signal, each for itself (400 followers of an item during an
import: 400 reads per signal); now one read (`ItemState`: the node, its links, their signature) serves every follower
woken by that signal, and every follower yields that read's one node, so that its execution is shared too
(gql/shared_events.py). Security audit 50: the same for the fallback re-read every 1.5 s (400 subscriptions of one
quiet item took 62 % of a core re-reading each on its own, 3 % sharing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gql.shared_reads import FALLBACK_INTERVAL, TICK_SLACK, SharedReads, Signature, next_tick

if TYPE_CHECKING:
    from gql.container import Services
    from gql.inventory.types import InventoryItemNode, SkuLink
    from gql.types import Shop


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


@dataclass(frozen=True)
class ItemState:
    """One read of an item: its node, its links (what the node's `links` field answers) and their shops (what a
    link's `shop` answers), and their `signature`."""

    node: InventoryItemNode
    links: list[SkuLink]
    shops: dict[str, Shop]
    signature: Signature


class ItemReads(SharedReads[ItemState | None]):
    """The latest read of each followed item, by (merchant id, item id), for this process (`Services.item_reads`)."""

    async def read_state(self, services: Services, merchant_id: str, object_id: str) -> ItemState | None:
        """The item `object_id` as the merchant sees it (None: the merchant has no such item)."""
        return await _read(services, merchant_id, object_id)


async def _read(services: Services, merchant_id: str, item_id: str) -> ItemState | None:
    from gql.loaders import Loaders

    loaders = Loaders(services, lambda: merchant_id)
    node = await loaders.inventory_item.load(item_id)
    if node is None:
        return None
    links = await loaders.item_links.load(node.internal_id)
    # The links' shops in the same read, as `InventoryItemNode.links` wants them (a link of a shop deleted since the
    # links were read is left out): primed into each follower's loaders, not read again by each.
    found = await loaders.shop.load_many([link.shop_internal_id for link in links])
    shops = {link.shop_internal_id: shop for link, shop in zip(links, found, strict=True) if shop is not None}
    links = [link for link in links if link.shop_internal_id in shops]
    return ItemState(node, links, shops, signature(node, links))


__all__ = ["FALLBACK_INTERVAL", "TICK_SLACK", "ItemReads", "ItemState", "Signature", "next_tick", "signature"]
