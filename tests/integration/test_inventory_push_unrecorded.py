"""A push TikTok applied that Shopbridge never recorded (the worker died between TikTok's answer and the record: a
SIGKILL, or a stop past its `stop_wait`): the next push must measure the fence from what TikTok was sent, not from
the push recorded before it (issue 8, the committed fence; README, "What a hard stop leaves").

The death is driven through the code path a stop takes past its wait (`stop_wait` 0): the run is cancelled while
TikTok holds the update (the sandbox's hold), the claim is handed back unrecorded, and TikTok then applies the
update, as it does whatever became of the client that sent it. That is the state a SIGKILL leaves, less the lease;
one test SIGKILLs a `shopbridge worker` process on Redis to show it."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.services.inventory_push import push_shop
from domain.shops import Shop
from tests.fakes import FakeClock
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import settings_env, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.fixtures.workers import spawn_worker, stop_workers
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    link_row,
    now,
    opened_push_world,
    tiktok_stock,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push import pooled_product
from workers.broker import setup_broker

UPDATE_INVENTORY = "/product/202309/products/{product_id}/inventory/update"
GET_PRODUCT = "/product/202309/products/{product_id}"


async def applied_unrecorded(world: PushWorld, shop_id: str) -> None:
    """Run a fenced push of shop `shop_id` whose Update Inventory TikTok takes while the run dies before recording
    it: cancelled with the update held at the sandbox, no wait for its answer; TikTok applies it afterwards."""
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    dying = asyncio.create_task(push_shop(shop_id, world.deps(holder="dying", fence=True, stop_wait=timedelta(0))))
    try:
        await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
    finally:
        world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 0)


async def pushed_at_50(world: PushWorld) -> tuple[Shop, dict[str, Any], dict[str, str], dict[str, str], str]:
    """A connected shop's pooled product (`pooled_product`, 50 on hand) pushed once with the fence: (the shop, the
    product, its items by TikTok SKU id, its SKU ids by TikTok SKU id, the first TikTok SKU id)."""
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    sku = next(iter(items))
    await change_stock(world, items[sku], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    return shop, product, items, sku_ids, sku


async def test_a_push_tiktok_took_unrecorded_holds_nothing_back_at_the_next_push(world: PushWorld) -> None:
    # given a fenced pooled SKU pushed at 50, then 5 units set aside in the pool (45 available)
    shop, product, items, sku_ids, sku = await pushed_at_50(world)
    await change_stock(world, items[sku], -5, [(shop.id, product["id"])])
    # when the push of 45 reaches TikTok, which applies it, but its worker dies before recording it
    await applied_unrecorded(world, shop.id)
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 45
    assert (await link_row(world.db, sku_ids[sku]))["pushed_quantity"] == 50  # the record TikTok's answer never made
    # then the next push (the restarted worker's) takes TikTok's 45 for what it was sent, not for 5 units sold unseen:
    # it shows the pool's 45 and holds nothing back. Measured from the 50 recorded before, it held 5 units back
    # from every shop of the item for the fence's whole horizon (10.5 min): sold out early
    await change_stock(world, items[sku], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(holder="restarted", fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 45
    link = await link_row(world.db, sku_ids[sku])
    assert (link["pushed_quantity"], link["held_quantity"]) == (45, 0)


async def test_a_restock_tiktok_took_unrecorded_still_fences_the_sales_made_after_it(world: PushWorld) -> None:
    # given a fenced pooled SKU pushed at 50, then 10 units received (60 available)
    shop, product, items, sku_ids, sku = await pushed_at_50(world)
    await change_stock(world, items[sku], 10, [(shop.id, product["id"])])
    # when the push of 60 reaches TikTok, which applies it, but its worker dies before recording it; then buyers take
    # 3 units at TikTok, their webhooks lost
    await applied_unrecorded(world, shop.id)
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": sku, "quantity": 3})
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 57
    # then the next push holds those 3 units back (TikTok shows 57, the pool's 60 less them). Measured from the 50
    # recorded before, TikTok's 57 looked like 7 units restored unseen: the push wrote 60, and the 3 units sold
    # were on sale again until a poll brought their orders in
    await change_stock(world, items[sku], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(holder="restarted", fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 57
    link = await link_row(world.db, sku_ids[sku])
    assert (link["pushed_quantity"], link["held_quantity"]) == (57, 3)


async def test_a_restock_tiktok_refused_until_the_retries_ran_out_is_not_held_back_at_the_next_push(
    world: PushWorld,
) -> None:
    # given a fenced pooled SKU pushed at 50, then 10 units received (60 available)
    shop, product, items, sku_ids, sku = await pushed_at_50(world)
    await change_stock(world, items[sku], 10, [(shop.id, product["id"])])
    # when TikTok answers every Update Inventory 503 until the client's retries run out (an outage: nothing applied)
    world.sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["http_503"], "paths": [UPDATE_INVENTORY]})
    try:
        await push_shop(shop.id, world.deps(fence=True))
    finally:
        world.sandbox.control("POST", "/faults", {"rate": 0.0})
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 50
    # then the push after the outage shows the pool's 60 and holds nothing back: the failed call's intent, taken as
    # applied, made TikTok's 50 look like 10 units sold unseen and kept the restock off sale for the fence's horizon
    await push_shop(shop.id, world.deps(clock=FakeClock(now() + timedelta(minutes=1)), fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 60
    link = await link_row(world.db, sku_ids[sku])
    assert (link["pushed_quantity"], link["held_quantity"], link["push_intent"]) == (60, 0, None)


async def test_a_sku_taken_before_a_warehouse_refresh_is_recorded_as_sent(world: PushWorld) -> None:
    # given a fenced product of two pooled SKUs at 9, the first with a stored warehouse TikTok no longer has
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00028-", on_hand=9)
    stale, taken = list(items)[:2]
    async with world.uows() as uow:
        await uow.inventory_push.replace_warehouses(shop.id, stale, ["7000000000000000001"])
        await uow.commit()
    await change_stock(world, items[stale], 0, [(shop.id, product["id"])])
    # when TikTok takes the second SKU's 9 and refuses the first's warehouse, and 3 units of the second's item are
    # received while the push reads the product's warehouses again (Get Product held at the sandbox)
    world.sandbox.control("POST", "/hold", {"paths": [GET_PRODUCT]})
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))
    try:
        await until(lambda: world.sandbox.control("GET", "/hold")["waiting"] == 1)
        await change_stock(world, items[taken], 3, [])
    finally:
        world.sandbox.control("POST", "/hold", {"paths": []})
    assert (await pushing).calls == 2
    # then the second SKU is recorded at the 9 TikTok took, not at the 12 its item has since: measured from 12, the
    # next push took TikTok's 9 for 3 units sold unseen and held them back from every shop for the fence's horizon
    assert sum(tiktok_stock(world.sandbox, shop)[taken].values()) == 9
    assert (await link_row(world.db, sku_ids[taken]))["pushed_quantity"] == 9
    await change_stock(world, items[taken], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[taken].values()) == 12
    assert (await link_row(world.db, sku_ids[taken]))["held_quantity"] == 0


async def test_a_push_answered_after_its_lease_ran_out_leaves_the_newer_push_recorded(world: PushWorld) -> None:
    # given a fenced pooled SKU pushed at 50, then 5 units set aside (45)
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    sku = next(iter(items))
    await change_stock(world, items[sku], 0, [(shop.id, product["id"])])
    clock = FakeClock(now() + timedelta(minutes=1))  # ahead of the stock changes' marks: each is due at once
    await push_shop(shop.id, world.deps(clock=clock, fence=True))
    await change_stock(world, items[sku], -5, [(shop.id, product["id"])])
    # when a run's push of 45 is applied by TikTok but its answer trickles in until the test ends it, past the run's
    # lease (the clock jumps: the run could not renew it), and meanwhile 3 more units are set aside (42) and another
    # worker claims the product and pushes 42
    world.sandbox.control(
        "POST", "/faults", {"rate": 1.0, "kinds": ["trickle"], "slow_seconds": 600, "paths": [UPDATE_INVENTORY]}
    )
    try:
        late = asyncio.create_task(push_shop(shop.id, world.deps(holder="late", clock=clock, fence=True)))
        await until(lambda: sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 45)
    finally:
        world.sandbox.control("POST", "/faults", {"rate": 0.0})
    await change_stock(world, items[sku], -3, [(shop.id, product["id"])])
    clock.advance(world.deps().lease + timedelta(seconds=1))
    await push_shop(shop.id, world.deps(holder="other", clock=clock, fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 42
    assert not late.done()
    # then the late run's answer, once in, does not overwrite the record of the newer push TikTok shows
    world.sandbox.control("POST", "/faults/trickles/end")
    await asyncio.wait_for(late, DEADLINE_SECONDS)
    link = await link_row(world.db, sku_ids[sku])
    assert (link["pushed_quantity"], link["held_quantity"]) == (42, 0)
    # and the push it marks due measures from 42: nothing held back (from 45, it held 3 units back from every shop
    # for the fence's horizon)
    await push_shop(shop.id, world.deps(clock=clock, fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 42
    assert (await link_row(world.db, sku_ids[sku]))["held_quantity"] == 0


@pytest.mark.redis
async def test_a_worker_process_sigkilled_while_tiktok_takes_its_push_leaves_the_next_push_holding_nothing(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, redis_server: Any
) -> None:
    # given a pooled SKU pushed at 50 with the fence (the default), then 5 units set aside (45), and a `shopbridge
    # worker` process on Redis
    settings = sync_settings(database_url, sandbox, tmp_path, broker_url=redis_server.url)
    async with opened_push_world(database_url, sandbox, tmp_path, settings) as world:
        shop, product, items, sku_ids, sku = await pushed_at_50(world)
        await change_stock(world, items[sku], -5, [(shop.id, product["id"])])
        setup_broker(settings)  # this process only sends; the worker is a process of its own
        from workers.actors import push_inventory

        world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
        worker = spawn_worker({**settings_env(settings), "SHOPBRIDGE_TIKTOK_TIMEOUT": str(DEADLINE_SECONDS)})
        try:
            # when the worker pushes 45, and is SIGKILLed while TikTok takes the update, which it then applies
            await asyncio.to_thread(push_inventory.send, shop.id)
            await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        finally:
            world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
            stop_workers(worker)
        await until(lambda: sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 45)
        assert (await link_row(world.db, sku_ids[sku]))["pushed_quantity"] == 50  # never recorded
        # then the next push, once the dead worker's lease has run out, holds nothing back: TikTok shows the pool's 45
        clock = FakeClock(now() + world.deps().lease + timedelta(seconds=1))
        await push_shop(shop.id, world.deps(holder="restarted", clock=clock, fence=True))
        assert sum(tiktok_stock(world.sandbox, shop)[sku].values()) == 45
        link = await link_row(world.db, sku_ids[sku])
        assert (link["pushed_quantity"], link["held_quantity"], link["push_intent"]) == (45, 0, None)
