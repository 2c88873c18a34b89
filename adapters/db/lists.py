"""`among(column, values, dialect)`: `column IN (values)` with the whole list bound as ONE parameter.

SQLAlchemy's `in_([...])` binds one parameter per value: it coerces every value when the statement is built and
expands the list at each execution (a bind processor per value). For the import's lists of thousands of ids that
cost more CPU than the queries themselves (a profile of a products import: ~20 % of the worker's main thread).
Here the list travels as one value, and the statement's text no longer depends on the list's length (compiled
once, cached): PostgreSQL `column = ANY(:ids)` (a text array), SQLite `column IN (SELECT value FROM
json_each(:ids))` (a JSON array; SQLite's JSON functions are built in since 3.38). Same result as `in_` for
text values; an empty list matches nothing. A statement built once and run many times names the list instead
(`among_param`) and takes its value as `listed(values, dialect)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import TypeEngine


def among(column: ColumnElement[Any], values: Iterable[str], dialect: str) -> ColumnElement[bool]:
    """`column IN values`, the values (text) bound as one parameter; `dialect` is the engine's dialect name."""
    return _among(column, bindparam(None, listed(values, dialect), type_=_LIST_TYPE[dialect == "postgresql"]), dialect)


def among_param(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`among` with the values bound at execution as parameter `name`, whose value is `listed(values, dialect)`."""
    return _among(column, bindparam(name, type_=_LIST_TYPE[dialect == "postgresql"]), dialect)


def listed(values: Iterable[str], dialect: str) -> Any:
    """The value of an `among_param` parameter: a list (PostgreSQL's text array) or its JSON text (SQLite)."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))


_LIST_TYPE: dict[bool, TypeEngine[Any]] = {True: ARRAY(String()), False: String()}


def _among(column: ColumnElement[Any], values: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column == any_(values)
    return column.in_(select(func.json_each(values).table_valued("value").c.value))


def dialect_of(session: Any) -> str:
    """The dialect name of a session's (or connection's) bind; SQLite when unbound."""
    bind = getattr(session, "bind", None)
    return bind.dialect.name if bind is not None else "sqlite"
