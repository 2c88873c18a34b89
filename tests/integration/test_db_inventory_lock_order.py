"""The pool's item locks are taken in one global order, id order, all at once, before any row names an item (issue 8,
live-sync.md §7.2): on PostgreSQL only, where writers of one item run at once (SQLite runs one writer at a time).

Each test holds a lower-id item in an open transaction of its own, as any writer of the pool does (`lock_items`,
id order), waits until PostgreSQL shows the pool change under test waiting on a lock, and only then asks for the
higher-id item. A path that took (or named, through a foreign key) the higher item before the lower one deadlocks
there, and PostgreSQL aborts one side (40P01); taken in id order, the test's writer goes first and both succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, text

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import inventory_items, sku_links
from domain.services import inventory as pool
from tests.integration.db_samples import NOW, until_a_writer_waits_on_a_lock
from tests.integration.test_db_inventory import Pool, order, product

_LOCK_ITEM = text("SELECT id FROM inventory_items WHERE id = :id FOR UPDATE")


@pytest.fixture
async def world(postgres_url: str, cipher: TokenCipher) -> AsyncIterator[Pool]:
    database = Database(postgres_url)
    try:
        yield Pool(database, cipher)
    finally:
        await database.dispose()


async def _item_ids(world: Pool) -> dict[str, str]:
    """Item SKU -> item id."""
    async with world.db.read_sessionmaker() as session:
        return dict((await session.execute(select(inventory_items.c.sku, inventory_items.c.id))).all())


async def _sku_id(world: Pool, tiktok_sku_id: str) -> str:
    async with world.db.read_sessionmaker() as session:
        query = select(sku_links.c.sku_id).where(sku_links.c.tiktok_sku_id == tiktok_sku_id)
        return str((await session.execute(query)).scalar_one())


async def test_a_manual_link_to_a_higher_item_takes_the_lower_one_first_and_does_not_deadlock(world: Pool) -> None:
    # given two items of one shop, each linked by one SKU, and an open order reserving one unit on the lower one
    shop = await world.shop()
    await world.products(shop, product("p1", ("s1", "ONE", 5), ("s2", "TWO", 5)))
    ids = await _item_ids(world)
    low, high = sorted(ids.values())
    sku_of = {ids["ONE"]: "s1", ids["TWO"]: "s2"}
    moving, target_sku = sku_of[low], next(sku for sku, item in ids.items() if item == high)
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", moving, at=NOW))
    sku_id = await _sku_id(world, moving)

    # when another writer holds the lower item, the merchant links the lower item's SKU to the higher one, and once
    # the link waits for a lock, the other writer asks for the higher item (id order, as every writer of the pool)
    async with world.db.write_engine.connect() as other:
        await other.execute(_LOCK_ITEM, {"id": low})
        link = asyncio.create_task(pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, high))
        await until_a_writer_waits_on_a_lock(world.db)
        await other.execute(_LOCK_ITEM, {"id": high})  # taken at once: the link holds no item yet
        await other.commit()
    await link

    # then both went through (no deadlock aborted either), and the reservation moved to the higher item
    assert (await world.links(shop))[moving] == ("LINKED", target_sku)
    assert (await world.item(target_sku))["reserved"] == 1
    assert (await world.item(next(s for s, i in ids.items() if i == low)))["reserved"] == 0
