"""`CheckoutWaitPool`: SQLAlchemy's asyncio queue pool whose wait for a connection a cancelled caller can end at once.

`adapters.db.sessions.run_to_completion` lets a cancelled caller's database call run to its end, so that no
statement is cut in half. A call whose connection is still to come from an exhausted pool has begun nothing: cutting
it costs nothing, while running it to its end waited up to the pool's whole timeout (SHOPBRIDGE_DB_POOL_TIMEOUT,
30 s). At a server's stop, a live subscription's read waiting so kept its WebSocket handler alive through the whole
graceful-shutdown time, then was cancelled with an ERROR line (shutdown55, soak55 F4). `give_up_waiting(task)`, called
for the task that runs such a call, ends its wait for a connection now (asyncio's cancellation, into the queue's
wait) or, if it is not waiting yet, as soon as it begins to in its current call. A connect under way (the pool
opening a connection: asyncpg's handshake, aiosqlite's thread) and the checkout's ping are not a wait: they run
to their end as any other database call.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

_waiting: set[asyncio.Future[Any]] = set()  # tasks in a pool's wait for a connection, now
_given_up: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()  # their caller no longer wants the connection


def give_up_waiting(task: asyncio.Future[Any]) -> None:
    """End `task`'s wait for a pool connection (asyncio.CancelledError in it): now if it waits, else when it begins
    to wait. Nothing else of `task` is cancelled."""
    _given_up.add(task)
    if task in _waiting:
        task.cancel()


def _current_task() -> asyncio.Future[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: a pool used outside asyncio
        return None


class CheckoutWaitPool(AsyncAdaptedQueuePool):
    """`AsyncAdaptedQueuePool` (same arguments) whose wait for a connection ends at once for a task given up on
    (`give_up_waiting`). Overrides two private methods of SQLAlchemy 2.1's `QueuePool`, each calling the original:
    `_do_get` (the wait) and `_create_connection` (a connect: no longer a wait)."""

    # SQLAlchemy names a pool's logger after its class unless told otherwise: under `adapters.` (INFO with our root)
    # its "Pool disposed" / "Pool recreating" lines reached every command's stderr (98fcd0d7, AnsweringPool's; the
    # SQLite engines' too once they took this class); under SQLAlchemy's own namespace they stay at its WARNING.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def _do_get(self) -> ConnectionPoolEntry:
        task = _current_task()
        if task is None:
            return super()._do_get()
        if task in _given_up:
            raise asyncio.CancelledError
        _waiting.add(task)
        try:
            return super()._do_get()
        finally:
            _waiting.discard(task)

    def _create_connection(self) -> ConnectionPoolEntry:
        task = _current_task()
        if task is not None:
            _waiting.discard(task)  # a connect runs to its end
        return super()._create_connection()
