"""The merchant's sync state now: each shop's latest task of each kind (what a `syncTaskUpdated` sends first)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.read_models import SyncTaskRead
from adapters.db.rows import sync_task_fields
from adapters.db.tables import sync_tasks


async def latest_sync_tasks(
    session: AsyncSession, merchant_id: str, shop_id: str | None = None, *, limit: int = 100
) -> list[SyncTaskRead]:
    """Per shop (or the one shop given) the newest task of each kind, whatever its status; the `limit` newest of
    those, returned oldest first. One statement (a window function: SQLite >= 3.25 and PostgreSQL)."""
    newest_first = (sync_tasks.c.created_at.desc(), sync_tasks.c.id.desc())
    rank = func.row_number().over(partition_by=(sync_tasks.c.shop_id, sync_tasks.c.kind), order_by=newest_first)
    ranked = select(sync_tasks, rank.label("rank")).where(sync_tasks.c.merchant_id == merchant_id)
    if shop_id is not None:
        ranked = ranked.where(sync_tasks.c.shop_id == shop_id)
    inner = ranked.subquery()
    columns = [inner.c[column.name] for column in sync_tasks.columns]
    query = (
        select(*columns).where(inner.c.rank == 1).order_by(inner.c.created_at.desc(), inner.c.id.desc()).limit(limit)
    )
    rows = list((await session.execute(query)).mappings())
    return [SyncTaskRead(**sync_task_fields(row)) for row in reversed(rows)]
