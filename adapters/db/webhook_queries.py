"""Read side of the webhook inbox for GraphQL: merchant-scoped, keyset-paginated by (received_at, id), newest first."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.cursors import decode_cursor, encode_cursor
from adapters.db.read_models import Page
from adapters.db.repositories.webhook_events import event_from_row
from adapters.db.tables import UTCDateTime, shops, webhook_events
from domain.intake import WebhookEvent


@dataclass(frozen=True, slots=True)
class WebhookEventRead:
    event: WebhookEvent

    @property
    def cursor(self) -> str:
        return encode_cursor("webhook_events", self.event.received_at, self.event.id)


async def webhook_event_page(
    session: AsyncSession, merchant_id: str, shop_id: str, first: int, after: str | None = None, *, with_total: bool
) -> Page[WebhookEventRead]:
    """A shop's events, newest first; empty when the shop is not the merchant's."""
    owned = select(shops.c.id).where(shops.c.id == shop_id, shops.c.merchant_id == merchant_id).exists()
    where = and_(webhook_events.c.shop_id == shop_id, owned)
    query = select(webhook_events).where(where)
    if after is not None:
        at, row_id = decode_cursor(after, "webhook_events")
        bound = tuple_(literal(at, UTCDateTime), literal(row_id, webhook_events.c.id.type))
        query = query.where(tuple_(webhook_events.c.received_at, webhook_events.c.id) < bound)
    query = query.order_by(webhook_events.c.received_at.desc(), webhook_events.c.id.desc()).limit(first + 1)
    rows = list((await session.execute(query)).mappings())
    total = None
    if with_total:
        count = select(func.count()).select_from(webhook_events).where(where)
        total = int((await session.execute(count)).scalar_one())
    items = tuple(WebhookEventRead(event_from_row(r)) for r in rows[:first])
    return Page(items, len(rows) > first, total)


async def webhook_events_by_ids(
    session: AsyncSession, merchant_id: str, ids: Collection[str]
) -> dict[str, WebhookEventRead]:
    if not ids:
        return {}
    owned = select(shops.c.id).where(shops.c.merchant_id == merchant_id)
    query = select(webhook_events).where(webhook_events.c.id.in_(list(ids)), webhook_events.c.shop_id.in_(owned))
    return {r["id"]: WebhookEventRead(event_from_row(r)) for r in (await session.execute(query)).mappings()}
