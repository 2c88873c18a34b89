"""Register Shopbridge's webhook address with TikTok's Event API for one shop (live-sync.md §2.5).

Runs in a worker after every completed authorization and re-authorization, and for every shop registered with
another address when a process starts (`reregister_moved_webhooks`). A failure is recorded on the shop
(`webhook_registration_error`) and raised for the queue to retry; it never touches the shop's authorization
itself, except that TikTok refusing the token revokes the shop as everywhere else.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from domain.clock import Clock
from domain.intake import SUBSCRIBED_EVENT_TYPES
from domain.ports import (
    AuthorizationLostError,
    EventPublisher,
    GatewayError,
    ShopRefreshApiFactory,
    TaskQueue,
    UnitOfWorkFactory,
)
from domain.services.shop_tokens import StoredShopTokens
from domain.services.sync import publish_shop_quietly
from domain.shops import RegisteredWebhooks, ShopStatus

log = logging.getLogger(__name__)


async def register_shop_webhooks(
    uow_factory: UnitOfWorkFactory,
    shop_api: ShopRefreshApiFactory,
    clock: Clock,
    shop_id: str,
    address: str,
    events: EventPublisher | None = None,
    queue: TaskQueue | None = None,
) -> bool:
    """PUT `address` for every subscribed event type (`SUBSCRIBED_EVENT_TYPES`); False when there was nothing to do
    (shop gone or revoked, or deleted while the PUTs went out: the rest are not sent), or nothing may be asked of TikTok
    for it: its authorization has ended (EXPIRED at `clock`'s now: as imports, polls, webhook processing and pushes,
    no PUT with its dead tokens, whose refresh TikTok would refuse and so make it REVOKED, break66 F1; its
    re-authorization registers it again). Raises the `GatewayError`, or any
    other exception, after recording it on the shop (every ended attempt ends the shop's first registration for
    the imports waiting for it); the queue retries. The outcome is the shop's (its registration error, or its
    revocation when TikTok refused the token), so `events` is told of a change of the shop after the commit
    (`shopUpdated`, `shopsUpdated`): a revocation showed only at the feeds' next full read before.

    `queue` sends, right after their commit, the imports a token refresh of this session queues again when it lifts
    the shop's revocation (`shop_tokens.store_refreshed_pair`, as a re-authorization sends its re-runs); without one
    they are marked unsent and wait for the scheduler's tick (`SHOPBRIDGE_SCHEDULER_TICK`, up to 30 s by default:
    rerun72, the worker's registration had none)."""
    async with uow_factory() as uow:
        shop = await uow.shops.get(shop_id)
    if shop is None or shop.authorization_lost or shop.status(clock.now()) is ShopStatus.EXPIRED:
        return False
    error: Exception | None = None
    try:
        api = shop_api(shop, StoredShopTokens(uow_factory, clock, shop, events, queue))
        for n, event_type in enumerate(SUBSCRIBED_EVENT_TYPES):
            if n and not await _still_stored(uow_factory, shop_id):
                # Deleted meanwhile (its deletion changes nothing at TikTok, and subscribing the rest of its pushes
                # would): nothing more is sent, nothing is recorded, nothing is retried.
                log.info("shop %s: deleted during its webhook registration; the rest of it is not sent", shop_id)
                return False
            await api.register_webhook(address, event_type.name)
    except GatewayError as exc:
        error = exc
        log.warning("shop %s: webhook registration failed: %s", shop_id, exc)
    except Exception as exc:
        # Not TikTok's answer (our bug, an HTTP error the client does not translate): recorded all the same, so that
        # the attempt ends the imports' wait (`import_waits_for_registration`), which lasted its full 30 s; the
        # text stays in the worker's log (Dramatiq's retry line has the traceback), not on the merchant's shop.
        error = exc
        log.warning("shop %s: webhook registration failed: %s: %s", shop_id, type(exc).__name__, exc)
    async with uow_factory() as uow:
        current = await uow.shops.get(shop_id)
        if current is None:
            return False
        message = None if error is None else _shown_error(error)
        current.record_webhook_registration(clock.now(), message, address)
        if isinstance(error, AuthorizationLostError):
            current.revoke_refused(shop, clock.now(), error.refused_access_token)
        await uow.shops.update(current)
        await uow.commit()
    await publish_shop_quietly(events, current)  # after the commit: never hold a connection for a signal
    if error is not None:
        raise error
    return True


