"""Per-process task feeds: ONE database read per change signal, shared by every `syncTaskUpdated` subscriber of a
merchant (the topic), however many there are. The database stays the truth; signals only say when to read.

    feed = task_feed(services, merchant_id)        # the merchant's feed of this process (created on first use)
    async with feed.follow(shop_id=None) as me:    # a follower; the feed's reader runs while it has followers
        me.ids = {...}                             # task ids this follower needs read whatever their status
        snapshot = await me.first(feed.refresh())  # the first snapshot read after this follower asked
        snapshot = await me.next(timeout)          # the latest snapshot since the last call, or None (timeout);
                                                   # timeout None: until the next one (at most ~FALLBACK_INTERVAL)
        named = me.take_changed()                  # the ids signals named since (snapshots replaced included)

The reader waits for a change signal of the merchant (`adapters.events`), a follower's refresh request, or
`FALLBACK_INTERVAL` (signals may be lost), then reads, in one statement, the merchant's active tasks plus every id
its followers or the signal name and every task active at the previous read (so a task's final state is read once
more). A follower keeps only the latest snapshot (a slot, not a queue): a slow follower skips states, never the
last one; the ids signals named meanwhile are merged (`Follower.take_changed`) and read again until it takes them,
so a task that started and finished while it was busy is in the snapshot it takes. Every follower gets a snapshot at
least every `FALLBACK_INTERVAL` (plus a read) while the feed runs, so a follower with nothing pending waits without a
timer of its own (1,000 followers of one task re-armed 1,000 timers per update). On a fallback read the feed also
checks, in one more statement, which of its followers' shops still exist (a shop subscription with no active task
learns of its shop's deletion that way). On lost signals (a Redis reconnect, an overflow of its slot) it also reads
every task created or finished since signals were last known good, paged (`TaskFeed._read`), and each follower takes
those it has not seen (`Follower.take_changed`).

A read that fails on a database outage (down, restarting, read-only: `adapters.db.outage.unavailable`) is read
again with a bounded back-off until the database answers (gql/live_outage.py): the followers keep following, woken
with the state they have at each retry (their tokens are checked then), and get the current state once it is back.
Any other failure ends every follower's subscription with it, as before.

`ShopFeed` (gql/shop_feeds.py, `shop_feed(services, merchant_id)`) does the same for `shopsUpdated` and
`shopsDeleted`, and `ItemFeed` (gql/inventory/item_feed.py, `item_feed(services, merchant_id)`) for the all-items
`inventoryItemUpdated`, on the same base (`MerchantFeed`: one reader task per merchant and process, an outage waited
out).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from adapters.db import queries
from adapters.db.engine import Database
from adapters.db.read_models import SyncTaskRead
from domain.clock import Clock, SystemClock
from domain.sync import ACTIVE_STATUSES
from gql.live_outage import DatabaseOutage, wait_out

if TYPE_CHECKING:
    from gql.container import Services

FALLBACK_INTERVAL = 1.5  # seconds between reads when no signal comes
ACTIVE_LIMIT = 100  # active tasks read per merchant (at most one per kind per shop in practice)
# On lost signals the feed reads the tasks created or finished since signals were last known good (the start of its
# last read while the bus heard them, `TaskFeed._read`), this much earlier: a task's times come from the clock of the
# process that ran it, read before its commit (another host's clock a little behind, a commit a little late); a
# wider window finds tasks already sent, which sends nothing again (`Follower.take_changed` keeps out the rest).
# The item feed's window too, for the items' and links' `updated_at` (gql/inventory/item_feed.py).
LOST_SIGNAL_MARGIN = timedelta(seconds=60)
# A follower is sent a task those reads found only if it finished after the follower's first read began (its own
# baseline: what it saw then as history stays history), this much earlier: a task not yet committed at that read was
# created after it, so finished after it too, by its writer's clock, which may be a little behind the feed's.
FOLLOWER_CLOCK_SKEW = timedelta(seconds=5)
LOST_SIGNAL_PAGE = 500  # rows a statement of that read, paged until none is left (`queries.sync_tasks_changed_since`)
_ACTIVE = {status.value for status in ACTIVE_STATUSES}


@dataclass(frozen=True)
class Snapshot:
    """One read: `rows` by task id (the active tasks and every id in `asked`), as stored at `generation`."""

    generation: int  # refresh requests served: a follower that asked at generation g waits for g or more
    rows: dict[str, SyncTaskRead]
    asked: frozenset[str]  # ids read whatever their status: absent from `rows` means deleted
    changed: frozenset[str] | None  # ids a signal named (empty: "re-read everything"); None: a fallback read
    shops: frozenset[str] | None  # on fallback reads: which followed shops exist; else None
    # What subscribers built from `rows`, by task id: one GraphQL object per task and read, shared by every
    # follower, so its execution is shared too (gql/shared_events.py). Filled by `gql.subscriptions`.
    messages: dict[str, Any] = field(default_factory=dict, compare=False)
    began: datetime | None = None  # when the read began, by the feed's clock (a follower's baseline: `first`)
    # On lost signals: the tasks created or finished in the window (`TaskFeed._read`), by id, each with its
    # finished_at (None: still active); in `rows`, not in `changed`: each follower keeps those it has not seen.
    found: Mapping[str, datetime | None] = field(default_factory=dict)


class Follower:
    """One subscriber's view of the feed: the ids it needs read, a latest-snapshot slot, and the ids signals named
    since it last took one (`take_changed`).

    The slot keeps the latest snapshot only, but the named ids of every snapshot it replaced are merged, not
    overwritten, and the feed reads them again in each read until the follower takes them (`TaskFeed._read`): so
    the snapshot a follower takes has the current row of every id in `take_changed()` (absent: deleted). Before
    (mem54's "Missed task messages"), a task that started and finished between two reads was named by one snapshot
    only; a follower still busy with its previous message took the next one, which neither named nor read it, and
    an all-tasks subscriber never sent that task at all."""

    def __init__(self, shop_id: str | None) -> None:
        self.ids: set[str] = set()
        self.shop_id = shop_id
        self.latest: Snapshot | None = None
        self.changed: set[str] = set()  # ids named by the snapshots delivered since `take_changed` (merged)
        self.found: dict[str, datetime | None] = {}  # ids lost-signal reads found since (merged), with finished_at
        self.joined_at: datetime | None = None  # when the read of its first snapshot began (`first`)
        self.error: BaseException | None = None
        self.started = False  # has had its first snapshot (`first`)
        self._event = asyncio.Event()

    def _deliver(self, snapshot: Snapshot) -> None:
        self.latest = snapshot
        if snapshot.changed:
            self.changed |= snapshot.changed  # merged: replacing the slot's snapshot must not drop what it named
        if snapshot.found:
            self.found.update(snapshot.found)
        self._event.set()

    def take_changed(self) -> set[str]:
        """The ids signals named since the last call (every snapshot delivered meanwhile, taken or replaced), and
        those lost-signal reads found (`Snapshot.found`) but tasks that finished before this follower's first read
        began (`joined_at`, less `FOLLOWER_CLOCK_SKEW`): history when it joined, not a change (review56 F1: a task
        finished before the subscription was sent as if it had just finished). Each read by the snapshot `next` or
        `first` returned last; call it right after that, with no await between. A task it was already sent in that
        state is left out by the subscriber (`gql.subscriptions`, its `sent`)."""
        changed, self.changed = self.changed, set()
        found, self.found = self.found, {}
        joined = self.joined_at
        for task_id, finished_at in found.items():
            if finished_at is None or joined is None or finished_at >= joined - FOLLOWER_CLOCK_SKEW:
                changed.add(task_id)
        return changed

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self._event.set()

    def fail(self, error: BaseException) -> None:
        """End this follower's subscription with `error`, raised by its next wait (`next`), whatever the feed does: its
        token's expiry (`gql.context.Context.ending_at_expiry`)."""
        self._fail(error)

    def _tick(self) -> None:
        """Wake a started follower with the snapshot it has (the feed waits out an outage: nothing new, the
        subscription re-checks its token)."""
        if self.started and self.latest is not None:
            self._event.set()

    async def next(self, timeout: float | None) -> Snapshot | None:  # noqa: ASYNC109 (a timeout re-evaluates)
        """The latest snapshot if one came since the last call (waiting up to `timeout` seconds), else None.
        `timeout` None waits for the next snapshot (the feed sends one at least every `FALLBACK_INTERVAL`)."""
        if timeout is None:
            await self._event.wait()
        elif not self._event.is_set():
            # asyncio.timeout, not wait_for: no task of its own per wait (1,000 followers wait on every update)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        if not self._event.is_set():
            return None
        if self.error is not None:
            raise self.error  # the feed's read failed: this subscription ends with it, as a direct read would
        self._event.clear()
        return self.latest

    async def first(self, generation: int) -> Snapshot:
        """The first snapshot read at `generation` or later (what `TaskFeed.refresh` returned)."""
        while True:
            snapshot = await self.next(FALLBACK_INTERVAL * 4)
            if snapshot is not None and snapshot.generation >= generation:
                self.started = True
                self.joined_at = snapshot.began
                return snapshot


class _Failable(Protocol):
    def _fail(self, error: BaseException) -> None: ...

    def _tick(self) -> None: ...


_F = TypeVar("_F", bound=_Failable)
_T = TypeVar("_T")


class MerchantFeed(Generic[_F]):
    """What `TaskFeed`, `ShopFeed` (gql/shop_feeds.py) and `ItemFeed` (gql/inventory/item_feed.py) share: one reader
    task per merchant and process, started by the first follower and stopped with the last; the feed leaves the
    process's registry then, or when a read fails, which ends every current follower's subscription with that error
    (the next subscriber starts afresh), but for a database outage, waited out (`_read_through`). A subclass sets the
    attributes below in its `__init__` and reads in `_loop` while it has followers."""

    kind: str  # names the reader task: shopbridge-{kind}-feed-{merchant_id}
    where: str  # the subscription it serves, as the outage's log lines name it
    outage: DatabaseOutage  # the process's (gql/live_outage.py)
    merchant_id: str
    registry: dict[str, Any]  # the process's feeds of this kind by merchant
    followers: set[_F]
    fallback_interval: float  # seconds without a signal before a read anyway
    _wake: asyncio.Event  # set to read at once (a follower's refresh or a newcomer)
    _reader: asyncio.Task[None] | None

    @contextlib.asynccontextmanager
    async def _following(self, follower: _F) -> AsyncIterator[_F]:
        self.followers.add(follower)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._run(), name=f"shopbridge-{self.kind}-feed-{self.merchant_id}")
        try:
            yield follower
        finally:
            self.followers.discard(follower)
            if not self.followers:
                await self._stop()

    async def _stop(self) -> None:
        reader, self._reader = self._reader, None
        if self.registry.get(self.merchant_id) is self:
            del self.registry[self.merchant_id]
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _run(self) -> None:
        try:
            await self._loop()
        except Exception as error:  # a failed read ends every current follower's subscription with that error
            for follower in list(self.followers):
                follower._fail(error)
            if self.registry.get(self.merchant_id) is self:
                del self.registry[self.merchant_id]  # the next subscriber starts afresh

    async def _read_through(self, read: Callable[[], Awaitable[_T]]) -> _T:
        """`read()`, again with a bounded back-off while the database is unavailable (gql/live_outage.py); every
        started follower is woken at each retry with what it has, so that it re-checks its token."""

        def tick() -> None:
            for follower in list(self.followers):
                follower._tick()

        return await wait_out(self.outage, self.where, read, tick)

    async def _signal(self, signals: Any) -> set[str] | None:
        """The ids of the next change signal (`signals.wait`; empty: every shop or task of the merchant), or None
        when a follower's wake-up (`_wake`, set by a subclass) came first or `fallback_interval` passed in silence."""
        signal = asyncio.ensure_future(signals.wait(self.fallback_interval))
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((signal, wake), return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
            if not signal.done():
                signal.cancel()
            await asyncio.gather(signal, wake, return_exceptions=True)
        if signal.done() and not signal.cancelled() and signal.exception() is None:
            received: set[str] | None = signal.result()
            return received
        return None

    async def _loop(self) -> None:
        raise NotImplementedError


class TaskFeed(MerchantFeed[Follower]):
    """The merchant's feed in this process: followers, and the one reader task while there are any."""

    def __init__(
        self,
        db: Database,
        events: Any,
        merchant_id: str,
        registry: dict[str, Any],
        *,
        fallback_interval: float = FALLBACK_INTERVAL,
        outage: DatabaseOutage | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.clock = clock if clock is not None else SystemClock()
        # Since when signals are known good: when the last read began while the bus heard them, as at the read before
        # (`events.listening`: a Redis pub/sub connection up), or the feed's first read. A lost-signal read looks
        # back to it (less LOST_SIGNAL_MARGIN): tasks that started and finished unseen between two reads since.
        self._good_since: datetime | None = None
        self._heard = False  # whether the bus heard signals when the last read began
        self._began: datetime | None = None  # when the last read began
        self.fallback_interval = fallback_interval
        self.events = events  # an adapters.events bus
        self.merchant_id = merchant_id
        self.registry = registry  # the process's feeds by merchant: the feed leaves it with its last follower
        self.kind = "task"
        self.where = "syncTaskUpdated"
        self.outage = outage if outage is not None else DatabaseOutage()
        self.followers: set[Follower] = set()
        self.reads = 0  # reads done (tests and the fan-out benchmark compare it with the signals sent)
        self._requested = 0
        self._wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._last_active: set[str] = set()
        self._broadcast_at = 0.0  # loop time of the last snapshot sent to every follower

    def refresh(self) -> int:
        """Ask for a read soon; returns the generation the follower waits for (`Follower.first`)."""
        self._requested += 1
        self._wake.set()
        return self._requested

    def follow(self, shop_id: str | None = None) -> contextlib.AbstractAsyncContextManager[Follower]:
        """A new follower (of `shop_id`'s tasks, None: all the merchant's) for the `async with` block."""
        return self._following(Follower(shop_id))

    async def _loop(self) -> None:
        async with self.events.subscribe(self.merchant_id) as signals:
            changed: set[str] | None = set()  # the first read reads everything
            signalled = True
            while self.followers:
                snapshot = await self._read_through(functools.partial(self._read, changed, signalled))
                generation = snapshot.generation
                now = asyncio.get_running_loop().time()
                # A read only newcomers asked for goes to them alone: 1,000 subscribers connecting must not wake
                # the ones already following 1,000 times over; but every follower gets one at least every
                # fallback interval (its token is checked then), however many newcomers keep the reader busy.
                everyone = signalled or changed is None or now - self._broadcast_at >= self.fallback_interval
                if everyone:
                    self._broadcast_at = now
                for follower in list(self.followers):
                    if everyone or not follower.started:
                        follower._deliver(snapshot)
                if self._requested > generation:
                    changed, signalled = set(), False  # someone asked meanwhile: read again at once
                    continue
                changed, signalled = await self._wait(signals)

    async def _wait(self, signals: Any) -> tuple[set[str] | None, bool]:
        """(A signal's ids, True); (an empty set, False) for a refresh request alone; (None, False) after the
        fallback interval of silence."""
        received = await self._signal(signals)
        if received is not None:
            return received, True
        return (set(), False) if self._wake.is_set() else (None, False)

    async def _read(self, changed: set[str] | None, signalled: bool = False) -> Snapshot:
        """A snapshot of the refresh requests made so far (a retry after an outage serves those made during it).
        `signalled`: it answers a signal; one with no ids says signals were lost (a Redis reconnect, an overflow:
        adapters/events.py), and the read adds every task created or finished since signals were last known good
        (`_good_since`, `LOST_SIGNAL_MARGIN` earlier), paged until none is left (`LOST_SIGNAL_PAGE` rows a
        statement), as `Snapshot.found`: each follower takes those of them it has not seen (`Follower.take_changed`).

        Why that window is enough: every read reads every active task (and each task active at the read before), so
        a task's progress and status changes while active, which move neither created_at nor finished_at, reach the
        followers at the next read whatever the signals; what a read can miss is a task that was created and
        finished between two reads, or finished while not read as active (past `ACTIVE_LIMIT`), and its signal
        lost: it was created or finished after the last read that began while the bus heard signals, if signals
        were good up to then. Before (lists56), the window began at the last read answering a signal (hours ago
        after a quiet spell: review56 F1) and kept the 100 newest created (review56 F2), and every task it found
        was named to every follower, one that finished before the follower joined included."""
        generation = self._requested
        self._wake.clear()
        began = self.clock.now()
        heard = self.events.listening(self.merchant_id) > 0
        since = self._good_since if signalled and changed is not None and not changed else None
        changed = None if changed is None else set(changed)
        asked = set(self._last_active) | (changed or set())
        shops: set[str] = set()
        for follower in self.followers:
            asked |= follower.ids
            asked |= follower.changed  # named by a snapshot the follower has not taken: its latest state (Follower)
            asked |= follower.found.keys()  # likewise found by a lost-signal read
            if follower.shop_id is not None:
                shops.add(follower.shop_id)
        async with self.db.read_sessionmaker() as session:
            window: list[SyncTaskRead] = []
            if since is not None:
                window = await queries.sync_tasks_changed_since(
                    session, self.merchant_id, since - LOST_SIGNAL_MARGIN, LOST_SIGNAL_PAGE
                )
            rows = await queries.followed_sync_tasks(session, self.merchant_id, asked, ACTIVE_LIMIT)
            existing = await queries.existing_shop_ids(session, self.merchant_id, shops) if changed is None else None
        for row in window:
            rows.setdefault(row.id, row)  # (the by-id read came later: its row, when it has one, is the newer)
        found = {row.id: rows[row.id].finished_at for row in window}
        asked |= found.keys()
        self.reads += 1
        if self._good_since is None:
            self._good_since = began  # the first read: what its followers start from
        elif heard and self._heard and self._began is not None:
            # The bus heard signals when the previous read began and when this one did: signals are known good since
            # the previous one (not this one: a reconnect's "lost" may still be on its way to the slot).
            self._good_since = self._began
        self._heard, self._began = heard, began
        self._last_active = {task_id for task_id, row in rows.items() if row.status in _ACTIVE}
        return Snapshot(
            generation=generation,
            rows=rows,
            asked=frozenset(asked),
            changed=None if changed is None else frozenset(changed),
            shops=None if existing is None else frozenset(existing),
            began=began,
            found=found,
        )


def task_feed(services: Services, merchant_id: str) -> TaskFeed:
    """The merchant's feed in this process (one per merchant, created on first use, dropped with its last follower)."""
    feed = services.task_feeds.get(merchant_id)
    if feed is None:
        feed = TaskFeed(
            services.db, services.events, merchant_id, services.task_feeds, outage=services.database_outage,
            clock=services.clock,
        )  # fmt: skip
        services.task_feeds[merchant_id] = feed
    return feed
