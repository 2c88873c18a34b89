"""An orders batch's writes on PostgreSQL, the server's work per record (bench/README.md, "Server work per record,
stop 61"): what a batch of orders nobody stored yet (a first import's) skips, counted on the server and in the
statements sent, and that a batch of stored orders still goes the upsert's way.

- The orders the fingerprint read found new, and every line item written, go by COPY straight into `orders` and
  `line_items` (`SqlCatalogRepository._write_orders_pg`): the temporary tables an upsert loads through
  (`bulk.upsert_records`) are never made. Counted in `pg_class`, which lists every session's temporary tables.
- The ledger's stored rows of the batch's orders are read again, once their items are held, only when the held read
  found some (`ledger._apply_chunk`); neither is made when the catalog's upsert created every order of the batch
  (`inventory.store_orders`, an import's batch).
- The fingerprint read looks each of the batch's orders up by its row id (`lists.each_looked_up`), whatever the
  planner's statistics say of the table the import is growing: before, with statistics older than the rows, it
  scanned every order the shop had stored, in every batch (bench/README.md, "Benchmarks 1 and 2, stop 65"). Counted
  in `pg_stat_xact_user_tables`: the rows read by this backend since its counts were last flushed, which happens
  only between transactions, so the difference over one transaction is that transaction's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from adapters.crypto import TokenCipher
from adapters.db.tables import line_items, order_line_stock, orders
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, order, postgres_pool, product, statements_run
from tests.integration.db_samples import NOW

_TEMPORARY = text("SELECT relname FROM pg_class WHERE relpersistence = 't' AND relname LIKE 'shopbridge_load_%'")


@pytest.fixture
async def world(postgres_url: str, cipher: TokenCipher) -> AsyncIterator[Pool]:
    async with postgres_pool(postgres_url, cipher) as world:
        yield world


async def _temporary_tables(world: Pool) -> set[str]:
    """The upserts' temporary tables that exist now, in any session (the pool's connections keep theirs)."""
    async with world.db.read_sessionmaker() as session:
        return set((await session.execute(_TEMPORARY)).scalars())


async def _stored(world: Pool, shop: Shop) -> tuple[dict[str, str], dict[str, int]]:
    """(TikTok order id -> status, TikTok order id -> line items) of the shop."""
    async with world.db.read_sessionmaker() as session:
        statuses = dict((await session.execute(select(orders.c.tiktok_order_id, orders.c.status))).all())
        per_order = select(orders.c.tiktok_order_id, func.count(line_items.c.id)).join(
            line_items, line_items.c.order_id == orders.c.id
        )
        lines = dict((await session.execute(per_order.where(orders.c.shop_id == shop.id).group_by(orders.c.id))).all())
    return statuses, lines


# The rows of `orders` this backend has read by sequential and index scans since its counts were last flushed (never
# inside a transaction).
_ORDERS_READ = text(
    "SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relname = 'orders'"
)


def _ledger_reads(statements: list[str]) -> int:
    table = order_line_stock.name
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s)


async def test_new_orders_and_their_line_items_go_straight_into_their_tables(world: Pool) -> None:
    # given a shop with a linked SKU
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 9)))
    # when a batch of orders none of which is stored is written (a first import's)
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1", "s1"), order("o2", "UNPAID", "s1"))
    # then they are stored, their line items too, and neither went through an upsert's temporary table
    assert await _stored(world, shop) == ({"o1": "AWAITING_SHIPMENT", "o2": "UNPAID"}, {"o1": 2, "o2": 1})
    made = await _temporary_tables(world)
    assert not made & {"shopbridge_load_orders", "shopbridge_load_line_items"}, made
    assert await world.counts("MUG") == (9, 3, 6)  # the pool saw the batch as before: three units reserved


async def test_a_batch_with_stored_orders_upserts_them_and_replaces_their_line_items(world: Pool) -> None:
    # given a shop whose order o1 (two lines) is stored
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 9)))
    first = order("o1", "AWAITING_SHIPMENT", "s1", "s1")
    await world.orders(shop, first)
    # when a batch brings o1 again, changed (one line cancelled away, shipped), beside a new order o3
    later = first.updated_at + timedelta(minutes=5)
    changed = replace(order("o1", "AWAITING_COLLECTION", "s1"), updated_at=later)
    await world.orders(shop, changed, order("o3", "AWAITING_SHIPMENT", "s1"))
    # then o1 holds its new version with its one line, o3 is stored, and o1 went by the upsert (its temporary table)
    assert await _stored(world, shop) == ({"o1": "AWAITING_COLLECTION", "o3": "AWAITING_SHIPMENT"}, {"o1": 1, "o3": 1})
    assert "shopbridge_load_orders" in await _temporary_tables(world)
    # and an older version of o1 written again changes nothing (the upsert's rule, kept)
    await world.orders(shop, first)
    assert (await _stored(world, shop))[0]["o1"] == "AWAITING_COLLECTION"


async def test_the_ledger_reads_a_batchs_stored_rows_only_when_the_batch_has_some(world: Pool) -> None:
    # given a shop with a linked SKU
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 9)))
    engine = world.db.write_engine.sync_engine
    # when a batch of orders none of which is stored is written and applied, as an import's batch is
    with statements_run(engine) as statements:
        await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1"))
    # then the ledger is not read at all (the catalog's upsert created every order: none has a ledger row; before,
    # the held read found none, bench/README.md "Benchmarks 1 and 2, stop 65")
    assert _ledger_reads(statements) == 0, statements
    # when a batch holds a stored order (o1, unchanged) beside a new one: the ledger is read (held, none found there
    # for o2, o1's row found), then re-read once the items are held
    with statements_run(engine) as statements:
        await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1"), order("o2", "AWAITING_SHIPMENT", "s1"))
    assert _ledger_reads(statements) == 2, statements
    # when the same order comes back cancelled: its row is read (held), then re-read once its item is held
    later = order("o1", "CANCELLED", "s1")
    with statements_run(engine) as statements:
        await world.orders(shop, replace(later, updated_at=later.updated_at + timedelta(minutes=5)))
    assert _ledger_reads(statements) == 2, statements
    # and the pool moved them once each: o1 reserved then released, o2 reserved
    assert await world.counts("MUG") == (9, 1, 8)


async def test_the_fingerprint_read_looks_up_the_batchs_own_orders_not_every_order_of_the_shop(world: Pool) -> None:
    # given a shop with 400 orders stored, the table's statistics those of a fresh database (as during a first
    # import, which grows its tables faster than autovacuum analyzes them)
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 9)))
    await world.orders(shop, *(order(f"o{n}", "COMPLETED", "s1") for n in range(400)))
    # when a batch of 5 orders, two of them stored, is written
    batch = [replace(order(f"o{n}", "CANCELLED", "s1"), updated_at=NOW + timedelta(minutes=5)) for n in (7, 8)]
    batch += [order(f"new{n}", "COMPLETED", "s1") for n in range(3)]
    async with world.uows() as uow:
        before = (await uow.session.execute(_ORDERS_READ)).scalar() or 0
        counts = await uow.catalog.upsert_orders(shop.id, batch)
        read = (await uow.session.execute(_ORDERS_READ)).scalar_one() - before
        await uow.commit()
    # then it found the two stored ones, and read a handful of rows of `orders` (those two; the foreign-key checks of
    # the line items written), not the shop's 400 (before: 400 and more, every order of the shop, filtered)
    assert (counts.created, counts.updated) == (3, 2)
    assert read <= 12, read
    assert (await _stored(world, shop))[0]["o7"] == "CANCELLED"
