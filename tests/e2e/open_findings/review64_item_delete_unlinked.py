"""review64: itemdel63's guard (`removal._unpushed_for`) counts only links naming another item
(`inventory_item_id IS NOT NULL`): the SKU moved off CAP to HAT (HAT's push off, nothing recorded), then unlinked, and
CAP's delete is accepted with CAP's unseen sale unread; read later, its 3 lines are HISTORICAL, deducted from nothing
(review63 F1's outcome through one more step of the documented way to delete an item: unlink its SKUs first).
pool65 fixed the moved-then-unlinked path; the plain unlink (no move, push off) stays a product call: refusing it
would refuse every unlink-then-delete for the hold's horizon, the documented way to free an item."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.e2e.fence_given import SYNC_START, pushed_sku, second_after
from tests.e2e.test_inventory_fence_carried_hold import _sell
from tests.e2e.test_inventory_item_delete import DELETE
from tests.e2e.test_inventory_item_delete_unpushed import PUSH_OFF
from tests.e2e.test_inventory_pool import LINK, UNLINK
from tests.e2e.test_inventory_push import pooled_items, set_on_hand
from tests.fixtures.app import ShopbridgeServer


@pytest.mark.parametrize("path", ["unlinked"])  # ("moved-then-unlinked": fixed, test_inventory_item_delete_unpushed)
def test_an_item_whose_moved_sku_was_unlinked_before_any_push_under_its_new_item_is_in_use(
    app_factory: Callable[..., ShopbridgeServer], path: str
) -> None:
    """`unlinked` (suspicion S3): the SKU unlinked straight from CAP, no move."""
    app = app_factory(products=0, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products", {"title": "HAT product", "skus": [{"seller_sku": "HAT", "quantity": 5}]}
    )
    cap = pushed_sku(app, "CAP", 20)
    (hat,) = pooled_items(app, "HAT")
    set_on_hand(app, hat["id"], 5)
    app.wait_for_idle_sync()
    assert app.graphql(PUSH_OFF, {"id": cap.shop["id"]}, "m1")["shopInventoryPolicyUpdate"]["userErrors"] == []
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    second_after(time.time())
    _sell(app, cap, 3)
    second_after(time.time())
    # when the SKU is linked to HAT (no push under HAT: push off), then unlinked, and CAP deleted
    if path == "moved-then-unlinked":
        linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": hat["id"]}}, "m1")
        assert linked["skuLink"]["userErrors"] == []
        app.wait_for_idle_sync()
    assert app.graphql(UNLINK, {"input": {"skuId": cap.sku_gid}}, "m1")["skuUnlink"]["userErrors"] == []
    app.wait_for_idle_sync()
    deleted = app.graphql(DELETE, {"id": cap.item["id"]}, "m1")["inventoryItemDelete"]
    kinds = {"shopId": cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    print("lines:", [row["state"] for row in app.rows("SELECT state FROM order_line_stock")])
    # then it is refused (as without the unlink), and the sale, once read, deducts from CAP's shelf
    assert [e["code"] for e in deleted["userErrors"]] == ["ITEM_IN_USE"]
    assert [row["state"] for row in app.rows("SELECT state FROM order_line_stock")] == ["DEDUCTED"] * 3
