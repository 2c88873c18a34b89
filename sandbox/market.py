"""Buyers: orders placed the way a buyer places them, and their moves through TikTok's statuses, with stock effects.

A sale of N units of one SKU is one order of N line items (TikTok line items are one unit each, live-sync.md
sec. 3.2). TikTok reserves stock when the order is placed: each unit moves from the SKU's available stock to its
committed stock (Inventory Search shows both, sec. 1.2/1.3), warehouse by warehouse in the SKU's order; TikTok never
sells more than is available (refused with 409). Cancelling an unshipped order gives the units back to available;
shipping (IN_TRANSIT or later) releases the committed units. A virtual bundle's sale takes its components' units
(sku_count each). Stock effects apply to orders placed here only.

A seller may cancel line items of an open order on their own (TikTok's item-level cancellation, US/UK, reason out
of stock: Cancel Order with `order_line_item_ids`, live-sync.md sec. 3.2): each line's units go back to available,
the line shows `display_status` CANCELLED and keeps it as the order moves on, and the order keeps its status until
its last line is cancelled, which cancels it.

Each line's `package_status` follows its status (`sandbox.data.package_status`: TO_FULFILL, PROCESSING awaiting
collection, FULFILLING in transit, COMPLETED delivered). The carrier may lose a shipped order's package (`move` to
`lose`, from IN_TRANSIT or DELIVERED): TikTok cancels the order, its lines show CANCELLED with their package
CANCELLED (lost or damaged, live-sync.md sec. 3.2), and nothing goes back to available: the units left the shelf
("cancelled after shipping; package CANCELLED (lost)": no automatic restock, sec. 3.5).
"""

from __future__ import annotations

import random
from typing import Any

from sandbox.assortment import combined_listing
from sandbox.data import (
    LINE_ITEM,
    NO_ADDRESS_STATUSES,
    ORDER_STATUSES,
    PACKAGE,
    PACKAGE_LOST,
    BadPrice,
    address_for,
    collected,
    make_id,
    money,
    package_status,
    parse_price,
)
from sandbox.quote import quoted
from sandbox.state import ShopData

FLOW = tuple(status for status in ORDER_STATUSES if status != "CANCELLED")  # the forward flow, in order
ALIASES = {"ship": "IN_TRANSIT", "deliver": "DELIVERED", "complete": "COMPLETED", "cancel": "CANCELLED"}
LOSE = "lose"  # `move`'s word for the carrier losing a shipped order's package: the order is cancelled, no restock
SALE_STATUSES = ("UNPAID", "ON_HOLD", "AWAITING_SHIPMENT")
SHIPPED = frozenset({"IN_TRANSIT", "DELIVERED", "COMPLETED"})
FINAL = frozenset({"COMPLETED", "CANCELLED"})
MAX_SALE_QUANTITY = 1000
_SALE_ITEM_BASE = 5 * 10**13  # line-item sequences of sales: far from the generated orders' (sequence * 8 + n)


class MarketError(Exception):
    """A refused buyer action: `status` 400 (bad input), 404 (unknown) or 409 (not possible now)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def find_sku(data: ShopData, sku_id: str | None, seller_sku: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(product, sku) by SKU id, or the first SKU (newest product first) carrying `seller_sku`."""
    catalog = data.catalog
    if sku_id is not None:
        product = catalog.sku_owner.get(sku_id)
        if product is not None:
            return product, next(s for s in product["skus"] if s["id"] == sku_id)
        raise MarketError(f"sku {quoted(sku_id)} is not sold in this shop", 404)
    for product in catalog.products:
        for sku in product["skus"]:
            if sku["seller_sku"] == seller_sku:
                return product, sku
    raise MarketError(f"no sku with seller_sku {quoted(seller_sku)} in this shop", 404)


