"""`adapters.db.outage.unavailable`: which real errors mean the database cannot serve right now (one line, retried)
and which are bugs or another system's trouble (a traceback, as before)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.db.outage import describe, unavailable
from tests.fixtures.processes import free_port
from tests.fixtures.servers import PostgresServer


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
    async with httpx.AsyncClient() as client:
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
