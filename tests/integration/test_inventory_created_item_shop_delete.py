"""A shop delete and the items the merchant created from one of its SKUs (`inventoryItemCreate` with `skuId`, the
console's "Create an item"; tryout64 F4): started from TikTok's stock (no `onHand`), the item holds only what that
stock seeded and goes with the shop when no other shop links it (README "Shared inventory pool", "left behind";
`shopDelete`'s description); created with a count (`onHand`), it is the merchant's and stays, unlinked."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import NoResultFound

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import products
from domain.services import inventory as pool
from domain.services.shops import delete_shop
from tests.fixtures.inventory_pool import Pool, product
from tests.integration.db_samples import NOW


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


@pytest.mark.parametrize("on_hand", [None, 5], ids=["seeded", "counted"])
async def test_an_item_created_from_a_shop_sku_goes_with_the_shop_unless_counted(
    world: Pool, on_hand: int | None
) -> None:
    # given a shop SKU with no seller SKU (nothing links it), from which the merchant creates an item they name
    shop = await world.shop()
    await world.products(shop, product("p", ("s1", None, 7)))
    # (as a products import stores it: with its stock's read time)
    async with world.db.write_engine.begin() as connection:
        await connection.execute(update(products).where(products.c.shop_id == shop.id).values(stock_read_at=NOW))
    sku_id = (await world.link_row(shop, "s1"))[0]
    made = await pool.create_item(
        world.uows, world.queue, world.events, world.clock, "merchant-a", "MY-NAMED", on_hand, 0, sku_id
    )
    assert (await world.item("MY-NAMED"))["id"] == made.id

    # when the shop is deleted
    await delete_shop(world.uows, world.clock, "merchant-a", shop.id, world.events, world.queue)

    # then the seeded item went with the shop's other inventory records; the counted one stays with its count
    if on_hand is None:
        with pytest.raises(NoResultFound):
            await world.item("MY-NAMED")
    else:
        kept = await world.item("MY-NAMED")
        assert (kept["id"], kept["on_hand"], kept["reserved"]) == (made.id, 5, 0)
