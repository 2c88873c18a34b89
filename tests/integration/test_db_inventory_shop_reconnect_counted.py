"""A merchant's count (`inventorySetOnHand`) taken while a shop is deleted, before the same TikTok shop is connected
again (review58 R3): the lines that shop's delete took off on-hand (its open orders, `back_with_its_shop`; its push's
holds of sales unseen, `back_from_unseen`) come back as lines the count found on the shelf, not by undoing the
delete's deduction the count already made up for. On SQLite and PostgreSQL, through the delete and count use cases
and the imports, products or orders first.

The shelf is the oracle: every unit that left it leaves the pool's on-hand once, none twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import deleted_shop_holds, deleted_shop_lines, sku_links
from domain.catalog import Order
from domain.services import inventory as pool
from domain.services.shops import delete_shop
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import add_shop, make_shop

HOW = pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def _hat_on_two_shops(world: Pool) -> Shop:
    """HAT (10 on hand) linked by a kept shop and by g1 of a second shop: that second shop."""
    kept, shop = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "HAT", 10)))
    await world.products(shop, product("q", ("g1", "HAT", 10)))
    return shop


async def _count(world: Pool, on_hand: int, seen: int) -> None:
    """The merchant counts HAT's shelf: `on_hand`, over the `seen` it showed."""
    hat = (await world.item("HAT"))["id"]
    await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", hat, on_hand, seen)


async def _reconnect(world: Pool, gone: Shop, orders_first: bool, *seen: Order) -> Shop:
    """The same TikTok shop connected again: its products import (g1 -> HAT by seller SKU) and its orders import
    reading `seen`, in either order."""
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    if orders_first:
        await world.orders(again, *seen)
    await world.products(again, product("q", ("g1", "HAT", 8), at=world.clock.now()))
    if not orders_first:
        await world.orders(again, *seen)
    return again


async def _records(world: Pool, table) -> int:  # type: ignore[no-untyped-def]
    async with world.db.read_sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def _count_the_shelf(world: Pool, shipped_before_the_count: bool) -> datetime | None:
    """A minute on, the merchant's count of HAT's shelf while the shop is deleted: 10, the sale's 2 units on it, or 8
    when the sale shipped a minute before the count (then returns when it shipped; else None); then a minute on."""
    world.clock.advance(timedelta(minutes=1))
    shipped_at = None
    if shipped_before_the_count:
        shipped_at = world.clock.now()
        world.clock.advance(timedelta(minutes=1))
        await _count(world, 8, 8)
    else:
        await _count(world, 10, 8)
    world.clock.advance(timedelta(minutes=1))
    return shipped_at


@HOW
@pytest.mark.parametrize(
    ("read_open_first", "then", "shipped_before_the_count", "expected"),
    [
        (False, "IN_TRANSIT", False, (8, 0, 8)),
        (True, "IN_TRANSIT", False, (8, 0, 8)),
        (False, "CANCELLED", False, (10, 0, 10)),
        (False, "IN_TRANSIT", True, (8, 0, 8)),
    ],
    ids=["first-seen-shipped", "open-then-shipped", "first-seen-cancelled", "shipped-before-the-count"],
)
async def test_a_count_while_the_shop_was_deleted_is_not_undone_when_its_reserved_line_comes_back(
    world: Pool,
    orders_first: bool,
    read_open_first: bool,
    then: str,
    shipped_before_the_count: bool,
    expected: tuple[int, int, int],
) -> None:
    # given HAT (10) on two shops, an open sale o1 of 2 units on the second reserved (10/2/8); the second shop is
    # deleted: the delete takes the reservation off on-hand (8/0/8), the units still on the shelf, to ship
    shop = await _hat_on_two_shops(world)
    world.clock.advance(timedelta(minutes=1))
    o1 = order("o1", "AWAITING_SHIPMENT", "g1", "g1", at=world.clock.now())
    await world.orders(shop, o1)
    assert await world.counts("HAT") == (10, 2, 8)
    world.clock.advance(timedelta(minutes=1))
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)
    assert await world.counts("HAT") == (8, 0, 8)

    # when the merchant counts HAT's shelf while the shop is deleted: 10, o1's units on it (or 8, o1 shipped before
    # the count); and the same TikTok shop is connected again, its import reading o1 (maybe open first), which ships
    # (or is cancelled) after the count
    shipped_at = await _count_the_shelf(world, shipped_before_the_count)
    if read_open_first:
        again = await _reconnect(world, shop, orders_first, replace(o1, updated_at=world.clock.now()))
        assert await world.counts("HAT") == (10, 2, 8)  # the counted shelf's 10, o1's 2 still to ship
        world.clock.advance(timedelta(minutes=1))
        await world.orders(again, replace(o1, status=then, updated_at=world.clock.now()))
    else:
        world.clock.advance(timedelta(minutes=1))
        at = shipped_at or world.clock.now()
        again = await _reconnect(world, shop, orders_first, replace(o1, status=then, updated_at=at))

    # then the shipment takes its 2 units off the counted shelf once (8/0/8; before, 10/0/10: the delete's deduction
    # undone over the count, 2 units on sale on every shop that had left the shelf), or none when the count had found
    # them gone; cancelled, the counted 10 stay (before, 12/0/12); the delete's record has served, and a replay moves
    # nothing
    assert await world.counts("HAT") == expected
    assert await _records(world, deleted_shop_lines) == 0
    version = (await world.item("HAT"))["version"]
    await world.orders(again, replace(o1, status=then, updated_at=world.clock.now()))
    assert (await world.item("HAT"))["version"] == version


