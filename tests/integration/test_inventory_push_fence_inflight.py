"""The push fence's count of a link's last push against the ledger writes that land while that push is in flight
(README, "Shared inventory pool": the fence), below GraphQL: real database (both), the sandbox over HTTP as TikTok.

A push reads the ledger's running count of its SKU (`LinkedSku.ingested`) with the targets, sends them, and records
that count as the one its pushed quantity pairs with (`sku_links.ingested_at_push`). An order batch may move that
recorded count meanwhile: lines TikTok's available had already lost before the fence's baseline (reserved in the
seed, `ledger._counted_before_push`) raise it with the running count, so the fence never takes them for sales
applied since. The push's record must keep such a move; written over it with the count it read, the next push took
those lines for sales since, and as many sales TikTok made unseen went back on sale.
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
    world_fixture,  # noqa: F401 - the `world` fixture
)
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
