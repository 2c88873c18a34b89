"""Sync use cases over fakes: queue on authorization, start by hand, cancel, resume stale tasks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.errors import DomainError, ErrorCode, NotFoundError, ValidationError
from domain.services.sync import (
    SyncAlreadyRunningError,
    cancel_task,
    publish_quietly,
    publish_shop_quietly,
    queue_authorization_sync,
    resume_stale_tasks,
    start_sync,
)
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
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
    assert err.value.task.id == tasks[0].id
    assert len(store.tasks) == 1  # all or nothing: no PRODUCTS task either


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


async def test_a_failed_re_send_is_tried_again_by_a_later_sweep(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS])

    class DownQueue:
        async def enqueue_sync(self, task_id: str) -> None:
            raise ConnectionError("redis is down")

    clock.advance(timedelta(minutes=21))
    assert await resume_stale_tasks(_uow(store), DownQueue(), clock, timedelta(minutes=5)) == []
    clock.advance(timedelta(minutes=21))
    assert await resume_stale_tasks(
        _uow(store), queue, clock, timedelta(minutes=5), queued_after=timedelta(minutes=20)
    ) == [task.id]


# -- what a caller reads, races, and signals ---------------------------------------------------------------------


class DeafEvents(FakeEventPublisher):
    """A publisher whose every signal fails (Redis down): the use cases must not fail with it."""

    async def task_changed(self, task: SyncTask) -> None:
        raise ConnectionError("redis is down")

    async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
        raise ConnectionError("redis is down")


async def test_start_sync_names_the_shop_field_and_gives_only_the_orders_task_the_window(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    with pytest.raises(NotFoundError) as missing:
        await start_sync(_uow(store), queue, events, clock, "m2", shop_id, [SyncKind.PRODUCTS])
    assert (missing.value.message, missing.value.field) == ("Shop not found", ("shopId",))
    since = T0 - timedelta(days=60)
    products, orders = await start_sync(
        _uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS], since
    )
    assert (products.orders_created_since, orders.orders_created_since) == (None, since)
    assert (products.merchant_id, products.created_at, orders.orders_created_until) == ("m1", T0, T0)
    assert sorted(events.changes) == sorted([(products.id, "QUEUED"), (orders.id, "QUEUED")])


def _racing_start(store: FakeStore, racer: SyncTask | None, error: DomainError | None = None):  # type: ignore[no-untyped-def]
    """Units of work where, right after the first one checked what runs, a racer's task is stored (or `error`)."""
    raced = [False]

    def uow() -> FakeUnitOfWork:
        unit = FakeUnitOfWork(store)
        add = unit.sync_tasks.add

        async def racing_add(task: SyncTask) -> None:
            if not raced[0]:
                raced[0] = True
                if error is not None:
                    raise error
                if racer is not None:
                    store.tasks[racer.id] = racer
                raise DomainError(ErrorCode.SYNC_ALREADY_RUNNING, "already running")
            await add(task)

        unit.sync_tasks.add = racing_add  # type: ignore[method-assign]
        return unit

    return uow


