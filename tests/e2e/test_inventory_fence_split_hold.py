"""A split hold (fence61b, migration 0059) told by item, and an item an unseen sale is held for (review62 R1-R3).

Given (`_split`): shop "Maple" (us-local) with CAP pushed 20, HAT 50 and SOCK 30, shop "Desert" (us-local-2) with
the same seller SKUs, pooled; a sale of 3 under CAP shipped, unseen; CAP's SKU linked by hand to HAT, whose push
holds CAP's 3 (47); 2 more sold under HAT, unseen; HAT +1: HAT's push carries CAP's 3 and holds HAT's 2 anew (46, the
hold split: 3 CAP's, 2 HAT's). Each shelf then: CAP 17, HAT 49 (51 less HAT's 2), SOCK 30. What the merchant's other
shop shows and what a delete of "Maple" within the hold's horizon leaves on hand (its unseen sales taken off as sold
unseen, `ledger._sold_unseen`) must be those, each sale on its own item.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.fence_given import SYNC_START, PushedSku, pushed_sku, second_after
from tests.e2e.test_inventory_create_from_sku import DELETE_SHOP
from tests.e2e.test_inventory_fence_carried_hold import _link, _on_hand, _sell
from tests.e2e.test_inventory_hold_unlinked import _pushed
from tests.e2e.test_inventory_item_delete import DELETE
from tests.e2e.test_inventory_pool import LINK
from tests.e2e.test_inventory_push import ADJUST, INVENTORY_SEARCH, pooled_items, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

SKUS = (("R62-CAP", 20), ("R62-HAT", 50), ("R62-SOCK", 30))
INVENTORY_UPDATE = "/product/202309/products/{product_id}/inventory/update"  # TikTok's Update Inventory


@dataclass
class _Split:
    cap: PushedSku
    items: dict[str, dict[str, Any]]  # seller SKU -> pooled item
    second: str  # Desert's TikTok shop id
    on_second: dict[str, str]  # seller SKU -> Desert's TikTok SKU id
    window: str  # an orders sync from here reads both sales
    hat_order: str = ""
    cap_order: str = ""


def _adjust(app: ShopbridgeServer, item: dict[str, Any], delta: int) -> None:
    done = app.graphql(ADJUST, {"input": {"inventoryItemId": item["id"], "delta": delta, "reason": "r62"}}, "m1")
    assert done["inventoryAdjust"]["userErrors"] == []


def _split(app: ShopbridgeServer, *, split: bool = True, hat_pushed: bool = True, cap_shipped: bool = True) -> _Split:
    """The given above (`split` False: up to HAT's push holding CAP's 3, no sale under HAT, and Desert without CAP's
    seller SKU, so that no link names CAP once Maple's SKU is linked to HAT; `hat_pushed` False: HAT's 2 sold, and
    no push of the SKU under HAT since, so the hold is not split yet; `cap_shipped` False: CAP's sale of 3 left
    open, so that it can be cancelled, `_Split.cap_order`)."""
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
        for seller_sku, quantity in (SKUS if split else SKUS[1:])
    }  # fmt: skip
    app.connect_shop("m1", "us-local-2", "US", "Desert")
    app.wait_for_idle_sync()
    _pushed(app, second)
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    second_after(time.time())
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": cap.tiktok_sku, "quantity": 3})
    cap_order = str(sale.get("order_id") or sale["id"])
    if cap_shipped:
        app.sandbox.control("POST", f"/orders/{cap_order}/status", {"status": "IN_TRANSIT"})
    second_after(time.time())
    first = _link(app, cap)["pushed_at"]
    linked = app.graphql(LINK, {"input": {"skuId": cap.sku_gid, "inventoryItemId": items["R62-HAT"]["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, cap)["pushed_at"] != first, what="HAT's push")
    app.wait_for_idle_sync()
    assert stock_of(app, tiktok_id, cap.tiktok_sku) == 47
    given = _Split(cap, items, second, on_second, window, cap_order=cap_order)
    if split:
        sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": cap.tiktok_sku, "quantity": 2})
        given.hat_order = str(sale.get("order_id") or sale["id"])
        app.sandbox.control("POST", f"/orders/{given.hat_order}/status", {"status": "IN_TRANSIT"})
        if hat_pushed:
            _adjust(app, items["R62-HAT"], 1)
            wait_until(lambda: _link(app, cap)["pushed_quantity"] == 46, what="HAT's push of 46 recorded")
        app.wait_for_idle_sync()
    return given


def _desert_then_deleted(app: ShopbridgeServer, given: _Split) -> tuple[tuple[int, int], tuple[int, int, int]]:
    """(CAP, HAT) as Desert shows them once both items changed (their links due), then (CAP, HAT, SOCK) on hand
    after "Maple" is deleted."""
    for seller_sku in ("R62-CAP", "R62-HAT"):
        _adjust(app, given.items[seller_sku], 1)
        _adjust(app, given.items[seller_sku], -1)
    app.wait_for_idle_sync()
    _pushed(app, given.second)
    shown = (
        stock_of(app, given.second, given.on_second["R62-CAP"]),
        stock_of(app, given.second, given.on_second["R62-HAT"]),
    )
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": given.cap.shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    return shown, (_on_hand(app, "R62-CAP"), _on_hand(app, "R62-HAT"), _on_hand(app, "R62-SOCK"))


def test_a_split_hold_linked_on_to_a_third_item_keeps_each_part_with_its_item(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review62 R1: the SKU linked on to SOCK (no products read between): SOCK's push carries the split, whose newer
    part (HAT's 2) was relabelled SOCK's (`pushed_item_id`): Desert showed HAT 51, and the delete left HAT 51 and
    SOCK 28 for good."""
    app = app_factory(products=6, orders=0)
    given = _split(app)
    # when the merchant links the SKU on to SOCK, and SOCK's push carries the hold
    before = _link(app, given.cap)["pushed_at"]
    to = {"skuId": given.cap.sku_gid, "inventoryItemId": given.items["R62-SOCK"]["id"]}
    assert app.graphql(LINK, {"input": to}, "m1")["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what="SOCK's push")
    app.wait_for_idle_sync()
    # then Desert and the delete take each part off its own item
    assert _desert_then_deleted(app, given) == ((17, 49), (17, 49, 30))


def test_a_hold_restarted_by_the_link_straight_back_keeps_each_sale_with_its_item(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review62 R0: HAT's 2 sold with no push of the SKU under HAT since, the SKU linked straight back to CAP (the
    plainest undo of a mislink): CAP's push restarted the hold, 3 carried and 2 new, and named all 5 HAT's (the split
    was made only when the record's item was the pushed item): Desert showed CAP 20 where its shelf had 17, and the
    delete left CAP 20 / HAT 45 for good. The carried 3 stay CAP's, the 2 new are the record's item's, HAT."""
    app = app_factory(products=6, orders=0)
    given = _split(app, hat_pushed=False)
    # when the merchant links the SKU straight back to CAP, and CAP's push restarts the hold
    before = _link(app, given.cap)["pushed_at"]
    to = {"skuId": given.cap.sku_gid, "inventoryItemId": given.items["R62-CAP"]["id"]}
    assert app.graphql(LINK, {"input": to}, "m1")["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what="CAP's push")
    app.wait_for_idle_sync()
    # then Desert and the delete take each sale off its own item: CAP 20 - 3, HAT 50 - 2
    assert _desert_then_deleted(app, given) == ((17, 48), (17, 48, 30))


def test_a_split_hold_whose_older_part_is_ingested_first_keeps_the_newer_part_with_its_item(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review62 R2: CAP's sale read by an orders sync, HAT's order not readable yet: the 2 units still held are
    HAT's (`hold_parts` gave them to CAP, the applied units taken off the newer part first): Desert showed (15, 51),
    the delete left (15, 51)."""
    app = app_factory(products=6, orders=0)
    given = _split(app)
    app.sandbox.control("POST", "/faults/records", {"unreadable": [given.hat_order]})
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": given.window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert (_on_hand(app, "R62-CAP"), _on_hand(app, "R62-HAT")) == (17, 51)  # CAP's sale deducted, HAT's unseen
    assert _desert_then_deleted(app, given) == ((17, 49), (17, 49, 30))


def test_an_item_an_unseen_sale_is_held_for_is_deleted_only_once_the_sale_is_read(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review62 R3: CAP's sale of 3 held by HAT's push (`held_item_id` CAP) and CAP deleted: the sale, read later,
    deducted nowhere (its lines HISTORICAL, their link period gone with CAP). Refused ITEM_IN_USE until it is read."""
    app = app_factory(products=6, orders=0)
    given = _split(app, split=False)
    cap_id = given.cap.item["id"]
    refused = app.graphql(DELETE, {"id": cap_id}, "m1")["inventoryItemDelete"]
    assert [(e["code"], "3 unit(s) sold at TikTok" in e["message"]) for e in refused["userErrors"]] == [
        ("ITEM_IN_USE", True)
    ]
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": given.window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert app.graphql(DELETE, {"id": cap_id}, "m1")["inventoryItemDelete"]["userErrors"] == []
    assert [row["state"] for row in app.rows("SELECT state FROM order_line_stock")] == ["DEDUCTED"] * 3


def _products_read(app: ShopbridgeServer, given: _Split) -> Any:
    """A products read of Maple in a second of its own (its stock read after the last push: a move's fence starts
    anew from it); returns the SKU's `pushed_at` as read after it (the row's value), for the wait on the next push."""
    second_after(time.time())
    started = app.graphql(SYNC_START, {"input": {"shopId": given.cap.shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    second_after(time.time())
    return _link(app, given.cap)["pushed_at"]


def _read_then_link(app: ShopbridgeServer, given: _Split, seller_sku: str) -> None:
    """A products read of Maple (`_products_read`), then the SKU linked by hand to `seller_sku`'s item and that item's
    push."""
    before = _products_read(app, given)
    to = {"skuId": given.cap.sku_gid, "inventoryItemId": given.items[seller_sku]["id"]}
    assert app.graphql(LINK, {"input": to}, "m1")["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what=f"{seller_sku}'s push")
    app.wait_for_idle_sync()


@pytest.mark.parametrize("back", [False, True], ids=["to-SOCK-CAP-read", "to-SOCK-and-back"])
def test_a_split_hold_moved_on_after_a_products_read_keeps_each_part_with_its_item(
    app_factory: Callable[..., ShopbridgeServer], back: bool
) -> None:
    """review62 R1's read variant: a products read, then the SKU linked on to SOCK: the fence starts anew and the
    hold's units of other items become the link's moved hold, which kept one item (CAP's 3, the larger part) and
    dropped HAT's 2: Desert showed HAT 51 where its shelf had 49, and the delete left HAT 51 for good. Then CAP's sale
    read while HAT's order is not readable yet (its part of the moved hold applied: HAT's 2 still stand), or (`back`)
    a read and the link straight back to CAP (A->B->C->A): CAP's part is held again, HAT's stays moved.

    Then a sale made after the move, read at once (as a webhook brings it), takes nothing off the moved hold: one
    under SOCK, or (`back`) one more under CAP, made and read while CAP's push back waits at TikTok. Before, a moved
    hold counted every unit the ledger applied for the SKU since the move as one of its own (review64 F6: SOCK's
    sale took one of HAT's 2; F4: CAP's sale after the link back took one of HAT's 2, which `_hold_again` had kept
    moved): Desert showed HAT 50 where its shelf had 49, and the delete left HAT 50 for good. And (F5) the hold
    `_hold_again` gave CAP's link back, on a link whose push record the move forgot, had no time to cut sales at: the
    batch took the new CAP sale off it as a part, the push recorded a "split" whose rest was CAP itself, and Desert
    showed CAP 17 where its shelf had 16."""
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    given = _split(app)
    # when the merchant links the SKU on to SOCK after a products read
    _read_then_link(app, given, "R62-SOCK")
    if back:  # and back to CAP after another, CAP's push held at TikTok's Inventory Search
        before = _products_read(app, given)
        app.sandbox.hold(INVENTORY_SEARCH)
        to = {"skuId": given.cap.sku_gid, "inventoryItemId": given.items["R62-CAP"]["id"]}
        assert app.graphql(LINK, {"input": to}, "m1")["skuLink"]["userErrors"] == []
        app.sandbox.wait_held()
    else:  # and an orders sync reads CAP's sale, HAT's order unreadable
        app.sandbox.control("POST", "/faults/records", {"unreadable": [given.hat_order]})
        _read_orders(app, given, given.window)
        assert (_on_hand(app, "R62-CAP"), _on_hand(app, "R62-HAT")) == (17, 51)
    # and a sale of 1 under the item linked now (SOCK; CAP after the link back), read at once
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    _sell(app, given.cap, 1)
    second_after(time.time())
    _read_orders(app, given, window)
    if back:  # (then CAP's push lands, and another re-measures the link's own hold)
        app.sandbox.hold()
        wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what="CAP's push")
        app.wait_for_idle_sync()
        _adjust(app, given.items["R62-CAP"], 1)
        _adjust(app, given.items["R62-CAP"], -1)
        app.wait_for_idle_sync()
    # then Desert and the delete take each part off its own item, the new sale off the item it was sold under
    if back:  # (CAP 20 - 1 read = 19 on hand, its 3 unseen)
        assert _desert_then_deleted(app, given) == ((16, 49), (16, 49, 30))
    else:
        assert _desert_then_deleted(app, given) == ((17, 49), (17, 49, 29))


def _read_orders(app: ShopbridgeServer, given: _Split, since: str) -> None:
    """An orders sync of Maple reading the orders created since `since` (ISO 8601), to its end."""
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": since}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()


def test_a_split_hold_whose_older_part_is_read_cancelled_keeps_the_newer_part_with_its_item(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review64 F2 (its "read" case): the split with CAP's sale of 3 open (`cap_shipped` False); CAP's buyer cancels
    and an orders sync reads the cancelled order (HAT's order unreadable), then HAT's next push holds HAT's 2 only.
    Before, a cancelled order applied nothing, so CAP's part stayed 3 and the carried hold of 2 was named all CAP's
    (`kept_part`): Desert showed CAP 18 / HAT 52 where the shelves held 20 / 50, and a delete of Maple left that for
    good. The batch takes the cancelled sale off the part of the item it was made under (its earlier link period)."""
    app = app_factory(products=6, orders=0)
    given = _split(app, cap_shipped=False)
    app.sandbox.control("POST", f"/orders/{given.cap_order}/status", {"status": "CANCELLED"})
    app.sandbox.control("POST", "/faults/records", {"unreadable": [given.hat_order]})
    _read_orders(app, given, given.window)
    before = _link(app, given.cap)["pushed_at"]
    _adjust(app, given.items["R62-HAT"], 1)
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="HAT's next push")
    app.wait_for_idle_sync()
    # then the 2 units held are HAT's: CAP 20 (nothing sold), HAT 52 - 2
    assert _desert_then_deleted(app, given) == ((20, 50), (20, 50, 30))


def test_a_moved_hold_keeps_its_units_when_an_order_in_no_hold_is_read_cancelled(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review65 R1 (against pool65's first fix of review64 F9, taken back): HAT's push (46) held at TikTok's inventory
    update, its reading (45) taken; a buyer orders 2 (order X) meanwhile: the push's write of 46 puts them back on
    sale, so X is in no hold. Then a products read and the move on to SOCK (the moved hold: CAP's 3, HAT's 2), X
    cancelled and read first seen cancelled (CAP's and HAT's orders unreadable). Taking X's 2 off the moved hold (made
    before the move's read, updated after it) released HAT's 2 genuinely unseen sales: Desert HAT 51 where its shelf
    had 49, and a delete of the shop left 51 for good. A cancellation gives a moved hold nothing back.

    The given is settled first (`wait_for_settled`): the split's last push (CAP's product, carrying CAP's 3) marks
    HAT's own product of Maple dirty again, and that push round, still under way when Update Inventory was held, read
    HAT +1 and waited at the held write; the SKU's own product, marked by the same +1, waits for the shop's next
    round, which starts only once that write is answered, so its intent never came (pool66: 2 runs in 12 timed out).
    The sale is after the SKU's reading (its intent is recorded after it) and before its write is answered (the test
    releases the held writes only after the sale, whether the SKU's write reached TikTok's gate by then or not)."""
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    given = _split(app, hat_pushed=False)
    app.wait_for_settled()
    before = _link(app, given.cap)["pushed_at"]
    app.sandbox.hold(INVENTORY_UPDATE)
    _adjust(app, given.items["R62-HAT"], 1)

    def intent_recorded() -> bool:  # the push read TikTok (45) and recorded its intent (46); no write answered yet
        (row,) = app.rows("SELECT push_intent FROM sku_links WHERE tiktok_sku_id = :s", s=given.cap.tiktok_sku)
        return row["push_intent"] is not None and app.sandbox.control("GET", "/hold")["waiting"] >= 1

    wait_until(intent_recorded, what="the SKU's push intent recorded, its write held")
    sale = app.sandbox.control(
        "POST", f"/shops/{given.cap.tiktok_id}/sales", {"sku_id": given.cap.tiktok_sku, "quantity": 2}
    )
    x_order = str(sale.get("order_id") or sale["id"])
    app.sandbox.hold()
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="HAT's push recorded")
    app.wait_for_idle_sync()
    assert (_link(app, given.cap)["pushed_quantity"], _link(app, given.cap)["held_quantity"]) == (46, 5)
    _read_then_link(app, given, "R62-SOCK")
    app.sandbox.control("POST", f"/orders/{x_order}/status", {"status": "CANCELLED"})
    app.sandbox.control("POST", "/faults/records", {"unreadable": [given.hat_order, given.cap_order]})
    _read_orders(app, given, given.window)
    # then HAT's 2 unseen still stand: Desert HAT 49 and the delete leaves 49 (CAP's 3 held: 17)
    assert _desert_then_deleted(app, given) == ((17, 49), (17, 49, 30))
