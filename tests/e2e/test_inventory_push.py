"""The pool's push end to end, over real HTTP, on both databases: a quantity set in GraphQL lands on TikTok (the
sandbox), `Shop.inventoryPolicy` / `shopInventoryPolicyUpdate` (defaults, validation codes, tenant isolation, a change
re-pushes), and a sale on one shop lowers the other shop's TikTok stock (webhook -> ledger -> outbox -> push)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

POLICY = (
    "query($id: ID!) { shop(id: $id) { inventoryPolicy { pushEnabled sharePercent maxQuantity outOfStockThreshold } } }"
)
UPDATE = """mutation($input: ShopInventoryPolicyUpdateInput!) { shopInventoryPolicyUpdate(input: $input) {
  shop { id } inventoryPolicy { pushEnabled sharePercent maxQuantity outOfStockThreshold }
  userErrors { code field message } } }"""


ITEMS = """query($after: String, $query: String) { inventoryItems(first: 100, after: $after, query: $query) {
  pageInfo { hasNextPage endCursor }
  edges { node { id sku onHand reserved safetyStock available
    links { state shop { id } sku { tiktokSkuId quantity } pushedQuantity pushedAt heldBackQuantity pushErrorCode }
  } } } }"""
SET_ON_HAND = """mutation($input: InventorySetOnHandInput!) { inventorySetOnHand(input: $input) {
  userErrors { code field message } } }"""


def pooled_items(app: ShopbridgeServer, prefix: str, merchant: str = "m1") -> list[dict[str, Any]]:
    """The merchant's items whose SKU starts with `prefix` (auto-linked at import), with their links, newest first.

    Read through `inventoryItems(query:)` with the prefix less its last character when the prefix is ASCII: a
    superset of the items it starts (the search compares NFKC case-folded text, which keeps ASCII as it is but for
    case, and a combining mark after the prefix could only merge into its last character), filtered here as before.
    Many tests poll this (a push landed, a hold), and the whole list (77 items with their links after a sandbox shop's
    import) cost the app ~32 ms of CPU per look, the search ~9 ms (speed64)."""
    query = prefix[:-1] if len(prefix) > 1 and prefix.isascii() else None
    found, after = [], None
    while True:
        page = app.graphql(ITEMS, {"after": after, "query": query}, merchant)["inventoryItems"]
        found += [e["node"] for e in page["edges"] if e["node"]["sku"].startswith(prefix)]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def set_on_hand(app: ShopbridgeServer, item_id: str, on_hand: int, merchant: str = "m1") -> None:
    done = app.graphql(SET_ON_HAND, {"input": {"inventoryItemId": item_id, "onHand": on_hand}}, merchant)
    assert done["inventorySetOnHand"]["userErrors"] == [], done


PRODUCT_SKUS = """query($id: ID!) { shop(id: $id) { products(first: 100) {
  edges { node { skus { tiktokSkuId quantity } } } } } }"""


def sku_quantities(app: ShopbridgeServer, shop_id: str, only: list[str] | None = None) -> dict[str, int]:
    """`Sku.quantity` by TikTok SKU id as the products page reads it (the shop's first 100 products), of the SKUs
    `only` names (None: all)."""
    products = app.graphql(PRODUCT_SKUS, {"id": shop_id}, "m1")["shop"]["products"]["edges"]
    found = {sku["tiktokSkuId"]: sku["quantity"] for edge in products for sku in edge["node"]["skus"]}
    return found if only is None else {sku: found[sku] for sku in only}


def stock_of(app: ShopbridgeServer, shop_tiktok_id: str, sku_id: str) -> int:
    for product in app.sandbox.control("GET", f"/shops/{shop_tiktok_id}/products")["products"]:
        for sku in product["skus"]:
            if sku["id"] == sku_id:
                return sum(level["quantity"] for level in sku["inventory"])
    raise AssertionError(f"no SKU {sku_id}")


def test_a_policy_change_is_validated_isolated_and_pushed(app: ShopbridgeServer) -> None:
    # given a connected shop whose imported SKUs pooled; the merchant counts 40 units of one product's SKUs
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = app.tiktok_shop("us-local")["id"]
    items = pooled_items(app, "SB-00021-")
    assert items
    before = sku_quantities(app, shop["id"])  # the stock the import read (nothing is pushed before a count)
    for item in items:
        set_on_hand(app, item["id"], 40)
    # (open orders of the shop reserve units: available is 40 less those)
    available = {
        link["sku"]["tiktokSkuId"]: item["available"]
        for item in pooled_items(app, "SB-00021-")
        for link in item["links"]
        if link["state"] == "LINKED"
    }
    skus = list(available)
    assert skus and all(0 < units <= 40 for units in available.values())
    # the quantity lands on TikTok, and the links say what was pushed
    wait_until(lambda: all(stock_of(app, tiktok_id, sku) == available[sku] for sku in skus), what="the first push")

    def pushed() -> dict[str, tuple[int, None]]:
        return {
            link["sku"]["tiktokSkuId"]: (link["pushedQuantity"], link["pushErrorCode"])
            for item in pooled_items(app, "SB-00021-")
            for link in item["links"]
            if link["state"] == "LINKED"
        }

    wait_until(lambda: pushed() == {sku: (available[sku], None) for sku in skus}, what="the links' push state")
    # and each SKU's TikTok stock reads as pushed, on the products page and on the item's links, with no poll since:
    # it read as imported (TikTok's stock before the push) until the next products poll
    assert {sku: before[sku] for sku in skus} != {sku: available[sku] for sku in skus}  # a change to see
    assert sku_quantities(app, shop["id"], skus) == {sku: available[sku] for sku in skus}
    assert {
        link["sku"]["tiktokSkuId"]: link["sku"]["quantity"]
        for item in pooled_items(app, "SB-00021-")
        for link in item["links"]
        if link["state"] == "LINKED"
    } == {sku: available[sku] for sku in skus}

    # the defaults: on, 100 %, no maximum, threshold 0
    policy = app.graphql(POLICY, {"id": shop["id"]}, "m1")["shop"]["inventoryPolicy"]
    assert policy == {"pushEnabled": True, "sharePercent": 100, "maxQuantity": None, "outOfStockThreshold": 0}

    # bad values: stable codes on the input's fields, nothing saved
    for change, code, field in [
        ({"sharePercent": 0}, "INVALID_SHARE_PERCENT", "sharePercent"),
        ({"maxQuantity": 100000}, "INVALID_MAX_QUANTITY", "maxQuantity"),
        ({"outOfStockThreshold": -1}, "INVALID_OUT_OF_STOCK_THRESHOLD", "outOfStockThreshold"),
        ({"pushEnabled": None}, "INVALID_INPUT", "pushEnabled"),
    ]:
        refused = app.graphql(UPDATE, {"input": {"shopId": shop["id"], **change}}, "m1")["shopInventoryPolicyUpdate"]
        assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [(code, [field])], refused
    # every bad field is told in one answer
    change = {"sharePercent": 101, "maxQuantity": -1, "outOfStockThreshold": 10**9 + 1}
    refused = app.graphql(UPDATE, {"input": {"shopId": shop["id"], **change}}, "m1")["shopInventoryPolicyUpdate"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("INVALID_SHARE_PERCENT", ["sharePercent"]),
        ("INVALID_MAX_QUANTITY", ["maxQuantity"]),
        ("INVALID_OUT_OF_STOCK_THRESHOLD", ["outOfStockThreshold"]),
    ], refused
    # another merchant's shop does not exist
    other = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "sharePercent": 10}}, "m2")
    assert [e["code"] for e in other["shopInventoryPolicyUpdate"]["userErrors"]] == ["NOT_FOUND"]

    # when the merchant shares 50 % with a maximum of 15
    done = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "sharePercent": 50, "maxQuantity": 15}}, "m1")
    done = done["shopInventoryPolicyUpdate"]
    assert done["userErrors"] == [] and done["shop"]["id"] == shop["id"]
    assert done["inventoryPolicy"] == {"pushEnabled": True, "sharePercent": 50, "maxQuantity": 15,
                                       "outOfStockThreshold": 0}  # fmt: skip

    # then the linked SKUs are pushed again: min(floor(available x 50 %), 15) on TikTok
    wait_until(
        lambda: all(stock_of(app, tiktok_id, sku) == min(available[sku] // 2, 15) for sku in skus), what="the re-push"
    )
    assert app.graphql(POLICY, {"id": shop["id"]}, "m1")["shop"]["inventoryPolicy"]["maxQuantity"] == 15
    # and removing the maximum (null) shows floor(available x 50 %)
    app.graphql(UPDATE, {"input": {"shopId": shop["id"], "maxQuantity": None}}, "m1")
    wait_until(
        lambda: all(stock_of(app, tiktok_id, sku) == available[sku] // 2 for sku in skus), what="the second re-push"
    )


LINKED_COUNTS = """query($id: ID!, $n: Int) { shop(id: $id) {
  every: linkedSkuCount atMost: linkedSkuCount(availableAtMost: $n) } }"""


def test_a_shops_linked_sku_count_counts_its_linked_skus_by_their_items_available(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """Rule (schema `Shop.linkedSkuCount`): the shop's LINKED SKUs, and with `availableAtMost` those whose item's
    available is at most that many units: what a push policy's out-of-stock threshold would push 0, which the console
    says before it saves one (tryout61 F1: a threshold of 4500 typed for 45 zeroed the whole shop unasked)."""
    # given Maple imported for m1, one of its linked items counted at 40 (nothing reserved, no safety stock)
    app = app_factory(products=12, orders=0)
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    item = pooled_items(app, "SB-")[0]
    set_on_hand(app, item["id"], 40)
    links = [
        (link, it["available"])
        for it in pooled_items(app, "")
        for link in it["links"]
        if link["shop"]["id"] == shop["id"] and link["state"] == "LINKED"
    ]
    assert links and any(available > 40 for _, available in links), "some items above 40, for the count to split"
    for threshold in (0, 39, 40, 10**9):
        # when a client asks how many of Maple's linked SKUs a threshold would push 0
        counts = app.graphql(LINKED_COUNTS, {"id": shop["id"], "n": threshold}, "m1")["shop"]
        # then it is those whose item's available is at most it, of every linked one
        expected = sum(1 for _, available in links if available <= threshold)
        assert counts == {"every": len(links), "atMost": expected}, threshold
    # and another merchant reads no shop of m1
    assert app.graphql(LINKED_COUNTS, {"id": shop["id"], "n": 0}, "m2")["shop"] is None


def test_a_sale_on_one_shop_lowers_the_other_shops_tiktok_stock(app_factory: Callable[..., ShopbridgeServer]) -> None:
    # given one merchant's two shops, pooled by seller SKU, with 30 units of a shared SKU counted
    app = app_factory(webhooks=True, products=12, orders=20)
    first, second = two_pooled_shops(app, webhooks=True)
    item, sku_of = shared_sellable_item(app, first, second, sellable_at=first)
    set_on_hand(app, item["id"], 30)
    (counted,) = [i for i in pooled_items(app, item["sku"]) if i["id"] == item["id"]]
    start = counted["available"]  # 30 less what open orders reserve
    wait_until(lambda: stock_of(app, second["tiktokShopId"], sku_of[second["id"]]) == start, what="the first push")
    wait_until(lambda: stock_of(app, first["tiktokShopId"], sku_of[first["id"]]) == start, what="the first push")

    # when a buyer takes 3 units on the first shop
    app.sandbox.control("POST", f"/shops/{first['tiktokShopId']}/sales", {"sku_id": sku_of[first["id"]], "quantity": 3})

    # then the second shop's TikTok stock drops by 3, by webhook, ledger, outbox and push; no sync started by anyone
    wait_until(
        lambda: stock_of(app, second["tiktokShopId"], sku_of[second["id"]]) == start - 3, what="the other shop's push"
    )
    # and the first shop shows the same (TikTok moved 3 to committed; the push set available to the pool's)
    wait_until(lambda: stock_of(app, first["tiktokShopId"], sku_of[first["id"]]) == start - 3, what="the sale shop")
    (after,) = [i for i in pooled_items(app, item["sku"]) if i["id"] == item["id"]]
    assert (after["onHand"], after["available"]) == (30, start - 3)


ADJUST = """mutation($input: InventoryAdjustInput!) { inventoryAdjust(input: $input) {
  userErrors { code message } } }"""


def _a_sku_counted_at_10_and_pushed(app: ShopbridgeServer) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A shop connected with webhooks, one of its sellable SKUs' items counted at 10 and pushed: (the shop, the
    item, the TikTok SKU id)."""
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    app.wait_for_webhook_registration(shop)
    tiktok_id = shop["tiktokShopId"]
    sellable = sellable_skus(app, tiktok_id)
    item = next(i for i in pooled_items(app, "SB-") if any(ln["sku"]["tiktokSkuId"] in sellable for ln in i["links"]))
    sku = next(ln["sku"]["tiktokSkuId"] for ln in item["links"] if ln["sku"]["tiktokSkuId"] in sellable)
    set_on_hand(app, item["id"], 10)
    wait_until(lambda: stock_of(app, tiktok_id, sku) == 10, what="the first push")
    return shop, item, sku


def test_a_paid_order_does_not_hide_an_unseen_sale_from_the_fence(app_factory: Callable[..., ShopbridgeServer]) -> None:
    # given a shop's SKU counted at 10 units and pushed, and a buyer's UNPAID order of 1 unit, reserved by webhook,
    # then pushed past (an adjustment of +1: TikTok shows 10 again, after the reservation)
    app = app_factory(webhooks=True, products=12, orders=0)
    shop, item, sku = _a_sku_counted_at_10_and_pushed(app)
    tiktok_id = shop["tiktokShopId"]
    app.sandbox.control("POST", "/clock", {"advance_seconds": 60})  # (an order well after the import's stock count)
    order = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1, "status": "UNPAID"})
    wait_until(lambda: pooled_items(app, item["sku"])[0]["reserved"] == 1, what="the order's reservation")
    adjust = {"inventoryItemId": item["id"], "delta": 1, "reason": "found one"}
    assert app.graphql(ADJUST, {"input": adjust}, "m1")["inventoryAdjust"]["userErrors"] == []
    wait_until(lambda: stock_of(app, tiktok_id, sku) == 10, what="the push after the reservation")

    # when the buyer pays (a later update_time: the sandbox's clock moves on), which the webhook brings in
    app.sandbox.control("POST", "/clock", {"advance_seconds": 60})
    app.sandbox.control("POST", f"/orders/{order['order_id']}/status", {"status": "AWAITING_SHIPMENT"})
    paid = "SELECT status FROM orders WHERE tiktok_order_id = :o"
    wait_until(lambda: app.rows(paid, o=order["order_id"])[0]["status"] == "AWAITING_SHIPMENT", what="the payment")
    # and another buyer takes 1 unit whose webhook is lost (not ingested), before a change pushes the SKU again
    app.sandbox.control("POST", "/webhooks", {"drop": 1.0})
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})
    assert stock_of(app, tiktok_id, sku) == 9
    assert app.graphql(ADJUST, {"input": adjust}, "m1")["inventoryAdjust"]["userErrors"] == []

    # then the push holds the unseen sale back: 12 on hand, 1 reserved, 1 sold unseen = 10. Had the payment's ledger
    # write counted as a sale ingested since the last push, the fence would have held back nothing: 11, one unit on
    # sale twice. (The payment's own push may run after the unseen sale and hold it back first, writing nothing as
    # TikTok already shows 9; when a hold lasted one push only, this push then released it: 11 again, once in four
    # runs.)
    wait_until(lambda: stock_of(app, tiktok_id, sku) != 9, what="the push after the unseen sale")
    assert stock_of(app, tiktok_id, sku) == 10

    # when one more unit comes in before the sale is ingested, then the sale is still held back: 11, not 12
    assert app.graphql(ADJUST, {"input": adjust}, "m1")["inventoryAdjust"]["userErrors"] == []
    wait_until(lambda: stock_of(app, tiktok_id, sku) != 10, what="the second push after the unseen sale")
    assert stock_of(app, tiktok_id, sku) == 11

    # and the link says what it holds back, once the push recorded what TikTok accepted (after TikTok's answer)
    def link() -> dict[str, Any]:
        return next(ln for ln in pooled_items(app, item["sku"])[0]["links"] if ln["sku"]["tiktokSkuId"] == sku)

    wait_until(lambda: link()["pushedQuantity"] == 11, what="the push's record")
    assert link()["heldBackQuantity"] == 1


