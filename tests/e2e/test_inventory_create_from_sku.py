"""`inventoryItemCreate` with `skuId`: an item created from a shop SKU and linked to it in one step, end to end over
real HTTP (the sandbox's market) on SQLite and PostgreSQL (seed59; tryout58 F2, F3, F4).

Rule (README "Seeding", `domain.inventory.links.seed_on_hand`): TikTok's stock of a SKU already leaves out the units
of its unshipped orders, which the link then reserves on the item; so an item seeded from a SKU holds that stock plus
those units, and right after, its `available` is what TikTok shows. The console's two-step way (create with TikTok's
stock as on-hand, then `skuLink`) counted the open orders twice: available = stock less their units, pushed so."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_inventory_pool import LINK, UNLINK
from tests.e2e.test_inventory_push import pooled_items, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

CREATE = """mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { id sku onHand reserved available links { state source sku { id tiktokSkuId } } }
  userErrors { code field message } } }"""
UNLINKED = """query($id: ID!) { unlinkedSkus(shopId: $id, first: 100) {
  edges { node { state sku { id tiktokSkuId quantity } } } } }"""
SYNC_START = """mutation($input: SyncStartInput!) { syncStart(input: $input) { userErrors { code } } }"""
DELETE_SHOP = "mutation($input: ShopDeleteInput!) { shopDelete(input: $input) { deletedShopId userErrors { code } } }"
TWIN = "SEED59-TWIN"


def _twins_with_an_open_order(app: ShopbridgeServer) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """Maple connected and imported, with a product whose two SKUs share the seller SKU `TWIN` (AMBIGUOUS: no item,
    no link), 20 and 5 units at TikTok, and a buyer's open order of 3 units of the first, made before the import read
    the stock (TikTok's stock of it: 17). Returns the shop, the first SKU's and the second's unlinked rows
    (`unlinkedSkus`), and the Maple's TikTok shop id."""
    tiktok_id = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "Seed59 mug", "skus": [{"seller_sku": TWIN, "quantity": 20}, {"seller_sku": TWIN, "quantity": 5}]},
    )  # fmt: skip
    first_id, second_id = made["sku_ids"]
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": first_id, "quantity": 3})
    made_by = int(time.time())  # the order's create_time is this second at the latest
    assert stock_of(app, tiktok_id, first_id) == 17
    # (TikTok's create_time is whole seconds: the stock read comes in a later second, which proves the order first)
    wait_until(lambda: time.time() >= made_by + 1, what="the second after the sale")
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    unlinked = {
        e["node"]["sku"]["tiktokSkuId"]: e["node"]
        for e in app.graphql(UNLINKED, {"id": shop["id"]}, "m1")["unlinkedSkus"]["edges"]
    }
    first, second = unlinked[first_id], unlinked[second_id]
    assert (first["state"], first["sku"]["quantity"], second["sku"]["quantity"]) == ("AMBIGUOUS", 17, 5)
    return shop, first["sku"], second["sku"], tiktok_id


def _create(app: ShopbridgeServer, **fields: Any) -> dict[str, Any]:
    return dict(app.graphql(CREATE, {"input": fields}, "m1")["inventoryItemCreate"])


