"""Store management over fakes, continued: what a caller reads (codes, messages, fields, signals), and races."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from domain.authorization import (
    ALREADY_USED,
    REAUTHORIZED_SHOP_DELETED,
    AuthorizationPurpose,
    AuthorizationRequest,
    state_digest,
)
from domain.errors import ErrorCode
from domain.ports import (
    AuthorizationLostError,
    GatewayRefusedError,
    OutcomeUnknownError,
    PoolChange,
    TikTokUnavailableError,
)
from domain.services import shops as services
from domain.shops import Region, Shop
from domain.sync import SyncTask, SyncTaskStatus
from tests.fakes import (
    T0,
    FakeEventPublisher,
    FakeInventoryRepository,
    FakeTaskQueue,
    FakeUnitOfWork,
    make_shop,
)
from tests.unit.test_shop_services import US_SHOP, World, expect


@pytest.fixture
def world() -> World:
    return World()


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
    assert (error.message, error.field) == ("Shop not found.", ("shopId",))


NEITHER_CODE_NOR_ERROR = (
    "Give the code or the error that TikTok's redirect carried with the state (this completion has neither)."
)


@pytest.mark.parametrize(
    ("code", "error", "expected", "message", "field"),
    [
        (
            "c1",
            "access_denied",
            ErrorCode.AUTHORIZATION_DENIED,
            "The authorization was declined on TikTok, so nothing was connected.",
            None,
        ),
        (None, None, ErrorCode.INVALID_INPUT, NEITHER_CODE_NOR_ERROR, ("code",)),
        ("", "", ErrorCode.INVALID_INPUT, NEITHER_CODE_NOR_ERROR, ("code",)),
    ],
)
async def test_a_completion_without_a_code_is_refused_with_a_message(
    world: World, code: str | None, error: str | None, expected: ErrorCode, message: str, field: tuple[str] | None
) -> None:
    world.tiktok.grant("c1", US_SHOP)
    refused = await expect(expected, world.complete(await world.start(), code=code, error=error))
    assert (refused.message, refused.field) == (message, field)
    assert world.tiktok.exchanged == []


@pytest.mark.parametrize(("code", "error"), [(None, None), ("", ""), ("", None)], ids=["none", "empty", "empty-code"])
async def test_a_completion_without_a_code_leaves_the_state_for_the_redirects_own_completion(
    world: World, code: str | None, error: str | None
) -> None:
    # Given a started authorization; when a frontend's first call carries neither code nor error
    world.tiktok.grant("c1", US_SHOP)
    state = await world.start()
    await expect(ErrorCode.INVALID_INPUT, world.complete(state, code=code, error=error))
    # then nothing was spent: the redirect's code still connects the shop
    assert world.store.authorizations[state_digest(state)].used_at is None
    outcome = await world.complete(state, code="c1")
    assert outcome.shop.tiktok_shop_id == "7001" and world.tiktok.exchanged == ["c1"]


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (TikTokUnavailableError("down"), "TikTok is not reachable right now; try again."),
        (AuthorizationLostError("bad code"), "TikTok did not accept the authorization; please authorize again."),
        (
            OutcomeUnknownError("the code exchange's answer was lost"),
            "TikTok did not answer the authorization in time, so whether it went through is unknown; "
            "please authorize again.",
        ),
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
         OutcomeUnknownError: ErrorCode.AUTHORIZATION_UNCONFIRMED, GatewayRefusedError: ErrorCode.TIKTOK_REJECTED,
         }[type(failure)],
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
    assert (error.message, error.field) == (ALREADY_USED, ("state",))
    assert world.tiktok.exchanged == [] and world.store.shops == {}


async def test_connecting_signals_the_queued_imports_after_the_commit(world: World) -> None:
    world.tiktok.grant("c1", US_SHOP)
    events = FakeEventPublisher()
    state = await world.start()
    outcome = await services.complete_authorization(
        world.uow, world.tiktok, world.queue, world.clock, state, "c1", None, "m1", events=events
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
    assert (error.message, error.field) == (REAUTHORIZED_SHOP_DELETED, ("state",))
    assert world.tiktok.exchanged == ["c1"]  # the connection's alone: said before TikTok is asked anything


async def test_a_rename_signals_the_shop(world: World) -> None:
    shop = await world.connect("m1")
    events = FakeEventPublisher()
    renamed = await services.rename_shop(world.uow, "m1", shop.id, "Ours", events)
    assert (renamed.id, renamed.name, events.shop_changes) == (shop.id, "Ours", [shop.id])


class ReleasingPool(FakeInventoryRepository):
    """A pool where the deleted shop held units of item i1 that another shop (s2) now has to push."""

    def __init__(self, staged: object, released: list[str]) -> None:
        super().__init__(staged)
        self.released = released

    async def release_shop(self, shop_id: str, hold_horizon: object = None, *, remember: bool = True) -> PoolChange:
        self.released.append(shop_id)
        return PoolChange(frozenset({"i1"}), frozenset({"s2"}), "m1")


async def test_a_delete_locks_the_shop_releases_its_reservations_and_signals_their_items(world: World) -> None:
    shop = await world.connect("m1")
    world.clock.advance(timedelta(minutes=1))
    released: list[str] = []
    locked: list[bool] = []

    def uow() -> FakeUnitOfWork:
        unit = world.uow()
        read = unit.shops.get

        async def get(shop_id: str, merchant_id: str | None = None, *, for_delete: bool = False) -> Shop | None:
            locked.append(for_delete)
            return await read(shop_id, merchant_id, for_delete=for_delete)

        unit.shops.get = get  # type: ignore[method-assign]
        unit.inventory = ReleasingPool(unit._staged, released)
        return unit

    events = RecordingEvents()
    queue = FakeTaskQueue()
    assert await services.delete_shop(uow, world.clock, "m1", shop.id, events, queue) == shop.id
    # (one read of the shop, the delete's, which takes it for the delete: its tasks are cancelled in that one
    # transaction, nothing asked of them before it, so a delete that rolls back leaves them as they were: review61b D1)
    assert locked == [True] and released == [shop.id]
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


async def test_a_shop_connected_or_renewed_is_dated_by_the_completion(world: World) -> None:
    world.clock.advance(timedelta(minutes=3))
    shop = await world.connect("m1")
    assert world.store.shops[shop.id].authorized_at == T0 + timedelta(minutes=3)
    world.clock.advance(timedelta(minutes=4))
    renewed = await world.connect("m1", code="c2", name="Mine again")  # Add store takes no name another shop has
    assert renewed.id == shop.id and world.store.shops[shop.id].authorized_at == T0 + timedelta(minutes=7)


async def test_a_reauthorization_request_naming_another_merchants_shop_finds_no_shop(world: World) -> None:
    # given a pending request of m2 that names m1's shop (never issued so: the guard holds however it came to be)
    shop = await world.connect("m1")
    request, state = AuthorizationRequest.start_reauthorization("m2", shop.id, Region.US, "Theirs", T0)
    world.store.authorizations[request.state_digest] = request
    world.tiktok.grant("c5", US_SHOP)
    error = await expect(ErrorCode.NOT_FOUND, world.complete(state, code="c5", merchant="m2"))
    assert error.message == REAUTHORIZED_SHOP_DELETED  # as for a deleted one: another merchant's shop is not told
    assert world.store.shops[shop.id].tokens.access_token == "access-c1"
