"""TikTok's JSON objects, one declaration each, decoded straight from the response bytes by msgspec.

Shapes from `tiktok-api.md` (section 5: envelope and conventions; per object, the sections named below). msgspec
parses and validates in compiled code (see `bench/decoders.py` and `bench/README.md` for why msgspec rather than
pydantic). Every struct names TikTok's fields as TikTok spells them and ignores the fields it does not declare.
Ids are text (they exceed 2^53); money is `Decimal`, read from TikTok's decimal strings; times are Unix seconds.

A page is decoded whole first (`OrderPage`, `ProductPage`); when that fails, the page is decoded with its records
left raw (`RawOrders`, `RawProducts`) and each record separately (`record`), so one malformed record becomes a
`RecordFailure` with msgspec's reason (`Expected `str`, got `null` - at `$.payment.currency``) and the others are
kept. A record that fails the strict decode gets a second, lenient one before it is given up: ids sent as JSON
numbers are converted to their exact digits, and times sent as digit strings are read as numbers (TikTok documents
neither; webhooks send ids as numbers (section 10), proxies have been seen doing both).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from msgspec import Raw, Struct

from domain.sync import UNKNOWN_RECORD_ID, failure_id

NO_DATA = Raw(b"null")
ID_KEYS = frozenset({"id", "sku_id", "product_id", "warehouse_id", "user_id"})
UNKNOWN_ID = UNKNOWN_RECORD_ID  # "(no id)", the domain's (`domain.sync`)

T = TypeVar("T")


class Envelope(Struct):
    """Every response: `code` 0 means success; `data` is kept raw until its type is known. Fields loosely typed:
    `errors.classify` judges them (a `code` that is not an int means "no envelope")."""

    code: Any = None
    message: Any = None
    request_id: Any = None
    data: Raw = NO_DATA


# -- tokens and shops (sections 3 and 6 of `tiktok-api.md`) --------------------------------------------------------


class TokenData(Struct):
    """Get/refresh token `data`; the `_expire_in` fields are absolute Unix timestamps (seconds), not durations."""

    access_token: str
    access_token_expire_in: int
    refresh_token: str
    refresh_token_expire_in: int
    seller_name: str | None = None
    open_id: str | None = None


class AuthorizedShop(Struct):
    id: str
    region: str
    seller_type: str
    cipher: str
    name: str | None = None
    code: str | None = None


class AuthorizedShops(Struct):
    shops: list[AuthorizedShop] | None = None


# -- products (Search Products, section 7) --------------------------------------------------------------------------


class Price(Struct):
    sale_price: Decimal
    currency: str


class Stock(Struct):
    warehouse_id: str
    quantity: int = 0


class CombinedSku(Struct):
    sku_id: str
    sku_count: int = 1


class Sku(Struct):
    id: str
    price: Price
    seller_sku: str | None = None
    inventory: list[Stock] | None = None
    combined_skus: list[CombinedSku] | None = None  # a virtual bundle's components (live-sync.md §1.5)


class Product(Struct):
    id: str
    create_time: int
    title: str | None = None
    status: str | None = None
    update_time: int | None = None
    skus: list[Sku] | None = None
    product_types: list[str] | None = None  # COMBINED_PRODUCT for a virtual bundle


# -- orders (Get Order List / Get Order Detail, section 8) -----------------------------------------------------------


class Payment(Struct):
    total_amount: Decimal
    currency: str


class CombinedListingSku(Struct):
    """A component of a virtual bundle's line item: `sku_count` units of `sku_id` per bundle unit (§1.5 of
    live-sync.md; Get Order List/Detail `line_items[].combined_listing_skus[]`)."""

    sku_id: str
    sku_count: int = 1
    seller_sku: str | None = None


class LineItem(Struct):
    id: str
    sku_id: str
    sale_price: Decimal
    product_id: str | None = None
    seller_sku: str | None = None
    product_name: str | None = None
    currency: str | None = None
    quantity: int = 1  # 202309 has no quantity: each line item is one unit
    combined_listing_skus: list[CombinedListingSku] | None = None  # a virtual bundle's line: its components
    display_status: str | None = None  # the line's own status: CANCELLED alone on an open order, item-level cancel
    # the line's package: TO_FULFILL, PROCESSING, FULFILLING, COMPLETED, or CANCELLED (lost or damaged), live-sync.md
    # sec. 3.2; any text decodes (the pool reads the values it knows, `domain.inventory.ledger.line_effect`)
    package_status: str | None = None
    # why and by whom the line was cancelled (e.g. "Out of stock"; SELLER, BUYER, SYSTEM), live-sync.md sec. 3.2;
    # absent or "" while it is not
    cancel_reason: str | None = None
    cancel_user: str | None = None


class Package(Struct):
    """One of an order's packages (Get Order List/Detail `packages[]`): its id alone."""

    id: str


