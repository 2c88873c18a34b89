"""A push run stopped mid-way (a worker's shutdown) hands every claimed row back, sent or waiting its turn (issue 8:
the restarted process pushes at once, not when the 120 s lease runs out while TikTok shows an older stock)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from domain.services.inventory_push import push_shop
from tests.fixtures.waiting import until
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    outbox_row,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.integration.test_inventory_push import pooled_product


async def test_a_stopped_push_hands_back_the_claims_still_waiting_their_turn(world: PushWorld) -> None:
    # given two dirty products of a shop, pushed one at a time, the first held in flight at TikTok
    shop = await imported_shop(world)
    products: list[dict[str, Any]] = []
    for prefix in ("SB-00021-", "SB-00022-"):
        product, items, _ = await pooled_product(world, shop, prefix, on_hand=50)
        await change_stock(world, next(iter(items.values())), -5, [(shop.id, product["id"])])
        products.append(product)
    assert products[0]["id"] != products[1]["id"]
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    cut = asyncio.create_task(push_shop(shop.id, world.deps(holder="stopping", concurrency=1)))
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
    # when the worker stops (its run is cancelled)
    cut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cut
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    # then neither row is claimed any more: the one in flight and the one that had not started yet
    for product in products:
        row = await outbox_row(world.db, shop, product["id"])
        assert row["claimed_by"] is None and row["dirty_version"] > row["pushed_version"], product["id"]
