"""The shared inventory pool end to end, over real HTTP, on SQLite and PostgreSQL: two shops of one merchant import,
their SKUs pool by seller SKU, and a buyer's sale on one shop (the sandbox's market) reserves in the pool through
TikTok's webhook, with no sync started by anyone."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.e2e.test_inventory_push import two_pooled_shops
from tests.e2e.test_webhooks import wait_until

ITEMS = """query($after: String) { inventoryItems(first: 100, after: $after) { totalCount
  pageInfo { hasNextPage endCursor }
  edges { node { id sku onHand reserved safetyStock available oversold version
    links { state source shop { id } sku { id tiktokSkuId sellerSku quantity } } } } } }"""
ITEM = """query($id: ID!) { inventoryItem(id: $id) { id sku onHand reserved available version
  movements(first: 10) { edges { node { kind onHandDelta reservedDelta tiktokOrderId shop { id } } } } } }"""
UNLINKED = """query($id: ID!) { unlinkedSkus(shopId: $id, first: 100) { totalCount
  edges { node { state source sku { id sellerSku link { state } } } } } }"""
SET_ON_HAND = """mutation($input: InventorySetOnHandInput!) { inventorySetOnHand(input: $input) {
  inventoryItem { onHand available version } userErrors { code field message } } }"""


def items(app: Any, merchant: str = "m1") -> list[dict[str, Any]]:
    found, after = [], None
    while True:
        page = app.graphql(ITEMS, {"after": after}, merchant)["inventoryItems"]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def test_two_shops_pool_their_skus_and_a_sale_on_one_reserves_by_webhook(app_factory) -> None:
    app = app_factory(webhooks=True, products=12, orders=40)
    renamed_later = open_order_before_connecting(app)
    # (the first shop connected and imported alone first: its SKU seeds the item the open order counts in; with both
    # imports at once the second shop's could seed it, from a stock that never left that order out: CI, 2026-12-05)
    first = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    second = app.connect_shop("m1", "us-local-2", "US", "Desert")
    app.wait_for_idle_sync()
    for shop in (first, second):
        app.wait_for_webhook_registration(shop)  # TikTok pushes a sale only to a registered address
    # the SKUs pooled: items shared by both shops, each linked SKU LINKED by seller SKU (AUTO)
    pooled = [i for i in items(app) if {link["shop"]["id"] for link in i["links"]} == {first["id"], second["id"]}]
    assert pooled, "no item is shared by the two shops"
    for item in pooled:
        assert all(link["state"] == "LINKED" and link["source"] == "AUTO" for link in item["links"])
        assert {link["sku"]["sellerSku"].strip() for link in item["links"]} == {item["sku"]}
        assert item["available"] == item["onHand"] - item["reserved"] - item["safetyStock"]
    # SKUs left out say why; another merchant sees nothing of it
    unlinked = app.graphql(UNLINKED, {"id": first["id"]}, "m1")["unlinkedSkus"]
    assert {e["node"]["state"] for e in unlinked["edges"]} <= {"AMBIGUOUS", "NO_SELLER_SKU", "EXCLUDED", "UNLINKED"}
    assert app.graphql(ITEMS, {"after": None}, "m2")["inventoryItems"]["totalCount"] == 0
    assert app.graphql(UNLINKED, {"id": first["id"]}, "m2")["unlinkedSkus"]["totalCount"] == 0

    # the merchant counts the stock of one shared item that buyers can order on the second shop: 50 units
    sellable = {
        sku["id"]
        for product in app.sandbox.control("GET", f"/shops/{second['tiktokShopId']}/products")["products"]
        if product["status"] == "ACTIVATE" and not product.get("product_types")
        for sku in product["skus"]
        if sum(i["quantity"] for i in sku.get("inventory", [])) >= 2
    }
    item = next(
        i for i in pooled
        if any(link["shop"]["id"] == second["id"] and link["sku"]["tiktokSkuId"] in sellable for link in i["links"])
    )  # fmt: skip
    counted = app.graphql(
        SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 50, "compareOnHand": item["onHand"]}}, "m1"
    )["inventorySetOnHand"]
    assert counted["userErrors"] == [] and counted["inventoryItem"]["onHand"] == 50
    stale = app.graphql(
        SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 40, "compareOnHand": item["onHand"] - 1}},
        "m1",
    )["inventorySetOnHand"]  # fmt: skip
    assert [e["code"] for e in stale["userErrors"]] == ["VERSION_CONFLICT"]
    before = app.graphql(ITEM, {"id": item["id"]}, "m1")["inventoryItem"]

    # a buyer orders 2 units of the SKU on the second shop
    second_sku = next(
        link["sku"] for link in item["links"]
        if link["shop"]["id"] == second["id"] and link["sku"]["tiktokSkuId"] in sellable
    )  # fmt: skip
    sale = app.sandbox.control(
        "POST", f"/shops/{second['tiktokShopId']}/sales", {"sku_id": second_sku["tiktokSkuId"], "quantity": 2}
    )

    def reserved() -> dict[str, Any] | None:
        now = app.graphql(ITEM, {"id": item["id"]}, "m1")["inventoryItem"]
        return now if now["reserved"] == before["reserved"] + 2 else None

    after = wait_until(reserved, what="the sale's reservation in the pool")
    assert (after["onHand"], after["available"]) == (50, before["available"] - 2)
    movement = after["movements"]["edges"][0]["node"]
    assert movement == {"kind": "RESERVED", "onHandDelta": 0, "reservedDelta": 2,
                        "tiktokOrderId": sale["order_id"], "shop": {"id": second["id"]}}  # fmt: skip
    ledger = app.rows(
        "SELECT sum(quantity) AS n FROM order_line_stock WHERE state = 'RESERVED' AND inventory_item_id = :i",
        i=app.rows("SELECT id FROM inventory_items WHERE sku = :s", s=item["sku"])[0]["id"],
    )
    assert ledger[0]["n"] == after["reserved"]  # reserved is the ledger's sum
    # the buyer cancels: the reservation is released
    app.sandbox.control("POST", f"/orders/{sale['order_id']}/status", {"status": "CANCELLED"})
    released = wait_until(
        lambda: (
            (n := app.graphql(ITEM, {"id": item["id"]}, "m1")["inventoryItem"])["reserved"] == before["reserved"] and n
        ),
        what="the cancellation's release",
    )
    assert released["available"] == before["available"]
    # TODO(pool-push): both shops' TikTok stock equals the pushed target

    # a seller SKU with an open order renamed in Seller Center, and back
    rename_a_seller_sku_with_an_open_order_away_and_back(app, first, second, renamed_later)


RENAMED = "SB-POLL-46"
ATTENTION = """query($id: ID!) { shop(id: $id) { attention { code message } } }"""


def copied_notices(app: Any, shop: dict[str, Any]) -> list[str]:
    """The messages of the shop's STOCK_COPIED notices (`Shop.attention`, tryout72 F1)."""
    attention = app.graphql(ATTENTION, {"id": shop["id"]}, "m1")["shop"]["attention"]
    return [notice["message"] for notice in attention if notice["code"] == "STOCK_COPIED"]


