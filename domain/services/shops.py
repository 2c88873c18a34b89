"""Store management: start and complete (re-)authorizations, rename and delete shops."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.authorization import (
    ALREADY_USED,
    COMPLETED_STARTS_FACTOR,
    DEFAULT_MAX_STARTS,
    REAUTHORIZED_SHOP_DELETED,
    STATE,
    AuthorizationPurpose,
    AuthorizationRequest,
    check_room,
    state_digest,
)
from domain.clock import Clock
from domain.errors import DomainError, ErrorCode, NotFoundError, ValidationError
from domain.intake import EventError
from domain.inventory_push import DEFAULT_HOLD_HORIZON
from domain.ports import (
    AuthorizationLostError,
    EventPublisher,
    GatewayError,
    GatewayRefusedError,
    OutcomeUnknownError,
    ShopNameRaceLostError,
    TaskQueue,
    TikTokAuthGateway,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.services import inventory
from domain.services.conflicts import run_again_on_conflict
from domain.services.sync import (
    publish_quietly,
    publish_shop_quietly,
    queue_authorization_sync,
    rerun_failed_imports,
)
from domain.shops import (
    NameTakenError,
    Region,
    Shop,
    ShopStatus,
    choose_authorized_shop,
    connect_or_renew,
    ensure_name_free,
    numbered_shop_name,
    parse_shop_name,
)
from domain.sync import SyncTask

log = logging.getLogger(__name__)
# A shop in these states could not be pushed: its re-authorization re-bases the push fence (`request_rebase`)
PUSH_STOPPED = (ShopStatus.REVOKED, ShopStatus.EXPIRED)
# How many times a rename or a connect runs again after losing the race for its name on PostgreSQL
# (`ShopNameRaceLostError`): each run looks at the names committed since, so the next finds the winner.
NAME_RACE_RUNS = 3
AUTHORIZATION_UNCONFIRMED_MESSAGE = (
    "TikTok did not answer the authorization in time, so whether it went through is unknown; please authorize again."
)


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    authorization_url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AuthorizationOutcome:
    """A completed authorization: the shop as it is now; `reauthorized` when an existing shop's tokens were renewed
    (Re-authorize, or a connect that found it); `already_connected` when a connect (Add store) found the TikTok shop
    already connected to this merchant and re-authorized it instead (`domain.shops.connect_or_renew`);
    `previous_name` the shop's name before such a connect renamed it to the name typed, None when it kept its name;
    `already_completed` when this was a repeat of a completion that had connected or renewed the shop (nothing done
    again: `AuthorizationRequest.completed_for`); `requested_name` the name typed at the start when another of the
    merchant's shops took it before the completion, so that the shop got it with a number (`_free_name`), else None.
    """

    shop: Shop
    reauthorized: bool
    already_connected: bool = False
    previous_name: str | None = None
    already_completed: bool = False
    requested_name: str | None = None


async def start_authorization(
    uow_factory: UnitOfWorkFactory,
    tiktok: TikTokAuthGateway,
    clock: Clock,
    merchant_id: str,
    region: Region | None,
    name: str,
    region_confirmed: bool,
    max_starts: int = DEFAULT_MAX_STARTS,
    push_enabled: bool | None = True,
) -> AuthorizationStart:
    """Record a pending CONNECT request and return TikTok's consent URL carrying its state. `push_enabled`: whether
    the shop it connects starts with stock push on (the default) or off (`AuthorizationRequest.starting_policy`,
    applied by `complete_authorization` to a new shop only; a TikTok shop already connected keeps its policy). The
    input's refusals first (`AuthorizationRequest.start`; INVALID_INPUT on `pushEnabled` for None), then
    TOO_MANY_AUTHORIZATIONS when the merchant has `max_starts` requests that have not expired nor been completed (a
    completion that connected or renewed a shop frees its place), or 10 times that completed or not
    (`domain.authorization.check_room`): `TooManyAuthorizationsError`, with `retry_at`. Before the room, NAME_TAKEN
    (`NameTakenError`, on `name`, naming the shop) when another of the merchant's shops has the name
    (`domain.shops.folded_shop_name`: trimmed, NFC, caseless): Add store would otherwise give two shops one name. A
    name taken after this check is the completion's to settle (`_free_name`)."""
    now = clock.now()
    request, state = AuthorizationRequest.start(merchant_id, region, name, region_confirmed, now, push_enabled)
    async with uow_factory() as uow:
        ensure_name_free(await uow.shops.holder_of_name(merchant_id, request.name), adding=True)
        await _check_room(uow, merchant_id, now, max_starts)
        await uow.authorizations.add(request)
        await uow.commit()
    return AuthorizationStart(tiktok.authorization_url(state), request.expires_at)


