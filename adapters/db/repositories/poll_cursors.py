"""SqlPollCursorRepository: the polling backstop's state per shop and kind; every time in it only moves forward."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.errors import ShopGoneError
from adapters.db.tables import sync_cursors
from domain.polling import PollCursor
from domain.sync import SyncKind

_MONOTONIC = ("cursor_at", "scheduled_at", "polled_at")


class SqlPollCursorRepository:
    """Implements `domain.ports.PollCursorRepository`.

    `save` is one upsert whose times take the later of the stored and the given value, so that the scheduler
    (stamping `scheduled_at`) and a poll (moving `cursor_at`) writing from rows they read at different moments
    never put a time back.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, shop_id: str, kind: SyncKind) -> PollCursor | None:
        query = (
            select(sync_cursors)
            .where(sync_cursors.c.shop_id == shop_id, sync_cursors.c.kind == kind.value)
            .with_for_update()
        )
        row = (await self._session.execute(query)).mappings().first()
        return None if row is None else _from_row(row)

    async def list_all(self) -> list[PollCursor]:
        rows = (await self._session.execute(select(sync_cursors))).mappings()
        return [_from_row(row) for row in rows]

    async def save(self, cursor: PollCursor, now: datetime) -> None:
        values: dict[str, Any] = {
            "shop_id": cursor.shop_id,
            "kind": cursor.kind.value,
            "cursor_at": cursor.cursor_at,
            "scheduled_at": cursor.scheduled_at,
            "polled_at": cursor.polled_at,
            "updated_at": now,
        }
        dialect = self._session.bind.dialect.name if self._session.bind is not None else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(sync_cursors).values(values)
        later = {name: _later(getattr(sync_cursors.c, name), getattr(statement.excluded, name)) for name in _MONOTONIC}
        statement = statement.on_conflict_do_update(
            index_elements=[sync_cursors.c.shop_id, sync_cursors.c.kind],
            set_={**later, "updated_at": statement.excluded.updated_at},
        )
        try:
            async with self._session.begin_nested():
                await self._session.execute(statement)
        except IntegrityError as exc:  # the shop was deleted meanwhile: its foreign key refuses the row
            raise ShopGoneError(cursor.shop_id) from exc

    async def make_due(self, shop_id: str) -> None:
        # The one write that moves `scheduled_at` back (to "never"): the scheduler's next tick finds it due.
        await self._session.execute(
            update(sync_cursors).where(sync_cursors.c.shop_id == shop_id).values(scheduled_at=None)
        )


def _later(stored: ColumnElement[Any], given: ColumnElement[Any]) -> ColumnElement[Any]:
    """The later of two nullable times (NULL counts as "never")."""
    return case((given.is_(None), stored), (stored.is_(None), given), (given > stored, given), else_=stored)


def _from_row(m: RowMapping) -> PollCursor:
    return PollCursor(
        shop_id=m["shop_id"],
        kind=SyncKind(m["kind"]),
        cursor_at=m["cursor_at"],
        scheduled_at=m["scheduled_at"],
        polled_at=m["polled_at"],
        updated_at=m["updated_at"],
    )
