"""Cancelling a task in the middle of a database call never wedges the database (SQLite and PostgreSQL).

The shutdown bug behind a flaky test: cancelled mid-statement, SQLAlchemy's asyncio driver invalidated the
connection and queued its close behind a `BEGIN IMMEDIATE` waiting out SQLite's 30 s busy timeout on a lock
that another cancelled writer still held. `adapters.db.sessions.UninterruptedSession` finishes each call first.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.db import Database
from adapters.db.repositories.bulk import columns, upsert_records
from domain.shops import shop_name_key
from gql.live_outage import DatabaseOutage, wait_out
from tests.fixtures.servers import opened_database
from tests.fixtures.waiting import DEADLINE_SECONDS, until

WRITERS = 3
ROWS = 2_000  # per transaction: big enough that a cancellation usually lands inside a statement
CANCELLED_RUNS_END_WITHIN = 20.0  # s; below SQLite's 30 s busy timeout, which a wedged connection waits out


async def _update_shared_rows(session: Any) -> None:
    """Every writer's rows, so the writers wait for each other's locks (SQLite's write lock, PostgreSQL's row locks).
    On PostgreSQL behind one transaction-level advisory lock: a plain UPDATE of rows other transactions update too
    can deadlock (40P01: a scan that followed an updated row's new version to a later page took it before an earlier
    row another scan had locked), which ended a writer with that error before the test cancelled it (CI of stop 64,
    `task.cancelled()` false, postgres-statements-22, under load)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(97)"))
    await session.execute(sa.text("UPDATE scratch SET payload = 'y' WHERE id % 97 = 0"))


async def _write_forever(database: Database, writer: int) -> None:
    while True:
        async with database.write_sessionmaker() as session:
            await session.execute(
                sa.text("INSERT INTO scratch (writer, payload) VALUES (:writer, :payload)"),
                [{"writer": writer, "payload": "x" * 100} for _ in range(ROWS)],
            )
            await _update_shared_rows(session)
            await session.commit()


async def _write_in_transaction_blocks(database: Database, writer: int) -> None:
    # `session.begin()`: the COMMIT runs in the block's exit, which SQLAlchemy does not shield.
    while True:
        async with database.write_sessionmaker() as session, session.begin():
            await session.execute(
                sa.text("INSERT INTO scratch (writer, payload) VALUES (:writer, :payload)"),
                [{"writer": writer, "payload": "x" * 100} for _ in range(ROWS)],
            )
            await _update_shared_rows(session)