async def start_reauthorization(
    uow_factory: UnitOfWorkFactory,
    tiktok: TikTokAuthGateway,
    clock: Clock,
    merchant_id: str,
    shop_id: str,
    max_starts: int = DEFAULT_MAX_STARTS,
) -> AuthorizationStart:
    """Record a pending REAUTHORIZE request for one of the merchant's shops: NOT_FOUND (on `shopId`) for no such
    shop, then TOO_MANY_AUTHORIZATIONS as `start_authorization` (the same count, the same limit)."""
    now = clock.now()
    async with uow_factory() as uow:
        shop = await uow.shops.get(shop_id, merchant_id)
        if shop is None:
            raise NotFoundError("Shop", ("shopId",))
        await _check_room(uow, merchant_id, now, max_starts)
        request, state = AuthorizationRequest.start_reauthorization(merchant_id, shop.id, shop.region, shop.name, now)
        await uow.authorizations.add(request)
        await uow.commit()
    return AuthorizationStart(tiktok.authorization_url(state), request.expires_at)


def declined_message(request: AuthorizationRequest) -> str:
    """AUTHORIZATION_DENIED's message when the seller declined on TikTok's consent page (`error` in the redirect):
    for a re-authorization it names the shop as it was named when Re-authorize was pressed (`request.name`) and says
    that nothing changed on it (tryout65: the console said "nothing was connected" of a shop that is connected and
    keeps its authorization as it was); for Add store, that nothing was connected."""
    if request.purpose is AuthorizationPurpose.REAUTHORIZE:
        return (
            f"The authorization was declined on TikTok, so “{request.name}” was not re-authorized: nothing was changed "
            "on the shop. Press Re-authorize again to renew its authorization."
        )
    return "The authorization was declined on TikTok, so nothing was connected."