@HOW
@pytest.mark.parametrize(
    ("status", "shipped_before_the_count", "expected"),
    [("AWAITING_SHIPMENT", False, (10, 2, 8)), ("IN_TRANSIT", False, (8, 0, 8)), ("IN_TRANSIT", True, (8, 0, 8))],
    ids=["open", "shipped-after-the-count", "shipped-before-the-count"],
)
async def test_a_count_while_the_shop_was_deleted_is_not_undone_when_a_sale_its_push_held_back_comes_back(
    world: Pool, orders_first: bool, status: str, shipped_before_the_count: bool, expected: tuple[int, int, int]
) -> None:
    # given HAT (10) on two shops; a sale o9 of 2 units on the second made a minute after its link, never ingested,
    # which the second's push held back as sold unseen; the second shop deleted: the hold's units leave on-hand
    # ("shop deleted: sold unseen", 8/0/8), still on the shelf, to ship
    shop = await _hat_on_two_shops(world)
    made = world.clock.now() + timedelta(minutes=1)
    pushed = made + timedelta(minutes=1)
    async with world.db.write_sessionmaker() as session, session.begin():
        held = {"held_quantity": 2, "held_since": pushed, "pushed_quantity": 8, "pushed_at": pushed}
        await session.execute(update(sku_links).where(sku_links.c.shop_id == shop.id).values(**held))
    world.clock.advance(timedelta(minutes=3))
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)
    assert await world.counts("HAT") == (8, 0, 8)

    # when the merchant counts HAT's shelf while the shop is deleted: 10, o9's units on it (or 8, o9 shipped before the
    # count); and the same TikTok shop is connected again, its import reading o9 open, or shipped after the count (or
    # before it)
    shipped_at = await _count_the_shelf(world, shipped_before_the_count)
    at = shipped_at or world.clock.now()
    o9 = replace(order("o9", status, "g1", "g1", at=made), updated_at=at)
    again = await _reconnect(world, shop, orders_first, o9)

    # then open, it reserves on the counted shelf (10/2/8; before, 12/2/10: the hold's units given back over the
    # count); shipped after the count, its 2 units leave the counted shelf once (8/0/8; before, 10/0/10), and shipped
    # before it, none (8/0/8); the hold's record has served in every case, in either import order (a line that moved
    # nothing, first seen shipped before the count, spends it with nothing given back: the count since the delete set
    # the truth, `ledger.counted_unseen_back_on_hand`; before review61 F6 the record stayed, to the scheduler's
    # give-back or the retention sweep), and a replay moves nothing
    assert await world.counts("HAT") == expected
    assert await _records(world, deleted_shop_holds) == 0
    version = (await world.item("HAT"))["version"]
    await world.orders(again, o9)
    assert (await world.item("HAT"))["version"] == version


@HOW
async def test_a_shipment_a_count_covered_before_the_shops_delete_leaves_the_counted_shelf_once(
    world: Pool, orders_first: bool
) -> None:
    # given HAT (10) on two shops; o1 (2 units) on the second seen open (10/2/8), shipped at U (its webhook lost); a
    # minute later the merchant counts HAT's shelf: 8, o1's units gone (8/2/6: still reserved in the ledger); then
    # deletes the shop (its reserved units off on-hand: 6/0/6)
    shop = await _hat_on_two_shops(world)
    world.clock.advance(timedelta(minutes=1))
    sale = order("o1", "AWAITING_SHIPMENT", "g1", "g1", at=world.clock.now())
    await world.orders(shop, sale)
    world.clock.advance(timedelta(minutes=1))
    shipped = replace(sale, status="IN_TRANSIT", updated_at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await _count(world, 8, 10)
    assert await world.counts("HAT") == (8, 2, 6)
    world.clock.advance(timedelta(minutes=1))
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)
    assert await world.counts("HAT") == (6, 0, 6)

    # when the same TikTok shop is connected again and its import reads the shipped version dated U
    await _reconnect(world, shop, orders_first, shipped)

    # then HAT is as counted: the count covered the shipment, and the delete's deduction of the reservation is undone,
    # as on the never-deleted connection (review59 F4; before: 6/0/6 for good)
    assert await world.counts("HAT") == (8, 0, 8)
