"""Per-operation DataLoaders: a field that many objects ask for is fetched in one query per batch.

Each batch opens its own read session (sibling fields resolve concurrently; a session is never shared).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from strawberry.dataloader import Batch, DataLoader

from adapters.db import inventory_queries, queries
from adapters.db.repositories.inventory_push import policies_of_shops
from adapters.db.shop_facts import shop_sync_facts
from domain.attention import SyncFacts
from domain.inventory_push import InventoryPolicy as DomainPolicy
from gql import mappers
from gql import types as t
from gql.inventory_policy.types import InventoryPolicy, inventory_policy

if TYPE_CHECKING:
    from gql.container import Services

K = TypeVar("K")
T = TypeVar("T")


class Loaders:
    """One operation's DataLoaders, reading the objects of `merchant()`'s merchant (None: they read nothing).

    `check()`, when given, is called by every `load()` (and so every `load_many()`), in the context of the operation
    that loads, before the cache is looked at: what it raises is raised by that `load()` (a WebSocket's expired token:
    UnauthenticatedError, `gql.context.Context`), and nothing is read or cached for it. `merchant()` is called in the
    batch, so it checks no token: a strawberry DataLoader runs a batch in the context of the batch's FIRST `load()`
    (`loop.call_soon` from it), whatever the operations of the loads that joined it, and one WebSocket's operations
    share one context, so one set of loaders (review56b F2: a query on a socket whose token had expired, joined to a
    subscription message's batch, was answered with data; a message's load joined to that query's batch was refused
    with that socket's expiry, told every subscriber sharing the message).

    No reference cycle: the loaders' batch functions belong to `_Reads`, which holds the services and the merchant,
    not these loaders. A bound method of the loaders (`DataLoader(self._load_shops)`) made each `Loaders` a cycle
    (loaders -> DataLoader -> bound method -> loaders), so every set spent, with every value its caches held,
    waited for the garbage collector's full collection: a subscription builds a set per message (or per shared read),
    and 50 sockets following the pool left ~50 MB of Python objects between full collections, whose memory the
    process kept (soak53 item 2; bench/README.md, "Subscriptions' memory"). Now a set is freed when its last user
    lets it go.
    """

    def __init__(
        self,
        services: Services,
        merchant: Callable[[], str | None],
        check: Callable[[], object] | None = None,
        left_reading: Callable[[asyncio.Future[Any]], object] | None = None,
    ) -> None:
        reads = _Reads(services, merchant)

        def loader(load_fn: Callable[[list[str]], Awaitable[Any]]) -> DataLoader[str, Any]:
            return DataLoader(load_fn) if check is None else _CheckedLoader(load_fn, check, left_reading)

        self.shop: DataLoader[str, t.Shop | None] = loader(reads.shops)
        self.product_count: DataLoader[str, int] = loader(reads.product_counts)
        self.order_count: DataLoader[str, int] = loader(reads.order_counts)
        self.sync_facts: DataLoader[str, SyncFacts] = loader(reads.sync_facts)
        self.inventory_policy: DataLoader[str, InventoryPolicy] = loader(reads.inventory_policies)
        self.joined_sku_count: DataLoader[str, int] = loader(reads.joined_sku_counts)
        # The inventory pool (gql/inventory/types.py builds the DTOs; typed Any here to keep the import one-way).
        self.inventory_item: DataLoader[str, Any] = loader(reads.inventory_items)
        self.item_links: DataLoader[str, list[Any]] = loader(reads.item_links)
        self.sku_link: DataLoader[str, Any] = loader(reads.sku_links)


class _CheckedLoader(DataLoader[K, T]):
    """A DataLoader whose every `load()` first calls `check()` in the loading operation's own context (`Loaders`),
    and hands each `load()` of a key still loading a future of its own: the batching is strawberry's, unchanged (one
    read per batch, however many operations joined it).

    Strawberry hands every `load()` of a key the one future it caches, and asyncio cancels the future a task awaits
    when the task is cancelled: one awaiter's cancellation was every awaiter's. One WebSocket's operations share one
    set of loaders (gql/context.py), so a client's `complete` for one operation (graphql-transport-ws: the server
    cancels its task), or a wait ended at its token's expiry, cancelled a load that another operation of the socket
    awaited, or a subscription message's execution shared with other sockets (gql/shared_events.py): they ended with
    a bare CancelledError, no `next`, no `error`, no `complete`, the operation left open and silent (loader58, review57
    F-cancel). Now a cancelled awaiter leaves alone; the key's future is cancelled (and with it, as strawberry does,
    a batch all of whose keys are) only when its last awaiter has left. A key already loaded is its cached future,
    as before: awaiting a done future cannot cancel it."""

    def __init__(
        self,
        load_fn: Callable[[list[K]], Awaitable[Any]],
        check: Callable[[], object],
        left_reading: Callable[[asyncio.Future[Any]], object] | None = None,
    ) -> None:
        super().__init__(load_fn)
        self._check = check
        self._left_reading = left_reading
        self._awaiters: dict[asyncio.Future[Any], _Awaiters] = {}  # each key's future still loading: its awaiters

    def load(self, key: K) -> Awaitable[T]:
        self._check()
        shared = cast("asyncio.Future[T]", super().load(key))
        if shared.done():
            return shared
        awaiters = self._awaiters.get(shared)
        if awaiters is None:  # a new future, in the loader's current batch
            awaiters = self._awaiters[shared] = _Awaiters(shared, self._awaiters, self.batch, self._left_reading)
        return awaiters.add()


class _Awaiters:
    """The awaiters of one key's future still loading (`shared`), each with a future of its own: settled as `shared`
    is, by one callback for them all (a callback per awaiter made 1,000 loads of one key ~1.5x slower); one cancelled
    (its awaiter gone) leaves `shared` alone while another waits, and cancels it with the last, so that strawberry
    skips or stops a batch no one awaits any more. Few objects per key and awaiter: each is garbage the collector
    walks while the key loads."""

    __slots__ = ("batch", "left", "left_reading", "owns", "pending", "registry", "shared")

    def __init__(
        self,
        shared: asyncio.Future[Any],
        registry: dict[asyncio.Future[Any], _Awaiters],
        batch: Batch[Any, Any] | None = None,
        left_reading: Callable[[asyncio.Future[Any]], object] | None = None,
    ) -> None:
        self.shared = shared
        self.registry = registry
        self.batch = batch  # strawberry's batch that loads `shared`
        self.left_reading = left_reading
        self.owns: list[asyncio.Future[Any]] = []
        self.pending = 0
        self.left = self._left  # one bound method for every awaiter's future: added, and removed once settled
        shared.add_done_callback(self._settle)

    def add(self) -> asyncio.Future[Any]:
        own = self.shared.get_loop().create_future()
        own.add_done_callback(self.left)
        self.owns.append(own)
        self.pending += 1
        return own

    def _settle(self, shared: asyncio.Future[Any]) -> None:
        """`shared` is done: its outcome becomes each waiting awaiter's."""
        self.registry.pop(shared, None)
        cancelled = shared.cancelled()
        error = None if cancelled else shared.exception()
        left = self.left
        for own in self.owns:
            if own.done():  # its awaiter has gone
                continue
            own.remove_done_callback(left)
            if cancelled:
                own.cancel()
            elif error is not None:
                own.set_exception(error)
            else:
                own.set_result(shared.result())
        self.owns.clear()
        self.batch = None
        del self.left  # no cycle left behind (self -> bound method -> self)

    def _left(self, own: asyncio.Future[Any]) -> None:
        """An awaiter's future was cancelled before `shared` was done: the last one cancels `shared`. A batch that
        reads already runs its statement to its end (adapters/db/sessions.py), its connection held meanwhile, with
        nobody awaiting it: it is handed to `left_reading` (the socket's context, whose end waits for it)."""
        self.pending -= 1
        if self.pending == 0 and not self.shared.done():
            self.shared.cancel()
            reading = self.batch._dispatch_task if self.batch is not None else None
            if reading is not None and not reading.done() and self.left_reading is not None:
                self.left_reading(reading)


