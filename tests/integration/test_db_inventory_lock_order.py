"""The pool's item locks are taken in one global order, id order, all at once, before any row names an item (issue 8,
live-sync.md §7.2): on PostgreSQL only, where writers of one item run at once (SQLite runs one writer at a time).

Each test holds a lower-id item in an open transaction of its own, as any writer of the pool does (`lock_items`,
id order), waits until PostgreSQL shows the pool change under test waiting on a lock, and only then asks for the
higher-id item. A path that took (or named, through a foreign key) the higher item before the lower one deadlocks
there, and PostgreSQL aborts one side (40P01); taken in id order, the test's writer goes first and both succeed.
The same for a shop's link rows (`sku_links`), in `sku_id` order, and the shop's link turn (`hold_shop_links`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Executable, select, text

from adapters.crypto import TokenCipher
from adapters.db.repositories.inventory.links import upsert_links
from adapters.db.repositories.inventory.writer import hold_shop_links
from adapters.db.tables import deleted_shop_links, inventory_items, inventory_push_outbox, sku_links
from domain.inventory.ledger import EARLIER_PERIOD
from domain.inventory_push import ProductPushOutcome, PushIntent, SkuPushError
from domain.services import inventory as pool
from domain.services.inventory_push import PushDeps, _record_unchanged
from domain.services.shops import delete_shop
from domain.shops import Shop
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


async def _two_items_one_reserved(world: Pool) -> tuple[str, dict[str, str], str, str, str, str]:
    """A shop whose product's two SKUs (s1 ONE, s2 TWO, 5 units each) link two items, and an open order of the lower
    item's SKU reserving one unit: (shop id, item ids by SKU, the lower and the higher item id, the lower item's
    TikTok SKU id, its link's `sku_id`)."""
    shop = await world.shop()
    await world.products(shop, product("p1", ("s1", "ONE", 5), ("s2", "TWO", 5)))
    ids = await _item_ids(world)
    low, high = sorted(ids.values())
    moving = {ids["ONE"]: "s1", ids["TWO"]: "s2"}[low]
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", moving, at=NOW))
    return shop, ids, low, high, moving, await _sku_id(world, moving)


async def test_a_manual_link_to_a_higher_item_takes_the_lower_one_first_and_does_not_deadlock(world: Pool) -> None:
    # given two items of one shop, each linked by one SKU, and an open order reserving one unit on the lower one
    shop, ids, low, high, moving, sku_id = await _two_items_one_reserved(world)
    target_sku = next(sku for sku, item in ids.items() if item == high)

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


