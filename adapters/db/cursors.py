"""Opaque keyset cursors: urlsafe base64 of a row's sort key (its time and id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime


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
    if when.tzinfo is None or not isinstance(row_id, str):
        raise InvalidCursorError("Invalid cursor.")
    return when, row_id
