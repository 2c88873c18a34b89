"""Store-management use cases over fakes: what is stored, spent, queued and refused."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from domain.authorization import state_digest
from domain.errors import DomainError, ErrorCode
from domain.polling import PollCursor
from domain.ports import AuthorizationLostError, GatewayRefusedError, OutcomeUnknownError, TikTokUnavailableError
from domain.services import shops as services
from domain.shops import AuthorizedShop, Region, TokenSet
from domain.sync import SyncKind, SyncTaskStatus, SyncTrigger
from tests.fakes import (
    T0,
    FakeClock,
    FakeEventPublisher,
    FakeStore,
    FakeTaskQueue,
    FakeTikTokAuth,
    FakeUnitOfWork,
)

US_SHOP = AuthorizedShop("7001", "TikTok US", "US", "LOCAL", "cipher-7001", "US1")
OTHER_US_SHOP = AuthorizedShop("7002", "TikTok US 2", "US", "LOCAL", "cipher-7002", "US2")


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.tiktok = FakeTikTokAuth()
        self.queue = FakeTaskQueue()
        self.clock = FakeClock()

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def start(self, merchant: str = "m1", region: Region = Region.US, name: str = "Mine") -> str:
        started = await services.start_authorization(self.uow, self.tiktok, self.clock, merchant, region, name, True)
        return parse_qs(urlsplit(started.authorization_url).query)["state"][0]

    async def complete(self, state: str, code: str | None = "c1", error: str | None = None, merchant: str = "m1"):
        return await services.complete_authorization(
            self.uow, self.tiktok, self.queue, self.clock, state, code, error, merchant_id=merchant
        )

    async def connect(self, merchant: str = "m1", shop: AuthorizedShop = US_SHOP, code: str = "c1", name: str = "Mine"):
        self.tiktok.grant(code, shop)
        return (await self.complete(await self.start(merchant, name=name), code=code, merchant=merchant)).shop


@pytest.fixture
def world() -> World:
    return World()


async def expect(code: ErrorCode, awaitable) -> DomainError:
    with pytest.raises(DomainError) as error:
        await awaitable
    assert error.value.code is code
    return error.value


async def test_start_stores_only_a_digest_of_the_state(world: World) -> None:
    state = await world.start()
    (stored,) = world.store.authorizations.values()
    assert stored.state_digest == state_digest(state) and state not in repr(world.store)
    assert stored.expires_at == T0 + timedelta(minutes=30) and stored.used_at is None


async def test_connecting_stores_the_shop_and_queues_both_imports_after_commit(world: World) -> None:
    shop = await world.connect()
    assert world.store.shops[shop.id].tiktok_shop_id == "7001" and shop.name == "Mine"
    kinds = {task.kind for task in world.store.tasks.values()}
    assert kinds == {SyncKind.PRODUCTS, SyncKind.ORDERS}
    assert sorted(world.queue.enqueued) == sorted(world.store.tasks)
    assert world.queue.webhook_registrations == [shop.id]  # and webhook registration, after the commit too
    orders = next(t for t in world.store.tasks.values() if t.kind is SyncKind.ORDERS)
    assert (orders.orders_created_since, orders.orders_created_until) == (T0 - timedelta(days=30), T0)


async def test_a_denied_consent_spends_the_state(world: World) -> None:
    state = await world.start()
    await expect(ErrorCode.AUTHORIZATION_DENIED, world.complete(state, code=None, error="auth_denied"))
    await expect(ErrorCode.INVALID_STATE, world.complete(state))
    assert world.tiktok.exchanged == [] and world.store.shops == {}


async def test_another_merchant_can_neither_use_nor_burn_a_state(world: World) -> None:
    world.tiktok.grant("c1", US_SHOP)
    state = await world.start("m1")
    await expect(ErrorCode.INVALID_STATE, world.complete(state, merchant="m2"))
    assert (await world.complete(state, merchant="m1")).shop.merchant_id == "m1"


async def test_an_expired_state_is_refused(world: World) -> None:
    state = await world.start()
    world.clock.advance(timedelta(minutes=30))
    await expect(ErrorCode.INVALID_STATE, world.complete(state))


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (TikTokUnavailableError("down"), ErrorCode.TIKTOK_UNAVAILABLE),
        (AuthorizationLostError("bad code"), ErrorCode.AUTHORIZATION_DENIED),
        (OutcomeUnknownError("the exchange's answer was lost"), ErrorCode.AUTHORIZATION_UNCONFIRMED),
        (GatewayRefusedError("Invalid app_key. (code=36009004)"), ErrorCode.TIKTOK_REJECTED),
    ],
)
async def test_tiktok_failures_store_nothing_and_spend_the_state(world: World, failure: Exception, code) -> None:
    world.tiktok.failure = failure
    state = await world.start()
    await expect(code, world.complete(state))
    assert world.store.shops == {} and world.store.tasks == {} and world.queue.enqueued == []
    world.tiktok.failure = None
    await expect(ErrorCode.INVALID_STATE, world.complete(state))


async def test_a_shop_of_another_merchant_is_refused(world: World) -> None:
    await world.connect("m1")
    world.tiktok.grant("c2", US_SHOP)
    await expect(ErrorCode.SHOP_ALREADY_CONNECTED, world.complete(await world.start("m2"), code="c2", merchant="m2"))
    assert len(world.store.shops) == 1


async def test_the_same_merchant_again_renews_without_new_imports(world: World) -> None:
    shop = await world.connect("m1")
    world.clock.advance(timedelta(days=1))
    renewed = TokenSet("access-2", T0 + timedelta(days=8), "refresh-2", T0 + timedelta(days=400), "Seller")
    world.tiktok.grant("c2", US_SHOP, renewed)
    outcome = await world.complete(await world.start("m1", name="Typed again"), code="c2")
    assert outcome.reauthorized and outcome.shop.id == shop.id and outcome.shop.name == "Typed again"
    assert (outcome.already_connected, outcome.previous_name) == (True, "Mine")  # told, with the name it had
    assert world.store.shops[shop.id].name == "Typed again"
    assert world.store.shops[shop.id].expires_at == T0 + timedelta(days=400)
    assert len(world.store.tasks) == 2
    assert world.queue.webhook_registrations == [shop.id, shop.id]  # registered again on renewal


async def test_a_reauthorization_registers_webhooks_again_and_a_refused_one_does_not(world: World) -> None:
    shop = await world.connect("m1")
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    world.tiktok.grant("c5", US_SHOP)
    assert (await world.complete(state, code="c5")).reauthorized
    assert world.queue.webhook_registrations == [shop.id, shop.id]
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    world.tiktok.grant("c6", OTHER_US_SHOP)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    await expect(ErrorCode.SHOP_MISMATCH, world.complete(state, code="c6"))
    assert world.queue.webhook_registrations == [shop.id, shop.id]


async def test_a_reauthorization_makes_the_shops_polls_due_and_a_refused_one_does_not(world: World) -> None:
    """What changed while the shop could not sync comes in at the scheduler's next tick (README, Live sync)."""
    shop = await world.connect("m1")
    scheduled = T0 - timedelta(minutes=1)
    async with world.uow() as uow:
        for kind in (SyncKind.ORDERS, SyncKind.PRODUCTS):
            await uow.poll_cursors.save(PollCursor(shop.id, kind, T0 - timedelta(hours=1), scheduled), T0)
        await uow.commit()
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    world.tiktok.grant("c6", OTHER_US_SHOP)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    await expect(ErrorCode.SHOP_MISMATCH, world.complete(state, code="c6"))
    assert [c.scheduled_at for c in world.store.cursors.values()] == [scheduled, scheduled]
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    world.tiktok.grant("c5", US_SHOP)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    assert (await world.complete(state, code="c5")).reauthorized
    assert [c.scheduled_at for c in world.store.cursors.values()] == [None, None]
    assert [c.cursor_at for c in world.store.cursors.values()] == [T0 - timedelta(hours=1)] * 2


