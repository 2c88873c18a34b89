"""The push under several `dramatiq` worker processes (Redis broker), on both databases: sales on one merchant's
two shops each enqueue a push of both; whichever processes take the messages, the values each shop receives only
go down (no older value after a newer one) and every shop's TikTok stock ends at the final target."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, or_, select

from adapters.db.tables import inventory_push_outbox
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import settings_env, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.fixtures.workers import spawn_worker, stop_workers
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    imported_shop,
    link,
    opened_push_world,
    sandbox_products,
    tiktok_stock,
    updates,
)

SALES = 60


@pytest.fixture
async def world_and_settings(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, redis_server: Any
) -> AsyncIterator[tuple[PushWorld, Any]]:
    settings = sync_settings(database_url, sandbox, tmp_path, broker_url=redis_server.url)
    async with opened_push_world(database_url, sandbox, tmp_path, settings) as made:
        yield made, settings


async def _all_pushed(world: PushWorld, timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    c = inventory_push_outbox.c
    while True:
        async with world.db.read_sessionmaker() as session:
            pending = (
                await session.execute(
                    select(func.count())
                    .select_from(inventory_push_outbox)
                    .where(or_(c.dirty_version > c.pushed_version, c.claimed_by.is_not(None)))
                )
            ).scalar_one()
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} outbox row(s) still dirty or claimed after {timeout} s")
        await asyncio.sleep(0.1)


@pytest.mark.redis
async def test_worker_processes_never_send_an_older_value_and_end_at_the_target(
    world_and_settings: tuple[PushWorld, Any],
) -> None:
    world, settings = world_and_settings
    # given one merchant's two shops sharing a product's seller SKUs, linked to one item per SKU of 500 units
    shops = [await imported_shop(world, seller) for seller in ("us-local", "us-local-2")]
    items: dict[str, str] = {}
    products: dict[str, str] = {}  # shop id -> product id
    watched: dict[str, str] = {}  # shop id -> TikTok SKU id of SB-00021-Red
    for shop in shops:
        (product,) = [p for p in sandbox_products(world.sandbox, shop) if p["skus"][0]["seller_sku"] == "SB-00021-Red"]
        products[shop.id] = product["id"]
        for sku in product["skus"]:
            if sku["seller_sku"] not in items:
                items[sku["seller_sku"]] = await add_item(world.db, shop.merchant_id, sku["seller_sku"], 500)
            await link(world.db, shop, sku["id"], items[sku["seller_sku"]], product["id"])
            if sku["seller_sku"] == "SB-00021-Red":
                watched[shop.id] = sku["id"]
    world.sandbox.control("POST", "/latency", {"ms": 30})

    from adapters.queue import DramatiqTaskQueue
    from workers.broker import setup_broker

    setup_broker(settings)  # this process only sends; the workers are processes of their own
    from workers.actors import push_inventory, run_sync_task

    queue = DramatiqTaskQueue(run_sync_task, inventory_push_actor=push_inventory)
    workers = [spawn_worker(settings_env(settings), processes=1, threads=2) for _ in range(3)]
    try:
        # when 60 sales of SB-00021-Red, on either shop, each mark both shops dirty and enqueue both pushes
        red = items["SB-00021-Red"]
        rng = random.Random(8)
        for _ in range(SALES):
            await change_stock(world, red, -1, [(s.id, products[s.id]) for s in shops])
            for shop in rng.sample(shops, 2):
                await queue.enqueue_inventory_push(shop.id)
            await asyncio.sleep(rng.uniform(0, 0.02))
        await _all_pushed(world)
    finally:
        stop_workers(*workers)

    # then on every shop the values sent only went down, and TikTok shows the final target
    for shop in shops:
        sent = updates(world.sandbox, shop, products[shop.id])
        sku = watched[shop.id]
        quantities = [sum(r["quantity"] for s in u["skus"] if s["id"] == sku for r in s["inventory"]) for u in sent]
        assert quantities and quantities == sorted(quantities, reverse=True), quantities
        assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 500 - SALES
        assert len(sent) < SALES  # coalesced
