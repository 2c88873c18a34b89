"""Readiness checks for `/readyz`, and the queue depths `/metrics` reads at scrape time, through the same connections.

What each finding does to the answer (a contract: load balancers read the status code, operators the body):

    the database does not answer                       problem   503: nothing can be served without it
    the SQLite file at the path is not the one opened  problem   503 `database`: writes are refused (they would be
      (removed, or replaced, while the process ran)                   lost); restore it or migrate, then restart
    the database is read-only (a standby, or           problem   503: the API writes (merchant edits, webhooks,
      default_transaction_read_only)                                  authorizations); the primary is elsewhere
    the schema is behind this code (or empty)          problem   503: run `shopbridge migrate`
    the schema is at a revision this code does not     note      200: a later release migrated it during a rolling
      know                                                            deploy; migrations are expand-then-contract
    Redis does not answer                              degraded  200: reads, webhook intake and mutations work; what
                                                                      they enqueue is kept in the database and sent
                                                                      by the sweep once Redis is back

Each check is bounded by `timeout` seconds, so a load balancer's probe never hangs on a dead dependency. Every check
also sets `shopbridge_dependency_up{dependency}` (1 answered, 0 did not): Redis being down no longer fails
`/readyz`, so that gauge is what to alert on.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from dramatiq.common import dq_name
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters import metrics
from adapters.db import migrate
from adapters.db.engine import Database
from adapters.db.migrate import SchemaPosition
from adapters.db.schema import VERSIONS, revisions_on
from adapters.queue import BROKER_NAMESPACE

CHECK_TIMEOUT_SECONDS = 2.0
# PostgreSQL, one round trip: is this session read-only (a standby in recovery is; so is a server or database set
# to default_transaction_read_only), and has any migration run. The version is then read only if it has.
_PG_STATE = text(
    "SELECT current_setting('transaction_read_only') = 'on', pg_is_in_recovery(), "
    "to_regclass('alembic_version') IS NOT NULL"
)


@dataclass(frozen=True)
class Problem:
    """A finding: `check` is `database`, `read_only`, `migrations` or `redis`; `reason` a short sentence, no
    secret."""

    check: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "reason": self.reason}


@dataclass(frozen=True)
class Readiness:
    """`problems` make the process unready (503); `degraded` it serves without (200, status `degraded`); `notes`
    are worth knowing and change nothing (a newer schema during a rolling deploy)."""

    problems: tuple[Problem, ...] = ()
    degraded: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        return "unavailable" if self.problems else "degraded" if self.degraded else "ready"

    def body(self) -> dict[str, object]:
        """`{"status": ...}` plus each non-empty list: `{"status": "ready"}` when all is well."""
        found: dict[str, object] = {"status": self.status}
        for name in ("problems", "degraded", "notes"):
            if entries := getattr(self, name):
                found[name] = [entry.as_json() for entry in entries]
        return found


@dataclass(frozen=True)
class _DatabaseState:
    read_only: bool
    in_recovery: bool
    revisions: frozenset[str]


class ReadinessProbe:
    """`await probe.check()`: what `/readyz` answers. This code's migrations are read once."""

    def __init__(self, db: Database, broker_url: str | None, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
        self._db = db
        self._broker_url = broker_url
        self._timeout = timeout
        self._head = migrate.head()
        self._known = migrate.known_revisions()
        self._redis: aioredis.Redis | None = None

    async def check(self) -> Readiness:
        database, broker = await asyncio.gather(self._database(), self._broker())
        return Readiness(problems=database.problems, degraded=database.degraded + broker.degraded, notes=database.notes)

    async def _database(self) -> Readiness:
        # PostgreSQL's writes go through the write engine (the same engine today); SQLite's write engine would take
        # the file's write lock for this read.
        engine = self._db.read_engine if self._db.is_sqlite else self._db.write_engine
        if self._db.sqlite_file is not None and (moved := self._db.sqlite_file.changed()) is not None:
            # Not the file this process opened: its connections would answer from a file no other sees, and a new
            # one is refused (it opens the file without creating it; engine.SqliteFile). One stat.
            metrics.DEPENDENCY_UP.labels("database").set(0)
            return Readiness(problems=(Problem("database", moved),))
        try:
            async with asyncio.timeout(self._timeout), engine.connect() as connection:
                state = await (self._sqlite_state(connection) if self._db.is_sqlite else self._pg_state(connection))
        except TimeoutError:
            metrics.DEPENDENCY_UP.labels("database").set(0)
            return Readiness(problems=(Problem("database", f"no answer within {self._timeout:g}s"),))
        except Exception as exc:  # any driver error means not ready; its class names the kind, never a secret
            metrics.DEPENDENCY_UP.labels("database").set(0)
            return Readiness(problems=(Problem("database", f"unreachable: {type(exc).__name__}"),))
        metrics.DEPENDENCY_UP.labels("database").set(1)
        problems: list[Problem] = []
        notes: list[Problem] = []
        if state.read_only:
            why = (
                "the server is a standby in recovery (pg_is_in_recovery): point SHOPBRIDGE_DATABASE_URL at the primary"
                if state.in_recovery
                else "its transactions are read-only (default_transaction_read_only is on)"
            )
            problems.append(Problem("read_only", f"the database refuses writes: {why}"))
        position = migrate.schema_position(state.revisions, self._head, self._known)
        shown = ", ".join(sorted(state.revisions)) or "none"
        if position in (SchemaPosition.EMPTY, SchemaPosition.BEHIND):
            problems.append(
                Problem("migrations", f"database at revision {shown}, code expects {self._head}: run migrate")
            )
        elif position is SchemaPosition.NEWER:
            notes.append(
                Problem(
                    "migrations",
                    f"database at revision {shown}, unknown to this code (head {self._head}): taken as a later "
                    "release's (migrations are expand-then-contract); replace this process with that release",
                )
            )
        return Readiness(problems=tuple(problems), notes=tuple(notes))

    @staticmethod
    async def _pg_state(connection: AsyncConnection) -> _DatabaseState:
        read_only, in_recovery, migrated = (await connection.execute(_PG_STATE)).one()
        revisions = frozenset((await connection.execute(VERSIONS)).scalars()) if migrated else frozenset()
        return _DatabaseState(bool(read_only), bool(in_recovery), revisions)

    @staticmethod
    async def _sqlite_state(connection: AsyncConnection) -> _DatabaseState:
        # A read-only SQLite file fails the first write with a clear error; no cheap check tells it here.
        return _DatabaseState(False, False, await revisions_on(connection))

    def _client(self) -> aioredis.Redis:
        assert self._broker_url is not None
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self._broker_url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout,
                retry_on_error=[aioredis.ConnectionError],  # a connection a restart closed: reconnect, not a finding
            )  # fmt: skip
        return self._redis

    async def sample_queue_depth(self, queues: tuple[str, ...]) -> None:
        """Set the `shopbridge_sync_tasks` and `shopbridge_broker_queue_messages` gauges; NaN where the database or
        Redis did not answer: unknown, where the value of the last scrape that could read them, shown as current,
        hid a backlog growing during the outage (a flat line instead of a gap)."""
        statuses = ("QUEUED", "RUNNING")
        query = text("SELECT status, count(*) FROM sync_tasks WHERE status IN ('QUEUED', 'RUNNING') GROUP BY status")
        try:
            async with asyncio.timeout(self._timeout), self._db.read_engine.connect() as connection:
                counts = {str(status): float(n) for status, n in (await connection.execute(query)).all()}
        except Exception:  # a scrape must not fail because a dependency is down: /readyz says so
            counts = dict.fromkeys(statuses, math.nan)
        for status in statuses:
            metrics.SYNC_TASKS.labels(status).set(counts.get(status, 0))
        if not self._broker_url:
            return
        depths: dict[str, float] = {}
        try:
            async with asyncio.timeout(self._timeout):
                for queue in queues:  # Dramatiq's Redis layout: a list of message ids per queue
                    ready = await self._client().llen(f"{BROKER_NAMESPACE}:{queue}")
                    delayed = await self._client().llen(f"{BROKER_NAMESPACE}:{dq_name(queue)}")
                    depths[queue] = float(int(ready) + int(delayed))
        except Exception:  # noqa: S110 (as above; the queues not read are NaN)
            pass
        for queue in queues:
            metrics.BROKER_QUEUE.labels(queue).set(depths.get(queue, math.nan))

    async def _broker(self) -> Readiness:
        """Redis, when configured: down is `degraded`, not a problem (see the module docstring)."""
        if not self._broker_url:
            return Readiness()
        try:
            async with asyncio.timeout(self._timeout):
                await self._client().ping()
        except TimeoutError:
            reason = f"no answer within {self._timeout:g}s"
        except (aioredis.RedisError, OSError) as exc:
            reason = f"unreachable: {type(exc).__name__}"
        else:
            metrics.DEPENDENCY_UP.labels("redis").set(1)
            return Readiness()
        metrics.DEPENDENCY_UP.labels("redis").set(0)
        return Readiness(
            degraded=(
                Problem(
                    "redis",
                    f"{reason}; reads, webhook intake and mutations go on, while imports, polls, webhook processing "
                    "and pushes wait (their work is kept in the database and sent by the sweep once Redis is back)",
                ),
            )
        )

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
