"""A unit of work the database aborted as a deadlock or a serialization failure is run again whole, a few times
(`domain.services.conflicts`), and nothing else is: the rules without a database, the database's own rule
(`adapters.db.errors.transaction_conflict`) on the errors the driver raises. The real deadlock, on PostgreSQL:
`tests/integration/test_inventory_push_release_order.py` (a reconcile aborted and run again)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.exc import DBAPIError

from adapters.db.errors import transaction_conflict
from domain.ports import register_conflict
from domain.services.conflicts import ATTEMPTS, run_again_on_conflict


class _DriverError(Exception):
    """As asyncpg's errors (and SQLAlchemy's adapted ones) carry it: the server's SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def _wrapped(sqlstate: str) -> DBAPIError:
    """The error a unit of work raises: SQLAlchemy's, raised from the driver's."""
    try:
        raise DBAPIError("UPDATE sku_links ...", None, _DriverError(sqlstate)) from _DriverError(sqlstate)
    except DBAPIError as error:
        return error


@pytest.fixture(autouse=True)
def _database_rule() -> None:
    register_conflict(transaction_conflict)  # as `adapters.db.uow.uow_factory` does (again: a no-op)


def test_the_database_rule_names_a_deadlock_and_a_serialization_failure_and_nothing_else() -> None:
    assert transaction_conflict(_wrapped("40P01")) == "40P01"
    assert transaction_conflict(_wrapped("40001")) == "40001"
    assert transaction_conflict(_wrapped("23505")) is None  # a unique violation: no conflict, a bug or a rule
    assert transaction_conflict(ValueError("40P01")) is None


async def test_a_unit_of_work_aborted_as_a_deadlock_runs_again_whole_with_one_warning_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given a unit of work the database aborts twice as a deadlock, then lets through
    runs: list[int] = []

    async def work() -> str:
        runs.append(len(runs))
        if len(runs) <= 2:
            raise _wrapped("40P01")
        return "done"

    # when it is run
    with caplog.at_level(logging.WARNING, logger="domain.services.conflicts"):
        result = await run_again_on_conflict(work, "a test batch")

    # then it ran three times, the last one's result returned, and each run again was one WARNING with the SQLSTATE
    assert (result, len(runs)) == ("done", 3)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "domain.services.conflicts"]
    assert [level for level, _ in lines] == ["WARNING", "WARNING"]
    assert all(m.startswith("a test batch: ") and "SQLSTATE 40P01" in m for _, m in lines)


async def test_a_conflict_that_lasts_is_raised_after_the_last_run_and_another_error_at_once() -> None:
    runs: list[str] = []

    async def always(sqlstate: str) -> None:
        runs.append(sqlstate)
        raise _wrapped(sqlstate)

    # a serialization failure every time: ATTEMPTS runs, then the error as it is
    with pytest.raises(DBAPIError) as raised:
        await run_again_on_conflict(lambda: always("40001"), "a test batch")
    assert transaction_conflict(raised.value) == "40001" and runs == ["40001"] * ATTEMPTS

    # a unique violation: no run again
    runs.clear()
    with pytest.raises(DBAPIError):
        await run_again_on_conflict(lambda: always("23505"), "a test batch")
    assert runs == ["23505"]


async def test_a_cancellation_while_a_deadlock_is_handled_ends_the_work_instead_of_running_it_again() -> None:
    """Review 52: the rule follows an error's `__context__`, so a cancellation raised while a 40P01 was being handled
    (the unit of work's rollback after the deadlock, when a worker's shutdown, a run's time limit or a client's
    disconnect cancels it) carried the conflict, and tenacity, which catches `BaseException`, ran the work again: the
    cancellation was swallowed. It is raised at once now, the work run once."""
    # given a unit of work that, aborted as a deadlock, is cancelled while it rolls back
    runs: list[int] = []
    rolling_back = asyncio.Event()

    async def work() -> str:
        runs.append(len(runs))
        if len(runs) > 1:
            return "run again"  # (what the swallowed cancellation led to)
        try:
            raise _wrapped("40P01")
        except DBAPIError:
            rolling_back.set()
            await asyncio.sleep(3600)  # the rollback, awaited: where the cancellation lands
            raise

    # when the task running it is cancelled there
    task = asyncio.ensure_future(run_again_on_conflict(work, "a test batch"))
    await rolling_back.wait()
    task.cancel()
    # then the cancellation ends it, and the work ran once
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs == [0]


def test_a_bug_raised_while_a_conflict_was_handled_is_no_conflict_for_the_client() -> None:
    """review56b F3: what a client is told (gql/errors.py TRANSACTION_CONFLICT, "try again", no traceback) follows the
    errors raised *from* one alone; a bug raised while a deadlock was being handled is that bug."""
    try:
        try:
            raise _wrapped("40P01")
        except DBAPIError:
            raise KeyError("a bug in the handler") from None
    except KeyError as bug:
        raised = bug
    assert transaction_conflict(raised, through_context=False) is None
    assert transaction_conflict(_wrapped("40P01"), through_context=False) == "40P01"  # raised from: still one
