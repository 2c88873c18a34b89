"""The GraphQL WebSocket as a client sees it: graphql-transport-ws only, strict about messages, bounded in size,
and a subscription whose task is deleted with its shop learns it (issue 12, items 6, 7, 12, 14)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import jwt
import pytest
from starlette.routing import WebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from gql.auth import ALGORITHM, ISSUER
from gql.socket_slots import SocketSlots
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.processes import oneshot
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.fixtures.ws import LEGACY_WS, TRANSPORT_WS, Complete, OperationError, close_code, close_frame, connected

TASK_UPDATED = "subscription($taskId: ID, $shopId: ID) { syncTaskUpdated(taskId: $taskId, shopId: $shopId) { "
TASK_UPDATED += "id kind status cancelRequested errorCode errorMessage shop { id } } }"
QUERY = {"query": "{ supportedRegions }"}
ORDER_SEARCH = "/order/202309/orders/search"

# Messages graphql-transport-ws calls invalid (PROTOCOL.md: "Receiving a message of a type or format which is not
# specified in this document will result in an immediate socket closure with the event 4400").
INVALID = [
    [],
    [{"type": "connection_init"}],
    "connection_init",
    5,
    None,
    {},
    {"type": 5},
    {"type": None},
    {"type": "bogus"},
    {"type": "next", "id": "1", "payload": {}},
    {"type": "subscribe"},
    {"type": "subscribe", "payload": QUERY},
    {"type": "subscribe", "id": ["1"], "payload": QUERY},
    {"type": "subscribe", "id": {"a": 1}, "payload": QUERY},
    {"type": "subscribe", "id": 7, "payload": QUERY},
    {"type": "subscribe", "id": "", "payload": QUERY},
    {"type": "subscribe", "id": "1"},
    {"type": "subscribe", "id": "1", "payload": "{ supportedRegions }"},
    {"type": "subscribe", "id": "1", "payload": [QUERY]},
    {"type": "subscribe", "id": "1", "payload": {}},
    {"type": "subscribe", "id": "1", "payload": {"query": 5}},
    {"type": "subscribe", "id": "1", "payload": {"query": ["{ supportedRegions }"]}},
    {"type": "subscribe", "id": "1", "payload": {**QUERY, "variables": [1]}},
    {"type": "subscribe", "id": "1", "payload": {**QUERY, "variables": "x"}},
    {"type": "subscribe", "id": "1", "payload": {**QUERY, "operationName": 5}},
    {"type": "subscribe", "id": "1", "payload": {**QUERY, "extensions": []}},
    {"type": "subscribe", "id": "\ud800", "payload": QUERY},  # an unpaired surrogate: no UTF-8 text can echo it
    {"type": "subscribe", "id": "a\udfff", "payload": QUERY},
    {"type": "subscribe", "id": "1", "payload": {**QUERY, "operationName": "\ud800"}},  # echoed when unknown
    {"type": "complete"},
    {"type": "complete", "id": ["1"]},
    {"type": "complete", "id": "\ud800"},
    {"type": "ping", "payload": "hello"},
    {"type": "pong", "payload": [1]},
    {"type": "connection_init", "payload": "token"},
]


@pytest.fixture
def server_errors(caplog: pytest.LogCaptureFixture):
    """Every log record at ERROR or above, uvicorn's own loggers (which do not propagate) included."""
    caplog.set_level(logging.INFO)
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi")]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    yield lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]
    for logger in loggers:
        logger.removeHandler(caplog.handler)


