"""inventoryItemDelete while a SKU moved off the item by hand is not pushed under its new item yet (review63 F1): the
unseen sale of the old item has no recorded hold (HAT's push in flight, refused by TikTok, or push off), and a
delete then would leave the sale's lines HISTORICAL, deducted from nothing. Refused ITEM_IN_USE, saying what lets it
go; the orders sync that follows deducts the sale from CAP's shelf."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.e2e.fence_given import SYNC_START, pushed_sku, second_after
from tests.e2e.test_inventory_fence_carried_hold import _sell
from tests.e2e.test_inventory_item_delete import DELETE
from tests.e2e.test_inventory_pool import LINK, UNLINK
from tests.e2e.test_inventory_push import pooled_items, set_on_hand
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

PUSH_OFF = """mutation($id: ID!) { shopInventoryPolicyUpdate(input: {shopId: $id, pushEnabled: false}) {
  userErrors { code } } }"""


@pytest.mark.parametrize("push", ["in-flight", "refused-global-stock", "off", "off-then-unlinked"])
def test_an_item_whose_moved_sku_is_not_pushed_under_its_new_item_yet_is_in_use(
    app_factory: Callable[..., ShopbridgeServer], push: str
) -> None:
    """Given Maple's CAP pushed 20 and HAT, 3 of CAP sold at TikTok unseen, and the SKU linked by hand to HAT while
    HAT's push waits at Update Inventory (`in-flight`), is refused by TikTok for good (12052141, a SKU edited from a
    global product) or is off: the delete of CAP is refused ITEM_IN_USE, and once read the 3 lines are DEDUCTED.
    `off-then-unlinked`: push off and the SKU then unlinked (the documented way to free an item for delete): before,
    the guard counted only SKUs naming another item, so CAP's delete was accepted and the 3 lines, read later, were
    HISTORICAL, deducted from nothing (review64 F7)."""
    app = app_factory(products=0, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products", {"title": "HAT product", "skus": [{"seller_sku": "HAT", "quantity": 5}]}
    )
    cap = pushed_sku(app, "CAP", 20)
    (hat,) = pooled_items(app, "HAT")
    set_on_hand(app, hat["id"], 5)
    app.wait_for_idle_sync()
    if push.startswith("off"):
        assert app.graphql(PUSH_OFF, {"id": cap.shop["id"]}, "m1")["shopInventoryPolicyUpdate"]["userErrors"] == []
    elif push == "in-flight":
        app.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    else:
        app.sandbox.control("POST", f"/skus/{cap.tiktok_sku}/global-stock", {"global": True})
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    second_after(time.time())  # (the orders read finds sales after its window's start)
    _sell(app, cap, 3)
    second_after(time.time())  # (and before its end, at whole seconds)
    # when the SKU is linked to HAT and CAP deleted while HAT's push has recorded nothing
    linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": hat["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    if push == "in-flight":
        wait_until(lambda: app.sandbox.control("GET", "/inventory-updates")["waiting"] >= 1, what="HAT's push")
    else:
        app.wait_for_idle_sync()
    if push == "off-then-unlinked":
        assert app.graphql(UNLINK, {"input": {"skuId": cap.sku_gid}}, "m1")["skuUnlink"]["userErrors"] == []
        app.wait_for_idle_sync()
    deleted = app.graphql(DELETE, {"id": cap.item["id"]}, "m1")["inventoryItemDelete"]
    # then it is refused, saying what lets it go
    assert [e["code"] for e in deleted["userErrors"]] == ["ITEM_IN_USE"]
    assert "pushed under its new item" in deleted["userErrors"][0]["message"]
    assert "an orders sync" in deleted["userErrors"][0]["message"]
    # and once the sale is read, its lines deduct from CAP's shelf
    app.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    app.wait_for_idle_sync()
    kinds = {"shopId": cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert [row["state"] for row in app.rows("SELECT state FROM order_line_stock")] == ["DEDUCTED"] * 3
