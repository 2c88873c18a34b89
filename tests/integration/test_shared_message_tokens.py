"""One socket's expired token never ends or fails another socket's subscription message (review56 F4).

A subscription message is executed once for every subscriber of the merchant that asked the same document
(gql/shared_events.py), with the context of the one whose generator yielded first. Its nested reads wait out a busy
pool (gql/live_outage.py: `read_live` for a page, `load_live` for a loader's object); they checked that one socket's
token at each retry, so its expiry during the wait was every socket's `data: null` with UNAUTHENTICATED (valid tokens
included: "reconnect with a new one", the message lost). Now the execution checks no token, and each subscriber's own
is checked when the message is handed to it: the expired one ends alone, with UNAUTHENTICATED. A subscription's own
read that waits out an outage (`wait_out_own`) ends at its token's expiry. SQLite and PostgreSQL, a pool of one
connection held by the test (DATABASE_BUSY) while the message reads."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from adapters.crypto import TokenCipher
from domain.sync import SyncKind
from gql.context import RECONNECT_MESSAGE, Context, executing_message
from gql.errors import UnauthenticatedError
from gql.ids import to_global_id
from gql.live_outage import DatabaseOutage, wait_out
from gql.schema import schema
from gql.shared_events import SharingStats
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.shop_feed_support import (
    followed_shop,
    next_message_waiting,
    one_connection_pool,
    rename,
    services_of,
)
from tests.integration.task_feed_support import add_task

# a nested field of the message that waits for the pool: a page (`read_live`), a loader's object (`load_live`)
NESTED = {
    "products": ("products(first: 5) { totalCount }", {"totalCount": 0}),
    "inventoryPolicy": ("inventoryPolicy { pushEnabled sharePercent }", {"pushEnabled": True, "sharePercent": 100}),
}


async def _ended_unauthenticated(result: Any, messages: Any, field: str = "shopsUpdated") -> None:
    """`result` is no message but UNAUTHENTICATED (RECONNECT_MESSAGE) at the subscription's field, and the
    subscription `messages` ends after it (StopAsyncIteration within DEADLINE_SECONDS)."""
    assert result.data is None, result.data
    assert [(e.message, e.extensions, e.path) for e in result.errors or []] == [
        (RECONNECT_MESSAGE, {"code": "UNAUTHENTICATED"}, [field])
    ]
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(DEADLINE_SECONDS):
            await anext(messages)


@pytest.mark.parametrize("field", list(NESTED))
async def test_a_socket_s_token_expiring_while_a_shared_message_waits_ends_that_socket_alone(
    database_url: str, cipher: TokenCipher, field: str
) -> None:
    selection, expected = NESTED[field]
    # given a database whose pool lends one connection and waits 0.2 s for it
    async with one_connection_pool(database_url) as busy:
        services = services_of(busy.db, cipher)
        shop, feed = await followed_shop(busy.db, services, "m-tok")
        # and two sockets of the merchant following its shops with the same document: A's token expires in an hour
        # (a tab opened long ago), B's in two
        document = f"subscription {{ shopsUpdated {{ name {selection} }} }}"
        a_context = Context(services, "m-tok", token_expires_at=time.time() + 3600)
        b_context = Context(services, "m-tok", token_expires_at=time.time() + 7200)
        a: Any = await schema.subscribe(document, context_value=a_context)
        b: Any = await schema.subscribe(document, context_value=b_context)
        try:
            assert (await anext(a)).errors is None
            assert (await anext(b)).errors is None
            async with feed.follow(first=False) as witness:
                # when the shop is renamed and the feed has read it (its connection given back)
                await rename(services, shop, "Renamed store", read_by=witness)
                # and the pool's one connection is in use while the message reads: A's execution waits, B's shares it
                await busy.hold()
                outage = services.database_outage
                shared_before = SharingStats.shared
                a_message = await next_message_waiting(services, a, "A's nested read to wait")
                b_message = asyncio.ensure_future(anext(b))
                await until(lambda: SharingStats.shared > shared_before or b_message.done(), "B to share A's execution")
                assert not b_message.done(), b_message.result()
                # and A's token expires during the wait, one more retry coming after it
                a_context.token_expires_at = time.time() - 1
                retries = outage.retries
                await until(lambda: outage.retries > retries or a_message.done(), "one more retry")
                await busy.give_back()
                async with asyncio.timeout(DEADLINE_SECONDS):
                    a_result, b_result = await a_message, await b_message
            # then B, whose token is valid, gets the message whole
            assert b_result.errors is None, f"B (valid token) got another socket's expiry: {b_result.errors}"
            assert b_result.data == {"shopsUpdated": {"name": "Renamed store", field: expected}}
            # and A gets its own UNAUTHENTICATED, at its subscription's field, instead of the message, and its
            # subscription ends (before: a field error in a message that went on, or the data after its expiry)
            await _ended_unauthenticated(a_result, a)
            # and B's subscription goes on: the next change reaches it
            await rename(services, shop, "Renamed again")
            async with asyncio.timeout(DEADLINE_SECONDS):
                after = await anext(b)
            assert after.errors is None, after.errors
            assert after.data == {"shopsUpdated": {"name": "Renamed again", field: expected}}
        finally:
            for messages in (a, b):
                with contextlib.suppress(Exception):
                    await messages.aclose()


@pytest.mark.parametrize("field", list(NESTED))
async def test_a_subscriber_whose_token_expires_while_its_message_waits_gets_its_own_unauthenticated_end(
    database_url: str, cipher: TokenCipher, field: str
) -> None:
    """The subscriber alone: its message's nested read checks no token any more, so the expiry is told once the read
    is done, as the end of that subscription (before: a field error in a message that went on)."""
    selection, _ = NESTED[field]
    # given a database whose pool lends one connection and waits 0.2 s for it
    async with one_connection_pool(database_url) as busy:
        services = services_of(busy.db, cipher)
        shop, feed = await followed_shop(busy.db, services, "m-alone")
        # and one socket of the merchant following its shops, its first message sent
        context = Context(services, "m-alone", token_expires_at=time.time() + 3600)
        messages: Any = await schema.subscribe(
            f"subscription {{ shopsUpdated {{ name {selection} }} }}", context_value=context
        )
        try:
            assert (await anext(messages)).errors is None
            async with feed.follow(first=False) as witness:
                # when the shop is renamed and the feed has read it
                await rename(services, shop, "Renamed store", read_by=witness)
                # and the message's nested read waits for the pool's one connection, the token expiring meanwhile
                await busy.hold()
                outage = services.database_outage
                message = await next_message_waiting(services, messages, "the nested read to wait")
                context.token_expires_at = time.time() - 1
                retries = outage.retries
                await until(lambda: outage.retries > retries or message.done(), "one more retry")
                result = await busy.given_back_then(message)
            # then the subscriber gets UNAUTHENTICATED at its subscription's field, not the message, and it ends
            await _ended_unauthenticated(result, messages)
        finally:
            with contextlib.suppress(Exception):
                await messages.aclose()


# How long after it is set a token expires in the tests below: the subscription's wait begins within milliseconds of
# it, and each test checks that it began before the expiry.
EXPIRES_IN_SECONDS = 2.0


async def test_a_token_expiring_while_the_subscription_s_own_read_waits_out_an_outage_ends_it_at_the_expiry(
    database_url: str, cipher: TokenCipher
) -> None:
    """`shopUpdated` reads its shop itself (`wait_out_own`): its token expiring during the back-off's sleep (600 s
    here) ends it at the expiry (before: at the next retry, when the sleep was over; up to 5 s by default)."""
    # given a database whose pool lends one connection and waits 0.2 s for it, and live reads retried every 600 s
    async with one_connection_pool(database_url) as busy:
        services = services_of(busy.db, cipher)
        services.database_outage = outage = DatabaseOutage(first_retry=600, max_retry=600)
        shop, _ = await followed_shop(busy.db, services, "m-own")
        # and a socket following the shop, its first message sent
        context = Context(services, "m-own", token_expires_at=time.time() + 3600)
        document = "subscription($id: ID!) { shopUpdated(shopId: $id) { name } }"
        messages: Any = await schema.subscribe(
            document, variable_values={"id": to_global_id("Shop", shop.id)}, context_value=context
        )
        try:
            assert (await anext(messages)).errors is None
            # when the shop is renamed (signalled), the pool's one connection is held, and the token expires in two
            # seconds, the subscription's re-read of the shop waiting out the busy pool before that
            await rename(services, shop, "Renamed store")
            await busy.hold()
            expires_at = context.token_expires_at = time.time() + EXPIRES_IN_SECONDS
            message = await next_message_waiting(services, messages, "the subscription's own read to wait")
            assert time.time() < expires_at, "the read waited after the expiry: the machine is too slow"
            # then it ends with UNAUTHENTICATED at the expiry, in the back-off's sleep, the pool still held
            await until(lambda: message.done(), "the end at the token's expiry, the database still busy")
            assert busy.held is not None and outage.since is not None and outage.retries == 1
            await _ended_unauthenticated(message.result(), messages, "shopUpdated")
        finally:
            with contextlib.suppress(Exception):
                await messages.aclose()
            await services.shop_reads.aclose()  # its reads under way ended (the database is disposed of after)


async def test_a_wait_ended_at_its_token_s_expiry_leaves_the_socket_s_other_reads_of_the_same_object_running(
    database_url: str, cipher: TokenCipher
) -> None:
    """One socket's operations share its loaders, and a DataLoader hands every `load()` of a key one future: a wait
    its token's expiry ends (`wait_out`, as `wait_out_own` runs a subscription's own read, e.g. `syncTaskUpdated`'s
    shop check) must not cancel that future. It did (review57 F-cancel): the socket's other read of the shop, e.g. a
    message shared with other sockets, ended with a bare CancelledError, and with it every socket's copy."""
    # given a database whose pool lends one connection, held, and waits a minute for it (the reads wait, unfailed)
    async with one_connection_pool(database_url, pool_timeout=60) as busy:
        services = services_of(busy.db, cipher)
        shop, _ = await followed_shop(busy.db, services, "m-shared-load")
        context = Context(services, "m-shared-load", token_expires_at=time.time() + 3600)
        await busy.hold()
        # when the socket's own read of the shop waits, its token expiring in two seconds
        expires_at = context.token_expires_at = time.time() + EXPIRES_IN_SECONDS
        own = asyncio.ensure_future(
            wait_out(
                services.database_outage,
                "syncTaskUpdated",
                lambda: context.fresh_loaders().shop.load(shop.id),
                context.require_merchant,
                expires_at,
            )
        )
        await until(lambda: context.loaders.shop.cache_map.get(shop.id) is not None, "the own read's load made")
        # and a message's execution on the same socket loads the same shop (the same future)
        with executing_message():
            other = asyncio.ensure_future(context.loaders.shop.load(shop.id))
        assert time.time() < expires_at, "the loads were made after the expiry: the machine is too slow"
        # then the own read ends at the expiry with UNAUTHENTICATED, the pool still held
        with pytest.raises(UnauthenticatedError):
            async with asyncio.timeout(DEADLINE_SECONDS):
                await own
        assert busy.held is not None
        # and the other read was not cancelled: it gets the shop once the pool is given back
        assert not other.done()
        loaded = await busy.given_back_then(other)
        assert loaded is not None and loaded.name == shop.name


