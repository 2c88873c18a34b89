"""The sync engine end to end below GraphQL: real database, the sandbox over HTTP, the real TikTok client, and
Dramatiq (the embedded StubBroker pool in process, or Redis with `dramatiq` worker processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis as SyncRedis

from adapters.config import Settings
from domain.errors import ErrorCode
from domain.inventory_push import InventoryPolicy
from domain.services.shops import delete_shop
from domain.services.sync import SyncAlreadyRunningError, cancel_task, queue_authorization_sync, start_sync
from domain.shops import Shop
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from sandbox.config import SandboxConfig
from sandbox.faults import FAULT_KINDS
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import (
    SyncHarness,
    connect_shop,
    expected_catalog,
    row_counts,
    settings_env,
    stored_catalog,
    sync_settings,
)
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines, wait_until
from tests.fixtures.workers import spawn_worker, stop_worker

# Dramatiq's Redis broker: one entry per consumer that has fetched (its dispatch.lua)
HEARTBEATS = "dramatiq:__heartbeats__"

Factory = Callable[..., SyncHarness]
ORDER_SEARCH = "/order/202309/orders/search"


@pytest.fixture
def harness(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> SyncHarness:
    return sync_harness_factory(sync_settings(database_url, sandbox, tmp_path))


async def _connect(harness: SyncHarness, sandbox: SandboxServer) -> Shop:
    """A connected shop whose pool does not push: these tests compare the import with TikTok's data, which the
    pool's pushes (issue 8: seeded items pushed back, a multi-warehouse SKU's stock on its default warehouse) change."""
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.uow_factory() as uow:
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(push_enabled=False), harness.clock.now())
        await uow.commit()
    return shop


async def _authorize_and_sync(harness: SyncHarness, sandbox: SandboxServer) -> tuple[Shop, list[SyncTask]]:
    """A shop connected the way a completed authorization connects it: with its two tasks, enqueued on commit."""
    assert harness.queue is not None
    shop = await _connect(harness, sandbox)
    async with harness.uow_factory() as uow:
        tasks = await queue_authorization_sync(uow, harness.queue, shop, harness.clock.now(), events=harness.events)
        await uow.commit()
    return shop, tasks


async def _assert_exact_data(
    harness: SyncHarness, sandbox: SandboxServer, shop: Shop, orders_task: SyncTask, *, products: bool = True
) -> None:
    since, until = orders_task.orders_created_since, orders_task.orders_created_until
    assert since is not None and until is not None
    want_products, want_orders = expected_catalog(sandbox, shop, since, until)
    got_products, got_orders = await stored_catalog(harness.db, shop.id)
    assert got_orders == want_orders
    if products:
        assert got_products == want_products


async def test_an_authorization_imports_every_product_and_30_days_of_orders_exactly(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given an authorized shop whose two tasks are enqueued to the embedded worker pool, the newest of its open
    # orders of several lines with one line the seller cancelled alone (TikTok's item-level cancellation: the line
    # CANCELLED, out of stock, by the SELLER; the order still AWAITING_SHIPMENT)
    harness.start_worker()
    assert harness.queue is not None
    shop = await _connect(harness, sandbox)
    open_order = max(
        (o for o in sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/orders")["orders"]
         if o["status"] == "AWAITING_SHIPMENT" and len(o["line_items"]) > 1),
        key=lambda o: o["create_time"],
    )  # fmt: skip
    cancelled_line = open_order["line_items"][-1]["id"]
    sandbox.control("POST", f"/orders/{open_order['id']}/line-items/cancel", {"line_item_ids": [cancelled_line]})
    async with harness.uow_factory() as uow:
        tasks = await queue_authorization_sync(uow, harness.queue, shop, harness.clock.now(), events=harness.events)
        await uow.commit()
    products_task, orders_task = tasks
    # when both finish
    products_done = await harness.wait(products_task.id)
    orders_done = await harness.wait(orders_task.id)
    # then they succeeded and the stored data is the sandbox's, field by field (each line's own status, cancel
    # reason and cancel user too), older orders left out
    assert products_done.status is SyncTaskStatus.SUCCEEDED, products_done.error_message
    assert orders_done.status is SyncTaskStatus.SUCCEEDED, orders_done.error_message
    await _assert_exact_data(harness, sandbox, shop, orders_done)
    _, stored_orders = await stored_catalog(harness.db, shop.id)
    lines = {line[0]: line[-3:] for line in stored_orders[open_order["id"]]["line_items"]}
    assert lines[cancelled_line] == ("CANCELLED", "Out of stock", "SELLER")
    assert {status for line_id, (status, _, _) in lines.items() if line_id != cancelled_line} == {"AWAITING_SHIPMENT"}
    all_orders = sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/orders")["total_count"]
    assert 0 < orders_done.processed < all_orders
    assert orders_done.created == orders_done.processed == orders_done.total
    assert products_done.created == products_done.processed == 30
    async with harness.uow_factory() as uow:
        stored_shop = await uow.shops.get(shop.id)
    assert stored_shop is not None and stored_shop.last_synced_at is not None

    # when the merchant syncs again: nothing changes, and the counts say so
    assert harness.queue is not None
    kinds = [SyncKind.PRODUCTS, SyncKind.ORDERS]
    again = await start_sync(harness.uow_factory, harness.queue, harness.events, harness.clock, "m1", shop.id, kinds)
    for task in again:
        done = await harness.wait(task.id)
        assert done.status is SyncTaskStatus.SUCCEEDED and done.trigger is SyncTrigger.MANUAL
        assert done.unchanged == done.processed > 0 and done.created == done.updated == 0


async def test_with_10_percent_faults_of_every_kind_the_import_still_ends_exact(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # given a sandbox failing 10% of requests with every fault it knows ("slow" outlasting the client timeout)
    sandbox = sandbox_factory(SandboxConfig(products=60, orders=300, slow_seconds=1.5))
    # Pages of 5: about a hundred requests, so that every kind of fault strikes a few times.
    settings = sync_settings(database_url, sandbox, tmp_path, sync_order_slices=6, sync_page_size=5)
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=0.5))
    harness = sync_harness_factory(settings)
    harness.start_worker()
    sandbox.control("POST", "/faults", {"rate": 0.0})  # the authorization itself is not what this test is about
    shop, (products_task, orders_task) = await _authorize_and_sync(harness, sandbox)
    sandbox.control("POST", "/faults", {"rate": 0.1, "kinds": list(FAULT_KINDS), "seed": 11, "slow_seconds": 1.5})
    # when the import runs through them
    products_done = await harness.wait(products_task.id)
    orders_done = await harness.wait(orders_task.id)
    # then it succeeded with exactly the sandbox's data
    assert products_done.status is SyncTaskStatus.SUCCEEDED, products_done.error_message
    assert orders_done.status is SyncTaskStatus.SUCCEEDED, orders_done.error_message
    sandbox.control("POST", "/faults", {"rate": 0.0})
    await _assert_exact_data(harness, sandbox, shop, orders_done)
    outcomes = sandbox.control("GET", "/counters")["by_outcome"]
    assert sum(n for outcome, n in outcomes.items() if outcome.startswith("fault:")) >= 5, outcomes


def _held_settings(database_url: str, sandbox: SandboxServer, tmp_path: Path, **overrides: object) -> Settings:
    """One slice of 20-order pages, fetched one after another, by a client that waits for a held page as long as
    the test may take (instead of retrying and failing): the test lets pages through one at a time."""
    settings = sync_settings(database_url, sandbox, tmp_path, sync_order_slices=1, sync_page_size=20, **overrides)
    return settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS))


async def _one_page_in(harness: SyncHarness, sandbox: SandboxServer, task_id: str, pages: int = 1) -> SyncTask:
    """With the order search held: let `pages` pages through and wait until they are stored; the next page then
    waits at TikTok, so the import is RUNNING whatever the machine's speed."""
    await asyncio.to_thread(sandbox.wait_held)
    await asyncio.to_thread(sandbox.let_through, pages)
    running = await harness.wait(task_id, until=lambda t: t.processed >= 20 * pages)
    assert running.status is SyncTaskStatus.RUNNING
    return running


