"""The import cap of a worker process (workers/slots.py) on real parts: the embedded pool (Dramatiq's StubBroker and
Worker), a real database, the sandbox over HTTP holding TikTok's searches so that an import runs as long as the
test wants. Dramatiq's own `after_enqueue` hook records what is sent."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.asyncio import EventLoopThread, get_event_loop_thread, set_event_loop_thread
from dramatiq.middleware import Middleware
from redis import Redis as SyncRedis

from adapters.config import ConfigError, Settings
from adapters.events import InProcessEventBus
from adapters.queue import BROKER_NAMESPACE
from domain.intake import EventOutcome, Notification
from domain.inventory_push import InventoryPolicy
from domain.services import inbox
from domain.services.sync import cancel_task, queue_authorization_sync
from domain.shops import Shop
from domain.sync import SyncTask, SyncTaskStatus
from sandbox.config import SandboxConfig
from tests.fixtures.redis_server import RedisServer, emptied_database
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, settings_env, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines, until, wait_until
from tests.fixtures.workers import spawn_worker, stop_workers
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    outbox_row,
    sandbox_products,
    tiktok_stock,
    updates,
)
from tests.integration.test_inventory_push import pooled_product
from workers.actors import SLOT_WAIT_DELAY_MS
from workers.broker import SYNC_QUEUE, setup_broker
from workers.embedded import WORKER_TIMEOUT_MS, EmbeddedWorker
from workers.resources import BootRefused, Resources

PRODUCT_SEARCH = "/product/202309/products/search"
ORDER_SEARCH = "/order/202309/orders/search"
EVENT_WEBHOOKS = "/event/202309/webhooks"  # webhook registration (Event API)


class Sent(Middleware):
    """Every message enqueued on the broker, with its delay (Dramatiq's `after_enqueue` hook; any thread)."""

    def __init__(self) -> None:
        self.messages: list[tuple[dramatiq.Message[Any], int | None]] = []

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        self.messages.append((message, delay))

    def of_task(self, task_id: str) -> list[tuple[dramatiq.Message[Any], int | None]]:
        """The messages sent for the task, each once, with the delay it was sent with. (A delayed message is enqueued
        twice: sent to the delay queue, then moved to its queue by the worker when due, with no delay.)"""
        first: dict[str, tuple[dramatiq.Message[Any], int | None]] = {}
        for message, delay in list(self.messages):
            if message.actor_name == "run_sync_task" and message.args == (task_id,):
                first.setdefault(message.message_id, (message, delay))
        return list(first.values())


def _settings(database_url: str, sandbox: SandboxServer, tmp_path: Path, **overrides: object) -> Settings:
    """2 worker threads, 1 kept from imports (the default): one import slot. The client waits for a held call as
    long as the test may take; the stale sweep runs every few seconds (a QUEUED task untouched 6 s is re-sent)."""
    settings = sync_settings(
        database_url, sandbox, tmp_path, embedded_worker_threads=2, sync_stale_after_seconds=6, **overrides
    )
    assert settings.worker_reserved_threads == 1
    return settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS))


def _worker_recording_sends(
    sync_harness_factory: Callable[[Settings], SyncHarness],
    sandbox_factory: Callable[[SandboxConfig], SandboxServer],
    database_url: str,
    tmp_path: Path,
) -> tuple[SandboxServer, SyncHarness, Sent]:
    """A small sandbox, and a harness over it with its worker (one import slot) started and every message its
    broker sends recorded."""
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=30))
    harness = sync_harness_factory(_settings(database_url, sandbox, tmp_path))
    harness.start_worker()
    assert harness.worker is not None and harness.worker.broker is not None
    sent = Sent()
    harness.worker.broker.add_middleware(sent)
    return sandbox, harness, sent


async def _authorized_shop_with_two_imports(harness: SyncHarness, sandbox: SandboxServer) -> list[SyncTask]:
    """A shop connected as an authorization connects it (its pool not pushing): PRODUCTS and ORDERS enqueued."""
    assert harness.queue is not None
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.uow_factory() as uow:
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(push_enabled=False), harness.clock.now())
        tasks = await queue_authorization_sync(uow, harness.queue, shop, harness.clock.now(), events=harness.events)
        await uow.commit()
    return tasks