class Address(Struct):
    """Empty (`{}`) while the order is UNPAID or ON_HOLD."""

    name: str | None = None
    region_code: str | None = None


class Order(Struct):
    id: str
    create_time: int
    payment: Payment
    status: str | None = None
    update_time: int | None = None
    line_items: list[LineItem] | None = None
    user_id: str | None = None
    recipient_address: Address | None = None
    fulfillment_type: str | None = None  # FULFILLMENT_BY_SELLER, or FULFILLMENT_BY_TIKTOK (FBT: not the pool's)
    # when the carrier collected the order (Get Order Detail `collection_time`, int64 Unix seconds, tiktok-api.md
    # sec. 8): absent (or 0) before its last package is collected; kept after (DELIVERED, COMPLETED)
    collection_time: int | None = None
    packages: list[Package] | None = None  # the order's packages, one per shipment (none before it is arranged)


# -- pages -----------------------------------------------------------------------------------------------------------


class _Paging(Struct):
    # The last page says "" or nothing at all (TikTok is unclear which): both mean the end.
    next_page_token: str | None = None
    total_count: int | None = None


class ProductPage(_Paging):
    products: list[Product] | None = None


class OrderPage(_Paging):
    orders: list[Order] | None = None


class RawProducts(_Paging):
    """A product page whose records are decoded one by one (when the page as a whole fails)."""

    products: list[Raw] | None = None


class RawOrders(_Paging):
    orders: list[Raw] | None = None


# -- inventory (section 9) -------------------------------------------------------------------------------------------


class WarehouseLevel(Struct):
    warehouse_id: str
    available_quantity: int = 0
    committed_quantity: int = 0


class InventorySku(Struct):
    id: str
    seller_sku: str | None = None
    total_available_quantity: int | None = None
    total_committed_quantity: int = 0
    warehouse_inventory: list[WarehouseLevel] | None = None


class InventoryProduct(Struct):
    product_id: str
    skus: list[InventorySku] | None = None


class Inventory(Struct):
    inventory: list[InventoryProduct] | None = None


class ExtraError(Struct):
    warehouse_id: str | None = None
    code: int = 0
    message: str = ""


class ErrorDetail(Struct):
    sku_id: str | None = None
    extra_errors: list[ExtraError] | None = None


class UpdateError(Struct):
    code: int = 0
    message: str = ""
    detail: ErrorDetail | None = None


class InventoryUpdate(Struct):
    """Update Inventory answers code 0 even when SKUs failed: `errors[]` lists them."""

    errors: list[UpdateError] | None = None


# -- warehouses (Get Warehouses, live-sync.md sec. 1.4) -------------------------------------------------------------


class WarehouseRecord(Struct):
    id: str
    name: str | None = None
    type: str | None = None
    effect_status: str | None = None
    is_default: bool = False


class Warehouses(Struct):
    warehouses: list[WarehouseRecord] | None = None


# -- decoding --------------------------------------------------------------------------------------------------------

_plain = msgspec.json.Decoder(float_hook=Decimal)
_envelope = msgspec.json.Decoder(Envelope)


