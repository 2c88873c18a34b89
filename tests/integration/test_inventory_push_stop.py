"""A push run stopped mid-way (a worker's shutdown): a product whose Update Inventory was under way when the stop came
is finished first, TikTok's answer recorded; the claims that had sent nothing are handed back, due now (issue 8: the
restarted process pushes at once, not when the 120 s lease runs out while TikTok shows an older stock, and its fence
compares TikTok with what was really sent). A hold the fence made is let go at its horizon even when nothing else
pushes the product: the row is due again then."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from domain.services.inventory_push import push_shop
from domain.services.inventory_reconcile import inventory_tick, reconcile_shop
from tests.fakes import FakeClock
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    link_row,
    now,
    outbox_row,
    tiktok_stock,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push import pooled_product


async def test_a_stopped_push_finishes_the_product_in_flight_and_hands_back_the_others(world: PushWorld) -> None:
    # given two dirty products of a shop, pushed one at a time, the first held in flight at TikTok
    shop = await imported_shop(world)
    products: list[dict[str, Any]] = []
    for prefix in ("SB-00021-", "SB-00022-"):
        product, items, _ = await pooled_product(world, shop, prefix, on_hand=50)
        await change_stock(world, next(iter(items.values())), -5, [(shop.id, product["id"])])
        products.append(product)
    assert products[0]["id"] != products[1]["id"]
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    cut = asyncio.create_task(push_shop(shop.id, world.deps(holder="stopping", concurrency=1)))
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
    in_flight = world.sandbox.control("GET", "/inventory-updates")
    # when the worker stops (its run is cancelled), and TikTok then answers the call under way
    cut.cancel()
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    with pytest.raises(asyncio.CancelledError):
        await cut
    # then neither row is claimed any more: the one in flight is pushed (TikTok's answer recorded), the one that had
    # not started yet is due again
    assert in_flight["updates"] == []
    sent = {update["product_id"] for update in world.sandbox.control("GET", "/inventory-updates")["updates"]}
    assert len(sent) == 1
    for product in products:
        row = await outbox_row(world.db, shop, product["id"])
        assert row["claimed_by"] is None, product["id"]
        assert (row["dirty_version"] > row["pushed_version"]) is (product["id"] not in sent), product["id"]
        if product["id"] not in sent:  # handed back, with the stop's note
            assert row["last_error"] == "interrupted by a shutdown"


async def test_a_push_stopped_as_it_commits_its_claims_hands_them_back(world: PushWorld) -> None:
    # given a dirty product of a shop
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    await change_stock(world, next(iter(items.values())), -5, [(shop.id, product["id"])])
    # when the worker stops while the push's transaction that claims the product commits (the run is cancelled
    # then: the stop is raised once the commit is done, `adapters.db.sessions`)
    engine, seen = world.db.write_engine.sync_engine, {"claim": False, "stopped": False}

    def claiming(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen["claim"] = seen["claim"] or statement.startswith("UPDATE inventory_push_outbox SET claimed_by=")

    def committing(conn: Any) -> None:
        if seen["claim"] and not seen["stopped"]:
            seen["stopped"] = True
            cut.cancel()

    event.listen(engine, "before_cursor_execute", claiming)
    event.listen(engine, "commit", committing)
    try:
        cut = asyncio.create_task(push_shop(shop.id, world.deps(holder="stopping")))
        with pytest.raises(asyncio.CancelledError):
            await cut
    finally:
        event.remove(engine, "commit", committing)
        event.remove(engine, "before_cursor_execute", claiming)
    assert seen["stopped"]
    # then the claim is handed back due now, with the stop's note: the restarted process (or any worker) pushes it at
    # once, not after the lease (it was left claimed, and nothing pushed it before the scheduler's tick)
    row = await outbox_row(world.db, shop, product["id"])
    assert row["claimed_by"] is None and row["dirty_version"] > row["pushed_version"], row
    assert row["next_attempt_at"] <= now() and row["last_error"] == "interrupted by a shutdown", row
    assert world.sandbox.control("GET", "/inventory-updates")["updates"] == []


async def test_a_push_stopped_while_tiktok_takes_its_update_records_it_and_the_restart_holds_nothing(
    world: PushWorld,
) -> None:
    # given a fenced pooled SKU pushed at 50, then 5 units set aside in the pool (45 available)
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    tiktok_sku = next(iter(items))
    await change_stock(world, items[tiktok_sku], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    assert (await link_row(world.db, sku_ids[tiktok_sku]))["pushed_quantity"] == 50
    await change_stock(world, items[tiktok_sku], -5, [(shop.id, product["id"])])
    # when the worker stops while TikTok takes the update to 45 (held at the sandbox), and TikTok then accepts it
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    cut = asyncio.create_task(push_shop(shop.id, world.deps(holder="stopping", fence=True)))
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
    cut.cancel()
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    with pytest.raises(asyncio.CancelledError):
        await cut
    # then what TikTok accepted is recorded, and the row is pushed, not handed back
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 45
    link = await link_row(world.db, sku_ids[tiktok_sku])
    assert (link["pushed_quantity"], link["held_quantity"]) == (45, 0)
    row = await outbox_row(world.db, shop, product["id"])
    assert row["claimed_by"] is None and row["dirty_version"] == row["pushed_version"]
    # and the restarted process's next push of the product takes no sale for unseen: TikTok's 45 is what it sent.
    # Unrecorded, the fence compared TikTok's 45 with the 50 pushed before and held 5 units back for no sale
    await change_stock(world, items[tiktok_sku], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(holder="restarted", fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 45
    assert (await link_row(world.db, sku_ids[tiktok_sku]))["held_quantity"] == 0


async def test_a_hold_is_let_go_at_its_horizon_though_nothing_else_pushes_the_product(world: PushWorld) -> None:
    # given a fenced pooled SKU pushed at 20, whose buyers then take 2 units at TikTok with their webhooks lost
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=20)
    sold = next(iter(items))
    horizon = timedelta(seconds=630)
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True, hold_horizon=horizon))
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": sold, "quantity": 2})
    # when a change pushes the product: the fence holds the 2 units back
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    clock = FakeClock(now())  # standing still from here: the hold starts at this push's reading
    await push_shop(shop.id, world.deps(clock=clock, fence=True, hold_horizon=horizon))
    link = await link_row(world.db, sku_ids[sold])
    assert (link["held_quantity"], sum(tiktok_stock(world.sandbox, shop)[sold].values())) == (2, 18)
    # and no poll ever brings those sales in (they were a Seller Center edit), nor does anything change the item

    async def ticked() -> list[str]:
        async def ignore(_: str) -> None:
            pass

        tick = await inventory_tick(
            world.deps(clock=clock, fence=True, hold_horizon=horizon), ignore, ignore, timedelta(days=1), {}
        )
        return tick.pushes

    # then the product is not due while its hold stands, and a reconcile meanwhile reads it as a clean product (the
    # push scheduled at the hold's end is no change waiting): TikTok shows what the push wrote, no drift
    clock.advance(horizon - timedelta(seconds=1))
    assert await ticked() == []

    async def no_push(_: str) -> None:
        raise AssertionError("no push is due")

    report = await reconcile_shop(shop.id, world.deps(clock=clock, fence=True, hold_horizon=horizon), no_push)
    assert (report.observed, report.drifted) == (len(items), [])
    # and once the hold is past its horizon, the scheduler finds the product due, and its push lets the units go
    clock.advance(timedelta(seconds=2))
    assert await ticked() == [shop.id]
    await push_shop(shop.id, world.deps(clock=clock, fence=True, hold_horizon=horizon))
    link = await link_row(world.db, sku_ids[sold])
    assert (link["held_quantity"], sum(tiktok_stock(world.sandbox, shop)[sold].values())) == (0, 20)
    # and nothing more is due after that: no hold stands
    clock.advance(horizon + timedelta(seconds=2))
    assert await ticked() == []


async def test_a_killed_workers_claims_keep_others_off_its_products_only_for_the_short_lease(world: PushWorld) -> None:
    # given a pooled SKU pushed at 50, then 5 units sold on another shop (45), and a worker that claimed the product
    # to push it and was killed (SIGKILL: no release, no record)
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    sku = next(iter(items))
    await change_stock(world, items[sku], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    await change_stock(world, items[sku], -5, [(shop.id, product["id"])])
    claimed_at = now()
    async with world.uows() as uow:
        assert await uow.inventory_push.claim_due(shop.id, "killed", claimed_at, world.deps().lease, 20)
        await uow.commit()
    # when another worker pushes the shop within the lease, nothing is pushed (the claim stands)...
    report = await push_shop(shop.id, world.deps(clock=FakeClock(claimed_at + timedelta(seconds=29))))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 50
    # ...but the run says when the lease runs out, for its actor to send the shop's push then
    assert report.due_at == claimed_at + world.deps().lease
    # then 31 s after the killed worker's claim its lease has run out, and the push shows the pool's 45 (with the
    # 120 s lease TikTok kept showing 50 for two minutes while other shops sold: units on sale twice)
    await push_shop(shop.id, world.deps(clock=FakeClock(claimed_at + timedelta(seconds=31))))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 45


async def test_a_live_push_keeps_its_claim_past_the_lease_by_renewing_it(world: PushWorld) -> None:
    # given a pooled SKU at 50 whose push to 45 is held in flight at TikTok
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    sku = next(iter(items))
    await change_stock(world, items[sku], -5, [(shop.id, product["id"])])
    clock = FakeClock(now())
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    pushing = asyncio.create_task(
        push_shop(shop.id, world.deps(holder="alive", clock=clock, renew_every=timedelta(milliseconds=20)))
    )
    try:
        await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
        lease = world.deps().lease

        async def renewed() -> bool:
            row = await outbox_row(world.db, shop, product["id"])
            return bool(row["claimed_by"] == "alive" and row["claimed_until"] > clock.now() + lease / 2)

        # when the call outlasts the lease (TikTok slow, the client retrying): twice its length, in steps shorter
        # than it, as time passes
        for _ in range(3):
            clock.advance(lease * 2 / 3)
            # then the run renews its claim at each step
            await until(renewed, "the claim renewed")
        # and no other worker takes the product meanwhile
        async with world.uows() as uow:
            assert await uow.inventory_push.claim_due(shop.id, "other", clock.now(), world.deps().lease, 20) == []
    finally:
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    await pushing
    # and the push records what TikTok took, its row pushed, not re-dirtied for a lost lease
    row = await outbox_row(world.db, shop, product["id"])
    assert (row["claimed_by"], row["dirty_version"]) == (None, row["pushed_version"])
    assert (await link_row(world.db, sku_ids[sku]))["pushed_quantity"] == 45
