"""A NUL in TikTok's text (a seller's product title or seller SKU, sent as `\\u0000`) is imported as U+FFFD, on
SQLite and PostgreSQL alike.

Before: PostgreSQL refused the NUL ("invalid byte sequence for encoding UTF8: 0x00"), so the product's whole batch
failed, at every retry (a traceback at ERROR each time) and at every poll after: no product of that shop was
imported or updated any more."""

from __future__ import annotations

from tests.fixtures.app import ShopbridgeServer

SYNC_PRODUCTS = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS]}) { tasks { id }
  userErrors { code } } }"""
PRODUCTS = """query($id: ID!) { shop(id: $id) { products(first: 100) { edges { node { title
  skus { sellerSku link { state inventoryItem { sku } } } } } } } }"""


def test_a_product_whose_title_and_seller_sku_hold_a_nul_is_imported_with_the_replacement_character(
    app: ShopbridgeServer,
) -> None:
    # given a connected shop, and a seller who then creates in Seller Center a product whose title and seller SKU
    # hold a NUL, and an ordinary one
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    products = f"/shops/{shop['tiktokShopId']}/products"
    app.sandbox.control("POST", products, {"title": "Lamp\x00X", "skus": [{"seller_sku": "NUL\x00SKU", "quantity": 3}]})
    app.sandbox.control("POST", products, {"title": "Plain lamp", "skus": [{"seller_sku": "PLAIN-1", "quantity": 2}]})
    # when the products are imported
    started = app.graphql(SYNC_PRODUCTS, {"id": shop["id"]}, "m1")["syncStart"]
    task = app.wait_for_task(started["tasks"][0]["id"], "m1")
    # then the import succeeds with both, the NUL read as U+FFFD, and the SKUs link by their seller SKU
    assert (task["status"], task["created"], task["failed"], task["attempts"]) == ("SUCCEEDED", 2, 0, 1)
    edges = app.graphql(PRODUCTS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    imported = {e["node"]["title"]: e["node"]["skus"] for e in edges if "lamp" in e["node"]["title"].lower()}
    assert imported == {
        "Lamp\ufffdX": [
            {"sellerSku": "NUL\ufffdSKU", "link": {"state": "LINKED", "inventoryItem": {"sku": "NUL\ufffdSKU"}}}
        ],
        "Plain lamp": [{"sellerSku": "PLAIN-1", "link": {"state": "LINKED", "inventoryItem": {"sku": "PLAIN-1"}}}],
    }
