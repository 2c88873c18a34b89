"""`among(column, values, dialect)`: `column IN (values)` with the whole list bound as ONE parameter.

SQLAlchemy's `in_([...])` binds one parameter per value: it coerces every value when the statement is built and
expands the list at each execution (a bind processor per value). For the import's lists of thousands of ids that
cost more CPU than the queries themselves (a profile of a products import: ~20 % of the worker's main thread).
Here the list travels as one value, and the statement's text no longer depends on the list's length (compiled
once, cached): PostgreSQL `column = ANY(:ids)` (a text array), SQLite `column IN (SELECT value FROM
json_each(:ids))` (a JSON array; SQLite's JSON functions are built in since 3.38). Same result as `in_` for
text values; an empty list matches nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY


def among(column: ColumnElement[Any], values: Iterable[str], dialect: str) -> ColumnElement[bool]:
    """`column IN values`, the values (text) bound as one parameter; `dialect` is the engine's dialect name."""
    listed = list(values)
    if dialect == "postgresql":
        return column == any_(bindparam(None, listed, type_=ARRAY(String())))
    rows = func.json_each(bindparam(None, json.dumps(listed), type_=String())).table_valued("value")
    return column.in_(select(rows.c.value))


def dialect_of(session: Any) -> str:
    """The dialect name of a session's (or connection's) bind; SQLite when unbound."""
    bind = getattr(session, "bind", None)
    return bind.dialect.name if bind is not None else "sqlite"
