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
from typing import TypeVar

T = TypeVar("T")


async def cancel_kept(call: Awaitable[T]) -> T:
    """`await call`; raises `asyncio.CancelledError` when the current task was cancelled while `call` ran and `call`
    returned (or raised anything else) instead of propagating it: a cancellation is never lost in `call`.

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
            raise asyncio.CancelledError from exc
        raise
    if task.cancelling() > requested:
        raise asyncio.CancelledError
    return result
