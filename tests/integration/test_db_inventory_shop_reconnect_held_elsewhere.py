"""A push's hold of a sale made under an earlier link to another item, taken off the link's item by the shop's delete
(`deleted_shop_holds`), goes back on that item when the reconnect's import first reads the sale, whatever item the
sale counts on (hold58; kept58's "found but not fixed" 0, reduced from the reconnect fuzz's `FUZZ_DETOURS=1
FUZZ_SEEDS=34`): `domain.inventory.ledger.back_from_unseen`, `unseen_back_elsewhere`. On SQLite and PostgreSQL,
products first (the order batch, `ledger._apply_chunk`) and orders first (the link, `ledger.relink_lines`); the shelf
is the oracle.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import deleted_shop_holds, sku_ledger_units, sku_links
from domain.catalog import Order
from domain.services import inventory as pool
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, deleted, g1_reconnected, hat_and_sock, order


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def _hold(world: Pool, shop_id: str, sku: str, units: int) -> None:
    """The shop's last push of `sku` (now) held `units` back as sold unseen, TikTok's available of it having fallen by
    them (as the reconnect fuzz's `_Merchant.hold`)."""
    now = world.clock.now()
    async with world.db.write_sessionmaker() as session, session.begin():
        query = select(sku_ledger_units.c.ingested).where(
            sku_ledger_units.c.shop_id == shop_id, sku_ledger_units.c.tiktok_sku_id == sku
        )
        ingested = (await session.execute(query)).scalar_one_or_none() or 0
        held = {"held_quantity": units, "held_since": now, "pushed_quantity": 10 - units, "pushed_at": now,
                "ingested_at_push": ingested}  # fmt: skip
        this = (sku_links.c.shop_id == shop_id, sku_links.c.tiktok_sku_id == sku)
        await session.execute(update(sku_links).where(*this).values(**held))


async def _held_on_hat_for_a_sale_under_sock(world: Pool) -> tuple[Shop, Order, str]:
    """HAT and SOCK (10 on hand each) on a kept shop; g1 of a second shop linked to HAT, linked by hand to SOCK, a
    sale o1 of 2 units made under that link and shipped, unseen; g1 linked back to HAT, whose push holds o1's 2 units
    back as sold unseen; then the shop deleted (the held units taken off HAT): (the deleted shop, o1, HAT's id)."""
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    o1 = order("o1", "IN_TRANSIT", "g1", "g1", at=world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", hat)
    world.clock.advance(timedelta(minutes=1))
    await _hold(world, shop.id, "g1", 2)
    world.clock.advance(timedelta(minutes=1))
    await deleted(world, shop)
    return shop, o1, hat


async def _holds_left(world: Pool) -> int:
    async with world.db.write_sessionmaker() as session, session.begin():
        return (await session.execute(select(func.count()).select_from(deleted_shop_holds))).scalar_one()


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_held_sale_made_under_an_earlier_link_gives_the_held_units_back_to_the_holds_item(
    world: Pool, orders_first: bool
) -> None:
    # given a hold of HAT's push of o1's 2 units, o1 made under g1's earlier link to SOCK, taken off HAT by the delete
    gone, o1, _ = await _held_on_hat_for_a_sale_under_sock(world)
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((10, 0, 10), (8, 0, 8))

    # when the same TikTok shop is connected again and its import reads o1
    again = await g1_reconnected(world, gone, 8, o1, orders_first=orders_first)

    # then o1's units left SOCK's on-hand once (the item it was sold under), and HAT has the held ones back (as on the
    # never-deleted connection and the shelf); the delete's record of them is used up
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (10, 0, 10))
    assert await _holds_left(world) == 0

    # and a replay of o1 moves nothing
    await world.orders(again, replace(o1, updated_at=world.clock.now()))
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (10, 0, 10))


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_count_of_the_holds_item_since_the_delete_keeps_the_held_units_off(
    world: Pool, orders_first: bool
) -> None:
    # given the same hold taken off HAT by the delete, and the merchant counting HAT's shelf (10) since
    gone, o1, hat = await _held_on_hat_for_a_sale_under_sock(world)
    world.clock.advance(timedelta(minutes=1))
    await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", hat, 10, 8)

    # when the same TikTok shop is connected again and its import reads o1
    await g1_reconnected(world, gone, 8, o1, orders_first=orders_first)

    # then HAT stays as counted (the count found o1's units on its shelf: they never left it), and SOCK loses them
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (10, 0, 10))
    assert await _holds_left(world) == 0


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_count_of_the_item_sold_under_since_the_shipment_keeps_the_sale_off_once(
    world: Pool, orders_first: bool
) -> None:
    # given the same hold taken off HAT by the delete, and the merchant counting SOCK's shelf (8: o1's units gone,
    # shipped before the count) since
    gone, o1, _ = await _held_on_hat_for_a_sale_under_sock(world)
    world.clock.advance(timedelta(minutes=1))
    sock = (await world.item("SOCK"))["id"]
    await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", sock, 8, 10)

    # when the same TikTok shop is connected again and its import reads o1, collected (its one package) when made: it
    # left SOCK's shelf before the count
    collected = replace(o1, collected_at=o1.created_at, package_ids=("p1",))
    await g1_reconnected(world, gone, 8, collected, orders_first=orders_first)

    # then SOCK stays as counted, whatever the import's order (the count already holds o1's shipment:
    # `ledger.link_pending`'s `counted_at` on the link's path, `counted_after_shipment` on the batch's; before, orders
    # first took o1's units off SOCK a second time: 6), and HAT has the held units back
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (10, 0, 10))
    assert await _holds_left(world) == 0
