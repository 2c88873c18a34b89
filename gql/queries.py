"""Queries: the merchant's shops, their data and sync tasks. Another merchant's objects do not exist here."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.errors import NotFoundError
from domain.shops import Region as DomainRegion
from gql import enums, readers
from gql import types as t
from gql.context import Info
from gql.descriptions import TRIGGER_FILTER, After, First
from gql.ids import from_global_id, internal_id


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id; null when it does not exist for this merchant.")
    async def node(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Any object's `id`.")]
    ) -> t.Node | None:
        parsed = from_global_id(id)
        if parsed is None:
            return None
        type_name, internal = parsed
        if type_name == "Shop":
            return await info.context.loaders.shop.load(internal)
        if type_name == "SyncTask":
            return await readers.sync_task(info, internal)
        if type_name == "Product":
            return await readers.product(info, internal)
        if type_name == "Order":
            return await readers.order(info, internal)
        if type_name == "Sku":
            # Its link's loader reads any SKU of the merchant, linked or not (an outer join); `Sku.link` then
            # finds the same read in the loader's cache.
            link = await info.context.loaders.sku_link.load(internal)
            if link is None:
                return None
            sku: t.Sku = link.sku
            return sku
        if type_name == "WebhookEvent":
            from gql.webhooks.queries import event_by_id

            return await event_by_id(info, internal)
        if type_name == "InventoryItem":
            from gql.inventory.queries import item_by_id

            return await item_by_id(info, internal)
        return None

    @strawberry.field(description="One of the merchant's shops; null when it does not exist for this merchant.")
    async def shop(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The shop's id (Shop.id).")]
    ) -> t.Shop | None:
        try:
            shop_id = internal_id(id, "Shop", "id")
        except NotFoundError:
            return None
        return await info.context.loaders.shop.load(shop_id)

    @strawberry.field(description="The merchant's shops, oldest first. `first` is 1 to 100 (default 20).")
    async def shops(self, info: Info, first: First = 20, after: After = None) -> t.Connection[t.Shop]:
        return await readers.shops(info, first, after)

    @strawberry.field(description="Regions a shop can be authorized in.")
    def supported_regions(self) -> list[enums.Region]:  # type: ignore[valid-type]
        return list(DomainRegion)

    @strawberry.field(
        description=(
            "The Task Center: sync tasks, newest first, optionally of one shop, in some statuses or started by some "
            "triggers. `status` and `trigger` are sets: a task in any of them matches, `[]` matches none (an empty "
            "page, totalCount 0), and null or absent matches every value; both given, a task must match both. A "
            "`shopId` that is not one of the merchant's shops matches none too."
        )
    )
    async def sync_tasks(
        self,
        info: Info,
        shop_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this shop's tasks (Shop.id); null: every shop.")
        ] = None,
        status: Annotated[
            list[enums.SyncTaskStatus] | None,  # type: ignore[valid-type]
            strawberry.argument(description="Only tasks in one of these statuses; []: none; null: every status."),
        ] = None,
        first: First = 20,
        after: After = None,
        trigger: Annotated[
            list[enums.SyncTrigger] | None,  # type: ignore[valid-type]
            strawberry.argument(description=TRIGGER_FILTER),
        ] = None,
    ) -> t.Connection[t.SyncTask]:
        shop_internal = None
        if shop_id is not None:
            parsed = from_global_id(shop_id)
            if parsed is None or parsed[0] != "Shop":
                return t.connection([], False, 0)
            shop_internal = parsed[1]
        return await readers.sync_tasks(info, shop_internal, status, first, after, trigger)

    @strawberry.field(description="One sync task; null when it does not exist for this merchant.")
    async def sync_task(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The task's id (SyncTask.id).")]
    ) -> t.SyncTask | None:
        try:
            task_id = internal_id(id, "SyncTask", "id")
        except NotFoundError:
            return None
        return await readers.sync_task(info, task_id)
