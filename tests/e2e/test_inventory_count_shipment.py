"""A merchant's count taken after a shipment left the shelf, the shipment ingested only after the count (its webhook
late, or the next poll), end to end over real HTTP (the sandbox) on SQLite and PostgreSQL: the count stands, the
shipment releases its committed units and takes nothing off on-hand a second time
(`domain.inventory.ledger.counted_after_shipment`; pool57 F3), also when the order is first seen shipped in a later
version (DELIVERED after the count), dated by the carrier's collection (`ledger.left_shelf_by`, collect58)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.test_inventory_push import pooled_items, sellable_skus, stock_of
from tests.e2e.test_webhooks import envelope, push
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

SYNC_START = """mutation($input: SyncStartInput!) { syncStart(input: $input) { userErrors { code } } }"""
COUNT = """mutation($input: InventorySetOnHandInput!) { inventorySetOnHand(input: $input) {
  userErrors { code } inventoryItem { onHand reserved available } } }"""
STATES = "SELECT state FROM order_line_stock WHERE tiktok_order_id = :o"


def _connected_sku(app_factory: Callable[..., ShopbridgeServer]) -> tuple[ShopbridgeServer, dict[str, Any], str, str]:
    """A shop connected (6 products, no order) and one of its SKUs on sale with 3 units or more: (the server, the
    shop as `connect_shop` gives it, the TikTok SKU id, its seller SKU)."""
    app = app_factory(products=6, orders=0)
    shop = app.connect_shop("m1", "us-local", "US", "Maple")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    sku_id, sku = next((i, s) for i, s in sellable_skus(app, tiktok_id).items() if stock_of(app, tiktok_id, i) >= 3)
    return app, shop, sku_id, sku["seller_sku"].strip()


def _linked_item(app: ShopbridgeServer, seller_sku: str) -> dict[str, Any]:
    """The pool item the seller SKU links (its `pooledItems` entry: id, onHand, reserved, available, safetyStock)."""
    (item,) = [i for i in pooled_items(app, seller_sku) if i["sku"] == seller_sku]
    return item


def _item_now(app: ShopbridgeServer, seller_sku: str, item: dict[str, Any]) -> dict[str, Any]:
    """`item` as the pool shows it now (read again by its id)."""
    (now,) = [i for i in pooled_items(app, seller_sku) if i["id"] == item["id"]]
    return now


def _on_hand_and_reserved(app: ShopbridgeServer, seller_sku: str, item: dict[str, Any]) -> tuple[int, int]:
    """`item`'s (onHand, reserved) as the pool shows them now."""
    now = _item_now(app, seller_sku, item)
    return now["onHand"], now["reserved"]


def _counted_two_fewer(app: ShopbridgeServer, item: dict[str, Any], on_hand: int) -> tuple[int, dict[str, Any]]:
    """The merchant counts the item's shelf 2 units under its `on_hand` (`inventorySetOnHand` compared with it),
    accepted: (the shelf counted, the item as the mutation returns it)."""
    shelf = on_hand - 2
    count = {"inventoryItemId": item["id"], "onHand": shelf, "compareOnHand": on_hand}
    counted = app.graphql(COUNT, {"input": count}, "m1")["inventorySetOnHand"]
    assert counted["userErrors"] == []
    return shelf, counted["inventoryItem"]


def _line_states(app: ShopbridgeServer, order_id: str) -> list[str]:
    """The ledger's state of each of the order's 2 lines (`order_line_stock.state`: RESERVED, DEDUCTED, ...)."""
    return [r["state"] for r in app.rows(STATES, o=order_id)]


def _reserved_sale(app: ShopbridgeServer, shop: dict[str, Any], sku_id: str) -> dict[str, Any]:
    """A buyer's order of 2 units of the SKU, ingested by an orders import a second after it was made: its 2 lines
    RESERVED on the SKU's item (the sandbox's sale: its `order_id`)."""
    sale = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/sales", {"sku_id": sku_id, "quantity": 2})
    made_by = int(time.time())  # (the orders import's window ends, strictly, at the second it is queued)
    wait_until(lambda: time.time() >= made_by + 1, what="the second after the sale")
    _sync_orders(app, shop["id"])
    assert _line_states(app, sale["order_id"]) == ["RESERVED", "RESERVED"]
    return sale


