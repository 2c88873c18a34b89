"""TikTok records with text longer than its column, decoded (`adapters.tiktok.records`) and written by the catalog
repository on SQLite and PostgreSQL alike: the record whose id does not fit is marked unreadable alone (under
`UNKNOWN_RECORD_ID`: no id column holds it), the others are stored, an over-long seller SKU without it, an
over-long recipient name cut.

Before (try-out attack56, F-pg-poison): PostgreSQL refused the 300-character seller SKU and the 256-character name
("value too long for type character varying(255)"), failing the whole batch; and a mark of a record refused for
its 65-character id could not be written either (`unreadable_records.tiktok_id` is 64)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec import Raw
from sqlalchemy import text

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.shop_facts import shop_sync_facts
from adapters.tiktok import records
from domain.shops import Shop
from domain.stored import StoredOrder, StoredProduct
from domain.sync import UNKNOWN_RECORD_ID, RecordFailure, SyncKind
from domain.text import TRUNCATION_MARK
from tests.integration.db_samples import NOW, add_shop, make_shop
from tests.unit.test_tiktok_signing import ORDER, PRODUCT


@pytest.fixture
async def shop(database: Database, cipher: TokenCipher) -> Shop:
    return await add_shop(uow_factory(database, cipher), make_shop())


def raw(value: Any) -> Raw:
    return Raw(json.dumps(value).encode())


async def test_a_page_with_over_long_text_stores_every_record_that_fits_and_marks_the_other(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    # given an orders page: one order whose id has 65 characters, one whose line's seller SKU has 300 and whose
    # recipient name has 300, and a plain one
    long_line = {**ORDER["line_items"][0], "seller_sku": "L" * 300}
    odd = {**ORDER, "id": "5" * 19, "line_items": [long_line], "recipient_address": {"name": "N" * 300}}
    page = records.orders_page(raw({"orders": [{**ORDER, "id": "9" * 65}, odd, ORDER]}))
    failures = [r for r in page.items if isinstance(r, RecordFailure)]
    readable = [r for r in page.items if isinstance(r, StoredOrder)]
    assert failures == [RecordFailure(UNKNOWN_RECORD_ID, "id has more than 64 characters (65)")]
    # and a product whose SKU's seller SKU has 300 characters
    product = records.stored_product(raw({**PRODUCT, "skus": [{**PRODUCT["skus"][0], "seller_sku": "L" * 300}]}))
    assert isinstance(product, StoredProduct)
    # when the catalog stores them and marks the failure, in one transaction, as an import does
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, readable)
        await uow.catalog.upsert_products(shop.id, [product])
        await uow.catalog.mark_unreadable(shop.id, SyncKind.ORDERS, failures, NOW)
        await uow.commit()
    # then the two orders and the product are stored, without the long seller SKUs, the name cut with the mark
    async with database.read_sessionmaker() as session:
        names = dict((await session.execute(text("SELECT tiktok_order_id, recipient_name FROM orders"))).all())
        lines = (await session.execute(text("SELECT tiktok_order_id, seller_sku FROM line_items "
                                            "JOIN orders ON orders.id = line_items.order_id"))).all()  # fmt: skip
        sku = (await session.execute(text("SELECT tiktok_sku_id, seller_sku, quantity FROM skus"))).all()
    assert names == {"5" * 19: "N" * 254 + TRUNCATION_MARK, ORDER["id"]: "Ana"}
    assert sorted(lines, key=str) == sorted(
        [("5" * 19, None), (ORDER["id"], "red_iphone_256"), (ORDER["id"], None)], key=str
    )
    assert [tuple(r) for r in sku] == [(PRODUCT["skus"][0]["id"], None, 999)]
    # and the shop's RECORDS_UNREADABLE facts name the refused order's reason, under the id no column misses
    async with database.read_sessionmaker() as session:
        facts = await shop_sync_facts(session, shop.merchant_id, [shop.id])
    unreadable = facts[shop.id].unreadable
    assert unreadable is not None
    assert (unreadable.count, unreadable.tiktok_id, unreadable.reason) == (
        1, UNKNOWN_RECORD_ID, "id has more than 64 characters (65)"
    )  # fmt: skip
