"""`adapters.db.outage.unavailable`: which real errors mean the database cannot serve right now (one line, retried)
and which are bugs or another system's trouble (a traceback, as before)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import httpx
import psycopg2.extensions
import pytest
import sqlalchemy as sa
from graphql import GraphQLError
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.db.engine import Database
from adapters.db.outage import describe, outage_line, pool_exhausted, unavailable
from adapters.db.pool import DatabaseNotAnswering
from adapters.tls import tls_context
from gql.errors import error_code
from tests.fixtures.processes import free_port
from tests.fixtures.servers import PostgresServer, start_postgres_server
from tests.fixtures.waiting import until


async def _error_of(url: str, statement: str) -> Exception:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError(f"{statement} did not fail")


async def test_a_read_only_postgresql_is_an_outage_and_a_missing_table_is_not(postgres_server: PostgresServer) -> None:
    # given a database turned read-only, as a failover to a standby leaves it
    url = postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    connection = postgres_server.connect()
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    connection.close()
    try:
        read_only = await _error_of(url, "CREATE TABLE t (x int)")
        missing = await _error_of(url, "SELECT * FROM no_such_table")
    finally:
        postgres_server.drop_database(name)
    assert unavailable(read_only)
    assert describe(read_only).startswith("ReadOnlySQLTransactionError: cannot execute CREATE TABLE")
    assert not unavailable(missing)  # a bug: its traceback is wanted


async def test_a_read_only_sqlite_file_is_an_outage(tmp_path: Path) -> None:
    path = tmp_path / "shopbridge.db"
    sqlite3.connect(path).close()  # the file exists, opened read-only (a full disk, a read-only mount)
    read_only = await _error_of(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true", "CREATE TABLE u (x int)")
    assert unavailable(read_only), read_only


async def test_a_refused_connection_of_another_client_is_not_a_database_outage() -> None:
    # an HTTP client's refused connection (TikTok down) has an OSError deep in its chain: not the database's
    async with httpx.AsyncClient(verify=tls_context()) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.get(f"http://127.0.0.1:{free_port()}/")
    assert not unavailable(refused.value)


async def test_a_sqlite_file_moved_away_is_an_outage_by_its_extended_code(tmp_path: Path) -> None:
    # given a server writing to its SQLite file, and the file then moved away (a data directory removed or remounted)
    path = tmp_path / "shopbridge.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE t (x int)"))
        path.rename(tmp_path / "moved.db")
        # when it writes again
        with pytest.raises(sa.exc.OperationalError) as refused:
            async with engine.begin() as connection:
                await connection.execute(sa.text("INSERT INTO t VALUES (1)"))
    finally:
        await engine.dispose()
    # then SQLite says SQLITE_READONLY_DBMOVED (1032), an extended code of SQLITE_READONLY (8): Python reports the
    # extended code, and an outage of any of the listed kinds is one (it was taken for a bug, with a traceback)
    assert refused.value.orig.sqlite_errorcode == sqlite3.SQLITE_READONLY_DBMOVED  # type: ignore[union-attr]
    assert unavailable(refused.value)
    assert describe(refused.value) == "OperationalError: attempt to write a readonly database"


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (PostgreSQL's backends call setsid(): no process group reaches them all)."""
    found, pending = [], [pid]
    while pending:
        found.append(current := pending.pop())
        children = subprocess.run(["pgrep", "-P", str(current)], capture_output=True, text=True).stdout.split()
        pending += map(int, children)
    return found


@contextmanager
def _frozen(server: PostgresServer) -> Iterator[None]:
    """The server stops answering (SIGSTOP to the postmaster and every backend: a hung host, a network black hole)
    and answers again (SIGCONT) whatever happens."""
    assert server.process is not None
    stopped: list[int] = []
    try:
        for pid in _process_tree(server.process.pid):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


