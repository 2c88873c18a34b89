"""The worker process's composition root: built on Dramatiq's event loop after boot, disposed at shutdown.

Async engines and HTTP clients belong to the loop they were made on; async actors all run on the one loop the
`AsyncIO` middleware starts, so everything is created there, lazily on first use (a message may arrive before
`after_worker_boot` ran) and eagerly after boot so that a bad setting shows at start-up. The periodic sweep of
stale tasks runs here too (with the in-memory StubBroker it first re-enqueues everything a crash left active), and
so does retention: settled webhook events older than `SHOPBRIDGE_WEBHOOK_RETENTION`, finished sync tasks older than
`SHOPBRIDGE_TASK_RETENTION` (but the newest of each shop and kind) and spent OAuth requests are deleted.

Shutdown (SIGTERM to a worker process, or the API process stopping its embedded pool) is one path: new runs are
refused, running ones cancelled (their work is checkpointed: each batch commits with its checkpoint), and the
loop is drained (the cancelled runs, and the connection closes SQLAlchemy starts in tasks of their own when a
query is cancelled) before the database and HTTP clients are closed, all before Dramatiq stops the loop. A
connection that outlived its loop would keep SQLite's write lock until the garbage collector found it.

The scheduler (polls and token refreshes, `domain.services.polling.schedule_tick`) also runs here, in every
worker process and in the embedded pool; a lease in the database (`adapters.db.leases`) lets exactly one of
them tick at a time, however many API and worker processes run.

The sweep and the scheduler first wait for a database `shopbridge migrate` has brought to this code's migrations
(`workers.schema_gate`): on one never migrated, or behind, they would fail every turn on missing tables. So do actor
messages: one delivered meanwhile is sent again later, not run (`Resources.serving`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import os
import random
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread, set_event_loop_thread
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, MiddlewareError

from adapters import metrics
from adapters.config import ConfigError, Settings
from adapters.crypto import TokenCipher
from adapters.db import Database, leases, uow_factory
from adapters.db.outage import describe, unavailable
from adapters.db.shop_deletes import shop_being_deleted, task_shop_being_deleted
from adapters.events import InProcessEventBus, RedisEventBus
from adapters.logs import OUTAGE, bound_log_values
from adapters.metrics import PrometheusPushMetrics
from adapters.pending_messages import pending_messages
from adapters.queue import DramatiqScheduledWork, DramatiqTaskQueue, send
from adapters.tiktok import ShopSession
from adapters.tiktok.factory import build_tiktok_client
from domain.clock import SystemClock
from domain.polling import PollSettings
from domain.ports import EventPublisher, RefreshTokens, ScheduledWork, ShopTokens, TaskQueue, TikTokUnavailableError
from domain.services.importer import SyncDeps, SyncOptions
from domain.services.inbox import SETTLED_EVENTS
from domain.services.intake import IntakeDeps, resume_pending_events, resume_unread_events
from domain.services.inventory_push import PushDeps
from domain.services.inventory_reconcile import inventory_tick, resume_due_pushes
from domain.services.polling import schedule_tick
from domain.services.retention import (
    DELETED_SHOP_LINES,
    FINISHED_TASKS,
    SPENT_AUTHORIZATIONS,
    UNREADABLE_RECORDS,
    prune,
)
from domain.services.sync import resend_unsent_tasks, resume_stale_tasks
from domain.services.webhook_registration import reregister_moved_webhooks, resume_webhook_registrations
from domain.shops import Shop, TokenSet
from workers.outages import draw_retry_delay, drawn_retry_delay, outage_cause, retry_after_outage
from workers.schema_gate import SchemaGate
from workers.slots import LIVE_SLOT_WAIT_DELAY_MS, ThreadSlots, live_slot_count, push_slot_count

SCHEDULER_LEASE = "scheduler"

log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_SECONDS = 30.0  # cancelled work normally ends in milliseconds; past this, say what is stuck

# A shop's run delivered while the shop's delete holds its row (`Resources.serving(shop_id=...)`) is sent again after
# this long (milliseconds). Short: a delete that rolls back keeps the shop, whose sale then waits this much more for
# its push. Each send-back is one probe and one enqueue: over a 27 s delete, ~27 per message of the shop (coalesced,
# a shop has about one message per actor).
SHOP_DELETE_WAIT_DELAY_MS = 1_000


# Net new container objects between two collections of the youngest generation (Python's default: 700). An import
# allocates and frees hundreds of thousands of tuples, lists and records; at 700 the collector ran ~20 times per
# 1,000 orders, each walking the young batches' containers; at 10,000, 3-5 times in a 14,935-order import. Cyclic
# garbage waits longer for its collection, at most this many young objects: none of an import's is large since a
# TikTok response no longer ends in a cycle (`adapters.tiktok.transport.sent_whole`).
YOUNG_GENERATION_THRESHOLD = 10_000
_collector_tuned = False  # `tune_collector` ran in this process


def tune_collector() -> None:
    """Once per process, after start-up: collect, then move every object alive (the imported modules, the tables'
    metadata, the resources: about 120,000) to the garbage collector's permanent generation, which no collection
    walks again. A full collection walks every tracked object of the process; an import's allocations trigger one
    every few thousand orders, each 0.1 s of the worker's one thread walking that start-up heap: 0.32 of the 0.56 s
    the collector took in a 14,935-order import (its main thread's CPU 3.3 s). The objects were kept for the
    process's life anyway. Then the youngest generation is collected less often (`YOUNG_GENERATION_THRESHOLD`).
    A process whose heap is frozen already (the test session's, `tests/conftest.py`) keeps its own settings.

    Later calls (an embedded pool started again in the same process) return at once: `gc.get_freeze_count()` walks
    the whole permanent generation to count it, ~25 ms per million objects, and the test session's, a million
    objects and growing, was walked at every embedded pool's boot (each e2e test's app start-up)."""
    global _collector_tuned
    if _collector_tuned:
        return
    _collector_tuned = True
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


@dataclass
class WorkerResources:
    sync: SyncDeps
    queue: TaskQueue
    db: Database
    refresh: RefreshTokens
    poll: PollSettings
    intake: IntakeDeps
    webhook_url: str
    push: PushDeps
    closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close everything in reverse order of creation; a failing close is logged and the others still run."""
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                log.exception("closing %r failed", close)


async def build_resources(settings: Settings, queue: TaskQueue, events: EventPublisher | None) -> WorkerResources:
    db = Database.from_settings(settings)
    cipher = TokenCipher(settings.encryption_key)
    tiktok, tiktok_closers = build_tiktok_client(settings, "shopbridge-worker/0.1")
    closers: list[Any] = [db.dispose, *tiktok_closers]
    if events is None:
        bus = RedisEventBus(settings.broker_url) if settings.broker_url else InProcessEventBus()
        closers.append(bus.aclose)
        events = bus

    def shop_api(shop: Shop, tokens: ShopTokens) -> ShopSession:
        return tiktok.for_shop(shop.tiktok_shop_cipher, shop.tokens, tokens.refreshed, stored_tokens=tokens.stored)

    async def refresh(shop: Shop) -> TokenSet:
        tokens = await tiktok.refresh_shop(shop.tiktok_shop_cipher, shop.tokens)
        return replace(tokens, open_id=tokens.open_id or shop.tokens.open_id)

    options = SyncOptions(
        order_slices=settings.sync_order_slices,
        page_size=settings.sync_page_size,
        batch_records=db.import_batch_records,  # the database's own: it knows what a long transaction makes wait
        max_attempts=settings.sync_max_attempts,
        time_limit_seconds=settings.sync_time_limit_seconds,
    )
    uows = uow_factory(db, cipher)
    deps = SyncDeps(uows, shop_api, events, SystemClock(), options, queue, retry_delay=drawn_retry_delay)
    intake = IntakeDeps(
        uows, shop_api, SystemClock(), on_settled=metrics.webhook_events_settled, queue=queue, events=events
    )
    push = PushDeps(
        uows, shop_api, SystemClock(), holder=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        concurrency=settings.inventory_push_concurrency, metrics=PrometheusPushMetrics(), events=events,
        fence=settings.inventory_push_fence, enqueue_push=queue.enqueue_inventory_push, orders_api=shop_api,
        queue=queue,  # sends the re-runs a lifting refresh of a push's session queues, right after its commit
        orders_overlap=timedelta(seconds=settings.poll_overlap_seconds),
        orders_settle=timedelta(seconds=settings.poll_settle_seconds),
        # A sale whose webhook was lost is in the first order poll begun `settle` after it (within interval + settle):
        # twice the interval leaves room for a poll that runs late.
        hold_horizon=timedelta(seconds=2 * settings.poll_interval_seconds + settings.poll_settle_seconds),
    )  # fmt: skip
    return WorkerResources(
        deps, queue, db, refresh, poll_settings(settings), intake, settings.webhook_url, push, closers
    )


def poll_settings(settings: Settings) -> PollSettings:
    return PollSettings(
        interval=timedelta(seconds=settings.poll_interval_seconds),
        overlap=timedelta(seconds=settings.poll_overlap_seconds),
        settle=timedelta(seconds=settings.poll_settle_seconds),
    )


def sweep_thresholds(settings: Settings) -> tuple[timedelta, timedelta]:
    """How long a RUNNING task may stay silent, and a QUEUED one untouched, before the sweep re-sends it.

    QUEUED waits far longer: its message may still sit in a backlog, or be a retry Dramatiq scheduled up to
    `sync_max_backoff_ms` later; only a message lost for good (a failed send after commit) should be re-sent.
    """
    stale_after = timedelta(seconds=settings.sync_stale_after_seconds)
    queued_after = max(stale_after, 2 * timedelta(milliseconds=settings.sync_max_backoff_ms))
    return stale_after, queued_after


def _will_retry(what: str, error: Exception) -> None:
    """A periodic job failed and runs again at its next turn: one line for an outage (`workers.outages.outage_cause`:
    the database, Redis or TikTok unavailable; every turn of every process would otherwise log the same traceback
    until it ends), the traceback for anything else."""
    if (cause := outage_cause(error)) is not None:
        tiktok = isinstance(error, TikTokUnavailableError)  # once a minute: `adapters.logs.OutageRetryLines`
        log.warning("%s failed, %s; will try again", what, cause, extra={OUTAGE: "TikTok"} if tiktok else None)
    else:
        log.warning("%s failed; will try again", what, exc_info=error)


# The broker and message whose actor runs in this context (set by `Resources.before_process_message`).
_delivery: contextvars.ContextVar[tuple[dramatiq.Broker, MessageProxy] | None] = contextvars.ContextVar(
    "shopbridge_delivery", default=None
)


class RunRefused(Exception):
    """An actor run asked to start while the embedded worker shuts down; `what` names the run, for the log."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} refused: the worker is shutting down")
        self.what = what


class RunPostponed(Exception):
    """An actor run not started, or stopped, its message sent again `delay_ms` later with its retries untouched
    (`Resources.serving`): delivered while the database is behind this code's migrations (`line` None: the gate's
    MIGRATIONS_PENDING line says why), with no live slot free or while its shop's delete holds the shop (`line`
    None: no news, the message only waits), or refused or interrupted by a worker process's shutdown (`line`: one INFO
    line to log). `what` names the run; `log_values`: the run's log context (task_id, shop_id, …) where it was
    raised, for that line, which is logged once the run's context was left (`workers.actors.refused_quietly`)."""

    def __init__(self, what: str, delay_ms: int, line: str | None = None) -> None:
        super().__init__(line or f"{what} postponed: the database waits for `shopbridge migrate`")
        self.what = what
        self.delay_ms = delay_ms
        self.line = line
        self.log_values = bound_log_values()


