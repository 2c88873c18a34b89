"""`cancel_kept`: await a library call, and stop if the task was cancelled meanwhile even when the library lost it.

redis-py's asyncio client (8.1) sends each command through `asyncio.wait_for(..., socket_timeout)`, and on Python 3.11
`asyncio.wait_for` returns normally in place of raising a cancellation that reaches it once the inner operation has
completed (CPython gh-86296, fixed in 3.12; SQLAlchemy works around it in `sqlalchemy.util.compat.wait_for`). A Redis
call cancelled in that window returns as if nothing happened: the task carries on, its cancellation lost. One lost in
an import's writer (the sync task signal it publishes after each batch, or an inventory item signal after commit) let
the writer loop back and wait for a page no cancelled source would ever send: the worker's shutdown then waited for
it until it was killed, and the task was never handed back (issue "a worker hangs on SIGTERM during an ORDERS import").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_kept(call: Awaitable[T]) -> T:
    """`await call`; raises `asyncio.CancelledError` (with the cancel's message: `lost_cancellation`) when the current
    task was cancelled while `call` ran and `call` returned (or raised anything else) instead of propagating it: a
    cancellation is never lost in `call`.

    A cancellation `call` handled itself and withdrew (`Task.uncancel`, as `asyncio.timeout` does for its own) does not
    count. Returns what `call` returns; raises what it raises otherwise."""
    task = asyncio.current_task()
    if task is None:
        return await call
    requested = task.cancelling()
    try:
        result = await call
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        if task.cancelling() > requested:
            raise lost_cancellation(task) from exc
        raise
    if task.cancelling() > requested:
        raise lost_cancellation(task)
    return result


def lost_cancellation(task: asyncio.Task[Any]) -> asyncio.CancelledError:
    """The `CancelledError` of `task`'s cancellation, for a callee that lost it: with the message its canceller gave
    (`Task.cancel(msg)`), none if it gave none. uvicorn's stop cancels a request with one, which
    `gql.logfilters.CancelledAtStopLines` looks for: raised bare, a request cancelled at the stop through a lost
    cancellation was uvicorn's ERROR and traceback, not the stop's one WARNING (fix72b). The callee dropped the
    exception that carried it (Python 3.11's `asyncio.wait_for`, gh-86296), and asyncio has no public reader of the
    message: it is read from the task's `_cancel_message` (CPython 3.11-3.13, its C and Python tasks; set by each
    `cancel()`), absent elsewhere, then the error has none."""
    message = getattr(task, "_cancel_message", None)
    return asyncio.CancelledError() if message is None else asyncio.CancelledError(message)
