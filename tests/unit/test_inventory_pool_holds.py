"""Units one shop's push holds back (a sale TikTok made there that the ledger has not ingested) count against the
pool item for every other link of it (`standing_hold`, `LinkedSku.held_elsewhere`), for the hold's horizon and until
the ledger applies the sale; a changed hold makes the other links' pushes due (`hold_changed`). The rule without
I/O, then `push_shop` over fakes with two shops of one merchant linked to one item."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.inventory_push import InventoryPolicy, LinkedSku, hold_changed, pushed_now, standing_hold
from domain.services.inventory_push import PushDeps, push_shop
from domain.services.inventory_reconcile import reconcile_shop
from tests.fakes import T0, FakeClock, FakeStore, FakeUnitOfWork, make_shop
from tests.fakes_inventory_push import FakeInventoryApi, FakeLink, FakeOutboxRow

NOW = T0 + timedelta(hours=1)
HORIZON = timedelta(seconds=630)


def held(units: int, since_ago: timedelta | None, ingested_since: int | None = 0) -> LinkedSku:
    """A link whose last push held back `units` since `since_ago` before NOW; `ingested_since`: units the ledger
    applied for it since that push (None: no count kept)."""
    since = None if since_ago is None else NOW - since_ago
    at_push = None if ingested_since is None else 5
    return LinkedSku(
        "s", "t", "p", "i", 10, (), 9, NOW - timedelta(minutes=1), units, since,
        ingested=5 + (ingested_since or 0), ingested_at_push=at_push,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("link", "standing"),
    [
        (held(0, None), 0),
        (held(2, timedelta(minutes=1)), 2),
        (held(2, HORIZON), 2),  # held exactly the horizon: still standing (`carried_hold`'s rule)
        (held(2, HORIZON + timedelta(seconds=1)), 0),  # past it: let go everywhere at once
        (held(2, timedelta(minutes=1), ingested_since=1), 1),  # one held sale ingested: its reservation replaces it
        (held(2, timedelta(minutes=1), ingested_since=3), 0),  # more ingested than held: never below 0
        (held(2, timedelta(minutes=1), ingested_since=-1), 2),  # a release since: the hold stays as it was
        (held(2, timedelta(minutes=1), ingested_since=None), 2),  # no count kept: the whole hold
    ],
    ids=["none", "fresh", "at-horizon", "past-horizon", "one-ingested", "all-ingested", "released", "no-count"],
)
def test_a_hold_stands_for_the_other_links_until_ingested_or_past_its_horizon(link: LinkedSku, standing: int) -> None:
    assert standing_hold(link, NOW, HORIZON) == standing


def test_a_hold_changes_the_other_links_only_when_what_they_subtract_changes() -> None:
    assert hold_changed(held(0, None), 1, NOW, HORIZON)  # a new hold
    assert not hold_changed(held(1, timedelta(minutes=1)), 1, NOW, HORIZON)  # carried as it was
    assert hold_changed(held(1, timedelta(minutes=1)), 0, NOW, HORIZON)  # ended (the ledger has it: no change)
    assert not hold_changed(held(1, timedelta(minutes=1), ingested_since=1), 0, NOW, HORIZON)
    assert hold_changed(held(1, HORIZON + timedelta(seconds=1)), 1, NOW, HORIZON)  # let go, then held anew
    # let go at its horizon: the other links subtracted it when they were pushed, and must be pushed again
    assert hold_changed(held(1, HORIZON + timedelta(seconds=1)), 0, NOW, HORIZON)
    # unless the ledger's reservations replaced it meanwhile (they subtract those from the item already)
    assert not hold_changed(held(1, HORIZON + timedelta(seconds=1), ingested_since=1), 0, NOW, HORIZON)
    assert not hold_changed(held(0, HORIZON + timedelta(seconds=1)), 0, NOW, HORIZON)  # nothing was held


def test_a_changed_hold_concerns_the_items_it_was_and_becomes_of_not_only_the_item_the_link_names() -> None:
    # a link pushed and holding under its own item: that item alone
    assert held(1, timedelta(minutes=1)).hold_items == {"i"}
    # a SKU linked by hand from CAP to HAT, CAP's record kept: a hold its push begins is CAP's; one it carries is of
    # the item it recorded (fence61: only HAT's other links were made due, and CAP's shops kept showing the sale)
    moved = replace(held(1, timedelta(minutes=1)), inventory_item_id="hat", pushed_item_id="cap", held_item_id="cap")
    assert moved.hold_items == {"hat", "cap"}
    assert replace(moved, pushed_item_id="hat", held_item_id="old").hold_items == {"hat", "old"}


def test_a_link_may_show_the_pool_less_the_other_links_holds() -> None:
    assert LinkedSku("s", "t", "p", "i", 10, (), held_elsewhere=3).pushable == 7


@pytest.mark.parametrize(
    ("link", "policy", "expected"),
    [
        (held(0, None), InventoryPolicy(), 10),
        (held(2, timedelta(minutes=1)), InventoryPolicy(), 8),  # its own hold, as the push wrote it
        (held(2, HORIZON + timedelta(seconds=1)), InventoryPolicy(), 10),  # let go: the next push writes 10
        (replace(held(0, None), held_elsewhere=3), InventoryPolicy(), 7),  # another link's hold
        (replace(held(2, timedelta(minutes=1)), held_elsewhere=3), InventoryPolicy(share_percent=50), 2),  # 5 x 50 %
    ],
    ids=["none", "own", "own-past-horizon", "elsewhere", "both-shared"],
)
def test_what_a_push_would_write_now(link: LinkedSku, policy: InventoryPolicy, expected: int) -> None:
    assert pushed_now(policy, link, NOW, HORIZON) == expected


class TwoShops:
    """Shops A and B of one merchant, each with one SKU linked to item `item-x` of 10 units, pushed at 10 five
    minutes ago, both pushed with the fence; TikTok shows 10 on both."""

    def __init__(self) -> None:
        self.store, self.clock, self.api = FakeStore(), FakeClock(NOW), FakeInventoryApi()
        self.a, self.b = make_shop("m1", now=T0, tiktok_shop_id="7001"), make_shop("m1", now=T0, tiktok_shop_id="7002")
        self.enqueued: list[str] = []
        self.links: dict[str, FakeLink] = {}
        for shop, sku in ((self.a, "a"), (self.b, "b")):
            self.store.shops[shop.id] = shop
            link = FakeLink(sku, f"t-{sku}", f"p-{sku}", "item-x", 10, pushed_quantity=10, ingested_at_push=0)
            link.pushed_at = NOW - timedelta(minutes=5)
            self.links[sku] = self.store.push.link(shop.id, link)
            self.api.available[f"t-{sku}"] = 10

        async def enqueue(shop_id: str) -> None:
            self.enqueued.append(shop_id)

        self.deps = PushDeps(self.uow, self.api.factory, self.clock, "w1", fence=True, enqueue_push=enqueue)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def row(self, sku: str) -> FakeOutboxRow | None:
        shop = self.a if sku == "a" else self.b
        return self.store.push.outbox.get((shop.id, f"p-{sku}"))

    def dirty(self, sku: str) -> None:
        shop = self.a if sku == "a" else self.b
        row = self.store.push.outbox.setdefault((shop.id, f"p-{sku}"), FakeOutboxRow(NOW, NOW, dirty_version=0))
        row.dirty_version += 1
        row.next_attempt_at = self.clock.now()  # due now, as the ledger's marks make it (`mark_push_dirty`)

    async def push(self, sku: str) -> None:
        await push_shop((self.a if sku == "a" else self.b).id, self.deps)

    async def a_holds_a_unit_b_shows_9(self) -> None:
        """Given A's buyer took 1 unit unseen (TikTok A: 9), A's push held it back and B's push showed 9 for it."""
        self.api.available["t-a"] = 9
        self.dirty("a")
        await self.push("a")
        await self.push("b")

    def ingest_sale_on_a(self) -> None:
        """The ledger applies the sale made at A: the item reserves its unit (9 available for both links)."""
        for link in self.links.values():
            link.available = 9
        self.store.push.ingested.append((self.a.id, "t-a", 1, self.clock.now()))
        self.dirty("a")
        self.dirty("b")


