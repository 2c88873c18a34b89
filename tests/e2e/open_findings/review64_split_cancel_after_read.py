"""review64 (probe): the split of review64_split_cancel (3 CAP unshipped / 2 HAT), CAP's order read while open
(RESERVED: the part taken to 0), then cancelled and read again (RELEASED), then HAT's next push."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.fence_given import SYNC_START
from tests.e2e.open_findings.review64_split_cancel import _split_cap_open
from tests.e2e.test_inventory_fence_carried_hold import _link, _on_hand
from tests.e2e.test_inventory_fence_split_hold import _adjust, _desert_then_deleted
from tests.e2e.test_inventory_fence_split_restart import _hold
from tests.e2e.test_inventory_hold_unlinked import _pushed
from tests.e2e.test_inventory_push import stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def test_a_split_part_read_open_then_cancelled_leaves_the_rest_with_its_item(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=6, orders=0)
    given, cap_order = _split_cap_open(app)
    app.sandbox.control("POST", "/faults/records", {"unreadable": [given.hat_order]})
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": given.window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    print("read open:", _hold(app, given.cap.tiktok_sku), _on_hand(app, "R62-CAP"))
    print(
        "lines:",
        app.rows("SELECT l.state, i.sku FROM order_line_stock l JOIN inventory_items i ON i.id = l.inventory_item_id"),
    )
    for seller_sku in ("R62-CAP", "R62-HAT"):
        _adjust(app, given.items[seller_sku], 1)
        _adjust(app, given.items[seller_sku], -1)
    app.wait_for_idle_sync()
    _pushed(app, given.second)
    shown = tuple(stock_of(app, given.second, given.on_second[s]) for s in ("R62-CAP", "R62-HAT"))
    print("Desert while CAP's order is open:", shown)
    app.sandbox.control("POST", f"/orders/{cap_order}/status", {"status": "CANCELLED"})
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    print("read cancelled:", _hold(app, given.cap.tiktok_sku), _on_hand(app, "R62-CAP"))
    before = _link(app, given.cap)["pushed_at"]
    _adjust(app, given.items["R62-HAT"], 1)
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="HAT's next push")
    app.wait_for_idle_sync()
    print("pushed:", _hold(app, given.cap.tiktok_sku))
    assert _desert_then_deleted(app, given) == ((20, 50), (20, 50, 30))
