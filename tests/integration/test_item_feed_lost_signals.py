"""The all-items `inventoryItemUpdated` when Redis pub/sub drops item signals (gql/inventory/item_feed.py, lost
signals): a sale on an item no subscriber had been told of, its signal lost while Redis was down, is still sent."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import RedisEventBus
from domain.clock import SystemClock
from domain.services import inventory as pool
from gql.container import Services
from gql.context import Context
from gql.inventory.item_feed import ItemFollower, item_feed
from gql.inventory.shared_reads import ItemState
from gql.schema import schema
from tests.fakes import FakeEventPublisher, FakeTaskQueue
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import until

ALL_ITEMS = "subscription { inventoryItemUpdated { sku onHand } }"


async def _told_until(witness: ItemFollower, item_id: str) -> dict[str, ItemState]:
    """What the feed hands the witness follower up to a read that found `item_id` (the latest state of each item)."""
    told: dict[str, ItemState] = {}
    while item_id not in told:
        told.update(await witness.next())
    return told


async def _received(messages: Any) -> tuple[str, int]:
    result = await anext(messages)
    assert result.errors is None and result.data is not None, result.errors
    item = result.data["inventoryItemUpdated"]
    return item["sku"], item["onHand"]


async def test_an_all_items_subscriber_sends_an_item_sold_while_redis_lost_its_signal(
    database: Database, cipher: TokenCipher, own_redis: RedisServer
) -> None:
    """itemlost56: after a Redis reconnect the feed is told "signals were lost", and read again only the items its
    followers had been sent: the desk, sold while Redis was down and never sent before, kept its old stock."""
    uows = uow_factory(database, cipher)
    clock = SystemClock()
    bus = RedisEventBus(own_redis.url, reconnect_delay=0.05)
    queue, quiet = FakeTaskQueue(), FakeEventPublisher()
    unused: Any = None
    services = Services(
        settings=unused, db=database, uow_factory=uows, tiktok=unused, queue=queue, events=bus, clock=clock,
        intake=unused, cipher=cipher,
    )  # fmt: skip
    lamp = (await pool.create_item(uows, queue, quiet, clock, "m1", "LAMP", 5, 0)).id
    desk = (await pool.create_item(uows, queue, quiet, clock, "m1", "DESK", 3, 0)).id

    async def sell(item_id: str) -> None:
        await pool.adjust_item(uows, queue, bus, "m1", item_id, -1, "sale")  # (signal lost while Redis is down)

    messages: Any = await schema.subscribe(ALL_ITEMS, context_value=Context(services, "m1"))
    assert hasattr(messages, "__anext__"), messages
    pulled = asyncio.ensure_future(anext(messages))  # (the subscriber joins the merchant's feed as it starts)
    try:
        await until(lambda: "m1" in services.item_feeds, "the subscriber to join the feed")
        feed = item_feed(services, "m1")
        async with feed.follow() as witness:
            # given an all-items subscriber told of the lamp, its signals heard through Redis
            await until(lambda: bus.items_listening("m1") > 0, "the feed to hear Redis")
            await sell(lamp)
            await _told_until(witness, lamp)
            result = await pulled  # (the reads before may send the items as created: changed within the margin)
            message = result.data["inventoryItemUpdated"]
            while (message["sku"], message["onHand"]) != ("LAMP", 4):
                message = dict(zip(("sku", "onHand"), await _received(messages), strict=True))
            # when Redis goes down and the desk sells meanwhile, its signal lost
            own_redis.halt()
            await until(lambda: bus.items_listening("m1") == 0, "the pub/sub connection to drop")
            await sell(desk)
            # (a read begun before the sale committed, e.g. one for the drop itself, may end after it: the read to
            # wait for is one begun after the sale, which with no signal heard can only be the reconnect's)
            begun = feed.begun
            # and Redis comes back (on this thread: the server dies with the thread that started it): the feed is told
            # signals were lost, and reads
            own_redis.resume()
            await until(lambda: feed.reads > begun, "the feed's read after the reconnect")
            # and the lamp sells again, signalled, after that read
            await sell(lamp)
            # then the feed handed its followers the desk's new state before that last sale
            told = await _told_until(witness, lamp)
            assert desk in told and told[desk].node.on_hand == 2, sorted(told)
            # and the subscriber sends it
            sent: set[tuple[str, int]] = set()
            while not {("DESK", 2), ("LAMP", 3)} <= sent:
                sent.add(await _received(messages))
    finally:
        if not pulled.done():
            pulled.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pulled
        await messages.aclose()
        await bus.aclose()
