"""A sale one shop's push held back, on a link that then stops being pushed without the sale being ingested: the SKU
dropped from its product in Seller Center (`DROPPED`), or refused by TikTok as not writable here (`EXCLUDED` by the
push). Below GraphQL: real database (both), the sandbox over HTTP as TikTok for two shops of one merchant, the
sale's webhook lost (the order is not fetched). The hold must still count against the item on the other shop until
the order is ingested (it ships from the item's shelf), as a LINKED link's and an import-unlinked link's do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from adapters.db.tables import inventory_items
from domain.services.inventory_push import PushDeps, push_shop
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    link_row,
    outbox_row,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_manual import link_by_hand, unlink_by_hand
from tests.integration.test_inventory_push_fence_orders import ingest, sell, shown
from tests.integration.test_inventory_push_pool_holds import (
    LaterClock,
    a_holds_one_unit_b_shows_9,
    two_shops_on_one_item,
)


async def read_product_again(world: PushWorld, shop_id: str, tiktok_product_id: str) -> None:
    """The product poll's (or webhook 15's) re-read of one product: stored as TikTok lists it now, links decided."""
    async with world.uows() as uow:
        shop = await uow.shops.get(shop_id)
        assert shop is not None
    page = await world.tiktok.search_products(shop.tokens.access_token, shop.tiktok_shop_cipher, page_size=100)
    async with world.uows() as uow:
        await uow.catalog.upsert_products(shop_id, [p for p in page.items if p.tiktok_product_id == tiktok_product_id])
        await uow.inventory.auto_link(shop_id, [tiktok_product_id])
        await uow.commit()


async def test_a_hold_on_a_sku_dropped_from_its_product_still_counts_on_the_other_shop(world: PushWorld) -> None:
    # given shops A and B on one item of 10 units, A holding back 1 unit sold unseen and B pushed 9 for it
    found, item = await two_shops_on_one_item(world, on_hand=10)
    (a, a_product, a_sku, a_id), (b, b_product, b_sku, _) = found["a"], found["b"]
    await a_holds_one_unit_b_shows_9(world, found, item)
    # when the seller deletes A's variant in Seller Center (its open order still ships from the item's shelf) and
    # the product is read again: A's link is DROPPED, never pushed again, its hold as its last push recorded it
    world.sandbox.control("POST", f"/products/{a_product}", {"remove_skus": [a_sku]})
    await read_product_again(world, a.id, a_product)
    assert ((row := await link_row(world.db, a_id))["state"], row["held_quantity"]) == ("DROPPED", 1)
    # and a change of the item pushes B before A's order is ingested
    await change_stock(world, item, 0, [(b.id, b_product)])
    await push_shop(b.id, world.deps(fence=True))
    # then B still shows 9: the unit A sold is not on sale at B (it was, 10: sold twice once A's order shipped)
    assert shown(world, b, b_sku) == 9


async def test_a_hold_on_a_sku_the_push_excludes_still_counts_on_the_other_shop(world: PushWorld) -> None:
    # given shops A and B on one item of 10 units, A holding back 1 unit sold unseen and B pushed 9 for it
    found, item = await two_shops_on_one_item(world, on_hand=10)
    (a, a_product, a_sku, a_id), (b, b_product, b_sku, _) = found["a"], found["b"]
    await a_holds_one_unit_b_shows_9(world, found, item)
    # when A's product is published to a global product (its stock edited there from now on) and a stock count of
    # 1 unit less is refused at A for that SKU (12052141, not writable here): A's link is EXCLUDED, its hold as its
    # last push recorded it
    world.sandbox.control("POST", f"/skus/{a_sku}/global-stock", {"global": True})
    await change_stock(world, item, -1, [(a.id, a_product)])
    await push_shop(a.id, world.deps(fence=True))
    row = await link_row(world.db, a_id)
    assert (row["state"], row["push_error_code"], row["held_quantity"]) == ("EXCLUDED", "12052141", 1)
    # and B is pushed the count before A's order is ingested
    await change_stock(world, item, 0, [(b.id, b_product)])
    await push_shop(b.id, world.deps(fence=True))
    # then B shows 9 - 1: the unit A sold is not on sale at B (it was, 9: sold twice once A's order shipped)
    assert shown(world, b, b_sku) == 8


async def test_the_end_of_a_hold_on_a_link_no_longer_pushed_pushes_the_other_shop(world: PushWorld) -> None:
    # given A holding back 1 unit sold unseen and B pushed 9 for it, then A's SKU dropped from its product (never
    # pushed again: no push of A at the hold's end will tell B)
    found, item = await two_shops_on_one_item(world, on_hand=10)
    (a, a_product, a_sku, a_id), (b, b_product, b_sku, _) = found["a"], found["b"]
    await a_holds_one_unit_b_shows_9(world, found, item)
    world.sandbox.control("POST", f"/products/{a_product}", {"remove_skus": [a_sku]})
    await read_product_again(world, a.id, a_product)
    held_since = (await link_row(world.db, a_id))["held_since"]
    # when nothing else happens until the hold's horizon (no order came: no sale, say a stock lowered in Seller
    # Center)
    # then B's product is due again at that hold's end (one second past it, as a holder's own push is), without any
    # change of the item, and its push then shows the pool's 10 again (it showed 9 until something else moved it)
    row = await outbox_row(world.db, b, b_product)
    assert row["dirty_version"] > row["pushed_version"]
    assert row["next_attempt_at"] == held_since + PushDeps.hold_horizon + timedelta(seconds=1)
    later = LaterClock(PushDeps.hold_horizon + timedelta(seconds=5))
    await push_shop(b.id, world.deps(fence=True, clock=later))
    assert shown(world, b, b_sku) == 10
    row = await outbox_row(world.db, b, b_product)
    assert row["dirty_version"] == row["pushed_version"]  # nothing holds any more: no push scheduled


async def test_a_sale_made_before_the_merchants_unlink_and_first_seen_after_it_is_not_on_sale_on_the_other_shop(
    world: PushWorld,
) -> None:
    # given shops A and B on one item of 10 units, A's SKU linked by the merchant (`skuLink`: the link's time kept),
    # both showing 10; a buyer takes 1 at A (TikTok A: 9) whose webhook is late
    found, item = await two_shops_on_one_item(world, on_hand=10)
    (a, _, a_sku, a_id), (b, b_product, b_sku, _) = found["a"], found["b"]
    await link_by_hand(world, a, a_id, item)
    order = sell(world, a, a_sku)
    # when the merchant unlinks A's SKU (`skuUnlink`), and only then the sale's webhook arrives (twice: a duplicate)
    await unlink_by_hand(world, a, a_id)
    await ingest(world, a, order)
    await ingest(world, a, order)
    # then the sale, made while A's SKU was the item's, reserves its unit there (10/1/9), once: it ships from the
    # item's shelf, as the lines the unlink found open do (before, it waited for a link, 10/0/10)
    async with world.db.read_sessionmaker() as session:
        row = (await session.execute(select(inventory_items).where(inventory_items.c.id == item))).mappings().one()
    assert (row["on_hand"], row["reserved"]) == (10, 1)
    # and B is pushed 9: the unit A sold is not on sale at B (before: 10, sold twice once A's order shipped)
    await change_stock(world, item, 0, [(b.id, b_product)])
    await push_shop(b.id, world.deps(fence=True))
    assert shown(world, b, b_sku) == 9


async def test_a_hold_on_a_sku_the_merchant_unlinks_still_counts_on_the_other_shop_until_its_sale_reserves(
    world: PushWorld,
) -> None:
    # given shops A and B on one item of 10 units, A's SKU linked by the merchant, A holding back 1 unit sold unseen
    # and B pushed 9 for it
    found, item = await two_shops_on_one_item(world, on_hand=10)
    (a, _, _, a_id), (b, b_product, b_sku, _) = found["a"], found["b"]
    await link_by_hand(world, a, a_id, item)
    order = await a_holds_one_unit_b_shows_9(world, found, item)
    # when the merchant unlinks A's SKU (never pushed again: its hold as its last push recorded it), and B is pushed
    # before A's order is ingested
    await unlink_by_hand(world, a, a_id)
    assert ((row := await link_row(world.db, a_id))["state"], row["held_quantity"]) == ("UNLINKED", 1)
    await change_stock(world, item, 0, [(b.id, b_product)])
    await push_shop(b.id, world.deps(fence=True))
    # then B still shows 9: the unit was sold before the unlink, from the item's shelf (before: 10, sold twice once
    # A's order shipped)
    assert shown(world, b, b_sku) == 9
    # and once A's order is ingested it reserves on the item (made before the unlink) in place of the hold: B shows 9,
    # not 8 (the unit counted once)
    await ingest(world, a, order)
    await push_shop(b.id, world.deps(fence=True))
    assert shown(world, b, b_sku) == 9
