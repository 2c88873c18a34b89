"""A product the seller deleted (or TikTok froze) reaches Shopbridge by webhook, over real HTTP, on SQLite and
PostgreSQL: Get Product no longer serves it (tiktok-api.md §7, the sandbox's 12052048), so the intake asks Search
Products what TikTok holds and stores that as the product poll would (`domain.unserved_products`), at once, instead
of failing the event as PRODUCT_NOT_FOUND and leaving the product live until the next poll."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_inventory_pool import SET_ON_HAND, SYNC_PRODUCTS, pool_item, stock_of
from tests.e2e.test_webhooks import EVENTS, REPLAY, all_settled, envelope, push, stored_events
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

PRODUCT_ROW = "SELECT p.status, p.updated_at, p.fingerprint FROM products p WHERE p.tiktok_product_id = :p"
SKU_ROWS = "SELECT s.tiktok_sku_id FROM skus s JOIN products p ON p.id = s.product_id WHERE p.tiktok_product_id = :p"
LINK_ROWS = """SELECT tiktok_sku_id, state, inventory_item_id FROM sku_links WHERE tiktok_product_id = :p
  ORDER BY tiktok_sku_id"""


def listed_with_a_linked_sku(app_factory: Any, seller_sku: str) -> tuple[ShopbridgeServer, dict[str, Any], str]:
    """A shop whose webhooks reach Shopbridge, and a product of seller SKU `seller_sku` (10 units) made in Seller
    Center, stored through its webhook 16 and linked to its pool item; returns (app, shop, product id)."""
    app = app_factory(webhooks=True, products=4, orders=0)
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    listing = {"title": "Mug", "skus": [{"seller_sku": seller_sku, "quantity": 10}]}
    created = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/products", listing)
    wait_until(lambda: (i := pool_item(app, seller_sku)) is not None and len(i["links"]) == 1, what="linked")
    wait_until(lambda: settled(app, 1), what="the creation's webhook processed")
    return app, shop, created["product_id"]


def event_of(app: ShopbridgeServer, shop: dict[str, Any], type_: int, product_id: str) -> dict[str, Any]:
    """The shop's one event of `type_` naming `product_id`, as the merchant sees it (GraphQL `webhookEvents`), once
    settled (waited for)."""

    def once_settled() -> dict[str, Any] | None:
        edges = app.graphql(EVENTS, {"id": shop["id"], "first": 100}, "m1")["webhookEvents"]["edges"]
        found = [e["node"] for e in edges if e["node"]["type"] == type_ and e["node"]["productId"] == product_id]
        assert len(found) <= 1, found
        return found[0] if found and found[0]["outcome"] != "PENDING" else None

    return wait_until(once_settled, what=f"the event {type_} of product {product_id} settled")


def settled(app: ShopbridgeServer, count: int) -> bool:
    """Whether the app has stored `count` events, all settled (one read: an event may arrive between two)."""
    events = stored_events(app)
    return len(events) == count and all(e["outcome"] != "PENDING" for e in events)


def stored(app: ShopbridgeServer, product_id: str) -> tuple[Any, ...]:
    """The product's row, its SKUs and its links, as the catalog and the pool hold them."""
    (product,) = app.rows(PRODUCT_ROW, p=product_id)
    skus = [r["tiktok_sku_id"] for r in app.rows(SKU_ROWS, p=product_id)]
    links = [(r["tiktok_sku_id"], r["state"], r["inventory_item_id"]) for r in app.rows(LINK_ROWS, p=product_id)]
    return product, skus, links


def import_products(app: ShopbridgeServer, shop: dict[str, Any]) -> None:
    """What the product poll does: read every product through Search Products and store it."""
    started = app.graphql(SYNC_PRODUCTS, {"id": shop["id"]}, "m1")["syncStart"]
    assert started["userErrors"] == []
    app.wait_for_task(started["tasks"][0]["id"], "m1")


