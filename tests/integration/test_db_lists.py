"""`adapters.db.lists.among_rows` on SQLite and PostgreSQL: a row-value IN whose keys travel as arrays, past the
limits of an IN list of literals (PostgreSQL's parser stack at ~8,000 three-column keys, review69 P1; SQLite's
32,766 variables)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.lists import among_rows
from adapters.db.tables import order_line_stock
from tests.fixtures.inventory_pool import Pool, order, product


@pytest.mark.parametrize("rows", [40_000])
async def test_among_rows_matches_exactly_the_listed_keys_past_every_in_list_limit(
    database: Database, cipher: TokenCipher, rows: int
) -> None:
    # given: the ledger rows of an order's 3 lines; the keys asked: 2 of them among `rows` keys (past PostgreSQL's
    # parser depth for a row-value IN list, ~8,000, and SQLite's 32,766 variables at 3 per key)
    world = Pool(database, cipher)
    shop = await world.shop()
    await world.products(shop, product("q", ("g1", "SOCK", 10)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "g1", "g1", "g1"))
    asked = [(f"x{n}", f"x{n}-0", "") for n in range(rows - 2)] + [("o1", "o1-0", ""), ("o1", "o1-2", "")]

    # when: they are selected by (order, line item, component) among the keys asked
    ledger = order_line_stock.c
    query = select(ledger.tiktok_line_item_id).where(
        among_rows([ledger.tiktok_order_id, ledger.tiktok_line_item_id, ledger.component_sku_id], asked,
                   database.dialect_name)
    )  # fmt: skip
    async with database.read_sessionmaker() as session:
        found = sorted((await session.execute(query)).scalars())

    # then: exactly those two, and no rows asked match nothing
    assert found == ["o1-0", "o1-2"]
    none = select(ledger.tiktok_line_item_id).where(
        among_rows([ledger.tiktok_order_id, ledger.tiktok_line_item_id, ledger.component_sku_id], [],
                   database.dialect_name)
    )  # fmt: skip
    async with database.read_sessionmaker() as session:
        assert (await session.execute(none)).all() == []
