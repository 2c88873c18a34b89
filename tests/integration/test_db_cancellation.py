"""Cancelling a task in the middle of a database call never wedges the database (SQLite and PostgreSQL).

The shutdown bug behind a flaky test: cancelled mid-statement, SQLAlchemy's asyncio driver invalidated the
connection and queued its close behind a `BEGIN IMMEDIATE` waiting out SQLite's 30 s busy timeout on a lock
that another cancelled writer still held. `adapters.db.sessions.UninterruptedSession` finishes each call first.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import sqlalchemy as sa

from adapters.db import Database

WRITERS = 3
ROWS = 2_000  # per transaction: big enough that a cancellation usually lands inside a statement
CANCELLED_RUNS_END_WITHIN = 20.0  # s; below SQLite's 30 s busy timeout, which a wedged connection waits out


async def _write_forever(database: Database, writer: int) -> None:
    while True:
        async with database.write_sessionmaker() as session:
            await session.execute(
                sa.text("INSERT INTO scratch (writer, payload) VALUES (:writer, :payload)"),
                [{"writer": writer, "payload": "x" * 100} for _ in range(ROWS)],
            )
            await session.execute(sa.text("UPDATE scratch SET payload = 'y' WHERE id % 97 = 0"))
            await session.commit()


# Cancel the moment the n-th statement (BEGIN IMMEDIATE, INSERT, UPDATE, COMMIT of any writer) goes to the driver:
# the writers are then suspended inside database calls, one holding the write lock and others waiting for it.
@pytest.mark.parametrize("statement", [4, 7, 10, 13, 17, 22])
async def test_writers_cancelled_mid_statement_end_and_give_back_connections_and_locks(
    database: Database, statement: int
) -> None:
    async with database.write_engine.begin() as connection:
        await connection.execute(
            sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, writer INTEGER, payload TEXT)")
            if database.is_sqlite
            else sa.text("CREATE TABLE scratch (id SERIAL PRIMARY KEY, writer INTEGER, payload TEXT)")
        )
    reached = asyncio.Event()
    sent = 0

    def count(*_: object) -> None:
        nonlocal sent
        sent += 1
        if sent == statement:
            reached.set()

    sa.event.listen(database.write_engine.sync_engine, "before_cursor_execute", count)
    writers = [asyncio.create_task(_write_forever(database, n)) for n in range(WRITERS)]
    await asyncio.wait_for(reached.wait(), timeout=60)  # given: writers inside their database calls

    for task in writers:  # when: they are cancelled wherever they are
        task.cancel()
    _, still_running = await asyncio.wait(writers, timeout=CANCELLED_RUNS_END_WITHIN)

    # then: they end as cancelled, every connection is back in the pool, and nobody holds the write lock
    assert not still_running, f"{len(still_running)} cancelled writer(s) still running"
    assert all(task.cancelled() for task in writers)
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