@subject_not_the_database("the protocol")
class TestProtocols:
    async def test_the_legacy_graphql_ws_protocol_is_not_offered(self, app: ShopbridgeServer) -> None:
        async with connected(app.url, None, protocol=LEGACY_WS) as socket:
            assert socket.subprotocol is None
            assert await close_code(socket) == 4406  # at once, before any message

    async def test_queries_and_mutations_work_over_the_socket(
        self, app: ShopbridgeServer, server_errors, caplog
    ) -> None:
        caplog.clear()
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            mutation = 'mutation { shopRename(input: {shopId: "x", name: "y"}) { userErrors { code } } }'
            for op_id, query in (("q", "{ supportedRegions }"), ("m", mutation)):
                await socket.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))
                result = json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert result["type"] == "next" and "errors" not in result["payload"], result
                done = json.loads(await asyncio.wait_for(socket.recv(), 10))
                assert done == {"id": op_id, "type": "complete"}
            assert result["payload"]["data"] == {"shopRename": {"userErrors": [{"code": "NOT_FOUND"}]}}
        # and the socket wrote no INFO line of its own at the server's INFO: uvicorn's `[accepted]` and the websockets
        # library's "connection open" are DEBUG lines (soak53: 65 % of the API log's bytes, two lines per socket)
        names = ("uvicorn.error", "websockets.server")
        lines = [r.getMessage() for r in caplog.records if r.name in names and r.levelno >= logging.INFO]
        assert not [line for line in lines if "[accepted]" in line or line.startswith("connection ")], lines

    async def test_once_its_token_expired_the_socket_reads_nothing_of_the_merchant(self, app: ShopbridgeServer) -> None:
        # given a shop and an item of m1, and a socket whose token expires in 2 s
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        # (its imports done: a shop's counts moving are changes `shopsUpdated` sends, which came before the end)
        await asyncio.to_thread(app.wait_for_idle_sync)
        create = 'mutation { inventoryItemCreate(input: {sku: "EXP-1"}) { inventoryItem { id } } }'
        item = (await app.agraphql(create, {}, "m1"))["inventoryItemCreate"]["inventoryItem"]
        async with app.subscribe("subscription { shopsUpdated { id } }", {}, "m1", ttl=2) as op:
            # (the subscription's first message: the merchant's shops, current state first)
            assert (await op.next(timeout=20))["shopsUpdated"] == {"id": shop["id"]}
            # when the token has expired (the socket's subscription ends with UNAUTHENTICATED)
            with pytest.raises(OperationError) as ended:
                await op.next(timeout=20)
            assert [e["extensions"]["code"] for e in ended.value.payload] == ["UNAUTHENTICATED"]
            # then every operation sent afterwards is refused whole, as HTTP refuses that token (401): the fields
            # that read through loaders alone, and those that read nothing of the merchant (`supportedRegions`,
            # `__typename`, introspection), which still answered
            reads = "query($shop: ID!, $item: ID!) { shop(id: $shop) { name productCount } node(id: $shop) { id } "
            reads += "inventoryItem(id: $item) { sku onHand } item: node(id: $item) { id } }"
            operations = {
                "2": {"query": reads, "variables": {"shop": shop["id"], "item": item["id"]}},
                "3": {"query": "{ supportedRegions __typename }"},
                "4": {"query": "{ __schema { queryType { name } } }"},
                "5": {"query": 'mutation { inventoryItemCreate(input: {sku: "EXP-2"}) { inventoryItem { id } } }'},
            }
            for op_id, payload in operations.items():
                await op.socket.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
            answers = {}
            while len(answers) < len(operations):
                answer = json.loads(await asyncio.wait_for(op.socket.recv(), DEADLINE_SECONDS))
                if answer["type"] == "complete":  # (the ended subscription's own last word, if not yet read)
                    continue
                errors = answer["payload"] if answer["type"] == "error" else answer["payload"].get("errors") or []
                answers[answer["id"]] = answer["type"], [e["extensions"]["code"] for e in errors]
            assert answers == dict.fromkeys(operations, ("error", ["UNAUTHENTICATED"])), answers
        # and the mutation created nothing
        answer = await app.agraphql('{ inventoryItems(query: "EXP-2") { totalCount } }', {}, "m1")
        assert answer["inventoryItems"]["totalCount"] == 0

    async def test_too_many_operations_on_one_socket_is_a_coded_error(self, app: ShopbridgeServer) -> None:
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            for n in range(21):
                await socket.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": TASK_UPDATED}}))
            refused = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert (refused["id"], refused["type"]) == ("20", "error"), refused
            assert refused["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"


def _socket_slots(app: ShopbridgeServer) -> SocketSlots:
    """The served app's count of open sockets per merchant (read only: what the test waits on)."""
    route = next(r for r in app.asgi.routes if isinstance(r, WebSocketRoute) and r.path == "/graphql")
    slots: SocketSlots = route.endpoint.socket_slots  # type: ignore[attr-defined]
    return slots


async def test_a_socket_closed_while_its_operations_read_gives_its_slot_back_once_their_connections_are(
    app: ShopbridgeServer,
) -> None:
    """leak67: a socket's operations ended at its close while their own reads (gql/live_outage.py `wait_out_own`)
    still held database connections; the handler then ended and gave back its slot. A client closing sockets with 20
    operations each held the pool past the caps on sockets and operations, and a stop disposed the engine under those
    reads (their connections left to the garbage collector: 11 aiosqlite threads alive at a test's end)."""
    slots = _socket_slots(app)
    reads = app.asgi.state.services.db.read_engine.pool
    # given a socket whose 20 subscriptions (the most one socket runs) each begin with a read of their own
    async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
        for n in range(20):
            await socket.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": TASK_UPDATED}}))
        await socket.send(json.dumps({"type": "ping"}))  # answered once the server has started all 20
        assert json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS)) == {"type": "pong"}
    # when the client closes it with their reads under way, then once the server has ended it (its slot given back),
    # no read of its operations holds a connection of the pool
    checked_out = await until(lambda: slots.held("m1") == 0 and (reads.checkedout(),), "the socket's end")
    assert checked_out == (0,), reads.status()


