"""Inventory items: read one (locked for an edit), create one, apply a merchant's edit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.repositories.inventory.outbox import mark_push_dirty
from adapters.db.repositories.inventory.writer import PoolWrite, lock_items
from adapters.db.tables import inventory_items, inventory_movements
from domain.errors import DomainError, ErrorCode
from domain.inventory.items import Edit, InventoryItem, MovementKind
from domain.ports import PoolChange


def item_of(row: Any) -> InventoryItem:
    return InventoryItem(
        row.id, row.merchant_id, row.sku, row.on_hand, row.reserved, row.safety_stock, row.version,
        row.created_at, row.updated_at,
    )  # fmt: skip


async def get_item(
    session: AsyncSession, item_id: str, merchant_id: str | None = None, *, lock: bool = False
) -> InventoryItem | None:
    """The item, if it is the merchant's (any merchant's when None); `lock` holds its row until commit."""
    if lock:
        await lock_items(session, [item_id])
    query = select(inventory_items).where(inventory_items.c.id == item_id)
    if merchant_id is not None:
        query = query.where(inventory_items.c.merchant_id == merchant_id)
    row = (await session.execute(query)).first()
    return None if row is None else item_of(row)


async def create_item(session: AsyncSession, item: InventoryItem) -> PoolChange:
    """Insert the item (its on-hand recorded as a CREATED movement, even 0: the movement is what tells a hand-made
    item from an imported one, `HAND_MADE`); `SKU_ALREADY_EXISTS` when the merchant has an item with this SKU."""
    await insert_item(session, item)
    return await edit_item(session, item, Edit(MovementKind.CREATED, item.on_hand), item.created_at)


async def insert_item(session: AsyncSession, item: InventoryItem) -> None:
    """Insert the item empty (on-hand and reserved 0, version 1, no movement: the caller counts its on-hand in);
    `SKU_ALREADY_EXISTS` on `sku` when the merchant has an item with this SKU (nothing written)."""
    values = {
        "id": item.id, "merchant_id": item.merchant_id, "sku": item.sku, "on_hand": 0, "reserved": 0,
        "safety_stock": item.safety_stock, "version": 1, "created_at": item.created_at, "updated_at": item.updated_at,
    }  # fmt: skip
    try:
        async with session.begin_nested():
            await session.execute(inventory_items.insert().values(values))
    except IntegrityError:
        raise DomainError(
            ErrorCode.SKU_ALREADY_EXISTS,
            f'An inventory item with SKU "{item.sku}" exists already: adjust that item, or choose another SKU.',
            ("sku",),
        ) from None


async def edit_item(session: AsyncSession, item: InventoryItem, edit: Edit, now: datetime) -> PoolChange:
    """Apply a merchant's edit to the (locked) item: arithmetic update, movement, outbox marks. An edit of 0 units (an
    item created with none, a count that found the on-hand it has) is its movement alone: `PoolWrite` records moves
    only, and this one must still show, as the merchant's (`HAND_MADE`); counters, version and pushes stay."""
    if edit.on_hand_delta == 0:
        counted = {
            "id": uuid.uuid4().hex, "inventory_item_id": item.id, "merchant_id": item.merchant_id,
            "kind": edit.kind.value, "on_hand_delta": 0, "reserved_delta": 0, "reason": edit.reason, "created_at": now,
        }  # fmt: skip
        await session.execute(inventory_movements.insert().values(counted))
        return PoolChange(frozenset({item.id}), frozenset(), item.merchant_id)
    write = PoolWrite(None, item.merchant_id, now)
    write.count(item.id, edit.on_hand_delta, 0, edit.kind.value, edit.reason, None)
    return await write.flush(session, extra_dirty=[item.id])


async def set_safety_stock(session: AsyncSession, item: InventoryItem, safety_stock: int, now: datetime) -> PoolChange:
    """Store the item's safety stock (units kept back from every shop); available moves, so pushes are due."""
    await session.execute(
        update(inventory_items)
        .where(inventory_items.c.id == item.id)
        .values(safety_stock=safety_stock, version=inventory_items.c.version + 1, updated_at=now)
    )
    shops = await mark_push_dirty(session, [item.id], now)
    return PoolChange(frozenset({item.id}), frozenset(shops), item.merchant_id)
