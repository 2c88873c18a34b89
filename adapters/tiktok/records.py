"""Decoded TikTok objects (`adapters.tiktok.wire`) to domain values; a record that breaks a rule is a `RecordFailure`.

The wire structs say what TikTok sends; the domain (`domain.catalog`) says what makes a record valid (amounts,
currencies, units); this module only joins the two, positionally, because an import converts tens of thousands of
records a minute. Envelope-level shapes that do not fit (tokens, shop lists, pages) raise
`UnexpectedResponseError`: those are not one bad record but a response we do not understand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from msgspec import Raw

from adapters.tiktok import wire
from adapters.tiktok.errors import UnexpectedResponseError
from adapters.tiktok.models import InventoryUpdateResult, SkuInventory, SkuUpdateFailure, WarehouseFailure
from domain.catalog import InvalidRecord, LineItem, Money, Order, Product, Sku, WarehouseStock
from domain.ports import Page
from domain.shops import AuthorizedShop, TokenSet
from domain.sync import RecordFailure

T = TypeVar("T")
W = TypeVar("W", wire.Order, wire.Product)


def _envelope_shape(data: Raw, kind: type[T], what: str) -> T:
    try:
        return wire.decode(data, kind)
    except wire.Malformed as exc:
        raise UnexpectedResponseError(f"{what}: {exc}") from None


def _when(seconds: int, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRecord(f"{what} is not a Unix time: {seconds}") from None


def _id(value: str, what: str = "id") -> str:
    """A TikTok id as text, without surrounding blanks; a blank one is missing."""
    value = value.strip()
    if not value:
        raise InvalidRecord(f"missing {what}")
    return value


# -- tokens and shops ------------------------------------------------------------------------------------------------


def token_set(data: Raw) -> TokenSet:
    """The token endpoints' `data`; the expiry fields are absolute Unix timestamps despite their `_expire_in` names."""
    fields = _envelope_shape(data, wire.TokenData, "token response")
    try:
        return TokenSet(
            access_token=fields.access_token,
            access_token_expires_at=_when(fields.access_token_expire_in, "access_token_expire_in"),
            refresh_token=fields.refresh_token,
            refresh_token_expires_at=_when(fields.refresh_token_expire_in, "refresh_token_expire_in"),
            seller_name=fields.seller_name or None,
            open_id=fields.open_id or None,
        )
    except InvalidRecord as exc:
        raise UnexpectedResponseError(f"token response: {exc}") from None


def authorized_shops(data: Raw) -> list[AuthorizedShop]:
    listed = _envelope_shape(data, wire.AuthorizedShops, "authorized shops")
    return [
        AuthorizedShop(
            tiktok_shop_id=shop.id,
            name=shop.name or "",
            region_code=shop.region,
            seller_type=shop.seller_type,
            cipher=shop.cipher,
            code=shop.code or None,
        )
        for shop in listed.shops or ()
    ]


# -- products and orders ---------------------------------------------------------------------------------------------


def _sku(sku: wire.Sku) -> Sku:
    sku_id = _id(sku.id)
    try:
        stock = tuple(
            WarehouseStock(_id(level.warehouse_id, "warehouse_id"), level.quantity) for level in sku.inventory or ()
        )
        price = Money.of(sku.price.sale_price, sku.price.currency, "sale_price")
        return Sku(sku_id, sku.seller_sku or None, price, stock)
    except InvalidRecord as exc:
        raise InvalidRecord(f"sku {sku_id}: {exc}") from None


def _product(product: wire.Product) -> Product:
    created = _when(product.create_time, "create_time")
    updated = created if product.update_time is None else _when(product.update_time, "update_time")
    return Product(
        _id(product.id),  # tiktok_product_id
        product.title or "",
        product.status or "UNKNOWN",
        created,
        updated,
        tuple(_sku(sku) for sku in product.skus or ()),
    )


def _line_item(item: wire.LineItem, order_currency: str) -> LineItem:
    item_id = _id(item.id)
    try:
        return LineItem(
            item_id,
            _id(item.sku_id, "sku_id"),
            item.product_id or None,
            item.seller_sku or None,
            item.product_name or "",
            LineItem.units(item.quantity),
            Money.of(item.sale_price, item.currency or order_currency, "sale_price"),
        )
    except InvalidRecord as exc:
        raise InvalidRecord(f"line item {item_id}: {exc}") from None


