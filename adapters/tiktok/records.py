"""Decoded TikTok objects (`adapters.tiktok.wire`) to domain values; a record that breaks a rule is a `RecordFailure`.

The wire structs say what TikTok sends; the domain says what makes a record valid and what the catalog stores of it
(`domain.stored`): this module only hands one to the other. Pages of products and orders become `StoredProduct`s
and `StoredOrder`s, whose values and fingerprint are computed here, once, where the record was decoded; the single
record functions also give domain `Product`s and `Order`s. Envelope-level shapes that do not fit (tokens, shop
lists, pages) raise `UnexpectedResponseError`: those are not one bad record but a response we do not understand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from msgspec import Raw

from adapters.tiktok import wire
from adapters.tiktok.errors import UnexpectedResponseError
from adapters.tiktok.models import InventoryUpdateResult, SkuInventory, SkuUpdateFailure, Warehouse, WarehouseFailure
from domain.catalog import InvalidRecord, Order, Product, WarehouseStock, fulfilled_by_tiktok
from domain.ports import Page
from domain.shops import AuthorizedShop, TokenSet
from domain.stored import StoredOrder, StoredProduct, store_order, store_product
from domain.sync import RecordFailure, failure_id
from domain.text import truncated

T = TypeVar("T")
W = TypeVar("W", wire.Order, wire.Product)


def _envelope_shape(data: Raw, kind: type[T], what: str) -> T:
    try:
        return wire.decode(data, kind)
    except wire.Malformed as exc:
        raise UnexpectedResponseError(f"{what}: {exc}") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _when(seconds: int, what: str) -> datetime:
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, OSError, ValueError):
        raise InvalidRecord(f"{what} is not a Unix time: {seconds}") from None


def _update_time(update_time: int | None, created: datetime) -> datetime:
    """A record's `update_time` (Unix seconds) as a time (UTC); its creation time when TikTok gives none: absent,
    or 0. Rule: 0 is TikTok's zero value of an int64 it did not set (as the webhook envelope's `timestamp: 0`,
    `domain.intake.push_time`), not an update at 1970-01-01T00:00:00Z; read as that date, the version was older
    than every stored one and its change was dropped (the catalog keeps the newest `update_time`)."""
    return created if not update_time else _when(update_time, "update_time")


def _collection_time(collection_time: int | None) -> datetime | None:
    """An order's `collection_time` (Unix seconds) as a time (UTC); None when TikTok gives none: absent, or 0 (the
    zero value of an int64 it did not set: the order is not collected yet, `_update_time`'s rule). A negative value
    is no Unix time TikTok issues: the record fails (`InvalidRecord`), as would a time the pool took for a shipment
    before any count (`domain.inventory.ledger.left_shelf_by`)."""
    if not collection_time:
        return None
    if collection_time < 0:
        raise InvalidRecord(f"collection_time is not a Unix time: {collection_time}")
    return _when(collection_time, "collection_time")


# An order's `create_time` of 0 (an int64 TikTok did not set; TikTok documents it on every order, tiktok-api.md
# sec. 8, so never seen): the order is a per-record failure, not an order placed in 1970. The pool dates orders by
# it (one created before the pool's count of a SKU is history, not a sale to reserve), as do import windows.
NO_CREATE_TIME = "create_time is 0: TikTok gave no creation time"


# -- tokens and shops ------------------------------------------------------------------------------------------------


# The widths of the shop's columns TikTok's tokens and shop list fill (adapters/db/tables.py `shops`; pinned by
# tests/unit/test_stored_bounds.py), decided here, the same on SQLite and PostgreSQL (which refuses a longer value:
# a refreshed token pair it could not store would be lost, the shop's authorization with it). A name is only shown:
# cut on a grapheme boundary with "…" (`domain.text.truncated`); `open_id` and a shop's `code`, only shown too,
# are dropped (None) past their width; a shop's `id` or `cipher`, which every call names, refuse the answer.
SHOP_ID_MAX_CHARS = 64  # shops.tiktok_shop_id
SHOP_CODE_MAX_CHARS = 64  # shops.tiktok_shop_code
SHOP_CIPHER_MAX_CHARS = 255  # shops.tiktok_shop_cipher
SHOP_NAME_MAX_CHARS = 255  # shops.tiktok_shop_name, seller_name, token_seller_name
OPEN_ID_MAX_CHARS = 255  # shops.token_open_id


def _within(value: str | None, limit: int) -> str | None:
    return value if value and len(value) <= limit else None


def token_set(data: Raw) -> TokenSet:
    """The token endpoints' `data`; the expiry fields are absolute Unix timestamps despite their `_expire_in` names.
    A `seller_name` over `SHOP_NAME_MAX_CHARS` code points is cut, an `open_id` over `OPEN_ID_MAX_CHARS` dropped."""
    fields = _envelope_shape(data, wire.TokenData, "token response")
    try:
        return TokenSet(
            access_token=fields.access_token,
            access_token_expires_at=_when(fields.access_token_expire_in, "access_token_expire_in"),
            refresh_token=fields.refresh_token,
            refresh_token_expires_at=_when(fields.refresh_token_expire_in, "refresh_token_expire_in"),
            seller_name=truncated(fields.seller_name, SHOP_NAME_MAX_CHARS) if fields.seller_name else None,
            open_id=_within(fields.open_id, OPEN_ID_MAX_CHARS),
        )
    except InvalidRecord as exc:
        raise UnexpectedResponseError(f"token response: {exc}") from None


def authorized_shops(data: Raw) -> list[AuthorizedShop]:
    """Get Authorized Shops' `data.shops[]`. A shop `id` over `SHOP_ID_MAX_CHARS` or `cipher` over
    `SHOP_CIPHER_MAX_CHARS` code points is an `UnexpectedResponseError`; a `name` over `SHOP_NAME_MAX_CHARS` is cut,
    a `code` over `SHOP_CODE_MAX_CHARS` dropped."""
    listed = _envelope_shape(data, wire.AuthorizedShops, "authorized shops")
    for position, shop in enumerate(listed.shops or ()):
        for field, value, limit in (("id", shop.id, SHOP_ID_MAX_CHARS), ("cipher", shop.cipher, SHOP_CIPHER_MAX_CHARS)):
            if len(value) > limit:
                raise UnexpectedResponseError(
                    f"authorized shops: {field} has more than {limit} characters ({len(value)}) - at "
                    f"`$.shops[{position}].{field}`"
                )
    return [
        AuthorizedShop(
            tiktok_shop_id=shop.id,
            name=truncated(shop.name, SHOP_NAME_MAX_CHARS) if shop.name else "",
            region_code=shop.region,
            seller_type=shop.seller_type,
            cipher=shop.cipher,
            code=_within(shop.code, SHOP_CODE_MAX_CHARS),
        )
        for shop in listed.shops or ()
    ]


# -- products and orders ---------------------------------------------------------------------------------------------


def _stored_product(product: wire.Product) -> StoredProduct:
    created = _when(product.create_time, "create_time")
    updated = _update_time(product.update_time, created)
    bundle = "COMBINED_PRODUCT" in (product.product_types or ())
    skus = [
        (sku.id, sku.seller_sku or None, sku.price.sale_price, sku.price.currency,
         [(level.warehouse_id, level.quantity) for level in sku.inventory or ()], bundle or bool(sku.combined_skus))
        for sku in product.skus or ()
    ]  # fmt: skip
    return store_product(product.id, product.title or "", product.status or "UNKNOWN", created, updated, skus)


def _stored_order(order: wire.Order) -> StoredOrder:
    """Total = payment.total_amount in payment.currency; the recipient is empty while UNPAID or ON_HOLD; each line's
    `display_status`, `cancel_reason` and `cancel_user` are stored with it ("" as None); a bundle line's
    `combined_listing_skus` become its components, each line's `package_status` its package's, and an FBT
    `fulfillment_type` its `fulfilled_by_tiktok` (for the pool; live-sync.md §1.5, §3.2, §3.5). A `create_time` of 0
    fails the record (`NO_CREATE_TIME`); an `update_time` of 0 is unknown (`_update_time`). `collection_time` is
    stored as `collected_at` (`_collection_time`), `packages[].id` ride along (for the pool)."""
    if order.create_time == 0:
        raise InvalidRecord(NO_CREATE_TIME)
    created = _when(order.create_time, "create_time")
    updated = _update_time(order.update_time, created)
    address = order.recipient_address or _NO_ADDRESS
    payment = order.payment
    items = [
        (item.id, item.sku_id, item.product_id or None, item.seller_sku or None, item.product_name or "",
         item.quantity, item.sale_price, item.currency, item.display_status or None, item.cancel_reason or None,
         item.cancel_user or None)
        for item in order.line_items or ()
    ]  # fmt: skip
    components = [
        (item.id, part.sku_id, part.sku_count, part.seller_sku or None)
        for item in order.line_items or ()
        for part in item.combined_listing_skus or ()
    ]
    return store_order(
        order.id, order.status or "UNKNOWN", created, updated, payment.total_amount, payment.currency,
        order.user_id or None, address.name or None, address.region_code or None, items, components,
        fulfilled_by_tiktok(order.fulfillment_type),
        [item.package_status or None for item in order.line_items or ()], _collection_time(order.collection_time),
        [package.id for package in order.packages or ()],
    )  # fmt: skip


_NO_ADDRESS = wire.Address()


def _checked(decoded: W, build: Callable[[W], T]) -> T | RecordFailure:
    try:
        return build(decoded)
    except InvalidRecord as exc:
        return RecordFailure(tiktok_id=failure_id(decoded.id), reason=str(exc))


def _one(data: Raw | Any, kind: type[W], build: Callable[[W], T]) -> T | RecordFailure:
    decoded = wire.record(data, kind)
    if isinstance(decoded, wire.Malformed):
        return RecordFailure(tiktok_id=wire.record_id(data), reason=str(decoded))
    return _checked(decoded, build)


def stored_product(data: Raw | Any) -> StoredProduct | RecordFailure:
    """One TikTok product object (as in Search Products, or Get Product's `data.product`), raw JSON or already
    parsed into Python values, as the catalog repository upserts it; or why it cannot be."""
    return _one(data, wire.Product, _stored_product)


def stored_order(data: Raw | Any) -> StoredOrder | RecordFailure:
    """One TikTok order object (Get Order List or Detail), raw JSON or parsed, as the repository upserts it."""
    return _one(data, wire.Order, _stored_order)


def product(data: Raw | Any) -> Product | RecordFailure:
    """`stored_product` as a domain `Product` (which the repository upserts too)."""
    stored = stored_product(data)
    return stored if isinstance(stored, RecordFailure) else stored.product()


def order(data: Raw | Any) -> Order | RecordFailure:
    """`stored_order` as a domain `Order` (which the repository upserts too)."""
    stored = stored_order(data)
    return stored if isinstance(stored, RecordFailure) else stored.order()


def products_page(data: Raw) -> Page[StoredProduct]:
    """A Search Products `data`: decoded whole; if that fails, record by record (see `adapters.tiktok.wire`)."""
    try:
        page = wire.decode(data, wire.ProductPage)
        items = [_checked(p, _stored_product) for p in page.products or ()]
        return Page(items, page.next_page_token or None, page.total_count)
    except wire.Malformed:
        raw = _envelope_shape(data, wire.RawProducts, "product search")
        return Page([stored_product(p) for p in raw.products or ()], raw.next_page_token or None, raw.total_count)


def orders_page(data: Raw, what: str = "order search") -> Page[StoredOrder]:
    """A Get Order List (or Detail) `data`, decoded as `products_page` is."""
    try:
        page = wire.decode(data, wire.OrderPage)
        items = [_checked(o, _stored_order) for o in page.orders or ()]
        return Page(items, page.next_page_token or None, page.total_count)
    except wire.Malformed:
        raw = _envelope_shape(data, wire.RawOrders, what)
        return Page([stored_order(o) for o in raw.orders or ()], raw.next_page_token or None, raw.total_count)


def orders(data: Raw) -> list[Order | RecordFailure]:
    """Get Order Detail's orders as domain `Order`s."""
    return [
        item if isinstance(item, RecordFailure) else item.order() for item in orders_page(data, "order detail").items
    ]


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
            committed = tuple(
                WarehouseStock(w.warehouse_id, w.committed_quantity) for w in sku.warehouse_inventory or ()
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
                    committed_warehouses=committed,
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


def warehouses(data: Raw) -> list[Warehouse]:
    """Get Warehouses' `data.warehouses[]` (live-sync.md sec. 1.4)."""
    found = _envelope_shape(data, wire.Warehouses, "warehouses")
    return [
        Warehouse(id=w.id, name=w.name, type=w.type, effect_status=w.effect_status, is_default=w.is_default)
        for w in found.warehouses or ()
    ]