def test_a_deleted_product_is_stored_deleted_at_its_webhook_and_its_seller_sku_goes_to_the_relisting(
    app_factory,
) -> None:
    # given a product of seller SKU GONE-1, linked to its item
    app, shop, old_id = listed_with_a_linked_sku(app_factory, "GONE-1")
    _, (old_sku,), [(_, _, item_id)] = stored(app, old_id)
    item = pool_item(app, "GONE-1")
    assert item is not None
    # when the seller deletes it in Seller Center: TikTok pushes webhook 5, and Get Product answers 12052048
    app.sandbox.control("POST", f"/products/{old_id}", {"status": "DELETED"})
    wait_until(lambda: settled(app, 2), what="the deletion's webhook processed")
    # then the event is PROCESSED with what was applied, not FAILED as PRODUCT_NOT_FOUND
    deletion = event_of(app, shop, 5, old_id)
    assert (deletion["outcome"], deletion["errorCode"]) == ("PROCESSED", None)
    assert "Search Products lists it DELETED: stored DELETED with its SKUs, out of the pool" in deletion["errorMessage"]
    # and the product is stored DELETED with its SKU as TikTok lists it, its link DROPPED (its item kept for its
    # orders)
    product, skus, links = stored(app, old_id)
    assert (product["status"], skus, links) == ("DELETED", [old_sku], [(old_sku, "DROPPED", item_id)])
    # and exactly as the product poll stores it: reading every product again changes nothing of it
    import_products(app, shop)
    assert stored(app, old_id) == (product, skus, links)
    # when the merchant replays the event: nothing is applied twice
    replayed = app.graphql(REPLAY, {"id": deletion["id"]}, "m1")["webhookEventReplay"]
    assert replayed["userErrors"] == []
    wait_until(lambda: all_settled(app), what="the replay processed")
    again = event_of(app, shop, 5, old_id)
    assert (again["outcome"], again["attempts"]) == ("PROCESSED", 2)
    assert stored(app, old_id) == (product, skus, links)

    # when the seller lists it again with the same seller SKU (webhook 16)
    listing = {"title": "Mug", "skus": [{"seller_sku": "GONE-1", "quantity": 10}]}
    created = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/products", listing)
    (new_sku,) = created["sku_ids"]
    wait_until(lambda: settled(app, 3), what="the re-listing's webhook processed")
    # then its SKU links to the same item, alone (not AMBIGUOUS with the deleted one)
    relisted = pool_item(app, "GONE-1")
    assert relisted is not None and relisted["id"] == item["id"]
    assert [(link["sku"]["tiktokSkuId"], link["state"]) for link in relisted["links"]] == [(new_sku, "LINKED")]
    # and a stock change is pushed to the new listing, never again to the deleted product
    app.sandbox.control("POST", "/inventory-updates/reset")
    counted = app.graphql(
        SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 7, "compareOnHand": relisted["onHand"]}}, "m1"
    )["inventorySetOnHand"]
    assert counted["userErrors"] == []
    wait_until(lambda: stock_of(app, shop, new_sku) == 7, what="the new listing's push")
    pushed = app.sandbox.control("GET", "/inventory-updates")["updates"]
    assert {u["product_id"] for u in pushed} == {created["product_id"]}


def test_a_frozen_product_is_stored_as_the_poll_stores_it(app_factory) -> None:
    # given a product of seller SKU ICE-1, linked to its item
    app, shop, product_id = listed_with_a_linked_sku(app_factory, "ICE-1")
    # when TikTok freezes it: webhook 5, and Get Product no longer serves it
    app.sandbox.control("POST", f"/products/{product_id}", {"status": "FREEZE"})
    wait_until(lambda: settled(app, 2), what="the freeze's webhook processed")
    # then the event is PROCESSED, and the product stored FREEZE, its SKU and link kept, as the poll stores it
    event = event_of(app, shop, 5, product_id)
    assert (event["outcome"], event["errorCode"]) == ("PROCESSED", None)
    assert "Search Products lists it FREEZE: stored FREEZE." in event["errorMessage"]
    product, skus, links = stored(app, product_id)
    assert product["status"] == "FREEZE" and len(skus) == 1 and [state for _, state, _ in links] == ["LINKED"]
    import_products(app, shop)
    assert stored(app, product_id) == (product, skus, links)


def test_a_product_tiktok_lists_nowhere_is_stored_deleted_and_one_never_stored_stays_not_found(app_factory) -> None:
    # given a product of seller SKU VOID-1, linked to its item
    app, shop, product_id = listed_with_a_linked_sku(app_factory, "VOID-1")
    (sku_id,) = stored(app, product_id)[1]
    # when TikTok has it no more at all (no Search Products lists it) and pushes its webhook 5
    catalog = app.sandbox.world.shop_data(app.sandbox.world.shops_by_id[shop["tiktokShopId"]]).catalog
    catalog.products.remove(catalog.by_id.pop(product_id))
    push(app, envelope(5, shop["tiktokShopId"], {"product_id": product_id, "status": "PRODUCT_STATUS_CHANGED"}))
    # and a webhook names a product Shopbridge never stored, which TikTok does not serve either
    push(app, envelope(5, shop["tiktokShopId"], {"product_id": "1729000000000000001"}))
    wait_until(lambda: settled(app, 3), what="both webhooks processed")
    # then the product is stored DELETED without its SKUs, its link DROPPED, and its event PROCESSED
    event = event_of(app, shop, 5, product_id)
    assert (event["outcome"], event["errorCode"]) == ("PROCESSED", None)
    assert "Search Products lists it nowhere: stored DELETED without its SKUs" in event["errorMessage"]
    product, skus, links = stored(app, product_id)
    assert (product["status"], skus, [(s, state) for s, state, _ in links]) == ("DELETED", [], [(sku_id, "DROPPED")])
    # and the product never stored stays PRODUCT_NOT_FOUND: nothing to correct
    unknown = event_of(app, shop, 5, "1729000000000000001")
    assert (unknown["outcome"], unknown["errorCode"]) == ("FAILED", "PRODUCT_NOT_FOUND")
    assert app.rows(PRODUCT_ROW, p="1729000000000000001") == []
    # when the merchant replays the deletion: already stored DELETED, nothing changes
    replayed = app.graphql(REPLAY, {"id": event["id"]}, "m1")["webhookEventReplay"]
    assert replayed["userErrors"] == []
    wait_until(lambda: all_settled(app), what="the replay processed")
    again = event_of(app, shop, 5, product_id)
    assert (again["outcome"], again["attempts"]) == ("PROCESSED", 2)
    assert "already stored DELETED" in again["errorMessage"]
    assert stored(app, product_id) == (product, skus, links)
