"""A held sale, a count of its item's shelf after its shipment, the shop's delete within the hold's horizon, then
the same TikTok shop connected again (review61 F6), end to end through GraphQL and the sandbox: the count's truth
comes back once the reconnect's import reads the sale, shipped before the count. The decided conservative sides are
pinned too: the push after the count still holds the unseen sale, and the delete takes it off on-hand."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.e2e.fence_given import held_sale, pushed_sku, second_after
from tests.e2e.test_inventory_create_from_sku import DELETE_SHOP
from tests.e2e.test_inventory_push import pooled_items, set_on_hand, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def test_a_held_sale_counted_off_the_shelf_before_the_shops_delete_is_given_back_by_the_reconnect(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given HAT pushed 20; a sale of 3 under HAT, shipped, unseen; HAT +1 and its push holds the 3 back (TikTok 18)
    app = app_factory(products=6, orders=0)
    hat = pushed_sku(app, "R61-HAT", 20)
    held_sale(app, hat, 3, shipped=True)
    second_after(time.time())
    (row,) = app.rows("SELECT pushed_at FROM sku_links WHERE tiktok_sku_id = :s", s=hat.tiktok_sku)
    # and the merchant counts HAT's shelf: 18 (the sale's units gone); HAT's push after the count still holds the 3
    # (the sale is unseen: TikTok's drop may be an order not yet shipped, still on the counted shelf)
    set_on_hand(app, hat.item["id"], 18)
    wait_until(
        lambda: app.rows("SELECT pushed_at FROM sku_links WHERE tiktok_sku_id = :s", s=hat.tiktok_sku)[0] != row,
        what="HAT's push after the count",
    )
    app.wait_for_idle_sync()
    link = pooled_items(app, "R61-HAT")[0]["links"][0]
    assert (link["pushedQuantity"], link["heldBackQuantity"], stock_of(app, hat.tiktok_id, hat.tiktok_sku)) == (
        15, 3, 15,
    )  # fmt: skip
    # and the shop is deleted within the hold's horizon: "sold unseen" takes the 3 off the counted 18
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": hat.shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    assert app.rows("SELECT on_hand FROM inventory_items WHERE sku = 'R61-HAT'")[0]["on_hand"] == 15

    # when the same TikTok shop is connected again, its import reading the sale, shipped before the count
    app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()

    # then HAT is as counted, 18 (before: 15), by one CORRECTED movement saying why, and the delete's record is spent
    (item,) = app.rows("SELECT id, on_hand, reserved FROM inventory_items WHERE sku = 'R61-HAT'")
    assert (item["on_hand"], item["reserved"]) == (18, 0)
    corrected = app.rows(
        "SELECT on_hand_delta, reason FROM inventory_movements WHERE inventory_item_id = :i AND kind = 'CORRECTED'",
        i=item["id"],
    )
    assert [(m["on_hand_delta"], m["reason"]) for m in corrected] == [
        (3, "shop connected again: sold unseen, counted before the delete")
    ]
    assert app.rows("SELECT count(*) AS n FROM deleted_shop_holds")[0]["n"] == 0
