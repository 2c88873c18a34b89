"""A sale held back by the push's fence on a SKU an import then leaves without an item (its seller SKU found on a
twin SKU of the shop: AMBIGUOUS), end to end over real HTTP (the sandbox's market and Seller Center, the pool's push)
on SQLite and PostgreSQL: the hold goes on counting for the item's other shop while it stands (the link remembers
the item, `unlinked_item_id`), and the sale it stood for, ingested then, counts on the item it was placed on in its
place, so the item's other shop never gets that unit back on sale, neither before the sale is ingested nor after."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.e2e.test_inventory_push import (
    UPDATE,
    pooled_items,
    set_on_hand,
    shared_sellable_item,
    stock_of,
    two_pooled_shops,
)
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

SYNC_START = """mutation($input: SyncStartInput!) { syncStart(input: $input) { userErrors { code } } }"""


def _sync(app: ShopbridgeServer, shop_id: str, kind: str) -> None:
    started = app.graphql(SYNC_START, {"input": {"shopId": shop_id, "kinds": [kind]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()


def _pushed(app: ShopbridgeServer, tiktok_shop_id: str) -> None:
    """Until no outbox row of the shop is dirty and due (its pushes done): a row due later with no failed attempt is
    the push scheduled at the end of a hold it subtracted (`push_again_at`, `hold_ends`), nothing to wait for; nor is
    a row of a product TikTok does not sell (not ACTIVATE: it waits, dirty, for its status; README, "A product TikTok
    does not sell is not pushed")."""
    outbox = (
        "SELECT o.attempts, o.next_attempt_at FROM inventory_push_outbox o JOIN shops s ON s.id = o.shop_id "
        "JOIN products p ON p.shop_id = o.shop_id AND p.tiktok_product_id = o.tiktok_product_id "
        "WHERE s.tiktok_shop_id = :shop AND o.dirty_version > o.pushed_version AND p.status = 'ACTIVATE'"
    )

    def due(row: dict[str, Any]) -> bool:
        at = row["next_attempt_at"]
        at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))  # (SQLite: text)
        return row["attempts"] > 0 or at.replace(tzinfo=at.tzinfo or UTC) <= datetime.now(UTC)

    wait_until(lambda: not any(due(row) for row in app.rows(outbox, shop=tiktok_shop_id)), what="the shop's pushes")


def test_a_sale_held_back_on_a_sku_an_import_makes_ambiguous_stays_off_the_other_shop(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given one merchant's two shops pooled by seller SKU (no webhooks: TikTok's sales reach Shopbridge by a sync),
    # a shared item counted at 30 and pushed to both
    app = app_factory(products=12, orders=0)
    first, second = two_pooled_shops(app)
    item, sku_of = shared_sellable_item(app, first, second, sellable_at=first)
    set_on_hand(app, item["id"], 30)
    for shop in (first, second):
        wait_until(lambda s=shop: stock_of(app, s["tiktokShopId"], sku_of[s["id"]]) == 30, what="the first push")

    # and a buyer's order of 1 unit on the first shop after the link, not ingested (no webhook); a count of
    # 31 pushes both shops: the first shop's fence finds TikTok 1 unit short and holds it back, which the second
    # shop's push subtracts too
    sale = app.sandbox.control("POST", f"/shops/{first['tiktokShopId']}/sales", {"sku_id": sku_of[first["id"]]})
    sold_by = int(time.time())  # the order's create_time is this second at the latest
    set_on_hand(app, item["id"], 31)
    wait_until(
        lambda: stock_of(app, first["tiktokShopId"], sku_of[first["id"]]) == 30, what="the first shop's fenced push"
    )

    def link_of(shop: dict[str, Any]) -> dict[str, Any]:
        (now,) = [i for i in pooled_items(app, item["sku"]) if i["id"] == item["id"]]
        return next(ln for ln in now["links"] if ln["shop"]["id"] == shop["id"])

    wait_until(lambda: link_of(first)["heldBackQuantity"] == 1, what="the hold's record")
    app.graphql(UPDATE, {"input": {"shopId": second["id"], "sharePercent": 100}}, "m1")  # (pushed after the hold)
    _pushed(app, second["tiktokShopId"])
    assert stock_of(app, second["tiktokShopId"], sku_of[second["id"]]) == 30

    # when the seller gives that seller SKU to a new SKU of the first shop in Seller Center, and a products sync makes
    # both AMBIGUOUS, the link remembering the item
    twin = {"title": "Twin", "skus": [{"seller_sku": item["sku"], "quantity": 5}]}
    app.sandbox.control("POST", f"/shops/{first['tiktokShopId']}/products", twin)
    _sync(app, first["id"], "PRODUCTS")
    state = (
        "SELECT l.state, l.held_quantity, i.sku AS remembered FROM sku_links l "
        "LEFT JOIN inventory_items i ON i.id = l.unlinked_item_id WHERE l.tiktok_sku_id = :s"
    )
    assert app.rows(state, s=sku_of[first["id"]]) == [
        {"state": "AMBIGUOUS", "held_quantity": 1, "remembered": item["sku"]}
    ]

    # then a push of the second shop before the sale is ingested still subtracts the hold: 30, not 31 (before, the
    # hold stopped counting once the link was not LINKED, and that unit went back on sale there for as long as the
    # sale took to reach Shopbridge: sold twice)
    app.graphql(UPDATE, {"input": {"shopId": second["id"], "sharePercent": 100}}, "m1")
    _pushed(app, second["tiktokShopId"])
    assert stock_of(app, second["tiktokShopId"], sku_of[second["id"]]) == 30

    # when an orders sync then ingests the sale
    # (an orders sync reads orders created before the second it is queued in)
    wait_until(lambda: time.time() >= sold_by + 1, what="the second after the sale")
    _sync(app, first["id"], "ORDERS")

    # then the sale, placed on the item's SKU and shipped from its shelf, is reserved there, as an order reserved
    # before the ambiguity stays: the item shows 31 on hand, 1 reserved, and the second shop is pushed 30. (Before, it
    # waited for a link back that may never come, and the second shop was pushed 31: that unit sold twice.)
    (after,) = [i for i in pooled_items(app, item["sku"]) if i["id"] == item["id"]]
    assert (after["onHand"], after["reserved"], after["available"]) == (31, 1, 30)
    stored = "SELECT state FROM order_line_stock WHERE tiktok_order_id = :o"
    assert [r["state"] for r in app.rows(stored, o=sale["order_id"])] == ["RESERVED"]
    app.graphql(UPDATE, {"input": {"shopId": second["id"], "sharePercent": 100}}, "m1")
    _pushed(app, second["tiktokShopId"])
    assert stock_of(app, second["tiktokShopId"], sku_of[second["id"]]) == 30