def _init(token: str) -> str:
    return json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})


# The count of sockets lives in the API process, whatever the database.
@subject_not_the_database("the count of sockets")
class TestConnectionCap:
    """SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT: one merchant's open sockets are capped (security review 44)."""

    async def test_past_the_cap_closes_1008_and_an_ended_socket_gives_its_slot_back(
        self, app_factory, server_errors
    ) -> None:
        app = app_factory(max_websockets_per_merchant=2)
        slots = _socket_slots(app)
        m1 = {"Authorization": f"Bearer {app.token('m1')}"}
        async with connected(app.url, m1) as first, connected(app.url, m1) as second:
            subscribe = {"id": "s", "type": "subscribe", "payload": {"query": TASK_UPDATED}}
            await first.send(json.dumps(subscribe))  # a socket with a subscription running
            # when m1 opens a third socket, it is closed at its connection_init, with no ack
            async with connected(app.url, None) as third:
                await third.send(_init(app.token("m1")))
                code, reason = await close_frame(third)
            assert code == 1008 and reason.startswith("TOO_MANY_CONNECTIONS: at most 2 "), (code, reason)
            # another merchant is not held back by m1's sockets
            async with connected(app.url, {"Authorization": f"Bearer {app.token('m2')}"}) as other:
                await other.send(json.dumps({"type": "ping"}))
                assert json.loads(await asyncio.wait_for(other.recv(), DEADLINE_SECONDS)) == {"type": "pong"}
            # a socket the client closes (its subscription running) gives its slot back
            await first.close()
            await until(lambda: slots.held("m1") == 1, "the closed socket's slot")
            async with connected(app.url, m1) as again:  # acked
                # and so does one the server closes (a protocol violation: 4400)
                await again.send(json.dumps([]))
                assert await close_code(again) == 4400
            await until(lambda: slots.held("m1") == 1, "the slot of the socket closed with 4400")
            async with connected(app.url, m1):  # acked
                pass
            await second.send(json.dumps({"type": "ping"}))  # the sockets within the cap were left alone
            assert json.loads(await asyncio.wait_for(second.recv(), DEADLINE_SECONDS)) == {"type": "pong"}
        await until(lambda: slots.held("m1") == 0, "every slot back")
        assert server_errors() == []

    async def test_a_socket_whose_token_expired_gives_way_to_a_new_one(self, app_factory) -> None:
        app = app_factory(max_websockets_per_merchant=1)
        short = app.token("m1", ttl=3)  # 2-3 s from now (whole seconds): time to connect on a loaded machine
        expires_at = jwt.decode(short, options={"verify_signature": False})["exp"]
        async with connected(app.url, {"Authorization": f"Bearer {short}"}) as expiring:
            # given the merchant's one socket, whose token has since expired (it can read nothing more)
            await until(lambda: time.time() >= expires_at, "the token's expiry")
            # when the merchant connects with a new token, it is acknowledged in that socket's place
            async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}):
                # and the expired one is closed as a bad token is
                assert await close_code(expiring) == 4403


