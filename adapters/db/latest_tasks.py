"""The merchant's sync state now: each shop's latest task of each kind (what a `syncTaskUpdated` sends first)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.read_models import SyncTaskRead
from adapters.db.rows import sync_task_fields
from adapters.db.tables import sync_tasks


def _latest_query(one_shop: bool) -> Select[Any]:
    """`latest_sync_tasks`'s statement, with bind parameters `merchant_id`, `shop_id` (when `one_shop`) and `limit`."""
    newest_first = (sync_tasks.c.created_at.desc(), sync_tasks.c.id.desc())
    rank = func.row_number().over(partition_by=(sync_tasks.c.shop_id, sync_tasks.c.kind), order_by=newest_first)
    ranked = select(sync_tasks, rank.label("rank")).where(sync_tasks.c.merchant_id == bindparam("merchant_id"))
    if one_shop:
        ranked = ranked.where(sync_tasks.c.shop_id == bindparam("shop_id"))
    inner = ranked.subquery()
    columns = [inner.c[column.name] for column in sync_tasks.columns]
    return (
        select(*columns)
        .where(inner.c.rank == 1)
        .order_by(inner.c.created_at.desc(), inner.c.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )


# Built once each (soak57 F3: building the subquery's column collection at every call was 8 % of a starved `serve`'s
# busy samples, one per all-tasks `syncTaskUpdated` start, before any SQL was sent; the compiled cache covers only the
# compilation).
_ALL_SHOPS = _latest_query(one_shop=False)
_ONE_SHOP = _latest_query(one_shop=True)


async def latest_sync_tasks(
    session: AsyncSession, merchant_id: str, shop_id: str | None = None, *, limit: int = 100
) -> list[SyncTaskRead]:
    """Per shop (or the one shop given) the newest task of each kind, whatever its status; the `limit` newest of
    those, returned oldest first. One statement (a window function: SQLite >= 3.25 and PostgreSQL), built once."""
    if shop_id is None:
        result = await session.execute(_ALL_SHOPS, {"merchant_id": merchant_id, "limit": limit})
    else:
        result = await session.execute(_ONE_SHOP, {"merchant_id": merchant_id, "shop_id": shop_id, "limit": limit})
    rows = list(result.mappings())
    return [SyncTaskRead(**sync_task_fields(row)) for row in reversed(rows)]