async def test_a_sale_held_back_on_one_shop_lowers_every_other_shop_of_the_item() -> None:
    # given shops A and B showing item-x's 10 units; a buyer takes 1 at A whose webhook is lost (TikTok A: 9)
    world = TwoShops()
    world.api.available["t-a"] = 9
    # when a change pushes A: the fence holds the unit back there
    world.dirty("a")
    await world.push("a")
    assert (world.links["a"].pushed_quantity, world.links["a"].held_quantity) == (9, 1)
    # then B's push is due at once (its message enqueued), and B is pushed 9: the unit sold at A is not on sale at B
    b_row = world.row("b")
    assert b_row is not None and b_row.dirty_version > b_row.pushed_version
    assert world.enqueued == [world.b.id]
    await world.push("b")
    assert world.api.available["t-b"] == 9 and world.links["b"].pushed_quantity == 9


async def test_an_ingested_sale_replaces_the_hold_without_counting_twice() -> None:
    # given A holding back 1 unit sold unseen, B pushed 9 for it
    world = TwoShops()
    await world.a_holds_a_unit_b_shows_9()
    assert world.api.available["t-b"] == 9
    # when the ledger applies A's sale (the item: 9 available) and B is pushed before A records its hold again
    world.clock.current = NOW + timedelta(seconds=20)
    world.ingest_sale_on_a()
    await world.push("b")
    # then B still shows 9: the reservation replaced the hold (both: 8, one unit never sold)
    assert world.api.available["t-b"] == 9 and world.links["b"].pushed_quantity == 9
    # and A's push ends its hold without making B due again (what B subtracts did not change)
    world.enqueued.clear()
    await world.push("a")
    assert world.links["a"].held_quantity == 0 and world.enqueued == []
    b_row = world.row("b")
    assert b_row is not None and b_row.dirty_version == b_row.pushed_version


