"""The fence on a link's first push when its shop's stock seeded its item (README, "Shared inventory pool": a
link's first push is fenced), below GraphQL: real database (both), the sandbox over HTTP as TikTok. The
shop's product page is read and written as the import does (Search Products, then the catalog upsert and the
pool's auto-link in one transaction: the item seeded from the page's stock, `stock_counted_at` its request), then
the shop is pushed with the fence. A buyer's sale between the read and that push whose webhook is lost (its order
simply not fetched) must not go back on sale; orders the pool does ingest, before or after the page, must not be
taken for unseen sales, nor hide one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from adapters.db.tables import inventory_items, sku_links
from domain.catalog import Order, Sku
from domain.inventory.ledger import OPEN_STATUSES
from domain.services import inventory as pool
from domain.services.inventory_push import push_shop
from domain.shops import Shop
from domain.stored import StoredOrder, StoredProduct
from tests.fixtures.sync import connect_shop
from tests.integration.pool_push_support import (
    PushWorld,
    link_row,
    sandbox_products,
    tiktok_stock,
    world_fixture,  # noqa: F401 - the `world` fixture
)


async def read_page(world: PushWorld, shop: Shop) -> list[StoredProduct]:
    """The shop's products as the import reads them (one Search Products page; each carries its `stock_read_at`)."""
    page = await world.tiktok.search_products(shop.tokens.access_token, shop.tiktok_shop_cipher, page_size=100)
    assert page.next_page_token in (None, ""), "the sandbox should have one page of products"
    products = [p for p in page.items if isinstance(p, StoredProduct)]
    assert products and all(p.stock_read_at is not None for p in products)
    return products


async def write_page(world: PushWorld, shop: Shop, products: Sequence[StoredProduct]) -> None:
    """The page written as the import writes it: the catalog upserted and its SKUs auto-linked (new items seeded
    from the page's stock), in one transaction."""
    async with world.uows() as uow:
        await uow.catalog.upsert_products(shop.id, list(products))
        await pool.pool_products(uow, None, None, shop.id, list(products))
        await uow.commit()


async def shop_orders(world: PushWorld, shop: Shop) -> list[Order]:
    """Every order the sandbox made for the shop before the test (Search Orders, all pages)."""
    found: list[Order] = []
    token: str | None = None
    while True:
        page = await world.tiktok.search_orders(shop.tokens.access_token, shop.tiktok_shop_cipher, page_token=token)
        found += [o.order() for o in page.items if isinstance(o, StoredOrder)]
        token = page.next_page_token
        if not token:
            return found


async def ingest(world: PushWorld, shop: Shop, orders: Sequence[Order]) -> None:
    """What webhooks or the orders import bring: the orders upserted and the ledger moved, in one transaction."""
    async with world.uows() as uow:
        await uow.catalog.upsert_orders(shop.id, list(orders))
        await pool.pool_orders(uow, None, None, shop.id, list(orders))
        await uow.commit()


async def fetched(world: PushWorld, shop: Shop, order_id: str) -> Order:
    (order,) = await world.tiktok.get_orders(shop.tokens.access_token, shop.tiktok_shop_cipher, [order_id])
    assert isinstance(order, Order)
    return order


def open_units(orders: Sequence[Order], tiktok_sku_id: str) -> int:
    return sum(
        line.quantity
        for order in orders
        if order.status in OPEN_STATUSES
        for line in order.line_items
        if line.tiktok_sku_id == tiktok_sku_id and not line.combined_listing_skus
    )


def a_sellable_sku(world: PushWorld, shop: Shop, products: Sequence[StoredProduct], orders: Sequence[Order]) -> Sku:
    """A SKU buyers can buy that links on its own (a seller SKU no other SKU of the shop has), with 3 units or more:
    the one with the most units in the shop's open orders (which TikTok's stock read left out)."""
    live = {
        sku["id"]
        for product in sandbox_products(world.sandbox, shop)
        if product["status"] == "ACTIVATE" and not product.get("product_types")
        for sku in product["skus"]
    }
    every = [sku for product in products for sku in product.product().skus]
    seller_skus = [sku.seller_sku for sku in every]
    candidates = [
        sku
        for sku in every
        if sku.tiktok_sku_id in live
        and not sku.bundle
        and sku.seller_sku
        and seller_skus.count(sku.seller_sku) == 1
        and sku.quantity >= 3
    ]
    assert candidates
    return max(candidates, key=lambda sku: (open_units(orders, sku.tiktok_sku_id), sku.tiktok_sku_id))


def shown(world: PushWorld, shop: Shop, tiktok_sku_id: str) -> int:
    return sum(tiktok_stock(world.sandbox, shop)[tiktok_sku_id].values())


def sell(world: PushWorld, shop: Shop, tiktok_sku_id: str) -> str:
    """A buyer's order of 1 unit at TikTok (its available drops by 1); its webhook is lost unless it is ingested."""
    placed = world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": tiktok_sku_id,
                                                                                     "quantity": 1})  # fmt: skip
    return str(placed["order_id"])


