"""A time as the bulk writes store it on SQLite (`adapters.db.repositories.bulk.sqlite_time`): SQLAlchemy's text.

Rows written by the bulk path and rows written through SQLAlchemy sit side by side and are compared and paged as
text, so the bulk path must spell a time exactly as SQLAlchemy's SQLite DATETIME does (naive UTC, microseconds
always written).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import DATETIME

from adapters.db.repositories.bulk import sqlite_time

_SQLALCHEMY = DATETIME().bind_processor(sqlite.dialect())


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC),  # an imported time: whole seconds
        datetime(2026, 11, 30, 23, 59, 59, 250_000, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # one microsecond digit
        datetime(999, 12, 31, 0, 0, tzinfo=UTC),  # a year of three digits, zero-padded
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(
            2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=5))
        ),  # another offset: the UTC time, the day before
    ],
)
def test_a_time_is_spelled_as_sqlalchemy_stores_it(moment: datetime) -> None:
    assert sqlite_time(moment) == _SQLALCHEMY(moment.astimezone(UTC).replace(tzinfo=None))


def test_the_same_day_twice_and_none_and_a_naive_time() -> None:
    first, second = datetime(2026, 5, 1, 8, tzinfo=UTC), datetime(2026, 5, 1, 9, 30, 15, tzinfo=UTC)
    assert (sqlite_time(first), sqlite_time(second)) == ("2026-05-01 08:00:00.000000", "2026-05-01 09:30:15.000000")
    assert sqlite_time(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_time(datetime(2026, 5, 1))
