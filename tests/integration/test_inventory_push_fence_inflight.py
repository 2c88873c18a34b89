"""The push fence's count of a link's last push against the ledger writes that land while that push is in flight
(README, "Shared inventory pool": the fence), below GraphQL: real database (both), the sandbox over HTTP as TikTok.

A push reads the ledger's running count of its SKU (`LinkedSku.ingested`) with the targets, sends them, and records
that count as the one its pushed quantity pairs with (`sku_links.ingested_at_push`). An order batch may move that
recorded count meanwhile: lines TikTok's available had already lost before the fence's baseline (reserved in the
seed, `ledger._counted_before_push`) raise it with the running count, so the fence never takes them for sales
applied since. The push's record must keep such a move; written over it with the count it read, the next push took
those lines for sales since, and as many sales TikTok made unseen went back on sale.

An ordinary release (a cancellation the ledger applies) while a push is in flight is a release since that push's
read, and counted once by the next push: the push records the released count it read (`released_at_push`), not the
one after. (A release of an order cancelled before the seeding read, which moves that column too, is kept:
`test_inventory_push_fence_released_early.py`.)
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.db.tables import sku_links
from domain.services.inventory_push import push_shop
from tests.fixtures.sync import connect_shop
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    link_row,
    updates,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_orders import cancel, pooled_sku, push_change
from tests.integration.test_inventory_push_fence_orders import ingest as ingest_orders
from tests.integration.test_inventory_push_fence_seed import (
    a_sellable_sku,
    ingest,
    open_units,
    read_page,
    sell,
    shop_orders,
    shown,
    write_page,
)

PUSH_ENDS = ["recorded", "left-unrecorded"]


@pytest.mark.parametrize("push_end", PUSH_ENDS, ids=PUSH_ENDS)
async def test_orders_the_seed_left_out_ingested_during_a_push_do_not_hide_a_later_unseen_sale(
    world: PushWorld, push_end: str
) -> None:
    # given a shop whose product page seeded a new item with TikTok's stock of a SKU (A units), while the shop's
    # open orders of that SKU, made before the read (which TikTok's available had left out), are not ingested yet
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox)
    orders = await shop_orders(world, shop)
    products = await read_page(world, shop)
    sku = a_sellable_sku(world, shop, products, orders)
    assert open_units(orders, sku.tiktok_sku_id) > 0
    (product_id,) = {
        p.product().tiktok_product_id
        for p in products
        if any(s.tiktok_sku_id == sku.tiktok_sku_id for s in p.product().skus)
    }
    read = shown(world, shop, sku.tiktok_sku_id)
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})
    await write_page(world, shop, products)
    async with world.db.read_sessionmaker() as session:
        item_id = (
            await session.execute(
                select(sku_links.c.inventory_item_id).where(sku_links.c.tiktok_sku_id == sku.tiktok_sku_id)
            )
        ).scalar_one()
    # and the merchant receives 2 units: a fenced push writes A + 2, its Update Inventory held at TikTok
    await change_stock(world, item_id, 2, [(shop.id, product_id)])
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    stop_wait = timedelta(0) if push_end == "left-unrecorded" else timedelta(seconds=15)
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True, stop_wait=stop_wait)))
    try:
        await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
        # when the orders import brings the open orders the seed left out while that push is in flight
        await ingest(world, shop, orders)
        if push_end == "left-unrecorded":  # (and the push's worker dies before it records TikTok's answer)
            pushing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pushing
    finally:
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    if push_end == "recorded":
        await pushing
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 0)
    assert shown(world, shop, sku.tiktok_sku_id) == read + 2

    # and a buyer then takes 1 unit at TikTok whose webhook is lost, before the product's next push
    sell(world, shop, sku.tiktok_sku_id)
    await change_stock(world, item_id, 0, [(shop.id, product_id)])
    await push_shop(shop.id, world.deps(fence=True))

    # then that push holds the unit sold back: TikTok goes on showing A + 1. Recorded over with the count the
    # in-flight push had read (by its record, or, left unrecorded, by the next push taking its intent as applied),
    # the orders' units passed for sales since, hid the unseen one, and the push put it back on sale (A + 2).
    assert shown(world, shop, sku.tiktok_sku_id) == read + 1


async def test_a_cancellation_released_during_a_push_is_counted_once_by_the_next(world: PushWorld) -> None:
    # given a pooled SKU at 10 with a sale ingested and pushed (9 at TikTok and in the pool)
    shop = await imported_shop(world)
    product_id, tiktok_sku_id, item_id, sku_id = await pooled_sku(world, shop, on_hand=10)
    order = sell(world, shop, tiktok_sku_id)
    await ingest_orders(world, shop, order)
    await push_change(world, shop, item_id, product_id)
    assert shown(world, shop, tiktok_sku_id) == 9
    # and the buyer cancels at TikTok (10 there), unseen yet: a fenced push of the product finds TikTok 1 unit above
    # the pool, writes 9 over it and keeps that unit restored unseen, its Update Inventory held at TikTok
    cancel(world, order)
    await change_stock(world, item_id, 0, [(shop.id, product_id)])
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))
    try:
        await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
        # when the ledger releases the cancellation while that push is in flight (the pool's 10)
        await ingest_orders(world, shop, order)
    finally:
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    await pushing
    # then the run's next push of the product (the release made it due again) counts that release once, as one since
    # the in-flight push's read: it makes up for the unit that push restored unseen, nothing is held back and TikTok
    # shows the pool's 10. (Recorded with the count of after the release, the push would have lost it: the release's
    # negative count since would pass for a unit TikTok gained, and 1 unit was held back for nothing.)
    sent = [sum(w["quantity"] for w in u["skus"][0]["inventory"]) for u in updates(world.sandbox, shop, product_id)]
    assert sent[-2:] == [9, 10]
    assert shown(world, shop, tiktok_sku_id) == 10
    assert ((row := await link_row(world.db, sku_id))["held_quantity"], row["restored_quantity"]) == (0, 0)
