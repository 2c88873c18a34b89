"""GraphQL over WebSocket: the `graphql-transport-ws` protocol, strict about what it accepts.

Strawberry's handler assumes well-formed messages: a JSON array, a string `id` that is a list, or a `payload` that
is not an object raised inside it (a server exception and no close frame). Here every message is checked against
the protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md) before Strawberry sees it, and
anything the protocol calls invalid closes the socket with 4400, and so does an operation `id` longer than 256
characters (`MAX_OPERATION_ID`: every answer echoes it). Messages larger than the request limit close it
with 1009 (Message Too Big) before they are parsed. A well-formed `subscribe` whose document is refused before
execution (it does not parse, exceeds a limit, names no operation to run, or fails validation) gets an `error`
message for its id, with the `extensions.code` HTTP gives the same document; the socket stays open. The legacy
`graphql-ws` protocol is not offered. A merchant's socket past its cap of open sockets is closed with 1008
`TOO_MANY_CONNECTIONS` at its `connection_init`, and every socket gives its slot back when it ends
(gql/socket_slots.py). A `connection_init` carrying several different `Authorization` values closes the socket with
4400 `BAD_REQUEST: ambiguous credentials…` (gql/auth.py, AmbiguousCredentialsError). Each operation started draws
on the merchant's requests a minute, as an HTTP request does (a mutation one per top-level field): one past them
gets an `error` message `RATE_LIMITED` with `retryAfter` (gql/request_rate.py). A socket refused or closed for the
client's mistake (a bad token, a bad or too big message, past the cap) is one INFO line a minute per reason on
`shopbridge.ws`, saying how many more there were: anyone can open sockets and be refused, as fast as they like.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Mapping
from json import JSONDecodeError
from typing import cast

import msgspec
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from adapters.request_rate import RequestRate
from gql.auth import AmbiguousCredentialsError, SocketTokenRefusedError
from gql.context import RECONNECT_MESSAGE, Context
from gql.request_rate import operation_rate_limited
from gql.socket_slots import CLOSE_POLICY_VIOLATION, SocketSlots, TooManyConnectionsError
from gql.throttled_log import ThrottledLog

log = logging.getLogger("shopbridge.ws")
_encoder = msgspec.json.Encoder()

CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_BAD_REQUEST = 4400  # graphql-transport-ws: an invalid message
CLOSE_FORBIDDEN = 4403  # graphql-transport-ws: connection_init refused (a bad token)
CLOSE_DUPLICATE_ID = 4409  # graphql-transport-ws: a subscribe whose id an open operation holds
_CLOSE_REASON_BYTES = 123  # RFC 6455 sec. 5.5: a control frame's payload is 125 bytes, 2 of them the code
UNAUTHENTICATED = "UNAUTHENTICATED"
TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"
# The longest operation `id` a client may give. The protocol sets no bound, but every `next`, `error` and `complete`
# echoes the id, so before this only the 1009 message-size cap bounded what each answer repeated (tryout69 N1).
# Clients number their operations or use UUIDs (36 characters; the reference client `graphql-ws`: a UUID v4).
MAX_OPERATION_ID = 256
_CLIENT_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})


def protocol_violation(message: object) -> str | None:
    """Why a client message is invalid under graphql-transport-ws, or None when it is well-formed."""
    if not isinstance(message, dict):
        return "A message must be a JSON object."
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message must have a string `type`."
    if kind not in _CLIENT_TYPES:
        # a close reason is UTF-8: a type holding an unpaired surrogate is escaped (verify50: echoed, it dropped the
        # socket, 1006, with an ERROR traceback)
        return f"Unknown message type: {kind[:64] if _is_unicode(kind) else ascii(kind[:64])}"
    if kind in ("connection_init", "ping", "pong"):
        payload = message.get("payload")
        return None if payload is None or isinstance(payload, dict) else f"The {kind} payload must be an object."
    if not isinstance(message.get("id"), str) or not message["id"]:
        return f"A {kind} message must have a non-empty string `id`."
    if len(message["id"]) > MAX_OPERATION_ID:  # every answer echoes it (tryout69 N1: 100,000 characters in each)
        return f"A {kind} message's `id` may hold at most {MAX_OPERATION_ID} characters."
    if not _is_unicode(message["id"]):  # every answer echoes it, and no UTF-8 text frame can hold it
        return f"A {kind} message's `id` may not hold an unpaired surrogate (U+D800 to U+DFFF)."
    if kind == "complete":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "The subscribe payload must be an object."
    if not isinstance(payload.get("query"), str):
        return "The subscribe payload must have a string `query`."
    for key, kinds in (("variables", dict), ("extensions", dict), ("operationName", str)):
        if payload.get(key) is not None and not isinstance(payload[key], kinds):
            return f"The subscribe payload's `{key}` has the wrong type."
    if isinstance(payload.get("operationName"), str) and not _is_unicode(payload["operationName"]):
        # echoed when the document has no such operation (graphql-core: "Unknown operation named ...")
        return "The subscribe payload's `operationName` may not hold an unpaired surrogate (U+D800 to U+DFFF)."
    return None


def duplicate_id_reason(operation_id: str) -> str:
    """The 4409 close reason for an `id` an open operation holds: Strawberry's "Subscriber for <id> already
    exists", the id cut to fit a close frame's 123 bytes of reason (RFC 6455 sec. 5.5)."""
    reason = f"Subscriber for {operation_id} already exists"
    if len(reason.encode()) <= _CLOSE_REASON_BYTES:
        return reason
    room = _CLOSE_REASON_BYTES - len("Subscriber for ... already exists")
    return f"Subscriber for {_utf8_prefix(operation_id, room)}... already exists"


