"""SyncTask rules at their edges (domain.sync): the orders window, progress, leases, staleness, counts, refusals.

A sibling of test_sync_task.py (which holds the rules' main paths and the orders slicing), kept apart for length.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.attention import shop_attention
from domain.errors import DomainError, ErrorCode, ValidationError
from domain.sync import (
    RecordFailure,
    SyncAlreadyRunningError,
    SyncKind,
    SyncTask,
    SyncTaskStatus,
    SyncTrigger,
    ensure_shop_can_sync,
    task_progress,
)
from tests.fakes import T0, make_shop

DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)


def _task(kind: SyncKind = SyncKind.ORDERS) -> SyncTask:
    return SyncTask.queue("s1", "m1", kind, SyncTrigger.SCHEDULED, T0)


def _running() -> SyncTask:
    task = _task()
    task.begin_attempt(T0)
    return task


class TestQueue:
    def test_a_new_task_is_queued_for_its_shop(self) -> None:
        task = SyncTask.queue("s1", "m1", SyncKind.PRODUCTS, SyncTrigger.AUTHORIZATION, T0, T0 - DAY)
        assert (task.shop_id, task.merchant_id, task.kind, task.trigger, task.status, task.created_at) == (
            "s1", "m1", SyncKind.PRODUCTS, SyncTrigger.AUTHORIZATION, SyncTaskStatus.QUEUED, T0,
        )  # fmt: skip
        # products have no window: a since given is ignored
        assert (task.orders_created_since, task.orders_created_until, task.attempts, task.processed) == (
            None, None, 0, 0,
        )  # fmt: skip
        assert len(task.id) == 32 and task.id != _task().id

    @pytest.mark.parametrize(
        "since",
        [T0 - timedelta(days=90, minutes=5), T0 - timedelta(days=90), T0 - TICK, T0 - timedelta(days=1)],
    )
    def test_orders_since_up_to_90_days_and_5_minutes_back_are_accepted(self, since: object) -> None:
        task = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0, since)  # type: ignore[arg-type]
        assert (task.orders_created_since, task.orders_created_until) == (since, T0)

    @pytest.mark.parametrize("since", [T0 - timedelta(days=90, minutes=5) - TICK, T0, T0 + DAY])
    def test_orders_since_further_back_or_not_in_the_past_are_refused(self, since: object) -> None:
        with pytest.raises(ValidationError) as refused:
            SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0, since)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.message, refused.value.field) == (
            ErrorCode.INVALID_SYNC_WINDOW, "ordersCreatedSince must be in the past, at most 90 days back.",
            ("ordersCreatedSince",),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "terminal", "active"),
    [
        (SyncTaskStatus.QUEUED, False, True),
        (SyncTaskStatus.RUNNING, False, True),
        (SyncTaskStatus.SUCCEEDED, True, False),
        (SyncTaskStatus.FAILED, True, False),
        (SyncTaskStatus.CANCELLED, True, False),
    ],
)
def test_statuses_are_active_or_terminal(status: SyncTaskStatus, terminal: bool, active: bool) -> None:
    task = _task()
    task.status = status
    assert (status.is_terminal, task.is_active) == (terminal, active)


@pytest.mark.parametrize(
    ("status", "processed", "total", "progress"),
    [
        (SyncTaskStatus.SUCCEEDED, 0, None, 1.0),
        (SyncTaskStatus.SUCCEEDED, 3, 10, 1.0),
        (SyncTaskStatus.RUNNING, 5, None, None),
        (SyncTaskStatus.RUNNING, 5, 0, None),
        (SyncTaskStatus.RUNNING, 0, 10, 0.0),
        (SyncTaskStatus.RUNNING, 5, 20, 0.25),
        (SyncTaskStatus.RUNNING, 20, 20, 1.0),
        (SyncTaskStatus.FAILED, 30, 20, 1.0),  # TikTok's total was an estimate
    ],
)
def test_progress_is_the_share_done(
    status: SyncTaskStatus, processed: int, total: int | None, progress: object
) -> None:
    assert task_progress(status, processed, total) == progress
    task = _task()
    task.status, task.processed, task.total = status, processed, total
    assert task.progress == progress


def test_an_ended_authorization_is_refused_in_words() -> None:
    shop = make_shop()
    shop.revoke(T0)
    with pytest.raises(DomainError) as refused:
        ensure_shop_can_sync(shop, T0)
    assert refused.value.message == "The shop's authorization has ended; re-authorize it to sync."


def test_unreadable_tokens_are_refused_naming_the_encryption_key_as_the_shops_notice_does() -> None:
    # given a shop TikTok still honours, whose stored tokens no configured key decrypts (the key changed)
    shop = make_shop()
    shop.tokens_unreadable = True
    # when a sync of it is asked for
    with pytest.raises(DomainError) as refused:
        ensure_shop_can_sync(shop, T0)
    # then the refusal says the key changed, as its REAUTHORIZATION_REQUIRED notice does (before: "The shop's
    # authorization has ended", which no seller had ended)
    assert refused.value.code is ErrorCode.REAUTHORIZATION_REQUIRED
    notice = shop_attention(T0, expires_at=shop.expires_at, revoked_at=None, tokens_unreadable_since=T0)
    assert [(n.code.value, n.message) for n in notice] == [("REAUTHORIZATION_REQUIRED", refused.value.message)]
    assert "encryption key changed" in refused.value.message


class TestAttempts:
    def test_a_resumed_run_keeps_its_start_and_touches_its_heartbeat(self) -> None:
        task = _running()
        assert (task.status, task.attempts, task.started_at, task.heartbeat_at) == (SyncTaskStatus.RUNNING, 1, T0, T0)
        assert task.begin_attempt(T0 + DAY)
        assert (task.attempts, task.started_at, task.heartbeat_at) == (2, T0, T0 + DAY)
        task.touch(T0 + 2 * DAY)
        assert task.heartbeat_at == T0 + 2 * DAY

    def test_a_queued_task_is_cancelled_at_once_and_dated(self) -> None:
        task = _task()
        task.request_cancel(T0 + DAY)
        assert (task.status, task.cancel_requested, task.finished_at) == (SyncTaskStatus.CANCELLED, True, T0 + DAY)

    def test_a_cancel_asked_while_it_waited_ends_it_instead_of_running(self) -> None:
        task = _running()
        task.request_cancel(T0)
        assert not task.begin_attempt(T0 + DAY)
        assert (task.status, task.attempts, task.finished_at) == (SyncTaskStatus.CANCELLED, 1, T0 + DAY)

    def test_without_a_cancel_asked_a_run_goes_on(self) -> None:
        task = _running()
        assert not task.honour_cancel(T0)
        assert task.status is SyncTaskStatus.RUNNING and task.finished_at is None

    def test_a_cancel_asked_of_a_task_that_ended_meanwhile_changes_nothing(self) -> None:
        task = _running()
        task.cancel_requested = True
        task.succeed(T0 + DAY)
        assert not task.honour_cancel(T0 + 2 * DAY)
        assert (task.status, task.finished_at) == (SyncTaskStatus.SUCCEEDED, T0 + DAY)

    @pytest.mark.parametrize("step", ["await_retry", "requeue"])
    def test_waiting_again_makes_it_queued_and_touched(self, step: str) -> None:
        task = _running()
        assert getattr(task, step)(T0 + DAY)
        assert (task.status, task.heartbeat_at) == (SyncTaskStatus.QUEUED, T0 + DAY)

    @pytest.mark.parametrize("step", ["await_retry", "requeue"])
    def test_waiting_again_is_refused_once_cancelled_or_ended(self, step: str) -> None:
        cancelled = _running()
        cancelled.request_cancel(T0)
        assert not getattr(cancelled, step)(T0 + DAY)
        assert (cancelled.status, cancelled.finished_at) == (SyncTaskStatus.CANCELLED, T0 + DAY)
        ended = _running()
        ended.fail("TIKTOK_UNAVAILABLE", "down", T0)
        assert not getattr(ended, step)(T0 + DAY)
        assert (ended.status, ended.heartbeat_at) == (SyncTaskStatus.FAILED, T0)

    def test_an_ended_task_refuses_a_cancel_naming_its_status(self) -> None:
        task = _running()
        task.succeed(T0)
        with pytest.raises(DomainError) as refused:
            task.request_cancel(T0)
        assert refused.value.message == "The task has already ended (SUCCEEDED)."
        assert not task.cancel_requested


class TestStaleness:
    RUNNING_AFTER, QUEUED_AFTER = timedelta(minutes=5), timedelta(minutes=20)

    def stale(self, task: SyncTask, silent: timedelta) -> bool:
        return task.is_stale(T0 + silent, self.RUNNING_AFTER, self.QUEUED_AFTER)

    def test_running_is_stale_only_past_its_limit_since_the_last_heartbeat(self) -> None:
        task = _running()
        task.touch(T0 + DAY)
        assert not self.stale(task, DAY + self.RUNNING_AFTER)
        assert self.stale(task, DAY + self.RUNNING_AFTER + TICK)

    def test_queued_is_stale_only_past_its_limit_since_created_or_touched(self) -> None:
        task = _task()
        assert not self.stale(task, self.QUEUED_AFTER)
        assert self.stale(task, self.QUEUED_AFTER + TICK)
        task.requeue(T0 + DAY)
        assert not self.stale(task, DAY + self.QUEUED_AFTER)
        assert self.stale(task, DAY + self.QUEUED_AFTER + TICK)

    @pytest.mark.parametrize("end", ["succeed", "cancel"])
    def test_an_ended_task_is_never_stale(self, end: str) -> None:
        task = _task()
        getattr(task, end)(T0)
        assert not self.stale(task, 100 * DAY)


class TestWaitingForAWorker:
    """A message that found every import slot of its worker taken (`SyncTask.wait_for_worker`)."""

    TOUCH_AFTER = timedelta(minutes=5)

    def test_a_queued_task_keeps_waiting_and_is_touched_only_once_untouched_for_a_while(self) -> None:
        # given a task queued at T0
        task = _task()
        # when its message waits for a slot soon after: it keeps waiting, untouched (no write for each wait)
        assert task.wait_for_worker(T0 + self.TOUCH_AFTER - TICK, self.TOUCH_AFTER) == (True, False)
        assert task.heartbeat_at is None and task.status is SyncTaskStatus.QUEUED
        # then, untouched for TOUCH_AFTER, it is touched: the stale sweep does not take its message for a lost one
        assert task.wait_for_worker(T0 + self.TOUCH_AFTER, self.TOUCH_AFTER) == (True, True)
        assert task.heartbeat_at == T0 + self.TOUCH_AFTER and task.status is SyncTaskStatus.QUEUED
        assert task.attempts == 0 and not task.is_stale(T0 + 2 * self.TOUCH_AFTER, DAY, self.TOUCH_AFTER + TICK)

    def test_a_running_task_keeps_waiting_and_keeps_its_runs_heartbeat(self) -> None:
        task = _running()  # a duplicate or redelivered message of a task that runs (or ran) elsewhere
        assert task.wait_for_worker(T0 + DAY, self.TOUCH_AFTER) == (True, False)
        assert task.heartbeat_at == T0 and task.status is SyncTaskStatus.RUNNING

    @pytest.mark.parametrize("end", ["succeed", "cancel"])
    def test_an_ended_task_waits_for_nothing(self, end: str) -> None:
        task = _task()
        getattr(task, end)(T0)
        assert task.wait_for_worker(T0 + DAY, self.TOUCH_AFTER) == (False, False)


class TestCounts:
    def test_failures_are_kept_up_to_a_hundred_in_order_across_batches(self) -> None:
        task = _task()
        task.record_batch(1, 0, 0, [RecordFailure(f"a{i}", "bad") for i in range(60)])
        task.record_batch(0, 2, 0, [RecordFailure(f"b{i}", "bad") for i in range(60)])
        task.record_batch(0, 0, 3, [RecordFailure("c", "bad")])
        assert (task.created, task.updated, task.unchanged, task.failed, task.processed) == (1, 2, 3, 121, 127)
        assert [f.tiktok_id for f in task.failures] == [f"a{i}" for i in range(60)] + [f"b{i}" for i in range(40)]

    def test_the_hundredth_failure_is_kept_the_hundred_and_first_not(self) -> None:
        task = _task()
        task.record_batch(0, 0, 0, [RecordFailure(f"a{i}", "bad") for i in range(99)])
        task.record_batch(0, 0, 0, [RecordFailure("last", "bad"), RecordFailure("over", "bad")])
        assert (len(task.failures), task.failures[-1].tiktok_id, task.failed) == (100, "last", 101)

    @pytest.mark.parametrize(("total", "expected"), [(None, 7), (5, 7), (7, 7), (9, 9)])
    def test_success_makes_the_total_at_least_what_was_processed(self, total: int | None, expected: int) -> None:
        task = _running()
        task.total = total
        task.record_batch(3, 4, 0, [])
        task.succeed(T0 + DAY)
        assert (task.status, task.total, task.finished_at) == (SyncTaskStatus.SUCCEEDED, expected, T0 + DAY)

    @pytest.mark.parametrize(
        ("created", "updated", "unchanged", "failures", "nothing"),
        [(0, 0, 5, 0, True), (1, 0, 0, 0, False), (0, 1, 0, 0, False), (0, 0, 0, 1, False)],
    )
    def test_a_poll_found_nothing_when_nothing_was_created_changed_or_failed(
        self, created: int, updated: int, unchanged: int, failures: int, nothing: bool
    ) -> None:
        task = _task()
        task.record_batch(created, updated, unchanged, [RecordFailure("x", "bad")] * failures)
        assert task.found_nothing is nothing

    @pytest.mark.parametrize(("created", "updated", "many"), [(500, 500, False), (500, 501, True)])
    def test_more_than_a_thousand_records_written_refresh_the_statistics(
        self, created: int, updated: int, many: bool
    ) -> None:
        task = _task()
        task.record_batch(created, updated, 20_000, [])
        assert task.wrote_many_rows is many

    def test_a_failure_keeps_its_code_and_message(self) -> None:
        task = _running()
        task.fail("TIKTOK_UNAVAILABLE", "TikTok did not answer", T0 + DAY)
        assert (task.status, task.error_code, task.error_message, task.finished_at) == (
            SyncTaskStatus.FAILED, "TIKTOK_UNAVAILABLE", "TikTok did not answer", T0 + DAY,
        )  # fmt: skip


def test_a_sync_already_running_names_its_kind_and_carries_the_task() -> None:
    task = _task()
    error = SyncAlreadyRunningError([task])
    assert (error.code, error.message, error.tasks) == (
        ErrorCode.SYNC_ALREADY_RUNNING, "This shop's orders sync is already running.", [task],
    )  # fmt: skip


def test_a_sync_already_running_of_both_kinds_names_both_and_carries_both_tasks() -> None:
    # before: only the first task was carried, and its kind alone named ("This shop's orders sync ...")
    products, orders = _task(SyncKind.PRODUCTS), _task(SyncKind.ORDERS)
    error = SyncAlreadyRunningError([products, orders])
    assert (error.message, error.tasks) == (
        "This shop's products and orders syncs are already running.",
        [products, orders],
    )
