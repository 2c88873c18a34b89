"""The domain's error types (the code, message and field a client reads), the form of INVALID_INPUT's messages, and
its clock (aware UTC)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from domain.clock import SystemClock, utc
from domain.errors import DomainError, ErrorCode, NotFoundError, ValidationError
from domain.inventory.items import InventoryItem, adjust, checked_sku, checked_units, set_on_hand
from domain.sync import SyncKind, parse_kinds
from gql.inputs import bounded


def test_a_refusal_carries_its_code_message_and_field() -> None:
    error = ValidationError(ErrorCode.INVALID_NAME, "The name must not be empty.", ("input", "name"))
    assert isinstance(error, DomainError)
    assert (error.code, error.message, error.field) == (
        ErrorCode.INVALID_NAME,
        "The name must not be empty.",
        ("input", "name"),
    )
    assert str(error) == "The name must not be empty."
    assert repr(error) == "ValidationError(INVALID_NAME, 'The name must not be empty.')"
    assert DomainError(ErrorCode.INVALID_STATE, "no").field is None


def test_not_found_names_the_missing_thing_and_nothing_else() -> None:
    error = NotFoundError("Shop", ("shopId",))
    assert (error.code, error.message, error.field, str(error)) == (
        ErrorCode.NOT_FOUND,
        "Shop not found.",
        ("shopId",),
        "Shop not found.",
    )
    assert repr(error) == "NotFoundError(NOT_FOUND, 'Shop not found.')"
    assert NotFoundError("SyncTask").field is None


def test_the_system_clock_tells_aware_utc_now() -> None:
    before = time.time()
    now = SystemClock().now()
    after = time.time()
    assert now.tzinfo is UTC
    assert before - 1 <= now.timestamp() <= after + 1


def test_unix_seconds_become_aware_utc() -> None:
    assert utc(1_700_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert utc(1_700_000_000.5) == datetime(2023, 11, 14, 22, 13, 20, 500_000, tzinfo=UTC)
    assert utc(0).tzinfo is UTC


def test_every_invalid_input_refusal_is_one_sentence_saying_what_is_accepted_and_what_was_given() -> None:
    """INVALID_INPUT's messages read as every other userError's ("The shop name must not be empty."): one sentence,
    opening with a capital or with the field as the API spells it ("delta", "onHand"), closed by a period, saying
    what is accepted and what this input was. They were fragments ("delta must not be 0", "a SKU has 1 to 255
    characters") beside sentences ("Give at least one kind to sync."), and a console showing them got both forms."""
    item = InventoryItem(
        id="i1", merchant_id="m1", sku="A", on_hand=10, reserved=0, safety_stock=0, version=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC), updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    refusals = [
        (lambda: checked_sku(" "), "(this one is empty)"),
        (lambda: checked_sku("x" * 256), "(this one has 256)"),
        (lambda: checked_sku("A\u200bB"), "(found U+200B ZERO WIDTH SPACE)"),
        (lambda: checked_sku("A\tB"), "(found U+0009)"),
        (lambda: set_on_hand(item, -1, None), "(this one is -1)"),
        (lambda: set_on_hand(item, 1, 2_000_000_000), "(this one is 2000000000)"),
        (lambda: checked_units(-5, "safetyStock"), "(this one is -5)"),
        (lambda: adjust(item, 0, "count"), "above 0"),
        (lambda: adjust(item, 3_000_000_000, "count"), "(this one is 3000000000)"),
        (lambda: adjust(item, 1, " "), "(this one looks empty)"),
        (lambda: adjust(item, 1, "r" * 501), "(this one has 501)"),
        (lambda: adjust(item, 1, "a\x1bb"), "(found U+001B)"),
        (lambda: adjust(item, -11, "count"), "cannot drop by 11 (at most 10)"),
        (lambda: parse_kinds([]), "(this one is empty)"),
        (lambda: parse_kinds([SyncKind.ORDERS, SyncKind.ORDERS]), "(this one names ORDERS twice or more)"),
        (lambda: bounded("s" * 600, 512, "state"), "state has at most 512 characters (this one has 600)"),
    ]
    for refuse, given in refusals:
        with pytest.raises(ValidationError) as refused:
            refuse()
        message = refused.value.message
        assert refused.value.code is ErrorCode.INVALID_INPUT, message
        field = refused.value.field[-1] if refused.value.field else ""
        assert message[0].isupper() or message.startswith(field), message
        assert message.endswith(".") and not message.endswith(".."), message
        assert given in message, message