async def import_waits_for_registration(
    uow_factory: UnitOfWorkFactory, clock: Clock, task_id: str, longest: timedelta
) -> str | None:
    """What sync task `task_id`, queued by its shop's connection (trigger AUTHORIZATION) and not begun, waits for:
    `"its webhooks"` while the shop's first webhook registration has not ended (registered, or a failure of any
    kind recorded: `register_shop_webhooks`), then `"its products import"` while the import its connection queued
    ahead of it has not begun (`SyncTask.waits_for_import_ahead`); None: it goes on. README's "the registration runs
    ahead of the imports queued with it". A priority only orders the messages a busy worker holds; with free threads
    the imports ran beside the registration and outran it: 9 PUTs sharing the worker's event loop, the database and
    the shop's TikTok budget with a 2,000-product import ended after it (try-out crash52: +4.4 s, +6.7 s). The
    imports' messages are sent again while they wait, and come back in the order they were last sent: without the
    second rule an ORDERS import that looked first once the registration had ended began before its PRODUCTS (CI
    on 1ecd03a, one worker thread). Not longer than `longest` after the task was queued (a registration message lost
    with an in-memory queue, a TikTok that holds the call): the imports go on, and the sweeps send the registration
    again.

    Rows are locked shop first, then tasks (this task, then the one ahead), as everywhere (`importer._begin`): the
    task is first read in a unit of work of its own, for its shop's id. Taken task first, the ORDERS import's look
    (its task, the shop, the PRODUCTS task) and the PRODUCTS import's (its task, the shop) deadlocked on PostgreSQL,
    and a rename queued for the shop between them was aborted (40P01: CI run 1625, `test_rename[postgres]`;
    `tests/integration/test_db_sync_lock_order.py`)."""
    async with uow_factory() as uow:
        peek = await uow.sync_tasks.get(task_id)
    if peek is None or not peek.waits_for_webhook_registration(clock.now(), longest):
        return None
    async with uow_factory() as uow:
        shop = await uow.shops.get(peek.shop_id)
        task = await uow.sync_tasks.get(task_id)
        if task is None or not task.waits_for_webhook_registration(clock.now(), longest):
            return None
        if shop is None or shop.authorization_lost:
            return None
        if shop.awaits_first_webhook_registration:
            return "its webhooks"
        kind_ahead = task.connection_kind_ahead
        if kind_ahead is not None and task.waits_for_import_ahead(await uow.sync_tasks.active(shop.id, kind_ahead)):
            return f"its {kind_ahead.value.lower()} import"
    return None


def _shown_error(error: Exception) -> str:
    """The failure as recorded on the shop (`webhook_registration_error`, at most 500 characters): TikTok's error
    with its text (`GatewayError: ...`), any other with its kind alone."""
    if isinstance(error, GatewayError):
        return f"{type(error).__name__}: {error}"[:500]
    return f"{type(error).__name__}: the registration failed inside Shopbridge (the worker's log says why)"[:500]


async def _still_stored(uow_factory: UnitOfWorkFactory, shop_id: str) -> bool:
    """Whether the shop is still there: a short read before each PUT after the first."""
    async with uow_factory() as uow:
        return await uow.shops.get(shop_id) is not None


