"""`webhookEvents(shopId, first, after)`: the inbox of one of the merchant's shops."""

from __future__ import annotations

from typing import Annotated

import strawberry

from adapters.db import webhook_queries
from gql import types as t
from gql.context import Info
from gql.descriptions import After, First
from gql.errors import BadRequestError
from gql.ids import from_global_id
from gql.readers import connection_page, page_size, wants_total
from gql.webhooks.types import WebhookEventNode, webhook_event


async def event_by_id(info: Info, event_id: str) -> WebhookEventNode | None:
    """One of the merchant's events, or None."""
    async with info.context.services.db.read_sessionmaker() as session:
        found = await webhook_queries.webhook_events_by_ids(session, info.context.require_merchant(), [event_id])
    read = found.get(event_id)
    return webhook_event(read.event) if read else None


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        description="Webhook events TikTok pushed for one of the merchant's shops, newest first (by receipt). "
        "`first` is 1 to 100 (default 20). Another merchant's shop, or no shop, gives an empty connection."
    )
    async def webhook_events(
        self,
        info: Info,
        shop_id: Annotated[strawberry.ID, strawberry.argument(description="The shop's id (Shop.id).")],
        first: First = 20,
        after: After = None,
    ) -> t.Connection[WebhookEventNode]:
        merchant_id = info.context.require_merchant()
        size = page_size(first)
        if after is not None and (not after or len(after) > 500):
            raise BadRequestError("after is not a cursor from this API.")
        parsed = from_global_id(shop_id)
        if parsed is None or parsed[0] != "Shop":
            return t.connection([], False, 0)
        return await connection_page(
            info,
            lambda session: webhook_queries.webhook_event_page(
                session, merchant_id, parsed[1], size, after, with_total=wants_total(info)
            ),
            lambda r: webhook_event(r.event),
        )
