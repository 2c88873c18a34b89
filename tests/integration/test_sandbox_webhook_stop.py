"""The sandbox's webhook sender stops without leaving a connection open, wherever its stop lands in a delivery: here
at each of a delivery's first steps, while it sets aside the keep-alive connections its receiver has closed (a
receiver stopped just before its sandbox, as the tests' fixtures stop them)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import select
import time
from collections.abc import Callable

import pytest

from sandbox.webhooks import WebhookSender
from tests.fixtures.waiting import DEADLINE_SECONDS

SHOP = "7494726673780148744"
KEPT_ALIVE = 3  # connections the sender pools, then sets aside together once the receiver has closed them


def open_transports_to(port: int) -> list[asyncio.Transport]:
    """This process's transports to 127.0.0.1:`port` that nobody has closed."""
    return [
        o
        for o in gc.get_objects()
        if isinstance(o, asyncio.Transport)
        and not o.is_closing()
        and (o.get_extra_info("peername") or ("", 0))[1] == port
    ]


def has_seen_the_close(transport: asyncio.Transport) -> bool:
    """The receiver's FIN has arrived: the socket reads (EOF)."""
    readable, _, _ = select.select([transport.get_extra_info("socket")], [], [], 0)
    return bool(readable)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Until `condition()` holds, giving the loop a turn between looks; AssertionError after the suite's deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0)


@pytest.mark.parametrize("steps", range(8))
async def test_a_stop_while_a_delivery_sets_closed_connections_aside_leaves_none_open(steps: int) -> None:
    # given a receiver that answers 200 and keeps the connection open (keep-alive) until told to close them
    writers: list[asyncio.StreamWriter] = []
    handlers: list[asyncio.Task[object]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):  # closed, by either side
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.lower().split(b"\r\n")
                length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:"))
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    receiver = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = receiver.sockets[0].getsockname()[1]
    sender = WebhookSender(
        "app-key", "app-secret", time.time, 1.0, f"http://127.0.0.1:{port}/webhooks", seed=1, resolve=lambda *_: None
    )
    try:
        # and a sender that has pooled three connections to it (three pushes at once), which the receiver then
        # closes as a stopping server closes its idle keep-alive connections
        for n in range(KEPT_ALIVE):
            sender.send(SHOP, 1, {"n": n})
        await until(lambda: [entry["status_code"] for entry in sender.log] == [200] * KEPT_ALIVE, "three 200s")
        receiver.close()  # accepts nothing more: the next push is refused once it has set the closed ones aside
        for writer in writers:
            writer.close()
        await until(lambda: len(open_transports_to(port)) == KEPT_ALIVE, "three pooled connections")
        await until(lambda: all(map(has_seen_the_close, open_transports_to(port))), "the closes reach the sender")
        # when the next push starts (its delivery first sets the three closed connections aside and closes them,
        # then is refused) and the sender stops `steps` loop turns later
        sender.send(SHOP, 1, {"n": KEPT_ALIVE})
        for _ in range(steps):
            await asyncio.sleep(0)
        await sender.aclose()
        # then no connection to the receiver is left open
        assert open_transports_to(port) == []
    finally:
        receiver.close()
        for writer in writers:
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await receiver.wait_closed()