def open_order_before_connecting(app: Any) -> str:
    """A buyer's open order of 1 unit at seller `us-local`'s shop, of a SKU whose seller SKU each local shop has on
    one live SKU (so it pools both), made in a second before the shops connect: the import's stock read leaves it
    out and the item's seed counts it in (its `RESERVED` adds 1 to on-hand). Returns that seller SKU."""

    def live_skus(seller: str) -> dict[str, dict[str, Any]]:
        products = app.sandbox.control("GET", f"/shops/{app.tiktok_shop(seller)['id']}/products")["products"]
        every = [sku for p in products for sku in p["skus"] if sku.get("seller_sku")]
        once = {k for k, n in Counter(sku["seller_sku"].strip() for sku in every).items() if n == 1}
        return {
            sku["seller_sku"].strip(): sku for p in products if p["status"] == "ACTIVATE" and not p.get("product_types")
            for sku in p["skus"] if sku.get("seller_sku") and sku["seller_sku"].strip() in once
        }  # fmt: skip

    here, there = live_skus("us-local"), live_skus("us-local-2")
    seller_sku = min(
        k for k, sku in here.items() if k in there and sum(i["quantity"] for i in sku.get("inventory", [])) >= 2
    )
    tiktok_shop_id = app.tiktok_shop("us-local")["id"]
    app.sandbox.control("POST", f"/shops/{tiktok_shop_id}/sales", {"sku_id": here[seller_sku]["id"], "quantity": 1})
    made_by = int(time.time())  # (TikTok's create_time is whole seconds: the read must come in a later one)
    wait_until(lambda: time.time() >= made_by + 1, what="the second after the sale")
    return seller_sku


OPEN_UNITS = """SELECT coalesce(sum(l.quantity), 0) AS n FROM order_line_stock l
  JOIN inventory_items i ON i.id = l.inventory_item_id
  WHERE l.tiktok_sku_id = :sku_id AND l.state = 'RESERVED' AND i.sku = :sku"""


# The item seeded from the first shop's stock (its SEEDED movement that shop's): the open orders it had then count in
# its on-hand, whether as their RESERVED movements' +1 (orders imported after the link) or in the seed itself
# (orders stored before, waiting for the link: `links.seed_on_hand`'s open units), by which import came first
SEEDED_BY = """SELECT count(*) AS n FROM inventory_movements m JOIN inventory_items i ON i.id = m.inventory_item_id
  JOIN shops s ON s.id = m.shop_id WHERE i.sku = :sku AND m.kind = 'SEEDED' AND s.tiktok_shop_id = :tiktok_shop_id"""


