"""A webhook batch that stores orders and products of a shop at once, against the shop's product import (issue 8,
PostgreSQL's locks): the two take the shop's turns in one order and never deadlock.

Every writer takes the turns it needs in one order: the catalog writers' (products, orders: `catalog.hold_writers`)
before the pool's link turn (`writer.hold_shop_links`: order batches shared, link changes exclusive). A webhook batch
that fetched both (`intake.store_fetched`) took the order writers' turn and the shared link turn for its orders
first, then waited for the product writers' turn; a product import holding that turn then waited for the exclusive
link turn the batch held shared: PostgreSQL broke the cycle by failing one of them (40P01), a batch of webhook
events or an import's page retried for nothing. SQLite has one writer at a time: nothing to interleave there.

A batch PostgreSQL aborts all the same (a writer that breaks the order) is run again whole, and applies its webhooks
once: each run settles copies of the events as read (`intake._write_batch`), so the aborted run's attempt and
outcome do not carry into the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from adapters.crypto import TokenCipher
from adapters.db.tables import inventory_items, order_line_stock, webhook_events
from domain.intake import EventOutcome, Notification, WebhookEvent
from domain.services import inbox, intake
from domain.services import inventory as pool
from domain.services.intake import store_fetched
from tests.fakes import FakeRefreshApi
from tests.fixtures.inventory_pool import Pool, order, postgres_pool, product
from tests.integration.db_samples import NOW, add_shop, make_shop, until_a_writer_waits_on_a_lock


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


async def test_a_webhook_batch_the_database_aborts_as_a_deadlock_is_run_again_whole_and_applied_once(
    world: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    # given a shop whose SKU s links MUG (10 at TikTok), and an order status change of a sale of s received
    shop = await add_shop(world.uows, make_shop(tiktok_shop_id="7494000000000001"))
    await world.products(shop, product("p", ("s", "MUG", 10)))
    sale = order("576000000000001", "AWAITING_SHIPMENT", "s", at=NOW + timedelta(minutes=1))
    notice = Notification(1, "n-1", shop.tiktok_shop_id, int(NOW.timestamp()), {"order_id": sale.tiktok_order_id})
    received = await inbox.receive_notification(world.uows, world.clock, notice)
    assert received is not None
    api = FakeRefreshApi([sale], [])
    settled: list[WebhookEvent] = []
    deps = intake.IntakeDeps(world.uows, api.factory, world.clock, settled.extend, world.queue, world.events)
    mug, version_before = (await world.item("MUG"))["id"], (await world.item("MUG"))["version"]

    # when a writer that breaks the pool's order holds the event's row, the batch stores and pools the sale (MUG
    # held) and then waits for the event's row, and the writer then asks for MUG: each waits for the other, and
    # PostgreSQL aborts the batch, whose wait began first (40P01; the writer's own check is put off to 10 s)
    async with world.db.write_engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '10s'"))
        await other.execute(_LOCK_EVENT, {"id": received.id})
        with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
            batch = asyncio.create_task(intake.process_shop_events(deps, shop.id))
            await until_a_writer_waits_on_a_lock(world.db)
            await asyncio.wait_for(other.execute(_LOCK_ITEM, {"id": mug}), timeout=30)
            await other.commit()
            assert await asyncio.wait_for(batch, timeout=60) == 1

    # then the batch was run again whole, said in one WARNING line with the SQLSTATE, and the webhook applied once:
    # one attempt counted (not the aborted run's too), one ledger line, one unit reserved, the event PROCESSED
    lines = [r.getMessage() for r in caplog.records if r.name == "domain.services.conflicts"]
    assert len(lines) == 1 and "SQLSTATE 40P01" in lines[0] and f"shop {shop.id}: a webhook batch" in lines[0]
    async with world.db.read_sessionmaker() as session:
        stored = (await session.execute(select(webhook_events).where(webhook_events.c.id == received.id))).one()
        ledger = (await session.execute(select(order_line_stock.c.state, order_line_stock.c.quantity))).all()
        version = (await session.execute(select(inventory_items.c.version).where(inventory_items.c.id == mug))).one()
    assert (stored.outcome, stored.attempts, stored.error_code) == ("PROCESSED", 1, None)
    assert [(e.id, e.outcome, e.attempts) for e in settled] == [(received.id, EventOutcome.PROCESSED, 1)]
    assert [tuple(row) for row in ledger] == [("RESERVED", 1)]
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (10, 1, 9)
    assert version == (version_before + 1,)  # the one reservation: no counter moved twice
    assert api.order_calls == [[sale.tiktok_order_id]]  # TikTok asked once: the run again only writes


_LOCK_EVENT = text("SELECT id FROM webhook_events WHERE id = :id FOR UPDATE")
_LOCK_ITEM = text("SELECT id FROM inventory_items WHERE id = :id FOR UPDATE")


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
