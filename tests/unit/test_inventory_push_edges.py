"""Pushing the pool to TikTok over fakes, continued: the fence's boundaries, refreshed warehouses sent to the default
one, every claim finished before a failure is raised, a stop after the lease was lost, tokens refreshed mid-push,
and the links dated when their results are recorded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from domain.catalog import Money, Product, Sku, WarehouseStock
from domain.services.inventory_push import CLAIMS_PER_TRANSACTION
from domain.stock_levels import Warehouse
from tests.fakes import T0, make_tokens
from tests.unit.test_inventory_push_services import NOW, World, refusal


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize(
    ("tiktok", "ingested", "sent"),
    [
        (19, 0, 17),  # 1 unit sold on TikTok, not ingested: held back, 18 - 1
        (20, 0, 18),  # nothing sold since the push: the pool's 18 is sent
        (19, 1, 18),  # the one sale already ingested: nothing held back
        (17, 1, 16),  # 3 sold, 1 ingested: 2 held back
    ],
)
async def test_the_fence_holds_back_exactly_the_units_sold_and_not_yet_ingested(
    world: World, tiktok: int, ingested: int, sent: int
) -> None:
    # given a SKU pushed at 20 an hour ago, its item now at 18
    world.deps.fence = True
    link = world.link("a", "p1", 18)
    link.pushed_quantity, link.pushed_at = 20, NOW - timedelta(hours=1)
    if ingested:
        world.store.push.ingested = [(world.shop.id, "t-a", ingested, NOW - timedelta(minutes=5))]
    world.api.available["t-a"] = tiktok
    world.dirty("p1")
    await world.push()
    assert world.sent() == [("p1", [("t-a", [("", sent)])])] and link.pushed_quantity == sent


async def test_a_sku_whose_warehouses_changed_is_sent_again_on_the_shops_default_warehouse(world: World) -> None:
    # given a SKU in two warehouses, moved by TikTok to three, the shop's default sales warehouse w2
    link = world.link("a", "p1", 5, "w1", "w3")
    world.dirty("p1")
    world.api.warehouse_list = [Warehouse("w2", None, "SALES_WAREHOUSE", "ENABLED", True)]
    stock = tuple(WarehouseStock(w, 0) for w in ("w1", "w2", "w3"))
    sku = Sku("t-a", "A", Money(Decimal(1), "USD"), stock)
    world.api.products["p1"] = Product("p1", "Mug", "ACTIVATE", T0, T0, (sku,))
    world.api.results = [refusal("t-a", 12019028, "warehouse changed")]
    report = await world.push()
    # then the retry puts the target on w2, the default, and 0 on the others
    assert report.calls == 2 and world.sent()[1] == ("p1", [("t-a", [("w1", 0), ("w2", 5), ("w3", 0)])])
    assert (link.warehouse_ids, link.pushed_quantity) == (("w1", "w2", "w3"), 5)


async def test_a_failing_product_is_raised_only_once_every_other_claim_is_finished(world: World) -> None:
    world.link("a", "p1", 5)
    world.link("b", "p2", 6)
    world.dirty("p1")
    slow = world.dirty("p2")

    async def meanwhile() -> None:
        if world.api.updates[-1][0] == "p1":
            raise RuntimeError("bug")
        for _ in range(20):  # p2 is still in flight when p1 fails
            await asyncio.sleep(0)

    world.api.during_call = meanwhile
    with pytest.raises(RuntimeError):
        await world.push()
    assert (slow.pushed_version, slow.claimed_by) == (1, None)


async def test_a_stop_after_another_worker_took_the_row_marks_it_dirty_again_now(world: World) -> None:
    world.link("a", "p1", 5)
    row = world.dirty("p1")
    started, never = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        started.set()
        await never.wait()

    world.api.during_call = held
    world.deps.stop_wait = timedelta(0)  # the push outlasts the stop's wait (15 s in production) at once
    push = asyncio.create_task(world.push())
    await started.wait()
    world.clock.advance(timedelta(minutes=3))
    row.claimed_by = "w2"  # our lease ran out and another worker claimed the row
    push.cancel()
    with pytest.raises(asyncio.CancelledError):
        await push
    assert (row.dirty_version, row.next_attempt_at, row.updated_at, row.claimed_by) == (
        2, NOW + timedelta(minutes=3), NOW + timedelta(minutes=3), "w2",
    )  # fmt: skip


async def test_tokens_the_client_refreshes_mid_push_are_saved_and_dated(world: World) -> None:
    world.link("a", "p1", 5)
    world.dirty("p1")
    fresh = replace(make_tokens(T0), access_token="access-2", refresh_token="refresh-2")

    async def refreshed() -> None:
        world.clock.advance(timedelta(minutes=2))
        assert world.api.on_tokens_refreshed is not None
        await world.api.on_tokens_refreshed.refreshed(fresh)

    world.api.during_call = refreshed
    await world.push()
    shop = world.store.shops[world.shop.id]
    assert (shop.tokens.access_token, shop.tokens_refreshed_at) == ("access-2", NOW + timedelta(minutes=2))


async def test_links_are_dated_when_their_result_or_error_is_recorded(world: World) -> None:
    accepted, refused = world.link("a", "p1", 5), world.link("b", "p1", 6)
    world.dirty("p1")
    world.api.results = [refusal("t-b", 12019024, "quantity out of range")]

    async def slow() -> None:
        world.clock.advance(timedelta(minutes=1))

    world.api.during_call = slow
    await world.push()
    assert (accepted.pushed_at, accepted.updated_at) == (NOW, NOW + timedelta(minutes=1))  # read, then recorded
    assert (refused.push_error_code, refused.updated_at) == ("12019024", NOW + timedelta(minutes=1))


async def test_a_fenced_round_finishes_its_unchanged_products_on_one_read_of_600_ids_a_call(world: World) -> None:
    # given 350 dirty products of 2 SKUs each (700 SKUs), TikTok showing every target but one SKU of 3 products
    world.deps.fence = True
    for n in range(350):
        for variant in "ab":
            world.link(f"{n:03d}{variant}", f"p{n:03d}", 5)
            world.api.available[f"t-{n:03d}{variant}"] = 5
        world.dirty(f"p{n:03d}")
    for changed in ("010", "100", "200"):
        world.api.available[f"t-{changed}a"] = 6
    commits = world.store.commits
    # when the shop is pushed
    report = await world.push()
    # then TikTok's stock was read in 2 calls (600 + 100 SKU ids), which finished the 347 unchanged products, 50 a
    # transaction (each holds the shop, which a shop's delete waits for); each of the 3 others was read again on its
    # own right before its write
    assert [len(ids) for ids in world.api.searches] == [600, 100, 2, 2, 2]
    assert sorted(sku for ids in world.api.searches[:2] for sku in ids) == sorted(world.api.available)
    assert world.api.searches[2:] == [[f"t-{n}a", f"t-{n}b"] for n in ("010", "100", "200")]
    assert [product for product, _ in world.api.updates] == ["p010", "p100", "p200"]
    assert (report.products, report.calls) == (350, 3) and set(world.api.available.values()) == {5}
    # the claim, the unchanged products, two per product written: what it sends before the call, TikTok's answer after
    assert world.store.commits - commits == 1 + 7 + 3 * 2
    assert {(row.pushed_version, row.claimed_by) for row in world.store.push.outbox.values()} == {(1, None)}
    assert {link.pushed_quantity for link in world.store.push.links.values()} == {5}
    assert world.metrics.sent.count("noop") == 347 and world.metrics.sent.count("ok") == 3


async def test_a_product_needing_a_write_is_read_again_right_before_it(world: World) -> None:
    # given 6 dirty products (more than are pushed at once: the round reads them together): p0's SKU pushed at 9 an
    # hour ago and still shown at 9 by TikTok, its item now at 5; the others shown at their target
    world.deps.fence = True
    link = world.link("s0", "p0", 5)
    link.pushed_quantity, link.pushed_at = 9, NOW - timedelta(hours=1)
    world.api.available["t-s0"] = 9
    for n in range(1, 6):
        world.link(f"s{n}", f"p{n}", 5)
        world.api.available[f"t-s{n}"] = 5
    for n in range(6):
        world.dirty(f"p{n}")

    async def a_buyer_takes_2_after_the_rounds_read() -> None:
        if len(world.api.searches) + len(world.api.updates) == 2:  # the next call to TikTok after the round's read
            world.api.available["t-s0"] -= 2

    world.api.during_call = a_buyer_takes_2_after_the_rounds_read
    # when the shop is pushed
    await world.push()
    # then p0's SKU was read again before its write, which holds back the 2 units sold since (5 - 2), not put them
    # back on sale (5); the round's read served only to finish the 5 unchanged products
    assert world.sent() == [("p0", [("t-s0", [("", 3)])])] and link.pushed_quantity == 3
    assert world.api.searches == [[f"t-s{n}" for n in range(6)], ["t-s0"]]


@pytest.mark.parametrize("products", [1, 2, 4])
async def test_a_round_of_at_most_concurrency_claims_reads_once_per_product(world: World, products: int) -> None:
    # given a sale dirtied 1, 2 or 4 products (at most `concurrency`), each with 2 SKUs one unit off at TikTok
    world.deps.fence = True
    assert products <= world.deps.concurrency
    for n in range(products):
        world.link(f"{n}a", f"p{n}", 5)
        world.link(f"{n}b", f"p{n}", 5)
        world.api.available |= {f"t-{n}a": 6, f"t-{n}b": 5}
        world.dirty(f"p{n}")
    # when the shop is pushed
    report = await world.push()
    # then no round-wide read: one Inventory Search per product, right before its Update Inventory
    assert sorted(world.api.searches) == [[f"t-{n}a", f"t-{n}b"] for n in range(products)]
    assert (report.products, report.calls) == (products, products) and set(world.api.available.values()) == {5}


def _all_needing_a_write(world: World, *, products: int, batch: int) -> None:
    """Fenced pushes of `batch` products a round; products p0.. dirty, each with one linked SKU s0.. whose pool
    target (5) differs from TikTok's available (9)."""
    world.deps.fence, world.deps.batch = True, batch
    for n in range(products):
        world.link(f"s{n}", f"p{n}", 5)
        world.api.available[f"t-s{n}"] = 9
        world.dirty(f"p{n}")


