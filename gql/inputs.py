"""Input normalization at the GraphQL edge: bounded strings, and datetimes made timezone-aware and range-checked.

Every `DateTime` argument passes through `DATETIME_SCALAR` (installed as a scalar override in gql/schema.py), so no
resolver ever sees a time that the database or Python's datetime arithmetic cannot hold: outside
[`MIN_DATETIME`, `MAX_DATETIME`] it is refused with `BAD_USER_INPUT` before any resolver runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from graphql import GraphQLError
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

from domain.errors import ErrorCode, ValidationError

MIN_DATETIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DATETIME = datetime(9999, 1, 1, tzinfo=UTC)


class OutOfRangeError(GraphQLError):
    """An input the database cannot hold; shown with `extensions.code = BAD_USER_INPUT`.

    A GraphQLError, so graphql-core reports it as the input's own error, in a literal as in a variable.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


def bounded(value: str | None, limit: int, field: str, rule: str | None = None) -> str | None:
    """The value, or INVALID_INPUT on `field` when it is longer than anything legitimate (`limit` characters),
    saying the limit: the domain's `rule` for the field when given (its own limit, lower: "a reason has at most 500
    characters"), else `limit`."""
    if value is not None and len(value) > limit:
        message = f"{rule} (this one has {len(value)})" if rule else f"{field} has at most {limit} characters"
        raise ValidationError(ErrorCode.INVALID_INPUT, message, (field,))
    return value


def aware(value: datetime | None) -> datetime | None:
    """A DateTime without an offset is read as UTC (the schema's documented convention)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def checked_datetime(value: datetime) -> datetime:
    """The time in UTC (no offset means UTC); OutOfRangeError outside [MIN_DATETIME, MAX_DATETIME]."""
    try:
        utc = (aware(value) or value).astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not MIN_DATETIME <= utc <= MAX_DATETIME:
        raise OutOfRangeError(f"DateTime must be between {MIN_DATETIME.isoformat()} and {MAX_DATETIME.isoformat()}.")
    return utc


def _parse_datetime(raw: object) -> datetime:
    parsed = DateTimeDefinition.parse_value(raw)  # type: ignore[misc]  # junk: Strawberry's coercion error
    assert isinstance(parsed, datetime)
    return checked_datetime(parsed)


DATETIME_SCALAR = ScalarDefinition(
    name="DateTime",
    description="Date with time (ISO 8601). Input without an offset is UTC; accepted from 1970-01-01 to "
    "9999-01-01 UTC.",
    specified_by_url=None,
    serialize=DateTimeDefinition.serialize,
    parse_value=_parse_datetime,
    parse_literal=None,
    origin=datetime,
)