@subject_not_the_database("the protocol")
class TestInvalidMessages:
    @pytest.mark.parametrize("message", INVALID, ids=[json.dumps(m)[:40] for m in INVALID])
    async def test_after_the_ack_closes_4400_without_a_server_error(
        self, app: ShopbridgeServer, server_errors, message: object
    ) -> None:
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            await socket.send(json.dumps(message))
            assert await close_code(socket) == 4400
        assert server_errors() == []

    @pytest.mark.parametrize("kind", ["subscribe", "complete"])
    async def test_an_id_past_256_characters_closes_4400(self, app: ShopbridgeServer, server_errors, kind: str) -> None:
        # Given an acknowledged socket (tryout69 N1: a subscribe whose id held 100,000 characters was accepted, and
        # every `next` echoed it), when an operation's id holds 100,000 characters
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            await socket.send(json.dumps({"type": kind, "id": "x" * 100_000, "payload": QUERY}))
            # then the socket is closed as for any invalid message, the bound named in the reason
            code, reason = await close_frame(socket)
        assert (code, reason) == (4400, f"A {kind} message's `id` may hold at most 256 characters.")
        assert server_errors() == []

    async def test_an_id_of_256_characters_is_answered(self, app: ShopbridgeServer, server_errors) -> None:
        # Given an acknowledged socket, when a subscribe's id holds exactly 256 characters (the bound), then it runs
        # and its answers carry that id
        operation_id = "7" * 256
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            await socket.send(json.dumps({"type": "subscribe", "id": operation_id, "payload": QUERY}))
            answer = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))
            ended = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))
        assert (answer["type"], answer["id"]) == ("next", operation_id)
        assert ended == {"type": "complete", "id": operation_id}
        assert server_errors() == []

    @pytest.mark.parametrize(
        ("operation_id", "expected"),
        [("1", "Subscriber for 1 already exists"), ("d" * 256, f"Subscriber for {'d' * 90}... already exists")],
        ids=["short", "256"],
    )
    async def test_a_duplicate_id_closes_4409(
        self, app: ShopbridgeServer, server_errors, operation_id: str, expected: str
    ) -> None:
        # Given an operation still open (an id of 256 characters is within the bound; Strawberry's 4409 reason echoes
        # the id, and a close frame's reason holds at most 123 bytes: the server raised "control frame too long")
        subscribe = {"type": "subscribe", "id": operation_id, "payload": {"query": "subscription { shopsDeleted }"}}
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            await socket.send(json.dumps(subscribe))
            # when a second operation takes the same id, then the socket is closed 4409 with no server error
            await socket.send(json.dumps(subscribe))
            code, reason = await close_frame(socket)
        assert (code, reason) == (4409, expected)
        assert server_errors() == []

    @pytest.mark.parametrize(
        "message", [[], "x", 5, {"type": "subscribe", "id": [1]}, {"type": 1}, {"type": "\ud800"}]
    )  # (verify50: a type holding an unpaired surrogate, echoed in the close reason, dropped the socket: 1006)
    async def test_before_the_ack_closes_4400_too(self, app: ShopbridgeServer, server_errors, message: object) -> None:
        async with connected(app.url, None) as socket:
            await socket.send(json.dumps(message))
            assert await close_code(socket) == 4400
        assert server_errors() == []

    @pytest.mark.parametrize(
        "kind", ["\U0001f600" * 64, "\u4e2d" * 64, "\ud800" * 64, "x" * 64], ids=["emoji", "cjk", "surrogate", "ascii"]
    )
    async def test_an_unknown_type_of_many_bytes_closes_4400_with_a_reason_a_close_frame_holds(
        self, app: ShopbridgeServer, server_errors, kind: str
    ) -> None:
        # Given a client, before any connection_init, sending a message whose unknown `type` is 64 characters of up
        # to 4 bytes each (the reason echoes it; a close frame holds 123 bytes: review70 F2, the server raised
        # "control frame too long" and dropped the socket without a close frame)
        async with connected(app.url, None) as socket:
            await socket.send(json.dumps({"type": kind}))
            code, reason = await close_frame(socket)
        # then the socket is closed 4400 with a reason that names the problem and fits
        assert code == 4400
        assert reason.startswith("Unknown message type: ")
        assert len(reason.encode()) <= 123
        assert server_errors() == []

    @pytest.mark.parametrize("raw", ["{not json", b"\x00binary"])
    async def test_invalid_json_and_binary_frames_close_4400(self, app: ShopbridgeServer, server_errors, raw) -> None:
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            await socket.send(raw)
            assert await close_code(socket) == 4400
        assert server_errors() == []

    @pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "1" * 5000], ids=["nested", "5000-digits"])
    async def test_json_beyond_the_decoder_closes_4400(self, app: ShopbridgeServer, server_errors, value: str) -> None:
        # Given a subscribe whose variables hold JSON Python's decoder refuses though it is well-formed: nested 5,000
        # levels deep (RecursionError), or a number of 5,000 digits (past the 4,300-digit int limit: ValueError)
        message = '{"id": "1", "type": "subscribe", "payload": {"query": "{ supportedRegions }", "variables": {"a": '
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            # When it is sent, then it is invalid JSON: 4400, no traceback, not a socket dropped without a close frame
            await socket.send(message + value + "}}}")
            assert await close_code(socket) == 4400
        assert server_errors() == []

    @pytest.mark.parametrize("kind", ["connection_init", "ping"])
    async def test_a_number_beyond_the_decoder_before_the_ack_closes_4400(
        self, app: ShopbridgeServer, server_errors, kind: str
    ) -> None:
        # Given a socket not yet initialised (no token: anyone can open one), when its first message carries a
        # number of 5,000 digits in its payload, then it is closed 4400 as any invalid JSON, with no traceback
        async with connected(app.url, None) as socket:
            await socket.send('{"type": "' + kind + '", "payload": {"n": ' + "9" * 5000 + "}}")
            assert await close_code(socket) == 4400
        assert server_errors() == []

    async def test_a_flood_of_refused_sockets_is_one_info_line_per_reason(self, app: ShopbridgeServer, caplog) -> None:
        # Anyone can open sockets and be refused, as fast as they like: each refusal was one INFO line (a log flood).
        caplog.set_level(logging.INFO)
        # given 5 sockets whose connection_init carries a bad token, and 5 that send a message the protocol forbids
        for _ in range(5):
            async with connected(app.url, None) as socket:
                await socket.send(_init("not-a-token"))
                assert await close_code(socket) == 4403
            async with connected(app.url, None) as socket:
                await socket.send(json.dumps({"type": "bogus"}))
                assert await close_code(socket) == 4400
        # then the log holds one line per reason (the next, a minute later, says how many were left out)
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("shopbridge") and "websocket" in r.msg]
        assert lines == [
            "websocket refused: The token is invalid.",
            "websocket closed 4400: Unknown message type: bogus",
        ]

    async def test_a_flood_of_foreign_origin_handshakes_is_one_info_line_naming_the_setting(
        self, app: ShopbridgeServer, caplog
    ) -> None:
        # newcomer54: each handshake from a foreign Origin (no token needed) wrote Strawberry's WARNING, naming its
        # `allowed_origins` argument, and the websockets library's INFO "connection rejected (403 Forbidden)"
        caplog.set_level(logging.INFO)
        url = app.url.replace("http://", "ws://") + "/graphql"
        # given 5 handshakes from a page on another origin, each refused with 403
        for _ in range(5):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, subprotocols=[TRANSPORT_WS], origin=Origin("http://evil.example")):
                    pass
            assert refused.value.response.status_code == 403
        # then the log holds one INFO line, on shopbridge.ws, naming SHOPBRIDGE_CORS_ORIGINS, and nothing else of them
        lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records if "origin" in r.getMessage().lower()]
        lines += [(r.name, r.levelname, r.getMessage()) for r in caplog.records if "connection rejected" in r.msg]
        assert lines == [
            (
                "shopbridge.ws",
                "INFO",
                "websocket refused (403): origin 'http://evil.example' is not in SHOPBRIDGE_CORS_ORIGINS; add it "
                "there if pages on it should open sockets",
            )
        ]

    async def test_a_bad_message_while_a_subscription_runs(self, app: ShopbridgeServer, server_errors) -> None:
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            subscribe = {"id": "s", "type": "subscribe", "payload": {"query": TASK_UPDATED}}
            await socket.send(json.dumps(subscribe))
            await socket.send(json.dumps({"type": "ping"}))  # answered after the subscribe was handled
            assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "pong"}
            await socket.send(json.dumps([subscribe]))
            assert await close_code(socket) == 4400
        assert server_errors() == []

    async def test_a_token_whose_exp_no_float_holds_is_refused_4403(self, app: ShopbridgeServer, server_errors) -> None:
        # sec50: `exp: 10**400` raised OverflowError reading the token (an ERROR traceback)
        now = int(time.time())
        claims = {"sub": "m1", "iat": now, "exp": 10**400, "iss": ISSUER}
        token = jwt.encode(claims, app.settings.secret_key, ALGORITHM)
        async with connected(app.url, None) as socket:
            await socket.send(_init(token))
            assert await close_code(socket) == 4403
        assert server_errors() == []

    async def test_a_refused_token_says_why_in_the_close_reason(self, app: ShopbridgeServer, server_errors) -> None:
        """Rule (README "The GraphQL API": a bad token closes the socket with 4403, its reason saying why in HTTP's
        words): a client tells an expired token (renew it, sign in again) from a wrong one. Strawberry's reason was
        `Forbidden` alone for every refusal (api66 F2), where HTTP's 401 says which."""
        now = int(time.time())
        expired = jwt.encode({"sub": "m1", "iat": now - 60, "exp": now - 1, "iss": ISSUER}, app.settings.secret_key)
        ahead = jwt.encode({"sub": "m1", "iat": now + 600, "exp": now + 900, "iss": ISSUER}, app.settings.secret_key)
        cases = {
            json.dumps({"type": "connection_init", "payload": {}}): (
                'Forbidden: send {"Authorization": "Bearer <token>"} in the connection_init payload'
            ),
            _init(expired): "Forbidden: the token has expired",
            _init("not-a-token"): "Forbidden: the token is invalid",
            _init(ahead): "Forbidden: the token is not valid yet: issued for a time more than 60 seconds ahead",
        }
        for init, reason in cases.items():
            async with connected(app.url, None) as socket:
                await socket.send(init)
                assert await close_frame(socket) == (4403, reason)
        assert server_errors() == []

    async def test_a_token_holding_an_unpaired_surrogate_is_refused_4403(
        self, app: ShopbridgeServer, server_errors
    ) -> None:
        # verify50: PyJWT's encode of it raised UnicodeEncodeError (1006 and an ERROR traceback, no token needed)
        async with connected(app.url, None) as socket:
            await socket.send(_init("a\udfffb"))
            assert await close_code(socket) == 4403
        assert server_errors() == []

    @pytest.mark.parametrize("where", ["two keys", "beside and inside headers"])
    async def test_two_different_authorizations_in_the_init_payload_close_4400(
        self, app: ShopbridgeServer, server_errors, where: str
    ) -> None:
        # attack56 F-two-auth: the first key won
        first, second = f"Bearer {app.token('m1')}", f"Bearer {app.token('m2')}"
        payloads = {
            "two keys": {"Authorization": first, "authorization": second},
            "beside and inside headers": {"Authorization": first, "headers": {"Authorization": second}},
        }
        async with connected(app.url, None) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": payloads[where]}))
            code, reason = await close_frame(socket)
        assert code == 4400 and reason.startswith("BAD_REQUEST: ambiguous credentials"), (code, reason)
        # the same credential twice is one credential
        async with connected(app.url, {"Authorization": first, "authorization": first}) as socket:
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": QUERY}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "next"
        assert server_errors() == []

    async def test_a_null_init_payload_is_allowed_and_then_refused_for_want_of_a_token(
        self, app: ShopbridgeServer
    ) -> None:
        async with connected(app.url, None) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": None}))
            assert await close_code(socket) == 4403


