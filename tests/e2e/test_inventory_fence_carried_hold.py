"""A hold that a push carries on and grows keeps each part with the item its sales were made under (review61 F2): CAP
pushed 20, a sale of 3 under CAP unseen, the SKU linked by hand to HAT (CAP's record kept), whose push holds CAP's 3
(`held_item_id` CAP); 2 more sold under HAT; HAT's next push carries CAP's 3 and holds HAT's 2 anew (the hold
restarts: `domain.inventory_push.hold_started`). The carried 3 stay CAP's, the 2 are HAT's
(`sku_links.held_item_quantity`, migration 0059): linked back to CAP, CAP's push holds CAP's 3 (before: the whole
hold was relabelled HAT, the link back kept nothing on CAP and CAP's push wrote 20 where its shelf had 17), and a
delete of the shop within the horizon takes each sale off its own item, and the item's other shops subtract each part
from its own item (`inventory_push_links._held_elsewhere`)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.fence_given import SYNC_START, PushedSku, pushed_sku, second_after
from tests.e2e.test_inventory_create_from_sku import DELETE_SHOP
from tests.e2e.test_inventory_hold_unlinked import _pushed
from tests.e2e.test_inventory_pool import LINK
from tests.e2e.test_inventory_push import ADJUST, pooled_items, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def _link(app: ShopbridgeServer, sku: PushedSku) -> dict[str, Any]:
    (row,) = app.rows(
        "SELECT pushed_at, pushed_quantity, held_quantity, held_item_id FROM sku_links WHERE tiktok_sku_id = :s",
        s=sku.tiktok_sku,
    )
    return dict(row)


def _on_hand(app: ShopbridgeServer, seller_sku: str) -> int:
    (item,) = pooled_items(app, seller_sku)
    return int(item["onHand"])


def _row_id(global_id: str) -> str:
    """The row id of a Relay global id (`InventoryItem:<id>`, base64)."""
    return base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode().split(":", 1)[1]


def _sell(app: ShopbridgeServer, sku: PushedSku, units: int) -> None:
    """A sale of `units` of `sku` at TikTok, shipped (IN_TRANSIT), unseen."""
    sale = app.sandbox.control("POST", f"/shops/{sku.tiktok_id}/sales", {"sku_id": sku.tiktok_sku, "quantity": units})
    app.sandbox.control("POST", f"/orders/{sale.get('order_id') or sale['id']}/status", {"status": "IN_TRANSIT"})


@pytest.mark.parametrize("then", ["linked-back", "deleted"])
@pytest.mark.parametrize("hat_sale", ["unseen", "seen"])
def test_a_carried_hold_grown_by_a_sale_under_the_linked_item_keeps_each_sale_on_its_item(
    app_factory: Callable[..., ShopbridgeServer], hat_sale: str, then: str
) -> None:
    """`hat_sale` "seen": the sale of 2 under HAT is ingested (an orders sync whose window starts after CAP's sale,
    as a webhook would bring it: HAT 48 + 1 = 49 on hand); HAT's push then holds 3, all CAP's, restarted all the
    same (TikTok sold since its last push). `then` "deleted": the shop is deleted right after HAT's second push,
    the hold still split (CAP's 3 off CAP, HAT's 2 off HAT: `ledger._sold_unseen` reads the split)."""
    app = app_factory(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "R61-HAT product", "skus": [{"seller_sku": "R61-HAT", "quantity": 50}]},
    )  # fmt: skip
    cap = pushed_sku(app, "R61-CAP", 20)
    (hat,) = pooled_items(app, "R61-HAT")
    set_on_hand(app, hat["id"], 50)  # (counted: both items stay across the delete)
    set_on_hand(app, cap.item["id"], 20)
    # given a sale of 3 under CAP, shipped, unseen (TikTok 17)
    _sell(app, cap, 3)
    second_after(time.time())
    # and the SKU linked to HAT by mistake, whose push holds CAP's sale back: 47
    linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": hat["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    # (HAT's record, 50 - 3: a push of CAP's still landing after `first` was read, 20 - 3, is not it)
    wait_until(lambda: _link(app, cap)["pushed_quantity"] == 47, what="HAT's push of 47 recorded")
    app.wait_for_idle_sync()
    assert stock_of(app, tiktok_id, cap.tiktok_sku) == 47
    assert (_link(app, cap)["held_quantity"], _link(app, cap)["held_item_id"]) == (3, _row_id(cap.item["id"]))
    # and a sale of 2 under HAT, shipped (TikTok 45), unseen or ingested; then HAT +1: HAT's push writes 46 (unseen:
    # 51 - 5 held; seen: 49 - 3 held)
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    second_after(time.time())
    _sell(app, cap, 2)
    if hat_sale == "seen":
        second_after(time.time())
        kinds = {"shopId": cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
        assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
        app.wait_for_idle_sync()
        assert (_on_hand(app, "R61-HAT"), _on_hand(app, "R61-CAP")) == (48, 20)
    done = app.graphql(ADJUST, {"input": {"inventoryItemId": hat["id"], "delta": 1, "reason": "delivery"}}, "m1")
    assert done["inventoryAdjust"]["userErrors"] == []
    wait_until(lambda: stock_of(app, tiktok_id, cap.tiktok_sku) == 46, what="HAT's push writing 46")
    # (and its record, in the transaction that makes the holds' items' other links due: TikTok shows 46 before it)
    wait_until(lambda: _link(app, cap)["pushed_quantity"] == 46, what="HAT's push of 46 recorded")
    app.wait_for_idle_sync()
    if then == "deleted":
        # when the merchant deletes the shop within the hold's horizon: each sale off the shelf it was sold from
        assert app.graphql(DELETE_SHOP, {"input": {"shopId": cap.shop["id"]}}, "m1")["shopDelete"]["userErrors"] == []
        assert (_on_hand(app, "R61-CAP"), _on_hand(app, "R61-HAT")) == (17, 49)
        return
    # and a products read (46), then the SKU linked back to CAP
    second_after(time.time())
    started = app.graphql(SYNC_START, {"input": {"shopId": cap.shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    before = _link(app, cap)["pushed_at"]
    linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": cap.item["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, cap)["pushed_at"] not in (None, before), what="CAP's push after the link back")
    app.wait_for_idle_sync()
    cap_push = (_link(app, cap)["pushed_quantity"], _link(app, cap)["held_quantity"])
    cap_tiktok = stock_of(app, tiktok_id, cap.tiktok_sku)
    # when the merchant deletes the shop within the hold's horizon (no sale of CAP ever ingested)
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": cap.shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []

    # then CAP's push held CAP's unseen sale back (TikTok 17, where CAP's shelf had 17), and each sale left the shelf
    # it was sold from: CAP 20 - 3, HAT 51 - 2
    assert (*cap_push, cap_tiktok) == (17, 3, 17)
    assert (_on_hand(app, "R61-CAP"), _on_hand(app, "R61-HAT")) == (17, 49)


def test_the_other_shops_subtract_each_part_of_a_split_hold_from_its_own_item(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=6, orders=0)
    # given CAP (20) and HAT (50) on two shops of the merchant
    tiktok_id = app.tiktok_shop("us-local")["id"]
    app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "R61-HAT product", "skus": [{"seller_sku": "R61-HAT", "quantity": 50}]},
    )  # fmt: skip
    cap = pushed_sku(app, "R61-CAP", 20)
    (hat,) = pooled_items(app, "R61-HAT")
    second = app.tiktok_shop("us-local-2")["id"]
    on_second = {
        seller_sku: app.sandbox.control(
            "POST", f"/shops/{second}/products",
            {"title": f"{seller_sku} product", "skus": [{"seller_sku": seller_sku, "quantity": quantity}]},
        )["sku_ids"][0]
        for seller_sku, quantity in (("R61-CAP", 20), ("R61-HAT", 50))
    }  # fmt: skip
    app.connect_shop("m1", "us-local-2", "US", "Desert")
    app.wait_for_idle_sync()
    _pushed(app, second)
    # and CAP's unseen sale of 3 on the first shop held back by HAT's push of CAP's SKU (linked to HAT by hand)
    _sell(app, cap, 3)
    second_after(time.time())
    linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": hat["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    # (HAT's record, 50 - 3: a push of CAP's still landing after `first` was read, 20 - 3, is not it)
    wait_until(lambda: _link(app, cap)["pushed_quantity"] == 47, what="HAT's push of 47 recorded")
    app.wait_for_idle_sync()
    assert stock_of(app, tiktok_id, cap.tiktok_sku) == 47
    # and 2 more sold under HAT, unseen; HAT +1, whose push carries CAP's 3 and holds HAT's 2 anew: 51 - 5 = 46
    _sell(app, cap, 2)
    done = app.graphql(ADJUST, {"input": {"inventoryItemId": hat["id"], "delta": 1, "reason": "delivery"}}, "m1")
    assert done["inventoryAdjust"]["userErrors"] == []
    wait_until(lambda: stock_of(app, tiktok_id, cap.tiktok_sku) == 46, what="HAT's push writing 46")
    # (and its record, in the transaction that makes the holds' items' other links due: TikTok shows 46 before it)
    wait_until(lambda: _link(app, cap)["pushed_quantity"] == 46, what="HAT's push of 46 recorded")
    app.wait_for_idle_sync()
    # when the second shop's pushes run (HAT's push, its hold changed, made both items' links due)
    _pushed(app, second)
    # then the second shop shows CAP's 20 less CAP's 3 and HAT's 51 less HAT's 2 (with the split kept but read as
    # one hold of CAP by the other shops: 15 and 51)
    shown = (stock_of(app, second, on_second["R61-CAP"]), stock_of(app, second, on_second["R61-HAT"]))
    assert shown == (17, 49)