class _Reads:
    """The batch functions of one set of loaders: each takes a batch's keys and answers in their order."""

    __slots__ = ("_merchant", "_services")

    def __init__(self, services: Services, merchant: Callable[[], str | None]) -> None:
        self._services = services
        self._merchant = merchant

    async def inventory_items(self, ids: list[str]) -> list[Any]:
        from gql.inventory.types import inventory_item

        merchant_id = self._merchant()
        if merchant_id is None:
            return [None] * len(ids)
        async with self._services.db.read_sessionmaker() as session:
            found = await inventory_queries.items_by_ids(session, merchant_id, ids)
        return [inventory_item(found[i]) if i in found else None for i in ids]

    async def item_links(self, ids: list[str]) -> list[list[Any]]:
        from gql.inventory.types import sku_link

        merchant_id = self._merchant()
        if merchant_id is None:
            return [[] for _ in ids]
        async with self._services.db.read_sessionmaker() as session:
            found = await inventory_queries.links_by_items(session, merchant_id, ids)
        return [[sku_link(r) for r in found.get(i, [])] for i in ids]

    async def sku_links(self, ids: list[str]) -> list[Any]:
        from gql.inventory.types import sku_link

        merchant_id = self._merchant()
        if merchant_id is None:
            return [None] * len(ids)
        async with self._services.db.read_sessionmaker() as session:
            found = await inventory_queries.links_by_skus(session, merchant_id, ids)
        return [sku_link(found[i]) if i in found else None for i in ids]

    async def shops(self, ids: list[str]) -> list[t.Shop | None]:
        merchant_id = self._merchant()
        if merchant_id is None:
            return [None] * len(ids)
        async with self._services.db.read_sessionmaker() as session:
            rows = await queries.shops_by_ids(session, merchant_id, ids, cipher=self._services.cipher)
        now = self._services.clock.now()
        by_id = {shop_id: mappers.shop(row, now) for shop_id, row in rows.items()}
        return [by_id.get(shop_id) for shop_id in ids]

    async def product_counts(self, shop_ids: list[str]) -> list[int]:
        merchant_id = self._merchant()
        if merchant_id is None:
            return [0] * len(shop_ids)
        async with self._services.db.read_sessionmaker() as session:
            counts = await queries.product_counts(session, merchant_id, shop_ids)
        return [counts.get(shop_id, 0) for shop_id in shop_ids]

    async def order_counts(self, shop_ids: list[str]) -> list[int]:
        merchant_id = self._merchant()
        if merchant_id is None:
            return [0] * len(shop_ids)
        async with self._services.db.read_sessionmaker() as session:
            counts = await queries.order_counts(session, merchant_id, shop_ids)
        return [counts.get(shop_id, 0) for shop_id in shop_ids]

    async def inventory_policies(self, shop_ids: list[str]) -> list[InventoryPolicy]:
        merchant_id = self._merchant()
        stored = {}
        if merchant_id is not None:
            async with self._services.db.read_sessionmaker() as session:
                stored = await policies_of_shops(session, merchant_id, shop_ids)
        return [inventory_policy(stored.get(shop_id, DomainPolicy())) for shop_id in shop_ids]

    async def joined_sku_counts(self, shop_ids: list[str]) -> list[int]:
        merchant_id = self._merchant()
        if merchant_id is None:
            return [0] * len(shop_ids)
        async with self._services.db.read_sessionmaker() as session:
            counts = await inventory_queries.joined_sku_counts(session, merchant_id, shop_ids)
        return [counts.get(shop_id, 0) for shop_id in shop_ids]

    async def sync_facts(self, shop_ids: list[str]) -> list[SyncFacts]:
        merchant_id = self._merchant()
        if merchant_id is None:
            return [SyncFacts()] * len(shop_ids)
        async with self._services.db.read_sessionmaker() as session:
            facts = await shop_sync_facts(session, merchant_id, shop_ids)
        return [facts.get(shop_id, SyncFacts()) for shop_id in shop_ids]