def _collected(app: ShopbridgeServer, order_id: str) -> int:
    """The carrier collects the order's package (IN_TRANSIT: TikTok's collection_time), unseen by Shopbridge, and the
    second of its update_time passes (whole seconds: a count of the same second could have come before it): that
    update_time (epoch seconds)."""
    shipped = app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "IN_TRANSIT"})
    wait_until(lambda: time.time() >= shipped["update_time"] + 1, what="the second after the collection")
    return int(shipped["update_time"])


def _learn_of_shipment(
    app: ShopbridgeServer, shop: dict[str, Any], order_id: str, status: str, update_time: int, learned_by: str
) -> None:
    """Shopbridge learns of the order's shipment only now, in `status`: by its status-change webhook (late, dated
    `update_time`) or by the next orders poll; its 2 lines are then DEDUCTED."""
    if learned_by == "webhook":
        data = {"order_id": order_id, "order_status": status, "update_time": update_time}
        assert push(app, envelope(1, shop["tiktokShopId"], data)).status_code == 200
        wait_until(
            lambda: _line_states(app, order_id) == ["DEDUCTED", "DEDUCTED"],
            what="the shipment applied",
        )
    else:
        _sync_orders(app, shop["id"])
    assert _line_states(app, order_id) == ["DEDUCTED", "DEDUCTED"]


@pytest.mark.parametrize("learned_by", ["webhook", "poll"])
def test_a_shipment_seen_after_the_count_that_found_its_units_gone_leaves_on_hand_as_counted(
    app_factory: Callable[..., ShopbridgeServer], learned_by: str
) -> None:
    # given a connected shop (no webhooks delivered by TikTok: Shopbridge learns only what it is told or polls) and a
    # buyer's order of 2 units of one SKU, ingested: reserved on its item
    app, shop, sku_id, seller_sku = _connected_sku(app_factory)
    sale = _reserved_sale(app, shop, sku_id)
    item = _linked_item(app, seller_sku)
    on_hand, reserved = item["onHand"], item["reserved"]
    assert reserved >= 2

    # when the 2 units leave the shelf (the carrier collects the package: IN_TRANSIT), unseen by Shopbridge
    shipped_at = _collected(app, sale["order_id"])
    # and the merchant counts the shelf: 2 units fewer than the item says, the shipment's
    shelf, counted = _counted_two_fewer(app, item, on_hand)
    assert counted["onHand"] == shelf
    # and only then does Shopbridge learn of the shipment: its status-change webhook, late, or the next orders poll
    _learn_of_shipment(app, shop, sale["order_id"], "IN_TRANSIT", shipped_at, learned_by)

    # then on-hand is what the merchant counted (not 2 fewer again: the count found the units gone), the 2 units'
    # commitment is released, and available is the shelf less what is still committed
    after = _item_now(app, seller_sku, item)
    assert (after["onHand"], after["reserved"]) == (shelf, reserved - 2)
    assert after["available"] == shelf - (reserved - 2) - after["safetyStock"]
    # and the same shipment again (a replay, the next poll) moves nothing
    _sync_orders(app, shop["id"])
    assert _on_hand_and_reserved(app, seller_sku, item) == (shelf, reserved - 2)


