"""Virtual bundles (combos) in the shared pool on SQLite and PostgreSQL: a bundle's order line reserves its
components, `sku_count` units each, and never its own SKU (issue 8, live-sync.md §1.5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.crypto import TokenCipher
from adapters.db import Database
from adapters.db.tables import inventory_push_outbox, order_line_stock, sku_links
from adapters.tiktok import records
from domain.catalog import BundleComponent, LineItem, Order
from domain.services import inventory as pool
from domain.stored import StoredOrder
from tests.fixtures.inventory_pool import USD, Pool, product
from tests.integration.db_samples import NOW

LATER = NOW + timedelta(minutes=5)
# The bundle "SET" sells 2 mugs (c1) and 1 cup (c2) per unit.
SET = (BundleComponent("c1", 2, "MUG"), BundleComponent("c2", 1, "CUP"))


def bundle_order(tiktok_id: str, status: str, units: int = 1, at=NOW, parts=SET) -> Order:  # type: ignore[no-untyped-def]
    """An order of `units` line items of the bundle SKU b1, each carrying the bundle's combined_listing_skus."""
    lines = tuple(LineItem(f"{tiktok_id}-{n}", "b1", "pb", "SET", "Set", 1, USD, parts) for n in range(units))
    return Order(tiktok_id, status, at, at, USD, lines)


@pytest.fixture
def world(database: Database, cipher: TokenCipher) -> Pool:
    return Pool(database, cipher)


async def counters(world: Pool, sku: str) -> tuple[int, int, int]:
    item = await world.item(sku)  # asserts reserved == the ledger's RESERVED sum
    return item["on_hand"], item["reserved"], item["available"]


async def ledger_skus(world: Pool) -> list[tuple[str, str, str, int, str]]:
    """(line item, component, SKU, quantity, state) of every ledger row."""
    c = order_line_stock.c
    query = select(c.tiktok_line_item_id, c.component_sku_id, c.tiktok_sku_id, c.quantity, c.state)
    async with world.db.read_sessionmaker() as session:
        return sorted(tuple(r) for r in (await session.execute(query)).all())  # type: ignore[misc]


async def test_a_bundle_sale_reserves_its_components_ships_and_cancels_once(world: Pool) -> None:
    # given a shop whose mug and cup are pooled, and a virtual bundle of both (EXCLUDED from the pool)
    shop = await world.shop()
    await world.products(shop, product("pc", ("c1", "MUG", 10), ("c2", "CUP", 10)), product("pb", ("b1", "SET", 3),
                                                                                           bundle=True))  # fmt: skip
    world.queue.inventory_pushes.clear()
    # when one bundle is ordered, and an order of two bundles, then the first again (a re-import)
    await world.orders(shop, bundle_order("o1", "AWAITING_SHIPMENT"), bundle_order("o2", "UNPAID", units=2))
    await world.orders(shop, bundle_order("o1", "AWAITING_SHIPMENT"))
    # then the components are reserved sku_count times per bundle, once
    assert await counters(world, "MUG") == (10, 6, 4)
    assert await counters(world, "CUP") == (10, 3, 7)
    assert ("b1" not in {row[2] for row in await ledger_skus(world)}) and await ledger_skus(world) == [
        ("o1-0", "c1", "c1", 2, "RESERVED"), ("o1-0", "c2", "c2", 1, "RESERVED"),
        ("o2-0", "c1", "c1", 2, "RESERVED"), ("o2-0", "c2", "c2", 1, "RESERVED"),
        ("o2-1", "c1", "c1", 2, "RESERVED"), ("o2-1", "c2", "c2", 1, "RESERVED"),
    ]  # fmt: skip
    # and the components' product is due a push, never the bundle's (its link stays EXCLUDED)
    assert world.queue.inventory_pushes == [shop.id]
    async with world.db.read_sessionmaker() as session:
        dirty = (await session.execute(select(inventory_push_outbox.c.tiktok_product_id))).scalars().all()
        bundle_link = (
            await session.execute(select(sku_links.c.state).where(sku_links.c.tiktok_sku_id == "b1"))
        ).scalar_one()
    assert (dirty, bundle_link) == (["pc"], "EXCLUDED")

    # when the first ships and the second is cancelled, then replayed with their older statuses
    await world.orders(shop, bundle_order("o1", "IN_TRANSIT", at=LATER), bundle_order("o2", "CANCELLED", 2, LATER))
    await world.orders(shop, bundle_order("o1", "AWAITING_SHIPMENT"), bundle_order("o2", "UNPAID", units=2))
    # then the shipment deducted its components and the cancellation released them, once
    assert await counters(world, "MUG") == (8, 0, 8)
    assert await counters(world, "CUP") == (9, 0, 9)


