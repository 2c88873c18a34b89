"""The worker process's composition root: built on Dramatiq's event loop after boot, disposed at shutdown.

Async engines and HTTP clients belong to the loop they were made on; async actors all run on the one loop the
`AsyncIO` middleware starts, so everything is created there, lazily on first use (a message may arrive before
`after_worker_boot` ran) and eagerly after boot so that a bad setting shows at start-up. The periodic sweep of
stale tasks runs here too; with the in-memory StubBroker it first re-enqueues everything a crash left active.

Shutdown (SIGTERM to a worker process, or the API process stopping its embedded pool) is one path: new runs are
refused, running ones cancelled (their work is checkpointed: each batch commits with its checkpoint), and the
loop is drained (the cancelled runs, and the connection closes SQLAlchemy starts in tasks of their own when a
query is cancelled) before the database and HTTP clients are closed, all before Dramatiq stops the loop. A
connection that outlived its loop would keep SQLite's write lock until the garbage collector found it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
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
from adapters.queue import DramatiqTaskQueue
from adapters.tiktok.factory import build_tiktok_client
from domain.clock import SystemClock
from domain.ports import EventPublisher, ShopApi, TaskQueue, TokensRefreshed
from domain.services.importer import SyncDeps, SyncOptions
from domain.services.sync import resume_stale_tasks
from domain.shops import Shop

log = logging.getLogger(__name__)

SHUTDOWN_DRAIN_SECONDS = 30.0  # cancelled work normally ends in milliseconds; past this, say what is stuck


@dataclass
class WorkerResources:
    sync: SyncDeps
    queue: TaskQueue
    closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close everything in reverse order of creation; a failing close is logged and the others still run."""
        for close in reversed(self.closers):
            try:
                await close()
            except Exception:
                log.exception("closing %r failed", close)


async def build_resources(settings: Settings, queue: TaskQueue, events: EventPublisher | None) -> WorkerResources:
    db = Database(settings.database_url)
    cipher = TokenCipher(settings.encryption_key)
    tiktok, tiktok_closers = build_tiktok_client(settings, "shopbridge-worker/0.1")
    closers: list[Any] = [db.dispose, *tiktok_closers]
    if events is None:
        bus = RedisEventBus(settings.broker_url) if settings.broker_url else InProcessEventBus()
        closers.append(bus.aclose)
        events = bus

    def shop_api(shop: Shop, on_tokens_refreshed: TokensRefreshed) -> ShopApi:
        return tiktok.for_shop(shop.tiktok_shop_cipher, shop.tokens, on_tokens_refreshed)

    options = SyncOptions(
        order_slices=settings.sync_order_slices,
        page_size=settings.sync_page_size,
        max_attempts=settings.sync_max_attempts,
    )
    deps = SyncDeps(uow_factory(db, cipher), shop_api, events, SystemClock(), options)
    return WorkerResources(deps, queue, closers)


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
        self.actor: dramatiq.Actor[..., Any] | None = None  # set by workers.actors.bind, for the sweep's queue
        self._building: asyncio.Task[WorkerResources] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[object]] = set()  # actor runs in progress, cancelled at shutdown
        self._stopping = False

    @classmethod
    def of(cls, broker: dramatiq.Broker) -> Resources:
        for middleware in broker.middleware:
            if isinstance(middleware, cls):
                return middleware
        raise RuntimeError("the broker has no Resources middleware; build it with workers.broker.setup_broker")

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[WorkerResources]:
        """One actor run: yields the resources, tracked so that a shutdown cancels the run and waits for it.

        A run refused because the worker is shutting down, or cancelled by the shutdown, raises `dramatiq.Retry`:
        the message goes back to the broker (Redis: another worker process picks it up and the task resumes from
        its checkpoint; embedded: the next start's boot sweep re-enqueues it from the database), without an error
        log. Any other cancellation propagates.
        """
        if self._stopping:
            raise dramatiq.Retry(delay=self.settings.sync_min_backoff_ms)
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            yield await self.get()
        except asyncio.CancelledError:
            if self._stopping:
                raise dramatiq.Retry(delay=self.settings.sync_min_backoff_ms) from None
            raise
        finally:
            self._running.discard(task)

    async def get(self) -> WorkerResources:
        """The resources, built on first call; call it on Dramatiq's event loop only."""
        if self._building is None or (self._building.done() and self._building.exception() is not None):
            self._building = asyncio.create_task(self._build())  # again after a failure: the database may be back
        return await asyncio.shield(self._building)

    async def _build(self) -> WorkerResources:
        if self.actor is None:
            raise RuntimeError("no actor bound to the Resources middleware")
        queue = DramatiqTaskQueue(self.actor, blocking=self.settings.broker_url is not None)
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
            except Exception:
                log.exception("could not resume the sync tasks left active")
        stale_after, queued_after = sweep_thresholds(self.settings)
        while True:
            # Jitter: several worker processes should not sweep in lockstep.
            await asyncio.sleep(stale_after.total_seconds() * random.uniform(0.5, 1.0))
            try:
                await resume_stale_tasks(
                    deps.uow_factory, resources.queue, deps.clock, stale_after,
                    queued_after=queued_after, events=deps.events,
                )  # fmt: skip
            except Exception:
                log.warning("stale sync task sweep failed; will try again", exc_info=True)

    async def shutdown(self) -> None:
        """Refuse new runs, cancel running ones, drain the loop, then close the resources; idempotent.

        Runs on Dramatiq's event loop, before the loop stops. A cancelled run ends after its current database
        call (`adapters.db.sessions`) and rolls back; draining waits for every task of the loop, the runs and
        anything they left closing, before the engine is disposed and the loop ends: no connection outlives it.
        """
        self._stopping = True
        current = asyncio.current_task()
        for task in [*self._running, self._sweeper]:
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
        self._sweeper = None
        if self._building is not None:
            building, self._building = self._building, None
            if building.done() and not building.cancelled() and building.exception() is None:
                await building.result().aclose()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is None:
            raise RuntimeError("add the AsyncIO middleware before Resources")
        loop_thread.run_coroutine(self.get())

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Before Dramatiq stops its worker threads: they wait for their current message, and an import can take
        # an hour. Cancelled runs hand their messages back (`serving`), so the threads are free at once.
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.shutdown())

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # A run that started after `before_worker_shutdown` (none should: they are refused) is drained here too,
        # before AsyncIO's own after_worker_shutdown (hooks run in reverse) stops the loop.
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.shutdown())