class BootRefused(MiddlewareError):
    """The worker cannot boot with these settings. A `MiddlewareError`: Dramatiq's `emit_before` logs any other
    exception of a middleware's hook and goes on, which would boot a worker without its import cap."""


class Resources(Middleware):
    """Holds the process's `WorkerResources`; actors get them with `await Resources.of(broker).get()`.

    `events`: the API's bus in the embedded mode (its subscribers live in the same process); else a bus of
    our own (Redis when there is a broker URL).
    """

    def __init__(self, settings: Settings, *, events: EventPublisher | None = None) -> None:
        self.settings = settings
        self.events = events
        self.queue_factory: Callable[[], TaskQueue] | None = None  # set by workers.broker.setup_broker
        self.poll_actor: dramatiq.Actor[..., Any] | None = None  # likewise, for the scheduler's messages
        self.refresh_actor: dramatiq.Actor[..., Any] | None = None
        self.reconcile_actor: dramatiq.Actor[[str], Any] | None = None
        self._last_reconciled: dict[str, datetime] = {}  # the scheduler's memory: shop id -> last reconcile sent
        self._building: asyncio.Task[WorkerResources] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._schema: asyncio.Task[None] | None = None  # the wait for a migrated schema the loops start after
        self._gate: SchemaGate | None = None  # whether the schema is migrated: messages run only then
        self._running: set[asyncio.Task[object]] = set()  # actor runs in progress, cancelled at shutdown
        self._stopping = False
        # what an embedded shutdown said it interrupted: once per subject (two runs of one shop's push may be under
        # way, a due one and a changed one; "interrupted" twice for one shop says nothing more)
        self._interrupted: set[str] = set()
        self._scheduler: asyncio.Task[None] | None = None
        self.import_slots = ThreadSlots()  # sized at boot, from the worker's thread count
        self.live_slots = ThreadSlots()  # likewise: the `live` queue's runs (`serving(live=True)`)
        self.push_slots = ThreadSlots()  # likewise: those of them that push or reconcile (`serving(push=True)`)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # this process, as lease holder

    @classmethod
    def of(cls, broker: dramatiq.Broker) -> Resources:
        for middleware in broker.middleware:
            if isinstance(middleware, cls):
                return middleware
        raise RuntimeError("the broker has no Resources middleware; build it with workers.broker.setup_broker")

    @contextlib.asynccontextmanager
    async def serving(
        self,
        what: str = "a run",
        *,
        live: bool = False,
        push: bool = False,
        shop_id: str | None = None,
        task_id: str | None = None,
    ) -> AsyncIterator[WorkerResources]:
        """One actor run (`what`, for the log): yields the resources, tracked so that a shutdown cancels the run
        and waits for it.

        `live`: a run of the `live` queue, which holds one of the process's live slots while it runs
        (`workers.slots`: all its threads but one). With none free the run does not start: its message is enqueued
        again `LIVE_SLOT_WAIT_DELAY_MS` later with its retries untouched, and `RunPostponed` ends this delivery
        quietly, so the thread is free at once for the `sync` queue (an import). The caller does nothing before
        this context is entered that a run sent back must not do (e.g. `push_inventory` clears its coalescing mark
        only inside it: the message sent back still covers the shop). `push`: a `live` run that writes stock to
        TikTok (a push, a reconcile), which also holds one of the process's push slots (all its live slots but one,
        `workers.slots.push_slot_count`), sent back alike when none is free: the live slot left is webhook
        intake's, which never waits behind pushes for it.

        With Redis, a run refused because the worker is shutting down, or cancelled by the shutdown, has its message
        enqueued again (with the minimum back-off, SHOPBRIDGE_SYNC_MIN_BACKOFF_MS) and raises `RunPostponed`, which
        the actor ends with one INFO line: another worker process resumes the task from its checkpoint. Its retry
        count is untouched: `dramatiq.Retry` (as before 2026-12-03) spent one per stop, so a long import that lived
        through `max_retries` deploys had its message dropped ("Retries exceeded") and waited for the stale-task
        sweep; `dramatiq.Retry` stays the fallback when the message cannot be sent again (Redis unreachable: the
        broker's own redelivery of unacknowledged messages then applies) or no message is being delivered.
        Embedded, a cancelled run ends quietly with one INFO line (one per `what`: two runs of one shop's push say it
        once), and a refused one, or one cancelled before it started (before this context yielded), raises
        `RunRefused`, which the actor ends quietly with one INFO line too: the
        in-memory queue dies with the process, and the next start's boot sweep re-enqueues the work from the
        database (a retry would only log a misleading "Retrying message ..." line at Ctrl+C). Any other
        cancellation propagates. A run that fails on an outage (the database, TikTok or the broker unavailable:
        `workers.outages.outage_cause`) logs one WARNING line naming `what`, the cause and when it is retried, and
        raises `dramatiq.Retry` (the actor's backoff and retry count apply, as to any failure); any other exception,
        a bug, propagates as it is (Dramatiq logs it at ERROR with its traceback).

        A run delivered while the database is behind this code's migrations (`workers.schema_gate`) does not start:
        it would fail on a table or column the schema lacks, at ERROR, its retries spent before `migrate` runs. Its
        message is enqueued again with a delay, as Dramatiq's Retries middleware does but with its retry count
        untouched, and `RunPostponed` ends this delivery quietly (`workers.actors.refused_quietly`).

        `shop_id`: a run of that shop's, which takes the shop's row (`ShopRepository.get` or `hold`). While the shop's
        delete holds the row, or waits to take it (`adapters.db.shop_deletes.shop_being_deleted`: PostgreSQL, a probe
        that never waits; never on SQLite) the run does not start: it would wait for the delete's end (15-27 s on a
        20k-order shop) holding its worker thread, and a few such runs held every thread of a process (tryout59: a
        sale on another shop waited 78 s). Its message is enqueued again `SHOP_DELETE_WAIT_DELAY_MS` later as a new
        delivery with its retries untouched (a coalesced actor's mark renewed, not cleared: it still covers the shop),
        and `RunPostponed` ends this delivery quietly; the thread is free at once. Sent again until the delete ends: a
        shop deleted makes the run a no-op (every shop actor's "no such shop"), a delete rolled back lets it run, so
        nothing of a kept shop is dropped. Outside a worker (no message to send again) the run goes on and waits.
        `task_id`: alike, for the shop of that sync task (`run_sync_task`: an import or poll of a shop, started just
        before its delete took the shop, whose message is delivered while the delete holds it; its first
        transaction takes the shop, and the task's row, which the delete's cancel holds too). A task the delete
        cancelled or removed then makes the run a no-op.
        """
        if self._stopping:
            if self.settings.broker_url is not None:
                raise await self._handed_back(what, "not started: the worker is shutting down")
            raise RunRefused(what)  # embedded: ends quietly (`workers.actors.refused_quietly`), like a cancelled run
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        started = False  # whether the run got its resources (this context yielded)
        try:
            draw_retry_delay(*(_delivery.get() or (None, None)))  # before the run: its task can say when it retries
            resources = await self.get()
            if (postponed := await self._postponement(what)) is not None:
                raise postponed
            if (postponed := await self._while_deleted(what, resources, shop_id, task_id)) is not None:
                raise postponed
            with (
                self.live_slots.held() if live or push else contextlib.nullcontext(True) as slot,
                self.push_slots.held() if push and slot else contextlib.nullcontext(True) as push_slot,
            ):
                if not (slot and push_slot):
                    raise await self._sent_back_for_a_live_slot(what)
                started = True
                yield resources
        except RunPostponed:
            raise
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            if self.settings.broker_url is not None:
                raise await self._handed_back(what, "interrupted by the shutdown") from None
            if not started:
                # Cut before it started (waiting for its resources, the schema or its shop's delete probe): refused
                # as a run taken after the shutdown began. Returning here, without a yield, made Python raise
                # "RuntimeError: generator didn't yield", which Dramatiq logged at ERROR with a traceback (tryout67).
                raise RunRefused(what) from None
            # Embedded: the in-memory queue dies with this process and the next start resumes the work from the
            # database (boot sweep); a retry would only add a misleading "Retrying message ..." line.
            if what not in self._interrupted:
                self._interrupted.add(what)
                log.info("%s interrupted by the shutdown; it resumes at the next start", what)
        except Exception as exc:
            cause = outage_cause(exc)
            if cause is None:
                raise
            # An outage: retried like any failure (Dramatiq's backoff and retry count), but in one line; Dramatiq
            # logs any other exception at ERROR with its traceback, every run of every message.
            broker, message = _delivery.get() or (None, None)
            line, retry = retry_after_outage(broker, message, what, cause)
            # a TikTok outage fails every run of every shop: once a minute (`adapters.logs.OutageRetryLines`); the
            # client says when it began and ended. A run whose retries are spent always says so.
            tiktok = isinstance(exc, TikTokUnavailableError) and retry.delay is not None
            log.warning("%s", line, extra={OUTAGE: "TikTok"} if tiktok else None)
            raise retry from exc
        finally:
            self._running.discard(task)

    async def _handed_back(self, what: str, why: str) -> RunPostponed | dramatiq.Retry:
        """Redis, a shutdown: the delivered message enqueued again, the minimum back-off later, its retries
        untouched, and the `RunPostponed` to raise; `dramatiq.Retry` when there is no message to send (outside a
        worker) or sending it failed (the broker unreachable)."""
        delay_ms = self.settings.sync_min_backoff_ms
        send_again = self._send_again(delay_ms)
        if send_again is None:
            return dramatiq.Retry(delay=delay_ms)
        try:
            await send_again()
        except Exception as exc:
            log.warning("%s %s; it could not be sent again (%s): Dramatiq retries it", what, why, describe(exc))
            return dramatiq.Retry(delay=delay_ms)
        return RunPostponed(what, delay_ms, f"{what} {why}; it is sent again in {delay_ms} ms, its retries untouched")

    async def _sent_back_for_a_live_slot(self, what: str) -> RunPostponed:
        """Every live slot taken: the delivered message enqueued again `LIVE_SLOT_WAIT_DELAY_MS` later, its retries
        untouched, and the `RunPostponed` to raise (no line: a full process is no news). A slot is only ever full
        in a booted worker, where a message is being delivered; a failed send raises (an outage: retried)."""
        send_again = self._send_again(LIVE_SLOT_WAIT_DELAY_MS)
        assert send_again is not None, "live slots are sized at a worker's boot, where messages are delivered"
        log.debug("%s waits for a live slot; its message is sent again in %d ms", what, LIVE_SLOT_WAIT_DELAY_MS)
        await send_again()
        return RunPostponed(what, LIVE_SLOT_WAIT_DELAY_MS)

    async def _while_deleted(
        self, what: str, resources: WorkerResources, shop_id: str | None, task_id: str | None
    ) -> RunPostponed | None:
        """None when run `what` of shop `shop_id` (or of sync task `task_id`'s shop; neither: any run) may start, its
        shop's row not held by the shop's delete; else its delivered message is enqueued again
        `SHOP_DELETE_WAIT_DELAY_MS` later, its retries untouched, and the `RunPostponed` to raise is returned.
        Outside a worker (no message to send again): None, the run waits."""
        if shop_id is not None:
            deleting = await shop_being_deleted(resources.db, shop_id)
        elif task_id is not None:
            deleting = await task_shop_being_deleted(resources.db, task_id)
        else:
            return None
        if not deleting:
            return None
        send_again = self._send_again(SHOP_DELETE_WAIT_DELAY_MS)
        if send_again is None:
            return None
        log.debug("%s waits for the shop's delete; its message is sent again in %d ms", what, SHOP_DELETE_WAIT_DELAY_MS)
        await send_again()
        return RunPostponed(what, SHOP_DELETE_WAIT_DELAY_MS)

    async def sent_back_for_a_delete(self, what: str, kwargs: dict[str, Any]) -> RunPostponed | None:
        """Run `what` met its shop's delete under way and gave its work back (the import engine's `HandedBack`): the
        delivered message enqueued again `SHOP_DELETE_WAIT_DELAY_MS` later, its retries untouched, with `kwargs`
        added to its keyword arguments, and the `RunPostponed` to raise (no line: the engine said it). None outside
        a worker (no message to send again: the task waits for the stale sweep). A failed send raises (an outage:
        retried by Dramatiq, `serving`)."""
        send_again = self._send_again(SHOP_DELETE_WAIT_DELAY_MS, kwargs)
        if send_again is None:
            return None
        await send_again()
        return RunPostponed(what, SHOP_DELETE_WAIT_DELAY_MS)

    async def _postponement(self, what: str) -> RunPostponed | None:
        """None when run `what` may start (the schema is migrated); else its delivered message is enqueued again,
        the gate's `recheck_seconds` later, and the `RunPostponed` to raise is returned. Outside a worker (no message
        to send again) the run waits for the schema instead."""
        assert self._gate is not None  # made by `get`
        if await self._gate.current():
            return None
        delay_ms = int(self._gate.recheck_seconds * 1000)
        send_again = self._send_again(delay_ms)
        if send_again is None:
            await self._schema_current()
            return None
        log.debug("%s waits for `shopbridge migrate`; its message is sent again in %d ms", what, delay_ms)
        await send_again()
        return RunPostponed(what, delay_ms)

    def _send_again(self, delay_ms: int, kwargs: dict[str, Any] | None = None) -> Callable[[], Awaitable[None]] | None:
        """The send of the message being delivered, again, `delay_ms` (milliseconds) later with its retries
        untouched (the `Message` a `MessageProxy` wraps, copied; `kwargs` added to its keyword arguments): a call to
        await, which raises what the broker's `enqueue` raises. None outside a worker (no message being delivered).
        On Redis the send is a blocking network call, run in a thread; the StubBroker only appends to an in-process
        queue, inline."""
        broker, message = _delivery.get() or (None, None)
        if broker is None or message is None:
            return None
        markers = pending_messages(broker)
        key = (message.actor_name, str(message.args[0])) if len(message.args) == 1 else None

        def again() -> None:
            copied = message.copy(kwargs={**message.kwargs, **kwargs}) if kwargs else message.copy()
            broker.enqueue(copied, delay=delay_ms)
            if key is not None:  # a coalesced actor's message still waits: its marker must not age (`rearm`)
                with contextlib.suppress(Exception):  # an aged marker lets one more message through: harmless
                    markers.rearm(*key)

        blocking = self.settings.broker_url is not None

        async def send() -> None:
            if blocking:
                await asyncio.to_thread(again)
            else:
                again()

        return send

    async def get(self) -> WorkerResources:
        """The resources, built on first call; call it on Dramatiq's event loop only."""
        if self._building is None or (self._building.done() and self._building.exception() is not None):
            self._building = asyncio.create_task(self._build())  # again after a failure: the database may be back
        return await asyncio.shield(self._building)

    async def _build(self) -> WorkerResources:
        if self.queue_factory is None:
            raise RuntimeError("no actors bound to the Resources middleware")
        queue = self.queue_factory()
        blocking = self.settings.broker_url is not None
        resources = await build_resources(self.settings, queue, self.events)
        tune_collector()
        booted_at = resources.sync.clock.now()  # before any message of this process: what the boot sweep resumes
        self._gate = SchemaGate(resources.db, recheck_seconds=self.settings.schema_recheck_seconds)
        self._schema = asyncio.create_task(self._gate.wait())
        self._sweeper = asyncio.create_task(self._sweep(resources, booted_at))
        if self.settings.scheduler_enabled and self.poll_actor is not None and self.refresh_actor is not None:
            work = DramatiqScheduledWork(self.poll_actor, self.refresh_actor, blocking=blocking)
            self._scheduler = asyncio.create_task(self._schedule(resources, work))
        return resources

    async def _schedule(self, resources: WorkerResources, work: ScheduledWork) -> None:
        """Every tick, take or renew the scheduler lease; while held, enqueue due polls and token refreshes, the
        inventory's due work, the sync tasks whose send failed once the queue takes messages again, and the
        processing of webhook events no run has read 20 s after they came (`resume_unread_events`)."""
        deps, tick = resources.sync, self.settings.scheduler_tick_seconds
        ttl = timedelta(seconds=max(10.0, 3 * tick))  # a dead holder is replaced after this long
        # Redis can tell which tasks it holds a message for: an unsent task's send that did reach it is not repeated.
        messages = resources.queue if isinstance(resources.queue, DramatiqTaskQueue) else None
        await self._schema_current()
        try:
            while True:
                try:
                    if await leases.try_hold(resources.db, SCHEDULER_LEASE, self.holder, ttl, deps.clock.now()):
                        await schedule_tick(deps.uow_factory, work, deps.clock, resources.poll)
                        await self._inventory_tick(resources)
                        await resend_unsent_tasks(deps.uow_factory, resources.queue, deps.clock, messages=messages)
                        await resume_unread_events(deps.uow_factory, resources.queue, deps.clock)
                except Exception as exc:
                    _will_retry("scheduler tick", exc)
                await asyncio.sleep(tick * random.uniform(0.9, 1.1))
        finally:
            with contextlib.suppress(Exception):
                await leases.release(resources.db, SCHEDULER_LEASE, self.holder, deps.clock.now())

    async def _schema_current(self) -> None:
        """Until the database is migrated to this code's head (`workers.schema_gate`); the loops' first step."""
        assert self._schema is not None
        await asyncio.shield(self._schema)  # one wait for both loops; cancelling one leaves it to the other

    async def _inventory_tick(self, resources: WorkerResources) -> None:
        """Pushes a lost message left dirty, and due reconciles (domain.services.inventory_reconcile)."""
        reconcile_actor, blocking = self.reconcile_actor, self.settings.broker_url is not None

        async def enqueue_reconcile(shop_id: str) -> None:
            if reconcile_actor is not None:
                await send(reconcile_actor, shop_id, blocking=blocking)

        interval = timedelta(seconds=self.settings.inventory_reconcile_interval_seconds)
        await inventory_tick(
            resources.push, resources.queue.enqueue_inventory_push, enqueue_reconcile, interval, self._last_reconciled
        )

    async def _sweep(self, resources: WorkerResources, booted_at: datetime) -> None:
        """Re-enqueue tasks nobody runs: at boot everything left active before `booted_at` (in-memory queue only; the
        inventory pushes due then too: `resume_due_pushes`) and the webhook registration of every shop registered
        with another address than this process's (any queue), then stale ones, and prune (`_prune`) after each turn.
        A turn during a database outage is one WARNING line: it skips the prunes; the boot's look for moved webhooks,
        if the outage stopped it, is tried again at each turn until done.

        With Redis, each turn first hands the messages of worker processes whose Redis heartbeat lapsed back to
        their queues (`DramatiqTaskQueue.requeue_dead_workers_messages`): a killed process's prefetched imports run on
        a live one then, not when Dramatiq's maintenance happens to run.

        The boot sweep runs once the schema is current (`_schema_current`), which may be after this process took
        work of its own: a task sent since `booted_at`, waiting in the in-memory queue for its retry's backoff, was
        re-sent and run at once. Only what was last touched before the boot is resumed."""
        deps = resources.sync

        def since_boot() -> timedelta:  # "untouched for this long" = untouched since the boot
            return max(timedelta(0), deps.clock.now() - booted_at)

        await self._schema_current()
        moved = not self.settings.webhooks_app_wide  # shops registered with another address still to look for
        if self.settings.broker_url is None:
            try:
                await resume_stale_tasks(
                    deps.uow_factory, resources.queue, deps.clock, since_boot(), events=deps.events
                )
                await resume_pending_events(deps.uow_factory, resources.queue, deps.clock, since_boot())
                await resume_due_pushes(resources.push, resources.queue.enqueue_inventory_push)
                await resume_webhook_registrations(
                    deps.uow_factory, resources.queue, deps.clock, since_boot(), failed_too=True
                )
                moved = moved and not await self._reregister_moved(resources, booted_at)
            except Exception as exc:
                if not unavailable(exc):
                    log.exception("could not resume the sync tasks or webhook events left active")
                else:  # the periodic sweep below resumes them once their thresholds have passed
                    log.warning(
                        "could not resume the sync tasks or webhook events left active, the database is unavailable "
                        "(%s); the stale sweep will",
                        describe(exc),
                    )
        elif moved:  # every process, with Redis too: each may be the first started under a new SHOPBRIDGE_PUBLIC_URL
            try:
                moved = not await self._reregister_moved(resources, booted_at)
            except Exception as exc:
                log.warning(
                    "could not look for webhooks registered with another address%s (%s); the sweep will",
                    ", the database is unavailable" if unavailable(exc) else "", describe(exc),
                    exc_info=None if unavailable(exc) else exc,
                )  # fmt: skip
        stale_after, queued_after = sweep_thresholds(self.settings)
        # Redis can tell which tasks it holds a message for: one it lost is re-sent after `stale_after`.
        messages = resources.queue if isinstance(resources.queue, DramatiqTaskQueue) else None
        while True:
            # Jitter: several worker processes should not sweep in lockstep.
            await asyncio.sleep(stale_after.total_seconds() * random.uniform(0.5, 1.0))
            try:
                # First a dead worker process's messages go back on their queues (`adapters.dead_workers`): the rule
                # below counts a message in its ack set as held, and Dramatiq requeues them only by chance.
                handed_back = await messages.requeue_dead_workers_messages() if messages is not None else set()
                await resume_stale_tasks(
                    deps.uow_factory, resources.queue, deps.clock, stale_after,
                    queued_after=queued_after, events=deps.events, messages=messages, handed_back=handed_back,
                )  # fmt: skip
                await resume_pending_events(deps.uow_factory, resources.queue, deps.clock, stale_after)
                await resume_webhook_registrations(
                    deps.uow_factory, resources.queue, deps.clock, queued_after, failed_too=False
                )
                moved = moved and not await self._reregister_moved(resources, booted_at)  # the boot's, failed
            except Exception as exc:
                _will_retry("stale sync task or webhook sweep", exc)
                if unavailable(exc):
                    continue  # the prunes would fail on the same outage, a second line a turn: next turn tries them
            await self._prune(resources)

    async def _reregister_moved(self, resources: WorkerResources, booted_at: datetime) -> bool:
        """Enqueue the webhook registration of every shop registered with another address than this process's
        (`reregister_moved_webhooks`, once per process: at boot, or at the first sweep turn after a boot that failed
        on it); True once done."""
        deps = resources.sync
        await reregister_moved_webhooks(deps.uow_factory, resources.queue, resources.webhook_url, booted_at)
        return True

    async def _prune(self, resources: WorkerResources) -> None:
        """Retention (`domain.services.retention`): delete settled webhook events older than
        `SHOPBRIDGE_WEBHOOK_RETENTION`, finished sync tasks older than `SHOPBRIDGE_TASK_RETENTION` (but the newest
        of each shop and kind), OAuth requests a day past their expiry and the records of a deleted shop's lines no
        reconnect can match any more (`deleted_shop_lines`, 97 days), and the marks of unreadable records that first
        failed before `SHOPBRIDGE_TASK_RETENTION` (RECORDS_UNREADABLE). Every process's sweep does, each batch
        its own short transaction; two at once take different rows. A table that fails leaves the others to go
        on, but for a database outage, which the next turn tries again once (one line per turn, not one a table)."""
        deps, settings = resources.sync, self.settings
        webhook_retention = timedelta(seconds=settings.webhook_retention_seconds)
        task_retention = timedelta(seconds=settings.task_retention_seconds)
        prunes: list[tuple[str, Callable[[], Awaitable[int]], Callable[[int], None]]] = [
            (
                "webhook retention sweep",
                partial(prune, deps.uow_factory, deps.clock, SETTLED_EVENTS, webhook_retention),
                metrics.webhook_events_pruned,
            ),
            (
                "sync task retention sweep",
                partial(prune, deps.uow_factory, deps.clock, FINISHED_TASKS, task_retention),
                metrics.sync_tasks_pruned,
            ),
            (
                "authorization request retention sweep",
                partial(prune, deps.uow_factory, deps.clock, SPENT_AUTHORIZATIONS),
                metrics.authorization_requests_pruned,
            ),
            (
                "deleted shop line retention sweep",
                partial(prune, deps.uow_factory, deps.clock, DELETED_SHOP_LINES),
                metrics.deleted_shop_lines_pruned,
            ),
            (
                "unreadable record retention sweep",
                partial(prune, deps.uow_factory, deps.clock, UNREADABLE_RECORDS, task_retention),
                metrics.unreadable_records_pruned,
            ),
        ]
        for what, sweep, record in prunes:
            try:
                record(await sweep())
            except Exception as exc:
                _will_retry(what, exc)
                if unavailable(exc):
                    return

    async def shutdown(self) -> None:
        """Refuse new runs, cancel running ones, drain the loop, then close the resources; idempotent.

        Runs on Dramatiq's event loop, before the loop stops. A cancelled run ends after its current database
        call (`adapters.db.sessions`) and rolls back; draining waits for every task of the loop, the runs and
        anything they left closing, before the engine is disposed and the loop ends: no connection outlives it.
        """
        self._stopping = True
        current = asyncio.current_task()
        for task in [*self._running, self._sweeper, self._scheduler, self._schema]:
            if task is not None:
                task.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_DRAIN_SECONDS
        while pending := [t for t in asyncio.all_tasks() if t is not current and not t.done()]:
            if (left := deadline - loop.time()) <= 0:
                log.error("shutdown: %d task(s) still running after %.0f s: %r", len(pending), SHUTDOWN_DRAIN_SECONDS,
                          pending)  # fmt: skip
                break
            await asyncio.wait(pending, timeout=left)
        self._sweeper = self._scheduler = self._schema = None
        if self._building is not None:
            building, self._building = self._building, None
            if building.done() and not building.cancelled() and building.exception() is None:
                await building.result().aclose()

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # The worker's own thread count: `SHOPBRIDGE_EMBEDDED_WORKER_THREADS` embedded, `--threads` under Dramatiq's
        # CLI. `shopbridge worker` and the embedded pool check the setting before they start; this is the backstop.
        try:
            self.import_slots.size = self.settings.import_slots(worker.worker_threads)
            from workers.broker import SYNC_QUEUE  # declared there, after this module (it imports it)

            only = worker.consumer_whitelist  # Dramatiq's `--queues`; empty or None: every declared queue
            self.live_slots.size = live_slot_count(
                worker.worker_threads, takes_sync_queue=not only or SYNC_QUEUE in only
            )
            self.push_slots.size = push_slot_count(self.live_slots.size)
        except ConfigError as exc:
            # AsyncIO's hook ran first and started its event-loop thread, which is no daemon: stop it as AsyncIO's
            # after_worker_shutdown would, or a Dramatiq worker process whose boot failed would never exit.
            loop_thread = get_event_loop_thread()
            if loop_thread is not None:
                loop_thread.stop()  # type: ignore[no-untyped-call]
                set_event_loop_thread(None)
            raise BootRefused(str(exc)) from exc

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        # Seen by the actor's run: Dramatiq's worker thread runs this hook, then the actor, whose coroutine the
        # AsyncIO middleware starts from that same thread, in a copy of its context (`serving` reads it).
        _delivery.set((broker, message))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: object | None = None,
        exception: BaseException | None = None,
    ) -> None:
        _delivery.set(None)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        _delivery.set(None)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            raise RuntimeError("add the AsyncIO middleware before Resources")
        loop_thread.run_coroutine(self.get())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Before Dramatiq stops its worker threads: they wait for their current message, and an import can take
        # an hour. Cancelled runs hand their messages back (`serving`), so the threads are free at once.
        # First, the threads stop taking messages (`WorkerThread.stop`: each ends its current one, as Dramatiq's
        # stop asks right after this hook; idempotent). Left taking them while the drain below lasted, a thread took
        # each message the consumers fetched meanwhile, refused it (`serving`: shutting down) and sent it again a
        # back-off later, due again before a long drain ended and taken again by this same process: one INFO line
        # and one more send per back-off, the message delayed each time (stop 67's LOW, flake67). Untaken, what the
        # consumers fetched is handed back to Redis at once when Dramatiq's stop ends ("Requeueing in-memory
        # messages"), for another worker process; embedded, the in-memory queue dies with the process as before and
        # the next start's boot sweep resumes the work. A thread waiting for a message right now may still take one
        # and refuse it once.
        for thread in worker.workers:
            thread.stop()
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.shutdown())

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # A run that started after `before_worker_shutdown` (none should: they are refused) is drained here too,
        # before AsyncIO's own after_worker_shutdown (hooks run in reverse) stops the loop.
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.shutdown())