async def complete_authorization(
    uow_factory: UnitOfWorkFactory,
    tiktok: TikTokAuthGateway,
    queue: TaskQueue,
    clock: Clock,
    state: str,
    code: str | None,
    error: str | None,
    merchant_id: str,
    events: EventPublisher | None = None,
) -> AuthorizationOutcome:
    """Finish the OAuth round trip: spend the state, exchange the code, check the shop, connect or renew it.

    `merchant_id` is the merchant completing it under its own token: the state must be its own (RFC 6749 sec.
    10.12: TikTok's browser redirect carries no login, and the browser approving need not be the merchant's, so the
    callback completes nothing and hands the code on). Another merchant's try leaves the state unspent. Codes:
    INVALID_STATE (on `state`), AUTHORIZATION_DENIED (the seller declined, or TikTok refused the code),
    AUTHORIZATION_UNCONFIRMED (TikTok's answer to the code exchange was lost, e.g. a timeout: the single-use code
    may be spent, tiktok-api.md sec. 2; the merchant authorizes again), TIKTOK_REJECTED, TIKTOK_UNAVAILABLE, and the
    shop rules' codes.
    A new shop starts with the push policy chosen at the start (`AuthorizationRequest.starting_policy`: push off
    when `pushEnabled: false` was given), stored in the transaction that adds it, before its import links anything;
    a connect that renews a shop already connected, and a re-authorization, leave its policy as it is.
    INVALID_INPUT (on `code`) when neither `code` nor `error` is given, before the state is looked at: a malformed
    call spends nothing, so the same redirect's completion with its code still works. NOT_FOUND (on `state`) for a
    re-authorization whose shop was deleted since it started, before the code is exchanged (the state is spent).
    A re-authorization, and a connect that renews the merchant's own shop, run again in their transaction each
    import a lost authorization FAILED (REAUTHORIZATION_REQUIRED) and nothing has run since (`rerun_failed_imports`,
    `domain.sync.rerun_after_reauthorization`: tryout69 F1), sent after the commit.
    """
    if not code and not error:  # a malformed completion spends nothing: the merchant's link still works
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            "Give the code or the error that TikTok's redirect carried with the state (this completion has neither).",
            ("code",),
        )
    if code and (repeated := await _completed_before(uow_factory, state, merchant_id)) is not None:
        return repeated
    request = await _spend_state(uow_factory, clock, state, merchant_id)
    if request.purpose is AuthorizationPurpose.REAUTHORIZE:
        request.shop_to_reauthorize()  # its shop deleted since: NOT_FOUND, before TikTok is asked anything
    if error:
        raise DomainError(ErrorCode.AUTHORIZATION_DENIED, declined_message(request))
    assert code  # for mypy: neither-given was refused above
    try:
        tokens = await tiktok.exchange_code(code)
        granted = choose_authorized_shop(
            await tiktok.authorized_shops(tokens.access_token), request.region,
            reauthorizing=request.purpose is AuthorizationPurpose.REAUTHORIZE,
        )  # fmt: skip
    except AuthorizationLostError as exc:
        raise DomainError(
            ErrorCode.AUTHORIZATION_DENIED, "TikTok did not accept the authorization; please authorize again."
        ) from exc
    except OutcomeUnknownError as exc:  # the code may be spent, and its tokens lost: only a new consent can help
        log.warning("tiktok's answer to an authorization's code exchange was lost: %s", exc)
        raise DomainError(ErrorCode.AUTHORIZATION_UNCONFIRMED, AUTHORIZATION_UNCONFIRMED_MESSAGE) from exc
    except GatewayRefusedError as exc:  # e.g. our app key or signature refused: trying again cannot help
        log.warning("tiktok refused a request while completing an authorization: %s", exc)
        raise DomainError(ErrorCode.TIKTOK_REJECTED, f"TikTok refused the authorization's request: {exc}") from exc
    except GatewayError as exc:
        log.warning("tiktok unavailable while completing an authorization (request_id=%s)", exc.request_id)
        raise DomainError(ErrorCode.TIKTOK_UNAVAILABLE, "TikTok is not reachable right now; try again.") from exc

    now = clock.now()
    if request.purpose is AuthorizationPurpose.REAUTHORIZE:
        async with uow_factory() as uow:
            shop = await uow.shops.get(request.shop_to_reauthorize(), request.merchant_id)
            if shop is None:  # deleted while TikTok answered
                raise DomainError(ErrorCode.NOT_FOUND, REAUTHORIZED_SHOP_DELETED, STATE)
            stopped = shop.status(now) in PUSH_STOPPED
            shop.reauthorize(granted, tokens, now)
            await uow.shops.update(shop)
            if stopped:  # its pushes could not run: the fence is re-based before the first (tryout63 F1)
                await _rebase_push(uow, shop.id, now)
            await uow.poll_cursors.make_due(shop.id)  # catch up now on what changed while it could not sync
            await _replay_failed_events(uow, queue, shop.id)
            await rerun_failed_imports(uow, uow_factory, queue, events, shop, now, "re-authorized")
            _register_webhooks_after_commit(uow, queue, shop.id)
            _push_stock_after_commit(uow, queue, shop.id)
            await uow.authorizations.mark_completed(request.state_digest, now, shop.id)  # frees its start's place
            await uow.commit()
        await publish_shop_quietly(events, shop)
        return AuthorizationOutcome(shop, reauthorized=True)

    name_races = connect_races = 0
    while True:
        try:
            async with uow_factory() as uow:
                existing = await uow.shops.get_by_tiktok_shop_id(granted.tiktok_shop_id)
                known_as = existing.name if existing is not None else None  # before connect_or_renew renames it
                stopped = existing is not None and existing.status(now) in PUSH_STOPPED
                other_than = existing.id if existing is not None and existing.merchant_id == merchant_id else None
                name = await _free_name(uow, request.merchant_id, request.name, other_than)
                shop, renewed = connect_or_renew(
                    existing, request.merchant_id, name, request.region, granted, tokens, now
                )
                if renewed:
                    await uow.shops.update(shop)
                    if stopped:  # as a re-authorization's
                        await _rebase_push(uow, shop.id, now)
                    await uow.poll_cursors.make_due(shop.id)  # as a re-authorization's
                    await _replay_failed_events(uow, queue, shop.id)
                    await rerun_failed_imports(uow, uow_factory, queue, events, shop, now, "re-authorized")
                    _push_stock_after_commit(uow, queue, shop.id)
                else:
                    await uow.shops.add(shop)  # the unique TikTok shop id is the last guard against a racer
                    # The merchant's choice at Add store, stored before its import can link or push anything
                    if (policy := request.starting_policy()) is not None:
                        await uow.inventory_push.save_policy(shop.id, policy, now)
                    await queue_authorization_sync(
                        uow, queue, shop, now, events=events, uow_factory=uow_factory, after_webhook_registration=True
                    )
                _register_webhooks_after_commit(uow, queue, shop.id)
                await uow.authorizations.mark_completed(request.state_digest, now, shop.id)  # frees its start's place
                await uow.commit()
            return AuthorizationOutcome(
                shop,
                reauthorized=renewed,
                already_connected=renewed,
                previous_name=None if known_as == shop.name else known_as,
                requested_name=request.name if name != request.name else None,
            )
        except ShopNameRaceLostError:
            # A concurrent rename or connect took the name between our look and our write (PostgreSQL): look again,
            # and the next run numbers it (`_free_name`).
            name_races += 1
            if name_races == NAME_RACE_RUNS:
                raise NameTakenError(None, None) from None
        except DomainError as exc:
            # A concurrent completion connected the shop between our read and our insert: look again, and
            # renew it if it was this merchant's own (two tabs), or refuse if another merchant won.
            if exc.code is not ErrorCode.SHOP_ALREADY_CONNECTED or existing is not None or connect_races:
                raise
            connect_races += 1


