"""SQLite's writers take turns (`adapters.db.write_turns`): a write waits for the transactions queued before it, not
for the luck of SQLite's busy handler, however busy another thread's writer keeps the lock.

Before turns, a write arriving while an import committed transaction after transaction waited until one of its
busy-handler polls (every 1 to 100 ms) landed in the gap between two of them: seconds of waiting for a mutation.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
import sqlalchemy as sa

from adapters.db import Database
from adapters.db.write_turns import WriteTurns
from tests.fixtures.waiting import DEADLINE_SECONDS

HOLD_SECONDS = 0.05  # how long the busy writer keeps each transaction open (an import's batch)
WRITES = 5


class BusyWriter(threading.Thread):
    """An import's writer in the embedded worker pool: its own thread and event loop, back-to-back transactions."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.commits, self.started = url, 0, threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        asyncio.run(self._write())

    async def _write(self) -> None:
        database = Database(self.url)
        try:
            while not self._halt.is_set():
                async with database.write_sessionmaker() as session:
                    await session.execute(sa.text("INSERT INTO scratch (writer) VALUES ('busy')"))
                    self.started.set()
                    await asyncio.sleep(HOLD_SECONDS)
                    await session.commit()
                self.commits += 1
        finally:
            await database.dispose()

    def stop(self) -> None:
        self._halt.set()
        self.join(DEADLINE_SECONDS)


async def test_a_write_waits_for_at_most_the_transaction_under_way_while_another_thread_writes_back_to_back(
    sqlite_url: str,
) -> None:
    # given a writer in another thread that commits and begins again at once, holding SQLite's lock nearly always
    database = Database(sqlite_url)
    async with database.write_sessionmaker() as session:
        await session.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, writer TEXT)"))
        await session.commit()
    busy = BusyWriter(sqlite_url)
    busy.start()
    try:
        assert await asyncio.to_thread(busy.started.wait, DEADLINE_SECONDS)
        for _ in range(WRITES):
            # when this loop writes (a mutation)
            before = busy.commits
            async with database.write_sessionmaker() as session:
                await session.execute(sa.text("INSERT INTO scratch (writer) VALUES ('mutation')"))
                await session.commit()
            # then it got the lock after the busy writer's transaction under way (and at most one it had queued
            # first), not after a run of them; before turns it waited about 18 of 0.1 s in a measured run
            assert busy.commits - before <= 2
        await asyncio.sleep(HOLD_SECONDS * 4)
        assert busy.commits >= 2  # and the busy writer kept its turns too
    finally:
        await asyncio.to_thread(busy.stop)
        await database.dispose()


async def test_turns_go_in_arrival_order_and_a_cancelled_waiter_passes_its_turn_on() -> None:
    turns = WriteTurns(timeout=DEADLINE_SECONDS)
    order: list[str] = []
    assert await turns.acquire()

    async def write(name: str) -> None:
        assert await turns.acquire()
        order.append(name)
        await asyncio.sleep(0)
        turns.release()

    first, cancelled, last = (asyncio.create_task(write(n)) for n in ("first", "cancelled", "last"))
    await asyncio.sleep(0)  # all three queued, in this order
    cancelled.cancel()
    turns.release()
    await asyncio.wait_for(asyncio.gather(first, last), DEADLINE_SECONDS)
    assert order == ["first", "last"]
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await asyncio.wait_for(turns.acquire(), DEADLINE_SECONDS)  # nothing kept a turn


async def test_a_turn_handed_to_a_waiter_cancelled_before_it_ran_goes_to_the_next() -> None:
    turns = WriteTurns(timeout=DEADLINE_SECONDS)
    assert await turns.acquire()
    waiter = asyncio.create_task(turns.acquire())
    after = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0)
    turns.release()  # handed to `waiter`, whose hand-over has not run yet
    waiter.cancel()
    assert await asyncio.wait_for(after, DEADLINE_SECONDS)
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_a_waiter_past_the_timeout_goes_on_without_a_turn() -> None:
    turns = WriteTurns(timeout=0.05)
    assert await turns.acquire()
    assert await turns.acquire() is False  # the holder never released: the caller falls back to SQLite's waiting
