"""Per-process item feeds: ONE read per batch of item change signals, shared by every all-items
`inventoryItemUpdated` subscriber (no `inventoryItemId`, no `sku`) of a merchant in this process, however many there
are, on the task feeds' base (gql/feeds.py `MerchantFeed`: one reader task per merchant and process, started by the
first follower and stopped with the last, a database outage waited out).

    feed = item_feed(services, merchant_id)     # the merchant's item feed of this process (created on first use)
    async with feed.follow() as me:             # a follower, once the feed hears the merchant's item signals
        states = await me.next()                # {item id: ItemState} changed since the last call, the latest state
                                                # of each (empty: nothing new; at least every FALLBACK_INTERVAL)
        me.sent[item_id] = state.signature      # what the subscriber told its client (an item read again with the
                                                # same signature sends nothing)

Soak55 F1 (issue 9): each all-items subscriber read the items a signal named on its own, one read per subscriber and
change: 50 long-lived sockets held the default pool (5 + 10 connections), a new console tab waited a median 10.9 s
(up to 70 s) for its first state and live reads logged DATABASE_BUSY. Now the feed reads them once for all.

The reader waits for an item signal of the merchant (`adapters.events`, `subscribe_inventory`) or
`FALLBACK_INTERVAL`, then reads, in one session, the items the signals named since its last read (at most
`MAX_PENDING_IDS`, one statement each for the items, their links and the links' shops), and hands every follower the
state of each item found (`ItemState`: one node per item and read, shared by every follower, so its execution is
shared too: gql/shared_events.py). Between two reads it lets `MIN_INTERVAL` pass (the signals meanwhile gather in its
slot: a burst of sales of one SKU costs one read per 100 ms, the latest state wins); signals that may be lost make it
read the items changed since ("Lost signals" below). A silent `FALLBACK_INTERVAL` reads nothing: it wakes the
followers, which re-check their tokens (`Context.require_merchant`). A read failing on a database outage is read
again with a bounded back-off until the database answers (gql/live_outage.py `wait_out`), the followers woken at each
retry; any other failure ends every follower's subscription with it.

What a follower gets: for every item that changed after it joined, at least the item's final state (a slot per item,
`ItemFollower.pending`: a follower busy sending keeps the latest state of each item, never drops one), never a state
older than one it already got (the reads are one after the other, each begun after the one before ended), and never
a state from a read that began before it joined (gql/shared_reads.py, "Fresh enough": such a read may have missed a
commit the client made before subscribing). The reads are the merchant's own: the feed is keyed by merchant, its
signals are the merchant's, and every statement tests the merchant.

Lost signals. A signal whose ids may be lost (an empty set: an overflow of `MAX_PENDING_IDS`, or a Redis reconnect,
adapters/events.py) makes the feed read the merchant's items changed since its last read answering a signal began,
`LOST_SIGNAL_MARGIN` (60 s, the task feed's: gql/feeds.py) earlier, as the writers' clocks stamp them before their
commit: an item's own `updated_at` (counters, safety stock, creation, a SKU linked to it or no longer, its shop deleted
included) or a link's naming it (a link's change of state, a push's outcome):
`inventory_queries.item_ids_changed_since`, one statement more, through an index on each side (migration 0047: the 1,001
items changed last, the links changed since; the window's links alone, never the merchant's catalog, review56b F1).
Every follower gets each of them, sent before or not; one whose signature it sent already sends nothing. During a Redis
outage no signal comes and no read moves that time: the window covers the whole outage. At most `LOST_READ_LIMIT`
(1,000) items, the last changed first, with a WARNING past it: one read of `read_items` whatever the outage, and an item
changed earlier in it (an import during a long Redis outage) is told at its next change, as the schema says of a commit
of more than 100 items. Before (itemlost56), it read again what its followers had been sent or held: an item none had
been told of, its sale's signal lost, was never sent until it changed again, and a long-lived tab's items sent grew that
read up to every item of a big merchant at each reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters.db import inventory_queries, queries
from adapters.events import MAX_PENDING_IDS
from gql import mappers
from gql.feeds import FALLBACK_INTERVAL, LOST_SIGNAL_MARGIN, MerchantFeed
from gql.inventory.shared_reads import ItemState, Signature, signature
from gql.inventory.types import inventory_item, sku_link
from gql.live_outage import DatabaseOutage
from gql.throttled_log import ThrottledLog

if TYPE_CHECKING:
    from gql.container import Services

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.1  # seconds between two reads of a feed: a burst of sales of one SKU costs a read per 100 ms at most
# Items read at most after lost signals (the last changed first): one batch of `read_items`, 3 statements whatever the
# outage; those changed earlier in it are told at their next change (module docstring, "Lost signals").
LOST_READ_LIMIT = MAX_PENDING_IDS
LOST_LOG_INTERVAL_SECONDS = 60.0  # a feed says "more than LOST_READ_LIMIT changed" at most once per this


class ItemFollower:
    """One all-items subscriber: the latest state of each item changed since it last looked (`pending`), and the
    signature of each item it told its client (`sent`, kept by the subscriber: a state it sent already is not sent
    again).

    `after`: the number of the feed's last read begun when it joined; it gets the states of later reads only."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.pending: dict[str, ItemState] = {}
        self.sent: dict[str, Signature] = {}
        self.error: BaseException | None = None
        self._event = asyncio.Event()

    def _deliver(self, number: int, states: dict[str, ItemState]) -> None:
        """Read `number`'s states (a re-read after lost signals too: every item changed since, sent or not)."""
        if number <= self.after:
            return  # begun before this follower joined: not fresh enough for it
        self.pending.update(states)  # a later read's state replaces an earlier one's: the latest wins
        self._event.set()

    def _tick(self) -> None:
        """Nothing new (a silent fallback interval, or an outage's retry): the subscriber re-checks its token."""
        self._event.set()

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self._event.set()

    def fail(self, error: BaseException) -> None:
        """End this follower's subscription with `error`, raised by its next wait (`next`), whatever the feed does: its
        token's expiry (`gql.context.Context.ending_at_expiry`)."""
        self._fail(error)

    async def next(self) -> dict[str, ItemState]:
        """The items changed since the last call, each in the latest state read (empty: a wake-up with nothing new,
        at least every `FALLBACK_INTERVAL`). Raises the error the feed's read failed with."""
        await self._event.wait()
        if self.error is not None:
            raise self.error  # the feed's read failed: this subscription ends with it, as a read of its own would
        self._event.clear()
        states, self.pending = self.pending, {}
        return states