async def test_a_token_expired_while_the_task_feed_s_first_read_waits_sends_no_state_once_the_database_answers(
    database_url: str, cipher: TokenCipher
) -> None:
    """`syncTaskUpdated(taskId:)` starts without a read of its own and waits for its merchant's feed's first read,
    which waits out the outage; its token expiring meanwhile ends it with UNAUTHENTICATED once that read is done
    (before: the task's current state went out after the expiry, the end only at its next wake-up)."""
    # given a database whose pool lends one connection and waits 0.2 s for it, and a task of the merchant
    async with one_connection_pool(database_url) as busy:
        services = services_of(busy.db, cipher)
        shop, _ = await followed_shop(busy.db, services, "m-first")
        task_id = await add_task(
            services.uow_factory, services.events, shop, SyncKind.PRODUCTS, 0, finished=False, signal=False
        )
        context = Context(services, "m-first", token_expires_at=time.time() + 3600)
        document = "subscription($id: ID!) { syncTaskUpdated(taskId: $id) { id status } }"
        messages: Any = await schema.subscribe(
            document, variable_values={"id": to_global_id("SyncTask", task_id)}, context_value=context
        )
        try:
            # when the pool's one connection is held as the subscription starts (its feed's first read waits)
            await busy.hold()
            message = await next_message_waiting(services, messages, "the feed's first read to wait")
            # and its token expires during the wait, then the database answers
            context.token_expires_at = time.time() - 1
            retries = services.database_outage.retries
            await until(lambda: services.database_outage.retries > retries or message.done(), "one more retry")
            result = await busy.given_back_then(message)
            # then it ends with UNAUTHENTICATED, and the task's state is not sent
            await _ended_unauthenticated(result, messages, "syncTaskUpdated")
        finally:
            with contextlib.suppress(Exception):
                await messages.aclose()


