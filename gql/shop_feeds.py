"""Per-process shop feeds: ONE reader per merchant and process for every `shopsUpdated` and `shopsDeleted`
subscriber, as the task feeds (gql/feeds.py, `MerchantFeed`) are for `syncTaskUpdated`.

    feed = shop_feed(services, merchant_id)          # the merchant's shop feed of this process (created on first use)
    async with feed.follow(first=True) as me:        # a follower; the feed's reader runs while it has followers
        changed = await me.next()                    # the shops changed since the last call (first: every shop)
        deleted = me.take_deleted()                  # the shops deleted since the last call (`shopsDeleted`)

One read per shop change signal (or fallback interval) for all its subscribers, and only the shops whose name,
status, attention, end, counts or push policy changed go out; a subscriber joining first gets every shop, from a read
begun after it joined that only it (and those joining with it) receives whole. A read that fails on a database outage
is waited out as the task feed's is (`MerchantFeed._read_through`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from adapters.crypto import TokenCipher
from adapters.db import queries
from adapters.db.engine import Database
from adapters.db.repositories.inventory_push import policies_of_shops
from adapters.db.shop_facts import shop_sync_facts
from domain.attention import SyncFacts
from domain.clock import Clock
from domain.inventory_push import InventoryPolicy
from gql import mappers
from gql import types as t
from gql.feeds import FALLBACK_INTERVAL, MerchantFeed
from gql.live_outage import DatabaseOutage

if TYPE_CHECKING:
    from gql.container import Services

SHOP_LIMIT = 500  # shops read per merchant by a full read (a merchant has a handful; signals name the others)
# Seconds between two reads of ALL the merchant's shops when no signal comes. Such a read finds what the clock moves
# (an authorization ending: its days-long thresholds can wait this long) and what a lost signal hid; it reads the
# shops' sync facts (`shop_sync_facts`: a few index seeks per shop since migration 0027, ~47 ms on SQLite at 30,000
# tasks before), and is not done at every `FALLBACK_INTERVAL` wake-up, which only lets the followers re-check their
# tokens.
FULL_READ_INTERVAL = 30.0


def _shop_fingerprint(
    shop: t.Shop, now: datetime, counts: tuple[int, int], policy: InventoryPolicy
) -> tuple[object, ...]:
    """What `shopsUpdated` reports a change of: name, status, attention (code and time), expiresAt, its
    (productCount, orderCount) `counts` (a webhook's new order signals the shop: the store list's count follows) and
    its push `policy` (`shopInventoryPolicyUpdate` signals the shop: a Push policy page open elsewhere follows,
    tryout58 F1)."""
    facts = shop.sync_facts if shop.sync_facts is not None else SyncFacts()
    attention = tuple((a.code, a.at) for a in t.attention_at(shop, facts, now))
    return (shop.name, shop.status, attention, shop.expires_at, counts, policy)


class ShopFollower:
    """One `shopsUpdated` subscriber: the shops changed since it last looked (the latest state of each).

    `first` True (`shopsUpdated`): its first batch is every shop of the merchant, as read by a read that began after
    it joined the feed (`started` then turns True); until then it gets nothing else. `first` False (`shopsDeleted`):
    started at once, it gets the changes and deletions from the feed's next read on."""

    def __init__(self, first: bool = True) -> None:
        self.pending: dict[str, t.Shop] = {}
        self.deleted: set[str] = set()  # shops deleted since `take_deleted` (`shopsDeleted`)
        self.error: BaseException | None = None
        self.started = not first  # has had its first batch (or wants none)
        self._event = asyncio.Event()

    def _deliver_first(self, shops: dict[str, t.Shop]) -> None:
        """The complete current list: every shop the read found (a shop deleted before it is simply absent)."""
        self.pending.update(shops)
        self.started = True
        self._event.set()

    def _deliver(self, changed: dict[str, t.Shop], deleted: set[str] | frozenset[str] = frozenset()) -> None:
        self.pending.update(changed)
        for shop_id in deleted:
            self.pending.pop(shop_id, None)
        self.deleted |= deleted
        self._event.set()

    def _tick(self) -> None:
        """An empty change for a started follower (the feed waits out an outage: the subscription re-checks its
        token)."""
        if self.started:
            self._deliver({})

    def take_deleted(self) -> list[str]:
        """The shops deleted since the last call (internal ids, sorted)."""
        deleted, self.deleted = sorted(self.deleted), set()
        return deleted

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self._event.set()

    def fail(self, error: BaseException) -> None:
        """End this follower's subscription with `error`, raised by its next wait (`next`), whatever the feed does: its
        token's expiry (`gql.context.Context.ending_at_expiry`)."""
        self._fail(error)

    async def next(self) -> list[t.Shop]:
        """The shops changed since the last call, oldest first; empty after a read that changed nothing (the feed
        reads at least every fallback interval: that is when the subscriber re-checks its token)."""
        await self._event.wait()
        if self.error is not None:
            raise self.error  # the feed's read failed: this subscription ends with it, as a direct read would
        self._event.clear()
        changed = sorted(self.pending.values(), key=lambda shop: (shop.created_at, shop.internal_id))
        self.pending = {}
        return changed


