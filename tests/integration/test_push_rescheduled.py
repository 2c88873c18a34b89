"""A dirty outbox row that no push could take yet is pushed when it becomes due, with no scheduler tick.

A push run ends when nothing of its shop is claimable now. A row dirty but due later was left to the scheduler's
inventory tick (up to `SHOPBRIDGE_SCHEDULER_TICK` after it was due, TikTok keeping the older, higher stock: an
oversell window), as no message of the shop was queued for it: a push that failed (TikTok's 5xx through all its
retries: the row backs off, `push_backoff`), and a change marked while a worker that then died held the row (the
change's message found it claimed; the row became claimable only when the dead worker's lease ran out). Found by
the pool's stress harness with 5xx injected on Update Inventory (seed 12): a row dirty, due, its lease run out, 0
attempts, and no push queued. The run now sends the shop's push for the row's due time (`PushReport.due_at`).

The real embedded broker (StubBroker) and a Dramatiq worker on the `live` queue, the sandbox and the database; the
scheduler is off, as in every test (`tests.fixtures.sync.sync_settings`): only a message can push the row. Both
databases: the due time is a query of the outbox (`next_due`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from adapters.db.tables import inventory_push_outbox
from adapters.events import InProcessEventBus
from domain.shops import Shop
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    now,
    opened_push_world,
    outbox_row,
    tiktok_stock,
)
from tests.integration.test_inventory_push import pooled_product
from tests.integration.test_push_coalescing import Watch, _in_order_settings, _live_queue
from workers.embedded import EmbeddedWorker

UPDATE_INVENTORY = "/product/202309/products/{product_id}/inventory/update"
# Past the row's due time (a 2 s backoff, a 1 s lease) with room for a loaded machine; the tick never comes.
PUSHED_WITHIN_SECONDS = 15.0


async def _pushed(world: PushWorld, shop: Shop, product_id: str) -> bool:
    """The row pushed and released by this process's worker: its last version pushed, no lease, no failed attempt."""
    row = await outbox_row(world.db, shop, product_id)
    return row["pushed_version"] == row["dirty_version"] and row["claimed_by"] is None and row["attempts"] == 0


def _available(sandbox: SandboxServer, shop: Shop, sku_id: str) -> int:
    return sum(tiktok_stock(sandbox, shop)[sku_id].values())


async def test_a_push_that_failed_is_sent_again_when_its_backoff_ends(
    database_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = _in_order_settings(database_url, sandbox, tmp_path)
    settings = settings.with_overrides(tiktok=replace(settings.tiktok, max_retries=0))  # one 5xx fails the push
    live = _live_queue(settings, Watch())
    async with opened_push_world(database_url, sandbox, tmp_path, settings) as world:
        try:
            # given a product of a shop whose one SKU is linked to an item of 50 units; a worker on `live`
            shop = await imported_shop(world)
            product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
            (sku, item), *_ = items.items()
            live.start()

            # when the item sells 5 and the push of it meets TikTok's 503 (its retries spent: 0 here)
            sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["http_503"], "paths": [UPDATE_INVENTORY]})
            await change_stock(world, item, -5, [(shop.id, product["id"])])
            await live.queue.enqueue_inventory_push(shop.id)

            async def failed() -> bool:
                row = await outbox_row(world.db, shop, product["id"])
                return row["attempts"] == 1 and row["claimed_by"] is None

            await until(failed, "the push failed and backed off")
            # and TikTok is back before the backoff (2 s) ends; no other change comes
            sandbox.control("POST", "/faults", {"rate": 0})

            # then the push is sent again when the backoff ends: TikTok shows the 45 left, the row is pushed
            await until(
                lambda: _pushed(world, shop, product["id"]), "the push after the backoff",
                timeout=PUSHED_WITHIN_SECONDS,
            )  # fmt: skip
            assert _available(sandbox, shop, sku) == 45
        finally:
            await live.stop()


async def test_a_change_to_a_row_a_dead_worker_held_is_pushed_when_its_lease_runs_out(
    database_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = _in_order_settings(database_url, sandbox, tmp_path)
    live = _live_queue(settings, Watch())
    async with opened_push_world(database_url, sandbox, tmp_path, settings) as world:
        try:
            # given a product of a shop whose one SKU is linked to an item of 50 units, pushed; a worker on `live`
            shop = await imported_shop(world)
            product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
            (sku, item), *_ = items.items()
            live.start()
            await change_stock(world, item, 0, [(shop.id, product["id"])])
            await live.queue.enqueue_inventory_push(shop.id)
            await until(lambda: _available(sandbox, shop, sku) == 50, "the first push")
            # and a worker that claimed the row and died (its lease runs out 1 s from now)
            c = inventory_push_outbox.c
            async with world.db.write_sessionmaker() as session, session.begin():
                await session.execute(
                    update(inventory_push_outbox)
                    .where(c.shop_id == shop.id, c.tiktok_product_id == product["id"])
                    .values(claimed_by="dead-worker", claimed_until=now() + timedelta(seconds=1))
                )

            # when the item sells 5: the change's push finds the row claimed
            await change_stock(world, item, -5, [(shop.id, product["id"])])
            await live.queue.enqueue_inventory_push(shop.id)

            # then it is pushed once the dead worker's lease has run out: TikTok shows the 45 left, the row is pushed
            await until(
                lambda: _pushed(world, shop, product["id"]), "the push after the lease", timeout=PUSHED_WITHIN_SECONDS
            )
            assert _available(sandbox, shop, sku) == 45
        finally:
            await live.stop()


async def test_an_embedded_start_pushes_the_rows_left_due_by_the_process_before(
    database_url: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = _in_order_settings(database_url, sandbox, tmp_path)
    async with opened_push_world(database_url, sandbox, tmp_path, settings) as world:
        # given a product of a shop, linked, that sold 5: its row due now, while the push message that the change sent
        # died with the in-memory queue of the process that stopped (which hands the claims it cut back due now too,
        # `test_inventory_push_stop.py`)
        shop = await imported_shop(world)
        product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
        (sku, item), *_ = items.items()
        await change_stock(world, item, -5, [(shop.id, product["id"])])

        # when the embedded pool starts again, its scheduler off
        worker = EmbeddedWorker(settings, events=InProcessEventBus())
        worker.start()
        try:
            # then its boot sweep sends the shop's push: TikTok shows the 45 left
            await until(
                lambda: _pushed(world, shop, product["id"]), "the push at the start", timeout=PUSHED_WITHIN_SECONDS
            )
        finally:
            await worker.stop()
        assert _available(sandbox, shop, sku) == 45
