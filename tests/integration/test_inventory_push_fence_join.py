"""The fence on a link's first push when its SKU joins an item another shop's stock seeded (README, "Shared inventory
pool": a link's first push is fenced), below GraphQL: real database (both), the sandbox over HTTP as TikTok for two
shops of one merchant sharing seller SKUs. Shop A's product page is read and written first (its SKUs seed the items);
then shop B's page is read and written as the import does (Search Products, then the catalog upsert and the pool's
auto-link in one transaction: B's SKU joins A's item, the page's request its `baseline_read_at`), and B is pushed with
the fence. A buyer's sale at B between B's read and that push whose webhook is lost (its order simply not fetched)
must not go back on sale; B's orders the pool does ingest (made before the read, or since; before the page or after
it) must neither be taken for unseen sales nor hide one: in every case exactly that one unit is held back."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from domain.catalog import Order, Sku
from domain.services.inventory_push import push_shop
from domain.shops import Shop
from domain.stored import StoredProduct
from tests.fixtures.sync import connect_shop
from tests.integration.pool_push_support import (
    PushWorld,
    sandbox_products,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_seed import (
    available_of,
    fetched,
    ingest,
    open_units,
    read_page,
    seeded_link,
    sell,
    shop_orders,
    shown,
    write_page,
)


def a_joining_sku(
    world: PushWorld, a_products: Sequence[StoredProduct], b: Shop, b_products: Sequence[StoredProduct],
    b_orders: Sequence[Order],
) -> Sku:  # fmt: skip
    """A SKU of shop B buyers can buy whose seller SKU is one SKU's alone in each shop (so B's links, and A's seeds
    its item), with 3 units or more at B: the one with the most units in B's open orders (which B's read left out)."""
    live = {
        sku["id"]
        for product in sandbox_products(world.sandbox, b)
        if product["status"] == "ACTIVATE" and not product.get("product_types")
        for sku in product["skus"]
    }
    a_skus = [sku for product in a_products for sku in product.product().skus if not sku.bundle]
    b_skus = [sku for product in b_products for sku in product.product().skus]
    a_seller_skus = [sku.seller_sku for sku in a_skus]
    b_seller_skus = [sku.seller_sku for sku in b_skus]
    candidates = [
        sku
        for sku in b_skus
        if sku.tiktok_sku_id in live
        and not sku.bundle
        and sku.seller_sku
        and b_seller_skus.count(sku.seller_sku) == 1
        and a_seller_skus.count(sku.seller_sku) == 1
        and sku.quantity >= 3
    ]
    assert candidates
    return max(candidates, key=lambda sku: (open_units(b_orders, sku.tiktok_sku_id), sku.tiktok_sku_id))


def ship(world: PushWorld, order_id: str) -> None:
    """The seller ships the order at TikTok (its units stay gone from TikTok's available)."""
    for status in ("AWAITING_COLLECTION", "IN_TRANSIT"):
        world.sandbox.control("POST", f"/orders/{order_id}/status", {"status": status})


SEEN_ORDERS = [
    "none",
    "open-orders-before-the-read-ingested-before-the-page",
    "open-orders-before-the-read-ingested-after-the-page",
    "a-sale-since-ingested-before-the-page",
    "a-shipped-sale-since-ingested-before-the-page",
    "a-sale-since-ingested-after-the-page",
]


@pytest.mark.parametrize("seen", SEEN_ORDERS, ids=SEEN_ORDERS)
async def test_a_sale_between_the_joining_read_and_the_first_push_is_held_back(world: PushWorld, seen: str) -> None:
    # given shop A's page written (its SKUs seed the items), and shop B of the same merchant whose page is read: its
    # SKU will join A's item of the same seller SKU, TikTok showing B's own stock (`read` units)
    a = await connect_shop(world.uows, world.tiktok, world.sandbox, "us-local", "m1")
    b = await connect_shop(world.uows, world.tiktok, world.sandbox, "us-local-2", "m1")
    a_products = await read_page(world, a)
    await write_page(world, a, a_products)
    b_orders = await shop_orders(world, b)
    b_products = await read_page(world, b)
    sku = a_joining_sku(world, a_products, b, b_products, b_orders)
    read = shown(world, b, sku.tiktok_sku_id)
    assert read == sku.quantity
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})  # (the sales below well after the read)
    # and, in some cases, B's orders the pool does ingest: its open orders made before the read (which the read left
    # out), or a sale made after the read (open or shipped), before B's page is written (waiting for the link) or
    # after it (reserving at once)
    seen_sales = 0
    if seen == "open-orders-before-the-read-ingested-before-the-page":
        assert open_units(b_orders, sku.tiktok_sku_id) > 0
        await ingest(world, b, b_orders)
    if seen in ("a-sale-since-ingested-before-the-page", "a-shipped-sale-since-ingested-before-the-page"):
        sale = sell(world, b, sku.tiktok_sku_id)
        if seen == "a-shipped-sale-since-ingested-before-the-page":
            ship(world, sale)
        await ingest(world, b, [await fetched(world, b, sale)])
        seen_sales = 1
    await write_page(world, b, b_products)
    if seen == "a-sale-since-ingested-after-the-page":
        await ingest(world, b, [await fetched(world, b, sell(world, b, sku.tiktok_sku_id))])
        seen_sales = 1
    if seen == "open-orders-before-the-read-ingested-after-the-page":  # the orders import, after the products'
        assert open_units(b_orders, sku.tiktok_sku_id) > 0
        await ingest(world, b, b_orders)
    pool = await available_of(world, sku.tiktok_sku_id)  # A's stock less what the ledger has of both shops

    # when a buyer takes 1 unit at B's TikTok whose webhook is lost (the pool never hears of it), before B's first push
    sell(world, b, sku.tiktok_sku_id)
    assert shown(world, b, sku.tiktok_sku_id) == read - seen_sales - 1
    await push_shop(b.id, world.deps(fence=True))

    # then B's push holds that unit back, and that unit alone: TikTok shows the pool's available less it. Without a
    # baseline for a joining link's first push, it wrote the pool's available: one unit on sale twice until the order
    # is ingested (an order the read left out taken for a sale since would hide it; a sale since left out of the
    # baseline would be held back as well)
    link = await seeded_link(world, sku.tiktok_sku_id)
    assert (link["pushed_quantity"], link["held_quantity"]) == (pool - 1, 1)
    assert shown(world, b, sku.tiktok_sku_id) == pool - 1
    assert link["seeded_available"] is None  # the push's own baseline from now on