async def test_a_start_that_loses_a_race_answers_with_the_winners_task_and_queues_nothing(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    racer = SyncTask.queue(shop_id, "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
    with pytest.raises(SyncAlreadyRunningError) as lost:
        await start_sync(
            _racing_start(store, racer), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
        )
    assert lost.value.task.id == racer.id and isinstance(lost.value.__cause__, DomainError)
    assert list(store.tasks) == [racer.id] and queue.enqueued == [] and events.changes == []


async def test_a_lost_race_whose_winner_already_ended_is_still_refused_as_running(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    with pytest.raises(DomainError) as lost:
        await start_sync(_racing_start(store, None), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS])
    assert type(lost.value) is DomainError and lost.value.code is ErrorCode.SYNC_ALREADY_RUNNING
    assert store.tasks == {} and queue.enqueued == []


async def test_another_refusal_while_adding_is_passed_on_as_it_is(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    refusal = DomainError(ErrorCode.NOT_FOUND, "Shop not found")
    with pytest.raises(DomainError) as refused:
        await start_sync(_racing_start(store, None, refusal), queue, events, clock, "m1", shop_id, [SyncKind.ORDERS])
    assert refused.value is refusal and store.tasks == {}


async def test_cancel_says_which_field_names_a_task_it_cannot_find_and_signals_what_it_did(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS])
    with pytest.raises(NotFoundError) as missing:
        await cancel_task(_uow(store), events, clock, "m2", task.id)
    assert (missing.value.message, missing.value.field) == ("SyncTask not found", ("taskId",))
    events.changes.clear()
    clock.advance(timedelta(minutes=1))
    cancelled = await cancel_task(_uow(store), events, clock, "m1", task.id)
    assert (cancelled.status, cancelled.finished_at) == (SyncTaskStatus.CANCELLED, T0 + timedelta(minutes=1))
    assert store.tasks[task.id].status is SyncTaskStatus.CANCELLED
    assert events.changes == [(task.id, "CANCELLED")]


async def test_cancelling_a_task_whose_shop_was_deleted_meanwhile_is_not_found(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS])

    def uow() -> FakeUnitOfWork:
        unit = FakeUnitOfWork(store)
        read = unit.sync_tasks.get

        async def get(task_id: str, merchant_id: str | None = None) -> SyncTask | None:
            found = await read(task_id, merchant_id)
            store.tasks.clear()  # the shop's deletion commits right after our read
            return found

        unit.sync_tasks.get = get  # type: ignore[method-assign]
        return unit

    with pytest.raises(NotFoundError) as missing:
        await cancel_task(uow, events, clock, "m1", task.id)
    assert (missing.value.message, missing.value.field) == ("SyncTask not found", ("taskId",))


async def test_a_lost_signal_never_fails_the_use_case(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, _, clock = env
    shop_id = next(iter(store.shops))
    deaf = DeafEvents()
    (task,) = await start_sync(_uow(store), queue, deaf, clock, "m1", shop_id, [SyncKind.PRODUCTS])
    assert queue.enqueued == [task.id]
    assert (await cancel_task(_uow(store), deaf, clock, "m1", task.id)).status is SyncTaskStatus.CANCELLED
    await publish_shop_quietly(deaf, store.shops[shop_id])
    await publish_shop_quietly(None, store.shops[shop_id])
    await publish_quietly(None, task)


async def test_a_shop_change_is_signalled_with_its_merchant(env) -> None:  # type: ignore[no-untyped-def]
    store, _, _, _ = env
    shop = next(iter(store.shops.values()))
    seen: list[tuple[str, str]] = []

    class Events(FakeEventPublisher):
        async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
            seen.append((shop_id, merchant_id))

    await publish_shop_quietly(Events(), shop)
    assert seen == [(shop.id, "m1")]


async def test_a_stale_task_with_a_cancel_pending_is_cancelled_by_the_sweep_not_sent(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.ORDERS])
    store.tasks[task.id].begin_attempt(T0)
    store.tasks[task.id].cancel_requested = True  # asked while its worker was dying
    queue.enqueued.clear()
    events.changes.clear()
    clock.advance(timedelta(minutes=6))
    assert await resume_stale_tasks(_uow(store), queue, clock, timedelta(minutes=5), events=events) == []
    assert store.tasks[task.id].status is SyncTaskStatus.CANCELLED and queue.enqueued == []
    assert events.changes == [(task.id, "CANCELLED")]


@pytest.mark.parametrize("meanwhile", ["picked up", "deleted"])
async def test_a_stale_task_picked_up_or_deleted_after_the_sweeps_look_is_left_alone(env, meanwhile: str) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS])
    queue.enqueued.clear()
    clock.advance(timedelta(minutes=6))

    def uow() -> FakeUnitOfWork:
        unit = FakeUnitOfWork(store)
        listed = unit.sync_tasks.list_resumable

        async def list_resumable(heartbeat_before: datetime) -> list[SyncTask]:
            found = await listed(heartbeat_before)
            if meanwhile == "picked up":
                store.tasks[task.id].begin_attempt(clock.now())
            else:
                store.tasks.clear()
            return found

        unit.sync_tasks.list_resumable = list_resumable  # type: ignore[method-assign]
        return unit

    assert await resume_stale_tasks(uow, queue, clock, timedelta(minutes=5), events=events) == []
    assert queue.enqueued == []


async def test_a_sweep_between_the_running_and_the_queued_limits_sends_only_the_silent_running_task(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    products, orders = await start_sync(
        _uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
    )
    store.tasks[orders.id].begin_attempt(T0)
    queue.enqueued.clear()
    clock.advance(timedelta(minutes=6))
    # RUNNING silent for 6 min > 5; QUEUED untouched for 6 min < 20
    sweep = (_uow(store), queue, clock, timedelta(minutes=5))
    assert await resume_stale_tasks(*sweep, queued_after=timedelta(minutes=20)) == [orders.id]
    # with the default, QUEUED ones are judged by the running limit too
    clock.advance(timedelta(minutes=1))
    assert await resume_stale_tasks(*sweep) == [products.id]
