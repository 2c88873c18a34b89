"""Readiness checks for `/readyz`: the database answers and is migrated to head; Redis answers when configured.
Also the queue depths `/metrics` reads at scrape time, through the same connections.

Each check is bounded by `timeout` seconds, so a load balancer's probe never hangs on a dead dependency.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import text

from adapters import metrics
from adapters.db import migrate
from adapters.db.engine import Database

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Problem:
    """A failed check: `check` is `database`, `migrations` or `redis`; `reason` a short sentence, no secret."""

    check: str
    reason: str


class ReadinessProbe:
    """`await probe.problems()`: an empty list when the process can serve; the head revision is read once."""

    def __init__(self, db: Database, broker_url: str | None, timeout: float = CHECK_TIMEOUT_SECONDS) -> None:
        self._db = db
        self._broker_url = broker_url
        self._timeout = timeout
        self._head = migrate.head()
        self._redis: aioredis.Redis | None = None

    async def problems(self) -> list[Problem]:
        checks = [self._database()]
        if self._broker_url:
            checks.append(self._broker())
        found: list[Problem] = []
        for problem in await asyncio.gather(*checks):
            found.extend(problem)
        return found

    async def _database(self) -> list[Problem]:
        try:
            async with asyncio.timeout(self._timeout), self._db.read_engine.connect() as connection:
                exists = await connection.run_sync(lambda c: c.dialect.has_table(c, "alembic_version"))
                revision = (
                    (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
                    if exists
                    else None
                )
        except TimeoutError:
            return [Problem("database", f"no answer within {self._timeout:g}s")]
        except Exception as exc:  # any driver error means not ready; its class names the kind, never a secret
            return [Problem("database", f"unreachable: {type(exc).__name__}")]
        if revision != self._head:
            return [Problem("migrations", f"database at revision {revision}, code expects {self._head}: run migrate")]
        return []

    def _client(self) -> aioredis.Redis:
        assert self._broker_url is not None
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self._broker_url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout,
                retry_on_error=[aioredis.ConnectionError],  # a connection a restart closed: reconnect, not a 503
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
                    ready = await self._client().llen(f"dramatiq:{queue}")
                    delayed = await self._client().llen(f"dramatiq:{queue}.DQ")
                    depths[queue] = float(int(ready) + int(delayed))
        except Exception:  # noqa: S110 (as above; the queues not read are NaN)
            pass
        for queue in queues:
            metrics.BROKER_QUEUE.labels(queue).set(depths.get(queue, math.nan))

    async def _broker(self) -> list[Problem]:
        try:
            async with asyncio.timeout(self._timeout):
                await self._client().ping()
        except TimeoutError:
            return [Problem("redis", f"no answer within {self._timeout:g}s")]
        except (aioredis.RedisError, OSError) as exc:
            return [Problem("redis", f"unreachable: {type(exc).__name__}")]
        return []

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
