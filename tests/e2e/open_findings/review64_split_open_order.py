"""review64: the split (3 CAP / 2 HAT, review64_split_cancel's given: CAP's sale of 3 unshipped, the SKU linked by hand
to HAT). CAP's order, made under CAP, is first read while open: its lines reserve on HAT (the item linked now), so no
part is taken down (`_counted_before_push` takes off a part only units applied on its item), and `hold_parts` gives
the 3 applied units to the hold as a whole: CAP's part still 3 of 2 standing (CAP 2, HAT 0). Desert then shows CAP
one unit too many; shipped, the 3 come off HAT's shelf, not CAP's, for good."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.fence_given import SYNC_START
from tests.e2e.open_findings.review64_split_cancel import _split_cap_open
from tests.e2e.test_inventory_fence_split_hold import _adjust, _desert_then_deleted
from tests.e2e.test_inventory_fence_split_restart import _hold
from tests.e2e.test_inventory_hold_unlinked import _pushed
from tests.e2e.test_inventory_push import stock_of
from tests.fixtures.app import ShopbridgeServer


@pytest.mark.parametrize("then", ["open", "shipped", "open-then-shipped"])
def test_an_order_made_under_cap_read_after_the_move_counts_on_cap(
    app_factory: Callable[..., ShopbridgeServer], then: str
) -> None:
    app = app_factory(products=6, orders=0)
    given, cap_order = _split_cap_open(app)
    app.sandbox.control("POST", "/faults/records", {"unreadable": [given.hat_order]})
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": given.window}
    if then == "shipped":
        app.sandbox.control("POST", f"/orders/{cap_order}/status", {"status": "IN_TRANSIT"})
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    print(
        "read:", _hold(app, given.cap.tiktok_sku),
        app.rows("SELECT l.state, i.sku FROM order_line_stock l JOIN inventory_items i ON i.id = l.inventory_item_id"),
    )  # fmt: skip
    if then == "open":
        for seller_sku in ("R62-CAP", "R62-HAT"):
            _adjust(app, given.items[seller_sku], 1)
            _adjust(app, given.items[seller_sku], -1)
        app.wait_for_idle_sync()
        _pushed(app, given.second)
        shown = tuple(stock_of(app, given.second, given.on_second[s]) for s in ("R62-CAP", "R62-HAT"))
        # CAP 20 on hand, its 3 sold (open): 17; HAT 51, its 2 sold unseen: 49
        assert shown == (17, 49)
    else:
        if then == "open-then-shipped":  # read open, then shipped and read again
            app.sandbox.control("POST", f"/orders/{cap_order}/status", {"status": "IN_TRANSIT"})
            assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
            app.wait_for_idle_sync()
        # CAP 20 less its 3 shipped: 17, HAT 51 less its 2 unseen: 49
        assert _desert_then_deleted(app, given) == ((17, 49), (17, 49, 30))
