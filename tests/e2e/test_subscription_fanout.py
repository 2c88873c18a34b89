"""`syncTaskUpdated` fan-out over real WebSockets: the subscribers of a merchant share one read per update
(gql/feeds.py); none of them reads the database on its own."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import AsyncExitStack
from typing import Any

from sqlalchemy import event

from tests.fixtures.app import ShopbridgeServer

SUBSCRIBERS = 20
TASK_UPDATED = "subscription($shopId: ID) { syncTaskUpdated(shopId: $shopId) { id kind status processed total } }"
SYNC_START = """mutation($input: SyncStartInput!) { syncStart(input: $input) { tasks { id } userErrors { code } } }"""
TASKS = "query { syncTasks(first: 5) { edges { node { id status } } } }"


async def _until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_subscribers_share_one_read_per_update(app_factory: Any) -> None:
    app: ShopbridgeServer = app_factory(orders=400, latency_ms=20)
    shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
    await asyncio.to_thread(app.wait_for_idle_sync)
    services = app.asgi.state.services
    engine = services.db.read_engine.sync_engine
    statements: list[tuple[int, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append((threading.get_ident(), statement))

    event.listen(engine, "before_cursor_execute", record)
    try:
        await app.agraphql(TASKS, {}, "m1")  # the API's own reads: which thread serves GraphQL
        api_threads = {ident for ident, statement in statements if "FROM sync_tasks" in statement}
        assert len(api_threads) == 1, statements
        async with AsyncExitStack() as stack:
            ops = [
                await stack.enter_async_context(app.subscribe(TASK_UPDATED, {"shopId": shop["id"]}, "m1"))
                for _ in range(SUBSCRIBERS)
            ]
            feed = services.task_feeds["m1"]
            await _until(lambda: len(feed.followers) == SUBSCRIBERS, "every subscriber to follow the feed")
            started = await app.agraphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
            assert started["syncStart"]["userErrors"] == [], started
            statements.clear()
            reads_before = feed.reads

            task_id = started["syncStart"]["tasks"][0]["id"]

            async def until_succeeded(op: Any) -> list[dict[str, Any]]:
                # The first messages are the current state (the finished import included): count this task's.
                seen: list[dict[str, Any]] = []
                while not seen or seen[-1]["status"] != "SUCCEEDED":
                    message = (await op.next(timeout=60))["syncTaskUpdated"]
                    if message["id"] == task_id:
                        seen.append(message)
                return seen

            received = await asyncio.gather(*(until_succeeded(op) for op in ops))
            reads = feed.reads - reads_before
    finally:
        event.remove(engine, "before_cursor_execute", record)
    task_reads = [s for ident, s in statements if ident in api_threads and "FROM sync_tasks" in s]
    updates = min(len(messages) for messages in received)
    assert updates >= 2, received  # RUNNING ... SUCCEEDED at least
    # Every read of sync_tasks by the API was one of the feed's (+1: a read may straddle the start of counting),
    # so the reads per update do not depend on the number of subscribers.
    assert 1 <= reads and len(task_reads) <= reads + 1, (reads, len(task_reads))
    assert len(task_reads) < SUBSCRIBERS * updates / 2, (len(task_reads), updates)
