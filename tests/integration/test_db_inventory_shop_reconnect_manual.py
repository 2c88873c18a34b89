"""A SKU the merchant linked by hand (`skuLink`) to an item other than the one its seller SKU names, its shop deleted
and the same TikTok shop connected again (poolfix54 finding 3): the reconnect's products import links it to that item
by hand again, not by seller SKU, and every line of its orders moves that item as on the never-deleted connection;
on SQLite and PostgreSQL, through the delete use case, the imports and the merchant's link."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import deleted_shop_links, sku_links
from domain.services.shops import delete_shop
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import add_shop, make_shop


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def _delete(world: Pool, shop: Shop) -> None:
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
@pytest.mark.parametrize("seen_open", [False, True], ids=["unseen", "reserved-at-delete"])
async def test_a_sku_linked_by_hand_elsewhere_keeps_its_link_and_its_sale_across_a_delete_and_reconnect(
    world: Pool, seen_open: bool, orders_first: bool
) -> None:
    # given SOCK and HAT (10 on hand each) linked by a first shop; the second shop's SKU g1 (seller SKU SOCK) linked
    # by the merchant by hand to HAT; a sale o1 (2 units) of g1 made under that link, never ingested (webhooks lost,
    # no poll), or seen open (reserved on HAT: 10/2/8); then the second shop is deleted
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10), ("k2", "HAT", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    hat = (await world.item("HAT"))["id"]
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(gone, "g1", hat)
    world.clock.advance(timedelta(minutes=1))
    o1 = order("o1", "IN_TRANSIT", "g1", "g1", at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    if seen_open:
        await world.orders(gone, replace(o1, status="AWAITING_SHIPMENT", updated_at=o1.created_at))
        assert await world.counts("HAT") == (10, 2, 8)
    o1 = replace(o1, updated_at=world.clock.now())  # (it ships from HAT's shelf: the shelf holds 8 HAT, 10 SOCK)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)

    # when the same TikTok shop is connected again: its products import and its orders import (o1 shipped), in
    # either order
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    if orders_first:
        await world.orders(again, o1)
    await world.products(again, product("q", ("g1", "SOCK", 10), at=world.clock.now()))
    if not orders_first:
        await world.orders(again, o1)

    # then g1 is linked by hand to HAT again, and o1's 2 units left HAT's on-hand once, SOCK untouched, as on the
    # never-deleted connection (before: g1 linked to SOCK by seller SKU, and o1 history there, HAT 10/0/10 for the 8 on
    # the shelf; or, reserved at the delete, HAT 8/0/8 only after the merchant linked g1 to HAT again, 6/0/6 once o1
    # shipped); a replay moves nothing
    assert (await world.link_row(again, "g1"))[1:] == ("LINKED", "MANUAL", hat)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))
    version = (await world.item("HAT"))["version"]
    await world.orders(again, o1)
    assert (await world.item("HAT"))["version"] == version


async def test_a_sku_linked_by_hand_elsewhere_reserved_at_the_reconnect_ships_once_from_its_item(world: Pool) -> None:
    # given g1 (seller SKU SOCK) of the second shop linked by hand to HAT, an open order o1 (2 units) reserved on HAT
    # (10/2/8); the shop deleted (o1's units leave HAT with it: 8/0/8)
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10), ("k2", "HAT", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    hat = (await world.item("HAT"))["id"]
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(gone, "g1", hat)
    world.clock.advance(timedelta(minutes=1))
    o1 = order("o1", "AWAITING_SHIPMENT", "g1", "g1", at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await world.orders(gone, o1)
    await _delete(world, gone)
    assert await world.counts("HAT") == (8, 0, 8)

    # when the same TikTok shop is connected again, its import reads o1 still open, and o1 then ships
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    await world.products(again, product("q", ("g1", "SOCK", 10), at=world.clock.now()))
    await world.orders(again, replace(o1, updated_at=world.clock.now()))
    assert await world.counts("HAT") == (10, 2, 8)
    world.clock.advance(timedelta(minutes=1))
    await world.orders(again, replace(o1, status="IN_TRANSIT", updated_at=world.clock.now()))

    # then HAT holds the shelf's 8 and SOCK its 10 (before: o1 reserved on SOCK by seller SKU, and once the merchant
    # linked g1 to HAT again and o1 shipped, HAT 6/0/6: its units taken twice)
    assert (await world.link_row(again, "g1"))[1:] == ("LINKED", "MANUAL", hat)
    assert (await world.counts("HAT"), await world.counts("SOCK")) == ((8, 0, 8), (10, 0, 10))


async def test_a_sku_linked_by_hand_to_an_item_gone_since_links_by_its_seller_sku_at_the_reconnect(world: Pool) -> None:
    # given g1 (seller SKU SOCK) and g2 (HAT) of the second shop; HAT, seeded by g2 and linked by no other shop, with g1
    # linked to it by hand; the shop deleted: HAT goes with it (nothing on it is the merchant's by hand), and so does
    # the kept link of g1 to it
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10), ("g2", "HAT", 5)))
    hat = (await world.item("HAT"))["id"]
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(gone, "g1", hat)
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    async with world.db.read_sessionmaker() as session:
        kept_links = (await session.execute(select(deleted_shop_links.c.inventory_item_id))).scalars().all()
    assert hat not in kept_links

    # when the same TikTok shop is connected again
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    await world.products(again, product("q", ("g1", "SOCK", 10), ("g2", "HAT", 5), at=world.clock.now()))

    # then g1 links by its seller SKU to SOCK, as a SKU never linked does; g2 seeds a new HAT
    sock = (await world.item("SOCK"))["id"]
    assert (await world.link_row(again, "g1"))[1:] == ("LINKED", "AUTO", sock)
    assert (await world.link_row(again, "g2"))[1:] == ("LINKED", "AUTO", (await world.item("HAT"))["id"])


async def test_only_the_links_made_by_hand_come_back_by_hand_at_the_reconnect(world: Pool) -> None:
    # given the second shop's g1 (seller SKU SOCK) linked by hand to HAT, and g2 (seller SKU HAT) linked to HAT by its
    # seller SKU; the shop deleted
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10), ("k2", "HAT", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10), ("g2", "HAT", 10)))
    hat = (await world.item("HAT"))["id"]
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(gone, "g1", hat)
    await _delete(world, gone)

    # when the same TikTok shop is connected again
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    await world.products(again, product("q", ("g1", "SOCK", 10), ("g2", "HAT", 10), at=world.clock.now()))

    # then g1 is linked by hand to HAT as the merchant left it, and g2 by its seller SKU, still the import's to decide;
    # both join HAT alike: the same time (the reconnect's) and the same push fence baseline
    assert (await world.link_row(again, "g1"))[1:] == ("LINKED", "MANUAL", hat)
    assert (await world.link_row(again, "g2"))[1:] == ("LINKED", "AUTO", hat)
    async with world.db.read_sessionmaker() as session:
        links = sku_links.c
        query = select(links.tiktok_sku_id, links.linked_at, links.seeded_available, links.baseline_read_at).where(
            links.shop_id == again.id
        )
        joins = {sku: tuple(rest) for sku, *rest in (await session.execute(query)).all()}
    assert joins["g1"] == joins["g2"]
    assert joins["g1"][0] == world.clock.now()
