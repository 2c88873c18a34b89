"""A shop's inventory push policy (issue 8 "Push to TikTok"): read it, change it. A change re-pushes the shop: every
product with a linked SKU is marked dirty in the same transaction and the push enqueued after commit; the shop is then
signalled (`shopsUpdated` carries the policy: a page showing it follows a change made in another tab)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from domain.clock import Clock
from domain.errors import NotFoundError
from domain.inventory_push import InventoryPolicy
from domain.ports import EventPublisher, TaskQueue, UnitOfWorkFactory
from domain.services.sync import publish_shop_quietly
from domain.shops import Shop

POLICY_FIELDS = ("push_enabled", "share_percent", "max_quantity", "out_of_stock_threshold")


async def update_policy(
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue,
    clock: Clock,
    merchant_id: str,
    shop_id: str,
    changes: dict[str, Any],
    events: EventPublisher | None = None,
) -> tuple[Shop, InventoryPolicy]:
    """Apply `changes` (a subset of `POLICY_FIELDS`; the others keep their values) to the merchant's shop.

    Turning push on marks the shop's push fence for a re-base (`domain.services.inventory_push.rebase_fence`): its
    next push reads TikTok's stock, then the shop's orders, before it measures anything from that reading, so a stock
    edited in Seller Center while push was off is not held back as unseen sales (tryout63 F1).

    A change (not a save of the same values) signals the shop after the commit (`events`, never failing), so that
    `shopsUpdated` sends it with its new `inventoryPolicy` (gql/shop_feeds.py fingerprints the policy).

    Raises NOT_FOUND (field shopId) for another merchant's or no shop, and the policy's validation codes
    (INVALID_SHARE_PERCENT, INVALID_MAX_QUANTITY, INVALID_OUT_OF_STOCK_THRESHOLD) with the input field's name."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"not policy fields: {sorted(unknown)}")
    now = clock.now()
    async with uow_factory() as uow:
        shop = await uow.shops.get(shop_id, merchant_id)
        if shop is None:
            raise NotFoundError("Shop", ("shopId",))
        current = await uow.inventory_push.policy(shop_id)
        policy = replace(current, **changes)  # validated by InventoryPolicy itself
        if policy != current:
            await uow.inventory_push.save_policy(shop_id, policy, now)
            if policy.push_enabled and not current.push_enabled:
                # What changed at TikTok while push was off is re-read before any push measures from the old base
                await uow.inventory_push.request_rebase(shop_id, now)
            products = await uow.inventory_push.linked_products(shop_id)
            if products and policy.push_enabled:
                await uow.inventory_push.mark_dirty(shop_id, products, now)
                uow.after_commit(lambda: queue.enqueue_inventory_push(shop_id))
        await uow.commit()
    if policy != current:
        await publish_shop_quietly(events, shop)
    return shop, policy
