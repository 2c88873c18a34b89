"""`adapters.db.lists.among_rows` on SQLite and PostgreSQL: a row-value IN whose keys travel as arrays, past the
limits of an IN list of literals (PostgreSQL's parser stack at ~8,000 three-column keys, review69 P1; SQLite's
32,766 variables)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from adapters.crypto import TokenCipher
from adapters.db import Database, tables
from adapters.db.lists import among, among_rows, each_looked_up
from adapters.db.tables import order_line_stock
from tests.fixtures.inventory_pool import Pool, order, product
from tests.fixtures.servers import POSTGRES_ONLY


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


@POSTGRES_ONLY
async def test_a_list_bound_on_a_new_postgresql_connection_needs_no_lookup_of_its_type(database: Database) -> None:
    # given: a new connection (each engine's first: a test's, an app's, a worker process's)
    shops = tables.shops.c
    async with database.write_engine.connect() as connection:
        # when: it runs each kind of list lookup, a list among one column, among rows, one key at a time
        await connection.execute(select(shops.id).where(among(shops.id, ["a", "b"], "postgresql")))
        await connection.execute(select(shops.id).where(among_rows([shops.id, shops.name], [("a", "b")], "postgresql")))
        joined, found = each_looked_up(select(shops.id), shops.id, ["a"], "shop")
        await connection.execute(select(found.c.id).select_from(joined))
        # then: asyncpg knew the lists' type: it never asked PostgreSQL's catalog for it (a recursive query over
        # pg_type, prepared on that connection: 30-70 ms of the server's time on each new connection, measured on the
        # suite's fresh databases); PostgreSQL's own list of what the connection prepared shows no such query
        prepared = (await connection.execute(text("SELECT statement FROM pg_prepared_statements"))).scalars().all()
    assert prepared, "asyncpg prepares each statement: the view should list the lookups"
    assert [statement for statement in prepared if "pg_type" in statement] == []
