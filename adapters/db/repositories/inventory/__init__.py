"""SqlInventoryRepository: the shared inventory pool's persistence (issue 8), over the unit of work's session.

Modules: `writer` (lock items, write ledger rows, counters, movements, outbox marks), `ledger` (orders and link
changes into the ledger, a shop's release), `links` (auto and manual links, seeding), `items` (items and edits),
`created_from` (an item created from a shop SKU, linked and seeded in one step),
`outbox` (dirty marks), `unexplained` (a deleted shop's units sold unseen no sale took),
`shop_items` (a deleted shop's links, ledger rows and the items only it linked), `removal` (a merchant's delete of
an item).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.repositories.inventory import (
    created_from,
    items,
    ledger,
    links,
    outbox,
    removal,
    shop_items,
    unexplained,
)
from domain.clock import Clock, SystemClock
from domain.inventory.items import Edit, InventoryItem
from domain.inventory.removal import ItemUse
from domain.inventory_push import DEFAULT_HOLD_HORIZON
from domain.ports import PoolChange
from domain.stored import OrderRecord


class SqlInventoryRepository:
    """Implements `domain.ports.InventoryRepository`."""

    def __init__(self, session: AsyncSession, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or SystemClock()

    async def apply_orders(
        self, shop_id: str, orders: Sequence[OrderRecord], *, none_stored: bool = False
    ) -> PoolChange:
        return await ledger.apply_orders(self._session, shop_id, orders, self._clock.now(), none_stored=none_stored)

    async def auto_link(
        self, shop_id: str, tiktok_product_ids: Sequence[str], stock_read_at: Mapping[str, datetime] | None = None
    ) -> PoolChange:
        change = await links.auto_link_products(
            self._session, shop_id, tiktok_product_ids, self._clock.now(), stock_read_at or {}
        )
        if await outbox.waiting_on_sale(self._session, shop_id, tiktok_product_ids):  # back on sale: push it now
            change |= PoolChange(push_shop_ids=frozenset({shop_id}))
        return change

    async def release_shop(
        self, shop_id: str, hold_horizon: timedelta = DEFAULT_HOLD_HORIZON, *, remember: bool = True
    ) -> PoolChange:
        return await ledger.release_shop(self._session, shop_id, self._clock.now(), hold_horizon, remember=remember)

    async def remove_shop_items(self, shop_id: str) -> list[str]:
        return await shop_items.remove_shop_items(self._session, shop_id)

    async def forget_deleted_lines(self, deleted_before: datetime, limit: int) -> int:
        return await ledger.forget_deleted_lines(self._session, deleted_before, limit)

    async def merchants_with_unexplained_holds(self, hold_horizon: timedelta = DEFAULT_HOLD_HORIZON) -> list[str]:
        return await unexplained.merchants_with_unexplained_holds(self._session, hold_horizon)

    async def give_back_unexplained_holds(
        self, merchant_id: str, hold_horizon: timedelta = DEFAULT_HOLD_HORIZON
    ) -> tuple[PoolChange, int]:
        return await unexplained.give_back_unexplained_holds(
            self._session, merchant_id, self._clock.now(), hold_horizon
        )

    async def get_item(self, item_id: str, merchant_id: str, *, lock: bool = False) -> InventoryItem | None:
        return await items.get_item(self._session, item_id, merchant_id, lock=lock)

    async def create_item(self, item: InventoryItem) -> PoolChange:
        return await items.create_item(self._session, item)

    async def create_item_from_sku(self, item: InventoryItem, sku_id: str, *, seeded: bool) -> PoolChange | None:
        return await created_from.create_item_from_sku(self._session, item, sku_id, seeded, self._clock.now())

    async def edit_item(self, item: InventoryItem, edit: Edit) -> PoolChange:
        return await items.edit_item(self._session, item, edit, self._clock.now())

    async def set_safety_stock(self, item: InventoryItem, safety_stock: int) -> PoolChange:
        return await items.set_safety_stock(self._session, item, safety_stock, self._clock.now())

    async def item_use(self, item: InventoryItem, now: datetime, hold_horizon: timedelta) -> ItemUse:
        return await removal.item_use(self._session, item.id, now, hold_horizon)

    async def delete_item(self, item: InventoryItem) -> PoolChange:
        return await removal.delete_item(self._session, item)

    async def link_sku(
        self, merchant_id: str, sku_id: str, item_id: str | None, *, compare: bool = False,
        compare_item_id: str | None = None,
    ) -> PoolChange | None:  # fmt: skip
        return await links.link_manually(
            self._session, merchant_id, sku_id, item_id, self._clock.now(), compare=compare,
            compare_item_id=compare_item_id,
        )  # fmt: skip
