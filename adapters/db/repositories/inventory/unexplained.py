"""The records of units a shop's delete took off as sold unseen (`deleted_shop_holds`) that no sale explained, given
back on on-hand once the same TikTok shop connected again has imported its products and orders
(`domain.inventory.unexplained`: the rule, and why that point)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among, dialect_of
from adapters.db.repositories.inventory.writer import PoolWrite, lock_items
from adapters.db.tables import (
    LEDGER_BY_SKU,
    deleted_shop_holds,
    inventory_movements,
    order_line_stock,
    shops,
    sync_tasks,
)
from domain.inventory.items import MovementKind
from domain.inventory.ledger import LineState
from domain.inventory.unexplained import (
    UNEXPLAINED_HOLD_REASON,
    ImportDone,
    hold_unexplained,
    unexplained_back_on_hand,
)
from domain.ports import PoolChange
from domain.sync import SyncKind, SyncTaskStatus, SyncTrigger


async def _unexplained(session: AsyncSession, hold_horizon: timedelta, merchant_id: str | None = None) -> list[Any]:
    """The records no sale explains now (`hold_unexplained`), of one merchant or of all (None), oldest delete first,
    each with its item's last count since its delete (`counted_at`). Reads the records whose TikTok shop the same
    merchant has connected, then that connection's SUCCEEDED imports and its lines waiting for a link."""
    held, connected = deleted_shop_holds.c, shops.c
    counted = (
        select(func.max(inventory_movements.c.created_at))
        .where(
            inventory_movements.c.inventory_item_id == held.inventory_item_id,
            inventory_movements.c.created_at >= held.deleted_at,
            inventory_movements.c.kind == MovementKind.SET.value,
        )
        .scalar_subquery()
    )
    query = (
        select(
            held.merchant_id, held.tiktok_shop_id, held.tiktok_sku_id, held.inventory_item_id, held.deleted_at,
            held.quantity, held.sold_before, connected.id.label("shop_id"), counted.label("counted_at"),
        )
        .join(shops, and_(connected.merchant_id == held.merchant_id, connected.tiktok_shop_id == held.tiktok_shop_id))
        .order_by(held.deleted_at, held.merchant_id, held.tiktok_shop_id, held.tiktok_sku_id, held.inventory_item_id)
    )  # fmt: skip
    if merchant_id is not None:
        query = query.where(held.merchant_id == merchant_id)
    records = (await session.execute(query)).all()
    if not records:
        return []
    shop_ids, dialect = sorted({r.shop_id for r in records}), dialect_of(session)
    tasks = sync_tasks.c
    imports: dict[str, list[ImportDone]] = {}
    done = select(tasks.shop_id, tasks.kind, tasks.created_at, tasks.orders_created_since).where(
        among(tasks.shop_id, shop_ids, dialect),
        tasks.status == SyncTaskStatus.SUCCEEDED.value,
        tasks.trigger != SyncTrigger.SCHEDULED.value,
    )
    for shop_id, kind, created_at, since in (await session.execute(done)).all():
        imports.setdefault(shop_id, []).append(ImportDone(SyncKind(kind), created_at, since))
    lines = order_line_stock.c
    pending = (
        select(lines.shop_id, lines.tiktok_sku_id)
        .distinct()
        .where(among(lines.shop_id, shop_ids, dialect), lines.state == LineState.PENDING_LINK.value, LEDGER_BY_SKU)
    )
    waiting = {(shop_id, sku) for shop_id, sku in (await session.execute(pending)).all()}
    return [
        r for r in records
        if hold_unexplained(
            r.deleted_at, r.sold_before, imports.get(r.shop_id, ()), hold_horizon,
            waiting=(r.shop_id, r.tiktok_sku_id) in waiting,
        )
    ]  # fmt: skip


async def merchants_with_unexplained_holds(session: AsyncSession, hold_horizon: timedelta) -> list[str]:
    """The merchants with a record no sale explains now (`_unexplained`), by id."""
    return sorted({r.merchant_id for r in await _unexplained(session, hold_horizon)})


async def give_back_unexplained_holds(
    session: AsyncSession, merchant_id: str, now: datetime, hold_horizon: timedelta
) -> tuple[PoolChange, int]:
    """Give the merchant's records no sale explains back on their items' on-hand (`MovementKind.CORRECTED`, reason
    `UNEXPLAINED_HOLD_REASON`; none on an item counted since the delete: `unexplained_back_on_hand`) and delete them.
    Returns the pool change (items moved, shops whose pushes are due) and the units given back.

    Exactly once, whoever else runs it: the records' items are locked first (PostgreSQL, id order, as every ledger
    writer does; SQLite's write transaction is exclusive), then the records read again and each deleted by its key,
    and only a record this transaction deleted gives units back. A line taking the record (`ledger._UnseenHolds`)
    holds the same item, so it took it wholly before or finds it gone after. Nothing of an aborted run is kept."""
    first = await _unexplained(session, hold_horizon, merchant_id)
    if not first:
        return PoolChange(), 0
    await lock_items(session, {r.inventory_item_id for r in first})
    held = deleted_shop_holds.c
    write, units = PoolWrite(None, merchant_id, now), 0
    for r in await _records_held(session, hold_horizon, merchant_id, {r.inventory_item_id for r in first}):
        this = and_(
            held.merchant_id == r.merchant_id, held.tiktok_shop_id == r.tiktok_shop_id,
            held.tiktok_sku_id == r.tiktok_sku_id, held.inventory_item_id == r.inventory_item_id,
            held.deleted_at == r.deleted_at,
        )  # fmt: skip
        gone = await session.execute(delete(deleted_shop_holds).where(this))
        if gone.rowcount != 1:  # type: ignore[attr-defined]
            continue  # taken under us (SQLite cannot: one writer)
        back = unexplained_back_on_hand(r.quantity, r.counted_at)
        if back:
            write.count(r.inventory_item_id, back, 0, MovementKind.CORRECTED.value, UNEXPLAINED_HOLD_REASON, None)
            units += back
    return await write.flush(session), units


async def _records_held(
    session: AsyncSession, hold_horizon: timedelta, merchant_id: str, items: set[str]
) -> Sequence[Any]:
    """`_unexplained` of the merchant read again once their items are held, on those items only (a record of another
    item waits for the next call: its item is not locked)."""
    return [r for r in await _unexplained(session, hold_horizon, merchant_id) if r.inventory_item_id in items]
