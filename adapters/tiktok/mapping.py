"""TikTok JSON -> domain objects. A record that cannot be mapped becomes a `RecordFailure`, never an exception.

Ids stay strings (they exceed 2^53), money is `Decimal`, times are Unix seconds turned into aware UTC datetimes.
Envelope-level shapes (tokens, shop lists, pages) that do not fit raise `UnexpectedResponseError`: those are not
one bad record but a response we do not understand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from adapters.tiktok import fields as read
from adapters.tiktok.errors import UnexpectedResponseError
from adapters.tiktok.models import InventoryUpdateResult, SkuInventory, SkuUpdateFailure, WarehouseFailure
from adapters.tiktok.plain_records import plain_order, plain_product
from domain.catalog import LineItem, Order, Product, Sku, WarehouseStock
from domain.ports import Page
from domain.shops import AuthorizedShop, TokenSet
from domain.sync import RecordFailure

T = TypeVar("T")
UNKNOWN_ID = "(no id)"


def _record_or_failure(record: Any, build: Callable[[Mapping[str, Any]], T]) -> T | RecordFailure:
    tiktok_id = UNKNOWN_ID
    try:
        fields = read.obj(record, "record")
        tiktok_id = read.identifier(fields)
        return build(fields)
    except read.BadRecord as exc:
        return RecordFailure(tiktok_id=tiktok_id, reason=str(exc))


def _envelope_shape(build: Callable[[], T], what: str) -> T:
    try:
        return build()
    except read.BadRecord as exc:
        raise UnexpectedResponseError(f"{what}: {exc}") from None


# -- tokens and shops ------------------------------------------------------------------------------------------------


def token_set(data: Any) -> TokenSet:
    """The token endpoints' `data`; the expiry fields are absolute Unix timestamps despite their `_expire_in` names."""

    def build() -> TokenSet:
        fields = read.obj(data, "data")
        return TokenSet(
            access_token=read.text(fields, "access_token"),
            access_token_expires_at=read.timestamp(fields, "access_token_expire_in"),
            refresh_token=read.text(fields, "refresh_token"),
            refresh_token_expires_at=read.timestamp(fields, "refresh_token_expire_in"),
            seller_name=read.optional_text(fields, "seller_name"),
            open_id=read.optional_text(fields, "open_id"),
        )

    return _envelope_shape(build, "token response")


def authorized_shops(data: Any) -> list[AuthorizedShop]:
    def build() -> list[AuthorizedShop]:
        shops = []
        for record in read.items(read.obj(data, "data"), "shops"):
            fields = read.obj(record, "shop")
            shops.append(
                AuthorizedShop(
                    tiktok_shop_id=read.identifier(fields),
                    name=read.text(fields, "name", default=""),
                    region_code=read.text(fields, "region"),
                    seller_type=read.text(fields, "seller_type"),
                    cipher=read.text(fields, "cipher"),
                    code=read.optional_text(fields, "code"),
                )
            )
        return shops

    return _envelope_shape(build, "authorized shops")


# -- products and orders ---------------------------------------------------------------------------------------------


def _sku(record: Any) -> Sku:
    fields = read.obj(record, "sku")
    sku_id = read.identifier(fields)
    try:
        price = read.obj(fields.get("price"), "price")
        stock = tuple(
            WarehouseStock(
                warehouse_id=read.identifier(read.obj(w, "inventory"), "warehouse_id"),
                quantity=read.integer(w, "quantity", 0),
            )
            for w in read.items(fields, "inventory")
        )
        return Sku(
            tiktok_sku_id=sku_id,
            seller_sku=read.optional_text(fields, "seller_sku"),
            price=read.money(price.get("sale_price"), price.get("currency"), "sale_price"),
            stock=stock,
        )
    except read.BadRecord as exc:
        raise read.BadRecord(f"sku {sku_id}: {exc}") from None


def product(record: Any) -> Product | RecordFailure:
    """A product from Search Products, with its SKUs, or why it could not be read."""
    plain = plain_product(record)  # the same result, faster, for the shape TikTok nearly always sends
    return plain if plain is not None else _record_or_failure(record, _product)


def _product(fields: Mapping[str, Any]) -> Product:
    created = read.integer(fields, "create_time")
    return Product(
        tiktok_product_id=read.identifier(fields),
        title=read.text(fields, "title", default=""),
        status=read.text(fields, "status", default="UNKNOWN"),
        created_at=read.timestamp(fields, "create_time"),
        updated_at=read.timestamp(fields, "update_time", default=created),
        skus=tuple(_sku(s) for s in read.items(fields, "skus")),
    )


def _line_item(record: Any, order_currency: str | None) -> LineItem:
    fields = read.obj(record, "line item")
    item_id = read.identifier(fields)
    try:
        quantity = read.integer(fields, "quantity", 1)  # 202309 has no quantity: each line item is one unit
        if quantity < 1:
            raise read.BadRecord(f"quantity {quantity} is not positive")
        return LineItem(
            tiktok_line_item_id=item_id,
            tiktok_sku_id=read.identifier(fields, "sku_id"),
            tiktok_product_id=read.optional_text(fields, "product_id"),
            seller_sku=read.optional_text(fields, "seller_sku"),
            product_name=read.text(fields, "product_name", default=""),
            quantity=quantity,
            sale_price=read.money(fields.get("sale_price"), fields.get("currency") or order_currency, "sale_price"),
        )
    except read.BadRecord as exc:
        raise read.BadRecord(f"line item {item_id}: {exc}") from None


