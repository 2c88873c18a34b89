"""The pool's ledger over a batch of orders larger than its rounds of statements (`ledger.CHUNK`, 2,000 orders), on
SQLite and PostgreSQL: every order of the batch reserves, none is dropped or counted twice at a round's edge; an
import's batch (up to 2,000 records) is one round, writing each SKU's running units and each item's counters once;
and an import's batch of orders none of which is stored reads no ledger row (`inventory.store_orders`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import order_line_stock
from tests.fixtures.inventory_pool import Pool, order, product, statements_run


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def test_2001_open_orders_in_one_batch_each_reserve_their_unit(world: Pool) -> None:
    # given a SKU linked to MUG, TikTok showing 5
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 5)))
    # when one import brings 2,001 open orders of one unit each (more than one round of 2,000)
    await world.orders(shop, *(order(f"o{n}", "AWAITING_SHIPMENT", "s1") for n in range(2001)))
    # then each reserved once (`world.item` checks reserved against the ledger's lines too)
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (5, 2001, -1996)


async def test_a_batch_of_2000_orders_writes_its_skus_units_and_items_counters_once(world: Pool) -> None:
    # given two SKUs linked to MUG and CUP, TikTok showing 5 each
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 5), ("s2", "CUP", 5)))
    engine = world.db.write_engine.sync_engine
    # when one import's batch brings 2,000 open orders (PostgreSQL's batch), each SKU's orders on both halves of it
    orders = [order(f"o{n}", "AWAITING_SHIPMENT", "s1" if n % 2 else "s2") for n in range(2000)]
    with statements_run(engine) as statements:
        await world.orders(shop, *orders)
    # then the SKUs' running units and the items' counters are written by one statement each (before: one per round
    # of 1,000 orders, the second writing again the rows the first wrote in this transaction: on PostgreSQL, every
    # foreign key re-checked and a new version in each index, bench/README.md "Benchmark 1's orders import on
    # PostgreSQL, stop 74"), and every order reserved its unit
    assert _writes(statements, "sku_ledger_units") == 1, statements
    assert _writes(statements, "inventory_items") == 1, statements
    assert await world.counts("MUG") == (5, 1000, -995)
    assert await world.counts("CUP") == (5, 1000, -995)


async def test_a_batch_of_orders_none_stored_reads_no_ledger_row_and_a_later_version_finds_its_rows(
    world: Pool,
) -> None:
    # given a SKU linked to MUG, TikTok showing 5
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 5)))
    engine = world.db.write_engine.sync_engine
    # when an import's batch brings two orders none of which is stored (`inventory.store_orders`)
    with statements_run(engine) as statements:
        await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1"), order("o2", "AWAITING_SHIPMENT", "s1"))
    # then the ledger's rows of the batch are not read (the catalog created every order: none has one; before: one
    # read on either database, bench/README.md "Benchmarks 1 and 2, stop 65"), and each order reserved its unit
    assert _ledger_reads(statements) == 0, statements
    assert await world.counts("MUG") == (5, 2, 3)
    # when o1 comes back cancelled beside a new o3: o1's row is read, and released; o3 reserves
    cancelled = order("o1", "CANCELLED", "s1")
    later = replace(cancelled, updated_at=cancelled.updated_at + timedelta(minutes=5))
    with statements_run(engine) as statements:
        await world.orders(shop, later, order("o3", "AWAITING_SHIPMENT", "s1"))
    assert _ledger_reads(statements) >= 1, statements
    assert await world.counts("MUG") == (5, 2, 3)


def _writes(statements: list[str], table: str) -> int:
    """The statements that insert into or update `table`."""
    return sum(
        1
        for s in statements
        if s.lstrip().upper().startswith((f"INSERT INTO {table.upper()} ", f"UPDATE {table.upper()} "))
    )


def _ledger_reads(statements: list[str]) -> int:
    """The statements that read `order_line_stock`'s rows."""
    table = order_line_stock.name
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s)
