"""Which e2e tests run on PostgreSQL as well as SQLite (README "Tests", "Which e2e tests run on both databases").

An e2e test that takes `database_url` (through `app`, `app_factory`, `database`, ...) runs on both databases unless
it says otherwise: that is the default, so a new test of how the database behaves (concurrent transactions and row
locks, a dialect's own SQL path, an import's stored rows, the pool's counts) cannot silently lose PostgreSQL. A test,
class or module whose subject is not the database opts out, naming its subject:

    @subject_not_the_database("webhook signature checks")
    def test_a_forged_signature_is_refused(app): ...

    pytestmark = subject_not_the_database("GraphQL validation and error shapes")

and runs on SQLite alone: the code paths its PostgreSQL twin would run are the repositories' and readers', which the
integration tests run on both. `tests/e2e/conftest.py` refuses any other way of running an e2e test on SQLite only
(a bare `SQLITE_ONLY`, a hand-written `parametrize("database_url", ["sqlite"])`), so every such test says why.
A test of SQLite's own behaviour (its file removed under a running app) says so with `sqlite_own_behaviour(what)`;
`POSTGRES_ONLY` (tests/fixtures/servers.py) stays for a test of PostgreSQL's own behaviour.
"""

from __future__ import annotations

import pytest

MARK = "subject_not_the_database"
SQLITE_MARK = "sqlite_own_behaviour"


def subject_not_the_database(subject: str) -> pytest.MarkDecorator:
    """A mark that runs a test (function, class, or module as `pytestmark`) on SQLite only, because its subject is
    `subject` (a few words: "GraphQL argument ranges"), not the database.

    Shape: `database_url` parametrized to the one value "sqlite" (ids stay `[sqlite]`), that value carrying the
    `subject_not_the_database(subject)` marker which `tests/e2e/conftest.py` looks for. Raises ValueError on an empty
    subject: the reason is the point of the mark (README "Tests").
    """
    if not subject.strip():
        raise ValueError("subject_not_the_database needs the test's subject, in a few words")
    return pytest.mark.parametrize(
        "database_url", [pytest.param("sqlite", marks=getattr(pytest.mark, MARK)(subject))], indirect=True
    )


def sqlite_own_behaviour(what: str) -> pytest.MarkDecorator:
    """A mark that runs a test on SQLite only because `what` it tests is SQLite's own behaviour (a file removed while
    serving): the database is the subject, and the other database's counterpart is a test of its own. Same shape as
    `subject_not_the_database`, with the `sqlite_own_behaviour(what)` marker; ValueError on an empty `what`."""
    if not what.strip():
        raise ValueError("sqlite_own_behaviour needs what of SQLite's the test tests, in a few words")
    return pytest.mark.parametrize(
        "database_url", [pytest.param("sqlite", marks=getattr(pytest.mark, SQLITE_MARK)(what))], indirect=True
    )
