"""SqlWebhookEventRepository: the webhook inbox. Inserts are `ON CONFLICT (notification_key) DO NOTHING`.

The intake writes a batch of concurrent pushes in one transaction (`gql/webhooks/batcher.py`): one query resolves
every shop of the batch, one multi-row insert (SQLAlchemy's insertmanyvalues) stores them and returns the keys it
wrote; before it, an event whose key a push with neither id nor push time may take again gives it up with one
UPDATE (`release_keys`, `domain.intake.WebhookEvent.keyed_without_push_time`). Processing writes back a batch's
outcomes with one executemany UPDATE. Retention deletes settled events oldest first, a bounded batch per call
(`delete_settled`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, bindparam, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.retention import delete_oldest
from adapters.db.shop_deletes import take_mark_shared_sql
from adapters.db.tables import shops, webhook_events
from domain.intake import EventOutcome, WebhookEvent, released_key


class SqlWebhookEventRepository:
    """Implements `domain.ports.WebhookEventRepository`."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    async def resolve_shop(self, tiktok_shop_id: str) -> str | None:
        query = select(shops.c.id).where(shops.c.tiktok_shop_id == tiktok_shop_id)
        return (await self._session.execute(query)).scalar_one_or_none()

    async def resolve_shops(self, tiktok_shop_ids: Collection[str]) -> tuple[dict[str, str], frozenset[str]]:
        if not tiktok_shop_ids:
            return {}, frozenset()
        query = select(shops.c.tiktok_shop_id, shops.c.id).where(shops.c.tiktok_shop_id.in_(sorted(tiktok_shop_ids)))
        found = {row[0]: row[1] for row in (await self._session.execute(query)).all()}
        if not found or self._session.bind is None or self._session.bind.dialect.name != "postgresql":
            return found, frozenset()
        # Each shop's delete mark taken shared, never waiting (one statement): held until this transaction ends, so
        # no delete takes a shop's row before the events naming it are written (it asks for the mark first); one
        # not free is a delete's, which holds the row (or waits for it): the events' key check would wait for it.
        tiktok_ids = sorted(found)
        marks = select(*(take_mark_shared_sql(found[tiktok_id]) for tiktok_id in tiktok_ids))
        free = (await self._session.execute(marks)).one()
        deleting = frozenset(tiktok_id for tiktok_id, ok in zip(tiktok_ids, free, strict=True) if not ok)
        return {t: s for t, s in found.items() if t not in deleting}, deleting

    async def add(self, event: WebhookEvent) -> bool:
        return bool(await self.add_many([event]))

    async def add_many(self, events: Sequence[WebhookEvent]) -> set[str]:
        if not events:
            return set()
        statement = (
            self._insert(webhook_events)
            .on_conflict_do_nothing(index_elements=["notification_key"])
            .returning(webhook_events.c.notification_key)
        )
        result = await self._session.execute(statement, [_to_row(event) for event in events])
        return set(result.scalars())

    async def release_keys(self, keys: Collection[str], received_before: datetime) -> int:
        if not keys:
            return 0
        statement = (
            update(webhook_events)
            .where(webhook_events.c.notification_key.in_(sorted(keys)), webhook_events.c.received_at < received_before)
            .values(notification_key=literal(released_key("")) + webhook_events.c.id)
        )
        result = await self._session.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def pending(self, shop_id: str, limit: int) -> list[WebhookEvent]:
        query = (
            select(webhook_events)
            .where(webhook_events.c.shop_id == shop_id, webhook_events.c.outcome == EventOutcome.PENDING.value)
            .order_by(webhook_events.c.received_at, webhook_events.c.id)
            .limit(limit)
        )
        return [event_from_row(r) for r in (await self._session.execute(query)).mappings()]

    async def get(self, event_id: str, merchant_id: str | None = None) -> WebhookEvent | None:
        query = select(webhook_events).where(webhook_events.c.id == event_id)
        if merchant_id is not None:
            owned = select(shops.c.id).where(shops.c.merchant_id == merchant_id)
            query = query.where(webhook_events.c.shop_id.in_(owned))
        row = (await self._session.execute(query)).mappings().first()
        return None if row is None else event_from_row(row)

    async def save(self, events: Sequence[WebhookEvent]) -> None:
        if not events:
            return
        statement = (
            update(webhook_events)
            .where(webhook_events.c.id == bindparam("event_id"))
            .values(
                outcome=bindparam("new_outcome"),
                attempts=bindparam("new_attempts"),
                processed_at=bindparam("new_processed_at"),
                error_code=bindparam("new_error_code"),
                error_message=bindparam("new_error_message"),
            )
        )
        rows = [
            {
                "event_id": e.id,
                "new_outcome": e.outcome.value,
                "new_attempts": e.attempts,
                "new_processed_at": e.processed_at,
                "new_error_code": e.error_code,
                "new_error_message": e.error_message,
            }
            for e in events
        ]
        await self._session.execute(statement, rows)

    async def replay_failed(self, shop_id: str, code: str) -> int:
        # The index on (shop_id, outcome, received_at) finds the shop's FAILED events.
        statement = (
            update(webhook_events)
            .where(
                webhook_events.c.shop_id == shop_id,
                webhook_events.c.outcome == EventOutcome.FAILED.value,
                webhook_events.c.error_code == code,
            )
            .values(outcome=EventOutcome.PENDING.value, error_code=None, error_message=None, processed_at=None)
        )
        result = await self._session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def note_webhook_received(self, shop_id: str, at: datetime) -> None:
        await self._session.execute(
            update(shops)
            .where(shops.c.id == shop_id, or_(shops.c.last_webhook_at.is_(None), shops.c.last_webhook_at < at))
            .values(last_webhook_at=at)
        )

    async def shops_with_pending(
        self, received_before: datetime, limit: int, *, received_after: datetime | None = None, unread: bool = False
    ) -> list[str]:
        # With `received_after`: a range of the `received_at` index (the scheduler's look at the last minutes).
        query = (
            select(webhook_events.c.shop_id)
            .where(
                webhook_events.c.outcome == EventOutcome.PENDING.value,
                webhook_events.c.shop_id.is_not(None),
                webhook_events.c.received_at < received_before,
            )
            .distinct()
            .limit(limit)
        )
        if received_after is not None:
            query = query.where(webhook_events.c.received_at > received_after)
        if unread:
            query = query.where(webhook_events.c.attempts == 0)
        return [shop_id for shop_id in (await self._session.execute(query)).scalars() if shop_id is not None]

    async def delete_settled(self, received_before: datetime, limit: int) -> int:
        # Oldest first through the `received_at` index, a batch no other sweep holds (`adapters.db.retention`).
        def settled(events: FromClause) -> ColumnElement[bool]:
            return and_(events.c.outcome != EventOutcome.PENDING.value, events.c.received_at < received_before)

        return await delete_oldest(
            self._session, webhook_events, "id", settled, lambda events: events.c.received_at, limit
        )


def _to_row(event: WebhookEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "notification_key": event.notification_key,
        "type": event.type,
        "tiktok_shop_id": event.tiktok_shop_id,
        "shop_id": event.shop_id,
        "data": event.data,
        "notified_at": event.notified_at,
        "received_at": event.received_at,
        "processed_at": event.processed_at,
        "attempts": event.attempts,
        "outcome": event.outcome.value,
        "error_code": event.error_code,
        "error_message": event.error_message,
    }


def event_from_row(m: RowMapping) -> WebhookEvent:
    """A stored row as the domain event (the read side uses it too)."""
    key: str = m["notification_key"]
    return WebhookEvent(
        id=m["id"],
        notification_key=key,
        type=m["type"],
        tiktok_shop_id=m["tiktok_shop_id"],
        shop_id=m["shop_id"],
        data=m["data"],
        notified_at=m["notified_at"],
        received_at=m["received_at"],
        processed_at=m["processed_at"],
        attempts=m["attempts"],
        outcome=EventOutcome(m["outcome"]),
        error_code=m["error_code"],
        error_message=m["error_message"],
        tts_notification_id=key.removeprefix("tts:") if key.startswith("tts:") else None,
    )
