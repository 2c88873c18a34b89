"""Units a shop's delete took off as sold unseen that no sale explains go back on on-hand once the same TikTok shop,
connected again, imported its products and orders (soak59 F3, `domain.inventory.unexplained`): by the scheduler's
inventory tick, once, with a movement of their own; none when the merchant counted the item since the delete; on
SQLite and PostgreSQL, through the delete use case, the imports' pool writes and the tick."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import deleted_shop_holds, inventory_movements, sku_links
from domain.inventory.items import MovementKind
from domain.inventory.unexplained import UNEXPLAINED_HOLD_REASON
from domain.services import inventory as pool
from domain.services.inventory_push import PushDeps
from domain.services.inventory_reconcile import inventory_tick
from domain.services.shops import delete_shop
from domain.shops import Shop
from domain.sync import SyncKind, SyncTask, SyncTrigger
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import NOW, add_shop, make_shop, until_a_writer_waits_on_a_lock


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


def _no_tiktok(*_: object) -> object:  # the tick reads nothing from TikTok: it only enqueues
    raise AssertionError("the inventory tick called TikTok")


async def _tick(world: Pool) -> tuple[int, list[str]]:
    """One scheduler inventory tick; (units given back, shops whose pushes it sent: those with dirty rows due, and
    those whose items it gave units back to)."""
    pushed: list[str] = []

    async def enqueue_push(shop_id: str) -> None:
        pushed.append(shop_id)

    async def enqueue_reconcile(_: str) -> None:
        pass

    deps = PushDeps(uow_factory=world.uows, inventory_api=_no_tiktok, clock=world.clock, holder="test")  # type: ignore[arg-type]
    tick = await inventory_tick(deps, enqueue_push, enqueue_reconcile, timedelta(days=1), {})
    return tick.given_back, pushed


async def _count(world: Pool, table, *where) -> int:  # type: ignore[no-untyped-def]
    async with world.db.read_sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def _corrections(world: Pool) -> list[tuple[int, int, str | None]]:
    moves = inventory_movements.c
    async with world.db.read_sessionmaker() as session:
        query = select(moves.on_hand_delta, moves.reserved_delta, moves.reason).where(
            moves.kind == MovementKind.CORRECTED.value
        )
        return [(a, b, c) for a, b, c in (await session.execute(query)).all()]


async def _held_then_deleted(world: Pool) -> tuple[Shop, Shop]:
    """SOCK linked by two shops (10 on hand); the second's push at NOW+2 min held 2 units back as sold unseen that no
    sale explains (TikTok's available fell, no order behind it: a Seller Center edit, or the fence's false hold of
    soak59 run4); the second shop deleted at NOW+5 min: the 2 units leave on-hand ("shop deleted: sold unseen",
    8/0/8) and are recorded (`deleted_shop_holds`). Returns (the kept shop, the deleted one)."""
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    pushed = NOW + timedelta(minutes=2)
    async with world.db.write_sessionmaker() as session, session.begin():
        held = {"held_quantity": 2, "held_since": pushed, "pushed_quantity": 8, "pushed_at": pushed}
        await session.execute(update(sku_links).where(sku_links.c.shop_id == gone.id).values(**held))
    world.clock.advance(timedelta(minutes=5))
    await delete_shop(world.uows, world.clock, "merchant-a", gone.id, world.events, world.queue)
    assert await world.counts("SOCK") == (8, 0, 8)
    assert await _count(world, deleted_shop_holds) == 1
    return kept, gone


async def _imported(world: Pool, shop: Shop, *kinds: SyncKind) -> None:
    """The connection's imports of `kinds` (queued now, default windows) SUCCEEDED, as the sync engine records them."""
    async with world.uows() as uow:
        for kind in kinds:
            task = SyncTask.queue(shop.id, shop.merchant_id, kind, SyncTrigger.AUTHORIZATION, world.clock.now())
            await uow.sync_tasks.add(task)
            task.succeed(world.clock.now())
            await uow.sync_tasks.update(task)
        await uow.commit()


async def _connected_again(world: Pool, gone: Shop) -> Shop:
    """The same TikTok shop connected again by merchant-a; its products import links g1 to SOCK (TikTok's stock 10:
    no sale was made)."""
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    await world.products(again, product("q", ("g1", "SOCK", 10), at=world.clock.now()))
    return again


