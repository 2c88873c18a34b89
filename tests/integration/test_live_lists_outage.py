"""A subscription message's paginated lists (a shop's `products`, `orders`, `syncTasks`, an item's `movements`) wait
out a database outage as the message's other reads do (gql/live_outage.py `read_live`, through
`gql.readers.connection_page`), on a PostgreSQL server of the test's own, stopped and started again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from adapters.crypto import TokenCipher
from adapters.db import Database, migrate
from domain.services import inventory as pool
from gql.container import Services
from gql.context import Context
from gql.ids import to_global_id
from gql.schema import schema
from tests.fixtures.servers import PostgresServer, start_postgres_server
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.shop_feed_support import (
    followed_shop,
    next_message_waiting,
    one_connection_pool,
    rename,
    services_of,
)


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A PostgreSQL server of this module's own (it is stopped mid-test), with a migrated database's URL."""
    server = start_postgres_server()
    try:
        url = server.create_database("shopbridge")
        migrate.upgrade(url)
        yield server, url
    finally:
        server.stop()


@contextlib.contextmanager
def _stopped_at_first(db: Database, server: PostgresServer, table: str) -> Iterator[list[str]]:
    """PostgreSQL stops (a fast shutdown: its connections closed) just before the first statement reading `table`
    is sent, once: an outage that begins exactly at the message's list read. The statements that met it are listed."""
    met: list[str] = []

    def before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not met and f"FROM {table}" in statement:
            met.append(statement)
            server.halt()

    event.listen(db.read_engine.sync_engine, "before_cursor_execute", before)
    try:
        yield met
    finally:
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", before)


async def _through_the_outage(services: Services, server: PostgresServer, messages: Any, met: list[str]) -> Any:
    """The subscription's next message, PostgreSQL started again once a read waited (or the message came first)."""
    outage = services.database_outage
    message = asyncio.ensure_future(anext(messages))
    try:
        await until(lambda: outage.retries >= 1 or message.done(), "a read to wait on the stopped database")
        assert met, "the list's read never ran"
        # on this thread, the loop's: the server dies with the thread that started it (parent_death_signal), and
        # a worker thread of `asyncio.to_thread` ends with the test's loop
        server.resume()
        async with asyncio.timeout(DEADLINE_SECONDS):
            return await message
    finally:
        if not message.done():
            message.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await message


SHOP_LISTS = {
    "products": ("products", "products(first: 5) { totalCount edges { node { id } } }", {"totalCount": 0, "edges": []}),
    "orders": ("orders", "orders(first: 5) { totalCount edges { node { id } } }", {"totalCount": 0, "edges": []}),
    "syncTasks": (
        "sync_tasks",
        "syncTasks(first: 5) { totalCount edges { node { id } } }",
        {"totalCount": 0, "edges": []},
    ),
}