# Documents refused before they are validated, each with the code HTTP answers for it (README, "The GraphQL API").
# The depth and alias limits are validation rules: their refusals already took the validation path.
REFUSED_DOCUMENTS = {
    "syntax error": ("subscription { syncTaskUpdated { status ", None, "GRAPHQL_PARSE_FAILED"),
    # "{ syncTasks ( status : [" n values "] ) { totalCount } }" is 12 + n tokens: 2,001 is one over the limit
    "over 2,000 tokens": (
        "{ syncTasks(status: [" + "QUEUED, " * 1989 + "]) { totalCount } }",
        None,
        "QUERY_TOO_COMPLEX",
    ),
    # fragments that spread the next one twice, 30 deep: ~300 tokens, 2^30 selections (gql/cost.py)
    "fragments expanding beyond 10,000 selections": (
        "subscription { ...F0 } fragment F0 on Subscription { shopsUpdated { ...S0 } } "
        + " ".join(f"fragment S{i} on Shop {{ ...S{i + 1} ...S{i + 1} }}" for i in range(30))
        + " fragment S30 on Shop { id }",
        None,
        "QUERY_TOO_COMPLEX",
    ),
    "no operation": ("fragment F on Query { supportedRegions }", None, "BAD_REQUEST"),
    "unknown operationName": ("query A { supportedRegions }", "B", "BAD_REQUEST"),
}


