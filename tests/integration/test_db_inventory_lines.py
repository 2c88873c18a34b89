"""The order ledger line by line, on SQLite and PostgreSQL: a line's own status decides its move (an item-level
cancellation releases one line of an open order), and a line reserved before its SKU was unlinked, shipped while
unlinked, deducts once its SKU is linked to the same item again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import inventory_movements, line_items, order_line_stock, orders, sku_links
from domain.catalog import Order
from domain.services import inventory as pool
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, linked_hat_reserved_and_another_item, order, product
from tests.integration.db_samples import NOW


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


def with_line_statuses(record: Order, *statuses: str | None) -> Order:
    """`record` with each line's own `display_status`, in line order."""
    lines = tuple(replace(line, display_status=s) for line, s in zip(record.line_items, statuses, strict=True))
    return replace(record, line_items=lines)


async def test_a_line_cancelled_alone_releases_its_unit_and_the_rest_ships(world: Pool) -> None:
    # given an open order of 2 units of CAP (10 on hand): 2 reserved
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "CAP", 10)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s", "s"))
    assert (await world.item("CAP"))["reserved"] == 2
    # when the seller cancels one of its lines (item-level cancellation: the order stays AWAITING_SHIPMENT), and
    # the same update arrives twice
    cancelled = with_line_statuses(
        order("o1", "AWAITING_SHIPMENT", "s", "s", at=NOW + timedelta(minutes=1)), "AWAITING_SHIPMENT", "CANCELLED"
    )
    await world.orders(shop, cancelled)
    await world.orders(shop, cancelled)
    # then that line's unit is released, once: 1 reserved, 9 available
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)
    # and when the order ships, its cancelled line still saying so, only the shipped unit leaves on-hand
    shipped = with_line_statuses(
        order("o1", "IN_TRANSIT", "s", "s", at=NOW + timedelta(minutes=2)), "IN_TRANSIT", "CANCELLED"
    )
    await world.orders(shop, shipped, shipped)
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (9, 0, 9)
    async with world.db.read_sessionmaker() as session:
        states = (
            await session.execute(
                select(order_line_stock.c.tiktok_line_item_id, order_line_stock.c.state).order_by(
                    order_line_stock.c.tiktok_line_item_id
                )
            )
        ).all()
        movements = inventory_movements.c
        moved = (
            await session.execute(
                select(movements.kind, movements.on_hand_delta, movements.reserved_delta)
                .where(movements.tiktok_order_id == "o1")
                .order_by(movements.kind)
            )
        ).all()
    assert [tuple(row) for row in states] == [("o1-0", "DEDUCTED"), ("o1-1", "RELEASED")]
    assert [tuple(row) for row in moved] == [("DEDUCTED", -1, -1), ("RELEASED", 0, -1), ("RESERVED", 0, 2)]


async def test_an_order_shipped_in_the_second_it_was_paid_is_not_set_back_by_a_lagging_detail(world: Pool) -> None:
    """Try-out livesync52, defect 1: TikTok's `update_time` is whole seconds, and Get Order Detail may lag one
    version behind Get Order List; its AWAITING_SHIPMENT of the second the order shipped is the older version
    (`domain.catalog.older_order_version`): the order, its line items and its ledger lines stay as shipped."""
    # given an order of 2 units of CAP (10 on hand), paid, then shipped within the same second (one update_time)
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "CAP", 10)))
    paid = order("o1", "AWAITING_SHIPMENT", "s", "s", at=NOW + timedelta(minutes=1))
    await world.orders(shop, paid)
    await world.orders(shop, replace(paid, status="IN_TRANSIT"))
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"]) == (8, 0)
    # when a webhook's re-fetch gets the paid version of that second again (Get Order Detail's read lag), twice
    await world.orders(shop, paid)
    await world.orders(shop, paid)
    # then the order stays shipped, with its line items, and no unit moves back
    async with world.db.read_sessionmaker() as session:
        status = (await session.execute(select(orders.c.status).where(orders.c.tiktok_order_id == "o1"))).scalar_one()
        lines = (await session.execute(select(line_items.c.tiktok_line_item_id).order_by(line_items.c.position))).all()
        states = (await session.execute(select(order_line_stock.c.state, order_line_stock.c.wanted))).all()
    assert status == "IN_TRANSIT"
    assert [line for (line,) in lines] == ["o1-0", "o1-1"]
    assert [tuple(row) for row in states] == [("DEDUCTED", "DEDUCT")] * 2
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 0, 8)


