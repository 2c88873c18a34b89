"""Contract of the catalog port (`CatalogRepository`), against the fake, SQLite and PostgreSQL alike.

"Unchanged" means "the stored values would not change" (fingerprints of stored values, not object equality), an
older version of a record never replaces a newer one, and the last of one id in a batch wins. Read only through
the port: the counts an upsert reports are the observable state.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.ports import UpsertCounts
from domain.stored import order_as_stored, product_as_stored
from tests.integration.contract import UowFactory, uows
from tests.integration.db_samples import make_order, make_product, make_shop

__all__ = ["uows"]


async def _upsert(uows: UowFactory, shop_id: str, products=(), orders=()) -> UpsertCounts:
    async with uows() as uow:
        counts = await (
            uow.catalog.upsert_products(shop_id, list(products))
            if products
            else uow.catalog.upsert_orders(shop_id, list(orders))
        )
        await uow.commit()
    return counts


async def _shop(uows: UowFactory) -> str:
    shop = make_shop()
    async with uows() as uow:
        await uow.shops.add(shop)
        await uow.commit()
    return shop.id


async def test_products_are_created_then_unchanged_by_value_then_updated(uows: UowFactory) -> None:
    shop_id = await _shop(uows)
    assert await _upsert(uows, shop_id, products=[make_product("p1"), make_product("p2")]) == UpsertCounts(2, 0, 0)
    # the same values again, as new objects and in their stored form: nothing would change
    again = [make_product("p1"), product_as_stored(make_product("p2"))]
    assert await _upsert(uows, shop_id, products=again) == UpsertCounts(0, 0, 2)
    renamed = replace(make_product("p1"), title="Renamed", updated_at=make_product("p1").updated_at + timedelta(1))
    assert await _upsert(uows, shop_id, products=[renamed, make_product("p2")]) == UpsertCounts(0, 1, 1)
    assert await _upsert(uows, shop_id, products=[renamed]) == UpsertCounts(0, 0, 1)


async def test_an_older_version_never_replaces_a_newer_one(uows: UowFactory) -> None:
    shop_id = await _shop(uows)
    newer = replace(make_order("o1"), status="COMPLETED", updated_at=make_order("o1").updated_at + timedelta(1))
    assert await _upsert(uows, shop_id, orders=[newer]) == UpsertCounts(1, 0, 0)
    # a late re-fetch of the order as it was the day before: counted unchanged, and it stores nothing
    assert await _upsert(uows, shop_id, orders=[make_order("o1")]) == UpsertCounts(0, 0, 1)
    assert await _upsert(uows, shop_id, orders=[order_as_stored(newer)]) == UpsertCounts(0, 0, 1)


async def test_an_order_of_the_same_update_time_never_goes_back_in_tiktoks_order_life(uows: UowFactory) -> None:
    """Rule `domain.catalog.older_order_version` (tiktok-api.md §8): TikTok's times are whole seconds, so a sale
    paid and shipped within one second has two versions of one `update_time`; the earlier status is the older."""
    shop_id = await _shop(uows)
    shipped = make_order("o1", status="IN_TRANSIT")
    assert await _upsert(uows, shop_id, orders=[shipped]) == UpsertCounts(1, 0, 0)
    # a lagging Get Order Detail's version of that second, still AWAITING_SHIPMENT: counted unchanged, stores nothing
    paid = replace(shipped, status="AWAITING_SHIPMENT")
    assert await _upsert(uows, shop_id, orders=[paid]) == UpsertCounts(0, 0, 1)
    assert await _upsert(uows, shop_id, orders=[order_as_stored(paid)]) == UpsertCounts(0, 0, 1)
    assert await _upsert(uows, shop_id, orders=[shipped]) == UpsertCounts(0, 0, 1)  # IN_TRANSIT is what is stored
    # a later stage of that second (CANCELLED last: terminal), or the same stage re-read with other values, replaces
    cancelled = replace(shipped, status="CANCELLED")
    assert await _upsert(uows, shop_id, orders=[cancelled]) == UpsertCounts(0, 1, 0)
    assert await _upsert(uows, shop_id, orders=[replace(shipped, status="COMPLETED")]) == UpsertCounts(0, 0, 1)
    assert await _upsert(uows, shop_id, orders=[replace(cancelled, recipient_name="Bo")]) == UpsertCounts(0, 1, 0)
    # a status this version does not know is not ranked: it replaces, as before; a later second always does
    assert await _upsert(uows, shop_id, orders=[replace(shipped, status="NEW_STATUS")]) == UpsertCounts(0, 1, 0)
    later = replace(paid, updated_at=paid.updated_at + timedelta(seconds=1))
    assert await _upsert(uows, shop_id, orders=[later]) == UpsertCounts(0, 1, 0)


async def test_the_last_of_one_id_in_a_batch_wins(uows: UowFactory) -> None:
    shop_id = await _shop(uows)
    first, last = make_order("o1"), replace(make_order("o1"), status="CANCELLED")
    assert await _upsert(uows, shop_id, orders=[first, last]) == UpsertCounts(1, 0, 0)
    assert await _upsert(uows, shop_id, orders=[last]) == UpsertCounts(0, 0, 1)


async def test_catalogs_of_two_shops_are_apart(uows: UowFactory) -> None:
    one, two = await _shop(uows), await _shop(uows)
    assert await _upsert(uows, one, products=[make_product("p1")]) == UpsertCounts(1, 0, 0)
    assert await _upsert(uows, two, products=[make_product("p1")]) == UpsertCounts(1, 0, 0)