def close_reason(text: str) -> str:
    """`text` as a close frame's reason: whole when its UTF-8 fits the frame's 123 bytes (RFC 6455 sec. 5.5), else
    cut to 120 bytes at a character's edge and ended "...". A reason that echoes what the client sent (an unknown
    message `type` of 64 characters: 64 emoji are 256 bytes) raised "control frame too long" in the server, which
    dropped the socket with an ERROR traceback and no close frame (review70 F2)."""
    if len(text.encode()) <= _CLOSE_REASON_BYTES:
        return text
    return f"{_utf8_prefix(text, _CLOSE_REASON_BYTES - 3)}..."


def _utf8_prefix(text: str, room: int) -> str:
    """The longest prefix of `text` whose UTF-8 holds at most `room` bytes (no character cut in two)."""
    return text.encode()[:room].decode(errors="ignore")


def _is_unicode(text: str) -> bool:
    """No unpaired surrogate (U+D800 to U+DFFF, which JSON's `\\ud800` escapes can carry): encodable as UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler behind a check of every message's shape."""

    async def handle_message(self, message: Message) -> None:
        problem = protocol_violation(message)
        if problem is not None:
            _refusals(self.view).info("protocol", "websocket closed 4400: %s", problem)
            await self.handle_invalid_message(close_reason(problem))
            return
        if message["type"] == "connection_init" and message.get("payload") is None:
            message = cast(Message, {"type": "connection_init", "payload": {}})  # the protocol allows null
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManyConnectionsError as exc:  # raised by the view's on_ws_connect, before any ack
            _refusals(self.view).info("too_many", "websocket refused: %s", exc.reason)
            await self.websocket.close(code=CLOSE_POLICY_VIOLATION, reason=exc.reason)
        except SocketTokenRefusedError as exc:  # raised by the view's on_ws_connect (logged there), before any ack
            await self.websocket.close(code=CLOSE_FORBIDDEN, reason=exc.reason)
        except AmbiguousCredentialsError:  # raised by the view's on_ws_connect, before any ack
            reason = AmbiguousCredentialsError.WS_REASON
            _refusals(self.view).info("ambiguous", "websocket closed 4400: %s", reason)
            await self.websocket.close(code=CLOSE_BAD_REQUEST, reason=reason)

    async def shutdown(self) -> None:
        # Whichever way the socket ended (the client left, a close of ours, an operation's failure, a stop), its
        # operations are stopped first (Strawberry awaits each; a cancelled one ends once its read has ended and given
        # its connection back: gql/live_outage.py `wait_out`), then its merchant's slot is given back.
        try:
            await super().shutdown()
            await self.context.reads_left_ended()  # loader batches its operations left reading (gql/context.py)
        finally:
            slots: SocketSlots | None = getattr(self.view, "socket_slots", None)
            if slots is not None:
                slots.release(self.context.merchant_id, self.context)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and message["id"] in self.operations:
            # Strawberry's 4409 reason echoes the id, and a close frame's reason holds at most 123 bytes (RFC 6455
            # sec. 5.5): an id of 100 characters or more raised "control frame too long" in the server and dropped
            # the socket without a close frame (1006)
            await self.websocket.close(code=CLOSE_DUPLICATE_ID, reason=duplicate_id_reason(message["id"]))
            return
        expires_at = self.context.token_expires_at if self.connection_acknowledged else None
        if expires_at is not None and time.time() >= expires_at and message["id"] not in self.operations:
            # The socket's token has expired: the whole operation is refused, as HTTP answers 401 for that token.
            # Checked by the resolvers alone, `supportedRegions`, `__typename` and introspection, which read nothing
            # of the merchant, still answered on it (README: every field sent afterwards is UNAUTHENTICATED).
            error = GraphQLError(RECONNECT_MESSAGE, extensions={"code": UNAUTHENTICATED})
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):  # Strawberry's own refusal carries no code
            error = GraphQLError(
                f"At most {limit} operations may run at once on one connection.",
                extensions={"code": TOO_MANY_OPERATIONS},
            )
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        rate: RequestRate | None = getattr(self.view, "request_rate", None)
        merchant_id = self.context.merchant_id if self.connection_acknowledged else None
        if rate is not None and merchant_id is not None and message["id"] not in self.operations:
            # The merchant's HTTP budget, one request per operation started; a mutation's further top-level fields
            # take theirs once its document is valid (gql/request_rate.py, MutationFields).
            retry_after = await rate.admit("merchant:" + merchant_id)
            if retry_after is not None:
                error = operation_rate_limited(retry_after, rate.per_minute)
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
        await super().handle_subscribe(message)

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # Strawberry closes the whole socket (4400) for a document that does not parse or names no operation to
        # run, ending every other operation on it. The message itself is well-formed: the document is the client's
        # mistake, answered as HTTP answers it, with an `error` message for that id carrying the same code
        # (GRAPHQL_PARSE_FAILED, QUERY_TOO_COMPLEX, BAD_REQUEST; PROTOCOL.md: errors "before execution starts").
        return None

    async def handle_task_exception(self, error: Exception) -> None:
        # An operation that tries to send after the socket closed (the client left, or we closed it for a bad
        # message) is not a server fault.
        socket = cast(ASGIWebSocketAdapter, self.websocket).ws
        if isinstance(error, WebSocketDisconnected) or socket.application_state == WebSocketState.DISCONNECTED:
            log.debug("websocket operation ended with its socket: %r", error)
            return
        await super().handle_task_exception(error)


class BoundedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's ASGI socket adapter with a size limit on incoming messages (close 1009 beyond it), encoding
    outgoing messages with msgspec."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        # Every subscriber's every message is encoded here: msgspec takes ~3 µs for a progress message where
        # json.dumps took ~30 (13 % of the API's CPU with 1,000 subscribers of one task, bench/README.md). The same
        # JSON, except that non-ASCII text is sent as UTF-8 instead of \u escapes. Anything msgspec cannot encode
        # goes through the view's own encoder, as before: an unpaired surrogate too (UnicodeEncodeError; the
        # protocol check refuses one in an `id` or `operationName`, and this keeps any other from leaving an
        # operation unanswered), which json.dumps sends as its `\ud800` escape.
        try:
            text = _encoder.encode(message).decode()
        except (TypeError, UnicodeEncodeError):
            encoded = self.view.encode_json(message)
            text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        limit = int(getattr(self.view, "max_message_bytes", 0)) or None
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if limit is not None and _too_big(text, limit):
                    _refusals(self.view).info(
                        "too_big", "websocket closed 1009: a message of more than %d bytes", limit
                    )
                    await self.close(CLOSE_MESSAGE_TOO_BIG, f"Messages are limited to {limit} bytes.")
                    return
                try:
                    yield self.view.decode_json(text)
                except JSONDecodeError as exc:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:  # a binary frame: Starlette's receive_text finds no "text"
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass


def _refusals(view: object) -> ThrottledLog:
    """The view's throttle of socket refusals (gql/view.py): one INFO line a minute per reason."""
    refusals = getattr(view, "socket_refusals", None)
    return refusals if isinstance(refusals, ThrottledLog) else ThrottledLog(log, 0.0)


def _too_big(text: str, limit: int) -> bool:
    return len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit)