def test_a_sale_shipped_unseen_before_the_count_that_found_its_units_gone_is_first_seen_leaving_on_hand_as_counted(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a connected shop whose SKU links an item
    app, shop, sku_id, seller_sku = _connected_sku(app_factory)
    item = _linked_item(app, seller_sku)
    on_hand, reserved = item["onHand"], item["reserved"]
    # when a buyer orders 2 units and they leave the shelf, both unseen by Shopbridge (webhooks lost)
    sale = _sale_collected_unseen(app, shop, sku_id)
    # and the merchant counts the shelf, 2 units fewer than the item says
    shelf, _ = _counted_two_fewer(app, item, on_hand)
    # and only then does the next poll bring the order, shipped
    _sync_orders(app, shop["id"])
    assert _line_states(app, sale["order_id"]) == ["DEDUCTED", "DEDUCTED"]

    # then on-hand is what the merchant counted, not 2 fewer again; nothing was reserved, nothing is released
    assert _on_hand_and_reserved(app, seller_sku, item) == (shelf, reserved)
    _sync_orders(app, shop["id"])
    assert _on_hand_and_reserved(app, seller_sku, item) == (shelf, reserved)


def _sale_collected_unseen(app: ShopbridgeServer, shop: dict[str, Any], sku_id: str) -> dict[str, Any]:
    """A buyer's order of 2 units of the SKU, collected by the carrier at once, both unseen by Shopbridge (webhooks
    lost; nothing reserved): the sandbox's sale (its `order_id`)."""
    sale = app.sandbox.control("POST", f"/shops/{shop['tiktokShopId']}/sales", {"sku_id": sku_id, "quantity": 2})
    _collected(app, sale["order_id"])
    return sale


def _count_then_deliver(app: ShopbridgeServer, item: dict[str, Any], on_hand: int, order_id: str) -> tuple[int, int]:
    """The merchant counts the item's shelf 2 units under its on-hand (the shipment's, gone), then, a second later,
    the order is DELIVERED (unseen by Shopbridge): (the shelf counted, the delivery's update_time)."""
    shelf, _ = _counted_two_fewer(app, item, on_hand)
    counted_by = int(time.time())
    wait_until(lambda: time.time() >= counted_by + 1, what="the second after the count")
    delivered = app.sandbox.control("POST", f"/orders/{order_id}/status", {"status": "DELIVERED"})
    assert delivered["update_time"] > counted_by  # TikTok's update_time of the order is after the count
    return shelf, delivered["update_time"]


@pytest.mark.parametrize("learned_by", ["webhook", "poll"])
def test_a_shipment_collected_before_the_count_and_first_seen_delivered_after_it_leaves_on_hand_as_counted(
    app_factory: Callable[..., ShopbridgeServer], learned_by: str
) -> None:
    # given a connected shop and a buyer's order of 2 units of one SKU, ingested: reserved on its item
    app, shop, sku_id, seller_sku = _connected_sku(app_factory)
    sale = _reserved_sale(app, shop, sku_id)
    item = _linked_item(app, seller_sku)
    on_hand, reserved = item["onHand"], item["reserved"]

    # when the carrier collects the package (IN_TRANSIT: TikTok's collection_time), unseen by Shopbridge
    _collected(app, sale["order_id"])
    # and the merchant counts the shelf without the 2 units, and the order is delivered after the count
    shelf, delivered = _count_then_deliver(app, item, on_hand, sale["order_id"])
    # and Shopbridge first sees the order shipped only now, DELIVERED (the IN_TRANSIT webhook lost)
    _learn_of_shipment(app, shop, sale["order_id"], "DELIVERED", delivered, learned_by)

    # then on-hand is what the merchant counted (the shipment dated by its collection, before the count, not by the
    # delivery's update_time after it), and the 2 units' commitment is released
    assert _on_hand_and_reserved(app, seller_sku, item) == (shelf, reserved - 2)
    # and the next poll moves nothing
    _sync_orders(app, shop["id"])
    assert _on_hand_and_reserved(app, seller_sku, item) == (shelf, reserved - 2)


def test_a_sale_collected_unseen_before_the_count_and_first_seen_delivered_after_it_moves_nothing(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a connected shop whose SKU links an item, and a sale of 2 units collected by the carrier, both unseen
    app, shop, sku_id, seller_sku = _connected_sku(app_factory)
    item = _linked_item(app, seller_sku)
    on_hand, reserved = item["onHand"], item["reserved"]
    sale = _sale_collected_unseen(app, shop, sku_id)
    # when the merchant counts the shelf without the 2 units, the order is delivered, and the next poll brings it
    shelf, _ = _count_then_deliver(app, item, on_hand, sale["order_id"])
    _sync_orders(app, shop["id"])
    assert _line_states(app, sale["order_id"]) == ["DEDUCTED", "DEDUCTED"]
    # then on-hand is what the merchant counted, not 2 fewer again; nothing was reserved, nothing is released
    assert _on_hand_and_reserved(app, seller_sku, item) == (shelf, reserved)


def _sync_orders(app: ShopbridgeServer, shop_id: str) -> None:
    started = app.graphql(SYNC_START, {"input": {"shopId": shop_id, "kinds": ["ORDERS"]}}, "m1")
    assert started["syncStart"]["userErrors"] == []
    app.wait_for_idle_sync()
