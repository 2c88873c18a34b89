"""The fallback re-reads of what live subscriptions follow, one per followed object and interval in this process,
shared by its followers (`SharedReads`; items: gql/inventory/shared_reads.py, shops: gql/shop_reads.py).

Security audit 50: each `inventoryItemUpdated(inventoryItemId:)` and each `shopUpdated(shopId:)` subscription re-read
what it follows every 1.5 s on its own, to catch a change whose signal was lost: 400 subscriptions of one merchant on
one quiet item took 62 % of a core, on one quiet shop 31 % (400 `syncTaskUpdated`, which share one feed per merchant,
gql/feeds.py: 2.8 %). Now the fallback re-reads wake on one grid per process (`next_tick`: multiples of
`FALLBACK_INTERVAL` of the event loop's clock), and every subscription that follows an object at a tick awaits one
read of it (`SharedReads.shared`), started at that tick or within `TICK_SLACK` before it; a follower whose `sent`
differs from what that read saw reads the object again for itself, as on a signal, and sends it. A change no signal
announced still shows within `FALLBACK_INTERVAL` + `TICK_SLACK` of the read; a signal still makes each follower read
at once for itself.

Per process and per merchant: a read is the merchant's own (keyed by merchant and object), and the memo holds only
objects someone follows (`following`), so nothing is left behind when the last follower goes.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager

FALLBACK_INTERVAL = 1.5  # seconds between re-reads of a followed object when no signal came
CLOSE_WAIT_SECONDS = 30.0  # how long the shutdown waits for the reads under way (a few statements each)
TICK_SLACK = 0.05  # seconds: a read started this long before a tick serves it (timers fire within the clock's grain)

Signature = tuple[object, ...]


def next_tick(now: float) -> float:
    """The next fallback re-read's time after `now` (the event loop's clock, seconds): a multiple of
    `FALLBACK_INTERVAL`, the same for every follower of the process."""
    return (math.floor(now / FALLBACK_INTERVAL) + 1) * FALLBACK_INTERVAL


class SharedReads:
    """The latest fallback read of each followed object, by key ((merchant id, object id)), for this process."""

    def __init__(self) -> None:
        self._latest: dict[Hashable, tuple[float, asyncio.Task[Signature | None]]] = {}
        self._followers: Counter[Hashable] = Counter()

    @contextmanager
    def following(self, key: Hashable) -> Iterator[None]:
        """While a subscription follows the object: its latest read is kept until its last follower leaves."""
        self._followers[key] += 1
        try:
            yield
        finally:
            self._followers[key] -= 1
            if self._followers[key] <= 0:
                del self._followers[key]
                self._latest.pop(key, None)

    async def shared(
        self, key: Hashable, not_before: float, read: Callable[[], Awaitable[Signature | None]]
    ) -> Signature | None:
        """What `read()` returns (a signature; None: the merchant has no such object), from a read of `key` started
        at `not_before` (loop clock) - `TICK_SLACK` or later: the one under way or done, else `read()` now. A read
        that failed is not reused (each caller's `wait_out` asks again); one caller cancelled does not cancel the read
        of the others."""
        latest = self._latest.get(key)
        if latest is not None:
            started, task = latest
            if started >= not_before - TICK_SLACK and not (task.done() and (task.cancelled() or task.exception())):
                return await asyncio.shield(task)
        loop = asyncio.get_running_loop()
        task = loop.create_task(_call(read))
        task.add_done_callback(_retrieve)
        self._latest[key] = (loop.time(), task)
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        """At shutdown, before the database is disposed of: until the reads under way have ended (at most
        `CLOSE_WAIT_SECONDS`). A read outlives the subscriptions it served (they await it shielded), and disposed
        under it, the database took its connection back after its pool was gone (left open: CI run 43's leak)."""
        under_way = [task for _, task in self._latest.values() if not task.done()]
        if under_way:
            await asyncio.wait(under_way, timeout=CLOSE_WAIT_SECONDS)


async def _call(read: Callable[[], Awaitable[Signature | None]]) -> Signature | None:
    return await read()


def _retrieve(read: asyncio.Task[Signature | None]) -> None:
    """A failed read whose every caller left is not "never retrieved": each caller raises it, if any is left."""
    if not read.cancelled():
        read.exception()
