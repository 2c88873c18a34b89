"""Change signals for sync tasks and shops: "task X (shop S) of merchant M changed, look again". The database stays
the truth.

Interface (both buses; `domain.ports.EventPublisher` plus a subscriber side for GraphQL subscriptions):

    await bus.task_changed(task)                     # publish; cheap, never raises for a lost signal
    async with bus.subscribe(merchant_id) as signals:
        changed = await signals.wait(timeout)        # None: timed out; else the ids of the merchant's tasks
                                                     # that changed since the last call, coalesced. An EMPTY set
                                                     # means "some signals may be lost (overflow, reconnect):
                                                     # re-read everything you follow".
        signals.woken_by                             # the delivery mark of the last signal `wait` returned
    mark()                                           # a mark above every signal delivered so far, below later ones
    await bus.shop_changed(shop_id, merchant_id)     # likewise for shops (`shopUpdated`): status, attention, name
    async with bus.subscribe_shops(merchant_id) as signals: ...  # the ids of the merchant's shops that changed
    async with bus.subscribe_shop_activity(merchant_id) as signals: ...  # those, and those whose sync tasks changed
    await bus.inventory_item_changed(item_id, merchant_id)   # likewise for pool items (`inventoryItemUpdated`)
    async with bus.subscribe_inventory(merchant_id) as signals: ...
    await bus.aclose()                               # at shutdown

`subscribe_shop_activity` is `shopUpdated`'s: one slot fed by the shop signals and by the task signals, each task
signal naming its task's shop (a sync moves its shop's counts and `lastSyncedAt`), so that a follower of one shop can
let the signals of the merchant's other shops go (issue 9: one read per update).

Each subscriber holds one bounded slot of pending ids (a set, never a queue): a burst of 1,000 page writes of a
task costs a waiting subscriber one wake-up. `InProcessEventBus` serves the embedded mode, where the worker pool
publishes from another thread and event loop. `RedisEventBus` publishes `{task_id, shop_id, merchant_id}` as
JSON on the channel `shopbridge:sync-task` (shops: `{shop_id, merchant_id}` on `shopbridge:shop`, items:
`{item_id, merchant_id}` on `shopbridge:inventory-item`); each process
keeps ONE pub/sub connection (started on first subscribe, reconnected with backoff) and fans out locally.
Pub/sub is at-most-once: subscribers must also re-read on a timeout, which is why `wait` takes one.

Delivery marks (`mark()`, `Subscription.woken_by`) order signals and reads within a process: a read that took its
mark after the signal's delivery began after that signal's commit (signals are published after their commit), so it
may serve a subscriber that signal woke; one that took it earlier may not (gql/shared_reads.py shares reads so).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis

from adapters.cancellation import cancel_kept
from domain.sync import SyncTask

CHANNEL = "shopbridge:sync-task"
SHOP_CHANNEL = "shopbridge:shop"
INVENTORY_CHANNEL = "shopbridge:inventory-item"
MAX_PENDING_IDS = 1_000  # beyond this a subscriber is told to re-read everything (an empty set)
LOST_SIGNAL_LINE_EVERY_SECONDS = 60.0  # at most one "could not publish" line per kind of signal this often

log = logging.getLogger(__name__)

_marks = itertools.count(1)  # next() is atomic under the GIL: deliveries on any loop or thread share one order


def mark() -> int:
    """A number above the delivery mark of every signal delivered so far in this process, and below that of every
    signal delivered later (`Subscription.woken_by`)."""
    return next(_marks)


class Subscription:
    """One subscriber's latest-value slot; `wait` is called from the loop that subscribed."""

    def __init__(self, merchant_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.merchant_id = merchant_id
        self.loop = loop
        self._pending: set[str] = set()
        self._overflow = False
        self._event = asyncio.Event()
        self._delivered = 0  # the mark of the latest delivery (`mark()`)
        self.woken_by = 0  # the mark of the latest delivery the last `wait` that returned a signal took in

    def _deliver(self, task_id: str | None) -> None:
        """On the subscriber's loop. `None`: ids unknown (a reconnect), re-read everything."""
        if task_id is None or len(self._pending) >= MAX_PENDING_IDS:
            self._overflow = True
            self._pending.clear()
        elif not self._overflow:
            self._pending.add(task_id)
        self._delivered = mark()
        self._event.set()

    async def wait(self, timeout: float) -> set[str] | None:  # noqa: ASYNC109 (the timeout IS the contract: re-read)
        if not self._event.is_set():
            # `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 wait_for returns when the event is set in the
            # same loop turn as the task is cancelled (CPython gh-86296, adapters/cancellation.py): a subscription
            # whose socket closed at that moment looped on with no socket, holding its merchant's WebSocket slot and
            # the server's stop for its whole grace (soak56 F1).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        if not self._event.is_set():
            return None
        changed = set() if self._overflow else self._pending
        self._pending, self._overflow = set(), False
        self.woken_by = self._delivered
        self._event.clear()
        return changed


class _Fanout:
    """Subscribers by merchant; `send` may be called from any thread or loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_merchant: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> None:
        with self._lock:
            self._by_merchant.setdefault(subscription.merchant_id, set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        with self._lock:
            subscribers = self._by_merchant.get(subscription.merchant_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_merchant[subscription.merchant_id]

    def listening(self, merchant_id: str) -> int:
        with self._lock:
            return len(self._by_merchant.get(merchant_id, ()))

    def send(self, merchant_id: str | None, task_id: str | None) -> None:
        """To one merchant's subscribers, or (merchant None) to everyone with "re-read everything"."""
        with self._lock:
            if merchant_id is None:
                targets = [s for subscribers in self._by_merchant.values() for s in subscribers]
            else:
                targets = list(self._by_merchant.get(merchant_id, ()))
        for subscription in targets:
            with contextlib.suppress(RuntimeError):  # its loop is closed: it is going away
                subscription.loop.call_soon_threadsafe(subscription._deliver, task_id)

    def subscribe(self, merchant_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return _subscribed(merchant_id, self)


@contextlib.asynccontextmanager
async def _subscribed(merchant_id: str, *fanouts: _Fanout) -> AsyncIterator[Subscription]:
    """One subscription of the merchant, its one slot fed by every one of `fanouts`."""
    subscription = Subscription(merchant_id, asyncio.get_running_loop())
    for fanout in fanouts:
        fanout.add(subscription)
    try:
        yield subscription
    finally:
        for fanout in fanouts:
            fanout.remove(subscription)


class InProcessEventBus:
    """Signals within one process (the embedded default): publishers and subscribers on any thread or loop."""

    def __init__(self) -> None:
        self._fanout = _Fanout()
        self._shops = _Fanout()
        self._task_shops = _Fanout()  # task signals by the id of their task's shop (`subscribe_shop_activity`)
        self._items = _Fanout()

    async def task_changed(self, task: SyncTask) -> None:
        self._fanout.send(task.merchant_id, task.id)
        self._task_shops.send(task.merchant_id, task.shop_id)

    async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
        self._shops.send(merchant_id, shop_id)

    async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
        self._items.send(merchant_id, item_id)

    def subscribe_inventory(self, merchant_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._items.subscribe(merchant_id)

    def subscribe(self, merchant_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._fanout.subscribe(merchant_id)

    def subscribe_shops(self, merchant_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._shops.subscribe(merchant_id)

    def subscribe_shop_activity(self, merchant_id: str) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return _subscribed(merchant_id, self._shops, self._task_shops)

    def listening(self, merchant_id: str) -> int:
        """How many of the merchant's task subscriptions receive signals now (an observable point for tests)."""
        return self._fanout.listening(merchant_id)

    def shops_listening(self, merchant_id: str) -> int:
        """How many of the merchant's shop subscriptions receive signals now (an observable point for tests)."""
        return self._shops.listening(merchant_id)

    def items_listening(self, merchant_id: str) -> int:
        """How many of the merchant's item subscriptions receive signals now (an observable point for tests)."""
        return self._items.listening(merchant_id)

    async def aclose(self) -> None:
        return None


class LostSignalLines:
    """One WARNING line per kind of signal (`what`) a minute, not one per signal, while Redis does not answer: an
    import writes a page of a hundred records and signals each pool item it changed, so a 15 s Redis restart during
    one logged ~1,500 identical lines. The first lost signal of a kind is logged at once; those within
    `every_seconds` after it are counted, and the next line says how many were left out. Thread-safe; `clock`:
    monotonic seconds."""

    def __init__(
        self, every_seconds: float = LOST_SIGNAL_LINE_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_seconds = every_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._shown: dict[str, tuple[float, int]] = {}  # what -> (when a line was last logged, lost since)

    def lost(self, what: str) -> None:
        """A signal of kind `what` ("a sync task signal") could not be published: log it, or count it."""
        with self._lock:
            shown_at, left_out = self._shown.get(what, (-math.inf, 0))
            now = self._clock()
            if now - shown_at < self.every_seconds:
                self._shown[what] = (shown_at, left_out + 1)
                return
            self._shown[what] = (now, 0)
        more = f", {left_out} more lost since the last one" if left_out else ""
        log.warning(
            "could not publish %s; subscribers will re-read on their timeout (this line again in %g s at most%s)",
            what, self.every_seconds, more,
        )  # fmt: skip


class RedisEventBus:
    """Signals across processes through Redis pub/sub (production: API processes and worker processes). A signal
    Redis does not take is logged through `lost_lines` (`LostSignalLines`)."""

    def __init__(
        self,
        url: str,
        *,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 10.0,
        lost_lines: LostSignalLines | None = None,
    ) -> None:
        self._url = url
        self._lost = lost_lines or LostSignalLines()
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._fanout = _Fanout()
        self._shops = _Fanout()
        self._task_shops = _Fanout()
        self._items = _Fanout()
        # A redis.asyncio client belongs to the loop it connected on; keep one per loop that publishes.
        self._clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def _client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A pooled connection Redis closed (a restart) is replaced and the signal sent once more, not lost.
            client = self._clients[loop] = aioredis.Redis.from_url(self._url, retry_on_error=[aioredis.ConnectionError])
        return client

    async def task_changed(self, task: SyncTask) -> None:
        message = json.dumps({"task_id": task.id, "shop_id": task.shop_id, "merchant_id": task.merchant_id})
        try:
            await cancel_kept(self._client().publish(CHANNEL, message))
        except (aioredis.RedisError, OSError):
            self._lost.lost("a sync task signal")

    async def shop_changed(self, shop_id: str, merchant_id: str) -> None:
        message = json.dumps({"shop_id": shop_id, "merchant_id": merchant_id})
        try:
            await cancel_kept(self._client().publish(SHOP_CHANNEL, message))
        except (aioredis.RedisError, OSError):
            self._lost.lost("a shop signal")

    async def inventory_item_changed(self, item_id: str, merchant_id: str) -> None:
        message = json.dumps({"item_id": item_id, "merchant_id": merchant_id})
        try:
            await cancel_kept(self._client().publish(INVENTORY_CHANNEL, message))
        except (aioredis.RedisError, OSError):
            self._lost.lost("an inventory item signal")

    @contextlib.asynccontextmanager
    async def subscribe_inventory(self, merchant_id: str) -> AsyncIterator[Subscription]:
        self._ensure_listening()
        async with self._items.subscribe(merchant_id) as subscription:
            yield subscription

    @contextlib.asynccontextmanager
    async def subscribe(self, merchant_id: str) -> AsyncIterator[Subscription]:
        self._ensure_listening()
        async with self._fanout.subscribe(merchant_id) as subscription:
            yield subscription

    @contextlib.asynccontextmanager
    async def subscribe_shops(self, merchant_id: str) -> AsyncIterator[Subscription]:
        self._ensure_listening()
        async with self._shops.subscribe(merchant_id) as subscription:
            yield subscription

    @contextlib.asynccontextmanager
    async def subscribe_shop_activity(self, merchant_id: str) -> AsyncIterator[Subscription]:
        self._ensure_listening()
        async with _subscribed(merchant_id, self._shops, self._task_shops) as subscription:
            yield subscription

    def _ensure_listening(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="shopbridge-events-listener")

    def listening(self, merchant_id: str) -> int:
        """How many of the merchant's task subscriptions receive signals now: none until Redis confirmed the
        pub/sub subscription (an observable point for tests, readable from any thread)."""
        return self._fanout.listening(merchant_id) if self._listening.is_set() else 0

    def shops_listening(self, merchant_id: str) -> int:
        """How many of the merchant's shop subscriptions receive signals now: none until Redis confirmed the
        pub/sub subscription (a signal published before that is lost; readable from any thread)."""
        return self._shops.listening(merchant_id) if self._listening.is_set() else 0

    def items_listening(self, merchant_id: str) -> int:
        """How many of the merchant's inventory item subscriptions receive signals now: none until Redis confirmed
        the pub/sub subscription, and none while it is lost (readable from any thread)."""
        return self._items.listening(merchant_id) if self._listening.is_set() else 0

    async def wait_listening(self) -> None:
        """Until the pub/sub connection is subscribed (tests use it: earlier signals would be missed)."""
        await self._listening.wait()

    async def _listen(self) -> None:
        delay = self._reconnect_delay
        while True:
            client = aioredis.Redis.from_url(self._url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL, SHOP_CHANNEL, INVENTORY_CHANNEL)
                    self._listening.set()
                    self._fanout.send(None, None)  # anything during the outage is lost: everyone re-reads
                    self._shops.send(None, None)
                    self._task_shops.send(None, None)
                    self._items.send(None, None)
                    delay = self._reconnect_delay
                    async for message in pubsub.listen():
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("sync task signals: Redis pub/sub lost; reconnecting in %.1fs", delay)
            finally:
                self._listening.clear()
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_reconnect_delay)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            data = json.loads(message["data"])
            channel = message.get("channel")
            if channel in (SHOP_CHANNEL, SHOP_CHANNEL.encode()):
                self._shops.send(str(data["merchant_id"]), str(data["shop_id"]))
            elif channel in (INVENTORY_CHANNEL, INVENTORY_CHANNEL.encode()):
                self._items.send(str(data["merchant_id"]), str(data["item_id"]))
            else:
                self._fanout.send(str(data["merchant_id"]), str(data["task_id"]))
                shop_id = data.get("shop_id")  # None (a publisher that did not name it): its followers re-read
                self._task_shops.send(str(data["merchant_id"]), None if shop_id is None else str(shop_id))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed sync task signal")

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        loop = asyncio.get_running_loop()
        for client_loop, client in list(self._clients.items()):
            if client_loop is loop:
                await client.aclose()
                del self._clients[client_loop]
