"""A request whose transaction PostgreSQL aborts as a deadlock (40P01) or a serialization failure (40001) is told to
try again (TRANSACTION_CONFLICT, `gql/errors.py`), not "Unexpected error." (INTERNAL_SERVER_ERROR): CI run 1625's
`shopRename` was such a victim (`tests/integration/test_db_sync_lock_order.py`). The deadlock is a real one, between
two sessions that each hold a shop's row and ask for the other's."""

from __future__ import annotations

import asyncio
import logging

import pytest
from graphql import GraphQLError, located_error
from sqlalchemy import text

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from gql.errors import TRANSACTION_CONFLICT, TRANSACTION_CONFLICT_MESSAGE, mask_errors, process_errors
from tests.fixtures.servers import POSTGRES_ONLY
from tests.integration.db_samples import add_shop, make_shop, until_a_writer_waits_on_a_lock

pytestmark = POSTGRES_ONLY

_HOLD_SHOP = text("SELECT id FROM shops WHERE id = :id FOR NO KEY UPDATE")


async def _a_deadlock_victims_error(database: Database, cipher: TokenCipher) -> BaseException:
    """The error of the session PostgreSQL aborted: two sessions hold a shop's row each, then ask for the other's."""
    uows = uow_factory(database, cipher)
    one, two = await add_shop(uows, make_shop()), await add_shop(uows, make_shop())
    async with database.write_engine.connect() as first, database.write_engine.connect() as second:
        await first.execute(_HOLD_SHOP, {"id": one.id})
        await second.execute(_HOLD_SHOP, {"id": two.id})
        waiting = asyncio.create_task(first.execute(_HOLD_SHOP, {"id": two.id}))
        await until_a_writer_waits_on_a_lock(database)
        outcomes = await asyncio.wait_for(
            asyncio.gather(waiting, second.execute(_HOLD_SHOP, {"id": one.id}), return_exceptions=True), timeout=60
        )
    aborted = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(aborted) == 1, outcomes  # PostgreSQL aborted one side, the other went on
    return aborted[0]


async def test_a_mutation_whose_transaction_was_aborted_as_a_deadlock_is_told_to_try_again(
    database: Database, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    # given a mutation's resolver that raised what PostgreSQL aborting its transaction as a deadlock raises
    aborted = await _a_deadlock_victims_error(database, cipher)
    error: GraphQLError = located_error(aborted, None, ["shopRename"])

    # when its error is processed for the client
    with caplog.at_level(logging.WARNING, logger="shopbridge.graphql"):
        process_errors([error])

    # then it carries a stable code and says "try again", unmasked, and the log says which SQLSTATE, without an
    # ERROR's traceback
    assert error.extensions == {"code": TRANSACTION_CONFLICT} and error.message == TRANSACTION_CONFLICT_MESSAGE
    assert not mask_errors().should_mask_error(error)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shopbridge.graphql"]
    assert len(lines) == 1 and lines[0][0] == "WARNING"
    assert lines[0][1].startswith("TRANSACTION_CONFLICT in ['shopRename']: ") and "SQLSTATE 40P01" in lines[0][1]


async def test_the_conflicts_of_one_response_are_one_warning_line(
    database: Database, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    """Rule (gql/errors.py `process_errors`): a response's conflicts are one WARNING line, the first's SQLSTATE, then
    how many more and a few of their paths (lows72: a line each)."""
    # given the aborted transaction's error met by three fields of one response
    aborted = await _a_deadlock_victims_error(database, cipher)
    errors = [located_error(aborted, None, [f"rename{i}"]) for i in range(3)]

    # when the response's errors are processed
    with caplog.at_level(logging.WARNING, logger="shopbridge.graphql"):
        process_errors(errors)

    # then each says "try again", and the log has one line for them all
    assert all(error.extensions == {"code": TRANSACTION_CONFLICT} for error in errors)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shopbridge.graphql"]
    assert [level for level, _ in lines] == ["WARNING"], lines
    assert lines[0][1].startswith("TRANSACTION_CONFLICT in ['rename0']: ") and "SQLSTATE 40P01" in lines[0][1]
    assert lines[0][1].endswith(" (and 2 more: TRANSACTION_CONFLICT x2 in ['rename1'], ['rename2'])"), lines