@subject_not_the_database("the protocol")
class TestRefusedDocuments:
    """A well-formed `subscribe` whose document cannot run is the client's mistake, not a protocol violation: an
    `error` message for its id with HTTP's code, the socket kept open, one INFO line in our log."""

    @pytest.mark.parametrize(("query", "operation_name", "code"), REFUSED_DOCUMENTS.values(), ids=REFUSED_DOCUMENTS)
    async def test_gets_an_error_message_with_https_code_and_one_info_line(
        self, app: ShopbridgeServer, server_errors, caplog, query: str, operation_name: str | None, code: str
    ) -> None:
        # given the code HTTP answers for the document
        over_http = await asyncio.to_thread(_http_code, app, query, operation_name)
        assert over_http == code
        logged_before = len(caplog.records)
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            # when it is sent over the socket
            payload = {"query": query, "operationName": operation_name}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            answer = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))
            # then it is refused with an error message for its id, carrying the same code
            assert (answer["id"], answer["type"]) == ("1", "error"), answer
            assert [error["extensions"]["code"] for error in answer["payload"]] == [code], answer
            # and the socket still serves (the id is free again)
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": QUERY}))
            assert json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))["type"] == "next"
        # and our log has one INFO line for it, without a traceback, and nothing at ERROR
        assert server_errors() == []
        lines = [r for r in caplog.records[logged_before:] if r.name == "shopbridge.graphql" and code in r.getMessage()]
        assert len(lines) == 1 and lines[0].levelno == logging.INFO and lines[0].exc_info is None, lines
        assert "\n" not in lines[0].getMessage()


