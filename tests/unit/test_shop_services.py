"""Store-management use cases over fakes: what is stored, spent, queued and refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from domain.authorization import AuthorizationPurpose, state_digest
from domain.errors import DomainError, ErrorCode
from domain.ports import AuthorizationLostError, GatewayRefusedError, PoolChange, TikTokUnavailableError
from domain.services import shops as services
from domain.shops import AuthorizedShop, Region, Shop, TokenSet
from domain.sync import SyncKind, SyncTask, SyncTaskStatus
from tests.fakes import (
    T0,
    FakeClock,
    FakeEventPublisher,
    FakeInventoryRepository,
    FakeStore,
    FakeTaskQueue,
    FakeTikTokAuth,
    FakeUnitOfWork,
    make_shop,
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

    async def connect(self, merchant: str = "m1", shop: AuthorizedShop = US_SHOP, code: str = "c1"):
        self.tiktok.grant(code, shop)
        return (await self.complete(await self.start(merchant), code=code, merchant=merchant)).shop


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


# -- what a caller reads: codes, messages, fields, signals -------------------------------------------------------


def _state(started: services.AuthorizationStart) -> str:
    return parse_qs(urlsplit(started.authorization_url).query)["state"][0]


async def test_a_start_tells_when_its_link_expires_and_a_reauthorization_remembers_the_shop(world: World) -> None:
    started = await services.start_authorization(world.uow, world.tiktok, world.clock, "m1", Region.US, "A", True)
    assert started.expires_at == T0 + timedelta(minutes=30)
    shop = await world.connect("m1")
    world.clock.advance(timedelta(minutes=5))
    again = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    assert again.expires_at == T0 + timedelta(minutes=35)
    stored = world.store.authorizations[state_digest(_state(again))]
    assert (stored.purpose, stored.shop_id, stored.region, stored.name, stored.merchant_id) == (
        AuthorizationPurpose.REAUTHORIZE, shop.id, Region.US, "Mine", "m1",
    )  # fmt: skip


@pytest.mark.parametrize("operation", ["reauthorize", "rename", "delete"])
async def test_a_shop_not_found_is_refused_on_the_shop_id_field(world: World, operation: str) -> None:
    shop = await world.connect("m1")
    calls = {
        "reauthorize": lambda: services.start_reauthorization(world.uow, world.tiktok, world.clock, "m2", shop.id),
        "rename": lambda: services.rename_shop(world.uow, "m2", shop.id, "Theirs"),
        "delete": lambda: services.delete_shop(world.uow, world.clock, "m2", shop.id),
    }
    error = await expect(ErrorCode.NOT_FOUND, calls[operation]())
    assert (error.message, error.field) == ("Shop not found", ("shopId",))


@pytest.mark.parametrize(
    ("code", "error", "expected", "message", "field"),
    [
        ("c1", "access_denied", ErrorCode.AUTHORIZATION_DENIED, "The seller did not grant access to the shop.", None),
        (None, None, ErrorCode.INVALID_INPUT, "Either code or error must be given.", ("code",)),
        ("", "", ErrorCode.INVALID_INPUT, "Either code or error must be given.", ("code",)),
    ],
)
async def test_a_completion_without_a_code_is_refused_with_a_message(
    world: World, code: str | None, error: str | None, expected: ErrorCode, message: str, field: tuple[str] | None
) -> None:
    world.tiktok.grant("c1", US_SHOP)
    refused = await expect(expected, world.complete(await world.start(), code=code, error=error))
    assert (refused.message, refused.field) == (message, field)
    assert world.tiktok.exchanged == []


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (TikTokUnavailableError("down"), "TikTok is not reachable right now; try again."),
        (AuthorizationLostError("bad code"), "TikTok did not accept the authorization; please authorize again."),
        (
            GatewayRefusedError("Invalid app_key. (code=36009004)"),
            "TikTok refused the authorization's request: Invalid app_key. (code=36009004)",
        ),
    ],
)
async def test_tiktok_failing_a_completion_is_told_in_words_a_merchant_can_act_on(
    world: World, failure: Exception, message: str
) -> None:
    world.tiktok.failure = failure
    error = await expect(
        {TikTokUnavailableError: ErrorCode.TIKTOK_UNAVAILABLE, AuthorizationLostError: ErrorCode.AUTHORIZATION_DENIED,
         GatewayRefusedError: ErrorCode.TIKTOK_REJECTED}[type(failure)],
        world.complete(await world.start()),
    )  # fmt: skip
    assert (error.message, error.field, error.__cause__) == (message, None, failure)


@pytest.mark.parametrize(
    ("state", "message", "field"),
    [
        ("", "Unknown authorization state; start again.", ("state",)),
        ("not-a-state-we-gave", "Unknown authorization state; start again.", ("state",)),
    ],
)
async def test_an_unknown_state_is_refused_on_the_state_field(
    world: World, state: str, message: str, field: tuple[str]
) -> None:
    error = await expect(ErrorCode.INVALID_STATE, world.complete(state))
    assert (error.message, error.field) == (message, field)


async def test_a_state_spent_by_a_concurrent_completion_is_refused_as_already_used(world: World) -> None:
    world.tiktok.grant("c1", US_SHOP)
    state = await world.start()

    def racing_uow() -> FakeUnitOfWork:
        uow = world.uow()
        read = uow.authorizations.get

        async def get(digest: str):  # type: ignore[no-untyped-def]
            request = await read(digest)
            world.store.authorizations[digest].used_at = T0  # the other tab spends it right after our read
            return request

        uow.authorizations.get = get  # type: ignore[method-assign]
        return uow

    error = await expect(
        ErrorCode.INVALID_STATE,
        services.complete_authorization(racing_uow, world.tiktok, world.queue, world.clock, state, "c1", None, "m1"),
    )
    assert (error.message, error.field) == ("This authorization link was already used; start again.", None)
    assert world.tiktok.exchanged == [] and world.store.shops == {}


async def test_connecting_signals_the_queued_imports_after_the_commit(world: World) -> None:
    world.tiktok.grant("c1", US_SHOP)
    events = FakeEventPublisher()
    state = await world.start()
    outcome = await services.complete_authorization(
        world.uow, world.tiktok, world.queue, world.clock, state, "c1", None, events=events
    )
    assert not outcome.reauthorized
    assert sorted(events.changes) == sorted((task_id, "QUEUED") for task_id in world.store.tasks)


def _racing_connect(world: World, racer: Shop, times: int) -> Callable[[], FakeUnitOfWork]:
    """Units of work whose look-up by TikTok shop id misses a shop a racer stores right after it, `times` times."""
    missed = [0]

    def uow() -> FakeUnitOfWork:
        unit = world.uow()
        look_up = unit.shops.get_by_tiktok_shop_id

        async def get_by_tiktok_shop_id(tiktok_shop_id: str) -> Shop | None:
            if missed[0] < times:
                missed[0] += 1
                world.store.shops[racer.id] = racer
                return None
            return await look_up(tiktok_shop_id)

        unit.shops.get_by_tiktok_shop_id = get_by_tiktok_shop_id  # type: ignore[method-assign]
        return unit

    return uow


@pytest.mark.parametrize(("racer_merchant", "renewed"), [("m1", True), ("m2", False)])
async def test_a_shop_connected_by_a_racing_completion_is_renewed_if_its_the_merchants_own(
    world: World, racer_merchant: str, renewed: bool
) -> None:
    world.tiktok.grant("c1", US_SHOP)
    racer = make_shop(racer_merchant, tiktok_shop_id=US_SHOP.tiktok_shop_id)
    state = await world.start()
    complete = services.complete_authorization(
        _racing_connect(world, racer, 1), world.tiktok, world.queue, world.clock, state, "c1", None, "m1"
    )
    if not renewed:
        await expect(ErrorCode.SHOP_ALREADY_CONNECTED, complete)
        assert world.store.shops[racer.id].merchant_id == "m2" and world.store.tasks == {}
        return
    outcome = await complete
    assert (outcome.reauthorized, outcome.shop.id, outcome.shop.name) == (True, racer.id, "Mine")
    assert world.store.tasks == {} and world.queue.webhook_registrations == [racer.id]


async def test_a_race_lost_twice_is_refused_rather_than_retried_forever(world: World) -> None:
    world.tiktok.grant("c1", US_SHOP)
    racer = make_shop("m1", tiktok_shop_id=US_SHOP.tiktok_shop_id)
    state = await world.start()
    await expect(
        ErrorCode.SHOP_ALREADY_CONNECTED,
        services.complete_authorization(
            _racing_connect(world, racer, 2), world.tiktok, world.queue, world.clock, state, "c1", None, "m1"
        ),
    )


async def test_a_reauthorization_renews_the_tokens_and_signals_the_shop(world: World) -> None:
    shop = await world.connect("m1")
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    world.clock.advance(timedelta(minutes=1))
    world.tiktok.grant("c5", US_SHOP)
    events = FakeEventPublisher()
    outcome = await services.complete_authorization(
        world.uow, world.tiktok, world.queue, world.clock, _state(started), "c5", None, "m1", events
    )
    stored = world.store.shops[shop.id]
    assert (outcome.reauthorized, outcome.shop.id, stored.tokens.access_token) == (True, shop.id, "access-c5")
    assert stored.authorized_at == T0 + timedelta(minutes=1)
    assert events.shop_changes == [shop.id]


async def test_a_reauthorization_of_a_shop_deleted_meanwhile_is_refused(world: World) -> None:
    shop = await world.connect("m1")
    started = await services.start_reauthorization(world.uow, world.tiktok, world.clock, "m1", shop.id)
    await services.delete_shop(world.uow, world.clock, "m1", shop.id)
    world.tiktok.grant("c5", US_SHOP)
    error = await expect(ErrorCode.NOT_FOUND, world.complete(_state(started), code="c5"))
    assert (error.message, error.field) == ("Shop not found", None)


async def test_a_rename_signals_the_shop(world: World) -> None:
    shop = await world.connect("m1")
    events = FakeEventPublisher()
    renamed = await services.rename_shop(world.uow, "m1", shop.id, "Ours", events)
    assert (renamed.id, renamed.name, events.shop_changes) == (shop.id, "Ours", [shop.id])


class ReleasingPool(FakeInventoryRepository):
    """A pool where the deleted shop held units of item i1 that another shop (s2) now has to push."""

    def __init__(self) -> None:
        super().__init__()
        self.released: list[str] = []

    async def release_shop(self, shop_id: str) -> PoolChange:
        self.released.append(shop_id)
        return PoolChange(frozenset({"i1"}), frozenset({"s2"}), "m1")


async def test_a_delete_locks_the_shop_releases_its_reservations_and_signals_their_items(world: World) -> None:
    shop = await world.connect("m1")
    world.clock.advance(timedelta(minutes=1))
    pool = ReleasingPool()
    locked: list[bool] = []

    def uow() -> FakeUnitOfWork:
        unit = world.uow()
        read = unit.shops.get

        async def get(shop_id: str, merchant_id: str | None = None, *, for_delete: bool = False) -> Shop | None:
            locked.append(for_delete)
            return await read(shop_id, merchant_id, for_delete=for_delete)

        unit.shops.get = get  # type: ignore[method-assign]
        unit.inventory = pool
        return unit

    events = RecordingEvents()
    queue = FakeTaskQueue()
    assert await services.delete_shop(uow, world.clock, "m1", shop.id, events, queue) == shop.id
    assert locked == [True] and pool.released == [shop.id]
    assert queue.inventory_pushes == ["s2"] and events.item_changes == ["i1"]
    assert {(task.status, task.finished_at) for task in events.tasks} == {
        (SyncTaskStatus.CANCELLED, T0 + timedelta(minutes=1))
    }


class RecordingEvents(FakeEventPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.tasks: list[SyncTask] = []

    async def task_changed(self, task: SyncTask) -> None:
        await super().task_changed(task)
        self.tasks.append(task)
