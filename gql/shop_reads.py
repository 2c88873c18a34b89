"""`shopUpdated`'s fallback re-reads: one read per followed shop and interval in this process, shared by its
followers (`ShopReads`, on gql/shared_reads.py's grid), and the shop's `signature`, what a follower is told a change of.

Security audit 50: 400 `shopUpdated(shopId:)` subscriptions of one merchant on one quiet shop re-read it each on its
own every 1.5 s (the shop, its sync facts, product and order counts: four statements each), 31 % of a core. Served
from the merchant's `ShopFeed` (gql/feeds.py) instead, they would lose what that feed does not do: it reads a quiet
merchant's shops every 30 s, not 1.5 s (a change no signal announced would show 20 times later), it hears no task
signal (a sync's `lastSyncedAt` and counts move on those), and its fingerprint leaves `lastSyncedAt` out; the shared
read keeps `shopUpdated`'s own rules whole and costs one read per shop and interval.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING

from gql import types as t
from gql.shared_reads import SharedReads, Signature

if TYPE_CHECKING:
    from gql.container import Services
    from gql.loaders import Loaders


async def signature(shop: t.Shop, loaders: Loaders, now: datetime) -> Signature:
    """What a `shopUpdated` subscriber is told a change of: name, status, attention (codes and times, at `now`),
    product and order counts, last sync, expiry (read with `loaders`, the merchant's)."""
    facts = shop.sync_facts if shop.sync_facts is not None else await loaders.sync_facts.load(shop.internal_id)
    attention = t.attention_at(shop, facts, now)
    products = await loaders.product_count.load(shop.internal_id)
    orders = await loaders.order_count.load(shop.internal_id)
    return (
        shop.name,
        shop.status,
        tuple((a.code, a.at) for a in attention),
        products,
        orders,
        shop.last_synced_at,
        shop.expires_at,
    )


class ShopReads(SharedReads):
    """The latest fallback read of each followed shop, by (merchant id, shop id), for this process
    (`Services.shop_reads`)."""

    async def signature(
        self, services: Services, merchant_id: str, shop_id: str, not_before: float
    ) -> Signature | None:
        """The shop's `signature` (None: the merchant has no such shop, or it was deleted) from a read started at
        `not_before` (loop clock) - `TICK_SLACK` or later (`SharedReads.shared`)."""
        return await self.shared(
            (merchant_id, shop_id), not_before, functools.partial(_read, services, merchant_id, shop_id)
        )


async def _read(services: Services, merchant_id: str, shop_id: str) -> Signature | None:
    from gql.loaders import Loaders

    loaders = Loaders(services, lambda: merchant_id)
    shop = await loaders.shop.load(shop_id)
    if shop is None:
        return None
    return await signature(shop, loaders, services.clock.now())
