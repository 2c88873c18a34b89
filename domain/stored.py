"""Products and orders as the catalog stores them: flat values, checked and digested once, where they are decoded.

An import handles tens of thousands of records a minute, and all it does with one is store it: so the adapter that
decodes a TikTok record hands `store_order` / `store_product` the record's values straight from the decoded
payload, and gets back a `StoredOrder` / `StoredProduct`: the values the catalog keeps, in the column order below,
checked against the catalog's rules (valid money, positive units, ids present) and digested. The repository writes
those values as they are; the import reads only the id and the create time. The domain objects of
`domain.catalog` are built from them only when some code wants one (`StoredOrder.order()`), and go the other way
for code that made one by hand (`order_as_stored`, `product_as_stored`).

The fingerprint is a digest of exactly the values stored: equal fingerprints mean nothing stored would change (a
money amount is digested as decoded, `str(Decimal)`, e.g. "1E+3", and stored in plain notation, "1000": one stored text
per decoded value, so the rule holds).
Each line's own status (TikTok's `display_status`) and, once cancelled, why and by whom (`cancel_reason`,
`cancel_user`) are stored with the line (migration 0037: the orders page shows a line cancelled alone), so they are in
the fingerprint; the pool reads the statuses too (`StoredOrder.line_statuses`). When the carrier collected an order
(TikTok's `collection_time`, `collected_at`, migration 0050) is stored, and fingerprinted only where set: an order
without one keeps the fingerprint it had before 0050, so the upgrade rewrites only orders TikTok gives one. With it,
the number of distinct package ids (`package_count`, migration 0052; None without a collection time): the pool dates
a shipment by the collection only for an order of one package (`ledger.left_shelf_by`), also once read back.
A bundle line's components
(`COMPONENT_VALUES`), each line's package status (`package_statuses`, TikTok's `package_status`), the order's package
ids (`package_ids`, TikTok's `packages[].id`), and whether TikTok
fulfils the order (`fulfilled_by_tiktok`) ride along for the inventory pool only: the catalog does not store them, so
they are not in the fingerprint either (the pool's ledger applies every order fetched, its fingerprint changed or
not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.catalog import BundleComponent, InvalidRecord, LineItem, Money, Order, Product, Sku, WarehouseStock
from domain.inventory.links import trimmed
from domain.text import truncated

# The values of each stored record, in order (the catalog tables' column names).
ORDER_VALUES = (
    "tiktok_order_id", "status", "created_at", "updated_at", "total_amount", "currency", "buyer_user_id",
    "recipient_name", "recipient_region", "collected_at", "package_count",
)  # fmt: skip
LINE_ITEM_VALUES = (
    "tiktok_line_item_id", "tiktok_sku_id", "tiktok_product_id", "seller_sku", "product_name", "quantity",
    "sale_price_amount", "currency", "position", "display_status", "cancel_reason", "cancel_user",
)  # fmt: skip
# Where an order's collection time sits in its stored values (`ORDER_VALUES`): the last two values (it and the package
# count, stored with it only) are fingerprinted only where it is set
_COLLECTED_AT = ORDER_VALUES.index("collected_at")
_PACKAGE_COUNT = ORDER_VALUES.index("package_count")
# Where a line's own status sits in its stored values (`LINE_ITEM_VALUES`)
_DISPLAY_STATUS = LINE_ITEM_VALUES.index("display_status")
# A virtual bundle line's components (line_items[].combined_listing_skus[], live-sync.md §1.5): not stored by the
# catalog; the pool reserves them (`domain.inventory.ledger.stock_lines`).
COMPONENT_VALUES = ("tiktok_line_item_id", "tiktok_sku_id", "sku_count", "seller_sku")
PRODUCT_VALUES = ("tiktok_product_id", "title", "status", "created_at", "updated_at")
# TikTok's status of a product its seller deleted (tiktok-api.md §7): stored with its SKUs as Search Products lists
# them, which the pool leaves out (`adapters.db.repositories.inventory.links`: no link, no push, no twin).
DELETED_PRODUCT_STATUS = "DELETED"
# The one status in which TikTok sells a product and takes its stock (Update Inventory: "product must be ACTIVATE",
# live-sync.md §1.1; any other answers 12052901 or, DELETED, 12052048). A linked SKU of a product in any other status
# (DRAFT, PENDING, FAILED, SELLER_DEACTIVATED, PLATFORM_DEACTIVATED, FREEZE) keeps its link and is not pushed until
# its product is stored ACTIVATE again (`adapters.db.repositories.inventory_push`: its outbox row waits, dirty).
ACTIVE_PRODUCT_STATUS = "ACTIVATE"
SKU_VALUES = ("tiktok_sku_id", "seller_sku", "price_amount", "currency", "quantity", "position", "bundle")
STOCK_VALUES = ("tiktok_sku_id", "warehouse_id", "quantity")

# (id, sku id, product id, seller sku, product name, quantity, sale price, currency or None for the order's,
#  display_status, cancel_reason, cancel_user: None when not given)
LineItemIn = tuple[str, str, str | None, str | None, str, int, Decimal, str | None, str | None, str | None, str | None]
# (line item id, component SKU id, sku_count, component seller sku)
ComponentIn = tuple[str, str, int, str | None]
# (id, seller sku, sale price, currency, [(warehouse id, quantity), ...], bundle: a virtual bundle's SKU)
SkuIn = tuple[str, str | None, Decimal, str | None, Iterable[tuple[str, int]], bool]
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class StoredOrder:
    values: Row  # ORDER_VALUES
    line_items: tuple[Row, ...]  # LINE_ITEM_VALUES each
    fingerprint: str
    components: tuple[Row, ...] = ()  # COMPONENT_VALUES each, in line order: bundle lines only
    # shipped from TikTok's own stock (FBT, `domain.catalog.fulfilled_by_tiktok`): the pool leaves it out
    fulfilled_by_tiktok: bool = False
    # each line's `package_status`, in line order (None: not given); empty when no line gave one
    package_statuses: tuple[str | None, ...] = ()
    # the order's packages (TikTok's `packages[].id`, as given); empty when none was
    package_ids: tuple[str, ...] = ()

    @property
    def tiktok_order_id(self) -> str:
        return str(self.values[0])

    @property
    def line_statuses(self) -> tuple[str | None, ...]:
        """Each line's `display_status`, in line order (None: not given); empty when no line gave one."""
        statuses = tuple(item[_DISPLAY_STATUS] for item in self.line_items)
        return statuses if any(statuses) else ()

    @property
    def created_at(self) -> datetime:
        created: datetime = self.values[2]
        return created

    @property
    def updated_at(self) -> datetime:
        updated: datetime = self.values[3]
        return updated

    @property
    def collected_at(self) -> datetime | None:
        """When the carrier collected the order (TikTok's `collection_time`), None before or when not given."""
        collected: datetime | None = self.values[_COLLECTED_AT]
        return collected

    @property
    def package_count(self) -> int | None:
        """How many distinct packages the order listed (TikTok's `packages[].id`), stored with its collection time
        only (None without one; migration 0052): `ledger.left_shelf_by` dates by the collection one package only."""
        count: int | None = self.values[_PACKAGE_COUNT]
        return count

    def order(self) -> Order:
        """The domain order these values stand for."""
        oid, status, created, updated, amount, currency, buyer, name, region, collected, _packages = self.values
        parts: dict[str, list[BundleComponent]] = {}
        for line_id, sku_id, sku_count, seller_sku in self.components:
            parts.setdefault(line_id, []).append(BundleComponent(sku_id, sku_count, seller_sku))
        packages = self.package_statuses or (None,) * len(self.line_items)
        items = tuple(
            LineItem(i[0], i[1], i[2], i[3], i[4], i[5], Money(i[6], i[7]), tuple(parts.get(i[0], ())), i[9], package,
                     i[10], i[11])
            for i, package in zip(self.line_items, packages, strict=True)
        )  # fmt: skip
        return Order(
            oid, status, created, updated, Money(amount, currency), items, buyer, name, region,
            self.fulfilled_by_tiktok, collected, self.package_ids,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoredProduct:
    values: Row  # PRODUCT_VALUES
    skus: tuple[Row, ...]  # SKU_VALUES each
    stock: tuple[Row, ...]  # STOCK_VALUES each
    fingerprint: str
    stock_read_at: datetime | None = field(default=None, compare=False)  # as `Product.stock_read_at`
    # The TikTok SKU ids, in SKU order, whose seller SKU TikTok sent is longer than the catalog keeps
    # (`seller_sku_too_long`: stored without it, `skus.seller_sku_too_long`, migration 0048)
    too_long_seller_skus: tuple[str, ...] = ()

    @property
    def tiktok_product_id(self) -> str:
        return str(self.values[0])

    def product(self) -> Product:
        """The domain product these values stand for."""
        stock: dict[str, list[WarehouseStock]] = {}
        for sku_id, warehouse_id, quantity in self.stock:
            stock.setdefault(sku_id, []).append(WarehouseStock(warehouse_id, quantity))
        too_long = set(self.too_long_seller_skus)
        skus = tuple(
            Sku(s[0], s[1], Money(s[2], s[3]), tuple(stock.get(s[0], ())), s[6], s[0] in too_long) for s in self.skus
        )
        product_id, title, status, created, updated = self.values
        return Product(product_id, title, status, created, updated, skus, self.stock_read_at)


OrderRecord = Order | StoredOrder
ProductRecord = Product | StoredProduct


# -- how long a value TikTok sends may be -------------------------------------------------------------------------
#
# Rule (try-out attack56, F-pg-poison): every text the catalog keeps from TikTok fits its column on every database,
# decided here, before any database. PostgreSQL refuses a value longer than its VARCHAR (code points); SQLite stores
# it: one 300-character seller SKU failed its whole batch on PostgreSQL, retried forever, and every later webhook
# event of that shop waited behind it. TikTok documents none of these lengths (tiktok-api.md); the widths are the
# columns' (adapters/db/tables.py, pinned by tests/unit/test_stored_bounds.py). Per value, by what the merchant needs:
# - an id or a code (ids, statuses, currencies, region, buyer id, cancel_user) longer than its column is not one
#   TikTok issues: the record is refused alone (`InvalidRecord`: a per-record failure, RECORDS_UNREADABLE), the rest
#   of its page or event stored;
# - a seller SKU longer than `MAX_SELLER_SKU_CHARS` (as sent, or as matched: `links.trimmed`) is not kept
#   (`kept_seller_sku`): a product's SKU is stored, with its stock and TikTok id, without a seller SKU to match by
#   (its link LONG_SELLER_SKU, `seller_sku_too_long`: `unlinkedSkus` lists it, and the merchant shortens it on TikTok
#   or links it by hand; until sku57 it read NO_SELLER_SKU, "none at TikTok"); an order's line is stored
#   without one and counts on its SKU by TikTok's `sku_id`, as every line does. Cut short instead, it could match
#   another SKU's seller SKU, or an item it is not;
# - a recipient name longer than `MAX_NAME_CHARS` is cut on a grapheme boundary and ends with "…"
#   (`domain.text.truncated`): it is only shown.
MAX_ID_CHARS = 64  # tiktok_*_id, warehouse_id
MAX_STATUS_CHARS = 32  # products.status, orders.status, line_items.display_status and cancel_user
MAX_CURRENCY_CHARS = 8
MAX_REGION_CHARS = 16  # orders.recipient_region
MAX_BUYER_ID_CHARS = 128  # orders.buyer_user_id
MAX_NAME_CHARS = 255  # orders.recipient_name
MAX_SELLER_SKU_CHARS = 255  # skus.seller_sku and seller_sku_key, line_items.seller_sku, inventory_items.sku
# NFC makes a string at most 3 times as long (UAX #15, "Stream-Safe Text Format" / the Unicode FAQ on normalization):
# a seller SKU this short fits, matched form included, without normalizing it.
_NFC_SAFE_CHARS = MAX_SELLER_SKU_CHARS // 3


def _id(value: str, what: str = "id") -> str:
    """Rule: every record and reference has a TikTok id, kept without surrounding blanks, of at most `MAX_ID_CHARS`
    code points; raises `InvalidRecord` ("missing sku_id", "id has more than 64 characters (70)") otherwise."""
    value = value.strip()
    if not value:
        raise InvalidRecord(f"missing {what}")
    _bounded(value, MAX_ID_CHARS, what)
    return value


def _bounded(value: str | None, limit: int, what: str) -> str | None:
    """`value` (None: not given) when it has at most `limit` code points; raises `InvalidRecord` otherwise."""
    if value is not None and len(value) > limit:
        raise InvalidRecord(f"{what} has more than {limit} characters ({len(value)})")
    return value


def kept_seller_sku(seller_sku: str | None) -> str | None:
    """The seller SKU the catalog keeps: `seller_sku`, or None when it (or its matched form, `links.trimmed`, which
    NFC may lengthen) has more than `MAX_SELLER_SKU_CHARS` code points (see the rule above)."""
    if seller_sku is None or len(seller_sku) <= _NFC_SAFE_CHARS:  # every line's: no normalization for the common case
        return seller_sku
    if len(seller_sku) <= MAX_SELLER_SKU_CHARS >= len(trimmed(seller_sku) or ""):
        return seller_sku
    return None


def seller_sku_too_long(seller_sku: str | None) -> bool:
    """Whether TikTok's `seller_sku` is a seller SKU the catalog does not keep for its length (`kept_seller_sku`:
    more than `MAX_SELLER_SKU_CHARS` code points as sent or as matched), so that the SKU is stored without one and
    linked LONG_SELLER_SKU, not NO_SELLER_SKU (sku57). A value that is blank once trimmed (`links.trimmed`: only
    whitespace or invisible characters, however many) is no seller SKU: False."""
    return seller_sku is not None and kept_seller_sku(seller_sku) is None and trimmed(seller_sku) is not None


def _currency(amount: Decimal, currency: str | None, what: str) -> str:
    """`Money.checked_currency`, and a code of at most `MAX_CURRENCY_CHARS` code points (ISO 4217 codes have 3)."""
    code = Money.checked_currency(amount, currency, what)
    _bounded(code, MAX_CURRENCY_CHARS, f"{what} currency")
    return code


def store_order(
    tiktok_order_id: str,
    status: str,
    created_at: datetime,
    updated_at: datetime,
    total_amount: Decimal,
    currency: str | None,
    buyer_user_id: str | None,
    recipient_name: str | None,
    recipient_region: str | None,
    line_items: Iterable[LineItemIn],
    components: Iterable[ComponentIn] = (),
    fulfilled_by_tiktok: bool = False,
    package_statuses: Iterable[str | None] = (),
    collected_at: datetime | None = None,
    package_ids: Iterable[str] = (),
) -> StoredOrder:
    """An order's stored values, checked; raises `InvalidRecord` with the reason (e.g. "line item 7: missing
    sku_id"). A line item without a currency is in the order's (TikTok's 202309 line items may omit it).
    `components`: the bundle lines' combined_listing_skus, each naming a line item of the order, with a SKU id and
    a positive sku_count ("line item 7: combined_listing_skus: sku_count 0 is not positive"). Each line's own
    status (`display_status`), `cancel_reason` and `cancel_user` are kept as given (None: not given).
    `fulfilled_by_tiktok`: an FBT order (it rides along for the pool). `package_statuses`: each line's package status
    (`package_status`), in line order, or none at all (for the pool too). `collected_at`: when the carrier collected
    the order (TikTok's `collection_time`; None: not yet, or not given), stored; one before `created_at` refuses the
    order ("collection_time ... is before create_time ...": a date the pool would take for a shipment long before any
    count). `package_ids`: the order's packages (TikTok's `packages[].id`, for the pool only). Lengths: ids, codes
    and statuses past their column refuse the order; an over-long seller SKU is not kept, an over-long recipient name
    is cut (the rule at `MAX_ID_CHARS`)."""
    order_id = _id(tiktok_order_id)
    currency = _currency(total_amount, currency, "payment.total_amount")
    _bounded(status, MAX_STATUS_CHARS, "status")
    _bounded(buyer_user_id, MAX_BUYER_ID_CHARS, "user_id")
    _bounded(recipient_region, MAX_REGION_CHARS, "recipient_address.region_code")
    recipient_name = None if recipient_name is None else truncated(recipient_name, MAX_NAME_CHARS)
    total_amount = Money.checked_amount(total_amount, "payment.total_amount")
    items = []
    for position, (
        item_id, sku_id, product_id, seller_sku, name, quantity, price, item_currency, line_status, reason, user
    ) in enumerate(line_items):  # fmt: skip
        item_id = _id(item_id)
        try:
            sku_id, units = _id(sku_id, "sku_id"), LineItem.units(quantity)
            price_currency = _currency(price, item_currency or currency, "sale_price")
            _bounded(product_id, MAX_ID_CHARS, "product_id")
            _bounded(line_status, MAX_STATUS_CHARS, "display_status")
            _bounded(user, MAX_STATUS_CHARS, "cancel_user")
            items.append(
                (item_id, sku_id, product_id, kept_seller_sku(seller_sku), name, units,
                 Money.checked_amount(price, "sale_price"), price_currency, position, line_status, reason, user)
            )  # fmt: skip
        except InvalidRecord as exc:
            raise InvalidRecord(f"line item {item_id}: {exc}") from None
    if collected_at is not None and collected_at < created_at:
        raise InvalidRecord(
            f"collection_time {collected_at:%Y-%m-%dT%H:%M:%SZ} is before create_time {created_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    package_ids = tuple(package_ids)
    package_count = len(set(package_ids)) if collected_at is not None else None
    values = (
        order_id, status, created_at, updated_at, total_amount, currency, buyer_user_id, recipient_name,
        recipient_region, collected_at, package_count,
    )  # fmt: skip
    line_item_rows = tuple(items)
    packages = tuple(package_statuses)
    if packages and len(packages) != len(items):
        raise InvalidRecord(f"{len(packages)} package statuses for {len(items)} line items")
    if not any(packages):
        packages = ()
    # (digested without the collection time while there is none: the fingerprint of every order stored before 0050)
    fingerprinted = values if collected_at is not None else values[:_COLLECTED_AT]
    return StoredOrder(
        values, line_item_rows, digest(fingerprinted, line_item_rows), _components(items, components),
        fulfilled_by_tiktok, packages, package_ids,
    )  # fmt: skip


def _components(items: list[Row], components: Iterable[ComponentIn]) -> tuple[Row, ...]:
    if not components:  # most orders: no bundle line
        return ()
    line_ids = {item[0] for item in items}
    rows = []
    for line_id, sku_id, sku_count, seller_sku in components:
        line_id = line_id.strip()
        try:
            if line_id not in line_ids:
                raise InvalidRecord("not a line item of the order")
            rows.append(
                (line_id, _id(sku_id, "sku_id"), BundleComponent.checked_count(sku_count), kept_seller_sku(seller_sku))
            )
        except InvalidRecord as exc:
            raise InvalidRecord(f"line item {line_id}: combined_listing_skus: {exc}") from None
    return tuple(rows)


def store_product(
    tiktok_product_id: str,
    title: str,
    status: str,
    created_at: datetime,
    updated_at: datetime,
    skus: Iterable[SkuIn],
    too_long_seller_skus: Collection[str] = (),
) -> StoredProduct:
    """A product's stored values, checked; raises `InvalidRecord` with the reason (e.g. "sku 9: sale_price has no
    currency"). A SKU's quantity is the sum of its warehouses' stock. An id or status past its column refuses the
    product; a SKU's seller SKU over `MAX_SELLER_SKU_CHARS` is not kept (`kept_seller_sku`: the rule at `MAX_ID_CHARS`),
    and the SKU is listed in `StoredProduct.too_long_seller_skus` (`seller_sku_too_long`), as are the SKUs whose ids
    are in `too_long_seller_skus` (a domain `Sku` read back with its seller SKU already dropped: `product_as_stored`).

    A product TikTok reports `DELETED` (the seller deleted it in Seller Center; Search Products still lists it with
    its SKUs, Get Product no longer does: tiktok-api.md §7) is stored as listed, SKUs included, so the merchant sees
    what TikTok shows. None of them is on sale any more, as a variant the seller deleted (live-sync.md §3.5): the
    pool leaves them out (`DELETED_PRODUCT_STATUS`; their links `DROPPED`, their open orders still counting on their
    item, nothing pushed to them, and their seller SKUs no twin of the listing that replaces the product). (Until
    tryout 49 such a product was stored without its SKUs: the Products page showed it with none.)"""
    product_id = _id(tiktok_product_id)
    _bounded(status, MAX_STATUS_CHARS, "status")
    sku_rows: list[Row] = []
    stock_rows: list[Row] = []
    too_long: list[str] = []
    for position, (sku_id, seller_sku, price, currency, levels, bundle) in enumerate(skus):
        sku_id = _id(sku_id)
        if seller_sku_too_long(seller_sku) or sku_id in too_long_seller_skus:
            too_long.append(sku_id)
        try:
            stock = [(sku_id, _id(warehouse_id, "warehouse_id"), quantity) for warehouse_id, quantity in levels]
            checked = _currency(price, currency, "sale_price")
            Money.checked_amount(price, "sale_price")
        except InvalidRecord as exc:
            raise InvalidRecord(f"sku {sku_id}: {exc}") from None
        sku_rows.append(
            (sku_id, kept_seller_sku(seller_sku), price, checked, sum(level[2] for level in stock), position, bundle)
        )
        stock_rows.extend(stock)
    values = (product_id, title, status, created_at, updated_at)
    skus_, stock_, long_ = tuple(sku_rows), tuple(stock_rows), tuple(too_long)
    # The flag is fingerprinted only where set, as a third child (a shape of three counts, never confused with two):
    # a product without one keeps the fingerprint it had before migration 0048, so an upgrade rewrites no product
    # but those stored without their over-long seller SKU, whose SKUs then get their own link reason.
    flagged = ((sku_id,) for sku_id in long_)
    fingerprint = digest(values, skus_, stock_, tuple(flagged)) if long_ else digest(values, skus_, stock_)
    return StoredProduct(values, skus_, stock_, fingerprint, too_long_seller_skus=long_)


def order_as_stored(record: OrderRecord) -> StoredOrder:
    """An order in its stored form; a domain `Order` made by hand (or refetched) goes through the same checks."""
    if isinstance(record, StoredOrder):
        return record
    items: list[LineItemIn] = [
        (i.tiktok_line_item_id, i.tiktok_sku_id, i.tiktok_product_id, i.seller_sku, i.product_name, i.quantity,
         i.sale_price.amount, i.sale_price.currency, i.display_status, i.cancel_reason, i.cancel_user)
        for i in record.line_items
    ]  # fmt: skip
    components: list[ComponentIn] = [
        (i.tiktok_line_item_id, c.tiktok_sku_id, c.sku_count, c.seller_sku)
        for i in record.line_items
        for c in i.combined_listing_skus
    ]
    total = record.total
    return store_order(
        record.tiktok_order_id, record.status, record.created_at, record.updated_at, total.amount, total.currency,
        record.buyer_user_id, record.recipient_name, record.recipient_region, items, components,
        record.fulfilled_by_tiktok,
        [i.package_status for i in record.line_items], record.collected_at, record.package_ids,
    )  # fmt: skip


def product_as_stored(record: ProductRecord) -> StoredProduct:
    """A product in its stored form; a domain `Product` goes through the same checks, and keeps when its stock was
    read (`Product.stock_read_at`, which the catalog writes with its row: a manual link's first push is fenced from
    it, migration 0020; dropped here, a product the webhooks' Get Product wrote had none, and was left unfenced)."""
    if isinstance(record, StoredProduct):
        return record
    skus: list[SkuIn] = [
        (s.tiktok_sku_id, s.seller_sku, s.price.amount, s.price.currency,
         [(w.warehouse_id, w.quantity) for w in s.stock], s.bundle)
        for s in record.skus
    ]  # fmt: skip
    too_long = [s.tiktok_sku_id for s in record.skus if s.seller_sku_too_long]
    stored = store_product(
        record.tiktok_product_id, record.title, record.status, record.created_at, record.updated_at, skus, too_long
    )
    return stored if record.stock_read_at is None else replace(stored, stock_read_at=record.stock_read_at)


# -- the fingerprint -------------------------------------------------------------------------------------------------

# What separates values in a fingerprint's text, and how it spells None: control characters no TikTok text
# contains. Should a value contain one anyway, the text would be ambiguous, and the fingerprint takes the slower
# exact path instead.
_SEPARATOR = "\x1f"
_NONE = "\x00"


def digest(values: Row, *children: tuple[Row, ...]) -> str:
    """A digest of a record's stored values: equal digests mean equal values.

    The text digested is the number of rows of each child, then every value as text joined by a separator: every
    row of a child has the same values in the same order, so the flat list and the counts say exactly which value
    sits where. str() is exact for str, int and Decimal; None is spelled as a control character no TikTok text
    holds; an aware datetime is spelled as its POSIX timestamp (exact to the microsecond, the precision stored, and
    five times cheaper than str()). Runs once per imported record, in one pass, hence the cheap text rather than
    repr() of nested tuples (twice the cost); repr() only when a value holds a separator or the None marker, told by
    the text holding more of them than the values put there (the None values counted in the same pass, each row's
    in C: a second walk of the rows, a generator per record, was ~15 % of the digest).
    """
    texts = [_NONE if value is None else _timestamp(value) if value.__class__ is datetime else str(value)
             for value in values]  # fmt: skip
    nones = values.count(None)
    shape = []
    for rows in children:
        shape.append(len(rows))
        for row in rows:
            texts.extend([_NONE if value is None else str(value) for value in row])
            nones += row.count(None)
    text = _SEPARATOR.join(texts)
    if text.count(_SEPARATOR) != len(texts) - 1 or text.count(_NONE) != nones:
        text = repr((values, children))  # a value holds a separator or the None marker: still exact, slower
    return hashlib.blake2b(f"{shape}{_SEPARATOR}{text}".encode(), digest_size=16).hexdigest()


def _timestamp(value: datetime) -> str:
    return repr(value.timestamp())
