"""A product import over real HTTP, on SQLite and PostgreSQL, while TikTok's catalog changes under its pages.

Search Products pages by offset (the sandbox's tokens are offsets, as TikTok's are not documented otherwise): a
product updated while its window is walked leaves it, the products after it move up one place, and one of them
lands on a page already read. The walk must still store every product TikTok has (adapters/tiktok/product_scan.py).
"""

from __future__ import annotations

import time

from tests.fixtures.app import ShopbridgeServer

SEARCH = "/product/202309/products/search"
PRODUCTS = """query($id: ID!) { shop(id: $id) { productCount products(first: 100) { edges { node {
  tiktokProductId title } } } } }"""


def stored_products(app: ShopbridgeServer, shop_id: str) -> dict[str, str]:
    edges = app.graphql(PRODUCTS, {"id": shop_id}, "m1")["shop"]["products"]["edges"]
    return {e["node"]["tiktokProductId"]: e["node"]["title"] for e in edges}


def test_a_product_updated_on_a_page_already_read_skips_no_other_product(app_factory) -> None:
    # given a shop of 30 products imported in pages of 10, TikTok holding each product search until released
    app = app_factory(products=30, sync_page_size=10, tiktok_timeout_seconds=30)
    app.sandbox.hold(SEARCH)
    shop = app.connect_shop("m1", "us-local", "US")
    app.sandbox.wait_held(1)
    app.sandbox.let_through(1)  # the first page is answered; the second is asked and waits
    world = app.sandbox.world
    catalog = world.shop_data(world.shops_by_id[shop["tiktokShopId"]]).catalog
    # when the seller edits a product of the first page meanwhile: it leaves the window being walked
    edited = catalog.products[0]
    edited["title"], edited["update_time"] = "Edited during the import", int(time.time()) + 120
    app.sandbox.hold()
    app.wait_for_idle_sync()
    # then every product TikTok has is stored, the one that moved up onto the first page too, the edit included
    stored = stored_products(app, shop["id"])
    assert set(stored) == {p["id"] for p in catalog.products}
    assert stored[edited["id"]] == "Edited during the import"