async def test_a_database_that_stops_answering_is_an_outage_not_this_process_s_pool_busy() -> None:
    # given a PostgreSQL of its own, and a pool of one connection, no overflow, waited for 1 s, opened and idle
    server = start_postgres_server()
    db = Database(server.url(), pool_size=1, max_overflow=0, pool_timeout=1.0)

    async def select_one() -> None:
        async with db.read_sessionmaker() as session:
            await session.execute(sa.text("SELECT 1"))

    try:
        await select_one()
        first: asyncio.Task[None] | None = None
        try:
            # when the database stops answering, a read takes the pool's connection (its pre-ping never answered)
            with _frozen(server):
                first = asyncio.create_task(select_one())
                await until(lambda: db.read_engine.pool.checkedout() == 1, "the first read holding the connection")
                # and another read waits the pool's whole timeout
                with pytest.raises(sa.exc.TimeoutError) as timed_out:
                    await select_one()
        finally:
            if first is not None:
                await asyncio.wait_for(first, 60)  # answered once the server runs again
    finally:
        await db.dispose()
        server.stop()
    # then it is told as the database's outage (SERVICE_UNAVAILABLE), not as this process's connections all in use
    # (DATABASE_BUSY, "raise SHOPBRIDGE_DB_POOL_SIZE": review53b), retried as any outage
    error = timed_out.value
    assert unavailable(error) and not pool_exhausted(error)
    assert (outage_line(error) or "").startswith("the database is unavailable (DatabaseNotAnswering: QueuePool limit")
    assert "waited" in describe(error) and "for the database to answer its connect or ping" in describe(error)
    assert error_code(GraphQLError("shops", original_error=error)) == "SERVICE_UNAVAILABLE"


_LOCK_KEY = 54  # the advisory lock the test holds and the pool's one connection waits on, mid-statement


@contextmanager
def _lock_held(server: PostgresServer, dbname: str) -> Iterator[psycopg2.extensions.connection]:
    """A connection of the test to database `dbname` of `server`, holding advisory lock `_LOCK_KEY` until the end."""
    holder = server.connect(dbname)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        yield holder
    finally:
        holder.close()  # (the lock goes with the session)


def _waiting_on_the_holder(holder: psycopg2.extensions.connection) -> bool:
    with holder.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (_LOCK_KEY,),
        )
        (count,) = cursor.fetchone()
    return bool(count == 1)


def _connects_counted(db: Database) -> list[object]:
    """One item per DBAPI connection the engine opens from now on, the pool's probe included (SQLAlchemy's
    `do_connect` event, which lets the driver connect as usual)."""
    opened: list[object] = []
    event.listen(
        db.read_engine.sync_engine, "do_connect", lambda dialect, record, cargs, cparams: opened.append(record)
    )
    return opened


async def _storm(db: Database, requests: int) -> list[BaseException]:
    """`requests` reads at once, each waiting for the pool's one connection; what each of them raised."""

    async def select_one() -> None:
        async with db.read_sessionmaker() as session:
            await session.execute(sa.text("SELECT 1"))

    results = await asyncio.gather(*(select_one() for _ in range(requests)), return_exceptions=True)
    assert all(isinstance(result, BaseException) for result in results), results
    return [result for result in results if isinstance(result, BaseException)]


async def _storm_while_mid_statement(
    db: Database,
    server: PostgresServer,
    dbname: str,
    requests: int,
    during: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> tuple[list[BaseException], list[object]]:
    """With the pool's one connection in the middle of a statement (waiting on a lock the test holds: past its
    pre-ping, the statement sent), `requests` reads wait the pool's whole timeout at once, inside `during()` (e.g.
    the server frozen); what each raised, and the connections the pool opened meanwhile (its probe's). The lock is
    let go after, and the first read answers."""

    async def long_read() -> None:
        async with db.read_sessionmaker() as session:
            await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})

    with _lock_held(server, dbname) as holder:
        first = asyncio.create_task(long_read())
        try:
            await until(lambda: _waiting_on_the_holder(holder), "the pool's connection waiting on the lock")
            opened = _connects_counted(db)
            with during():
                errors = await _storm(db, requests)
                # (the first read is still in its statement: no connection came back during the waits)
                assert not first.done()
        finally:
            holder.close()  # the lock let go: the first read answers
            await asyncio.wait_for(first, 60)
    return errors, opened