async def _free_name(uow: UnitOfWork, merchant_id: str, name: str, other_than: str | None) -> str:
    """The name a completed connect gives the shop: `name`, as typed at the start, or when another of the merchant's
    shops (not `other_than`, the shop a reconnect renews) took it since that start's check, the first of
    "name (2)", "name (3)" ... no shop of the merchant has (`domain.shops.numbered_shop_name`).

    Why a number rather than NAME_TAKEN: the seller has consented at TikTok by now, and the code is spent; a refusal
    would send the merchant through TikTok's consent again for a shop it could connect, where a number is one rename
    away from any name they like, and the payload's `requestedName` tells them it happened (tryfix60 F3's open
    decision). One lookup per number tried: each taken number is one more shop of the merchant."""
    candidate, number = name, 1
    while await uow.shops.holder_of_name(merchant_id, candidate, other_than=other_than) is not None:
        number += 1
        candidate = numbered_shop_name(name, number)
    return candidate


async def _check_room(uow: UnitOfWork, merchant_id: str, now: datetime, max_starts: int) -> None:
    """`domain.authorization.check_room` over the merchant's unexpired starts: those not completed (at most
    `max_starts`) and all of them (at most `COMPLETED_STARTS_FACTOR` times that)."""
    ceiling = max_starts * COMPLETED_STARTS_FACTOR
    uncompleted = await uow.authorizations.unexpired_expiries(merchant_id, now, max_starts, completed=False)
    every = await uow.authorizations.unexpired_expiries(merchant_id, now, ceiling)
    check_room(uncompleted, max_starts, now, every)


