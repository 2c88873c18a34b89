"""SyncTask rules and the orders slicing: pure, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

import pytest

from domain.errors import DomainError, ErrorCode, ValidationError
from domain.ports import Page
from domain.services.order_slices import OrderSlice, load_slices, plan_slices, store_slice
from domain.shops import TokenSet
from domain.sync import (
    ORDERS_MAX_WINDOW,
    RecordFailure,
    RefreshedTokens,
    SyncKind,
    SyncTask,
    SyncTaskStatus,
    SyncTrigger,
    ensure_shop_can_sync,
    judge_refreshed_tokens,
    parse_kinds,
    rerun_after_poll,
    rerun_after_reauthorization,
)
from tests.fakes import T0, make_order, make_shop, make_tokens

DAY = timedelta(days=1)


def _task(kind: SyncKind = SyncKind.ORDERS) -> SyncTask:
    return SyncTask.queue("s1", "m1", kind, SyncTrigger.MANUAL, T0)


def test_orders_window_defaults_to_30_days_and_refuses_more_than_90() -> None:
    task = _task()
    assert task.orders_created_until == T0
    assert task.orders_created_since == T0 - timedelta(days=30)
    with pytest.raises(ValidationError) as err:
        SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0, T0 - timedelta(days=91))
    assert err.value.code is ErrorCode.INVALID_SYNC_WINDOW


def test_kinds_must_be_given_once_each() -> None:
    assert parse_kinds([SyncKind.ORDERS]) == [SyncKind.ORDERS]
    for bad in ([], [SyncKind.ORDERS, SyncKind.ORDERS]):
        with pytest.raises(ValidationError) as err:
            parse_kinds(bad)
        assert err.value.code is ErrorCode.INVALID_INPUT


def test_a_revoked_or_expired_shop_cannot_sync() -> None:
    shop = make_shop()
    ensure_shop_can_sync(shop, T0)
    with pytest.raises(DomainError) as err:
        ensure_shop_can_sync(shop, shop.expires_at)
    assert err.value.code is ErrorCode.REAUTHORIZATION_REQUIRED
    shop.revoke(T0)
    with pytest.raises(DomainError):
        ensure_shop_can_sync(shop, T0)


def test_each_attempt_is_counted_and_a_newer_one_takes_the_lease() -> None:
    # given a task begun once
    task = _task()
    assert task.begin_attempt(T0)
    first = task.attempts
    # when the message is delivered again (a killed worker)
    assert task.begin_attempt(T0 + timedelta(minutes=1))
    # then the first run no longer holds it, the second does
    assert not task.holds_lease(first)
    assert task.holds_lease(task.attempts)
    assert task.attempts == 2
    # and the first run, which never ended, counts as failed: one of the retry budget spent
    assert task.failed_attempts == 1 and task.may_retry(2) and not task.may_retry(1)


def test_a_finished_task_does_not_begin_again() -> None:
    task = _task()
    task.begin_attempt(T0)
    task.succeed(T0)
    assert not task.begin_attempt(T0)
    assert task.attempts == 1
    assert not task.holds_lease(1)


def test_cancel_queued_at_once_running_at_next_page_finished_refused() -> None:
    queued = _task()
    queued.request_cancel(T0)
    assert queued.status is SyncTaskStatus.CANCELLED

    running = _task()
    running.begin_attempt(T0)
    running.request_cancel(T0)
    assert running.status is SyncTaskStatus.RUNNING and running.cancel_requested
    assert running.honour_cancel(T0)
    assert running.status is SyncTaskStatus.CANCELLED

    with pytest.raises(DomainError) as err:
        running.request_cancel(T0)
    assert err.value.code is ErrorCode.SYNC_TASK_FINISHED


def test_record_batch_counts_and_keeps_a_bounded_list_of_failures() -> None:
    task = _task()
    task.record_batch(2, 1, 3, [RecordFailure(str(i), "bad") for i in range(150)])
    assert (task.created, task.updated, task.unchanged, task.failed, task.processed) == (2, 1, 3, 150, 156)
    assert len(task.failures) == 100


def test_slices_cover_the_window_without_gap_or_overlap() -> None:
    since, until = T0 - timedelta(days=30), T0
    slices = plan_slices(since, until, 16)
    assert len(slices) == 16
    assert slices[0].ge == int(since.timestamp()) and slices[-1].lt == int(until.timestamp())
    assert all(a.lt == b.ge for a, b in pairwise(slices))


def test_a_slice_resumes_at_its_last_create_time_and_skips_what_it_stored() -> None:
    # given a slice whose first page ended with two orders created in the same second
    ge = int(T0.timestamp())
    state = OrderSlice(ge=ge, lt=ge + 1000, resume_ge=ge)
    orders = [make_order(1, T0), make_order(2, T0 + timedelta(seconds=5)), make_order(3, T0 + timedelta(seconds=5))]
    after = state.after_page(Page(orders, "t", 10), first_of_run=True)
    assert (after.resume_ge, after.seen, after.total, after.done) == (ge + 5, ("o000002", "o000003"), 10, False)
    # when a resumed run refetches from that second
    refetched = [orders[1], orders[2], make_order(4, T0 + timedelta(seconds=5))]
    # then only the new order is kept, and the seen list grows at the same second
    assert after.news(refetched) == [refetched[2]]
    later = after.after_page(Page([refetched[2]], None, 8), first_of_run=True)
    assert later.seen == ("o000002", "o000003", "o000004") and later.done and later.total == 10


def test_slices_round_trip_through_the_checkpoint_and_sum_their_totals() -> None:
    since, until = T0 - timedelta(days=1), T0
    plan = load_slices({}, since, until, 2)
    checkpoint: dict[str, object] = {}
    assert store_slice(checkpoint, plan, 0, OrderSlice(plan[0].ge, plan[0].lt, plan[0].ge, total=3)) is None
    assert store_slice(checkpoint, plan, 1, OrderSlice(plan[1].ge, plan[1].lt, plan[1].lt, total=4, done=True)) == 7
    again = load_slices(checkpoint, since, until, 16)
    assert [s.total for s in again] == [3, 4] and again[1].done


def test_a_task_waiting_for_a_retry_is_queued_and_a_cancel_then_ends_it_at_once() -> None:
    task = _task()
    task.begin_attempt(T0)
    assert task.await_retry(T0 + timedelta(seconds=5))
    assert task.status is SyncTaskStatus.QUEUED and task.heartbeat_at == T0 + timedelta(seconds=5)
    assert not task.holds_lease(task.attempts)  # the failed run owns nothing any more
    task.request_cancel(T0 + timedelta(seconds=6))
    assert task.status is SyncTaskStatus.CANCELLED


def test_a_cancel_says_nothing_of_a_failed_runs_reason() -> None:
    # given a task waiting out an outage for its retry: why its last run failed, and when it runs again
    queued, retry = _task(), T0 + timedelta(seconds=5)
    queued.begin_attempt(T0)
    assert queued.fail_attempt(ErrorCode.TIKTOK_UNAVAILABLE, "TikTok stayed unavailable", T0, 3, retry)
    assert (queued.error_code, queued.retry_at) == (ErrorCode.TIKTOK_UNAVAILABLE, retry)
    # when the merchant cancels it, then it is CANCELLED with no reason of a failed run: the cancel is the reason
    # (review52b: the Task Center said "TikTok unavailable" for the merchant's own cancel)
    queued.request_cancel(T0 + timedelta(seconds=1))
    assert (queued.status, queued.error_code, queued.error_message, queued.retry_at) == (
        SyncTaskStatus.CANCELLED, None, None, None
    )  # fmt: skip
    # and a cancel asked during a run that then fails on an outage ends it CANCELLED the same way
    running = _task()
    running.begin_attempt(T0)
    running.request_cancel(T0 + timedelta(seconds=1))
    assert not running.fail_attempt(ErrorCode.TIKTOK_UNAVAILABLE, "TikTok stayed unavailable", T0, 3, retry)
    assert (running.status, running.error_code, running.error_message, running.retry_at) == (
        SyncTaskStatus.CANCELLED, None, None, None
    )  # fmt: skip


def test_staleness_gives_a_queued_task_longer_than_a_running_one() -> None:
    queued, running = _task(), _task()
    running.begin_attempt(T0)
    later = T0 + timedelta(minutes=10)
    assert running.is_stale(later, timedelta(minutes=5), timedelta(minutes=20))
    assert not queued.is_stale(later, timedelta(minutes=5), timedelta(minutes=20))
    assert queued.is_stale(T0 + timedelta(minutes=21), timedelta(minutes=5), timedelta(minutes=20))
    running.succeed(later)
    assert not running.is_stale(T0 + timedelta(days=1), timedelta(minutes=5), timedelta(minutes=20))


def _pair(access: str, refresh: str) -> TokenSet:
    return replace(make_tokens(), access_token=access, refresh_token=refresh)


@pytest.mark.parametrize(
    ("stored", "verdict"),
    [
        (("a0", "r0"), RefreshedTokens.STORE),  # still the pair we refreshed: compare-and-set succeeds
        (("a1", "r1"), RefreshedTokens.ALREADY_STORED),  # a session sharing our refresh stored it first
        (("a9", "r9"), RefreshedTokens.SUPERSEDED),  # a re-authorization or another refresh won: keep it
        (("a5", "r0"), RefreshedTokens.SUPERSEDED),  # same refresh token handed back, newer access token stored
    ],
)
def test_refreshed_tokens_replace_only_the_pair_they_were_refreshed_from(
    stored: tuple[str, str], verdict: RefreshedTokens
) -> None:
    assert judge_refreshed_tokens(_pair(*stored), _pair("a0", "r0"), _pair("a1", "r1")) is verdict


@pytest.mark.parametrize(
    ("kinds", "message"),
    [
        ([], "kinds must name at least one of PRODUCTS, ORDERS (this one is empty)."),
        ([SyncKind.ORDERS, SyncKind.ORDERS], "kinds must name each kind once (this one names ORDERS twice or more)."),
        ([SyncKind.ORDERS, SyncKind.PRODUCTS, SyncKind.PRODUCTS, SyncKind.ORDERS],
         "kinds must name each kind once (this one names ORDERS and PRODUCTS twice or more)."),
    ],
)  # fmt: skip
def test_the_kinds_to_sync_are_refused_with_a_message_on_the_kinds_field(kinds: list, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_kinds(kinds)
    assert (refused.value.code, refused.value.message, refused.value.field) == (
        ErrorCode.INVALID_INPUT, message, ("kinds",),
    )  # fmt: skip
    assert parse_kinds([SyncKind.ORDERS, SyncKind.PRODUCTS]) == [SyncKind.ORDERS, SyncKind.PRODUCTS]


def test_only_a_new_shops_import_never_begun_and_queued_lately_waits_for_its_webhook_registration() -> None:
    # given an import queued by a connection at T0 (README "Registering the address with TikTok": at most 30 s)
    longest = timedelta(seconds=30)
    task = SyncTask.queue("s1", "m1", SyncKind.PRODUCTS, SyncTrigger.AUTHORIZATION, T0)
    # then it waits while queued less than `longest` ago, and no longer
    assert task.waits_for_webhook_registration(T0 + timedelta(seconds=29), longest)
    assert not task.waits_for_webhook_registration(T0 + longest, longest)
    # and a manual import or a poll never waits, nor one that has begun a run (a resumed or redelivered one)
    assert not _task().waits_for_webhook_registration(T0, longest)
    scheduled = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.SCHEDULED, T0)
    assert not scheduled.waits_for_webhook_registration(T0, longest)
    assert task.begin_attempt(T0)
    assert not task.waits_for_webhook_registration(T0, longest)


def test_a_connections_orders_import_waits_for_the_products_import_queued_with_it_until_it_begins() -> None:
    # given the two imports a connection queues (PRODUCTS, then ORDERS)
    products = SyncTask.queue("s1", "m1", SyncKind.PRODUCTS, SyncTrigger.AUTHORIZATION, T0)
    orders = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.AUTHORIZATION, T0)
    # then ORDERS has PRODUCTS ahead of it and waits for it while it has not begun; PRODUCTS has nothing ahead
    assert (orders.connection_kind_ahead, products.connection_kind_ahead) == (SyncKind.PRODUCTS, None)
    assert orders.waits_for_import_ahead(products)
    assert not products.waits_for_import_ahead(orders) and not orders.waits_for_import_ahead(None)
    # and not for a manual or scheduled products import, nor one queued after it (a later connection's)
    assert not orders.waits_for_import_ahead(_task(SyncKind.PRODUCTS))
    later = SyncTask.queue("s1", "m1", SyncKind.PRODUCTS, SyncTrigger.AUTHORIZATION, T0 + timedelta(seconds=1))
    assert not orders.waits_for_import_ahead(later)
    # nor once it has begun (QUEUED again for a retry included) or ended
    assert products.begin_attempt(T0)
    assert not orders.waits_for_import_ahead(products)
    assert products.await_retry(T0) and products.status is SyncTaskStatus.QUEUED
    assert not orders.waits_for_import_ahead(products)
    # and a manual import has nothing ahead of it
    assert _task().connection_kind_ahead is None


def test_a_shop_awaits_its_first_webhook_registration_until_registered_or_failed() -> None:
    shop = make_shop()
    assert shop.awaits_first_webhook_registration
    shop.record_webhook_registration(T0, "GatewayError: TikTok unavailable")
    assert not shop.awaits_first_webhook_registration  # a failure ends the wait: the retries go on alone
    registered = make_shop()
    registered.record_webhook_registration(T0, None, "https://shopbridge.example/webhooks/tiktok")
    assert not registered.awaits_first_webhook_registration


class TestRerunAfterReauthorization:
    """`domain.sync.rerun_after_reauthorization` (tryout69 F1): what a re-authorization queues again for a kind."""

    @staticmethod
    def failed(code: ErrorCode, since: timedelta = timedelta(days=30)) -> SyncTask:
        task = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0, T0 - since)
        task.begin_attempt(T0)
        task.fail_run(code, "TikTok no longer honours the shop's authorization", T0)
        return task

    def test_an_import_a_lost_authorization_failed_runs_again_from_its_start_to_now_said_to_be_a_rerun(self) -> None:
        # the re-run reads from the failed window's start up to now (review70 F1: the polls' cursor need not start
        # where the failed window ended), and says it is a re-run (trigger REAUTHORIZATION) rather than
        # AUTHORIZATION, "the first import" (review69 R3)
        rerun = rerun_after_reauthorization(self.failed(ErrorCode.REAUTHORIZATION_REQUIRED), None, T0 + DAY)
        assert rerun is not None and (rerun.kind, rerun.trigger, rerun.status) == (
            SyncKind.ORDERS, SyncTrigger.REAUTHORIZATION, SyncTaskStatus.QUEUED,
        )  # fmt: skip
        assert (rerun.orders_created_since, rerun.orders_created_until) == (T0 - 30 * DAY, T0 + DAY)
        assert rerun.created_at == T0 + DAY

    def test_its_start_is_kept_within_tiktoks_90_days(self) -> None:
        rerun = rerun_after_reauthorization(self.failed(ErrorCode.REAUTHORIZATION_REQUIRED), None, T0 + 70 * DAY)
        assert rerun is not None and rerun.orders_created_since == T0 + 70 * DAY - ORDERS_MAX_WINDOW
        assert rerun.orders_created_until == T0 + 70 * DAY

    def test_a_window_wholly_past_tiktoks_90_days_runs_again_over_the_last_90_days(self) -> None:
        # review70b H1: a revocation of months; the polls' first cursor (no orders import ever succeeded) starts at the
        # re-authorization, so orders placed while the shop was revoked are the re-run's to read: none was re-run
        failed = self.failed(ErrorCode.REAUTHORIZATION_REQUIRED)
        for now in (T0 + 90 * DAY, T0 + 200 * DAY):
            rerun = rerun_after_reauthorization(failed, None, now)
            assert rerun is not None
            assert (rerun.orders_created_since, rerun.orders_created_until) == (now - ORDERS_MAX_WINDOW, now)

    def test_a_products_import_runs_again_whatever_its_age(self) -> None:
        # products have no window: a catalog read in part stays so until an import reads it whole
        failed = SyncTask.queue("s1", "m1", SyncKind.PRODUCTS, SyncTrigger.AUTHORIZATION, T0)
        failed.begin_attempt(T0)
        failed.fail_run(ErrorCode.REAUTHORIZATION_REQUIRED, "re-authorize it", T0)
        rerun = rerun_after_reauthorization(failed, None, T0 + 200 * DAY)
        assert rerun is not None and (rerun.kind, rerun.trigger) == (SyncKind.PRODUCTS, SyncTrigger.REAUTHORIZATION)
        assert rerun.orders_created_since is None and rerun.orders_created_until is None

    def test_a_poll_queues_it_once_the_shop_was_reauthorized_after_the_failure(self) -> None:
        # review69 R2: a poll active at the re-authorization held the kind; its success queues the re-run
        failed = self.failed(ErrorCode.REAUTHORIZATION_REQUIRED)
        rerun = rerun_after_poll(failed, T0 + DAY, T0 + 2 * DAY)
        assert rerun is not None and rerun.trigger is SyncTrigger.REAUTHORIZATION
        assert (rerun.orders_created_since, rerun.orders_created_until) == (T0 - 30 * DAY, T0 + 2 * DAY)

    def test_a_poll_queues_nothing_for_a_failure_after_the_latest_authorization(self) -> None:
        # not re-authorized since the failure (a re-run refused again): the next re-authorization runs it, not every
        # poll; nor anything for another failure or no import
        failed = self.failed(ErrorCode.REAUTHORIZATION_REQUIRED)
        assert rerun_after_poll(failed, T0, T0 + DAY) is None
        assert rerun_after_poll(failed, T0 - DAY, T0 + DAY) is None
        assert rerun_after_poll(self.failed(ErrorCode.TIKTOK_REJECTED), T0 + DAY, T0 + DAY) is None
        assert rerun_after_poll(None, T0 + DAY, T0 + DAY) is None

    def test_nothing_for_another_failure_a_success_none_or_an_active_task(self) -> None:
        lost = self.failed(ErrorCode.REAUTHORIZATION_REQUIRED)
        succeeded = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.AUTHORIZATION, T0)
        succeeded.begin_attempt(T0)
        succeeded.succeed(T0)
        active = SyncTask.queue("s1", "m1", SyncKind.ORDERS, SyncTrigger.SCHEDULED, T0)
        now = T0 + DAY
        assert rerun_after_reauthorization(self.failed(ErrorCode.TIKTOK_REJECTED), None, now) is None
        assert rerun_after_reauthorization(succeeded, None, now) is None
        assert rerun_after_reauthorization(None, None, now) is None
        assert rerun_after_reauthorization(lost, active, now) is None