def order(record: Any) -> Order | RecordFailure:
    """An order from Get Order List or Get Order Detail; total = payment.total_amount in payment.currency."""
    plain = plain_order(record)  # the same result, faster, for the shape TikTok nearly always sends
    return plain if plain is not None else _record_or_failure(record, _order)


def _order(fields: Mapping[str, Any]) -> Order:
    payment = read.obj(fields.get("payment"), "payment")
    total = read.money(payment.get("total_amount"), payment.get("currency"), "payment.total_amount")
    address = fields.get("recipient_address")
    address = address if isinstance(address, Mapping) else {}  # empty while UNPAID or ON_HOLD
    created = read.integer(fields, "create_time")
    return Order(
        tiktok_order_id=read.identifier(fields),
        status=read.text(fields, "status", default="UNKNOWN"),
        created_at=read.timestamp(fields, "create_time"),
        updated_at=read.timestamp(fields, "update_time", default=created),
        total=total,
        line_items=tuple(_line_item(item, total.currency) for item in read.items(fields, "line_items")),
        buyer_user_id=read.optional_text(fields, "user_id"),
        recipient_name=read.optional_text(address, "name"),
        recipient_region=read.optional_text(address, "region_code"),
    )


def _page(data: Any, key: str, build: Callable[[Any], T | RecordFailure], what: str) -> Page[T]:
    def build_page() -> Page[T]:
        fields = read.obj(data if data is not None else {}, "data")
        token = fields.get("next_page_token")
        total = fields.get("total_count")
        return Page(
            items=[build(record) for record in read.items(fields, key)],
            # The last page says "" or nothing at all (TikTok is unclear which): both mean the end.
            next_page_token=token if isinstance(token, str) and token else None,
            total_count=total if isinstance(total, int) and not isinstance(total, bool) else None,
        )

    return _envelope_shape(build_page, what)


def products_page(data: Any) -> Page[Product]:
    return _page(data, "products", product, "product search")


def orders_page(data: Any) -> Page[Order]:
    return _page(data, "orders", order, "order search")


def orders(data: Any) -> list[Order | RecordFailure]:
    return list(_page(data, "orders", order, "order detail").items)


# -- inventory -------------------------------------------------------------------------------------------------------


def inventory(data: Any) -> list[SkuInventory]:
    """Inventory Search's `data.inventory[].skus[]`, flattened to one entry per SKU."""

    def build() -> list[SkuInventory]:
        levels = []
        for product_record in read.items(read.obj(data, "data"), "inventory"):
            product_fields = read.obj(product_record, "inventory")
            product_id = read.identifier(product_fields, "product_id")
            for sku_record in read.items(product_fields, "skus"):
                fields = read.obj(sku_record, "sku")
                warehouses = tuple(
                    WarehouseStock(
                        read.identifier(read.obj(w, "warehouse"), "warehouse_id"),
                        read.integer(w, "available_quantity", 0),
                    )
                    for w in read.items(fields, "warehouse_inventory")
                )
                levels.append(
                    SkuInventory(
                        product_id=product_id,
                        sku_id=read.identifier(fields),
                        seller_sku=read.optional_text(fields, "seller_sku"),
                        available_quantity=read.integer(
                            fields, "total_available_quantity", sum(w.quantity for w in warehouses)
                        ),
                        committed_quantity=read.integer(fields, "total_committed_quantity", 0),
                        warehouses=warehouses,
                    )
                )
        return levels

    return _envelope_shape(build, "inventory search")


def inventory_update_result(data: Any) -> InventoryUpdateResult:
    """Update Inventory answers code 0 even when SKUs failed: `data.errors[]` lists them, one per SKU."""

    def build() -> InventoryUpdateResult:
        fields = read.obj(data if data is not None else {}, "data")
        failures = []
        for record in read.items(fields, "errors"):
            error = read.obj(record, "error")
            raw_detail = error.get("detail")
            detail: Mapping[str, Any] = raw_detail if isinstance(raw_detail, Mapping) else {}
            failures.append(
                SkuUpdateFailure(
                    sku_id=read.optional_text(detail, "sku_id"),
                    code=read.integer(error, "code", 0),
                    message=read.text(error, "message", default=""),
                    warehouse_failures=tuple(
                        WarehouseFailure(
                            warehouse_id=read.optional_text(read.obj(extra, "extra_error"), "warehouse_id"),
                            code=read.integer(extra, "code", 0),
                            message=read.text(extra, "message", default=""),
                        )
                        for extra in read.items(detail, "extra_errors")
                    ),
                )
            )
        return InventoryUpdateResult(failures=tuple(failures))

    return _envelope_shape(build, "inventory update")
