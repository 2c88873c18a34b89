"""A burst of product webhooks over real HTTP, on SQLite and PostgreSQL: one run fetches the products several at a
time, so that a bulk edit's hundreds of events fit in the run's time limit (domain/services/intake.py).

The tests sign pushes themselves (tests/e2e/test_webhooks.py) and hold TikTok's Get Product at the sandbox to see
how many calls are in flight at once: a condition, not a clock.
"""

from __future__ import annotations

from typing import Any

from domain.services.intake import PRODUCT_FETCHES_AT_ONCE
from tests.e2e.test_webhooks import PRODUCTS, all_settled, envelope, push, stored_events
from tests.fixtures.waiting import wait_until

GET_PRODUCT = "/product/202309/products/{product_id}"


def test_a_bulk_edit_s_product_events_are_fetched_several_at_a_time_and_all_applied(app_factory) -> None:
    # given a shop of 30 imported products, each renamed at TikTok (a bulk edit in Seller Center)
    app = app_factory(products=30, tiktok_timeout_seconds=120)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    world = app.sandbox.world
    products = world.shop_data(world.shops_by_id[tiktok_id]).catalog.products
    for product in products:
        product["title"], product["update_time"] = f"Bulk edited {product['id']}", product["update_time"] + 60
    # and TikTok holding every Get Product until the test releases it
    app.sandbox.hold(GET_PRODUCT)
    # when TikTok pushes one product event per product: the first one's run takes it alone, and its Get Product
    # waits at TikTok while the others arrive and wait for the shop's next run
    pushes = [envelope(15, tiktok_id, {"product_id": p["id"], "changed_fields": ["title"]}) for p in products]
    assert push(app, pushes[0]).status_code == 200
    app.sandbox.wait_held(1)
    assert {push(app, body).status_code for body in pushes[1:]} == {200}
    wait_until(lambda: len(stored_events(app)) == len(pushes), what="every push stored")
    assert app.sandbox.release_held() == 1
    # then the run has PRODUCT_FETCHES_AT_ONCE Get Product calls in flight together, and no more
    wait_until(
        lambda: app.sandbox.control("GET", "/hold")["waiting"] >= PRODUCT_FETCHES_AT_ONCE,
        what=f"{PRODUCT_FETCHES_AT_ONCE} Get Product calls in flight at once",
    )
    assert app.sandbox.control("GET", "/hold")["waiting"] == PRODUCT_FETCHES_AT_ONCE
    # and once TikTok answers, every event is processed and every product has TikTok's title
    app.sandbox.hold()
    wait_until(lambda: all_settled(app), what="every event processed")
    assert {e["outcome"] for e in stored_events(app)} == {"PROCESSED"}
    edges: list[dict[str, Any]] = app.graphql(PRODUCTS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    assert {e["node"]["tiktokProductId"]: e["node"]["title"] for e in edges} == {p["id"]: p["title"] for p in products}