async def test_a_reauthorization_of_a_revoked_shop_marks_its_push_fence_for_a_re_base(world: World) -> None:
    """Its pushes could not run: a stock edited in Seller Center meanwhile is read again, after the shop's orders,
    before any push measures from the old baseline (tryout63 F1; `inventory_push.rebase_fence`)."""
    shop = await world.connect("m1")

    async def reauthorize(code: str) -> None:
        started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
        world.tiktok.grant(code, US_SHOP)
        assert (
            await world.complete(parse_qs(urlsplit(started.authorization_url).query)["state"][0], code)
        ).reauthorized

    await reauthorize("c5")  # an active shop's: its pushes ran, nothing to re-base
    assert world.store.push.rebase_pending == {}
    async with world.uow() as uow:
        stored = await uow.shops.get(shop.id)
        assert stored is not None
        stored.revoke(world.clock.now())
        await uow.shops.update(stored)
        await uow.commit()
    await reauthorize("c6")
    assert world.store.push.rebase_pending == {shop.id: world.clock.now()}


async def test_reauthorization_must_return_the_same_shop(world: World) -> None:
    shop = await world.connect("m1")
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    world.tiktok.grant("c9", OTHER_US_SHOP)
    await expect(ErrorCode.SHOP_MISMATCH, world.complete(state, code="c9"))
    assert world.store.shops[shop.id].tiktok_shop_id == "7001"
    await expect(
        ErrorCode.NOT_FOUND, services.start_reauthorization(world.uow, world.tiktok, world.clock, "m2", shop.id)
    )


