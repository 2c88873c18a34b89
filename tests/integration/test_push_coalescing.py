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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from sqlalchemy import select

from adapters.config import Settings
from adapters.db.tables import skus
from adapters.queue import DramatiqTaskQueue
from domain.ports import EventPublisher, TaskQueue
from domain.services import importer
from domain.services.importer import SyncDeps
from domain.services.sync import queue_authorization_sync
from domain.shops import Shop
from domain.sync import SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    add_item,
    change_stock,
    imported_shop,
    link,
    opened_push_world,
    sandbox_products,
    tiktok_stock,
    updates,
)
from tests.integration.test_inventory_push import pooled_product
from workers.broker import LIVE_QUEUE, setup_broker
from workers.embedded import WORKER_TIMEOUT_MS
from workers.resources import build_resources


class Watch(Middleware):
    """What the broker was given (`sent`) and what its worker started (`started`), as (actor name, args)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.started: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        with self._lock:
            self.sent.append((message.actor_name, tuple(message.args)))

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        with self._lock:
            self.started.append((message.actor_name, tuple(message.args)))


def _in_order_settings(database_url: str, sandbox: SandboxServer, tmp_path: Path) -> Settings:
    """One worker thread, none reserved (it runs no import), so the `live` queue is taken strictly in order; the webhook
    address app-wide, so the worker's boot sweep registers nothing (the test's address is no https one)."""
    return sync_settings(database_url, sandbox, tmp_path, worker_reserved_threads=0, webhooks_app_wide=True)


@dataclass
class _LiveQueue:
    """The embedded broker (a StubBroker) watched, the task queue that sends to it, and a Dramatiq worker of one thread
    on its `live` queue, started by the test (`start`): a message sent while a run is in flight waits unstarted until
    that run ends."""

    broker: dramatiq.Broker
    queue: DramatiqTaskQueue
    worker: dramatiq.Worker
    started: bool = False

    def start(self) -> None:
        self.started = True
        self.worker.start()

    async def drained(self) -> None:
        """Until every message of the `live` queue has run."""
        await asyncio.to_thread(self.broker.join, LIVE_QUEUE)
        await asyncio.to_thread(self.worker.join)

    async def stop(self) -> None:
        """The worker stopped, if the test started it."""
        if self.started:
            await asyncio.to_thread(self.worker.stop)


def _live_queue(settings: Settings, watch: Watch, events: EventPublisher | None = None) -> _LiveQueue:
    """A new broker of `settings` (`workers.broker.setup_broker`, publishing on `events`) with `watch` added."""
    broker = setup_broker(settings, events=events)
    broker.add_middleware(watch)
    from workers.actors import task_queue  # declared on the broker just made

    worker = dramatiq.Worker(broker, queues={LIVE_QUEUE}, worker_threads=1, worker_timeout=WORKER_TIMEOUT_MS)
    return _LiveQueue(broker, task_queue(settings), worker)


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
    settings = _in_order_settings(database_url, sandbox, tmp_path)
    harness = sync_harness_factory(settings)
    watch = Watch()
    live = _live_queue(settings, watch, harness.events)
    queue = live.queue
    resources = await build_resources(settings, queue, harness.events)
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
        live.start()
        await live.drained()

        # then the webhook's run started after at most one push run per shop, however many batches the imports
        # wrote (each order batch of the second shop moved the items of both): the imports sent one push message
        # per shop, the others coalesced into it while it waited
        assert webhook in watch.started
        ahead = watch.started[: watch.started.index(webhook)]
        assert {shop_id: ahead.count(push) for shop_id, push in pushes.items()} == {first.id: 1, second.id: 1}, sent
        assert sent == {first.id: 1, second.id: 1}
    finally:
        await live.stop()
        await resources.aclose()


def _held_calls(sandbox: SandboxServer) -> int:
    return int(sandbox.control("GET", "/inventory-updates")["waiting"])


async def test_a_change_during_a_push_run_and_one_after_it_each_get_a_run_and_reach_tiktok(
    database_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # one worker thread: a message sent while the run is in flight waits unstarted until that run ends
    settings = _in_order_settings(database_url, sandbox, tmp_path)
    watch = Watch()
    live = _live_queue(settings, watch)
    queue = live.queue
    async with opened_push_world(database_url, sandbox, tmp_path, settings) as world:
        try:
            # given two products of a shop, each SKU linked to an item of 50 units; a worker on the `live` queue
            shop = await imported_shop(world)
            push = ("push_inventory", (shop.id,))
            red, red_items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
            blue, blue_items, _ = await pooled_product(world, shop, "SB-00022-", on_hand=50)
            (red_sku, red_item), (blue_sku, blue_item) = next(iter(red_items.items())), next(iter(blue_items.items()))
            live.start()

            # when a sale of the red item is pushed, and TikTok holds that Update Inventory in flight
            sandbox.control("POST", "/inventory-updates/hold", {"held": True})
            await change_stock(world, red_item, -5, [(shop.id, red["id"])])
            await queue.enqueue_inventory_push(shop.id)
            await until(lambda: _held_calls(sandbox) == 1, "the red product's push in flight")
            # and meanwhile both items sell again: the run under way read its rows before these changes
            await change_stock(world, red_item, -3, [(shop.id, red["id"])])
            await change_stock(world, blue_item, -4, [(shop.id, blue["id"])])
            await queue.enqueue_inventory_push(shop.id)
            await queue.enqueue_inventory_push(shop.id)

            # then the change made during the run was sent a message of its own (the run had cleared the shop's
            # mark as it began), and the second send of the burst was coalesced into it (still unstarted)
            assert watch.sent.count(push) == 2, watch.sent
            sandbox.control("POST", "/inventory-updates/hold", {"held": False})
            await live.drained()
            # and once TikTok answers, both reach TikTok: the red SKU at 50 - 5 - 3, the blue one at 50 - 4
            stock = tiktok_stock(sandbox, shop)
            assert (sum(stock[red_sku].values()), sum(stock[blue_sku].values())) == (42, 46)

            # when the blue item sells once more, after every run has ended
            await change_stock(world, blue_item, -1, [(shop.id, blue["id"])])
            await queue.enqueue_inventory_push(shop.id)
            await live.drained()

            # then it was sent a run too (no mark left behind), and TikTok shows 45
            assert watch.sent.count(push) == 3, watch.sent
            assert sum(tiktok_stock(sandbox, shop)[blue_sku].values()) == 45
        finally:
            await live.stop()


class _TikTokCallsAtStart(Watch):
    """`Watch`, plus how many Update Inventory calls TikTok had received for `shop` when each message started."""

    def __init__(self, sandbox: SandboxServer) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.shop: Shop | None = None
        self.calls_at_start: list[int] = []

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        super().before_process_message(broker, message)
        if self.shop is not None:
            self.calls_at_start.append(len(updates(self.sandbox, self.shop)))


async def test_a_webhook_waits_for_a_few_rounds_of_a_large_push_not_all_of_them(
    database_url: str, sandbox_factory: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    sandbox = sandbox_factory(SandboxConfig(products=100, orders=0))
    settings = _in_order_settings(database_url, sandbox, tmp_path)
    watch = _TikTokCallsAtStart(sandbox)
    live = _live_queue(settings, watch)
    queue = live.queue
    from workers.actors import PUSH_ROUNDS_PER_RUN

    async with opened_push_world(database_url, sandbox, tmp_path, settings) as world:
        try:
            # given a shop's 100 products, every SKU linked to an item of 50 units, all dirty (as after an import
            # into a pool whose counts differ from TikTok's)
            shop = await imported_shop(world)
            async with world.db.read_sessionmaker() as session:
                stored = set(
                    (await session.scalars(select(skus.c.tiktok_sku_id).where(skus.c.shop_id == shop.id))).all()
                )
            products = [  # the products the shop sells (a DELETED one's SKUs are stored, but take no stock)
                {**p, "skus": [sku for sku in p["skus"] if sku["id"] in stored]}
                for p in sandbox_products(sandbox, shop)
                if p["status"] != "DELETED"
            ]
            # a bundle's stock is not writable (TikTok: 12052850): left out
            products = [p for p in products if p["skus"] and not any(sku.get("combined_skus") for sku in p["skus"])]
            for product in products:
                for sku in product["skus"]:
                    item = await add_item(world.db, shop.merchant_id, f"item-{sku['id']}", 50)  # seller SKUs repeat
                    await link(world.db, shop, sku["id"], item, product["id"])
            async with world.uows() as uow:
                await uow.inventory_push.mark_dirty(shop.id, [p["id"] for p in products], datetime.now(UTC))
                await uow.commit()
            watch.shop = shop

            # when the shop's push is sent, then a webhook of the shop, and one worker thread takes them
            await queue.enqueue_inventory_push(shop.id)
            await queue.enqueue_webhook_events(shop.id)
            live.start()
            await live.drained()

            # then the webhook ran after one push run of at most PUSH_ROUNDS_PER_RUN rounds of 20 products, and the
            # push went on after it, sent again behind it, until every product was written
            push, webhook = ("push_inventory", (shop.id,)), ("process_webhook_events", (shop.id,))
            assert watch.started[:3] == [push, webhook, push], watch.started
            written = len(updates(sandbox, shop))
            assert 0 < watch.calls_at_start[1] <= PUSH_ROUNDS_PER_RUN * 20 < written, (watch.calls_at_start, written)
            stock = tiktok_stock(sandbox, shop)
            assert all(sum(stock[sku["id"]].values()) == 50 for p in products for sku in p["skus"])
        finally:
            await live.stop()