def rename_a_seller_sku_with_an_open_order_away_and_back(
    app: Any, first: dict[str, Any], second: dict[str, Any], seller_sku: str
) -> None:
    """Rule (README "Shared inventory pool", `domain.inventory.ledger.carries_its_units`): a seller SKU renamed in
    Seller Center to one no item has makes a new item seeded from the shop's TikTok stock plus its open orders'
    units; the old item, which counted those units on its on-hand, gives them up with the orders (on-hand and
    reserved both drop, its available as it was), so each unit is on one item's on-hand. Renamed back, they return.
    `seller_sku`: pooled by both shops, with an open order at the first seeded in (`open_order_before_connecting`)."""
    # given the item of `seller_sku`, LINKED on both shops, the first shop's open orders reserved on it
    old = pool_item(app, seller_sku)
    assert old is not None and {link["shop"]["id"] for link in old["links"]} == {first["id"], second["id"]}
    (tiktok_sku_id,) = [link["sku"]["tiktokSkuId"] for link in old["links"] if link["shop"]["id"] == first["id"]]
    units = app.rows(OPEN_UNITS, sku_id=tiktok_sku_id, sku=seller_sku)[0]["n"]
    seeded_here = app.rows(SEEDED_BY, sku=seller_sku, tiktok_shop_id=first["tiktokShopId"])[0]["n"]
    assert units >= 1 and seeded_here == 1  # (the order in the seed: onHand +1 too)
    (product,) = [
        p for p in app.sandbox.control("GET", f"/shops/{first['tiktokShopId']}/products")["products"]
        if any(sku["id"] == tiktok_sku_id for sku in p["skus"])
    ]  # fmt: skip
    as_typed = next(sku["seller_sku"] for sku in product["skus"] if sku["id"] == tiktok_sku_id)

    def item(item_id: str) -> dict[str, Any]:
        return dict(app.graphql(ITEM, {"id": item_id}, "m1")["inventoryItem"])

    before = item(old["id"])
    # when the seller renames that SKU's seller SKU (webhook 15: Shopbridge re-fetches the product)
    app.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": tiktok_sku_id, "seller_sku": RENAMED}]})
    new = wait_until(
        lambda: (i := pool_item(app, RENAMED)) is not None and i["reserved"] == units and i, what="the renamed item"
    )
    # then the new item counts the open orders' units once, and the first shop's TikTok shows its available once its
    # pushes land (its seed is TikTok's stock when read: a push of the steps before still on its way may move it after)
    assert new["onHand"] == new["available"] + units
    # and the first shop's attention says its SKU's new item copied the old one's count, and what to do; the second
    # shop's SKU still draws on the old item (before, tryout72 F1: nothing said it, two items counting one shelf)
    (copied,) = copied_notices(app, first)
    assert f'SKU "{RENAMED}" of this shop' in copied and f'copied from item "{seller_sku}"' in copied, copied
    assert f'Link the SKU to "{seller_sku}"' in copied, copied
    assert copied_notices(app, second) == []
    wait_until(lambda: stock_of(app, first, tiktok_sku_id) == item(new["id"])["available"], what="the new item's push")
    # and the old item no longer holds them: on-hand and reserved both down by their units, available unchanged
    # (before: only the reservations went, 79/1/78 -> 79/0/79, the units counted on both items' on-hand and pushed
    # to the second shop as stock it does not have)
    after = item(old["id"])
    assert (after["onHand"], after["reserved"], after["available"]) == (
        before["onHand"] - units, before["reserved"] - units, before["available"]
    )  # fmt: skip
    moved = after["movements"]["edges"][0]["node"]
    assert moved["kind"] == "RELEASED" and moved["onHandDelta"] == moved["reservedDelta"] < 0

    # when the same product is read again (a products sync): nothing moves
    assert app.graphql(SYNC_PRODUCTS, {"id": first["id"]}, "m1")["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
    assert item(old["id"]) == after
    assert item(new["id"])["version"] == new["version"]

    # when the seller renames it back: the units return to the old item as they were, the new item goes
    app.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": tiktok_sku_id, "seller_sku": as_typed}]})
    wait_until(lambda: pool_item(app, RENAMED) is None, what="the renamed item gone")
    assert copied_notices(app, first) == []  # linked back to the item it copied: settled
    back = item(old["id"])
    assert (back["onHand"], back["reserved"], back["available"]) == (
        before["onHand"], before["reserved"], before["available"]
    )  # fmt: skip


DELETE = """mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId userErrors { code } } }"""


def test_deleting_a_shop_removes_the_items_only_it_brought_and_keeps_the_rest(app_factory) -> None:
    # given two shops of m1 pooled, and an item only the second links whose on-hand the merchant counted by hand
    app = app_factory(products=12, orders=40)
    first, second = two_pooled_shops(app)
    before = items(app)
    shops_of = {i["sku"]: {link["shop"]["id"] for link in i["links"]} for i in before}
    only_second = sorted(sku for sku, shops in shops_of.items() if shops == {second["id"]})
    assert len(only_second) >= 2, "the sandbox's second shop has too few SKUs of its own"
    counted_sku = only_second[0]
    counted = next(i for i in before if i["sku"] == counted_sku)
    payload = app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": counted["id"], "onHand": 77}}, "m1")
    assert payload["inventorySetOnHand"]["userErrors"] == []
    open_units = app.graphql(ITEM, {"id": counted["id"]}, "m1")["inventoryItem"]["reserved"]  # the second shop's

    # when the second shop is deleted
    gone = app.graphql(DELETE, {"id": second["id"]}, "m1")["shopDelete"]
    assert gone == {"deletedShopId": second["id"], "userErrors": []}

    # then the items only it brought are gone, but the counted one, which stays without links
    after = {i["sku"]: i for i in items(app)}
    kept = {sku for sku, shops in shops_of.items() if first["id"] in shops} | {counted_sku}
    assert set(after) == kept
    # (its open orders' units, still to ship from the shelf, left the count with their reservations)
    assert (after[counted_sku]["onHand"], after[counted_sku]["reserved"], after[counted_sku]["links"]) == (
        77 - open_units,
        0,
        [],
    )
    # the first shop's items keep only its links, reserved its own open orders alone (the ledger's sum)
    for sku in kept - {counted_sku}:
        assert {link["shop"]["id"] for link in after[sku]["links"]} == {first["id"]}
        ledger = app.rows(
            "SELECT coalesce(sum(quantity), 0) AS n FROM order_line_stock JOIN inventory_items i "
            "ON i.id = inventory_item_id WHERE state = 'RESERVED' AND i.sku = :s",
            s=sku,
        )
        assert after[sku]["reserved"] == ledger[0]["n"]
    assert app.rows("SELECT count(*) AS n FROM inventory_movements WHERE inventory_item_id NOT IN "
                    "(SELECT id FROM inventory_items)")[0]["n"] == 0  # fmt: skip


def test_a_count_compared_with_an_on_hand_below_zero_is_saved(app_factory) -> None:
    # given a shop's item counted at 1 unit while a buyer's order of 2 was open, and that order then shipped: the
    # shipment deducts both units, so the pool's on-hand is -1 (sold beyond the count)
    app = app_factory(webhooks=True, products=12, orders=0)
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    sellable = next(
        (sku["id"], sku["seller_sku"])
        for product in app.sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/products")["products"]
        if product["status"] == "ACTIVATE" and not product.get("product_types")
        for sku in product["skus"]
        if sku.get("seller_sku") and sum(i["quantity"] for i in sku.get("inventory", [])) >= 2
    )
    item = next(i for i in items(app) if i["sku"] == sellable[1].strip())
    sale = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/sales", {"sku_id": sellable[0], "quantity": 2})
    wait_until(lambda: app.graphql(ITEM, {"id": item["id"]}, "m1")["inventoryItem"]["reserved"] == 2, what="reserve")
    counted = app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 1}}, "m1")
    assert counted["inventorySetOnHand"]["userErrors"] == []
    app.sandbox.control("POST", f"/orders/{sale['order_id']}/status", {"status": "ship"})
    shown = wait_until(
        lambda: (n := app.graphql(ITEM, {"id": item["id"]}, "m1")["inventoryItem"])["reserved"] == 0 and n,
        what="the shipment's deduction",
    )
    assert shown["onHand"] == -1
    # when the merchant recounts from the item's page, which compares with the on-hand shown (the console's way)
    recount = app.graphql(
        SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 4, "compareOnHand": shown["onHand"]}}, "m1"
    )["inventorySetOnHand"]
    # then the count is saved (it was refused as INVALID_INPUT, "compareOnHand must be between 0 and 1000000000",
    # for a value the item really had), and a stale value is still a conflict
    assert recount["userErrors"] == [] and recount["inventoryItem"]["onHand"] == 4
    stale = app.graphql(
        SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 3, "compareOnHand": -1}}, "m1"
    )["inventorySetOnHand"]
    assert [e["code"] for e in stale["userErrors"]] == ["VERSION_CONFLICT"]


