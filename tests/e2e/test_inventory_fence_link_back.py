"""A SKU unlinked, its product read again, and linked back by hand to the item its push was made for keeps that
push's record (review60 F2): the read left out a sale made under the item and not yet ingested, which the item's pool
still counts, and units a push restored for a cancellation not yet released; starting the fence anew from the read
put the sale's units back on sale at TikTok (20 where the shelf had 17) and held the release back for nothing."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest

from tests.e2e.test_inventory_create_from_sku import SYNC_START, _create
from tests.e2e.test_inventory_pool import LINK, UNLINK
from tests.e2e.test_inventory_push import ADJUST, pooled_items, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


def _second_after(at: float) -> None:
    wait_until(lambda: time.time() >= int(at) + 1, what="the next second")


def test_a_sku_linked_back_to_its_item_keeps_holding_a_sale_made_under_it_and_unseen(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "R60 cap", "skus": [{"seller_sku": "R60-CAP", "quantity": 20}]},
    )  # fmt: skip
    (tiktok_sku,) = made["sku_ids"]
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    (cap,) = pooled_items(app, "R60-CAP")
    wait_until(lambda: pooled_items(app, "R60-CAP")[0]["links"][0]["pushedQuantity"] == 20, what="CAP's push")
    first_push = pooled_items(app, "R60-CAP")[0]["links"][0]["pushedAt"]
    # given a sale of 3 made under CAP, unseen (no webhooks in the test server, no orders sync): TikTok 17
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": tiktok_sku, "quantity": 3})
    _second_after(time.time())
    # when the merchant unlinks the SKU, a products sync reads TikTok's 17, and the merchant links it back to CAP
    (db_id,) = app.rows("SELECT id FROM skus WHERE tiktok_sku_id = :s", s=tiktok_sku)
    sku_gid = base64.b64encode(f"Sku:{db_id['id']}".encode()).decode()
    assert app.graphql(UNLINK, {"input": {"skuId": sku_gid}}, "m1")["skuUnlink"]["userErrors"] == []
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert app.rows("SELECT quantity FROM skus WHERE id = :i", i=db_id["id"]) == [{"quantity": 17}]
    linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": cap["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    (cap,) = pooled_items(app, "R60-CAP")
    # the pool has not seen the sale: CAP still holds 20 on the shelf's account
    assert (cap["onHand"], cap["reserved"], cap["available"]) == (20, 0, 20)
    # then CAP's next push still holds the unseen sale back: TikTok stays at 17 (the shelf has 17)
    wait_until(lambda: pooled_items(app, "R60-CAP")[0]["links"][0]["pushedAt"] != first_push, what="the link's push")
    pushed = pooled_items(app, "R60-CAP")[0]["links"][0]
    assert (pushed["pushedQuantity"], pushed["heldBackQuantity"], stock_of(app, tiktok_id, tiktok_sku)) == (17, 3, 17)


def test_a_sku_linked_back_to_its_item_keeps_the_units_its_push_restored_for_a_cancellation_unseen(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """F2's other side: `_fence_anew` zeroes the units CAP's push restored unseen (a cancellation TikTok made that the
    ledger had not released); the release, ingested after the link back, then counts as a gain since the new baseline
    and the push holds 3 units back for nothing (undersold for the hold's horizon)."""
    app = app_factory(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "R60 cap", "skus": [{"seller_sku": "R60-CAP", "quantity": 20}]},
    )  # fmt: skip
    (tiktok_sku,) = made["sku_ids"]
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    (cap,) = pooled_items(app, "R60-CAP")
    wait_until(lambda: pooled_items(app, "R60-CAP")[0]["links"][0]["pushedQuantity"] == 20, what="CAP's push")
    # given a seen order of 3 (CAP 20 / 3 / 17, pushed 17)
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": tiktok_sku, "quantity": 3})
    _second_after(time.time())
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    wait_until(lambda: pooled_items(app, "R60-CAP")[0]["links"][0]["pushedQuantity"] == 17, what="CAP's push of 17")
    # cancelled at TikTok, unseen (TikTok 20); a push of CAP (a delivery of 1) restores the 3 unseen: writes 18
    app.sandbox.control("POST", f"/orders/{sale.get('order_id') or sale['id']}/status", {"status": "CANCELLED"})
    assert stock_of(app, tiktok_id, tiktok_sku) == 20
    done = app.graphql(ADJUST, {"input": {"inventoryItemId": cap["id"], "delta": 1, "reason": "delivery"}}, "m1")
    assert done["inventoryAdjust"]["userErrors"] == []
    wait_until(lambda: stock_of(app, tiktok_id, tiktok_sku) == 18, what="TikTok at 18")
    app.wait_for_idle_sync()
    wait_until(
        lambda: (
            app.rows("SELECT restored_quantity AS r FROM sku_links WHERE tiktok_sku_id = :s", s=tiktok_sku)
            == [{"r": 3}]
        ),
        what="the 3 units restored unseen on record",
    )
    _second_after(time.time())
    # when the merchant unlinks the SKU, a products sync reads 18, and the SKU is linked back to CAP
    (db_id,) = app.rows("SELECT id FROM skus WHERE tiktok_sku_id = :s", s=tiktok_sku)
    sku_gid = base64.b64encode(f"Sku:{db_id['id']}".encode()).decode()
    assert app.graphql(UNLINK, {"input": {"skuId": sku_gid}}, "m1")["skuUnlink"]["userErrors"] == []
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": cap["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    wait_until(lambda: pooled_items(app, "R60-CAP")[0]["links"][0]["pushedQuantity"] is not None, what="a push")
    app.wait_for_idle_sync()
    # and the cancellation is ingested: CAP 21 / 0 / 21
    _second_after(time.time())
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    (cap,) = pooled_items(app, "R60-CAP")
    assert (cap["onHand"], cap["reserved"], cap["available"]) == (21, 0, 21)
    wait_until(
        lambda: (
            pooled_items(app, "R60-CAP")[0]["links"][0]["pushedQuantity"] not in (None, 18)
            or pooled_items(app, "R60-CAP")[0]["links"][0]["heldBackQuantity"] > 0
        ),
        what="CAP's push after the release",
    )
    app.wait_for_idle_sync()
    pushed = pooled_items(app, "R60-CAP")[0]["links"][0]
    # then CAP's push writes 21 (the release made up by the units restored), holding nothing back
    assert (pushed["heldBackQuantity"], stock_of(app, tiktok_id, tiktok_sku)) == (0, 21)


