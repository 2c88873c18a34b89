"""Only failed runs spend a sync task's retry budget (`SyncTask.failed_attempts`, SHOPBRIDGE_SYNC_MAX_ATTEMPTS): runs a
shutdown or deploy interrupts do not, a run whose worker died does. `attempts` (runs begun) was both the lease and the
budget before: a long import interrupted by as many deploys as the budget failed on its next TikTok outage with no
retry, and a task that killed its worker every time ran for ever."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from domain.errors import ErrorCode
from domain.ports import TikTokUnavailableError
from domain.services.sync import resume_stale_tasks
from domain.sync import INTERNAL_ERROR, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import T0, FakeTaskQueue
from tests.unit.test_sync_importer import OPTIONS, World


async def _interrupted_run(world: World, task: SyncTask, at_call: int) -> None:
    """One run cancelled at TikTok call `at_call`, as a worker's shutdown cancels its runs (`Resources.shutdown`)."""
    run = asyncio.create_task(world.run(task))

    async def shutdown(call: int) -> None:
        if call == at_call:
            run.cancel()

    world.api.on_call = shutdown
    with pytest.raises(asyncio.CancelledError):
        await run
    world.api.on_call = None


async def test_runs_interrupted_by_shutdowns_spend_nothing_and_an_outage_after_them_is_still_retried() -> None:
    # given an orders import interrupted by more shutdowns (deploys) than its budget of failed runs
    world = World()
    task = world.queue(SyncKind.ORDERS)
    interruptions = OPTIONS.max_attempts + 1
    for n in range(interruptions):
        await _interrupted_run(world, task, at_call=world.api.calls + 2)
        # then each hands the task back QUEUED, for the message sent again, and counts no failed run
        stored = world.task(task.id)
        assert (stored.status, stored.attempts, stored.failed_attempts) == (SyncTaskStatus.QUEUED, n + 1, 0)
    # when TikTok then fails once past the client's retries, the worker having drawn a retry in 3.5 s for the run
    world.deps = dataclasses.replace(world.deps, retry_delay=lambda: timedelta(seconds=3.5))
    world.api.failures[world.api.calls + 1] = TikTokUnavailableError("outage")
    with pytest.raises(TikTokUnavailableError):
        await world.run(task)
    # then the run is retried (it was FAILED, TIKTOK_UNAVAILABLE, on its first real failure), and the retry finishes
    waiting = world.task(task.id)
    assert (waiting.status, waiting.failed_attempts) == (SyncTaskStatus.QUEUED, 1)
    # and while it waits the task says why its last run failed (try-out livesync52: null and '')
    assert (waiting.error_code, waiting.error_message) == (
        ErrorCode.TIKTOK_UNAVAILABLE, "TikTok stayed unavailable: outage"
    )  # fmt: skip
    # and when it runs again
    assert waiting.retry_at == world.clock.now() + timedelta(seconds=3.5)
    await world.run(task)
    done = world.task(task.id)
    assert (done.status, done.attempts, done.failed_attempts) == (SyncTaskStatus.SUCCEEDED, interruptions + 2, 1)
    assert (done.error_code, done.error_message, done.retry_at) == (None, None, None)  # cleared by the success
    assert world.store.shop_orders(world.shop.id) == world.expected_orders()


async def test_failed_runs_spend_the_budget_and_the_last_one_fails_the_task() -> None:
    # given an import TikTok fails on every run
    world = World()
    task = world.queue(SyncKind.PRODUCTS)
    for n in range(1, OPTIONS.max_attempts):
        world.api.failures[world.api.calls + 1] = TikTokUnavailableError("still down")
        with pytest.raises(TikTokUnavailableError):
            await world.run(task)
        assert world.task(task.id).failed_attempts == n
    # when the run that reaches SHOPBRIDGE_SYNC_MAX_ATTEMPTS fails too, then it fails the task instead of a retry
    world.api.failures[world.api.calls + 1] = TikTokUnavailableError("still down")
    await world.run(task)
    failed = world.task(task.id)
    assert (failed.status, failed.error_code) == (SyncTaskStatus.FAILED, ErrorCode.TIKTOK_UNAVAILABLE)
    assert failed.attempts == failed.failed_attempts == OPTIONS.max_attempts


