"""`shopUpdated`'s reads: one in flight per followed shop in this process, shared by its followers (`ShopReads`, on
gql/shared_reads.py's rules: the first state, the re-read on a signal naming the shop or one of its tasks, the fallback
re-read), and the shop's `signature`, what a follower is told a change of.

Issue 9: every shop or task signal of the merchant (a sync writes one per page) made each follower of a shop read it
for itself, four statements each: 400 followers of a shop during its import, 400 reads per signal. Now one read
(`ShopState`: the shop with its sync facts, both counts, their signature) serves every follower woken by that signal,
and every follower yields that read's one `Shop`, so that its execution is shared too (gql/shared_events.py).

Security audit 50: 400 `shopUpdated(shopId:)` subscriptions of one merchant on one quiet shop re-read it each on its
own every 1.5 s (the shop, its sync facts, product and order counts: four statements each), 31 % of a core. Served
from the merchant's `ShopFeed` (gql/feeds.py) instead, they would lose what that feed does not do: it reads a quiet
merchant's shops every 30 s, not 1.5 s (a change no signal announced would show 20 times later), it hears no task
signal (a sync's `lastSyncedAt` and counts move on those), and its fingerprint leaves `lastSyncedAt` out; the shared
read keeps `shopUpdated`'s own rules whole and costs one read per shop and interval.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ShopState:
    """One read of a shop: the shop (its sync facts read with it: `attention` reads nothing more), its product and
    order counts (what `productCount`, `orderCount` answer), and their `signature`."""

    shop: t.Shop
    product_count: int
    order_count: int
    signature: Signature


class ShopReads(SharedReads[ShopState | None]):
    """The latest read of each followed shop, by (merchant id, shop id), for this process (`Services.shop_reads`)."""

    async def read_state(self, services: Services, merchant_id: str, object_id: str) -> ShopState | None:
        """The shop `object_id` as the merchant sees it (None: no such shop of the merchant, or it was deleted)."""
        return await _read(services, merchant_id, object_id)


async def _read(services: Services, merchant_id: str, shop_id: str) -> ShopState | None:
    from gql.loaders import Loaders

    loaders = Loaders(services, lambda: merchant_id)
    shop = await loaders.shop.load(shop_id)
    if shop is None:
        return None
    if shop.sync_facts is None:
        shop.sync_facts = await loaders.sync_facts.load(shop.internal_id)
    found = await signature(shop, loaders, services.clock.now())
    return ShopState(shop, await loaders.product_count.load(shop_id), await loaders.order_count.load(shop_id), found)
