"""A seller SKU longer than its column (255 code points) is stored the same on SQLite and PostgreSQL, and stops
nothing: its SKU is kept without a seller SKU, linked by hand, an order of it is stored and counts on the SKU by
TikTok's sku_id, and the shop's later events and imports go on (`domain.stored`, `kept_seller_sku`). Its link says
why, LONG_SELLER_SKU (`domain.stored.seller_sku_too_long`, migration 0048), until the seller shortens it on TikTok.

Before sku57 its link read NO_SELLER_SKU, "no seller SKU", of a SKU that has one at TikTok: the merchant was told to
look for a seller SKU that was there, not to shorten it.

Before (try-out attack56, F-pg-poison): PostgreSQL refused the value ("value too long for type character
varying(255)"), so the product's whole batch failed, retried forever: the shop's later webhook events waited behind
it, and once a buyer ordered that SKU (a line item is a snapshot) it never recovered. SQLite stored it."""

from __future__ import annotations

from typing import Any

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

LONG = "L" * 300
SYNC_PRODUCTS = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS]}) { tasks { id }
  userErrors { code } } }"""
PRODUCTS = """query($id: ID!) { shop(id: $id) { products(first: 100) { edges { node { tiktokProductId
  skus { id tiktokSkuId sellerSku quantity link { state inventoryItem { id sku reserved } } } } } } } }"""
ORDERS = """query($id: ID!) { shop(id: $id) { orders(first: 100) { edges { node { tiktokOrderId
  lineItems { tiktokSkuId sellerSku quantity } } } } } }"""
UNLINKED = (
    """query($id: ID!) { unlinkedSkus(shopId: $id, first: 100) { edges { node { sku { tiktokSkuId } state } } } }"""
)
CREATE = """mutation($sku: String!) { inventoryItemCreate(input: {sku: $sku, onHand: 10}) {
  inventoryItem { id } userErrors { code } } }"""
LINK = """mutation($sku: ID!, $item: ID!) { skuLink(input: {skuId: $sku, inventoryItemId: $item}) {
  userErrors { code } } }"""
ITEM = """query($id: ID!) { node(id: $id) { ... on InventoryItem { sku onHand reserved } } }"""


def stored_product(app: ShopbridgeServer, shop_id: str, product_id: str) -> dict[str, Any] | None:
    edges = app.graphql(PRODUCTS, {"id": shop_id}, "m1")["shop"]["products"]["edges"]
    return next((e["node"] for e in edges if e["node"]["tiktokProductId"] == product_id), None)


def stored_order(app: ShopbridgeServer, shop_id: str, order_id: str) -> dict[str, Any] | None:
    edges = app.graphql(ORDERS, {"id": shop_id}, "m1")["shop"]["orders"]["edges"]
    return next((e["node"] for e in edges if e["node"]["tiktokOrderId"] == order_id), None)


def settled(app: ShopbridgeServer) -> list[dict[str, Any]] | None:
    """The shop's webhook events once none is PENDING any more (None until then)."""
    rows = app.rows("SELECT outcome FROM webhook_events")
    return rows if rows and all(r["outcome"] != "PENDING" for r in rows) else None


