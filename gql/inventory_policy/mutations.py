"""`shopInventoryPolicyUpdate(input: {shopId, pushEnabled, sharePercent, maxQuantity, outOfStockThreshold})`."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from domain.errors import DomainError, ErrorCode, ValidationError
from domain.services import inventory_policy
from gql import mappers
from gql import types as t
from gql.context import Info
from gql.descriptions import USER_ERRORS
from gql.errors import user_errors
from gql.ids import internal_id
from gql.inventory_policy.types import InventoryPolicy
from gql.inventory_policy.types import inventory_policy as policy_type


@strawberry.input(description="Fields left out keep their value; maxQuantity null removes the maximum.")
class ShopInventoryPolicyUpdateInput:
    shop_id: strawberry.ID = strawberry.field(description="The shop's id (Shop.id).")
    push_enabled: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Whether stock is pushed to this shop at all; not null. Turned on, the shop's next push first reads "
            "TikTok's stock and the shop's orders: a sale made meanwhile is counted, and stock edited in Seller "
            "Center while push was off is replaced by the pool's value, not held back as unseen sales."
        ),
    )
    share_percent: int | None = strawberry.field(
        default=strawberry.UNSET, description="Percent of the pool's available shown, 1 to 100; not null."
    )
    max_quantity: int | None = strawberry.field(
        default=strawberry.UNSET, description="The most ever shown (units), 0 to 99999; null: no maximum."
    )
    out_of_stock_threshold: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Available units at or below which the shop shows 0, 0 to 1,000,000,000; not null.",
    )


@strawberry.type(description="The shop and its policy as changed, or why not.")
class ShopInventoryPolicyUpdatePayload:
    shop: t.Shop | None = strawberry.field(description="The shop; null with userErrors.")
    inventory_policy: InventoryPolicy | None = strawberry.field(
        description="The policy after the change; null with userErrors."
    )
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class InventoryPolicyMutation:
    @strawberry.mutation(
        description="Change a shop's inventory push policy; the shop's linked products are pushed again. userErrors: "
        "NOT_FOUND (shopId), INVALID_SHARE_PERCENT (1..100), INVALID_MAX_QUANTITY (0..99999 or null), "
        "INVALID_OUT_OF_STOCK_THRESHOLD (0..1,000,000,000), INVALID_INPUT (pushEnabled, sharePercent or "
        "outOfStockThreshold given as null)."
    )
    async def shop_inventory_policy_update(
        self,
        info: Info,
        input: Annotated[
            ShopInventoryPolicyUpdateInput,
            strawberry.argument(description="The shop and the policy's fields to change."),
        ],
    ) -> ShopInventoryPolicyUpdatePayload:
        s = info.context.services
        try:
            shop_id = internal_id(input.shop_id, "Shop", "shopId")
            changes = _changes(input)
            shop, policy = await inventory_policy.update_policy(
                s.uow_factory, s.queue, s.clock, info.context.require_merchant(), shop_id, changes, s.events
            )
        except DomainError as exc:
            return ShopInventoryPolicyUpdatePayload(shop=None, inventory_policy=None, user_errors=user_errors(exc))
        return ShopInventoryPolicyUpdatePayload(
            shop=mappers.shop(shop, s.clock.now()), inventory_policy=policy_type(policy), user_errors=[]
        )


def _changes(input: ShopInventoryPolicyUpdateInput) -> dict[str, Any]:
    given = {
        "push_enabled": (input.push_enabled, "pushEnabled"),
        "share_percent": (input.share_percent, "sharePercent"),
        "max_quantity": (input.max_quantity, "maxQuantity"),
        "out_of_stock_threshold": (input.out_of_stock_threshold, "outOfStockThreshold"),
    }
    changes = {}
    for name, (value, field) in given.items():
        if value is strawberry.UNSET:
            continue
        if value is None and name != "max_quantity":
            raise ValidationError(
                ErrorCode.INVALID_INPUT, f"{field} cannot be null: give a value, or leave it out to keep it.", (field,)
            )
        changes[name] = value
    return changes
