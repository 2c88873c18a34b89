"""The import engine over fakes, continued: what a failed task tells the merchant, the engine's default tuning,
and tokens that keep changing under a run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import DomainError, ErrorCode
from domain.polling import PollSettings, PollWindow, queue_poll
from domain.ports import AuthorizationLostError, TikTokUnavailableError
from domain.services.importer import SyncOptions
from domain.services.polling import start_poll
from domain.shops import AuthorizedShop, ShopStatus
from domain.sync import INTERNAL_ERROR, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import T0, FakeEventPublisher, FakeTaskQueue, FakeUnitOfWork, make_order, make_tokens
from tests.unit.test_sync_importer import OPTIONS, World


def test_the_engines_default_tuning() -> None:
    # workers/resources.py sets slices, page size, attempts and the time limit from the settings, and the records per
    # transaction from its database (`Database.import_batch_records`); the rest are these
    assert SyncOptions() == SyncOptions(
        order_slices=16,
        page_size=100,
        queue_pages=32,
        batch_records=500,
        max_attempts=5,
        time_limit_seconds=None,
        heartbeat_seconds=15.0,
    )


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        (TikTokUnavailableError("still down"), ErrorCode.TIKTOK_UNAVAILABLE, "TikTok stayed unavailable: still down"),
        (RuntimeError("bug"), INTERNAL_ERROR, "The import failed unexpectedly; it has been logged."),
        (
            DomainError(ErrorCode.INVALID_INPUT, "A rule refused the page."),
            ErrorCode.INVALID_INPUT,
            "A rule refused the page.",
        ),
    ],
)
async def test_a_failed_task_tells_the_merchant_what_happened_and_the_shop_is_signalled(
    failure: Exception, code: str, message: str
) -> None:
    world = World()
    world.deps = replace(world.deps, options=replace(OPTIONS, max_attempts=1))
    world.api.failures[2] = failure
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)  # the last attempt: recorded, not raised
    failed = world.task(task.id)
    assert (failed.status, failed.error_code, failed.error_message, failed.attempts) == (
        SyncTaskStatus.FAILED, code, message, 1,
    )  # fmt: skip
    assert failed.finished_at == T0 and (task.id, "FAILED") in world.events.changes
    assert world.events.shop_changes == [world.shop.id]
    assert world.store.shops[world.shop.id].revoked_at is None


async def test_a_lost_authorization_says_to_re_authorize_and_signals_the_revoked_shop() -> None:
    world = World()
    world.api.failures[2] = AuthorizationLostError("revoked")
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    failed = world.task(task.id)
    assert (failed.error_code, failed.error_message) == (
        ErrorCode.REAUTHORIZATION_REQUIRED,
        "TikTok no longer honours the shop's authorization; re-authorize it.",
    )
    assert world.store.shops[world.shop.id].revoked_at == T0
    assert world.events.shop_changes == [world.shop.id]


@pytest.mark.parametrize("kind", [SyncKind.PRODUCTS, SyncKind.ORDERS])
async def test_a_refusal_of_the_replaced_authorization_queues_the_import_again(kind: SyncKind) -> None:
    """review69 R1: the merchant re-authorizes while the import runs (that re-authorization finds it active and
    queues nothing); the run's request sent with the old pair is refused. The run fails, the shop stays ACTIVE, and
    the import is queued again over the same window, sent after the commit, and reads every record."""
    # given an import whose third request is refused, the shop re-authorized just before that refusal
    world = World()
    queue = FakeTaskQueue()
    world.deps = replace(world.deps, queue=queue)
    task = world.queue(kind)
    reauthorized_at = T0 + timedelta(minutes=1)

    async def reauthorize(call: int) -> None:
        if call == 3:
            shop = replace(world.store.shops[world.shop.id])
            granted = AuthorizedShop(shop.tiktok_shop_id, "TikTok Shop", "US", "LOCAL", shop.tiktok_shop_cipher)
            shop.reauthorize(granted, make_tokens(reauthorized_at), reauthorized_at)
            world.store.shops[shop.id] = shop

    world.api.on_call = reauthorize
    world.api.failures[3] = AuthorizationLostError("revoked")
    # when the run meets the refusal
    await world.run(task)
    # then it failed, the shop is ACTIVE with its new authorization, and the import is queued again and sent
    failed = world.task(task.id)
    assert (failed.status, failed.error_code) == (SyncTaskStatus.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED)
    shop = world.store.shops[world.shop.id]
    assert (shop.status(T0), shop.authorized_at, shop.revoked_at) == (ShopStatus.ACTIVE, reauthorized_at, None)
    (again,) = [t for t in world.store.tasks.values() if t.id != task.id]
    assert (again.status, again.kind, again.trigger) == (SyncTaskStatus.QUEUED, kind, SyncTrigger.REAUTHORIZATION)
    assert (again.orders_created_since, again.orders_created_until) == (
        failed.orders_created_since,
        failed.orders_created_until,
    )
    assert queue.enqueued == [again.id]
    # and its run stores every record of the window
    await world.run(again)
    assert world.task(again.id).status is SyncTaskStatus.SUCCEEDED
    if kind is SyncKind.ORDERS:
        assert world.store.shop_orders(world.shop.id) == world.expected_orders()
    else:
        assert world.store.shop_products(world.shop.id) == {p.tiktok_product_id: p for p in world.api.products}


async def _orders_import_failed_by_the_lost_authorization() -> tuple[World, FakeTaskQueue, SyncTask]:
    world = World()
    queue = FakeTaskQueue()
    world.deps = replace(world.deps, queue=queue)
    failed = world.queue(SyncKind.ORDERS)
    world.api.failures[2] = AuthorizationLostError("revoked")
    await world.run(failed)
    assert world.task(failed.id).error_code == ErrorCode.REAUTHORIZATION_REQUIRED
    return world, queue, failed


def _reauthorize(world: World) -> None:
    shop = replace(world.store.shops[world.shop.id])
    granted = AuthorizedShop(shop.tiktok_shop_id, "TikTok Shop", "US", "LOCAL", shop.tiktok_shop_cipher)
    shop.reauthorize(granted, make_tokens(world.clock.now()), world.clock.now())
    world.store.shops[shop.id] = shop


async def test_a_poll_active_at_the_reauthorization_queues_the_failed_import_again_when_it_succeeds() -> None:
    """review69 R2: an ORDERS import failed by the lost authorization; an ORDERS poll is queued when the merchant
    re-authorizes, so the re-authorization cannot queue the re-run (the one-active-task index). The poll's success
    queues it then, over the failed task's window, sent after the commit; it reads every order of the window; and
    the next poll's success queues nothing more. Before, nothing ever read the window again."""
    # given an ORDERS import that the lost authorization failed (the shop revoked)
    world, queue, failed = await _orders_import_failed_by_the_lost_authorization()
    assert world.store.shops[world.shop.id].revoked_at == T0
    # and an ORDERS poll queued when the shop is re-authorized (the re-authorization found it active)
    now = int(T0.timestamp())
    poll = queue_poll(world.shop, SyncKind.ORDERS, PollWindow(now - 3600, now - 60), T0)
    world.store.tasks[poll.id] = poll
    world.clock.advance(timedelta(minutes=5))
    _reauthorize(world)
    # when the poll succeeds
    world.clock.advance(timedelta(minutes=1))
    await world.run(poll)
    assert world.task(poll.id).status is SyncTaskStatus.SUCCEEDED
    # then the failed import is queued again, said to be a re-run, from the failed window's start to now, and sent
    (again,) = [t for t in world.store.tasks.values() if t.id not in (failed.id, poll.id)]
    assert (again.status, again.kind, again.trigger) == (
        SyncTaskStatus.QUEUED, SyncKind.ORDERS, SyncTrigger.REAUTHORIZATION,
    )  # fmt: skip
    assert (again.orders_created_since, again.orders_created_until) == (
        world.task(failed.id).orders_created_since,
        world.clock.now(),
    )
    assert queue.enqueued == [again.id]
    # and its run stores every order of the window
    await world.run(again)
    assert world.task(again.id).status is SyncTaskStatus.SUCCEEDED
    assert world.store.shop_orders(world.shop.id) == world.expected_orders()
    # and the next poll's success queues nothing more (the re-run is the kind's newest import)
    later = queue_poll(world.shop, SyncKind.ORDERS, PollWindow(now - 60, now + 300), world.clock.now())
    world.store.tasks[later.id] = later
    await world.run(later)
    assert world.task(later.id).status is SyncTaskStatus.SUCCEEDED
    assert len(world.store.tasks) == 4 and queue.enqueued == [again.id]