def _order(order: wire.Order) -> Order:
    """Total = payment.total_amount in payment.currency; a line item without a currency is in the order's."""
    total = Money.of(order.payment.total_amount, order.payment.currency, "payment.total_amount")
    created = _when(order.create_time, "create_time")
    updated = created if order.update_time is None else _when(order.update_time, "update_time")
    address = order.recipient_address  # empty while UNPAID or ON_HOLD
    return Order(
        _id(order.id),  # tiktok_order_id
        order.status or "UNKNOWN",
        created,
        updated,
        total,
        tuple(_line_item(item, total.currency) for item in order.line_items or ()),
        order.user_id or None,  # buyer_user_id
        (address.name or None) if address else None,  # recipient_name
        (address.region_code or None) if address else None,  # recipient_region
    )


def _checked(decoded: W, build: Callable[[W], T]) -> T | RecordFailure:
    try:
        return build(decoded)
    except InvalidRecord as exc:
        return RecordFailure(tiktok_id=decoded.id.strip() or wire.UNKNOWN_ID, reason=str(exc))


def _one(data: Raw | Any, kind: type[W], build: Callable[[W], T]) -> T | RecordFailure:
    decoded = wire.record(data, kind)
    if isinstance(decoded, wire.Malformed):
        return RecordFailure(tiktok_id=wire.record_id(data), reason=str(decoded))
    return _checked(decoded, build)


def product(data: Raw | Any) -> Product | RecordFailure:
    """One TikTok product object (as in Search Products or Get Product's `data.product`), raw JSON or already
    parsed into Python values, as the domain `Product` the catalog repository upserts, or why it cannot be."""
    return _one(data, wire.Product, _product)


def order(data: Raw | Any) -> Order | RecordFailure:
    """One TikTok order object (Get Order List or Detail), raw JSON or parsed, as a domain `Order`, or why not."""
    return _one(data, wire.Order, _order)


def products_page(data: Raw) -> Page[Product]:
    """A Search Products `data`: decoded whole; if that fails, record by record (see `adapters.tiktok.wire`)."""
    try:
        page = wire.decode(data, wire.ProductPage)
        items = [_checked(p, _product) for p in page.products or ()]
        return Page(items, page.next_page_token or None, page.total_count)
    except wire.Malformed:
        raw = _envelope_shape(data, wire.RawProducts, "product search")
        return Page([product(p) for p in raw.products or ()], raw.next_page_token or None, raw.total_count)


def orders_page(data: Raw, what: str = "order search") -> Page[Order]:
    """A Get Order List (or Detail) `data`, decoded as `products_page` is."""
    try:
        page = wire.decode(data, wire.OrderPage)
        items = [_checked(o, _order) for o in page.orders or ()]
        return Page(items, page.next_page_token or None, page.total_count)
    except wire.Malformed:
        raw = _envelope_shape(data, wire.RawOrders, what)
        return Page([order(o) for o in raw.orders or ()], raw.next_page_token or None, raw.total_count)


def orders(data: Raw) -> list[Order | RecordFailure]:
    return list(orders_page(data, "order detail").items)


# -- inventory -------------------------------------------------------------------------------------------------------


def inventory(data: Raw) -> list[SkuInventory]:
    """Inventory Search's `data.inventory[].skus[]`, flattened to one entry per SKU."""
    found = _envelope_shape(data, wire.Inventory, "inventory search")
    levels = []
    for product_levels in found.inventory or ():
        for sku in product_levels.skus or ():
            warehouses = tuple(
                WarehouseStock(w.warehouse_id, w.available_quantity) for w in sku.warehouse_inventory or ()
            )
            available = sku.total_available_quantity
            levels.append(
                SkuInventory(
                    product_id=product_levels.product_id,
                    sku_id=sku.id,
                    seller_sku=sku.seller_sku or None,
                    available_quantity=sum(w.quantity for w in warehouses) if available is None else available,
                    committed_quantity=sku.total_committed_quantity,
                    warehouses=warehouses,
                )
            )
    return levels


def inventory_update_result(data: Raw) -> InventoryUpdateResult:
    """Update Inventory answers code 0 even when SKUs failed: `data.errors[]` lists them, one per SKU."""
    result = _envelope_shape(data, wire.InventoryUpdate, "inventory update")
    failures = []
    for error in result.errors or ():
        detail = error.detail or wire.ErrorDetail()
        failures.append(
            SkuUpdateFailure(
                sku_id=detail.sku_id or None,
                code=error.code,
                message=error.message,
                warehouse_failures=tuple(
                    WarehouseFailure(warehouse_id=extra.warehouse_id or None, code=extra.code, message=extra.message)
                    for extra in detail.extra_errors or ()
                ),
            )
        )
    return InventoryUpdateResult(failures=tuple(failures))