async def test_a_second_task_of_a_kind_is_refused_and_a_cancel_stops_the_running_one(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # TikTok holds the order search: the cancel lands while the import waits for its second page (slow pages only
    # made that likely)
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=300))
    harness = sync_harness_factory(_held_settings(database_url, sandbox, tmp_path))
    queue = harness.start_worker()
    shop = await _connect(harness, sandbox)
    sandbox.hold(ORDER_SEARCH)
    start = (harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id)
    (task,) = await start_sync(*start, [SyncKind.ORDERS])
    await _one_page_in(harness, sandbox, task.id)

    with pytest.raises(SyncAlreadyRunningError) as refused:
        await start_sync(*start, [SyncKind.ORDERS])
    assert refused.value.code is ErrorCode.SYNC_ALREADY_RUNNING and [t.id for t in refused.value.tasks] == [task.id]

    with log_lines("domain.services.importer") as lines:
        await cancel_task(harness.uow_factory, harness.events, harness.clock, "m1", task.id)
        sandbox.hold()  # TikTok answers again: the run sees the cancel at its next page
        cancelled = await harness.wait(task.id)
        assert cancelled.status is SyncTaskStatus.CANCELLED
        # the import's own word that it stopped: nothing of it is in flight after this line
        await asyncio.to_thread(lines.wait_for, f"sync task {task.id} stopped")
    # every stored order is one the task counted (data and counters share each transaction), and not all came
    stored = (await row_counts(harness.db, shop.id))["orders"]
    assert stored == cancelled.created and 0 < stored < (cancelled.total or 10**9), (stored, cancelled)


