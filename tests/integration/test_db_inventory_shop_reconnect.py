"""A deleted shop's ledger seen again by the same TikTok shop connected again (review54b): each line moves the shared
pool exactly as it would have had the shop never been deleted, whichever of the import, polls and webhooks sees it
first; on SQLite and PostgreSQL, through the delete use case and the imports."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database
from domain.services.shops import delete_shop
from domain.shops import Shop
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import NOW, add_shop, make_shop


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def _delete(world: Pool, shop: Shop) -> None:
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)


async def _counts(world: Pool, sku: str) -> tuple[int, int, int]:
    item = await world.item(sku)
    return item["on_hand"], item["reserved"], item["available"]


async def test_a_sale_the_deleted_ledger_deducted_long_before_the_delete_is_not_deducted_again(world: Pool) -> None:
    # given SOCK linked by two shops (10 on hand), and a sale o6 (1 unit) on the second, seen shipped: 9/0/9
    kept, gone = await world.shop(), await world.shop()
    await world.products(kept, product("p", ("k1", "SOCK", 10)))
    await world.products(gone, product("q", ("g1", "SOCK", 10)))
    made = NOW + timedelta(minutes=1)
    o6 = replace(order("o6", "IN_TRANSIT", "g1", at=made), updated_at=made + timedelta(minutes=1))
    world.clock.advance(timedelta(minutes=3))
    await world.orders(gone, o6)
    assert await _counts(world, "SOCK") == (9, 0, 9)

    # when, 100 days later (over DELETED_LINE_KEPT: the delete keeps no record of o6), the second shop is deleted and
    # the same TikTok shop connected again (TikTok's stock 9), and a later version of o6 (COMPLETED) comes in by a
    # webhook or a poll, which read by update time
    world.clock.advance(timedelta(days=100))
    await _delete(world, gone)
    assert await _counts(world, "SOCK") == (9, 0, 9)
    again = await add_shop(world.uows, make_shop(tiktok_shop_id=gone.tiktok_shop_id))
    world.clock.advance(timedelta(minutes=1))
    await world.products(again, product("q", ("g1", "SOCK", 9), at=world.clock.now()))
    await world.orders(again, replace(o6, status="COMPLETED", updated_at=world.clock.now()))

    # then SOCK stays 9/0/9: that ledger deducted o6 already (before, 8/0/8: the unit taken off twice, for good)
    assert await _counts(world, "SOCK") == (9, 0, 9)
