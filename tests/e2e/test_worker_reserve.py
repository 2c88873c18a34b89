"""Live sync goes on while imports fill a worker: `SHOPBRIDGE_WORKER_RESERVED_THREADS` keeps threads from imports.

An import holds its Dramatiq thread for as long as it runs (hours for a big shop). Without the cap, a merchant's
imports on as many threads as the pool has stalled every webhook, push and registration until one ended.
"""

from __future__ import annotations

from typing import Any

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

PRODUCT_SEARCH = "/product/202309/products/search"
ORDER_SEARCH = "/order/202309/orders/search"
# How long the live work may take while the imports are held: far below the hold, which lasts until the test ends
# it. Without the reserved thread the registration never happens while the hold lasts.
LIVE_WITHIN_SECONDS = 60.0
ORDERS = """query($id: ID!) { shop(id: $id) { orders(first: 100) { edges { node { tiktokOrderId status } } } } }"""
WEBHOOKS = "query($id: ID!) { shop(id: $id) { webhooks { registeredAt registrationError } } }"


def test_a_second_shops_sale_arrives_by_webhook_while_the_first_shops_imports_hold_the_import_slot(
    app_factory,
) -> None:
    # given the embedded pool with 2 threads, one kept from imports (the default), and TikTok holding every search
    # (the imports wait at TikTok until the test lets them go; the client waits as long)
    app = app_factory(
        webhooks=True, embedded_worker_threads=2, products=20, orders=40, tiktok_timeout_seconds=DEADLINE_SECONDS
    )
    app.sandbox.hold(PRODUCT_SEARCH, ORDER_SEARCH)
    try:
        # and a first shop whose imports run: one is held at TikTok
        first = app.connect_shop("m1", "us-local", "US")
        app.sandbox.wait_held(1)
        # when a second shop connects, and a buyer orders from it at TikTok once its webhooks are registered
        second = app.connect_shop("m1", "uk-local", "UK")
        registered = wait_until(
            lambda: (w := _webhooks(app, second))["registeredAt"] and w,
            what="the second shop's webhook registration",
            timeout=LIVE_WITHIN_SECONDS,
        )
        assert registered["registrationError"] is None
        sale = app.sandbox.control(
            "POST", f"/shops/{second['tiktokShopId']}/sales", {"sku_id": _sku_in_stock(app, second), "quantity": 1}
        )
        # then the sale reaches GraphQL through its webhook while the imports are still held
        order = wait_until(
            lambda: _order(app, second, sale["order_id"]), what="the sold order", timeout=LIVE_WITHIN_SECONDS
        )
        assert order["status"] in ("UNPAID", "ON_HOLD", "AWAITING_SHIPMENT")
        # and one import runs, held at TikTok, while the others wait QUEUED without having begun an attempt
        tasks = app.rows(
            "SELECT s.tiktok_shop_id, t.kind, t.status, t.attempts FROM sync_tasks t JOIN shops s ON s.id = t.shop_id"
        )
        assert [(t["status"], t["attempts"]) for t in tasks if t["status"] == "RUNNING"] == [("RUNNING", 1)], tasks
        waiting = [t for t in tasks if t["status"] != "RUNNING"]
        assert len(tasks) == 4 and {(t["status"], t["attempts"]) for t in waiting} == {("QUEUED", 0)}, tasks
        assert next(t for t in tasks if t["status"] == "RUNNING")["tiktok_shop_id"] == first["tiktokShopId"], tasks
    finally:
        app.sandbox.hold()  # TikTok answers again
    # and once TikTok answers, every import ends, each in one attempt: waiting for a slot cost none
    app.wait_for_idle_sync()
    tasks = app.rows("SELECT status, attempts FROM sync_tasks")
    assert {(t["status"], t["attempts"]) for t in tasks} == {("SUCCEEDED", 1)}, tasks


def _webhooks(app: ShopbridgeServer, shop: dict[str, Any]) -> dict[str, Any]:
    return dict(app.graphql(WEBHOOKS, {"id": shop["id"]}, "m1")["shop"]["webhooks"])


def _order(app: ShopbridgeServer, shop: dict[str, Any], order_id: str) -> dict[str, Any] | None:
    edges = app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["orders"]["edges"]
    return next((e["node"] for e in edges if e["node"]["tiktokOrderId"] == order_id), None)


def _sku_in_stock(app: ShopbridgeServer, shop: dict[str, Any]) -> str:
    """A SKU in stock at TikTok, of a product buyers can order."""
    products = app.sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/products")["products"]
    return str(
        next(
            s["id"]
            for p in products
            if p["status"] == "ACTIVATE"
            for s in p["skus"]
            if sum(i["quantity"] for i in s.get("inventory", [])) > 0
        )
    )