async def _running_and_waiting(harness: SyncHarness, sandbox: SandboxServer, tasks: list[SyncTask]) -> tuple[str, str]:
    """Once one import is held at TikTok: (the running task's id, the waiting one's)."""
    await asyncio.to_thread(sandbox.wait_held)
    states = {task.id: await harness.task(task.id) for task in tasks}
    running = [i for i, t in states.items() if t is not None and t.status is SyncTaskStatus.RUNNING]
    waiting = [i for i, t in states.items() if t is not None and t.status is SyncTaskStatus.QUEUED]
    assert len(running) == len(waiting) == 1, states
    return running[0], waiting[0]


async def test_a_full_process_sends_the_import_back_for_later_without_a_retry_and_runs_it_once_a_slot_frees(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[[Settings], SyncHarness],
) -> None:  # fmt: skip
    # given a worker process with one import slot, and TikTok holding every search
    sandbox, harness, sent = _worker_recording_sends(sync_harness_factory, sandbox_factory, database_url, tmp_path)
    assert Resources.of(harness.worker.broker).import_slots.size == 1
    sandbox.hold(PRODUCT_SEARCH, ORDER_SEARCH)
    with log_lines("dramatiq", logging.INFO) as dramatiq_lines:
        try:
            # when a shop's two imports are enqueued: one runs, held at TikTok
            tasks = await _authorized_shop_with_two_imports(harness, sandbox)
            running, waiting = await _running_and_waiting(harness, sandbox, tasks)
            # then the other is sent back again and again, each time as a new message delayed SLOT_WAIT_DELAY_MS
            delays = await until(
                lambda: (d := [d for _, d in sent.of_task(waiting)]).count(SLOT_WAIT_DELAY_MS) >= 4 and d
            )
            # after the one sent at authorization, and no other: the stale sweep sent none
            assert delays == [None] + [SLOT_WAIT_DELAY_MS] * (len(delays) - 1), delays
            assert all("retries" not in m.options for m, _ in sent.of_task(waiting))  # no Dramatiq retry counted
            # and it stays QUEUED without an attempt, touched while it waits (the sweep leaves it alone)
            queued = await harness.task(waiting)
            assert queued is not None and (queued.status, queued.attempts) == (SyncTaskStatus.QUEUED, 0), queued
            assert queued.heartbeat_at is not None
            still = await harness.task(running)
            assert still is not None and (still.status, still.attempts) == (SyncTaskStatus.RUNNING, 1), still
        finally:
            # when TikTok answers again
            sandbox.hold()
        # then both imports end, each in its first attempt: the waiting one ran once the slot was free
        for task in tasks:
            done = await harness.wait(task.id)
            assert (done.status, done.attempts) == (SyncTaskStatus.SUCCEEDED, 1), (done.status, done.error_message)
    # (the shop's webhook registration is refused by the sandbox, which wants https here: not an import's failure)
    failed = [m for m in dramatiq_lines.messages if "Retrying" in m or "Failed to process message run_sync_task" in m]
    assert not failed, dramatiq_lines.messages


async def test_a_waiting_import_cancelled_is_sent_no_more(
    sqlite_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[[Settings], SyncHarness],
) -> None:  # fmt: skip
    # given an import waiting for the one slot of its process, sent back again and again
    sandbox, harness, sent = _worker_recording_sends(sync_harness_factory, sandbox_factory, sqlite_url, tmp_path)
    sandbox.hold(PRODUCT_SEARCH, ORDER_SEARCH)
    try:
        tasks = await _authorized_shop_with_two_imports(harness, sandbox)
        running, waiting = await _running_and_waiting(harness, sandbox, tasks)
        await until(lambda: sent.of_task(waiting))
        # when the merchant cancels it
        cancelled = await cancel_task(harness.uow_factory, harness.events, harness.clock, "m1", waiting)
        assert cancelled.status is SyncTaskStatus.CANCELLED
        # then the message in flight is the last one: the next run finds the task ended and sends nothing
        count = len(sent.of_task(waiting))
        await asyncio.sleep(3 * SLOT_WAIT_DELAY_MS / 1000)
        assert len(sent.of_task(waiting)) <= count + 1, sent.of_task(waiting)
        settled = len(sent.of_task(waiting))
        await asyncio.sleep(2 * SLOT_WAIT_DELAY_MS / 1000)
        assert len(sent.of_task(waiting)) == settled
        ended = await harness.task(waiting)
        assert ended is not None and (ended.status, ended.attempts) == (SyncTaskStatus.CANCELLED, 0)
    finally:
        sandbox.hold()
    done = await harness.wait(running)
    assert done.status is SyncTaskStatus.SUCCEEDED, done.error_message


