"""SqlCatalogRepository on SQLite and PostgreSQL: classified upserts, replaced children, no write for a gone shop."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from adapters.crypto import TokenCipher
from adapters.db import Database, ShopGoneError, uow_factory
from adapters.db.queries import order_counts, order_page, product_counts
from adapters.db.repositories.bulk import columns, upsert_records
from adapters.db.repositories.catalog import CHUNK_SIZE, row_id
from adapters.db.shop_facts import shop_sync_facts
from adapters.db.tables import line_items, orders, products, skus, warehouse_stocks
from domain.attention import AttentionCode, Unreadable, shop_attention
from domain.catalog import LineItem, Money, Order, WarehouseStock
from domain.ports import UpsertCounts
from domain.shops import Shop
from domain.sync import MAX_UNREADABLE_RECORDS, UNKNOWN_RECORD_ID, RecordFailure, SyncKind
from tests.integration.db_samples import (
    NOW,
    add_shop,
    catalog_totals,
    make_order,
    make_product,
    make_shop,
    row_counts,
    until_a_writer_waits_on_a_lock,
)


@pytest.fixture
async def shop(database: Database, cipher: TokenCipher) -> Shop:
    return await add_shop(uow_factory(database, cipher), make_shop())


async def test_products_are_classified_and_a_rerun_changes_nothing(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    catalog = [make_product(f"p{n}") for n in range(5)]
    async with uows() as uow:
        assert await uow.catalog.upsert_products(shop.id, catalog) == UpsertCounts(created=5)
        await uow.commit()

    # when the same page comes again with one product retitled and one new
    again = [*catalog[:4], replace(catalog[4], title="New title"), make_product("p5")]
    async with uows() as uow:
        counts = await uow.catalog.upsert_products(shop.id, again)
        await uow.commit()
    assert counts == UpsertCounts(created=1, updated=1, unchanged=4)

    # and once more: all unchanged
    async with uows() as uow:
        assert await uow.catalog.upsert_products(shop.id, again) == UpsertCounts(unchanged=6)
        await uow.commit()
    counts_by_table = await row_counts(database, shop.id)
    assert (counts_by_table["products"], counts_by_table["skus"], counts_by_table["warehouse_stocks"]) == (6, 12, 24)
    # and the shop's running count of products is the 6 stored, the updates and reruns not counted again
    running, counted = await catalog_totals(database)
    assert running == counted == {(shop.id, "products"): 6}


async def test_a_changed_products_skus_and_stock_are_replaced(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    product = make_product("p1", skus=3)
    async with uows() as uow:
        await uow.catalog.upsert_products(shop.id, [product])
        await uow.commit()

    # when the product comes back with one SKU dropped, one repriced (exact decimal) and its stock changed
    first, second, _third = product.skus
    repriced = replace(second, price=Money(Decimal("7.10"), "USD"), stock=(WarehouseStock("wh-9", 4),))
    async with uows() as uow:
        counts = await uow.catalog.upsert_products(shop.id, [replace(product, skus=(first, repriced))])
        await uow.commit()

    assert counts == UpsertCounts(updated=1)
    async with database.read_sessionmaker() as session:
        stored = (
            await session.execute(
                select(skus.c.tiktok_sku_id, skus.c.price_amount, skus.c.quantity)
                .where(skus.c.shop_id == shop.id)
                .order_by(skus.c.position)
            )
        ).all()
        stock = (
            await session.execute(
                select(func.count()).select_from(warehouse_stocks).where(warehouse_stocks.c.shop_id == shop.id)
            )
        ).scalar_one()
    assert [tuple(row) for row in stored] == [
        ("p1-sku0", Decimal("19.90"), 3),
        ("p1-sku1", Decimal("7.10"), 4),
    ]
    assert stock == 3  # p1-sku0 in wh-1 and wh-2, p1-sku1 in wh-9


async def test_orders_are_classified_and_changed_line_items_replaced(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    page = [make_order(f"o{n}", items=2) for n in range(3)]
    async with uows() as uow:
        assert await uow.catalog.upsert_orders(shop.id, page) == UpsertCounts(created=3)
        await uow.commit()

    # when an order is shipped and loses a line item, and the page repeats an order (the last copy wins)
    shipped = replace(page[0], status="IN_TRANSIT", line_items=page[0].line_items[:1])
    item = LineItem("o1-li9", "sku-9", None, None, "Extra", 1, Money(Decimal("1.00"), "USD"))
    stale_copy = replace(page[1], status="STALE")
    grown = replace(page[1], line_items=(*page[1].line_items, item))
    async with uows() as uow:
        counts = await uow.catalog.upsert_orders(shop.id, [shipped, stale_copy, page[2], grown])
        await uow.commit()

    assert counts == UpsertCounts(updated=2, unchanged=1)
    async with database.read_sessionmaker() as session:
        statuses = dict(
            (row.tiktok_order_id, row.status)
            for row in await session.execute(select(orders.c.tiktok_order_id, orders.c.status))
        )
        items = sorted(
            row.tiktok_line_item_id
            for row in await session.execute(
                select(line_items.c.tiktok_line_item_id).where(line_items.c.shop_id == shop.id)
            )
        )
    assert statuses == {"o0": "IN_TRANSIT", "o1": "AWAITING_SHIPMENT", "o2": "AWAITING_SHIPMENT"}
    assert items == ["o0-li0", "o1-li0", "o1-li1", "o1-li9", "o2-li0", "o2-li1"]
    running, counted = await catalog_totals(database)
    assert running == counted == {(shop.id, "orders"): 3}


async def test_the_order_upsert_statement_keeps_the_later_status_of_one_update_time(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    """The parent upsert's own condition (`bulk.upsert_records`: PostgreSQL's COPY move, SQLite's executemany), for a
    writer racing past the repository's read: a row of the same `updated_at` whose status is earlier in TikTok's
    order life leaves the stored one (`domain.catalog.older_order_version`); a later status, or one the rank does
    not know, replaces it."""
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [make_order("o1", status="IN_TRANSIT")])
        await uow.commit()

    async def upsert_then_read(status: str) -> str:
        values = {"id": row_id(shop.id, "orders", "o1"), "shop_id": shop.id, "tiktok_order_id": "o1",
                  "status": status, "created_at": NOW, "updated_at": NOW, "total_amount": Decimal("39.80"),
                  "currency": "USD", "buyer_user_id": None, "recipient_name": None, "recipient_region": None,
                  "collected_at": None, "package_count": None,
                  "fingerprint": status, "imported_at": NOW}  # fmt: skip
        async with database.write_sessionmaker() as session:
            await session.execute(text("SELECT 1"))  # begins the transaction, as the COPY path requires
            await upsert_records(session, "orders", [tuple(values[c] for c in columns("orders"))])
            await session.commit()
        async with database.read_sessionmaker() as session:
            return (await session.execute(select(orders.c.status))).scalar_one()

    assert await upsert_then_read("AWAITING_SHIPMENT") == "IN_TRANSIT"
    assert await upsert_then_read("DELIVERED") == "DELIVERED"
    assert await upsert_then_read("UNPAID") == "DELIVERED"
    assert await upsert_then_read("NEW_STATUS") == "NEW_STATUS"


async def test_a_page_larger_than_a_chunk(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    page = [make_order(f"big{n}", items=3) for n in range(CHUNK_SIZE * 2 + 7)]
    async with uows() as uow:
        assert await uow.catalog.upsert_orders(shop.id, page) == UpsertCounts(created=len(page))
        await uow.commit()
    async with uows() as uow:
        assert await uow.catalog.upsert_orders(shop.id, page) == UpsertCounts(unchanged=len(page))
    counts = await row_counts(database, shop.id)
    assert (counts["orders"], counts["line_items"]) == (len(page), 3 * len(page))
    running, counted = await catalog_totals(database)
    assert running == counted == {(shop.id, "orders"): len(page)}


async def test_a_write_for_a_deleted_shop_raises_and_leaves_no_rows(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    # given a shop whose products were imported, then deleted while its order import still runs
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        await uow.catalog.upsert_products(shop.id, [make_product("p1")])
        await uow.commit()
    async with uows() as uow:
        await uow.shops.delete(shop.id)
        await uow.commit()

    # when a late page arrives, then ShopGoneError, for orders and for products alike
    for write in ("upsert_orders", "upsert_products"):
        async with uows() as uow:
            with pytest.raises(ShopGoneError):
                if write == "upsert_orders":
                    await uow.catalog.upsert_orders(shop.id, [make_order("late")])
                else:
                    await uow.catalog.upsert_products(shop.id, [make_product("p1"), make_product("p2")])
            await uow.commit()
    assert set((await row_counts(database, shop.id)).values()) == {0}


async def test_a_delete_racing_a_page_write_leaves_no_rows(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    page_written = asyncio.Event()

    async def import_page() -> None:
        async with uows() as uow:
            await uow.catalog.upsert_orders(shop.id, [make_order(f"o{n}") for n in range(20)])
            page_written.set()
            await until_a_writer_waits_on_a_lock(database)  # the other writer is blocked behind us
            await uow.commit()

    async def delete_shop() -> None:
        await page_written.wait()
        async with uows() as uow:
            await uow.shops.delete(shop.id)
            await uow.commit()

    await asyncio.gather(import_page(), delete_shop())
    assert set((await row_counts(database, shop.id)).values()) == {0}


async def test_ids_of_imported_rows_are_stable_across_reimports(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        await uow.catalog.upsert_products(shop.id, [make_product("p1")])
        await uow.commit()
    async with database.read_sessionmaker() as session:
        before = (await session.execute(select(products.c.id, skus.c.id).join(skus))).all()
    async with uows() as uow:
        await uow.catalog.upsert_products(shop.id, [make_product("p1", title="changed")])
        await uow.commit()
    async with database.read_sessionmaker() as session:
        after = (await session.execute(select(products.c.id, skus.c.id).join(skus))).all()
    assert sorted(map(tuple, before)) == sorted(map(tuple, after))


async def test_values_that_spell_alike_are_still_told_apart(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    # given an order stored once, then variants whose values only differ where a loose text form would blur them:
    # None against the text "None", a value holding the separator against its neighbours, a microsecond
    uows = uow_factory(database, cipher)
    order = make_order("o1")
    first, second = order.line_items
    variants = [
        replace(order, buyer_user_id=None),
        replace(order, buyer_user_id="None"),
        replace(order, line_items=(replace(first, seller_sku="a\x1fb", product_name="c"), second)),
        replace(order, line_items=(replace(first, seller_sku="a", product_name="b\x1fc"), second)),
        replace(order, line_items=(replace(first, seller_sku=None), second)),
        replace(order, line_items=(first,)),
        order,
        # last: an older update_time than the stored one would change nothing (see the catalog repository)
        replace(order, updated_at=order.updated_at + timedelta(microseconds=1)),
    ]
    for variant in variants:
        async with uows() as uow:
            counts = await uow.catalog.upsert_orders(shop.id, [variant])
            await uow.commit()
        # then each one is seen as a change (the first store of the first variant: a creation)
        assert counts == (UpsertCounts(created=1) if variant is variants[0] else UpsertCounts(updated=1)), variant
    async with uows() as uow:
        assert await uow.catalog.upsert_orders(shop.id, [variants[-1]]) == UpsertCounts(unchanged=1)


@pytest.mark.parametrize("kind", [SyncKind.ORDERS, SyncKind.PRODUCTS])
async def test_statistics_are_refreshed_on_postgresql(
    database: Database, cipher: TokenCipher, shop: Shop, kind: SyncKind
) -> None:
    # given stored orders and products
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [make_order(f"o{n}") for n in range(20)])
        await uow.catalog.upsert_products(shop.id, [make_product(f"p{n}") for n in range(20)])
        await uow.commit()
    # when the statistics of one kind are refreshed
    async with uows() as uow:
        await uow.catalog.refresh_statistics(kind)
        await uow.commit()
    # then on PostgreSQL exactly the tables an import of that kind writes were analyzed, the inventory pool's with
    # the catalog's; SQLite keeps none and is left alone
    if database.is_sqlite:
        return
    async with database.read_sessionmaker() as session:
        query = text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")
        analyzed = {name for (name,) in await session.execute(query)}
    pool = {"inventory_items", "inventory_movements"}
    if kind is SyncKind.ORDERS:
        expected = {"orders", "line_items", "order_line_stock", "sku_ledger_units", *pool}
    else:
        expected = {"products", "skus", "warehouse_stocks", "sku_links", *pool}
    assert analyzed == expected


async def test_concurrent_writers_of_the_same_new_orders_count_each_once(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    # given an import page and a webhook's re-fetch carrying some of the same new orders, written at once
    uows = uow_factory(database, cipher)
    first_page = [make_order(f"o{n}") for n in range(30)]
    second_page = [make_order(f"o{n}") for n in range(20, 45)]

    async def write(page: list[Order]) -> None:
        async with uows() as uow:
            await uow.catalog.upsert_orders(shop.id, page)
            await uow.commit()

    await asyncio.gather(write(first_page), write(second_page))
    # then the shop's running count holds each of the 45 orders once, and the orders page's totalCount says so
    running, counted = await catalog_totals(database)
    assert running == counted == {(shop.id, "orders"): 45}
    async with database.read_sessionmaker() as session:
        page = await order_page(session, shop.merchant_id, shop.id, 10)
        assert page.total_count == 45
        assert (await order_counts(session, shop.merchant_id, [shop.id])) == {shop.id: 45}
        # and another merchant reads 0 of it, as it reads none of its rows
        assert (await order_page(session, "someone-else", shop.id, 10)).total_count == 0
        assert (await product_counts(session, shop.merchant_id, [shop.id])) == {shop.id: 0}


async def test_a_filtered_orders_page_counts_its_own_rows(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    page = [make_order(f"o{n}") for n in range(5)]
    page[1] = replace(page[1], status="IN_TRANSIT")
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, page)
        await uow.commit()
    async with database.read_sessionmaker() as session:
        assert (await order_page(session, shop.merchant_id, shop.id, 2)).total_count == 5
        shipped = await order_page(session, shop.merchant_id, shop.id, 2, status="IN_TRANSIT")
        assert shipped.total_count == 1


async def test_a_recount_mends_rows_an_earlier_release_left_uncounted(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    # given 4 orders and 2 products stored, then 3 more orders written as a process of the release before the running
    # count wrote them (rows, no count)
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [make_order(f"o{n}") for n in range(4)])
        await uow.catalog.upsert_products(shop.id, [make_product("p1"), make_product("p2")])
        await uow.commit()
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [make_order(f"old{n}") for n in range(3)])
        await uow.commit()
    async with database.write_sessionmaker() as session, session.begin():
        await session.execute(
            text("UPDATE shop_catalog_counts SET total = total - 3 WHERE shop_id = :s AND catalog = 'orders'"),
            {"s": shop.id},
        )
    running, counted = await catalog_totals(database)
    assert running[(shop.id, "orders")] == 4 != counted[(shop.id, "orders")]
    # when the orders are counted again
    async with uows() as uow:
        await uow.catalog.recount(shop.id, SyncKind.ORDERS)
        await uow.commit()
    # then the count is the rows' again, and the products' count is untouched
    running, counted = await catalog_totals(database)
    assert running == counted == {(shop.id, "orders"): 7, (shop.id, "products"): 2}


async def test_an_unreadable_record_is_kept_once_until_a_read_of_it_is_stored(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    bad = RecordFailure("o-bad", "create_time is 0: TikTok gave no creation time")
    # given an order three polls could not read (the overlap re-read it), and a product an import could not read
    for n in range(3):
        async with uows() as uow:
            await uow.catalog.mark_unreadable(shop.id, SyncKind.ORDERS, [replace(bad, reason=f"try {n}")] * 2, NOW)
            await uow.commit()
    async with uows() as uow:
        await uow.catalog.mark_unreadable(shop.id, SyncKind.PRODUCTS, [RecordFailure("p-bad", "no title")], NOW)
        await uow.commit()
    # then the shop's facts count each record once, the first failure's reason first
    async with database.read_sessionmaker() as session:
        facts = await shop_sync_facts(session, shop.merchant_id, [shop.id])
    assert facts[shop.id].unreadable == Unreadable(2, "ORDERS", "o-bad", "try 0", NOW)
    # when a read of the order is stored (a poll, an import or a webhook), then only the product is left
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [make_order("o-bad")])
        await uow.commit()
    async with database.read_sessionmaker() as session:
        facts = await shop_sync_facts(session, shop.merchant_id, [shop.id])
    assert facts[shop.id].unreadable == Unreadable(1, "PRODUCTS", "p-bad", "no title", NOW)
    # and a feed of broken records keeps at most MAX_UNREADABLE_RECORDS of a kind (the attention says "or more")
    async with uows() as uow:
        flood = [RecordFailure(f"p-{n:04}", "no title") for n in range(MAX_UNREADABLE_RECORDS + 20)]
        await uow.catalog.mark_unreadable(shop.id, SyncKind.PRODUCTS, flood, NOW + timedelta(minutes=1))
        await uow.commit()
    async with database.read_sessionmaker() as session:
        facts = await shop_sync_facts(session, shop.merchant_id, [shop.id])
    assert facts[shop.id].unreadable == Unreadable(MAX_UNREADABLE_RECORDS, "PRODUCTS", "p-bad", "no title", NOW)
    attention = shop_attention(NOW, expires_at=NOW + timedelta(days=300), revoked_at=None, sync=facts[shop.id])
    assert [(a.code, a.message.split(" TikTok")[0]) for a in attention] == [
        (AttentionCode.RECORDS_UNREADABLE, f"{MAX_UNREADABLE_RECORDS} or more records")
    ]


async def test_marks_read_again_by_id_take_turns_and_each_is_reported_once_even_by_overlapping_reads(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    # given three orders marked unreadable a minute apart
    for n in range(3):
        async with uows() as uow:
            failure = RecordFailure(f"o{n}", "create_time is 0")
            await uow.catalog.mark_unreadable(shop.id, SyncKind.ORDERS, [failure], NOW + timedelta(minutes=n))
            await uow.commit()
    # when a poll reads the two oldest again by id, still unreadable (and one never marked, or forgotten meanwhile)
    async with uows() as uow:
        assert await uow.catalog.marks_to_reread(shop.id, SyncKind.ORDERS, 2) == ["o0", "o1"]
        again = [RecordFailure("o1", "Expected `str`"), RecordFailure("o0", "no title"), RecordFailure("ox", "x")]
        first = await uow.catalog.note_still_unreadable(shop.id, SyncKind.ORDERS, again, NOW + timedelta(hours=1))
        await uow.commit()
    # then both are reported as read again for the first time, nothing is marked anew, and the next poll reads the
    # one never read again first, then the one read longest ago (the first failed, of those read together)
    assert first == ["o0", "o1"]
    async with uows() as uow:
        assert await uow.catalog.marks_to_reread(shop.id, SyncKind.ORDERS, 10) == ["o2", "o0", "o1"]
    # and the attention names the refreshed reason, since the first failure's time
    async with database.read_sessionmaker() as session:
        facts = await shop_sync_facts(session, shop.merchant_id, [shop.id])
    assert facts[shop.id].unreadable == Unreadable(3, "ORDERS", "o0", "no title", NOW)

    # when two polls overlap on the third mark, the first's transaction still open as the second writes
    async def second_poll() -> list[str]:
        async with uows() as uow:
            reported = await uow.catalog.note_still_unreadable(
                shop.id, SyncKind.ORDERS, [RecordFailure("o2", "again")], NOW + timedelta(hours=2)
            )
            await uow.commit()
        return reported

    async with uows() as uow:
        assert await uow.catalog.note_still_unreadable(
            shop.id, SyncKind.ORDERS, [RecordFailure("o2", "again")], NOW + timedelta(hours=2)
        ) == ["o2"]
        racing = asyncio.create_task(second_poll())
        await until_a_writer_waits_on_a_lock(database)
        await uow.commit()
    # then only the first reports it
    assert await racing == []
    # when TikTok says it has no such order: its mark goes, the others stay
    async with uows() as uow:
        await uow.catalog.clear_unreadable(shop.id, SyncKind.ORDERS, ["o2"])
        await uow.commit()
    async with uows() as uow:
        assert await uow.catalog.marks_to_reread(shop.id, SyncKind.ORDERS, 10) == ["o0", "o1"]
    # when a read of o0 settles nothing (TikTok refused the call), and a record without an id is marked
    async with uows() as uow:
        await uow.catalog.note_reread(shop.id, SyncKind.ORDERS, ["o0", "ox"], NOW + timedelta(hours=3))
        no_id = RecordFailure(UNKNOWN_RECORD_ID, "Expected `str`, got `null`")
        await uow.catalog.mark_unreadable(shop.id, SyncKind.ORDERS, [no_id], NOW)
        await uow.commit()
    # then o0 waits its turn behind o1 (review53 item 3), nothing is marked anew, and the mark without an id is never
    # read by id (a Get Order Detail batch asking for it would fail whole)
    async with uows() as uow:
        assert await uow.catalog.marks_to_reread(shop.id, SyncKind.ORDERS, 10) == ["o1", "o0"]
