"""Orders made before the import's stock read that seeds the pool and cancelled around it, end to end over real HTTP
(the sandbox's market, a held order search, a refused product search) on SQLite and PostgreSQL: the pool never counts
a cancelled order's units twice (`domain.inventory.ledger.released_before_read`), and adds none it cannot date after
the read."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e.test_inventory_push import pooled_items, sellable_skus, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

ORDER_SEARCH = "/order/202309/orders/search"


def test_an_order_first_seen_cancelled_after_the_seed_read_adds_nothing_it_cannot_date(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a shop with no orders yet, and a buyer's order of 2 units of one of its SKUs (TikTok commits them: its
    # available falls by 2) made before Shopbridge connects
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=60)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    sku_id, sku = next((i, s) for i, s in sellable_skus(app, tiktok_id).items() if stock_of(app, tiktok_id, i) >= 2)
    on_shelf = stock_of(app, tiktok_id, sku_id)
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku_id, "quantity": 2})
    made_by = int(time.time())  # the order's create_time is this second at the latest
    assert stock_of(app, tiktok_id, sku_id) == on_shelf - 2
    # (TikTok's create_time is whole seconds: the stock read must come in a later second to leave the order out)
    wait_until(lambda: time.time() >= made_by + 1, what="the second after the sale")

    # when the shop connects with the order search held at TikTok: the products import reads the stock (the order's
    # units left out) and seeds the item, the orders import waits
    app.sandbox.hold(ORDER_SEARCH)
    app.connect_shop("m1", "us-local", "US", "Maple")
    seeded = wait_until(
        lambda: [i for i in pooled_items(app, sku["seller_sku"].strip()) if i["links"]], what="the seeded item"
    )
    (item,) = [i for i in seeded if i["sku"] == sku["seller_sku"].strip()]
    assert (item["onHand"], item["reserved"]) == (on_shelf - 2, 0)
    # and the buyer cancels after that read (TikTok gives the 2 units back), then the orders import goes on and
    # first sees the order CANCELLED
    app.sandbox.control("POST", f"/orders/{sale['order_id']}/status", {"status": "CANCELLED"})
    assert stock_of(app, tiktok_id, sku_id) == on_shelf
    app.sandbox.hold()
    app.wait_for_idle_sync()

    # then the order is history and adds nothing: TikTok's order says when it was last updated, not when it was
    # cancelled (an update_time after the read proves nothing: a cancellation before it, TikTok's read already
    # holding the units, updated since, looks the same), so the pool stays 2 units short (undersold, until the
    # merchant's count) rather than risk counting them twice (oversold on every shop)
    stored = "SELECT state FROM order_line_stock WHERE tiktok_order_id = :o"
    assert [r["state"] for r in app.rows(stored, o=sale["order_id"])] == ["HISTORICAL", "HISTORICAL"]
    (after,) = [i for i in pooled_items(app, item["sku"]) if i["id"] == item["id"]]
    assert (after["onHand"], after["reserved"], after["available"]) == (on_shelf - 2, 0, on_shelf - 2)


PRODUCT_SEARCH = "/product/202309/products/search"
SYNC_START = """mutation($input: SyncStartInput!) { syncStart(input: $input) { userErrors { code } } }"""


def _sync(app: ShopbridgeServer, shop_id: str, kind: str) -> None:
    started = app.graphql(SYNC_START, {"input": {"shopId": shop_id, "kinds": [kind]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()


def test_an_order_seen_open_and_cancelled_before_the_seed_read_adds_no_unit_to_the_seed(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a shop with no orders yet, and a buyer's order of 2 units of one of its SKUs made before Shopbridge
    # connects; the shop connects while TikTok refuses its product search: the orders import stores the order open
    # (its SKU not linked yet: it waits), the products import fails
    app = app_factory(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    sku_id, sku = next((i, s) for i, s in sellable_skus(app, tiktok_id).items() if stock_of(app, tiktok_id, i) >= 2)
    on_shelf = stock_of(app, tiktok_id, sku_id)
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku_id, "quantity": 2})
    made_by = int(time.time())  # (the orders import's window ends, strictly, at the second it is queued)
    wait_until(lambda: time.time() >= made_by + 1, what="the second after the sale")
    app.sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["missing_scope"], "paths": [PRODUCT_SEARCH]})
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    waiting = "SELECT count(*) AS n FROM order_line_stock WHERE tiktok_order_id = :o AND state = 'PENDING_LINK'"
    assert app.rows(waiting, o=sale["order_id"])[0]["n"] == 2
    # and the buyer cancels (TikTok gives the 2 units back), unseen (no webhook); a second later, a products sync
    # reads the stock, which holds the 2 units again, and seeds the item, counting the stored open order in
    app.sandbox.control("POST", f"/orders/{sale['order_id']}/status", {"status": "CANCELLED"})
    cancelled_by = int(time.time())  # the order's update_time is this second at the latest
    assert stock_of(app, tiktok_id, sku_id) == on_shelf
    wait_until(lambda: time.time() >= cancelled_by + 1, what="the second after the cancellation")
    app.sandbox.control("POST", "/faults", {"rate": 0.0, "kinds": []})
    _sync(app, shop["id"], "PRODUCTS")
    seller_sku = sku["seller_sku"].strip()
    (item,) = [i for i in pooled_items(app, seller_sku) if i["sku"] == seller_sku]
    assert (item["onHand"], item["reserved"], item["available"]) == (on_shelf + 2, 2, on_shelf)

    # when Shopbridge learns of the cancellation (an orders sync: its webhook was lost)
    _sync(app, shop["id"], "ORDERS")

    # then the pool holds the 2 units once: what TikTok shows, nothing reserved (released as they were, 2 units
    # more, which the shelf does not have, would be pushed to every shop)
    (after,) = [i for i in pooled_items(app, seller_sku) if i["id"] == item["id"]]
    assert (after["onHand"], after["reserved"], after["available"]) == (on_shelf, 0, on_shelf)
    # and the push's fence takes the release for no unit TikTok gained since its baseline (TikTok had them back
    # before the read): when the merchant counts 10 more, the push (fenced: it writes) holds nothing back
    set_on_hand(app, item["id"], on_shelf + 10)
    wait_until(lambda: stock_of(app, tiktok_id, sku_id) != on_shelf, what="the push of the count")
    (pushed,) = [i for i in pooled_items(app, seller_sku) if i["id"] == item["id"]]
    assert [(ln["heldBackQuantity"], ln["pushErrorCode"]) for ln in pushed["links"]] == [(0, None)]
    assert stock_of(app, tiktok_id, sku_id) == on_shelf + 10