async def _write_in_bulk(database: Database, writer: int) -> None:
    # The import's bulk upserts: driver-level executemany (SQLite) and COPY (PostgreSQL) bypass the session.
    now = datetime.now(UTC)
    while True:
        async with database.write_sessionmaker() as session:
            await _update_shared_rows(session)  # begins
            rows = [
                {
                    "id": uuid.uuid4().hex,
                    "shop_id": SHOP_ID,
                    "tiktok_product_id": f"{writer}-{uuid.uuid4().hex}",
                    "title": "p" * 100,
                    "status": "ACTIVATE",
                    "created_at": now,
                    "updated_at": now,
                    "fingerprint": "f" * 32,
                    "imported_at": now,
                    "stock_read_at": now,
                }
                for _ in range(ROWS // 4)
            ]
            await upsert_records(session, "products", [tuple(row[c] for c in columns("products")) for row in rows])
            await session.commit()


SHOP_ID = "c" * 32
WRITERS_BY_KIND: dict[str, Callable[[Database, int], Coroutine[Any, Any, None]]] = {
    "statements": _write_forever,
    "transaction-blocks": _write_in_transaction_blocks,
    "bulk": _write_in_bulk,
}


async def _add_shop(database: Database) -> None:
    now = datetime.now(UTC)
    async with database.write_sessionmaker() as session:
        await session.execute(
            sa.text(
                "INSERT INTO shops (id, merchant_id, name, name_key, region, tiktok_shop_id, tiktok_shop_name, "
                "tiktok_shop_cipher, access_token_encrypted, access_token_expires_at, refresh_token_encrypted, "
                "refresh_token_expires_at, authorized_at, created_at) VALUES (:id, 'm', 'n', :key, 'US', 't', 'n', "
                "'c', 'a', :now, 'r', :now, :now, :now)"
            ),
            {"id": SHOP_ID, "now": now, "key": shop_name_key("n")},
        )
        await session.commit()


# Cancel the moment the n-th statement (BEGIN IMMEDIATE, INSERT, UPDATE, COMMIT of any writer) goes to the driver:
# the writers are then suspended inside database calls, one holding the write lock and others waiting for it.
@pytest.mark.parametrize("statement", [4, 7, 10, 13, 17, 22])
@pytest.mark.parametrize("kind", WRITERS_BY_KIND)
async def test_writers_cancelled_mid_statement_end_and_give_back_connections_and_locks(
    database: Database, statement: int, kind: str
) -> None:
    async with database.write_engine.begin() as connection:
        await connection.execute(
            sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, writer INTEGER, payload TEXT)")
            if database.is_sqlite
            else sa.text("CREATE TABLE scratch (id SERIAL PRIMARY KEY, writer INTEGER, payload TEXT)")
        )
    await _add_shop(database)
    reached = asyncio.Event()
    sent = 0

    def count(*_: object) -> None:
        nonlocal sent
        sent += 1
        if sent == statement:
            reached.set()

    sa.event.listen(database.write_engine.sync_engine, "before_cursor_execute", count)
    writers = [asyncio.create_task(WRITERS_BY_KIND[kind](database, n)) for n in range(WRITERS)]
    await asyncio.wait_for(reached.wait(), timeout=DEADLINE_SECONDS)  # given: writers inside their database calls

    for task in writers:  # when: they are cancelled wherever they are
        task.cancel()
    _, still_running = await asyncio.wait(writers, timeout=CANCELLED_RUNS_END_WITHIN)

    # then: they end as cancelled, every connection is back in the pool, and nobody holds the write lock
    assert not still_running, f"{len(still_running)} cancelled writer(s) still running"
    # (one that ended otherwise is named with its error)
    assert all(task.cancelled() for task in writers), [repr(t.exception()) for t in writers if not t.cancelled()]
    assert database.write_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    if database.is_sqlite:
        probe = sqlite3.connect(database.write_engine.url.database or "", isolation_level=None, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")  # "database is locked" at once if a connection kept the lock
            probe.execute("ROLLBACK")
        finally:
            probe.close()
    async with database.write_sessionmaker() as session:  # and the table takes writes again
        await session.execute(sa.text("INSERT INTO scratch (writer, payload) VALUES (-1, 'after')"))
        await session.commit()


async def test_a_query_the_test_cancelled_and_left_ends_before_its_database_is_disposed(postgres_url: str) -> None:
    """The `database` fixture's teardown (`opened_database`): a task cancelled and never awaited, as the renewal
    test's lock-wait poll was (CI run 43), is still inside its statement when the test returns (a database call runs
    to its end, `adapters.db.sessions`). Disposed under it, the database took the connection back after its pool was
    gone and left it open: the leak check of `postgres_url` failed, then its garbage collection warned in a later
    test."""
    slow = sa.text("SELECT pg_sleep(0.2)")
    running = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
        "AND query = 'SELECT pg_sleep(0.2)'"
    )
    async with opened_database(postgres_url) as database:

        async def query() -> None:
            async with database.read_sessionmaker() as session:
                await session.execute(slow)

        async def under_way() -> bool:
            async with database.read_sessionmaker() as session:
                return bool((await session.execute(running)).scalar_one())

        # given a query of a task the test started, running at PostgreSQL
        left = asyncio.create_task(query())
        await until(under_way, "the query to run")
        # when the test cancels it and ends without awaiting it
        left.cancel()
    # then the database was disposed once the query had ended, its connection closed with the pool; a query still
    # running would end now (the loop goes on here) and give its connection back to the disposed pool, left open
    ended_first = left.done()
    with contextlib.suppress(asyncio.CancelledError):
        await left
    assert ended_first, "the database was disposed under a query still running"
    # and the leak check of `postgres_url` finds no session open


# A statement that runs until the test makes it fail. SQLite: a function of the test's (`create_function` on each new
# connection) that says it runs, waits for the test's word, then raises (SQLite fails the statement with "user-defined
# function raised exception"). PostgreSQL: a sleep the test cancels at the server (`pg_cancel_backend`, 57014
# query_canceled).
UNTIL_STOPPED = {"sqlite": "SELECT held_by_the_test()", "postgresql": "SELECT pg_sleep(3600)"}


