"""Helpers for the tests of a `shopsUpdated` message whose nested reads wait out a database that cannot answer
(test_live_lists_outage.py, test_shared_message_tokens.py): the services those reads need, a merchant's shop with its
feed, a rename the feed has read, and a database whose pool lends one connection the test can hold (DATABASE_BUSY)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.events import InProcessEventBus
from domain.clock import SystemClock
from domain.shops import Shop
from gql.container import Services
from gql.feeds import Follower
from gql.shop_feeds import ShopFeed
from tests.fakes import FakeTaskQueue
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.db_samples import add_shop, make_shop

T = TypeVar("T")


def services_of(db: Database, cipher: TokenCipher) -> Services:
    """What a subscription's reads use: `db`, its units of work, an in-process bus and a fake task queue."""
    unused: Any = None
    return Services(
        settings=unused, db=db, uow_factory=uow_factory(db, cipher), tiktok=unused, queue=FakeTaskQueue(),
        events=InProcessEventBus(), clock=SystemClock(), intake=unused, cipher=cipher,
    )  # fmt: skip


async def save_shop(uows: Callable[[], Any], shop: Shop) -> None:
    async with uows() as uow:
        await uow.shops.update(shop)
        await uow.commit()


async def followed_shop(db: Database, services: Services, merchant_id: str) -> tuple[Shop, ShopFeed]:
    """A new shop of `merchant_id` (`make_shop`) and the merchant's shop feed (no fallback read: 600 s), registered in
    `services.shop_feeds`."""
    shop = await add_shop(services.uow_factory, make_shop(merchant_id))
    feed = services.shop_feeds[merchant_id] = ShopFeed(
        db, services.events, services.clock, merchant_id, services.shop_feeds, fallback_interval=600,
        cipher=services.cipher, outage=services.database_outage,
    )  # fmt: skip
    return shop, feed


async def rename(services: Services, shop: Shop, name: str, read_by: Follower | None = None) -> None:
    """The shop renamed `name`, saved and signalled; then, given a follower of its feed, until that follower has a
    snapshot the feed read (its connection given back)."""
    shop.rename(name)
    await save_shop(services.uow_factory, shop)
    await services.events.shop_changed(shop.id, shop.merchant_id)
    if read_by is not None:
        async with asyncio.timeout(DEADLINE_SECONDS):
            while not await read_by.next():
                pass


class OneConnectionPool:
    """A database whose pool lends one connection and waits `pool_timeout` (0.2 s) for it, and that connection held
    by the test (`hold`, `give_back`): every read of the code under test meets DATABASE_BUSY meanwhile (or, with a
    long `pool_timeout`, waits for it)."""

    def __init__(self, database_url: str, pool_timeout: float = 0.2) -> None:
        self.db = Database(database_url, pool_size=1, max_overflow=0, pool_timeout=pool_timeout)
        self.held: AsyncConnection | None = None

    async def hold(self) -> None:
        self.held = await self.db.read_engine.connect()

    async def give_back(self) -> None:
        if self.held is not None:
            await self.held.close()
            self.held = None

    async def given_back_then(self, answer: Awaitable[T]) -> T:
        """The held connection given back, then `answer` (a load or a message waiting for the pool) awaited: its
        result, or TimeoutError after DEADLINE_SECONDS."""
        await self.give_back()
        async with asyncio.timeout(DEADLINE_SECONDS):
            return await answer


@asynccontextmanager
async def one_connection_pool(database_url: str, pool_timeout: float = 0.2) -> AsyncIterator[OneConnectionPool]:
    """A `OneConnectionPool`; on the way out its connection given back (if held) and the database disposed."""
    pool = OneConnectionPool(database_url, pool_timeout)
    try:
        yield pool
    finally:
        await pool.give_back()
        await pool.db.dispose()


async def next_message_waiting(services: Services, messages: Any, what: str) -> asyncio.Future[Any]:
    """The subscription's next message, begun; returned once a read of it waited for the database (one retry of
    `services.database_outage`) or it came first; cancelled if neither happens (AssertionError from `until`)."""
    outage = services.database_outage
    message = asyncio.ensure_future(anext(messages))
    try:
        await until(lambda: outage.retries >= 1 or message.done(), what)
    except BaseException:
        message.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await message
        raise
    return message


async def answered_after_a_busy_wait(
    outage: Any, give_back: Callable[[], Awaitable[None]], answer: Awaitable[T], what: str
) -> T:
    """`answer` awaited while the pool's one connection is held, given back (`give_back`) once a read of it met the
    busy pool (one retry of `outage`, the services' `DatabaseOutage`; `what` names that read for `until`); asserts
    it had to wait."""
    given_back = asyncio.Event()

    async def give_back_once_waited() -> None:
        await until(lambda: outage.retries >= 1, what)
        await give_back()
        given_back.set()

    giving_back = asyncio.create_task(give_back_once_waited())
    try:
        result = await answer
    finally:
        giving_back.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await giving_back
    assert given_back.is_set(), "it did not wait: no read found the pool busy"
    return result
