"""`inventoryItemDelete` end to end (tryout61 F3), over real HTTP and WebSocket, on SQLite and PostgreSQL: a mistaken
item is deleted with its movements; one a shop SKU links or an open order reserves on is refused (ITEM_LINKED,
ITEM_IN_USE) until it is unlinked and the order is cancelled; another merchant's and a deleted one are NOT_FOUND; its
subscribers see it go."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until
from tests.fixtures.ws import OperationError

CREATE = """mutation($sku: String!, $onHand: Int) { inventoryItemCreate(input: {sku: $sku, onHand: $onHand}) {
  inventoryItem { id sku } userErrors { code } } }"""
DELETE = """mutation($id: ID!) { inventoryItemDelete(input: {inventoryItemId: $id}) {
  deletedInventoryItemId userErrors { code field message } } }"""
ITEM = "query($id: ID!) { inventoryItem(id: $id) { sku onHand reserved } }"
SEARCH = "query($q: String) { inventoryItems(query: $q) { totalCount edges { node { sku } } } }"
LINK = """mutation($sku: ID!, $item: ID!) { skuLink(input: {skuId: $sku, inventoryItemId: $item}) {
  userErrors { code } } }"""
UNLINK = "mutation($sku: ID!) { skuUnlink(input: {skuId: $sku}) { userErrors { code } } }"
SKUS = """query($id: ID!) { shop(id: $id) { products(first: 50) { edges { node { status skus { id tiktokSkuId
  link { state } } } } } } }"""
UPDATED = "subscription($id: ID) { inventoryItemUpdated(inventoryItemId: $id) { sku onHand } }"
ADJUST = """mutation($id: ID!) { inventoryAdjust(input: {inventoryItemId: $id, delta: 3, reason: "delivery"}) {
  userErrors { code } } }"""


def create(app: ShopbridgeServer, sku: str, on_hand: int, merchant: str = "m1") -> str:
    payload = app.graphql(CREATE, {"sku": sku, "onHand": on_hand}, merchant)["inventoryItemCreate"]
    assert payload["userErrors"] == [], payload
    return str(payload["inventoryItem"]["id"])


def delete(app: ShopbridgeServer, item_id: str, merchant: str = "m1") -> dict[str, Any]:
    return dict(app.graphql(DELETE, {"id": item_id}, merchant)["inventoryItemDelete"])


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def test_a_mistaken_item_is_deleted_once_and_its_subscriber_and_the_list_see_it_go(
    app: ShopbridgeServer,
) -> None:
    # given the merchant's item SB-00000-Black and a look-alike typed by mistake, adjusted by mistake too
    create(app, "SB-00000-Black", 457)
    slip = create(app, "Sb-00000-black", 40)
    assert app.graphql(ADJUST, {"id": slip}, "m1")["inventoryAdjust"]["userErrors"] == []
    async with app.subscribe(UPDATED, {"id": slip}, "m1") as follower:
        assert (await follower.next())["inventoryItemUpdated"] == {"sku": "Sb-00000-black", "onHand": 43}
        # when another merchant deletes it: NOT_FOUND, nothing deleted
        foreign = await app.agraphql(DELETE, {"id": slip}, "m2")
        assert codes(foreign["inventoryItemDelete"]) == [("NOT_FOUND", ["inventoryItemId"])]
        assert app.graphql(ITEM, {"id": slip}, "m1")["inventoryItem"]["onHand"] == 43
        # when the merchant deletes it
        done = (await app.agraphql(DELETE, {"id": slip}, "m1"))["inventoryItemDelete"]
        assert done == {"deletedInventoryItemId": slip, "userErrors": []}
        # then its subscriber ends with NOT_FOUND
        with pytest.raises(OperationError) as ended:
            while True:
                await follower.next()
        assert [e["extensions"]["code"] for e in ended.value.payload] == ["NOT_FOUND"]
    # and the list finds the real item alone, the look-alike and its movements gone
    found = app.graphql(SEARCH, {"q": "sb-00000-black"}, "m1")["inventoryItems"]
    assert (found["totalCount"], [e["node"]["sku"] for e in found["edges"]]) == (1, ["SB-00000-Black"])
    assert app.graphql(ITEM, {"id": slip}, "m1")["inventoryItem"] is None
    assert app.rows("SELECT count(*) AS n FROM inventory_movements WHERE merchant_id = 'm1'")[0]["n"] == 1
    # and a second delete of the same id is NOT_FOUND
    assert codes(delete(app, slip)) == [("NOT_FOUND", ["inventoryItemId"])]


def test_an_item_a_sku_links_or_an_open_order_reserves_on_is_refused_until_both_are_gone(app_factory: Any) -> None:
    # given an item of the merchant's hand, a shop SKU linked to it and a buyer's open order of 1 unit of that SKU
    app = app_factory(webhooks=True, products=12, orders=0)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    products = app.graphql(SKUS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    sku = next(
        s for p in products if p["node"]["status"] == "ACTIVATE" for s in p["node"]["skus"]
        if s["link"] is not None and s["link"]["state"] == "LINKED"
    )  # fmt: skip
    item = create(app, "HAND-1", 10)
    assert app.graphql(LINK, {"sku": sku["id"], "item": item}, "m1")["skuLink"]["userErrors"] == []
    sale = app.sandbox.control(
        "POST", f"/shops/{shop['tiktokShopId']}/sales", {"sku_id": sku["tiktokSkuId"], "quantity": 1}
    )
    wait_until(lambda: app.graphql(ITEM, {"id": item}, "m1")["inventoryItem"]["reserved"] == 1, what="the reservation")
    # when the merchant deletes it: refused ITEM_LINKED, naming how many SKUs
    linked = delete(app, item)
    assert codes(linked) == [("ITEM_LINKED", ["inventoryItemId"])] and linked["deletedInventoryItemId"] is None
    assert linked["userErrors"][0]["message"] == '1 shop SKU is linked to "HAND-1": unlink it first.'
    # when the SKU is unlinked, its open order stays reserved on the item: refused ITEM_IN_USE
    assert app.graphql(UNLINK, {"sku": sku["id"]}, "m1")["skuUnlink"]["userErrors"] == []
    in_use = delete(app, item)
    assert codes(in_use) == [("ITEM_IN_USE", ["inventoryItemId"])]
    assert app.graphql(ITEM, {"id": item}, "m1")["inventoryItem"] == {"sku": "HAND-1", "onHand": 10, "reserved": 1}
    # when the buyer cancels, the reservation is released: the delete is done
    app.sandbox.control("POST", f"/orders/{sale['order_id']}/status", {"status": "CANCELLED"})
    wait_until(lambda: app.graphql(ITEM, {"id": item}, "m1")["inventoryItem"]["reserved"] == 0, what="the release")
    assert delete(app, item) == {"deletedInventoryItemId": item, "userErrors": []}
    # then nothing names the item any more (its order's ledger row kept, without it; the link forgot it)
    internal = app.rows("SELECT count(*) AS n FROM inventory_items WHERE sku = 'HAND-1'")[0]["n"]
    assert internal == 0
    assert app.rows(
        "SELECT count(*) AS n FROM order_line_stock WHERE tiktok_order_id = :o AND inventory_item_id IS NULL",
        o=sale["order_id"],
    )[0]["n"] == 1  # fmt: skip
    assert app.graphql(ITEM, {"id": item}, "m1")["inventoryItem"] is None
