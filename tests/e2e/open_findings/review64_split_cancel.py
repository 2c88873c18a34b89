"""review64: a split hold (3 CAP's, 2 HAT's) whose CAP order is cancelled at TikTok before Shopbridge reads it: the
units go back to TikTok's available, the next push holds 2 (HAT's), carried (its start kept), and `_items_of_push`'s
carried branch keeps the part only while it is below the hold (`kept_part`): 3 < 2 fails, the part is dropped and
the 2 units are named all CAP's. HAT's 2 unseen units are back on sale on Desert (oversell), CAP's shelf loses 2.

Given as tests/e2e/test_inventory_fence_split_hold._split, but CAP's sale of 3 left unshipped (so it can be
cancelled)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.fence_given import SYNC_START
from tests.e2e.test_inventory_fence_carried_hold import _link
from tests.e2e.test_inventory_fence_split_hold import _adjust, _desert_then_deleted, _Split, _split
from tests.e2e.test_inventory_fence_split_restart import _hold
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def _split_cap_open(app: ShopbridgeServer) -> tuple[_Split, str]:
    given = _split(app, cap_shipped=False)
    return given, given.cap_order


@pytest.mark.parametrize("cancel", ["unread"])  # ("read": fixed by pool65, test_inventory_fence_split_hold)
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
