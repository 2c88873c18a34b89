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
from adapters.db.tables import inventory_items, sku_links
from domain.services import inventory as pool
from tests.fixtures.inventory_pool import Pool, order, postgres_pool, product
from tests.integration.db_samples import NOW, until_a_writer_waits_on_a_lock

_LOCK_ITEM = text("SELECT id FROM inventory_items WHERE id = :id FOR UPDATE")


@pytest.fixture
async def world(postgres_url: str, cipher: TokenCipher) -> AsyncIterator[Pool]:
    async with postgres_pool(postgres_url, cipher) as world:
        yield world


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


async def test_an_import_linking_a_sku_to_an_item_another_shops_import_removes_creates_it_again(world: Pool) -> None:
    # given DUP, an item a first shop's import seeded, and a second shop of the merchant
    first, second = await world.shop(), await world.shop()
    await world.products(first, product("p1", ("s1", "DUP", 2)))
    dup = (await world.item("DUP"))["id"]

    # when the first shop's import, not yet committed, removes DUP (the twin of s1 came in a later page: both
    # AMBIGUOUS, nobody draws on DUP any more), and the second shop's import links a SKU of seller SKU DUP meanwhile
    twin = product("p2", ("s4", " DUP ", 6))
    async with world.uows() as uow:
        await uow.catalog.upsert_products(first.id, [twin])
        await pool.pool_products(uow, world.queue, world.events, first.id, [twin])
        other = asyncio.create_task(world.products(second, product("q1", ("t1", "DUP", 9))))
        await until_a_writer_waits_on_a_lock(world.db)  # the second import is blocked behind the first
        await uow.commit()
    await other

    # then the second import waited for the first and, finding DUP gone, created it again, seeded from its own
    # TikTok stock; no foreign key violation failed it
    assert await world.links(first) == {"s1": ("AMBIGUOUS", None), "s4": ("AMBIGUOUS", None)}
    assert await world.links(second) == {"t1": ("LINKED", "DUP")}
    item = await world.item("DUP")
    assert item["id"] != dup
    assert (item["on_hand"], item["reserved"]) == (9, 0)


async def test_an_import_relinking_a_sku_to_a_higher_item_takes_the_lower_one_first_and_does_not_deadlock(
    world: Pool,
) -> None:
    # given two items a first shop links, and a second shop's SKU linked to the lower one with an open order on it
    first, second = await world.shop(), await world.shop()
    await world.products(first, product("p1", ("s1", "ONE", 5)), product("p2", ("s2", "TWO", 7)))
    ids = await _item_ids(world)
    low, high = sorted(ids.values())
    low_sku, high_sku = (next(s for s, i in ids.items() if i == item) for item in (low, high))
    await world.products(second, product("q1", ("t1", low_sku, 3)))
    await world.orders(second, order("o1", "AWAITING_SHIPMENT", "t1", at=NOW))

    # when another writer holds the lower item, the seller renames t1's seller SKU in Seller Center to the higher
    # item's (the import relinks t1 there, releasing its reservation on the lower one), and once the import waits
    # for a lock, the other writer asks for the higher item (id order, as every writer of the pool)
    async with world.db.write_engine.connect() as other:
        await other.execute(_LOCK_ITEM, {"id": low})
        rename = asyncio.create_task(world.products(second, product("q1", ("t1", high_sku, 3))))
        await until_a_writer_waits_on_a_lock(world.db)
        await other.execute(_LOCK_ITEM, {"id": high})  # taken at once: the import holds (and names) no item yet
        await other.commit()
    await rename

    # then both went through (no deadlock aborted either), and the reservation moved with the link
    assert await world.links(second) == {"t1": ("LINKED", high_sku)}
    assert ((await world.item(low_sku))["reserved"], (await world.item(high_sku))["reserved"]) == (0, 1)