async def test_an_order_placed_while_the_shop_was_revoked_is_read_by_the_rerun_whatever_the_polls_cursor() -> None:
    """review70 F1: the re-run ended at the failed window's end, and the polls' first cursor, made while no orders
    import had succeeded, started at the shop's re-authorization (`initial_cursor`): an open order placed in between,
    while the shop was revoked, was read by neither (the README's upgrade case: a shop re-authorized before tryout69
    F1's fix, whose next release's first poll queues the re-run)."""
    # given an ORDERS import [T0 - 30 d, T0) failed by the lost authorization, an order placed a day later while
    # the shop was revoked (open, never updated since), and the shop re-authorized two days after that
    world, queue, failed = await _orders_import_failed_by_the_lost_authorization()
    placed = make_order(99_998, T0 + timedelta(days=1))
    world.api.orders.append(placed)
    world.clock.advance(timedelta(days=3))
    _reauthorize(world)
    # and the first ORDERS poll, its cursor from the shop's re-authorization, queued as the re-authorization ran
    # (so it could not queue the re-run)
    settings = PollSettings(interval=timedelta(minutes=5), overlap=timedelta(minutes=10), settle=timedelta(seconds=30))
    world.clock.advance(timedelta(minutes=5))
    poll_id = await start_poll(
        world.deps.uow_factory, queue, world.events, world.clock, settings, world.shop.id, SyncKind.ORDERS
    )
    assert poll_id is not None
    # when the poll succeeds, and the re-run it queues runs
    await world.run(world.task(poll_id))
    (again,) = [t for t in world.store.tasks.values() if t.id not in (failed.id, poll_id)]
    await world.run(again)
    assert world.task(again.id).status is SyncTaskStatus.SUCCEEDED
    # then the order placed while the shop was revoked is stored, with every order of the 30 days
    stored = world.store.shop_orders(world.shop.id)
    assert placed.tiktok_order_id in stored
    assert set(world.expected_orders()) <= set(stored)


