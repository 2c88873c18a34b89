"""Where one sync run must stop, and what it is told: its own deadline, and TikTok refusing a request.

    await within_time_limit(seconds, import_coroutine)   raises TimeLimitExceededError once `seconds` have passed
    code, message = refusal_outcome(error)               the task's error code and message for a GatewayRefusedError

The deadline is enforced here, on the event loop, so it holds however the run is hosted: Dramatiq's TimeLimit only
interrupts the worker thread, which for an async actor merely cancels the coroutine's future (the embedded pool
then kept a stuck import RUNNING, sending requests). When it passes, everything the run had under way is cancelled,
so no request of it is sent afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from domain.errors import ErrorCode
from domain.ports import CursorStuckError, GatewayRefusedError, MissingPermissionError


class TimeLimitExceededError(Exception):
    """One run of a task outlived its time limit (`SyncOptions.time_limit_seconds`); it was stopped."""


async def within_time_limit(seconds: float | None, work: Coroutine[Any, Any, None]) -> None:
    """Await `work`, cancelling it after `seconds` (None: no limit) and raising `TimeLimitExceededError` then."""
    if seconds is None:
        await work
        return
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            await work
    except TimeoutError:
        if not deadline.expired():
            raise  # a timeout of something inside, not ours
        raise TimeLimitExceededError(
            f"The run passed its time limit of {seconds:g} s (SHOPBRIDGE_SYNC_TIME_LIMIT) and was stopped: TikTok "
            "answered too slowly. What was stored so far is kept."
        ) from None


def refusal_outcome(error: GatewayRefusedError) -> tuple[ErrorCode, str]:
    """The task's error code and message for a request TikTok refused; retrying it cannot help (tiktok-api.md
    sec. 12): MISSING_SCOPE (105005, one API's permission; sec. 13.8), TIKTOK_CURSOR_STUCK, else TIKTOK_REJECTED."""
    if isinstance(error, MissingPermissionError):
        api = error.api or "an API the import needs"
        return ErrorCode.MISSING_SCOPE, (
            f"TikTok refused {api}: the app or the shop's authorization lacks that API's permission (scope): "
            f"{error}. Enable the scope for the app in TikTok Partner Center, then have the seller re-authorize "
            "the shop. The shop's other syncs are not affected."
        )
    if isinstance(error, CursorStuckError):
        return ErrorCode.TIKTOK_CURSOR_STUCK, f"{error}. What was stored before is kept."
    return ErrorCode.TIKTOK_REJECTED, f"TikTok refused a request, and would refuse it again: {error}"
