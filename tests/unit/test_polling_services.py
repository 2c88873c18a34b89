"""The polling backstop's use cases over fakes, the edges (the main paths are in test_live_sync_services.py): the
tick's stamps and failed sends, where a first poll starts, skipped polls, the cursor moved only by polls, empty
polls folded, and a products poll inside the engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from domain.polling import PollCursor, PollSettings
from domain.ports import TikTokUnavailableError
from domain.services.importer import SyncDeps, SyncOptions, run_sync_task
from domain.services.polling import finish_poll, record_poll_progress, schedule_tick, start_poll
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from domain.tokens import ShopSchedule
from tests.fakes import (
    T0,
    FakeClock,
    FakeEventPublisher,
    FakeScheduledWork,
    FakeShopApi,
    FakeStore,
    FakeTaskQueue,
    FakeUnitOfWork,
    make_order,
    make_product,
    make_shop,
)

POLLS = PollSettings(interval=timedelta(minutes=5), overlap=timedelta(minutes=10), settle=timedelta(seconds=30))


class World:
    def __init__(self) -> None:
        self.store, self.clock = FakeStore(), FakeClock()
        self.shop = make_shop(now=T0 - timedelta(days=1))
        self.store.shops[self.shop.id] = self.shop
        self.queue, self.events, self.work = FakeTaskQueue(), FakeEventPublisher(), FakeScheduledWork()

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def start(self, kind: SyncKind = SyncKind.ORDERS, tick: object = None) -> str | None:
        return await start_poll(self.uow, self.queue, self.events, self.clock, POLLS, self.shop.id, kind, tick)  # type: ignore[arg-type]

    def window(self, task_id: str) -> tuple[int, int]:
        poll = self.store.tasks[task_id].checkpoint["poll"]
        return poll["ge"], poll["lt"]


@pytest.fixture
def world() -> World:
    return World()


def ts(at: object) -> int:
    return int(at.timestamp())  # type: ignore[attr-defined]


class TestTick:
    async def test_stamps_each_due_cursor_with_the_tick_and_sends_after_commit(self, world: World) -> None:
        result = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert result.polls == [(world.shop.id, SyncKind.ORDERS), (world.shop.id, SyncKind.PRODUCTS)]
        for kind in (SyncKind.ORDERS, SyncKind.PRODUCTS):
            cursor = world.store.cursors[(world.shop.id, kind)]
            assert (cursor.scheduled_at, cursor.updated_at, cursor.cursor_at) == (T0, T0, None)
        assert world.work.polls == [
            (world.shop.id, SyncKind.ORDERS, T0.isoformat()),
            (world.shop.id, SyncKind.PRODUCTS, T0.isoformat()),
        ]

    async def test_a_failed_send_is_skipped_and_the_others_still_go(self, world: World) -> None:
        class Flaky(FakeScheduledWork):
            async def enqueue_poll(self, shop_id: str, kind: SyncKind, scheduled_at: str) -> None:
                if kind is SyncKind.ORDERS:
                    raise ConnectionError("redis down")
                await super().enqueue_poll(shop_id, kind, scheduled_at)

            async def enqueue_token_refresh(self, shop_id: str) -> None:
                raise ConnectionError("redis down")

        world.work = Flaky()
        world.shop.tokens = replace(world.shop.tokens, access_token_expires_at=T0 + timedelta(hours=1))
        two = make_shop(now=T0 - timedelta(days=1), tiktok_shop_id="7002")
        two.tokens = world.shop.tokens
        world.store.shops[two.id] = two
        result = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert sorted(shop for shop, _, _ in world.work.polls) == sorted([world.shop.id, two.id])
        assert {kind for _, kind, _ in world.work.polls} == {SyncKind.PRODUCTS}
        assert sorted(result.token_refreshes) == sorted([world.shop.id, two.id])  # claimed: retried once it lapses
        assert len(result.polls) == 4

    async def test_a_shop_deleted_since_the_list_was_read_is_skipped_and_the_others_are_polled(
        self, world: World
    ) -> None:
        gone = make_shop(now=T0 - timedelta(days=1), tiktok_shop_id="7002")
        listed = [*(await world.uow().shops.schedules(world.clock.now()))]

        class ListedBeforeTheDelete(FakeUnitOfWork):
            def __init__(self, store: FakeStore) -> None:
                super().__init__(store)
                self.shops.schedules = self._schedules  # type: ignore[method-assign]

            async def _schedules(self, now: datetime) -> list[ShopSchedule]:
                stale = replace(listed[0], shop_id=gone.id)
                return [stale, *listed] if gone.id < world.shop.id else [*listed, stale]

        result = await schedule_tick(lambda: ListedBeforeTheDelete(world.store), world.work, world.clock, POLLS)
        assert result.polls == [(world.shop.id, SyncKind.ORDERS), (world.shop.id, SyncKind.PRODUCTS)]
        assert len(world.work.polls) == 2 and set(world.store.cursors) == {
            (world.shop.id, SyncKind.ORDERS),
            (world.shop.id, SyncKind.PRODUCTS),
        }

    async def test_a_shop_whose_token_is_not_due_is_not_refreshed(self, world: World) -> None:
        world.shop.tokens = replace(world.shop.tokens, access_token_expires_at=T0 + timedelta(days=3))
        result = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert result.token_refreshes == [] and world.store.refresh_claims == {}

    async def test_no_follow_up_is_sent_while_the_first_catch_up_runs_and_one_goes_the_tick_after_it_ends(
        self, world: World
    ) -> None:
        """Stop 53: while a first catch-up ran (two days of orders: longer than the settle), the scheduler sent each
        of its kinds a follow-up once per settle, each a no-op (`start_poll` skips a poll beside an active task of
        its kind): 18 messages in 5 minutes here. Now none while it runs (`PollCursor.at_tick`); the follow-up goes
        at the first tick after it ended, not up to a settle later."""
        # given a shop re-authorized at T0 whose catch-up polls, sent at that tick, started and still run (held)
        world.shop.authorized_at = T0
        first: list[str] = []
        for kind in (SyncKind.ORDERS, SyncKind.PRODUCTS):
            world.store.cursors[(world.shop.id, kind)] = PollCursor(
                world.shop.id, kind, cursor_at=T0 - timedelta(days=2), scheduled_at=T0
            )
            started = await world.start(kind, tick=T0)
            assert started is not None
            first.append(started)
        # when the scheduler ticks every 10 s for almost an interval (the follow-ups are due from T0 + 31 s)
        for _ in range(29):
            world.clock.advance(timedelta(seconds=10))
            await schedule_tick(world.uow, world.work, world.clock, POLLS)
        # then no poll was sent: each would have been a no-op (18 before: one per kind and settle)
        assert world.work.polls == []
        # and once the catch-ups have ended short of the authorization, the next tick sends one follow-up per kind
        for task_id in first:
            world.store.tasks[task_id].succeed(world.clock.now())
            await finish_poll(world.uow(), world.store.tasks[task_id], world.clock.now())
        world.clock.advance(timedelta(seconds=1))
        tick = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert sorted(kind for _, kind in tick.polls) == [SyncKind.ORDERS, SyncKind.PRODUCTS]
        follow_up = await world.start(tick=world.clock.now())
        assert follow_up is not None and world.window(follow_up)[1] > ts(T0)

    async def test_a_follow_up_that_found_a_task_of_its_kind_running_is_sent_again(self, world: World) -> None:
        # given a shop re-authorized at T0 whose catch-up poll started at the next tick and ended short of the
        # authorization (its window ends a settle before its start)
        world.shop.authorized_at = T0
        world.store.cursors[(world.shop.id, SyncKind.ORDERS)] = PollCursor(
            world.shop.id, SyncKind.ORDERS, cursor_at=T0 - timedelta(days=2), scheduled_at=T0 - timedelta(minutes=1)
        )
        first = await world.start(tick=T0)
        assert first is not None
        world.store.tasks[first].succeed(T0)
        await finish_poll(world.uow(), world.store.tasks[first], T0)
        # when the follow-up is sent (settle + 1 s later) and an import of its kind starts before it is handled
        world.clock.current = T0 + timedelta(seconds=31)
        tick = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert (world.shop.id, SyncKind.ORDERS) in tick.polls
        running = SyncTask.queue(world.shop.id, "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, world.clock.now())
        world.store.tasks[running.id] = running
        assert await world.start(tick=world.clock.now()) is None  # skipped beside the import
        # then it is not sent while the import runs, and sent again once it ended (a settle after the last send)
        world.clock.advance(POLLS.settle)
        assert (world.shop.id, SyncKind.ORDERS) not in (
            await schedule_tick(world.uow, world.work, world.clock, POLLS)
        ).polls
        running.succeed(world.clock.now())
        world.clock.advance(timedelta(seconds=1))
        tick = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert (world.shop.id, SyncKind.ORDERS) in tick.polls
        follow_up = await world.start(tick=world.clock.now())
        assert follow_up is not None and world.window(follow_up)[1] > ts(T0)
        # and only once: a follow-up started, later ticks before the interval send nothing (it may fail: no loop)
        world.clock.advance(POLLS.settle * 2)
        tick = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert (world.shop.id, SyncKind.ORDERS) not in tick.polls


class TestStartPoll:
    async def test_a_first_poll_starts_where_the_shop_last_synced_less_the_overlap(self, world: World) -> None:
        world.shop.last_synced_at = T0 - timedelta(hours=2)
        task_id = await world.start(SyncKind.PRODUCTS)
        assert task_id is not None
        assert world.window(task_id) == (ts(T0 - timedelta(hours=2, minutes=10)), ts(T0 - timedelta(seconds=30)))
        task = world.store.tasks[task_id]
        assert (task.kind, task.trigger, task.status) == (
            SyncKind.PRODUCTS,
            SyncTrigger.SCHEDULED,
            SyncTaskStatus.QUEUED,
        )
        cursor = world.store.cursors[(world.shop.id, SyncKind.PRODUCTS)]
        assert (cursor.polled_at, cursor.cursor_at) == (T0, T0 - timedelta(hours=2))
        assert world.queue.enqueued == [task_id] and world.events.changes == [(task_id, "QUEUED")]

    async def test_a_first_poll_starts_at_the_last_import_not_at_an_earlier_poll(self, world: World) -> None:
        imported = SyncTask.queue(world.shop.id, "m1", SyncKind.PRODUCTS, SyncTrigger.MANUAL, T0 - timedelta(hours=3))
        imported.succeed(T0 - timedelta(hours=2))
        polled = SyncTask.queue(world.shop.id, "m1", SyncKind.PRODUCTS, SyncTrigger.SCHEDULED, T0 - timedelta(hours=1))
        polled.succeed(T0 - timedelta(minutes=50))
        world.store.tasks.update({imported.id: imported, polled.id: polled})
        task_id = await world.start(SyncKind.PRODUCTS)
        assert task_id is not None and world.window(task_id)[0] == ts(T0 - timedelta(hours=3, minutes=10))

    async def test_a_later_poll_starts_at_its_cursor(self, world: World) -> None:
        world.store.cursors[(world.shop.id, SyncKind.ORDERS)] = PollCursor(
            world.shop.id, SyncKind.ORDERS, cursor_at=T0 - timedelta(minutes=3)
        )
        task_id = await world.start()
        assert task_id is not None and world.window(task_id)[0] == ts(T0 - timedelta(minutes=13))

    async def test_an_empty_window_starts_nothing(self, world: World) -> None:
        world.store.cursors[(world.shop.id, SyncKind.ORDERS)] = PollCursor(
            world.shop.id, SyncKind.ORDERS, cursor_at=T0 + timedelta(minutes=10, seconds=-30)
        )
        assert await world.start() is None
        assert world.store.tasks == {} and world.queue.enqueued == []
        assert world.store.cursors[(world.shop.id, SyncKind.ORDERS)].polled_at is None

    async def test_a_gone_or_expired_shop_starts_nothing(self, world: World) -> None:
        world.clock.current = world.shop.expires_at
        assert await world.start() is None
        del world.store.shops[world.shop.id]
        assert await world.start() is None
        assert world.store.tasks == {} and world.queue.enqueued == []

    async def test_a_message_of_a_later_tick_starts_a_new_poll(self, world: World) -> None:
        first = await world.start(tick=T0 - timedelta(minutes=5))
        assert first is not None
        world.store.tasks[first].succeed(T0)
        world.clock.advance(timedelta(minutes=5))
        assert await world.start(tick=T0 + timedelta(minutes=5)) is not None


class TestCursorInTheEngine:
    def poll(self, world: World, kind: SyncKind, status: SyncTaskStatus, trigger: SyncTrigger) -> SyncTask:
        task = SyncTask.queue(world.shop.id, "m1", kind, trigger, T0)
        task.checkpoint["poll"] = {"ge": ts(T0 - timedelta(hours=1)), "lt": ts(T0 - timedelta(minutes=1))}
        task.status = status
        return task

    async def test_a_finished_poll_moves_the_cursor_to_its_window_end_an_import_does_not(self, world: World) -> None:
        async with world.uow() as uow:
            await finish_poll(
                uow, self.poll(world, SyncKind.PRODUCTS, SyncTaskStatus.SUCCEEDED, SyncTrigger.MANUAL), T0
            )
            await record_poll_progress(
                uow, self.poll(world, SyncKind.PRODUCTS, SyncTaskStatus.SUCCEEDED, SyncTrigger.MANUAL), T0
            )
            await uow.commit()
        assert world.store.cursors == {}
        async with world.uow() as uow:
            task = self.poll(world, SyncKind.PRODUCTS, SyncTaskStatus.SUCCEEDED, SyncTrigger.SCHEDULED)
            await finish_poll(uow, task, T0)
            await uow.commit()
        cursor = world.store.cursors[(world.shop.id, SyncKind.PRODUCTS)]
        assert (cursor.cursor_at, cursor.updated_at) == (T0 - timedelta(minutes=1), T0)

    async def test_the_cursor_never_moves_back(self, world: World) -> None:
        ahead = T0 + timedelta(minutes=1)
        world.store.cursors[(world.shop.id, SyncKind.PRODUCTS)] = PollCursor(
            world.shop.id, SyncKind.PRODUCTS, cursor_at=ahead
        )
        async with world.uow() as uow:
            task = self.poll(world, SyncKind.PRODUCTS, SyncTaskStatus.SUCCEEDED, SyncTrigger.SCHEDULED)
            await record_poll_progress(uow, task, T0)
            await uow.commit()
        assert world.store.cursors[(world.shop.id, SyncKind.PRODUCTS)].cursor_at == ahead

    async def test_a_products_poll_under_way_claims_nothing(self, world: World) -> None:
        async with world.uow() as uow:
            task = self.poll(world, SyncKind.PRODUCTS, SyncTaskStatus.RUNNING, SyncTrigger.SCHEDULED)
            await record_poll_progress(uow, task, T0)
            await uow.commit()
        assert world.store.cursors == {}

    async def test_only_the_last_three_empty_polls_are_kept(self, world: World) -> None:
        empties = []
        for n in range(5):
            task = SyncTask.queue(world.shop.id, "m1", SyncKind.PRODUCTS, SyncTrigger.SCHEDULED, T0 + timedelta(n))
            task.checkpoint["poll"] = {"ge": 0, "lt": ts(T0)}
            task.succeed(T0 + timedelta(n))
            empties.append(task)
        world.store.tasks.update({task.id: task for task in empties[:4]})  # the fifth is finishing now
        async with world.uow() as uow:
            await finish_poll(uow, empties[4], T0)
            await uow.commit()
        assert sorted(world.store.tasks) == sorted(task.id for task in empties[2:4])  # with the fifth: three

    async def test_a_products_poll_stores_what_changed_in_its_window(self, world: World) -> None:
        changed = replace(make_product(1), updated_at=T0 - timedelta(minutes=2))
        api = FakeShopApi([make_product(0), changed], [])
        options = SyncOptions(page_size=7, queue_pages=1, batch_records=1, max_attempts=3)
        deps = SyncDeps(world.uow, api.factory, world.events, world.clock, options)
        world.store.cursors[(world.shop.id, SyncKind.PRODUCTS)] = PollCursor(
            world.shop.id, SyncKind.PRODUCTS, cursor_at=T0 - timedelta(minutes=3)
        )
        task_id = await world.start(SyncKind.PRODUCTS)
        assert task_id is not None
        await run_sync_task(task_id, deps)
        assert world.store.tasks[task_id].status is SyncTaskStatus.SUCCEEDED
        assert set(world.store.shop_products(world.shop.id)) == {changed.tiktok_product_id}
        assert world.store.cursors[(world.shop.id, SyncKind.PRODUCTS)].cursor_at == T0 - timedelta(seconds=30)


class TestStartPollEdges:
    async def test_only_an_active_task_of_this_shop_and_kind_holds_a_poll_back(self, world: World) -> None:
        other = SyncTask.queue("another-shop", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
        world.store.tasks[other.id] = other
        task_id = await world.start(SyncKind.ORDERS)
        assert task_id is not None and world.store.tasks[task_id].created_at == T0
        assert world.store.cursors[(world.shop.id, SyncKind.ORDERS)].updated_at == T0

    async def test_a_start_racing_another_is_skipped_by_the_unique_index(self, world: World) -> None:
        running = SyncTask.queue(world.shop.id, "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
        world.store.tasks[running.id] = running
        real_active = FakeUnitOfWork(world.store).sync_tasks.active

        class MissedTheOther(FakeUnitOfWork):
            """Its read of the active task came before the other start committed."""

            def __init__(self, store: FakeStore) -> None:
                super().__init__(store)
                self.sync_tasks.active = self._active  # type: ignore[method-assign]
                self.checks_left = 1

            async def _active(self, shop_id: str, kind: SyncKind) -> SyncTask | None:
                if self.checks_left:
                    self.checks_left -= 1
                    return None
                return await real_active(shop_id, kind)

        started = await start_poll(
            lambda: MissedTheOther(world.store), world.queue, world.events, world.clock, POLLS, world.shop.id,
            SyncKind.ORDERS,
        )  # fmt: skip
        assert started is None and list(world.store.tasks) == [running.id] and world.queue.enqueued == []
        assert (world.shop.id, SyncKind.ORDERS) not in world.store.cursors


class TestPollPages:
    def deps(self, world: World, api: FakeShopApi) -> SyncDeps:
        options = SyncOptions(page_size=2, queue_pages=1, batch_records=1, max_attempts=3)
        return SyncDeps(world.uow, api.factory, world.events, world.clock, options)

    async def test_a_products_poll_reads_its_window_bounds_included_and_excluded(self, world: World) -> None:
        # window: [cursor - 10 min, now - 30 s) = [T0 - 13 min, T0 - 30 s)
        world.store.cursors[(world.shop.id, SyncKind.PRODUCTS)] = PollCursor(
            world.shop.id, SyncKind.PRODUCTS, cursor_at=T0 - timedelta(minutes=3)
        )
        at = {
            0: T0 - timedelta(minutes=13, seconds=1),  # before the window
            1: T0 - timedelta(minutes=13),  # its first second
            2: T0 - timedelta(seconds=31),  # its last second
            3: T0 - timedelta(seconds=30),  # the settle line: next poll's
        }
        api = FakeShopApi([replace(make_product(i), updated_at=when) for i, when in at.items()], [])
        task_id = await world.start(SyncKind.PRODUCTS)
        assert task_id is not None
        await run_sync_task(task_id, self.deps(world, api))
        assert set(world.store.shop_products(world.shop.id)) == {make_product(1).tiktok_product_id,
                                                                  make_product(2).tiktok_product_id}  # fmt: skip

    async def test_a_products_poll_retried_resumes_after_its_stored_pages(self, world: World) -> None:
        products = [replace(make_product(i), updated_at=T0 - timedelta(minutes=1)) for i in range(5)]
        api = FakeShopApi(products, [])
        api.failures[2] = TikTokUnavailableError("down")
        task_id = await world.start(SyncKind.PRODUCTS)
        assert task_id is not None
        with pytest.raises(TikTokUnavailableError):
            await run_sync_task(task_id, self.deps(world, api))
        assert world.store.tasks[task_id].checkpoint["products"] == {"offset": 2}
        await run_sync_task(task_id, self.deps(world, api))
        assert api.calls == 4  # page 1, the failure, then pages 2 and 3 only
        assert len(world.store.shop_products(world.shop.id)) == 5

    async def test_an_orders_poll_retried_resumes_at_its_stored_slice(self, world: World) -> None:
        orders = [replace(make_order(i, T0 - timedelta(days=3)), updated_at=T0 - timedelta(seconds=300 - 10 * i))
                  for i in range(9)]  # fmt: skip
        api = FakeShopApi([], orders)
        api.failures[2] = TikTokUnavailableError("down")
        task_id = await world.start(SyncKind.ORDERS)
        assert task_id is not None
        with pytest.raises(TikTokUnavailableError):
            await run_sync_task(task_id, self.deps(world, api))
        await run_sync_task(task_id, self.deps(world, api))
        assert len(world.store.shop_orders(world.shop.id)) == 9
        assert api.calls == 6  # page 1, the failure, then the 8 orders from the last stored second: 4 pages