async def test_a_poll_that_succeeds_after_the_shop_was_revoked_again_queues_no_rerun() -> None:
    """review70 F4: the seller removed the app again (webhook 6) while a poll read its last page; the poll's
    success queued the re-run anyway, which then failed at its start: a second FAILED task in the Task Center. The
    next re-authorization queues it (`rerun_after_reauthorization`)."""
    # given the R2 state: the import failed by the lost authorization, a poll queued at the re-authorization
    world, queue, failed = await _orders_import_failed_by_the_lost_authorization()
    now = int(T0.timestamp())
    poll = queue_poll(world.shop, SyncKind.ORDERS, PollWindow(now - 3600, now - 60), T0)
    world.store.tasks[poll.id] = poll
    world.clock.advance(timedelta(minutes=5))
    _reauthorize(world)

    async def deauthorize(call: int) -> None:  # as the poll reads: the seller removes the app again
        shop = replace(world.store.shops[world.shop.id])
        shop.deauthorize(world.clock.now(), world.clock.now())
        world.store.shops[shop.id] = shop

    world.api.on_call = deauthorize
    # when the poll succeeds (its pages were read)
    world.clock.advance(timedelta(minutes=1))
    await world.run(poll)
    assert world.task(poll.id).status is SyncTaskStatus.SUCCEEDED
    assert world.store.shops[world.shop.id].status(world.clock.now()) is ShopStatus.REVOKED
    # then nothing is queued for the revoked shop
    assert set(world.store.tasks) == {failed.id, poll.id} and queue.enqueued == []


