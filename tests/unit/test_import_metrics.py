"""`shopbridge_sync_records_imported_total` counts each imported record once, however its task was resumed.

Each process counts the records of the runs it makes (`adapters.metrics.MeteredEvents`); a change of a task that
another process's run counted (a stale sweep re-sending a killed worker's task, a cancel found by the next message)
must add nothing.
"""

from __future__ import annotations

import copy
from datetime import timedelta

from prometheus_client import REGISTRY

from adapters.metrics import MeteredEvents
from domain.services.sync import resume_stale_tasks, start_sync
from domain.sync import SyncKind, SyncTask
from tests.fakes import FakeClock, FakeEventPublisher, FakeStore, FakeTaskQueue, FakeUnitOfWork, make_shop


def created_orders() -> float:
    return (
        REGISTRY.get_sample_value("shopbridge_sync_records_imported_total", {"kind": "ORDERS", "outcome": "created"})
        or 0.0
    )


async def a_first_run_that_counted(store: FakeStore, queue: FakeTaskQueue, clock: FakeClock, created: int) -> SyncTask:
    shop = make_shop("m1")
    store.shops[shop.id] = shop
    (task,) = await start_sync(lambda: FakeUnitOfWork(store), queue, None, clock, "m1", shop.id, [SyncKind.ORDERS])
    run = MeteredEvents(FakeEventPublisher())  # the worker process that runs attempt 1
    task.begin_attempt(clock.now())
    await run.task_changed(task)
    task.record_batch(created, 0, 0, [])
    await run.task_changed(task)
    store.tasks[task.id] = copy.deepcopy(task)  # as the run's transaction stored it
    return task


async def test_a_stale_sweep_re_sending_a_killed_runs_task_counts_none_of_its_records_again() -> None:
    # given a first run that imported 9,600 orders (counted by its process), then was SIGKILLed
    store, queue, clock = FakeStore(), FakeTaskQueue(), FakeClock()
    task = await a_first_run_that_counted(store, queue, clock, 9600)
    counted = created_orders()
    # when another worker process's sweep finds it silent and re-sends it
    clock.advance(timedelta(minutes=6))
    sweeper = MeteredEvents(FakeEventPublisher())
    assert await resume_stale_tasks(lambda: FakeUnitOfWork(store), queue, clock, timedelta(minutes=5), events=sweeper)
    # then nothing more is counted: those orders were counted where they were imported
    assert created_orders() == counted
    # and the resumed run, in that process, counts only what it imports
    resumed = store.tasks[task.id]
    resumed.begin_attempt(clock.now())
    await sweeper.task_changed(resumed)
    resumed.record_batch(3646, 0, 0, [])
    resumed.succeed(clock.now())
    await sweeper.task_changed(resumed)
    assert created_orders() == counted + 3646


async def test_a_task_cancelled_while_waiting_for_its_retry_counts_none_of_its_records_again() -> None:
    # given a first run that imported 500 orders (counted by its process), failed, and waits QUEUED for its retry
    store, queue, clock = FakeStore(), FakeTaskQueue(), FakeClock()
    task = await a_first_run_that_counted(store, queue, clock, 500)
    task.await_retry(clock.now())
    store.tasks[task.id] = copy.deepcopy(task)
    counted = created_orders()
    # when the merchant cancels it, and the retry's message reaches another worker process, which publishes the end
    task.request_cancel(clock.now())
    observer = MeteredEvents(FakeEventPublisher())
    await observer.task_changed(task)
    # then nothing more is counted
    assert created_orders() == counted
