"""The pool's writes on PostgreSQL bind only types asyncpg knows: a new connection looks no array type up in the
server's catalogs (a recursive query over pg_type, ~18 ms of a fresh database's CPU, once per connection)."""

from __future__ import annotations

from datetime import timedelta

from adapters.crypto import TokenCipher
from adapters.db import Database
from tests.fixtures.inventory_pool import Pool, order, product
from tests.fixtures.servers import POSTGRES_ONLY, PostgresServer
from tests.fixtures.statement_log import StatementLog
from tests.integration.db_samples import NOW


@POSTGRES_ONLY
async def test_the_pools_counters_and_running_units_are_written_without_a_type_lookup(
    postgres_server: PostgresServer, database_url: str, database: Database, cipher: TokenCipher
) -> None:
    # given a database whose sessions log every statement the server receives (the engines have not connected yet)
    log = StatementLog(postgres_server, database_url)
    # when a product's SKU pools, an order reserves and ships (the items' counters and the shop's running units, each
    # an array statement)
    world = Pool(database, cipher)
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 5)))
    later = NOW + timedelta(minutes=1)
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1", at=later))
    await world.orders(shop, order("o1", "IN_TRANSIT", "s1", at=later + timedelta(minutes=1)))
    assert await world.counts("MUG") == (4, 0, 4)
    statements = log.statements()
    # then those statements ran, and no statement looked a type up in pg_type (asyncpg's introspection)
    for written in ("UPDATE inventory_items AS i", "INSERT INTO sku_ledger_units AS u"):
        assert any(statement.startswith(written) for statement in statements), written
    assert not [statement for statement in statements if "typeinfo_tree" in statement]