def _register_webhooks_after_commit(uow: UnitOfWork, queue: TaskQueue, shop_id: str) -> None:
    """Every (re-)authorization registers our webhook address with TikTok (issue 7); the worker decides whether
    the address is app-wide instead. Enqueued after the commit; a lost message only delays it to the next one."""

    async def enqueue() -> None:
        await queue.enqueue_webhook_registration(shop_id)

    uow.after_commit(enqueue)


async def _replay_failed_events(uow: UnitOfWork, queue: TaskQueue, shop_id: str) -> None:
    """In a re-authorization's transaction: the shop's webhook events that FAILED only because its authorization
    was lost (REAUTHORIZATION_REQUIRED, whose message says the re-authorization replays it) are replayed
    (`webhookEventReplay`'s rule, `WebhookEvent.replay`: PENDING again, processing enqueued after the commit).
    Replaying is harmless (every handler is idempotent; the polls may have stored the order already) and leaves no
    event asking the merchant to re-authorize a shop that is re-authorized (try-out livesync52)."""
    if not await uow.webhook_events.replay_failed(shop_id, EventError.REAUTHORIZATION_REQUIRED):
        return

    async def enqueue() -> None:
        await queue.enqueue_webhook_events(shop_id)

    uow.after_commit(enqueue)


async def _rebase_push(uow: UnitOfWork, shop_id: str, now: datetime) -> None:
    """In the re-authorization's transaction of a shop that was REVOKED or EXPIRED (its pushes could not run): its
    push fence re-based before its next push measures anything (`InventoryPushRepository.request_rebase`,
    `domain.services.inventory_push.rebase_fence`), and its linked products due, so that push (enqueued after the
    commit, `_push_stock_after_commit`) runs at once: TikTok shows the pool's value again, a stock edited in Seller
    Center meanwhile written over rather than held back as unseen sales (tryout63 F1), as turning push on does."""
    await uow.inventory_push.request_rebase(shop_id, now)
    if products := await uow.inventory_push.linked_products(shop_id):
        await uow.inventory_push.mark_dirty(shop_id, products, now)


def _push_stock_after_commit(uow: UnitOfWork, queue: TaskQueue, shop_id: str) -> None:
    """A re-authorized shop gets the stock that changed while it could not be pushed (revoked, expired: README
    "Pushing to TikTok", its outbox rows stay dirty) at once rather than at the scheduler's next tick (up to 30 s,
    none with the scheduler off). Enqueued after the commit; nothing dirty makes it a no-op."""

    async def enqueue() -> None:
        await queue.enqueue_inventory_push(shop_id)

    uow.after_commit(enqueue)


async def _completed_before(
    uow_factory: UnitOfWorkFactory, state: str, merchant_id: str
) -> AuthorizationOutcome | None:
    """A repeat, by its own merchant, of a completion that connected or renewed a shop (tryout60 F4: a double-submitted
    callback, a second tab, a retry whose answer was lost): that shop as it is now (`already_completed`), without
    spending or exchanging anything; None when the state is no such one (`AuthorizationRequest.completed_for`) or its
    shop was deleted since (then refused as a used state)."""
    async with uow_factory() as uow:
        request = await uow.authorizations.get(state_digest(state))
        shop_id = request.completed_for(merchant_id) if request is not None else None
        shop = await uow.shops.get(shop_id, merchant_id) if shop_id is not None else None
    if request is None or shop is None:
        return None
    return AuthorizationOutcome(
        shop, reauthorized=request.purpose is AuthorizationPurpose.REAUTHORIZE, already_completed=True
    )