# How soon a new import must start while TikTok holds every inventory push of a burst: the thread no `live` message may
# hold is free, so the import waits only for the pushes Dramatiq took before it to be sent back (milliseconds);
# seconds of room for a loaded machine. Without the bound it waited as long as TikTok held the pushes: forever here.
IMPORT_STARTS_WITHIN_SECONDS = 20.0


async def test_an_import_starts_while_a_burst_of_pushes_is_held_at_tiktok_and_every_push_still_reaches_it(
    sqlite_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[[Settings], SyncHarness],
) -> None:  # fmt: skip
    # (SQLite: the bound is the worker's, the same over both databases)
    # given a worker process of 2 threads (one import slot), and two pooled shops of another merchant, each with a
    # sale of a linked SKU to push (shop id -> (shop, TikTok product id, TikTok SKU id, pool item id))
    sandbox, harness, sent = _worker_recording_sends(sync_harness_factory, sandbox_factory, sqlite_url, tmp_path)
    world = PushWorld(harness.db, harness.uow_factory, harness.tiktok, harness.http, sandbox)
    dirty: dict[str, tuple[Shop, str, str, str]] = {}
    for seller in ("us-local-2", "uk-local"):
        shop = await imported_shop(world, seller, merchant_id="m2")
        first = next(p for p in sandbox_products(sandbox, shop) if p["status"] == "ACTIVATE")
        product, items, _ = await pooled_product(world, shop, first["skus"][0]["seller_sku"], on_hand=50)
        sku, item = next(iter(items.items()))
        await change_stock(world, item, -5, [(shop.id, product["id"])])
        dirty[shop.id] = (shop, product["id"], sku, item)
    assert harness.queue is not None
    # when TikTok holds every Update Inventory, and both shops' pushes are sent (a burst, one message per shop)
    sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    try:
        for shop_id in dirty:
            await harness.queue.enqueue_inventory_push(shop_id)
        # and each push has been taken by a thread: held at TikTok, or sent back for a later run
        await until(
            lambda: (held := _held_updates(sandbox)) >= 1 and held + len(_pushes_sent_back(sent)) == 2,
            "both pushes taken by the worker",
        )
        # and a merchant then authorizes a new shop: its two imports are enqueued
        enqueued = time.monotonic()
        tasks = await _authorized_shop_with_two_imports(harness, sandbox)

        # then one of its imports starts promptly, while TikTok still holds a push
        async def started() -> bool:
            states = [await harness.task(task.id) for task in tasks]
            return any(t is not None and t.attempts > 0 for t in states)

        await until(started, "an import started while the pushes are held", timeout=IMPORT_STARTS_WITHIN_SECONDS)
        print(f"the import started {time.monotonic() - enqueued:.2f} s after it was enqueued")
        assert _held_updates(sandbox) == 1
        # and the push sent back still covers its shop: a further sale's push is coalesced into it
        (back,) = _pushes_sent_back(sent)
        shop, product_id, _, item = dirty[back]
        await change_stock(world, item, -3, [(back, product_id)])
        await harness.queue.enqueue_inventory_push(back)
        assert len({m.message_id for m, _ in list(sent.messages) if m.args == (back,)}) == 1  # sent back with its id
    finally:
        # when TikTok answers again
        sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    # then both imports end, and no push was lost: each shop's stock reaches TikTok in one call
    for task in tasks:
        done = await harness.wait(task.id)
        assert done.status is SyncTaskStatus.SUCCEEDED, done.error_message

    async def pushed() -> bool:
        rows = [await outbox_row(harness.db, shop, product_id) for shop, product_id, _, _ in dirty.values()]
        return all(row["pushed_version"] == row["dirty_version"] for row in rows)

    await until(pushed, "both shops' sales pushed")
    for shop_id, (shop, product_id, sku, _) in dirty.items():
        assert [u["product_id"] for u in updates(sandbox, shop)] == [product_id], shop_id
        assert sum(tiktok_stock(sandbox, shop)[sku].values()) == (42 if shop_id == back else 45), shop_id