def test_an_item_created_from_a_sku_with_open_orders_is_seeded_once_as_an_import_seeds(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a SKU that draws on no item, TikTok's stock 17 (20 less the 3 units of an open order)
    app = app_factory(products=6, orders=0)
    _shop, sku, _other, tiktok_id = _twins_with_an_open_order(app)

    # when the merchant creates an item from it, leaving the on-hand out
    done = _create(app, sku="SEED59-MUG", skuId=sku["id"])

    # then the item holds TikTok's stock plus the open order's units, which reserve on it: available is TikTok's
    # (the two-step way, created with TikTok's 17 and then linked, showed 17 / 3 / 14: the 3 units counted twice)
    assert done["userErrors"] == [], done
    item = done["inventoryItem"]
    assert (item["sku"], item["onHand"], item["reserved"], item["available"]) == ("SEED59-MUG", 20, 3, 17)
    assert [(ln["state"], ln["source"], ln["sku"]["id"]) for ln in item["links"]] == [("LINKED", "MANUAL", sku["id"])]
    # and its movement is the import's seed: nothing by hand
    moves = """SELECT m.kind, m.on_hand_delta AS o, m.reserved_delta AS r FROM inventory_movements m
      JOIN inventory_items i ON i.id = m.inventory_item_id WHERE i.sku = :s ORDER BY m.kind"""
    assert [(m["kind"], m["o"], m["r"]) for m in app.rows(moves, s="SEED59-MUG")] == [
        ("RESERVED", 0, 3), ("SEEDED", 20, 0),
    ]  # fmt: skip

    # and the first push leaves TikTok's stock as it was (the two-step way pushed 14)
    def link() -> dict[str, Any]:
        (now,) = [i for i in pooled_items(app, "SEED59-MUG") if i["id"] == item["id"]]
        return dict(now["links"][0])

    wait_until(lambda: link()["pushedQuantity"] is not None, what="the first push of the created item's SKU")
    assert (link()["pushedQuantity"], link()["heldBackQuantity"]) == (17, 0)
    assert stock_of(app, tiktok_id, sku["tiktokSkuId"]) == 17


def test_an_on_hand_given_is_the_shelf_count_that_the_open_orders_reserve_on(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given the same SKU (TikTok's 17, an open order of 3)
    app = app_factory(products=6, orders=0)
    _shop, sku, _other, _tiktok_id = _twins_with_an_open_order(app)
    # when the merchant creates the item from it with the 20 units counted on the shelf
    done = _create(app, sku="SEED59-COUNTED", skuId=sku["id"], onHand=20)
    # then that is its on-hand, and the open order reserves on it
    assert done["userErrors"] == [], done
    item = done["inventoryItem"]
    assert (item["onHand"], item["reserved"], item["available"]) == (20, 3, 17)
    assert [(ln["state"], ln["source"]) for ln in item["links"]] == [("LINKED", "MANUAL")]


def test_an_on_hand_given_is_a_count_that_covers_a_shipment_first_seen_after_it(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """Rule (`ledger.counted_after_shipment`: a count at T covers every shipment that left the shelf by T): the
    on-hand given with skuId is the merchant's count of the shelf, so an open order Shopbridge still holds open when
    it shipped before the count, first seen shipped after it, releases its reservation and takes nothing off on-hand
    a second time (recorded as CREATED, no count, it did: on-hand 14 where the shelf held 17)."""
    # given the SKU's open order of 3 (stored open, waiting for a link), which then leaves the shelf unseen
    app = app_factory(products=6, orders=0)
    shop, sku, _other, _tiktok_id = _twins_with_an_open_order(app)
    (order,) = app.rows("SELECT DISTINCT tiktok_order_id AS o FROM order_line_stock WHERE tiktok_sku_id = :s",
                        s=sku["tiktokSkuId"])  # fmt: skip
    shipped = app.sandbox.control("POST", f"/orders/{order['o']}/status", {"status": "IN_TRANSIT"})
    wait_until(lambda: time.time() >= shipped["update_time"] + 1, what="the second after the shipment")
    # when the merchant creates the item from the SKU with the 17 units the shelf holds
    done = _create(app, sku="SEED59-SHELF", skuId=sku["id"], onHand=17)
    assert done["userErrors"] == [], done
    assert (done["inventoryItem"]["onHand"], done["inventoryItem"]["reserved"]) == (17, 3)
    # and only then does an orders sync bring the order, shipped
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    # then the count stands: the shipment takes its units off reserved only
    (item,) = pooled_items(app, "SEED59-SHELF")
    assert (item["onHand"], item["reserved"], item["available"]) == (17, 0, 17)


def test_a_create_from_a_sku_linked_meanwhile_or_of_a_deleted_shop_creates_nothing(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given two SKUs that draw on no item, the first then linked by a create in another tab
    app = app_factory(products=6, orders=0)
    shop, sku, other, _tiktok_id = _twins_with_an_open_order(app)
    assert _create(app, sku="SEED59-FIRST", skuId=sku["id"])["userErrors"] == []

    # when a stale tab creates another item from that SKU
    late = _create(app, sku="SEED59-LATE", skuId=sku["id"])
    # then it is refused with a stable code on the SKU, and no item is made
    assert (late["inventoryItem"], [(e["code"], e["field"]) for e in late["userErrors"]]) == (
        None, [("SKU_LINK_CHANGED", ["skuId"])],
    )  # fmt: skip
    assert pooled_items(app, "SEED59-LATE") == []

    # when an item is created from the second SKU with a control character in its SKU: a NUL is refused before
    # anything runs (no column stores it: gql/text_inputs.py), a tab by the SKU's rule, on the field, in words
    nul = app.raw_graphql(CREATE, {"input": {"sku": "SEED59\u0000NUL", "skuId": other["id"]}}, "m1")
    assert [e["extensions"]["code"] for e in nul["errors"]] == ["BAD_USER_INPUT"]
    assert nul["errors"][0]["message"].startswith("Text may not contain a NUL character (U+0000)")
    tab = _create(app, sku="SEED59\tTAB", skuId=other["id"])
    assert [(e["code"], e["field"], e["message"]) for e in tab["userErrors"]] == [(
        "INVALID_INPUT", ["sku"],
        "A SKU must not contain control characters or text-direction overrides (found U+0009).",
    )]  # fmt: skip
    # when an item is created from the second SKU with a SKU an item has: refused, the SKU still draws on nothing
    taken = _create(app, sku="SEED59-FIRST", skuId=other["id"])
    assert [e["code"] for e in taken["userErrors"]] == ["SKU_ALREADY_EXISTS"]
    unlinked = app.graphql(UNLINKED, {"id": shop["id"]}, "m1")["unlinkedSkus"]["edges"]
    assert [e["node"]["sku"]["id"] for e in unlinked if e["node"]["sku"]["id"] == other["id"]] == [other["id"]]

    # when the shop is deleted, then an item is created from its SKU (a dialog left open)
    assert app.graphql(DELETE_SHOP, {"input": {"shopId": shop["id"]}}, "m1")["shopDelete"]["userErrors"] == []
    gone = _create(app, sku="SEED59-GONE", skuId=other["id"])
    # then it is refused NOT_FOUND on the SKU, and no item is made
    assert (gone["inventoryItem"], [(e["code"], e["field"]) for e in gone["userErrors"]]) == (
        None, [("NOT_FOUND", ["skuId"])],
    )  # fmt: skip
    assert pooled_items(app, "SEED59-GONE") == []
    # and the item seeded from its SKU went with it, as an imported one (nothing on it by hand)
    assert pooled_items(app, "SEED59-FIRST") == []


def _orders_sync(app: ShopbridgeServer, shop_id: str) -> None:
    started = app.graphql(SYNC_START, {"input": {"shopId": shop_id, "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()


def test_a_seed_counts_the_units_of_an_order_open_at_the_read_and_cancelled_since(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review59b F2: the stored read (17) left out an open order of 3 that was cancelled after it (TikTok back at 20);
    the seed is what the products import would seed reading TikTok now (20, nothing open): 20 / 0 / 20, and the
    first push leaves TikTok at 20 (before: 17 / 0 / 17, pushed 17)."""
    # given the SKU (stored quantity 17: 20 less an open order of 3 made before the import's read)
    app = app_factory(products=6, orders=0)
    shop, sku, _other, tiktok_id = _twins_with_an_open_order(app)
    (order,) = app.rows("SELECT DISTINCT tiktok_order_id AS o FROM order_line_stock WHERE tiktok_sku_id = :s",
                        s=sku["tiktokSkuId"])  # fmt: skip
    # and the order then cancelled at TikTok in a later second than the read (its 3 units back on TikTok's stock;
    # a cancel of the read's own second may have come before it, `released_before_read`), stored by an orders sync
    read_by = int(time.time())
    wait_until(lambda: time.time() >= read_by + 1, what="the second after the read")
    cancelled = app.sandbox.control("POST", f"/orders/{order['o']}/status", {"status": "CANCELLED"})
    wait_until(lambda: time.time() >= cancelled["update_time"] + 1, what="the second after the cancel")
    _orders_sync(app, shop["id"])
    stored = app.rows("SELECT quantity FROM skus WHERE tiktok_sku_id = :i", i=sku["tiktokSkuId"])
    assert (stock_of(app, tiktok_id, sku["tiktokSkuId"]), stored) == (20, [{"quantity": 17}])

    # when the merchant creates an item from it, the on-hand left out
    done = _create(app, sku="FIX59-CANCEL", skuId=sku["id"])
    assert done["userErrors"] == [], done
    item = done["inventoryItem"]

    # then it holds what TikTok holds: the cancelled order's units were left out of the read and are on the shelf
    assert (item["onHand"], item["reserved"], item["available"]) == (20, 0, 20)
    wait_until(lambda: pooled_items(app, "FIX59-CANCEL")[0]["links"][0]["pushedQuantity"] is not None, what="a push")
    pushed = pooled_items(app, "FIX59-CANCEL")[0]["links"][0]
    assert (pushed["pushedQuantity"], stock_of(app, tiktok_id, sku["tiktokSkuId"])) == (20, 20)


def test_a_seed_is_refused_for_a_product_whose_stock_read_time_is_unknown(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """review59b F1: a product stored before migration 0020 and not rewritten since has no `stock_read_at`: its stored
    quantity cannot be paired with the open orders (one made after the unknown read is in it already), so the seeded
    form is refused, ON_HAND_REQUIRED on onHand, nothing created; with the shelf's count given it is created (before:
    seeded with `now` as the read, 22 / 5 / 17 where the import seeds 20 / 5 / 15)."""
    # given the SKU (TikTok 17, an open order of 3 made before the import's read), then a second open order of 2
    # made after that read and stored (TikTok now 15; the stored quantity stays 17), and the read's time unknown
    app = app_factory(products=6, orders=0)
    shop, sku, _other, tiktok_id = _twins_with_an_open_order(app)
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku["tiktokSkuId"], "quantity": 2})
    made_by = int(time.time())
    wait_until(lambda: time.time() >= made_by + 1, what="the second after the sale")
    _orders_sync(app, shop["id"])
    stored = app.rows("SELECT SUM(quantity) AS q FROM order_line_stock WHERE tiktok_sku_id = :s", s=sku["tiktokSkuId"])
    assert stored == [{"q": 5}]
    app.execute(
        "UPDATE products SET stock_read_at = NULL WHERE id = "
        f"(SELECT product_id FROM skus WHERE tiktok_sku_id = '{sku['tiktokSkuId']}')"
    )

    # when the merchant creates an item from it, the on-hand left out, then refused
    done = _create(app, sku="FIX59-NEVER", skuId=sku["id"])
    assert (done["inventoryItem"], [(e["code"], e["field"]) for e in done["userErrors"]]) == (
        None,
        [("ON_HAND_REQUIRED", ["onHand"])],
    )
    assert pooled_items(app, "FIX59-NEVER") == []
    # then with the shelf's count given (20: 15 on sale and 5 for the open orders) it is created and linked
    done = _create(app, sku="FIX59-NEVER", skuId=sku["id"], onHand=20)
    assert done["userErrors"] == [], done
    item = done["inventoryItem"]
    assert (item["onHand"], item["reserved"], item["available"]) == (20, 5, 15)


def _second_after(at: int) -> None:
    wait_until(lambda: time.time() >= at + 1, what="the next second")


@pytest.mark.parametrize("way", ["seeded", "counted", "skuLink"])
def test_a_sku_pushed_under_another_item_starts_its_fence_anew_on_the_item_it_is_linked_to(
    app_factory: Callable[..., ShopbridgeServer], way: str
) -> None:
    """review59b F3: a SKU pushed under HAT, sold (3, unseen), unlinked, its page read again (17), then an item made
    from it (seeded, with the shelf's count, or the old two-step way: create, then skuLink). The sale, first seen
    shipped, deducts on HAT (sold under it); the new item stays 17, and its push writes 17: the read after the sale
    left it out, so the fence measures from that read, not from HAT's push (before: HAT's push baseline stayed,
    the sale counted as sold since it, the push held back 3 and wrote 14)."""
    app = app_factory(products=6, orders=0)
    tiktok_id = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": "Fix59 hat", "skus": [{"seller_sku": "FIX59-HAT", "quantity": 20}]},
    )  # fmt: skip
    (tiktok_sku,) = made["sku_ids"]
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    (hat,) = pooled_items(app, "FIX59-HAT")
    wait_until(lambda: pooled_items(app, "FIX59-HAT")[0]["links"][0]["pushedQuantity"] == 20, what="HAT's push")
    # a sale made while the SKU draws on HAT, unseen (webhooks cannot register in the test server; no orders sync)
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": tiktok_sku, "quantity": 3})
    _second_after(int(time.time()))
    (db_id,) = app.rows("SELECT id FROM skus WHERE tiktok_sku_id = :s", s=tiktok_sku)
    sku_gid = base64.b64encode(f"Sku:{db_id['id']}".encode()).decode()
    assert app.graphql(UNLINK, {"input": {"skuId": sku_gid}}, "m1")["skuUnlink"]["userErrors"] == []
    # TikTok's stock (17) read again by a products import
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert app.rows("SELECT quantity FROM skus WHERE id = :i", i=db_id["id"]) == [{"quantity": 17}]

    if way == "skuLink":
        done = _create(app, sku="FIX59-NEW", onHand=17)
        assert done["userErrors"] == [], done
        linked = app.graphql(LINK, {"input": {"skuId": sku_gid, "inventoryItemId": done["inventoryItem"]["id"]}}, "m1")
        assert linked["skuLink"]["userErrors"] == []
    else:
        done = _create(app, sku="FIX59-NEW", skuId=sku_gid, **({"onHand": 17} if way == "counted" else {}))
        assert done["userErrors"] == [], done
    (new,) = pooled_items(app, "FIX59-NEW")
    assert (new["onHand"], new["reserved"], new["available"]) == (17, 0, 17)

    # the sale ships, and is first seen shipped
    shipped = app.sandbox.control(
        "POST", f"/orders/{sale.get('order_id') or sale['id']}/status", {"status": "IN_TRANSIT"}
    )
    _second_after(shipped["update_time"])
    started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    (hat,) = pooled_items(app, "FIX59-HAT")
    (new,) = pooled_items(app, "FIX59-NEW")
    assert ((hat["onHand"], hat["reserved"]), (new["onHand"], new["reserved"])) == ((17, 0), (17, 0))
    # and the new item's push keeps TikTok's 17 (a relink restarts the fence: no push of the new item is on record
    # before it, so this waits for the new item's own push)
    wait_until(lambda: pooled_items(app, "FIX59-NEW")[0]["links"][0]["pushedQuantity"] is not None, what="a push")
    app.wait_for_idle_sync()
    pushed = pooled_items(app, "FIX59-NEW")[0]["links"][0]
    assert (pushed["pushedQuantity"], pushed["heldBackQuantity"], stock_of(app, tiktok_id, tiktok_sku)) == (17, 0, 17)
