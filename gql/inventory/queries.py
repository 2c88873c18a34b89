"""`inventoryItems(first, after, query, oversold)`, `inventoryItem(id)`, `unlinkedSkus(shopId, first, after)`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from adapters.db import inventory_queries
from domain.text import code_points_refusal
from gql import types as t
from gql.context import Info
from gql.descriptions import After, First
from gql.errors import BadRequestError
from gql.ids import from_global_id
from gql.inventory.types import InventoryItemNode, InventoryMovement, SkuLink, inventory_item, movement, sku_link
from gql.readers import connection_page, page_size, wants_total

MAX_QUERY_LENGTH = 255


def _after(after: str | None) -> str | None:
    if after is not None and (not after or len(after) > 500):
        raise BadRequestError("after is not a cursor from this API.")
    return after


async def movements(info: Info, item_id: str, first: int | None, after: str | None) -> t.Connection[InventoryMovement]:
    merchant_id = info.context.require_merchant()
    size, cursor = page_size(first), _after(after)
    return await connection_page(
        info,
        lambda session: inventory_queries.movement_page(
            session, merchant_id, item_id, size, cursor, with_total=wants_total(info)
        ),
        movement,
    )


async def item_by_id(info: Info, item_id: str) -> InventoryItemNode | None:
    node: InventoryItemNode | None = await info.context.loaders.inventory_item.load(item_id)
    return node


@strawberry.type
class InventoryQuery:
    @strawberry.field(
        description="The merchant's inventory items, newest first. `first` is 1 to 100 (default 20); `query` "
        'matches part of the SKU, ignoring the case of every letter ("été" finds "ÉTÉ-01"), how an accent is '
        'encoded (a precomposed "é" or "e" + U+0301) and width ("ABC" typed in full-width letters U+FF21 to U+FF23, '
        'as a CJK input method types them, finds "ABC-1", and "abc" a SKU in full-width letters): the query and each '
        "SKU are compared in one form, NFKC of the text case-folded (Unicode's compatibility caseless match); "
        "`oversold` true keeps only oversold items (reserved > onHand), false only the others."
    )
    async def inventory_items(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
        query: Annotated[
            str | None,
            strawberry.argument(
                description="Part of the SKU to find (caseless, as the field says), at most 255 Unicode code points "
                "as a SKU is (characters, for letters, digits and punctuation); null or blank: every item."
            ),
        ] = None,
        oversold: Annotated[
            bool | None,
            strawberry.argument(description="true: only oversold items; false: only the others; null: both."),
        ] = None,
    ) -> t.Connection[InventoryItemNode]:
        merchant_id = info.context.require_merchant()
        size = page_size(first)
        if query is not None and len(query) > MAX_QUERY_LENGTH:
            # in code points, as a SKU's limit is; its characters too when they are fewer (`code_points_refusal`)
            raise BadRequestError(code_points_refusal("query", MAX_QUERY_LENGTH, query))
        cursor = _after(after)
        return await connection_page(
            info,
            lambda session: inventory_queries.item_page(
                session,
                merchant_id,
                size,
                cursor,
                query=(query or "").strip() or None,
                oversold=oversold,
                with_total=wants_total(info),
            ),
            lambda r: inventory_item(r.item),
        )

    @strawberry.field(description="One of the merchant's inventory items; null when it does not exist for them.")
    async def inventory_item(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The item's id (InventoryItem.id).")],
    ) -> InventoryItemNode | None:
        parsed = from_global_id(id)
        if parsed is None or parsed[0] != "InventoryItem":
            return None
        return await item_by_id(info, parsed[1])

    @strawberry.field(
        description="SKUs of one of the merchant's shops that draw on no inventory item (AMBIGUOUS, NO_SELLER_SKU, "
        "LONG_SELLER_SKU, EXCLUDED, UNLINKED), newest product first: what the merchant should link by hand (skuLink). "
        "`first` is 1 to 100 (default 20). Another merchant's shop gives an empty connection."
    )
    async def unlinked_skus(
        self,
        info: Info,
        shop_id: Annotated[strawberry.ID, strawberry.argument(description="The shop's id (Shop.id).")],
        first: First = 20,
        after: After = None,
    ) -> t.Connection[SkuLink]:
        merchant_id = info.context.require_merchant()
        size = page_size(first)
        parsed = from_global_id(shop_id)
        if parsed is None or parsed[0] != "Shop":
            return t.connection([], False, 0)
        cursor = _after(after)
        return await connection_page(
            info,
            lambda session: inventory_queries.unlinked_sku_page(
                session, merchant_id, parsed[1], size, cursor, with_total=wants_total(info)
            ),
            sku_link,
        )
