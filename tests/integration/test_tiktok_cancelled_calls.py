"""A TikTok call cancelled mid-flight ends its request at once and leaves no connection open once the client is
closed (issue 13).

The worker's shutdown cancels the running imports, then closes its HTTP client. httpcore cannot be cancelled safely:
asyncio's `Task.cancel()` passes through its anyio shields, so a cancel landing while the pool closes expired
keep-alive connections (one `await` each) dropped the rest from the pool unclosed, and `aclose()` missed them: under
load, 11 sockets of the worker's pool outlived its event loop. `adapters.tiktok.transport.sent_whole` keeps the
request out of the caller's cancellation, and ends it through an anyio cancel scope, whose cancellation httpcore's
clean-up withstands. Real HTTP to the sandbox; the cancel is placed at every step of the close, and mid-answer.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import pytest

from adapters.tiktok import AuthCodeRejectedError, TikTokClient
from adapters.tls import tls_context
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.test_tiktok_client import ORDER_SEARCH, connect, counters, settings_for

KEEPALIVE_SECONDS = 0.1  # short, so that the idle connections have expired when the cancelled call starts
CONNECTIONS = 8


def open_transports_to(port: int) -> list[asyncio.Transport]:
    """The client-side asyncio transports to `port` that nobody closed (the sandbox's own have it as local port)."""
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.Transport) and not obj.is_closing():
            peer = obj.get_extra_info("peername")
            if peer is not None and peer[1] == port:
                found.append(obj)
    return found


async def fill_the_pool(client: TikTokClient, http: httpx.AsyncClient) -> int:
    """`CONNECTIONS` concurrent calls, so the pool keeps several idle connections; returns how many it keeps."""
    results = await asyncio.gather(*(client.exchange_code(f"unknown-{i}") for i in range(CONNECTIONS)),
                                   return_exceptions=True)  # fmt: skip
    assert all(isinstance(result, AuthCodeRejectedError) for result in results), results
    return len(http._transport._pool.connections)  # type: ignore[attr-defined]


@pytest.mark.parametrize("steps", range(CONNECTIONS + 2))
async def test_a_call_cancelled_while_expired_connections_close_leaves_none_open(sandbox: Any, steps: int) -> None:
    port = httpx.URL(sandbox.url).port
    assert port is not None
    http = httpx.AsyncClient(
        verify=tls_context(), limits=httpx.Limits(max_connections=100, keepalive_expiry=KEEPALIVE_SECONDS)
    )
    client = TikTokClient(settings_for(sandbox), http)
    before = set(asyncio.all_tasks())
    try:
        pooled = await fill_the_pool(client, http)
        assert pooled >= 2, pooled  # concurrent calls: more than one connection to close
        await asyncio.sleep(KEEPALIVE_SECONDS * 2)  # every idle connection expires (httpcore reads the monotonic clock)
        # when a call that finds them expired is cancelled `steps` turns of the loop later
        call = asyncio.create_task(client.exchange_code("unknown"))
        for _ in range(steps):
            await asyncio.sleep(0)
        call.cancel()
        with pytest.raises((asyncio.CancelledError, AuthCodeRejectedError)):
            await call
        # and, as the worker's shutdown does, every task left running ends before the client closes
        while rest := [task for task in asyncio.all_tasks() - before if task is not asyncio.current_task()]:
            await asyncio.wait(rest)
    finally:
        await http.aclose()
    for _ in range(3):
        await asyncio.sleep(0)  # a closed transport releases its socket on the next turn of the loop
    # then no connection of the client is left open
    assert open_transports_to(port) == []


async def test_a_call_cancelled_while_its_answer_trickles_in_ends_its_request_at_once(sandbox: Any) -> None:
    # given a client that waits for answers as long as the test may take, and a search whose answer trickles in for
    # a minute (a space every 50 ms: no read waits long)
    port = httpx.URL(sandbox.url).port
    http = httpx.AsyncClient(verify=tls_context())
    client = TikTokClient(settings_for(sandbox, timeout_seconds=DEADLINE_SECONDS), http)
    before = set(asyncio.all_tasks())
    try:
        shop = await connect(sandbox, client, "us-local")
        trickle = {"rate": 1.0, "kinds": ["trickle"], "slow_seconds": 60, "paths": [ORDER_SEARCH]}
        sandbox.control("POST", "/faults", trickle)
        call = asyncio.create_task(
            shop.session.search_orders(page_size=5, page_token=None, create_time_ge=0, create_time_lt=1)
        )
        await until(lambda: counters(sandbox, ORDER_SEARCH), "the search to reach TikTok")  # its answer trickles
        # when the call is cancelled (a shutdown, a time limit)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # then its request ends within a moment too, not when the trickle or its deadline ends (the shutdown's drain
        # waited for it: up to its 30 s, then an ERROR)
        left = [task for task in asyncio.all_tasks() - before if task is not asyncio.current_task()]
        _, running = await asyncio.wait(left, timeout=2.0)
        assert not running, running
    finally:
        await http.aclose()
    for _ in range(3):
        await asyncio.sleep(0)
    # and it left no connection open
    assert open_transports_to(port) == []
