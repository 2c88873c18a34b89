"""tests/fixtures/served.py's ThreadedServer (the suite's uvicorn in a thread) stops without leaving a connection
open, whenever the connection arrived; an open one at the end is an unclosed transport of the closed event loop."""

from __future__ import annotations

import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fixtures.served import ThreadedServer
from tests.fixtures.waiting import DEADLINE_SECONDS


async def hello(request: Any) -> PlainTextResponse:
    return PlainTextResponse("hello")


def served() -> ThreadedServer:
    app = Starlette(routes=[Route("/", hello)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    return ThreadedServer(config, name="served-under-test")


def test_a_connection_accepted_as_the_stop_begins_is_closed_before_the_server_ends() -> None:
    # given a serving server
    server = served()
    address = urlsplit(server.start())
    loop = server.loop
    assert loop is not None and address.hostname and address.port
    client = socket.socket()
    client.settimeout(DEADLINE_SECONDS)
    connected = threading.Event()

    def connect() -> None:
        client.connect((address.hostname, address.port))
        connected.set()

    def stop_then_connect() -> None:
        # On the server's loop: the stop's wake-up is queued first and `connect` right behind it, so the main loop's
        # resumption (queued by the wake-up) comes before the connection's `connection_made`, which the loop queues
        # when it accepts the connection in its next I/O poll: the stop begins with the connection accepted by the
        # listener but not yet known to uvicorn (a webhook delivery arriving as its receiver stops).
        server.request_stop()
        loop.call_soon(connect)

    try:
        # when the stop begins just as a client connects
        loop.call_soon_threadsafe(stop_then_connect)
        assert connected.wait(DEADLINE_SECONDS), "the client never connected"
        # then the server closes the connection (an idle one, as uvicorn closes those at shutdown) and ends
        assert client.recv(1) == b""
        server.stop()
    finally:
        client.close()
        if server.thread.is_alive():
            server.stop()