async def test_a_line_first_seen_cancelled_on_an_open_order_reserves_nothing(world: Pool) -> None:
    # given a SKU linked, when an open order arrives with one of its two lines already cancelled
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "CAP", 10)))
    await world.orders(shop, with_line_statuses(order("o1", "AWAITING_SHIPMENT", "s", "s"), None, "CANCELLED"))
    # then only the open line reserves
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"]) == (10, 1)


async def _unlink_relink_with_shipment_again(
    world: Pool, shop: Shop, sku_id: str, item_id: str, shipped: Order
) -> None:
    """The merchant unlinks the SKU, the shipment `shipped` arrives again meanwhile, and the SKU is linked back."""
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    await world.orders(shop, shipped)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, item_id)


async def test_a_line_reserved_unlinked_and_shipped_deducts_once_from_its_item(world: Pool) -> None:
    # given an open order of 2 units of HAT (10 on hand), reserved
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "HAT", 10)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s", "s"))
    async with world.db.read_sessionmaker() as session:
        sku_id, hat = (await session.execute(select(sku_links.c.sku_id, sku_links.c.inventory_item_id))).one()
    # when the merchant unlinks the SKU (its reservation stays on HAT: the order was placed on HAT's SKU), the order
    # ships meanwhile (twice: a duplicate webhook), and the merchant links the SKU to the same item again
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    assert (await world.item("HAT"))["reserved"] == 2
    shipped = order("o1", "IN_TRANSIT", "s", "s", at=NOW + timedelta(minutes=1))
    await world.orders(shop, shipped)
    await world.orders(shop, shipped)
    # then the 2 units that left the shelf leave on-hand with their reservation at the shipment (before try-out
    # pool51 the unlink gave them back, on sale while still to ship, and they left on-hand only at the relink)
    item = await world.item("HAT")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 0, 8)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, hat)
    item = await world.item("HAT")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 0, 8)
    # and once only: unlinking and relinking again, or the shipment arriving again, moves nothing more
    await _unlink_relink_with_shipment_again(world, shop, sku_id, hat, shipped)
    item = await world.item("HAT")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 0, 8)


async def test_a_line_unlinked_while_open_counts_once_relinked_and_one_cancelled_meanwhile_stays_released(
    world: Pool,
) -> None:
    # given two open orders of HAT (10 on hand), 1 unit each, reserved
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "HAT", 10)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s"), order("o2", "AWAITING_SHIPMENT", "s"))
    async with world.db.read_sessionmaker() as session:
        sku_id, hat = (await session.execute(select(sku_links.c.sku_id, sku_links.c.inventory_item_id))).one()
    # when the SKU is unlinked, one order is cancelled meanwhile, and the SKU is linked to the same item again
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    await world.orders(shop, order("o2", "CANCELLED", "s", at=NOW + timedelta(minutes=1)))
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, hat)
    # then the open one is counted once (it stayed reserved through the unlink) and the cancelled one released its
    # unit at its cancellation
    item = await world.item("HAT")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)


async def test_a_line_reserved_and_shipped_while_unlinked_leaves_its_item_whatever_the_sku_links_to_next(
    world: Pool,
) -> None:
    # given an open order of HAT reserved, its SKU unlinked (the order stays reserved on HAT), the order shipped
    # meanwhile: its unit leaves HAT's on-hand, the shelf it was placed on
    shop, sku_id, other = await linked_hat_reserved_and_another_item(world)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    await world.orders(shop, order("o1", "DELIVERED", "s", at=NOW + timedelta(minutes=1)))
    assert ((await world.item("HAT"))["on_hand"], (await world.item("HAT"))["reserved"]) == (9, 0)
    # when the SKU is linked to another item
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, other.id)
    # then nothing moves again: the shipment was deducted once, from HAT (before try-out pool51 the unlink gave the
    # unit back and the line stayed history: HAT 10 on hand for 9 on the shelf)
    assert ((await world.item("HAT"))["on_hand"], (await world.item("HAT-2"))["on_hand"]) == (9, 5)


async def _hat_unlinked(world: Pool) -> tuple[Shop, str, str]:
    """Given SKU s (HAT, 10 in stock, its stock read at NOW) linked to item HAT, then unlinked by the merchant:
    (the shop, the SKU's id, HAT's id)."""
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "HAT", 10)))
    async with world.db.read_sessionmaker() as session:
        sku_id, hat = (await session.execute(select(sku_links.c.sku_id, sku_links.c.inventory_item_id))).one()
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    return shop, sku_id, hat