LINK = """mutation($input: SkuLinkInput!) { skuLink(input: $input) { userErrors { code field } } }"""
CREATE = """mutation($input: InventoryItemCreateInput!) { inventoryItemCreate(input: $input) {
  inventoryItem { id } userErrors { code field } } }"""
SKU_IDS = """query($id: ID!) { shop(id: $id) { products(first: 50) { edges { node { skus { id tiktokSkuId } } } } } }"""


def test_a_manual_relink_does_not_hide_an_unseen_sale_from_the_fence(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a shop's SKU counted at 10 units, an open order of 1 unit reserved by webhook, and 9 pushed
    app = app_factory(webhooks=True, products=12, orders=0)
    shop, item, sku = _a_sku_counted_at_10_and_pushed(app)
    tiktok_id = shop["tiktokShopId"]
    app.sandbox.control("POST", "/clock", {"advance_seconds": 60})  # (an order well after the import's stock count)
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})
    wait_until(lambda: pooled_items(app, item["sku"])[0]["reserved"] == 1, what="the order's reservation")
    wait_until(lambda: stock_of(app, tiktok_id, sku) == 9, what="the push after the reservation")

    # when, while the shop's pushes wait, the merchant links the SKU by hand to an item of its own counted at 10
    # (the open order's unit moves with it: 9 available, as TikTok shows)
    off = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "pushEnabled": False}}, "m1")
    assert off["shopInventoryPolicyUpdate"]["userErrors"] == []
    created = app.graphql(CREATE, {"input": {"sku": "MY-SHELF", "onHand": 10}}, "m1")["inventoryItemCreate"]
    assert created["userErrors"] == []
    products = app.graphql(SKU_IDS, {"id": shop["id"]}, "m1")["shop"]["products"]["edges"]
    (sku_id,) = [s["id"] for p in products for s in p["node"]["skus"] if s["tiktokSkuId"] == sku]
    linked = app.graphql(LINK, {"input": {"skuId": sku_id, "inventoryItemId": created["inventoryItem"]["id"]}}, "m1")
    assert linked["skuLink"]["userErrors"] == []
    (mine,) = pooled_items(app, "MY-SHELF")
    assert (mine["onHand"], mine["reserved"], mine["available"]) == (10, 1, 9)
    # and another buyer takes 1 unit whose webhook is lost (not ingested), and the merchant finds one more unit
    app.sandbox.control("POST", "/webhooks", {"drop": 1.0})
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})
    assert stock_of(app, tiktok_id, sku) == 8
    adjust = {"inventoryItemId": mine["id"], "delta": 1, "reason": "found one"}
    assert app.graphql(ADJUST, {"input": adjust}, "m1")["inventoryAdjust"]["userErrors"] == []
    # before pushes resume
    on = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "pushEnabled": True}}, "m1")
    assert on["shopInventoryPolicyUpdate"]["userErrors"] == []

    # then the push holds the unseen sale back: 11 on hand, 1 reserved, 1 sold unseen = 9. The relink stamped the
    # open order's line anew, the fence took it for a sale ingested since the last push and held back nothing: 10,
    # one unit on sale twice.
    wait_until(lambda: stock_of(app, tiktok_id, sku) != 8, what="the push after the unseen sale")
    assert stock_of(app, tiktok_id, sku) == 9