class ShopFeed(MerchantFeed[ShopFollower]):
    """The merchant's shop feed in this process: ONE reader for all its `shopsUpdated` subscribers.

    It waits for a shop change signal of the merchant or `fallback_interval`, then reads in one session the shops a
    signal named (with their sync facts, for `attention`), or all the merchant's shops on its first read, after a
    signal without ids (some may be lost) and once `full_read_interval` seconds of the feed's clock have passed since
    the last such read, signals or not: `status` and `attention` also move with the clock (an authorization ending)
    with no signal at all. A silent wake-up before that reads nothing and delivers an empty change to every
    follower (the subscription re-checks its token then). Each shop read is compared with the last fingerprint the feed
    saw (`_shop_fingerprint`, the counts included); the changed ones go to every started follower as one shared DTO each
    (gql/shared_events.py). Current state first: a follower that joins (`follow()`) wakes the reader, whose next read
    (begun after the join) is a full one; that read's every shop goes to the newcomers alone (their first batch), and
    only what it found changed goes to the followers already started, as any read's changes do (so a change committed
    and signalled before the newcomer joined reaches it in its first batch, and nobody else twice). The feed's very
    first read only sets the fingerprints for the followers that want no first batch (`shopsDeleted`). A shop gone
    (deleted) is delivered apart, by id (`ShopFollower.take_deleted`, what `shopsDeleted` sends): a shop the feed had
    read that a signal names and the read no longer finds (`shopDelete` signals the shop after its commit: the feed
    learns at once), or that a full read no longer lists (a lost signal). A newcomer is told no deletion before its
    first batch: that batch, the complete current list, leaves the deleted shop out."""

    def __init__(
        self,
        db: Database,
        events: Any,
        clock: Clock,
        merchant_id: str,
        registry: dict[str, Any],
        *,
        fallback_interval: float = FALLBACK_INTERVAL,
        full_read_interval: float = FULL_READ_INTERVAL,
        cipher: TokenCipher | None = None,
        outage: DatabaseOutage | None = None,
    ) -> None:
        self.db = db
        self.cipher = cipher  # tells the shops whose tokens no configured key decrypts (None: not checked)
        self.events = events  # an adapters.events bus
        self.clock = clock
        self.full_read_interval = timedelta(seconds=full_read_interval)
        self.merchant_id = merchant_id
        self.registry = registry  # the process's shop feeds by merchant: the feed leaves it with its last follower
        self.kind = "shop"
        self.where = "shopsUpdated"  # and shopsDeleted: one feed
        self.outage = outage if outage is not None else DatabaseOutage()
        self.fallback_interval = fallback_interval
        self.followers: set[ShopFollower] = set()
        self.reads = 0  # reads done (tests compare it with the signals sent)
        self.ready = asyncio.Event()  # set once the first read fixed the fingerprints (tests wait on it)
        self.sent: dict[str, tuple[object, ...]] = {}  # the last fingerprint of each shop (`_shop_fingerprint`)
        self._reader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # a newcomer wants its first batch: read at once

    def follow(self, first: bool = True) -> contextlib.AbstractAsyncContextManager[ShopFollower]:
        """A new follower of the merchant's shops for the `async with` block. `first` True (`shopsUpdated`): its
        first batch is every shop of the merchant read after it joined (`ShopFollower`); False (`shopsDeleted`):
        none, only what changes or goes from the next read on."""
        return self._joining(ShopFollower(first))

    @contextlib.asynccontextmanager
    async def _joining(self, follower: ShopFollower) -> AsyncIterator[ShopFollower]:
        async with self._following(follower) as me:
            if not me.started:
                self._wake.set()  # no await since it joined: the read this wakes begins after the join
            yield me

    async def _loop(self) -> None:
        async with self.events.subscribe_shops(self.merchant_id) as signals:
            named: set[str] | None = None  # None: every shop (the first read, or after a signal without ids)
            silent = False  # no signal came: a full read only once `full_read_interval` has passed
            woken = False  # only a newcomer woke the reader: the followers already started hear only real news
            full_at = self.clock.now()
            broadcast_at = asyncio.get_running_loop().time()  # when the started followers last heard from the feed
            while self.followers:
                self._wake.clear()
                # The followers whose first batch this read serves: joined before it begins (one joining during the
                # read sets `_wake` again and is served by the next read, at once).
                newcomers = [follower for follower in self.followers if not follower.started]
                # Due whatever signals came: a merchant whose shops keep signalling (each finished poll does) never
                # leaves a silent wake-up, and another shop's authorization running out signals nothing.
                full_due = self.clock.now() - full_at >= self.full_read_interval
                deleted: set[str] = set()
                shops: dict[str, t.Shop] = {}
                if silent and not full_due and not newcomers:
                    changed: dict[str, t.Shop] = {}  # nothing read: the followers only re-check their tokens
                else:
                    if named is None or full_due or newcomers:
                        named, full_at = None, self.clock.now()  # a newcomer's first batch is every shop
                    changed, deleted, shops = await self._read_through(functools.partial(self._read, named))
                if not self.ready.is_set():
                    self.ready.set()
                    changed = {}  # the first read is the baseline: its newcomers get every shop, the others nothing
                # A read only newcomers woke for wakes the others only with news, or once a fallback interval has
                # passed since they last heard (their token is checked then), however many newcomers keep it busy.
                now = asyncio.get_running_loop().time()
                everyone = bool(changed or deleted) or not woken or now - broadcast_at >= self.fallback_interval
                if everyone:
                    broadcast_at = now
                for follower in list(self.followers):
                    if follower in newcomers:
                        follower._deliver_first(shops)  # every shop, as this read found it
                    elif follower.started and everyone:
                        follower._deliver(changed, deleted)
                if self._wake.is_set():  # someone joined during the read: serve them at once
                    named, silent, woken = None, False, True
                    continue
                named, silent, woken = await self._wait(signals)

    async def _wait(self, signals: Any) -> tuple[set[str] | None, bool, bool]:
        """(named, silent, woken) for the next read: a signal's ids (empty: re-read everything, as None), or a
        newcomer's wake-up (`_wake`: a full read, for it), or the fallback interval of silence."""
        received = await self._signal(signals)
        if received is not None:
            return (received or None), False, False
        if self._wake.is_set():
            return None, False, True
        return None, True, False

    async def _read(self, named: set[str] | None) -> tuple[dict[str, t.Shop], set[str], dict[str, t.Shop]]:
        """Read the shops named (None: all the merchant's, at most `SHOP_LIMIT`), keep their fingerprints, return the
        changed ones, the deleted ones (those the feed knew that are gone: a shop it never read is no news to anyone)
        and every shop read (a newcomer's first batch), by internal id."""
        async with self.db.read_sessionmaker() as session:
            if named is None:
                rows = await queries.merchant_shops(session, self.merchant_id, SHOP_LIMIT, cipher=self.cipher)
            else:
                rows = await queries.shops_by_ids(session, self.merchant_id, named, cipher=self.cipher)
            facts = await shop_sync_facts(session, self.merchant_id, list(rows))
            products = await queries.product_counts(session, self.merchant_id, list(rows))
            orders = await queries.order_counts(session, self.merchant_id, list(rows))
            policies = await policies_of_shops(session, self.merchant_id, list(rows))
        self.reads += 1
        now = self.clock.now()
        gone = (set(named) if named is not None else set(self.sent)) - set(rows)
        deleted = gone & set(self.sent)
        for shop_id in gone:
            self.sent.pop(shop_id, None)  # deleted: `shopsUpdated` sends nothing, `shopsDeleted` its id
        changed: dict[str, t.Shop] = {}
        shops: dict[str, t.Shop] = {}
        for shop_id, row in rows.items():
            shop = dataclasses.replace(mappers.shop(row, now), sync_facts=facts.get(shop_id, SyncFacts()))
            shops[shop_id] = shop  # one object per shop and read, shared by the newcomers and the changed
            counts = (products.get(shop_id, 0), orders.get(shop_id, 0))
            fingerprint = _shop_fingerprint(shop, now, counts, policies.get(shop_id, InventoryPolicy()))
            if self.sent.get(shop_id) != fingerprint:
                self.sent[shop_id] = fingerprint
                changed[shop_id] = shop
        return changed, deleted, shops


def shop_feed(services: Services, merchant_id: str) -> ShopFeed:
    """The merchant's shop feed in this process (created on first use, dropped with its last follower)."""
    feed = services.shop_feeds.get(merchant_id)
    if feed is None:
        feed = ShopFeed(
            services.db,
            services.events,
            services.clock,
            merchant_id,
            services.shop_feeds,
            cipher=services.cipher,
            outage=services.database_outage,
        )
        services.shop_feeds[merchant_id] = feed
    return feed
