"""Products and SKUs as imported from TikTok, and orders with their line items. Ids stay strings; money Decimal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class OrderStatus(StrEnum):
    """TikTok's order statuses (Order API 202309, Get Order List `status`; ON_HOLD since the 2023 changelog)."""

    UNPAID = "UNPAID"
    ON_HOLD = "ON_HOLD"
    AWAITING_SHIPMENT = "AWAITING_SHIPMENT"
    PARTIALLY_SHIPPING = "PARTIALLY_SHIPPING"
    AWAITING_COLLECTION = "AWAITING_COLLECTION"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"

    @classmethod
    def parse(cls, raw: str) -> OrderStatus | None:
        """The status TikTok sent, or None for one this version does not know (TikTok adds statuses)."""
        try:
            return cls(raw)
        except ValueError:
            return None


# TikTok's order life, first to last: the order in which Get Order List/Detail document `status` (tiktok-api.md §8
# "status values", live-sync.md §3.1): placed unpaid, on hold (US/UK), to ship, part shipped, arranged for
# collection, collected, delivered, completed; CANCELLED is terminal (nothing follows it, from whichever stage).
ORDER_LIFE: tuple[OrderStatus, ...] = (
    OrderStatus.UNPAID, OrderStatus.ON_HOLD, OrderStatus.AWAITING_SHIPMENT, OrderStatus.PARTIALLY_SHIPPING,
    OrderStatus.AWAITING_COLLECTION, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED, OrderStatus.COMPLETED,
    OrderStatus.CANCELLED,
)  # fmt: skip
_STAGE: dict[str, int] = {status.value: stage for stage, status in enumerate(ORDER_LIFE)}


def order_stage(status: str) -> int | None:
    """The place of TikTok order status `status` in `ORDER_LIFE` (0 for UNPAID up to 8 for CANCELLED), or None for
    a status this version does not know (TikTok adds statuses): such a status is never ranked."""
    return _STAGE.get(status)


def earlier_in_order_life(status: str, than: str) -> bool:
    """Whether order status `status` comes before `than` in TikTok's order life (`ORDER_LIFE`); False when either
    is unknown (`order_stage`) or they are the same stage."""
    stage, other = _STAGE.get(status), _STAGE.get(than)
    return stage is not None and other is not None and stage < other


def older_order_version(status: str, updated_at: datetime, than_status: str, than_updated_at: datetime) -> bool:
    """Rule: whether an order version (`status`, TikTok's `update_time` `updated_at`) is older than another
    (`than_status`, `than_updated_at`), so that it must never replace it: an earlier `update_time`, or the same
    `update_time` and a status earlier in TikTok's order life (`earlier_in_order_life`).

    TikTok's `update_time` is whole Unix seconds (tiktok-api.md §8), so an order paid and shipped within one second
    has two versions of one `update_time`, and Get Order Detail may still serve the first while Get Order List
    (search) lists the second (read lag, live-sync.md §8): taken as "not older", the stale AWAITING_SHIPMENT
    replaced the stored IN_TRANSIT and stayed until the order changed again (try-out livesync52, defect 1). An
    order never goes back in its life, so at one `update_time` the later status is the later version. A version of
    the same time and stage (or of a status this version does not know) is not older: it replaces, as a re-read
    does."""
    if updated_at != than_updated_at:
        return updated_at < than_updated_at
    return earlier_in_order_life(status, than_status)


FULFILLMENT_BY_TIKTOK = "FULFILLMENT_BY_TIKTOK"  # Get Order List/Detail `fulfillment_type` of an FBT order


def fulfilled_by_tiktok(fulfillment_type: str | None) -> bool:
    """Rule: whether an order of this `fulfillment_type` ships from TikTok's own warehouses (Fulfilled by TikTok,
    FBT: live-sync.md §1.5) rather than from the merchant's shelf (`FULFILLMENT_BY_SELLER`, or none given)."""
    return fulfillment_type == FULFILLMENT_BY_TIKTOK


class InvalidRecord(ValueError):
    """A record imported from TikTok breaks a rule of the catalog; the message is the failure's reason."""


