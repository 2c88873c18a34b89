"""The worker process's composition root: built on Dramatiq's event loop after boot, disposed at shutdown.

Async engines and HTTP clients belong to the loop they were made on; async actors all run on the one loop the
`AsyncIO` middleware starts, so everything is created there, lazily on first use (a message may arrive before
`after_worker_boot` ran) and eagerly after boot so that a bad setting shows at start-up. The periodic sweep of
stale tasks runs here too; with the in-memory StubBroker it first re-enqueues everything a crash left active.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware

from adapters.config import Settings
from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import InProcessEventBus, RedisEventBus
from adapters.tiktok import ShopSession
from adapters.tiktok.factory import build_tiktok_client
from domain.clock import SystemClock
from domain.ports import EventPublisher, TaskQueue, TokensRefreshed
from domain.services.importer import SyncDeps, SyncOptions
from domain.services.intake import IntakeDeps, resume_pending_events
from domain.services.sync import resume_stale_tasks
from domain.shops import Shop

log = logging.getLogger(__name__)


@dataclass
class WorkerResources:
    sync: SyncDeps
    queue: TaskQueue
    intake: IntakeDeps
    webhook_url: str
    closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                await close()


async def build_resources(settings: Settings, queue: TaskQueue, events: EventPublisher | None) -> WorkerResources:
    db = Database(settings.database_url)
    cipher = TokenCipher(settings.encryption_key)
    tiktok, tiktok_closers = build_tiktok_client(settings, "shopbridge-worker/0.1")
    closers: list[Any] = [db.dispose, *tiktok_closers]
    if events is None:
        bus = RedisEventBus(settings.broker_url) if settings.broker_url else InProcessEventBus()
        closers.append(bus.aclose)
        events = bus

    def shop_api(shop: Shop, on_tokens_refreshed: TokensRefreshed) -> ShopSession:
        return tiktok.for_shop(shop.tiktok_shop_cipher, shop.tokens, on_tokens_refreshed)

    options = SyncOptions(
        order_slices=settings.sync_order_slices,
        page_size=settings.sync_page_size,
        max_attempts=settings.sync_max_attempts,
    )
    uows = uow_factory(db, cipher)
    deps = SyncDeps(uows, shop_api, events, SystemClock(), options)
    return WorkerResources(deps, queue, IntakeDeps(uows, shop_api, SystemClock()), settings.webhook_url, closers)


def sweep_thresholds(settings: Settings) -> tuple[timedelta, timedelta]:
    """How long a RUNNING task may stay silent, and a QUEUED one untouched, before the sweep re-sends it.

    QUEUED waits far longer: its message may still sit in a backlog, or be a retry Dramatiq scheduled up to
    `sync_max_backoff_ms` later; only a message lost for good (a failed send after commit) should be re-sent.
    """
    stale_after = timedelta(seconds=settings.sync_stale_after_seconds)
    queued_after = max(stale_after, 2 * timedelta(milliseconds=settings.sync_max_backoff_ms))
    return stale_after, queued_after


class Resources(Middleware):
    """Holds the process's `WorkerResources`; actors get them with `await Resources.of(broker).get()`.

    `events`: the API's bus in the embedded mode (its subscribers live in the same process); else a bus of
    our own (Redis when there is a broker URL).
    """

    def __init__(self, settings: Settings, *, events: EventPublisher | None = None) -> None:
        self.settings = settings
        self.events = events
        self.actor: dramatiq.Actor[..., Any] | None = None  # set by workers.broker.setup_broker
        self.queue_factory: Callable[[], TaskQueue] | None = None  # likewise: the queue over every actor
        self._building: asyncio.Task[WorkerResources] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, broker: dramatiq.Broker) -> Resources:
        for middleware in broker.middleware:
            if isinstance(middleware, cls):
                return middleware
        raise RuntimeError("the broker has no Resources middleware; build it with workers.broker.setup_broker")

    async def get(self) -> WorkerResources:
        """The resources, built on first call; call it on Dramatiq's event loop only."""
        if self._building is None or (self._building.done() and self._building.exception() is not None):
            self._building = asyncio.create_task(self._build())  # again after a failure: the database may be back
        return await asyncio.shield(self._building)

    async def _build(self) -> WorkerResources:
        if self.queue_factory is None:
            raise RuntimeError("no actors bound to the Resources middleware")
        queue = self.queue_factory()
        resources = await build_resources(self.settings, queue, self.events)
        self._sweeper = asyncio.create_task(self._sweep(resources))
        return resources

    async def _sweep(self, resources: WorkerResources) -> None:
        """Re-enqueue tasks nobody runs: at boot everything active (in-memory queue only), then stale ones."""
        deps = resources.sync
        if self.settings.broker_url is None:
            try:
                await resume_stale_tasks(
                    deps.uow_factory, resources.queue, deps.clock, timedelta(0), events=deps.events
                )
                await resume_pending_events(deps.uow_factory, resources.queue, deps.clock, timedelta(0))
            except Exception:
                log.exception("could not resume the sync tasks or webhook events left active")
        stale_after, queued_after = sweep_thresholds(self.settings)
        while True:
            # Jitter: several worker processes should not sweep in lockstep.
            await asyncio.sleep(stale_after.total_seconds() * random.uniform(0.5, 1.0))
            try:
                await resume_stale_tasks(
                    deps.uow_factory, resources.queue, deps.clock, stale_after,
                    queued_after=queued_after, events=deps.events,
                )  # fmt: skip
                await resume_pending_events(deps.uow_factory, resources.queue, deps.clock, stale_after)
            except Exception:
                log.warning("stale sync task or webhook sweep failed; will try again", exc_info=True)

    async def _dispose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._building is not None:
            building, self._building = self._building, None
            with contextlib.suppress(Exception):
                await (await building).aclose()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            raise RuntimeError("add the AsyncIO middleware before Resources")
        loop_thread.run_coroutine(self.get())

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Runs before AsyncIO's own after_worker_shutdown (hooks run in reverse), while the loop still runs.
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self._dispose())
