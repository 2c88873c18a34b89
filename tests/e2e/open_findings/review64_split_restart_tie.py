"""review64: relabel63 cuts the sales an order batch takes off a split's part at the push's `pushed_at`, "an order of
the push's own second counts as made before it" (create_time has whole seconds). A sale made right after CAP's push
recorded, in the same second as its `pushed_at`, is none of the hold's units, yet the batch that reads it takes it
off CAP's part, and CAP's next push gives that unit to HAT's rest: review63 F2's outcome again, on a clock tie.

Given as tests/e2e/test_inventory_fence_split_restart.py up to (6, CAP, 4, HAT); its third sale is made in the
second after the push (`second_after`), this one in the push's own second."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from tests.e2e.fence_given import SYNC_START, second_after
from tests.e2e.test_inventory_fence_carried_hold import _link, _on_hand, _row_id, _sell
from tests.e2e.test_inventory_fence_split_hold import _adjust, _desert_then_deleted, _split
from tests.e2e.test_inventory_fence_split_restart import _hold
from tests.e2e.test_inventory_pool import LINK
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def test_a_sale_in_the_push_s_own_second_made_after_it_stays_off_the_split_part(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=6, orders=0)
    given = _split(app, hat_pushed=False)
    cap, hat = (_row_id(given.items[sku]["id"]) for sku in ("R62-CAP", "R62-HAT"))
    before = _link(app, given.cap)["pushed_at"]
    to = {"skuId": given.cap.sku_gid, "inventoryItemId": given.items["R62-CAP"]["id"]}
    assert app.graphql(LINK, {"input": to}, "m1")["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what="CAP's push")
    app.wait_for_idle_sync()
    assert _hold(app, given.cap.tiktok_sku) == (5, cap, 3, hat)
    # when the SKU sells 1 more, unseen, and CAP's next push restarts the hold, at the start of a second
    _sell(app, given.cap, 1)
    before = _link(app, given.cap)["pushed_at"]
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()  # (the sale before is in an earlier second)
    _adjust(app, given.items["R62-CAP"], 1)
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="CAP's next push")
    # and 1 more sells right after that push recorded, in its own second
    _sell(app, given.cap, 1)
    pushed_at = _link(app, given.cap)["pushed_at"]
    sale = max(
        app.sandbox.control("GET", f"/shops/{given.cap.tiktok_id}/orders")["orders"], key=lambda o: o["create_time"]
    )
    app.wait_for_idle_sync()
    assert _hold(app, given.cap.tiktok_sku) == (6, cap, 4, hat)
    print("pushed_at", pushed_at, "sale create_time", sale.get("create_time"))
    at = datetime.fromisoformat(pushed_at) if isinstance(pushed_at, str) else pushed_at
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    assert int(at.timestamp()) == sale["create_time"]  # the tie (else the test says nothing: run again)
    # and the sale is read (as a webhook brings it)
    second_after(time.time())
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    # then Desert and the delete take each unseen sale off its own item: CAP 21 on hand less the one read = 20,
    # less 4 unseen = 16; HAT 50 less 2 = 48 (as test_inventory_fence_split_restart's sale of the next second)
    print("hold after read", _hold(app, given.cap.tiktok_sku), "CAP on hand", _on_hand(app, "R62-CAP"))
    assert _desert_then_deleted(app, given) == ((16, 48), (16, 48, 30))