async def test_a_reauthorization_granting_a_shop_of_another_region_names_the_shop_re_authorized(world: World) -> None:
    """F4: the refusal said "not the shop you are re-authorizing (in US)" and named that shop nowhere: a merchant
    with several US shops could not tell which one to sign in with. It names it now, by TikTok's name and shop id
    and by the merchant's name, as a refusal of another shop in the same region does; the code is unchanged."""
    # given a connected US shop, re-authorized by a seller whose shop is in the UK
    shop = await world.connect("m1", name="Main store")
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    world.tiktok.grant("c9", AuthorizedShop("7003", "Tea Garden", "GB", "LOCAL", "cipher-7003", "GB1"))
    # when it completes, then it is refused as another shop, naming both, and the shop is unchanged
    refused = await expect(ErrorCode.SHOP_MISMATCH, world.complete(state, code="c9"))
    assert refused.message == (
        "TikTok returned the shop “Tea Garden” (TikTok shop id 7003), in UK, not the shop you are re-authorizing "
        "(in US): “TikTok US” (TikTok shop id 7001), named “Main store” here. Sign in to TikTok with the account of "
        "“TikTok US” and re-authorize again. Nothing was changed."
    )
    assert world.store.shops[shop.id].tiktok_shop_id == "7001"


async def test_rename_and_delete_are_the_owners_alone(world: World) -> None:
    shop = await world.connect("m1")
    await expect(ErrorCode.NOT_FOUND, services.rename_shop(world.uow, "m2", shop.id, "Theirs"))
    await expect(ErrorCode.INVALID_NAME, services.rename_shop(world.uow, "m1", shop.id, " "))
    assert (await services.rename_shop(world.uow, "m1", shop.id, " Ours ")).name == "Ours"
    await expect(ErrorCode.NOT_FOUND, services.delete_shop(world.uow, world.clock, "m2", shop.id))
    assert world.store.shops[shop.id].name == "Ours"


