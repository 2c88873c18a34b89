"""Fast paths of the record mapping, for products and orders in the plain shape TikTok nearly always sends.

`plain_order(record)` and `plain_product(record)` return exactly what the careful mapping of `adapters.tiktok.mapping`
returns for the record, or None as soon as a field is not in its plain form (ids, names and amounts as str, times
and quantities as int, objects as dict, lists as list); the careful path then decides, with its per-field checks and
failure reasons. The checks are inline, with no helper call per field, and the domain objects are built with
positional arguments (half the cost of keywords), because an import maps tens of thousands of records a minute.
`tests/unit/test_tiktok_mapping.py` holds both paths to the same results, argument order included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.catalog import LineItem, Money, Order, Product, Sku, WarehouseStock

# What a plain record may raise while being read: an amount Decimal refuses, a time out of range. The careful path
# then reports the reason.
_NOT_PLAIN = (ArithmeticError, ValueError, OverflowError, OSError)


def plain_order(record: Any) -> Order | None:
    """The order a plain Get Order List record maps to, or None: not plain, ask the careful path."""
    try:
        return _order(record)
    except _NOT_PLAIN:
        return None


def plain_product(record: Any) -> Product | None:
    """The product a plain Search Products record maps to, or None: not plain, ask the careful path."""
    try:
        return _product(record)
    except _NOT_PLAIN:
        return None


def _order(record: Any) -> Order | None:
    if record.__class__ is not dict:
        return None
    get = record.get
    order_id, status, created, updated, payment = (
        get("id"),
        get("status"),
        get("create_time"),
        get("update_time"),
        get("payment"),
    )
    if updated is None:
        updated = created
    if status is None:
        status = ""
    if (
        order_id.__class__ is not str
        or status.__class__ is not str
        or created.__class__ is not int
        or updated.__class__ is not int
        or payment.__class__ is not dict
    ):
        return None
    order_id = order_id.strip()
    total = _money(payment.get("total_amount"), payment.get("currency"))
    if not order_id or total is None:
        return None
    items = get("line_items")
    if items is None:
        items = ()
    elif items.__class__ is not list:
        return None
    line_items = []
    for item in items:
        line_item = _line_item(item, total.currency)
        if line_item is None:
            return None
        line_items.append(line_item)
    address = get("recipient_address")
    if address is None:  # empty while UNPAID or ON_HOLD
        address = {}
    elif address.__class__ is not dict:
        return None
    buyer, name, region = get("user_id"), address.get("name"), address.get("region_code")
    if (
        (buyer is not None and buyer.__class__ is not str)
        or (name is not None and name.__class__ is not str)
        or (region is not None and region.__class__ is not str)
    ):
        return None
    return Order(
        order_id,  # tiktok_order_id
        status or "UNKNOWN",
        datetime.fromtimestamp(created, UTC),  # created_at
        datetime.fromtimestamp(updated, UTC),  # updated_at
        total,
        tuple(line_items),
        buyer or None,  # buyer_user_id
        name or None,  # recipient_name
        region or None,  # recipient_region
    )


def _line_item(item: Any, order_currency: str) -> LineItem | None:
    if item.__class__ is not dict:
        return None
    get = item.get
    item_id, sku_id, product_id, seller_sku, name, quantity = (
        get("id"),
        get("sku_id"),
        get("product_id"),
        get("seller_sku"),
        get("product_name"),
        get("quantity"),
    )
    if quantity is None:  # 202309 has no quantity: each line item is one unit
        quantity = 1
    if name is None:
        name = ""
    if (
        item_id.__class__ is not str
        or sku_id.__class__ is not str
        or name.__class__ is not str
        or quantity.__class__ is not int
        or quantity < 1
        or (product_id is not None and product_id.__class__ is not str)
        or (seller_sku is not None and seller_sku.__class__ is not str)
    ):
        return None
    item_id, sku_id = item_id.strip(), sku_id.strip()
    price = _money(get("sale_price"), get("currency") or order_currency)
    if not item_id or not sku_id or price is None:
        return None
    return LineItem(item_id, sku_id, product_id or None, seller_sku or None, name, quantity, price)


def _product(record: Any) -> Product | None:
    if record.__class__ is not dict:
        return None
    get = record.get
    product_id, title, status, created, updated = (
        get("id"),
        get("title"),
        get("status"),
        get("create_time"),
        get("update_time"),
    )
    if updated is None:
        updated = created
    if title is None:
        title = ""
    if status is None:
        status = ""
    if (
        product_id.__class__ is not str
        or title.__class__ is not str
        or status.__class__ is not str
        or created.__class__ is not int
        or updated.__class__ is not int
    ):
        return None
    product_id = product_id.strip()
    if not product_id:
        return None
    records = get("skus")
    if records is None:
        records = ()
    elif records.__class__ is not list:
        return None
    skus = []
    for record_ in records:
        sku = _sku(record_)
        if sku is None:
            return None
        skus.append(sku)
    return Product(
        product_id,  # tiktok_product_id
        title,
        status or "UNKNOWN",
        datetime.fromtimestamp(created, UTC),  # created_at
        datetime.fromtimestamp(updated, UTC),  # updated_at
        tuple(skus),
    )


def _sku(record: Any) -> Sku | None:
    if record.__class__ is not dict:
        return None
    sku_id, seller_sku, price, inventory = (
        record.get("id"),
        record.get("seller_sku"),
        record.get("price"),
        record.get("inventory"),
    )
    if inventory is None:
        inventory = ()
    if (
        sku_id.__class__ is not str
        or price.__class__ is not dict
        or inventory.__class__ is not list
        or (seller_sku is not None and seller_sku.__class__ is not str)
    ):
        return None
    sku_id = sku_id.strip()
    money = _money(price.get("sale_price"), price.get("currency"))
    if not sku_id or money is None:
        return None
    stock = []
    for level in inventory:
        if level.__class__ is not dict:
            return None
        warehouse_id, quantity = level.get("warehouse_id"), level.get("quantity")
        if quantity is None:
            quantity = 0
        if warehouse_id.__class__ is not str or quantity.__class__ is not int:
            return None
        warehouse_id = warehouse_id.strip()
        if not warehouse_id:
            return None
        stock.append(WarehouseStock(warehouse_id, quantity))
    return Sku(sku_id, seller_sku or None, money, tuple(stock))


def _money(amount: Any, currency: Any) -> Money | None:
    """A str amount, finite and not negative, in a non-blank str currency; else None."""
    if amount.__class__ is not str or currency.__class__ is not str:
        return None
    value = Decimal(amount)
    currency = currency.strip()
    if not currency or not value.is_finite() or value < 0:
        return None
    return Money(value, currency.upper())
