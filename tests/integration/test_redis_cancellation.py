"""A cancellation that reaches a Redis call is never lost (real Redis; Python 3.11, redis-py 8).

redis-py sends each command through `asyncio.wait_for(..., socket_timeout)`, which on Python 3.11 returns normally
when a cancel lands once the command was sent (CPython gh-86296). The import's writer publishes a sync task signal
after each batch: a worker's shutdown that cancelled it there was lost, the writer waited for a page for ever, the run
was never handed back and the worker was killed after its 30 s drain (`adapters.cancellation`).

The cancel is landed in that window by a condition, not a delay: the publishing task is suspended inside
`asyncio.wait_for` and the send it waits for has completed. A Python or redis-py that no longer has the window never
shows that state; the test then says so (skip) rather than pass for nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.events import RedisEventBus
from domain.sync import SyncKind, SyncTask, SyncTrigger
from tests.fixtures.redis_server import RedisServer


def _in_a_finished_send(task: asyncio.Task[None]) -> bool:
    """The task waits in `asyncio.wait_for` for an operation that has completed: the window a cancel is lost in."""
    awaited = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None)
        if frame is not None and frame.f_code.co_name == "wait_for":
            inner = frame.f_locals.get("fut")
            return isinstance(inner, asyncio.Future) and inner.done()
        awaited = getattr(awaited, "cr_await", None)
    return False


async def test_a_signal_published_while_the_task_is_cancelled_ends_it_cancelled(redis_server: RedisServer) -> None:
    bus = RedisEventBus(redis_server.url)
    task = SyncTask.queue("s" * 32, "m1", SyncKind.ORDERS, SyncTrigger.AUTHORIZATION, datetime(2026, 12, 4, tzinfo=UTC))
    try:
        await bus.task_changed(task)  # the client connected: the next publish only sends and reads
        # given a writer publishing its batch's signal, suspended once Redis has the command
        publishing = asyncio.create_task(bus.task_changed(task))
        while not publishing.done() and not _in_a_finished_send(publishing):
            await asyncio.sleep(0)  # a turn of the loop, no time: the publish moves one step at a time
        if publishing.done():
            pytest.skip("this Python or redis-py never waits in asyncio.wait_for after the send: no cancel to lose")
        # when the worker's shutdown cancels it there
        publishing.cancel()
        # then the publish ends cancelled (it returned normally: the writer went on to wait for a page for ever)
        with pytest.raises(asyncio.CancelledError):
            await publishing
    finally:
        await bus.aclose()
