"""A load's token check follows the operation that asked for it, whatever batch the load joins (review56b F2).

One WebSocket's operations share one `Context`, so one set of loaders (gql/context.py), and a strawberry DataLoader
runs a batch in the context of the batch's FIRST `load()`. A subscription message's execution checks no token
(`executing_message`: it is shared by every subscriber of the merchant, gql/shared_events.py), so the token was
checked, or not, for a whole batch by whichever operation loaded first in that loop turn: a query on a socket whose
token had expired, joined to a message's batch, got the merchant's data; a message's load joined to such a query's
batch got that socket's UNAUTHENTICATED, told every subscriber sharing the message. Real `Context`, real loaders, a
real database (SQLite and PostgreSQL); the two operations load in the same loop turn, the first one first, as
`asyncio.gather` starts them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from adapters.crypto import TokenCipher
from adapters.db import Database
from gql.context import RECONNECT_MESSAGE, Context, executing_message
from gql.errors import UnauthenticatedError
from tests.integration.db_samples import add_shop, make_shop
from tests.integration.shop_feed_support import services_of

MERCHANT = "m-batch"


@contextmanager
def shop_reads(db: Database) -> Iterator[list[str]]:
    """The statements that read the shops table, as they are sent."""
    sent: list[str] = []

    def before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM shops" in statement:
            sent.append(statement)

    event.listen(db.read_engine.sync_engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", before)


async def in_message(context: Context, shop_id: str) -> Any:
    """A load made by a subscription message's execution (which checks no token), through the socket's loaders."""
    with executing_message():
        return await context.loaders.shop.load(shop_id)


async def in_query(context: Context, shop_id: str) -> Any:
    """A load made by a query on the same socket (`shop(id:)` reads through the loaders alone)."""
    return await context.loaders.shop.load(shop_id)


async def two_shops(database: Database, cipher: TokenCipher) -> tuple[Context, str, str]:
    services = services_of(database, cipher)
    first = await add_shop(services.uow_factory, make_shop(MERCHANT))
    second = await add_shop(services.uow_factory, make_shop(MERCHANT))
    return Context(services, MERCHANT, token_expires_at=time.time() + 3600), first.id, second.id


def refused(outcome: object) -> bool:
    return isinstance(outcome, UnauthenticatedError) and str(outcome) == RECONNECT_MESSAGE


async def test_a_query_joined_to_a_message_s_batch_on_an_expired_socket_reads_nothing(
    database: Database, cipher: TokenCipher
) -> None:
    # given a socket whose token has just expired, and a shop message it shares with other subscribers
    context, message_shop, query_shop = await two_shops(database, cipher)
    context.token_expires_at = time.time() - 1
    with shop_reads(database) as reads:
        # when the message loads its shop first in a loop turn, and a query on the same socket loads another
        message, query = await asyncio.gather(
            in_message(context, message_shop), in_query(context, query_shop), return_exceptions=True
        )
    # then the message has its shop (it checks no token: each subscriber's is checked when it is handed over)
    assert getattr(message, "internal_id", message) == message_shop
    # and the query is refused, as it is alone (before: it was read in the message's batch and answered with data)
    assert refused(query), f"a query on an expired socket got {query!r}"
    # and only the message's shop was read
    assert len(reads) == 1, reads


async def test_a_message_s_load_joined_to_a_query_s_batch_is_not_told_that_socket_s_expiry(
    database: Database, cipher: TokenCipher
) -> None:
    # given a socket whose token has just expired
    context, message_shop, query_shop = await two_shops(database, cipher)
    context.token_expires_at = time.time() - 1
    # when a query on it loads a shop first in a loop turn, and a message executed with its context loads another
    query, message = await asyncio.gather(
        in_query(context, query_shop), in_message(context, message_shop), return_exceptions=True
    )
    # then the query is refused
    assert refused(query), f"a query on an expired socket got {query!r}"
    # and the message has its shop (before: the batch ran in the query's context and failed the message with that
    # socket's expiry, which every subscriber sharing the message would have been told)
    assert getattr(message, "internal_id", message) == message_shop, f"the message's load got {message!r}"


@pytest.mark.parametrize("query_first", [True, False])
async def test_loads_of_a_message_and_a_query_in_one_loop_turn_are_still_one_read(
    database: Database, cipher: TokenCipher, query_first: bool
) -> None:
    # given a socket whose token is valid
    context, message_shop, query_shop = await two_shops(database, cipher)
    with shop_reads(database) as reads:
        # when a message and a query on it load a shop each in one loop turn
        loads = [in_message(context, message_shop), in_query(context, query_shop)]
        message, query = await asyncio.gather(*(reversed(loads) if query_first else loads))
        if query_first:
            message, query = query, message
    # then each has its shop, from one read: the batching is kept (benchmarks 5 and 6: one read per update)
    assert (message.internal_id, query.internal_id) == (message_shop, query_shop)
    assert len(reads) == 1, reads
