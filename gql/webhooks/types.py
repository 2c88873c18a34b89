"""GraphQL types of the webhook inbox: DTOs built from `domain.intake.WebhookEvent`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.intake import EventOutcome, MalformedEventError, WebhookEvent
from gql import descriptions as d
from gql import types as t
from gql.context import Info

WebhookEventOutcome = d.enum(
    EventOutcome,
    {
        EventOutcome.PENDING: "Stored, not processed yet (or retried: see errorCode).",
        EventOutcome.PROCESSED: "Acted on (e.g. the order it named fetched again from TikTok and stored).",
        EventOutcome.IGNORED: "Not acted on: a type Shopbridge does not act on, no connected shop, or a notice sent "
        "before the shop's current authorization.",
        EventOutcome.FAILED: "Could not be processed (see errorCode); webhookEventReplay runs it again.",
    },
    name="WebhookEventOutcome",
    description="PENDING until a worker processed it; PROCESSED; IGNORED (a type Shopbridge does not act on, no "
    "connected shop, or a notice sent before the shop's current authorization); FAILED (see errorCode).",
)


@strawberry.type(name="WebhookEvent", description="A notification TikTok pushed to Shopbridge's webhook endpoint.")
class WebhookEventNode(t.Node):
    id: strawberry.ID = strawberry.field(description="Global, opaque id of the event.")
    type: int = strawberry.field(description="TikTok's numeric type (1 order status, 6 deauthorization, ...).")
    event_type: str | None = strawberry.field(description="TikTok's name of the type, e.g. ORDER_STATUS_CHANGE.")
    received_at: datetime = strawberry.field(description="UTC. When Shopbridge's webhook endpoint stored it.")
    notified_at: datetime | None = strawberry.field(
        description="TikTok's push time (the envelope's timestamp); null when unknown: absent, 0 (TikTok's zero "
        "value), negative, not Unix seconds up to the year 9999, or more than 15 minutes after its receipt by "
        "Shopbridge's clock (a push cannot be sent after it arrives). The event is then dated by its receipt."
    )
    processed_at: datetime | None = strawberry.field(
        description="UTC. When a worker last finished with it (PROCESSED, IGNORED or FAILED); null while PENDING."
    )
    outcome: WebhookEventOutcome = strawberry.field(description="Where it stands.")  # type: ignore[valid-type]
    attempts: int = strawberry.field(description="Processing runs so far.")
    error_code: str | None = strawberry.field(
        description="Why it was IGNORED or FAILED (or, while PENDING, why the last run did not finish): "
        "UNKNOWN_SHOP, MALFORMED_EVENT, ORDER_NOT_FOUND and PRODUCT_NOT_FOUND (TikTok does not have the record, "
        "however it was batched; for orders, the event stays PENDING with ORDER_NOT_FOUND and is retried for 15 "
        "minutes after its receipt, as TikTok may not serve a new order yet, then FAILED; for products, only one "
        "the shop never stored: a stored product Get Product no "
        "longer serves, as TikTok serves no FREEZE or DELETED one, is looked for with Search Products and stored as "
        "listed there, or DELETED when listed nowhere, and the event is PROCESSED), TIKTOK_ERROR (TikTok refused "
        "the call otherwise), UNREADABLE_RECORD, REAUTHORIZATION_REQUIRED, TIKTOK_UNAVAILABLE; STALE_ORDER (an "
        "order status change whose order TikTok served older than its data.update_time, or as of that time in a "
        "status before its data.order_status in TikTok's order life: PENDING and retried for "
        "15 minutes after its receipt, then PROCESSED with the version served, the newer one left to the order "
        "poll)."
    )
    error_message: str | None = strawberry.field(
        description="The reason in words when IGNORED or FAILED, or while PENDING why the last run did not finish "
        "(with TikTok's code and message when it refused a call; for an order awaited, until when it is retried); "
        "when PROCESSED, what was applied for a "
        "product Get Product no longer serves (e.g. 'Search Products lists it DELETED: stored DELETED with its SKUs, "
        "out of the pool'), else null."
    )
    order_ids: list[str] = strawberry.field(description="TikTok order ids the event named (re-fetched).")
    product_id: str | None = strawberry.field(description="The TikTok product id the event named (re-fetched).")
    shop_internal_id: strawberry.Private[str]

    @strawberry.field(description="The shop it is for; null when no connected shop of the merchant is.")
    async def shop(self, info: Info) -> t.Shop | None:
        return await info.context.loaders.shop.load(self.shop_internal_id)


def webhook_event(event: WebhookEvent) -> WebhookEventNode:
    try:
        meaning = event.meaning()
        order_ids, product_ids = list(meaning.order_ids), list(meaning.product_ids)
    except MalformedEventError:
        order_ids, product_ids = [], []
    return WebhookEventNode(
        id=t.global_id("WebhookEvent", event.id),
        type=event.type,
        event_type=event.event_type,
        received_at=event.received_at,
        notified_at=event.notified_at,
        processed_at=event.processed_at,
        outcome=event.outcome,
        attempts=event.attempts,
        error_code=None if event.error_code is None else str(event.error_code),
        error_message=event.error_message,
        order_ids=order_ids,
        product_id=product_ids[0] if product_ids else None,
        shop_internal_id=event.shop_id or "",
    )
