"""The push fence when the merchant links a SKU by hand to another item while a push of its old item reads TikTok
(review61 F3, fence60b "not fixed" 5), below GraphQL: real database (both), the sandbox over HTTP as TikTok (its
Inventory Search held while the link changes). The move starts the link's fence anew from the product's read
(`links._fence_anew`) and keeps the old item's unseen sale as its moved hold; the push in flight must not write its
record and hold (the old item's) onto that link afterwards, or the new item's push holds the same sale back again."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from adapters.db.tables import deleted_shop_holds, inventory_items
from domain.clock import SystemClock
from domain.services.inventory_push import push_shop
from domain.services.shops import delete_shop
from tests.fixtures.sync import connect_shop
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    link_row,
    put_on_sale,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_crosslink import INVENTORY_SEARCH, until_held
from tests.integration.test_inventory_push_fence_manual import link_by_hand, sku_id_of
from tests.integration.test_inventory_push_fence_seed import (
    a_sellable_sku,
    ingest,
    read_page,
    sell,
    shop_orders,
    shown,
    write_page,
)


async def test_a_push_of_the_old_item_in_flight_across_a_hand_move_does_not_hold_its_sale_on_the_new_item(
    world: PushWorld,
) -> None:
    # given a sellable SKU under RED, pushed with the fence, and BLACK (50 on hand, nothing ever sold under it)
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox, "us-local", "m1")
    put_on_sale(world.sandbox, shop)
    orders = await shop_orders(world, shop)
    products = await read_page(world, shop)
    await write_page(world, shop, products)
    await ingest(world, shop, orders)
    sku = a_sellable_sku(world, shop, products, orders)
    sku_id = await sku_id_of(world, shop, sku.tiktok_sku_id)
    await push_shop(shop.id, world.deps(fence=True))
    first = await link_row(world.db, sku_id)
    red, product_id = first["inventory_item_id"], first["tiktok_product_id"]
    black = await add_item(world.db, "m1", "BLACK-1", 50)
    # and a sale of 1 under RED, unseen; RED +1, and RED's push holds the sale back
    sell(world, shop, sku.tiktok_sku_id)
    await change_stock(world, red, 1, [(shop.id, product_id)])
    await push_shop(shop.id, world.deps(fence=True))
    assert (await link_row(world.db, sku_id))["held_quantity"] == 1
    # and a products read after that push landed
    await write_page(world, shop, await read_page(world, shop))

    # when RED changes again, its push reads TikTok (held there), and meanwhile the merchant links the SKU to BLACK
    await change_stock(world, red, 1, [(shop.id, product_id)])
    world.sandbox.control("POST", "hold", {"paths": [INVENTORY_SEARCH]})
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))
    try:
        await until_held(world)
        await link_by_hand(world, shop, sku_id, black)
    finally:
        world.sandbox.control("POST", "hold", {"paths": []})
        world.sandbox.control("POST", "hold/release")
        await pushing
    await push_shop(shop.id, world.deps(fence=True))  # (any push still due for BLACK)
    final = await link_row(world.db, sku_id)
    async with world.db.read_sessionmaker() as session:
        items = inventory_items.c
        black_row = (await session.execute(select(items.on_hand, items.reserved).where(items.id == black))).one()
    pushed = (shown(world, shop, sku.tiktok_sku_id), final["held_quantity"], final["moved_hold_quantity"])
    # and the merchant deletes the shop within the hold's horizon
    await delete_shop(world.uows, SystemClock(), "m1", shop.id)
    async with world.db.read_sessionmaker() as session:
        held = deleted_shop_holds.c
        found = (await session.execute(select(held.inventory_item_id, held.quantity))).all()
    names = {red: "RED", black: "BLACK"}
    records = sorted((names.get(item_id, item_id), quantity) for item_id, quantity in found)

    # then BLACK's stock at TikTok is BLACK's available, nothing held back on BLACK for RED's sale (the read left it
    # out), the sale stands once, as RED's moved hold, and the delete takes it off RED only
    assert final["inventory_item_id"] == black
    assert (pushed, records) == ((black_row.on_hand - black_row.reserved, 0, 1), [("RED", 1)])
