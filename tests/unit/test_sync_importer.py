"""The import engine over fakes: exact data, resumable after any failure, cancellable, and honest about errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import ErrorCode
from domain.ports import (
    AuthorizationLostError,
    CursorStuckError,
    GatewayRefusedError,
    MissingPermissionError,
    TikTokUnavailableError,
)
from domain.services.importer import StaleStatistics, SyncDeps, SyncOptions, refresh_statistics, run_sync_task
from domain.services.run_limits import TimeLimitExceededError
from domain.services.sync import cancel_task, resume_stale_tasks
from domain.shops import Shop, ShopStatus
from domain.sync import INTERNAL_ERROR, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import (
    T0,
    FakeClock,
    FakeEventPublisher,
    FakeShopApi,
    FakeStore,
    FakeTaskQueue,
    FakeUnitOfWork,
    make_order,
    make_product,
    make_shop,
    make_tokens,
)

# Small pages and batches, so that a few hundred records make many pages, slices and transactions.
OPTIONS = SyncOptions(order_slices=5, page_size=7, queue_pages=4, batch_records=20, max_attempts=3)


class World:
    def __init__(self, products: int = 45, orders: int = 230) -> None:
        self.store = FakeStore()
        self.shop: Shop = make_shop()
        self.store.shops[self.shop.id] = self.shop
        # Orders over 40 days: the last 30 are imported. Several share a second, to exercise resumption there.
        self.orders = [make_order(i, T0 - timedelta(days=40) + timedelta(hours=4 * (i // 2))) for i in range(orders)]
        self.api = FakeShopApi([make_product(i) for i in range(products)], self.orders)
        self.events = FakeEventPublisher()
        self.clock = FakeClock()
        self.deps = SyncDeps(lambda: FakeUnitOfWork(self.store), self.api.factory, self.events, self.clock, OPTIONS)

    def queue(self, kind: SyncKind) -> SyncTask:
        task = SyncTask.queue(self.shop.id, self.shop.merchant_id, kind, SyncTrigger.MANUAL, T0)
        self.store.tasks[task.id] = task
        return task

    def task(self, task_id: str) -> SyncTask:
        return self.store.tasks[task_id]

    def expected_orders(self) -> dict[str, object]:
        return {o.tiktok_order_id: o for o in self.orders if T0 - timedelta(days=30) <= o.created_at < T0}

    async def run(self, task: SyncTask) -> None:
        await run_sync_task(task.id, self.deps)


async def test_a_full_import_stores_exactly_the_shops_data() -> None:
    world = World()
    products, orders = world.queue(SyncKind.PRODUCTS), world.queue(SyncKind.ORDERS)
    await world.run(products)
    await world.run(orders)

    assert world.store.shop_products(world.shop.id) == {p.tiktok_product_id: p for p in world.api.products}
    expected = world.expected_orders()
    assert 0 < len(expected) < len(world.orders)  # older orders exist and are skipped
    assert world.store.shop_orders(world.shop.id) == expected
    for task_id, count in ((products.id, 45), (orders.id, len(expected))):
        task = world.task(task_id)
        assert task.status is SyncTaskStatus.SUCCEEDED
        assert (task.processed, task.created, task.total, task.attempts) == (count, count, count, 1)
    assert world.store.shops[world.shop.id].last_synced_at == T0
    assert (orders.id, "RUNNING") in world.events.changes and (orders.id, "SUCCEEDED") in world.events.changes


async def test_running_again_changes_nothing_and_says_so() -> None:
    world = World()
    await world.run(world.queue(SyncKind.ORDERS))
    again = world.queue(SyncKind.ORDERS)
    await world.run(again)
    task = world.task(again.id)
    assert task.status is SyncTaskStatus.SUCCEEDED
    assert task.unchanged == task.processed == len(world.expected_orders()) and task.created == task.updated == 0


@pytest.mark.parametrize("kind", [SyncKind.PRODUCTS, SyncKind.ORDERS])
@pytest.mark.parametrize("failing_call", [1, 3, 7])
async def test_a_run_interrupted_anywhere_resumes_to_exactly_the_data(kind: SyncKind, failing_call: int) -> None:
    # given TikTok failing once in the middle of the import
    world = World()
    world.api.failures[failing_call] = TikTokUnavailableError("outage")
    task = world.queue(kind)
    # when the first attempt fails (the queue would retry it) and the second runs
    with pytest.raises(TikTokUnavailableError):
        await world.run(task)
    assert world.task(task.id).status is SyncTaskStatus.QUEUED  # waiting for the queue's retry
    await world.run(task)
    # then the data is exact, and nothing was counted twice
    done = world.task(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED and done.attempts == 2
    if kind is SyncKind.ORDERS:
        assert world.store.shop_orders(world.shop.id) == world.expected_orders()
        assert done.processed == done.created == len(world.expected_orders())
    else:
        assert len(world.store.shop_products(world.shop.id)) == done.processed == done.created == 45


async def test_a_resume_continues_from_the_checkpoint_instead_of_starting_over() -> None:
    world = World(products=70)
    world.api.failures[8] = TikTokUnavailableError("outage")
    task = world.queue(SyncKind.PRODUCTS)
    with pytest.raises(TikTokUnavailableError):
        await world.run(task)
    calls_before = world.api.calls
    await world.run(task)
    # 10 pages of 7: a restart from zero would take 10 more calls; the checkpoint leaves only the unstored ones
    assert world.api.calls - calls_before <= 10 - len(world.task(task.id).checkpoint) and world.api.calls < 20


async def test_tiktok_unavailable_on_the_last_attempt_fails_the_task() -> None:
    world = World()
    task = world.queue(SyncKind.ORDERS)
    for attempt in range(OPTIONS.max_attempts):
        world.api.failures[world.api.calls + 1] = TikTokUnavailableError("still down")
        if attempt < OPTIONS.max_attempts - 1:
            with pytest.raises(TikTokUnavailableError):
                await world.run(task)
        else:
            await world.run(task)  # the last attempt records the failure instead of asking for a retry
    failed = world.task(task.id)
    assert failed.status is SyncTaskStatus.FAILED and failed.error_code == ErrorCode.TIKTOK_UNAVAILABLE
    assert failed.attempts == OPTIONS.max_attempts


async def test_an_unexpected_error_is_retried_then_fails_as_internal() -> None:
    world = World()
    world.deps = SyncDeps(
        world.deps.uow_factory, world.deps.shop_api, world.events, world.clock, SyncOptions(page_size=7, max_attempts=1)
    )
    world.api.failures[2] = RuntimeError("bug")
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    assert world.task(task.id).status is SyncTaskStatus.FAILED and world.task(task.id).error_code == INTERNAL_ERROR


async def test_lost_authorization_fails_the_task_and_revokes_the_shop() -> None:
    world = World()
    world.api.failures[3] = AuthorizationLostError("revoked")
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    failed = world.task(task.id)
    assert failed.status is SyncTaskStatus.FAILED and failed.error_code == ErrorCode.REAUTHORIZATION_REQUIRED
    assert world.store.shops[world.shop.id].status(T0) is ShopStatus.REVOKED


async def test_a_revoked_shop_fails_at_once_without_calling_tiktok() -> None:
    world = World()
    world.shop.revoke(T0)
    task = world.queue(SyncKind.ORDERS)
    await world.run(task)
    assert world.task(task.id).error_code == ErrorCode.REAUTHORIZATION_REQUIRED and world.api.calls == 0


async def test_records_that_cannot_be_mapped_are_counted_not_fatal() -> None:
    world = World()
    world.api.bad_ids = {"p00003", "p00040"}
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    done = world.task(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED
    assert (done.failed, done.created, done.processed) == (2, 43, 45)
    assert {f.tiktok_id for f in done.failures} == {"p00003", "p00040"}


async def test_cancel_stops_the_import_at_its_next_page() -> None:
    world = World()
    task = world.queue(SyncKind.ORDERS)

    async def cancel_midway(call: int) -> None:
        if call == 15:
            await cancel_task(world.deps.uow_factory, world.events, world.clock, "m1", task.id)

    world.api.on_call = cancel_midway
    await world.run(task)
    cancelled = world.task(task.id)
    assert cancelled.status is SyncTaskStatus.CANCELLED
    assert 0 < len(world.store.shop_orders(world.shop.id)) < len(world.expected_orders())
    calls = world.api.calls
    await world.run(task)  # a late redelivery of the message is a no-op
    assert world.api.calls == calls


async def test_a_shop_deleted_mid_import_stops_it_and_nothing_is_written_afterwards() -> None:
    world = World()
    task = world.queue(SyncKind.ORDERS)

    async def delete_midway(call: int) -> None:
        if call == 15:
            assert world.store.shop_orders(world.shop.id)  # some pages are stored already
            async with world.deps.uow_factory() as uow:
                await uow.sync_tasks.cancel_active_for_shop(world.shop.id, T0)
                await uow.shops.delete(world.shop.id)
                await uow.commit()

    world.api.on_call = delete_midway
    await world.run(task)  # stops quietly: no exception for the queue to retry
    assert world.store.shop_orders(world.shop.id) == {} and world.store.tasks == {}


async def test_a_run_that_lost_its_lease_to_a_newer_attempt_stops_without_writing() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)

    async def redeliver(call: int) -> None:
        if call == 2:  # a second delivery begins while the first still runs
            stored = world.store.tasks[task.id]
            stored.begin_attempt(T0)

    world.api.on_call = redeliver
    await world.run(task)
    stored = world.task(task.id)
    assert stored.status is SyncTaskStatus.RUNNING and stored.attempts == 2  # left for the newer run
    world.api.on_call = None
    await world.run(task)
    assert world.task(task.id).status is SyncTaskStatus.SUCCEEDED
    assert world.task(task.id).processed == 45


async def test_tokens_refreshed_by_the_client_are_persisted() -> None:
    world = World()
    fresh = replace(make_tokens(T0 + timedelta(days=1)), access_token="access-2", refresh_token="refresh-2")
    world.api.refreshed_tokens = fresh
    await world.run(world.queue(SyncKind.PRODUCTS))
    assert world.store.shops[world.shop.id].tokens.access_token_expires_at == fresh.access_token_expires_at


async def test_a_finished_task_is_a_no_op() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    calls = world.api.calls
    await world.run(task)
    assert world.api.calls == calls and world.task(task.id).attempts == 1


async def test_a_task_waiting_for_a_retry_is_queued_left_to_the_retry_by_the_sweep_and_cancels_at_once() -> None:
    # given an attempt that TikTok's outage ended, handed back to the queue for a retry with backoff
    world = World()
    world.api.failures[2] = TikTokUnavailableError("outage")
    task = world.queue(SyncKind.ORDERS)
    with pytest.raises(TikTokUnavailableError):
        await world.run(task)
    # then the Task Center shows it QUEUED (nothing runs it), its last sign of life the failure
    waiting = world.task(task.id)
    assert waiting.status is SyncTaskStatus.QUEUED and waiting.heartbeat_at == T0 and waiting.attempts == 1
    assert (task.id, "QUEUED") in world.events.changes
    # when the stale sweep passes while Dramatiq's retry (backoff up to 10 minutes) is still pending
    queue = FakeTaskQueue()
    world.clock.advance(timedelta(minutes=6))
    resent = await resume_stale_tasks(
        world.deps.uow_factory, queue, world.clock, timedelta(minutes=5), queued_after=timedelta(minutes=20)
    )
    # then it leaves the task to the retry: no second delivery
    assert resent == [] and queue.enqueued == []
    # and a cancel meanwhile ends it at once; the retry, when it comes, is a no-op
    cancelled = await cancel_task(world.deps.uow_factory, world.events, world.clock, "m1", task.id)
    assert cancelled.status is SyncTaskStatus.CANCELLED
    calls = world.api.calls
    await world.run(task)
    assert world.api.calls == calls and world.task(task.id).attempts == 1


async def test_a_cancel_asked_while_running_ends_a_failed_attempt_instead_of_a_retry() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)

    async def cancel_then_fail(call: int) -> None:
        if call == 2:
            await cancel_task(world.deps.uow_factory, world.events, world.clock, "m1", task.id)
            world.api.failures[call] = TikTokUnavailableError("outage")

    world.api.on_call = cancel_then_fail
    await world.run(task)  # no exception: nothing left for the queue to retry
    assert world.task(task.id).status is SyncTaskStatus.CANCELLED


async def test_a_refresh_does_not_overwrite_a_pair_stored_meanwhile() -> None:
    # given an import whose client refreshes the tokens, while a re-authorization stores a newer pair first
    world = World()
    reauthorized = replace(make_tokens(T0 + timedelta(minutes=1)), access_token="reauth", refresh_token="reauth-r")
    refreshed = replace(make_tokens(T0 + timedelta(minutes=2)), access_token="refreshed", refresh_token="refreshed-r")
    world.api.refreshed_tokens = refreshed

    async def reauthorize(call: int) -> None:
        if call == 1:
            world.store.shops[world.shop.id].refresh_tokens(reauthorized)

    world.api.on_call = reauthorize
    task = world.queue(SyncKind.PRODUCTS)
    # when the import runs
    await world.run(task)
    # then the newer stored pair was kept (the session is handed it to go on with), and the import ran to its end
    stored = world.store.shops[world.shop.id].tokens
    assert (stored.access_token, stored.refresh_token) == ("reauth", "reauth-r")
    done = world.task(task.id)
    assert done.status is SyncTaskStatus.SUCCEEDED
    assert len(world.store.shop_products(world.shop.id)) == 45


async def test_a_large_import_leaves_the_planners_statistics_to_its_caller_after_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given imports that write more rows than the refresh threshold (lowered: the fakes stay small)
    monkeypatch.setattr("domain.sync.STATISTICS_REFRESH_AFTER", 40)
    world = World(products=45, orders=60)
    products, orders = world.queue(SyncKind.PRODUCTS), world.queue(SyncKind.ORDERS)
    # when each runs to its end
    after_products = await run_sync_task(products.id, world.deps)
    after_orders = await run_sync_task(orders.id, world.deps)
    # then the products (45 > 40) ended SUCCEEDED with their statistics named stale, not refreshed inside the run (the
    # ANALYZE is out of the import's time: the worker's actor runs it after); the orders (under 40 in the window) not
    assert world.task(products.id).status is SyncTaskStatus.SUCCEEDED
    assert after_products == StaleStatistics(products.id, SyncKind.PRODUCTS)
    assert world.task(orders.id).created < 40
    assert after_orders is None
    assert world.store.statistics_refreshed == []
    # and the caller's refresh analyzes that kind's tables
    await refresh_statistics(after_products, world.deps)
    assert world.store.statistics_refreshed == [SyncKind.PRODUCTS]

    # and a re-run that changes nothing names nothing stale
    again = world.queue(SyncKind.PRODUCTS)
    assert await run_sync_task(again.id, world.deps) is None
    assert world.task(again.id).unchanged == 45


async def test_every_finished_import_counts_its_shops_records_again() -> None:
    # given a products import and an orders import of one shop
    world = World(products=5, orders=5)
    products, orders = world.queue(SyncKind.PRODUCTS), world.queue(SyncKind.ORDERS)
    # when both run to their end
    await world.run(products)
    await world.run(orders)
    # then each had the shop's count of its kind counted again, once (small imports too: the count is not statistics)
    assert world.store.recounted == [(world.shop.id, SyncKind.PRODUCTS), (world.shop.id, SyncKind.ORDERS)]


# -- TikTok refusing, looping or stalling (issue 12, items 16 to 19) ----------------------------------------------


def _missing_scope(api: str) -> MissingPermissionError:
    error = MissingPermissionError("Access denied. The access token lacks the scope this API requires (code=105005)")
    error.api = api
    return error


async def test_a_missing_scope_fails_only_that_task_at_once_and_the_shop_stays_active() -> None:
    # given TikTok refusing the order search for lack of permission (105005)
    world = World()
    world.api.failures[2] = _missing_scope("POST /order/202309/orders/search")
    orders = world.queue(SyncKind.ORDERS)
    # when the orders task runs: no exception, so the queue does not retry it
    await world.run(orders)
    # then it failed on its first attempt, naming the missing permission, and the shop is still ACTIVE
    failed = world.task(orders.id)
    assert (failed.status, failed.error_code, failed.attempts) == (SyncTaskStatus.FAILED, ErrorCode.MISSING_SCOPE, 1)
    assert failed.error_message is not None and "POST /order/202309/orders/search" in failed.error_message
    assert "105005" in failed.error_message
    shop = world.store.shops[world.shop.id]
    assert shop.revoked_at is None and shop.status(T0) is ShopStatus.ACTIVE
    # and a products sync of the same shop still works
    products = world.queue(SyncKind.PRODUCTS)
    await world.run(products)
    assert world.task(products.id).status is SyncTaskStatus.SUCCEEDED


@pytest.mark.parametrize("kind", [SyncKind.PRODUCTS, SyncKind.ORDERS])
async def test_a_refusal_no_retry_can_fix_fails_the_task_at_once_with_tiktoks_words(kind: SyncKind) -> None:
    world = World()
    refusal = "Invalid parameter. A required parameter is missing. (code=36009004, http=200, request_id=R1)"
    world.api.failures[2] = GatewayRefusedError(refusal, "R1")
    task = world.queue(kind)
    await world.run(task)  # no exception: nothing for the queue to retry
    failed = world.task(task.id)
    assert (failed.status, failed.error_code, failed.attempts) == (SyncTaskStatus.FAILED, ErrorCode.TIKTOK_REJECTED, 1)
    assert failed.error_message is not None and refusal in failed.error_message
    assert world.store.shops[world.shop.id].revoked_at is None


async def test_a_page_token_answered_again_ends_the_import_as_stuck_counting_only_what_was_new() -> None:
    # given TikTok answering every page_token with that same token (one slice, so the loop is plain to see)
    world = World()
    world.deps = replace(world.deps, options=replace(OPTIONS, order_slices=1))
    world.api.repeat_page_token = True
    task = world.queue(SyncKind.ORDERS)
    # when the import runs
    await world.run(task)
    # then it ended after the second page (the first one to repeat its token), failed once with a clear code
    failed = world.task(task.id)
    assert (failed.status, failed.error_code, failed.attempts) == (
        SyncTaskStatus.FAILED,
        ErrorCode.TIKTOK_CURSOR_STUCK,
        1,
    )
    assert world.api.calls == 2
    # and `processed` counts the distinct orders stored, never a page twice
    stored = world.store.shop_orders(world.shop.id)
    assert failed.processed == failed.created == len(stored) == 2 * OPTIONS.page_size


async def test_a_page_answered_again_under_a_new_token_is_stuck_too() -> None:
    world = World()
    world.deps = replace(world.deps, options=replace(OPTIONS, order_slices=1))
    original = world.api.search_orders

    async def same_first_page(*, page_size: int, page_token: str | None, create_time_ge: int, create_time_lt: int):
        page = await original(
            page_size=page_size, page_token=None, create_time_ge=create_time_ge, create_time_lt=create_time_lt
        )
        return replace(page, next_page_token=f"fresh-{world.api.calls}")  # a new token, the same records

    world.api.search_orders = same_first_page  # type: ignore[method-assign]
    task = world.queue(SyncKind.ORDERS)
    await world.run(task)
    failed = world.task(task.id)
    assert failed.error_code == ErrorCode.TIKTOK_CURSOR_STUCK and world.api.calls == 2
    assert failed.processed == len(world.store.shop_orders(world.shop.id)) == OPTIONS.page_size


def test_cursor_stuck_is_a_refusal_for_the_queue() -> None:
    assert issubclass(CursorStuckError, GatewayRefusedError)


@pytest.mark.parametrize("kind", [SyncKind.PRODUCTS, SyncKind.ORDERS])
async def test_a_run_past_its_time_limit_is_stopped_and_retried_then_fails_with_a_clear_code(kind: SyncKind) -> None:
    # given TikTok that stops answering after the first request, and a run time limit of 50 ms
    world = World()
    world.deps = replace(world.deps, options=replace(OPTIONS, max_attempts=2, time_limit_seconds=0.05))

    async def hang(call: int) -> None:
        if call > 1:
            await asyncio.Event().wait()  # forever

    world.api.on_call = hang
    task = world.queue(kind)
    # when the first attempt runs: it is stopped, and handed back to the queue for a retry
    with pytest.raises(TimeLimitExceededError):
        await world.run(task)
    assert world.task(task.id).status is SyncTaskStatus.QUEUED
    calls = world.api.calls
    await asyncio.sleep(0)  # nothing of the stopped run is left to send another request
    assert world.api.calls == calls
    # when the last attempt runs into the same wall
    await world.run(task)
    # then the task failed with TIME_LIMIT_EXCEEDED, and no request of it is pending
    failed = world.task(task.id)
    assert (failed.status, failed.error_code, failed.attempts) == (
        SyncTaskStatus.FAILED,
        ErrorCode.TIME_LIMIT_EXCEEDED,
        2,
    )
    assert failed.error_message is not None and "time limit" in failed.error_message
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
