"""Opaque keyset cursors: urlsafe base64 of the list's kind and a row's sort key (its time and id).

The kind ties a cursor to its list: a `shops` cursor given to `orders` is refused (InvalidCursorError), never read as
a position in another table. A cursor of a release before the kind (two elements) is refused the same way."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Literal

CursorKind = Literal[
    "shops", "products", "orders", "sync_tasks", "webhook_events", "inventory_items", "unlinked_skus", "movements"
]
"""The list a cursor belongs to (the table it pages through, or the list's name where a table has two lists)."""

_ROW_ID = re.compile(r"[0-9a-f]{32}")  # every row id (adapters/db/tables.py ID)


class InvalidCursorError(ValueError):
    """The `after` cursor was not made by Shopbridge (or was tampered with)."""


def encode_cursor(kind: CursorKind, at: datetime, row_id: str) -> str:
    payload = json.dumps([kind, at.isoformat(), row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, kind: CursorKind) -> tuple[datetime, str]:
    """The (time, row id) of a cursor of the list `kind`; InvalidCursorError for anything else, another list's
    cursor included."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_kind, at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        when = datetime.fromisoformat(at)
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidCursorError("Invalid cursor.") from None
    if cursor_kind != kind:
        raise InvalidCursorError("Invalid cursor.")
    if when.tzinfo is None or not isinstance(row_id, str) or not _ROW_ID.fullmatch(row_id):
        raise InvalidCursorError("Invalid cursor.")
    try:  # a time the database cannot bind (e.g. year 9999 at -12:00 is year 10000 in UTC) is no cursor of ours
        when.astimezone(UTC)
    except OverflowError:
        raise InvalidCursorError("Invalid cursor.") from None
    return when, row_id