class ItemFeed(MerchantFeed[ItemFollower]):
    """The merchant's item feed in this process: ONE reader for all its all-items `inventoryItemUpdated`
    subscribers (module docstring)."""

    def __init__(
        self,
        services: Services,
        merchant_id: str,
        registry: dict[str, Any],
        *,
        fallback_interval: float = FALLBACK_INTERVAL,
        min_interval: float = MIN_INTERVAL,
        lost_limit: int = LOST_READ_LIMIT,
        outage: DatabaseOutage | None = None,
    ) -> None:
        self.services = services  # the items are read with its database and cipher, as the merchant's loaders do
        self.events = services.events  # an adapters.events bus
        self.merchant_id = merchant_id
        self.registry = registry  # the process's item feeds by merchant: the feed leaves it with its last follower
        self.kind = "item"
        self.where = "inventoryItemUpdated"
        self.outage = outage if outage is not None else services.database_outage
        self.fallback_interval = fallback_interval
        self.min_interval = min_interval
        self.lost_limit = lost_limit  # items read at most after lost signals (`LOST_READ_LIMIT`)
        self.clock = services.clock  # the items' `updated_at` are written by the writers' clocks, read by this one
        self._signalled_at = self.clock.now()  # when the last read answering a signal began (a lost read's window)
        # An import's batches overflow the signal slot read after read: its "more than 1,000 changed" WARNING once a
        # minute per feed, the reads left out counted in the next line (review56b F1)
        self._lost_log = ThrottledLog(log, LOST_LOG_INTERVAL_SECONDS)
        self.followers: set[ItemFollower] = set()
        self.reads = 0  # reads done (tests compare it with the signals sent)
        self.begun = 0  # reads begun (numbers them: `ItemFollower.after`; tests wait for a read to begin)
        self._listening = asyncio.Event()  # set once the reader hears the merchant's item signals (or has ended)
        self._wake = asyncio.Event()  # never set: a newcomer wants no first state (`MerchantFeed._signal` waits on it)
        self._reader: asyncio.Task[None] | None = None

    def follow(self) -> contextlib.AbstractAsyncContextManager[ItemFollower]:
        """A new follower of every item of the merchant for the `async with` block, entered once the feed hears the
        merchant's item signals (a change committed after that reaches it)."""
        return self._joining()

    @contextlib.asynccontextmanager
    async def _joining(self) -> AsyncIterator[ItemFollower]:
        if self._reader is None or self._reader.done():
            self._listening.clear()  # the reader `_following` starts now subscribes anew
        async with self._following(ItemFollower(self.begun)) as me:
            await self._listening.wait()
            if me.error is not None:
                raise me.error  # the reader failed before it heard a signal
            yield me

    async def _loop(self) -> None:
        try:
            # Taken before the signals are heard: a change committed since is signalled, or found by a lost read.
            self._signalled_at = self.clock.now()
            async with self.events.subscribe_inventory(self.merchant_id) as signals:
                self._listening.set()
                while self.followers:
                    received = await self._signal(signals)
                    if received is None:  # a silent fallback interval: nothing read, the followers re-check tokens
                        for follower in list(self.followers):
                            follower._tick()
                        continue
                    number, states = await self._read_through(functools.partial(self._read, received))
                    for follower in list(self.followers):
                        follower._deliver(number, states)
                    await asyncio.sleep(self.min_interval)  # coalesce: what is signalled meanwhile is read next
        finally:
            self._listening.set()  # a follower waiting to join learns of the end (its error, or the feed's stop)

    async def _read(self, named: set[str]) -> tuple[int, dict[str, ItemState]]:
        """The states of the items `named` (empty: signals were lost, the items changed since the last signalled
        read began, `LOST_SIGNAL_MARGIN` earlier, at most `lost_limit`, the last changed first), with this read's
        number (taken as it begins: a follower that joins from now on is not served by it)."""
        self.begun += 1
        number = self.begun
        began = self.clock.now()
        since = None if named else self._signalled_at - LOST_SIGNAL_MARGIN
        states = await read_items(
            self.services, self.merchant_id, named, changed_since=since, limit=self.lost_limit, log_to=self._lost_log
        )
        self._signalled_at = began  # once answered: an attempt failing on an outage leaves the window where it was
        self.reads += 1
        return number, states