async def test_a_token_expiring_while_a_feed_waits_out_an_outage_ends_its_follower_at_the_expiry(
    database_url: str, cipher: TokenCipher
) -> None:
    """`shopsUpdated` reads nothing itself: its merchant's shop feed reads, and wakes it at each retry of an outage to
    check its token (here every 600 s). A timer at the token's expiry ends it then (`Context.ending_at_expiry`;
    before: at the feed's next wake-up, up to 5 s later by default, 30 s without an outage)."""
    # given a database whose pool lends one connection and waits 0.2 s for it, and live reads retried every 600 s
    async with one_connection_pool(database_url) as busy:
        services = services_of(busy.db, cipher)
        services.database_outage = outage = DatabaseOutage(first_retry=600, max_retry=600)
        shop, _ = await followed_shop(busy.db, services, "m-feed")
        # and a socket following the merchant's shops, its token expiring in three seconds, its first message sent
        expires_at = time.time() + EXPIRES_IN_SECONDS + 1
        context = Context(services, "m-feed", token_expires_at=expires_at)
        messages: Any = await schema.subscribe("subscription { shopsUpdated { name } }", context_value=context)
        try:
            assert (await anext(messages)).errors is None
            # when the pool's one connection is held and a change of the shop is signalled, the feed's read waiting
            await busy.hold()
            await services.events.shop_changed(shop.id, "m-feed")
            message = await next_message_waiting(services, messages, "the feed's read to wait")
            assert time.time() < expires_at, "the feed's read waited after the expiry: the machine is too slow"
            # then the subscription ends with UNAUTHENTICATED at the expiry, the feed still in its back-off
            await until(lambda: message.done(), "the end at the token's expiry, the database still busy")
            assert busy.held is not None and outage.since is not None and outage.retries == 1
            await _ended_unauthenticated(message.result(), messages)
        finally:
            with contextlib.suppress(Exception):
                await messages.aclose()


