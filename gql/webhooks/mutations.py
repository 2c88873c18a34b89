"""`webhookEventReplay(input: {id})`: process one of the merchant's events again (idempotent by construction)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domain.errors import DomainError
from domain.services import intake
from gql import types as t
from gql.context import Info
from gql.descriptions import USER_ERRORS
from gql.errors import user_errors
from gql.ids import internal_id
from gql.webhooks.types import WebhookEventNode, webhook_event


@strawberry.input(description="Which stored webhook event to process again.")
class WebhookEventReplayInput:
    id: strawberry.ID = strawberry.field(description="The event's id (WebhookEvent.id).")


@strawberry.type(description="The event queued again, or why not.")
class WebhookEventReplayPayload:
    event: WebhookEventNode | None = strawberry.field(description="The event, PENDING again until a worker runs it.")
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="Process a stored webhook event again (e.g. a FAILED one once its cause is gone; one that "
        "FAILED with REAUTHORIZATION_REQUIRED is replayed by the shop's re-authorization itself). "
        "NOT_FOUND for another merchant's event or one of no connected shop."
    )
    async def webhook_event_replay(
        self, info: Info, input: Annotated[WebhookEventReplayInput, strawberry.argument(description="Which event.")]
    ) -> WebhookEventReplayPayload:
        s = info.context.services
        try:
            event_id = internal_id(input.id, "WebhookEvent", "id")
            event = await intake.replay_event(s.uow_factory, s.queue, info.context.require_merchant(), event_id)
        except DomainError as exc:
            return WebhookEventReplayPayload(event=None, user_errors=user_errors(exc))
        return WebhookEventReplayPayload(event=webhook_event(event), user_errors=[])