def test_a_seller_sku_over_255_characters_is_kept_without_it_and_the_shop_syncs_on(app_factory) -> None:
    # given a connected shop whose webhooks TikTok delivers
    app = app_factory(webhooks=True)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    tiktok_id = shop["tiktokShopId"]
    # when the seller creates a product with a 300-character seller SKU and a normal sibling SKU
    specs = [{"seller_sku": LONG, "quantity": 3}, {"seller_sku": "SIB-1", "quantity": 4}]
    created = app.sandbox.control("POST", f"/shops/{tiktok_id}/products", {"title": "Long SKU lamp", "skus": specs})
    long_sku, sibling_sku = created["sku_ids"]
    # then its webhook stores it: both SKUs with their stock, the long one without a seller SKU, LONG_SELLER_SKU
    product = wait_until(lambda: stored_product(app, shop["id"], created["product_id"]), what="the product")
    skus = {s["tiktokSkuId"]: s for s in product["skus"]}
    assert (skus[long_sku]["sellerSku"], skus[long_sku]["quantity"]) == (None, 3)
    assert skus[long_sku]["link"]["state"] == "LONG_SELLER_SKU" and skus[long_sku]["link"]["inventoryItem"] is None
    assert (skus[sibling_sku]["sellerSku"], skus[sibling_sku]["link"]["state"]) == ("SIB-1", "LINKED")
    unlinked = app.graphql(UNLINKED, {"id": shop["id"]}, "m1")["unlinkedSkus"]["edges"]
    assert {"sku": {"tiktokSkuId": long_sku}, "state": "LONG_SELLER_SKU"} in [e["node"] for e in unlinked]
    # when a buyer orders the long-SKU SKU (the line's snapshot holds the 300 characters), then the sibling
    first = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": long_sku, "quantity": 1})
    second = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sibling_sku, "quantity": 2})
    # then both orders are stored, the long line without its seller SKU, the later one's lines (one a unit, as
    # TikTok's 202309 lines) with their own
    order = wait_until(lambda: stored_order(app, shop["id"], first["order_id"]), what="the long-SKU order")
    assert order["lineItems"] == [{"tiktokSkuId": long_sku, "sellerSku": None, "quantity": 1}]
    later = wait_until(lambda: stored_order(app, shop["id"], second["order_id"]), what="the later order")
    assert later["lineItems"] == [{"tiktokSkuId": sibling_sku, "sellerSku": "SIB-1", "quantity": 1}] * 2
    # and the sibling's item reserves its units; every webhook event of the shop is settled, none failed
    sibling_item = stored_product(app, shop["id"], created["product_id"])
    reserved = {s["tiktokSkuId"]: s["link"]["inventoryItem"] for s in (sibling_item or {}).get("skus", [])}
    assert reserved[sibling_sku] is not None and reserved[sibling_sku]["reserved"] == 2
    events = wait_until(lambda: settled(app), what="every webhook event settled")
    assert "FAILED" not in {r["outcome"] for r in events}
    # when the merchant links the long-SKU SKU by hand, its order reserves on that item by TikTok's sku_id
    item = app.graphql(CREATE, {"sku": "LONG-LAMP"}, "m1")["inventoryItemCreate"]["inventoryItem"]
    assert app.graphql(LINK, {"sku": skus[long_sku]["id"], "item": item["id"]}, "m1")["skuLink"]["userErrors"] == []
    assert app.graphql(ITEM, {"id": item["id"]}, "m1")["node"] == {"sku": "LONG-LAMP", "onHand": 10, "reserved": 1}
    # and a products import of the shop succeeds with every product, nothing failed
    started = app.graphql(SYNC_PRODUCTS, {"id": shop["id"]}, "m1")["syncStart"]
    task = app.wait_for_task(started["tasks"][0]["id"], "m1")
    assert (task["status"], task["failed"]) == ("SUCCEEDED", 0)
    assert app.rows("SELECT seller_sku FROM skus WHERE tiktok_sku_id = :s", s=long_sku) == [{"seller_sku": None}]


def links_of(app: ShopbridgeServer, shop_id: str, product_id: str) -> dict[str, tuple[str | None, str | None]]:
    """(seller SKU, link state) of each SKU of the stored product, by TikTok SKU id."""
    product = stored_product(app, shop_id, product_id)
    assert product is not None
    return {s["tiktokSkuId"]: (s["sellerSku"], s["link"]["state"]) for s in product["skus"]}


def imported(app: ShopbridgeServer, shop_id: str) -> None:
    """A products import of the shop (Search Products), run to its end and succeeded with nothing failed."""
    started = app.graphql(SYNC_PRODUCTS, {"id": shop_id}, "m1")["syncStart"]
    task = app.wait_for_task(started["tasks"][0]["id"], "m1")
    assert (task["status"], task["failed"]) == ("SUCCEEDED", 0)


def test_an_imported_seller_sku_too_long_to_keep_is_long_seller_sku_until_shortened_on_tiktok(app_factory) -> None:
    # given a connected shop (no webhooks: products arrive by import, Search Products) and a product of the seller's
    # with a 300-character seller SKU and one of 255, the most kept (a blank one, which the sandbox refuses, is in
    # tests/unit/test_stored_bounds.py)
    app = app_factory()
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    specs = [
        {"seller_sku": LONG, "quantity": 3},
        {"seller_sku": "K" * 255, "quantity": 1},
    ]
    created = app.sandbox.control("POST", f"/shops/{tiktok_id}/products", {"title": "Long SKU lamp", "skus": specs})
    long_sku, kept_sku = created["sku_ids"]
    # when the shop's products are imported
    imported(app, shop["id"])
    # then the 300-character one reads LONG_SELLER_SKU (not "no seller SKU"), the 255-character one is linked by it
    links = links_of(app, shop["id"], created["product_id"])
    assert links[long_sku] == (None, "LONG_SELLER_SKU")
    assert links[kept_sku] == ("K" * 255, "LINKED")
    unlinked = app.graphql(UNLINKED, {"id": shop["id"]}, "m1")["unlinkedSkus"]["edges"]
    states = {e["node"]["sku"]["tiktokSkuId"]: e["node"]["state"] for e in unlinked}
    assert states[long_sku] == "LONG_SELLER_SKU" and kept_sku not in states
    # when the seller shortens it on TikTok and the shop is imported again, then it links by its seller SKU
    edit = {"skus": [{"id": long_sku, "seller_sku": "LAMP-1"}]}
    app.sandbox.control("POST", f"/products/{created['product_id']}", edit)
    imported(app, shop["id"])
    assert links_of(app, shop["id"], created["product_id"])[long_sku] == ("LAMP-1", "LINKED")
    # and made too long again, it reads LONG_SELLER_SKU again (an import's, AUTO: left without its item)
    app.sandbox.control("POST", f"/products/{created['product_id']}", {"skus": [{"id": long_sku, "seller_sku": LONG}]})
    imported(app, shop["id"])
    assert links_of(app, shop["id"], created["product_id"])[long_sku] == (None, "LONG_SELLER_SKU")