MAX_AMOUNT_CHARS = 40
"""The most characters an amount takes in plain decimal notation (`Money.checked_amount`): the width of its stored
text (adapters/db/tables.py `DecimalText`); 39 digits and a point, far beyond any price."""


def plain_text(amount: Decimal) -> str:
    """A finite amount in plain decimal notation, its digits kept: "12.50", "1000" for `Decimal("1E+3")`, "0.0000001"
    for `Decimal("1E-7")` (where `str` gives an exponent). The one text of `Money.amount`, stored and served (try-out
    regions53, defect 5: TikTok's "1e3" was served as "1E+3")."""
    return format(amount, "f")


def _plain_length(amount: Decimal) -> int:
    """len(plain_text(amount)) of a finite amount, its sign left out, without writing out an exponent of millions.

    `str()` is plain notation already for every amount but those with a positive exponent or more than six zeros
    after the point ("1E+3", "1E-7"): there its length is the answer, at ~1/20 of the cost of `as_tuple()`, which
    builds a tuple of every digit. Runs for every amount of every imported record (an order's total and each line's
    price: `Money.checked_amount`), where `as_tuple()` was 3-4 % of an orders import's main thread (bench/README.md,
    "Benchmarks 1 and 2: what is left", 2026-12-05)."""
    text = str(amount)
    if "E" not in text and "e" not in text:  # (`e`: a context with `capitals=0` spells the exponent so)
        return len(text) - 1 if text[0] == "-" else len(text)
    exponent = int(amount.as_tuple().exponent)
    return (max(amount.adjusted() + 1, 1) if amount else 1) + (1 - exponent if exponent < 0 else 0)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    @staticmethod
    def checked_currency(amount: Decimal, currency: str | None, what: str) -> str:
        """Rule: an amount is finite and not negative, in a non-blank currency code; the code, upper case.

        Raises `InvalidRecord` naming `what` (e.g. "payment.total_amount"): the reason the Task Center shows."""
        if not currency or not currency.strip():
            raise InvalidRecord(f"{what} has no currency")
        if not amount.is_finite() or amount < 0:
            raise InvalidRecord(f"{what} is not a valid amount: {amount}")
        return currency.strip().upper()

    @staticmethod
    def checked_amount(amount: Decimal, what: str) -> Decimal:
        """Rule: an amount (finite and not negative, `checked_currency`) is kept with TikTok's digits ("12.50" stays
        "12.50", "12.5" "12.5") and stored and served in plain decimal notation (`plain_text`: "1e3" is "1000"), so
        it must fit `MAX_AMOUNT_CHARS` characters written out; raises `InvalidRecord` naming `what` otherwise."""
        if not amount.is_finite():
            raise InvalidRecord(f"{what} is not a valid amount: {amount}")
        if _plain_length(amount) > MAX_AMOUNT_CHARS:
            raise InvalidRecord(f"{what} is not a valid amount: {amount} is longer than {MAX_AMOUNT_CHARS} characters")
        return amount


@dataclass(frozen=True, slots=True)
class WarehouseStock:
    warehouse_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Sku:
    tiktok_sku_id: str
    seller_sku: str | None
    price: Money
    stock: tuple[WarehouseStock, ...]
    bundle: bool = False  # a virtual bundle's (combo) SKU: TikTok derives its stock (live-sync.md §1.5)
    # TikTok sent a seller SKU longer than the catalog keeps (`domain.stored.seller_sku_too_long`): `seller_sku` is
    # None, and the SKU's link says so (`LinkState.LONG_SELLER_SKU`), not that it has none
    seller_sku_too_long: bool = False

    @property
    def quantity(self) -> int:
        return sum(w.quantity for w in self.stock)


