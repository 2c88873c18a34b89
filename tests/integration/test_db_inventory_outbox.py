"""The push outbox's dirty marks on SQLite and PostgreSQL: one row per (shop, product) of the items' LINKED SKUs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.repositories.inventory.outbox import mark_push_dirty
from adapters.db.tables import inventory_items, inventory_push_outbox, sku_links, skus
from tests.integration.db_samples import NOW, add_shop, make_product, make_shop


async def test_linked_skus_of_the_items_mark_their_shop_and_product_dirty(
    database: Database, cipher: TokenCipher
) -> None:
    # given two shops of a merchant, each with product p1 (two SKUs) and p2, linked to item A or B
    uows = uow_factory(database, cipher)
    first = await add_shop(uows, make_shop())
    second = await add_shop(uows, make_shop())
    async with uows() as uow:
        for shop in (first, second):
            await uow.catalog.upsert_products(shop.id, [make_product("p1"), make_product("p2")])
        await uow.session.execute(
            insert(inventory_items),
            [{"id": item, "merchant_id": "merchant-a", "sku": item, "on_hand": 5, "created_at": NOW,
              "updated_at": NOW} for item in ("A", "B")],
        )  # fmt: skip
        stored = (await uow.session.execute(select(skus.c.id, skus.c.shop_id, skus.c.tiktok_sku_id))).all()
        item_of = {"p1-sku0": "A", "p1-sku1": "A", "p2-sku0": "B", "p2-sku1": None}
        await uow.session.execute(
            insert(sku_links),
            [{"sku_id": sku_id, "shop_id": shop_id, "merchant_id": "merchant-a",
              "inventory_item_id": item_of[tiktok_sku_id], "tiktok_product_id": tiktok_sku_id.split("-")[0],
              "tiktok_sku_id": tiktok_sku_id, "state": "LINKED" if item_of[tiktok_sku_id] else "AMBIGUOUS",
              "source": "AUTO", "updated_at": NOW} for sku_id, shop_id, tiktok_sku_id in stored],
        )  # fmt: skip
        # when item A changes twice and B never
        assert await mark_push_dirty(uow.session, ["A"], NOW) == sorted([first.id, second.id])
        later = NOW + timedelta(seconds=5)
        assert await mark_push_dirty(uow.session, ["A", "A"], later) == sorted([first.id, second.id])
        assert await mark_push_dirty(uow.session, [], later) == []
        await uow.commit()

    # then each shop's p1 row is dirty twice, due now; p2 (item B) has no row
    async with database.read_sessionmaker() as session:
        rows = (await session.execute(select(inventory_push_outbox))).mappings().all()
    assert sorted((r["shop_id"], r["tiktok_product_id"], r["dirty_version"], r["pushed_version"]) for r in rows) == (
        sorted([(first.id, "p1", 2, 0), (second.id, "p1", 2, 0)])
    )
    assert {r["next_attempt_at"] for r in rows} == {later}
