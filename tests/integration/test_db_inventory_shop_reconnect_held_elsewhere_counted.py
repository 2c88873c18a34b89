"""A shop deleted with a push hold standing, then connected again (hold58), when the merchant counted the *sale's*
item after the sale shipped (review59 F2): the count covers the sale (nothing moves on its item), and the hold's
units still come back on the hold's item, whose shelf never lost them (`ledger.back_from_unseen_elsewhere`; before,
`_UnseenHolds.take` measured them by what the move took on its own item, 0, and the hold's item stayed short for
good). Reproductions from review59 (its test_review59_held_elsewhere_counted.py), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database
from domain.services import inventory as pool
from tests.fixtures.inventory_pool import Pool, deleted, g1_reconnected, hat_and_sock, order
from tests.integration.test_db_inventory_shop_reconnect_held_elsewhere import (
    _held_on_hat_for_a_sale_under_sock,
    _hold,
    _holds_left,
)


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_count_of_the_sales_item_after_its_shipment_still_gives_the_held_units_back_to_the_holds_item(
    world: Pool, orders_first: bool
) -> None:
    # given hold58's shape: HAT's push held o1's 2 units back, o1 made under g1's earlier link to SOCK and shipped
    # (from SOCK's shelf), the delete took the held units off HAT (HAT's shelf still holds 10)
    gone, o1, _ = await _held_on_hat_for_a_sale_under_sock(world)
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((10, 0, 10), (8, 0, 8))

    # when the merchant counts SOCK's shelf while the shop is deleted: 8 (o1's 2 units left it)
    world.clock.advance(timedelta(minutes=1))
    sock = (await world.item("SOCK"))["id"]
    await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", sock, 8, 10)
    world.clock.advance(timedelta(minutes=1))
    # and the same TikTok shop is connected again, its import reading o1 in a version dated after the count, whose
    # one package the carrier collected before it (`left_shelf_by`: the count covers the shipment)
    o1 = replace(o1, collected_at=o1.created_at, package_ids=("pk-1",))
    await g1_reconnected(world, gone, 8, o1, orders_first=orders_first)

    # then SOCK stays as counted (the count covered o1's shipment) and HAT, whose shelf never lost the held units,
    # has them back, the delete's record used up (main: HAT 8/0/8 for good, the record left unused)
    assert await world.counts("HAT") == (10, 0, 10)
    assert await _holds_left(world) == 0
    if not orders_first:  # (orders first, SOCK is 6/0/6 on main: `link_pending` applies no count rule, a known limit,
        # count57 "not fixed" 2 / collect58 "not fixed" 5; not this finding)
        assert await world.counts("SOCK") == (8, 0, 8)


@pytest.mark.parametrize("orders_first", [False, True], ids=["products-first", "orders-first"])
async def test_a_hold_a_relink_and_a_count_of_the_sales_item_give_the_held_units_back_to_the_holds_item(
    world: Pool, orders_first: bool
) -> None:
    # given HAT and SOCK (10 each); g1 -> HAT; o1 (2) made under it and shipped (collected), unseen; HAT's push holds
    # o1's 2 units back; the merchant links g1 by hand to SOCK (the hold stays with the link: it counts on SOCK now);
    # the shop deleted: the held units go off SOCK (SOCK 8/0/8), whose shelf never lost them
    shop, hat, sock = await hat_and_sock(world)
    world.clock.advance(timedelta(minutes=1))
    o1 = order("o1", "IN_TRANSIT", "g1", "g1", at=world.clock.now())
    o1 = replace(o1, collected_at=o1.created_at, package_ids=("pk-1",))
    world.clock.advance(timedelta(minutes=1))
    await _hold(world, shop.id, "g1", 2)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", sock)
    world.clock.advance(timedelta(minutes=1))
    await deleted(world, shop)
    assert (await world.counts("SOCK"), await world.counts("HAT")) == ((8, 0, 8), (10, 0, 10))

    # when the merchant counts HAT's shelf (8: o1's units left it), and the shop is connected again (g1 linked by
    # hand to SOCK again), its import reading o1 (collected before the count)
    world.clock.advance(timedelta(minutes=1))
    await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", hat, 8, 10)
    world.clock.advance(timedelta(minutes=1))
    await g1_reconnected(world, shop, 8, o1, orders_first=orders_first)

    # then HAT stays as counted (o1 made under HAT, the count covered it) and SOCK gets the held units back (main:
    # SOCK 8/0/8 for good, the record unused)
    assert await world.counts("SOCK") == (10, 0, 10)
    assert await _holds_left(world) == 0
    if not orders_first:  # (orders first: the known `link_pending` count limit may touch HAT; not this finding)
        assert await world.counts("HAT") == (8, 0, 8)