@dataclass(frozen=True, slots=True)
class Product:
    tiktok_product_id: str
    title: str
    status: str
    created_at: datetime
    updated_at: datetime
    skus: tuple[Sku, ...]
    # When TikTok's stock of these SKUs was read: the request for the page (Search Products, Get Product) was sent
    # then (UTC; None: not known, e.g. a record built by hand). The pool seeds an item from that stock, which holds
    # no order created after this instant (`domain.inventory.ledger.counted_in_stock`). Not part of the record's
    # value: the same product read twice is the same product.
    stock_read_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class BundleComponent:
    """One component of a virtual bundle (combo) line item: `sku_count` units of SKU `tiktok_sku_id` per bundle
    unit (Get Order List/Detail `line_items[].combined_listing_skus[]{sku_id, sku_count, seller_sku}`,
    live-sync.md §1.5)."""

    tiktok_sku_id: str
    sku_count: int
    seller_sku: str | None = None

    @staticmethod
    def checked_count(sku_count: int) -> int:
        """Rule: a component counts at least one unit per bundle unit; raises `InvalidRecord` otherwise."""
        if sku_count < 1:
            raise InvalidRecord(f"sku_count {sku_count} is not positive")
        return sku_count


@dataclass(frozen=True, slots=True)
class LineItem:
    tiktok_line_item_id: str
    tiktok_sku_id: str
    tiktok_product_id: str | None
    seller_sku: str | None
    product_name: str
    quantity: int
    sale_price: Money
    # A virtual bundle's line: the components it sells (empty for an ordinary line). The pool reserves these,
    # never the bundle SKU itself (live-sync.md §1.5).
    combined_listing_skus: tuple[BundleComponent, ...] = ()
    # The line's own status (Get Order List/Detail `line_items[].display_status`; None: not given). It may differ
    # from the order's: a line cancelled on its own, a line shipped from a PARTIALLY_SHIPPING order. The pool moves
    # the line by it (`domain.inventory.ledger.line_effect`); the catalog stores it (migration 0037) for the orders
    # page, where a line cancelled alone is not one to ship.
    display_status: str | None = None
    # The line's package (Get Order List/Detail `line_items[].package_status`: TO_FULFILL, PROCESSING, FULFILLING,
    # COMPLETED, CANCELLED = lost or damaged, live-sync.md §3.2; None: not given). A line cancelled once its package
    # left the merchant's shelf is not restocked (§3.5, `domain.inventory.ledger.line_effect`). Not stored by the
    # catalog.
    package_status: str | None = None
    # Why the line was cancelled and by whom (Get Order List/Detail `line_items[].cancel_reason`, e.g. "Out of stock",
    # and `line_items[].cancel_user`, e.g. SELLER, BUYER, SYSTEM: live-sync.md §3.2); None while the line is not
    # cancelled, or when TikTok gives none. Stored by the catalog with `display_status`, for the orders page.
    cancel_reason: str | None = None
    cancel_user: str | None = None

    @staticmethod
    def units(quantity: int) -> int:
        """Rule: a line item counts at least one unit (TikTok's 202309 line items carry no quantity: one each)."""
        if quantity < 1:
            raise InvalidRecord(f"quantity {quantity} is not positive")
        return quantity


@dataclass(frozen=True, slots=True)
class Order:
    tiktok_order_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    total: Money
    line_items: tuple[LineItem, ...]
    buyer_user_id: str | None = None
    recipient_name: str | None = None
    recipient_region: str | None = None
    # TikTok ships it from its own stock (FBT, `fulfilled_by_tiktok`): the shared pool leaves it out, as none of
    # its units leaves the merchant's shelf (live-sync.md §1.5, §3.5). Not stored by the catalog.
    fulfilled_by_tiktok: bool = False
    # When the carrier collected the order (TikTok's `collection_time`, Get Order Detail, Unix seconds as UTC; set
    # once its last package is collected, the order IN_TRANSIT, kept after; None before, or not given): stored by the
    # catalog (`orders.collected_at`, migration 0050); the pool dates a shipment by it (`ledger.left_shelf_by`).
    collected_at: datetime | None = None
    # TikTok's ids of the order's packages (`packages[].id`), one per shipment; empty before one is arranged or when
    # not given. Not stored by the catalog: the pool reads how many (`ledger.left_shelf_by`).
    package_ids: tuple[str, ...] = ()
