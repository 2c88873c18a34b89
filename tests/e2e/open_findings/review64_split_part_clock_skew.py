"""review64: relabel63's cut compares TikTok's `create_time` (TikTok's clock) with `pushed_at` (Shopbridge's clock).
With TikTok's clock 3 s ahead (the sandbox's clock advanced), a sale made BEFORE CAP's restarting push, and held by
it, carries a create_time after that push's `pushed_at`: read later, it is not taken off CAP's part, and `hold_parts`
gives the applied unit to HAT's rest.

Given as tests/e2e/test_inventory_fence_split_restart.py up to (5, CAP, 3, HAT)."""

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


def test_a_sale_made_before_the_push_comes_off_its_split_part_whatever_tiktok_s_clock(
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
    # TikTok's clock 3 s ahead of Shopbridge's from here
    app.sandbox.control("POST", "/clock", {"advance_seconds": 3})
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    # when the SKU sells 1 more, unseen, and CAP's next push (1 s later) restarts the hold with it
    _sell(app, given.cap, 1)
    second_after(time.time())
    before = _link(app, given.cap)["pushed_at"]
    _adjust(app, given.items["R62-CAP"], 1)
    wait_until(lambda: _link(app, given.cap)["pushed_at"] != before, what="CAP's next push")
    app.wait_for_idle_sync()
    assert _hold(app, given.cap.tiktok_sku) == (6, cap, 4, hat)
    # and that sale, made before the push, is read (once Shopbridge's clock has passed its create_time)
    second_after(time.time() + 3)
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert _on_hand(app, "R62-CAP") == 20  # 20 + 1 less the one read
    # then Desert and the delete: CAP 20 less its 3 unseen = 17, HAT 50 less 2 = 48
    assert _desert_then_deleted(app, given) == ((17, 48), (17, 48, 30))
