"""The pool's ledger over a batch of orders larger than its rounds of statements (`ledger.CHUNK`, 1,000 orders), on
SQLite and PostgreSQL: every order of the batch reserves, none is dropped or counted twice at a round's edge."""

from __future__ import annotations

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database
from tests.fixtures.inventory_pool import Pool, order, product


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def test_2001_open_orders_in_one_batch_each_reserve_their_unit(world: Pool) -> None:
    # given a SKU linked to MUG, TikTok showing 5
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 5)))
    # when one import brings 2,001 open orders of one unit each (more than two rounds of 1,000)
    await world.orders(shop, *(order(f"o{n}", "AWAITING_SHIPMENT", "s1") for n in range(2001)))
    # then each reserved once (`world.item` checks reserved against the ledger's lines too)
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (5, 2001, -1996)
