"""Seeding when a SKU changes item (issue 8): on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database
from tests.integration.db_samples import NOW
from tests.integration.test_db_inventory import Pool, order, product


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def test_a_seller_sku_renamed_to_a_new_one_seeds_its_item_as_tiktok_shows_it(world: Pool) -> None:
    # given a SKU linked to MUG with two open orders placed after its stock was read
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", "MUG", 5)))
    later = NOW + timedelta(minutes=1)
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1", at=later), order("o2", "UNPAID", "s1", at=later))
    item = await world.item("MUG")
    assert (item["on_hand"], item["reserved"], item["available"]) == (5, 2, 3)  # TikTok shows the 3 pushed
    # when the seller renames its seller SKU in Seller Center (TikTok still shows 3): a new item, MUG-XL
    await world.products(shop, product("p", ("s1", "MUG-XL", 3)))
    # then the new item's available equals what TikTok shows, its open orders counted once (they moved with it)
    item = await world.item("MUG-XL")
    assert (item["on_hand"], item["reserved"], item["available"]) == (5, 2, 3)
    # and MUG no longer holds them
    assert (await world.item("MUG"))["reserved"] == 0