@pytest.mark.parametrize("field", list(SHOP_LISTS))
async def test_a_shop_s_list_in_a_shops_updated_message_waits_out_a_postgresql_outage(
    own_postgres: tuple[PostgresServer, str], cipher: TokenCipher, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """lists56: the feed's read and the message's loader reads waited out an outage, but a shop's `products`,
    `orders` or `syncTasks` read its page in a session of its own that did not: the message came with the field's
    SERVICE_UNAVAILABLE error (data null: the connection is non-null)."""
    caplog.set_level(logging.INFO, logger="shopbridge.subscriptions")
    server, url = own_postgres
    table, selection, empty = SHOP_LISTS[field]
    db = Database(url)
    try:
        services = services_of(db, cipher)
        merchant = "m-" + field
        shop, feed = await followed_shop(db, services, merchant)
        # given a subscriber to the merchant's shops selecting one of a shop's lists, its first message sent
        document = f"subscription {{ shopsUpdated {{ id name {selection} }} }}"
        messages: Any = await schema.subscribe(document, context_value=Context(services, merchant))
        assert hasattr(messages, "__anext__"), messages  # not a refusal
        expected = {"id": to_global_id("Shop", shop.id), "name": shop.name, field: empty}
        try:
            first = await anext(messages)
            assert first.errors is None and first.data == {"shopsUpdated": expected}, first.errors
            async with feed.follow(first=False) as witness:
                # when the shop is renamed and the feed has read it (the subscriber's message not built yet)
                await rename(services, shop, "Renamed store", read_by=witness)
                # and PostgreSQL stops just as the message reads the list, and starts again once a read waited
                with _stopped_at_first(db, server, table) as met:
                    message = await _through_the_outage(services, server, messages, met)
            # then the message carries the list, no error: it waited for the database
            assert message.errors is None, message.errors
            assert message.data == {"shopsUpdated": {**expected, "name": "Renamed store"}}
        finally:
            await messages.aclose()
        # and the wait was told under the subscription's field: one WARNING line, its end one INFO line
        lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shopbridge.subscriptions"]
        assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
        assert lines[0][1].startswith("the database is unavailable (") and lines[0][1].endswith("first shopsUpdated")
        assert "(shopsUpdated waited, " in lines[1][1]
    finally:
        await db.dispose()


async def test_an_item_s_movements_in_an_inventory_item_updated_message_wait_out_a_postgresql_outage(
    own_postgres: tuple[PostgresServer, str], cipher: TokenCipher
) -> None:
    """lists56: an `inventoryItemUpdated` message selecting `movements` came with its SERVICE_UNAVAILABLE error when
    the database stopped after the item's own read (waited out) and before the movements' page read."""
    server, url = own_postgres
    db = Database(url)
    try:
        services = services_of(db, cipher)
        item = await pool.create_item(
            services.uow_factory, services.queue, services.events, services.clock, "m-movements", "LIST-1", 5, 0
        )
        # given a subscriber to the item selecting its movements (one: its creation)
        document = (
            "subscription($id: ID) { inventoryItemUpdated(inventoryItemId: $id) { id onHand "
            "movements(first: 5) { totalCount } } }"
        )
        item_id = to_global_id("InventoryItem", item.id)
        messages: Any = await schema.subscribe(
            document, context_value=Context(services, "m-movements"), variable_values={"id": item_id}
        )
        assert hasattr(messages, "__anext__"), messages
        try:
            # when PostgreSQL stops just as the first message reads the movements, and starts again once it waited
            with _stopped_at_first(db, server, "inventory_movements") as met:
                message = await _through_the_outage(services, server, messages, met)
            # then the message carries them, no error
            assert message.errors is None, message.errors
            (node,) = message.data.values()
            assert node["id"] == item_id and node["onHand"] == 5
            assert node["movements"] == {"totalCount": 1}  # its creation
        finally:
            await messages.aclose()
    finally:
        await db.dispose()


async def test_a_shop_s_products_in_a_shops_updated_message_wait_out_a_busy_pool(
    database_url: str, cipher: TokenCipher
) -> None:
    """lists56, DATABASE_BUSY: the same list read, this process's pool all in use (SQLite and PostgreSQL): the message
    came with DATABASE_BUSY at ['shopsUpdated', 'products']."""
    # given a database whose pool lends one connection and waits 0.2 s for it
    async with one_connection_pool(database_url) as busy:
        services = services_of(busy.db, cipher)
        shop, feed = await followed_shop(busy.db, services, "m-busy")
        document = "subscription { shopsUpdated { name products(first: 5) { totalCount } } }"
        messages: Any = await schema.subscribe(document, context_value=Context(services, "m-busy"))
        assert hasattr(messages, "__anext__"), messages
        try:
            # and a subscriber to the merchant's shops selecting a shop's products, its first message sent
            first = await anext(messages)
            assert first.errors is None, first.errors
            async with feed.follow(first=False) as witness:
                # when the shop is renamed and the feed has read it (its connection given back)
                await rename(services, shop, "Renamed store", read_by=witness)
                # and every connection of the pool is in use when the message reads the products
                await busy.hold()
                message = await next_message_waiting(services, messages, "the products' read to wait")
                try:
                    await busy.give_back()  # given back once a read waited
                    async with asyncio.timeout(DEADLINE_SECONDS):
                        result = await message
                finally:
                    if not message.done():
                        message.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await message
            # then the message carries them, no error: it waited for a connection
            assert result.errors is None, result.errors
            assert result.data == {"shopsUpdated": {"name": "Renamed store", "products": {"totalCount": 0}}}
        finally:
            await messages.aclose()
