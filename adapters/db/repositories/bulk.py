"""Bulk upserts of catalog rows, each database's fastest way, with none of SQLAlchemy's per-value processing.

Rows come as records: tuples in the table's column order (`columns`), which the callers build directly
(`upsert_records`).

PostgreSQL: the rows travel in asyncpg's binary `COPY` (`copy_records_to_table`) into a
session-local temporary table shaped like the target (created once per connection, emptied at each commit); one
statement then moves them into the target: `WITH moved AS (DELETE FROM the temp table RETURNING ...) INSERT INTO
target SELECT ... FROM moved ON CONFLICT (key) DO UPDATE`. SQLite: one driver-level
executemany of `INSERT ... ON CONFLICT DO UPDATE`, values already in the form the column types store (times as
naive UTC text, amounts as decimal text). Both run on the connection and in the transaction of the unit of work's
session, so they commit or roll back with it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.sessions import run_to_completion
from adapters.db.tables import (
    DecimalText,
    UTCDateTime,
    inventory_movements,
    line_items,
    order_line_stock,
    orders,
    products,
    skus,
    warehouse_stocks,
)
from domain.catalog import ORDER_LIFE

Record = tuple[Any, ...]  # a row's values in its table's column order (`columns`)

# The key each table is upserted on (a unique constraint or the primary key). New rows are the common case and cost
# the same as a plain INSERT; the conflict branch covers changed rows and a concurrent writer of the same page.
CONFLICT_KEYS: dict[str, tuple[Table, list[str]]] = {
    "products": (products, ["shop_id", "tiktok_product_id"]),
    "skus": (skus, ["id"]),
    "warehouse_stocks": (warehouse_stocks, ["sku_id", "warehouse_id"]),
    "orders": (orders, ["shop_id", "tiktok_order_id"]),
    "line_items": (line_items, ["order_id", "id"]),
    # The inventory pool's ledger rows and movements, written per import batch (adapters/db/repositories/inventory).
    "order_line_stock": (order_line_stock, ["shop_id", "tiktok_order_id", "tiktok_line_item_id", "component_sku_id"]),
    "inventory_movements": (inventory_movements, ["id"]),
}


def temporary_table(like: str) -> str:
    """The name of the session-local temporary table `upsert_records` and `copy_and_move` load table `like`'s rows
    into (`shopbridge_load_<like>`)."""
    return f"shopbridge_load_{like}"


class _CopyPlan:
    """What `upsert_records` needs per table: the column order, the columns kept as decimal text, the SQL."""

    def __init__(self, table: Table, keys: list[str]) -> None:
        columns = [column.name for column in table.columns]
        self.columns = columns
        self.decimals = [i for i, column in enumerate(table.columns) if isinstance(column.type, DecimalText)]
        self.times = [i for i, column in enumerate(table.columns) if isinstance(column.type, UTCDateTime)]
        self.temp = temporary_table(table.name)
        listed = ", ".join(columns)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in {*keys, "id"})
        # Parents (they have `updated_at`): never replace a newer version with an older one; RETURNING tells the
        # caller which rows now hold its version, and which of them were inserted (see SqlCatalogRepository).
        parent = "updated_at" in table.c and "fingerprint" in table.c  # products, orders
        newer_only = f" WHERE {_not_older(table.name)}" if parent else ""
        returning = " RETURNING id, (xmax = 0) AS inserted" if newer_only else ""
        self.create = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.temp} (LIKE {table.name} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        # Names from our own table metadata; the values travel apart, by COPY.
        self.move = (
            f"WITH moved AS (DELETE FROM {self.temp} RETURNING {listed}) "  # noqa: S608
            f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM moved "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}{newer_only}{returning}"
        )
        self.insert = (
            f"INSERT INTO {table.name} ({listed}) VALUES ({', '.join('?' for _ in columns)}) "  # noqa: S608
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}{newer_only}"
        )

    def records(self, rows: Sequence[Record], *, times_as_text: bool) -> list[Record]:
        """Records (tuples in column order) as the driver takes them: amounts as their exact decimal text
        (`DecimalText`), and times as aware datetimes (COPY) or as SQLite stores them (`times_as_text`:
        `UTCDateTime`'s naive UTC, SQLAlchemy's text)."""
        convert: list[tuple[int, Callable[[Any], str]]] = [(i, str) for i in self.decimals]
        if times_as_text:
            convert += [(i, _sqlite_time) for i in self.times]
        if not convert:
            return list(rows)
        records = []
        # Rows of a batch share many values (the import's `now`, an order's time on each of its lines): a value
        # equal to the column's previous one reuses its text (a time's text is the costliest value to make).
        last: dict[int, tuple[Any, str]] = {}
        for row in rows:
            record = list(row)
            for index, to_text in convert:
                value = record[index]
                if value is not None:
                    previous = last.get(index)
                    if previous is not None and previous[0] is value:
                        record[index] = previous[1]
                    else:
                        record[index] = text = to_text(value)
                        last[index] = (value, text)
            records.append(tuple(record))
        return records


def _not_older(table_name: str) -> str:
    """The upsert's condition that the incoming row (EXCLUDED) is not an older version than the stored one: its
    `updated_at` is not earlier; for an order, also not the same with a status earlier in TikTok's order life
    (`domain.catalog.older_order_version`, the same rule in SQL: `ORDER_LIFE`'s stages as a CASE, a status it does
    not know never ranked). Both databases' statements (PostgreSQL's COPY move, SQLite's executemany) use it."""
    if table_name != orders.name:
        return f"{table_name}.updated_at <= EXCLUDED.updated_at"

    def stage(row: str) -> str:  # NULL for a status ORDER_LIFE does not hold
        whens = " ".join(f"WHEN '{status.value}' THEN {n}" for n, status in enumerate(ORDER_LIFE))
        return f"CASE {row}.status {whens} END"

    earlier = f"COALESCE({stage('EXCLUDED')} < {stage(table_name)}, FALSE)"  # unknown: not earlier
    return (
        f"({table_name}.updated_at < EXCLUDED.updated_at "
        f"OR ({table_name}.updated_at = EXCLUDED.updated_at AND NOT {earlier}))"
    )