async def resume_webhook_registrations(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, clock: Clock, older_than: timedelta, *, failed_too: bool
) -> list[str]:
    """Enqueue the registration of every shop authorized more than `older_than` ago whose registration never
    succeeded; returns their ids. Its message was lost (a stop before it ran, an in-memory queue) or, with
    `failed_too`, its retries were (a restart of the embedded mode). A failure the queue still retries has an error
    recorded, so the periodic sweep (`failed_too=False`) leaves it to those retries. Idempotent: registering twice
    is harmless; a queue without registration (the address is configured app-wide) makes this a no-op."""
    async with uow_factory() as uow:
        now = clock.now()
        shop_ids = await uow.shops.awaiting_webhook_registration(
            now - older_than, now=now, failed_too=failed_too, limit=1000
        )
    for shop_id in shop_ids:
        await queue.enqueue_webhook_registration(shop_id)
    if shop_ids:
        log.info("re-enqueued the webhook registration of %d shop(s)", len(shop_ids))
    return shop_ids


async def reregister_moved_webhooks(
    uow_factory: UnitOfWorkFactory, queue: TaskQueue, address: str, started_at: datetime, *, page_size: int = 500
) -> list[str]:
    """Enqueue the registration of `address` for every shop whose webhooks were registered with another address,
    or an unknown one (registered before addresses were kept); returns their ids. Run once as a process starts
    (`started_at`): SHOPBRIDGE_PUBLIC_URL may have changed since the shops were authorized (`make run PORT=...` on
    the same data, a moved deployment), and TikTok would go on pushing to the old address.

    A registration made since `started_at` with another address was made by another process that serves beside
    this one with another SHOPBRIDGE_PUBLIC_URL: it is left alone with a WARNING naming both addresses (registering
    ours again would make the two processes take turns at every start). A shop whose stored tokens no configured
    key decrypts (`RegisteredWebhooks.tokens_readable`: a process started with the wrong SHOPBRIDGE_ENCRYPTION_KEY)
    is not enqueued either: its registration could not call TikTok (`Shop.authorization_lost`). The INFO line counts
    the shops enqueued; one WARNING line names the others by id with the code `TOKENS_UNREADABLE` (F6: the count
    included them, "registering the webhooks of N shop(s) again" when none could be). No token is logged.
    Idempotent, like the registration."""
    enqueued: list[str] = []
    unreadable: list[str] = []
    last: RegisteredWebhooks | None = None
    while True:
        async with uow_factory() as uow:
            page = await uow.shops.registered_elsewhere(address, now=started_at, after=last, limit=page_size)
        for registered in page:
            if registered.by_a_newer_process(started_at):
                log.warning(
                    "shop %s: its webhooks were registered at %s by another process since this one started, with "
                    "%s; this process would register %s: left as it is (give every process the same "
                    "SHOPBRIDGE_PUBLIC_URL)",
                    registered.shop_id, registered.registered_at.isoformat(), registered.address, address,
                )  # fmt: skip
                continue
            if not registered.tokens_readable:
                unreadable.append(registered.shop_id)
                continue
            await queue.enqueue_webhook_registration(registered.shop_id)
            enqueued.append(registered.shop_id)
        if len(page) < page_size:
            break
        last = page[-1]
    if enqueued:
        log.info(
            "registering the webhooks of %d shop(s) again at %s (registered elsewhere before)", len(enqueued), address
        )
    if unreadable:
        shown = sorted(unreadable)
        more = f" and {len(shown) - MAX_SHOPS_NAMED} more" if len(shown) > MAX_SHOPS_NAMED else ""
        log.warning(
            "not registering the webhooks of %d shop(s) again at %s (%s): their stored tokens do not decrypt with the "
            "configured SHOPBRIDGE_ENCRYPTION_KEY; deploy the key that encrypted them, or re-authorize them: %s%s",
            len(unreadable), address, TOKENS_UNREADABLE, ", ".join(shown[:MAX_SHOPS_NAMED]), more,
        )  # fmt: skip
    return enqueued


TOKENS_UNREADABLE = "TOKENS_UNREADABLE"
"""The stable code of the boot sweep's WARNING naming shops it left out because their tokens do not decrypt."""
MAX_SHOPS_NAMED = 50
"""At most this many shop ids in that line (the rest counted): a wrong key leaves every shop out, thousands of ids."""