async def test_a_database_that_stops_answering_while_every_connection_is_mid_statement_is_an_outage() -> None:
    # given a PostgreSQL of its own, and a pool of one connection, no overflow, waited for 1 s, whose connection is in
    # the middle of a statement (waiting on a lock the test holds: past its pre-ping, the statement sent)
    server = start_postgres_server()
    db = Database(server.url(), pool_size=1, max_overflow=0, pool_timeout=1.0)
    try:
        # when the database stops answering, and three reads wait the pool's whole timeout at once
        errors, opened = await _storm_while_mid_statement(db, server, "postgres", 3, lambda: _frozen(server))
    finally:
        await db.dispose()
        server.stop()
    # then each is told as the database's outage (SERVICE_UNAVAILABLE), not as this process's connections all in use
    # (DATABASE_BUSY, "raise SHOPBRIDGE_DB_POOL_SIZE": review54b): nothing answered during the wait, nor the probe
    for error in errors:
        assert isinstance(error, DatabaseNotAnswering), repr(error)
        assert unavailable(error) and not pool_exhausted(error)
        assert (outage_line(error) or "").startswith(
            "the database is unavailable (DatabaseNotAnswering: QueuePool limit"
        )
        assert "no connect or ping during the wait, and a probe connection got no answer in" in describe(error)
        assert error_code(GraphQLError("shops", original_error=error)) == "SERVICE_UNAVAILABLE"
    # and the three timed-out waits opened one probe connection between them, not one each
    assert len(opened) == 1


async def test_a_pool_held_by_long_statements_on_a_database_that_answers_is_database_busy(
    postgres_server: PostgresServer,
) -> None:
    # given a pool of one connection, no overflow, waited for 1 s, whose connection is in the middle of a statement
    # (waiting on a lock the test holds) on a PostgreSQL that answers
    url = postgres_server.create_database()
    db = Database(url, pool_size=1, max_overflow=0, pool_timeout=1.0)
    try:
        # when three reads wait the pool's whole timeout at once
        errors, opened = await _storm_while_mid_statement(db, postgres_server, make_url(url).database or "", 3)
    finally:
        await db.dispose()
    # then each is this process's pool busy (DATABASE_BUSY, "raise SHOPBRIDGE_DB_POOL_SIZE"): the probe answered
    for error in errors:
        assert isinstance(error, sa.exc.TimeoutError) and not isinstance(error, DatabaseNotAnswering), repr(error)
        assert unavailable(error) and pool_exhausted(error)
        assert (outage_line(error) or "").startswith("this process's database connections are all in use")
        assert error_code(GraphQLError("shops", original_error=error)) == "DATABASE_BUSY"
    # and the three timed-out waits opened one probe connection between them
    assert len(opened) == 1


async def test_a_probe_the_server_refuses_for_its_connection_cap_is_database_busy(
    postgres_server: PostgresServer,
) -> None:
    """Review55 F2: the pool's probe refused by the server, "too many connections" (SQLSTATE 53300), was told the
    database's outage (`DatabaseNotAnswering`, SERVICE_UNAVAILABLE, "a probe connection failed (Error: too many
    connections for role …)"), though the server had read the connect and answered it."""
    # given a role that may hold one connection (CONNECTION LIMIT 1: as max_connections used up by other processes,
    # the probe is refused with SQLSTATE 53300), and a pool of that role, of one connection, no overflow, waited for
    # 1 s, whose connection is in the middle of a statement (waiting on a lock the test holds)
    url = make_url(postgres_server.create_database())
    role = f"capped_{uuid.uuid4().hex[:12]}"
    postgres_server.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    db = Database(url.set(username=role).render_as_string(hide_password=False), pool_size=1, max_overflow=0,
                  pool_timeout=1.0)  # fmt: skip
    try:
        # when two reads wait the pool's whole timeout at once
        errors, opened = await _storm_while_mid_statement(db, postgres_server, url.database or "", 2)
    finally:
        await db.dispose()
    # then each is this process's pool busy (DATABASE_BUSY): the server answered the probe, with its refusal
    for error in errors:
        assert isinstance(error, sa.exc.TimeoutError) and not isinstance(error, DatabaseNotAnswering), describe(error)
        assert pool_exhausted(error) and error_code(GraphQLError("shops", original_error=error)) == "DATABASE_BUSY"
    # and the probe was tried once, and refused
    assert len(opened) == 1
