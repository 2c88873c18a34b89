"""An earlier push's intent the next push records as applied (`record_intents`' `applied`: its worker died between
TikTok taking the call and recording it, `domain.inventory_push.settled`) follows the rules of a push's own record
(fence62, fence61b "not fixed" 2), below GraphQL: real database (both), the sandbox over HTTP as TikTok (its Update
Inventory held while the dying push is cancelled, `applied_unrecorded`'s way).

- The split of a hold the push restarted carrying units of another item (review61 F2, migration 0059): CAP's 3
  carried by HAT's push, 2 more sold under HAT; recorded from the intent, all 5 were HAT's.
- The fence started anew by a hand move while the push read TikTok (review61 F3, `_not_fenced_anew`): recorded from
  the intent, RED's hold was written onto the link moved to BLACK, and BLACK's push held RED's sale back again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.db.tables import deleted_shop_holds
from domain.clock import SystemClock
from domain.services.inventory_push import push_shop
from domain.services.shops import delete_shop
from tests.fixtures.sync import connect_shop
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    link_row,
    put_on_sale,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_crosslink import INVENTORY_SEARCH, until_held
from tests.integration.test_inventory_push_fence_manual import available, link_by_hand, sku_id_of
from tests.integration.test_inventory_push_fence_seed import (
    a_sellable_sku,
    ingest,
    read_page,
    shop_orders,
    shown,
    write_page,
)
from tests.integration.test_inventory_push_unrecorded import applied_unrecorded


async def _pushed_sku(world: PushWorld) -> tuple[object, str, str, str]:
    """A sellable SKU of a connected shop, its page read and written before its first push (a hand move keeps that
    push's record), pushed with the fence: (the shop, its TikTok SKU id, its Shopbridge SKU id, its product id)."""
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox, "us-local", "m1")
    put_on_sale(world.sandbox, shop)
    orders = await shop_orders(world, shop)
    products = await read_page(world, shop)
    await write_page(world, shop, products)
    await ingest(world, shop, orders)
    sku = a_sellable_sku(world, shop, products, orders)
    sku_id = await sku_id_of(world, shop, sku.tiktok_sku_id)
    await push_shop(shop.id, world.deps(fence=True))
    return shop, sku.tiktok_sku_id, sku_id, (await link_row(world.db, sku_id))["tiktok_product_id"]


def _sell(world: PushWorld, shop: object, tiktok_sku_id: str, units: int) -> None:
    """A buyer's order of `units` at TikTok, its webhook lost."""
    sale = {"sku_id": tiktok_sku_id, "quantity": units}
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", sale)  # type: ignore[attr-defined]


async def _deleted_holds(world: PushWorld, names: dict[str, str]) -> list[tuple[str, int]]:
    """The holds a shop's delete took off items (`deleted_shop_holds`), by the items' `names`."""
    async with world.db.read_sessionmaker() as session:
        held = deleted_shop_holds.c
        found = (await session.execute(select(held.inventory_item_id, held.quantity))).all()
    return sorted((names.get(item_id, item_id), quantity) for item_id, quantity in found)