UNLINK = """mutation($input: SkuUnlinkInput!) { skuUnlink(input: $input) { userErrors { code } } }"""
LINK = """mutation($input: SkuLinkInput!) { skuLink(input: $input) { userErrors { code } } }"""


def counted_sale(app: Any, units: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """A shop connected (webhooks on), one of its items counted at 50 by the merchant, and a buyer's order of `units`
    of its SKU on the shop reserved: (shop, item as it was before the sale, the SKU's link, order id)."""
    shop, before, link = counted_item(app, units)
    tiktok_sku = link["sku"]["tiktokSkuId"]
    sale = app.sandbox.control(
        "POST", f"/shops/{shop['tiktokShopId']}/sales", {"sku_id": tiktok_sku, "quantity": units}
    )
    wait_until(
        lambda: (
            app.graphql(ITEM, {"id": before["id"]}, "m1")["inventoryItem"]["reserved"] == before["reserved"] + units
        ),
        what="the sale's reservation",
    )
    return shop, before, link, sale["order_id"]


def counted_item(app: Any, units: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A shop connected (webhooks on) and one of its items, whose SKU has at least `units` on TikTok, counted at 50 by
    the merchant: (shop, item, the SKU's link)."""
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    tiktok_sku, seller_sku = next(
        (sku["id"], sku["seller_sku"])
        for product in app.sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/products")["products"]
        if product["status"] == "ACTIVATE" and not product.get("product_types")
        for sku in product["skus"]
        if sku.get("seller_sku") and sum(i["quantity"] for i in sku.get("inventory", [])) >= units
    )
    item = next(i for i in items(app) if i["sku"] == seller_sku.strip())
    link = next(link for link in item["links"] if link["sku"]["tiktokSkuId"] == tiktok_sku)
    counted = app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": item["id"], "onHand": 50}}, "m1")
    assert counted["inventorySetOnHand"]["userErrors"] == []
    return shop, app.graphql(ITEM, {"id": item["id"]}, "m1")["inventoryItem"], link


ORDER_LINES = """query($id: ID!) { shop(id: $id) { orders(first: 5) { edges { node { tiktokOrderId status
  lineItems { tiktokLineItemId displayStatus cancelReason cancelUser } } } } } }"""


def order_lines(app: Any, shop: dict[str, Any], order_id: str) -> tuple[str, list[tuple[Any, ...]]]:
    """The order as the orders page reads it: (its status, [(line id, line status, cancel reason, cancel user)]),
    lines in TikTok's order."""
    edges = app.graphql(ORDER_LINES, {"id": shop["id"]}, "m1")["shop"]["orders"]["edges"]
    node = next(e["node"] for e in edges if e["node"]["tiktokOrderId"] == order_id)
    lines = [(li["tiktokLineItemId"], li["displayStatus"], li["cancelReason"], li["cancelUser"]) for li in
             node["lineItems"]]  # fmt: skip
    return node["status"], lines


def test_a_line_the_seller_cancels_alone_releases_its_unit_and_the_rest_ships(app_factory) -> None:
    # given a buyer's order of 2 units reserved in the pool (on-hand 50)
    app = app_factory(webhooks=True, products=12, orders=0)
    shop, before, _, order_id = counted_sale(app, 2)
    lines = app.rows("SELECT tiktok_line_item_id AS id FROM order_line_stock WHERE tiktok_order_id = :o ORDER BY 1",
                     o=order_id)  # fmt: skip
    assert len(lines) == 2
    # when the seller cancels one of its lines alone (item-level cancellation: the order stays AWAITING_SHIPMENT)
    answer = app.sandbox.control("POST", f"/orders/{order_id}/line-items/cancel", {"line_item_ids": [lines[1]["id"]]})
    assert answer["status"] == "AWAITING_SHIPMENT"

    def item() -> dict[str, Any]:
        return dict(app.graphql(ITEM, {"id": before["id"]}, "m1")["inventoryItem"])

    # then its unit is released by the webhook's re-fetch: 1 unit reserved
    released = wait_until(lambda: (n := item())["reserved"] == before["reserved"] + 1 and n, what="the line's release")
    assert (released["onHand"], released["available"]) == (50, before["available"] - 1)
    # and the orders page shows that line cancelled, by the seller, out of stock, on the order still to ship
    status, shown = order_lines(app, shop, order_id)
    assert status == "AWAITING_SHIPMENT" and sorted(shown) == [
        (lines[0]["id"], "AWAITING_SHIPMENT", None, None), (lines[1]["id"], "CANCELLED", "Out of stock", "SELLER"),
    ]  # fmt: skip
    # and when the order ships, only the shipped unit leaves on-hand (both did: 48, one unit lost for good)
    app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "ship"})
    shipped = wait_until(lambda: (n := item())["reserved"] == before["reserved"] and n, what="the shipment")
    assert (shipped["onHand"], shipped["available"]) == (49, before["available"] - 1)
    states = app.rows("SELECT state FROM order_line_stock WHERE tiktok_order_id = :o ORDER BY tiktok_line_item_id",
                      o=order_id)  # fmt: skip
    assert [row["state"] for row in states] == ["DEDUCTED", "RELEASED"]
    # and the orders page tells the line to ship from the one cancelled, by TikTok's line ids (before: no line id,
    # no line status, two identical lines under the order's IN_TRANSIT: one packing from it shipped 2)
    _, shown = wait_until(lambda: (o := order_lines(app, shop, order_id))[0] == "IN_TRANSIT" and o,
                          what="the shipment on the orders page")  # fmt: skip
    assert sorted(shown) == [
        (lines[0]["id"], "IN_TRANSIT", None, None),
        (lines[1]["id"], "CANCELLED", "Out of stock", "SELLER"),
    ]


def test_an_order_lost_after_a_shipment_never_seen_is_not_restocked(app_factory) -> None:
    # given a buyer's order of 2 units reserved in the pool (on-hand 50)
    app = app_factory(webhooks=True, products=12, orders=0)
    _, before, _, order_id = counted_sale(app, 2)
    # when it ships and that webhook is lost, then the carrier loses the package: TikTok cancels the order, its
    # lines' package CANCELLED (lost or damaged), and that webhook arrives
    app.sandbox.control("POST", "/webhooks", {"drop": 1.0})
    app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "ship"})
    app.sandbox.control("POST", "/webhooks", {"drop": 0.0})
    app.sandbox.control("POST", "/clock", {"advance_seconds": 60})
    assert app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "lose"})["status"] == "CANCELLED"

    def item() -> dict[str, Any]:
        return dict(app.graphql(ITEM, {"id": before["id"]}, "m1")["inventoryItem"])

    # then no automatic restock (live-sync.md §3.5): the 2 units left on-hand with the reservation (before: released,
    # on-hand 50 and the 2 lost units back on sale in every shop)
    gone = wait_until(lambda: (n := item())["reserved"] == before["reserved"] and n, what="the cancellation")
    assert (gone["onHand"], gone["available"]) == (48, before["available"] - 2)
    states = app.rows("SELECT state FROM order_line_stock WHERE tiktok_order_id = :o", o=order_id)
    assert [row["state"] for row in states] == ["DEDUCTED", "DEDUCTED"]