async def test_a_bundle_first_seen_shipped_is_history_if_older_than_its_links_else_deducts(world: Pool) -> None:
    shop = await world.shop()
    await world.products(shop, product("pc", ("c1", "MUG", 10), ("c2", "CUP", 10)))
    await world.orders(shop, bundle_order("o1", "DELIVERED", at=NOW - timedelta(days=1)))
    assert await counters(world, "MUG") == (10, 0, 10)
    assert await ledger_skus(world) == [("o1-0", "c1", "c1", 2, "HISTORICAL"), ("o1-0", "c2", "c2", 1, "HISTORICAL")]
    # a bundle sold since the links, first seen shipped: its components left the pool's stock
    await world.orders(shop, bundle_order("o2", "DELIVERED", at=NOW + timedelta(minutes=1)))
    assert await counters(world, "MUG") == (8, 0, 8) and await counters(world, "CUP") == (9, 0, 9)


async def test_an_unlinked_component_waits_and_reserves_once_linked(world: Pool) -> None:
    # given only the mug pooled, and a bundle order whose cup has no link yet
    shop = await world.shop()
    await world.products(shop, product("pm", ("c1", "MUG", 10)))
    await world.orders(shop, bundle_order("o1", "AWAITING_SHIPMENT", units=2))
    assert await counters(world, "MUG") == (10, 4, 6)
    assert [row[4] for row in await ledger_skus(world) if row[2] == "c2"] == ["PENDING_LINK", "PENDING_LINK"]
    # when the cup's product arrives (TikTok shows 5, read a minute later: it already left out the 2 committed cups)
    world.clock.advance(timedelta(minutes=1))
    await world.products(shop, product("pk", ("c2", "CUP", 5)))
    # then the waiting rows reserve on the new item, which shows what TikTok shows; a re-import changes nothing
    assert await counters(world, "CUP") == (7, 2, 5)
    await world.orders(shop, bundle_order("o1", "AWAITING_SHIPMENT", units=2))
    assert await counters(world, "CUP") == (7, 2, 5) and await counters(world, "MUG") == (10, 4, 6)

    # when the merchant unlinks the mug, then links it again
    async with world.db.read_sessionmaker() as session:
        mug = (await session.execute(select(sku_links.c.sku_id).where(sku_links.c.tiktok_sku_id == "c1"))).scalar_one()
        item_id = (
            await session.execute(select(sku_links.c.inventory_item_id).where(sku_links.c.tiktok_sku_id == "c1"))
        ).scalar_one()
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", mug, None)
    # then the component rows stay reserved on MUG, which the order ships them from (before try-out pool51 they gave
    # their units back: 10/0/10 while still to ship), and linked again they count once
    assert await counters(world, "MUG") == (10, 4, 6)
    await pool.link_sku(world.uows, world.queue, world.events, "merchant-a", mug, item_id)
    assert await counters(world, "MUG") == (10, 4, 6)


async def test_a_bundle_line_stored_before_its_components_were_known_gives_way_to_them(world: Pool) -> None:
    # given a bundle order applied without its components (as before migration 0005): its row waits on the bundle SKU
    shop = await world.shop()
    await world.products(shop, product("pc", ("c1", "MUG", 10), ("c2", "CUP", 10)), product("pb", ("b1", "SET", 3),
                                                                                           bundle=True))  # fmt: skip
    await world.orders(shop, bundle_order("o1", "AWAITING_SHIPMENT", parts=()))
    assert await ledger_skus(world) == [("o1-0", "", "b1", 1, "PENDING_LINK")]
    # when the order comes again with its combined_listing_skus
    await world.orders(shop, bundle_order("o1", "AWAITING_SHIPMENT", at=LATER))
    # then the components are reserved and the bundle SKU's row is gone
    assert await ledger_skus(world) == [("o1-0", "c1", "c1", 2, "RESERVED"), ("o1-0", "c2", "c2", 1, "RESERVED")]
    assert await counters(world, "MUG") == (10, 2, 8)


async def test_a_decoded_tiktok_bundle_order_reserves_its_components(world: Pool) -> None:
    # given the importer's path: an order decoded from TikTok's JSON, stored form, ordinary and bundle lines
    shop = await world.shop()
    await world.products(shop, product("pc", ("c1", "MUG", 10), ("c2", "CUP", 10)))
    decoded = records.stored_order(
        {
            "id": "o1", "status": "AWAITING_SHIPMENT", "create_time": int(NOW.timestamp()),
            "update_time": int(NOW.timestamp()), "payment": {"total_amount": "30", "currency": "USD"},
            "line_items": [
                {"id": "l1", "sku_id": "b1", "sale_price": "20",
                 "combined_listing_skus": [{"sku_id": "c1", "sku_count": 3, "seller_sku": "MUG"}]},
                {"id": "l2", "sku_id": "c2", "sale_price": "10"},
            ],
        }
    )  # fmt: skip
    assert isinstance(decoded, StoredOrder)
    # when it is stored and pooled
    async with world.uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [decoded])
        await pool.pool_orders(uow, world.queue, world.events, shop.id, [decoded])
        await uow.commit()
    # then the bundle line reserved 3 mugs and the ordinary line its own cup
    assert await ledger_skus(world) == [("l1", "c1", "c1", 3, "RESERVED"), ("l2", "", "c2", 1, "RESERVED")]
    assert (await counters(world, "MUG"), await counters(world, "CUP")) == ((10, 3, 7), (10, 1, 9))