async def test_a_hold_no_sale_explains_goes_back_on_hand_once_the_reconnect_has_imported_its_orders(
    world: Pool,
) -> None:
    # given a 2-unit hold no sale explains, taken off on-hand by the shop's delete (8/0/8), and the same TikTok shop
    # connected again, its products imported
    kept, gone = await _held_then_deleted(world)
    again = await _connected_again(world, gone)

    # when the scheduler ticks before the reconnect's orders import has succeeded: nothing moves (a sale behind the
    # hold could still come in and take the record)
    assert (await _tick(world))[0] == 0
    assert await world.counts("SOCK") == (8, 0, 8)
    await _imported(world, again, SyncKind.PRODUCTS)
    assert (await _tick(world))[0] == 0

    # when the orders import has succeeded too (no order of g1 in it), and the scheduler ticks
    await _imported(world, again, SyncKind.ORDERS)
    given, pushed = await _tick(world)

    # then the 2 units are back on on-hand (10/0/10; before, 8/0/8 for good: the pool 2 units below the shelf), one
    # CORRECTED movement says why, the record is gone and both shops of SOCK are pushed
    assert given == 2
    assert await world.counts("SOCK") == (10, 0, 10)
    assert await _corrections(world) == [(2, 0, UNEXPLAINED_HOLD_REASON)]
    assert await _count(world, deleted_shop_holds) == 0
    assert {kept.id, again.id} <= set(pushed)

    # and a tick again moves nothing (the item's version stays)
    version = (await world.item("SOCK"))["version"]
    assert (await _tick(world))[0] == 0
    assert (await world.item("SOCK"))["version"] == version


async def test_a_count_since_the_delete_keeps_the_units_of_a_hold_no_sale_explains_off_on_hand(world: Pool) -> None:
    # given the 2-unit hold taken off by the delete (8/0/8), then the merchant counts SOCK: 10 on the shelf
    _, gone = await _held_then_deleted(world)
    item = await world.item("SOCK")
    world.clock.advance(timedelta(seconds=30))
    await pool.set_item_on_hand(world.uows, world.queue, world.events, "merchant-a", item["id"], 10, None)
    assert await world.counts("SOCK") == (10, 0, 10)

    # when the TikTok shop is connected again and imported, and the scheduler ticks
    again = await _connected_again(world, gone)
    await _imported(world, again, SyncKind.PRODUCTS, SyncKind.ORDERS)
    given, _ = await _tick(world)

    # then the count stands (10/0/10, not 12): it found the units on the shelf; the record is gone, nothing given back
    assert given == 0
    assert await world.counts("SOCK") == (10, 0, 10)
    assert await _corrections(world) == []
    assert await _count(world, deleted_shop_holds) == 0


async def test_a_hold_a_sale_explains_is_taken_by_its_line_and_the_tick_gives_nothing_back(world: Pool) -> None:
    # given the 2-unit hold taken off by the delete, and the TikTok shop connected again, whose orders import reads
    # the sale behind the hold, still open (o9, 2 units of g1, made at NOW+1 min, before the hold's push): it takes
    # the record's units back as it reserves (10/2/8)
    _, gone = await _held_then_deleted(world)
    again = await _connected_again(world, gone)
    o9 = replace(order("o9", "AWAITING_SHIPMENT", "g1", "g1", at=NOW + timedelta(minutes=1)))
    await world.orders(again, o9)
    await _imported(world, again, SyncKind.PRODUCTS, SyncKind.ORDERS)
    assert await world.counts("SOCK") == (10, 2, 8)

    # when the scheduler ticks
    # then nothing more moves: the record served its sale
    assert (await _tick(world))[0] == 0
    assert await world.counts("SOCK") == (10, 2, 8)
    assert await _corrections(world) == []


async def test_two_workers_and_a_killed_one_give_a_hold_no_sale_explains_back_once(world: Pool) -> None:
    # given the 2-unit hold taken off by the delete, the TikTok shop connected again and imported
    _, gone = await _held_then_deleted(world)
    again = await _connected_again(world, gone)
    await _imported(world, again, SyncKind.PRODUCTS, SyncKind.ORDERS)

    # when a worker gives it back and is killed before its commit (its transaction rolled back)
    async with world.uows() as uow:
        _, units = await uow.inventory.give_back_unexplained_holds("merchant-a")
        assert units == 2
    assert await world.counts("SOCK") == (8, 0, 8)
    assert await _count(world, deleted_shop_holds) == 1

    # and then one worker gives it back while holding its transaction open, a second runs the same sweep meanwhile
    # (PostgreSQL: it waits on the item's lock; SQLite: on the one writer), and the first commits
    async with world.uows() as uow:
        _, units = await uow.inventory.give_back_unexplained_holds("merchant-a")
        assert units == 2
        second = asyncio.create_task(
            pool.give_back_unexplained_holds(world.uows, world.queue.enqueue_inventory_push, world.events)
        )
        await until_a_writer_waits_on_a_lock(world.db)
        await uow.commit()
    given_by_second = await second

    # then the 2 units went back once (10/0/10, one CORRECTED movement): the second found the record gone
    assert given_by_second == 0
    assert await world.counts("SOCK") == (10, 0, 10)
    assert await _corrections(world) == [(2, 0, UNEXPLAINED_HOLD_REASON)]
    assert await _count(world, deleted_shop_holds) == 0
