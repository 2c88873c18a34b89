"""`AnsweringPool`: SQLAlchemy's asyncio queue pool, whose wait for a connection, timed out, says whether the database
itself stopped answering (`DatabaseNotAnswering`) rather than this process's connections all being in use.

A timed-out wait is this process's pool busy (SQLAlchemy's `TimeoutError`, DATABASE_BUSY) only with evidence that
the server answers; without it, it is the database's outage (`DatabaseNotAnswering`, SERVICE_UNAVAILABLE):
- A connect or checkout ping (`pool_pre_ping`) still unanswered after the caller's whole `pool_timeout`: no answer
  (they take no lock and wait on no other session; review53b, a PostgreSQL SIGSTOPped was told DATABASE_BUSY).
- A connect or ping of this pool answered during the wait (another caller's checkout): the server answers.
- Neither (every connection mid-statement for the whole wait: a lock wait, long work, or a server that froze under
  them, which the Python side cannot tell apart; review54b): one probe decides, a connection of its own opened
  and closed within `PROBE_TIMEOUT_SECONDS`, or refused by the server itself for a cause that is no outage (too many
  connections, authentication: `ANSWERING_REFUSALS`). At most one probe per pool runs at a time, and its result
  stands for `PROBE_RESULT_KEPT_SECONDS`: a storm of timed-out waits opens one connection, not one each.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_, greenlet_spawn

from adapters.db.checkout_waits import CheckoutWaitPool

# A new connection to a PostgreSQL that answers opens in milliseconds (a fork, authentication and ReadyForQuery);
# a caller whose wait timed out waits at most this much longer for its answer when nothing else answered.
PROBE_TIMEOUT_SECONDS = 2.0
# How long a probe's result (answered or not) stands for the pool's later timed-out waits: a server that froze
# right after a probe answered is told busy for at most this long.
PROBE_RESULT_KEPT_SECONDS = 5.0


# SQLSTATEs (PostgreSQL's Appendix A, "PostgreSQL Error Codes") with which a server refuses a new connection it read
# and judged: it forked a backend, read the startup packet and answered, so it serves; the pool waiting is this
# process's own (review55 F2: a probe refused "too many connections" was told the database's outage). Class 53's
# connection caps: 53300 too_many_connections (max_connections used up, a role's or a database's CONNECTION LIMIT),
# 53400 configuration_limit_exceeded; class 28, invalid_authorization_specification (28000: pg_hba.conf, a role that
# may not log in) and invalid_password (28P01); 42501 insufficient_privilege (no CONNECT on the database) and 3D000
# invalid_catalog_name (no such database). Not here, so an outage: class 57P (57P01 admin_shutdown, 57P02
# crash_shutdown, 57P03 cannot_connect_now: "the database system is starting up / shutting down / in recovery
# mode"), a server that is not serving, and class 08, which asyncpg also gives errors raised on the client's side.
ANSWERING_REFUSALS = frozenset({"53300", "53400", "28000", "28P01", "42501", "3D000"})


def answering_refusal(error: BaseException) -> bool:
    """Whether `error`, a failed connect, is the server's own refusal by a SQLSTATE of `ANSWERING_REFUSALS`: read from
    the error or an error it was raised from (`sqlstate`: asyncpg's `PostgresError` and SQLAlchemy's asyncpg adapter
    carry it; a timeout, a refused or reset TCP connection and SQLite's errors carry none)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "sqlstate", None) in ANSWERING_REFUSALS:
            return True
        current = current.__cause__ or current.__context__
    return False


class DatabaseNotAnswering(PoolTimeout):
    """The pool's wait timed out and the server gave no sign of answering (a connect or ping unanswered as long, or
    no answer during the wait nor to the pool's probe): an outage of the database (SERVICE_UNAVAILABLE), not this
    process's pool exhausted."""


class AnsweringPool(CheckoutWaitPool):
    """`CheckoutWaitPool` (`AsyncAdaptedQueuePool`'s arguments) that raises `DatabaseNotAnswering` instead of the
    pool's `TimeoutError` when its timed-out wait has no evidence that the server answers (module docstring).

    Overrides three private methods of SQLAlchemy 2.1's `QueuePool` / `Pool`, each calling the original:
    `_create_connection` and `_do_return_conn` (a connect in flight, a connection back) and `_do_get` (the wait).
    The probe opens its connection with the pool's own creator (`_invoke_creator`), outside the pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # monotonic seconds since which each connection, handed out or opening, has waited for the server
        self._unanswered: dict[object, float] = {}
        # monotonic seconds of the server's last answer to this pool: a checkout's connect or ping
        self._answered_at = float("-inf")
        # the probe running or last run: None when it answered, else why not (`_run_probe`)
        self._probe: asyncio.Task[str | None] | None = None
        self._probed_at = float("-inf")  # monotonic seconds at which the last probe finished
        event.listen(self, "checkout", self._answered)  # after the ping: the connection is its caller's

    def _answered(self, dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        self._unanswered.pop(record, None)
        self._answered_at = time.monotonic()  # its connect (a fresh connection) or its ping answered

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
            timed_out = exc
        else:
            self._unanswered.setdefault(record, time.monotonic())
            return record
        first_line = str(timed_out).splitlines()[0]
        unanswered = [since for since in self._unanswered.values() if since <= waiting_since]
        if unanswered:
            waited = time.monotonic() - min(unanswered)
            raise DatabaseNotAnswering(
                f"{first_line}; a connection has waited {waited:.1f} s for the database to answer its connect or ping"
            ) from timed_out
        if self._answered_at >= waiting_since:
            raise timed_out  # the server answered another checkout meanwhile: this process's pool is busy
        # Called in SQLAlchemy's greenlet (the asyncio queue's own wait awaits the same way): await the probe there.
        silence = await_(self._probe_result())
        if silence is None:
            raise timed_out  # the server answers: its connections are all held by long statements
        raise DatabaseNotAnswering(
            f"{first_line}; the database answered no connect or ping during the wait, and a probe connection {silence}"
        ) from timed_out

    async def _probe_result(self) -> str | None:
        """The result of the pool's probe (None: the server answered it; else why not, in words): the one running,
        or the last one if it finished at most `PROBE_RESULT_KEPT_SECONDS` ago, or a new one."""
        loop = asyncio.get_running_loop()
        probe = self._probe
        fresh = probe is not None and (
            not probe.done() or time.monotonic() - self._probed_at <= PROBE_RESULT_KEPT_SECONDS
        )
        if probe is None or not fresh or probe.get_loop() is not loop:
            probe = self._probe = loop.create_task(self._run_probe())
        return await asyncio.shield(probe)  # a caller cancelled leaves it to the others waiting on it

    async def _run_probe(self) -> str | None:
        """Open a connection of its own with the pool's creator and close it, within `PROBE_TIMEOUT_SECONDS`: None
        when it opened (the server forked, authenticated and readied a backend) or the server refused it for a cause
        that is no outage (`answering_refusal`: it answered), else what happened instead."""
        opened = False

        def connect_and_close() -> None:
            nonlocal opened
            # No record: the connection is never pooled and fires no pool event (the engine's creator,
            # `create_engine`'s `connect(connection_record=None)`, takes None).
            connection = self._invoke_creator(cast(ConnectionPoolEntry, None))
            opened = True
            # an asyncio driver's terminate: a graceful close within its own timeout (2 s for asyncpg), else forced
            self._dialect.do_terminate(connection)

        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                await greenlet_spawn(connect_and_close)
            return None
        except TimeoutError:
            return None if opened else f"got no answer in {PROBE_TIMEOUT_SECONDS:.1f} s"
        except Exception as exc:  # refused, reset, starting up...: no sign of a server that serves
            if opened or answering_refusal(exc):
                return None  # its close failed after the server answered, or the server itself refused it
            text = str(exc).strip().splitlines()
            return f"failed ({type(exc).__name__}: {text[0] if text else ''})"
        finally:
            self._probed_at = time.monotonic()
