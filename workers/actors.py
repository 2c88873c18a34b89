"""Dramatiq actors: thin, idempotent, JSON-simple arguments; the work is in `domain.services`.

Import through `workers.broker.setup_broker`, never first: the decorators bind to the global broker. A keyword
argument a message gives an actor here that it does not take (a newer release's) is dropped before it runs
(`workers.keywords`): a keyword added to an actor must be one an older release may ignore.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, ParamSpec

import dramatiq

from adapters.config import Settings
from adapters.logs import log_context
from adapters.pending_messages import REARM_SECONDS, run_started, still_waiting
from adapters.queue import DramatiqTaskQueue
from adapters.tiktok.budget import time_budget
from domain.errors import DomainError
from domain.ports import AuthorizationLostError, GatewayRefusedError, QueueUnavailableError, TaskQueue
from domain.services import (
    importer,
    intake,
    inventory_push,
    inventory_reconcile,
    polling,
    rereads,
    tokens,
    webhook_registration,
)
from domain.services.sync import wait_for_worker
from domain.sync import SyncKind
from workers.broker import LIVE_QUEUE, SYNC_QUEUE
from workers.resources import Resources, RunPostponed, RunRefused, WorkerResources, sweep_thresholds

P = ParamSpec("P")
log = logging.getLogger(__name__)


def refused_quietly(run: Callable[P, Awaitable[None]]) -> Callable[P, Coroutine[Any, Any, None]]:
    """An actor's body whose run, refused because the embedded worker is shutting down (`RunRefused`), ends with
    one INFO line instead of an error or a retry: the next start's boot sweep resumes the work from the database
    (`workers.resources.Resources.serving`). A run postponed (`RunPostponed`: its message is sent again already)
    ends with its INFO line when it has one (a worker process's shutdown), else without (the database waits for
    `shopbridge migrate`: the gate's MIGRATIONS_PENDING line said why)."""

    @functools.wraps(run)
    async def quietly(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await run(*args, **kwargs)
        except RunRefused as refused:
            log.info("%s not started: the worker is shutting down; it resumes at the next start", refused.what)
        except RunPostponed as postponed:
            if postponed.line is not None:
                with log_context(**postponed.log_values):  # the run's task_id or shop_id, as its other lines
                    log.info("%s", postponed.line)

    return quietly


# The engine enforces SHOPBRIDGE_SYNC_TIME_LIMIT itself (`SyncOptions.time_limit_seconds`), on the event loop, and
# records TIME_LIMIT_EXCEEDED. Dramatiq's own TimeLimit stays a backstop a little later: it interrupts the worker
# thread, which for an async actor only cancels the coroutine's future, with nothing recorded.
TIME_LIMIT_GRACE_MS = 30_000

# The share of its actor's time limit a run's TikTok calls may take in all (`tiktok_budget`); the rest is for its
# database work and the looks at the stored pair after a refusal (~2 s, `domain.tokens.STORED_TOKENS_POLL`).
TIKTOK_SHARE_OF_TIME_LIMIT = 0.75


def tiktok_budget(actor: dramatiq.Actor[..., Any]) -> contextlib.AbstractContextManager[object]:
    """The time budget (`adapters.tiktok.budget.time_budget`) of a run of `actor`'s TikTok calls, from the actor's
    own `time_limit` option (milliseconds): `TIKTOK_SHARE_OF_TIME_LIMIT` of it, 45 s of the 60 s of the token
    refresh, the webhook registration and the poll (its read of unreadable marks by id). A call that would outlast it
    gives up with `TikTokUnavailableError` instead, so the run ends with the outage said (`Resources.serving`: one
    WARNING line, the message retried; the poll's read: one INFO line) rather than being interrupted by Dramatiq's
    TimeLimit (with the defaults, 10 s a try and 5 retries, one refresh against a silent auth host took ~70 s: review
    clientreview53 item 5; the poll's read, review53 item 2)."""
    return time_budget(actor.options["time_limit"] / 1000 * TIKTOK_SHARE_OF_TIME_LIMIT)


TOKEN_REFRESH_PRIORITY = -10
# Ahead of the imports queued with it at authorization (behind a refresh, which has a deadline): until it succeeds
# TikTok pushes nothing for the shop, so a sale during a long import would wait for a poll; it is a handful of
# requests (Dramatiq: a worker takes the lowest priority first).
WEBHOOK_REGISTRATION_PRIORITY = -5


@dramatiq.actor(
    queue_name=SYNC_QUEUE,
    # Defaults only; `bind` sets them from the settings. Retries resume from the checkpoint; the engine counts
    # failed runs in the database (`SyncTask.failed_attempts`) and fails the task on the last one, so Dramatiq's
    # retry count (one per failed run of a message, none for a shutdown's hand-back) never runs out first.
    max_retries=5,
    min_backoff=10_000,
    max_backoff=600_000,
    time_limit=2 * 3600 * 1000 + TIME_LIMIT_GRACE_MS,  # one attempt of a 100,000-order import fits with room to spare
    # Retrying cannot fix a rule, a lost authorization or a refusal (the engine fails those tasks itself anyway).
    throws=(DomainError, AuthorizationLostError, GatewayRefusedError),
)
@refused_quietly
async def run_sync_task(
    task_id: str, after_webhook_registration: bool = False, resumes_attempt: int | None = None
) -> None:
    """Run or resume sync task `task_id`; a finished or deleted task is a no-op. With every import slot of this
    process taken (`workers.slots`), the task stays QUEUED and its message is sent again shortly; so too, with
    `after_webhook_registration` (a new shop's import, its registration queued with it), while the shop's webhook
    registration has not ended, then while the import its connection queued ahead of it has not begun (ORDERS
    waits for PRODUCTS: `webhook_registration.import_waits_for_registration`); and, with its retries untouched, while
    the task's shop is held by its delete (`Resources.serving`'s `task_id`: then the task is cancelled or gone). A run
    that meets its shop's delete later (as it begins, before a batch or its finish: the engine's `HandedBack`) ends
    with its batch rolled back and its message sent again `SHOP_DELETE_WAIT_DELAY_MS` later, its retries untouched,
    with `resumes_attempt`: the lease its task may still be RUNNING under (the delete held the task's row), resumed
    without a failed run counted (an older release ignores the keyword and counts one)."""
    with log_context(task_id=task_id):
        middleware = Resources.of(run_sync_task.broker)
        async with middleware.serving(f"sync task {task_id}", task_id=task_id) as resources:
            settings, deps = middleware.settings, resources.sync
            waits_for = after_webhook_registration and await webhook_registration.import_waits_for_registration(
                deps.uow_factory, deps.clock, task_id, REGISTRATION_WAIT_LONGEST
            )
            if waits_for:
                delay_ms = settings.registration_wait_recheck_ms
                await _send_again_later(task_id, resources, settings, delay_ms, waits_for, True)
                return
            # The slot is taken before the engine marks the task RUNNING, and given back however the run ends.
            with middleware.import_slots.held() as slot:
                if slot:
                    outcome = await importer.run_sync_task(task_id, resources.sync, resumes_attempt)
                    if isinstance(outcome, importer.StaleStatistics):
                        # The task is SUCCEEDED already: the planner's statistics after it, not in its time.
                        await importer.refresh_statistics(outcome, resources.sync)
                    elif outcome is not None:
                        again = {"resumes_attempt": outcome.attempt}
                        if postponed := await middleware.sent_back_for_a_delete(f"sync task {task_id}", again):
                            raise postponed
                    return
            await _send_again_later(task_id, resources, settings, SLOT_WAIT_DELAY_MS, "an import slot", False)


# An import that finds every import slot of its process taken is sent again after this long, as a NEW message
# (`send_with_options(delay=...)`): a `dramatiq.Retry` would count towards `max_retries` (Dramatiq 2.2's Retries
# middleware counts every retry, `Retry` included) and back off ever longer; waiting in the actor would hold the
# very thread the slots keep free. The new message starts with no retries of its own; the engine counts failed runs
# in the database (`SyncTask.failed_attempts`), and a message that waited for a slot never began a run.
SLOT_WAIT_DELAY_MS = 1_500

# A new shop's import waits for the shop's webhook registration, queued with it, to end, then for the import queued
# ahead of it to begin (README "Registering the address with TikTok"; `webhook_registration.
# import_waits_for_registration`): its message is sent again every `Settings.registration_wait_recheck_ms`
# (SHOPBRIDGE_REGISTRATION_WAIT_RECHECK_MS, 250 ms by default: short, as the registration is a handful of requests and
# the import waits for the next look), for this long at most after the task was queued (a lost registration message,
# a TikTok holding the call: the import goes on).
REGISTRATION_WAIT_LONGEST = timedelta(seconds=30)


async def _send_again_later(
    task_id: str, resources: WorkerResources, settings: Settings, delay_ms: int, waits_for: str, after_webhooks: bool
) -> None:
    deps = resources.sync
    # Touch a waiting QUEUED task well before the sweep would take its message for a lost one (and send a second).
    touch_after = sweep_thresholds(settings)[1] / 4
    if not await wait_for_worker(deps.uow_factory, deps.clock, task_id, touch_after):
        return  # ended (e.g. cancelled) or deleted while it waited: nothing to send
    log.debug("sync task %s waits for %s; sent again in %d ms", task_id, waits_for, delay_ms)
    # Only a message still waiting for the registration carries the flag: one that had a slot to wait for has no
    # more reason to (and a message's argument list stays as the sweeps and tests know it).
    kwargs = {"after_webhook_registration": True} if after_webhooks else {}
    send = functools.partial(run_sync_task.send_with_options, args=(task_id,), kwargs=kwargs, delay=delay_ms)
    if settings.broker_url is not None:
        await asyncio.to_thread(send)  # Redis: a blocking network call
    else:
        send()  # the StubBroker only appends to an in-process queue


# Polls' requests and token refreshes are `live` messages (seconds each), not `sync` ones: a worker process fetches no
# more `sync` messages than it has import slots (`WorkerRedisBroker.consume`), so on the `sync` queue they waited in
# Redis behind every import while the slots were taken (with one process, no poll and no refresh until an import
# ended: review52b); as `live` messages the reserved threads take them. (The poll's own run, a sync task, is a `sync`
# message: it takes an import slot as any import does.)
@dramatiq.actor(queue_name=LIVE_QUEUE, max_retries=3, min_backoff=1_000, max_backoff=30_000, time_limit=60_000)
@refused_quietly
async def poll_shop(shop_id: str, kind: str, scheduled_at: str | None = None) -> None:
    """Queue the shop's poll of `kind` for the tick `scheduled_at` (ISO 8601) and enqueue it; a duplicate, a
    shop that cannot sync or an active task of the kind make it a no-op. Then read the shop's oldest marks of records
    of `kind` TikTok sent unreadably again by id (`rereads.reread_unreadable`: at most 50 orders or 10 products),
    here on the `live` queue, whether or not a poll was queued: a duplicate message reads them again harmlessly.
    Those TikTok calls run under the actor's budget (`tiktok_budget`): against a TikTok that never answers they give
    up in time (the marks are left for the next poll, one INFO line), not interrupted by the time limit (review53)."""
    tick = datetime.fromisoformat(scheduled_at) if scheduled_at else None
    with log_context(shop_id=shop_id):  # every log line of the run names the shop
        broker = poll_shop.broker
        serving = Resources.of(broker).serving(f"the {kind} poll of shop {shop_id}", live=True, shop_id=shop_id)
        async with serving as resources:
            deps = resources.sync
            await polling.start_poll(
                deps.uow_factory, resources.queue, deps.events, deps.clock, resources.poll, shop_id, SyncKind(kind),
                tick,
            )  # fmt: skip
            with tiktok_budget(poll_shop):
                await rereads.reread_unreadable(resources.intake, shop_id, SyncKind(kind))


@dramatiq.actor(
    queue_name=LIVE_QUEUE,  # as `poll_shop`: fetched whatever the imports hold
    max_retries=3,
    min_backoff=5_000,
    max_backoff=60_000,
    time_limit=60_000,
    throws=(DomainError,),
    # Taken before any other message a worker holds (lower is first; the others keep Dramatiq's 0): a refresh has a
    # deadline, the token's expiry, and imports, pushes and polls do not. Seen at load 13: a refresh queued behind
    # a push and a reconcile ran after the token had expired (a request's 105002 then refreshed it instead).
    priority=TOKEN_REFRESH_PRIORITY,
)
@refused_quietly
async def refresh_shop_tokens(shop_id: str) -> None:
    """Refresh the shop's access token if it is (still) due; a dead refresh token revokes the shop."""
    with log_context(shop_id=shop_id):  # every log line of the run names the shop
        async with Resources.of(refresh_shop_tokens.broker).serving(
            f"the token refresh of shop {shop_id}", live=True, shop_id=shop_id
        ) as resources:
            deps = resources.sync
            with tiktok_budget(refresh_shop_tokens):
                await tokens.refresh_shop_tokens(
                    deps.uow_factory, resources.refresh, deps.events, deps.clock, shop_id, queue=resources.queue
                )


@dramatiq.actor(
    queue_name=LIVE_QUEUE,
    # TikTok unavailable: events stay PENDING and the message is retried; 10 tries over ~an hour, then the next
    # event of the shop (or a replay) picks them up again.
    max_retries=10,
    min_backoff=1_000,
    max_backoff=600_000,
    time_limit=5 * 60 * 1000,  # 500 events: at most 10 order calls and a few hundred product calls
    throws=(DomainError,),
)
@refused_quietly
async def process_webhook_events(shop_id: str) -> None:
    """Process shop `shop_id`'s pending webhook events; nothing pending (or no such shop) is a no-op.

    Sent coalesced (`adapters.queue.send_coalesced`): while a message of the shop waits, unstarted or behind a run
    of the shop in this process, no other is sent. Its mark is cleared only once the run may read (a live slot held,
    its turn among the shop's runs), just before it reads the pending events: an event stored or replayed after that
    is sent a message of its own, one before it is in the reading. A message sent back for want of a live slot, or
    while the shop's delete holds the shop (`Resources.serving`'s `shop_id`), or waiting its turn, leaves the mark
    set: it is the shop's waiting message."""
    broker = process_webhook_events.broker
    with log_context(shop_id=shop_id):  # every log line of the run names the shop
        serving = Resources.of(broker).serving(f"webhook events of shop {shop_id}", live=True, shop_id=shop_id)
        async with serving as resources:
            started = functools.partial(run_started, broker, process_webhook_events.actor_name, shop_id)
            waiting = functools.partial(still_waiting, broker, process_webhook_events.actor_name, shop_id)
            await _process_webhook_events(resources.intake, shop_id, started, waiting)


async def _process_webhook_events(
    deps: intake.IntakeDeps,
    shop_id: str,
    started: Callable[[], Awaitable[None]] | None = None,
    waiting: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run the shop's events, one run of a shop at a time in this process; `started()` (clearing the shop's
    coalescing mark) is awaited once this run has its turn, before it reads anything, and `waiting()` (renewing that
    mark: `adapters.pending_messages.rearm`) every `REARM_SECONDS` while it waits for its turn."""
    # Runs of one shop take turns in this process (all actors share one event loop). A message arriving while
    # another run of the shop already waits its turn (one sent once that run's mark lapsed) is covered by that run
    # (it reads after this message was sent, so it sees every event committed before) and returns at once. Across
    # processes two runs may overlap; that costs duplicate fetches, never wrong data.
    if _shop_waiting.get(shop_id):
        return
    lock = _shop_locks.setdefault(shop_id, asyncio.Lock())
    _shop_waiting[shop_id] = _shop_waiting.get(shop_id, 0) + 1
    entered = False
    try:
        while True:
            try:
                async with asyncio.timeout(REARM_SECONDS if waiting is not None else None):
                    await lock.acquire()
                break
            except TimeoutError:
                assert waiting is not None
                await waiting()  # still the shop's waiting message: its mark stays young (a run holds the turn)
        entered = True
        try:
            _leave_waiting(shop_id)
            if started is not None:
                await started()
            await intake.process_shop_events(deps, shop_id)
        finally:
            lock.release()
    finally:
        if not entered:
            _leave_waiting(shop_id)  # cancelled while waiting for the lock
        if not lock.locked() and not _shop_waiting.get(shop_id) and _shop_locks.get(shop_id) is lock:
            del _shop_locks[shop_id]


def _leave_waiting(shop_id: str) -> None:
    left = _shop_waiting.pop(shop_id, 0) - 1
    if left > 0:
        _shop_waiting[shop_id] = left


_shop_waiting: dict[str, int] = {}  # runs of a shop waiting for its lock (0 or 1: a second one returns at once)
_shop_locks: dict[str, asyncio.Lock] = {}


@dramatiq.actor(
    queue_name=LIVE_QUEUE,
    max_retries=5,  # each failure is shown on the shop (`webhook_registration_error`) until one succeeds
    min_backoff=10_000,
    max_backoff=3_600_000,
    time_limit=60 * 1000,
    # A refusal (e.g. 36009004: the address must be https) is on the shop and the same request would be refused
    # again: no retry, no traceback; a re-authorization or the start-up sweep sends it again.
    throws=(DomainError, AuthorizationLostError, GatewayRefusedError),
    priority=WEBHOOK_REGISTRATION_PRIORITY,
)
@refused_quietly
async def register_webhooks(shop_id: str) -> None:
    """Register `SHOPBRIDGE_PUBLIC_URL/webhooks/tiktok` for shop `shop_id` with TikTok's Event API; idempotent."""
    with log_context(shop_id=shop_id):  # every log line of the run names the shop
        async with Resources.of(register_webhooks.broker).serving(
            f"webhook registration of shop {shop_id}", live=True, shop_id=shop_id
        ) as resources:
            deps = resources.intake
            with tiktok_budget(register_webhooks):
                await webhook_registration.register_shop_webhooks(
                    deps.uow_factory, deps.shop_api, deps.clock, shop_id, resources.webhook_url, deps.events,
                    queue=resources.queue,
                )  # fmt: skip


# Rounds (`domain.services.inventory_push.push_shop`: at most 20 products written each, 4 at a time) one push run
# does before it sends the rest of its shop's push behind the `live` messages that waited meanwhile. A thread runs one
# message at a time: the first push after a 1,000-product import took 27-40 s here, and a webhook queued behind it
# waited for all of it; now for at most this many rounds (a few seconds each) per shop ahead of it.
PUSH_ROUNDS_PER_RUN = 4


@dramatiq.actor(
    queue_name=LIVE_QUEUE,
    # A failed product is retried by the outbox itself (attempts, next_attempt_at, the scheduler's sweep); a
    # message retry only covers a crash of the run before it could record anything.
    max_retries=3,
    min_backoff=1_000,
    max_backoff=30_000,
    time_limit=5 * 60 * 1000,
    throws=(DomainError, AuthorizationLostError),
)
@refused_quietly
async def push_inventory(shop_id: str) -> None:
    """Push shop `shop_id`'s dirty products to TikTok (issue 8); nothing dirty or a revoked shop is a no-op.

    Sent coalesced (`adapters.queue.send_coalesced`): while a message of the shop waits unstarted, no other is
    sent. So the shop's mark is cleared as the run begins (once it holds a live slot, `workers.slots`), before it
    reads anything: a change committed after that is sent a message of its own, one committed before it is in the
    run's reading. A message sent back for want of a live slot, or while the shop's delete holds the shop
    (`Resources.serving`'s `shop_id`: a delete rolled back lets it push, one committed makes it a no-op), leaves the
    mark set: it is the shop's waiting message. A run pushes `PUSH_ROUNDS_PER_RUN` rounds at most, then sends the
    shop's push again for the rest (coalesced too)."""
    with log_context(shop_id=shop_id):
        async with Resources.of(push_inventory.broker).serving(
            f"the inventory push of shop {shop_id}", push=True, shop_id=shop_id
        ) as resources:
            # Only now, with a live slot held: a message sent back for want of one still covers the shop.
            await run_started(push_inventory.broker, push_inventory.actor_name, shop_id)
            report = await inventory_push.push_shop(shop_id, resources.push, rounds=PUSH_ROUNDS_PER_RUN)
            if report.more_due:  # the rest after what waited meanwhile (a webhook): sent behind it
                await resources.queue.enqueue_inventory_push(shop_id)
            elif report.due_at is not None:  # rows due later, which no message of the shop may cover: one for then
                await _push_later(resources.queue, shop_id, report.due_at - resources.push.clock.now())


async def _push_later(queue: TaskQueue, shop_id: str, delay: timedelta) -> None:
    """Send `push_inventory(shop_id)` `delay` from now (`DramatiqTaskQueue.enqueue_inventory_push_later`: not
    coalesced, and not sent again while one of this process is due by then). A failed send is one WARNING line: the
    scheduler's inventory tick sends the push once the rows are due
    (`domain.services.inventory_reconcile.inventory_tick`)."""
    delay_ms = math.ceil(max(0.0, delay.total_seconds()) * 1000)
    try:
        await queue.enqueue_inventory_push_later(shop_id, delay_ms)
    except QueueUnavailableError as exc:
        log.warning("could not send the push of shop %s due in %d ms (%s); the scheduler's tick will", shop_id,
                    delay_ms, exc)  # fmt: skip


@dramatiq.actor(
    queue_name=LIVE_QUEUE,
    max_retries=3,
    min_backoff=5_000,
    max_backoff=60_000,
    time_limit=5 * 60 * 1000,
    throws=(DomainError, AuthorizationLostError, GatewayRefusedError),
)
@refused_quietly
async def reconcile_inventory(shop_id: str) -> None:
    """Compare TikTok's stock of the shop's linked SKUs with their targets; push again where it drifted."""
    with log_context(shop_id=shop_id):
        async with Resources.of(reconcile_inventory.broker).serving(
            f"the inventory reconcile of shop {shop_id}", push=True, shop_id=shop_id
        ) as resources:
            await inventory_reconcile.reconcile_shop(shop_id, resources.push, resources.queue.enqueue_inventory_push)


ACTORS: tuple[dramatiq.Actor[..., Any], ...] = (
    run_sync_task,
    poll_shop,
    refresh_shop_tokens,
    process_webhook_events,
    register_webhooks,
    push_inventory,
    reconcile_inventory,
)


def bind(broker: dramatiq.Broker, settings: Settings) -> None:
    """Declare the actors on `broker` (tests and the embedded mode may build several brokers) and tune them."""
    for actor in ACTORS:
        if actor.broker is not broker:
            actor.broker = broker
            broker.declare_actor(actor)
    run_sync_task.options.update(
        max_retries=settings.sync_max_attempts,
        min_backoff=settings.sync_min_backoff_ms,
        max_backoff=settings.sync_max_backoff_ms,
        time_limit=settings.sync_time_limit_seconds * 1000 + TIME_LIMIT_GRACE_MS,
    )
    # Registration retries back off like imports do (tests shorten both through the same settings).
    register_webhooks.options.update(min_backoff=settings.sync_min_backoff_ms)


def task_queue(settings: Settings) -> DramatiqTaskQueue:
    """The queue over these actors: blocking sends on Redis; no registration when the address is app-wide."""
    return DramatiqTaskQueue(
        run_sync_task,
        blocking=settings.broker_url is not None,
        webhook_events_actor=process_webhook_events,
        webhook_registration_actor=None if settings.webhooks_app_wide else register_webhooks,
        inventory_push_actor=push_inventory,
        inventory_reconcile_actor=reconcile_inventory,
    )