async def test_a_sale_first_seen_shipped_while_unlinked_deducts_once_when_relinked_to_its_item(world: Pool) -> None:
    # given HAT's SKU unlinked, and orders first seen while it is: one sold since the link and shipped (twice: a
    # duplicate webhook), one shipped before the link (history), one still open
    shop, sku_id, hat = await _hat_unlinked(world)
    later = NOW + timedelta(minutes=1)
    shipped = order("o1", "IN_TRANSIT", "s", "s", at=later)
    await world.orders(shop, shipped, order("o0", "DELIVERED", "s", at=NOW - timedelta(hours=1)))
    await world.orders(shop, shipped, order("o2", "AWAITING_SHIPMENT", "s", at=later))
    assert (await world.item("HAT"))["on_hand"] == 10
    # when the merchant links the SKU to the same item again
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, hat)
    # then the 2 shipped units leave on-hand, the open one reserves, the older sale stays history
    item = await world.item("HAT")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 1, 7)
    # and once only: the shipment arriving again, or unlinking and relinking again, moves nothing more
    await world.orders(shop, shipped)
    await _unlink_relink_with_shipment_again(world, shop, sku_id, hat, shipped)
    item = await world.item("HAT")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 1, 7)


async def test_a_sale_first_seen_shipped_while_unlinked_stays_history_when_linked_to_another_item(
    world: Pool,
) -> None:
    # given HAT's SKU unlinked and a sale of it first seen shipped meanwhile
    shop, sku_id, hat = await _hat_unlinked(world)
    other = await pool.create_item(world.uows, world.queue, world.events, world.clock, "merchant-a", "HAT-2", 5, 0)
    await world.orders(shop, order("o1", "IN_TRANSIT", "s", at=NOW + timedelta(minutes=1)))
    async with world.db.read_sessionmaker() as session:
        waiting = (await session.execute(select(order_line_stock.c.state, order_line_stock.c.inventory_item_id))).all()
    assert [tuple(row) for row in waiting] == [("PENDING_LINK", hat)]  # it waits, remembering HAT
    # when the SKU is linked to another item: which shelf the unit left is the merchant's to say (a count)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, other.id)
    # then neither item moves
    assert ((await world.item("HAT"))["on_hand"], (await world.item("HAT-2"))["on_hand"]) == (10, 5)


async def test_a_sale_made_while_unlinked_first_seen_shipped_after_the_relink_deducts(world: Pool) -> None:
    # given HAT's SKU unlinked, a sale made meanwhile whose webhooks are lost, and the SKU linked to HAT again
    shop, sku_id, hat = await _hat_unlinked(world)
    world.clock.advance(timedelta(minutes=10))
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, hat)
    # when a poll first sees that sale, shipped (created before the relink, after the first link)
    await world.orders(shop, order("o1", "IN_TRANSIT", "s", at=NOW + timedelta(minutes=1)))
    # then it deducts: the relink to the same item keeps its first link's time, the unlink was a pause
    assert (await world.item("HAT"))["on_hand"] == 9


async def test_an_order_the_seeding_read_left_out_reserves_in_the_seed_after_an_unlink_and_relink(world: Pool) -> None:
    # given a product page whose TikTok stock was read at NOW: 5 available, seeding item MUG
    shop = await world.shop()
    await world.products(shop, replace(product("pa", ("a1", "MUG", 5)), stock_read_at=NOW))
    async with world.db.read_sessionmaker() as session:
        sku_id, mug = (await session.execute(select(sku_links.c.sku_id, sku_links.c.inventory_item_id))).one()
    # when the merchant unlinks the SKU and links it back to the same item
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, mug)
    # and an open order made a minute before the read (TikTok's 5 already left its unit out) is first seen now
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, order("before", "AWAITING_SHIPMENT", "a1", at=NOW - timedelta(minutes=1)))
    # then it reserves in the seed, as it would have without the unlink: on-hand 6, 1 reserved, 5 available as
    # TikTok shows (the unlink forgot the read: 5, 1, 4, one unit short for good)
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (6, 1, 5)
    async with world.db.read_sessionmaker() as session:
        assert (await session.execute(select(sku_links.c.stock_counted_at))).scalar_one() == NOW


