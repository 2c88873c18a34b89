"""`WriteTurns`: SQLite's one write lock taken in turn, first come first served, by this process's writers.

SQLite lets one connection write at a time; another connection's `BEGIN IMMEDIATE` does not queue for the lock, it
polls: SQLite's busy handler sleeps 1, 2, 5, ... up to 100 ms between tries. A writer that commits and begins again
at once (an import's pipeline, transaction after transaction) takes the lock back before a poller's next try, so a
mutation waited until it happened to poll in a gap: 1.8 s over 18 transactions of 0.1 s in a measured run, and
2.6-6.7 s for `inventoryItemCreate` and the OAuth callback while a 30,000-order import ran on the embedded default.
Here this process's write sessions (`Database.write_sessionmaker` on SQLite, the API and the embedded worker pool
alike, in any thread or event loop) wait for their turn in arrival order before their BEGIN, and a session ending
its transaction hands the lock to the longest waiter directly: a mutation waits for at most the transactions that
were already queued. SQLite's busy timeout still covers other processes (a `shopbridge migrate`, a second tool).

A session waits at most `timeout` seconds for its turn (the busy timeout: a writer waiting longer would have failed
with "database is locked" anyway); then it goes on without one, to SQLite's own waiting, exactly as before turns.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque


class WriteTurns:
    """First-come-first-served turns among coroutines of any thread's event loop. `acquire()` waits for a turn
    (True) or gives up after `timeout` seconds (False: the caller goes on without one and must not `release`);
    `release()` ends the turn and hands it to the longest waiter. Cancelled while waiting: no turn is kept."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        # The last turn handed to a waiter, and when: a loop stopped (not yet closed) never runs the hand-over, and
        # its turn would be held for ever; a waiter timing out after it frees that turn (`_reclaim`).
        self._handed: tuple[asyncio.Future[None], float] | None = None

    async def acquire(self) -> bool:
        loop = asyncio.get_running_loop()
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiting.append((loop, waiter))
        try:
            async with asyncio.timeout(self.timeout):
                await waiter
            return True
        except BaseException as exc:  # cancelled, or timed out: leave the queue, or pass on a turn handed meanwhile
            with self._mutex:
                try:
                    self._waiting.remove((loop, waiter))
                    handed = False
                except ValueError:
                    handed = True  # `release` chose this waiter already: the turn is ours to pass on
            if handed:
                self.release()
            if isinstance(exc, TimeoutError):
                self._reclaim()
                return False
            raise

    def _reclaim(self) -> None:
        with self._mutex:
            stuck = self._handed is not None and not self._handed[0].done()
            if not stuck or self._handed is None or time.monotonic() - self._handed[1] < self.timeout:
                return
            self._handed = None
        self.release()  # the turn handed to a loop that never ran again: the next waiter's

    def release(self) -> None:
        with self._mutex:
            while self._waiting:
                loop, waiter = self._waiting.popleft()
                if loop.is_closed():  # its thread's loop ended: nobody is waiting there any more
                    continue
                try:
                    loop.call_soon_threadsafe(_hand_over, waiter)
                except RuntimeError:  # the loop closed just now
                    continue
                self._handed = (waiter, time.monotonic())
                return  # still held: handed over
            self._held = False


def _hand_over(waiter: asyncio.Future[None]) -> None:
    # A waiter cancelled meanwhile found itself out of the queue and passes the turn on (`acquire`).
    if not waiter.done():
        waiter.set_result(None)


_turns: dict[str, WriteTurns] = {}
_turns_lock = threading.Lock()


def write_turns(database: str, timeout: float) -> WriteTurns:
    """The process's turns for the SQLite database file `database` (one per file, whatever the engines)."""
    if database != ":memory:":
        database = os.path.abspath(database)
    with _turns_lock:
        turns = _turns.get(database)
        if turns is None:
            turns = _turns[database] = WriteTurns(timeout)
        return turns
