"""A cancellation that came before the seeding read, ingested after the link (`domain.inventory.ledger.
released_before_read`), and the push's fence, below GraphQL: real database (both), the sandbox over HTTP as TikTok.
The release takes its units off on-hand (TikTok's available had them back before the read) and moves the fence's
counts with it: the units it adds to the shop's released count (`sku_ledger_units.released`) are no release since
the link's last push (`sku_links.released_at_push` moves too). Counted as one, they made up for the units a push had
restored unseen (`fence_counts`' offset) and hid as many sales TikTok made unseen since: put back on sale."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from domain.services.inventory_push import push_shop
from domain.shops import Shop
from tests.fixtures.sync import connect_shop
from tests.fixtures.waiting import until, wait_until
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_inflight import PUSH_ENDS
from tests.integration.test_inventory_push_fence_seed import (
    a_sellable_sku,
    available_of,
    fetched,
    ingest,
    read_page,
    seeded_link,
    sell,
    shown,
    write_page,
)


def cancel(world: PushWorld, order_id: str) -> None:
    """The buyer cancels at TikTok (its available gets the units back); unseen unless ingested."""
    world.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "CANCELLED"})


async def restored_unseen_with_an_early_cancellation(world: PushWorld) -> tuple[Shop, str, str, int, dict[str, Any]]:
    """A shop whose first push wrote A - 1 over a cancellation TikTok made unseen (1 unit restored unseen), while
    the pool has not yet learnt that an order made before the seeding read was cancelled before it: (shop, TikTok
    SKU id, that order's id, A, the link's row)."""
    # given a shop whose buyer ordered 1 unit of a SKU before Shopbridge linked it, stored open (the SKU unlinked:
    # it waits), then cancelled unseen at TikTok (its available has the unit back)
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox)
    products = await read_page(world, shop)
    sku = a_sellable_sku(world, shop, products, [])
    early = sell(world, shop, sku.tiktok_sku_id)
    await ingest(world, shop, [await fetched(world, shop, early)])
    cancel(world, early)
    cancelled_by = int(time.time())  # the cancellation's update_time is this second at the latest
    wait_until(lambda: time.time() >= cancelled_by + 1, what="the second after the cancellation")

    # and the product page read then (A units: the cancelled unit back) seeds the item, counting the stored open
    # order in (on-hand A + 1, reserved 1: available A, as TikTok shows it)
    products = await read_page(world, shop)
    read = shown(world, shop, sku.tiktok_sku_id)
    await write_page(world, shop, products)
    assert await available_of(world, sku.tiktok_sku_id) == read
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})  # (the sales below well after the read)

    # and a sale since, ingested (reserved: A - 1), then cancelled at TikTok unseen (TikTok shows A again): the
    # first push finds TikTok 1 unit above the pool's view, writes A - 1 over it and keeps that unit restored unseen
    later = sell(world, shop, sku.tiktok_sku_id)
    await ingest(world, shop, [await fetched(world, shop, later)])
    cancel(world, later)
    await push_shop(shop.id, world.deps(fence=True))
    assert shown(world, shop, sku.tiktok_sku_id) == read - 1
    link = await seeded_link(world, sku.tiktok_sku_id)
    assert (link["held_quantity"], link["restored_quantity"]) == (0, 1)
    return shop, sku.tiktok_sku_id, early, read, link


async def test_a_release_of_a_cancellation_before_the_seeding_read_hides_no_sale_unseen(world: PushWorld) -> None:
    # given a shop whose first push wrote A - 1 over a cancellation TikTok made unseen (1 unit restored unseen), the
    # pool not yet knowing that an order made before the seeding read was cancelled before it
    shop, tiktok_sku_id, early, read, link = await restored_unseen_with_an_early_cancellation(world)

    # when the pool then learns of the first order's cancellation (before the read: its units leave on-hand with
    # their reservation, available as it was), and a buyer takes 1 unit at TikTok whose webhook is lost
    await ingest(world, shop, [await fetched(world, shop, early)])
    assert await available_of(world, tiktok_sku_id) == read - 1
    sell(world, shop, tiktok_sku_id)
    assert shown(world, shop, tiktok_sku_id) == read - 2
    item_id = str(link["inventory_item_id"])
    await change_stock(world, item_id, 0, [(shop.id, link["tiktok_product_id"])])  # (the product pushed again)
    await push_shop(shop.id, world.deps(fence=True))

    # then the push holds the sale unseen back: TikTok keeps showing A - 2, the unit restored unseen still carried.
    # (Before, the early release counted as one since the last push, made up for the restored unit, and the sale
    # went back on sale: A - 1, sold twice.)
    assert shown(world, shop, tiktok_sku_id) == read - 2
    link = await seeded_link(world, tiktok_sku_id)
    assert (link["held_quantity"], link["restored_quantity"]) == (1, 1)


@pytest.mark.parametrize("push_end", PUSH_ENDS, ids=PUSH_ENDS)
async def test_an_early_release_ingested_during_a_push_hides_no_sale_unseen(world: PushWorld, push_end: str) -> None:
    # given a shop whose first push wrote A - 1 over a cancellation TikTok made unseen (1 unit restored unseen), the
    # pool not yet knowing that an order made before the seeding read was cancelled before it
    shop, tiktok_sku_id, early, read, link = await restored_unseen_with_an_early_cancellation(world)
    item_id, product_id = str(link["inventory_item_id"]), str(link["tiktok_product_id"])
    # and the merchant receives 2 units: a fenced push writes A + 1, its Update Inventory held at TikTok
    await change_stock(world, item_id, 2, [(shop.id, product_id)])
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    stop_wait = timedelta(0) if push_end == "left-unrecorded" else timedelta(seconds=15)
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True, stop_wait=stop_wait)))
    try:
        await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
        # when the pool learns of the early order's cancellation while that push is in flight (its units leave
        # on-hand with their reservation; the link's released count of its last push moves with the shop's)
        await ingest(world, shop, [await fetched(world, shop, early)])
        if push_end == "left-unrecorded":  # (and the push's worker dies before it records TikTok's answer)
            pushing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await pushing
    finally:
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    if push_end == "recorded":
        await pushing
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 0)
    assert shown(world, shop, tiktok_sku_id) == read + 1

    # and a buyer then takes 1 unit at TikTok whose webhook is lost, before the product's next push
    sell(world, shop, tiktok_sku_id)
    await change_stock(world, item_id, 0, [(shop.id, product_id)])
    await push_shop(shop.id, world.deps(fence=True))

    # then that push holds the sale unseen back: TikTok goes on showing A, the unit restored unseen still carried.
    # Recorded over with the released count the in-flight push had read (by its record, or, left unrecorded, by the
    # next push taking its intent as applied), the early release passed for one since that push, made up for the
    # restored unit, and the sale went back on sale (A + 1: sold twice).
    assert shown(world, shop, tiktok_sku_id) == read
    link = await seeded_link(world, tiktok_sku_id)
    assert (link["held_quantity"], link["restored_quantity"]) == (1, 1)