def test_a_sku_moved_to_a_new_item_and_back_keeps_holding_a_sale_made_under_its_item_and_unseen(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review60 F2's variant without an unlink: CAP -> NEW (a read after CAP's push: the fence starts anew, NEW
    pushes 17, right) -> CAP again; NEW's push record (17, the sale already out) is then CAP's baseline, and CAP's
    pool still counts the sale: the move keeps CAP's unseen sale as the link's moved hold of CAP, and the way back
    holds it again (before: `(0, 20)`, the sale's units on sale again)."""
    app = app_factory(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "R60 cap", "skus": [{"seller_sku": "R60-CAP", "quantity": 20}]},
    )  # fmt: skip
    (tiktok_sku,) = made["sku_ids"]
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    (cap,) = pooled_items(app, "R60-CAP")
    wait_until(lambda: pooled_items(app, "R60-CAP")[0]["links"][0]["pushedQuantity"] == 20, what="CAP's push")
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": tiktok_sku, "quantity": 3})
    _second_after(time.time())
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    (db_id,) = app.rows("SELECT id FROM skus WHERE tiktok_sku_id = :s", s=tiktok_sku)
    sku_gid = base64.b64encode(f"Sku:{db_id['id']}".encode()).decode()
    done = _create(app, sku="R60-NEW", onHand=17)
    assert done["userErrors"] == [], done
    linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": done["inventoryItem"]["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    wait_until(lambda: pooled_items(app, "R60-NEW")[0]["links"][0]["pushedQuantity"] is not None, what="NEW's push")
    app.wait_for_idle_sync()
    assert stock_of(app, tiktok_id, tiktok_sku) == 17
    (before,) = app.rows("SELECT pushed_at FROM sku_links WHERE sku_id = :i", i=db_id["id"])
    # when the merchant links it back to CAP
    linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": cap["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    (cap,) = pooled_items(app, "R60-CAP")
    assert (cap["onHand"], cap["reserved"], cap["available"]) == (20, 0, 20)
    # then CAP's push (the link's) holds the unseen sale back: TikTok stays at 17
    wait_until(
        lambda: app.rows("SELECT pushed_at FROM sku_links WHERE sku_id = :i", i=db_id["id"])[0] != before,
        what="CAP's push after the link",
    )
    app.wait_for_idle_sync()
    pushed = pooled_items(app, "R60-CAP")[0]["links"][0]
    assert (pushed["heldBackQuantity"], stock_of(app, tiktok_id, tiktok_sku)) == (3, 17)


