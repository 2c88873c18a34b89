"""`adapters.db.pool.answering_refusal`: which failed connects of the pool's probe prove that the server answers (this
process's pool busy, DATABASE_BUSY) and which do not (the database's outage). The errors are asyncpg's own classes,
as its protocol raises them from a server's ErrorResponse; the probe against a real server refusing it is
`tests/integration/test_db_outage.py`."""

from __future__ import annotations

import asyncpg.exceptions
import pytest

from adapters.db.pool import answering_refusal


@pytest.mark.parametrize(
    ("error", "answers"),
    [
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.exceptions.ConfigurationLimitExceededError("configuration limit exceeded"), True),
        (asyncpg.exceptions.InvalidPasswordError('password authentication failed for user "app"'), True),
        (asyncpg.exceptions.InvalidAuthorizationSpecificationError("no pg_hba.conf entry"), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), False),
        (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), False),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"), False),
        (ConnectionRefusedError(111, "Connect call failed"), False),
        (TimeoutError(), False),
    ],
)
def test_which_refusals_of_a_connect_say_the_server_answers(error: BaseException, answers: bool) -> None:
    """A refusal by a connection cap or of the credentials is the server's answer (`answering_refusal`); one that
    says it is not serving (starting up, shutting down: class 57P) is an outage, as is no answer; so is class 08,
    which asyncpg raises on the client's side too. Read through an error raised from it, as SQLAlchemy's adapter
    raises its own `Error` from asyncpg's."""
    assert answering_refusal(error) is answers
    try:
        raise RuntimeError("the adapter's error") from error
    except RuntimeError as wrapped:
        assert answering_refusal(wrapped) is answers
