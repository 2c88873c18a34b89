"""The fence on a link's first push when the merchant made the link by hand (`skuLink`; README, "Shared inventory
pool": a link's first push is fenced), below GraphQL: real database (both), the sandbox over HTTP as TikTok. The
shop's product page is read and written as the import does (Search Products, then the catalog upsert and the pool's
auto-link in one transaction), leaving a SKU no item (its seller SKU given to another SKU: AMBIGUOUS); later the
merchant links it to an item of the pool, and the shop is pushed with the fence. A buyer's sale at the shop between
the page's read and that push whose webhook is lost (its order simply not fetched) must not go back on sale: the
link is fenced from its product's stock read (`products.stock_read_at`, migration 0020), as a joining link is from
its page's. The shop's orders the pool does ingest (open ones made before the read, which the read left out; a sale
since; before the link, waiting for it, or after it) must neither be taken for unseen sales nor hide one: in every
case exactly that one unit is held back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from adapters.db.tables import skus
from domain.catalog import Order, Product, Sku
from domain.inventory.links import LinkState
from domain.services import inventory as pool
from domain.services.inventory_push import push_shop
from domain.shops import Shop
from domain.stored import StoredProduct
from tests.fixtures.sync import connect_shop
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    link_row,
    sandbox_products,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push_fence_seed import (
    a_sellable_sku,
    fetched,
    ingest,
    open_units,
    read_page,
    sell,
    shop_orders,
    shown,
    write_page,
)

ON_HAND = 40  # the item's on-hand when the merchant makes it, before any of the shop's orders reserve on it


async def sku_id_of(world: PushWorld, shop: Shop, tiktok_sku_id: str) -> str:
    async with world.db.read_sessionmaker() as session:
        query = select(skus.c.id).where(skus.c.shop_id == shop.id, skus.c.tiktok_sku_id == tiktok_sku_id)
        return str((await session.execute(query)).scalar_one())


def make_ambiguous(world: PushWorld, shop: Shop, products: Sequence[StoredProduct], sku: Sku) -> None:
    """In Seller Center, the seller gives another live SKU of the shop `sku`'s seller SKU: auto-linking then leaves
    both without an item (AMBIGUOUS), for the merchant to link by hand."""
    live = {
        sku["id"]: product["id"]
        for product in sandbox_products(world.sandbox, shop)
        if product["status"] == "ACTIVATE" and not product.get("product_types")
        for sku in product["skus"]
    }
    every = [other for product in products for other in product.product().skus]
    twin = min(o.tiktok_sku_id for o in every if o.tiktok_sku_id in live and o.tiktok_sku_id != sku.tiktok_sku_id)
    edit = {"skus": [{"id": twin, "seller_sku": sku.seller_sku}]}
    world.sandbox.control("POST", f"/products/{live[twin]}", edit)


@dataclass(frozen=True)
class Unlinked:
    """A shop whose page the import read and wrote, leaving `sku` (Shopbridge id `sku_id`) without an item, with the
    shop's orders made before (`orders`) and its products as that page read them (`products`)."""

    shop: Shop
    orders: list[Order]
    products: list[StoredProduct]
    sku: Sku
    sku_id: str


async def an_unlinked_sku(world: PushWorld) -> Unlinked:
    """Shop "us-local" of merchant m1, connected; its SKU with the most open units made AMBIGUOUS in Seller Center
    (`make_ambiguous`), then its page read and written as the import does: the SKU left without an item."""
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox, "us-local", "m1")
    orders = await shop_orders(world, shop)
    sku = a_sellable_sku(world, shop, await read_page(world, shop), orders)
    make_ambiguous(world, shop, await read_page(world, shop), sku)
    products = await read_page(world, shop)
    await write_page(world, shop, products)
    sku_id = await sku_id_of(world, shop, sku.tiktok_sku_id)
    assert (await link_row(world.db, sku_id))["state"] == LinkState.AMBIGUOUS.value
    return Unlinked(shop, orders, products, sku, sku_id)


async def link_by_hand(world: PushWorld, shop: Shop, sku_id: str, item_id: str) -> None:
    """`skuLink` below GraphQL: the repository's manual link in its own transaction."""
    async with world.uows() as uow:
        assert await uow.inventory.link_sku(shop.merchant_id, sku_id, item_id) is not None
        await uow.commit()


async def available(world: PushWorld, item_id: str) -> int:
    async with world.uows() as uow:
        item = await uow.inventory.get_item(item_id, "m1")
    assert item is not None
    return item.on_hand - item.reserved - item.safety_stock