async def test_claims_handed_back_go_back_at_most_50_a_transaction(world: World) -> None:
    # given 120 dirty products all needing a write, 10 pushed per round: a fenced round claims them all
    _all_needing_a_write(world, products=120, batch=10)
    # when the shop is pushed
    report = await world.push()
    # then every product was pushed, and the 110 claims the first round handed back went back 50, 50 and 10 a
    # transaction (CLAIMS_PER_TRANSACTION: each holds the shop, which a shop's delete waits for); then each
    # product's push finished its own claim
    assert (report.products, report.calls) == (120, 120) and set(world.api.available.values()) == {5}
    finished = world.store.claims_finished_per_commit
    assert finished == [CLAIMS_PER_TRANSACTION, CLAIMS_PER_TRANSACTION, 10] + [1] * 120, finished


async def test_products_needing_a_write_beyond_batch_are_handed_back_and_pushed_by_the_next_rounds(
    world: World,
) -> None:
    # given 6 dirty products all needing a write, 2 pushed per round
    _all_needing_a_write(world, products=6, batch=2)
    # when the shop is pushed
    report = await world.push()
    # then the first round read all 6 and pushed 2, each read again before its write, and handed 4 back due now;
    # the next rounds claimed 2 at a time (no round-wide read for 2) and pushed them, each read once
    assert world.api.searches == [[f"t-s{n}" for n in range(6)]] + [[f"t-s{n}"] for n in range(6)]
    assert (report.products, report.calls) == (6, 6) and set(world.api.available.values()) == {5}
    rows = world.store.push.outbox.values()
    assert {(row.pushed_version, row.claimed_by, row.last_error, row.attempts) for row in rows} == {(1, None, None, 0)}
