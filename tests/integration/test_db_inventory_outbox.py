"""The push outbox's dirty marks on SQLite and PostgreSQL: one row per (shop, product) of the items' LINKED SKUs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

from adapters.crypto import TokenCipher
from adapters.db import Database, SqlUnitOfWork, uow_factory
from adapters.db.repositories.inventory.outbox import mark_push_dirty
from adapters.db.tables import inventory_items, inventory_push_outbox, sku_links, skus
from tests.integration.db_samples import NOW, add_shop, finishes_before_waiting_on_a_lock, make_product, make_shop


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


async def test_a_claim_renewal_never_waits_for_a_row_its_run_is_finishing(
    postgres_url: str, cipher: TokenCipher
) -> None:
    # PostgreSQL only (SQLite runs one writer at a time). Seen in production: the renewal took the shop's claimed
    # rows in table order while the same run finished its claims 50 a transaction in claim order; each waited for
    # a row the other held, PostgreSQL aborted the renewal (40P01) and no claim of the shop was renewed.
    database = Database(postgres_url)
    try:
        uows = uow_factory(database, cipher)
        shop = await add_shop(uows, make_shop())
        lease = timedelta(seconds=30)
        # given products p1 and p2 of a shop claimed by one push run, w1
        async with uows() as uow:
            await uow.inventory_push.mark_dirty(shop.id, ["p1", "p2"], NOW)
            claims = await uow.inventory_push.claim_due(shop.id, "w1", NOW, lease, 10)
            await uow.commit()
        assert sorted(c.tiktok_product_id for c in claims) == ["p1", "p2"]
        finish = update(inventory_push_outbox).where(inventory_push_outbox.c.shop_id == shop.id)
        # when the run's finishing transaction holds p2, and its renewal runs beside it
        async with database.write_engine.connect() as finishing:
            await finishing.execute(
                finish.where(inventory_push_outbox.c.tiktok_product_id == "p2").values(claimed_by=None)
            )
            later = NOW + timedelta(seconds=10)
            renewal = asyncio.create_task(_renew(uows, shop.id, later, lease))
            # then the renewal did not wait for p2: it renewed p1 alone, and the finishing transaction goes on to
            # p1 (where a renewal waiting on p2 while holding p1 deadlocked) and commits
            assert await finishes_before_waiting_on_a_lock(database, renewal), "the renewal waited for p2"
            assert await renewal == 1
            await finishing.execute(
                finish.where(inventory_push_outbox.c.tiktok_product_id == "p1").values(claimed_by=None)
            )
            await finishing.commit()
        async with database.read_sessionmaker() as session:
            rows = (await session.execute(select(inventory_push_outbox))).mappings().all()
        assert sorted((r["tiktok_product_id"], r["claimed_by"], r["claimed_until"]) for r in rows) == [
            ("p1", None, later + lease),
            ("p2", None, NOW + lease),
        ]
    finally:
        await database.dispose()


async def _renew(uows: Callable[[], SqlUnitOfWork], shop_id: str, now: datetime, lease: timedelta) -> int:
    async with uows() as uow:
        renewed = await uow.inventory_push.renew_claims(shop_id, "w1", now, lease)
        await uow.commit()
    return renewed
