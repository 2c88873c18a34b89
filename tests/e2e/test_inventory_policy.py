"""`Shop.inventoryPolicy` and `shopInventoryPolicyUpdate` through GraphQL, on both databases: defaults, validation
codes, tenant isolation, and a change that re-pushes the shop's linked products (seen in the sandbox)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.fixtures.app import ShopbridgeServer

POLICY = (
    "query($id: ID!) { shop(id: $id) { inventoryPolicy { pushEnabled sharePercent maxQuantity outOfStockThreshold } } }"
)
UPDATE = """mutation($input: ShopInventoryPolicyUpdateInput!) { shopInventoryPolicyUpdate(input: $input) {
  shop { id } inventoryPolicy { pushEnabled sharePercent maxQuantity outOfStockThreshold }
  userErrors { code field message } } }"""


def wait_until(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


def link_product(app: ShopbridgeServer, shop_tiktok_id: str, seller_sku_prefix: str, on_hand: int) -> list[str]:
    """Link every SKU of the shop whose seller SKU starts with the prefix to a new item; the TikTok SKU ids."""
    rows = app.rows(
        "SELECT k.id, k.tiktok_sku_id, k.seller_sku, p.tiktok_product_id, s.id AS shop_id, s.merchant_id "
        "FROM skus k JOIN products p ON p.id = k.product_id JOIN shops s ON s.id = k.shop_id "
        "WHERE s.tiktok_shop_id = :t AND k.seller_sku LIKE :p",
        t=shop_tiktok_id, p=seller_sku_prefix + "%",
    )  # fmt: skip
    now = datetime.now(UTC)
    with app._db.begin() as conn:  # linking is the pool's; here the push is under test
        for row in rows:
            item = uuid.uuid4().hex
            conn.execute(
                sa.text(
                    "INSERT INTO inventory_items (id, merchant_id, sku, on_hand, reserved, safety_stock, version, "
                    "created_at, updated_at) VALUES (:id, :m, :sku, :n, 0, 0, 1, :at, :at)"
                ),
                {"id": item, "m": row["merchant_id"], "sku": row["seller_sku"], "n": on_hand, "at": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO sku_links (sku_id, shop_id, merchant_id, inventory_item_id, tiktok_product_id, "
                    "tiktok_sku_id, seller_sku, state, source, drift_count, updated_at) VALUES (:k, :s, :m, :i, :p, "
                    ":t, :sku, 'LINKED', 'MANUAL', 0, :at)"
                ),
                {"k": row["id"], "s": row["shop_id"], "m": row["merchant_id"], "i": item, "p": row["tiktok_product_id"],
                 "t": row["tiktok_sku_id"], "sku": row["seller_sku"], "at": now},
            )  # fmt: skip
    return [row["tiktok_sku_id"] for row in rows]


def stock_of(app: ShopbridgeServer, shop_tiktok_id: str, sku_id: str) -> int:
    for product in app.sandbox.control("GET", f"/shops/{shop_tiktok_id}/products")["products"]:
        for sku in product["skus"]:
            if sku["id"] == sku_id:
                return sum(level["quantity"] for level in sku["inventory"])
    raise AssertionError(f"no SKU {sku_id}")


def test_a_policy_change_is_validated_isolated_and_pushed(app: ShopbridgeServer) -> None:
    # given a connected shop with imported products, one product linked to items of 40 units
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = app.tiktok_shop("us-local")["id"]
    skus = link_product(app, tiktok_id, "SB-00021-", on_hand=40)
    assert skus

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
    # another merchant's shop does not exist
    other = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "sharePercent": 10}}, "m2")
    assert [e["code"] for e in other["shopInventoryPolicyUpdate"]["userErrors"]] == ["NOT_FOUND"]

    # when the merchant shares 50 % with a maximum of 15
    done = app.graphql(UPDATE, {"input": {"shopId": shop["id"], "sharePercent": 50, "maxQuantity": 15}}, "m1")
    done = done["shopInventoryPolicyUpdate"]
    assert done["userErrors"] == [] and done["shop"]["id"] == shop["id"]
    assert done["inventoryPolicy"] == {"pushEnabled": True, "sharePercent": 50, "maxQuantity": 15,
                                       "outOfStockThreshold": 0}  # fmt: skip

    # then the linked SKUs are pushed again: min(floor(40 x 50 %), 15) = 15 on TikTok
    wait_until(lambda: all(stock_of(app, tiktok_id, sku) == 15 for sku in skus), what="the re-push")
    assert app.graphql(POLICY, {"id": shop["id"]}, "m1")["shop"]["inventoryPolicy"]["maxQuantity"] == 15
    # and removing the maximum (null) shows 20
    app.graphql(UPDATE, {"input": {"shopId": shop["id"], "maxQuantity": None}}, "m1")
    wait_until(lambda: all(stock_of(app, tiktok_id, sku) == 20 for sku in skus), what="the second re-push")
