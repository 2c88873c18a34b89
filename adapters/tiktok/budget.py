"""A run's time budget for TikTok: every call made inside `time_budget(seconds)` ends by then, retries included.

The transport bounds each attempt by `SHOPBRIDGE_TIKTOK_TIMEOUT` and retries up to `max_retries` times with
backoff: with the defaults (10 s, 5 retries) one call against a host that accepts connections and never answers
takes ~70 s, past the 60 s time limit of the token refresh and webhook registration actors (review clientreview53
item 5), where Dramatiq's TimeLimit interrupted it: no `TikTokUnavailableError`, no outage line, an ERROR. An actor
sets its budget from its own time limit (`workers.actors.tiktok_budget`); inside it the transport cuts an attempt's
timeout to what is left and gives up, rather than wait a backoff after which no attempt could finish
(`Transport._before_retry`): the call ends with its `TransientError` (a `TikTokUnavailableError`), in time for the
run to say so and be retried. An attempt the budget ended itself (none left to send it, or cut to what was left and
timed out: TikTok did not get its full timeout) raises `TimeBudgetSpentError`, also a `TikTokUnavailableError`, but
is not counted as a TikTok failure: no outage is said for it (review54a F4); unless TikTok failed the call's earlier
attempts, each with its full timeout: then the call gives up with their error and the outage said, as a TikTok that
never answers is (review55 F1). Budgets nest (the earlier end holds);
outside any, calls are bounded per attempt only. The deadline is on the monotonic clock, and lives in a context
variable: it follows the run's coroutine and the tasks it starts.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Budget:
    """`seconds` granted, ending at `deadline` (`time.monotonic()` seconds)."""

    seconds: float
    deadline: float


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("shopbridge_tiktok_budget", default=None)


@contextmanager
def time_budget(seconds: float) -> Iterator[Budget]:
    """TikTok calls made inside end within `seconds` (> 0) from now, each with a `TransientError` at the latest."""
    if seconds <= 0:
        raise ValueError(f"a time budget must be positive, not {seconds}")
    budget = Budget(seconds, time.monotonic() + seconds)
    outer = _budget.get()
    if outer is not None and outer.deadline < budget.deadline:
        budget = outer
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def current() -> Budget | None:
    """The budget the calls made now are under (None: none)."""
    return _budget.get()


def seconds_left() -> float | None:
    """Seconds left of the current budget (negative once past it); None without a budget."""
    budget = _budget.get()
    return None if budget is None else budget.deadline - time.monotonic()