async def test_a_hold_past_its_horizon_no_longer_lowers_the_other_shops() -> None:
    # given A holding back 1 unit that no sale ever explains (lowered in Seller Center), B pushed 9 for it
    world = TwoShops()
    await world.a_holds_a_unit_b_shows_9()
    assert world.api.available["t-b"] == 9
    # when B is pushed again past the hold's horizon (two polls brought no order)
    world.clock.current = NOW + world.deps.hold_horizon + timedelta(seconds=1)
    world.dirty("b")
    await world.push("b")
    # then B shows the pool's 10 again
    assert world.api.available["t-b"] == 10


async def test_a_hold_let_go_at_its_horizon_pushes_the_other_shops_again() -> None:
    # given A holding back 1 unit that no sale ever explains (lowered in Seller Center), B pushed 9 for it
    world = TwoShops()
    await world.a_holds_a_unit_b_shows_9()
    assert world.api.available["t-b"] == 9
    hold_end = world.row("a")
    assert hold_end is not None and hold_end.next_attempt_at > world.clock.now()  # A is due again at the hold's end
    # when nothing else happens until then, and A's push at the hold's end lets the hold go
    world.clock.current = hold_end.next_attempt_at
    world.enqueued.clear()
    await world.push("a")
    assert world.links["a"].held_quantity == 0
    # then B is due at once and, pushed, shows the pool's 10 again: the unit is on sale everywhere
    b_row = world.row("b")
    assert b_row is not None and b_row.dirty_version > b_row.pushed_version
    assert world.enqueued == [world.b.id]
    await world.push("b")
    assert world.api.available["t-b"] == 10


async def test_a_reconcile_counts_no_drift_where_a_push_held_units_back() -> None:
    # given A holding back 1 unit sold unseen (TikTok A: 9) and B pushed 9 for it; no push pending
    world = TwoShops()
    await world.a_holds_a_unit_b_shows_9()
    pushes: list[str] = []

    async def enqueue(shop_id: str) -> None:
        pushes.append(shop_id)

    # when both shops are reconciled within the hold's horizon
    reports = [await reconcile_shop(shop.id, world.deps, enqueue) for shop in (world.a, world.b)]
    # then neither drifted: each shows what its push wrote (the pool less the units held back, A's own or the other
    # shop's), so nothing is counted or pushed again
    assert [(report.observed, report.drifted) for report in reports] == [(1, []), (1, [])]
    assert pushes == [] and [link.drift_count for link in world.links.values()] == [0, 0]
    # and when the seller then sets A to 5 in Seller Center, A's next reconcile finds that drift all the same
    world.api.available["t-a"] = 5
    assert (await reconcile_shop(world.a.id, world.deps, enqueue)).drifted == ["a"]


async def test_a_reconcile_past_a_holds_horizon_pushes_again_without_counting_drift() -> None:
    # given A holding back 1 unit no order ever explains (TikTok A: 9) and B pushed 9 for it
    world = TwoShops()
    await world.a_holds_a_unit_b_shows_9()
    pushes: list[str] = []

    async def enqueue(shop_id: str) -> None:
        pushes.append(shop_id)

    # when B is reconciled past the hold's horizon (letting it go moved no counter: nothing marked B due)
    world.clock.current = NOW + world.deps.hold_horizon + timedelta(seconds=1)
    report = await reconcile_shop(world.b.id, world.deps, enqueue)
    # then B, showing what its last push wrote, is pushed again (to the pool's 10), and no drift is counted
    assert (report.drifted, report.stale, pushes, world.links["b"].drift_count) == ([], ["b"], [world.b.id], 0)
    await world.push("b")
    assert world.api.available["t-b"] == 10