async def test_delete_cancels_the_tasks_and_removes_the_shop(world: World) -> None:
    # given a shop whose two imports are queued
    shop = await world.connect("m1")
    queued = sorted(world.store.tasks)
    assert len(queued) == 2 and all(task.status is SyncTaskStatus.QUEUED for task in world.store.tasks.values())
    events = FakeEventPublisher()
    # when it is deleted
    await services.delete_shop(world.uow, world.clock, "m1", shop.id, events)
    # then every task of it was cancelled (and said so, after the commit), and nothing of it is left
    assert sorted(events.changes) == [(task_id, "CANCELLED") for task_id in queued]
    assert world.store.shops == {}
    assert all(task.shop_id != shop.id for task in world.store.tasks.values())


async def test_delete_signals_the_shop_after_its_commit(world: World) -> None:
    """Rule (README, `shopsDeleted`): the deletion names the shop in a shop change signal, published once the shop is
    gone from the database (the merchant's shop feed reads it on that signal and finds it gone); a refused deletion
    signals nothing."""
    shop = await world.connect("m1")

    class Recording(FakeEventPublisher):
        def __init__(self) -> None:
            super().__init__()
            self.stored_when_signalled: list[bool] = []

        async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
            self.stored_when_signalled.append(shop_id in world.store.shops)
            await super().shop_changed(shop_id, merchant_id)

    events = Recording()
    # when another merchant tries, then the owner deletes it
    await expect(ErrorCode.NOT_FOUND, services.delete_shop(world.uow, world.clock, "m2", shop.id, events))
    assert events.shop_changes == []
    await services.delete_shop(world.uow, world.clock, "m1", shop.id, events)
    # then the shop was signalled once, when a reader would no longer find it
    assert events.shop_changes == [shop.id]
    assert events.stored_when_signalled == [False]


async def _fail_imports(world: World, shop_id: str, codes: dict[SyncKind, ErrorCode]) -> None:
    """Given: the shop's imports of these kinds FAILED with these codes mid-way (as the engine fails them), and the
    shop revoked when one lost its authorization (`importer._fail`)."""
    async with world.uow() as uow:
        for task in list(world.store.tasks.values()):
            if task.kind in codes and task.is_active:
                task.begin_attempt(world.clock.now())
                task.record_batch(100, 0, 0, [])
                task.fail_run(codes[task.kind], "TikTok no longer honours the shop's authorization", world.clock.now())
                await uow.sync_tasks.update(task)
        stored = await uow.shops.get(shop_id)
        assert stored is not None
        if ErrorCode.REAUTHORIZATION_REQUIRED in codes.values():
            stored.revoke(world.clock.now())
            await uow.shops.update(stored)
        await uow.commit()


async def _reauthorize(world: World, shop_id: str, code: str) -> None:
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop_id)
    world.tiktok.grant(code, US_SHOP)
    assert (await world.complete(parse_qs(urlsplit(started.authorization_url).query)["state"][0], code)).reauthorized


async def test_a_reauthorization_runs_again_the_imports_a_lost_authorization_failed_once(world: World) -> None:
    """tryout69 F1: an import that FAILED with REAUTHORIZATION_REQUIRED runs again once the shop is re-authorized
    (a new REAUTHORIZATION task, over the failed one's own orders window), enqueued after the commit;
    re-authorizing again queues nothing more while it is queued, and a failure of another kind is not run again."""
    shop = await world.connect("m1")
    await _fail_imports(
        world,
        shop.id,
        {SyncKind.PRODUCTS: ErrorCode.REAUTHORIZATION_REQUIRED, SyncKind.ORDERS: ErrorCode.REAUTHORIZATION_REQUIRED},
    )
    failed = set(world.store.tasks)
    world.clock.advance(timedelta(days=2))
    world.queue.enqueued.clear()

    await _reauthorize(world, shop.id, "c5")

    again = {task.kind: task for task in world.store.tasks.values() if task.id not in failed}
    assert set(again) == {SyncKind.PRODUCTS, SyncKind.ORDERS}
    assert all(t.status is SyncTaskStatus.QUEUED and t.trigger is SyncTrigger.REAUTHORIZATION for t in again.values())
    assert (again[SyncKind.ORDERS].orders_created_since, again[SyncKind.ORDERS].orders_created_until) == (
        T0 - timedelta(days=30),
        T0 + timedelta(days=2),
    )
    assert sorted(world.queue.enqueued) == sorted(task.id for task in again.values())
    await _reauthorize(world, shop.id, "c6")  # again, while they wait in the queue: nothing more
    assert len(world.store.tasks) == 4 and len(world.queue.enqueued) == 2


