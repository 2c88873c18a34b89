"""The push's fence at catalog scale, below GraphQL: real database (both), the sandbox over HTTP as TikTok. A push of
hundreds of products finishes the unchanged ones on one read of TikTok's stock, 600 SKU ids per Inventory Search
(tiktok-api.md sec. 9), not once per product; each product it writes is read again on its own right before its write,
and the sales TikTok made that the pool has not ingested are held back. Items and links are written straight into
the tables, as in test_inventory_push.py."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update

from adapters.db.repositories.inventory_push_links import LINKS_CHUNK
from adapters.db.tables import inventory_items, sku_links, skus
from domain.services.inventory_push import push_shop
from domain.shops import Shop
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import connect_shop
from tests.integration.pool_push_support import (
    PushWorld,
    now,
    opened_push_world,
    put_on_sale,
    sandbox_products,
    tiktok_stock,
    updates,
)

SEARCH = "/product/202309/inventory/search"
SEARCH_LIMIT = 600  # SKU ids one Inventory Search takes (tiktok-api.md sec. 9)
PRODUCTS = 300  # 1 to 5 SKUs each in the sandbox: about 900 SKUs, more than one Inventory Search takes
FEW_PRODUCTS = 50  # a round of more claims than the push's concurrency (4), so its batch read runs


@pytest.fixture
async def world(
    database_url: str, sandbox_factory: Callable[..., SandboxServer], tmp_path: Path
) -> AsyncIterator[PushWorld]:
    sandbox = sandbox_factory(SandboxConfig(products=PRODUCTS, orders=0))
    async with opened_push_world(database_url, sandbox, tmp_path) as made:
        yield made


@pytest.fixture
async def small_world(
    database_url: str, sandbox_factory: Callable[..., SandboxServer], tmp_path: Path
) -> AsyncIterator[PushWorld]:
    sandbox = sandbox_factory(SandboxConfig(products=FEW_PRODUCTS, orders=0))
    async with opened_push_world(database_url, sandbox, tmp_path) as made:
        yield made


async def import_catalog(world: PushWorld) -> Shop:
    """A shop authorized through the sandbox with every page of its products imported, every one not DELETED on
    sale (ACTIVATE: `put_on_sale`; the pusher writes no other)."""
    shop = await connect_shop(world.uows, world.tiktok, world.sandbox, "us-local", "m1")
    put_on_sale(world.sandbox, shop)
    token: str | None = None
    while True:
        page = await world.tiktok.search_products(
            shop.tokens.access_token, shop.tiktok_shop_cipher, page_size=100, page_token=token
        )
        async with world.uows() as uow:
            await uow.catalog.upsert_products(shop.id, page.items)  # type: ignore[arg-type]
            await uow.commit()
        if not page.next_page_token:
            return shop
        token = page.next_page_token


async def pool_every_sku(world: PushWorld, shop: Shop) -> dict[str, str]:
    """Every SKU of every product but bundles and DELETED ones (the pool leaves their SKUs out),
    linked to an item of its own whose on-hand is TikTok's available (as an item seeded by its first shop's import
    is), every product dirty. Returns TikTok SKU id -> item id."""
    products = [
        p for p in sandbox_products(world.sandbox, shop)
        if not any(s.get("combined_skus") for s in p["skus"]) and p["status"] != "DELETED"
    ]  # fmt: skip
    stock = tiktok_stock(world.sandbox, shop)
    items: dict[str, str] = {}
    async with world.db.write_sessionmaker() as session, session.begin():
        sku_rows = await session.execute(select(skus.c.id, skus.c.tiktok_sku_id).where(skus.c.shop_id == shop.id))
        ours = {row.tiktok_sku_id: row.id for row in sku_rows}
        item_rows, link_rows = [], []
        for product in products:
            for sku in product["skus"]:
                items[sku["id"]] = uuid.uuid4().hex
                item_rows.append(
                    {"id": items[sku["id"]], "merchant_id": shop.merchant_id, "sku": f"item-{sku['id']}",
                     "on_hand": sum(stock[sku["id"]].values()), "reserved": 0, "safety_stock": 0, "version": 1,
                     "created_at": now(), "updated_at": now()}
                )  # fmt: skip
                link_rows.append(
                    {"sku_id": ours[sku["id"]], "shop_id": shop.id, "merchant_id": shop.merchant_id,
                     "inventory_item_id": items[sku["id"]], "tiktok_product_id": product["id"],
                     "tiktok_sku_id": sku["id"], "state": "LINKED", "source": "MANUAL", "drift_count": 0,
                     "updated_at": now()}
                )  # fmt: skip
        await session.execute(insert(inventory_items), item_rows)
        await session.execute(insert(sku_links), link_rows)
    await mark_all_dirty(world, shop, [p["id"] for p in products])
    return items


async def mark_all_dirty(world: PushWorld, shop: Shop, product_ids: list[str]) -> None:
    async with world.uows() as uow:
        await uow.inventory_push.mark_dirty(shop.id, product_ids, now())
        await uow.commit()


@contextmanager
def link_reads(world: PushWorld) -> Iterator[list[str]]:
    """The SELECTs on `sku_links` sent to either engine while inside, but for the locks a transaction finishing
    several claims takes on their links before recording them (`hold_links`, `FOR NO KEY UPDATE`): no read."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM sku_links" in statement:
            if not statement.rstrip().endswith("FOR NO KEY UPDATE"):
                statements.append(statement)

    engines = list({id(e): e.sync_engine for e in (world.db.write_engine, world.db.read_engine)}.values())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def searches(world: PushWorld) -> int:
    counted = world.sandbox.control("GET", "/counters")["by_path"].get(SEARCH, {})
    return sum(counted.values())