def place_sale(
    data: ShopData, product: dict[str, Any], sku: dict[str, Any], quantity: int, status: str, now: int, sequence: int
) -> dict[str, Any]:
    """Reserve `quantity` units and add the order (one line item per unit) under the order `sequence`, a fresh one
    from the world's IdLedger (sandbox/ids.py); MarketError 409 if it cannot sell."""
    if product["status"] != "ACTIVATE":
        raise MarketError(f"product {product['id']} is {product['status']}: buyers cannot order it", 409)
    # A virtual bundle sells its components: sku_count units of each per bundle unit (live-sync.md sec. 1.5). One
    # whose component the seller removed from its product (Seller Center's `remove_skus`) has nothing to sell.
    for part in sku.get("combined_skus") or []:
        if part["sku_id"] not in data.catalog.sku_owner:
            raise MarketError(f"sku {quoted(part['sku_id'])} of bundle {sku['id']} is not sold in this shop", 409)
    parts = [
        (data.catalog.sku_owner[part["sku_id"]], part["sku_id"], part["sku_count"] * quantity)
        for part in sku.get("combined_skus") or []
    ] or [(product, sku["id"], quantity)]
    stocked = [(next(s for s in owner["skus"] if s["id"] == sku_id), units) for owner, sku_id, units in parts]
    for part_sku, units in stocked:
        available = sum(stock["quantity"] for stock in part_sku["inventory"])
        if available < units:
            raise MarketError(f"only {available} unit(s) of sku {part_sku['id']} available, {units} asked", 409)
    shop, currency = data.shop, data.shop.currency
    try:  # a price from a state saved before prices were checked (`sellercenter._price`): refused, nothing taken
        unit_price = parse_price(sku["price"]["sale_price"], currency)
    except BadPrice as error:
        raise MarketError(f"sku {sku['id']} cannot be sold: {error}", 409) from None
    # Everything that can fail comes before the first unit is reserved: a sale happens whole or changes nothing.
    order = dict(data.add_order(sequence, status, now, now))
    units_held: list[tuple[str, str]] = []
    for part_sku, units in stocked:
        units_held.extend(_reserve(data, part_sku, units))
    if "paid_time" in order:  # the generated order's paid_time lies up to 10 min after its creation: a sale is paid now
        order["paid_time"] = now
    # The generated order's first line lends its shape, not its bundle: its components are named below when the
    # SKU sold is a virtual bundle, and only then.
    template = {k: v for k, v in order["line_items"][0].items() if k not in ("package_id", "combined_listing_skus")}
    price = money(unit_price, currency)  # "12.5" is 12.50, as on a generated order's line (`parse_price`)
    order["line_items"] = [
        {
            **template,
            "id": make_id(LINE_ITEM, shop, _SALE_ITEM_BASE + sequence * MAX_SALE_QUANTITY + n, data.ids_seed),
            "sku_id": sku["id"],
            "seller_sku": sku["seller_sku"],
            "product_id": product["id"],
            "product_name": product["title"],
            "sku_name": sku["seller_sku"].rsplit("-", 1)[-1],
            "sale_price": price,
            "original_price": price,
            "seller_discount": money(0, currency),
            "platform_discount": money(0, currency),
            "display_status": status,
            "package_status": package_status(status),
        }
        for n in range(quantity)
    ]
    sub_total = unit_price * quantity
    shipping = parse_price(order["payment"]["shipping_fee"], currency)
    tax = round(sub_total * 0.0825) if shop.region == "US" else 0
    order["payment"] = {
        **order["payment"],
        "sub_total": money(sub_total, currency),
        "seller_discount": money(0, currency),
        "total_amount": money(sub_total + shipping + tax, currency),
        "original_total_product_price": money(sub_total, currency),
        "tax": money(tax, currency),
    }
    listing = combined_listing(sku)
    if listing is not None:
        order["line_items"] = [{**item, "combined_listing_skus": listing} for item in order["line_items"]]
    order["warehouse_id"] = units_held[0][1]
    data.orders.put(order)
    data.holds[order["id"]] = units_held
    return order


