"""Where a sync run stops: its own deadline, and the task's code and message for each refusal TikTok gives."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import ErrorCode
from domain.ports import CursorStuckError, GatewayRefusedError, MissingPermissionError
from domain.services.run_limits import TimeLimitExceededError, refusal_outcome, within_time_limit

DEADLINE = 10.0  # seconds: a limit that is not enforced fails the test instead of hanging it


class Work:
    """A coroutine to run under a limit, telling whether it finished or was cancelled."""

    def __init__(self) -> None:
        self.finished = False
        self.cancelled = False

    async def done_at_once(self) -> None:
        self.finished = True

    async def forever(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def own_timeout(self) -> None:
        raise TimeoutError("a request of the work timed out")


@pytest.mark.parametrize("seconds", [None, 30.0])
async def test_work_within_its_limit_or_without_one_runs_to_its_end(seconds: float | None) -> None:
    work = Work()
    assert await within_time_limit(seconds, work.done_at_once()) is None
    assert work.finished


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.05, "0.05"), (0.1, "0.1")],
)
async def test_work_past_its_limit_is_cancelled_and_stopped_with_a_message_naming_the_limit(
    seconds: float, shown: str
) -> None:
    work = Work()
    with pytest.raises(TimeLimitExceededError) as error:
        await asyncio.wait_for(within_time_limit(seconds, work.forever()), DEADLINE)
    assert str(error.value) == (
        f"The run passed its time limit of {shown} s (SHOPBRIDGE_SYNC_TIME_LIMIT) and was stopped: TikTok "
        "answered too slowly. What was stored so far is kept."
    )
    assert work.cancelled
    # the deadline's own TimeoutError is not chained to the merchant's error
    assert error.value.__cause__ is None and error.value.__suppress_context__


async def test_a_timeout_inside_the_work_is_the_works_own_error_not_the_runs_limit() -> None:
    with pytest.raises(TimeoutError) as error:
        await within_time_limit(30.0, Work().own_timeout())
    assert type(error.value) is TimeoutError and str(error.value) == "a request of the work timed out"


def _missing_scope(api: str | None) -> MissingPermissionError:
    error = MissingPermissionError("Access denied (code=105005)")
    error.api = api
    return error


SCOPE_ADVICE = (
    ": the app or the shop's authorization lacks that API's permission (scope): Access denied (code=105005). "
    "Enable the scope for the app in TikTok Partner Center, then have the seller re-authorize the shop. "
    "The shop's other syncs are not affected."
)


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            _missing_scope("POST /order/202309/orders/search"),
            ErrorCode.MISSING_SCOPE,
            "TikTok refused POST /order/202309/orders/search" + SCOPE_ADVICE,
        ),
        (_missing_scope(None), ErrorCode.MISSING_SCOPE, "TikTok refused an API the import needs" + SCOPE_ADVICE),
        (_missing_scope(""), ErrorCode.MISSING_SCOPE, "TikTok refused an API the import needs" + SCOPE_ADVICE),
        (
            CursorStuckError("TikTok answered the page token P1 again"),
            ErrorCode.TIKTOK_CURSOR_STUCK,
            "TikTok answered the page token P1 again. What was stored before is kept.",
        ),
        (
            GatewayRefusedError("Invalid app_key. (code=36009004)"),
            ErrorCode.TIKTOK_REJECTED,
            "TikTok refused a request, and would refuse it again: Invalid app_key. (code=36009004)",
        ),
    ],
)
def test_each_refusal_gives_the_task_its_code_and_a_message_saying_what_to_do(
    error: GatewayRefusedError, code: ErrorCode, message: str
) -> None:
    assert refusal_outcome(error) == (code, message)
