"""A SKU whose push under its item held back a sale made there and unseen, moved by hand to another item after a
products read (create from the SKU, or `skuLink`): the new item's fence starts from that read, which already left the
sale out, so its push holds nothing back for it again (review60 F1: it wrote 15 where TikTok, the pool and the shelf
said 18)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.fence_given import SYNC_START, held_sale, pushed_sku, second_after, unlink_and_read
from tests.e2e.test_inventory_create_from_sku import DELETE_SHOP, _create
from tests.e2e.test_inventory_pool import LINK
from tests.e2e.test_inventory_push import pooled_items, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until


@pytest.mark.parametrize("way", ["seeded", "skuLink"])
def test_a_hold_of_the_item_before_is_not_held_again_by_the_item_a_sku_moved_to(
    app_factory: Callable[..., ShopbridgeServer], way: str
) -> None:
    app = app_factory(products=6, orders=0)
    hat = pushed_sku(app, "R60-HAT", 20)
    tiktok_id, tiktok_sku, sku_gid = hat.tiktok_id, hat.tiktok_sku, hat.sku_gid
    # given a sale of 3 made under HAT, unseen, which ships from HAT's shelf before the SKU leaves HAT (R5: it counts
    # on HAT whenever first seen), and a push of HAT (a delivery of 1 counted) that holds it back: TikTok 21 - 3 = 18
    held_sale(app, hat, 3, shipped=True)
    second_after(time.time())
    # when the merchant unlinks the SKU, a products sync reads TikTok's 18, and the SKU goes to a new item
    unlink_and_read(app, hat)
    assert app.rows("SELECT quantity FROM skus WHERE tiktok_sku_id = :s", s=tiktok_sku) == [{"quantity": 18}]
    if way == "skuLink":
        done = _create(app, sku="R60-NEW", onHand=18)
        assert done["userErrors"] == [], done
        linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": done["inventoryItem"]["id"]}}, "m1")
        assert linked["skuLink"]["userErrors"] == []
    else:
        done = _create(app, sku="R60-NEW", skuId=sku_gid)
        assert done["userErrors"] == [], done
    (new,) = pooled_items(app, "R60-NEW")
    assert (new["onHand"], new["reserved"], new["available"]) == (18, 0, 18)
    # then the new item's first push keeps TikTok's 18: the read already left the sale out (HAT's push wrote 18)
    wait_until(lambda: pooled_items(app, "R60-NEW")[0]["links"][0]["pushedQuantity"] is not None, what="a push")
    app.wait_for_idle_sync()
    pushed = pooled_items(app, "R60-NEW")[0]["links"][0]
    assert (pushed["pushedQuantity"], pushed["heldBackQuantity"], stock_of(app, tiktok_id, tiktok_sku)) == (18, 0, 18)


def test_a_seeded_item_does_not_hold_back_an_open_sale_its_seed_already_counted_in(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """F1 with the sale still open: the seed (18, the read) leaves the open order out and the order, made before the
    read and first seen after, carries its units into NEW (21 / 3 / 18): TikTok should stay 18 throughout."""
    app = app_factory(products=6, orders=0)
    hat = pushed_sku(app, "R60-HAT", 20)
    tiktok_id, tiktok_sku, shop = hat.tiktok_id, hat.tiktok_sku, hat.shop
    held_sale(app, hat, 3, shipped=False)
    second_after(time.time())
    unlink_and_read(app, hat)
    done = _create(app, sku="R60-NEW", skuId=hat.sku_gid)
    assert done["userErrors"] == [], done
    wait_until(lambda: pooled_items(app, "R60-NEW")[0]["links"][0]["pushedQuantity"] is not None, what="a push")
    app.wait_for_idle_sync()
    first = pooled_items(app, "R60-NEW")[0]["links"][0]
    first_push = (first["pushedQuantity"], first["heldBackQuantity"], stock_of(app, tiktok_id, tiktok_sku))
    # the open order, first seen now, carries its units into NEW's seed
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    (new,) = pooled_items(app, "R60-NEW")
    assert ((new["onHand"], new["reserved"], new["available"]), first_push) == ((21, 3, 18), (18, 0, 18))


def _held_then_moved(app: ShopbridgeServer) -> tuple[dict[str, Any], str, float]:
    """HAT (R60-HAT, 20) imported and pushed; a sale of 3 under HAT, shipped from HAT's shelf, unseen; a push of HAT
    (a delivery of 1) holds it back (TikTok 18); the SKU unlinked, read again (18), and linked by hand to NEW, made
    with onHand 18 (the two-step way: an item created from the SKU goes with its shop). (the shop, its TikTok shop
    id, the sale's time)"""
    hat = pushed_sku(app, "R60-HAT", 20)
    # (shipped from HAT's shelf before the SKU leaves HAT: R5, it counts on HAT whenever first seen)
    sold_at = held_sale(app, hat, 3, shipped=True)
    second_after(time.time())
    unlink_and_read(app, hat)
    done = _create(app, sku="R60-NEW", onHand=18)
    assert done["userErrors"] == [], done
    linked = app.graphql(LINK, {"input": {"skuId": hat.sku_gid, "inventoryItemId": done["inventoryItem"]["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    return hat.shop, hat.tiktok_id, sold_at


def _hat_and_new(app: ShopbridgeServer) -> tuple[tuple[int, int], tuple[int, int]]:
    (hat,) = pooled_items(app, "R60-HAT")
    (new,) = pooled_items(app, "R60-NEW")
    return (hat["onHand"], hat["available"]), (new["onHand"], new["available"])


def test_a_delete_takes_a_moved_sku_s_held_sale_off_the_item_it_was_sold_under(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review60 F3: the hold HAT's push recorded (a sale made under HAT, unseen), its SKU then moved by hand to NEW;
    the shop's delete, within the horizon, takes the standing hold off HAT's on-hand, whose shelf the sale ships
    from, and not off NEW's, whose read already left it out. (Before: off NEW, `((21, 21), (15, 15))`; once the move
    forgot the hold, off neither, `((21, 21), (18, 18))`: HAT over by 3 for good with no reconnect.)"""
    app = app_factory(products=6, orders=0)
    shop, _, _ = _held_then_moved(app)
    # when the merchant deletes the shop (within the hold's horizon; the sale never ingested)
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    # then the sale leaves HAT's shelf (sold under HAT), and NEW keeps TikTok's 18 that already left it out
    assert _hat_and_new(app) == ((18, 18), (18, 18))


def test_a_moved_sku_s_held_sale_ingested_before_the_delete_leaves_its_item_once(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """The moved hold is replaced by the sale's order once ingested (the SKU's running count since HAT's push): the
    delete takes nothing more off HAT."""
    app = app_factory(products=6, orders=0)
    shop, _, _ = _held_then_moved(app)
    # given the sale ingested (the orders sync): shipped under HAT, it deducts there (R5)
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert _hat_and_new(app) == ((18, 18), (18, 18))
    # when the merchant deletes the shop
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    # then HAT is not taken the sale's units a second time
    assert _hat_and_new(app) == ((18, 18), (18, 18))


def test_a_moved_sku_s_held_sale_taken_off_by_a_delete_counts_once_when_the_shop_connects_again(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """The delete records the moved hold's units against HAT (`deleted_shop_holds`); the same TikTok shop connected
    again imports the sale (shipped, made under HAT's kept link), which takes the record's units instead of
    deducting them from HAT a second time."""
    app = app_factory(products=6, orders=0)
    shop, _, sold_at = _held_then_moved(app)
    deleted = app.graphql(DELETE_SHOP, {"input": {"shopId": shop["id"]}}, "m1")["shopDelete"]
    assert deleted["userErrors"] == []
    assert _hat_and_new(app) == ((18, 18), (18, 18))
    # when the merchant connects that TikTok shop again (once the sale's second has passed: an import's window ends
    # at its start's whole second), and its import brings the sale
    second_after(sold_at)
    app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    # then the sale has left HAT's shelf once, and NEW is as counted
    assert _hat_and_new(app) == ((18, 18), (18, 18))
