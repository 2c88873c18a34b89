"""Reconcile and the inventory tick over fakes: TikTok's stock read in searches of at most 600 SKU ids, drift judged
against targets read after TikTok answered, only for products with no push pending, counted, recorded and pushed
again; shops that cannot be pushed are skipped; the tick re-enqueues stranded pushes and due reconciles."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.inventory_push import InventoryPolicy
from domain.ports import AuthorizationLostError
from domain.services.inventory_push import PushDeps, PushMetrics
from domain.services.inventory_reconcile import inventory_tick, reconcile_shop
from tests.fakes import T0, FakeClock, FakeStore, FakeUnitOfWork, make_shop
from tests.fakes_inventory_push import FakeInventoryApi, FakeLink, FakeOutboxRow

NOW = T0 + timedelta(hours=1)


class CountingMetrics(PushMetrics):
    def __init__(self) -> None:
        self.drifts: list[int] = []

    def drift_found(self, count: int) -> None:
        self.drifts.append(count)


class World:
    def __init__(self) -> None:
        self.store, self.clock, self.api = FakeStore(), FakeClock(NOW), FakeInventoryApi()
        self.shop = make_shop("m1", now=T0)
        self.store.shops[self.shop.id] = self.shop
        self.metrics = CountingMetrics()
        self.deps = PushDeps(self.uow, self.api.factory, self.clock, "w1", metrics=self.metrics)
        self.pushes: list[str] = []
        self.reconciles: list[str] = []

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def link(self, sku: str, product: str, available: int, tiktok: int | None, shop_id: str | None = None) -> FakeLink:
        """A linked SKU `sku` of `product` (TikTok SKU id `t-<sku>`), the pool's available, TikTok's (None: unknown)."""
        made = FakeLink(sku, f"t-{sku}", product, f"item-{sku}", available)
        if tiktok is not None:
            self.api.available[made.tiktok_sku_id] = tiktok
        return self.store.push.link(shop_id or self.shop.id, made)

    async def enqueue_push(self, shop_id: str) -> None:
        self.pushes.append(shop_id)

    async def enqueue_reconcile(self, shop_id: str) -> None:
        self.reconciles.append(shop_id)

    async def reconcile(self):  # type: ignore[no-untyped-def]
        return await reconcile_shop(self.shop.id, self.deps, self.enqueue_push)

    def outbox(self) -> dict[str, int]:
        return {p: row.dirty_version for (s, p), row in self.store.push.outbox.items() if s == self.shop.id}


@pytest.fixture
def world() -> World:
    return World()


async def test_a_sku_whose_tiktok_stock_differs_from_its_target_is_counted_recorded_and_pushed(world: World) -> None:
    # given a shop sharing 50 %: targets 4 (available 8), 3 (available 7), 0 (available 0)
    world.store.push.policies[world.shop.id] = InventoryPolicy(share_percent=50)
    world.link("a", "p1", 8, 4)
    edited = world.link("b", "p1", 7, 99)  # a Seller Center edit
    world.link("c", "p2", 0, 0)
    world.link("d", "p3", 5, None)  # TikTok does not report it
    # when reconciled
    report = await world.reconcile()
    # then one search of the sorted TikTok SKU ids; b drifted, and only its product is pushed again
    assert world.api.searches == [["t-a", "t-b", "t-c", "t-d"]]
    assert (report.observed, report.drifted, report.searches) == (3, ["b"], 1)
    assert (edited.observed_quantity, edited.observed_at, edited.drift_count) == (99, NOW, 1)
    kept = world.store.push.links[(world.shop.id, "a")]
    assert (kept.observed_quantity, kept.observed_at, kept.drift_count) == (4, NOW, 0)
    unseen = world.store.push.links[(world.shop.id, "d")]
    assert (unseen.observed_quantity, unseen.observed_at) == (None, None)
    assert world.outbox() == {"p1": 1}
    assert world.store.push.outbox[(world.shop.id, "p1")].next_attempt_at == NOW
    assert world.pushes == [world.shop.id] and world.metrics.drifts == [1]


async def test_no_drift_records_the_observation_and_pushes_nothing(world: World) -> None:
    world.link("a", "p1", 8, 8)
    world.link("b", "p2", -3, 0)  # oversold: target 0
    report = await world.reconcile()
    assert (report.observed, report.drifted, report.searches) == (2, [], 1)
    assert [(link.observed_at, link.drift_count) for link in world.store.push.shop_links(world.shop.id)] == [
        (NOW, 0),
        (NOW, 0),
    ]
    assert world.outbox() == {} and world.pushes == [] and world.metrics.drifts == []


async def test_drift_on_several_products_marks_each_once_and_enqueues_one_push(world: World) -> None:
    for sku, product in [("a", "p2"), ("b", "p1"), ("c", "p1")]:
        world.link(sku, product, 10, 1)
    report = await world.reconcile()
    assert report.drifted == ["a", "b", "c"] and world.outbox() == {"p1": 1, "p2": 1}
    assert world.pushes == [world.shop.id] and world.metrics.drifts == [3]


@pytest.mark.parametrize(("count", "calls"), [(600, [600]), (601, [600, 1]), (1201, [600, 600, 1])])
async def test_tiktok_is_searched_600_sku_ids_at_a_time(world: World, count: int, calls: list[int]) -> None:
    for i in range(count):
        world.link(f"s{i:05d}", f"p{i}", 1, 1 if i != count - 1 else 0)  # the last one drifted
    report = await world.reconcile()
    assert [len(ids) for ids in world.api.searches] == calls
    assert [sku for ids in world.api.searches for sku in ids] == [
        f"t-s{i:05d}" for i in range(count)
    ]  # each once, in order
    assert (report.observed, report.drifted, report.searches) == (count, [f"s{count - 1:05d}"], len(calls))


async def test_products_with_a_push_pending_are_left_out(world: World) -> None:
    # given a dirty product, a clean one held by a live lease, a clean one whose lease ran out, and a clean one
    world.link("a", "dirty", 5, 0)
    world.link("b", "leased", 5, 0)
    world.link("c", "expired", 5, 0)
    world.link("d", "clean", 5, 0)
    outbox = world.store.push.outbox
    outbox[(world.shop.id, "dirty")] = FakeOutboxRow(NOW, NOW, dirty_version=2, pushed_version=1)
    outbox[(world.shop.id, "leased")] = FakeOutboxRow(NOW, NOW, 1, 1, claimed_by="w2", claimed_until=NOW + timedelta(1))
    outbox[(world.shop.id, "expired")] = FakeOutboxRow(NOW, NOW, 1, 1, claimed_by="w2", claimed_until=NOW)
    # when reconciled, then only the products with nothing pending are read and judged
    report = await world.reconcile()
    assert world.api.searches == [["t-c", "t-d"]]
    assert (report.observed, report.drifted) == (2, ["c", "d"])


async def test_drift_is_judged_against_targets_read_after_tiktok_answered(world: World) -> None:
    # given TikTok showing 5 of an item with 10 available, at 100 %
    world.link("a", "p1", 10, 5)
    world.link("b", "p2", 10, 10)

    async def meanwhile() -> None:  # a sale of 5, and a push of p2 started
        world.store.push.links[(world.shop.id, "a")].available = 5
        world.store.push.outbox[(world.shop.id, "p2")] = FakeOutboxRow(NOW, NOW)

    world.api.during_call = meanwhile
    report = await world.reconcile()
    assert (report.observed, report.drifted) == (1, [])  # a matches its new target; b is no longer a candidate
    assert world.store.push.links[(world.shop.id, "b")].observed_at is None
    assert world.pushes == []


async def test_a_policy_changed_while_tiktok_answered_is_the_one_judged_against(world: World) -> None:
    world.link("a", "p1", 10, 5)

    async def meanwhile() -> None:
        world.store.push.policies[world.shop.id] = InventoryPolicy(share_percent=50)

    world.api.during_call = meanwhile
    assert (await world.reconcile()).drifted == []


async def test_a_shop_deleted_while_tiktok_answered_records_nothing(world: World) -> None:
    world.link("a", "p1", 10, 3)

    async def meanwhile() -> None:
        del world.store.shops[world.shop.id]

    world.api.during_call = meanwhile
    report = await world.reconcile()
    assert (report.observed, report.drifted, report.searches) == (0, [], 1)
    assert world.store.push.links[(world.shop.id, "a")].observed_at is None
    assert world.outbox() == {} and world.pushes == [] and world.metrics.drifts == []


@pytest.mark.parametrize("why", ["gone", "revoked", "expired", "push disabled", "no linked SKU"])
async def test_a_shop_that_cannot_be_pushed_is_not_searched(world: World, why: str) -> None:
    world.link("a", "p1", 10, 3) if why != "no linked SKU" else None
    if why == "gone":
        del world.store.shops[world.shop.id]
    elif why == "revoked":
        world.shop.revoke(T0)
    elif why == "expired":
        world.clock.current = world.shop.expires_at
    elif why == "push disabled":
        world.store.push.policies[world.shop.id] = InventoryPolicy(push_enabled=False)
    report = await world.reconcile()
    assert (report.observed, report.drifted, report.searches) == (0, [], 0)
    assert world.api.searches == [] and world.pushes == []


async def test_a_shop_expiring_soon_is_still_reconciled(world: World) -> None:
    world.link("a", "p1", 10, 3)
    world.clock.current = world.shop.expires_at - timedelta(days=1)
    assert (await world.reconcile()).drifted == ["a"]


async def tick(world: World, memory: dict, interval: timedelta = timedelta(minutes=30)):  # type: ignore[no-untyped-def,type-arg]
    return await inventory_tick(world.deps, world.enqueue_push, world.enqueue_reconcile, interval, memory)


def add_shop(world: World, tiktok_shop_id: str) -> str:
    shop = make_shop("m1", now=T0, tiktok_shop_id=tiktok_shop_id)
    world.store.shops[shop.id] = shop
    return shop.id


async def test_the_tick_enqueues_due_pushes_and_reconciles_of_shops_not_observed_within_the_interval(
    world: World,
) -> None:
    # given: shop 1 dirty and never observed; shop 2 observed 30 min ago (due); shop 3 observed 29 min ago
    one, two, three = world.shop.id, add_shop(world, "7002"), add_shop(world, "7003")
    world.link("a", "p1", 1, 1)
    world.store.push.outbox[(one, "p1")] = FakeOutboxRow(NOW, NOW)
    world.link("b", "p2", 1, 1, shop_id=two).observed_at = NOW - timedelta(minutes=30, microseconds=1)
    world.link("c", "p3", 1, 1, shop_id=three).observed_at = NOW - timedelta(minutes=29)
    memory: dict = {}  # type: ignore[type-arg]
    found = await tick(world, memory)
    assert (found.pushes, sorted(found.reconciles)) == ([one], sorted([one, two]))
    assert (world.pushes, sorted(world.reconciles)) == ([one], sorted([one, two]))
    assert memory == {one: NOW, two: NOW}


async def test_a_reconcile_enqueued_within_the_interval_is_not_sent_again_and_is_after_it(world: World) -> None:
    world.link("a", "p1", 1, 1)
    memory: dict = {world.shop.id: NOW - timedelta(minutes=30) + timedelta(microseconds=1)}  # type: ignore[type-arg]
    assert (await tick(world, memory)).reconciles == [] and world.reconciles == []
    memory[world.shop.id] = NOW - timedelta(minutes=30)  # exactly one interval ago: due again
    assert (await tick(world, memory)).reconciles == [world.shop.id] and memory == {world.shop.id: NOW}


async def test_a_failed_enqueue_is_left_to_the_next_tick_and_the_others_still_go(world: World) -> None:
    two = add_shop(world, "7002")
    failing = min(world.shop.id, two)  # first in both loops: pushes by due time, reconciles by shop id
    for shop_id, product in [(world.shop.id, "p1"), (two, "p2")]:
        world.link(product, product, 1, 1, shop_id=shop_id)
        due = NOW - timedelta(minutes=1) if shop_id == failing else NOW
        world.store.push.outbox[(shop_id, product)] = FakeOutboxRow(due, due)

    async def enqueue(sent: list[str], shop_id: str) -> None:
        if shop_id == failing:
            raise ConnectionError("redis down")
        sent.append(shop_id)

    memory: dict = {}  # type: ignore[type-arg]
    found = await inventory_tick(
        world.deps,
        lambda s: enqueue(world.pushes, s),
        lambda s: enqueue(world.reconciles, s),
        timedelta(minutes=30),
        memory,
    )
    other = max(world.shop.id, two)
    assert world.pushes == [other] and world.reconciles == [other]
    assert found.reconciles == [other] and memory == {other: NOW}  # the failed one is tried again next tick
    assert sorted(found.pushes) == sorted([world.shop.id, two])


async def test_a_shop_reconciled_recently_does_not_hold_back_the_next_one(world: World) -> None:
    two = add_shop(world, "7002")
    recent, due = sorted([world.shop.id, two])
    world.link("a", "p1", 1, 1, shop_id=recent)
    world.link("b", "p2", 1, 1, shop_id=due)
    memory: dict = {recent: NOW - timedelta(minutes=1)}  # type: ignore[type-arg]
    assert (await tick(world, memory)).reconciles == [due] and world.reconciles == [due]


async def test_the_tick_takes_at_most_1000_shops_of_each_kind(world: World) -> None:
    for i in range(1001):
        shop_id = add_shop(world, str(8000 + i))
        world.link(f"s{i}", f"p{i}", 1, 1, shop_id=shop_id)
        world.store.push.outbox[(shop_id, f"p{i}")] = FakeOutboxRow(NOW, NOW)
    found = await tick(world, {})
    assert (len(found.pushes), len(found.reconciles)) == (1000, 1000)


async def test_an_authorization_tiktok_refuses_revokes_the_shop_at_once(world: World, caplog) -> None:
    # given a linked SKU, and TikTok refusing the shop's access token
    world.link("a", "p1", 8, 4)
    world.api.error = AuthorizationLostError("36009004 The x-tts-access-token header is invalid")
    # when reconciled
    report = await world.reconcile()
    # then the shop is revoked now (REAUTHORIZATION_REQUIRED), said in one WARNING line, and nothing is recorded
    assert world.store.shops[world.shop.id].revoked_at == NOW
    assert [r.levelname for r in caplog.records if "refused its authorization" in r.getMessage()] == ["WARNING"]
    assert (report.observed, report.drifted, world.pushes) == (0, [], [])