async def test_an_order_tiktok_fulfils_from_its_own_warehouse_never_draws_on_the_pool(world: Pool) -> None:
    # given CAP linked, 10 units on the merchant's shelf
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "CAP", 10)))
    # when a buyer's order of 2 units that TikTok ships from its own warehouse (FBT) is seen open, then shipped,
    # then delivered, the shipment arriving twice (a duplicated webhook)
    fbt = replace(order("o1", "AWAITING_SHIPMENT", "s", "s"), fulfilled_by_tiktok=True)
    await world.orders(shop, fbt)
    shipped = replace(order("o1", "IN_TRANSIT", "s", "s", at=NOW + timedelta(minutes=1)), fulfilled_by_tiktok=True)
    await world.orders(shop, shipped, shipped)
    await world.orders(shop, replace(shipped, status="DELIVERED", updated_at=NOW + timedelta(minutes=2)))
    # then the pool never moves: none of its units left the merchant's shelf (before: 2 reserved while open, then
    # on-hand 8 for good, and every shop of CAP pushed 2 units fewer than the merchant holds)
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 0, 10)
    # and an FBT order first seen already shipped, made after the link, deducts nothing either
    late = replace(order("o2", "DELIVERED", "s", at=NOW + timedelta(minutes=3)), fulfilled_by_tiktok=True)
    await world.orders(shop, late)
    assert (await world.item("CAP"))["on_hand"] == 10


async def test_an_fbt_order_reserved_before_its_fulfilment_was_read_gives_its_units_back(world: Pool) -> None:
    # given an open order of 2 units of CAP reserved by a version that did not read `fulfillment_type`
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "CAP", 10)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s", "s"))
    assert (await world.item("CAP"))["reserved"] == 2
    # when the order is fetched again, TikTok saying it fulfils it (FBT), then it ships
    await world.orders(shop, replace(order("o1", "AWAITING_SHIPMENT", "s", "s"), fulfilled_by_tiktok=True))
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 0, 10)
    shipped = replace(order("o1", "IN_TRANSIT", "s", "s", at=NOW + timedelta(minutes=1)), fulfilled_by_tiktok=True)
    await world.orders(shop, shipped)
    # then its reservation went back once and the shipment leaves on-hand alone
    item = await world.item("CAP")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 0, 10)


def with_packages(record: Order, status: str | None) -> Order:
    """`record` with each line's `package_status` (TikTok's, live-sync.md §3.2) `status`."""
    return replace(record, line_items=tuple(replace(line, package_status=status) for line in record.line_items))


async def test_an_order_seen_cancelled_after_its_package_left_the_shelf_is_not_restocked(world: Pool) -> None:
    # given MUG linked, 10 units on hand, and an open order of 2 units reserving them
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "MUG", 10)))
    await world.orders(shop, with_packages(order("o1", "AWAITING_SHIPMENT", "s", "s"), "TO_FULFILL"))
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 2, 8)
    # when its shipment is missed (the webhook lost) and the order is next seen CANCELLED, its lines too, their
    # package CANCELLED: lost in transit (and that update arrives twice)
    lost = with_packages(
        with_line_statuses(order("o1", "CANCELLED", "s", "s", at=NOW + timedelta(minutes=5)), "CANCELLED", "CANCELLED"),
        "CANCELLED",
    )
    await world.orders(shop, lost, lost)
    # then no automatic restock (live-sync.md §3.5): the 2 units are gone from the shelf, once (before: released,
    # 10 on hand and 10 on sale in every shop while 8 are on the shelf)
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (8, 0, 8)
    async with world.db.read_sessionmaker() as session:
        states = (await session.execute(select(order_line_stock.c.state).distinct())).scalars().all()
    assert states == ["DEDUCTED"]


async def test_an_order_cancelled_before_its_package_left_the_shelf_still_gives_its_units_back(world: Pool) -> None:
    # given MUG linked, 10 units on hand, and an open order of 2 units reserving them, arranged for collection
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "MUG", 10)))
    await world.orders(shop, with_packages(order("o1", "AWAITING_COLLECTION", "s", "s"), "PROCESSING"))
    # when it is cancelled before the carrier collected it (its package still PROCESSING: on the shelf, §3.5)
    cancelled = order("o1", "CANCELLED", "s", "s", at=NOW + timedelta(minutes=5))
    await world.orders(shop, with_packages(cancelled, "PROCESSING"))
    # then its units go back on sale
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 0, 10)