# How soon a webhook run must settle its event while TikTok holds the inventory pushes of three pooled shops, in a
# worker process of 4 threads (3 live slots): the live slot pushes may not take is intake's, so the run waits only for
# its delivery (milliseconds); seconds of room for a loaded machine. Without that slot it was sent back every second
# for as long as TikTok held the pushes: forever here (try-out ops51: 6-31 s while pushes were slow).
WEBHOOK_RUN_SETTLES_WITHIN_SECONDS = 20.0


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return emptied_database(redis_server, 10)  # a database of its own


@pytest.mark.redis
async def test_a_webhook_run_settles_while_pushes_held_at_tiktok_would_take_every_live_slot(
    sqlite_url: str, redis_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[[Settings], SyncHarness],
) -> None:  # fmt: skip
    # (SQLite: the bound is the worker's; Redis: the production layout's broker, its sends and delays)
    # given a worker process of 4 threads on Redis, as `shopbridge worker --threads 4` runs one (3 live slots)
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=30))
    settings = sync_settings(sqlite_url, sandbox, tmp_path, broker_url=redis_url, webhooks_app_wide=True)
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS))
    harness = sync_harness_factory(settings)
    broker = setup_broker(settings)
    sent = Sent()
    broker.add_middleware(sent)
    from workers.actors import task_queue  # declared on the broker just made

    queue = task_queue(settings)
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=WORKER_TIMEOUT_MS)
    # and three pooled shops (of merchants of their own: the sandbox's catalogs share seller SKUs), each with a sale
    # of a linked SKU to push
    world = PushWorld(harness.db, harness.uow_factory, harness.tiktok, harness.http, sandbox)
    shops: list[tuple[Shop, str]] = []
    for merchant_id, seller in (("m2", "us-local-2"), ("m3", "uk-local"), ("m4", "sg-local")):
        shop = await imported_shop(world, seller, merchant_id=merchant_id)
        first = next(p for p in sandbox_products(sandbox, shop) if p["status"] == "ACTIVATE")
        product, items, _ = await pooled_product(world, shop, first["skus"][0]["seller_sku"], on_hand=50)
        sku, item = next(iter(items.items()))
        await change_stock(world, item, -5, [(shop.id, product["id"])])
        shops.append((shop, sku))
    worker.start()
    sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    try:
        assert Resources.of(broker).live_slots.size == 3
        # when TikTok holds every Update Inventory, and the three shops' pushes are sent
        for shop, _ in shops:
            await queue.enqueue_inventory_push(shop.id)
        await until(
            lambda: (held := _held_updates(sandbox)) >= 2 and held + len(_pushes_sent_back(sent)) >= 3,
            "the three pushes taken by the worker",
        )
        # and a buyer then orders on the first shop, whose webhook is stored and its processing sent
        shop, sku = shops[0]
        sale = sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": sku, "quantity": 1})
        note = Notification(1, "live-slot-sale", shop.tiktok_shop_id, int(time.time()), {"order_id": sale["order_id"]})
        event = await inbox.receive_notification(harness.uow_factory, harness.clock, note)
        assert event is not None
        received = time.monotonic()
        await queue.enqueue_webhook_events(shop.id)

        # then the event is settled promptly, while TikTok still holds the pushes
        async def settled() -> EventOutcome | None:
            async with harness.uow_factory() as uow:
                stored = await uow.webhook_events.get(event.id)
            return stored is not None and stored.outcome is not EventOutcome.PENDING and stored.outcome

        outcome = await until(settled, "the webhook event settled", timeout=WEBHOOK_RUN_SETTLES_WITHIN_SECONDS)
        print(f"the webhook event settled {time.monotonic() - received:.2f} s after its message was sent")
        assert outcome is EventOutcome.PROCESSED
        assert _held_updates(sandbox) == 2  # pushes hold two live slots, never the third
    finally:
        sandbox.control("POST", "/inventory-updates/hold", {"held": False})
        await asyncio.to_thread(worker.stop)


# How soon an import a busy worker process cannot start must start on an idle one, counted from the idle one's first
# fetch (its heartbeat in Redis): one fetch and the run's start, seconds of room for a loaded machine. Without the cap
# on the `sync` queue's prefetch it waited in the busy process for as long as its threads were held: forever here
# (try-out scale52: 48-62 s, until the big import ended).
IMPORT_STARTS_ELSEWHERE_WITHIN_SECONDS = 30.0


