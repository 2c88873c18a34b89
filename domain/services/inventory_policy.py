"""A shop's inventory push policy (issue 8 "Push to TikTok"): read it, change it. A change re-pushes the shop: every
product with a linked SKU is marked dirty in the same transaction and the push enqueued after commit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from domain.clock import Clock
from domain.errors import NotFoundError
from domain.inventory_push import InventoryPolicy
from domain.ports import TaskQueue, UnitOfWorkFactory
from domain.shops import Shop

POLICY_FIELDS = ("push_enabled", "share_percent", "max_quantity", "out_of_stock_threshold")


async def update_policy(
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue,
    clock: Clock,
    merchant_id: str,
    shop_id: str,
    changes: dict[str, Any],
) -> tuple[Shop, InventoryPolicy]:
    """Apply `changes` (a subset of `POLICY_FIELDS`; the others keep their values) to the merchant's shop.

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
            products = await uow.inventory_push.linked_products(shop_id)
            if products and policy.push_enabled:
                await uow.inventory_push.mark_dirty(shop_id, products, now)
                uow.after_commit(lambda: queue.enqueue_inventory_push(shop_id))
        await uow.commit()
    return shop, policy
