"""review64: a split hold (3 CAP's, 2 HAT's) whose CAP order is cancelled at TikTok before Shopbridge reads it: the
units go back to TikTok's available, the next push holds 2 (HAT's), carried (its start kept), and `_items_of_push`'s
carried branch keeps the part only while it is below the hold (`kept_part`): 3 < 2 fails, the part is dropped and
the 2 units are named all CAP's. HAT's 2 unseen units are back on sale on Desert (oversell), CAP's shelf loses 2.

Given as tests/e2e/test_inventory_fence_split_hold._split, but CAP's sale of 3 left unshipped (so it can be
cancelled)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.e2e.fence_given import SYNC_START, pushed_sku, second_after
from tests.e2e.test_inventory_fence_carried_hold import _link
from tests.e2e.test_inventory_fence_split_hold import SKUS, _adjust, _desert_then_deleted, _Split
from tests.e2e.test_inventory_fence_split_restart import _hold
from tests.e2e.test_inventory_hold_unlinked import _pushed
from tests.e2e.test_inventory_pool import LINK
from tests.e2e.test_inventory_push import pooled_items, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def _split_cap_open(app: ShopbridgeServer) -> tuple[_Split, str]:
    tiktok_id = app.tiktok_shop("us-local")["id"]
    for seller_sku, quantity in SKUS[1:]:
        app.sandbox.control(
            "POST", f"/shops/{tiktok_id}/products",
            {"title": f"{seller_sku} product", "skus": [{"seller_sku": seller_sku, "quantity": quantity}]},
        )  # fmt: skip
    cap = pushed_sku(app, "R62-CAP", 20)
    items = {seller_sku: pooled_items(app, seller_sku)[0] for seller_sku, _ in SKUS}
    for seller_sku, quantity in SKUS:
        set_on_hand(app, items[seller_sku]["id"], quantity)
    second = app.tiktok_shop("us-local-2")["id"]
    on_second = {
        seller_sku: app.sandbox.control(
            "POST", f"/shops/{second}/products",
            {"title": f"{seller_sku} product", "skus": [{"seller_sku": seller_sku, "quantity": quantity}]},
        )["sku_ids"][0]
        for seller_sku, quantity in SKUS
    }  # fmt: skip
    app.connect_shop("m1", "us-local-2", "US", "Desert")
    app.wait_for_idle_sync()
    _pushed(app, second)
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    second_after(time.time())
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": cap.tiktok_sku, "quantity": 3})
    cap_order = str(sale.get("order_id") or sale["id"])  # not shipped
    second_after(time.time())
    first = _link(app, cap)["pushed_at"]
    linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": items["R62-HAT"]["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, cap)["pushed_at"] != first, what="HAT's push")
    app.wait_for_idle_sync()
    assert stock_of(app, tiktok_id, cap.tiktok_sku) == 47
    given = _Split(cap, items, second, on_second, window)
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": cap.tiktok_sku, "quantity": 2})
    given.hat_order = str(sale.get("order_id") or sale["id"])
    app.sandbox.control("POST", f"/orders/{given.hat_order}/status", {"status": "IN_TRANSIT"})
    _adjust(app, items["R62-HAT"], 1)
    wait_until(lambda: _link(app, cap)["pushed_quantity"] == 46, what="HAT's push of 46 recorded")
    app.wait_for_idle_sync()
    return given, cap_order


@pytest.mark.parametrize("cancel", ["unread", "read"])
def test_a_split_hold_whose_older_part_is_cancelled_keeps_the_newer_part_with_its_item(
    app_factory: Callable[..., ShopbridgeServer], cancel: str
) -> None:
    """`cancel` "read": the cancelled order is read before the push (an orders sync, HAT's order unreadable), as a
    webhook brings it."""
    app = app_factory(products=6, orders=0)
    given, cap_order = _split_cap_open(app)
    print("split:", _hold(app, given.cap.tiktok_sku))
    # when CAP's buyer cancels (unread): TikTok gives the 3 back, and HAT's next push holds HAT's 2 only
    app.sandbox.control("POST", f"/orders/{cap_order}/status", {"status": "CANCELLED"})
    if cancel == "read":
        app.sandbox.control("POST", "/faults/records", {"unreadable": [given.hat_order]})
        kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": given.window}
        assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
        app.wait_for_idle_sync()
        print("after the read:", _hold(app, given.cap.tiktok_sku))
    before = _link(app, given.cap)["pushed_at"]
    _adjust(app, given.items["R62-HAT"], 1)
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="HAT's next push")
    app.wait_for_idle_sync()
    print("after the cancel:", _hold(app, given.cap.tiktok_sku))
    # then the 2 units held are HAT's: Desert and the delete show CAP 20 (nothing sold), HAT 52 - 2
    assert _desert_then_deleted(app, given) == ((20, 50), (20, 50, 30))