@pytest.mark.redis
async def test_an_import_a_busy_worker_process_cannot_start_is_left_in_the_queue_for_an_idle_one(
    postgres_url: str, redis_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[[Settings], SyncHarness],
) -> None:  # fmt: skip
    # given TikTok holding every search and the Event API, and a worker process A of 2 threads on Redis (one import
    # slot, one live slot), as `shopbridge worker --processes 1 --threads 2` runs one; this process only sends
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=30))
    settings = sync_settings(postgres_url, sandbox, tmp_path, broker_url=redis_url, sync_order_slices=1)
    harness = sync_harness_factory(settings)
    setup_broker(settings)
    from workers.actors import task_queue  # declared on the broker just made

    harness.queue = task_queue(settings)
    env = {**settings_env(settings), "SHOPBRIDGE_TIKTOK_TIMEOUT": str(DEADLINE_SECONDS)}  # waits for a held call
    redis = SyncRedis.from_url(redis_url)
    heartbeats, sync_queue = f"{BROKER_NAMESPACE}:__heartbeats__", f"{BROKER_NAMESPACE}:{SYNC_QUEUE}"
    sandbox.hold(PRODUCT_SEARCH, ORDER_SEARCH, EVENT_WEBHOOKS)
    busy = spawn_worker(env, processes=1, threads=2)
    idle: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(wait_until, lambda: redis.zcard(heartbeats) >= 1, "worker process A fetching")
        # when a shop is authorized: A takes its webhook registration (the `live` queue), then one of its two imports,
        # each held at TikTok (one call each: one order slice, pages one after another): both of A's threads are busy
        shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
        await harness.queue.enqueue_webhook_registration(shop.id)
        await asyncio.to_thread(sandbox.wait_held, 1)
        async with harness.uow_factory() as uow:
            await uow.inventory_push.save_policy(shop.id, InventoryPolicy(push_enabled=False), harness.clock.now())
            tasks = await queue_authorization_sync(uow, harness.queue, shop, harness.clock.now(), events=harness.events)
            await uow.commit()
        await asyncio.to_thread(sandbox.wait_held, 2)
        states = {task.id: await harness.task(task.id) for task in tasks}
        (running,) = [i for i, t in states.items() if t is not None and t.status is SyncTaskStatus.RUNNING]
        (waiting,) = [i for i in states if i != running]
        # then the other import stays in the queue in Redis, where `shopbridge_broker_queue_messages` counts it,
        # not in A's acknowledgement set (Dramatiq's prefetch of 2 x threads took it there, where no other process
        # could take it)
        assert redis.llen(sync_queue) == 1, "the waiting import was fetched by the busy process"
        # and when an idle worker process B comes up
        members = set(redis.zrange(heartbeats, 0, -1))
        idle = spawn_worker(env, processes=1, threads=2)
        await asyncio.to_thread(wait_until, lambda: set(redis.zrange(heartbeats, 0, -1)) - members, "B fetching")
        came_up = time.monotonic()
        # then B starts the waiting import, while A's still runs
        started = await harness.wait(
            waiting, timeout=IMPORT_STARTS_ELSEWHERE_WITHIN_SECONDS, until=lambda t: t.status is SyncTaskStatus.RUNNING
        )
        print(f"the waiting import started {time.monotonic() - came_up:.2f} s after worker process B came up")
        assert started.attempts == 1
        still = await harness.task(running)
        assert still is not None and still.status is SyncTaskStatus.RUNNING, still
        # and once TikTok answers again, both imports end, each in its first attempt
        sandbox.hold()
        for task in tasks:
            done = await harness.wait(task.id)
            assert (done.status, done.attempts) == (SyncTaskStatus.SUCCEEDED, 1), (done.status, done.error_message)
    finally:
        sandbox.hold()
        redis.close()
        stop_workers(busy, *([idle] if idle is not None else []))


