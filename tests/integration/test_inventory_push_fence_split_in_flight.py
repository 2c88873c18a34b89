"""A split hold a push records after an order batch applied units of its older part's item while the push was in
flight (between its read of the pool and its record), below GraphQL: real database (both), the sandbox over HTTP as
TikTok (its Update Inventory held while the batch runs).

split62 "not fixed" 2: the batch found no split to take the units off (the link's hold was wholly CAP's), the push
then recorded CAP's part undiminished, and the units applied, counted against the hold, left HAT's units standing as
CAP's (`domain.inventory.links.hold_parts`): HAT's other shops sold them again and a delete of the shop took them off
CAP (the e2e shape of it is review62 R2's, `tests/e2e/test_inventory_fence_split_hold.py`)."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import and_, select

from adapters.db.tables import sku_ledger_units
from domain.inventory.links import hold_parts
from domain.services.inventory_push import push_shop
from tests.e2e.fence_given import second_after
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    link_row,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_applied_intent import _pushed_sku
from tests.integration.test_inventory_push_fence_manual import link_by_hand
from tests.integration.test_inventory_push_fence_seed import fetched, ingest


async def test_a_sale_applied_while_a_push_splits_the_hold_comes_off_its_own_items_part(world: PushWorld) -> None:
    # given a SKU under CAP pushed with the fence, and HAT (50 on hand)
    shop, tiktok_sku, sku_id, product_id = await _pushed_sku(world)
    cap = (await link_row(world.db, sku_id))["inventory_item_id"]
    hat = await add_item(world.db, "m1", "HAT-1", 50)
    # and a sale of 3 under CAP, shipped, unseen; the SKU linked by hand to HAT, whose push holds CAP's 3
    sales = f"/shops/{shop.tiktok_shop_id}/sales"  # type: ignore[attr-defined]
    cap_order = str(world.sandbox.control("POST", sales, {"sku_id": tiktok_sku, "quantity": 3})["order_id"])
    world.sandbox.control("POST", f"/orders/{cap_order}/status", {"status": "IN_TRANSIT"})
    second_after(time.time())  # (link periods end at whole seconds: the sale is CAP's)
    await link_by_hand(world, shop, sku_id, hat)
    await push_shop(shop.id, world.deps(fence=True))  # type: ignore[attr-defined]
    assert (await link_row(world.db, sku_id))["held_item_id"] == cap
    # and 2 more sold under HAT, unseen; HAT +1, whose push reads the pool and TikTok (it carries CAP's 3 and holds
    # HAT's 2 anew) and waits at TikTok's Update Inventory
    world.sandbox.control("POST", sales, {"sku_id": tiktok_sku, "quantity": 2})
    await change_stock(world, hat, 1, [(shop.id, product_id)])  # type: ignore[attr-defined]
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))  # type: ignore[attr-defined]
    try:
        await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)

        # when an order batch applies CAP's sale meanwhile (DEDUCTED on CAP), and the push then records the split
        await ingest(world, shop, [await fetched(world, shop, cap_order)])  # type: ignore[arg-type]
    finally:
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    await pushing
    link = await link_row(world.db, sku_id)
    async with world.db.read_sessionmaker() as session:
        units = sku_ledger_units.c
        of_sku = and_(units.shop_id == shop.id, units.tiktok_sku_id == tiktok_sku)  # type: ignore[attr-defined]
        ingested = (await session.execute(select(units.ingested).where(of_sku))).scalar_one()

    # then the 2 units still held (5 less CAP's 3 applied) are HAT's, as HAT's other shops subtract them and a delete
    # takes them off (`hold_parts` of the row; before: CAP's part recorded as 3, the 2 read as CAP's)
    standing = link["held_quantity"] - (ingested - link["ingested_at_push"])
    rest = link["held_rest_item_id"] if link["held_item_quantity"] is not None else None
    parts = hold_parts(standing, link["held_item_id"], link["held_item_quantity"], rest)
    names = {cap: "CAP", hat: "HAT"}
    assert {names[item]: n for item, n in parts.items() if item is not None} == {"HAT": 2}