SEEN_ORDERS = [
    "none",
    "open-orders-before-the-read-ingested-before-the-link",
    "open-orders-before-the-read-ingested-after-the-link",
    "a-sale-since-ingested-before-the-link",
    "a-sale-since-ingested-after-the-link",
]


@pytest.mark.parametrize("seen", SEEN_ORDERS, ids=SEEN_ORDERS)
async def test_a_sale_between_the_read_and_a_manual_links_first_push_is_held_back(world: PushWorld, seen: str) -> None:
    # given the shop's page read and written (a SKU left without an item, TikTok showing `read` units of it), an item
    # the merchant made, and a minute later
    given = await an_unlinked_sku(world)
    shop, orders, sku, sku_id = given.shop, given.orders, given.sku, given.sku_id
    read = shown(world, shop, sku.tiktok_sku_id)
    assert read == sku.quantity
    item_id = await add_item(world.db, "m1", "HAND-MADE-1", ON_HAND)
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})  # (the sales below well after the read)
    # and, in some cases, the shop's orders the pool does ingest: its open orders made before the read, or a sale
    # made after it; before the link (waiting for one) or after it (reserving on the item at once)
    seen_sales = 0
    if seen == "open-orders-before-the-read-ingested-before-the-link":
        assert open_units(orders, sku.tiktok_sku_id) > 0
        await ingest(world, shop, orders)
    if seen == "a-sale-since-ingested-before-the-link":
        await ingest(world, shop, [await fetched(world, shop, sell(world, shop, sku.tiktok_sku_id))])
        seen_sales = 1

    # when the merchant links the SKU to the item by hand
    await link_by_hand(world, shop, sku_id, item_id)
    if seen == "a-sale-since-ingested-after-the-link":
        await ingest(world, shop, [await fetched(world, shop, sell(world, shop, sku.tiktok_sku_id))])
        seen_sales = 1
    if seen == "open-orders-before-the-read-ingested-after-the-link":
        assert open_units(orders, sku.tiktok_sku_id) > 0
        await ingest(world, shop, orders)
    pool = await available(world, item_id)  # the item's on-hand less what the ledger reserved on it
    # and a buyer takes 1 unit at the shop's TikTok whose webhook is lost (the pool never hears of it), before the
    # link's first push
    sell(world, shop, sku.tiktok_sku_id)
    assert shown(world, shop, sku.tiktok_sku_id) == read - seen_sales - 1
    await push_shop(shop.id, world.deps(fence=True))

    # then the push holds that unit back, and that unit alone: TikTok shows the pool's available less it. Without a
    # baseline for a manual link's first push it wrote the pool's available: one unit on sale twice until the order
    # is ingested (an order the read left out taken for a sale since would hide it; a sale since left out of the
    # baseline would be held back as well)
    link = await link_row(world.db, sku_id)
    assert (link["pushed_quantity"], link["held_quantity"]) == (pool - 1, 1)
    assert shown(world, shop, sku.tiktok_sku_id) == pool - 1
    assert link["seeded_available"] is None  # the push's own baseline from now on


async def refetch_as_a_webhook_does(world: PushWorld, shop: Shop, tiktok_product_id: str) -> None:
    """A product changed in Seller Center (webhook 15), written as the intake writes it: Get Product (a domain
    `Product` carrying its `stock_read_at`), then the catalog upsert and the pool's auto-link, in one transaction."""
    product = await world.tiktok.get_product(shop.tokens.access_token, shop.tiktok_shop_cipher, tiktok_product_id)
    assert isinstance(product, Product) and product.stock_read_at is not None
    async with world.uows() as uow:
        await uow.catalog.upsert_products(shop.id, [product])
        await pool.pool_products(uow, None, None, shop.id, [product])
        await uow.commit()


async def test_a_manual_links_first_push_is_fenced_from_a_product_the_webhook_wrote(world: PushWorld) -> None:
    # given the shop's page read and written (a SKU left without an item), then its product retitled in Seller
    # Center and written again from Get Product, as the intake writes a webhook's product (its row rewritten: the
    # title changed), and an item the merchant made
    given = await an_unlinked_sku(world)
    shop, sku, sku_id = given.shop, given.sku, given.sku_id
    (owner,) = [p.tiktok_product_id for p in given.products if sku.tiktok_sku_id in {s[0] for s in p.skus}]
    world.sandbox.control("POST", f"/products/{owner}", {"title": "Retitled in Seller Center"})
    await refetch_as_a_webhook_does(world, shop, owner)
    assert (await link_row(world.db, sku_id))["state"] == LinkState.AMBIGUOUS.value
    item_id = await add_item(world.db, "m1", "HAND-MADE-1", ON_HAND)
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})

    # when the merchant links the SKU by hand, a buyer takes 1 unit at the shop whose webhook is lost, and the shop
    # is pushed with the fence
    await link_by_hand(world, shop, sku_id, item_id)
    pool_available = await available(world, item_id)
    sell(world, shop, sku.tiktok_sku_id)
    await push_shop(shop.id, world.deps(fence=True))

    # then that unit is held back: the product's row kept the read time Get Product's request carried (the catalog
    # dropped it from a domain `Product`, so the link had no baseline and its first push wrote the unit back)
    link = await link_row(world.db, sku_id)
    assert (link["pushed_quantity"], link["held_quantity"]) == (pool_available - 1, 1)
    assert shown(world, shop, sku.tiktok_sku_id) == pool_available - 1


