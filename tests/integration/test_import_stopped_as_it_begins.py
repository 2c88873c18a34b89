"""An import stopped (a worker's shutdown) just as its run began is handed back QUEUED, no failed run counted.

The run commits RUNNING, then signals the Task Center; a cancel landing in that signal ended the run before its
hand-back could run (it covered the import, not its start): the task stayed RUNNING with a frozen heartbeat until the
stale sweep re-queued it minutes later and counted the run as failed. The signal is where a cancel lands most often
now that a Redis publish no longer loses it (`adapters.cancellation`). Real database, SQLite and PostgreSQL: the
hand-back waits for the beginning's transaction to end (it holds the task's row)."""

from __future__ import annotations

import asyncio

from domain.clock import SystemClock
from domain.services import importer
from domain.services.importer import SyncDeps, SyncOptions
from domain.services.sync import queue_authorization_sync
from domain.sync import SyncKind, SyncTask, SyncTaskStatus
from tests.fakes import FakeTaskQueue
from tests.fixtures.sync import connect_shop
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.pool_push_support import PushWorld, world_fixture  # noqa: F401 - the `world` fixture


class SignalHeld:
    """The Task Center's signals; the first one of a RUNNING task is held until the run is cancelled."""

    def __init__(self) -> None:
        self.running_signalled = asyncio.Event()
        self._never = asyncio.Event()

    async def task_changed(self, task: SyncTask) -> None:
        if task.status is SyncTaskStatus.RUNNING and not self.running_signalled.is_set():
            self.running_signalled.set()
            await self._never.wait()

    async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
        return None

    async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
        return None


async def test_a_run_cancelled_while_it_signals_its_start_is_handed_back_queued(world: PushWorld) -> None:
    # given an ORDERS import whose run has committed RUNNING and is signalling it
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox)
    queue, events = FakeTaskQueue(), SignalHeld()
    deps = SyncDeps(world.uows, world._api, events, SystemClock(), SyncOptions(), queue)
    async with world.uows() as uow:
        tasks = await queue_authorization_sync(uow, queue, shop, SystemClock().now())
        await uow.commit()
    orders = next(task for task in tasks if task.kind is SyncKind.ORDERS)
    run = asyncio.create_task(importer.run_sync_task(orders.id, deps))
    await asyncio.wait_for(events.running_signalled.wait(), DEADLINE_SECONDS)
    # when the worker's shutdown cancels it there
    run.cancel()
    done, _ = await asyncio.wait([run], timeout=DEADLINE_SECONDS)
    # then the run ends cancelled, the task handed back QUEUED with no failed run counted (it stayed RUNNING)
    assert run in done and run.cancelled()
    async with world.uows() as uow:
        stored = await uow.sync_tasks.get(orders.id)
    assert stored is not None
    assert (stored.status, stored.failed_attempts) == (SyncTaskStatus.QUEUED, 0)