def _sqlite_time(value: datetime) -> str:
    """A time as `UTCDateTime` and SQLAlchemy's SQLite DATETIME store it: naive UTC, microseconds always written
    (SQLAlchemy's "%04d-%02d-%02d %02d:%02d:%02d.%06d"). Run for every time of every imported row: the day's text
    is made once per day (`_DAYS`) and the clock's two-digit fields are looked up: a third of the cost of
    `isoformat(" ", "microseconds")` (whose C formatting goes through `PyUnicode_FromFormat` and the offset)."""
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Shopbridge stores aware UTC datetimes only")
        value = value.astimezone(UTC)
    ordinal = value.toordinal()
    day = _DAYS.get(ordinal)
    if day is None:
        if len(_DAYS) >= _DAYS_KEPT:
            _DAYS.clear()
        day = _DAYS[ordinal] = f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
    micro = value.microsecond
    clock = f"{_TWO_DIGITS[value.hour]}:{_TWO_DIGITS[value.minute]}:{_TWO_DIGITS[value.second]}"
    return f"{day}{clock}.{micro:06d}" if micro else f"{day}{clock}.000000"


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))
_DAYS: dict[int, str] = {}  # date ordinal -> "YYYY-MM-DD ": imports span a few years of days at most
_DAYS_KEPT = 100_000


_PLANS = {name: _CopyPlan(table, keys) for name, (table, keys) in CONFLICT_KEYS.items()}


def columns(table_name: str) -> tuple[str, ...]:
    """The column order of `table_name`'s records (every column of the table, in its declared order)."""
    return tuple(_PLANS[table_name].columns)


