"""`among(column, values, dialect)`: `column IN (values)` with the whole list bound as ONE parameter.

SQLAlchemy's `in_([...])` binds one parameter per value: it coerces every value when the statement is built and
expands the list at each execution (a bind processor per value). For the import's lists of thousands of ids that
cost more CPU than the queries themselves (a profile of a products import: ~20 % of the worker's main thread).
Here the list travels as one value, and the statement's text no longer depends on the list's length (compiled
once, cached): PostgreSQL `column = ANY(:ids)` (a text array), SQLite `column IN (SELECT value FROM
json_each(:ids))` (a JSON array; SQLite's JSON functions are built in since 3.38). Same result as `in_` for
text values; an empty list matches nothing. A statement built once and run many times names the list instead
(`among_param`) and takes its value as `listed(values, dialect)`.

`among_rows(columns, rows, dialect)`: `(column, ...) IN ((value, ...), ...)` the same way, for keys of several text
columns: the rows bound as one array per column (PostgreSQL, joined by `unnest`) or as one JSON array of arrays
(SQLite), never one row-value tuple per key. A row-value IN list of literals makes PostgreSQL's parser recurse per
element: a list of ~8,000 three-column keys fails with "stack depth limit exceeded" (`max_stack_depth` 2 MB, the
default), long before asyncpg's 32,767 parameters, and a batch's ledger keys reach that (review69 P1).

`each_looked_up(query, key, values, name)` (PostgreSQL) reads the rows of a list of primary keys one key at a time,
a plan that does not depend on the table's statistics (below).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Join, Select, String, Text, any_, bindparam, func, select, true, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.selectable import LateralFromClause
from sqlalchemy.types import TypeEngine


def among(column: ColumnElement[Any], values: Iterable[str], dialect: str) -> ColumnElement[bool]:
    """`column IN values`, the values (text) bound as one parameter; `dialect` is the engine's dialect name."""
    return _among(column, bindparam(None, listed(values, dialect), type_=_LIST_TYPE[dialect == "postgresql"]), dialect)


def among_param(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`among` with the values bound at execution as parameter `name`, whose value is `listed(values, dialect)`."""
    return _among(column, bindparam(name, type_=_LIST_TYPE[dialect == "postgresql"]), dialect)


def among_rows(
    columns: Sequence[ColumnElement[Any]], rows: Iterable[Sequence[str]], dialect: str
) -> ColumnElement[bool]:
    """`(columns) IN rows`, each row a tuple of text values, one per column, the rows bound as a fixed number of
    parameters whatever their number: PostgreSQL `(c1, c2, ...) IN (SELECT * FROM unnest(:c1s, :c2s, ...))`, one text
    array per column; SQLite `(c1, c2, ...) IN (SELECT value ->> 0, value ->> 1, ... FROM json_each(:rows))`, one
    JSON array of arrays. The statement's text does not depend on the number of rows (compiled once, cached), and the
    list is read as a table: no parser depth, no parameter limit. Same result as `tuple_(*columns).in_(rows)` for
    text values; no rows match nothing. `dialect` is the engine's dialect name. Raises ValueError on a row whose
    length differs from `columns`'."""
    listed_rows = [tuple(row) for row in rows]
    width = len(columns)
    if any(len(row) != width for row in listed_rows):
        raise ValueError(f"among_rows: every row needs {width} values")
    names = [f"k{n}" for n in range(width)]
    if dialect == "postgresql":
        arrays = [bindparam(None, [row[n] for row in listed_rows], type_=_LIST_TYPE[True]) for n in range(width)]
        keys = func.unnest(*arrays).table_valued(*names).render_derived()
        return tuple_(*columns).in_(select(*keys.c))
    value = func.json_each(bindparam(None, json.dumps(listed_rows), type_=String())).table_valued("value").c.value
    return tuple_(*columns).in_(select(*(value.op("->>")(n) for n in range(width))))


def each_looked_up(
    query: Select[Any], key: ColumnElement[Any], values: Iterable[str], name: str
) -> tuple[Join, LateralFromClause]:
    """PostgreSQL: `query`'s rows whose `key` (a column that is a unique index on its own: a primary key) is one
    of `values` (text), looked up one value at a time: `unnest(:values) AS <name>_keys(key) JOIN LATERAL (query AND
    key = <name>_keys.key OFFSET 0) AS <name> ON true`. Returns (the join, to select from; the lateral subquery, whose
    columns are `query`'s). Rows come in no particular order, at most one per value.

    Why: `column = ANY(:values)` is planned by the table's statistics, and a table an import is growing has
    statistics older than its rows (autovacuum analyzes it a minute later at best): the planner took the shop's
    rows for a handful, scanned them all through an index of the shop, and filtered them by the list, in every
    batch (bench/README.md, "Benchmarks 1 and 2, stop 65"). Per value, a unique key's index is one probe of one row,
    whatever the statistics; the only other plan, a scan of the whole table, is costed by its real size (the
    planner reads the table's current pages), so it is taken only while the table is a few pages. The `OFFSET 0`
    keeps the subquery per value: without it PostgreSQL may flatten it into a join it plans by the statistics."""
    bound = bindparam(None, list(values), type_=_LIST_TYPE[True])
    keys = func.unnest(bound).table_valued("key").render_derived(name=f"{name}_keys")
    found = query.where(key == keys.c.key).offset(0).lateral(name)
    return keys.join(found, true()), found


def listed(values: Iterable[str], dialect: str) -> Any:
    """The value of an `among_param` parameter: a list (PostgreSQL's text array) or its JSON text (SQLite)."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))


# PostgreSQL's lists are text[], not varchar[] (what `ARRAY(String())` binds): asyncpg decodes text[] with a codec of
# its own (it needs it for its catalog queries), while it looks up any other array type in PostgreSQL's catalog on
# each new connection, a recursive query over pg_type of 30-70 ms of the server's time on a fresh database (the
# suite's: each PostgreSQL test makes new connections to a new copy). A varchar column compares with text as with
# varchar (varchar has no operators of its own: `=` is text's, its indexes text's), so the plans are the same.
_LIST_TYPE: dict[bool, TypeEngine[Any]] = {True: ARRAY(Text()), False: String()}


def _among(column: ColumnElement[Any], values: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column == any_(values)
    return column.in_(select(func.json_each(values).table_valued("value").c.value))


def dialect_of(session: Any) -> str:
    """The dialect name of a session's (or connection's) bind; SQLite when unbound."""
    bind = getattr(session, "bind", None)
    return bind.dialect.name if bind is not None else "sqlite"


def decimal_texts(numbers: Iterable[int]) -> list[str]:
    """Integers as their decimal text (`[3, -1]` -> `["3", "-1"]`), bound as a PostgreSQL text[] that the statement
    casts to integers (`CAST(CAST(:x AS TEXT[]) AS INTEGER[])`): asyncpg binds text[] with a codec of its own, but looks
    any other array type up in the server's catalogs once per new connection (repositories/inventory/writer.py's
    `_ADD_TO_COUNTERS_PG` says what that cost)."""
    return [str(number) for number in numbers]