async def test_a_shop_deleted_mid_import_leaves_no_row_behind(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # TikTok holds the order search: the orders import cannot finish before the delete lands (1.5 s pages only made
    # that likely); the delete comes while its second page waits at TikTok
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=300))
    harness = sync_harness_factory(_held_settings(database_url, sandbox, tmp_path))
    queue = harness.start_worker()
    shop = await _connect(harness, sandbox)
    sandbox.hold(ORDER_SEARCH)
    tasks = await start_sync(
        harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
    )
    await harness.wait(tasks[0].id)  # the products (10, one page) are in; the orders import runs
    await _one_page_in(harness, sandbox, tasks[1].id)

    with log_lines("domain.services.importer") as lines:
        await delete_shop(harness.uow_factory, harness.clock, "m1", shop.id)
        sandbox.hold()  # the held page is answered: the import tries to store it and learns the shop is gone
        # the orders import's own word that it stopped: a page in flight has tried its write by then. Either word: a
        # write of the run that meets the delete while it is under way (its heartbeat, on a loaded machine) hands the
        # run back instead, nothing written, its task gone with the shop
        stopped, handed_back = f"sync task {tasks[1].id} stopped", f"sync task {tasks[1].id} handed back"
        await asyncio.to_thread(lines.wait_for, stopped, handed_back)
    assert set((await row_counts(harness.db, shop.id)).values()) == {0}


async def test_tasks_left_running_by_a_crash_are_resumed_at_start_up(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given a task the database shows RUNNING, from a process that died (no worker has its message any more)
    shop = await _connect(harness, sandbox)
    task = SyncTask.queue(shop.id, "m1", SyncKind.PRODUCTS, SyncTrigger.MANUAL, harness.clock.now())
    task.begin_attempt(harness.clock.now() - timedelta(hours=1))
    async with harness.uow_factory() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    # when the embedded worker pool starts
    harness.start_worker()
    # then it picks the task up and finishes it, counting the attempt, and the dead process's run as failed
    done = await harness.wait(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED and done.attempts == 2 and done.processed == 30
    assert done.failed_attempts == 1


# -- production mode: Redis and `dramatiq` worker processes -------------------------------------------------------


@pytest.mark.redis
async def test_a_worker_process_killed_mid_import_is_replaced_and_the_data_is_exact(
    postgres_url: str, redis_server: object, sandbox_factory: Callable[[SandboxConfig], SandboxServer],
    tmp_path: Path, sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # TikTok holds the order search: the test lets ten pages through, and the import waits for its eleventh while a
    # second worker starts and the first is killed (300 ms pages only made that likely: a worker process may take
    # longer to start than the whole import at load 20)
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=400))
    settings = _held_settings(
        postgres_url, sandbox, tmp_path,
        broker_url=redis_server.url,  # type: ignore[attr-defined]
        broker_heartbeat_timeout_ms=4_000, broker_maintenance_chance=1_000_000,
    )  # fmt: skip
    harness = sync_harness_factory(settings)
    from adapters.queue import DramatiqTaskQueue
    from workers.broker import setup_broker

    setup_broker(settings)  # this process only sends; the workers are processes of their own
    from workers.actors import run_sync_task

    queue = DramatiqTaskQueue(run_sync_task)
    shop = await _connect(harness, sandbox)
    env = {**settings_env(settings), "SHOPBRIDGE_TIKTOK_TIMEOUT": str(DEADLINE_SECONDS)}  # waits for a held page
    sandbox.hold(ORDER_SEARCH)
    first = spawn_worker(env)
    second: subprocess.Popen[bytes] | None = None
    try:
        (task,) = await start_sync(harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id,
                                   [SyncKind.ORDERS])  # fmt: skip
        # when the worker that took the task is SIGKILLed in the middle of it, another one standing by
        await _one_page_in(harness, sandbox, task.id, pages=10)
        heartbeats = SyncRedis.from_url(redis_server.url)  # type: ignore[attr-defined]
        consumers = set(heartbeats.zrange(HEARTBEATS, 0, -1))
        second = spawn_worker(env)
        # the survivor is up once its consumer has sent Redis its first heartbeat; the import still waits at TikTok.
        # A new member, not a higher count: its first fetch also purges the heartbeats of an earlier test's workers
        # dead for over a minute (one Redis for the session), so the count may stay the same or drop.
        await asyncio.to_thread(
            wait_until, lambda: set(heartbeats.zrange(HEARTBEATS, 0, -1)) - consumers, "a second worker"
        )
        heartbeats.close()
        still = await harness.task(task.id)
        assert still is not None and still.status is SyncTaskStatus.RUNNING, still
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        sandbox.hold()  # TikTok answers again, to the survivor
        # then Redis hands the message to the survivor once the dead one's heartbeat lapses; it resumes
        done = await harness.wait(task.id)
        assert done.status is SyncTaskStatus.SUCCEEDED, (done.status, done.error_message)
        assert done.attempts >= 2
        await _assert_exact_data(harness, sandbox, shop, done, products=False)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)