def relink_and_expect_2_deducted(
    app: Any, link: dict[str, Any], before: dict[str, Any], order_id: str
) -> dict[str, Any]:
    """The merchant links `link`'s SKU to its item (`before`, as it was before the sale) again; then the item shows
    2 units fewer on hand, its reservations as before, and its newest movement the order's DEDUCTED of 2. Returns
    the item as it is then."""
    relinked = app.graphql(LINK, {"input": {"skuId": link["sku"]["id"], "inventoryItemId": before["id"]}}, "m1")
    assert relinked["skuLink"]["userErrors"] == []
    after = app.graphql(ITEM, {"id": before["id"]}, "m1")["inventoryItem"]
    assert (after["onHand"], after["reserved"], after["available"]) == (48, before["reserved"], before["available"] - 2)
    assert after["movements"]["edges"][0]["node"] == {
        "kind": "DEDUCTED", "onHandDelta": -2, "reservedDelta": 0, "tiktokOrderId": order_id,
        "shop": {"id": link["shop"]["id"]},
    }  # fmt: skip
    return dict(after)


def test_an_order_open_when_its_sku_is_unlinked_stays_reserved_and_ships_from_its_item(app_factory) -> None:
    # given a buyer's order of 2 units reserved in the pool (on-hand 50)
    app = app_factory(webhooks=True, products=12, orders=0)
    _, before, link, order_id = counted_sale(app, 2)

    def item() -> dict[str, Any]:
        return dict(app.graphql(ITEM, {"id": before["id"]}, "m1")["inventoryItem"])

    # when the merchant unlinks the SKU
    unlinked = app.graphql(UNLINK, {"input": {"skuId": link["sku"]["id"]}}, "m1")["skuUnlink"]
    assert unlinked["userErrors"] == []
    # then the order, placed while the SKU was the item's, keeps its 2 units reserved there: the item's other shops
    # are not offered them (before, the reservation went back: available +2 while the 2 units were still to ship,
    # try-out pool51: UK and MY pushed 10 where 8 were free)
    after_unlink = item()
    assert (after_unlink["onHand"], after_unlink["reserved"], after_unlink["available"]) == (
        50, before["reserved"] + 2, before["available"] - 2,
    )  # fmt: skip
    # and when the order ships while the SKU is unlinked, its 2 units leave the item's on-hand with the reservation
    app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "ship"})
    shipped = wait_until(lambda: (n := item())["reserved"] == before["reserved"] and n, what="the shipment")
    assert (shipped["onHand"], shipped["available"]) == (48, before["available"] - 2)
    assert shipped["movements"]["edges"][0]["node"] == {
        "kind": "DEDUCTED", "onHandDelta": -2, "reservedDelta": -2, "tiktokOrderId": order_id,
        "shop": {"id": link["shop"]["id"]},
    }  # fmt: skip
    # and when the merchant links the SKU to the same item again, nothing moves: deducted once
    relinked = app.graphql(LINK, {"input": {"skuId": link["sku"]["id"], "inventoryItemId": before["id"]}}, "m1")
    assert relinked["skuLink"]["userErrors"] == []
    again = item()
    assert (again["onHand"], again["reserved"], again["available"]) == (48, before["reserved"], before["available"] - 2)
    assert again["movements"]["edges"][0]["node"] == shipped["movements"]["edges"][0]["node"]


