"""review67 R6 (pre-existing, main and both branches): a cancellation TikTok makes while a push's write is in flight
is overwritten by the write (an absolute set computed without it) like flake66's sale; when the ledger then releases
the order, the release counts as "released since the push" (`ingested_since_push` -1), which the fence reads as a
unit sold unseen: the next push holds 1 back for nothing (TikTok one below the shelf to the horizon) and a delete of
the shop within it takes that unit off the shelf for good.

Given: one SKU (R67-Z) 20/20 pushed; an order of 1 read (reserved: TikTok 19, pushed 19). A delivery of 1 makes a
push (pool 20, TikTok 19, holds nothing, writes 20) whose write waits at TikTok; the buyer cancels meanwhile (TikTok
20); the write lands (20); the cancel is read. Truth: on hand 21, nothing reserved, nothing unseen: TikTok 21, and 21
after the shop is deleted."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from tests.e2e.fence_given import SYNC_START, pushed_sku, second_after
from tests.e2e.test_inventory_create_from_sku import DELETE_SHOP
from tests.e2e.test_inventory_fence_carried_hold import _link, _on_hand
from tests.e2e.test_inventory_fence_split_hold import _adjust
from tests.e2e.test_inventory_push import stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

UPDATE_INVENTORY = "/product/202309/products/{product_id}/inventory/update"


def _read_orders(app: ShopbridgeServer, shop_id: str, since: str) -> None:
    second_after(time.time())
    kinds = {"shopId": shop_id, "kinds": ["ORDERS"], "ordersCreatedSince": since}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()


def test_a_cancellation_the_write_overwrites_holds_nothing_back(app_factory: Callable[..., ShopbridgeServer]) -> None:
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    sku = pushed_sku(app, "R67-Z", 20)
    app.wait_for_settled()
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    sale = app.sandbox.control("POST", f"/shops/{sku.tiktok_id}/sales", {"sku_id": sku.tiktok_sku, "quantity": 1})
    order_id = sale.get("order_id") or sale["id"]
    _read_orders(app, sku.shop["id"], window)
    app.wait_for_settled()
    assert stock_of(app, sku.tiktok_id, sku.tiktok_sku) == 19
    # when a delivery of 1 makes a push whose write waits at TikTok, and the buyer cancels meanwhile
    before = _link(app, sku)["pushed_at"]
    app.sandbox.hold(UPDATE_INVENTORY)
    _adjust(app, sku.item, 1)
    app.sandbox.wait_held()
    app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "CANCELLED"})
    app.sandbox.hold()
    wait_until(lambda: _link(app, sku)["pushed_at"] != before, what="the held push")
    app.wait_for_settled()
    assert stock_of(app, sku.tiktok_id, sku.tiktok_sku) == 20  # the cancel's unit overwritten
    # and the cancellation is read
    _read_orders(app, sku.shop["id"], window)
    app.wait_for_settled()
    # then TikTok shows the shelf, and the delete leaves it as it is
    shown = stock_of(app, sku.tiktok_id, sku.tiktok_sku)
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": sku.shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    assert (shown, _on_hand(app, "R67-Z")) == (21, 21)
