"""A TikTok response is freed as soon as the transport is done with it, not at the garbage collector's next run.

httpx binds a response and its stream to each other (a reference cycle); `sent_whole` drops the spent stream. A
worker collects its youngest generation only every 10,000 new objects (`workers.resources.tune_collector`): with
the cycle, every page's body (~160 KB) waited that long, and the import's peak memory grew with it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import httpx
import pytest

from adapters.tiktok.transport import sent_whole

BODY = b'{"code":0,"data":{}}' * 100


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Only reference counting frees anything meanwhile: what a cycle holds stays."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_a_response_read_through_the_transport_goes_with_its_last_reference(no_collector: None) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=BODY))) as http:
        response = await sent_whole(http.get("https://open-api.tiktokglobalshop.test/order"), 10.0)
        assert response.content == BODY  # read whole, as the transport reads it
        freed = weakref.ref(response)
        del response
        await asyncio.sleep(0)  # the loop's turn: `asyncio.shield`'s own callbacks let go of the result
        assert freed() is None
