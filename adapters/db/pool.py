"""`AnsweringPool`: SQLAlchemy's asyncio queue pool, whose wait for a connection, timed out, says whether the database
itself stopped answering (`DatabaseNotAnswering`) rather than this process's connections all being in use.

A connection handed out of the pool first waits for the server alone: its connect, or `pool_pre_ping`'s ping, takes
no lock and waits on no other session. One of them still unanswered after a caller's whole `pool_timeout` means the
server does not answer (stopped, a hung host, a network black hole: review53b, a PostgreSQL SIGSTOPped was told
DATABASE_BUSY). Connections held by queries (a lock wait, long work) say nothing of the server: that pool is busy.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry


class DatabaseNotAnswering(PoolTimeout):
    """The pool's wait timed out while a connection of it had waited at least as long for the server to answer its
    connect or ping: an outage of the database (SERVICE_UNAVAILABLE), not this process's pool exhausted."""


class AnsweringPool(AsyncAdaptedQueuePool):
    """`AsyncAdaptedQueuePool` (same arguments) that raises `DatabaseNotAnswering` instead of the pool's
    `TimeoutError` when a connect or checkout ping began before the timed-out wait and is still unanswered."""

    # SQLAlchemy names a pool's logger after its class unless told otherwise: under `adapters.` (INFO with our root)
    # its "Pool disposed" / "Pool recreating" lines reached every command's stderr; under SQLAlchemy's own namespace
    # they stay at its WARNING, as the pool this one extends did.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # monotonic seconds since which each connection, handed out or opening, has waited for the server
        self._unanswered: dict[object, float] = {}
        event.listen(self, "checkout", self._answered)  # after the ping: the connection is its caller's

    def _answered(self, dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        self._unanswered.pop(record, None)

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._unanswered.pop(record, None)  # a ping or connect that failed comes back here too
        super()._do_return_conn(record)

    def _create_connection(self) -> ConnectionPoolEntry:
        opening = object()
        self._unanswered[opening] = time.monotonic()
        try:
            return super()._create_connection()
        finally:
            del self._unanswered[opening]

    def _do_get(self) -> ConnectionPoolEntry:
        waiting_since = time.monotonic()
        try:
            record = super()._do_get()
        except DatabaseNotAnswering:
            raise
        except PoolTimeout as exc:
            unanswered = [since for since in self._unanswered.values() if since <= waiting_since]
            if not unanswered:
                raise  # every connection in use by its caller: this process's pool is busy
            waited = time.monotonic() - min(unanswered)
            first_line = str(exc).splitlines()[0]
            raise DatabaseNotAnswering(
                f"{first_line}; a connection has waited {waited:.1f} s for the database to answer its connect or ping"
            ) from exc
        self._unanswered.setdefault(record, time.monotonic())
        return record
