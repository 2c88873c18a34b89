"""Records TikTok sent that could not be read (`unreadable_records`, migration 0039): marked by a sync that failed
them, cleared by the catalog's upsert of the same TikTok id (`SqlCatalogRepository`) or by retention once their first
failure is older than `SHOPBRIDGE_TASK_RETENTION` (`forget_unreadable`), counted by `Shop.attention`
(adapters/db/shop_facts.py). Per shop and kind at most `MAX_UNREADABLE_RECORDS` rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among
from adapters.db.retention import delete_oldest
from adapters.db.tables import unreadable_records
from domain.sync import MAX_UNREADABLE_RECORDS, RecordFailure, SyncKind

u = unreadable_records.c


async def clear_unreadable(session: AsyncSession, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str]) -> None:
    """Forget the marks of `tiktok_ids` (records of `kind` just read and stored): one DELETE down the primary key."""
    if not tiktok_ids:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await session.execute(
        delete(unreadable_records).where(
            u.shop_id == shop_id, u.kind == kind.value, among(u.tiktok_id, tiktok_ids, dialect)
        )
    )


async def mark_unreadable(
    session: AsyncSession, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
) -> None:
    """See `domain.ports.CatalogRepository.mark_unreadable`: a COUNT, then one INSERT .. ON CONFLICT DO NOTHING of
    at most the room left (an id marked already keeps its first reason and time)."""
    if not failures:
        return
    marked = await session.scalar(
        select(func.count()).select_from(unreadable_records).where(u.shop_id == shop_id, u.kind == kind.value)
    )
    room = MAX_UNREADABLE_RECORDS - int(marked or 0)
    first: dict[str, RecordFailure] = {}
    for failure in failures:
        first.setdefault(failure.tiktok_id, failure)
    rows = [
        {"shop_id": shop_id, "kind": kind.value, "tiktok_id": f.tiktok_id, "reason": f.reason, "failed_at": now}
        for f in list(first.values())[: max(room, 0)]
    ]
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(unreadable_records).values(rows).on_conflict_do_nothing())


async def forget_unreadable(session: AsyncSession, failed_before: datetime, limit: int) -> int:
    """See `domain.ports.CatalogRepository.forget_unreadable`: `delete_oldest` by `failed_at`, rows no other sweep
    holds. No index on `failed_at`: the table holds at most 2 x `MAX_UNREADABLE_RECORDS` rows a shop."""
    return await delete_oldest(
        session,
        unreadable_records,
        ("shop_id", "kind", "tiktok_id"),
        lambda marks: marks.c.failed_at < failed_before,
        lambda marks: marks.c.failed_at,
        limit,
    )
