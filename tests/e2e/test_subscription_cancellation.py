"""A socket's operation that ends while a read it shares waits never ends what the other operations sharing that read
await (loader58, review57 F-cancel).

One WebSocket's operations share one GraphQL context, so one set of DataLoaders (gql/context.py), and a message's
execution is shared by every subscriber of the merchant that asked the same document (gql/shared_events.py), run
with one of their contexts. A strawberry DataLoader hands every `load()` of a key the one future it caches, and
asyncio cancels the future a task awaits when the task is cancelled. So when one operation's wait ended (the client's
`complete`: graphql-transport-ws cancels that operation's task; or its token's expiry ending its own read), the load
another operation awaited was cancelled too: that operation, or the shared message with every socket's copy of it,
ended with a bare CancelledError: no `next`, no `error`, no `complete`, the operation left open and silent.

A real Shopbridge over real HTTP and WebSockets, on PostgreSQL: the reads are held by a table lock the test takes
(`LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`: the reads of that table wait, the others go on), and each step waits for
what the server shows (the statements waiting on the lock, `pg_stat_activity`), not for time. The mechanism is the
event loop's, whatever the database: tests/integration/test_loader_cancellation.py holds a read on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from adapters.db.migrate import sync_url
from gql.context import Context
from gql.ids import from_global_id, to_global_id
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.fixtures.ws import OperationError, WsOperation, close_frame, connected

TASKS_OF_SHOP = "subscription($shopId: ID!) { syncTaskUpdated(shopId: $shopId) { id status } }"
TWO_SHOPS = "query($x: ID!, $y: ID!) { x: shop(id: $x) { name } y: shop(id: $y) { name } }"
SHOP_WITH_POLICY = "subscription($id: ID!) { shopUpdated(shopId: $id) { id name inventoryPolicy { pushEnabled } } }"
SHOPS_POLICIES = "{ shops { edges { node { id inventoryPolicy { pushEnabled } } } } }"
RENAME = "mutation($id: ID!, $name: String!) { shopRename(input: {shopId: $id, name: $name}) { userErrors { code } } }"

pytestmark = POSTGRES_ONLY


@contextlib.contextmanager
def locked(app: ShopbridgeServer, table: str) -> Iterator[None]:
    """`table` locked ACCESS EXCLUSIVE until the block ends: the server's reads of it wait (a held read)."""
    engine = sa.create_engine(sync_url(app.settings.database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def reads_waiting(app: ShopbridgeServer, table: str) -> int:
    """The server's reads of `table` waiting for a lock."""
    return int(
        app.rows(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE :read",
            read=f"SELECT %FROM%{table}%",
        )[0]["n"]
    )


async def send(socket: ClientConnection, op_id: str, kind: str, query: str | None = None, **variables: Any) -> None:
    message: dict[str, Any] = {"id": op_id, "type": kind}
    if query is not None:
        message["payload"] = {"query": query, "variables": variables}
    await socket.send(json.dumps(message))


async def handled(socket: ClientConnection) -> None:
    """Until the server has handled what the client sent before (it handles a socket's messages in order): a ping's
    pong."""
    await socket.send(json.dumps({"type": "ping"}))
    async with asyncio.timeout(DEADLINE_SECONDS):
        while json.loads(await socket.recv())["type"] != "pong":
            pass


def shop_of_m1(app: ShopbridgeServer, seller: str, name: str | None = None) -> dict[str, Any]:
    """A shop of merchant m1, its import, its webhook registration and the pushes it caused done: no background
    writer of any shop is left to wait on the test's lock (a registration that failed was retried, and its write of
    the shop waited there; a second shop's import joined SKUs of the first, whose push, still running after the
    import's task ended, held the first shop's row while its read of the locked policy table waited: the test's
    rename waited on that row, and the push on the test: CI, stop 62)."""
    shop = app.connect_shop("m1", seller, "US", name)
    app.wait_for_webhook_registration(shop)
    app.wait_for_settled()
    return shop


def init(app: ShopbridgeServer, ttl: int = 3600) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.token('m1', ttl)}"}


async def test_a_subscription_completed_while_its_start_reads_leaves_the_socket_s_query_of_the_same_shop_answered(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(webhooks=True)
    # given a merchant's shop, and a socket of the merchant
    shop = shop_of_m1(app, "us-local")
    missing = to_global_id("Shop", uuid.uuid4().hex)  # no such shop, a well-formed id (read)
    async with connected(app.url, init(app)) as socket:
        with locked(app, "shops"):
            # when a subscription to the shop's tasks starts on it, its check of the shop waiting for the database
            await send(socket, "tasks", "subscribe", TASKS_OF_SHOP, shopId=shop["id"])
            await until(lambda: reads_waiting(app, "shops") == 1, "the subscription's read of the shop to wait")
            # and a query on the same socket asks for that shop and another (its read of the other waits: its load
            # of the shop joined the subscription's)
            await send(socket, "query", "subscribe", TWO_SHOPS, x=shop["id"], y=missing)
            await until(lambda: reads_waiting(app, "shops") == 2, "the query's read of the other shop to wait")
            # and the client completes the subscription meanwhile
            await send(socket, "tasks", "complete")
            await handled(socket)
        # then, the database answering, the query gets its answer (before: the subscription's cancelled wait
        # cancelled the load of the shop the query awaited too, and the query never answered, nor completed)
        answer = await WsOperation(socket, "graphql-transport-ws", "query").next()
        assert answer == {"x": {"name": shop["name"]}, "y": None}


async def test_a_query_completed_while_it_waits_leaves_the_message_shared_with_other_sockets_delivered(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    app = app_factory(webhooks=True)
    # given a merchant's two shops, and two sockets of the merchant following the first with the same document
    # (their messages' executions shared: one runs with either socket's context, its loaders; the feed's read of the
    # shop and its counts does not read the policy, which the message loads: `shopsUpdated`'s read does, tryout58 F1)
    first = shop_of_m1(app, "us-local", "Maple")
    second = shop_of_m1(app, "us-local-2", "Desert")
    first_id, second_id = from_global_id(first["id"]), from_global_id(second["id"])
    assert first_id is not None and second_id is not None
    async with connected(app.url, init(app, ttl=3600)) as a, connected(app.url, init(app, ttl=7200)) as b:
        following = {}
        for socket in (a, b):
            await send(socket, "shop", "subscribe", SHOP_WITH_POLICY, id=first["id"])
            following[socket] = WsOperation(socket, "graphql-transport-ws", "shop")
            assert (await following[socket].next())["shopUpdated"]["name"] == "Maple"  # the shop, first
        with locked(app, "shop_inventory_policies"):
            # when the shop is renamed and the message's shared execution loads its inventory policy, whose read waits
            assert app.graphql(RENAME, {"id": first["id"], "name": "Maple Two"}, "m1")["shopRename"]["userErrors"] == []
            expiry = await until(lambda: loading_policy(app, first_id[1]), "the message's load of the policy")
            runs_it, other = (a, b) if expiry < time.time() + 5000 else (b, a)  # a's token: an hour, b's: two
            # and a query on the socket whose context runs the execution asks for every shop's policy (its load of
            # the other shop's is made with its load of the renamed one's, which joins the message's)
            await send(runs_it, "query", "subscribe", SHOPS_POLICIES)
            assert await until(lambda: loading_policy(app, second_id[1]), "the query's loads") == expiry
            # and its client completes the query meanwhile
            await send(runs_it, "query", "complete")
            await handled(runs_it)
        # then, the database answering, the other socket, which only followed, gets the message (before: the
        # query's cancelled load was the shared execution's: it ended with a bare CancelledError, and both
        # sockets' subscriptions went silent, open, never completed)
        renamed = {"id": first["id"], "name": "Maple Two", "inventoryPolicy": {"pushEnabled": True}}
        assert await following[other].next() == {"shopUpdated": renamed}
        # and so does the socket that completed its query
        assert await following[runs_it].next() == {"shopUpdated": renamed}


def loading_policy(app: ShopbridgeServer, shop_id: str) -> float | None:
    """The token expiry (Unix seconds) of the socket whose loaders hold a load of the shop's inventory policy still
    waiting (None: no socket's): the socket whose context runs the message's shared execution (looked up on the
    server's loop, among its sockets' contexts)."""
    loop = app.served.server.loop
    assert loop is not None

    async def look() -> list[float]:
        found = []
        for obj in gc.get_objects():
            if isinstance(obj, Context) and obj.merchant_id == "m1" and obj._loaders is not None:
                pending = obj._loaders.inventory_policy.cache_map.get(shop_id)
                if pending is not None and not pending.done() and obj.token_expires_at is not None:
                    found.append(obj.token_expires_at)
        return found

    found = asyncio.run_coroutine_threadsafe(look(), loop).result(DEADLINE_SECONDS)
    assert len(found) <= 1, found
    return found[0] if found else None


async def test_a_subscription_s_wait_ended_by_its_token_s_expiry_leaves_the_socket_s_query_of_the_same_shop_answered(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """The expiry ends the subscription's own read (`wait_out_own`: the start's shop check here, `_shop_gone` after a
    shop's delete, the same `fresh_loaders().shop.load` through the same wait): that wait's end must not cancel the
    load another operation of the socket awaits."""
    app = app_factory(webhooks=True)
    # given a merchant's shop, and a socket of the merchant whose token expires in 10 seconds
    shop = shop_of_m1(app, "us-local")
    missing = to_global_id("Shop", uuid.uuid4().hex)  # no such shop, a well-formed id (read)
    expires_at = time.time() + 10
    async with connected(app.url, init(app, ttl=10)) as socket:
        with locked(app, "shops"):
            # when a subscription to the shop's tasks starts, its check of the shop waiting for the database
            await send(socket, "tasks", "subscribe", TASKS_OF_SHOP, shopId=shop["id"])
            await until(lambda: reads_waiting(app, "shops") == 1, "the subscription's read of the shop to wait")
            # and a query on the same socket asks for that shop and another (its load of the shop joins the
            # subscription's)
            await send(socket, "query", "subscribe", TWO_SHOPS, x=shop["id"], y=missing)
            await until(lambda: reads_waiting(app, "shops") == 2, "the query's read of the other shop to wait")
            assert time.time() < expires_at - 1, "the loads were made after the expiry: the machine is too slow"
            # and the token expires: the subscription ends with UNAUTHENTICATED, the reads still waiting
            tasks = WsOperation(socket, "graphql-transport-ws", "tasks")
            try:
                await tasks.next()
                raise AssertionError("the subscription sent a message after its token expired")
            except OperationError as ended:
                assert [e["extensions"]["code"] for e in ended.payload] == ["UNAUTHENTICATED"]
            assert reads_waiting(app, "shops") >= 1
        # then, the database answering, the query gets its answer (before 33dc8b3e: the expiry cancelled the
        # subscription's read, and with it the load of the shop the query awaited: it never answered)
        answer = await WsOperation(socket, "graphql-transport-ws", "query").next()
        assert answer == {"x": {"name": shop["name"]}, "y": None}


async def test_a_socket_closed_while_a_load_of_its_subscription_reads_holds_its_slot_until_the_read_ends(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    """leak67: a subscription's start loads its shop (`fresh_loaders().shop.load`); its operation cancelled (the
    socket closed), the load's last awaiter left and strawberry cancelled the batch, whose statement runs to its end
    (adapters/db/sessions.py) with nobody awaiting it. The socket's handler ended and gave its slot back while that
    read still held a connection: a client closing sockets so held connections past the caps on sockets and
    operations, and a stop disposed the engine under such reads. Now the socket's end waits for them
    (`Context.reads_left_ended`)."""
    app = app_factory(webhooks=True, max_websockets_per_merchant=1)
    shop = await asyncio.to_thread(shop_of_m1, app, "us-local")
    pool = app.asgi.state.services.db.read_engine.pool
    route = next(r for r in app.asgi.routes if isinstance(r, WebSocketRoute) and r.path == "/graphql")
    slots = route.endpoint.socket_slots  # type: ignore[attr-defined]  # the open sockets per merchant (read only)
    with locked(app, "shops"):
        # given a merchant's one socket whose subscription's load of the shop waits for the database
        async with connected(app.url, init(app)) as first:
            await send(first, "tasks", "subscribe", TASKS_OF_SHOP, shopId=shop["id"])
            await until(lambda: reads_waiting(app, "shops") == 1, "the subscription's load of the shop to wait")
        # when the client has closed it, its read still waiting: the merchant's next socket finds the slot still held
        # (at most one socket: refused 1008), the closed one's read holding a connection (before, the slot was back
        # while the read held its connection)
        async with connected(app.url, None) as second:
            await second.send(json.dumps({"type": "connection_init", "payload": init(app)}))
            with contextlib.suppress(ConnectionClosed):
                answer = await asyncio.wait_for(second.recv(), DEADLINE_SECONDS)
                raise AssertionError(f"the next socket was answered {answer}: the closed one's slot was back")
            assert (await close_frame(second))[0] == 1008
        assert reads_waiting(app, "shops") == 1
    # then, the database answering, the read ends and the slot is given back, no connection held by then
    checked_out = await until(lambda: slots.held("m1") == 0 and (pool.checkedout(),), "the closed socket's slot")
    assert checked_out == (0,), pool.status()