async def test_a_refused_poll_of_the_replaced_authorization_is_left_to_the_next_poll() -> None:
    # given a poll (SCHEDULED) refused after the shop was re-authorized: the next poll reads from its cursor
    world = World()
    queue = FakeTaskQueue()
    world.deps = replace(world.deps, queue=queue)
    now = int(T0.timestamp())
    task = queue_poll(world.shop, SyncKind.PRODUCTS, PollWindow(now - 3600, now - 60), T0)
    world.store.tasks[task.id] = task

    async def reauthorize(call: int) -> None:
        if call == 1:
            shop = replace(world.store.shops[world.shop.id])
            granted = AuthorizedShop(shop.tiktok_shop_id, "TikTok Shop", "US", "LOCAL", shop.tiktok_shop_cipher)
            shop.reauthorize(granted, make_tokens(T0), T0 + timedelta(minutes=1))
            world.store.shops[shop.id] = shop

    world.api.on_call = reauthorize
    world.api.failures[1] = AuthorizationLostError("revoked")
    await world.run(task)
    # then it failed and nothing is queued
    assert world.task(task.id).error_code == ErrorCode.REAUTHORIZATION_REQUIRED
    assert list(world.store.tasks) == [task.id] and queue.enqueued == []


async def test_while_tiktok_is_slow_the_task_keeps_a_heartbeat() -> None:
    # given TikTok that takes a minute to answer the second request, and a heartbeat every 10 ms
    world = World()
    world.deps = replace(world.deps, options=replace(OPTIONS, heartbeat_seconds=0.01))
    task = world.queue(SyncKind.PRODUCTS)

    async def slow(call: int) -> None:
        if call == 2:
            world.clock.advance(timedelta(minutes=1))
            async with asyncio.timeout(10):  # the heartbeat must come meanwhile, else the test fails
                while world.store.tasks[task.id].heartbeat_at != T0 + timedelta(minutes=1):
                    await asyncio.sleep(0.01)

    world.api.on_call = slow
    await world.run(task)
    assert world.task(task.id).status is SyncTaskStatus.SUCCEEDED


class AfterEachBatch(FakeEventPublisher):
    """Events that call `hook` with the task as each of its changes is signalled (after the change's commit)."""

    def __init__(self, hook: Callable[[SyncTask], Awaitable[None]]) -> None:
        super().__init__()
        self.hook = hook

    async def task_changed(self, task: SyncTask) -> None:
        await super().task_changed(task)
        await self.hook(task)


def _after_the_last_page(world: World, act: Callable[[SyncTask], None]) -> AfterEachBatch:
    """Act on the stored task once its last page is stored, before the run finishes it."""

    async def hook(task: SyncTask) -> None:
        if task.status is SyncTaskStatus.RUNNING and task.processed == 45:
            act(world.store.tasks[task.id])

    return AfterEachBatch(hook)


async def test_a_cancel_arriving_after_the_last_page_ends_the_task_cancelled_not_succeeded() -> None:
    world = World()

    def cancel(stored: SyncTask) -> None:
        world.clock.advance(timedelta(minutes=1))
        stored.cancel_requested = True

    world.deps = replace(world.deps, events=_after_the_last_page(world, cancel))
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    done = world.task(task.id)
    assert (done.status, done.finished_at) == (SyncTaskStatus.CANCELLED, T0 + timedelta(minutes=1))
    assert (task.id, "CANCELLED") in world.deps.events.changes  # type: ignore[attr-defined]
    assert world.store.shops[world.shop.id].last_synced_at is None


