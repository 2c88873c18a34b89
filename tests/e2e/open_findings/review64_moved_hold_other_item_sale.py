"""review64 (S2 probe): a plain hand move after a products read: CAP's unseen 3 (held by HAT's push) become the link's
moved hold when the SKU is linked on to SOCK; a later SOCK sale, read at once, is taken off CAP's moved hold
(SKU-wide count since `moved_hold_ingested_at_push`), so a delete of the shop leaves CAP one unit too many."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from tests.e2e.fence_given import SYNC_START, second_after
from tests.e2e.test_inventory_create_from_sku import DELETE_SHOP
from tests.e2e.test_inventory_fence_carried_hold import _on_hand, _sell
from tests.e2e.test_inventory_fence_split_hold import _read_then_link, _split
from tests.fixtures.app import ShopbridgeServer


def test_a_sale_under_the_new_item_leaves_the_old_item_s_moved_hold_whole(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=6, orders=0)
    given = _split(app, split=False)
    _read_then_link(app, given, "R62-SOCK")
    (row,) = app.rows(
        "SELECT moved_hold_item_id, moved_hold_quantity FROM sku_links WHERE tiktok_sku_id = :s", s=given.cap.tiktok_sku
    )
    print("moved hold:", dict(row))
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    _sell(app, given.cap, 1)  # under SOCK now
    second_after(time.time())
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert _on_hand(app, "R62-SOCK") == 29
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": given.cap.shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    # CAP's 3 sold unseen come off CAP: 17; HAT untouched 50; SOCK 29
    assert (_on_hand(app, "R62-CAP"), _on_hand(app, "R62-HAT"), _on_hand(app, "R62-SOCK")) == (17, 50, 29)