class _StatementHeld:
    """`UNTIL_STOPPED` on `database`'s read engine: `running()` once it runs, `fail()` to make it fail."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._started = threading.Event()
        self._fail = threading.Event()
        if database.is_sqlite:

            @sa.event.listens_for(database.read_engine.sync_engine, "connect")
            def add_function(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.create_function("held_by_the_test", 0, self._held)

    def _held(self) -> int:
        self._started.set()  # in aiosqlite's thread, inside the statement
        self._fail.wait(DEADLINE_SECONDS)
        raise RuntimeError("failed by the test")

    async def running(self) -> bool:
        if self.database.is_sqlite:
            return self._started.is_set()
        # In pg_sleep itself (its wait event), not merely 'active' with that text: asyncpg prepares a statement first,
        # and the backend shows it 'active' while it parses; a cancel sent then finds it idle before its execution
        # and is dropped, and the sleep then runs its hour (CI run 1656: the read still running 120 s later).
        async with self.database.write_engine.connect() as connection:
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND wait_event = 'PgSleep' "
                "AND query = :query"
            )
            return bool(await connection.scalar(sa.text(query), {"query": UNTIL_STOPPED["postgresql"]}))

    async def fail(self) -> None:
        self._fail.set()
        if not self.database.is_sqlite:
            async with self.database.write_engine.connect() as connection:
                await connection.execute(
                    sa.text("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = :query"),
                    {"query": UNTIL_STOPPED["postgresql"]},
                )


async def test_a_read_cancelled_mid_statement_ends_cancelled_when_its_statement_then_fails(database: Database) -> None:
    """shutdown56: `run_to_completion` raised the call's error in place of the caller's cancellation when the call,
    run to its end, failed: the cancellation was lost, and a caller that handles database errors went on as if never
    cancelled. `shopbridge serve` on PostgreSQL, stopped while the embedded worker pool's sweep read a locked table
    (lock_timeout 10 s): the sweep logged the error, went back to its loop and slept, and the stop waited twice its
    30 s for it (ERROR 'shutdown: 1 task(s) still running after 30 s'). A subscription's read waits out database
    errors the same way (gql/live_outage.py)."""
    statement = _StatementHeld(database)
    outcomes: list[str] = []

    async def read_handling_errors() -> None:
        # as the sweep and the live reads do: a database error is told and the work goes on
        async with database.read_sessionmaker() as session:
            try:
                await session.execute(sa.text(UNTIL_STOPPED[database.dialect_name]))
            except sa.exc.DBAPIError:
                outcomes.append("went on after the error")
                return
        outcomes.append("read")

    # given a read whose statement runs at the database
    reader = asyncio.create_task(read_handling_errors())
    try:
        await until(statement.running, "the statement to run")
        # when its caller is cancelled (its statement runs to its end: adapters.db.sessions), and the statement fails
        reader.cancel()
        await asyncio.sleep(0)  # one turn of the loop: the cancellation reaches run_to_completion's shield first
        await asyncio.sleep(0)
        assert not reader.done()
    finally:
        await statement.fail()
    # then the read ends cancelled: the cancellation is not lost in the statement's error
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(reader), DEADLINE_SECONDS)
    assert reader.cancelled(), f"the read went on: {outcomes}"
    assert outcomes == []
    assert database.read_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_subscription_cancelled_mid_read_ends_once_its_read_gave_its_connection_back(
    database: Database,
) -> None:
    """leak67: a subscription's own read (`gql.live_outage.wait_out_own`: its token's expiry given) runs in a task of
    its own; cancelled (the client's `complete`, its socket closed), the subscription ended at once and left that read
    running with its connection. Its socket's handler then ended and gave back its slot, while its reads still held
    connections: a client closing sockets with 20 operations each held the pool beyond the caps on sockets and
    operations, and a server stopping then disposed its engine under them (11 aiosqlite threads left alive,
    tests/e2e/test_websocket_protocol.py with the tests' collector at 10,000)."""
    statement = _StatementHeld(database)
    ends: list[str] = []

    async def read() -> object:
        try:
            async with database.read_sessionmaker() as session:
                return (await session.execute(sa.text(UNTIL_STOPPED[database.dialect_name]))).scalar()
        finally:
            ends.append("its read's session closed, its connection back in the pool")

    # given a subscription's own read (its token valid for an hour) whose statement runs at the database
    subscription = asyncio.create_task(
        wait_out(DatabaseOutage(), "syncTaskUpdated", read, lambda: None, time.time() + 3600)
    )
    subscription.add_done_callback(lambda _: ends.append("the subscription ended"))
    try:
        await until(statement.running, "the statement to run")
        # when the subscription is cancelled (its statement runs to its end: adapters.db.sessions), and the
        # cancellation has reached it before the statement ends (one turn of the loop each: wait_out, its read)
        subscription.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    finally:
        await statement.fail()
    # then it ends cancelled, and only once its read has given its connection back (on PostgreSQL the test's own
    # probes share the pool: the order of the two, not the pool's count at the subscription's end)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(subscription), DEADLINE_SECONDS)
    assert subscription.cancelled()
    assert ends == ["its read's session closed, its connection back in the pool", "the subscription ended"]
    assert database.read_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