async def _spend_state(
    uow_factory: UnitOfWorkFactory, clock: Clock, state: str, merchant_id: str
) -> AuthorizationRequest:
    """Load and consume the pending request, in its own transaction: a state is spent even if TikTok fails."""
    async with uow_factory() as uow:
        request = await uow.authorizations.get(state_digest(state))  # an empty state matches no request
        if request is None:
            raise DomainError(ErrorCode.INVALID_STATE, "Unknown authorization state; start again.", STATE)
        request.consume(clock.now(), merchant_id)
        if not await uow.authorizations.mark_used(request):
            raise DomainError(ErrorCode.INVALID_STATE, ALREADY_USED, STATE)
        await uow.commit()
    return request


async def rename_shop(
    uow_factory: UnitOfWorkFactory, merchant_id: str, shop_id: str, name: str, events: EventPublisher | None = None
) -> Shop:
    """Give the merchant's shop the custom name `name` (`Shop.rename`): NOT_FOUND (on `shopId`) for no such shop,
    INVALID_NAME, then NAME_TAKEN (`NameTakenError`, on `name`, naming the shop) when another of the merchant's shops
    has the name, compared trimmed, in NFC and caseless (`domain.shops.folded_shop_name`); its own name in another
    case or spacing is fine. Nothing changes on a refusal.

    Two concurrent renames to one name on PostgreSQL both find it free; the unique index on (merchant_id, name_key)
    lets one through and refuses the other (`ShopNameRaceLostError`), which runs again and is then refused with
    NAME_TAKEN naming the winner, never a server error (at most `NAME_RACE_RUNS` runs)."""
    for _ in range(NAME_RACE_RUNS):
        try:
            async with uow_factory() as uow:
                shop = await uow.shops.get(shop_id, merchant_id)
                if shop is None:
                    raise NotFoundError("Shop", ("shopId",))
                taken_by = await uow.shops.holder_of_name(merchant_id, parse_shop_name(name), other_than=shop.id)
                shop.rename(name, taken_by)
                await uow.shops.update(shop)
                await uow.commit()
        except ShopNameRaceLostError:
            continue
        await publish_shop_quietly(events, shop)
        return shop
    raise NameTakenError(None)


async def delete_shop(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    merchant_id: str,
    shop_id: str,
    events: EventPublisher | None = None,
    queue: TaskQueue | None = None,
    hold_horizon: timedelta = DEFAULT_HOLD_HORIZON,
    *,
    remember: bool = True,
) -> str:
    """Remove the shop and everything Shopbridge holds for it, in one transaction; nothing at TikTok.

    Its reservations in the inventory pool are settled first: its open orders stay TikTok's to ship from the shared
    shelf, so their units leave on-hand with them (`domain.inventory.ledger.leaves_with_its_shop`; the other shops'
    available stays as it was), and so do the sales its pushes held back as unseen that still stand (within
    `hold_horizon`, the push's `PushDeps.hold_horizon`: `domain.inventory_push.standing_units`), which will never be
    ingested now (the other shops' available stays as they were pushed it). The open lines it deducts are kept by
    merchant and TikTok shop, and so are the units it takes off as sold unseen: that TikTok shop connected again
    counts them back once (`domain.inventory.ledger.back_with_its_shop`, `back_from_unseen`, README "Deleting a
    shop"); not when `remember` is False.
    Then the pool items it leaves behind go, with their movements: those its SKUs linked that no other shop's SKU
    links and that carry nothing the merchant set by hand (created by `inventoryItemCreate`, an on-hand set or
    adjusted, a safety stock): the "left behind" rule of `domain.inventory.items`. The others stay, without its
    links.

    Its active tasks are cancelled in the delete's transaction, so a delete that fails and rolls back leaves them as
    they were (a running import goes on from its checkpoint; a cancel the merchant asked for stands), and (after the
    delete's commit) signalled, so a subscription following one learns at once that it ended (as CANCELLED with error
    code SHOP_DELETED: gql/subscriptions.py). Nothing is asked of them before that transaction (review61b D1: a
    first, committed step that asked them to stop, `_stop_shop_tasks`, outlived a delete that rolled back, and the
    running import ended CANCELLED though nobody had cancelled it and the shop was kept). A running import does not
    keep the delete waiting past the batch it has in flight: the delete's mark (`ShopRepository.get(for_delete=True)`)
    turns every later batch away (`ShopRepository.hold_unless_deleting`: the run is handed back, and resumes if the
    delete rolls back; README "Deleting a large shop"). The shop itself is
    signalled last (`EventPublisher.shop_changed`, after the commit, never failing): the merchant's shop feed reads
    it then and, finding it gone, tells `shopsDeleted` its id and ends `shopUpdated` with NOT_FOUND, at once rather
    than at its next full read (gql/shop_feeds.py, `FULL_READ_INTERVAL`, 30 s). Returns `shop_id`; raises
    `NotFoundError` (NOT_FOUND, field `shopId`) when the merchant has no such shop, signalling nothing.

    The transaction is run again whole when the database aborts it as a deadlock or a serialization failure
    (`run_again_on_conflict`: a WARNING, not an INTERNAL_SERVER_ERROR to the merchant): it reads afresh all it
    writes, and its signals go after its commit.
    """

    async def delete() -> tuple[Shop, list[SyncTask]]:
        return await _delete_shop_once(uow_factory, clock, merchant_id, shop_id, events, queue, hold_horizon, remember)

    shop, cancelled = await run_again_on_conflict(delete, f"the delete of shop {shop_id}")
    for task in cancelled:
        await publish_quietly(events, task)
    # The signal only wakes the readers: they read the shop and find it gone (the database is the truth).
    await publish_shop_quietly(events, shop)
    return shop_id


