"""Input normalization at the GraphQL edge: bounded strings, and datetimes made timezone-aware and range-checked.

Every `DateTime` argument passes through `DATETIME_SCALAR` (installed as a scalar override in gql/schema.py), so no
resolver ever sees a time that the database or Python's datetime arithmetic cannot hold: outside
[`MIN_DATETIME`, `MAX_DATETIME`] it is refused with `BAD_USER_INPUT` before any resolver runs.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from dateutil.parser import isoparser  # type: ignore[import-untyped]  # (no stubs; Strawberry's DateTime parser)
from graphql import GraphQLError, StringValueNode, ValueNode, print_ast
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
    saying the limit and the length, in one sentence as the domain's refusals: the domain's `rule` for the field when
    given (its own limit, lower: "A reason has at most 500 characters (this one has 5000)."), else `limit` ("state has
    at most 512 characters (this one has 600).")."""
    if value is not None and len(value) > limit:
        message = f"{rule or f'{field} has at most {limit} characters'} (this one has {len(value)})."
        raise ValidationError(ErrorCode.INVALID_INPUT, message, (field,))
    return value


def aware(value: datetime | None) -> datetime | None:
    """A DateTime without an offset is read as UTC (the schema's documented convention)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


# What a DateTime input may be, the second half of every refusal's message. Short enough that a refusal inside an
# input object (graphql-core's "Variable '$i' has invalid value at .ordersCreatedSince: " before it) fits whole in
# `gql.errors.MAX_MESSAGE_CHARS` (300): at 313 characters it was cut mid-sentence, "a date n…[cut]" (newcomer57 F1).
# A date alone's refusal says itself that it lacks a time.
ACCEPTED = (
    f"accepted: an ISO 8601 date and time from {MIN_DATETIME.date().isoformat()} to "
    f"{MAX_DATETIME.date().isoformat()} UTC, such as 2026-01-31T12:00:00Z (no offset is UTC)."
)


def _date_alone(raw: str) -> date | None:
    """The day `raw` names when it is an ISO 8601 date without a time ("2026-12-01", "20261201", "2026-12",
    "2026-W49-2"), which Strawberry's parser (dateutil's `isoparse`) reads as that day's midnight, then UTC's."""
    try:
        day: date = isoparser().parse_isodate(raw)  # the date part of `isoparse`; refuses anything after it
    except ValueError:
        return None
    return day


def checked_datetime(value: datetime, shown: str | None = None) -> datetime:
    """The time in UTC (no offset means UTC); OutOfRangeError outside [MIN_DATETIME, MAX_DATETIME], its message
    quoting `shown` (the input as sent) or the value."""
    try:
        utc = (aware(value) or value).astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not MIN_DATETIME <= utc <= MAX_DATETIME:
        raise OutOfRangeError(f'DateTime "{shown or value.isoformat()}" is out of range; {ACCEPTED}')
    return utc


def _parse_datetime(raw: object) -> datetime:
    """A variable's (or a string literal's) DateTime: refused with "not a string" / "not an ISO 8601 date and
    time" / "a date without a time" (graphql-core's coercion error: BAD_USER_INPUT in a variable,
    GRAPHQL_VALIDATION_FAILED in a literal), or OutOfRangeError (BAD_USER_INPUT); each message says what is
    accepted, not the date parser's own words.

    A date alone is refused rather than read as midnight UTC: a day has no instant until a time zone is chosen, and
    the merchant's day is not UTC's (a client meaning a day sends its start, such as 2026-12-01T00:00:00-08:00)."""
    if not isinstance(raw, str):
        raise GraphQLError(f"DateTime {json.dumps(raw, default=str)} is not a string; {ACCEPTED}")
    day = _date_alone(raw)
    if day is not None:
        raise GraphQLError(
            f'DateTime "{raw}" is a date without a time (its start in UTC is {day.isoformat()}T00:00:00Z); {ACCEPTED}'
        )
    try:
        parsed = DateTimeDefinition.parse_value(raw)  # type: ignore[misc]
    except GraphQLError:  # Strawberry's coercion error, in dateutil's words ("Expected 3 digits, got '0-0'")
        raise GraphQLError(f'DateTime "{raw}" is not an ISO 8601 date and time; {ACCEPTED}') from None
    assert isinstance(parsed, datetime)
    return checked_datetime(parsed, raw)


def _parse_datetime_literal(node: ValueNode, _variables: object = None) -> datetime:
    """A DateTime written in the document: as `_parse_datetime`, the refusal located at the literal (graphql-core
    reports a scalar's own GraphQLError as it is raised: without the node, the error had no `locations`)."""
    if not isinstance(node, StringValueNode):
        raise GraphQLError(f"DateTime {print_ast(node)} is not a string; {ACCEPTED}", node)
    try:
        return _parse_datetime(node.value)
    except GraphQLError as refused:
        raise GraphQLError(refused.message, node, extensions=refused.extensions) from None


DATETIME_SCALAR = ScalarDefinition(
    name="DateTime",
    description="Date with time (ISO 8601). Input without an offset is UTC; a date without a time is refused; "
    "accepted from 1970-01-01 to 9999-01-01 UTC.",
    specified_by_url=None,
    serialize=DateTimeDefinition.serialize,
    parse_value=_parse_datetime,
    parse_literal=_parse_datetime_literal,
    origin=datetime,
)