def test_a_sale_made_and_shipped_while_its_sku_was_unlinked_deducts_once_when_relinked_to_its_item(
    app_factory,
) -> None:
    # given an item counted at 50 whose SKU the merchant unlinks
    app = app_factory(webhooks=True, products=12, orders=0)
    shop, before, link = counted_item(app, 2)

    def item() -> dict[str, Any]:
        return dict(app.graphql(ITEM, {"id": before["id"]}, "m1")["inventoryItem"])

    unlinked = app.graphql(UNLINK, {"input": {"skuId": link["sku"]["id"]}}, "m1")["skuUnlink"]
    assert unlinked["userErrors"] == []
    # when a buyer orders 2 units of it meanwhile, the order ships, and the merchant links the SKU to the same item
    # (TikTok's clock 2 s on: its create_time is whole seconds, and an order of the unlink's very second counts as
    # made before it, on the item at once, `ledger.sold_before_unlink`)
    app.sandbox.control("POST", "/clock", {"advance_seconds": 2})
    sale = app.sandbox.control(
        "POST", f"/shops/{shop['tiktokShopId']}/sales", {"sku_id": link["sku"]["tiktokSkuId"], "quantity": 2}
    )
    order_id = sale["order_id"]
    app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "IN_TRANSIT"})
    waiting = "SELECT count(*) AS n FROM order_line_stock WHERE tiktok_order_id = :o AND wanted = 'DEDUCT'"
    wait_until(lambda: app.rows(waiting, o=order_id)[0]["n"] == 2, what="the shipment in the ledger")
    assert item()["onHand"] == 50
    # then the 2 units that left the shelf leave on-hand (as history they stayed on sale: 50, an oversell of 2)
    after = relink_and_expect_2_deducted(app, link, before, order_id)
    # and the shop's running units count them as taken, as the push's fence reads them (not an unseen sale)
    units = app.rows("SELECT ingested FROM sku_ledger_units WHERE tiktok_sku_id = :s", s=link["sku"]["tiktokSkuId"])
    assert units == [{"ingested": 2}]
    # and when the order is delivered (its webhook and re-fetch again), nothing more moves
    app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "DELIVERED"})
    delivered = "SELECT status FROM orders WHERE tiktok_order_id = :o"
    wait_until(lambda: app.rows(delivered, o=order_id) == [{"status": "DELIVERED"}], what="the delivery stored")
    again = item()
    assert (again["onHand"], again["reserved"], again["version"]) == (48, before["reserved"], after["version"])
    states = app.rows("SELECT state FROM order_line_stock WHERE tiktok_order_id = :o", o=order_id)
    assert [row["state"] for row in states] == ["DEDUCTED", "DEDUCTED"]


def pool_item(app: Any, sku: str) -> dict[str, Any] | None:
    """Item `sku` of m1 with its links (those of SKUs the shops still have), or None while there is none."""
    return next((i for i in items(app) if i["sku"] == sku), None)


LEDGER_UNITS = """SELECT u.ingested, u.released,
  (SELECT coalesce(sum(quantity), 0) FROM order_line_stock l WHERE l.shop_id = u.shop_id
     AND l.tiktok_sku_id = u.tiktok_sku_id AND l.state IN ('RESERVED', 'DEDUCTED')) AS ingested_lines,
  (SELECT coalesce(sum(quantity), 0) FROM order_line_stock l WHERE l.shop_id = u.shop_id
     AND l.tiktok_sku_id = u.tiktok_sku_id AND l.state = 'RELEASED') AS released_lines
  FROM sku_ledger_units u"""


