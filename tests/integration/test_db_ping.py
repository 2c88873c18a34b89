"""The check of a pooled PostgreSQL connection before each checkout (`pool_pre_ping`): one round trip."""

from __future__ import annotations

from sqlalchemy import text

from tests.fixtures.servers import POSTGRES_ONLY, PostgresServer, opened_database
from tests.fixtures.statement_log import StatementLog


@POSTGRES_ONLY
async def test_a_pooled_connection_is_checked_by_one_statement_outside_any_transaction(
    postgres_server: PostgresServer, database_url: str
) -> None:
    # given a database whose sessions log every statement the server receives, and a session's connection back in
    # its pool
    log = StatementLog(postgres_server, database_url)
    async with opened_database(database_url) as database:
        async with database.write_sessionmaker() as session:
            await session.execute(text("SELECT 1"))
        log.mark()
        # when the next session takes that connection and reads
        async with database.write_sessionmaker() as session:
            await session.execute(text("SELECT 2"))
        # then the server got the check as one statement, not in a transaction begun and rolled back around it
        # (three round trips), then the session's own statements
        statements = log.statements()
    assert statements == ["SELECT 1", "BEGIN;", "SELECT 2", "ROLLBACK;"]


@POSTGRES_ONLY
async def test_a_pooled_connection_whose_backend_was_terminated_is_replaced_at_the_next_checkout(
    postgres_server: PostgresServer, database_url: str
) -> None:
    # given a pool of one connection, whose server process an administrator then terminates while it sits idle
    async with opened_database(database_url) as database:
        async with database.write_sessionmaker() as session:
            first = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        connection = postgres_server.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", (first,))
                assert cursor.fetchone()[0]
        finally:
            connection.close()
        # when the next session takes a connection, then the check found the dead one and the pool opened another
        # (rev74a F1: a check that swallowed the error handed the dead connection out, and the session failed)
        async with database.write_sessionmaker() as session:
            second = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert second != first
