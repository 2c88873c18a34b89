"""Sync use cases over fakes: queue on authorization, start by hand, cancel, resume stale tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import DomainError, ErrorCode, NotFoundError, ValidationError
from domain.services.sync import (
    SyncAlreadyRunningError,
    TooManySyncStartsError,
    cancel_task,
    queue_authorization_sync,
    resume_stale_tasks,
    start_sync,
)
from domain.sync import SyncKind, SyncTaskStatus, SyncTrigger
from tests.fakes import (
    T0,
    FakeClock,
    FakeEventPublisher,
    FakeStore,
    FakeTaskQueue,
    FakeUnitOfWork,
    make_shop,
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def env(store: FakeStore) -> tuple[FakeStore, FakeTaskQueue, FakeEventPublisher, FakeClock]:
    shop = make_shop()
    store.shops[shop.id] = shop
    return store, FakeTaskQueue(), FakeEventPublisher(), FakeClock()


def _uow(store: FakeStore):  # type: ignore[no-untyped-def]
    return lambda: FakeUnitOfWork(store)


async def test_authorization_queues_products_and_30_days_of_orders_after_commit(store: FakeStore) -> None:
    # given a shop just connected inside an open unit of work
    shop = make_shop()
    queue, events = FakeTaskQueue(), FakeEventPublisher()
    async with FakeUnitOfWork(store) as uow:
        await uow.shops.add(shop)
        tasks = await queue_authorization_sync(uow, queue, shop, T0, events=events)
        # then nothing is enqueued before the commit
        assert queue.enqueued == []
        await uow.commit()
    assert [t.kind for t in tasks] == [SyncKind.PRODUCTS, SyncKind.ORDERS]
    assert all(t.trigger is SyncTrigger.AUTHORIZATION for t in tasks)
    assert tasks[1].orders_created_since == T0 - timedelta(days=30)
    assert queue.enqueued == [t.id for t in tasks]
    assert set(store.tasks) == {t.id for t in tasks}
    assert len(events.changes) == 2


async def test_a_rolled_back_authorization_enqueues_nothing(store: FakeStore) -> None:
    shop = make_shop()
    queue = FakeTaskQueue()
    async with FakeUnitOfWork(store) as uow:
        await queue_authorization_sync(uow, queue, shop, T0)
    assert queue.enqueued == [] and store.tasks == {}


async def test_start_sync_queues_manual_tasks_and_refuses_a_second_of_the_same_kind(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    since = T0 - timedelta(days=60)
    tasks = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.ORDERS], since)
    assert tasks[0].trigger is SyncTrigger.MANUAL and tasks[0].orders_created_since == since
    assert queue.enqueued == [tasks[0].id]

    with pytest.raises(SyncAlreadyRunningError) as err:
        await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS])
    assert err.value.code is ErrorCode.SYNC_ALREADY_RUNNING
    assert [t.id for t in err.value.tasks] == [tasks[0].id]
    assert len(store.tasks) == 1  # all or nothing: no PRODUCTS task either


async def test_manual_starts_are_bounded_per_shop_and_kind_per_hour_all_kinds_or_none(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop = store.shops[next(iter(store.shops))]

    async def start(*kinds: SyncKind) -> list[str]:
        tasks = await start_sync(_uow(store), queue, events, clock, "m1", shop.id, list(kinds), max_starts=2)
        for task in store.tasks.values():  # each ends at once: only one may be active per shop and kind
            if task.is_active:
                task.succeed(clock.now())
        return [task.id for task in tasks]

    # given the authorization's imports (automatic: not counted), then ORDERS started at T0 and T0+10 min, PRODUCTS
    # at T0+20 min and T0+30 min
    async with FakeUnitOfWork(store) as uow:
        await queue_authorization_sync(uow, queue, shop, clock.now())
        await uow.commit()
    for task in store.tasks.values():
        task.succeed(clock.now())
    for kind in (SyncKind.ORDERS, SyncKind.ORDERS, SyncKind.PRODUCTS, SyncKind.PRODUCTS):
        await start(kind)
        clock.advance(timedelta(minutes=10))
    # when both kinds are asked for at T0+40 min, then nothing starts until both may: an hour after PRODUCTS' first
    rows = len(store.tasks)
    with pytest.raises(TooManySyncStartsError) as err:
        await start(SyncKind.ORDERS, SyncKind.PRODUCTS)
    assert (err.value.code, err.value.field, len(store.tasks)) == (ErrorCode.TOO_MANY_SYNC_STARTS, None, rows)
    assert err.value.retry_at == T0 + timedelta(minutes=80)
    assert err.value.message == (
        "At most 2 orders and products syncs of this shop may be started within 60 minutes; try again in 2400 "
        f"seconds (at {(T0 + timedelta(minutes=80)).strftime('%Y-%m-%dT%H:%M:%SZ')})."
    )
    # and ORDERS alone may start again once its first start is an hour old, not a moment before
    clock.current = T0 + timedelta(minutes=60) - timedelta(microseconds=1)
    with pytest.raises(TooManySyncStartsError):
        await start(SyncKind.ORDERS)
    clock.current = T0 + timedelta(minutes=60)
    assert len(await start(SyncKind.ORDERS)) == 1


async def test_start_sync_refused_for_two_running_kinds_names_both_in_the_order_given(env) -> None:  # type: ignore[no-untyped-def]
    # given a shop whose PRODUCTS and ORDERS tasks are both queued
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    products, orders = await start_sync(
        _uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
    )
    # when both kinds are asked for again, ORDERS first
    with pytest.raises(SyncAlreadyRunningError) as err:
        await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.ORDERS, SyncKind.PRODUCTS])
    # then the refusal names and carries both (before: the first kind only), and nothing more was queued
    assert err.value.message == "This shop's orders and products syncs are already running."
    assert [t.id for t in err.value.tasks] == [orders.id, products.id]
    assert len(store.tasks) == 2


async def test_start_sync_hides_other_merchants_shops_and_refuses_revoked_ones(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop = next(iter(store.shops.values()))
    with pytest.raises(NotFoundError):
        await start_sync(_uow(store), queue, events, clock, "other", shop.id, [SyncKind.PRODUCTS])
    with pytest.raises(ValidationError) as bad:
        await start_sync(_uow(store), queue, events, clock, "m1", shop.id, [])
    assert bad.value.code is ErrorCode.INVALID_INPUT
    shop.revoke(T0)
    with pytest.raises(DomainError) as revoked:
        await start_sync(_uow(store), queue, events, clock, "m1", shop.id, [SyncKind.PRODUCTS])
    assert revoked.value.code is ErrorCode.REAUTHORIZATION_REQUIRED
    assert queue.enqueued == []


async def test_cancel_queued_at_once_running_on_request_finished_refused(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    products, orders = await start_sync(
        _uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
    )
    store.tasks[orders.id].begin_attempt(T0)

    cancelled = await cancel_task(_uow(store), events, clock, "m1", products.id)
    assert cancelled.status is SyncTaskStatus.CANCELLED
    stopping = await cancel_task(_uow(store), events, clock, "m1", orders.id)
    assert stopping.status is SyncTaskStatus.RUNNING and store.tasks[orders.id].cancel_requested

    with pytest.raises(DomainError) as err:
        await cancel_task(_uow(store), events, clock, "m1", products.id)
    assert err.value.code is ErrorCode.SYNC_TASK_FINISHED
    with pytest.raises(NotFoundError):
        await cancel_task(_uow(store), events, clock, "other", orders.id)


async def test_resume_re_enqueues_only_active_tasks_with_a_stale_heartbeat(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    products, orders = await start_sync(
        _uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
    )
    store.tasks[orders.id].begin_attempt(T0 + timedelta(minutes=9))  # fresh heartbeat
    queue.enqueued.clear()
    clock.advance(timedelta(minutes=10))
    resumed = await resume_stale_tasks(_uow(store), queue, clock, timedelta(minutes=5))
    assert resumed == [products.id] and queue.enqueued == [products.id]


async def test_a_queued_task_whose_message_was_lost_is_re_sent_once_per_quiet_period(env) -> None:  # type: ignore[no-untyped-def]
    # given a QUEUED task whose send to the broker failed after the commit (the row exists, no message does)
    store, _, events, clock = env
    shop_id = next(iter(store.shops))
    (lost,) = await start_sync(_uow(store), FakeTaskQueue(), events, clock, "m1", shop_id, [SyncKind.PRODUCTS])
    queue = FakeTaskQueue()
    sweep = (_uow(store), queue, clock, timedelta(minutes=5))
    # when sweeps pass: within the generous quiet period, nothing is re-sent (its message may be in a backlog)
    clock.advance(timedelta(minutes=19))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20)) == []
    # then, past it, the task is re-sent once and touched, so the next sweep does not send it again at once
    clock.advance(timedelta(minutes=2))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20)) == [lost.id]
    assert store.tasks[lost.id].status is SyncTaskStatus.QUEUED and store.tasks[lost.id].heartbeat_at == clock.now()
    clock.advance(timedelta(minutes=6))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20)) == []
    clock.advance(timedelta(minutes=15))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20)) == [lost.id]
    assert queue.enqueued == [lost.id, lost.id]


async def test_a_stale_running_task_is_re_sent_as_queued_and_then_left_to_that_message(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.ORDERS])
    store.tasks[task.id].begin_attempt(T0)  # its worker then died
    queue.enqueued.clear()
    clock.advance(timedelta(minutes=6))
    sweep = (_uow(store), queue, clock, timedelta(minutes=5))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20), events=events) == [task.id]
    assert store.tasks[task.id].status is SyncTaskStatus.QUEUED  # honest: nothing runs it until the message is taken
    assert (task.id, "QUEUED") in events.changes
    clock.advance(timedelta(minutes=6))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20)) == []
    assert queue.enqueued == [task.id]


async def test_a_stale_running_task_whose_message_a_dead_worker_handed_back_is_not_sent_twice(env) -> None:  # type: ignore[no-untyped-def]
    # given two RUNNING imports whose worker process was killed, silent past the threshold, and the queue just put
    # the message of one of them back from that process's ack set (Redis: requeue_dead_workers_messages)
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    products, orders = await start_sync(
        _uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
    )
    store.tasks[products.id].begin_attempt(T0)
    store.tasks[orders.id].begin_attempt(T0)
    queue.enqueued.clear()
    clock.advance(timedelta(minutes=6))
    # when the sweep turns
    resent = await resume_stale_tasks(_uow(store), queue, clock, timedelta(minutes=5), handed_back={orders.id})
    # then only the other one is sent: the message handed back runs its task (a second would take its run over)
    assert resent == [products.id] and queue.enqueued == [products.id]
    assert store.tasks[orders.id].status is SyncTaskStatus.RUNNING


async def test_a_failed_re_send_is_tried_again_by_a_later_sweep(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS])

    class DownQueue:
        async def enqueue_sync(self, task_id: str, *, after_webhook_registration: bool = False) -> None:
            raise ConnectionError("redis is down")

    clock.advance(timedelta(minutes=21))
    assert await resume_stale_tasks(_uow(store), DownQueue(), clock, timedelta(minutes=5)) == []
    clock.advance(timedelta(minutes=21))
    assert await resume_stale_tasks(
        _uow(store), queue, clock, timedelta(minutes=5), queued_after=timedelta(minutes=20)
    ) == [task.id]
