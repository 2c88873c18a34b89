"""The pool's GraphQL read models on SQLite and PostgreSQL, called directly (no app server): `inventoryItems`
(newest first, SKU search, oversold filter, paging, total), items by id and by SKU, an item's links and movements,
a shop's unlinked SKUs, and the shops' inventory policies; another merchant's rows never come back.

Rows are written straight into the tables (ids and times as literals), so the expected order is known."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from adapters.crypto import TokenCipher
from adapters.db import Database, inventory_queries, uow_factory
from adapters.db.repositories.inventory_push import policies_of_shops
from adapters.db.tables import inventory_items, inventory_movements, shop_inventory_policies, sku_links, skus
from domain.inventory_push import InventoryPolicy
from domain.shops import Shop
from tests.fixtures.plans import SCANS_AND_JOINS, plan_of
from tests.integration.db_samples import NOW, add_shop, make_product, make_shop

SECOND = timedelta(seconds=1)


def _id(name: str) -> str:
    """A row id (32 hex digits, as every id is) spelling `name`, so ids order as their names do."""
    return name.encode().hex().ljust(32, "0")


async def _insert(db: Database, table: Any, *rows: dict[str, Any]) -> None:
    async with db.write_sessionmaker() as session, session.begin():
        for row in rows:
            await session.execute(insert(table).values(row))


def _item(item_id: str, sku: str, on_hand: int, reserved: int, safety: int, at: Any, merchant: str = "merchant-a"):  # type: ignore[no-untyped-def]
    return {
        "id": item_id, "merchant_id": merchant, "sku": sku, "on_hand": on_hand, "reserved": reserved,
        "safety_stock": safety, "version": 3, "created_at": at, "updated_at": at + timedelta(hours=1),
    }  # fmt: skip


@pytest.fixture
async def items(database: Database) -> None:
    """merchant-a's four items (available 5, -1, -2, 2; only the second oversold) and merchant-b's newest one, of a
    SKU merchant-a has too."""
    await _insert(
        database,
        inventory_items,
        _item(_id("item-1"), "TEE-RED", 5, 0, 0, NOW),
        _item(_id("item-2"), "TEE-BLUE", 1, 2, 0, NOW + SECOND),  # oversold: 1 more reserved than held
        _item(_id("item-4"), "tee-green", 2, 0, 0, NOW + SECOND),  # same time as item-2: the id breaks the tie
        # available -2, more kept back than held, but nothing sold: not oversold
        _item(_id("item-3"), "MUG_50%", 3, 0, 5, NOW + 2 * SECOND),
        _item(_id("item-9"), "TEE-RED", 1, 5, 0, NOW + 3 * SECOND, merchant="merchant-b"),
    )


async def _item_page(db: Database, merchant: str = "merchant-a", first: int = 10, after: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    options = {"query": None, "oversold": None, "with_total": True, **kw}
    async with db.read_sessionmaker() as session:
        return await inventory_queries.item_page(session, merchant, first, after, **options)


@pytest.mark.usefixtures("items")
async def test_items_page_newest_first_with_the_id_breaking_ties_and_a_total(database: Database) -> None:
    first = await _item_page(database, first=2)
    assert [r.item.id for r in first.items] == [_id("item-3"), _id("item-4")]
    assert (first.has_next_page, first.total_count) == (True, 4)
    rest = await _item_page(database, first=2, after=first.items[-1].cursor)
    assert [r.item.id for r in rest.items] == [_id("item-2"), _id("item-1")]
    assert (rest.has_next_page, rest.total_count) == (False, 4)
    exact = await _item_page(database, first=4, with_total=False)
    assert [r.item.id for r in exact.items] == [_id("item-3"), _id("item-4"), _id("item-2"), _id("item-1")]
    assert (exact.has_next_page, exact.total_count) == (False, None)
    item = exact.items[2].item
    assert (item.merchant_id, item.sku, item.on_hand, item.reserved, item.safety_stock, item.version) == (
        "merchant-a", "TEE-BLUE", 1, 2, 0, 3,
    )  # fmt: skip
    assert (item.created_at, item.updated_at) == (NOW + SECOND, NOW + SECOND + timedelta(hours=1))
    assert [r.item.id for r in (await _item_page(database, merchant="merchant-b")).items] == [_id("item-9")]
    assert (await _item_page(database, merchant="merchant-c")) == ((), False, 0)


@pytest.mark.usefixtures("items")
async def test_items_are_searched_by_part_of_the_sku_ignoring_case_and_wildcards(database: Database) -> None:
    tees = await _item_page(database, query="tee-")
    assert ([r.item.id for r in tees.items], tees.total_count) == ([_id("item-4"), _id("item-2"), _id("item-1")], 3)
    assert [r.item.id for r in (await _item_page(database, query="_50%")).items] == [_id("item-3")]
    assert [r.item.id for r in (await _item_page(database, query="%")).items] == [_id("item-3")]
    assert [r.item.id for r in (await _item_page(database, query="E_R")).items] == []  # `_` is no wildcard
    assert [r.item.id for r in (await _item_page(database, query="")).items] == [
        _id("item-3"),
        _id("item-4"),
        _id("item-2"),
        _id("item-1"),
    ]


async def test_the_sku_search_ignores_the_case_of_every_letter_not_only_ascii(database: Database) -> None:
    # given SKUs with letters beyond ASCII, as the sandbox's unicode shops and any merchant may have
    await _insert(
        database,
        inventory_items,
        _item(_id("item-5"), "ÉTÉ-Straße", 1, 0, 0, NOW),
        _item(_id("item-6"), "ΣΟΦΊΑ-01", 1, 0, 0, NOW + SECOND),
        _item(_id("item-7"), "ete-plain", 1, 0, 0, NOW + 2 * SECOND),
    )

    async def found(query: str) -> list[str]:
        return [r.item.id for r in (await _item_page(database, query=query)).items]

    # then a search in any case finds them (SQLite's lower() and PostgreSQL's in the C locale fold ASCII only, so
    # "été" missed "ÉTÉ-Straße"), ß and SS alike; accents still count
    assert await found("été") == await found("ÉTÉ") == await found("STRASSE") == [_id("item-5")]
    assert await found("σοφία") == [_id("item-6")]
    assert await found("ete") == [_id("item-7")]


async def test_an_item_written_without_a_search_key_is_still_found_by_its_sku(database: Database) -> None:
    # given an item that a process of the release before migration 0007 wrote after the migration ran (old
    # processes run on until they are replaced): it has no search key
    await _insert(database, inventory_items, {**_item(_id("item-8"), "Old-Mug", 1, 0, 0, NOW), "sku_search": None})
    # then a search still finds it by its SKU, ignoring the case of ASCII letters (it was missed forever)
    assert [r.item.id for r in (await _item_page(database, query="old-MUG")).items] == [_id("item-8")]
    assert not (await _item_page(database, query="new")).items


@pytest.mark.usefixtures("items")
async def test_oversold_items_are_those_with_more_reserved_than_held_whatever_the_safety_stock(
    database: Database,
) -> None:
    oversold = await _item_page(database, oversold=True)
    assert ([r.item.id for r in oversold.items], oversold.total_count) == ([_id("item-2")], 1)
    fine = await _item_page(database, oversold=False)
    assert ([r.item.id for r in fine.items], fine.total_count) == ([_id("item-3"), _id("item-4"), _id("item-1")], 3)
    searched = await _item_page(database, oversold=False, query="TEE")
    assert ([r.item.id for r in searched.items], searched.total_count) == ([_id("item-4"), _id("item-1")], 2)


@pytest.mark.usefixtures("items")
async def test_items_by_id_and_by_sku_are_the_merchants_only(database: Database) -> None:
    async with database.read_sessionmaker() as session:
        by_ids = await inventory_queries.items_by_ids(session, "merchant-a", [_id("item-1"), _id("item-9"), "nope"])
        none = await inventory_queries.items_by_ids(session, "merchant-a", [])
        red = await inventory_queries.item_by_sku(session, "merchant-a", " TEE-RED ")
        theirs = await inventory_queries.item_by_sku(session, "merchant-b", "TEE-RED")
        missing = await inventory_queries.item_by_sku(session, "merchant-a", "tee-red")
    assert {k: (v.sku, v.on_hand) for k, v in by_ids.items()} == {_id("item-1"): ("TEE-RED", 5)}
    assert none == {}
    assert red is not None and (red.id, red.merchant_id) == (_id("item-1"), "merchant-a")
    assert theirs is not None and (theirs.id, theirs.reserved) == (_id("item-9"), 5)
    assert missing is None


def _movement(move_id: str, item_id: str, at: Any, merchant: str = "merchant-a", **kw: Any) -> dict[str, Any]:
    fields = {"kind": "ADJUSTED", "on_hand_delta": 1, "reserved_delta": 0, "reason": None, "shop_id": None}
    return {"id": move_id, "inventory_item_id": item_id, "merchant_id": merchant, "created_at": at, **fields, **kw}


@pytest.mark.usefixtures("items")
async def test_an_items_movements_newest_first_paged_and_the_merchants_only(
    database: Database, cipher: TokenCipher
) -> None:
    shop = await add_shop(uow_factory(database, cipher), make_shop("merchant-a"))
    sale: dict[str, Any] = {
        "kind": "RESERVED",
        "on_hand_delta": 0,
        "reserved_delta": 2,
        "shop_id": shop.id,
        "tiktok_order_id": "5771",
    }
    await _insert(
        database,
        inventory_movements,
        _movement(_id("move-1"), _id("item-1"), NOW, kind="SEEDED", on_hand_delta=5, reason="TikTok stock"),
        _movement(_id("move-2"), _id("item-1"), NOW + SECOND, **sale),
        _movement(_id("move-3"), _id("item-1"), NOW + SECOND, on_hand_delta=-1, reason="broken"),
        _movement(_id("move-4"), _id("item-1"), NOW + 2 * SECOND, reserved_delta=-2),
        _movement(_id("move-5"), _id("item-2"), NOW + 3 * SECOND),  # another item's
    )

    async def page(merchant: str, first: int, after: str | None = None):  # type: ignore[no-untyped-def]
        async with database.read_sessionmaker() as session:
            return await inventory_queries.movement_page(session, merchant, _id("item-1"), first, after)

    first = await page("merchant-a", 2)
    assert ([m.id for m in first.items], first.has_next_page, first.total_count) == (
        [_id("move-4"), _id("move-3")],
        True,
        None,
    )
    rest = await page("merchant-a", 2, first.items[-1].cursor)
    assert ([m.id for m in rest.items], rest.has_next_page) == ([_id("move-2"), _id("move-1")], False)
    assert rest.items[0] == inventory_queries.MovementRead(
        _id("move-2"), "RESERVED", 0, 2, None, shop.id, "5771", NOW + SECOND
    )
    assert (rest.items[1].kind, rest.items[1].on_hand_delta, rest.items[1].reason) == ("SEEDED", 5, "TikTok stock")
    assert [m.id for m in (await page("merchant-a", 4)).items] == [
        _id("move-4"),
        _id("move-3"),
        _id("move-2"),
        _id("move-1"),
    ]
    assert (await page("merchant-a", 4)).has_next_page is False
    assert (await page("merchant-b", 10)).items == ()


async def _catalog(database: Database, cipher: TokenCipher, merchant: str = "merchant-a") -> Shop:
    """A shop with p-old (created at NOW) and p-new (an hour later), two SKUs each, and an item TEE-RED."""
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop(merchant))
    async with uows() as uow:
        newer = NOW + timedelta(hours=1)
        await uow.catalog.upsert_products(shop.id, [make_product("p-old"), make_product("p-new", created_at=newer)])
        await uow.commit()
    return shop


async def _sku_ids(database: Database, shop: Shop) -> dict[str, str]:
    async with database.read_sessionmaker() as session:
        rows = (await session.execute(select(skus.c.tiktok_sku_id, skus.c.id).where(skus.c.shop_id == shop.id))).all()
    return {tiktok_sku_id: sku_id for tiktok_sku_id, sku_id in rows}


def _link(shop: Shop, sku_id: str, tiktok_sku_id: str, state: str, item: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "sku_id": sku_id, "shop_id": shop.id, "merchant_id": shop.merchant_id, "inventory_item_id": item,
        "tiktok_product_id": tiktok_sku_id.split("-sku")[0], "tiktok_sku_id": tiktok_sku_id, "state": state,
        "source": "AUTO", "drift_count": 0, "updated_at": NOW, **kw,
    }  # fmt: skip


@pytest.mark.usefixtures("items")
async def test_links_of_items_and_of_skus_read_every_push_field(database: Database, cipher: TokenCipher) -> None:
    shop = await _catalog(database, cipher)
    ids = await _sku_ids(database, shop)
    pushed = {"pushed_quantity": 4, "pushed_at": NOW + SECOND, "push_error_code": "12052700", "source": "MANUAL"}
    await _insert(
        database,
        sku_links,
        _link(shop, ids["p-old-sku0"], "p-old-sku0", "LINKED", _id("item-1"), **pushed),
        _link(shop, ids["p-new-sku1"], "p-new-sku1", "LINKED", _id("item-1")),
        _link(shop, ids["p-new-sku0"], "p-new-sku0", "AMBIGUOUS", None),
    )
    async with database.read_sessionmaker() as session:
        by_items = await inventory_queries.links_by_items(session, "merchant-a", [_id("item-1"), _id("item-2")])
        by_skus = await inventory_queries.links_by_skus(session, "merchant-a", [ids["p-old-sku0"], ids["p-old-sku1"]])
        theirs = await inventory_queries.links_by_items(session, "merchant-b", [_id("item-1")])
        theirs_by_sku = await inventory_queries.links_by_skus(session, "merchant-b", [ids["p-old-sku0"]])
        empty = (
            await inventory_queries.links_by_items(session, "merchant-a", []),
            await inventory_queries.links_by_skus(session, "merchant-a", []),
        )
    assert list(by_items) == [_id("item-1")]
    assert [r.sku.id for r in by_items[_id("item-1")]] == sorted([ids["p-old-sku0"], ids["p-new-sku1"]])
    linked = by_skus[ids["p-old-sku0"]]
    assert (linked.shop_id, linked.inventory_item_id, linked.state, linked.source) == (
        shop.id, _id("item-1"), "LINKED", "MANUAL",
    )  # fmt: skip
    assert (linked.pushed_quantity, linked.pushed_at, linked.push_error_code) == (4, NOW + SECOND, "12052700")
    # its TikTok stock: the push (4), newer than the product's read (3, of no known time: `last_known_stock`)
    assert (linked.sku.tiktok_sku_id, linked.sku.seller_sku, linked.sku.quantity) == ("p-old-sku0", "SELLER-p-old-0", 4)
    assert (str(linked.sku.price.amount), linked.sku.price.currency, linked.product_created_at) == ("19.90", "USD", NOW)
    never = by_skus[ids["p-old-sku1"]]  # no link row yet
    assert (never.state, never.source, never.inventory_item_id, never.pushed_quantity) == (
        "UNLINKED",
        "AUTO",
        None,
        None,
    )
    assert (never.sku.quantity, never.sku.seller_sku) == (4, "SELLER-p-old-1")  # 3 + 1 over two warehouses
    assert (theirs, theirs_by_sku, empty) == ({}, {}, ({}, {}))


async def test_a_shops_unlinked_skus_newest_product_first_paged_with_a_total(
    database: Database, cipher: TokenCipher
) -> None:
    await _insert(database, inventory_items, _item(_id("item-1"), "TEE-RED", 5, 0, 0, NOW))
    shop = await _catalog(database, cipher)
    other = await _catalog(database, cipher)  # the same merchant's other shops: none of their SKUs come
    await _catalog(database, cipher)
    ids = await _sku_ids(database, shop)
    await _insert(
        database,
        sku_links,
        _link(shop, ids["p-old-sku0"], "p-old-sku0", "LINKED", _id("item-1")),
        _link(shop, ids["p-new-sku1"], "p-new-sku1", "NO_SELLER_SKU", None),
    )
    newest = sorted([ids["p-new-sku0"], ids["p-new-sku1"]], reverse=True)  # one product's SKUs: by id, descending

    async def page(merchant: str, first: int, after: str | None = None, shop_id: str = shop.id):  # type: ignore[no-untyped-def]
        async with database.read_sessionmaker() as session:
            return await inventory_queries.unlinked_sku_page(session, merchant, shop_id, first, after, with_total=True)

    first = await page("merchant-a", 2)
    assert ([r.sku.id for r in first.items], first.has_next_page, first.total_count) == (newest, True, 3)
    assert {r.sku.id: r.state for r in first.items} == {
        ids["p-new-sku0"]: "UNLINKED",
        ids["p-new-sku1"]: "NO_SELLER_SKU",
    }
    assert [r.product_created_at for r in first.items] == [NOW + timedelta(hours=1)] * 2
    rest = await page("merchant-a", 2, first.items[-1].cursor)
    assert ([r.sku.id for r in rest.items], rest.has_next_page, rest.total_count) == ([ids["p-old-sku1"]], False, 3)
    assert (await page("merchant-a", 3)).has_next_page is False
    assert (await page("merchant-b", 10)) == ((), False, 0)
    assert (await page("merchant-a", 10, shop_id=other.id)).total_count == 4
    async with database.read_sessionmaker() as session:
        untotalled = await inventory_queries.unlinked_sku_page(
            session, "merchant-a", shop.id, 1, None, with_total=False
        )
    assert (len(untotalled.items), untotalled.has_next_page, untotalled.total_count) == (1, True, None)


async def test_policies_of_the_merchants_shops_that_have_one(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    mine, bare = [await add_shop(uows, make_shop("merchant-a")) for _ in range(2)]
    theirs = await add_shop(uows, make_shop("merchant-b"))
    policy = {"push_enabled": False, "share_percent": 40, "max_quantity": 12, "out_of_stock_threshold": 2}
    await _insert(
        database,
        shop_inventory_policies,
        {"shop_id": mine.id, "updated_at": NOW, **policy},
        {"shop_id": theirs.id, "updated_at": NOW, **policy, "share_percent": 90},
    )
    async with database.read_sessionmaker() as session:
        found = await policies_of_shops(session, "merchant-a", [mine.id, bare.id, theirs.id])
        for_b = await policies_of_shops(session, "merchant-b", [mine.id, theirs.id])
    assert found == {mine.id: InventoryPolicy(False, 40, 12, 2)}
    assert for_b == {theirs.id: InventoryPolicy(False, 90, 12, 2)}


async def test_a_pages_items_and_links_are_read_from_the_ids_asked_for_not_from_the_merchants_catalog(
    database: Database, cipher: TokenCipher
) -> None:
    # given a merchant's shop whose SKUs link items
    shop = await _catalog(database, cipher)
    ids = await _sku_ids(database, shop)
    await _insert(
        database,
        sku_links,
        _link(shop, ids["p-old-sku0"], "p-old-sku0", "LINKED", None),
        _link(shop, ids["p-new-sku1"], "p-new-sku1", "UNLINKED", None),
    )
    # when each database plans the reads of a page's items by id and links (of its SKUs, of its items), as lookups
    # (PostgreSQL: scans and hash or merge joins priced out, which its statistics of a large catalog rule out; SQLite
    # keeps none, it plans by the query's shape alone)
    # (a page's worth of ids: 50 products of 3 SKUs, 50 items; SQLite weighs its plans by the length of the list)
    page_skus = [ids["p-old-sku0"], ids["p-new-sku1"], *(_id(f"sku-{n}") for n in range(148))]
    reads = {
        "items by id": inventory_queries.items_by_ids_query([_id(f"item-{n}") for n in range(50)]),
        "links of skus": inventory_queries.links_by_skus_query(page_skus),
        "links of items": inventory_queries.links_by_items_query([_id(f"item-{n}") for n in range(50)]),
    }
    sqlite = database.dialect_name == "sqlite"
    plans = {name: await plan_of(database, statement, SCANS_AND_JOINS) for name, statement in reads.items()}
    # then each starts from the rows asked for: the items and SKUs by their primary key, the links by their item's
    # index; never from the merchant's shops, each SKU of which it then walked through `(shop_id, ...)`, nor through
    # the merchant's items (a page read the merchant's whole catalog: 13 ms at 4,500 SKUs, 60 ms at 15,000 on SQLite)
    pk = "sqlite_autoindex_skus_1" if sqlite else "pk_skus"
    assert pk in _indexes(plans["links of skus"]), plans
    assert "ix_sku_links_inventory_item_id" in _indexes(plans["links of items"]), plans
    assert ("sqlite_autoindex_inventory_items_1" if sqlite else "pk_inventory_items") in _indexes(plans["items by id"])
    for plan in plans.values():
        walks = (
            "ix_skus_shop_id",
            "uq_skus_shop_id",
            "ix_inventory_items_merchant_id",
            "uq_inventory_items_merchant_id",
        )
        assert not [name for name in _indexes(plan) if name.startswith(walks)], plan


def _indexes(plan: list[str]) -> set[str]:
    """The indexes a plan reads (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN)."""
    return {name for line in plan for name in re.findall(r"\b(?:sqlite_autoindex|pk|ix|uq)_\w+", line)}


@pytest.mark.parametrize("after", [False, True], ids=["first-page", "after-a-cursor"])
async def test_an_unlinked_skus_page_walks_the_products_newest_first_not_every_sku_of_the_shop(
    database: Database, cipher: TokenCipher, after: bool
) -> None:
    # given a shop's catalog and a cursor of its unlinked SKUs' list
    shop = await _catalog(database, cipher)
    async with database.read_sessionmaker() as session:
        first = await inventory_queries.unlinked_sku_page(session, "merchant-a", shop.id, 1, None, with_total=False)
    cursor = first.items[0].cursor if after else None
    # when each database plans a page of 50 (PostgreSQL: scans, hash and merge joins and a full sort priced out, as
    # its statistics of a large shop rule them out for a page; SQLite keeps none and plans by the query's shape)
    statement = inventory_queries.unlinked_sku_page_query("merchant-a", shop.id, 50, cursor)
    sqlite = database.dialect_name == "sqlite"
    plan = await plan_of(database, statement, (*SCANS_AND_JOINS, "enable_sort"))
    # then it walks the shop's products newest first by their index, each one's SKUs by their product, and sorts
    # no more than one product's SKUs at a time: never the shop's SKUs all read and sorted for one page (15,000 SKUs:
    # 25-40 ms a page, growing with the shop)
    assert "ix_products_shop_id_created_at_id" in _indexes(plan), plan
    assert "ix_skus_product_id" in _indexes(plan), plan
    assert not [name for name in _indexes(plan) if name.startswith(("ix_skus_shop_id", "uq_skus_shop_id"))], plan
    if sqlite:
        assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan  # (FOR RIGHT PART OF ORDER BY: one product's SKUs)
    else:
        full_sorts = [line for line in plan if re.match(r"(->\s*)?Sort\s+\(", line)]  # (Incremental Sort: by product)
        assert not full_sorts, plan


async def test_unlinked_skus_of_products_created_at_the_same_instant_page_once_each_in_product_then_sku_order(
    database: Database, cipher: TokenCipher
) -> None:
    # given a shop whose two products were created at the same instant (TikTok's times are to the second), no SKU
    # linked
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    async with uows() as uow:
        await uow.catalog.upsert_products(shop.id, [make_product("p-one", skus=3), make_product("p-two", skus=3)])
        await uow.commit()
    async with database.read_sessionmaker() as session:
        rows = (await session.execute(select(skus.c.id, skus.c.product_id).where(skus.c.shop_id == shop.id))).all()
    expected = [sku_id for _, sku_id in sorted(((p, s) for s, p in rows), reverse=True)]
    # when the list is read a SKU per page, each page after the last one's cursor
    seen: list[str] = []
    after = None
    while True:
        async with database.read_sessionmaker() as session:
            page = await inventory_queries.unlinked_sku_page(session, "merchant-a", shop.id, 1, after, with_total=False)
        seen += [r.sku.id for r in page.items]
        if not page.has_next_page:
            break
        after = page.items[-1].cursor
    # then every SKU comes once: newest product first, the id breaking the tie, then the SKUs of each by id
    assert seen == expected


async def _changed_since(db: Database, limit: int, merchant: str = "merchant-a") -> tuple[list[str], bool]:
    async with db.read_sessionmaker() as session:
        return await inventory_queries.item_ids_changed_since(session, merchant, NOW, limit)


async def test_the_items_changed_since_are_the_last_changed_first_by_their_own_time_or_a_links(
    database: Database, cipher: TokenCipher
) -> None:
    """What the all-items feed reads after lost signals (`item_ids_changed_since`): an item's time is the later of its
    own `updated_at` and those of the links naming it (a push stamps the link alone), since NOW; another merchant's
    never. Three links of one item changed last must not crowd out the item after it (a read of the links changed
    last, `limit` + 1 rows, would)."""
    # given merchant-a's items: A changed at +1 s, C at +3 s, B before NOW but its link at +5 s, F before NOW but its
    # three links at +7.0, +6.5 and +6 s, D and its link before NOW; a link changed at +8 s naming no item; and
    # merchant-b's item changed at +9 s, its link too
    shop, theirs = await _catalog(database, cipher), await _catalog(database, cipher, "merchant-b")
    before = NOW - 10 * SECOND
    await _insert(
        database,
        inventory_items,
        *(_item(_id(f"item-{name}"), name, 1, 0, 0, NOW - timedelta(hours=2)) for name in "ABCDF"),
        _item(_id("item-E"), "E", 1, 0, 0, NOW, merchant="merchant-b"),
    )
    times = {"A": NOW + SECOND, "B": before, "C": NOW + 3 * SECOND, "D": before, "F": before, "E": NOW + 9 * SECOND}
    async with database.write_sessionmaker() as session, session.begin():
        for name, at in times.items():
            await session.execute(
                inventory_items.update().where(inventory_items.c.id == _id(f"item-{name}")).values(updated_at=at)
            )
    await _insert(
        database,
        sku_links,
        _link(shop, _id("sku-b"), "p-b-sku0", "LINKED", _id("item-B"), updated_at=NOW + 5 * SECOND),
        _link(shop, _id("sku-f1"), "p-f-sku1", "LINKED", _id("item-F"), updated_at=NOW + 7 * SECOND),
        _link(shop, _id("sku-f2"), "p-f-sku2", "LINKED", _id("item-F"), updated_at=NOW + 6.5 * SECOND),
        _link(shop, _id("sku-f3"), "p-f-sku3", "LINKED", _id("item-F"), updated_at=NOW + 6 * SECOND),
        _link(shop, _id("sku-d"), "p-d-sku0", "LINKED", _id("item-D"), updated_at=before),
        _link(shop, _id("sku-none"), "p-n-sku0", "AMBIGUOUS", None, updated_at=NOW + 8 * SECOND),
        _link(theirs, _id("sku-e"), "p-e-sku0", "LINKED", _id("item-E"), updated_at=NOW + 9 * SECOND),
    )
    # when the feed reads the items changed since NOW, at most 10, 2 and 1
    # then F (+7 s), B (+5 s), C, A: the last changed first, D and merchant-b's E never
    expected = [_id(f"item-{name}") for name in "FBCA"]
    assert await _changed_since(database, 10) == (expected, False)
    assert await _changed_since(database, 2) == (expected[:2], True)
    assert await _changed_since(database, 1) == (expected[:1], True)
    assert await _changed_since(database, 4) == (expected, False)
    assert await _changed_since(database, 10, "merchant-b") == ([_id("item-E")], False)


async def test_the_items_changed_since_are_read_through_their_indexes_not_the_merchants_catalog(
    database: Database,
) -> None:
    # given the feed's read after lost signals: the merchant's items changed since a time, at most 1,000
    statement = inventory_queries.item_ids_changed_since_query("merchant-a", NOW, 1000)
    # when each database plans it (PostgreSQL: scans and hash or merge joins priced out, which its statistics of a
    # large catalog rule out; SQLite keeps none, it plans by the query's shape alone)
    plan = await plan_of(database, statement, SCANS_AND_JOINS)
    # then the items come off `(merchant_id, updated_at, id)` and the links off `(merchant_id, updated_at,
    # inventory_item_id)` (migration 0047), never through the merchant's items by creation or its shops' links by
    # state: each such read passed over the merchant's whole catalog (review56b F1: 100,000 items and links, ~0.5 s
    # on SQLite, 0.06-0.13 s on PostgreSQL)
    indexes = _indexes(plan)
    assert "ix_inventory_items_merchant_id_updated_at_id" in indexes, plan
    assert "ix_sku_links_merchant_id_updated_at_inventory_item_id" in indexes, plan
    assert indexes <= {
        "ix_inventory_items_merchant_id_updated_at_id", "ix_sku_links_merchant_id_updated_at_inventory_item_id"
    }, plan  # fmt: skip
    assert not [line for line in plan if re.search(r"\bSCAN (inventory_items|sku_links)\b|Seq Scan", line)], plan
