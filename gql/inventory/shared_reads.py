"""The fallback re-reads of followed items, one per item and interval in this process, shared by its followers.

Security audit 50: each `inventoryItemUpdated(inventoryItemId:)` (or `sku:`) subscription re-read its item every
1.5 s on its own, to catch a change whose signal was lost: 400 subscriptions of one merchant on one quiet item took
62 % of a core (400 `syncTaskUpdated`, which share one feed per merchant, gql/feeds.py: 2.8 %). Now the fallback
re-reads wake on one grid per process (`next_tick`: multiples of `FALLBACK_INTERVAL` of the event loop's clock), and
every subscription that follows an item at a tick awaits one read of it (`ItemReads.signature`), started at that
tick or within `TICK_SLACK` before it; a follower whose `sent` differs from what that read saw reads the item
again for itself, as on a signal, and sends it. A change no signal announced still shows within
`FALLBACK_INTERVAL` + `TICK_SLACK` of the read; a signal still makes each follower read at once for itself.

Per process and per merchant: the read is the merchant's own (its loaders, keyed by merchant and item), and the
memo holds only items someone follows (`following`), so nothing is left behind when the last follower goes.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gql.container import Services
    from gql.inventory.types import InventoryItemNode, SkuLink

FALLBACK_INTERVAL = 1.5  # seconds between re-reads of a followed item when no signal came
CLOSE_WAIT_SECONDS = 30.0  # how long the shutdown waits for the reads under way (one statement each)
TICK_SLACK = 0.05  # seconds: a read started this long before a tick serves it (timers fire within the clock's grain)

Signature = tuple[object, ...]


def next_tick(now: float) -> float:
    """The next fallback re-read's time after `now` (the event loop's clock, seconds): a multiple of
    `FALLBACK_INTERVAL`, the same for every follower of the process."""
    return (math.floor(now / FALLBACK_INTERVAL) + 1) * FALLBACK_INTERVAL


def signature(node: InventoryItemNode, links: list[SkuLink]) -> Signature:
    """What a subscriber is told about: the counters, and the links with their push outcome. A link added or
    removed moves no counter when the SKU has no open order (nor does a shop's deletion that takes its links
    away, nor a push), so the version alone would leave the subscriber with links that no longer hold."""
    link_states = frozenset(
        (
            link.sku.id,
            link.state,
            link.source,
            link.pushed_quantity,
            link.pushed_at,
            link.held_back_quantity,
            link.push_error_code,
        )
        for link in links
    )
    return (node.on_hand, node.reserved, node.safety_stock, node.version, link_states)


class ItemReads:
    """The latest read of each followed item, by (merchant id, item id), for this process (`Services.item_reads`)."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], tuple[float, asyncio.Task[Signature | None]]] = {}
        self._followers: Counter[tuple[str, str]] = Counter()

    @contextmanager
    def following(self, merchant_id: str, item_id: str) -> Iterator[None]:
        """While a subscription follows the item: its latest read is kept until its last follower leaves."""
        key = (merchant_id, item_id)
        self._followers[key] += 1
        try:
            yield
        finally:
            self._followers[key] -= 1
            if self._followers[key] <= 0:
                del self._followers[key]
                self._latest.pop(key, None)

    async def signature(
        self, services: Services, merchant_id: str, item_id: str, not_before: float
    ) -> Signature | None:
        """The item's `signature` (None: the merchant has no such item) from a read started at `not_before` (loop
        clock) - `TICK_SLACK` or later: the one under way or done, else a new one. A read that failed is not
        reused (each caller's `wait_out` asks again); one caller cancelled does not cancel the read of the others."""
        key = (merchant_id, item_id)
        latest = self._latest.get(key)
        if latest is not None:
            started, read = latest
            if started >= not_before - TICK_SLACK and not (read.done() and (read.cancelled() or read.exception())):
                return await asyncio.shield(read)
        loop = asyncio.get_running_loop()
        read = loop.create_task(_read(services, merchant_id, item_id))
        read.add_done_callback(_retrieve)
        self._latest[key] = (loop.time(), read)
        return await asyncio.shield(read)

    async def aclose(self) -> None:
        """At shutdown, before the database is disposed of: until the reads under way have ended (at most
        `CLOSE_WAIT_SECONDS`). A read outlives the subscriptions it served (they await it shielded), and disposed
        under it, the database took its connection back after its pool was gone (left open: CI run 43's leak)."""
        under_way = [read for _, read in self._latest.values() if not read.done()]
        if under_way:
            await asyncio.wait(under_way, timeout=CLOSE_WAIT_SECONDS)


async def _read(services: Services, merchant_id: str, item_id: str) -> Signature | None:
    from gql.loaders import Loaders

    loaders = Loaders(services, lambda: merchant_id)
    node = await loaders.inventory_item.load(item_id)
    if node is None:
        return None
    return signature(node, await loaders.item_links.load(node.internal_id))


def _retrieve(read: asyncio.Task[Signature | None]) -> None:
    """A failed read whose every caller left is not "never retrieved": each caller raises it, if any is left."""
    if not read.cancelled():
        read.exception()
