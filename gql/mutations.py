"""Mutations: convert the input, call a use case, map the outcome; expected failures become `userErrors`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry

from domain.authorization import TooManyAuthorizationsError
from domain.errors import DomainError
from domain.services import shops as shop_services
from domain.services import sync as sync_services
from domain.shops import NameTakenError
from domain.sync import SyncKind as DomainSyncKind
from domain.sync import SyncTaskFinishedError
from gql import enums, mappers
from gql import types as t
from gql.context import Info
from gql.descriptions import USER_ERRORS
from gql.errors import user_errors
from gql.ids import internal_id, to_global_id
from gql.inputs import aware, bounded

MAX_STATE_LENGTH = 512
MAX_CODE_LENGTH = 4096
# domain.shops.parse_shop_name's rule, for both inputs that take a shop name.
SHOP_NAME_RULE = (
    "Custom name: trimmed, 1 to 64 characters as a user counts them (an emoji, a flag, a letter with its accents: "
    "one each; 64 emoji of any kind fit) and at most 1,024 Unicode code points (a letter may not carry hundreds of "
    "accents), not only spaces and invisible characters (U+200B, U+3164, U+2800 ...), no control characters, no "
    "zero-width character but within an emoji or a letter (U+200B, U+2060, U+FEFF, U+3164 ...; an emoji's joiner "
    "U+200D is fine), not starting with a combining mark (an accent with no letter before it), at most 30 combining "
    "marks in a row on one letter (Unicode's Stream-Safe Text Format, UAX #15); the rules SKUs share. Not the name of "
    "another of the merchant's shops, compared trimmed, in NFC and ignoring case (NAME_TAKEN)."
)


NAME_TAKEN_BY = "With NAME_TAKEN: the id (Shop.id) of the merchant's other shop that has this name; else null."


@strawberry.input(description="A new connection of a TikTok Shop: its region and the merchant's name for it.")
class ShopAuthorizationStartInput:
    region: enums.Region = strawberry.field(  # type: ignore[valid-type]
        description="Where the shop sells; TikTok's shop must be a local shop of this region (else REGION_MISMATCH)."
    )
    name: str = strawberry.field(description=SHOP_NAME_RULE)
    region_confirmed: bool = strawberry.field(
        description="The merchant confirms the shop is a local shop in a supported region."
    )
    push_enabled: bool | None = strawberry.field(
        default=True,
        description=(
            "The new shop's stock push (InventoryPolicy.pushEnabled) from its connection on. True (the default): its "
            "SKUs whose seller SKU matches one of the merchant's inventory items join that item at the import, and "
            "the pool's available replaces TikTok's stock of them (Shop.joinedSkuCount counts them). False: it starts "
            "with push off, so TikTok keeps its stock until the merchant turns push on (shopInventoryPolicyUpdate). "
            "Applied when the completion connects a new shop; a TikTok Shop already connected to the merchant "
            "(`alreadyConnected`) keeps its own policy, this value ignored. Null: INVALID_INPUT on pushEnabled."
        ),
    )


@strawberry.type(description="TikTok's consent URL to send the seller to, or why not.")
class ShopAuthorizationStartPayload:
    authorization_url: str | None = strawberry.field(description="Send the seller here to grant access.")
    expires_at: datetime | None = strawberry.field(description="UTC. The link (its state) is valid until then.")
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)
    retry_at: datetime | None = strawberry.field(
        default=None,
        description="With TOO_MANY_AUTHORIZATIONS: when (UTC) the oldest start still counted expires, and one more "
        "(re-)authorization may start; else null.",
    )
    name_taken_by: strawberry.ID | None = strawberry.field(
        default=None,
        description=NAME_TAKEN_BY,
    )


def name_taken_by(error: DomainError) -> strawberry.ID | None:
    """The id of the shop that holds the name a NAME_TAKEN refusal is about (`NameTakenError.taken_by`), else None."""
    if isinstance(error, NameTakenError) and error.taken_by is not None:
        return strawberry.ID(to_global_id("Shop", error.taken_by.shop_id))
    return None


def _too_many_authorizations(exc: TooManyAuthorizationsError) -> ShopAuthorizationStartPayload:
    """The refusal of a (re-)authorization start past SHOPBRIDGE_MAX_AUTHORIZATION_STARTS, with its `retryAt`."""
    return ShopAuthorizationStartPayload(
        authorization_url=None, expires_at=None, user_errors=user_errors(exc), retry_at=exc.retry_at
    )


@strawberry.input(description="What TikTok's redirect to Shopbridge's callback carried (tiktok-api.md §2).")
class ShopAuthorizationCompleteInput:
    state: str = strawberry.field(
        description="The redirect's `state`, as the authorization start issued it (at most 512 characters)."
    )
    code: str | None = strawberry.field(
        default=None,
        description="The redirect's `code`: TikTok's single-use authorization code (at most 4,096 characters); null "
        "when the seller declined.",
    )
    error: str | None = strawberry.field(
        default=None,
        description="The redirect's `error` when the seller declined, e.g. auth_denied (at most 4,096 characters).",
    )


@strawberry.type(description="The shop connected or re-authorized, or why not.")
class ShopAuthorizationCompletePayload:
    shop: t.Shop | None = strawberry.field(description="The shop, connected or renewed; null with userErrors.")
    reauthorized: bool | None = strawberry.field(description="True when an existing shop's tokens were renewed.")
    already_connected: bool | None = strawberry.field(
        description=(
            "True when this authorization was started as a new connection (shopAuthorizationStart, the console's "
            "Add store) and the TikTok Shop was already connected to this merchant: it was re-authorized "
            "(`reauthorized` is true too), its data kept, nothing connected twice, and no new import but, as for any "
            "re-authorization, a new run of each import a lost authorization failed (README, The GraphQL API); it "
            "takes the name typed at the start (`previousName` says the name it had). False for a new shop and for a "
            "re-authorization started as one (shopReauthorizationStart); null with userErrors."
        )
    )
    previous_name: str | None = strawberry.field(
        description=(
            "The shop's custom name before this completion, when it changed it: Add store on a TikTok Shop already "
            "connected under another name (`alreadyConnected`) renames it to the name typed there. Null otherwise."
        )
    )
    already_completed: bool | None = strawberry.field(
        description=(
            "True when this was a repeat, by the same merchant, of a completion of the same `state` that had already "
            "connected or renewed the shop (a double-submitted callback, a second tab, a retry whose answer was "
            "lost): nothing was done again, the state stays spent and its code is not exchanged twice, and `shop` is "
            "that shop as it is now (`reauthorized` says how the authorization was started). False otherwise; null "
            "with userErrors. A repeat while the first is still under way, or after it failed, is INVALID_STATE."
        )
    )
    requested_name: str | None = strawberry.field(
        default=None,
        description=(
            "The name typed at the start, when another of the merchant's shops took it before this completion (a "
            'rename or another Add store meanwhile): the shop was connected under it with a number, "Name (2)" '
            "(the next one free), rather than refused after the seller's consent; rename it at will. Null otherwise."
        ),
    )
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="Which shop to re-authorize.")
class ShopReauthorizationStartInput:
    shop_id: strawberry.ID = strawberry.field(description="The shop's id (Shop.id).")


@strawberry.input(description="A shop and its new custom name.")
class ShopRenameInput:
    shop_id: strawberry.ID = strawberry.field(description="The shop's id (Shop.id).")
    name: str = strawberry.field(description=SHOP_NAME_RULE)


@strawberry.type(description="The renamed shop, or why not.")
class ShopRenamePayload:
    shop: t.Shop | None = strawberry.field(description="The shop as renamed; null with userErrors.")
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)
    name_taken_by: strawberry.ID | None = strawberry.field(default=None, description=NAME_TAKEN_BY)


@strawberry.input(description="Which shop to delete.")
class ShopDeleteInput:
    shop_id: strawberry.ID = strawberry.field(description="The shop's id (Shop.id).")


@strawberry.type(description="The id of the shop deleted, or why not.")
class ShopDeletePayload:
    deleted_shop_id: strawberry.ID | None = strawberry.field(
        description="The deleted shop's id, as `shopsDeleted` sends it; null with userErrors."
    )
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input(description="A shop and the kinds to import.")
class SyncStartInput:
    shop_id: strawberry.ID = strawberry.field(description="The shop's id (Shop.id).")
    kinds: list[enums.SyncKind] = strawberry.field(  # type: ignore[valid-type]
        description="PRODUCTS, ORDERS or both: one task each, all or none started."
    )
    orders_created_since: datetime | None = strawberry.field(
        default=None,
        description=(
            "Import orders created since then (at most 90 days back; default 30). No offset means UTC. ORDERS only: "
            "with no ORDERS among kinds, INVALID_SYNC_WINDOW."
        ),
    )


@strawberry.type(description="The tasks started, or why none was.")
class SyncStartPayload:
    tasks: list[t.SyncTask] = strawberry.field(
        description="The tasks started (QUEUED), in the order of `kinds`; with SYNC_ALREADY_RUNNING, the running ones."
    )
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)
    retry_at: datetime | None = strawberry.field(
        default=None,
        description="With TOO_MANY_SYNC_STARTS: when (UTC) every kind asked for may be started again; else null.",
    )


@strawberry.input(description="Which sync task to stop.")
class SyncTaskCancelInput:
    task_id: strawberry.ID = strawberry.field(description="The task's id (SyncTask.id).")


@strawberry.type(description="The task asked to stop, or why not.")
class SyncTaskCancelPayload:
    task: t.SyncTask | None = strawberry.field(
        description="The task, cancelRequested (or CANCELLED if it was QUEUED); with SYNC_TASK_FINISHED, as it ended."
    )
    user_errors: list[t.UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Begin connecting a TikTok Shop: returns TikTok's consent URL, or every field's error at once "
        "in userErrors (REGION_NOT_CONFIRMED on regionConfirmed, UNSUPPORTED_REGION on region, INVALID_NAME on "
        "name, INVALID_INPUT on pushEnabled given as null, in that order); then NAME_TAKEN (with "
        "`nameTakenBy`) when another of the merchant's shops has the name; then TOO_MANY_AUTHORIZATIONS when the "
        "merchant has started as many (re-)authorizations as allowed (SHOPBRIDGE_MAX_AUTHORIZATION_STARTS, 20 by "
        "default) within the last 30 minutes and not completed them (pending, denied or failed: completing one, a "
        "shop connected or renewed, frees its place), or ten times as many completed or not, with `retryAt`."
    )
    async def shop_authorization_start(
        self,
        info: Info,
        input: Annotated[
            ShopAuthorizationStartInput,
            strawberry.argument(description="The shop's region and name, and the merchant's confirmation."),
        ],
    ) -> ShopAuthorizationStartPayload:
        s = info.context.services
        try:
            started = await shop_services.start_authorization(
                s.uow_factory,
                s.tiktok,
                s.clock,
                info.context.require_merchant(),
                input.region,
                input.name,
                input.region_confirmed,
                max_starts=s.settings.max_authorization_starts,
                push_enabled=input.push_enabled,
            )
        except TooManyAuthorizationsError as exc:
            return _too_many_authorizations(exc)
        except DomainError as exc:  # every field's refusal at once (domain.authorization.AuthorizationRequest.start)
            return ShopAuthorizationStartPayload(
                authorization_url=None, expires_at=None, user_errors=user_errors(exc), name_taken_by=name_taken_by(exc)
            )
        return ShopAuthorizationStartPayload(
            authorization_url=started.authorization_url, expires_at=started.expires_at, user_errors=[]
        )

    @strawberry.mutation(
        description="Finish an authorization with what TikTok's redirect carried: the shop connected (its products "
        "and orders imported: two AUTHORIZATION tasks) or renewed (its polls due at once, and a REAUTHORIZATION "
        "task for each kind whose newest import failed REAUTHORIZATION_REQUIRED: README, The GraphQL API). "
        "userErrors: INVALID_INPUT (on code) when neither code nor error is given (nothing spent); INVALID_STATE (on "
        "state) for a state unknown, another merchant's, used or expired; NOT_FOUND (on state) for a "
        "re-authorization whose shop was deleted since; AUTHORIZATION_DENIED (the seller declined, or TikTok "
        "refused the code); AUTHORIZATION_UNCONFIRMED (TikTok's answer to the code exchange was lost: authorize "
        "again); TIKTOK_UNAVAILABLE, TIKTOK_REJECTED; the shop's rules: UNSUPPORTED_REGION, CROSS_BORDER_SHOP, "
        "REGION_MISMATCH, SHOP_MISMATCH, SHOP_ALREADY_CONNECTED (another merchant's shop)."
    )
    async def shop_authorization_complete(
        self,
        info: Info,
        input: Annotated[
            ShopAuthorizationCompleteInput, strawberry.argument(description="What TikTok's redirect carried.")
        ],
    ) -> ShopAuthorizationCompletePayload:
        s = info.context.services
        try:
            outcome = await shop_services.complete_authorization(
                s.uow_factory,
                s.tiktok,
                s.queue,
                s.clock,
                state=bounded(input.state, MAX_STATE_LENGTH, "state") or "",
                code=bounded(input.code, MAX_CODE_LENGTH, "code"),
                error=bounded(input.error, MAX_CODE_LENGTH, "error"),
                merchant_id=info.context.require_merchant(),
                events=s.events,
            )
        except DomainError as exc:
            return ShopAuthorizationCompletePayload(
                shop=None,
                reauthorized=None,
                already_connected=None,
                previous_name=None,
                already_completed=None,
                user_errors=user_errors(exc),
            )
        return ShopAuthorizationCompletePayload(
            shop=mappers.shop(outcome.shop, s.clock.now()),
            reauthorized=outcome.reauthorized,
            already_connected=outcome.already_connected,
            previous_name=outcome.previous_name,
            already_completed=outcome.already_completed,
            requested_name=outcome.requested_name,
            user_errors=[],
        )

    @strawberry.mutation(
        description="Renew a shop's authorization before it expires: returns the consent URL. NOT_FOUND for no "
        "such shop, TOO_MANY_AUTHORIZATIONS (with `retryAt`) as shopAuthorizationStart."
    )
    async def shop_reauthorization_start(
        self,
        info: Info,
        input: Annotated[ShopReauthorizationStartInput, strawberry.argument(description="Which shop.")],
    ) -> ShopAuthorizationStartPayload:
        s = info.context.services
        try:
            shop_id = internal_id(input.shop_id, "Shop", "shopId")
            started = await shop_services.start_reauthorization(
                s.uow_factory, s.tiktok, s.clock, info.context.require_merchant(), shop_id,
                max_starts=s.settings.max_authorization_starts,
            )  # fmt: skip
        except TooManyAuthorizationsError as exc:
            return _too_many_authorizations(exc)
        except DomainError as exc:
            return ShopAuthorizationStartPayload(authorization_url=None, expires_at=None, user_errors=user_errors(exc))
        return ShopAuthorizationStartPayload(
            authorization_url=started.authorization_url, expires_at=started.expires_at, user_errors=[]
        )

    @strawberry.mutation(
        description="Change the custom name of a shop: NOT_FOUND, INVALID_NAME, or NAME_TAKEN (with `nameTakenBy`) "
        "when another of the merchant's shops has the name in any case and spacing."
    )
    async def shop_rename(
        self,
        info: Info,
        input: Annotated[ShopRenameInput, strawberry.argument(description="The shop and its new name.")],
    ) -> ShopRenamePayload:
        s = info.context.services
        try:
            shop_id = internal_id(input.shop_id, "Shop", "shopId")
            shop = await shop_services.rename_shop(
                s.uow_factory, info.context.require_merchant(), shop_id, input.name, s.events
            )
        except DomainError as exc:
            return ShopRenamePayload(shop=None, user_errors=user_errors(exc), name_taken_by=name_taken_by(exc))
        return ShopRenamePayload(shop=mappers.shop(shop, s.clock.now()), user_errors=[])

    @strawberry.mutation(
        description="Remove a shop and every order, product and inventory record of it in Shopbridge; "
        "nothing at TikTok changes. In the inventory pool: its links and reservations, and every item only it "
        "linked that the merchant never created, counted (set or adjusted) or gave a safety stock by hand (an item "
        "created from one of its SKUs with its on hand left to TikTok's stock, `inventoryItemCreate` with `skuId` and "
        'no `onHand`, goes too: it holds only what that stock seeded, README "Shared inventory pool"). '
        "NOT_FOUND (shopId) for no such shop of the merchant."
    )
    async def shop_delete(
        self, info: Info, input: Annotated[ShopDeleteInput, strawberry.argument(description="Which shop.")]
    ) -> ShopDeletePayload:
        s = info.context.services
        try:
            shop_id = internal_id(input.shop_id, "Shop", "shopId")
            await shop_services.delete_shop(
                s.uow_factory, s.clock, info.context.require_merchant(), shop_id, events=s.events, queue=s.queue,
                hold_horizon=timedelta(seconds=s.settings.hold_horizon_seconds),
            )  # fmt: skip
        except DomainError as exc:
            return ShopDeletePayload(deleted_shop_id=None, user_errors=user_errors(exc))
        return ShopDeletePayload(deleted_shop_id=input.shop_id, user_errors=[])

    @strawberry.mutation(
        description="Start importing a shop's products and/or orders: all the kinds given, or none. NOT_FOUND "
        "(shopId) for no such shop of the merchant; INVALID_INPUT (kinds) for none or one twice; INVALID_SYNC_WINDOW "
        "(ordersCreatedSince) for a window in the future, more than 90 days back, or without ORDERS; "
        "REAUTHORIZATION_REQUIRED for a shop revoked or expired. When a task of "
        "any of them is already queued or running, nothing starts (not even the idle kinds): SYNC_ALREADY_RUNNING, "
        "naming every such kind, with their running tasks in `tasks` (in the order given). Then, when any of them "
        "was already started by hand as many times as allowed within the last hour: TOO_MANY_SYNC_STARTS, with "
        "`retryAt`. Automatic imports and polls neither count nor are refused. The tasks started are QUEUED even "
        "when the job queue cannot take them (Redis down): they are sent at the scheduler's first tick once it is "
        "back (seconds)."
    )
    async def sync_start(
        self,
        info: Info,
        input: Annotated[
            SyncStartInput, strawberry.argument(description="The shop, the kinds and the orders' window.")
        ],
    ) -> SyncStartPayload:
        s = info.context.services
        try:
            shop_id = internal_id(input.shop_id, "Shop", "shopId")
            tasks = await sync_services.start_sync(
                s.uow_factory,
                s.queue,
                s.events,
                s.clock,
                info.context.require_merchant(),
                shop_id,
                [DomainSyncKind(k) for k in input.kinds],
                aware(input.orders_created_since),
                max_starts=s.settings.max_sync_starts_per_hour,
            )
        except sync_services.SyncAlreadyRunningError as exc:
            return SyncStartPayload(tasks=[mappers.sync_task(t) for t in exc.tasks], user_errors=user_errors(exc))
        except sync_services.TooManySyncStartsError as exc:
            return SyncStartPayload(tasks=[], user_errors=user_errors(exc), retry_at=exc.retry_at)
        except DomainError as exc:
            return SyncStartPayload(tasks=[], user_errors=user_errors(exc))
        return SyncStartPayload(tasks=[mappers.sync_task(task) for task in tasks], user_errors=[])

    @strawberry.mutation(
        description="Stop a queued or running sync task at its next page. NOT_FOUND for another merchant's task or one "
        "of a deleted shop; SYNC_TASK_FINISHED for one that has ended, with `task` as it ended (no second read needed)."
    )
    async def sync_task_cancel(
        self, info: Info, input: Annotated[SyncTaskCancelInput, strawberry.argument(description="Which task.")]
    ) -> SyncTaskCancelPayload:
        s = info.context.services
        try:
            task_id = internal_id(input.task_id, "SyncTask", "taskId")
            task = await sync_services.cancel_task(
                s.uow_factory, s.events, s.clock, info.context.require_merchant(), task_id
            )
        except SyncTaskFinishedError as exc:
            return SyncTaskCancelPayload(task=mappers.sync_task(exc.task), user_errors=user_errors(exc))
        except DomainError as exc:
            return SyncTaskCancelPayload(task=None, user_errors=user_errors(exc))
        return SyncTaskCancelPayload(task=mappers.sync_task(task), user_errors=[])
