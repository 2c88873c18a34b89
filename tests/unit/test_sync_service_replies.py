"""Sync use cases over fakes, continued: what a caller reads (fields, messages, signals), races, and the sweep's
edge cases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.errors import DomainError, ErrorCode, NotFoundError
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
    assert (missing.value.message, missing.value.field) == ("Shop not found.", ("shopId",))
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
    assert [t.id for t in lost.value.tasks] == [racer.id] and isinstance(lost.value.__cause__, DomainError)
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
    refusal = DomainError(ErrorCode.NOT_FOUND, "Shop not found.")
    with pytest.raises(DomainError) as refused:
        await start_sync(_racing_start(store, None, refusal), queue, events, clock, "m1", shop_id, [SyncKind.ORDERS])
    assert refused.value is refusal and store.tasks == {}


async def test_cancel_says_which_field_names_a_task_it_cannot_find_and_signals_what_it_did(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    (task,) = await start_sync(_uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS])
    with pytest.raises(NotFoundError) as missing:
        await cancel_task(_uow(store), events, clock, "m2", task.id)
    assert (missing.value.message, missing.value.field) == ("Sync task not found.", ("taskId",))
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
    assert (missing.value.message, missing.value.field) == ("Sync task not found.", ("taskId",))


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


async def _two_stale_tasks(env) -> tuple[SyncTask, SyncTask]:  # type: ignore[no-untyped-def]
    """A PRODUCTS and an ORDERS task, both QUEUED and untouched for 6 minutes (stale past 5), in that order."""
    store, queue, events, clock = env
    shop_id = next(iter(store.shops))
    products, orders = await start_sync(
        _uow(store), queue, events, clock, "m1", shop_id, [SyncKind.PRODUCTS, SyncKind.ORDERS]
    )
    queue.enqueued.clear()
    events.changes.clear()
    clock.advance(timedelta(minutes=6))
    return products, orders


async def test_a_stale_task_with_a_cancel_pending_is_cancelled_by_the_sweep_not_sent(env) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    products, orders = await _two_stale_tasks(env)
    store.tasks[products.id].cancel_requested = True  # asked while its message was lost
    resent = await resume_stale_tasks(_uow(store), queue, clock, timedelta(minutes=5), events=events)
    # then it is cancelled and said so; the other stale task is sent as usual
    assert resent == [orders.id] and queue.enqueued == [orders.id]
    assert store.tasks[products.id].status is SyncTaskStatus.CANCELLED
    assert events.changes == [(products.id, "CANCELLED"), (orders.id, "QUEUED")]


@pytest.mark.parametrize("meanwhile", ["picked up", "deleted", "deleted before the write"])
async def test_a_stale_task_picked_up_or_deleted_after_the_sweeps_look_is_left_alone(env, meanwhile: str) -> None:  # type: ignore[no-untyped-def]
    store, queue, events, clock = env
    products, orders = await _two_stale_tasks(env)

    def uow() -> FakeUnitOfWork:
        unit = FakeUnitOfWork(store)
        listed, read = unit.sync_tasks.list_resumable, unit.sync_tasks.get

        async def list_resumable(heartbeat_before: datetime) -> list[SyncTask]:
            found = await listed(heartbeat_before)
            if meanwhile == "picked up":
                store.tasks[products.id].begin_attempt(clock.now())
            elif meanwhile == "deleted":
                del store.tasks[products.id]
            return found

        async def get(task_id: str, merchant_id: str | None = None) -> SyncTask | None:
            found = await read(task_id, merchant_id)
            if meanwhile == "deleted before the write" and task_id == products.id:
                del store.tasks[products.id]
            return found

        unit.sync_tasks.list_resumable = list_resumable  # type: ignore[method-assign]
        unit.sync_tasks.get = get  # type: ignore[method-assign]
        return unit

    assert await resume_stale_tasks(uow, queue, clock, timedelta(minutes=5), events=events) == [orders.id]
    assert queue.enqueued == [orders.id] and events.changes == [(orders.id, "QUEUED")]


async def test_a_failed_send_does_not_keep_the_sweep_from_sending_the_next_task(env) -> None:  # type: ignore[no-untyped-def]
    store, _, _, clock = env
    products, orders = await _two_stale_tasks(env)

    class FlakyQueue(FakeTaskQueue):
        async def enqueue_sync(self, task_id: str, *, after_webhook_registration: bool = False) -> None:
            if task_id == products.id:
                raise ConnectionError("redis is down")
            await super().enqueue_sync(task_id)

    flaky = FlakyQueue()
    assert await resume_stale_tasks(_uow(store), flaky, clock, timedelta(minutes=5)) == [orders.id]
    assert flaky.enqueued == [orders.id]
    assert store.tasks[products.id].heartbeat_at == clock.now()  # touched: the next sweep after the limit retries


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


async def test_the_imports_queued_on_authorization_are_the_shops_merchants(store: FakeStore) -> None:
    shop = make_shop("m7")
    async with FakeUnitOfWork(store) as uow:
        await uow.shops.add(shop)
        tasks = await queue_authorization_sync(uow, FakeTaskQueue(), shop, T0)
        await uow.commit()
    assert [(t.shop_id, t.merchant_id, t.created_at) for t in tasks] == [(shop.id, "m7", T0), (shop.id, "m7", T0)]
