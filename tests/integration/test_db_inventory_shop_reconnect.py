"""A deleted shop's ledger seen again by the same TikTok shop connected again (review54b): each line moves the shared
pool exactly as it would have had the shop never been deleted, whichever of the import, polls and webhooks sees it
first; on SQLite and PostgreSQL, through the delete use case and the imports."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import deleted_shop_holds, deleted_shop_lines, sku_links
from domain.services import inventory as pool
from domain.services.shops import delete_shop
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import NOW, add_shop, make_shop


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def _delete(world: Pool, shop: Shop) -> None:
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)


async def _count(world: Pool, table, *where) -> int:  # type: ignore[no-untyped-def]
    async with world.db.read_sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def _counts(world: Pool, sku: str) -> tuple[int, int, int]:
    item = await world.item(sku)
    return item["on_hand"], item["reserved"], item["available"]


async def test_a_sale_the_deleted_ledger_deducted_long_before_the_delete_is_not_deducted_again(world: Pool) -> None:
    # given SOCK linked by two shops (10 on hand), and a sale o6 (1 unit) on the second, seen shipped: 9/0/9
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    made = NOW + timedelta(minutes=1)
    o6 = replace(order("o6", "IN_TRANSIT", "g1", at=made), updated_at=made + timedelta(minutes=1))
    world.clock.advance(timedelta(minutes=3))
    await world.orders(gone, o6)
    assert await _counts(world, "SOCK") == (9, 0, 9)

    # when, 100 days later (over DELETED_LINE_KEPT: the delete keeps no record of o6), the second shop is deleted and
    # the same TikTok shop connected again (TikTok's stock 9), and a later version of o6 (COMPLETED) comes in by a
    # webhook or a poll, which read by update time
    world.clock.advance(timedelta(days=100))
    await _delete(world, gone)
    assert await _counts(world, "SOCK") == (9, 0, 9)
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    await world.products(again, product("q", ("g1", "SOCK", 9), at=world.clock.now()))
    await world.orders(again, replace(o6, status="COMPLETED", updated_at=world.clock.now()))

    # then SOCK stays 9/0/9: that ledger deducted o6 already (before, 8/0/8: the unit taken off twice, for good)
    assert await _counts(world, "SOCK") == (9, 0, 9)


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
@pytest.mark.parametrize(
    ("status", "expected"), [("IN_TRANSIT", (8, 0, 8)), ("AWAITING_SHIPMENT", (10, 2, 8))], ids=["shipped", "open"]
)
async def test_a_line_the_deleted_ledger_held_waiting_on_its_item_moves_there_when_its_sku_links_to_it_again(
    world: Pool, orders_first: bool, status: str, expected: tuple[int, int, int]
) -> None:
    # given HAT linked by two shops (10 on hand); the second shop's SKU g unlinked by the merchant, and a sale o1
    # (2 units) made after the link, first seen while g is unlinked: PENDING_LINK remembering HAT (on the same
    # connection, linking g to HAT again deducts it if shipped, reserves it if open); then the second shop is deleted
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k", "HAT", 10)))
    await world.products(gone, product("q", ("g", "HAT", 10)))
    async with world.db.read_sessionmaker() as session:
        query = select(sku_links.c.sku_id).where(sku_links.c.shop_id == gone.id)
        sku_id = (await session.execute(query)).scalar_one()
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    o1 = order("o1", status, "g", "g", at=NOW + timedelta(minutes=1))
    world.clock.advance(timedelta(minutes=2))
    await world.orders(gone, o1)
    await _delete(world, gone)
    assert await _counts(world, "HAT") == (10, 0, 10)

    # when the same TikTok shop is connected again: its products import links g to HAT (same seller SKU), and its
    # orders import reads o1 again, after the products or before them (o1 then waits for g's link)
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    if orders_first:
        await world.orders(again, o1)
    await world.products(again, product("q", ("g", "HAT", 8), at=world.clock.now()))
    if not orders_first:
        await world.orders(again, o1)

    # then o1 moves HAT as on the same connection: shipped, its 2 units leave on-hand (8/0/8; before, 10/0/10 for
    # good: 2 units on sale on every shop that had left the shelf); open, it reserves them (10/2/8); the delete's
    # record has served, and a replay moves nothing
    assert await _counts(world, "HAT") == expected
    assert await _count(world, deleted_shop_lines) == 0
    version = (await world.item("HAT"))["version"]
    await world.orders(again, o1)
    assert (await world.item("HAT"))["version"] == version


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_sale_the_deleted_shops_push_held_back_first_seen_shipped_after_a_reconnect_is_deducted_once(
    world: Pool, orders_first: bool
) -> None:
    # given SOCK linked by two shops (10 on hand, the second's link from its stock read at NOW); an order o9 of 2 units
    # made at NOW+1 min on the second, never ingested (webhooks lost), which the second's push at NOW+2 min holds back
    # as sold unseen; the second shop then deleted: the 2 units leave on-hand with it ("sold unseen", 8/0/8)
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    pushed = NOW + timedelta(minutes=2)
    async with world.db.write_sessionmaker() as session, session.begin():
        held = {"held_quantity": 2, "held_since": pushed, "pushed_quantity": 8, "pushed_at": pushed}
        await session.execute(update(sku_links).where(sku_links.c.shop_id == gone.id).values(**held))
    world.clock.advance(timedelta(minutes=5))
    await _delete(world, gone)
    assert await _counts(world, "SOCK") == (8, 0, 8)

    # when the same TikTok shop is connected again and its import reads o9, shipped meanwhile (made under the deleted
    # link: deducted, `sold_while_linked_before`), its orders after its products or before them (o9 then waits on
    # SOCK, the item that link named, and deducts once linked)
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    o9 = replace(
        order("o9", "IN_TRANSIT", "g1", "g1", at=NOW + timedelta(minutes=1)),
        updated_at=NOW + timedelta(minutes=5, seconds=30),
    )
    if orders_first:
        await world.orders(again, o9)
    await world.products(again, product("q", ("g1", "SOCK", 8), at=world.clock.now()))
    if not orders_first:
        await world.orders(again, o9)

    # then SOCK stays 8/0/8: the delete's deduction was this very sale, which takes the hold's units rather than 2 more
    # (before, 6/0/6: 2 units taken off twice, for good); the hold's record has served, and a replay moves nothing
    assert await _counts(world, "SOCK") == (8, 0, 8)
    assert await _count(world, deleted_shop_holds) == 0
    version = (await world.item("SOCK"))["version"]
    await world.orders(again, o9)
    assert (await world.item("SOCK"))["version"] == version


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
@pytest.mark.parametrize("made", ["while-linked", "while-unlinked"])
async def test_a_sale_unseen_of_a_sku_unlinked_at_the_delete_is_deducted_once_its_sku_links_to_its_item_again(
    world: Pool, made: str, orders_first: bool
) -> None:
    # given SOCK linked by two shops (10 on hand, the second's link from its stock read at NOW); a sale o1 (2 units) of
    # the second shop's SKU g1, never ingested (webhooks lost, no poll), made before or after the merchant unlinks g1
    # from SOCK, and shipped from the shelf; then the second shop is deleted (poolfuzz54 finding 1, seeds 6, 52, 76)
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    async with world.db.read_sessionmaker() as session:
        sku_id = (await session.execute(select(sku_links.c.sku_id).where(sku_links.c.shop_id == gone.id))).scalar_one()
    world.clock.advance(timedelta(minutes=1))
    made_at = world.clock.now()
    world.clock.advance(timedelta(minutes=1))
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, None)
    world.clock.advance(timedelta(minutes=1))
    if made == "while-unlinked":
        made_at = world.clock.now()
    world.clock.advance(timedelta(minutes=1))
    o1 = replace(order("o1", "IN_TRANSIT", "g1", "g1", at=made_at), updated_at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await _delete(world, gone)
    assert await _counts(world, "SOCK") == (10, 0, 10)

    # when the same TikTok shop is connected again: its products import links g1 to SOCK (same seller SKU), and its
    # orders import reads o1, after the products or before them (o1 then waits on SOCK)
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    if orders_first:
        await world.orders(again, o1)
    await world.products(again, product("q", ("g1", "SOCK", 8), at=world.clock.now()))
    if not orders_first:
        await world.orders(again, o1)

    # then o1's 2 units leave SOCK's on-hand once, as when the same connection links g1 to SOCK again and sees o1
    # (before, 10/0/10 for good: the unlinked link left no period, and o1 was history); a replay moves nothing
    assert await _counts(world, "SOCK") == (8, 0, 8)
    version = (await world.item("SOCK"))["version"]
    await world.orders(again, o1)
    assert (await world.item("SOCK"))["version"] == version


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
@pytest.mark.parametrize(
    ("status", "expected"), [("CANCELLED", (10, 0, 10)), ("IN_TRANSIT", (9, 0, 9))], ids=["cancelled", "shipped"]
)
async def test_a_reservation_the_delete_deducted_finished_meanwhile_moves_alike_whichever_import_comes_first(
    world: Pool, orders_first: bool, status: str, expected: tuple[int, int, int]
) -> None:
    # given SOCK linked by two shops (10 on hand), an open order o1 (1 unit) on the second, reserved (10/1/9); the
    # second shop deleted: o1's unit leaves on-hand ("shop deleted", 9/0/9, its record RESERVED)
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    o1 = order("o1", "AWAITING_SHIPMENT", "g1", at=NOW + timedelta(minutes=1))
    world.clock.advance(timedelta(minutes=2))
    await world.orders(gone, o1)
    await _delete(world, gone)
    assert await _counts(world, "SOCK") == (9, 0, 9)

    # when the buyer cancels o1 (or it ships) while the shop is deleted, and the same TikTok shop is connected again:
    # its import reads o1, after its products or before them (poolfuzz54 finding 2, seeds 144, 149)
    world.clock.advance(timedelta(minutes=1))
    finished = replace(o1, status=status, updated_at=world.clock.now())
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    if orders_first:
        await world.orders(again, finished)
    await world.products(again, product("q", ("g1", "SOCK", 10 if status == "CANCELLED" else 9), at=world.clock.now()))
    if not orders_first:
        await world.orders(again, finished)

    # then cancelled, its unit is back on the shelf's count (10/0/10; before, orders first: 9/0/9 for good, one unit off
    # sale on every shop); shipped, the delete's deduction was its shipment (9/0/9); the record has served either way,
    # and a replay moves nothing
    assert await _counts(world, "SOCK") == expected
    assert await _count(world, deleted_shop_lines) == 0
    version = (await world.item("SOCK"))["version"]
    await world.orders(again, finished)
    assert (await world.item("SOCK"))["version"] == version