async def test_a_fenced_push_of_hundreds_of_products_reads_600_skus_a_call_and_keeps_the_fence(
    world: PushWorld,
) -> None:
    # given a shop of 300 products (about 900 SKUs) just pooled: each item holds what TikTok shows, every product
    # dirty (as right after an import)
    shop = await import_catalog(world)
    items = await pool_every_sku(world, shop)
    product_ids = sorted(
        p["id"] for p in sandbox_products(world.sandbox, shop) if any(s["id"] in items for s in p["skus"])
    )
    assert len(items) > SEARCH_LIMIT and len(product_ids) > 200
    expected_searches = math.ceil(len(items) / SEARCH_LIMIT)
    start = tiktok_stock(world.sandbox, shop)
    world.sandbox.control("POST", "/counters/reset")

    # when the shop is pushed with the fence
    report = await push_shop(shop.id, world.deps(fence=True))

    # then TikTok's stock was read 600 SKU ids a call (2 calls, not one per product), and as it already showed
    # every target nothing was written; each SKU's target is recorded as pushed
    assert searches(world) == expected_searches
    assert (report.products, report.calls, updates(world.sandbox, shop)) == (len(product_ids), 0, [])
    assert tiktok_stock(world.sandbox, shop) == start

    # given buyers then take 2 units of a few SKUs at TikTok, not ingested yet; those items and a few others lose
    # one unit in the pool, and every product is dirty again
    sellable = {s["id"] for p in sandbox_products(world.sandbox, shop) if p["status"] == "ACTIVATE" for s in p["skus"]}
    candidates = sorted(sku for sku in items if sku in sellable and sum(start[sku].values()) >= 5)
    sold, lowered = candidates[:80:10], candidates[5:80:10]
    assert len(sold) == len(lowered) == 8
    for sku in sold:
        world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": sku, "quantity": 2})
    async with world.db.write_sessionmaker() as session, session.begin():
        await session.execute(
            update(inventory_items)
            .where(inventory_items.c.id.in_([items[sku] for sku in sold + lowered]))
            .values(on_hand=inventory_items.c.on_hand - 1, version=inventory_items.c.version + 1)
        )
    await mark_all_dirty(world, shop, product_ids)
    world.sandbox.control("POST", "/counters/reset")

    # when the shop is pushed again
    await push_shop(shop.id, world.deps(fence=True))

    # then only the products of the changed SKUs were written, and read: ceil(SKUs / 600) searches for the round,
    # and one more per product written, right before its write; the fence held the unseen sales back: a sold SKU
    # shows its start - 1 - 2 (not start - 1, which would put 2 sold units back on sale), a lowered one start - 1,
    # every other its start
    changed = set(sold + lowered)
    written = {update["product_id"] for update in updates(world.sandbox, shop)}  # one read, not one per product
    assert written == {p["id"] for p in sandbox_products(world.sandbox, shop) if changed & {s["id"] for s in p["skus"]}}
    assert searches(world) == expected_searches + len(written)
    stock = tiktok_stock(world.sandbox, shop)
    wanted: dict[str, Any] = {
        sku: sum(start[sku].values()) - (3 if sku in sold else 1 if sku in lowered else 0) for sku in items
    }
    assert {sku: sum(stock[sku].values()) for sku in items} == wanted


async def test_a_fenced_round_of_many_products_reads_their_links_in_one_statement_not_one_per_product(
    small_world: PushWorld,
) -> None:
    # given a shop of 50 products just pooled (all but its bundles and deleted ones): each item holds what TikTok shows,
    # every product dirty
    world = small_world
    shop = await import_catalog(world)
    items = await pool_every_sku(world, shop)
    product_ids = {p["id"] for p in sandbox_products(world.sandbox, shop) if any(s["id"] in items for s in p["skus"])}
    assert len(product_ids) > world.deps().concurrency * 10

    # when the shop is pushed with the fence (one round claims them all: more than the concurrency, so the round's
    # batch read finishes the unchanged ones)
    with link_reads(world) as reads:
        report = await push_shop(shop.id, world.deps(fence=True))

    # then every product was finished with nothing to write, and their links were read in ceil(n / LINKS_CHUNK)
    # statements (1 here), not one per product
    assert (report.products, report.calls) == (len(product_ids), 0)
    assert len(reads) == math.ceil(len(product_ids) / LINKS_CHUNK) == 1