async def test_a_token_expiring_while_the_deleted_shops_feed_waits_out_an_outage_ends_it_at_the_expiry(
    database_url: str, cipher: TokenCipher
) -> None:
    """`shopsDeleted` follows the same feed, and sends nothing first: a timer at its token's expiry ends it while the
    feed's read waits out the outage (`Context.ending_at_expiry`; else at the feed's next wake-up, here 600 s)."""
    # given a database whose pool lends one connection and waits 0.2 s for it, and live reads retried every 600 s
    async with one_connection_pool(database_url) as busy:
        services = services_of(busy.db, cipher)
        services.database_outage = outage = DatabaseOutage(first_retry=600, max_retry=600)
        shop, _ = await followed_shop(busy.db, services, "m-deleted")
        # and a socket following the merchant's deleted shops, its token expiring in three seconds
        expires_at = time.time() + EXPIRES_IN_SECONDS + 1
        context = Context(services, "m-deleted", token_expires_at=expires_at)
        messages: Any = await schema.subscribe("subscription { shopsDeleted }", context_value=context)
        try:
            # when the pool's one connection is held and a change of the shop is signalled, the feed's read waiting
            await busy.hold()
            message = asyncio.ensure_future(anext(messages))
            await until(
                lambda: "m-deleted" in services.shop_feeds and services.shop_feeds["m-deleted"].followers,
                "the follower",
            )
            await services.events.shop_changed(shop.id, "m-deleted")
            await until(lambda: outage.retries >= 1 or message.done(), "the feed's read to wait")
            assert time.time() < expires_at, "the feed's read waited after the expiry: the machine is too slow"
            # then the subscription ends with UNAUTHENTICATED at the expiry, the feed still in its back-off
            await until(lambda: message.done(), "the end at the token's expiry, the database still busy")
            assert busy.held is not None and outage.since is not None and outage.retries == 1
            await _ended_unauthenticated(message.result(), messages, "shopsDeleted")
        finally:
            with contextlib.suppress(Exception):
                await messages.aclose()