@dataclass(frozen=True)
class SharedSku:
    """One seller SKU made in the sandbox on shops "Maple" (us-local) and "Desert" (us-local-2) at `quantity` each,
    both imported and linked to one item (seeded by Maple's stock) and pushed: the shops, Maple's TikTok product
    and SKU ids, Desert's TikTok SKU id, and the item."""

    maple: dict[str, Any]
    desert: dict[str, Any]
    product_id: str
    sku: str
    desert_sku: str
    item: dict[str, Any]


# A re-base whose reading moved waits `SHOPBRIDGE_POLL_SETTLE` for TikTok's order search before its orders read
# (`rebase_fence`; its own test: tests/integration/test_inventory_push_rebase.py); no order poll runs in these tests.
REBASE_SETTLE = 0.5


def shared_sku(app: ShopbridgeServer, seller_sku: str, quantity: int) -> SharedSku:
    made = {
        seller: app.sandbox.control(
            "POST", f"/shops/{app.tiktok_shop(seller)['id']}/products",
            {"title": f"{seller_sku} product", "skus": [{"seller_sku": seller_sku, "quantity": quantity}]},
        )
        for seller in ("us-local", "us-local-2")
    }  # fmt: skip
    maple = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()  # (alone first: Maple's stock seeds the item)
    desert = app.connect_shop("m1", "us-local-2", "US", "Desert")
    app.wait_for_idle_sync()

    def both_pushed() -> dict[str, Any] | None:
        (item,) = pooled_items(app, seller_sku)
        links = [ln for ln in item["links"] if ln["state"] == "LINKED"]
        return item if len(links) == 2 and all(ln["pushedQuantity"] == quantity for ln in links) else None

    item = wait_until(both_pushed, what=f"{seller_sku} linked and pushed on both shops")
    (sku,), (desert_sku,) = made["us-local"]["sku_ids"], made["us-local-2"]["sku_ids"]
    return SharedSku(maple, desert, made["us-local"]["product_id"], sku, desert_sku, item)