def _reserve(data: ShopData, sku: dict[str, Any], units: int) -> list[tuple[str, str]]:
    """Move `units` of a SKU from available to committed, warehouse by warehouse (enough is known to be there)."""
    held: list[tuple[str, str]] = []
    committed = data.catalog.committed.setdefault(sku["id"], {})
    for stock in sku["inventory"]:
        take = min(stock["quantity"], units - len(held))
        stock["quantity"] -= take
        committed[stock["warehouse_id"]] = committed.get(stock["warehouse_id"], 0) + take
        held.extend((sku["id"], stock["warehouse_id"]) for _ in range(take))
    return held


def move(data: ShopData, order_id: str, wanted: str, now: int, initiator: str = "BUYER") -> dict[str, Any]:
    """Move an order to `wanted` (a status, ship/deliver/complete/cancel, or `lose`: its package lost after
    shipping) along TikTok's flow, with its stock effects; MarketError 400 for an unknown status, 409 for a move the
    flow does not allow (a shipped order cannot be cancelled, only lost; an order not shipped cannot be lost)."""
    lost = wanted == LOSE
    target = "CANCELLED" if lost else ALIASES.get(wanted, wanted)
    if target not in FLOW and target != "CANCELLED":
        raise MarketError(f"status must be one of {[*FLOW, 'CANCELLED']} or {[*ALIASES, LOSE]}", 400)
    order = dict(data.orders.require(order_id))
    current = order["status"]
    if current in FINAL:
        raise MarketError(f"order {order_id} is {current}: it cannot move any more", 409)
    if lost:
        if current not in SHIPPED:
            raise MarketError(f"order {order_id} is {current}: only a shipped order's package can be lost", 409)
    elif target == "CANCELLED":
        if current in SHIPPED:
            raise MarketError(f"order {order_id} is {current}: a shipped order cannot be cancelled", 409)
    elif FLOW.index(target) <= FLOW.index(current):
        raise MarketError(f"order {order_id} cannot go from {current} back or over to {target}", 409)
    if (target == "CANCELLED" and not lost) or target in SHIPPED:  # a lost package's units left with it
        for sku_id, warehouse_id in data.holds.pop(order_id, []):
            if target == "CANCELLED":
                _give_back(data, sku_id, warehouse_id)
            else:
                committed = data.catalog.committed.setdefault(sku_id, {})
                committed[warehouse_id] = max(0, committed.get(warehouse_id, 0) - 1)
    order["status"], order["update_time"] = target, max(now, order["update_time"])
    order["is_on_hold_order"] = target == "ON_HOLD"
    collected(order, target, order["update_time"])
    order["line_items"] = [  # a line cancelled on its own stays so (`cancel_lines`); a lost package is CANCELLED
        item
        if item.get("display_status") == "CANCELLED"
        else {**item, "display_status": target, "package_status": _package(target, item, lost)}
        for item in order["line_items"]
    ]
    if target in NO_ADDRESS_STATUSES:
        order["recipient_address"] = {}
    elif not order["recipient_address"]:
        order["recipient_address"] = address_for(random.Random(order["id"]), data.shop.region, "Alex", "Smith")
    if target in SHIPPED and not order["packages"]:
        package_id = make_id(PACKAGE, data.shop, _SALE_ITEM_BASE + int(order_id[5:]) % 10**13, data.ids_seed)
        order["packages"] = [{"id": package_id}]
        order["line_items"] = [{**item, "package_id": package_id} for item in order["line_items"]]
    if lost:
        order["cancel_reason"], order["cancellation_initiator"] = "Package lost or damaged", "SYSTEM"
    elif target == "CANCELLED":
        order["cancel_reason"], order["cancellation_initiator"] = "Buyer changed mind", initiator
    if target == "CANCELLED":  # each line cancelled now says why and by whom too (live-sync.md sec. 3.2)
        order["line_items"] = [
            item if item.get("cancel_user") else
            {**item, "cancel_reason": order["cancel_reason"], "cancel_user": order["cancellation_initiator"]}
            for item in order["line_items"]
        ]  # fmt: skip
    data.orders.put(order)
    return order


