"""`skuLink` / `skuUnlink` against a product import storing the SKU's product DELETED meanwhile (PostgreSQL's locks).

A link change reads its SKU and product, then waits for the shop's link turn (`writer.hold_shop_links`), which an
import holds while it drops the links of a product TikTok reports DELETED. It read the product's status before that
wait, so a change queued behind such an import went on with the status it had read: a link made the deleted product's
SKU LINKED again (and pushed, refused by TikTok), an unlink gave an open order's reserved unit back to its item, sold
once more on every other shop (a review of tryout 49's change). It reads the status again under the turn. SQLite has
one writer at a time: nothing to interleave there.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from adapters.crypto import TokenCipher
from domain.errors import DomainError, ErrorCode
from domain.services import inventory as pool
from tests.fixtures.inventory_pool import Pool, linked_hat_reserved_and_another_item, postgres_pool, product
from tests.integration.db_samples import NOW
from tests.integration.test_db_inventory_intake_locks import _until_waiting_on_a_lock


@pytest.fixture
async def world(postgres_url: str, cipher: TokenCipher) -> AsyncIterator[Pool]:
    async with postgres_pool(postgres_url, cipher) as world:
        yield world


@pytest.mark.parametrize("to_item", [True, False], ids=["link", "unlink"])
async def test_a_link_change_waiting_behind_an_import_that_deletes_the_product_is_refused(
    world: Pool, to_item: bool
) -> None:
    # given SKU s of product p linked to item HAT, with an open order reserving one unit, and another item HAT-2
    shop, sku_id, other = await linked_hat_reserved_and_another_item(world)
    before = await world.item("HAT")
    # and an import that stored p DELETED and dropped its links, not yet committed (holding the shop's link turn)
    deleted = dataclasses.replace(product("p", ("s", "HAT", 10), at=NOW + timedelta(minutes=1)), status="DELETED")
    importing = world.uows()
    await importing.__aenter__()
    try:
        await importing.catalog.upsert_products(shop.id, [deleted])
        await pool.pool_products(importing, world.queue, world.events, shop.id, [deleted])

        # when the merchant links s to HAT-2 (or unlinks it) meanwhile
        async def change() -> None:
            item_id = other.id if to_item else None
            await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", sku_id, item_id)

        changing = asyncio.ensure_future(change())
        await _until_waiting_on_a_lock(world, changing)
        # and the import commits
        await importing.commit()
    finally:
        await importing.__aexit__(None, None, None)
    # then the change is refused as a deleted product's, and the link stays as the import left it (DROPPED)
    with pytest.raises(DomainError) as refused:
        await changing
    assert refused.value.code == ErrorCode.PRODUCT_DELETED
    assert (await world.links(shop))["s"][0] == "DROPPED"
    # and the open order's unit stays reserved on HAT: nothing given back to be sold again
    after = await world.item("HAT")
    assert (after["reserved"], after["available"]) == (before["reserved"], before["available"])