@pytest.mark.parametrize(
    ("status", "on_hand", "states"), [("ship", 18, ["DEDUCTED", "DEDUCTED"]), ("CANCELLED", 20, ["RELEASED"] * 2)],
    ids=["shipped", "cancelled"],
)  # fmt: skip
def test_a_sku_tiktok_drops_with_an_open_order_still_ships_or_cancels_from_its_item(
    app_factory, status: str, on_hand: int, states: list[str]
) -> None:
    # given two shops of m1: the first with product P of SKUs A (seller SKU DROP-A) and B (DROP-B), the second with a
    # SKU of seller SKU DROP-A, made in Seller Center (TikTok's webhooks bring them in), item DROP-A counted at 20
    app = app_factory(webhooks=True, products=4, orders=0)
    first, second = two_pooled_shops(app, webhooks=True)
    made = app.sandbox.control(
        "POST", f"/shops/{first['tiktokShopId']}/products",
        {"title": "Drop", "skus": [{"seller_sku": "DROP-A", "quantity": 10}, {"seller_sku": "DROP-B", "quantity": 5}]},
    )  # fmt: skip
    product_id, (sku_a, sku_b) = made["product_id"], made["sku_ids"]
    (sku_c,) = app.sandbox.control(
        "POST", f"/shops/{second['tiktokShopId']}/products",
        {"title": "Drop too", "skus": [{"seller_sku": "DROP-A", "quantity": 10}]},
    )["sku_ids"]  # fmt: skip
    linked = wait_until(
        lambda: (i := pool_item(app, "DROP-A")) is not None and len(i["links"]) == 2 and pool_item(app, "DROP-B") and i,
        what="both shops' SKUs linked to DROP-A",
    )  # fmt: skip
    assert {link["sku"]["tiktokSkuId"]: link["state"] for link in linked["links"]} == {sku_a: "LINKED", sku_c: "LINKED"}
    counted = app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": linked["id"], "onHand": 20}}, "m1")
    assert counted["inventorySetOnHand"]["userErrors"] == []
    # and a buyer's open order of 2 units of A, reserved
    sale = app.sandbox.control("POST", f"/shops/{first['tiktokShopId']}/sales", {"sku_id": sku_a, "quantity": 2})

    def item_a() -> dict[str, Any]:
        return dict(app.graphql(ITEM, {"id": linked["id"]}, "m1")["inventoryItem"])

    wait_until(lambda: item_a()["reserved"] == 2, what="the sale's reservation")
    wait_until(lambda: stock_of(app, second, sku_c) == 18, what="the second shop's push")

    # (P's pushes done: none claimed before the drop answers after it)
    settled = "SELECT count(*) AS n FROM inventory_push_outbox WHERE tiktok_product_id = :p AND claimed_by IS NULL"
    settled += " AND pushed_version = dirty_version"
    wait_until(lambda: app.rows(settled, p=product_id)[0]["n"] == 1, what="P's pushes done")
    # when the seller deletes variant A from P in Seller Center (webhook 15, `others`: Shopbridge re-fetches P)
    last_push = max([u["seq"] for u in app.sandbox.control("GET", "/inventory-updates")["updates"]], default=0)
    app.sandbox.control("POST", f"/products/{product_id}", {"remove_skus": [sku_a]})
    dropped = wait_until(
        lambda: (i := pool_item(app, "DROP-A")) is not None and len(i["links"]) == 1 and i, what="A gone from P"
    )
    # then the open order still holds its 2 units on DROP-A (they are still to ship from its shelf)
    assert (dropped["onHand"], dropped["reserved"], dropped["available"]) == (20, 2, 18)
    # when the order ships (or is cancelled)
    app.sandbox.control("POST", f"/orders/{sale['order_id']}/status", {"status": status})
    # then DROP-A's on-hand drops by 2 once (or the 2 units come back): nothing stays reserved
    after = wait_until(lambda: (n := item_a())["reserved"] == 0 and n, what="the order's move")
    assert (after["onHand"], after["available"]) == (on_hand, on_hand)
    moved = after["movements"]["edges"][0]["node"]
    assert (moved["kind"], moved["onHandDelta"], moved["reservedDelta"]) == (
        ("DEDUCTED", -2, -2) if status == "ship" else ("RELEASED", 0, -2)
    )
    lines = app.rows("SELECT state FROM order_line_stock WHERE tiktok_order_id = :o", o=sale["order_id"])
    assert [row["state"] for row in lines] == states
    # and the running units per shop SKU are the lines' sums
    for row in app.rows(LEDGER_UNITS):
        assert (row["ingested"], row["released"]) == (row["ingested_lines"], row["released_lines"])
    # and the second shop shows DROP-A's available
    wait_until(lambda: stock_of(app, second, sku_c) == on_hand, what="the second shop's push")
    # and P's B is still pushed (its count lands on TikTok), A never again (TikTok would refuse it)
    b_item = pool_item(app, "DROP-B")
    assert b_item is not None
    assert app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": b_item["id"], "onHand": 7}}, "m1")
    wait_until(lambda: stock_of(app, first, sku_b) == 7, what="B's push")
    since = [
        u for u in app.sandbox.control("GET", f"/inventory-updates?product_id={product_id}")["updates"]
        if u["seq"] > last_push
    ]  # fmt: skip
    assert since and all({s["id"] for s in u["skus"]} == {sku_b} for u in since)
    assert all(not u["errors"] for u in since)

    # when the seller adds A back to P (the same SKU id)
    app.sandbox.control("POST", f"/products/{product_id}", {"restore_skus": [sku_a]})
    # then it links to DROP-A again, and the pool's available lands on it
    back = wait_until(
        lambda: (i := pool_item(app, "DROP-A")) is not None and len(i["links"]) == 2 and i, what="A back in P"
    )
    assert {link["sku"]["tiktokSkuId"]: link["state"] for link in back["links"]} == {sku_a: "LINKED", sku_c: "LINKED"}
    assert (back["onHand"], back["reserved"], back["available"]) == (on_hand, 0, on_hand)
    wait_until(lambda: stock_of(app, first, sku_a) == on_hand, what="A's push")


def stock_of(app: Any, shop: dict[str, Any], sku_id: str) -> int:
    """TikTok's available of SKU `sku_id` of `shop` (the sandbox's products)."""
    for product in app.sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/products")["products"]:
        for sku in product["skus"]:
            if sku["id"] == sku_id:
                return sum(level["quantity"] for level in sku["inventory"])
    raise AssertionError(f"no SKU {sku_id}")