@pytest.mark.redis
def test_a_sync_consumer_remade_while_an_import_runs_counts_it_and_fetches_nothing_more(
    sqlite_url: str, redis_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # given a worker process's broker on Redis with one import slot, its import running, and an import waiting in
    # the `sync` queue
    broker = setup_broker(sync_settings(sqlite_url, sandbox, tmp_path, broker_url=redis_url))
    slots = Resources.of(broker).import_slots
    slots.size = 1  # as `before_worker_boot` sizes it for `--threads 2`
    from workers.actors import run_sync_task

    run_sync_task.send("waiting-task")
    with slots.held():
        # when Dramatiq's consumer thread makes the `sync` queue's consumer anew (as after a lost connection: the new
        # one knows nothing of the messages its predecessor fetched), with Dramatiq's prefetch of 2 x threads
        consumer = broker.consume(SYNC_QUEUE, prefetch=4, timeout=10)
        # then it fetches nothing: the running import fills the process's one slot
        assert (consumer.prefetch, consumer.outstanding_message_count) == (1, 1)
        assert next(consumer) is None
        assert broker.client.llen(f"{BROKER_NAMESPACE}:{SYNC_QUEUE}") == 1
    # and once the import has ended, it fetches the waiting one; the `live` queue keeps Dramatiq's prefetch
    message = next(consumer)
    assert message is not None and message.args == ("waiting-task",)
    assert broker.consume("live", prefetch=4, timeout=10).prefetch == 4
    consumer.close()


def test_a_worker_process_whose_import_slots_are_all_taken_still_takes_token_refreshes_and_polls(
    sqlite_url: str, redis_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Review52b: with the `sync` queue's prefetch capped at the import slots, the token refreshes and poll requests
    that shared that queue waited behind every import in Redis while a process's slots were taken (with one worker
    process, no refresh and no poll at all until an import ended), though the reserved threads exist to keep them
    moving. They are `live` messages now: short, fetched whatever the imports hold."""
    # given a worker process's broker on Redis with one import slot, its import running
    broker = setup_broker(sync_settings(sqlite_url, sandbox, tmp_path, broker_url=redis_url))
    slots = Resources.of(broker).import_slots
    slots.size = 1  # as `before_worker_boot` sizes it for `--threads 2`
    from workers.actors import poll_shop, refresh_shop_tokens

    with slots.held():
        # when a token refresh and a poll are sent
        refresh_shop_tokens.send("shop-1")
        poll_shop.send("shop-1", "ORDERS", None)
        # then the process's consumer of their queue fetches both at once (Dramatiq's prefetch of 2 x threads)
        consumers = {
            name: broker.consume(name, prefetch=4, timeout=10)
            for name in {refresh_shop_tokens.queue_name, poll_shop.queue_name}
        }
        fetched = [m.actor_name for c in consumers.values() for m in (next(c), next(c)) if m is not None]
        assert sorted(fetched) == ["poll_shop", "refresh_shop_tokens"], fetched
        for consumer in consumers.values():
            consumer.close()


def _held_updates(sandbox: SandboxServer) -> int:
    return int(sandbox.control("GET", "/inventory-updates")["waiting"])


def _pushes_sent_back(sent: Sent) -> set[str]:
    """The shops whose push message was sent back for a later run (sent again with a delay)."""
    return {m.args[0] for m, delay in list(sent.messages) if m.actor_name == "push_inventory" and delay is not None}


def test_a_reservation_leaving_no_import_slot_stops_the_embedded_pool_before_it_starts(
    sqlite_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = sync_settings(sqlite_url, sandbox, tmp_path).with_overrides(embedded_worker_threads=1)
    with pytest.raises(ConfigError, match="SHOPBRIDGE_WORKER_RESERVED_THREADS=1 leaves no thread for imports"):
        EmbeddedWorker(settings, events=InProcessEventBus()).start()


def test_a_dramatiq_worker_with_too_few_threads_for_the_reservation_does_not_boot(
    sqlite_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    # given a broker set up as a worker process sets it up (`dramatiq workers.entrypoint --threads 1`)
    broker = setup_broker(sync_settings(sqlite_url, sandbox, tmp_path))
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    before = {t for t in threading.enumerate() if isinstance(t, EventLoopThread)}
    # then its boot is refused, naming the setting (a MiddlewareError: Dramatiq does not swallow it)
    with pytest.raises(BootRefused, match="SHOPBRIDGE_WORKER_RESERVED_THREADS"):
        worker.start()
    # and the event-loop thread AsyncIO had started is stopped: the process can exit
    loop_thread = get_event_loop_thread()
    if loop_thread is not None:  # left running: stop it for the next tests, and fail
        loop_thread.stop()
        set_event_loop_thread(None)
    assert loop_thread is None
    assert {t for t in threading.enumerate() if isinstance(t, EventLoopThread)} <= before
