"""tests/fixtures/served.py's ThreadedServer (the suite's uvicorn in a thread) stops without leaving a connection
open, whenever the connection arrived; an open one at the end is an unclosed transport of the closed event loop. Nor
a database connection: a request it cancels ends before the app's lifespan closes what the request uses (and so in
`shopbridge serve`'s `gql.serving.Server`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapters.db import Database
from gql.serving import Server
from tests.fixtures.processes import oneshot
from tests.fixtures.served import ThreadedServer
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines


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


class _ServedBySERVE:
    """`shopbridge serve`'s `gql.serving.Server` in a thread, stopped as a signal stops it (`should_exit`)."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        self._listening = threading.Event()
        self.server = Server(config, app, on_listening=self._listening.set)
        self.thread = threading.Thread(target=self.server.run, name="served-under-test")

    def start(self) -> str:
        self.thread.start()
        assert self._listening.wait(DEADLINE_SECONDS), "the server never listened"
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(DEADLINE_SECONDS)
        assert not self.thread.is_alive(), "the served-under-test thread did not stop"


@pytest.mark.parametrize("serving", ["ThreadedServer", "gql.serving.Server"])
def test_a_request_cancelled_at_the_stop_ends_before_the_lifespan_closes_its_database(
    postgres_url: str, serving: str
) -> None:
    # given a served app whose lifespan owns a database and, stopping, goes on after disposing of it until the
    # request's statement has ended (as Shopbridge's own lifespan goes on closing other things: the window in which
    # a statement that ends is handed back to a disposed pool; the loop's end cancels one still running), and a
    # request of it inside a 1 s statement at PostgreSQL
    querying, statement_ended = threading.Event(), threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.database = Database(postgres_url)
        try:
            yield
        finally:
            await app.state.database.dispose()
            await asyncio.to_thread(statement_ended.wait, DEADLINE_SECONDS)

    async def slow(request: Any) -> PlainTextResponse:
        try:
            async with request.app.state.database.read_sessionmaker() as session:
                querying.set()
                await session.execute(sa.text("SELECT pg_sleep(1)"))
        finally:
            statement_ended.set()
        return PlainTextResponse("slept")

    app = Starlette(routes=[Route("/slow", slow)], lifespan=lifespan)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=0.1
    )
    server = (
        ThreadedServer(config, name="served-under-test") if serving == "ThreadedServer" else _ServedBySERVE(config, app)
    )
    url = server.start()
    answers: list[object] = []

    def ask() -> None:
        try:
            answers.append(oneshot.get(f"{url}/slow", timeout=DEADLINE_SECONDS).status_code)
        except httpx.HTTPError as exc:
            answers.append(exc)

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        assert querying.wait(DEADLINE_SECONDS), "the request never reached its statement"
        # when the server stops: the request outlasts the graceful wait and is cancelled (its statement runs to its
        # end all the same, `adapters.db.sessions`)
        with log_lines("uvicorn.error", logging.ERROR) as errors:
            server.stop()
    finally:
        asking.join(DEADLINE_SECONDS)
    assert any("timeout graceful shutdown exceeded" in line for line in errors.messages), errors.messages
    assert len(answers) == 1
    # then the lifespan closed the database once the cancelled request had ended: the leak check of `postgres_url`
    # finds no session open (uvicorn went on to the lifespan's shutdown at once: the statement's connection came
    # back to the disposed pool, and was left open)