def maple_link(app: ShopbridgeServer, shared: SharedSku) -> dict[str, Any]:
    (item,) = pooled_items(app, shared.item["sku"])
    link: dict[str, Any] = next(ln for ln in item["links"] if ln["shop"]["id"] == shared.maple["id"])
    return link


def push_switched(app: ShopbridgeServer, shop: dict[str, Any], on: bool) -> None:
    done = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "pushEnabled": on}}, "m1")
    assert done["shopInventoryPolicyUpdate"]["userErrors"] == []


@pytest.mark.parametrize("edited", [5, 30], ids=["lowered", "raised"])
def test_a_seller_center_edit_made_while_push_was_off_is_not_held_back_when_push_is_on(
    app_factory: Callable[..., ShopbridgeServer], edited: int
) -> None:
    # given one SKU on two shops of one item, 20 units, pushed to both; the merchant turns Maple's push off
    app = app_factory(products=0, orders=0, poll_settle_seconds=REBASE_SETTLE)
    shared = shared_sku(app, "REBASE", 20)
    push_switched(app, shared.maple, False)

    # when the merchant sets the SKU's stock in Seller Center (20 -> 5, or -> 30), then turns Maple's push on
    app.sandbox.control("POST", f"/products/{shared.product_id}", {"skus": [{"id": shared.sku, "quantity": edited}]})
    assert stock_of(app, shared.maple["tiktokShopId"], shared.sku) == edited
    push_switched(app, shared.maple, True)

    # then Maple shows the pool's 20 again, nothing held back, and Desert keeps its 20. Measured from the last push's
    # 20, the 15 units lowered passed for unseen sales: held back on both shops (Maple and Desert at 5) for the hold's
    # horizon, ~10 minutes of undersold stock the merchant never sold.
    def pushed_back() -> dict[str, Any] | None:
        link = maple_link(app, shared)
        shown = stock_of(app, shared.maple["tiktokShopId"], shared.sku)
        return link if (shown, link["pushedQuantity"]) == (20, 20) else None

    link = wait_until(pushed_back, what="Maple back at the pool's 20, recorded")
    assert link["heldBackQuantity"] == 0
    (item,) = pooled_items(app, "REBASE")
    assert (item["onHand"], item["reserved"], item["available"]) == (20, 0, 20)
    assert all(ln["heldBackQuantity"] == 0 for ln in item["links"])
    assert stock_of(app, shared.desert["tiktokShopId"], shared.desert_sku) == 20