async def _delete_shop_once(
    uow_factory: UnitOfWorkFactory, clock: Clock, merchant_id: str, shop_id: str, events: EventPublisher | None,
    queue: TaskQueue | None, hold_horizon: timedelta, remember: bool,
) -> tuple[Shop, list[SyncTask]]:  # fmt: skip
    """`delete_shop`'s unit of work: the shop as it was, and its tasks it cancelled."""
    async with uow_factory() as uow:
        # The shop first, exclusively: writers of its rows hold it shared before anything else (the catalog's
        # upserts, the ledger), so they finish first or wait for the delete; neither holds what the other needs.
        shop = await uow.shops.get(shop_id, merchant_id, for_delete=True)
        if shop is None:
            raise NotFoundError("Shop", ("shopId",))
        # Cancelling first lets a worker that is mid-page see why it must stop; the cascade removes the rows.
        cancelled = await uow.sync_tasks.cancel_active_for_shop(shop.id, clock.now())
        # The pool first: the shop's open orders, still to ship from the shelf, leave with their reserved units.
        released = await uow.inventory.release_shop(shop.id, hold_horizon, remember=remember)
        inventory.after_pool_change(uow, queue, events, released)
        # Then the items only this shop brought into the pool and the merchant never touched by hand go with it.
        await uow.inventory.remove_shop_items(shop.id)
        await uow.shops.delete(shop.id)
        await uow.commit()
    return shop, cancelled


async def delete_shops_of_tiktok(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    tiktok_shop_ids: Iterable[str],
    events: EventPublisher | None = None,
    queue: TaskQueue | None = None,
) -> list[Shop]:
    """Delete the connected shops among these TikTok shop ids, each as its merchant's `shopDelete` does
    (`delete_shop`); returns them. For a TikTok that forgot them (the demo's `--reset-sandbox`): their tokens are
    dead and their products and orders belong to a world that no longer exists: nothing is kept for a reconnect
    (`remember=False`), whose orders of the same ids would be the new world's."""
    found: list[Shop] = []
    for tiktok_shop_id in sorted(set(tiktok_shop_ids)):
        async with uow_factory() as uow:
            shop = await uow.shops.get_by_tiktok_shop_id(tiktok_shop_id)
        if shop is not None:
            found.append(shop)
    deleted: list[Shop] = []
    for shop in found:
        try:
            await delete_shop(uow_factory, clock, shop.merchant_id, shop.id, events, queue, remember=False)
        except NotFoundError:
            continue  # deleted meanwhile
        deleted.append(shop)
    return deleted
