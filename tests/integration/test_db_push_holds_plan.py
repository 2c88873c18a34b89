"""How SQLite and PostgreSQL plan the push's read of linked SKUs with the holds of their items' other links
(`inventory_push_links._linked_select`, `_held_elsewhere`, `_held_elsewhere_since`): each correlated subquery looks
the holders up by index, one per arm of its OR (the item a link names, the item it remembers, the item its hold
recorded, its moved hold's item: migration 0058), never scanning `sku_links` per link read (fence61: 600 products'
read on PostgreSQL took 81 s without the indexes of 0058, with 50,000 other links in the table)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from adapters.db import Database
from adapters.db.repositories.inventory_push_links import _linked_select
from adapters.db.tables import sku_links
from tests.fixtures.plans import SCANS_AND_JOINS, plan_of


async def test_the_holds_of_an_items_other_links_are_looked_up_by_index_not_scanned(database: Database) -> None:
    # given the push's read of a round of products with the holds its links subtract
    products = [f"p{n}" for n in range(600)]
    statement = (
        _linked_select(True, True)
        .where(sku_links.c.shop_id == "shop-1", sku_links.c.tiktok_product_id.in_(products))
        .params(holds_since=datetime(2026, 12, 6, 6, 0, tzinfo=UTC))
    )
    # when the database plans it (PostgreSQL: scans and hash or merge joins priced out, which its statistics of a
    # large pool rule out; SQLite keeps none, it plans by the query's shape alone)
    plan = await plan_of(database, statement, SCANS_AND_JOINS)
    # then the holders (`held_by`) are found through each arm's index, and never by a scan of the links
    text = "\n".join(plan)
    for index in (
        "inventory_item_id",
        "unlinked_item_id",
        "held_item_id",
        "moved_hold_item_id",
        "held_rest_item_id",
        "moved_hold_rest_item_id",
    ):
        assert f"ix_sku_links_{index}" in text, plan
    scans = [line for line in plan if re.search(r"\bSCAN held_by\b|Seq Scan on sku_links held_by", line)]
    assert not scans, plan
