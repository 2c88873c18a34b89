"""`syncTaskUpdated` fan-out over real WebSockets: the subscribers of a merchant share one read per update
(gql/feeds.py); none of them reads the database on its own."""

from __future__ import annotations

import asyncio
import threading
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.moved_task import moved_task
from tests.fixtures.waiting import until
from tests.fixtures.ws import Complete

pytestmark = subject_not_the_database("subscription fan-out")

SUBSCRIBERS = 20
TASK_UPDATED = "subscription($shopId: ID) { syncTaskUpdated(shopId: $shopId) { id kind status processed total } }"
SYNC_START = """mutation($input: SyncStartInput!) { syncStart(input: $input) { tasks { id } userErrors { code } } }"""
TASKS = "query { syncTasks(first: 5) { edges { node { id status } } } }"


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

            # Each subscription reaches the feed once the server has run it (its checks read the database first):
            # the sockets being open says nothing of that on a loaded machine (seen: no feed yet, KeyError).
            def following() -> int:
                feed = services.task_feeds.get("m1")
                return 0 if feed is None else len(feed.followers)

            await until(lambda: following() == SUBSCRIBERS, "every subscriber to follow the feed")
            feed = services.task_feeds["m1"]
            started = await app.agraphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
            assert started["syncStart"]["userErrors"] == [], started
            statements.clear()
            reads_before = feed.reads

            task_id = started["syncStart"]["tasks"][0]["id"]

            async def until_succeeded(op: Any) -> list[dict[str, Any]]:
                # The first messages are the current state (the finished import included): count this task's.
                seen: list[dict[str, Any]] = []
                while not seen or seen[-1]["status"] != "SUCCEEDED":
                    message = (await op.next())["syncTaskUpdated"]
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


ONE_TASK = "subscription($taskId: ID) { syncTaskUpdated(taskId: $taskId) { id status processed } }"
# The console's shape: `shop` resolves through a DataLoader (async), so its one execution per update is shared in
# flight.
ONE_TASK_AND_SHOP = "subscription($taskId: ID) { syncTaskUpdated(taskId: $taskId) { id status processed shop { id } } }"
FOLLOWERS = 24
UPDATES = 4


async def test_every_subscriber_of_a_task_gets_each_update_and_another_merchant_none(app_factory: Any) -> None:
    """24 sockets of one merchant follow one task, half with each of two documents (the same variables); a second
    merchant's sockets send the very same documents. Each update (committed only once every follower has the
    previous one) reaches every follower, in order and in its document's shape, from one execution per update and
    document shared by all of them (gql/shared_events.py); the other merchant's sockets receive nothing."""
    from gql.shared_events import SharingStats

    # More sockets than one merchant may open by default (SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT, 20): the cap is
    # raised so the fan-out, not the cap, is what is measured here.
    app: ShopbridgeServer = app_factory(max_websockets_per_merchant=FOLLOWERS)
    documents = [ONE_TASK if n % 2 else ONE_TASK_AND_SHOP for n in range(FOLLOWERS)]
    # A task the test moves itself, as the worker would (committed, then signalled); no worker ever sees it.
    async with moved_task(app) as moved:
        shop, task, task_id = moved.shop, moved.task, moved.task_id
        async with AsyncExitStack() as stack:
            mine = [
                await stack.enter_async_context(app.subscribe(document, {"taskId": task_id}, "m1"))
                for document in documents
            ]
            theirs = [
                await stack.enter_async_context(app.subscribe(document, {}, "m2"))
                for document in (ONE_TASK, ONE_TASK_AND_SHOP)
            ]

            def shaped(document: str, status: str, processed: int) -> dict[str, Any]:
                expected: dict[str, Any] = {"id": task_id, "status": status, "processed": processed}
                if document == ONE_TASK_AND_SHOP:
                    expected["shop"] = {"id": shop["id"]}
                return expected

            firsts = await asyncio.gather(*(op.next() for op in mine))
            assert [m["syncTaskUpdated"] for m in firsts] == [shaped(d, "RUNNING", 0) for d in documents]
            executed, shared = SharingStats.executed, SharingStats.shared
            for n in range(1, UPDATES + 2):
                if n <= UPDATES:
                    task.record_batch(1, 0, 0, [])
                else:
                    task.succeed(datetime.now(UTC))
                await moved.save()
                received = await asyncio.gather(*(op.next() for op in mine))
                assert [m["syncTaskUpdated"] for m in received] == [
                    shaped(d, task.status.value, task.processed) for d in documents
                ]
            assert (task.status.value, task.processed) == ("SUCCEEDED", UPDATES)
            for op in mine:  # each subscription completes after the final state, with nothing more
                with pytest.raises(Complete):
                    await op.next()
            # One execution per update and document (a read that supersedes another while a follower is behind
            # may add one), every other delivery answered from it.
            deliveries = FOLLOWERS * (UPDATES + 1)
            assert SharingStats.executed - executed <= 2 * 2 * (UPDATES + 1), SharingStats.executed - executed
            assert (SharingStats.executed - executed) + (SharingStats.shared - shared) >= deliveries
            for op in theirs:  # m2 has no task: the same documents never yield m1's
                with pytest.raises(TimeoutError):
                    await op.next(timeout=1)
