"""Time, as the domain sees it: timezone-aware UTC datetimes, and a clock that tests can set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def utc(ts: int | float) -> datetime:
    """An aware UTC datetime from Unix seconds."""
    return datetime.fromtimestamp(ts, UTC)
