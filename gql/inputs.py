"""Input normalization at the GraphQL edge: bounded strings, and datetimes made timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.errors import ErrorCode, ValidationError


def bounded(value: str | None, limit: int, field: str) -> str | None:
    """The value, or INVALID_INPUT when it is longer than anything legitimate."""
    if value is not None and len(value) > limit:
        raise ValidationError(ErrorCode.INVALID_INPUT, f"{field} is too long.", (field,))
    return value


def aware(value: datetime | None) -> datetime | None:
    """A DateTime without an offset is read as UTC (the schema's documented convention)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
