"""adapters.db.repositories.bulk's COPY path on PostgreSQL: rows go through the driver, in the session's transaction,
which must have begun by a statement (SQLAlchemy sends BEGIN lazily, with the first one)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from adapters.db import Database
from adapters.db.repositories.bulk import copy_and_move, temporary_table
from tests.fixtures.servers import POSTGRES_ONLY

MOVE = f"WITH moved AS (DELETE FROM {temporary_table('rows')} RETURNING k) INSERT INTO rows SELECT k FROM moved"


@POSTGRES_ONLY
async def test_a_copy_in_a_transaction_no_statement_has_begun_is_refused_not_lost(database: Database) -> None:
    # given a table of the test's own, and a session whose transaction is begun but has run no statement (its BEGIN
    # not sent yet: SQLAlchemy sends it with the first statement)
    async with database.write_sessionmaker() as session, session.begin():
        await session.execute(text("CREATE TABLE rows (k text NOT NULL)"))
    async with database.write_sessionmaker() as session, session.begin():
        # when a row is copied through the driver, then moved
        # then it is refused, saying why (before: the COPY committed alone, ON COMMIT DELETE ROWS emptied the
        # temporary table, and the move found nothing: the row lost without an error, review rev73b F1)
        with pytest.raises(RuntimeError, match="transaction begun by a statement"):
            await copy_and_move(session, "rows", ("k",), [("lost",)], MOVE)
    # and once a statement has begun the transaction, the same call stores its row
    async with database.write_sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
        await copy_and_move(session, "rows", ("k",), [("kept",)], MOVE)
    async with database.write_sessionmaker() as session:
        assert (await session.execute(text("SELECT k FROM rows"))).scalars().all() == ["kept"]