async def test_a_renewal_months_after_a_failure_runs_both_again_orders_over_tiktoks_last_90_days(
    world: World,
) -> None:
    """review69 R3: both imports failed by the lost authorization and the shop ACTIVE again without a re-run (as
    before tryout69 F1's fix); 200 days later the merchant renews the authorization. The products import runs again
    (a catalog read in part), said to be a re-run; so do the orders, over TikTok's last 90 days (the failed 30 days
    ended 200 days ago: what was placed since may be no poll's, review70b H1), said to be a re-run, not "the first
    import" as before review69 R3."""
    shop = await world.connect("m1")
    await _fail_imports(
        world,
        shop.id,
        {SyncKind.PRODUCTS: ErrorCode.REAUTHORIZATION_REQUIRED, SyncKind.ORDERS: ErrorCode.REAUTHORIZATION_REQUIRED},
    )
    async with world.uow() as uow:  # re-authorized before the fix: ACTIVE again, nothing run again
        stored = await uow.shops.get(shop.id)
        assert stored is not None
        stored.revoked_at = stored.revoked_because = None
        await uow.shops.update(stored)
        await uow.commit()
    failed = set(world.store.tasks)
    world.clock.advance(timedelta(days=200))

    await _reauthorize(world, shop.id, "c10")

    again = {task.kind: task for task in world.store.tasks.values() if task.id not in failed}
    assert set(again) == {SyncKind.PRODUCTS, SyncKind.ORDERS}
    assert all(t.trigger is SyncTrigger.REAUTHORIZATION and t.status is SyncTaskStatus.QUEUED for t in again.values())
    now = world.clock.now()
    assert (again[SyncKind.ORDERS].orders_created_since, again[SyncKind.ORDERS].orders_created_until) == (
        now - timedelta(days=90),
        now,
    )


async def test_a_reauthorization_runs_again_only_what_a_lost_authorization_failed(world: World) -> None:
    """Given PRODUCTS failed by TikTok's refusal (not the authorization) and ORDERS by the lost authorization, the
    renewing connect (Add store of the same shop) runs ORDERS again only; once that succeeded, nothing more."""
    shop = await world.connect("m1")
    await _fail_imports(
        world,
        shop.id,
        {SyncKind.PRODUCTS: ErrorCode.TIKTOK_REJECTED, SyncKind.ORDERS: ErrorCode.REAUTHORIZATION_REQUIRED},
    )
    failed = set(world.store.tasks)
    world.clock.advance(timedelta(hours=1))
    world.tiktok.grant("c2", US_SHOP)
    assert (await world.complete(await world.start("m1", name="Mine again"), code="c2")).already_connected
    (again,) = [task for task in world.store.tasks.values() if task.id not in failed]
    assert again.kind is SyncKind.ORDERS and again.orders_created_since == T0 - timedelta(days=30)
    async with world.uow() as uow:
        task = await uow.sync_tasks.get(again.id)
        assert task is not None
        task.begin_attempt(world.clock.now())
        task.succeed(world.clock.now())
        await uow.sync_tasks.update(task)
        await uow.commit()
    await _reauthorize(world, shop.id, "c7")
    assert len(world.store.tasks) == 3