async def read_items(
    services: Services, merchant_id: str, item_ids: Collection[str], *, changed_since: datetime | None = None,
    log_to: ThrottledLog, limit: int = LOST_READ_LIMIT,
) -> dict[str, ItemState]:  # fmt: skip
    """The merchant's items among `item_ids` (absent: none of the merchant's, or deleted), by id, each with its links
    and their shops (a link of a shop deleted since is left out, as `InventoryItemNode.links` leaves it), in one read
    session: per `MAX_PENDING_IDS` ids one statement for the items, one for their links and one for the links' shops.
    `changed_since` (UTC): also those changed at that time or later, at most `limit`, the last changed first
    (`inventory_queries.item_ids_changed_since`, one statement more; past `limit`, a WARNING on `log_to`: the
    feed's, once a minute)."""
    states: dict[str, ItemState] = {}
    now = services.clock.now()
    async with services.db.read_sessionmaker() as session:
        ordered = sorted(item_ids)
        if changed_since is not None:
            changed, more = await inventory_queries.item_ids_changed_since(session, merchant_id, changed_since, limit)
            if more:
                log_to.warning(
                    "lost-read-limit",
                    "inventoryItemUpdated: more than %d items of merchant %s changed since %s while change signals "
                    "were lost; the %d changed last are told now, the others at their next change",
                    limit, merchant_id, changed_since.isoformat(), limit,
                )  # fmt: skip
            ordered = sorted({*item_ids, *changed})
        for start in range(0, len(ordered), MAX_PENDING_IDS):
            items = await inventory_queries.items_by_ids(session, merchant_id, ordered[start : start + MAX_PENDING_IDS])
            links = await inventory_queries.links_by_items(session, merchant_id, sorted(items))
            shop_ids = sorted({read.shop_id for reads in links.values() for read in reads})
            rows = await queries.shops_by_ids(session, merchant_id, shop_ids, cipher=services.cipher)
            shops = {shop_id: mappers.shop(row, now) for shop_id, row in rows.items()}
            for item_id in sorted(items):
                node = inventory_item(items[item_id])
                kept = [sku_link(read) for read in links.get(item_id, []) if read.shop_id in shops]
                their_shops = {link.shop_internal_id: shops[link.shop_internal_id] for link in kept}
                states[item_id] = ItemState(node, kept, their_shops, signature(node, kept))
    return states


def item_feed(services: Services, merchant_id: str) -> ItemFeed:
    """The merchant's item feed in this process (one per merchant, created on first use, dropped with its last
    follower)."""
    feed = services.item_feeds.get(merchant_id)
    if feed is None:
        feed = ItemFeed(services, merchant_id, services.item_feeds)
        services.item_feeds[merchant_id] = feed
    return feed