def _package(target: str, item: dict[str, Any], lost: bool) -> str:
    """A line's `package_status` once its order moves to `target`: CANCELLED when its package was lost."""
    return PACKAGE_LOST if lost else package_status(target, item.get("package_status"))


def cancel_lines(
    data: ShopData, order_id: str, line_item_ids: list[str], now: int, reason: str = "Out of stock"
) -> tuple[dict[str, Any], list[tuple[str | None, int]]]:
    """Cancel line items of an open order on their own (the seller's item-level cancellation): their units go back
    to available (a bundle line's components, sku_count each), the lines show CANCELLED; the order keeps its
    status, or is CANCELLED once no line is left. The order and the (seller SKU, units) given back; MarketError 400
    for an unknown or repeated line, 409 when the order is shipped or final or a line is cancelled already."""
    order = dict(data.orders.require(order_id))
    if order["status"] in FINAL or order["status"] in SHIPPED:
        raise MarketError(f"order {order_id} is {order['status']}: its lines cannot be cancelled", 409)
    lines = {item["id"]: item for item in order["line_items"]}
    if not line_item_ids or len(set(line_item_ids)) != len(line_item_ids):
        raise MarketError("line_item_ids must name each line to cancel once", 400)
    for line_id in line_item_ids:
        if line_id not in lines:
            raise MarketError(f"order {order_id} has no line item {quoted(line_id)}", 400)
        if lines[line_id].get("display_status") == "CANCELLED":
            raise MarketError(f"line item {line_id} of order {order_id} is cancelled already", 409)
    given_back: list[tuple[str | None, int]] = []
    holds = data.holds.get(order_id, [])
    for line_id in line_item_ids:
        line = lines[line_id]
        parts = [(p["sku_id"], p["sku_count"], p.get("seller_sku")) for p in line.get("combined_listing_skus") or []]
        for sku_id, units, seller_sku in parts or [(line["sku_id"], 1, line.get("seller_sku"))]:
            for _ in range(units):  # the unit the order holds last of that SKU, if it holds one (placed here)
                at = next((n for n in range(len(holds) - 1, -1, -1) if holds[n][0] == sku_id), None)
                if at is not None:
                    _give_back(data, *holds.pop(at))
            given_back.append((seller_sku, units))
        lines[line_id] = {**line, "display_status": "CANCELLED", "cancel_user": "SELLER", "cancel_reason": reason}
    order["line_items"] = [lines[item["id"]] for item in order["line_items"]]
    order["update_time"] = max(now, order["update_time"])
    if all(item["display_status"] == "CANCELLED" for item in order["line_items"]):
        data.holds.pop(order_id, None)
        order["status"], order["is_on_hold_order"] = "CANCELLED", False
        order["cancel_reason"], order["cancellation_initiator"] = reason, "SELLER"
    data.orders.put(order)
    return order, given_back


def _give_back(data: ShopData, sku_id: str, warehouse_id: str) -> None:
    """One held unit of a SKU back from committed to available, in its warehouse."""
    committed = data.catalog.committed.setdefault(sku_id, {})
    committed[warehouse_id] = max(0, committed.get(warehouse_id, 0) - 1)
    owner = data.catalog.sku_owner.get(sku_id)
    if owner is None:  # a SKU removed from its product since (Seller Center): its stock, kept aside, gets it back
        sku = data.catalog.removed[sku_id][1]
    else:
        sku = next(s for s in owner["skus"] if s["id"] == sku_id)
    next(s for s in sku["inventory"] if s["warehouse_id"] == warehouse_id)["quantity"] += 1
