"""The domain's error types (the code, message and field a client reads) and its clock (aware UTC)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from domain.clock import SystemClock, utc
from domain.errors import DomainError, ErrorCode, NotFoundError, ValidationError


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
        "Shop not found",
        ("shopId",),
        "Shop not found",
    )
    assert repr(error) == "NotFoundError(NOT_FOUND, 'Shop not found')"
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