async def test_a_manual_link_the_database_aborts_as_a_deadlock_is_run_again_whole(
    world: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    # given two items of one shop, each linked by one SKU, and an open order reserving one unit on the lower one
    shop, ids, low, high, moving, sku_id = await _two_items_one_reserved(world)
    target_sku = next(sku for sku, item in ids.items() if item == high)
    low_sku = next(sku for sku, item in ids.items() if item == low)

    # when a writer that breaks the pool's order holds the SKU's link row, the merchant links the SKU to the higher
    # item (the link holds both items, then waits for the row), and the writer then asks for the lower item: each
    # waits for the other, and PostgreSQL aborts the link, whose wait began first (40P01; the writer's own check is
    # put off to 10 s)
    async with world.db.write_engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '10s'"))
        await other.execute(_LOCK_LINK, {"sku_id": sku_id})
        with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
            link = asyncio.create_task(pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, high))
            await until_a_writer_waits_on_a_lock(world.db)
            await asyncio.wait_for(other.execute(_LOCK_ITEM, {"id": low}), timeout=30)
            await other.commit()
            await asyncio.wait_for(link, timeout=60)

    # then the link was run again whole (a WARNING with the SQLSTATE, no error to the merchant), and the
    # reservation moved once to the higher item
    lines = [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"]
    # (one WARNING or more: a row lock is not handed to its waiter when its holder aborts; the waiter, woken, locks the
    # row again, and the service's next run, begun meanwhile, may take it first and deadlock with the test's writer
    # again: PostgreSQL's heap_lock_tuple, seen under load; each run is whole, none counts twice)
    assert lines and all("SQLSTATE 40P01" in line and f"link of SKU {sku_id}" in line for line in lines)
    assert (await world.links(shop))[moving] == ("LINKED", target_sku)
    assert ((await world.item(low_sku))["reserved"], (await world.item(target_sku))["reserved"]) == (0, 1)


async def test_a_merchants_adjustment_the_database_aborts_as_a_deadlock_is_run_again_whole_and_counted_once(
    world: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    # given a shop whose SKU links ONE (5 units), its product's push outbox row stored
    shop = await world.shop()
    await world.products(shop, product("p1", ("s1", "ONE", 5)))
    one = (await _item_ids(world))["ONE"]

    # when a writer that breaks the pool's order holds the product's outbox row, the merchant adds 3 units (the
    # adjustment holds ONE, writes its movement and counters, then waits for the row), and the writer then asks for
    # ONE: each waits for the other, and PostgreSQL aborts the adjustment, whose wait began first (40P01; the
    # writer's own check is put off to 10 s)
    async with world.db.write_engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '10s'"))
        await other.execute(_LOCK_PUSH_ROW, {"shop": shop.id, "product": "p1"})
        with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
            adjusting = asyncio.create_task(
                pool.adjust_item(world.uows, world.queue, world.events, "merchant-a", one, 3, "restock")
            )
            await until_a_writer_waits_on_a_lock(world.db)
            await asyncio.wait_for(other.execute(_LOCK_ITEM, {"id": one}), timeout=30)
            await other.commit()
            adjusted = await asyncio.wait_for(adjusting, timeout=60)

    # then the adjustment was run again whole (a WARNING with the SQLSTATE, no error to the merchant), and its
    # units counted once
    lines = [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"]
    # (one WARNING or more: a row lock is not handed to its waiter when its holder aborts; the waiter, woken, locks the
    # row again, and the service's next run, begun meanwhile, may take it first and deadlock with the test's writer
    # again: PostgreSQL's heap_lock_tuple, seen under load; each run is whole, none counts twice)
    assert lines and all("SQLSTATE 40P01" in line and f"inventoryAdjust of item {one}" in line for line in lines)
    assert adjusted.on_hand == 8 and (await world.item("ONE"))["on_hand"] == 8


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


async def test_an_item_two_shops_imports_create_at_once_is_the_first_ones_and_its_seed_alone(world: Pool) -> None:
    # given two shops of the merchant, and the first shop's import of a SKU of the new seller SKU TEE, not yet
    # committed (it created TEE, seeded from its TikTok stock: 4)
    first, second = await world.shop(), await world.shop()
    mine = product("p1", ("s1", "TEE", 4))
    async with world.uows() as uow:
        await uow.catalog.upsert_products(first.id, [mine])
        await pool.pool_products(uow, world.queue, world.events, first.id, [mine])
        # when the second shop's import of a SKU of seller SKU TEE runs meanwhile: it sees no item TEE and creates one
        other = asyncio.create_task(world.products(second, product("q1", ("t1", "TEE", 9))))
        await until_a_writer_waits_on_a_lock(world.db)  # its insert of TEE waits for the first import's
        await uow.commit()
    await other

    # then TEE is the first import's, seeded from its stock alone (its insert returned no row to the second: an
    # item another shop's import created first is theirs, read back by its SKU) with its seed's baseline; the second
    # shop's SKU joined it, with no seed of its own (nor a baseline: no page's read given here)
    assert await world.links(first) == {"s1": ("LINKED", "TEE")}
    assert await world.links(second) == {"t1": ("LINKED", "TEE")}
    item = await world.item("TEE")
    assert (item["on_hand"], item["reserved"], item["version"]) == (4, 0, 2)
    async with world.db.read_sessionmaker() as session:
        query = select(sku_links.c.shop_id, sku_links.c.stock_counted_at, sku_links.c.seeded_available)
        seeded = {shop_id: (at is not None, available) for shop_id, at, available in (await session.execute(query))}
    assert seeded == {first.id: (True, 4), second.id: (False, None)}


async def test_an_item_removed_clears_the_links_that_remember_it_in_sku_id_order_and_does_not_deadlock(
    world: Pool,
) -> None:
    # given DUP, an item a first shop's import seeded, and two other shops whose SKUs linked DUP until their seller
    # SKUs were cleared (NO_SELLER_SKU: each link remembers DUP), the one of the higher `sku_id` cleared first (its
    # row before the other's in the table, where the foreign key's clearing found them)
    first, second, third = await world.shop(), await world.shop(), await world.shop()
    await world.products(first, product("p1", ("s1", "DUP", 2)))
    await world.products(second, product("q1", ("t1", "DUP", 3)))
    await world.products(third, product("r1", ("u1", "DUP", 4)))
    remembering = {await _sku_id(world, "t1"): (second, "q1", "t1"), await _sku_id(world, "u1"): (third, "r1", "u1")}
    low, high = sorted(remembering)
    for sku_id in (high, low):
        shop, product_id, tiktok_sku_id = remembering[sku_id]
        await world.products(shop, product(product_id, (tiktok_sku_id, None, 3)))

    # when another writer holds the lower of those links (`sku_id` order, as every writer of links takes them), the
    # first shop's import removes DUP (the twin of s1 came in a later page: both AMBIGUOUS, nobody draws on DUP), and
    # once it waits for a lock, the other writer asks for the higher link
    twin = product("p2", ("s4", " DUP ", 6))
    async with world.db.write_engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '10s'"))
        await other.execute(_LOCK_LINK, {"sku_id": low})
        removing = asyncio.create_task(world.products(first, twin))
        await until_a_writer_waits_on_a_lock(world.db)
        await other.execute(_LOCK_LINK, {"sku_id": high})  # at once: the removal holds none of them yet
        await other.commit()
    await asyncio.wait_for(removing, timeout=60)

    # then both went through (no deadlock aborted the import's page), DUP is gone, and no link remembers it
    assert await world.links(first) == {"s1": ("AMBIGUOUS", None), "s4": ("AMBIGUOUS", None)}
    async with world.db.read_sessionmaker() as session:
        assert (await session.execute(select(inventory_items.c.id).where(inventory_items.c.sku == "DUP"))).all() == []
        query = select(sku_links.c.sku_id).where(sku_links.c.unlinked_item_id.is_not(None))
        assert (await session.execute(query)).all() == []


async def _deleted_while_a_writer_holds(
    world: Pool, shop: Shop, held_item: str, then_asks: tuple[Executable, dict[str, str]]
) -> None:
    """merchant-a deletes `shop` while another writer (its own deadlock check put off to 10 s) holds `held_item`
    (FOR UPDATE); once the delete waits for a lock, that writer asks `then_asks` (a statement and its parameters,
    within 30 s) and commits; the delete returns the shop's id within 60 s."""
    async with world.db.write_engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '10s'"))
        await other.execute(_LOCK_ITEM, {"id": held_item})
        deleting = asyncio.create_task(
            delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)
        )
        await until_a_writer_waits_on_a_lock(world.db)
        statement, parameters = then_asks
        await asyncio.wait_for(other.execute(statement, parameters), timeout=30)
        await other.commit()
        assert await asyncio.wait_for(deleting, timeout=60) == shop.id


async def test_a_shops_delete_the_database_aborts_as_a_deadlock_is_run_again_whole(
    world: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    # given a shop whose SKU links ONE, an item only it brought into the pool, with an open order reserving a unit
    shop = await world.shop()
    await world.products(shop, product("p1", ("s1", "ONE", 5)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1", at=NOW))
    one = (await _item_ids(world))["ONE"]

    # when a writer that breaks the pool's order holds ONE, the merchant deletes the shop (the delete holds the
    # shop's row, then waits for ONE), and the writer then asks for the shop's row: each waits for the other, and
    # PostgreSQL aborts the delete, whose wait began first (40P01; the writer's own check is put off to 10 s)
    with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
        shop_row = text("SELECT id FROM shops WHERE id = :id FOR KEY SHARE")
        await _deleted_while_a_writer_holds(world, shop, one, then_asks=(shop_row, {"id": shop.id}))

    # then the delete was run again whole (a WARNING with the SQLSTATE, no error to the merchant): the shop is
    # gone, and so is ONE, which only it linked
    lines = [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"]
    # (one WARNING or more: a row lock is not handed to its waiter when its holder aborts; the waiter, woken, locks the
    # row again, and the service's next run, begun meanwhile, may take it first and deadlock with the test's writer
    # again: PostgreSQL's heap_lock_tuple, seen under load; each run is whole, none counts twice)
    assert lines and all("SQLSTATE 40P01" in line and f"the delete of shop {shop.id}" in line for line in lines)
    async with world.uows() as uow:
        assert await uow.shops.get(shop.id) is None
    assert await _item_ids(world) == {}


async def test_a_shops_delete_takes_the_items_of_its_earlier_link_periods_in_id_order_and_does_not_deadlock(
    world: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    # given two items of a kept shop, and a second shop's SKU g1 linked to the higher one, by hand to the lower one,
    # and back to the higher one: the lower item is named by the SKU's earlier link period alone
    # (`sku_link_periods`), which the delete copies (`deleted_shop_links`, a foreign key: a share lock on the item)
    kept, shop = await world.shop(), await world.shop()
    await world.products(kept, product("p1", ("k1", "ONE", 5), ("k2", "TWO", 5)))
    ids = await _item_ids(world)
    low, high = sorted(ids.values())
    await world.products(shop, product("q1", ("g1", next(sku for sku, item in ids.items() if item == high), 5)))
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", low)
    world.clock.advance(timedelta(minutes=1))
    await world.link_by_hand(shop, "g1", high)
    world.clock.advance(timedelta(minutes=1))

    # when another writer holds the lower item, the merchant deletes the second shop, and once the delete waits for a
    # lock, the other writer asks for the higher item (id order, as every writer of the pool; the writer's own
    # deadlock check put off to 10 s)
    with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
        # (the delete holds neither item when the writer asks for the higher one)
        await _deleted_while_a_writer_holds(world, shop, low, then_asks=(_LOCK_ITEM, {"id": high}))

    # then both went through at the first run: the delete waited for the lower item in its id-ordered locks (before:
    # it held the higher one and then waited for the lower one's share lock at the copy, PostgreSQL aborted it,
    # 40P01, and it ran again: review58 R7); the copy names the lower item
    assert [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"] == []
    async with world.db.read_sessionmaker() as session:
        copied = select(deleted_shop_links.c.inventory_item_id).where(deleted_shop_links.c.source == EARLIER_PERIOD)
        assert set((await session.execute(copied)).scalars()) == {low, high}


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


# The columns an import's link upsert writes (`links._link_row`), as stored: the row written again as it is.
_LINK_ROW = (
    "sku_id", "shop_id", "merchant_id", "inventory_item_id", "tiktok_product_id", "tiktok_sku_id", "seller_sku",
    "state", "source", "updated_at", "stock_counted_at", "linked_at", "unlinked_item_id", "seeded_item_id",
    "seeded_from_item_id",
)  # fmt: skip
_LOCK_LINK = text("SELECT sku_id FROM sku_links WHERE sku_id = :sku_id FOR UPDATE")
Rows = dict[str, dict[str, Any]]  # "low", "high" -> a link row as `upsert_links` takes it (by `sku_id`)


async def _two_linked_skus(world: Pool) -> tuple[Shop, Rows]:
    """A shop whose product p1 has two LINKED SKUs, and their link rows: "low" and "high" in `sku_id` order, the
    order every writer of links takes them in."""
    shop = await world.shop()
    await world.products(shop, product("p1", ("s1", "ONE", 5), ("s2", "TWO", 5)))
    async with world.db.read_sessionmaker() as session:
        query = select(*(sku_links.c[name] for name in _LINK_ROW)).where(sku_links.c.shop_id == shop.id)
        low, high = (dict(row) for row in (await session.execute(query.order_by(sku_links.c.sku_id))).mappings())
    return shop, {"low": low, "high": high}


async def _observed(world: Pool, shop: Shop) -> dict[str, int | None]:
    async with world.db.read_sessionmaker() as session:
        query = select(sku_links.c.sku_id, sku_links.c.observed_quantity).where(sku_links.c.shop_id == shop.id)
        return dict((await session.execute(query)).all())  # type: ignore[arg-type]


async def test_a_reconcile_waits_for_an_import_upserting_the_shops_links_and_does_not_deadlock(world: Pool) -> None:
    # given a shop with two linked SKUs
    shop, rows = await _two_linked_skus(world)
    low, high = rows["low"]["sku_id"], rows["high"]["sku_id"]

    # when a products import takes the shop's link turn and has upserted the high link (its rows' order), the
    # reconcile records what TikTok shows for both SKUs, the low one first, and once it waits for a lock, the import
    # goes on to the low link. Without the shop's turn, the reconcile wrote the low link before waiting on the high
    # one: each waited on the other, and PostgreSQL aborted one (40P01: the import's page, an ERROR, a retry spent).
    async with world.uows() as uow:
        await hold_shop_links(uow.session, shop.id, exclusive=True)
        await upsert_links(uow.session, [rows["high"]])

        async def reconcile() -> None:
            async with world.uows() as other:
                await other.inventory_push.record_observed(shop.id, {low: 4, high: 3}, [high], NOW)
                await other.commit()

        recording = asyncio.create_task(reconcile())
        await until_a_writer_waits_on_a_lock(world.db)
        await upsert_links(uow.session, [rows["low"]])
        await uow.commit()
    await recording

    # then both went through: the links as they were, and the reconcile's observations on them
    assert await world.links(shop) == {"s1": ("LINKED", "ONE"), "s2": ("LINKED", "TWO")}
    assert await _observed(world, shop) == {low: 4, high: 3}


async def _upsert_high_first(world: Pool, shop: Shop, rows: Rows) -> None:
    async with world.uows() as uow:
        await hold_shop_links(uow.session, shop.id, exclusive=True)
        await upsert_links(uow.session, [rows["high"], rows["low"]])
        await uow.commit()


async def _record_push(world: Pool, shop: Shop, rows: Rows) -> None:
    error = SkuPushError(12052097, "warehouse does not exist")
    outcome = ProductPushOutcome(pushed={rows["high"]["sku_id"]: 5}, failed={rows["low"]["sku_id"]: error})
    async with world.uows() as uow:
        await uow.inventory_push.record_link_results(shop.id, outcome, NOW)
        await uow.commit()


async def _record_intents(world: Pool, shop: Shop, rows: Rows) -> None:
    intent = PushIntent(quantity=5, at=NOW)
    async with world.uows() as uow:
        await uow.inventory_push.record_intents(
            shop.id, {rows["low"]["sku_id"]: intent}, {rows["high"]["sku_id"]: intent}
        )
        await uow.commit()


async def _record_observed(world: Pool, shop: Shop, rows: Rows) -> None:
    async with world.uows() as uow:
        observed = {rows["high"]["sku_id"]: 5, rows["low"]["sku_id"]: 5}
        await uow.inventory_push.record_observed(shop.id, observed, [], NOW)
        await uow.commit()


@pytest.mark.parametrize("writer", [_upsert_high_first, _record_push, _record_intents, _record_observed])
async def test_a_writer_of_a_shops_links_takes_them_in_sku_id_order_and_does_not_deadlock(
    world: Pool, writer: Callable[[Pool, Shop, Rows], Awaitable[None]]
) -> None:
    # given a shop with two linked SKUs
    shop, rows = await _two_linked_skus(world)

    # when another writer holds the low link (`sku_id` order, as every writer of links takes them), the writer under
    # test, given the high one first, writes both, and once it waits for a lock, the other asks for the high link.
    # The push takes no link turn at all, so the order of the rows alone keeps two writers from waiting on each
    # other: a writer that took the high link first deadlocked there (40P01).
    async with world.db.write_engine.connect() as other:
        await other.execute(_LOCK_LINK, {"sku_id": rows["low"]["sku_id"]})
        writing = asyncio.create_task(writer(world, shop, rows))
        await until_a_writer_waits_on_a_lock(world.db)
        await other.execute(_LOCK_LINK, {"sku_id": rows["high"]["sku_id"]})  # at once: the writer holds no link yet
        await other.commit()
    await writing

    # then both went through (no deadlock aborted either)
    assert await world.links(shop) == {"s1": ("LINKED", "ONE"), "s2": ("LINKED", "TWO")}


_LOCK_PUSH_ROW = text(
    "SELECT 1 FROM inventory_push_outbox WHERE shop_id = :shop AND tiktok_product_id = :product FOR UPDATE"
)


async def test_a_push_finishing_unchanged_products_marks_their_items_other_rows_in_one_order(world: Pool) -> None:
    # given two shops, `first` before `second` in id order: first's pA links item J, first's pB items K and I,
    # second's px items J and I; and a push of `first` holding the claims of pA and pB, which TikTok shows at their
    # targets, each with a hold that moved on its item (J, K: their other links' rows are marked dirty)
    first, second = sorted([await world.shop(), await world.shop()], key=lambda shop: shop.id)
    await world.products(first, product("pA", ("a1", "J", 5)), product("pB", ("b1", "K", 5), ("b2", "I", 5)))
    await world.products(second, product("px", ("x1", "J", 5), ("x2", "I", 5)))
    ids = await _item_ids(world)
    deps = PushDeps(world.uows, cast(Any, None), world.clock, holder="pusher")  # TikTok is not called
    async with world.uows() as uow:
        claims = await uow.inventory_push.claim_due(first.id, "pusher", NOW, timedelta(minutes=5), limit=10)
        await uow.commit()
    assert [claim.tiktok_product_id for claim in claims] == ["pA", "pB"]
    sku_ids = {sku: await _sku_id(world, sku) for sku in ("a1", "b1", "b2")}
    finished = [
        (claims[0], ProductPushOutcome(pushed={sku_ids["a1"]: 5}, holds_moved={ids["J"]})),
        (claims[1], ProductPushOutcome(pushed={sku_ids["b1"]: 5, sku_ids["b2"]: 5}, holds_moved={ids["K"]})),
    ]

    # when a webhook batch of `second` selling item I holds first's pB row (its marks go in (shop, product) order:
    # first's pB, then second's px), the push records the two products in one transaction, and once it waits for a
    # lock, the batch asks for second's px row. Marked product after product, the push held second's px (pA's item
    # J) before waiting for first's pB (its own): each waited on the other, and PostgreSQL aborted one (40P01; the
    # batch's run is not run again: its events change in memory, review51)
    async with world.db.write_engine.connect() as batch:
        await batch.execute(_LOCK_PUSH_ROW, {"shop": first.id, "product": "pB"})
        recording = asyncio.create_task(_record_unchanged(deps, first, finished))
        await until_a_writer_waits_on_a_lock(world.db)
        await asyncio.wait_for(batch.execute(_LOCK_PUSH_ROW, {"shop": second.id, "product": "px"}), timeout=30)
        await batch.commit()
    assert await recording

    # then both went through: the push finished its claims and marked second's px (item J) dirty
    async with world.db.read_sessionmaker() as session:
        rows = (await session.execute(select(inventory_push_outbox))).mappings().all()
    state = {(row["shop_id"], row["tiktok_product_id"]): row for row in rows}
    for product_id in ("pA", "pB"):
        assert state[(first.id, product_id)]["claimed_by"] is None
    assert state[(second.id, "px")]["dirty_version"] > state[(second.id, "px")]["pushed_version"]
