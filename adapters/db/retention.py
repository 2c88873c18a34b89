"""The one DELETE every retention runs (`domain.services.retention`): a bounded batch of rows, oldest first.

Two statements in the caller's transaction. The first picks the batch: the keys of at most `limit` rows, oldest
first through the table's index on the ordering column; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so two sweeps
at once take different rows instead of waiting on (or deadlocking over) each other's, and the rows stay locked
until the commit; SQLite has one writer and no FOR UPDATE (SQLAlchemy leaves it out). The second deletes those
keys, repeating the condition: a row changed in between (a webhook replay made an event PENDING) stays.

Not one `DELETE ... WHERE key IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)`: PostgreSQL may run that as a
nested-loop semi-join that scans the subquery again for every row, and each scan skips the rows the statement has
already deleted and locks the next ones. The sync tasks' batch of 3 deleted 40 rows that way; the inbox's got a
hash join (the subquery read once), but which plan a statement gets depends on the statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

Condition = Callable[[FromClause], ColumnElement[bool]]
"""The rows that may go, for the table given (a correlated subquery must refer to that one)."""


async def delete_oldest(
    session: AsyncSession,
    table: Table,
    key: str | tuple[str, ...],
    prunable: Condition,
    oldest_first: Callable[[FromClause], ColumnElement[Any]],
    limit: int,
    parameters: Mapping[str, Any] | None = None,
) -> int:
    """Delete at most `limit` rows of `table` that are `prunable`, in `oldest_first` order; returns how many.
    `key` names the table's primary key column, or its columns when the key is composite. `parameters`: the values
    of the bind parameters `prunable`'s condition names (a condition built once, `sync_tasks._prunable_since`)."""
    columns = [table.c[name] for name in ((key,) if isinstance(key, str) else key)]
    oldest = (
        select(*columns)
        .where(prunable(table))
        .order_by(oldest_first(table))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    keys = [tuple(row) for row in (await session.execute(oldest, parameters)).all()]
    if not keys:
        return 0
    chosen = columns[0].in_([k for (k,) in keys]) if len(columns) == 1 else tuple_(*columns).in_(keys)
    result = await session.execute(delete(table).where(chosen, prunable(table)), parameters)
    return int(result.rowcount)  # type: ignore[attr-defined]