@pytest.mark.redis
async def test_a_redis_subscriber_sees_signals_published_by_another_process(redis_server: object) -> None:
    from adapters.events import RedisEventBus

    bus = RedisEventBus(redis_server.url)  # type: ignore[attr-defined]
    try:
        async with bus.subscribe("merchant-a") as signals, bus.subscribe("merchant-b") as others:
            await asyncio.wait_for(bus.wait_listening(), 5)
            await signals.wait(0.2)  # the (re)connect's "re-read everything"
            await others.wait(0.2)
            script = (
                "import asyncio\n"
                "from datetime import UTC, datetime\n"
                "from adapters.events import RedisEventBus\n"
                "from domain.sync import SyncKind, SyncTask, SyncTrigger\n"
                "async def main():\n"
                f"    bus = RedisEventBus({redis_server.url!r})\n"  # type: ignore[attr-defined]
                "    task = SyncTask.queue('shop-1', 'merchant-a', SyncKind.PRODUCTS, SyncTrigger.MANUAL, "
                "datetime.now(UTC))\n"
                "    task.id = 'task-1'\n"
                "    await bus.task_changed(task)\n"
                "    await bus.aclose()\n"
                "asyncio.run(main())\n"
            )
            process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=Path(__file__).parents[2])
            assert await process.wait() == 0
            assert await signals.wait(5) == {"task-1"}
            assert await others.wait(0.5) is None  # another merchant hears nothing
    finally:
        await bus.aclose()


@pytest.mark.redis
async def test_a_worker_process_stops_an_import_at_its_time_limit_and_sends_nothing_more(
    postgres_url: str, redis_server: object, sandbox_factory: Callable[[SandboxConfig], SandboxServer],
    tmp_path: Path, sync_harness_factory: Factory,
) -> None:  # fmt: skip
    # given a `dramatiq` worker process with one thread, a 10-second time limit and one attempt per task
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=200))
    settings = sync_settings(
        postgres_url, sandbox, tmp_path,
        broker_url=redis_server.url,  # type: ignore[attr-defined]
        sync_time_limit_seconds=10, sync_max_attempts=1,  # the products sync below must end within it (load 13)
        worker_reserved_threads=0,  # its one thread may run an import (settings_env hands it to the process)
    )  # fmt: skip
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=30.0))  # > the slow answers
    # (the worker process below gets the same 30 s through its environment)
    harness = sync_harness_factory(settings)
    from adapters.queue import DramatiqTaskQueue
    from workers.broker import setup_broker

    setup_broker(settings)
    from workers.actors import run_sync_task

    queue = DramatiqTaskQueue(run_sync_task)
    shop = await _connect(harness, sandbox)
    # and TikTok answering the order search slowly forever (each answer 11 s late: past the limit, within the
    # client's 30 s timeout; the stopped import's request is ended with it, and the worker's stop waits for that)
    order_search = "/order/202309/orders/search"
    sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["slow"], "slow_seconds": 11.0, "paths": [order_search]})
    worker = spawn_worker({**settings_env(settings), "SHOPBRIDGE_TIKTOK_TIMEOUT": "30"}, threads=1)
    try:
        start = (harness.uow_factory, queue, harness.events, harness.clock, "m1", shop.id)
        (orders,) = await start_sync(*start, [SyncKind.ORDERS])
        # when its run passes the limit: the task fails with a clear code
        failed = await harness.wait(orders.id)
        # (on a loaded machine the limit may pass before the first search is even sent: then none is counted)
        sent = sandbox.control("GET", "/counters")["by_path"].get(order_search)
        assert (failed.status, failed.error_code) == (SyncTaskStatus.FAILED, ErrorCode.TIME_LIMIT_EXCEEDED)
        # then the worker's only thread is free again: a products sync runs to its end
        (products,) = await start_sync(*start, [SyncKind.PRODUCTS])
        done = await harness.wait(products.id)
        assert done.status is SyncTaskStatus.SUCCEEDED, done.error_message
        # and no request of the stopped import reached TikTok after it failed
        assert sandbox.control("GET", "/counters")["by_path"].get(order_search) == sent
    finally:
        stop_worker(worker)
