"""A unit of work the database aborted as a deadlock or a serialization failure, run again whole.

Standard practice on PostgreSQL (its manual, "Serialization Failure Handling": retry the whole transaction, from
its first statement, when it fails with SQLSTATE 40001 or 40P01): the transaction was rolled back, nothing of it
kept, and the same work started again, reading afresh, usually passes once the other transaction has ended. The lock
order of every writer (`adapters/db/repositories/inventory/writer.py`) is what keeps two writers of the pool from
deadlocking; this is the second line of defence, for a pair of writers that order misses, so that such a pair costs
a WARNING and a few milliseconds instead of an ERROR and, for an import, one of its attempts.

Only around a whole unit of work (a function that opens its unit of work, does all of it and commits): never around
a part of one, which would leave the rest half applied. A conflict is told by the database adapter's rule
(`domain.ports.register_conflict`); anything else is raised at once, and a conflict still there after `ATTEMPTS`
runs is raised as it is. Retrying by tenacity (its `AsyncRetrying`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from domain.ports import conflict, failure

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4  # runs in all: the first and three more
# Before a run again: a random wait (full jitter, so two writers that met do not meet again in step) of up to 50 ms,
# then 100 ms, then 200 ms (at most 1 s): a transaction of the pool lasts milliseconds to a second.
_WAIT = wait_random_exponential(multiplier=0.05, max=1.0)


def _aborted(error: BaseException) -> bool:
    """Whether `error` is the database aborting the transaction, to run again: an `Exception` the adapter's rule names
    a conflict. Never a cancellation (a `BaseException` only): raised while a conflict was handled (the unit of work's
    rollback after a 40P01, when a worker's shutdown, a run's time limit or a client's disconnect cancels it), it
    carries the conflict as its context, which the rule follows, and tenacity, which catches `BaseException`, ran the
    work again, the cancellation swallowed (review 52)."""
    return isinstance(error, Exception) and conflict(error) is not None


async def run_again_on_conflict(work: Callable[[], Awaitable[T]], what: str) -> T:
    """`work()` (a whole unit of work), run again from the start when the database aborted its transaction as a
    deadlock (`40P01`) or a serialization failure (`40001`), up to `ATTEMPTS` runs in all; each run again is one
    WARNING line naming `what`, the SQLSTATE and the wait. Returns what `work` returned; raises what it raised
    otherwise, or the last conflict."""

    def run_again(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s: the database aborted its transaction (SQLSTATE %s, %s); run again whole in %d ms (run %d of %d)",
            what, conflict(error) if error is not None else None, failure(error) if error is not None else "",
            round(wait * 1000), state.attempt_number + 1, ATTEMPTS,
        )  # fmt: skip

    retrying = AsyncRetrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=_WAIT,
        retry=retry_if_exception(_aborted),
        before_sleep=run_again,
        reraise=True,
    )
    # The attempts' loop rather than `retrying(work)`: tenacity calls a `work` it does not recognise as a coroutine
    # function (a lambda returning one) without awaiting it, and would hand back the coroutine unrun
    async for attempt in retrying:
        with attempt:
            return await work()
    raise AssertionError("unreachable: the last attempt returns or raises (`reraise`)")
