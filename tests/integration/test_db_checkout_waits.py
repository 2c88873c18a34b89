"""A cancelled caller's wait for a pool connection ends at once and leaves the pool whole (SQLite and PostgreSQL).

`adapters.db.checkout_waits.CheckoutWaitPool` (SQLite's pool, and `AnsweringPool`'s base on PostgreSQL) cancels
the wait of a database call whose caller `run_to_completion` saw cancelled (shutdown55, soak55 F4). That wait is
SQLAlchemy's asyncio queue (`sqlalchemy.util.queue.AsyncAdaptedQueue.get`) inside `QueuePool._do_get`, whose
counts (`_overflow`, the queue's size) say how many connections the pool may still open. A cancellation that left
them wrong would leak a connection (counted out, never back) or shrink the pool for good (every later caller
waiting its whole `pool_timeout`). Here many waiters are cancelled at chosen points, among them the one a returned
connection has just woken and the ones already given a connection, while other waiters check out and give back
connections; then the pool must hold what it counts and serve `pool_size + max_overflow` callers again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from adapters.db.engine import create_engine
from adapters.db.sessions import UninterruptedSession
from tests.fixtures.waiting import DEADLINE_SECONDS, until

POOL_SIZE = 2
MAX_OVERFLOW = 2
WAITERS = 40


class PoolCounts:
    """What happened to `engine`'s DBAPI connections, counted by SQLAlchemy's pool events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.opened = self.closed = self.checkouts = 0
        sa.event.listen(engine.sync_engine, "connect", self._count("opened"))
        sa.event.listen(engine.sync_engine, "close", self._count("closed"))
        sa.event.listen(engine.sync_engine, "checkout", self._count("checkouts"))

    def _count(self, name: str) -> Callable[..., None]:
        def count(*_: Any) -> None:
            setattr(self, name, getattr(self, name) + 1)

        return count


def _getters(engine: AsyncEngine) -> int:
    """How many callers wait in the pool's queue now (SQLAlchemy's asyncio.Queue of `AsyncAdaptedQueue`)."""
    return len(engine.pool._pool._queue._getters)  # type: ignore[attr-defined]


async def _read(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(sa.text("SELECT 1")))


async def _checkout(engine: AsyncEngine) -> AsyncConnection:
    connection = engine.connect()
    await connection.start()
    return connection