async def test_a_task_whose_worker_dies_every_run_fails_once_the_dead_runs_spend_the_budget() -> None:
    # given an import whose runs began and never ended, max_attempts times (each worker killed mid-run: the row
    # stays RUNNING; the next delivery, Redis's redelivery or the stale sweep's, begins it again)
    world = World()
    task = world.queue(SyncKind.PRODUCTS)
    for _ in range(OPTIONS.max_attempts):
        assert world.store.tasks[task.id].begin_attempt(T0, OPTIONS.max_attempts)
    assert world.task(task.id).failed_attempts == OPTIONS.max_attempts - 1  # the last one is still "running"
    # when its message is delivered once more
    await world.run(task)
    # then it is not run again (no request to TikTok) but FAILED, INTERNAL, every dead run counted
    failed = world.task(task.id)
    assert world.api.calls == 0
    assert (failed.status, failed.error_code, failed.failed_attempts) == (
        SyncTaskStatus.FAILED, INTERNAL_ERROR, OPTIONS.max_attempts,
    )  # fmt: skip
    assert failed.attempts == OPTIONS.max_attempts and failed.finished_at == world.clock.now()
    assert failed.error_message is not None and f"failed {OPTIONS.max_attempts} times" in failed.error_message


async def test_the_stale_sweep_counts_the_run_whose_worker_died() -> None:
    # given a RUNNING import whose worker died (no heartbeat since)
    world = World()
    task = world.queue(SyncKind.PRODUCTS)
    world.store.tasks[task.id].begin_attempt(T0)
    # when the stale sweep re-sends it
    world.clock.advance(timedelta(minutes=6))
    queue = FakeTaskQueue()
    assert await resume_stale_tasks(world.deps.uow_factory, queue, world.clock, timedelta(minutes=5)) == [task.id]
    # then the dead run is counted as failed, once: the run the re-sent message begins finds the task QUEUED
    assert (world.task(task.id).status, world.task(task.id).failed_attempts) == (SyncTaskStatus.QUEUED, 1)
    await world.run(task)
    done = world.task(task.id)
    assert (done.status, done.attempts, done.failed_attempts) == (SyncTaskStatus.SUCCEEDED, 2, 1)


def test_hand_back_counts_nothing_and_fail_attempt_counts_each_failure_up_to_the_budget() -> None:
    task = SyncTask.queue("s1", "m1", SyncKind.PRODUCTS, SyncTrigger.MANUAL, T0)
    assert task.begin_attempt(T0, 2) and task.hand_back(T0)
    assert (task.status, task.attempts, task.failed_attempts) == (SyncTaskStatus.QUEUED, 1, 0)
    assert task.begin_attempt(T0, 2) and task.fail_attempt("TIKTOK_UNAVAILABLE", "down", T0, 2)
    assert (task.status, task.failed_attempts, task.may_retry(2)) == (SyncTaskStatus.QUEUED, 1, True)
    assert task.begin_attempt(T0, 2) and not task.fail_attempt("TIKTOK_UNAVAILABLE", "down", T0, 2)
    assert (task.status, task.error_code, task.failed_attempts) == (SyncTaskStatus.FAILED, "TIKTOK_UNAVAILABLE", 2)
    assert not task.hand_back(T0)  # finished: nothing to hand back


def test_a_run_handed_back_to_its_shops_delete_is_resumed_without_a_failed_run_a_dead_one_is_counted() -> None:
    # given a task RUNNING under lease 1, whose run gave it back to its shop's delete without writing (the delete held
    # the task's row: `domain.services.importer._yield_to_delete`), its message sent again with that lease
    task = SyncTask.queue("shop-1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
    assert task.begin_attempt(T0, OPTIONS.max_attempts)
    # when the message sent again begins it, the delete having rolled back
    assert task.begin_attempt(T0, OPTIONS.max_attempts, resumes=1)
    # then it runs under a new lease, no run counted as failed
    assert (task.status, task.attempts, task.failed_attempts) == (SyncTaskStatus.RUNNING, 2, 0)
    # and a delivery naming another lease (a redelivery after a worker died) counts the run it takes over as failed
    assert task.begin_attempt(T0, OPTIONS.max_attempts, resumes=1)
    assert (task.attempts, task.failed_attempts) == (3, 1)
