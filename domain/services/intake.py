"""Webhook intake: process a shop's pending events, replay one (storing them is `domain.services.inbox`).

Receiving only stores (the HTTP answer must come within TikTok's 3 s); processing runs in a worker. Processing is
idempotent and safe in any order: events only make Shopbridge re-fetch orders and products (an older record never
overwrites a newer one: the catalog repository keeps the newest `update_time`) or reconcile the shop's stock (27,
`_reconcile_after`: a read, and a push where it drifted), and lifecycle notices (6, 7) older
than the shop's current authorization change nothing. Events of one run are coalesced: every order id they name
is fetched once, in Get Order Detail calls of at most 50 ids, and every product id once with Get Product, up to
`PRODUCT_FETCHES_AT_ONCE` calls at a time (a bulk edit pushes one event per product: 500 of them one after the
other, at 0.6 s a call, outlasted the run's 5-minute time limit, so the batch never committed). A stored product
Get Product no longer serves (TikTok serves no FREEZE or DELETED one) is looked for with Search Products and stored
as listed, or DELETED when listed nowhere (`domain.unserved_products`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.catalog import Order
from domain.clock import Clock
from domain.errors import NotFoundError
from domain.intake import (
    ORDER_NOT_FOUND_RETRY,
    EventError,
    EventOutcome,
    MalformedEventError,
    WebhookEvent,
    expiry_notices,
    order_id_batches,
    shop_notices,
    stale_order,
)
from domain.ports import (
    AuthorizationLostError,
    EventPublisher,
    GatewayError,
    ProductReadApi,
    RecordNotFoundError,
    ShopRefreshApi,
    ShopRefreshApiFactory,
    TaskQueue,
    TikTokUnavailableError,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.services import inventory
from domain.services.conflicts import run_again_on_conflict
from domain.services.shop_tokens import StoredShopTokens
from domain.services.sync import publish_shop_quietly
from domain.shops import EndNoticeRefusal, Shop, ShopStatus
from domain.stored import ProductRecord
from domain.sync import RecordFailure, SyncKind
from domain.unserved_products import MAX_PAGES_PER_SEARCH, KnownProduct, confirming_searches, listed, settle

log = logging.getLogger(__name__)

MAX_EVENTS_PER_RUN = 500
# Get Product calls of one run in flight at once: 500 product events at 0.6 s a call take 38 s instead of 300 s,
# and 8 calls in flight stay far below TikTok's 50 requests/s per API and shop (the client paces them anyway).
PRODUCT_FETCHES_AT_ONCE = 8


@dataclass(frozen=True, slots=True)
class IntakeDeps:
    uow_factory: UnitOfWorkFactory
    shop_api: ShopRefreshApiFactory
    clock: Clock
    # Told each batch of events once it is committed settled (metrics: processed by outcome, processing lag).
    on_settled: Callable[[Sequence[WebhookEvent]], None] | None = None
    queue: TaskQueue | None = None  # the pool's pushes once re-fetched orders or products changed stock
    # `inventoryItemUpdated` signals, and `shopUpdated` ones when a notice revoked the shop or moved its end
    events: EventPublisher | None = None


async def replay_event(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, merchant_id: str, event_id: str
) -> WebhookEvent:
    """Mark one of the merchant's events PENDING again and enqueue its shop's processing; NOT_FOUND otherwise."""
    async with uow_factory() as uow:
        event = await uow.webhook_events.get(event_id, merchant_id)
        if event is None or event.shop_id is None:
            raise NotFoundError("Webhook event", ("id",))
        event.replay()
        await uow.webhook_events.save([event])
        shop_id = event.shop_id

        async def enqueue() -> None:
            await queue.enqueue_webhook_events(shop_id)

        uow.after_commit(enqueue)
        await uow.commit()
    return event


async def resume_pending_events(
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue,
    clock: Clock,
    older_than: timedelta,
    *,
    within: timedelta | None = None,
    unread: bool = False,
) -> list[str]:
    """Enqueue processing for every shop with events still PENDING after `older_than` (the enqueue after the answer
    was lost, or the worker died); returns the shop ids. Safe to over-deliver: processing is idempotent (and the
    send is coalesced: a shop's message queued and unstarted covers it). `within`: only events received in the
    last `within` (seconds' range of the `received_at` index); `unread`: only events no run has read (`attempts` 0),
    so events waiting for a retry of their own (TikTok down, an order not served yet) keep their pace."""
    now = clock.now()
    async with uow_factory() as uow:
        shop_ids = await uow.webhook_events.shops_with_pending(
            now - older_than, 1000, received_after=None if within is None else now - within, unread=unread
        )
    for shop_id in shop_ids:
        await queue.enqueue_webhook_events(shop_id)
    if shop_ids:
        log.info("re-enqueued webhook processing of %d shop(s)%s", len(shop_ids), " (unread events)" if unread else "")
    return shop_ids


UNREAD_AFTER = timedelta(seconds=20)
"""How long (seconds) an event may wait unread before the scheduler's tick sends its shop's processing again
(`resume_unread_events`): a run begins within a second of its message, so an event unread that long had its
message lost (a try-out once saw a burst's events stay PENDING until the shop's next webhook, 87 s; README, Known
gap), which the stale sweep found only after `SHOPBRIDGE_SYNC_STALE_AFTER` (300 s)."""

UNREAD_WINDOW = timedelta(minutes=2)
"""How far back (seconds) the tick looks (`resume_unread_events`): a range of the events' `received_at` index, the
last two minutes' arrivals; older unread events are the stale sweep's."""


async def resume_unread_events(uow_factory: UnitOfWorkFactory, queue: TaskQueue, clock: Clock) -> list[str]:
    """The scheduler tick's look for events no run has read `UNREAD_AFTER` after they arrived (within the last
    `UNREAD_WINDOW`): their shops' processing enqueued again (`resume_pending_events`); returns the shop ids."""
    return await resume_pending_events(uow_factory, queue, clock, UNREAD_AFTER, within=UNREAD_WINDOW, unread=True)


@dataclass(slots=True)
class Fetched:
    """What reading orders and products by id brought (`fetch_records`): the records to store, and why each id that
    brought none did not, by "order:ID" / "product:ID"."""

    orders: list[Order] = field(default_factory=list)
    products: list[ProductRecord] = field(default_factory=list)
    failures: dict[str, tuple[EventError, str]] = field(
        default_factory=dict
    )  # "order:ID" / "product:ID" → (code, message)
    # order id → its (`updated_at`, `status`) as served
    order_versions: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    # "product:ID" → what was applied for a stored product Get Product no longer serves (`_confirm_unserved`)
    applied: dict[str, str] = field(default_factory=dict)
    # "product:ID" of those stored DELETED already that TikTok lists nowhere (`Settled.deleted_already`)
    deleted_already: set[str] = field(default_factory=set)
    revoked: bool = False  # the shop was revoked already, or TikTok refused its authorization meanwhile
    refused: bool = False  # TikTok refused the authorization during this run
    refused_access_token: str | None = None  # the access token refused, when the session told it
    ended: bool = False  # the shop's authorization had ended (EXPIRED) before the run: TikTok was not asked


async def process_shop_events(
    deps: IntakeDeps, shop_id: str, *, batch_size: int = MAX_EVENTS_PER_RUN, max_batches: int = 20
) -> int:
    """Process the shop's pending events, `batch_size` at a time, oldest first (at most `max_batches` batches; the
    sweep takes up anything left); returns how many were settled.

    TikTok being unavailable raises `TikTokUnavailableError` after counting an attempt on each event, leaving
    them PENDING for the queue's retry. A lost authorization revokes the shop and fails the events that needed it
    (REAUTHORIZATION_REQUIRED). A shop whose authorization has ended (EXPIRED: its refresh token's expiry, or the
    end webhook 7 announced) is not polled nor imported, and is not asked of here either: its events that need
    TikTok fail alike at once, and it stays EXPIRED (asking, TikTok refused the refresh, which made it REVOKED).
    An event whose order TikTok did not return yet stays PENDING for its retry (`WebhookEvent.await_order`): it is
    not counted as settled, and the run stops after its batch (the stale sweep or the shop's next event retries).
    """
    settled = 0
    for _ in range(max_batches):
        done, waiting = await _process_batch(deps, shop_id, batch_size)
        settled += done - waiting
        if done < batch_size or waiting:  # events left PENDING (`await_order`) wait for their retry, not this loop
            break
    return settled


async def _process_batch(deps: IntakeDeps, shop_id: str, batch_size: int) -> tuple[int, int]:
    """(events run, of which left PENDING awaiting their order)."""
    async with deps.uow_factory() as uow:
        events = await uow.webhook_events.pending(shop_id, batch_size)
        shop = await uow.shops.get(shop_id) if events else None
    if not events or shop is None:
        return 0, 0
    now = deps.clock.now()
    _apply_notices(shop, events, now)
    try:
        # A token another process replaced meanwhile is not a refusal here: the session adopts the stored pair.
        if shop.authorization_lost:
            fetched = Fetched(revoked=True)
        elif shop.status(now) is ShopStatus.EXPIRED:  # as polls and imports: nothing is asked of TikTok for it
            fetched = Fetched(revoked=True, ended=True)
        else:
            fetched = await _fetch(deps, shop, events)
    except TikTokUnavailableError:
        await _count_attempt(deps, shop_id, [e.id for e in events])
        raise
    written = await run_again_on_conflict(
        functools.partial(_write_batch, deps, shop_id, shop, events, fetched, now), f"shop {shop_id}: a webhook batch"
    )
    if written is None:
        return 0, 0  # deleted meanwhile: its events went with it
    events, current, lifecycle_changed, grew = written
    if current.revoked_at == now and not fetched.refused:  # revoked by this batch's notice (`Shop.deauthorize`)
        # as `shop_tokens.revoke_refused_authorization` says of a refusal: an operator sees why the shop stopped
        log.warning(
            "shop %s: TikTok's deauthorization notice (webhook type 6) revoked it: the seller removed the app; the "
            "shop needs re-authorizing",
            shop_id,
        )
    # status, expiresAt, attention, or its order or product count (a new order: the store list's Orders count follows
    # a sale, where it stayed until the next task): `shopUpdated` and `shopsUpdated` look again now
    if lifecycle_changed or grew:
        await publish_shop_quietly(deps.events, current)
    if deps.on_settled is not None:
        deps.on_settled(events)
    return len(events), sum(event.outcome is EventOutcome.PENDING for event in events)


async def _write_batch(
    deps: IntakeDeps, shop_id: str, shop: Shop, read: Sequence[WebhookEvent], fetched: Fetched, now: datetime
) -> tuple[list[WebhookEvent], Shop, bool, bool] | None:
    """The batch's write, one whole unit of work: the shop read afresh, the fetched orders and products stored and
    pooled, the records TikTok served unreadably marked (`_mark_unreadable`), the events settled and saved; returns
    (the events as settled, the shop as stored, whether its lifecycle changed, whether an order or product was new to
    it or a record was marked unreadable: its counts or attention to signal), or None when the shop was deleted
    meanwhile.

    Safe to run again whole (`run_again_on_conflict`): it settles copies of the events as they were read
    (`read`, never changed here), so a run the database aborted leaves nothing behind in memory (an attempt counted
    twice, an outcome of a run that was rolled back); the shop is read again, and the fetched records are frozen.
    Its after-commit work (pushes, signals) goes with its unit of work: dropped with a run rolled back."""
    events = [replace(event) for event in read]
    async with deps.uow_factory() as uow:
        current = await uow.shops.get(shop_id)
        if current is None:
            return None
        before = (current.revoked_at, current.authorization_expires_at)
        refused_notices = _apply_notices(current, events, now)
        if fetched.refused:  # TikTok refused the authorization we fetched with (not a newer one, nor a pair unread)
            current.revoke_refused(shop, now, fetched.refused_access_token)
        grew = await store_fetched(uow, deps.queue, deps.events, shop_id, fetched.orders, fetched.products)
        grew |= await _mark_unreadable(uow, shop_id, fetched, now)
        for event in events:
            _settle(event, fetched, now, current, refused_notices.get(event.id))
        _reconcile_after(uow, deps.queue, shop_id, events)
        await uow.webhook_events.save(events)
        lifecycle_changed = (current.revoked_at, current.authorization_expires_at) != before
        if lifecycle_changed:
            await uow.shops.update(current)
        await uow.webhook_events.note_webhook_received(shop_id, max(e.received_at for e in events))
        await uow.commit()
    return events, current, lifecycle_changed, grew


def _reconcile_after(uow: UnitOfWork, queue: TaskQueue | None, shop_id: str, events: Sequence[WebhookEvent]) -> None:
    """Send the shop's inventory reconcile once `uow` commits, when an event of the batch settled PROCESSED says a
    SKU's stock changed status at TikTok (webhook 27, `Meaning.reconcile_skus`): one send per batch, however many
    SKUs. Rule (live-sync.md §7.6): 27 is a drift signal, "reconcile that SKU"; the pool's reconcile
    (`domain.services.inventory_reconcile.reconcile_shop`) reads the shop's linked SKUs at TikTok, 600 a call, so
    that SKU with them, counts drift and pushes again where TikTok's stock differs from the target; it is
    idempotent, so a replayed 27 only reads again. No queue (some tests): nothing is sent."""
    if queue is None:
        return
    if any(event.outcome is EventOutcome.PROCESSED and _reconciles(event) for event in events):

        async def reconcile() -> None:
            await queue.enqueue_inventory_reconcile(shop_id)

        uow.after_commit(reconcile)


def _reconciles(event: WebhookEvent) -> bool:
    try:
        return bool(event.meaning().reconcile_skus)
    except MalformedEventError:
        return False


async def store_fetched(
    uow: UnitOfWork,
    queue: TaskQueue | None,
    events: EventPublisher | None,
    shop_id: str,
    orders: Sequence[Order],
    products: Sequence[ProductRecord],
) -> bool:
    """Store a batch's fetched orders and products and move the pool by them, in `uow` (the caller commits). True
    when an order or product was new to the shop (its `orderCount` or `productCount` grew: the caller signals the shop
    once committed).

    Both catalogs are written before the pool moves, as every writer takes the shop's turns in one order: the
    catalog writers' (`CatalogRepository.upsert_orders` / `upsert_products` wait for the turn of the shop's writers
    of that table, PostgreSQL) before the pool's turn of its links (an order batch's shared, a link change's
    exclusive: `InventoryRepository.apply_orders`, `auto_link_products`). Pooled between the two upserts, the
    orders' shared link turn was held while the batch waited for the product writers' turn, which a product import
    held while it waited for the exclusive link turn: PostgreSQL failed one of them (deadlock detected, 40P01), a
    batch of events or an import's page retried for nothing. The pool moves as before: the orders by the links
    as they stand, then the products' links (a line they link reserves then, `relink_lines`)."""
    created = 0
    if orders:
        created += (await uow.catalog.upsert_orders(shop_id, orders)).created
    if products:
        created += (await uow.catalog.upsert_products(shop_id, products)).created
    if orders:
        await inventory.pool_orders(uow, queue, events, shop_id, orders)
    if products:
        await inventory.pool_products(uow, queue, events, shop_id, products)
    return created > 0


_KINDS = {"order": SyncKind.ORDERS, "product": SyncKind.PRODUCTS}


async def _mark_unreadable(uow: UnitOfWork, shop_id: str, fetched: Fetched, now: datetime) -> bool:
    """Mark the records TikTok served that could not be read (their events FAILED with UNREADABLE_RECORD) as an
    import or poll marks its own (`CatalogRepository.mark_unreadable`): the shop's RECORDS_UNREADABLE attention
    shows them at once (README, Attention), until a read of the same id is stored. Until try-out regions53 (defect 4)
    only the next poll that read the record again raised it. True when there were any."""
    by_kind: dict[SyncKind, list[RecordFailure]] = {}
    for key, (code, reason) in fetched.failures.items():
        if code is EventError.UNREADABLE_RECORD:
            kind, _, tiktok_id = key.partition(":")
            by_kind.setdefault(_KINDS[kind], []).append(RecordFailure(tiktok_id, reason))
    for kind, failures in by_kind.items():
        await uow.catalog.mark_unreadable(shop_id, kind, failures, now)
    return bool(by_kind)


def _apply_notices(shop: Shop, events: Sequence[WebhookEvent], now: datetime) -> dict[str, EndNoticeRefusal]:
    """Apply the batch's notices to `shop`: its authorization-end notices in the order they were sent, then its
    latest deauthorization. Returns the ids of the end notices it did not take, with why
    (`Shop.authorization_end_refused`), for `_settle`."""
    refused: dict[str, EndNoticeRefusal] = {}
    for event, expires_at in expiry_notices(events):
        refusal = shop.authorization_end_refused(expires_at, event.sent_no_earlier_than, event.sent_no_later_than)
        if refusal is None:
            shop.note_authorization_end(expires_at, event.sent_no_earlier_than, event.sent_no_later_than)
        else:
            refused[event.id] = refusal
    deauthorized_at, _ = shop_notices(events)
    if deauthorized_at is not None:
        shop.deauthorize(deauthorized_at, now)
    return refused


async def _fetch(deps: IntakeDeps, shop: Shop, events: Sequence[WebhookEvent]) -> Fetched:
    order_ids: list[str] = []
    product_ids: list[str] = []
    for event in events:
        try:
            meaning = event.meaning()
        except MalformedEventError:
            continue
        order_ids.extend(meaning.order_ids)
        product_ids.extend(meaning.product_ids)
    fetched = Fetched()
    if not order_ids and not product_ids:
        return fetched
    try:
        await _read_by_id(deps, shop, order_ids, product_ids, fetched)
    except AuthorizationLostError as exc:
        log.warning(
            "shop %s: TikTok refused its authorization while processing webhooks; the shop needs re-authorizing",
            shop.id,
        )
        fetched.revoked = fetched.refused = True
        fetched.refused_access_token = exc.refused_access_token
    return fetched


async def fetch_records(
    deps: IntakeDeps,
    shop: Shop,
    order_ids: Sequence[str],
    product_ids: Sequence[str],
    *,
    unavailable_per_record: bool = False,
) -> Fetched:
    """The shop's orders `order_ids` and products `product_ids` read by id, as a webhook naming them reads them:
    Get Order Detail, 50 distinct ids a call (`_fetch_orders`), and Get Product, one id a call,
    `PRODUCT_FETCHES_AT_ONCE` at a time (`_fetch_products`, with `_confirm_unserved` for a stored product it no longer
    serves). Each id either brings a record or has a failure: ORDER_NOT_FOUND / PRODUCT_NOT_FOUND (TikTok has no
    such record), UNREADABLE_RECORD, TIKTOK_ERROR (TikTok refused the call). Raises `AuthorizationLostError` as it
    comes (the caller decides what a refusal revokes), and `TikTokUnavailableError` too, unless
    `unavailable_per_record`: then a call that outlived its retries is the failure TIKTOK_UNAVAILABLE of its ids
    (Get Product: its one id; Get Order Detail: each of its batch) and the other reads go on, their records kept.
    The poll's read of marked records (`domain.services.rereads`) asks for that: one id TikTok keeps failing held
    back every other mark of its batch, poll after poll (review54a F2); a webhook batch is retried whole."""
    fetched = Fetched()
    await _read_by_id(deps, shop, order_ids, product_ids, fetched, unavailable_per_record=unavailable_per_record)
    return fetched


async def _read_by_id(
    deps: IntakeDeps,
    shop: Shop,
    order_ids: Sequence[str],
    product_ids: Sequence[str],
    fetched: Fetched,
    *,
    unavailable_per_record: bool = False,
) -> None:
    api = _api(deps, shop)
    for batch in order_id_batches(order_ids):
        try:
            await _fetch_orders(api, batch, fetched)
        except TikTokUnavailableError as exc:
            if not unavailable_per_record:
                raise
            await _fetch_orders_apart(api, batch, exc, fetched)
    product_ids = list(dict.fromkeys(product_ids))
    await _fetch_products(deps, shop, api, product_ids, fetched, unavailable_per_record=unavailable_per_record)


ORDER_NOT_RETURNED = "TikTok did not return this order"


async def _fetch_orders(api: ShopRefreshApi, batch: list[str], fetched: Fetched) -> None:
    """One Get Order Detail call. Rule: an order TikTok says it does not have is ORDER_NOT_FOUND however it was
    batched: left out of the answer when TikTok has some of the batch, or the whole call refused with 21008111
    (`RecordNotFoundError`) when it has none; any other refusal is TIKTOK_ERROR with TikTok's words."""
    try:
        records = await api.get_orders(batch)
    except (TikTokUnavailableError, AuthorizationLostError):
        raise
    except RecordNotFoundError as exc:  # 21008111: none of these orders belongs to the shop
        for order_id in batch:
            fetched.failures[f"order:{order_id}"] = (EventError.ORDER_NOT_FOUND, f"{ORDER_NOT_RETURNED}: {exc}")
        return
    except GatewayError as exc:  # a signature, a parameter, a scope...: TikTok refused the call, not the order
        for order_id in batch:
            fetched.failures[f"order:{order_id}"] = (EventError.TIKTOK_ERROR, str(exc))
        return
    seen = set()
    for record in records:
        if isinstance(record, RecordFailure):
            fetched.failures[f"order:{record.tiktok_id}"] = (EventError.UNREADABLE_RECORD, record.reason)
            seen.add(record.tiktok_id)
        else:
            fetched.orders.append(record)
            fetched.order_versions[record.tiktok_order_id] = (record.updated_at, record.status)
            seen.add(record.tiktok_order_id)
    for order_id in batch:
        if order_id not in seen:
            fetched.failures[f"order:{order_id}"] = (EventError.ORDER_NOT_FOUND, f"{ORDER_NOT_RETURNED}.")


async def _fetch_orders_apart(
    api: ShopRefreshApi, batch: list[str], error: TikTokUnavailableError, fetched: Fetched
) -> None:
    """The Get Order Detail call of `batch` failed transiently (`error`, its retries spent): read each half apart,
    then the failing half's halves, and so on while exactly one half fails, down to the order TikTok cannot serve,
    whose failure is TIKTOK_UNAVAILABLE; every other order is read. Both halves failing, TikTok looks unavailable,
    not one order: the ids of both keep the failure, no more calls are made. At most 2 calls a halving (50 ids: 12
    calls after the failed one, 3 when TikTok is down); the run's TikTok budget bounds them (`adapters/tiktok/
    budget.py`). Rule from review54a F2: one order that fails its call must not hold back the batch's others."""
    while len(batch) > 1:
        middle = len(batch) // 2
        failed: list[tuple[list[str], TikTokUnavailableError]] = []
        for half in (batch[:middle], batch[middle:]):
            try:
                await _fetch_orders(api, half, fetched)
            except TikTokUnavailableError as exc:
                failed.append((half, exc))
        if not failed:
            return  # both halves answered: the failure was TikTok's moment, not an order's
        if len(failed) == 2:
            error = failed[0][1]
            break
        batch, error = failed[0]
    for order_id in batch:
        fetched.failures[f"order:{order_id}"] = (EventError.TIKTOK_UNAVAILABLE, str(error))


async def _fetch_products(
    deps: IntakeDeps,
    shop: Shop,
    api: ShopRefreshApi,
    product_ids: list[str],
    fetched: Fetched,
    *,
    unavailable_per_record: bool = False,
) -> None:
    """`_fetch_product` for each of `product_ids` (distinct), `PRODUCT_FETCHES_AT_ONCE` at a time; the records in
    the order of `product_ids`. A call that raises stops the others; the error raised is an `AuthorizationLostError`
    if any call met one (the shop is revoked), else a `TikTokUnavailableError` if any (the run is retried), else
    the first other error. `unavailable_per_record`: a `TikTokUnavailableError` is its id's failure
    TIKTOK_UNAVAILABLE instead, and stops nothing (`fetch_records`)."""
    gate = asyncio.Semaphore(PRODUCT_FETCHES_AT_ONCE)

    async def fetch(product_id: str) -> None:
        async with gate:
            try:
                await _fetch_product(deps.uow_factory, deps.clock, shop, api, product_id, fetched)
            except TikTokUnavailableError as exc:
                if not unavailable_per_record:
                    raise
                fetched.failures[f"product:{product_id}"] = (EventError.TIKTOK_UNAVAILABLE, str(exc))

    try:
        async with asyncio.TaskGroup() as group:
            for product_id in product_ids:
                group.create_task(fetch(product_id))
    except ExceptionGroup as errors:
        raise _most_telling(errors) from None
    place = {product_id: index for index, product_id in enumerate(product_ids)}
    fetched.products.sort(key=lambda record: place.get(record.tiktok_product_id, len(place)))


def _most_telling(errors: ExceptionGroup) -> Exception:
    """The error of a failed `_fetch_products` to raise: see there."""
    flat: list[Exception] = []

    def flatten(group: ExceptionGroup) -> None:
        for error in group.exceptions:
            if isinstance(error, ExceptionGroup):
                flatten(error)
            else:
                flat.append(error)

    flatten(errors)
    for kind in (AuthorizationLostError, TikTokUnavailableError):
        for error in flat:
            if isinstance(error, kind):
                return error
    return flat[0]


async def reread_product(
    uow_factory: UnitOfWorkFactory, clock: Clock, shop: Shop, api: ProductReadApi, product_id: str
) -> ProductRecord | None:
    """The shop's product `product_id` as TikTok holds it now, read as a webhook naming it reads it (`_fetch_product`:
    Get Product; for a stored product Get Product no longer serves, FREEZE or DELETED, Search Products, or DELETED
    when listed nowhere: `domain.unserved_products.settle`), to store as the intake stores it; None when there is
    nothing to store (TikTok refused or garbled the read, the product was never stored, or it is stored so already).
    Raises `TikTokUnavailableError` and `AuthorizationLostError` as they come. The push reads a product this way
    when Update Inventory refuses it as not on sale (`domain.services.inventory_push`)."""
    fetched = Fetched()
    await _fetch_product(uow_factory, clock, shop, api, product_id, fetched)
    return fetched.products[0] if fetched.products else None


async def _fetch_product(
    uow_factory: UnitOfWorkFactory, clock: Clock, shop: Shop, api: ProductReadApi, product_id: str, fetched: Fetched
) -> None:
    """One Get Product call. Rule, as for orders: a product TikTok says it does not have (12052048 and kin,
    `RecordNotFoundError`) is PRODUCT_NOT_FOUND, unless the shop has it stored: then Search Products says what
    TikTok holds (`_confirm_unserved`); any other refusal is TIKTOK_ERROR with TikTok's words."""
    try:
        record = await api.get_product(product_id)
    except (TikTokUnavailableError, AuthorizationLostError):
        raise
    except RecordNotFoundError as exc:  # the product is not (or no longer) in this shop, or FREEZE / DELETED
        await _confirm_unserved(uow_factory, clock, shop, api, product_id, exc, fetched)
        return
    except GatewayError as exc:  # TikTok refused the call, not the product
        fetched.failures[f"product:{product_id}"] = (EventError.TIKTOK_ERROR, str(exc))
        return
    if isinstance(record, RecordFailure):
        fetched.failures[f"product:{product_id}"] = (EventError.UNREADABLE_RECORD, record.reason)
    else:
        fetched.products.append(record)


class _Inconclusive(Exception):
    """A confirming search listed more pages than `MAX_PAGES_PER_SEARCH` without the product."""


async def _confirm_unserved(
    uow_factory: UnitOfWorkFactory, clock: Clock, shop: Shop, api: ProductReadApi, product_id: str,
    not_found: RecordNotFoundError, fetched: Fetched,
) -> None:  # fmt: skip
    """A product Get Product calls not found. Never stored for the shop: PRODUCT_NOT_FOUND, as before (nothing to
    correct). Stored: TikTok leaves FREEZE and DELETED products out of Get Product (tiktok-api.md §7), so Search
    Products is asked (`domain.unserved_products.confirming_searches`) and what it lists is stored as the product
    poll stores it, or DELETED if it lists the product nowhere (`settle`); the event is then PROCESSED with what
    was applied. A search TikTok refuses is TIKTOK_ERROR, one it answers unreadably UNREADABLE_RECORD, and one
    too long to read through PRODUCT_NOT_FOUND with that reason (the next product poll settles it)."""
    key = f"product:{product_id}"
    async with uow_factory() as uow:
        known = await uow.catalog.known_product(shop.id, product_id)
    if known is None:
        fetched.failures[key] = (EventError.PRODUCT_NOT_FOUND, str(not_found))
        return
    try:
        found = await _search_listing(api, known)
    except (TikTokUnavailableError, AuthorizationLostError):
        raise
    except GatewayError as exc:
        fetched.failures[key] = (EventError.TIKTOK_ERROR, f"{not_found}; Search Products, to confirm: {exc}")
        return
    except _Inconclusive:
        message = f"{not_found}; Search Products could not confirm it in {MAX_PAGES_PER_SEARCH} pages"
        fetched.failures[key] = (EventError.PRODUCT_NOT_FOUND, message)
        return
    if isinstance(found, RecordFailure):
        fetched.failures[key] = (EventError.UNREADABLE_RECORD, found.reason)
        return
    settled = settle(known, found, clock.now())
    if settled.record is not None:
        fetched.products.append(settled.record)
    if settled.deleted_already:
        fetched.deleted_already.add(key)
    fetched.applied[key] = settled.message


async def _search_listing(api: ProductReadApi, known: KnownProduct) -> ProductRecord | RecordFailure | None:
    """The product as the first confirming search that lists it lists it (its record, or TikTok's unreadable
    one); None when none does. `_Inconclusive` when a search has more pages than it reads."""
    for search in confirming_searches(known):
        token: str | None = None
        for _ in range(MAX_PAGES_PER_SEARCH):
            page = await api.search_products_matching(search, page_token=token)
            for item in page.items:
                if isinstance(item, RecordFailure) and item.tiktok_id == known.tiktok_product_id:
                    return item
            found = listed(page.items, known.tiktok_product_id)
            if found is not None:
                return found
            token = page.next_page_token
            if not token:
                break
        else:
            raise _Inconclusive
    return None


AUTHORIZATION_REVOKED = "The shop's authorization is revoked; its re-authorization replays the event."
AUTHORIZATION_ENDED = "The shop's authorization has ended; its re-authorization replays the event."
STALE_NOTICE = "Sent before the shop's current authorization (a late retry or a replay): it changes nothing."
ENDED_NOTICE = (
    "The shop's authorization had already ended: a notice never renews it, only a re-authorization does; it changes "
    "nothing."
)
EARLIER_END_NOTICE = (
    "It announces an end before the one TikTok announced already for this authorization (a late retry, or notices "
    "out of order): the later end stands; it changes nothing."
)
STALE_AFTER_RETRIES = (
    f", still after {ORDER_NOT_FOUND_RETRY.total_seconds() / 60:.0f} minutes of retries: the version served is "
    "stored unless a later one is, and the shop's order poll brings the newer one."
)
RECONCILE_SENT = (
    "TikTok says this SKU's stock changed status: the shop's inventory reconcile was sent (its linked SKUs' stock at "
    "TikTok compared with their targets, pushed again where it drifted)."
)
UNDATED_NOTICE = (
    "No push time, or one later than this server's clock, and received within TikTok's retry span (15.5 h) of the "
    "shop's current authorization: it may be a late delivery about an earlier authorization, so it changes nothing. "
    "Had the seller removed the app (a deauthorization), TikTok refuses the shop's tokens at the next call, which "
    "revokes it."
)


def _settle(
    event: WebhookEvent, fetched: Fetched, now: datetime, shop: Shop, refused: EndNoticeRefusal | None = None
) -> None:
    """The event's outcome once its shop's batch has been fetched and written. A notice (webhook 6 or 7) sent
    before the shop's current authorization is IGNORED, with `STALE_NOTICE` (`Shop.notice_is_current`); an
    undated one that may have been (`WebhookEvent.sent_no_earlier_than`) with `UNDATED_NOTICE`; an end notice the
    shop did not take for another reason (`refused`, from `_apply_notices`) with `ENDED_NOTICE` or
    `EARLIER_END_NOTICE`. An event
    whose only failures are orders TikTok did not return stays PENDING (ORDER_NOT_FOUND) within
    `ORDER_NOT_FOUND_RETRY` of its receipt (`WebhookEvent.await_order`), FAILED after it. An order status change
    whose order TikTok served in a version older than its `data.update_time` (or of that time, in a status before
    its `data.order_status` in TikTok's order life: `domain.intake.stale_order`) stays
    PENDING (STALE_ORDER) within that time too, and is PROCESSED with STALE_ORDER and the reason after it (the
    version served is stored either way, unless the catalog holds a later one, `domain.catalog.older_order_version`;
    the shop's order poll brings the newer one)."""
    event.attempts += 1
    try:
        meaning = event.meaning()
    except MalformedEventError as exc:
        event.finish(now, EventOutcome.FAILED, EventError.MALFORMED_EVENT, str(exc))
        return
    if meaning.is_empty:
        event.finish(
            now, EventOutcome.IGNORED, None, meaning.ignored_because or "Shopbridge does not act on this event type."
        )
        return
    needs_api = bool(meaning.order_ids or meaning.product_ids or meaning.reconcile_skus)
    if not needs_api and not shop.notice_is_current(event.sent_no_earlier_than):
        event.finish(now, EventOutcome.IGNORED, None, STALE_NOTICE if event.notified_at else UNDATED_NOTICE)
        return
    if refused is not None and refused is not EndNoticeRefusal.STALE:
        event.finish(
            now, EventOutcome.IGNORED, None, ENDED_NOTICE if refused is EndNoticeRefusal.ENDED else EARLIER_END_NOTICE
        )
        return
    if needs_api and fetched.revoked:
        event.finish(
            now,
            EventOutcome.FAILED,
            EventError.REAUTHORIZATION_REQUIRED,
            AUTHORIZATION_ENDED if fetched.ended else AUTHORIZATION_REVOKED,
        )
        return
    keys = [f"order:{i}" for i in meaning.order_ids] + [f"product:{i}" for i in meaning.product_ids]
    failures = [fetched.failures[key] for key in keys if key in fetched.failures]
    if failures:
        code, message = failures[0]
        if all(failure[0] is EventError.ORDER_NOT_FOUND for failure in failures) and event.await_order(now, message):
            return  # TikTok may not serve the order yet: PENDING, retried until its time is up (`await_order`)
        event.finish(now, EventOutcome.FAILED, code, message)
        return
    stale = [
        reason
        for order_id in meaning.order_ids
        if (served := fetched.order_versions.get(order_id)) is not None
        and (reason := stale_order(served[0], meaning, event.received_at, served[1])) is not None
    ]
    if stale:  # the version served was stored; a newer one may not be readable yet (`stale_order`)
        if event.await_order(now, stale[0], EventError.STALE_ORDER):
            return
        event.finish(now, EventOutcome.PROCESSED, EventError.STALE_ORDER, f"{stale[0]}{STALE_AFTER_RETRIES}")
        return
    # what was applied for a product Get Product no longer serves, if any (`_confirm_unserved`)
    applied = [fetched.applied[key] for key in keys if key in fetched.applied]
    reconciled = RECONCILE_SENT if meaning.reconcile_skus else None
    event.finish(now, EventOutcome.PROCESSED, None, applied[0] if applied else reconciled)


async def _count_attempt(deps: IntakeDeps, shop_id: str, event_ids: list[str]) -> None:
    """Best effort: show on each event that a run failed; they stay PENDING for the retry."""
    try:
        async with deps.uow_factory() as uow:
            if await uow.shops.get(shop_id) is None:  # the shop first, as a shop's delete takes it
                return  # deleted meanwhile: its events went with it
            # The run's events are the shop's oldest pending ones (fewer if another run settled some meanwhile).
            events = [e for e in await uow.webhook_events.pending(shop_id, len(event_ids)) if e.id in event_ids]
            for event in events:
                event.attempts += 1
                event.error_code, event.error_message = EventError.TIKTOK_UNAVAILABLE, "TikTok is unavailable."
            await uow.webhook_events.save(events)
            await uow.commit()
    except Exception:
        log.warning("shop %s: could not count a failed webhook run", shop_id, exc_info=True)


def _api(deps: IntakeDeps, shop: Shop) -> ShopRefreshApi:
    return deps.shop_api(shop, StoredShopTokens(deps.uow_factory, deps.clock, shop, deps.events, deps.queue))
