"""A webhook batch that stores orders and products of a shop at once, against the shop's product import (issue 8,
PostgreSQL's locks): the two take the shop's turns in one order and never deadlock.

Every writer takes the turns it needs in one order: the catalog writers' (products, orders: `catalog.hold_writers`)
before the pool's link turn (`writer.hold_shop_links`: order batches shared, link changes exclusive). A webhook batch
that fetched both (`intake.store_fetched`) took the order writers' turn and the shared link turn for its orders
first, then waited for the product writers' turn; a product import holding that turn then waited for the exclusive
link turn the batch held shared: PostgreSQL broke the cycle by failing one of them (40P01), a batch of webhook
events or an import's page retried for nothing. SQLite has one writer at a time: nothing to interleave there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from adapters.crypto import TokenCipher
from domain.services import inventory as pool
from domain.services.intake import store_fetched
from tests.fixtures.inventory_pool import Pool, order, postgres_pool, product
from tests.integration.db_samples import NOW


@pytest.fixture
async def world(postgres_url: str, cipher: TokenCipher) -> AsyncIterator[Pool]:
    """PostgreSQL's only (no skipped SQLite run: its write transactions are exclusive, one writer at a time)."""
    async with postgres_pool(postgres_url, cipher) as world:
        yield world


async def test_a_webhook_batch_of_orders_and_products_and_a_product_import_do_not_deadlock(world: Pool) -> None:
    # given a shop with a linked SKU (10 at TikTok), and a product import that has written its page (holding the
    # turn of the shop's product writers) but not yet linked its SKUs
    shop = await world.shop()
    await world.products(shop, product("p", ("s", "MUG", 10)))
    page = product("p", ("s", "MUG", 10), at=NOW + timedelta(minutes=1))
    importing = world.uows()
    await importing.__aenter__()
    try:
        await importing.catalog.upsert_products(shop.id, [page])

        # when a webhook batch stores a sale of that SKU and a new product of the shop meanwhile
        async def webhook_batch() -> None:
            async with world.uows() as uow:
                sale = order("o1", "AWAITING_SHIPMENT", "s", at=NOW + timedelta(minutes=2))
                await store_fetched(uow, world.queue, world.events, shop.id, [sale], [product("q", ("t", "CUP", 5))])
                await uow.commit()

        batch = asyncio.ensure_future(webhook_batch())
        await _until_waiting_on_a_lock(world, batch)
        # and the import links its page's SKUs
        await pool.pool_products(importing, world.queue, world.events, shop.id, [page])
        await importing.commit()
    finally:
        await importing.__aexit__(None, None, None)

    # then the batch waited for the import and stored everything once it was its turn: no deadlock, nothing lost
    await batch
    mug, cup = await world.item("MUG"), await world.item("CUP")
    assert (mug["on_hand"], mug["reserved"], mug["available"]) == (10, 1, 9)
    assert (cup["on_hand"], cup["reserved"], cup["available"]) == (5, 0, 5)


async def _until_waiting_on_a_lock(world: Pool, task: asyncio.Future[None]) -> None:
    """Until another session waits on a lock (the batch queued behind the open import), or the task ended."""
    deadline = asyncio.get_running_loop().time() + 20
    while not task.done():
        async with world.db.read_sessionmaker() as session:
            waiting = (await session.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))).scalar_one()
        if waiting:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the batch neither waited nor finished")
        await asyncio.sleep(0.01)
