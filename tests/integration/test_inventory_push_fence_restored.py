"""Units a push restored unseen, and the push's fence, below GraphQL: real database (both), the sandbox over HTTP as
TikTok. A push that finds TikTok above the pool's view writes the pool's count over it and carries the difference
(`sku_links.restored_quantity`): a cancellation TikTok made that the ledger has not released, whose release later is
no unit TikTok gained since (`fence_counts`' offset). Those units count for the hold's horizon only, from when they
were restored (`sku_links.restored_since`, `carried_restore`): carried for good, a Seller Center edit upwards (or a
sale's units overwritten in flight) made up for a release long after and hid as many sales TikTok made unseen then,
put back on sale on every shop of the item until ingested (soak59 F1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.services.inventory_push import PushDeps, push_shop
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    imported_shop,
    link,
    link_row,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_orders import cancel, ingest, sell, shown
from tests.integration.test_inventory_push_pool_holds import LaterClock, first_sku

WHEN = {"within-the-horizon": timedelta(0), "past-the-horizon": PushDeps.hold_horizon + timedelta(seconds=5)}


@pytest.mark.parametrize("when", WHEN, ids=WHEN)
async def test_units_restored_unseen_make_up_for_no_release_past_the_horizon(world: PushWorld, when: str) -> None:
    # given a shop showing an item's 10 units, whose stock the merchant raises by 5 in Seller Center (TikTok: 15):
    # the next push writes the pool's 10 over it and carries 5 units restored unseen
    shop = await imported_shop(world, "us-local")
    product, sku = first_sku(world, shop)
    item = await add_item(world.db, "m1", "RESTORED-1", 10)
    sku_id = await link(world.db, shop, sku, item, product)
    await change_stock(world, item, 0, [(shop.id, product)])
    await push_shop(shop.id, world.deps(fence=True))
    assert shown(world, shop, sku) == 10
    world.sandbox.control("POST", f"/products/{product}", {"skus": [{"id": sku, "quantity": 15}]})
    await change_stock(world, item, 0, [(shop.id, product)])
    await push_shop(shop.id, world.deps(fence=True))
    row = await link_row(world.db, sku_id)
    assert (shown(world, shop, sku), row["held_quantity"], row["restored_quantity"]) == (10, 0, 5)
    # and a buyer's order of 1 unit, ingested (the pool: 9)
    seen = sell(world, shop, sku)
    await ingest(world, shop, seen)

    # when, `when`, a buyer takes 1 unit whose webhook is lost (TikTok: 8), the first order is cancelled and its
    # release ingested (the pool: 10 again; TikTok: 9), and the product is pushed
    later = world.deps(fence=True, clock=LaterClock(WHEN[when]))
    sell(world, shop, sku)
    cancel(world, seen)
    await ingest(world, shop, seen)
    await change_stock(world, item, 0, [(shop.id, product)])
    await push_shop(shop.id, later)

    row = await link_row(world.db, sku_id)
    if when == "within-the-horizon":
        # then within the horizon the release is taken for a cancellation restored unseen (the fence cannot tell the
        # Seller Center edit from one): 1 of the 5 units makes up for it, and the sale unseen is not held back
        assert (shown(world, shop, sku), row["held_quantity"], row["restored_quantity"]) == (10, 0, 4)
    else:
        # then past the horizon the units restored count no more: the release is a unit TikTok gained, the sale
        # unseen is held back (TikTok keeps 9, the pool's 10 less it) and nothing is carried on. (Before, the
        # 5 units were carried for good: 1 made up for the release and the sale went back on sale, 10: sold twice.)
        assert (shown(world, shop, sku), row["held_quantity"], row["restored_quantity"]) == (9, 1, 0)
        assert row["restored_since"] is None
