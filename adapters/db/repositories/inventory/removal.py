"""A merchant's delete of one inventory item (`inventoryItemDelete`, tryout61 F3): what points at it, then the item.

`item_use` counts, in the delete's transaction (the item locked by `get_item(lock=True)`), the links naming it and
the order lines RESERVED on it (`domain.inventory.removal.ItemUse`); `delete_item` removes it as a shop's delete
removes the items it alone linked (`shop_items.delete_items`): its movements go, ledger rows and links that remember
it lose the reference, and what a deleted shop kept on it (`deleted_shop_*`, `sku_link_periods`) goes with it (the
foreign keys' `ON DELETE CASCADE`): no foreign key is left dangling.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.repositories.inventory.shop_items import delete_items
from adapters.db.tables import order_line_stock, sku_links
from domain.inventory.items import InventoryItem
from domain.inventory.ledger import LineState
from domain.inventory.removal import ItemUse
from domain.ports import PoolChange


async def item_use(session: AsyncSession, item_id: str) -> ItemUse:
    """The links naming the item (any state) and its RESERVED order lines: two counts through their indexes."""
    links = select(func.count()).select_from(sku_links).where(sku_links.c.inventory_item_id == item_id)
    reserved = (
        select(func.count())
        .select_from(order_line_stock)
        .where(order_line_stock.c.inventory_item_id == item_id, order_line_stock.c.state == LineState.RESERVED.value)
    )
    return ItemUse(
        links=(await session.execute(links)).scalar_one(), reserved_lines=(await session.execute(reserved)).scalar_one()
    )


async def delete_item(session: AsyncSession, item: InventoryItem) -> PoolChange:
    """Delete the (locked) item and its movements (`shop_items.delete_items`); nothing to push (no link names it)."""
    await delete_items(session, [item.id])
    return PoolChange(frozenset({item.id}), frozenset(), item.merchant_id)
