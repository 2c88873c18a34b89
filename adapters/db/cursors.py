"""Opaque keyset cursors: urlsafe base64 of a row's sort key (its time and id)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime

_ROW_ID = re.compile(r"[0-9a-f]{32}")  # every row id (adapters/db/tables.py ID)


class InvalidCursorError(ValueError):
    """The `after` cursor was not made by Shopbridge (or was tampered with)."""


def encode_cursor(at: datetime, row_id: str) -> str:
    payload = json.dumps([at.isoformat(), row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        when = datetime.fromisoformat(at)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidCursorError("Invalid cursor.") from None
    if when.tzinfo is None or not isinstance(row_id, str) or not _ROW_ID.fullmatch(row_id):
        raise InvalidCursorError("Invalid cursor.")
    try:  # a time the database cannot bind (e.g. year 9999 at -12:00 is year 10000 in UTC) is no cursor of ours
        when.astimezone(UTC)
    except OverflowError:
        raise InvalidCursorError("Invalid cursor.") from None
    return when, row_id
