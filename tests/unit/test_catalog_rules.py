"""The catalog's rules on one record (domain.catalog): statuses, money, units; the reasons the Task Center shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, DecimalTuple

import pytest

from domain.catalog import (
    MAX_AMOUNT_CHARS,
    ORDER_LIFE,
    BundleComponent,
    InvalidRecord,
    LineItem,
    Money,
    OrderStatus,
    Sku,
    WarehouseStock,
    older_order_version,
    plain_text,
)

# Get Order List's `status` values (Order API 202309), ON_HOLD included
TIKTOK_STATUSES = [
    "UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "PARTIALLY_SHIPPING", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED",
    "COMPLETED", "CANCELLED",
]  # fmt: skip


@pytest.mark.parametrize("raw", TIKTOK_STATUSES)
def test_each_status_tiktok_documents_is_known(raw: str) -> None:
    status = OrderStatus.parse(raw)
    assert status is not None and status.value == raw


@pytest.mark.parametrize("raw", ["SHIPPED_TO_MARS", "completed", ""])
def test_a_status_this_version_does_not_know_is_none(raw: str) -> None:
    assert OrderStatus.parse(raw) is None


def test_tiktoks_order_life_is_its_documented_status_order_cancelled_last() -> None:
    assert [status.value for status in ORDER_LIFE] == TIKTOK_STATUSES  # tiktok-api.md §8, in that order


T = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "at", "than_status", "than_at", "older"),
    [
        ("AWAITING_SHIPMENT", T, "IN_TRANSIT", T, True),  # one second, the earlier stage: the version before
        ("UNPAID", T, "CANCELLED", T, True),  # CANCELLED is terminal
        ("IN_TRANSIT", T, "AWAITING_SHIPMENT", T, False),  # the later stage of the second replaces
        ("IN_TRANSIT", T, "IN_TRANSIT", T, False),  # a re-read of the same stage replaces, as before
        ("SOMETHING_NEW", T, "IN_TRANSIT", T, False),  # a status this version does not know is not ranked
        ("AWAITING_SHIPMENT", T + timedelta(seconds=1), "IN_TRANSIT", T, False),  # a later second always wins
        ("CANCELLED", T - timedelta(seconds=1), "UNPAID", T, True),  # an earlier second never does
    ],
)
def test_an_order_version_is_older_by_its_update_time_then_by_its_stage_in_tiktoks_order_life(
    status: str, at: datetime, than_status: str, than_at: datetime, older: bool
) -> None:
    assert older_order_version(status, at, than_status, than_at) is older


def test_money_reads_as_amount_and_currency() -> None:
    assert str(Money(Decimal("12.30"), "USD")) == "12.30 USD"


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [("0", "USD", "USD"), ("0.01", " usd ", "USD"), ("5000.10", "idr", "IDR"), ("1E+3", "GBP", "GBP")],
)
def test_a_valid_amount_keeps_its_currency_in_upper_case(amount: str, currency: str, code: str) -> None:
    assert Money.checked_currency(Decimal(amount), currency, "sale_price") == code


@pytest.mark.parametrize(
    ("amount", "currency", "reason"),
    [
        ("1", None, "sale_price has no currency"),
        ("1", "", "sale_price has no currency"),
        ("1", "  ", "sale_price has no currency"),
        ("-0.01", "USD", "sale_price is not a valid amount: -0.01"),
        ("NaN", "USD", "sale_price is not a valid amount: NaN"),
        ("Infinity", "USD", "sale_price is not a valid amount: Infinity"),
        ("-Infinity", "USD", "sale_price is not a valid amount: -Infinity"),
    ],
)
def test_a_bad_amount_or_currency_is_refused_with_its_reason(amount: str, currency: str | None, reason: str) -> None:
    with pytest.raises(InvalidRecord) as refused:
        Money.checked_currency(Decimal(amount), currency, "sale_price")
    assert str(refused.value) == reason


@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "12.50", "1E+3", "1E-7", "0E-10", "1" * 40, "0." + "0" * 37 + "1", "1E+39", "123456789012345678.9"],
)
def test_an_amount_whose_plain_text_fits_is_kept(amount: str) -> None:
    assert len(plain_text(Decimal(amount))) <= MAX_AMOUNT_CHARS
    assert Money.checked_amount(Decimal(amount), "sale_price") == Decimal(amount)


@pytest.mark.parametrize("amount", ["1" * 41, "0." + "0" * 38 + "1", "1E+40", "1E-39", "1E+1000000", "1E-1000000"])
def test_an_amount_whose_plain_text_is_too_long_is_refused(amount: str) -> None:
    with pytest.raises(InvalidRecord, match=f"is longer than {MAX_AMOUNT_CHARS} characters"):
        Money.checked_amount(Decimal(amount), "sale_price")


class _CountedDigits(Decimal):
    """A Decimal that counts how often its digit tuple is built (`as_tuple()`)."""

    built = 0

    def as_tuple(self) -> DecimalTuple:
        _CountedDigits.built += 1
        return super().as_tuple()


def test_a_plain_amount_is_checked_without_building_its_digit_tuple() -> None:
    """Every amount of every imported record is checked (an order's total, each line's price): `as_tuple()` builds a
    tuple of every digit, ~20 times the cost of `str()`, and was 3-4 % of an orders import's main thread
    (bench/README.md). Only an amount `str()` spells with an exponent needs it."""
    _CountedDigits.built = 0
    for amount in ("12.50", "0.000001", "1000", "-0.00"):
        Money.checked_amount(_CountedDigits(amount), "sale_price")
    assert _CountedDigits.built == 0
    Money.checked_amount(_CountedDigits("1E+3"), "sale_price")  # spelled with an exponent: its digits tell
    assert _CountedDigits.built == 1


def test_a_skus_quantity_is_its_warehouses_stock() -> None:
    sku = Sku("s1", None, Money(Decimal("1"), "USD"), (WarehouseStock("w1", 3), WarehouseStock("w2", 4)))
    assert (sku.quantity, sku.bundle) == (7, False)
    assert Sku("s2", None, Money(Decimal("1"), "USD"), ()).quantity == 0


@pytest.mark.parametrize("count", [1, 2, 100])
def test_units_and_component_counts_of_at_least_one_are_kept(count: int) -> None:
    assert (LineItem.units(count), BundleComponent.checked_count(count)) == (count, count)


@pytest.mark.parametrize("count", [0, -1])
def test_units_and_component_counts_below_one_are_refused_with_their_value(count: int) -> None:
    with pytest.raises(InvalidRecord) as refused:
        LineItem.units(count)
    assert str(refused.value) == f"quantity {count} is not positive"
    with pytest.raises(InvalidRecord) as refused:
        BundleComponent.checked_count(count)
    assert str(refused.value) == f"sku_count {count} is not positive"
