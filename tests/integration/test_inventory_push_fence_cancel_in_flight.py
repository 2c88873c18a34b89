"""A buyer's cancellation that lands while a fenced push of its SKU is in flight (after the push's reading of TikTok's
available, before its Update Inventory is applied), below GraphQL: real database (both), the sandbox over HTTP as
TikTok (a sale takes TikTok's available, a cancellation gives it back, an Update Inventory sets it), the order's
webhook late (the order is fetched only when the test ingests it, as the webhook path would).

Found by the pool's stress harness with TikTok 5xx injected (README, "Shared inventory pool", the fence, "What it
costs and leaves"): 5xx on the order reads (Search Orders, retried) delayed the orders' intake, so a sale was still
unseen when a push read TikTok, and its cancellation landed before that push's write. The write (an absolute value)
overwrote the units the cancellation gave back, and the order, first seen cancelled, never counts: the push's hold of
that sale stood until its horizon (630 s), every shop of the item showing those units fewer. An order the ledger had
reserved before, cancelled in that gap, is held back the same way once its release is ingested.

This is the fence's designed side: from what Shopbridge can know (TikTok's available, the ledger's counts, TikTok's
order times in whole seconds), those cases cannot be told from a cancellation after the write plus a new sale whose
webhook is late, where letting the hold go puts the sold units on sale twice. All three end with the same records;
the hold ends at its horizon."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.inventory_push import DEFAULT_HOLD_HORIZON
from domain.services.inventory_push import push_shop
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    link_row,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_orders import (
    cancel,
    ingest,
    ingest_and_push,
    pooled_sku,
    push_change,
    sell,
    shown,
)
from tests.integration.test_inventory_push_pool_holds import LaterClock

# (the order: ingested before the push, or late; the cancellation: while the push's write is in flight, or after it
# with a new sale whose webhook is late)
CASES = [("late", "in-flight"), ("seen", "in-flight"), ("late", "after-with-a-sale-unseen")]


@pytest.mark.parametrize(("order_was", "cancelled"), CASES, ids=["-".join(case) for case in CASES])
async def test_a_cancellation_a_push_in_flight_overwrote_is_held_back_until_the_horizon(
    world: PushWorld, order_was: str, cancelled: str
) -> None:
    # given a SKU of 10 units pushed (TikTok: 10), and a buyer's order of 3 units (TikTok: 7), its webhook late, or
    # ingested (reserved: 7 available) and pushed past
    shop = await imported_shop(world)
    product_id, sku, item_id, sku_id = await pooled_sku(world, shop, on_hand=10)
    order = sell(world, shop, sku, 3)
    if order_was == "seen":
        await ingest_and_push(world, shop, order)
    # when a change of the item (1 unit less) pushes the SKU: its fence reads 7 and writes 6 (9 less the 3 units sold
    # unseen, held back; or 6 available). The buyer cancels while that write is in flight at TikTok (10 there, then
    # set to 6); or, in the other case, after it (9), and another buyer takes 3 units, their webhook late too (6)
    await change_stock(world, item_id, -1, [(shop.id, product_id)])
    if cancelled == "in-flight":
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
        pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))
        try:
            await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1, "the write")
            cancel(world, order)
            assert shown(world, shop, sku) == 10
        finally:
            world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
        await pushing
    else:
        await push_shop(shop.id, world.deps(fence=True))
        cancel(world, order)
        sell(world, shop, sku, 3)
    # and the ledger has the cancellation (released; or, first seen cancelled, nothing to reserve), which pushes the SKU
    await ingest(world, shop, order)
    await push_change(world, shop, item_id, product_id)

    # then every case looks the same (the pool's 9, TikTok 6, the last push wrote 6 and held 3 back, the ledger has
    # the order cancelled) and the push holds the 3 units back: in the last, they are sold unseen (9 sells them twice)
    assert shown(world, shop, sku) == 6
    row = await link_row(world.db, sku_id)
    assert (row["pushed_quantity"], row["held_quantity"]) == (6, 3)
    if cancelled == "in-flight":
        # and the hold is let go at its horizon (no order poll brought in a sale): TikTok shows the pool's 9 again
        later = LaterClock(DEFAULT_HOLD_HORIZON + timedelta(seconds=5))
        await change_stock(world, item_id, 0, [(shop.id, product_id)])
        await push_shop(shop.id, world.deps(fence=True, clock=later))
        assert shown(world, shop, sku) == 9
        assert (await link_row(world.db, sku_id))["held_quantity"] == 0
