"""The push fence when the merchant links a SKU to another item and back while a push of its product reads TikTok
(soak59 F3: crosslinks Red -> Black -> Red within seconds, then a hold no sale explained), below GraphQL: real
database (both), the sandbox over HTTP as TikTok (its Inventory Search held while the links change). The push must
record the fence's counts as it read them: no sale was made unseen, so no later push holds a unit back."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from adapters.db.tables import sku_ledger_units
from domain.services.inventory_push import push_shop
from domain.shops import Shop
from tests.fixtures.sync import connect_shop
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    link_row,
    put_on_sale,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_manual import link_by_hand, sku_id_of
from tests.integration.test_inventory_push_fence_seed import (
    a_sellable_sku,
    fetched,
    ingest,
    read_page,
    sell,
    shop_orders,
    shown,
    write_page,
)

INVENTORY_SEARCH = "/product/202309/inventory/search"


async def until_held(world: PushWorld, calls: int = 1) -> None:
    """Until `calls` held Inventory Search calls wait at the sandbox (the push reads TikTok now)."""
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while world.sandbox.control("GET", "hold")["waiting"] < calls:
        assert asyncio.get_running_loop().time() < deadline, "no Inventory Search call was held"
        await asyncio.sleep(0.02)  # (the push's request is on its way: this loop runs it)


async def running_ingested(world: PushWorld, shop: Shop, tiktok_sku_id: str) -> int:
    units = sku_ledger_units.c
    async with world.db.read_sessionmaker() as session:
        query = select(units.ingested).where(units.shop_id == shop.id, units.tiktok_sku_id == tiktok_sku_id)
        return int((await session.execute(query)).scalar_one_or_none() or 0)


async def test_a_link_moved_to_another_item_and_back_while_a_push_reads_tiktok_leaves_no_false_hold(
    world: PushWorld,
) -> None:
    # given a shop's page read and written as the import does (its SKUs auto-linked, each seeded item from the page's
    # stock), its orders ingested, and a first fenced push (TikTok shows every target, nothing held)
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox, "us-local", "m1")
    put_on_sale(world.sandbox, shop)
    orders = await shop_orders(world, shop)
    products = await read_page(world, shop)
    await write_page(world, shop, products)
    await ingest(world, shop, orders)
    sku = a_sellable_sku(world, shop, products, orders)
    sku_id = await sku_id_of(world, shop, sku.tiktok_sku_id)
    await push_shop(shop.id, world.deps(fence=True))
    red = (await link_row(world.db, sku_id))["inventory_item_id"]
    black = await add_item(world.db, "m1", "BLACK-1", 50)
    assert (await link_row(world.db, sku_id))["held_quantity"] == 0

    # and a buyer's sale of the SKU, ingested (TikTok and the pool both one unit down: the product is dirty, and
    # TikTok already shows its new target)
    await ingest(world, shop, [await fetched(world, shop, sell(world, shop, sku.tiktok_sku_id))])

    # when the product's push reads TikTok (its Inventory Search held at the sandbox) and meanwhile the page is read
    # again (the sale's new stock, read after the first push landed) and the merchant links the SKU to another item
    # and back within seconds (`skuLink` Red -> Black -> Red, soak59 run4)
    world.sandbox.control("POST", "hold", {"paths": [INVENTORY_SEARCH]})
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))
    try:
        await until_held(world)
        await write_page(world, shop, await read_page(world, shop))
        await link_by_hand(world, shop, sku_id, black)
        await link_by_hand(world, shop, sku_id, red)
    finally:
        world.sandbox.control("POST", "hold", {"paths": []})
        world.sandbox.control("POST", "hold/release")
        await pushing

    # then the link's fence count is the shop's running count of the SKU (the product, marked again by the link
    # changes, was pushed once more in the same run)
    link = await link_row(world.db, sku_id)
    assert link["inventory_item_id"] == red
    assert link["ingested_at_push"] == await running_ingested(world, shop, sku.tiktok_sku_id)

    # and the next push (the merchant adds a unit) holds nothing back: no sale was made unseen, TikTok shows the
    # pool's target (before: 1 unit held back as sold unseen, the hold soak59's delete made a deduction for good: the
    # held read's record counted the Black link's new count less the old one again, as if order batches had moved it
    # while the push was in flight, `inventory_push_links._counted_at`)
    await change_stock(world, red, 1, [(shop.id, link["tiktok_product_id"])])
    await push_shop(shop.id, world.deps(fence=True))
    link = await link_row(world.db, sku_id)
    assert link["held_quantity"] == 0
    assert shown(world, shop, sku.tiktok_sku_id) == link["pushed_quantity"]
