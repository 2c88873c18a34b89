"""The scheduler's tick, starting a poll, a poll inside the engine, and the token sweep, over fakes."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.polling import PollCursor, PollSettings
from domain.ports import AuthorizationLostError, TikTokUnavailableError
from domain.services.importer import SyncDeps, SyncOptions, run_sync_task
from domain.services.polling import schedule_tick, start_poll
from domain.services.tokens import refresh_shop_tokens
from domain.shops import Shop, ShopStatus, TokenSet
from domain.sync import RefreshedTokens, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from domain.tokens import refresh_due_at
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
    def __init__(self, orders: int = 0) -> None:
        self.store = FakeStore()
        self.clock = FakeClock()
        self.shop: Shop = make_shop(now=T0 - timedelta(days=1))
        self.store.shops[self.shop.id] = self.shop
        # Orders changed one per second over the last 5 minutes: each its own update_time.
        self.orders = [
            replace(make_order(i, T0 - timedelta(days=3)), updated_at=T0 - timedelta(seconds=300 - i))
            for i in range(orders)
        ]
        self.api = FakeShopApi([], self.orders)
        self.events = FakeEventPublisher()
        self.queue = FakeTaskQueue()
        self.work = FakeScheduledWork()
        options = SyncOptions(page_size=7, queue_pages=1, batch_records=1, max_attempts=3)
        self.deps = SyncDeps(self.uow, self.api.factory, self.events, self.clock, options)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def start(self, kind: SyncKind = SyncKind.ORDERS, tick: object = None) -> str | None:
        return await start_poll(self.uow, self.queue, self.events, self.clock, POLLS, self.shop.id, kind, tick)  # type: ignore[arg-type]

    def cursor(self, kind: SyncKind = SyncKind.ORDERS) -> PollCursor:
        return self.store.cursors[(self.shop.id, kind)]


class TestSchedulerTick:
    async def test_enqueues_one_poll_per_kind_of_each_shop_that_may_sync_once_per_interval(self) -> None:
        world = World()
        revoked = make_shop(tiktok_shop_id="7002")
        revoked.revoke(T0)
        world.store.shops[revoked.id] = revoked
        # when the scheduler ticks
        result = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        # then the active shop gets a poll of each kind; the revoked one nothing
        assert sorted((shop, kind) for shop, kind, _ in world.work.polls) == [
            (world.shop.id, SyncKind.ORDERS), (world.shop.id, SyncKind.PRODUCTS),
        ]  # fmt: skip
        assert result.polls and all(tick == T0.isoformat() for *_, tick in world.work.polls)
        # and within the interval a tick enqueues nothing more; one interval later it does again
        world.clock.advance(timedelta(minutes=4))
        assert (await schedule_tick(world.uow, world.work, world.clock, POLLS)).polls == []
        world.clock.advance(timedelta(minutes=1))
        assert len((await schedule_tick(world.uow, world.work, world.clock, POLLS)).polls) == 2

    async def test_claims_a_due_token_refresh_once(self, caplog: pytest.LogCaptureFixture) -> None:
        world = World()
        expires = T0 + timedelta(hours=1)
        world.shop.tokens = replace(world.shop.tokens, access_token_expires_at=expires)
        caplog.set_level(logging.INFO, logger="domain.services.polling")
        first = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        second = await schedule_tick(world.uow, world.work, world.clock, POLLS)
        assert first.token_refreshes == [world.shop.id] and second.token_refreshes == []
        assert world.work.refreshes == [world.shop.id]
        # and the claim, the only one, is told with its dates: the column keeps only a shop's latest claim
        due = refresh_due_at(world.shop.id, expires, world.shop.tokens_issued_at)
        assert [r.getMessage() for r in caplog.records if r.name == "domain.services.polling"] == [
            f"claimed the token refresh of shop {world.shop.id} at {T0.isoformat()}: due at {due.isoformat()}, "
            f"its access token expires at {expires.isoformat()}"
        ]


class TestStartPoll:
    async def test_starts_at_the_last_import_and_a_duplicate_message_is_a_no_op(self) -> None:
        world = World()
        imported = SyncTask.queue(
            world.shop.id, "m1", SyncKind.ORDERS, SyncTrigger.AUTHORIZATION, T0 - timedelta(hours=1)
        )
        imported.succeed(T0 - timedelta(minutes=50))
        world.store.tasks[imported.id] = imported
        tick = T0 - timedelta(seconds=1)
        task_id = await world.start(tick=tick)
        assert task_id is not None and world.queue.enqueued == [task_id]
        window = world.store.tasks[task_id].checkpoint["poll"]
        assert window["ge"] == int((T0 - timedelta(hours=1, minutes=10)).timestamp())
        # when the same tick's message comes again, after the poll finished
        world.store.tasks[task_id].succeed(T0)
        assert await world.start(tick=tick) is None

    async def test_skipped_beside_an_active_task_of_its_kind_and_for_a_revoked_shop(self) -> None:
        world = World()
        running = SyncTask.queue(world.shop.id, "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
        world.store.tasks[running.id] = running
        assert await world.start(SyncKind.ORDERS) is None
        assert await world.start(SyncKind.PRODUCTS) is not None
        world.shop.revoke(T0)
        assert await world.start(SyncKind.PRODUCTS) is None


class TestPollInTheEngine:
    async def test_the_cursor_moves_only_with_stored_pages(self) -> None:
        # given 20 orders changed over the last 5 minutes, read 7 a page, and TikTok failing the second page
        world = World(orders=20)
        task_id = await world.start()
        assert task_id is not None
        world.api.failures[2] = TikTokUnavailableError("down")
        # when the poll runs, it stops after the first page for the queue to retry
        with pytest.raises(TikTokUnavailableError):
            await run_sync_task(task_id, world.deps)
        # then the cursor is at the last stored change: nothing after it was stored
        stored_page = sorted(world.orders, key=lambda o: o.updated_at)[:7]
        assert world.cursor().cursor_at == stored_page[-1].updated_at
        assert set(world.store.shop_orders(world.shop.id)) == {o.tiktok_order_id for o in stored_page}
        # when the retry runs, then every change is stored and the cursor is at the window's end
        await run_sync_task(task_id, world.deps)
        task = world.store.tasks[task_id]
        assert (task.status, task.created) == (SyncTaskStatus.SUCCEEDED, 20)
        assert int(world.cursor().cursor_at.timestamp()) == task.checkpoint["poll"]["lt"]  # type: ignore[union-attr]
        assert world.shop.id in world.events.shop_changes
        assert world.store.shops[world.shop.id].last_synced_at == T0


class TestTokenSweep:
    def due(self, world: World) -> TokenSet:
        world.shop.tokens = replace(world.shop.tokens, access_token_expires_at=T0 + timedelta(hours=1))
        return replace(world.shop.tokens, access_token="access-2", access_token_expires_at=T0 + timedelta(days=7))

    async def test_a_due_token_is_refreshed_and_saved(self) -> None:
        world = World()
        fresh = self.due(world)

        async def refresh(shop: Shop) -> TokenSet:
            return fresh

        verdict = await refresh_shop_tokens(world.uow, refresh, world.events, world.clock, world.shop.id)
        stored = world.store.shops[world.shop.id]
        assert verdict is RefreshedTokens.STORE
        assert (stored.tokens.access_token, stored.tokens_refreshed_at) == ("access-2", T0)
        assert world.events.shop_changes == [world.shop.id]
        # and a duplicate message finds nothing due any more
        assert await refresh_shop_tokens(world.uow, refresh, world.events, world.clock, world.shop.id) is None

    async def test_a_dead_refresh_token_revokes_the_shop_unless_the_pair_was_renewed_meanwhile(self) -> None:
        world = World()
        self.due(world)

        async def refused(shop: Shop) -> TokenSet:
            raise AuthorizationLostError("invalid refresh token")

        async def refused_after_a_renewal(shop: Shop) -> TokenSet:
            renewed = world.store.shops[shop.id]
            renewed.tokens = replace(renewed.tokens, access_token="renewed-elsewhere")
            raise AuthorizationLostError("invalid refresh token")

        await refresh_shop_tokens(world.uow, refused_after_a_renewal, world.events, world.clock, world.shop.id)
        assert world.store.shops[world.shop.id].status(T0) is not ShopStatus.REVOKED
        await refresh_shop_tokens(world.uow, refused, world.events, world.clock, world.shop.id, stored_pair_poll=())
        assert world.store.shops[world.shop.id].status(T0) is ShopStatus.REVOKED

    async def test_an_unknown_shop_or_one_not_due_is_left_alone_without_asking_tiktok(self) -> None:
        world = World()
        world.shop.tokens = replace(world.shop.tokens, access_token_expires_at=T0 + timedelta(days=6))
        asked: list[str] = []

        async def refresh(shop: Shop) -> TokenSet:
            asked.append(shop.id)
            return shop.tokens

        assert await refresh_shop_tokens(world.uow, refresh, world.events, world.clock, "no-such-shop") is None
        assert await refresh_shop_tokens(world.uow, refresh, world.events, world.clock, world.shop.id) is None
        assert asked == [] and world.store.commits == 0 and world.events.shop_changes == []

    async def test_a_refresh_that_finds_its_pair_or_a_newer_one_stored_writes_nothing(self) -> None:
        world = World()
        fresh = self.due(world)
        newer = replace(fresh, access_token="access-3", refresh_token="refresh-3")

        async def stored_meanwhile(shop: Shop) -> TokenSet:
            world.store.shops[shop.id].tokens = fresh  # the same pair, stored by another refresh
            return fresh

        async def superseded(shop: Shop) -> TokenSet:
            world.store.shops[shop.id].tokens = newer  # a re-authorization stored another pair meanwhile
            return fresh

        verdict = await refresh_shop_tokens(world.uow, stored_meanwhile, world.events, world.clock, world.shop.id)
        assert verdict is RefreshedTokens.ALREADY_STORED
        self.due(world)
        verdict = await refresh_shop_tokens(world.uow, superseded, world.events, world.clock, world.shop.id)
        assert verdict is RefreshedTokens.SUPERSEDED
        stored = world.store.shops[world.shop.id]
        assert (stored.tokens.access_token, stored.tokens_refreshed_at) == ("access-3", None)
        assert world.store.commits == 0 and world.events.shop_changes == []

    async def test_a_shop_deleted_while_its_tokens_were_refreshed_is_left_deleted(self) -> None:
        world = World()
        fresh = self.due(world)

        async def deleted_meanwhile(shop: Shop) -> TokenSet:
            del world.store.shops[shop.id]
            return fresh

        async def deleted_and_refused(shop: Shop) -> TokenSet:
            del world.store.shops[shop.id]
            raise AuthorizationLostError("invalid refresh token")

        assert await refresh_shop_tokens(world.uow, deleted_meanwhile, world.events, world.clock, world.shop.id) is None
        world.store.shops[world.shop.id] = world.shop
        assert (
            await refresh_shop_tokens(world.uow, deleted_and_refused, world.events, world.clock, world.shop.id) is None
        )
        assert world.store.shops == {} and world.store.commits == 0 and world.events.shop_changes == []

    async def test_a_dead_refresh_token_revokes_the_shop_now_and_says_so(self) -> None:
        world = World()
        self.due(world)
        world.clock.advance(timedelta(minutes=1))

        async def refused(shop: Shop) -> TokenSet:
            raise AuthorizationLostError("invalid refresh token", "R1")

        revoked = await refresh_shop_tokens(
            world.uow, refused, world.events, world.clock, world.shop.id, stored_pair_poll=()
        )  # one look at the store: nothing renewed the pair here (tests/integration/test_token_refresh_races.py)
        assert revoked is None
        assert world.store.shops[world.shop.id].revoked_at == T0 + timedelta(minutes=1)
        assert world.events.shop_changes == [world.shop.id]

    async def test_a_dead_refresh_token_does_not_revoke_a_pair_renewed_with_only_a_new_refresh_token(self) -> None:
        world = World()
        self.due(world)

        async def refused_after_a_renewal(shop: Shop) -> TokenSet:
            renewed = world.store.shops[shop.id]
            renewed.tokens = replace(renewed.tokens, refresh_token="refresh-renewed")
            raise AuthorizationLostError("invalid refresh token")

        await refresh_shop_tokens(world.uow, refused_after_a_renewal, world.events, world.clock, world.shop.id)
        assert world.store.shops[world.shop.id].revoked_at is None
        assert world.store.commits == 0 and world.events.shop_changes == []


class TestProductsPollInTheEngine:
    async def test_a_products_poll_stores_the_products_changed_in_its_window(self) -> None:
        # given 10 products changed over the last few minutes
        world = World()
        world.api.products = [replace(make_product(i), updated_at=T0 - timedelta(seconds=200 - i)) for i in range(10)]
        task_id = await world.start(SyncKind.PRODUCTS)
        assert task_id is not None
        # when the poll runs in the engine, then each is stored as a product, and the products cursor moved
        await run_sync_task(task_id, world.deps)
        task = world.store.tasks[task_id]
        assert (task.status, task.created, task.processed) == (SyncTaskStatus.SUCCEEDED, 10, 10)
        assert set(world.store.shop_products(world.shop.id)) == {p.tiktok_product_id for p in world.api.products}
        assert world.store.shop_orders(world.shop.id) == {}
        assert world.cursor(SyncKind.PRODUCTS).cursor_at is not None
