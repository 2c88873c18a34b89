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


async def test_a_fenced_round_reads_every_claimed_products_skus_600_ids_a_call(world: World) -> None:
    # given 350 dirty products of 2 SKUs each (700 SKUs), each SKU at TikTok one unit above its pool target
    world.deps.fence = True
    for n in range(350):
        for variant in "ab":
            world.link(f"{n:03d}{variant}", f"p{n:03d}", 5)
            world.api.available[f"t-{n:03d}{variant}"] = 6
        world.dirty(f"p{n:03d}")
    # when the shop is pushed
    report = await world.push()
    # then TikTok's stock was read in 2 calls (600 + 100 SKU ids), not one per product; every product was written
    assert [len(ids) for ids in world.api.searches] == [600, 100]
    assert sorted(sku for ids in world.api.searches for sku in ids) == sorted(world.api.available)
    assert (report.products, report.calls) == (350, 350)
    assert set(world.api.available.values()) == {5}


async def test_a_claim_whose_turn_comes_after_half_the_lease_is_handed_back_and_read_again(world: World) -> None:
    # given 4 dirty products pushed one at a time, the first Update Inventory taking 61 s (over half the lease)
    world.deps.fence, world.deps.concurrency = True, 1
    for n in range(4):
        world.link(f"s{n}", f"p{n}", 5)
        world.api.available[f"t-s{n}"] = 9
        world.dirty(f"p{n}")
    slow = [True]

    async def first_update_is_slow() -> None:
        if world.api.updates and slow:
            slow.pop()
            world.clock.advance(timedelta(seconds=61))

    world.api.during_call = first_update_is_slow
    # when the shop is pushed
    report = await world.push()
    # then the products still waiting were handed back and claimed again with a fresh reading of TikTok's stock
    assert [sorted(ids) for ids in world.api.searches] == [["t-s0", "t-s1", "t-s2", "t-s3"], ["t-s1", "t-s2", "t-s3"]]
    assert (report.products, report.calls) == (4, 4) and set(world.api.available.values()) == {5}
    rows = world.store.push.outbox.values()
    assert {(row.pushed_version, row.claimed_by, row.last_error) for row in rows} == {(1, None, None)}