class TestResolverErrors:
    """A subscription refused by its resolver (an id of nothing of the merchant's, two arguments that contradict)
    ends with an error that carries `locations` and `path`, as the same refusal of a query's field does (spec,
    "Response Format": a field's error has both; a subscription has one root field). Strawberry passes what the
    subscription's source stream raises on as a bare error, so they had neither."""

    @subject_not_the_database("an error's location, the resolver's own refusal")
    async def test_its_error_is_located_at_the_subscription_field(self, app: ShopbridgeServer) -> None:
        nothing = "U3luY1Rhc2s6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA"  # SyncTask:000...: well formed, no task
        refused = [
            ("subscription { mine: syncTaskUpdated(taskId: TASK) { status } }".replace("TASK", f'"{nothing}"'),
             "mine", "NOT_FOUND", "Sync task not found."),  # in words, not the type's name ("SyncTask not found")
            ('subscription {\n  shopUpdated(shopId: "garbage") { name }\n}', "shopUpdated", "NOT_FOUND",
             "Shop not found."),
            ('subscription { inventoryItemUpdated(inventoryItemId: "x", sku: "A") { sku } }', "inventoryItemUpdated",
             "BAD_USER_INPUT", "Give inventoryItemId or sku, not both."),
        ]  # fmt: skip
        for query, key, code, message in refused:
            async with app.subscribe(query, None, "m1") as operation:
                with pytest.raises(OperationError) as ended:
                    await operation.next()
            [error] = ended.value.payload
            field_at = query.index(key)
            line = query.count("\n", 0, field_at) + 1
            column = field_at - (query.rfind("\n", 0, field_at) + 1) + 1
            assert (error["extensions"]["code"], error.get("path"), error["message"]) == (code, [key], message), error
            assert error.get("locations") == [{"line": line, "column": column}], error


def _http_code(app: ShopbridgeServer, query: str, operation_name: str | None) -> str:
    headers = {"Authorization": f"Bearer {app.token('m1')}"}
    body = {"query": query, "operationName": operation_name}
    response = oneshot.post(f"{app.url}/graphql", json=body, headers=headers, timeout=DEADLINE_SECONDS)
    return str(response.json()["errors"][0]["extensions"]["code"])