async def unlink_by_hand(world: PushWorld, shop: Shop, sku_id: str) -> None:
    """`skuUnlink` below GraphQL: the repository's manual unlink in its own transaction."""
    async with world.uows() as uow:
        assert await uow.inventory.link_sku(shop.merchant_id, sku_id, None) is not None
        await uow.commit()


async def test_open_orders_the_read_left_out_first_seen_while_unlinked_hide_no_sale_once_linked_again(
    world: PushWorld,
) -> None:
    # given the shop's page read and written (a SKU left without an item), an item the merchant made, and the SKU
    # linked to it by hand (its first push fenced from the product's read), then unlinked by hand before any push
    given = await an_unlinked_sku(world)
    shop, orders, sku, sku_id = given.shop, given.orders, given.sku, given.sku_id
    read = shown(world, shop, sku.tiktok_sku_id)
    item_id = await add_item(world.db, "m1", "HAND-MADE-1", ON_HAND)
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})
    await link_by_hand(world, shop, sku_id, item_id)
    await unlink_by_hand(world, shop, sku_id)
    # and the shop's open orders made before the read (which the read left out) first seen while it is unlinked
    assert open_units(orders, sku.tiktok_sku_id) > 0
    await ingest(world, shop, orders)

    # when the merchant links the SKU to the item again (the link keeps its baseline), a buyer takes 1 unit at the
    # shop whose webhook is lost, and the shop is pushed with the fence
    await link_by_hand(world, shop, sku_id, item_id)
    pool_available = await available(world, item_id)
    sell(world, shop, sku.tiktok_sku_id)
    assert shown(world, shop, sku.tiktok_sku_id) == read - 1
    await push_shop(shop.id, world.deps(fence=True))

    # then that unit is held back: the open orders, reserved at the relink, are in the baseline's count as the read
    # left them out (taken for sales since the baseline, they hid the unseen one: its unit back on sale)
    link = await link_row(world.db, sku_id)
    assert (link["pushed_quantity"], link["held_quantity"]) == (pool_available - 1, 1)
    assert shown(world, shop, sku.tiktok_sku_id) == pool_available - 1


async def test_a_pushed_sku_whose_sale_shipped_while_unlinked_holds_nothing_back_once_linked_by_hand_elsewhere(
    world: PushWorld,
) -> None:
    # given the shop's page read and written (a SKU left without an item), two items the merchant made, the SKU
    # linked by hand to the first and pushed with the fence (its baseline from now on: that push's)
    given = await an_unlinked_sku(world)
    shop, sku, sku_id = given.shop, given.sku, given.sku_id
    first = await add_item(world.db, "m1", "HAND-MADE-1", ON_HAND)
    other = await add_item(world.db, "m1", "HAND-MADE-2", ON_HAND)
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})
    await link_by_hand(world, shop, sku_id, first)
    await push_shop(shop.id, world.deps(fence=True))
    assert (await link_row(world.db, sku_id))["pushed_at"] is not None
    # and the SKU unlinked by hand; a buyer's sale of it made then, seen open and seen shipped, while it is unlinked
    await unlink_by_hand(world, shop, sku_id)
    order_id = sell(world, shop, sku.tiktok_sku_id)
    await ingest(world, shop, [await fetched(world, shop, order_id)])
    world.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "IN_TRANSIT"})
    await ingest(world, shop, [await fetched(world, shop, order_id)])

    # when the merchant links the SKU by hand to the other item, and the shop is pushed with the fence
    await link_by_hand(world, shop, sku_id, other)
    pool_available = await available(world, other)
    await push_shop(shop.id, world.deps(fence=True))

    # then nothing is held back: TikTok's fall since the last push is that sale, which the pool has (history on the
    # other item: which shelf it left is the merchant's count to say); held back as unseen, the other item showed one
    # unit less on every shop for the hold's horizon
    link = await link_row(world.db, sku_id)
    assert (link["pushed_quantity"], link["held_quantity"]) == (pool_available, 0)
    assert shown(world, shop, sku.tiktok_sku_id) == pool_available