def test_a_sale_unseen_while_push_was_off_is_counted_once_and_the_seller_center_edit_not_held(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given one SKU on two shops of one item, 20 units, pushed to both; Maple's push off (no webhooks registered in
    # this test server, and no order poll runs: a sale at TikTok is unseen until something reads Maple's orders)
    app = app_factory(products=0, orders=0, poll_settle_seconds=REBASE_SETTLE)
    shared = shared_sku(app, "REBASE", 20)
    push_switched(app, shared.maple, False)

    # when a buyer takes 1 unit at Maple (20 -> 19, its order unseen), the merchant lowers the SKU to 5 in Seller
    # Center, and turns Maple's push on
    tiktok_id = shared.maple["tiktokShopId"]
    sale = app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": shared.sku, "quantity": 1})
    app.sandbox.control("POST", f"/products/{shared.product_id}", {"skus": [{"id": shared.sku, "quantity": 5}]})
    push_switched(app, shared.maple, True)

    # then push on read Maple's orders before its push: the sale reserves 1 unit, counted once (20 on hand, 19
    # available), and both shops show the pool's 19 with nothing held back. Before, nothing read the order: the fence
    # took the 15 units lowered for unseen sales (Maple and Desert at 5 for the hold's horizon) and the pool never
    # counted the sale until an order poll.
    wait_until(lambda: stock_of(app, tiktok_id, shared.sku) == 19, what="Maple at the pool's 19")
    (item,) = pooled_items(app, "REBASE")
    assert (item["onHand"], item["reserved"], item["available"]) == (20, 1, 19)
    assert all(ln["heldBackQuantity"] == 0 for ln in item["links"])
    (line,) = app.rows("SELECT quantity, state FROM order_line_stock WHERE tiktok_order_id = :o", o=sale["order_id"])
    assert (line["quantity"], line["state"]) == (1, "RESERVED")
    wait_until(
        lambda: stock_of(app, shared.desert["tiktokShopId"], shared.desert_sku) == 19, what="Desert at the pool's 19"
    )
    assert maple_link(app, shared)["heldBackQuantity"] == 0


def test_a_seller_center_edit_made_while_the_shop_was_revoked_is_not_held_back_once_it_is_reauthorized(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given one SKU on two shops of one item, 20 units, pushed to both; the seller revokes the app for Maple
    app = app_factory(webhooks=True, products=0, orders=0, poll_settle_seconds=REBASE_SETTLE)
    shared = shared_sku(app, "REBASE", 20)
    app.wait_for_webhook_registration(shared.maple)  # (TikTok tells a revocation by webhook 6)
    app.sandbox.control("POST", "/sellers/us-local/revoke")
    maple = shared.maple["id"]
    wait_until(lambda: app.graphql(STATUS, {"id": maple}, "m1")["shop"]["status"] == "REVOKED", what="REVOKED")

    # when the merchant lowers the SKU to 5 in Seller Center, then re-authorizes Maple
    app.sandbox.control("POST", f"/products/{shared.product_id}", {"skus": [{"id": shared.sku, "quantity": 5}]})
    url = app.graphql(REAUTHORIZE, {"id": maple}, "m1")["shopReauthorizationStart"]["authorizationUrl"]
    redirect = app.sandbox.authorize("us-local", parse_qs(urlsplit(url).query)["state"][0])
    done = app.graphql(COMPLETE, {"input": {"state": redirect["state"], "code": redirect["code"]}}, "m1")
    assert done["shopAuthorizationComplete"]["userErrors"] == []

    # then Maple shows the pool's 20 again with nothing held back, and Desert keeps its 20 (before: the 15 units
    # lowered held back as unseen sales on both shops for the hold's horizon)
    def pushed_back() -> dict[str, Any] | None:
        link = maple_link(app, shared)
        shown = stock_of(app, shared.maple["tiktokShopId"], shared.sku)
        return link if (shown, link["pushedQuantity"]) == (20, 20) else None

    assert wait_until(pushed_back, what="Maple back at the pool's 20, recorded")["heldBackQuantity"] == 0
    assert stock_of(app, shared.desert["tiktokShopId"], shared.desert_sku) == 20


ORDER_SEARCH = "/order/202309/orders/search"  # the orders read of a re-base (and the order poll's)


def test_an_orders_read_failing_at_push_on_keeps_the_fence_until_a_later_push_reads_them(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given one SKU on two shops of one item, 20 units, pushed to both; Maple's push off and a buyer's unit taken
    # there, unseen (20 -> 19)
    app = app_factory(products=0, orders=0, poll_settle_seconds=REBASE_SETTLE)
    shared = shared_sku(app, "REBASE", 20)
    tiktok_id = shared.maple["tiktokShopId"]
    push_switched(app, shared.maple, False)
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": shared.sku, "quantity": 1})

    # when push goes on while TikTok refuses Maple's order search
    app.sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": ["missing_scope"], "paths": [ORDER_SEARCH]})
    push_switched(app, shared.maple, True)

    # then no re-base: the push is fenced from its last baseline, the unseen sale held back (Maple stays at 19)
    wait_until(lambda: maple_link(app, shared)["heldBackQuantity"] == 1, what="the unseen sale held back")
    assert stock_of(app, tiktok_id, shared.sku) == 19
    (item,) = pooled_items(app, "REBASE")
    assert (item["onHand"], item["reserved"]) == (20, 0)

    # and once the orders can be read, Maple's next push (a delivery of 1 counted) re-bases first: the sale reserves
    # (21 on hand, 1 reserved), nothing held, both shops at the pool's 20
    app.sandbox.control("POST", "/faults", {"rate": 0.0, "kinds": []})
    delta = {"inventoryItemId": item["id"], "delta": 1, "reason": "delivery"}
    assert app.graphql(ADJUST, {"input": delta}, "m1")["inventoryAdjust"]["userErrors"] == []

    def counted() -> dict[str, Any] | None:
        (now,) = pooled_items(app, "REBASE")
        return now if (now["onHand"], now["reserved"]) == (21, 1) else None

    wait_until(counted, what="the sale read at the next push")
    wait_until(lambda: maple_link(app, shared)["heldBackQuantity"] == 0, what="the hold let go")
    wait_until(lambda: stock_of(app, tiktok_id, shared.sku) == 20, what="Maple at the pool's 20")
    wait_until(
        lambda: stock_of(app, shared.desert["tiktokShopId"], shared.desert_sku) == 20, what="Desert at the pool's 20"
    )


INVENTORY_SEARCH = "/product/202309/inventory/search"  # the fence's reading of TikTok's available


def test_a_sale_between_the_seeding_read_and_the_first_push_is_held_back(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a shop whose import seeds its items from its product page's TikTok stock, and whose first push waits at
    # TikTok's Inventory Search, the fence's reading before any write (no webhooks, and no order poll in tests: a sale
    # at TikTok is never ingested)
    app = app_factory(products=12, orders=0, tiktok_timeout_seconds=DEADLINE_SECONDS)
    app.sandbox.hold(INVENTORY_SEARCH)
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.sandbox.wait_held()
    tiktok_id = shop["tiktokShopId"]
    sellable = sellable_skus(app, tiktok_id)
    item = next(
        i for i in pooled_items(app, "SB-")
        if any(ln["state"] == "LINKED" and ln["sku"]["tiktokSkuId"] in sellable for ln in i["links"])
        and i["available"] >= 2
    )  # fmt: skip
    (link,) = [ln for ln in item["links"] if ln["state"] == "LINKED"]
    sku = link["sku"]["tiktokSkuId"]
    assert (link["pushedQuantity"], stock_of(app, tiktok_id, sku)) == (None, item["available"])  # seeded as shown

    # when a buyer takes 1 unit at TikTok after the page was read, before the first push has read TikTok's stock
    app.sandbox.control("POST", f"/shops/{tiktok_id}/sales", {"sku_id": sku, "quantity": 1})
    app.sandbox.hold()

    # then that push holds the unit back: TikTok's available does not go back up by it (without a baseline for the
    # link's first push, it wrote the pool's available over the sale: one unit on sale twice until its order came in)
    def pushed() -> dict[str, Any]:
        (now,) = [i for i in pooled_items(app, item["sku"]) if i["id"] == item["id"]]
        return next(ln for ln in now["links"] if ln["sku"]["tiktokSkuId"] == sku)

    wait_until(lambda: pushed()["pushedQuantity"] is not None, what="the first push's record")
    assert (pushed()["pushedQuantity"], pushed()["heldBackQuantity"]) == (item["available"] - 1, 1)
    assert stock_of(app, tiktok_id, sku) == item["available"] - 1


def sellable_skus(app: ShopbridgeServer, tiktok_shop_id: str) -> dict[str, dict[str, Any]]:
    """The SKUs a buyer can order at the sandbox's shop `tiktok_shop_id` (its ACTIVATE products that are no bundle),
    by TikTok SKU id."""
    return {
        sku["id"]: sku
        for product in app.sandbox.control("GET", f"/shops/{tiktok_shop_id}/products")["products"]
        if product["status"] == "ACTIVATE" and not product.get("product_types")
        for sku in product["skus"]
    }


def two_pooled_shops(app: ShopbridgeServer, *, webhooks: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """m1's shops Maple (seller `us-local`) and Desert (`us-local-2`), connected and imported: their SKUs pooled by
    seller SKU. `webhooks` (an app made with `webhooks=True`): also until TikTok has both shops' webhook address, as it
    pushes a sale only to a registered address."""
    first = app.connect_shop("m1", "us-local", "US", "Maple")
    second = app.connect_shop("m1", "us-local-2", "US", "Desert")
    app.wait_for_idle_sync()
    if webhooks:
        for shop in (first, second):
            app.wait_for_webhook_registration(shop)
    return first, second


def shared_sellable_item(
    app: ShopbridgeServer, first: dict[str, Any], second: dict[str, Any], sellable_at: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """An item of m1 (seller SKU `SB-...`) LINKED on both shops and on no other, one of whose SKUs a buyer can order
    at shop `sellable_at` (`sellable_skus`), each LINKED SKU's product on sale (ACTIVATE: the only status pushed);
    and the TikTok SKU id it is LINKED to on each shop, by shop id."""
    sellable = sellable_skus(app, sellable_at["tiktokShopId"])
    on_sale = {shop["id"]: sellable_skus(app, shop["tiktokShopId"]) for shop in (first, second)}
    item = next(
        i for i in pooled_items(app, "SB-")
        if {ln["shop"]["id"] for ln in i["links"] if ln["state"] == "LINKED"} == {first["id"], second["id"]}
        and any(ln["sku"]["tiktokSkuId"] in sellable for ln in i["links"])
        and all(ln["sku"]["tiktokSkuId"] in on_sale[ln["shop"]["id"]] for ln in i["links"] if ln["state"] == "LINKED")
    )  # fmt: skip
    return item, {ln["shop"]["id"]: ln["sku"]["tiktokSkuId"] for ln in item["links"] if ln["state"] == "LINKED"}


REAUTHORIZE = """mutation($id: ID!) { shopReauthorizationStart(input: {shopId: $id}) { authorizationUrl } }"""
COMPLETE = """mutation($input: ShopAuthorizationCompleteInput!) { shopAuthorizationComplete(input: $input) {
  reauthorized shop { status } userErrors { code } } }"""
STATUS = "query($id: ID!) { shop(id: $id) { status } }"


def test_a_reauthorized_shop_gets_the_stock_that_changed_while_it_was_revoked_at_once(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """Rule (README "Pushing to TikTok": revoked shops are skipped, their rows stay dirty): the re-authorization
    pushes them. It enqueued nothing, so the shop showed the stock of before the revocation until the scheduler's
    next tick (up to 30 s; with `SHOPBRIDGE_SCHEDULER=off` on every process, until the item's next change): units
    the pool no longer had were on sale there meanwhile."""
    # given a SKU counted at 10 and pushed, and the seller revoking the app at TikTok (webhook 6: REVOKED)
    app = app_factory(webhooks=True, products=12, orders=0)
    shop, item, sku = _a_sku_counted_at_10_and_pushed(app)
    app.sandbox.control("POST", "/sellers/us-local/revoke")
    wait_until(lambda: app.graphql(STATUS, {"id": shop["id"]}, "m1")["shop"]["status"] == "REVOKED", what="REVOKED")
    # and the stock counted at 7 while it is revoked: nothing reaches TikTok
    set_on_hand(app, item["id"], 7)
    assert stock_of(app, shop["tiktokShopId"], sku) == 10
    # when the merchant re-authorizes the shop (the scheduler is off: no tick pushes for it)
    url = app.graphql(REAUTHORIZE, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]["authorizationUrl"]
    redirect = app.sandbox.authorize("us-local", parse_qs(urlsplit(url).query)["state"][0])
    done = app.graphql(COMPLETE, {"input": {"state": redirect["state"], "code": redirect["code"]}}, "m1")
    assert done["shopAuthorizationComplete"] == {"reauthorized": True, "shop": {"status": "ACTIVE"}, "userErrors": []}
    # then TikTok gets the count
    wait_until(lambda: stock_of(app, shop["tiktokShopId"], sku) == 7, what="the push after the re-authorization")


LINK_PUSH = """query($id: ID!) { inventoryItem(id: $id) {
  links { state sku { tiktokSkuId } pushedQuantity pushErrorCode productStatus } } }"""
OUTBOX_CLAIM = "SELECT claimed_by FROM inventory_push_outbox WHERE tiktok_product_id = :p"
STORED_STATUS = "SELECT status FROM products WHERE tiktok_product_id = :p"


def test_a_product_tiktok_does_not_sell_is_not_pushed_until_it_is_activate_again(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """Rule (live-sync.md §1.1: Update Inventory wants the product ACTIVATE, else 12052901; §2, webhook 5: deactivated
    SKUs stop receiving pushes): a linked SKU whose product the seller deactivated keeps its link and is not pushed (no
    push error), the merchant reads why (`SkuLink.productStatus`), and once the product is ACTIVATE again the pool's
    value is pushed. Before, the push went out, TikTok refused it (12052901) and the link showed a push error, and
    nothing was pushed again once the product was back on sale."""
    # given a shop's SKU counted at 10 units and pushed, and another of its items on sale elsewhere in the shop
    app = app_factory(webhooks=True, products=12, orders=0)
    shop, item, sku = _a_sku_counted_at_10_and_pushed(app)
    tiktok_id = shop["tiktokShopId"]
    products = app.sandbox.control("GET", f"/shops/{tiktok_id}/products")["products"]
    product = next(p for p in products if any(s["id"] == sku for s in p["skus"]))
    product_id, own = product["id"], {s["id"] for s in product["skus"]}
    sellable = sellable_skus(app, tiktok_id)
    other, other_sku = next(
        (i, ln["sku"]["tiktokSkuId"]) for i in pooled_items(app, "SB-") if i["id"] != item["id"]
        for ln in i["links"]
        if ln["state"] == "LINKED" and ln["sku"]["tiktokSkuId"] in sellable
        and ln["sku"]["tiktokSkuId"] not in own
    )  # fmt: skip

    def link() -> dict[str, Any]:
        links = app.graphql(LINK_PUSH, {"id": item["id"]}, "m1")["inventoryItem"]["links"]
        return next(ln for ln in links if ln["sku"]["tiktokSkuId"] == sku)

    # when the seller deactivates that SKU's product in Seller Center (webhook 5, the product re-fetched)
    app.sandbox.control("POST", f"/products/{product_id}", {"status": "SELLER_DEACTIVATED"})
    wait_until(lambda: app.rows(STORED_STATUS, p=product_id)[0]["status"] == "SELLER_DEACTIVATED", what="the status")
    # and the merchant counts 7 units of its item, then 25 of the other one, whose push lands
    set_on_hand(app, item["id"], 7)
    set_on_hand(app, other["id"], 25)
    (counted,) = [i for i in pooled_items(app, other["sku"]) if i["id"] == other["id"]]
    wait_until(lambda: stock_of(app, tiktok_id, other_sku) == counted["available"], what="the other item's push")
    wait_until(lambda: app.rows(OUTBOX_CLAIM, p=product_id)[0]["claimed_by"] is None, what="no push under way")

    # then the deactivated product was not pushed: TikTok keeps 10, the link stays LINKED with no push error, and the
    # merchant reads the product's status on it
    assert stock_of(app, tiktok_id, sku) == 10
    assert link() == {
        "state": "LINKED", "sku": {"tiktokSkuId": sku}, "pushedQuantity": 10, "pushErrorCode": None,
        "productStatus": "SELLER_DEACTIVATED",
    }  # fmt: skip

    # when the seller activates it again (webhook 5)
    app.sandbox.control("POST", f"/products/{product_id}", {"status": "ACTIVATE"})
    # then the pool's 7 units are pushed to it, with no error
    wait_until(lambda: stock_of(app, tiktok_id, sku) == 7, what="the push once ACTIVATE again")
    wait_until(lambda: link()["pushedQuantity"] == 7, what="the push's record")
    assert (link()["pushErrorCode"], link()["productStatus"]) == (None, "ACTIVATE")