class Malformed(ValueError):
    """The bytes are not the declared object; the message says where (msgspec's path, e.g. `$.skus[0].id`)."""


# A NUL reaches a JSON string only escaped (`\u0000`; raw, it is malformed JSON) and PostgreSQL refuses it in text:
# one product title or seller SKU holding it failed its whole import batch, at every retry and every poll. The
# escape is matched only where it is one (not `\\u0000`, a backslash followed by "u0000") and decoded as U+FFFD,
# the replacement character, on every database alike. (msgspec refuses a lone surrogate escape as malformed.)
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
# Whether the text `\u0000` is anywhere in a response: checked on every page of every import, 200 KB for 100
# orders. `bytes.__contains__` took ~120-300 us a page for that needle (its skip table keys on the needle's last
# byte, "0", which ids and amounts are full of); `re`'s literal search ~50 us; and a page without any backslash
# (no escape at all) is told by one memchr of "\", ~2 us (bench/README.md, "Benchmarks 1 and 2: what is left").
_NUL_TEXT = re.compile(rb"\\u0000")


def without_nul(content: bytes) -> bytes:
    """JSON `content` with every `\\u0000` escape turned into `\\ufffd`; the same bytes when it has none."""
    if b"\\" not in content or _NUL_TEXT.search(content) is None:
        return content
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", content)


def envelope(content: bytes) -> Envelope | None:
    """The response's envelope, or None when the body is not a JSON object. A NUL in its text is U+FFFD."""
    try:
        return _envelope.decode(without_nul(content))
    except msgspec.DecodeError:
        return None


def plain(data: Raw | bytes) -> Any:
    """JSON as plain Python values: objects as dicts, floats as Decimal (money never passes through a float)."""
    return _plain.decode(data) if data else None


def decode(data: Raw | bytes, kind: type[T]) -> T:
    """`data` as `kind`, strictly; an empty or null `data` as `kind` with its defaults. Raises `Malformed`."""
    try:
        empty = not data or (len(data) == 4 and bytes(data) == b"null")  # a page's bytes are not copied to check
        return msgspec.json.decode(b"{}" if empty else data, type=kind)
    except msgspec.DecodeError as exc:
        raise Malformed(str(exc)) from None


def record(data: Raw | bytes | Any, kind: type[T]) -> T | Malformed:
    """One record as `kind`, or why not: strictly first, then leniently (ids as numbers, times as digit strings).

    `data` is raw JSON, or an object already parsed into Python values (e.g. by `plain`).
    """
    try:
        if isinstance(data, Raw | bytes):
            return msgspec.json.decode(data, type=kind)
        return msgspec.convert(data, kind)
    except msgspec.DecodeError as exc:
        reason = str(exc)
    try:
        value = _plain.decode(data) if isinstance(data, Raw | bytes) else data
        return msgspec.convert(_ids_as_text(value), kind, strict=False)
    except msgspec.DecodeError:
        return Malformed(reason)


def record_id(data: Raw | bytes | Any) -> str:
    """The `id` of a raw record, for a failure's report; `UNKNOWN_ID` when it has none, or one no id column holds
    (`domain.sync.failure_id`)."""
    try:
        value = _plain.decode(data) if isinstance(data, Raw | bytes) else data
    except msgspec.DecodeError:
        return UNKNOWN_ID
    found = value.get("id") if isinstance(value, dict) else None
    if isinstance(found, int) and not isinstance(found, bool):
        return failure_id(str(found))
    return failure_id(found) if isinstance(found, str) else UNKNOWN_ID


def _ids_as_text(value: Any) -> Any:
    """`value` with every integer id (a key of `ID_KEYS`) turned into its exact digits, at any depth."""
    if isinstance(value, list):
        return [_ids_as_text(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: str(item)
        if key in ID_KEYS and isinstance(item, int) and not isinstance(item, bool)
        else _ids_as_text(item)
        for key, item in value.items()
    }
