"""Given-steps of the push fence's end-to-end tests (tests/e2e/test_inventory_fence_*.py,
test_inventory_create_from_sku.py): one SKU of a product of its own, imported and pushed; a sale of it at TikTok
that Shopbridge has not seen (the test server registers no webhooks, and no orders sync runs); the merchant's
unlink followed by a products read of TikTok's stock."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

from tests.e2e.test_inventory_pool import UNLINK
from tests.e2e.test_inventory_push import ADJUST, pooled_items, stock_of
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

SYNC_START = """mutation($input: SyncStartInput!) { syncStart(input: $input) { userErrors { code } } }"""


@dataclass(frozen=True)
class PushedSku:
    """A SKU imported into merchant m1's shop "Maple" (us-local) and pushed: the shop, its TikTok shop id, the
    SKU's TikTok id and global id, and its item as read after the push (`pooled_items`)."""

    shop: dict[str, Any]
    tiktok_id: str
    tiktok_sku: str
    sku_gid: str
    item: dict[str, Any]


def pushed_sku(app: ShopbridgeServer, seller_sku: str, quantity: int) -> PushedSku:
    """A product of one SKU (`seller_sku`, `quantity` at TikTok) made in the sandbox, the shop connected, imported
    (auto-linked to an item of that seller SKU) and its first push landed (`pushedQuantity` == `quantity`)."""
    tiktok_id = app.tiktok_shop("us-local")["id"]
    made = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/products",
        {"title": f"{seller_sku} product", "skus": [{"seller_sku": seller_sku, "quantity": quantity}]},
    )  # fmt: skip
    (tiktok_sku,) = made["sku_ids"]
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    wait_until(lambda: _link(app, seller_sku)["pushedQuantity"] == quantity, what=f"{seller_sku}'s push")
    (item,) = pooled_items(app, seller_sku)
    (row,) = app.rows("SELECT id FROM skus WHERE tiktok_sku_id = :s", s=tiktok_sku)
    return PushedSku(shop, tiktok_id, tiktok_sku, base64.b64encode(f"Sku:{row['id']}".encode()).decode(), item)


def _link(app: ShopbridgeServer, seller_sku: str) -> dict[str, Any]:
    """The first link of the item whose seller SKU starts with `seller_sku`."""
    link: dict[str, Any] = pooled_items(app, seller_sku)[0]["links"][0]
    return link


def second_after(at: float) -> None:
    """Wait for the whole second after `at` (epoch seconds): link periods and import windows end at whole seconds."""
    wait_until(lambda: time.time() >= int(at) + 1, what="the next second")


def held_sale(app: ShopbridgeServer, sku: PushedSku, units: int, *, shipped: bool) -> float:
    """A sale of `units` of `sku` at TikTok, unseen (shipped from the item's shelf when `shipped`: IN_TRANSIT), then
    a push of its item (a delivery of 1 counted) that holds the sale back: TikTok at the item's pool + 1 - `units`.
    Returns the sale's time (epoch seconds)."""
    sale = app.sandbox.control("POST", f"/shops/{sku.tiktok_id}/sales", {"sku_id": sku.tiktok_sku, "quantity": units})
    sold_at = time.time()
    if shipped:
        order_id = sale.get("order_id") or sale["id"]
        app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "IN_TRANSIT"})
    delta = {"inventoryItemId": sku.item["id"], "delta": 1, "reason": "delivery"}
    assert app.graphql(ADJUST, {"input": delta}, "m1")["inventoryAdjust"]["userErrors"] == []
    seller_sku, held_at = sku.item["sku"], sku.item["available"] + 1 - units
    wait_until(lambda: _link(app, seller_sku)["heldBackQuantity"] == units, what=f"{seller_sku}'s hold")
    wait_until(lambda: stock_of(app, sku.tiktok_id, sku.tiktok_sku) == held_at, what=f"TikTok at {held_at}")
    return sold_at


def unlink_and_read(app: ShopbridgeServer, sku: PushedSku) -> None:
    """The merchant unlinks the SKU, then a products import reads TikTok's stock of it again."""
    assert app.graphql(UNLINK, {"input": {"skuId": sku.sku_gid}}, "m1")["skuUnlink"]["userErrors"] == []
    started = app.graphql(SYNC_START, {"input": {"shopId": sku.shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
