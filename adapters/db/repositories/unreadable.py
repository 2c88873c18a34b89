"""Records TikTok sent that could not be read (`unreadable_records`, migrations 0039, 0040): marked by a sync that
failed them, read again by id at each poll (`marks_to_reread`; `note_still_unreadable`, `note_reread` date each read:
`domain.services.rereads`), cleared by the catalog's upsert of the same TikTok id (`SqlCatalogRepository`), by TikTok
saying it has no such record (`clear_unreadable`) or by retention once their first failure is older than
`SHOPBRIDGE_TASK_RETENTION` (`forget_unreadable`), counted by `Shop.attention` (adapters/db/shop_facts.py). Per shop
and kind at most `MAX_UNREADABLE_RECORDS` rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Delete

from adapters.db.lists import among
from adapters.db.retention import delete_oldest
from adapters.db.tables import unreadable_records
from domain.sync import MAX_UNREADABLE_RECORDS, UNKNOWN_RECORD_ID, RecordFailure, SyncKind

u = unreadable_records.c


async def clear_unreadable(session: AsyncSession, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str]) -> None:
    """Forget the marks of `tiktok_ids` (records of `kind` just read and stored): one DELETE down the primary key."""
    if not tiktok_ids:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await session.execute(clear_unreadable_statement(shop_id, kind, tiktok_ids, dialect))


def clear_unreadable_statement(shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str], dialect: str) -> Delete:
    """`clear_unreadable`'s DELETE, for a caller that sends it inside another statement (the catalog's upsert on
    PostgreSQL: a data-modifying CTE of its fingerprint read)."""
    return delete(unreadable_records).where(
        u.shop_id == shop_id, u.kind == kind.value, among(u.tiktok_id, tiktok_ids, dialect)
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


async def marks_to_reread(session: AsyncSession, shop_id: str, kind: SyncKind, limit: int) -> list[str]:
    """See `domain.ports.CatalogRepository.marks_to_reread`: the shop's marks of `kind` (the primary key's prefix,
    at most `MAX_UNREADABLE_RECORDS` rows) but the one of records without an id (`UNKNOWN_RECORD_ID`), sorted by
    (read again yet, `reread_at`, `failed_at`, id)."""
    never = case((u.reread_at.is_(None), 0), else_=1)
    query = (
        select(u.tiktok_id)
        .where(u.shop_id == shop_id, u.kind == kind.value, u.tiktok_id != UNKNOWN_RECORD_ID)
        .order_by(never, u.reread_at, u.failed_at, u.tiktok_id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def note_still_unreadable(
    session: AsyncSession, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
) -> list[str]:
    """See `domain.ports.CatalogRepository.note_still_unreadable`: two UPDATEs of the marks still there, the first
    of those never read again (`reread_at` null), RETURNING their ids. Two overlapping calls: PostgreSQL's second
    UPDATE waits for the first's row locks, then finds `reread_at` set and returns nothing; SQLite writes one
    transaction at a time."""
    reasons = {failure.tiktok_id: failure.reason for failure in failures}
    if not reasons:
        return []
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    of_shop = (u.shop_id == shop_id, u.kind == kind.value)
    values = {"reason": case(reasons, value=u.tiktok_id, else_=u.reason), "reread_at": now}
    first = list(
        (
            await session.execute(
                update(unreadable_records)
                .where(*of_shop, among(u.tiktok_id, list(reasons), dialect), u.reread_at.is_(None))
                .values(values)
                .returning(u.tiktok_id)
            )
        ).scalars()
    )
    logged = set(first)
    again = [tiktok_id for tiktok_id in reasons if tiktok_id not in logged]
    if again:
        await session.execute(
            update(unreadable_records).where(*of_shop, among(u.tiktok_id, again, dialect)).values(values)
        )
    return sorted(first)


async def note_reread(
    session: AsyncSession, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str], now: datetime
) -> None:
    """See `domain.ports.CatalogRepository.note_reread`: one UPDATE of `reread_at` down the primary key."""
    if not tiktok_ids:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await session.execute(
        update(unreadable_records)
        .where(u.shop_id == shop_id, u.kind == kind.value, among(u.tiktok_id, tiktok_ids, dialect))
        .values(reread_at=now)
    )


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
