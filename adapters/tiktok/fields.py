"""Typed reads of TikTok JSON fields; each raises `BadRecord` naming the field, as the reason reaches the Task Center.

Lenient where TikTok's documents and practice differ (an id as a JSON number, a time as a digit string), strict
where a wrong value would corrupt data (a float id, a non-finite or negative amount, a missing currency).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.catalog import Money


class BadRecord(ValueError):
    """Raised inside a record's mapping; turned into a `RecordFailure` (or `UnexpectedResponseError`) at its edge."""


def obj(value: Any, what: str) -> Mapping[str, Any]:
    """`value` as a JSON object."""
    if not isinstance(value, Mapping):
        raise BadRecord(f"{what} is not an object")
    return value


def items(record: Mapping[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRecord(f"{key} is not a list")
    return value


def identifier(record: Mapping[str, Any], key: str = "id") -> str:
    """A TikTok id, always a string: ids exceed 2^53."""
    value = record.get(key)
    # A JSON number id is accepted as its exact digits (our JSON parser keeps big ints exact); never a float.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise BadRecord(f"missing {key}")


def optional_text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BadRecord(f"{key} is not a string")
    return value


def text(record: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = optional_text(record, key)
    if value is None:
        if default is None:
            raise BadRecord(f"missing {key}")
        return default
    return value


def integer(record: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = record.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.isdigit():  # tolerate "1700000000": TikTok documents ints, proxies vary
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRecord(f"{key} is not an integer: {value!r}")
    return value


def timestamp(record: Mapping[str, Any], key: str, default: int | None = None) -> datetime:
    """Unix seconds as an aware UTC datetime."""
    seconds = integer(record, key, default)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadRecord(f"{key} is not a Unix time: {seconds!r}") from exc


def amount(value: Any, what: str) -> Decimal:
    """A finite, non-negative decimal from a string (TikTok's form), an int, or a Decimal our JSON parser made."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise BadRecord(f"{what} is not a decimal: {value!r}")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise BadRecord(f"{what} is not a decimal: {value!r}") from exc
    if not amount.is_finite() or amount < 0:
        raise BadRecord(f"{what} is not a valid amount: {value!r}")
    return amount


def money(value_of_amount: Any, currency: Any, what: str) -> Money:
    if not isinstance(currency, str) or not currency.strip():
        raise BadRecord(f"{what} has no currency")
    return Money(amount(value_of_amount, what), currency.strip().upper())
