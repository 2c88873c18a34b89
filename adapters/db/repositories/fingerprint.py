"""The fingerprint of a record as stored: a digest of its rows, so that "unchanged" means exactly "same rows".

A digest of what is stored rather than `Product.fingerprint()`: that one goes through `dataclasses.asdict`, whose
deep copies cost more than all the SQL of a page; the rows are built anyway. It runs for every record of an
import, so it hashes a cheap text of the values rather than repr() of nested tuples (twice the cost).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

# What separates values in a fingerprint's text, and how it spells None when a value is the text "None": control
# characters no TikTok text contains. Should a value contain one anyway, the text would be ambiguous, and the
# fingerprint takes the slower exact path instead.
_SEPARATOR = "\x1f"
_NONE = "\x00"


def rows_fingerprint(parent: dict[str, Any], children: dict[str, list[dict[str, Any]]]) -> str:
    """A digest of the record's rows: equal digests mean equal rows.

    The text digested is the number of rows of each child table, then every value as text joined by a separator:
    every row of a table has the same columns in the same order, so the flat list of values and those counts say
    exactly which value sits in which row and column. str() is exact for str, int and Decimal; an aware datetime
    is spelled as its POSIX timestamp (exact to the microsecond, the precision stored, five times cheaper than str()).
    """
    texts = [_timestamp(value) if value.__class__ is datetime else str(value) for value in parent.values()]
    shape = []
    for rows in children.values():
        shape.append(len(rows))
        for row in rows:
            texts.extend(map(str, row.values()))
    text = _SEPARATOR.join(texts)
    if "None" in texts or text.count(_SEPARATOR) != len(texts) - 1 or _NONE in text:
        text = _unambiguous_text(parent, children)  # a None, or a value that could be mistaken for one
    return hashlib.blake2b(f"{shape}{_SEPARATOR}{text}".encode(), digest_size=16).hexdigest()


def _unambiguous_text(parent: dict[str, Any], children: dict[str, list[dict[str, Any]]]) -> str:
    """The text of `rows_fingerprint` with None spelled apart from the text "None"; repr() if a value contains a
    separator or the None marker (exact too, only slower)."""
    values = [*parent.values(), *(value for rows in children.values() for row in rows for value in row.values())]
    text = _SEPARATOR.join(
        _NONE if value is None else _timestamp(value) if value.__class__ is datetime else str(value) for value in values
    )
    if text.count(_SEPARATOR) != len(values) - 1 or text.count(_NONE) != values.count(None):
        return repr(
            (tuple(parent.values()), tuple(tuple(tuple(row.values()) for row in rows) for rows in children.values()))
        )
    return text


def _timestamp(value: datetime) -> str:
    return repr(value.timestamp())