async def upsert_records(
    session: AsyncSession, table_name: str, records: Sequence[Record], *, driver_form: bool = False
) -> list[tuple[str, bool]]:
    """Upsert `records` (tuples in `columns(table_name)` order; aware UTC datetimes, Decimal amounts) into
    `table_name` by the session's database's fastest path: COPY on PostgreSQL, one executemany on SQLite.
    `driver_form`: the records are already as the driver takes them (`_CopyPlan.records`: amounts as text, and on
    SQLite times as `sqlite_time`), built so by a caller that makes its rows in one pass (the catalog).

    Records must not repeat a key (ON CONFLICT cannot update one row twice in a statement). On PostgreSQL the
    caller's transaction must have begun (a statement already ran in it): the temp table and the COPY then belong
    to it; returns, for a parent table, the (id, inserted) of every row that now holds the given version. Else, and
    on SQLite, nothing. Driver-level calls bypass UninterruptedSession: each runs to its end before a cancellation
    lands.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return await run_to_completion(_copy_upsert(session, table_name, records, driver_form))
    plan = _PLANS[table_name]
    connection = await session.connection()
    rows = list(records) if driver_form else plan.records(records, times_as_text=True)
    await run_to_completion(connection.exec_driver_sql(plan.insert, rows))
    return []


async def _copy_upsert(
    session: AsyncSession, table_name: str, rows: Sequence[Record], driver_form: bool
) -> list[tuple[str, bool]]:
    plan = _PLANS[table_name]
    records = rows if driver_form else plan.records(rows, times_as_text=False)
    driver = await _copied(session, plan.create, plan.temp, plan.columns, records)
    if "RETURNING" in plan.move:
        return [(row["id"], row["inserted"]) for row in await driver.fetch(plan.move)]
    await driver.execute(plan.move)
    return []


async def _copied(
    session: AsyncSession, create: str, temp: str, columns: Sequence[str], records: Sequence[Record]
) -> Any:
    """PostgreSQL: `records` (tuples of `columns`) by asyncpg's binary COPY into the session-local temporary table
    `temp` (`create`: CREATE TEMPORARY TABLE IF NOT EXISTS ... ON COMMIT DELETE ROWS, a no-op after the connection's
    first batch), in the session's transaction; returns the asyncpg connection, for the statement that moves them.
    RuntimeError if no statement has run in that transaction yet (its BEGIN not sent: the rows would be lost)."""
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        # SQLAlchemy sends BEGIN with the transaction's first statement, not at `session.begin()`: straight on the
        # driver, the COPY would commit alone and ON COMMIT DELETE ROWS empty the table before the move (rev73b F1)
        raise RuntimeError(
            "a COPY through the driver needs the session's transaction begun by a statement run in it first"
        )
    await driver.execute(create)
    await driver.copy_records_to_table(temp, records=records, columns=columns)
    return driver


async def copy_and_move(
    session: AsyncSession,
    like: str,
    columns: Sequence[str],
    records: Sequence[Record],
    move: str,
    *,
    returning: bool = False,
) -> list[Record]:
    """PostgreSQL: `records` (tuples of `columns`, as asyncpg takes them) by COPY into the session-local temporary
    table `temporary_table(like)`, shaped like table `like`, then `move` (one statement that takes them out of it:
    `WITH moved AS (DELETE FROM ... RETURNING ...) INSERT ... ON CONFLICT ...`), as `upsert_records` does for the
    catalog's tables but with the caller's own statement (a rule of its own on conflict). `returning`: the move ends
    with a RETURNING clause of its own, whose rows are returned as tuples (else []). The caller's transaction must
    have begun; runs to its end before a cancellation lands."""
    create = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {temporary_table(like)} (LIKE {like} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )

    async def copy_then_move() -> list[Record]:
        driver = await _copied(session, create, temporary_table(like), columns, records)
        if returning:
            return [tuple(row) for row in await driver.fetch(move)]
        await driver.execute(move)
        return []

    return await run_to_completion(copy_then_move())


async def insert_records(
    session: AsyncSession, table_name: str, records: Sequence[Record], *, driver_form: bool = False
) -> None:
    """Insert `records` (as `upsert_records` takes them, `driver_form` too) whose keys no row of `table_name` holds,
    nor can until the caller's transaction ends: on PostgreSQL one COPY straight into the table (no temporary table,
    no ON CONFLICT; a key there after all fails it), on SQLite `upsert_records`' statement. The same precondition as
    there: the caller's transaction has begun."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await run_to_completion(_copy_insert(session, table_name, records, driver_form))
    else:
        await upsert_records(session, table_name, records, driver_form=driver_form)


async def _copy_insert(session: AsyncSession, table_name: str, rows: Sequence[Record], driver_form: bool) -> None:
    plan = _PLANS[table_name]
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    records = rows if driver_form else plan.records(rows, times_as_text=False)
    await driver.copy_records_to_table(table_name, records=records, columns=plan.columns)


async def sqlite_executemany(session: AsyncSession, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """SQLite: one driver-level executemany of `sql` (`?` placeholders) in the session's transaction, values as
    SQLite stores them (`sqlite_time` for times): none of SQLAlchemy's per-value processing."""
    connection = await session.connection()
    await run_to_completion(connection.exec_driver_sql(sql, list(rows)))


def sqlite_time(value: datetime | None) -> str | None:
    """A time as `UTCDateTime` stores it on SQLite (None stays None)."""
    return None if value is None else _sqlite_time(value)


def sqlite_tuples(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], times: Collection[str]
) -> list[tuple[Any, ...]]:
    """Row dicts as tuples of `columns`, the `times` columns as SQLite's text (a time identical to the column's
    previous one reuses its text: rows of one change share their `now`)."""
    last: dict[str, tuple[Any, str | None]] = {}
    records = []
    for row in rows:
        record = []
        for column in columns:
            value = row[column]
            if column in times and value is not None:
                previous = last.get(column)
                if previous is None or previous[0] is not value:
                    previous = last[column] = (value, _sqlite_time(value))
                value = previous[1]
            record.append(value)
        records.append(tuple(record))
    return records
