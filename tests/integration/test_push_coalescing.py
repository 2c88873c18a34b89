"""Webhooks are not stuck behind an import's inventory pushes in the `live` queue.

Each batch an import writes (a page of products, a page of one time slice's orders) moves the pool and enqueues
`push_inventory(shop_id)` after its commit. Every push message of a shop that is queued and not started yet would
push the same rows when it runs, so further sends are coalesced into it (`adapters.push_pending`); the webhook
message sent after the import then waits behind one push of the shop, not one per batch.

The import runs through the real sync engine against the sandbox, its messages land in the real broker (the
StubBroker of the embedded mode) and a real Dramatiq worker then takes the `live` queue in order; a middleware of
the test's own only watches what is sent and started."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from domain.ports import TaskQueue
from domain.services import importer
from domain.services.importer import SyncDeps
from domain.services.sync import queue_authorization_sync
from domain.shops import Shop
from domain.sync import SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from workers.broker import LIVE_QUEUE, setup_broker
from workers.embedded import WORKER_TIMEOUT_MS
from workers.resources import build_resources


class Watch(Middleware):
    """What the broker was given (`sent`) and what its worker started (`started`), as (actor name, args)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.started: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        self.took: list[float] = []
        self._t = 0.0

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        with self._lock:
            self.sent.append((message.actor_name, tuple(message.args)))

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        with self._lock:
            self.started.append((message.actor_name, tuple(message.args)))
            import time; self._t = time.monotonic()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        import time; self.took.append(time.monotonic() - self._t)


async def _import(harness: SyncHarness, queue: TaskQueue, deps: SyncDeps, shop: Shop) -> None:
    """The shop's authorization tasks (products, orders) run to their end by the sync engine, side by side as two
    worker threads run them; their own `run_sync_task` messages stay in the `sync` queue, which nothing takes."""
    async with harness.uow_factory() as uow:
        tasks = await queue_authorization_sync(uow, queue, shop, harness.clock.now(), events=harness.events)
        await uow.commit()
    await asyncio.gather(*(importer.run_sync_task(task.id, deps) for task in tasks))
    for task in tasks:
        done = await harness.task(task.id)
        assert done is not None and done.status is SyncTaskStatus.SUCCEEDED, done


async def test_a_webhook_after_imports_waits_behind_at_most_one_push_per_shop(
    database_url: str, sandbox_factory: Callable[..., SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    sandbox = sandbox_factory(SandboxConfig())  # the default shop: 40 products, 120 orders
    # one worker thread (none reserved: it runs no import), so the `live` queue is taken strictly in order; the
    # webhook address app-wide, so the worker's boot sweep registers nothing (the test's address is no https one)
    settings = sync_settings(database_url, sandbox, tmp_path, worker_reserved_threads=0, webhooks_app_wide=True)
    harness = sync_harness_factory(settings)
    broker = setup_broker(settings, events=harness.events)
    watch = Watch()
    broker.add_middleware(watch)
    from workers.actors import task_queue

    queue = task_queue(settings)
    resources = await build_resources(settings, queue, harness.events)
    worker: dramatiq.Worker | None = None
    try:
        # given a merchant's first shop imported, then a second shop of the same seller (the same seller SKUs: its
        # SKUs join the first shop's items, and its open orders reserve on them), while no worker takes `live`
        first = await connect_shop(harness.uow_factory, harness.tiktok, sandbox, "us-local")
        await _import(harness, queue, resources.sync, first)
        second = await connect_shop(harness.uow_factory, harness.tiktok, sandbox, "us-local-2")
        await _import(harness, queue, resources.sync, second)
        pushes = {shop.id: ("push_inventory", (shop.id,)) for shop in (first, second)}
        sent = {shop_id: watch.sent.count(push) for shop_id, push in pushes.items()}
        assert all(sent.values()), sent  # both shops have stock to push

        # when a webhook for the second shop arrives, and a worker takes the `live` queue, one message at a time
        webhook = ("process_webhook_events", (second.id,))
        await queue.enqueue_webhook_events(second.id)
        worker = dramatiq.Worker(broker, queues={LIVE_QUEUE}, worker_threads=1, worker_timeout=WORKER_TIMEOUT_MS)
        worker.start()
        await asyncio.to_thread(broker.join, LIVE_QUEUE)
        await asyncio.to_thread(worker.join)

        # then the webhook's run started after at most one push run per shop, however many batches the imports
        # wrote (each order batch of the second shop moved the items of both): the imports sent one push message
        # per shop, the others coalesced into it while it waited
        assert webhook in watch.started
        ahead = watch.started[: watch.started.index(webhook)]
        assert {shop_id: ahead.count(push) for shop_id, push in pushes.items()} == {first.id: 1, second.id: 1}, sent
        assert sent == {first.id: 1, second.id: 1}
    finally:
        if worker is not None:
            await asyncio.to_thread(worker.stop)
        await resources.aclose()
