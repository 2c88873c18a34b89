"""`syncTaskUpdated` without taskId when Redis pub/sub drops task signals (gql/feeds.py `TaskFeed._read` on lost
signals): a task that started and finished while its signal was lost is still sent."""

from __future__ import annotations

from typing import Any

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import RedisEventBus
from domain.clock import SystemClock
from domain.shops import Shop
from domain.sync import SyncKind
from gql.container import Services
from gql.feeds import TaskFeed
from gql.ids import to_global_id
from tests.fakes import FakeClock
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import until
from tests.integration.db_samples import NOW, add_shop, make_shop
from tests.integration.task_feed_support import add_task, read_naming, received, sent_until, subscribe_all_tasks


async def test_an_all_tasks_subscriber_sends_a_task_that_started_and_finished_while_redis_lost_its_signal(
    database: Database, cipher: TokenCipher, own_redis: RedisServer
) -> None:
    """lists56: after a Redis reconnect the feed is told "signals were lost, re-read everything", and re-read only the
    tasks its followers knew of (the active ones, those sent): a task that started and finished while Redis was down,
    its signal lost, was never read, never sent."""
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())
    merchant = shop.merchant_id
    bus = RedisEventBus(own_redis.url, reconnect_delay=0.05)
    unused: Any = None
    services = Services(
        settings=unused, db=database, uow_factory=uows, tiktok=unused, queue=unused, events=bus, clock=SystemClock(),
        intake=unused, cipher=cipher,
    )  # fmt: skip
    # the merchant's feed, its clock the tasks' (no fallback read: 600 s; every read below answers a signal)
    feed = services.task_feeds[merchant] = TaskFeed(
        database, bus, merchant, services.task_feeds, fallback_interval=600, clock=FakeClock(NOW)
    )
    added = 0

    async def add(kind: SyncKind, finished: bool = False, of: Shop = shop) -> str:
        nonlocal added
        added += 1
        # (lost while Redis is down: logged, not raised)
        return await add_task(uows, bus, of, kind, added, finished=finished, signal=True)

    try:
        running = await add(SyncKind.PRODUCTS)
        messages = await subscribe_all_tasks(services, merchant)
        async with feed.follow() as witness:
            try:
                # given an all-tasks subscriber that sent its first message, and signals heard through Redis
                assert await received(messages) == {"id": to_global_id("SyncTask", running), "status": "QUEUED"}
                await until(lambda: bus.listening(merchant) > 0, "the feed to hear Redis")
                heard = await add(SyncKind.ORDERS)
                await read_naming(witness, heard)
                # when Redis goes down and a task starts and finishes meanwhile, its signal lost
                own_redis.halt()
                await until(lambda: bus.listening(merchant) == 0, "the pub/sub connection to drop")
                unsignalled = await add(SyncKind.ORDERS, finished=True)
                # and Redis comes back (on this thread: the server dies with the thread that started it): the feed is
                # told signals were lost, and reads
                own_redis.resume()
                await until(lambda: bus.listening(merchant) > 0, "the feed to hear Redis again")
                # a task of another shop signalled after it, to know when the subscriber is done
                last = await add(SyncKind.PRODUCTS, of=await add_shop(uows, make_shop(merchant)))
                await read_naming(witness, last)
                # then the subscriber sends the task that started and finished unsignalled, before the last one
                sent = await sent_until(messages, last)
                assert {"id": to_global_id("SyncTask", unsignalled), "status": "SUCCEEDED"} in sent, sent
            finally:
                await messages.aclose()
    finally:
        await bus.aclose()
