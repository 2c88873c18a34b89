"""A TikTok shop deleted with open multi-unit orders, connected again, its import storing those orders back in one
batch of 2,000 (PostgreSQL's records per transaction, `SyncOptions.batch_records`): the batch's lines that came
back are forgotten from the delete's records (`deleted_shop_lines`) in one statement per ledger chunk of 1,000
orders, 8,000 keys here. As a row-value IN list of literals that statement overflowed PostgreSQL's parser stack
("stack depth limit exceeded"), the batch's transaction failed, and every retry failed the same way (review69 P1)."""

from __future__ import annotations

from sqlalchemy import func, select

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import deleted_shop_lines
from domain.services.shops import delete_shop
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import add_shop, make_shop

ORDERS, UNITS = 2_000, 8  # 16,000 lines: 8,000 keys per ledger chunk of 1,000 orders


async def _recorded(database: Database) -> int:
    async with database.read_sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(deleted_shop_lines))).scalar_one()


async def test_a_reconnects_batch_of_2000_open_orders_that_came_back_reserves_them_again(
    database: Database, cipher: TokenCipher
) -> None:
    # given: SOCK linked by a kept shop and by `gone`, whose 2,000 open orders of 8 units each reserve 16,000
    world = Pool(database, cipher)
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 100_000)))  # the item outlives the delete
    await world.products(gone, product("q", ("g1", "SOCK", 100_000)))
    orders = [order(f"o{n}", "AWAITING_SHIPMENT", *["g1"] * UNITS) for n in range(ORDERS)]
    for start in range(0, ORDERS, 500):
        await world.orders(gone, *orders[start : start + 500])
    # and: `gone` deleted (its reserved lines recorded for a reconnect), then connected again with its products
    await delete_shop(world.uows, world.clock, "merchant-a", gone.id, world.events, world.queue)
    assert await _recorded(database) == ORDERS * UNITS
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    await world.products(again, product("q", ("g1", "SOCK", 100_000)))

    # when: the import stores the same orders in one batch of 2,000
    await world.orders(again, *orders)

    # then: reserved again once, and the delete's records of them all forgotten
    assert (await world.item("SOCK"))["reserved"] == ORDERS * UNITS
    assert await _recorded(database) == 0
