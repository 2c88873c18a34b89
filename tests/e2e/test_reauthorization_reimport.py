"""A re-authorization runs again the imports that TikTok's withdrawn authorization failed (tryout69 F1).

TikTok holds every search, so the imports are mid-way when the seller removes the app; they go on only once the
sandbox refuses the shop's tokens. Waits are on observable states (rows, held calls), never on sleeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.e2e.test_webhook_edges import reauthorize
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import DEADLINE_SECONDS

PRODUCT_SEARCH = "/product/202309/products/search"
ORDER_SEARCH = "/order/202309/orders/search"
SHOP = """query($id: ID!) { shop(id: $id) { status productCount orderCount attention { code }
  syncTasks(first: 10) { edges { node { kind trigger status errorCode ordersCreatedSince ordersCreatedUntil
  createdAt } } } } }"""


def test_imports_a_revocation_failed_run_again_after_the_reauthorization_and_bring_the_whole_catalog(
    app_factory,
) -> None:
    """Rule (README "Re-authorizing a shop"; `domain.sync.rerun_after_reauthorization`): an import that FAILED with
    REAUTHORIZATION_REQUIRED is queued again by the re-authorization (once, however many times the shop is
    re-authorized), the orders from the failed task's start; once it ran, Shopbridge holds every product and every
    order of the 30-day window, as right after a connection."""
    # given a shop whose imports wait at TikTok (every search held), 5 records a page, so that each has pages to go
    app = app_factory(
        products=30, orders=80, sync_page_size=5, sync_order_slices=1, tiktok_timeout_seconds=DEADLINE_SECONDS
    )
    app.sandbox.hold(PRODUCT_SEARCH, ORDER_SEARCH)
    try:
        shop = app.connect_shop("m1", "us-local", "US")
        app.sandbox.wait_held(1)
        # when the seller removes the app at TikTok mid-import, and TikTok answers again
        app.sandbox.control("POST", "/sellers/us-local/revoke")
    finally:
        app.sandbox.hold()
    app.wait_for_idle_sync()
    # then both imports failed for the lost authorization, and the shop is REVOKED with part of its catalog
    failed = _shop(app, shop)
    assert failed["status"] == "REVOKED"
    assert sorted((t["kind"], t["status"], t["errorCode"]) for t in _tasks(failed)) == [
        ("ORDERS", "FAILED", "REAUTHORIZATION_REQUIRED"),
        ("PRODUCTS", "FAILED", "REAUTHORIZATION_REQUIRED"),
    ]

    # when the merchant re-authorizes the shop, and re-authorizes it a second time at once
    reauthorize(app, shop)
    reauthorize(app, shop)
    app.wait_for_idle_sync()

    # then each import ran again once, queued by the re-authorization and said to be a re-run (review69 R3), and
    # succeeded; ORDERS over the failed task's window (the sandbox creates no order after the connection)
    after = _shop(app, shop)
    tasks = _tasks(after)
    again = sorted((t["kind"], t["trigger"], t["status"]) for t in tasks[2:])
    assert again == [("ORDERS", "REAUTHORIZATION", "SUCCEEDED"), ("PRODUCTS", "REAUTHORIZATION", "SUCCEEDED")], tasks
    since = {t["ordersCreatedSince"] for t in tasks if t["kind"] == "ORDERS"}
    assert len(since) == 1, tasks
    # and each ORDERS task's window ends when it was queued, the re-run's too (the failed task's start to its own
    # queueing, review70 F1), in UTC; a PRODUCTS task has no window (rerun71: ordersCreatedUntil on the API)
    windows = {t["trigger"]: (t["ordersCreatedSince"], t["ordersCreatedUntil"]) for t in tasks if t["kind"] == "ORDERS"}
    created = {t["trigger"]: t["createdAt"] for t in tasks if t["kind"] == "ORDERS"}
    assert [_utc(windows[trigger][1]) for trigger in ("AUTHORIZATION", "REAUTHORIZATION")] == [
        _utc(created["AUTHORIZATION"]), _utc(created["REAUTHORIZATION"])
    ], tasks  # fmt: skip
    assert {(t["ordersCreatedSince"], t["ordersCreatedUntil"]) for t in tasks if t["kind"] == "PRODUCTS"} == {
        (None, None)
    }, tasks
    # and the shop holds every product and every order TikTok created in the re-run's window, with nothing left to
    # tell
    tiktok_id = shop["tiktokShopId"]
    start, end = (_utc(at).timestamp() for at in windows["REAUTHORIZATION"])
    products = app.sandbox.control("GET", f"/shops/{tiktok_id}/products")["products"]
    orders = [
        o for o in app.sandbox.control("GET", f"/shops/{tiktok_id}/orders")["orders"] if start <= o["create_time"] < end
    ]
    assert (after["status"], after["productCount"], after["orderCount"]) == ("ACTIVE", len(products), len(orders))
    assert after["attention"] == []
    assert failed["productCount"] < len(products) and failed["orderCount"] < len(orders)  # what the failure left


def _utc(at: str) -> datetime:
    """An ISO 8601 time the API answered, which must say it is UTC."""
    parsed = datetime.fromisoformat(at)
    assert parsed.utcoffset() == timedelta(0), at
    return parsed


def _shop(app: ShopbridgeServer, shop: dict[str, Any]) -> dict[str, Any]:
    return dict(app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"])


def _tasks(shop: dict[str, Any]) -> list[dict[str, Any]]:
    """The shop's tasks, oldest first."""
    return sorted((edge["node"] for edge in shop["syncTasks"]["edges"]), key=lambda t: (t["createdAt"], t["kind"]))