@subject_not_the_database("the protocol")
class TestSizeLimit:
    async def test_a_message_over_the_limit_closes_1009(self, app_factory, server_errors) -> None:
        app = app_factory(max_request_bytes=4096)
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            query = "{ supportedRegions }" + " " * 8000
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            assert await close_code(socket) == 1009
        async with connected(app.url, {"Authorization": f"Bearer {app.token('m1')}"}) as socket:
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": QUERY}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "next"
        assert server_errors() == []


class TestDeletedShop:
    async def test_a_followed_task_ends_cancelled_with_shop_deleted(self, app_factory) -> None:
        # TikTok holds the order search until the test releases it: the orders import is under way when the shop is
        # deleted, whatever the machine's speed (slow pages only made that likely: at load 6-20 it ended first).
        # The client waits for the held page as long as the test may take, instead of retrying and failing.
        app = app_factory(tiktok_timeout_seconds=DEADLINE_SECONDS)
        app.sandbox.hold(ORDER_SEARCH)
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        tasks = await app.agraphql(
            "query($id: ID!) { shop(id: $id) { syncTasks { edges { node { id kind status } } } } }",
            {"id": shop["id"]},
            "m1",
        )
        orders = next(e["node"] for e in tasks["shop"]["syncTasks"]["edges"] if e["node"]["kind"] == "ORDERS")
        async with (
            app.subscribe(TASK_UPDATED, {"taskId": orders["id"]}, "m1") as by_task,
            app.subscribe(TASK_UPDATED, {"shopId": shop["id"]}, "m1") as by_shop,
        ):
            first = (await by_task.next())["syncTaskUpdated"]
            assert first["status"] in ("QUEUED", "RUNNING"), first
            await by_shop.next()
            await asyncio.to_thread(app.sandbox.wait_held)  # the orders import waits on TikTok for a page
            deleted = "mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId } }"
            await app.agraphql(deleted, {"id": shop["id"]}, "m1")
            # the task's subscription gets a final state saying why, then completes
            rest = [m["syncTaskUpdated"] for m in await by_task.drain()]
            assert rest, "no final state before complete"
            final = rest[-1]
            assert (final["id"], final["status"], final["errorCode"]) == (orders["id"], "CANCELLED", "SHOP_DELETED")
            assert final["cancelRequested"] is True and final["shop"] is None
            # the shop's subscription sees its tasks end the same way, then ends with NOT_FOUND
            seen = []
            with pytest.raises(OperationError) as error:
                while True:
                    seen.append((await by_shop.next())["syncTaskUpdated"])
            assert {m["errorCode"] for m in seen if m["status"] == "CANCELLED"} <= {"SHOP_DELETED", None}
            assert any(m["errorCode"] == "SHOP_DELETED" for m in seen), seen
            assert error.value.payload[0]["extensions"]["code"] == "NOT_FOUND"
            with pytest.raises((Complete, TimeoutError)):
                await by_shop.next(timeout=5)
        app.sandbox.hold()  # the held page is answered: the import learns its shop is gone and stops

    async def test_following_a_shop_ends_with_not_found_once_it_is_deleted(self, app: ShopbridgeServer) -> None:
        # given an idle shop, followed by shopUpdated and by syncTaskUpdated(shopId)
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        await asyncio.to_thread(app.wait_for_idle_sync)
        shop_updated = "subscription($id: ID!) { shopUpdated(shopId: $id) { id name } }"
        async with (
            app.subscribe(shop_updated, {"id": shop["id"]}, "m1") as by_shop,
            app.subscribe(TASK_UPDATED, {"shopId": shop["id"]}, "m1") as by_tasks,
        ):
            assert (await by_shop.next())["shopUpdated"]["id"] == shop["id"]
            await by_tasks.next()
            # when the shop is deleted
            deleted = "mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId } }"
            await app.agraphql(deleted, {"id": shop["id"]}, "m1")
            # then both end with NOT_FOUND (the README's code for "does not exist any more"), not one with a bare
            # complete a client cannot tell from any other end
            for operation in (by_shop, by_tasks):
                with pytest.raises(OperationError) as ended:
                    while True:
                        await operation.next()
                assert [e["extensions"]["code"] for e in ended.value.payload] == ["NOT_FOUND"]
                assert ended.value.payload[0]["path"] in (["shopUpdated"], ["syncTaskUpdated"])  # located there
