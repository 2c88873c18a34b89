"""The benchmarks' bare loop (`bench.limit`) writes the rows of the current schema.

The limit inserts tuples in each table's column order, for speed; a column a migration adds must not make it fail
(benchmark 1 failed with "Incorrect number of bindings" after migrations 0010 and 0011 added `sku_links` columns, and
nothing in the suite noticed). Here the loop imports a small shop from the sandbox over HTTP, as benchmark 1 does,
into a freshly migrated database of each flavour.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from adapters.db import Database
from adapters.db.tables import line_items, order_line_stock, orders, products, sku_ledger_units, sku_links, skus
from bench.harness import SandboxProcess
from bench.limit import Target, bare_import
from domain.inventory.links import trimmed
from domain.stored import DELETED_PRODUCT_STATUS
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SMALL_DATA, SandboxServer, connect


async def test_the_bare_loop_imports_a_shop_into_the_migrated_schema(
    sandbox_factory: Callable[..., SandboxServer], database_url: str
) -> None:
    sandbox = sandbox_factory(
        SandboxConfig(**SMALL_DATA, app_key=SandboxProcess.APP_KEY, app_secret=SandboxProcess.APP_SECRET)
    )
    caller = connect(sandbox, "us-local")
    target = Target(sandbox.url, caller.access_token, caller.shop_cipher, database_url)

    products_run = await bare_import(target, "products", page_size=20)
    orders_run = await bare_import(target, "orders", slices=[(0, 2**31 - 1), (2**31 - 1, 2**32)], page_size=20)

    assert products_run.records == SMALL_DATA["products"]
    assert orders_run.records == SMALL_DATA["orders"]
    db = Database(database_url)
    try:
        async with db.read_engine.connect() as connection:

            async def count(table: object) -> int:
                return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())

            assert await count(products) == SMALL_DATA["products"]
            assert await count(orders) == SMALL_DATA["orders"]
            # every SKU linked but those of products TikTok reports DELETED: stored, left out of the pool (as the
            # engine does: `bench.limit_pool.pooled_skus`)
            on_sale = (
                select(func.count())
                .select_from(skus.join(products, products.c.id == skus.c.product_id))
                .where(products.c.status != DELETED_PRODUCT_STATUS)
            )
            assert await count(sku_links) == (await connection.execute(on_sale)).scalar_one() > 0
            assert await count(skus) > await count(sku_links)  # the small shop has DELETED products, SKUs stored
            # each SKU row carries its seller SKU's match key, as the engine's catalog writes it
            stored_skus = (await connection.execute(select(skus.c.seller_sku, skus.c.seller_sku_key))).all()
            assert [key for _, key in stored_skus] == [trimmed(seller_sku) for seller_sku, _ in stored_skus]
            assert any(key is not None for _, key in stored_skus)
            assert await count(order_line_stock) == await count(line_items) > 0
            # the push fence's running units per SKU, as the engine's PoolWrite keeps them: the lines' sums
            lines = order_line_stock.c
            counted = func.sum(lines.quantity).filter(lines.state.in_(("RESERVED", "DEDUCTED")))
            released = func.sum(lines.quantity).filter(lines.state == "RELEASED")
            by_sku = select(lines.tiktok_sku_id, counted, released).group_by(lines.tiktok_sku_id)
            expected = {sku: (i or 0, r or 0) for sku, i, r in await connection.execute(by_sku) if i or r}
            units = sku_ledger_units.c
            stored = await connection.execute(select(units.tiktok_sku_id, units.ingested, units.released))
            assert {sku: (i, r) for sku, i, r in stored if i or r} == expected
            assert expected
    finally:
        await db.dispose()
