"""A task moving faster than ten times a second reaches its subscriber at most once per `MIN_INTERVAL` (0.1 s,
gql/subscriptions.py): the states in between are coalesced, the latest one wins, and none goes out of order."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from adapters.db.tables import sync_tasks
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.moved_task import moved_task
from tests.fixtures.ws import Complete

pytestmark = subject_not_the_database("subscription coalescing")

UPDATES = 300
FOLLOW = "subscription($id: ID!) { syncTaskUpdated(taskId: $id) { id status processed } }"
# After the writer's last commit the subscriber can still send, each in a slot of its own: the state it was about
# to send, the one waiting in its latest-snapshot slot, the one of the feed's read in flight, and the final one.
AFTER_THE_LAST_COMMIT = 4


async def test_a_task_moving_faster_than_ten_times_a_second_reaches_its_subscriber_coalesced(
    app_factory: Any,
) -> None:
    from gql.subscriptions import MIN_INTERVAL

    app: ShopbridgeServer = app_factory()
    # A task the test moves itself, as the worker would (committed, then signalled); no worker ever sees it.
    async with moved_task(app) as moved:
        task = moved.task
        async with app.subscribe(FOLLOW, {"id": moved.task_id}, "m1") as op:
            first = (await op.next())["syncTaskUpdated"]
            assert (first["status"], first["processed"]) == ("RUNNING", 0)

            async def received() -> list[dict[str, Any]]:
                messages = []
                while True:
                    try:
                        messages.append((await op.next())["syncTaskUpdated"])
                    except Complete:  # after the final state
                        return messages

            reader = asyncio.create_task(received())
            # when the task moves UPDATES times as fast as the database takes it, each change committed and signalled
            # (one connection of the test's own, blocking this loop: the server runs on its own thread)
            with app._db.connect() as conn:
                started = time.monotonic()
                for n in range(1, UPDATES + 1):
                    final = {"status": "SUCCEEDED", "finished_at": datetime.now(UTC)} if n == UPDATES else {}
                    conn.execute(sa.update(sync_tasks).where(sync_tasks.c.id == task.id).values(processed=n, **final))
                    conn.commit()
                    await moved.bus.task_changed(task)  # the in-process bus: a signal, no suspension
            moving = time.monotonic() - started
            messages = await reader
    # then the latest state wins: the final one arrives last, and no state goes out after a later one
    assert (messages[-1]["status"], messages[-1]["processed"]) == ("SUCCEEDED", UPDATES), messages[-1]
    processed = [m["processed"] for m in messages]
    assert processed == sorted(processed), processed
    # and at most one message per MIN_INTERVAL while the task moved (the states between are coalesced): a slot
    # is opened by the server's clock, so the bound holds however slow the machine; it fails when the task moved
    # faster than the bound, which `UPDATES` back-to-back commits do unless a commit takes over 0.1 s on average.
    slots = int(moving / MIN_INTERVAL) + 1 + AFTER_THE_LAST_COMMIT
    assert len(messages) <= slots, (f"{len(messages)} messages in {moving:.2f} s", processed)
