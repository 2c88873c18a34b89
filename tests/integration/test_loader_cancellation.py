"""One awaiter of a load leaving (its task cancelled) never cancels what the load's other awaiters wait for (loader58,
review57 F-cancel).

One WebSocket's operations share one `Context`, so one set of loaders (gql/context.py), and a strawberry DataLoader
hands every `load()` of a key the one future it caches; asyncio cancels the future a task awaits when the task is
cancelled. So a client's `complete` for one operation (the server cancels its task) cancelled the load another
operation of the socket awaited, or a message's execution shared with other sockets: a bare CancelledError there.
Real `Context`, real loaders, a real database (SQLite and PostgreSQL) whose pool lends one connection, held by the
test: the batch's read waits for it, as during a busy pool or an outage. The end to end cases over a WebSocket are in
tests/e2e/test_subscription_cancellation.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.crypto import TokenCipher
from domain.shops import Shop
from gql.context import Context, executing_message
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.db_samples import add_shop, make_shop
from tests.integration.shop_feed_support import OneConnectionPool, one_connection_pool, services_of

MERCHANT = "m-cancel"


async def awaited(load: Awaitable[Any]) -> Any:
    """An operation's await of a load (its task is what the server cancels)."""
    return await load


def waiting_reads(busy: OneConnectionPool) -> int:
    """The reads waiting for the pool's one connection (SQLAlchemy's queue: a getter each)."""
    return len(busy.db.read_engine.pool._pool._queue._getters)  # type: ignore[attr-defined]


@asynccontextmanager
async def a_socket_s_shop_with_the_pool_held(
    database_url: str, cipher: TokenCipher
) -> AsyncIterator[tuple[OneConnectionPool, Context, Shop]]:
    """A shop of MERCHANT, a socket's `Context` of that merchant (its token valid for an hour: real loaders), and a
    database whose pool's one connection the test holds, waiting DEADLINE_SECONDS for it (reads wait for it):
    (that pool, the context, the shop); on the way out the connection given back and the database disposed."""
    async with one_connection_pool(database_url, pool_timeout=DEADLINE_SECONDS) as busy:
        services = services_of(busy.db, cipher)
        shop = await add_shop(services.uow_factory, make_shop(MERCHANT))
        context = Context(services, MERCHANT, token_expires_at=time.time() + 3600)
        await busy.hold()
        yield busy, context, shop


async def test_an_operation_cancelled_while_its_load_waits_leaves_the_socket_s_other_load_of_the_key_running(
    database_url: str, cipher: TokenCipher
) -> None:
    # given a socket's context and a database whose pool's one connection the test holds (reads wait for it)
    async with a_socket_s_shop_with_the_pool_held(database_url, cipher) as (busy, context, shop):
        # when a query on the socket loads the shop, and a message's execution loads it too (one batch, one read)
        query = asyncio.create_task(awaited(context.loaders.shop.load(shop.id)))
        with executing_message():
            message = asyncio.create_task(awaited(context.loaders.shop.load(shop.id)))
        await until(lambda: waiting_reads(busy) == 1, "the batch's read to wait for the pool")
        # and the query's task is cancelled (the client sent `complete` for it)
        query.cancel()
        with pytest.raises(asyncio.CancelledError):
            await query
        # then the message's load goes on: it gets the shop once the pool is given back (before: CancelledError)
        assert not message.done()
        assert waiting_reads(busy) == 1
        loaded = await busy.given_back_then(message)
        assert loaded is not None and loaded.name == shop.name


async def test_a_load_whose_every_awaiter_left_stops_its_read_and_is_loaded_afresh(
    database_url: str, cipher: TokenCipher
) -> None:
    """As strawberry does for a batch all of whose futures are cancelled: a read no one awaits any more is not made."""
    # given a socket's context and a database whose pool's one connection the test holds
    async with a_socket_s_shop_with_the_pool_held(database_url, cipher) as (busy, context, shop):
        # when two operations load the shop and both are cancelled while the read waits
        loads = [asyncio.create_task(awaited(context.loaders.shop.load(shop.id))) for _ in range(2)]
        await until(lambda: waiting_reads(busy) == 1, "the batch's read to wait for the pool")
        for each in loads:
            each.cancel()
        outcomes = await asyncio.gather(*loads, return_exceptions=True)
        assert all(isinstance(e, asyncio.CancelledError) for e in outcomes), outcomes
        # then the read stops waiting for the pool
        await until(lambda: waiting_reads(busy) == 0, "the abandoned read to stop waiting")
        # and a later load of the key reads it afresh
        loaded = await busy.given_back_then(context.loaders.shop.load(shop.id))
        assert loaded is not None and loaded.name == shop.name
