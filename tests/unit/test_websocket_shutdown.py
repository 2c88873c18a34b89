"""`gql.serving.WebSocketProtocol`: a server shutdown that meets a WebSocket whose peer's close frame was just answered
(the connection is still listed until `connection_lost` runs on a later turn of the loop). uvicorn's own protocol
raised websockets' `InvalidState` there, which stopped the server's shutdown before the app's lifespan shutdown (CI:
a test server's thread did not stop within 120 s). Driven byte for byte with websockets' client protocol; the
transport is a recorder (uvicorn's, not ours)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from gql.serving import WebSocketProtocol


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)


async def accept_then_wait(scope: Any, receive: Any, send: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    await receive()  # the disconnect


async def test_a_shutdown_as_the_peers_close_is_answered_closes_quietly() -> None:
    config = Config(accept_then_wait, ws=WebSocketProtocol, lifespan="off", ws_ping_interval=None)
    config.load()
    state = ServerState()
    server = WebSocketProtocol(config, state, app_state={})
    transport = RecordingTransport()
    server.connection_made(transport)
    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/graphql"))

    # given an open WebSocket (the handshake, then the app's accept)
    client.send_request(client.connect())
    server.data_received(b"".join(client.data_to_send()))
    while client.state is not State.OPEN:
        await asyncio.sleep(0)  # the app's task accepts on the next turns of the loop
        client.receive_data(bytes(transport.written))
        transport.written.clear()
    # and the peer's close frame, answered at once, the connection still listed
    client.send_close(1000)
    server.data_received(b"".join(client.data_to_send()))
    assert transport.closed and server in state.connections

    # when the server shuts down, then the connection closes without an error
    server.shutdown()
    assert transport.closed
    server.connection_lost(None)
    await asyncio.gather(*state.tasks)
