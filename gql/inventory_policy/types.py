"""The `InventoryPolicy` type: a shop's push policy (domain.inventory_push.InventoryPolicy)."""

from __future__ import annotations

import strawberry

from domain.inventory_push import InventoryPolicy as DomainPolicy


@strawberry.type(
    description="How much of the pool a shop shows on TikTok. Target per linked SKU: 0 when available <= "
    "outOfStockThreshold, else min(floor(available x sharePercent / 100), maxQuantity, 99999); oversold items push 0."
)
class InventoryPolicy:
    push_enabled: bool = strawberry.field(description="Whether stock is pushed to this shop at all (default true).")
    share_percent: int = strawberry.field(description="Percent of the pool's available shown, 1 to 100 (default 100).")
    max_quantity: int | None = strawberry.field(description="The most ever shown, 0 to 99999; null: no maximum.")
    out_of_stock_threshold: int = strawberry.field(
        description="Available units at or below which the shop shows 0 (default 0)."
    )


def inventory_policy(policy: DomainPolicy) -> InventoryPolicy:
    return InventoryPolicy(
        push_enabled=policy.push_enabled,
        share_percent=policy.share_percent,
        max_quantity=policy.max_quantity,
        out_of_stock_threshold=policy.out_of_stock_threshold,
    )