async def test_a_run_that_lost_its_lease_after_the_last_page_does_not_finish_the_task() -> None:
    world = World()
    world.deps = replace(world.deps, events=_after_the_last_page(world, lambda stored: stored.begin_attempt(T0)))
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)  # stops quietly: the newer attempt owns the task
    stored = world.task(task.id)
    assert (stored.status, stored.attempts, stored.finished_at) == (SyncTaskStatus.RUNNING, 2, None)
    assert world.store.shops[world.shop.id].last_synced_at is None


async def test_a_succeeded_task_is_dated_and_its_shop_signalled() -> None:
    world = World()
    world.clock.advance(timedelta(minutes=2))
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    done = world.task(task.id)
    assert (done.status, done.started_at, done.finished_at) == (
        SyncTaskStatus.SUCCEEDED, T0 + timedelta(minutes=2), T0 + timedelta(minutes=2),
    )  # fmt: skip
    assert world.store.shops[world.shop.id].last_synced_at == T0 + timedelta(minutes=2)
    assert world.events.shop_changes == [world.shop.id] and world.events.changes[-1] == (task.id, "SUCCEEDED")


async def test_a_redelivered_task_whose_cancel_was_pending_is_cancelled_without_calling_tiktok() -> None:
    world = World()
    task = world.queue(SyncKind.PRODUCTS)
    stored = world.task(task.id)
    stored.begin_attempt(T0)  # its worker died while running; a cancel was asked meanwhile
    stored.cancel_requested = True
    world.clock.advance(timedelta(minutes=6))
    await world.run(task)
    done = world.task(task.id)
    assert (done.status, done.finished_at) == (SyncTaskStatus.CANCELLED, T0 + timedelta(minutes=6))
    assert world.events.changes == [(task.id, "CANCELLED")] and world.api.calls == 0


async def test_a_shop_that_cannot_sync_fails_the_task_at_its_start_with_the_rules_words() -> None:
    world = World()
    world.shop.revoke(T0)
    world.clock.advance(timedelta(minutes=1))
    task = world.queue(SyncKind.PRODUCTS)
    await world.run(task)
    failed = world.task(task.id)
    assert (failed.status, failed.error_code, failed.finished_at) == (
        SyncTaskStatus.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED, T0 + timedelta(minutes=1),
    )  # fmt: skip
    assert failed.error_message is not None and "re-authorize" in failed.error_message.lower()
    assert world.events.changes == [(task.id, "FAILED")] and world.api.calls == 0


@pytest.mark.parametrize(
    "error",
    [TikTokUnavailableError("outage"), RuntimeError("bug")],
    ids=["tiktok-down-as-an-attempt-fails", "unexpected-error-not-taken-for-a-deleted-shop"],
)
async def test_with_the_database_down_the_task_stays_running_for_the_sweep_and_a_retry_is_asked(
    error: Exception,
) -> None:
    world = World()
    store_uow = world.deps.uow_factory
    down = [False]

    def uow() -> FakeUnitOfWork:
        if down[0]:
            raise ConnectionError("database unreachable")
        return store_uow()  # type: ignore[return-value]

    async def fail_with_the_database_down(call: int) -> None:
        if call == 2:
            down[0] = True
            world.api.failures[call] = error

    world.api.on_call = fail_with_the_database_down
    world.deps = replace(world.deps, uow_factory=uow)
    task = world.queue(SyncKind.PRODUCTS)
    with pytest.raises((ConnectionError, type(error))):
        await world.run(task)
    assert world.task(task.id).status is SyncTaskStatus.RUNNING


async def test_tokens_the_client_refreshed_are_saved_with_the_time_of_their_refresh() -> None:
    world = World()
    world.clock.advance(timedelta(minutes=3))
    world.api.refreshed_tokens = replace(make_tokens(T0), access_token="access-2", refresh_token="refresh-2")
    await world.run(world.queue(SyncKind.PRODUCTS))
    stored = world.store.shops[world.shop.id]
    assert (stored.tokens.access_token, stored.tokens_refreshed_at) == ("access-2", T0 + timedelta(minutes=3))
