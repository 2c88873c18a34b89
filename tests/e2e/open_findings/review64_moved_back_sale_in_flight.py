"""review64 (probe): A->B->C->A with CAP's push held at TikTok's Inventory Search, and a CAP sale made and read at once
meanwhile (the link's hold re-held by `_hold_again`, its record forgotten by the fence anew: the batch's part cut
reads `pushed_at`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.e2e.fence_given import SYNC_START, second_after
from tests.e2e.test_inventory_fence_carried_hold import _link, _on_hand, _sell
from tests.e2e.test_inventory_fence_split_hold import _adjust, _desert_then_deleted, _read_then_link, _split
from tests.e2e.test_inventory_fence_split_restart import _hold
from tests.e2e.test_inventory_pool import LINK
from tests.e2e.test_inventory_push import INVENTORY_SEARCH
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def _moved(app: ShopbridgeServer, sku: str) -> dict:
    (row,) = app.rows(
        "SELECT pushed_at, moved_hold_item_id, moved_hold_quantity, moved_hold_item_quantity, moved_hold_rest_item_id"
        " FROM sku_links WHERE tiktok_sku_id = :s",
        s=sku,
    )
    return dict(row)


@pytest.mark.parametrize("push", ["in-flight"])  # ("landed", F4: fixed, test_inventory_fence_split_hold)
def test_a_cap_sale_read_after_the_link_back_to_cap_is_counted_once(
    app_factory: Callable[..., ShopbridgeServer], push: str
) -> None:
    """`push` "landed": CAP's push back is recorded before the sale is made and read."""
    app = app_factory(products=6, orders=0, tiktok_timeout_seconds=120)
    given = _split(app)
    _read_then_link(app, given, "R62-SOCK")
    print("on SOCK:", _hold(app, given.cap.tiktok_sku), _moved(app, given.cap.tiktok_sku))
    # a products read, then the link back to CAP, its push held at TikTok
    second_after(time.time())
    started = app.graphql(SYNC_START, {"input": {"shopId": given.cap.shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    second_after(time.time())
    before = _link(app, given.cap)["pushed_at"]
    if push == "in-flight":
        app.sandbox.hold(INVENTORY_SEARCH)
    to = {"skuId": given.cap.sku_gid, "inventoryItemId": given.items["R62-CAP"]["id"]}
    assert app.graphql(LINK, {"input": to}, "m1")["skuLink"]["userErrors"] == []
    if push == "in-flight":
        app.sandbox.wait_held()
    else:
        wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what="CAP's push")
        app.wait_for_idle_sync()
    print("back, push held:", _hold(app, given.cap.tiktok_sku), _moved(app, given.cap.tiktok_sku))
    # a CAP sale now, read at once
    second_after(time.time())
    window = datetime.now(UTC).replace(microsecond=0).isoformat()
    _sell(app, given.cap, 1)
    second_after(time.time())
    kinds = {"shopId": given.cap.shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": window}
    assert app.graphql(SYNC_START, {"input": kinds}, "m1")["syncStart"]["userErrors"] == []
    wait_until(lambda: _on_hand(app, "R62-CAP") == 19, what="the sale read")
    print("sale read:", _hold(app, given.cap.tiktok_sku), _moved(app, given.cap.tiktok_sku))
    app.sandbox.hold()
    wait_until(lambda: _link(app, given.cap)["pushed_at"] not in (None, before), what="CAP's push")
    app.wait_for_idle_sync()
    _adjust(app, given.items["R62-CAP"], 1)  # a push of CAP's SKU after the read (re-measures its own hold)
    _adjust(app, given.items["R62-CAP"], -1)
    app.wait_for_idle_sync()
    print("pushed:", _hold(app, given.cap.tiktok_sku), _moved(app, given.cap.tiktok_sku))
    # CAP 20 - 1 read = 19 on hand, 3 unseen: 16; HAT 51 - 2 unseen = 49
    assert _desert_then_deleted(app, given) == ((16, 49), (16, 49, 30))