async def _assert_pool_whole(engine: AsyncEngine, counts: PoolCounts) -> None:
    """Nothing checked out; the pool's counts say the connections it holds; it lends `pool_size + max_overflow`
    connections at once, and one more caller waits."""
    pool: Any = engine.pool
    assert pool.checkedout() == 0
    # `_overflow` starts at -pool_size and counts each connection opened and each closed: it must be the
    # connections open (all idle in the queue now) minus pool_size, and no DBAPI connection is open outside
    assert counts.opened - counts.closed == pool.checkedin()
    assert pool.overflow() == pool.checkedin() - POOL_SIZE
    held = await asyncio.gather(*(_checkout(engine) for _ in range(POOL_SIZE + MAX_OVERFLOW)))
    assert pool.checkedout() == POOL_SIZE + MAX_OVERFLOW
    one_more = asyncio.create_task(_checkout(engine))
    await until(lambda: _getters(engine) == 1, "one caller more than the pool lends to wait")
    await held.pop().close()
    held.append(await one_more)
    for connection in held:
        await connection.close()
    assert pool.checkedout() == 0
    assert pool.overflow() == 0  # pool_size connections kept, the overflow ones closed on their return
    assert counts.opened - counts.closed == POOL_SIZE


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_waits_cancelled_while_connections_come_back_leave_the_pool_whole(
    database_url: str, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rng = random.Random(seed)
    engine = create_engine(database_url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_timeout=DEADLINE_SECONDS)
    counts = PoolCounts(engine)
    sessions = async_sessionmaker(engine, class_=UninterruptedSession, expire_on_commit=False)
    try:
        # given every connection the pool may open held (its pool_size and its whole overflow)
        held = [await _checkout(engine) for _ in range(POOL_SIZE + MAX_OVERFLOW)]
        # and many reads waiting for one, in the queue in the order they started
        readers = [asyncio.create_task(_read(sessions)) for _ in range(WAITERS)]
        await until(lambda: _getters(engine) == WAITERS, "every read to wait for a connection")
        checkouts_before = counts.checkouts

        # when the held connections come back one by one, and right after each the read it just woke is cancelled
        # (it holds the queue's wake-up and has not run yet), with others waiting, or reading on a connection
        # they got (their statement runs to its end), while the reads not cancelled take and give back
        # connections between two cancellations
        cancelled: set[int] = set()
        # (bounded: a wake-up lost with a cancelled read would leave the others waiting with connections idle)
        async with asyncio.timeout(DEADLINE_SECONDS):
            while not all(reader.done() for reader in readers):
                if held:
                    await held.pop().close()
                    woken = next(
                        (n for n, reader in enumerate(readers) if not reader.done() and n not in cancelled), None
                    )
                    if woken is not None:
                        cancelled.add(woken)
                        readers[woken].cancel()
                for n in rng.sample(range(WAITERS), 4):
                    if not readers[n].done() and rng.random() < 0.5:
                        cancelled.add(n)
                        readers[n].cancel()  # twice for some: each cancellation gives its wait up again
                for _ in range(rng.randrange(1, 4)):
                    await asyncio.sleep(0)  # one turn of the loop: the readers woken move on (no clock involved)
        outcomes = await asyncio.gather(*readers, return_exceptions=True)

        # then every read either read its row or ended cancelled, and only those not cancelled all read
        assert all(outcome == 1 or isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
        assert all(outcomes[n] == 1 for n in range(WAITERS) if n not in cancelled)
        # and cancelled reads that still waited never took a connection (before shutdown56 each waited its turn,
        # took one and read: one checkout per read)
        assert counts.checkouts - checkouts_before < WAITERS
        # and the pool is whole: nothing leaked, its counts right, all its connections lent again
        await _assert_pool_whole(engine, counts)
    finally:
        await engine.dispose()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy")] == []


async def test_a_connect_under_way_runs_to_its_end_when_its_caller_is_cancelled(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_timeout=DEADLINE_SECONDS)
    counts = PoolCounts(engine)
    sessions = async_sessionmaker(engine, class_=UninterruptedSession, expire_on_commit=False)
    readers: list[asyncio.Task[int]] = []
    connects_begun = 0

    def connect_begins(*_: Any) -> None:
        # The last read's connect begins: cancel them all. Each read's first steps run on one turn of the loop, up
        # to its connect's first await, so no connect has ended yet.
        nonlocal connects_begun
        connects_begun += 1
        if connects_begun == len(readers):
            for reader in readers:
                reader.cancel()

    # SQLAlchemy's dialect event just before the driver's connect (asyncpg's handshake, aiosqlite's thread)
    sa.event.listen(engine.sync_engine, "do_connect", connect_begins)
    try:
        # given reads each opening a connection of its own (the pool has none yet, nobody waits)
        readers.extend(asyncio.create_task(_read(sessions)) for _ in range(POOL_SIZE + MAX_OVERFLOW))
        # when they are cancelled during their connect
        outcomes = await asyncio.gather(*readers, return_exceptions=True)
        # then each connect ran to its end (it is no wait: the pool counts it, and cut it would leave the server a
        # half-open session), the read on it too, and the reads ended cancelled
        assert connects_begun == len(readers)
        assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
        assert counts.opened == counts.checkouts == len(readers)
        await _assert_pool_whole(engine, counts)
    finally:
        await engine.dispose()


async def test_the_pool_logs_under_sqlalchemys_namespace(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # given the root logger at INFO, as every `shopbridge` command has it (adapters.logs.configure_logging)
    caplog.set_level(logging.INFO)
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SELECT 1")
    # when the engine is disposed, as each process does at its end
    await engine.dispose()
    # then the pool's "Pool disposed" / "Pool recreating" lines stay under SQLAlchemy's loggers, at their WARNING
    # (98fcd0d7): once the SQLite engines took `CheckoutWaitPool`, a logger named after it, under `adapters.`, wrote
    # them on every command's stderr
    assert engine.pool.logger.name.startswith("sqlalchemy.pool.")
    assert [f"{r.name}: {r.getMessage()}" for r in caplog.records if "Pool " in r.getMessage()] == []