async def available_of(world: PushWorld, tiktok_sku_id: str) -> int:
    items = inventory_items.c
    async with world.db.read_sessionmaker() as session:
        query = (
            select(items.on_hand - items.reserved - items.safety_stock)
            .join(sku_links, sku_links.c.inventory_item_id == items.id)
            .where(sku_links.c.tiktok_sku_id == tiktok_sku_id)
        )
        return int((await session.execute(query)).scalar_one())


async def seeded_link(world: PushWorld, tiktok_sku_id: str) -> dict[str, Any]:
    async with world.db.read_sessionmaker() as session:
        sku_id = (
            await session.execute(select(sku_links.c.sku_id).where(sku_links.c.tiktok_sku_id == tiktok_sku_id))
        ).scalar_one()
    return await link_row(world.db, sku_id)


SEEN_ORDERS = ["none", "open-orders-before-the-read", "a-sale-since-ingested-before-the-page",
               "a-sale-since-ingested-after-the-page"]  # fmt: skip


@pytest.mark.parametrize("seen", SEEN_ORDERS, ids=SEEN_ORDERS)
async def test_a_sale_between_the_seeding_read_and_the_first_push_is_held_back(world: PushWorld, seen: str) -> None:
    # given a shop whose product page is read: its SKU will seed a new item with TikTok's stock (A units)
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox)
    orders = await shop_orders(world, shop)
    products = await read_page(world, shop)
    sku = a_sellable_sku(world, shop, products, orders)
    read = shown(world, shop, sku.tiktok_sku_id)
    assert read == sku.quantity
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})  # (the sales below well after the read)
    # and, in some cases, orders the pool does ingest: a sale made after the read, ingested before the page is
    # written (its line waits for the link, then reserves) or after (it reserves)
    seen_sales = 0
    if seen == "a-sale-since-ingested-before-the-page":
        await ingest(world, shop, [await fetched(world, shop, sell(world, shop, sku.tiktok_sku_id))])
        seen_sales = 1
    await write_page(world, shop, products)
    if seen == "a-sale-since-ingested-after-the-page":
        await ingest(world, shop, [await fetched(world, shop, sell(world, shop, sku.tiktok_sku_id))])
        seen_sales = 1
    if seen == "open-orders-before-the-read":  # the orders import, after the products': the seed's open orders
        assert open_units(orders, sku.tiktok_sku_id) > 0
        await ingest(world, shop, orders)
    assert await available_of(world, sku.tiktok_sku_id) == read - seen_sales  # as TikTok shows it

    # when a buyer takes 1 unit at TikTok whose webhook is lost (the pool never hears of it), before the first push
    sell(world, shop, sku.tiktok_sku_id)
    assert shown(world, shop, sku.tiktok_sku_id) == read - seen_sales - 1
    await push_shop(shop.id, world.deps(fence=True))

    # then TikTok's available does not go back up by the unit sold: the push holds it back (what the link shows as
    # `heldBackQuantity`). Without a baseline for the link's first push, it wrote the pool's available over it: one
    # unit on sale twice until the order is ingested.
    assert shown(world, shop, sku.tiktok_sku_id) == read - seen_sales - 1
    link = await seeded_link(world, sku.tiktok_sku_id)
    assert (link["pushed_quantity"], link["held_quantity"]) == (read - seen_sales - 1, 1)
    assert link["seeded_available"] is None  # the push's own baseline from now on


@pytest.mark.parametrize("ingested", ["before-the-page", "after-the-page"], ids=["before-the-page", "after-the-page"])
async def test_a_sale_since_the_seeding_read_ingested_before_the_first_push_is_not_held_back(
    world: PushWorld, ingested: str
) -> None:
    # given a shop whose product page is read (A units of a SKU), and a buyer's sale of 1 unit made after that read
    # which the pool does ingest, before the page is written or after it
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox)
    products = await read_page(world, shop)
    sku = a_sellable_sku(world, shop, products, [])
    read = shown(world, shop, sku.tiktok_sku_id)
    world.sandbox.control("POST", "/clock", {"advance_seconds": 60})
    sale = sell(world, shop, sku.tiktok_sku_id)
    if ingested == "before-the-page":
        await ingest(world, shop, [await fetched(world, shop, sale)])
    await write_page(world, shop, products)
    if ingested == "after-the-page":
        await ingest(world, shop, [await fetched(world, shop, sale)])

    # when the shop is first pushed
    await push_shop(shop.id, world.deps(fence=True))

    # then nothing is held back: TikTok shows the pool's available, A - 1
    assert await available_of(world, sku.tiktok_sku_id) == read - 1
    assert shown(world, shop, sku.tiktok_sku_id) == read - 1
    link = await seeded_link(world, sku.tiktok_sku_id)
    assert (link["pushed_quantity"], link["held_quantity"]) == (read - 1, 0)
