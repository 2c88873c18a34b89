"""The reads of what live subscriptions follow, one in flight per followed object in this process, shared by its
followers (`SharedReads`; items: gql/inventory/shared_reads.py, shops: gql/shop_reads.py): the first state, the re-read
on a change signal, and the fallback re-read when no signal came.

Issue 9 (Performance): "one database read per update ... however many subscribers ... Share the read; keep 'the
database is the truth'". `syncTaskUpdated` does it with one feed per merchant (gql/feeds.py), and so does the
all-items `inventoryItemUpdated` (gql/inventory/item_feed.py); `inventoryItemUpdated(inventoryItemId:)` / `(sku:)`
and `shopUpdated` follow one object each, so they share per object: every follower asks `SharedReads.shared` for a read
fresh enough for it, and gets the one under way or done if it is, else starts one (or, while one is under way, the
next, which starts when that one ends: at most one in flight per object, and one queued after it).

Fresh enough: a read serves a follower only if it began after what the follower waits for.
- A change signal: the read took its delivery mark (adapters/events.py `mark()`) after the signal that woke the
  follower was delivered (`Subscription.woken_by`), so after that signal's commit (signals are published after their
  commit). A read that started before the signal, under way or done, never serves it: it may have missed the commit.
- Its first state: a read marked after the follower subscribed to the signals (`mark()` then), so a client that
  subscribes after its own commit sees that commit, and misses no change between its first state and its signals.
- The fallback re-read (security audit 50: 400 subscriptions of one quiet item re-reading it each on its own every
  1.5 s took 62 % of a core, of one quiet shop 31 %; 400 `syncTaskUpdated`: 2.8 %): the followers wake on one grid per
  process (`next_tick`: multiples of `FALLBACK_INTERVAL` of the event loop's clock), and a read started at that tick or
  within `TICK_SLACK` before it serves them. A change no signal announced shows within `FALLBACK_INTERVAL` +
  `TICK_SLACK` of the read.
So N followers of one object woken by one signal cost one read (the signal is delivered to every follower before any
of them runs), not N.

Per process and per merchant: a read is the merchant's own (keyed by merchant and object, read with that merchant's
loaders), and the memo holds only objects someone follows (`following`), so nothing is left behind when the last
follower goes. A read that failed is not reused (each caller's `wait_out` asks again); a caller cancelled does not
cancel the read for the others (it awaits it shielded); the reads under way are awaited at shutdown (`aclose`).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Generic, TypeVar

from adapters.events import Subscription, mark

if TYPE_CHECKING:
    from gql.container import Services

FALLBACK_INTERVAL = 1.5  # seconds between re-reads of a followed object when no signal came
CLOSE_WAIT_SECONDS = 30.0  # how long the shutdown waits for the reads under way (a few statements each)
TICK_SLACK = 0.05  # seconds: a read started this long before a tick serves it (timers fire within the clock's grain)

Signature = tuple[object, ...]
S = TypeVar("S")


def next_tick(now: float) -> float:
    """The next fallback re-read's time after `now` (the event loop's clock, seconds): a multiple of
    `FALLBACK_INTERVAL`, the same for every follower of the process."""
    return (math.floor(now / FALLBACK_INTERVAL) + 1) * FALLBACK_INTERVAL


async def next_read(
    signals: Subscription, object_id: str, tick: float, still_allowed: Callable[[], object]
) -> tuple[int, float]:
    """Until a followed object is to be read again: a signal naming `object_id`, or one that may have lost its names
    (an empty set: an overflow or a reconnect), woke its follower (returns the signal's delivery mark and -inf: a read
    begun after it), or the fallback `tick` (loop clock seconds) came (returns 0 and `tick`: the one read of the
    object at that tick). Signals naming only the merchant's other objects are taken and let go: their commits did not
    touch this one (each writer names what it changes; one left unnamed shows at the tick). `still_allowed` is called
    after each wake-up (`Context.require_merchant`: it raises UNAUTHENTICATED once the token has expired).

    Issue 9 (one read per update): woken by every signal of its merchant, a follower of one pool item re-read it on
    each change of any other (20 changes of another item: 21 reads), a follower of one shop on each page of an import
    of any other shop of the merchant (10 task signals of another shop: 10 reads)."""
    loop = asyncio.get_running_loop()
    while True:
        changed = await signals.wait(tick - loop.time())
        still_allowed()  # a subscription does not outlive its token
        if changed is not None and (not changed or object_id in changed):  # re-read by a read begun after delivery
            return signals.woken_by, -math.inf
        if changed is None or loop.time() >= tick:  # the tick came (signals of other objects never put it off)
            return 0, tick


class _Read(Generic[S]):
    """One read of an object: when it started (loop clock seconds, delivery mark), its task, and the read queued to
    start when it ends (for the callers it cannot serve)."""

    __slots__ = ("mark", "queued", "started_at", "task")

    def __init__(self, started_at: float, started_mark: int, task: asyncio.Task[S]) -> None:
        self.started_at = started_at
        self.mark = started_mark
        self.task = task
        self.queued: asyncio.Task[S] | None = None

    def serves(self, after: int, not_before: float) -> bool:
        """Began after delivery mark `after` and at `not_before` - `TICK_SLACK` or later, and has not failed."""
        task = self.task
        failed = task.done() and (task.cancelled() or task.exception() is not None)
        return self.mark > after and self.started_at >= not_before - TICK_SLACK and not failed


class SharedReads(Generic[S]):
    """The latest read of each followed object, by key ((merchant id, object id)), for this process."""

    def __init__(self) -> None:
        self._latest: dict[Hashable, _Read[S]] = {}
        self._followers: Counter[Hashable] = Counter()
        self._under_way: set[asyncio.Task[S]] = set()

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

    async def state(
        self, services: Services, merchant_id: str, object_id: str, *, after: int = 0, not_before: float = -math.inf
    ) -> S:
        """The followed object as a read that began after delivery mark `after` and at `not_before` (loop clock) -
        `TICK_SLACK` or later found it (`read_state`'s answer, keyed (merchant id, object id); `shared`)."""
        read = functools.partial(self.read_state, services, merchant_id, object_id)
        return await self.shared((merchant_id, object_id), read, after=after, not_before=not_before)

    async def read_state(self, services: Services, merchant_id: str, object_id: str) -> S:
        """One read of the object, with the merchant's own loaders (each kind of followed object says how)."""
        raise NotImplementedError

    async def shared(
        self, key: Hashable, read: Callable[[], Awaitable[S]], *, after: int = 0, not_before: float = -math.inf
    ) -> S:
        """What `read()` returns, from a read of `key` that took its delivery mark after `after` (`mark()`, or the
        `woken_by` of the signal the caller woke on) and started at `not_before` (loop clock) - `TICK_SLACK` or later:
        the one under way or done if it is, else the next one (started now, or queued after the one under way)."""
        latest = self._latest.get(key)
        if latest is not None and latest.serves(after, not_before):
            return await asyncio.shield(latest.task)
        if latest is not None and not latest.task.done():
            if latest.queued is None:  # one read in flight per key: the next begins when it ends
                latest.queued = self._track(asyncio.get_running_loop().create_task(self._after(key, latest, read)))
            return await asyncio.shield(latest.queued)
        return await asyncio.shield(self._start(key, read, latest).task)

    def _start(self, key: Hashable, read: Callable[[], Awaitable[S]], replacing: _Read[S] | None) -> _Read[S]:
        """A read of `key` begun now; the latest of `key` unless another replaced `replacing` meanwhile (or its last
        follower left)."""
        loop = asyncio.get_running_loop()
        started = _Read(loop.time(), mark(), self._track(loop.create_task(_call(read))))
        if key in self._followers and self._latest.get(key) is replacing:
            self._latest[key] = started
        return started

    async def _after(self, key: Hashable, previous: _Read[S], read: Callable[[], Awaitable[S]]) -> S:
        await asyncio.wait([previous.task])  # its outcome is its own callers'
        return await self._start(key, read, previous).task

    def _track(self, task: asyncio.Task[S]) -> asyncio.Task[S]:
        self._under_way.add(task)
        task.add_done_callback(self._under_way.discard)
        task.add_done_callback(_retrieve)
        return task

    async def aclose(self) -> None:
        """At shutdown, before the database is disposed of: until the reads under way (queued ones included) have
        ended (at most `CLOSE_WAIT_SECONDS`). A read outlives the subscriptions it served (they await it shielded), and
        disposed under it, the database took its connection back after its pool was gone (left open: CI run 43's
        leak)."""
        if self._under_way:
            await asyncio.wait(set(self._under_way), timeout=CLOSE_WAIT_SECONDS)


async def _call(read: Callable[[], Awaitable[S]]) -> S:
    return await read()


def _retrieve(read: asyncio.Task[S]) -> None:
    """A failed read whose every caller left is not "never retrieved": each caller raises it, if any is left."""
    if not read.cancelled():
        read.exception()