async def test_a_split_hold_recorded_from_an_applied_intent_keeps_each_part_with_its_item(world: PushWorld) -> None:
    # given a SKU under CAP pushed with the fence, and HAT (50 on hand)
    shop, tiktok_sku, sku_id, product_id = await _pushed_sku(world)
    cap = (await link_row(world.db, sku_id))["inventory_item_id"]
    hat = await add_item(world.db, "m1", "HAT-1", 50)
    # and a sale of 3 under CAP, unseen; the SKU linked by hand to HAT (CAP's record kept: the read is older; the
    # SKU's open orders reserve on HAT with it), whose push holds CAP's 3
    _sell(world, shop, tiktok_sku, 3)
    await link_by_hand(world, shop, sku_id, hat)
    await push_shop(shop.id, world.deps(fence=True))
    hat_available = await available(world, hat)
    held_for = (await link_row(world.db, sku_id))["held_item_id"]
    assert (shown(world, shop, tiktok_sku), held_for) == (hat_available - 3, cap)
    # and 2 more sold under HAT, unseen; HAT +1, whose push carries CAP's 3 and holds HAT's 2 anew (+1 - 5), taken by
    # TikTok while its worker dies before recording it
    _sell(world, shop, tiktok_sku, 2)
    await change_stock(world, hat, 1, [(shop.id, product_id)])
    await applied_unrecorded(world, shop.id)
    assert shown(world, shop, tiktok_sku) == hat_available + 1 - 5

    # when HAT +1 again: the next push records that push's intent as applied, then writes HAT's available less 5
    await change_stock(world, hat, 1, [(shop.id, product_id)])
    await push_shop(shop.id, world.deps(holder="restarted", fence=True))
    link = await link_row(world.db, sku_id)
    split = (shown(world, shop, tiktok_sku), link["held_quantity"], link["held_item_id"], link["held_item_quantity"])
    # and a products read, then the SKU linked back to CAP, and CAP's push
    await write_page(world, shop, await read_page(world, shop))
    await link_by_hand(world, shop, sku_id, cap)
    await push_shop(shop.id, world.deps(fence=True))
    back = await link_row(world.db, sku_id)
    cap_push = (shown(world, shop, tiktok_sku), back["held_quantity"], back["held_item_id"])

    # then the hold stays split, CAP's 3 and HAT's 2 (before: all 5 HAT's), and CAP's push after the link back holds
    # CAP's 3 (before: it held none and wrote CAP's available, 3 units sold unseen under CAP on sale again)
    cap_available = await available(world, cap)
    assert (split, cap_push) == ((hat_available + 2 - 5, 5, cap, 3), (cap_available - 3, 3, cap))


async def test_an_applied_intent_of_a_push_in_flight_across_a_hand_move_holds_nothing_on_the_new_item(
    world: PushWorld,
) -> None:
    # given a SKU under RED pushed with the fence, and BLACK (50 on hand, nothing ever sold under it)
    shop, tiktok_sku, sku_id, product_id = await _pushed_sku(world)
    red = (await link_row(world.db, sku_id))["inventory_item_id"]
    black = await add_item(world.db, "m1", "BLACK-1", 50)
    # and a sale of 1 under RED, unseen; RED +1, and RED's push holds the sale back; then a products read
    _sell(world, shop, tiktok_sku, 1)
    await change_stock(world, red, 1, [(shop.id, product_id)])
    await push_shop(shop.id, world.deps(fence=True))
    assert (await link_row(world.db, sku_id))["held_quantity"] == 1
    await write_page(world, shop, await read_page(world, shop))

    # when RED changes again, its push reads TikTok (held there), and meanwhile the merchant links the SKU to BLACK
    # (its fence started anew from the read, RED's sale its moved hold); the push commits its intent, TikTok takes
    # the call, and its worker dies before recording it
    await change_stock(world, red, 1, [(shop.id, product_id)])
    world.sandbox.control("POST", "hold", {"paths": [INVENTORY_SEARCH]})
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    dying = asyncio.create_task(push_shop(shop.id, world.deps(holder="dying", fence=True, stop_wait=timedelta(0))))
    try:
        await until_held(world)
        await link_by_hand(world, shop, sku_id, black)
        world.sandbox.control("POST", "hold", {"paths": []})
        world.sandbox.control("POST", "hold/release")
        await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
    finally:
        world.sandbox.control("POST", "hold", {"paths": []})
        world.sandbox.control("POST", "hold/release")
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 0)
    assert (await link_row(world.db, sku_id))["push_intent"] is not None
    # and BLACK's push (the restarted worker's) settles that intent
    await push_shop(shop.id, world.deps(holder="restarted", fence=True))
    final = await link_row(world.db, sku_id)
    pushed = (shown(world, shop, tiktok_sku), final["held_quantity"], final["moved_hold_quantity"])
    black_available = await available(world, black)
    # and the merchant deletes the shop within the hold's horizon
    await delete_shop(world.uows, SystemClock(), "m1", shop.id)
    records = await _deleted_holds(world, {red: "RED", black: "BLACK"})

    # then BLACK's stock at TikTok is BLACK's available (its open orders moved with the link), nothing held back on
    # BLACK for RED's sale (before: the intent's record brought RED's hold onto the link, 1 less: the sale stood
    # twice, as the link's hold and as RED's moved hold), and the delete takes it off RED only
    assert final["inventory_item_id"] == black
    assert (pushed, records) == ((black_available, 0, 1), [("RED", 1)])