SYNC_PRODUCTS = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS]}) {
  tasks { id } userErrors { code } } }"""


def test_a_product_the_seller_deleted_leaves_its_seller_sku_to_the_listing_that_replaces_it(app_factory) -> None:
    """Rule (live-sync.md §3.5, a SKU TikTok no longer sells keeps its link, DROPPED; TikTok's Search Products lists
    products of every status, `DELETED` included, with their SKUs, tiktok-api.md §7): a product TikTok reports DELETED
    has no SKU on sale, so its SKUs are dropped from the pool like a variant the seller deleted (no item, no push, no
    `skuLink`), and no longer make a twin of a new listing with the same seller SKU; the merchant still sees them, as
    TikTok lists them. Before, the deleted product's SKU stayed a live SKU of the shop: re-listing a product (delete it,
    create it again) made both SKUs AMBIGUOUS, the new listing drew on no item (its sales moved no stock anywhere) and
    the item went as left behind; then (until tryout 49) the product was stored without its SKUs: the Products page
    showed a deleted product with 0 SKUs while TikTok lists them."""
    # given a shop with a product of seller SKU RELIST-1 made in Seller Center, linked to its item
    app = app_factory(webhooks=True, products=4, orders=0)
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    listing = {"title": "Mug", "skus": [{"seller_sku": "RELIST-1", "quantity": 10}]}
    old = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/products", listing)
    linked = wait_until(
        lambda: (i := pool_item(app, "RELIST-1")) is not None and len(i["links"]) == 1 and i, what="RELIST-1 linked"
    )
    # when the seller deletes that product (webhook 5: Get Product no longer serves it, Search Products lists it
    # DELETED with its SKU, tiktok-api.md §7)
    last_push = max([u["seq"] for u in app.sandbox.control("GET", "/inventory-updates")["updates"]], default=0)
    refused_before = refused_updates(app)
    app.sandbox.control("POST", f"/products/{old['product_id']}", {"status": "DELETED"})
    # then Shopbridge shows it DELETED with its SKU as TikTok lists it, a SKU with no place in the pool (no link)
    deleted = wait_until(
        lambda: (p := product_of(app, shop, old["product_id"]))["status"] == "DELETED" and p, what="stored DELETED"
    )
    assert [(s["tiktokSkuId"], s["sellerSku"], s["quantity"], s["link"]) for s in deleted["skus"]] == [
        (old["sku_ids"][0], "RELIST-1", 10, None)
    ]
    # and the merchant cannot link it to an item: TikTok would refuse its stock
    relink = app.graphql(LINK, {"input": {"skuId": deleted["skus"][0]["id"], "inventoryItemId": linked["id"]}}, "m1")
    assert [e["code"] for e in relink["skuLink"]["userErrors"]] == ["PRODUCT_DELETED"]
    # when the seller lists it again, with the same seller SKU
    (new_sku,) = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/products", listing)["sku_ids"]
    # and Shopbridge reads the shop's products (an import, as the poll would)
    started = app.graphql(SYNC_PRODUCTS, {"id": shop["id"]}, "m1")["syncStart"]
    assert started["userErrors"] == []
    app.wait_for_task(started["tasks"][0]["id"], "m1")
    # then the new listing's SKU draws on RELIST-1 alone, and nothing of the shop is left AMBIGUOUS over it
    item = pool_item(app, "RELIST-1")
    assert item is not None
    assert [(link["sku"]["tiktokSkuId"], link["state"]) for link in item["links"]] == [(new_sku, "LINKED")]
    unlinked = app.graphql(UNLINKED, {"id": shop["id"]}, "m1")["unlinkedSkus"]["edges"]
    assert [e["node"]["sku"]["sellerSku"] for e in unlinked if e["node"]["sku"]["sellerSku"] == "RELIST-1"] == []
    # and the pool's available lands on the new listing at TikTok, and nothing more on the deleted product
    wait_until(lambda: stock_of(app, shop, new_sku) == item["available"], what="the new listing's push")
    pushed = app.sandbox.control("GET", f"/inventory-updates?product_id={old['product_id']}")["updates"]
    assert [u for u in pushed if u["seq"] > last_push] == []
    # (the sandbox refuses a push to a DELETED product, 12052048, and logs only pushes it applied: none was even sent)
    assert refused_updates(app) == refused_before
    # and the deleted product still shows its SKU after the import, as TikTok's search lists it
    assert [s["tiktokSkuId"] for s in product_of(app, shop, old["product_id"])["skus"]] == old["sku_ids"]


def refused_updates(app: Any) -> int:
    """Update Inventory calls the sandbox refused as for a product not in the shop (12052048), a DELETED one's too."""
    by_path = app.sandbox.control("GET", "/counters")["by_path"]
    return int(by_path.get("/product/202309/products/{product_id}/inventory/update", {}).get("12052048", 0))


PRODUCTS = """query($id: ID!) { shop(id: $id) { products(first: 100) { edges { node { tiktokProductId status
  skus { id tiktokSkuId sellerSku quantity link { state } } } } } } }"""


def product_of(app: Any, shop: dict[str, Any], tiktok_product_id: str) -> dict[str, Any]:
    """Product `tiktok_product_id` of `shop` as m1 reads it (GraphQL), with its SKUs and their links."""
    edges = app.graphql(PRODUCTS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    return next(e["node"] for e in edges if e["node"]["tiktokProductId"] == tiktok_product_id)