@pytest.mark.parametrize("hat_pushes", [1, 2])
def test_a_sku_linked_to_another_item_and_back_keeps_holding_a_sale_made_under_its_item_and_unseen(
    app_factory: Callable[..., ShopbridgeServer], hat_pushes: int
) -> None:
    """review60b F1: CAP pushed 20, a sale of 3 under CAP unseen; the SKU linked by hand to HAT (a read older than
    CAP's push: CAP's record kept), whose push measures from CAP's record and holds the sale back (47); a products
    read (47), and the SKU linked back to CAP: the fence starts anew from that read, which left the sale out, and the
    hold, of CAP's sale, stays with the link (before: forgotten as HAT's, CAP's push wrote 20 where its shelf had
    17). `hat_pushes` 2: a second push of HAT (a delivery of 1) carries the hold, which stays CAP's (48 read)."""
    app = app_factory(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "R60 cap", "skus": [{"seller_sku": "R60-CAP", "quantity": 20}]},
    )  # fmt: skip
    (tiktok_sku,) = made["sku_ids"]
    app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "R60 hat", "skus": [{"seller_sku": "R60-HAT", "quantity": 50}]},
    )  # fmt: skip
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    (cap,) = pooled_items(app, "R60-CAP")
    (hat,) = pooled_items(app, "R60-HAT")
    wait_until(lambda: pooled_items(app, "R60-CAP")[0]["links"][0]["pushedQuantity"] == 20, what="CAP's push")
    (db_id,) = app.rows("SELECT id FROM skus WHERE tiktok_sku_id = :s", s=tiktok_sku)
    sku_gid = base64.b64encode(f"Sku:{db_id['id']}".encode()).decode()
    (first,) = app.rows("SELECT pushed_at FROM sku_links WHERE sku_id = :i", i=db_id["id"])
    # given a sale of 3 made under CAP, unseen (TikTok 17)
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": tiktok_sku, "quantity": 3})
    _second_after(time.time())
    # and the SKU linked to HAT by mistake, whose push holds the sale back: 50 - 3 = 47
    linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": hat["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    wait_until(
        lambda: app.rows("SELECT pushed_at FROM sku_links WHERE sku_id = :i", i=db_id["id"])[0] != first,
        what="HAT's push",
    )
    app.wait_for_idle_sync()
    assert stock_of(app, tiktok_id, tiktok_sku) == 47
    if hat_pushes == 2:
        done = app.graphql(ADJUST, {"input": {"inventoryItemId": hat["id"], "delta": 1, "reason": "delivery"}}, "m1")
        assert done["inventoryAdjust"]["userErrors"] == []
        wait_until(lambda: stock_of(app, tiktok_id, tiktok_sku) == 48, what="HAT's second push")
        app.wait_for_idle_sync()
    read = 46 + hat_pushes
    # and a products sync reads TikTok's 47 (48)
    _second_after(time.time())
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert app.rows("SELECT quantity FROM skus WHERE id = :i", i=db_id["id"]) == [{"quantity": read}]
    (before,) = app.rows("SELECT pushed_at FROM sku_links WHERE sku_id = :i", i=db_id["id"])
    # when the merchant links the SKU back to CAP
    linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": cap["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    (cap,) = pooled_items(app, "R60-CAP")
    assert (cap["onHand"], cap["reserved"], cap["available"]) == (20, 0, 20)
    # then CAP's push still holds the unseen sale back: TikTok stays at 17 (the shelf has 17)
    # (the link back forgets HAT's push record: its `pushed_at` is null until CAP's push)
    wait_until(
        lambda: (
            app.rows("SELECT pushed_at FROM sku_links WHERE sku_id = :i", i=db_id["id"])[0]["pushed_at"]
            not in (None, before["pushed_at"])
        ),
        what="CAP's push after the link back",
    )
    app.wait_for_idle_sync()
    pushed = pooled_items(app, "R60-CAP")[0]["links"][0]
    assert (pushed["pushedQuantity"], pushed["heldBackQuantity"], stock_of(app, tiktok_id, tiktok_sku)) == (17, 3, 17)
