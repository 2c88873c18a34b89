"""review64: a sale made while the push is between its pool read (`pushed_at`) and its reading of TikTok's
available (Inventory Search) is in the hold that push records (TikTok's available had lost it), but the order
batch that reads it later does not take it off the split's part: its create_time is after `pushed_at`
(relabel63, `ledger._counted_before_push`'s `made <= made_by`). The unit stays in CAP's part, and `hold_parts`
gives the applied unit to HAT's rest: HAT's 2 unseen units shown as 1, one HAT unit on sale twice.

Given as tests/e2e/test_inventory_fence_split_restart.py up to (6, CAP, 4, HAT)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from tests.e2e.fence_given import SYNC_START, second_after
from tests.e2e.test_inventory_fence_carried_hold import _link, _on_hand, _row_id, _sell
from tests.e2e.test_inventory_fence_split_hold import _adjust, _desert_then_deleted, _split
from tests.e2e.test_inventory_fence_split_restart import _hold
from tests.e2e.test_inventory_pool import LINK
from tests.e2e.test_inventory_push import INVENTORY_SEARCH
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def test_a_sale_made_while_the_push_reads_tiktok_comes_off_its_split_part(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    given = _split(app, hat_pushed=False)
    cap, hat = (_row_id(given.items[sku]["id"]) for sku in ("R62-CAP", "R62-HAT"))
    before = _link(app, given.cap)["pushed_at"]
    to = {"skuId": given.cap.sku_gid, "inventoryItemId": given.items["R62-CAP"]["id"]}
    assert app.graphql(LINK, {"input": to}, "m1")["skuLink"]["userErrors"] == []
    wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what="CAP's push")
    app.wait_for_idle_sync()
    assert _hold(app, given.cap.tiktok_sku) == (5, cap, 3, hat)
    _sell(app, given.cap, 1)
    before = _link(app, given.cap)["pushed_at"]
    _adjust(app, given.items["R62-CAP"], 1)
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="CAP's next push")
    app.wait_for_idle_sync()
    assert _hold(app, given.cap.tiktok_sku) == (6, cap, 4, hat)
    # when CAP's next push has read the pool and waits at TikTok's Inventory Search
    second_after(time.time())
    before = _link(app, given.cap)["pushed_at"]
    app.sandbox.hold(INVENTORY_SEARCH)
    _adjust(app, given.items["R62-CAP"], 1)
    app.sandbox.wait_held()
    # and 1 more CAP unit sells at TikTok meanwhile (in a later second than the push's pool read)
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    _sell(app, given.cap, 1)
    app.sandbox.hold()
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="CAP's push in flight recorded")
    app.wait_for_idle_sync()
    # the push held it back: a restart, CAP's part 4 + 1
    assert _hold(app, given.cap.tiktok_sku) == (7, cap, 5, hat)
    # and that sale is read (as a webhook brings it)
    second_after(time.time())
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert _on_hand(app, "R62-CAP") == 21  # 20 + 1 + 1 less the one read
    # then the hold's parts stay 4 CAP's, 2 HAT's unseen (the read sale was one of the hold's CAP units)
    print("hold after the read:", _hold(app, given.cap.tiktok_sku), "cap", cap, "hat", hat)
    # and Desert and the delete take each unseen sale off its own item: CAP 21 - 4, HAT 50 - 2
    assert _desert_then_deleted(app, given) == ((17, 48), (17, 48, 30))
