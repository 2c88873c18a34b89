"""Pub/sub is at-most-once: a subscription re-reads the database every 1.5 s (gql/subscriptions.py,
FALLBACK_INTERVAL), so a change whose signal was lost still reaches the subscriber."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa

from adapters.db.tables import sync_tasks
from gql.ids import to_global_id
from tests.fixtures.app import ShopbridgeServer

REREAD_DEADLINE = 20  # seconds: FALLBACK_INTERVAL is 1.5 s
FOLLOW = "subscription($id: ID!) { syncTaskUpdated(taskId: $id) { id status total } }"


async def test_a_change_made_without_any_signal_still_reaches_the_subscriber(app: ShopbridgeServer) -> None:
    # given an idle shop (scheduler off: nothing else signals) and a QUEUED task of it whose message is not sent
    shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
    await asyncio.to_thread(app.wait_for_idle_sync)
    task_id = uuid.uuid4().hex
    with app._db.begin() as conn:
        done = conn.execute(sa.select(sync_tasks).where(sync_tasks.c.kind == "PRODUCTS")).mappings().one()
        queued = {**done, "id": task_id, "status": "QUEUED", "total": None, "finished_at": None, "started_at": None}
        conn.execute(sa.insert(sync_tasks).values(queued))
    async with app.subscribe(FOLLOW, {"id": to_global_id("SyncTask", task_id)}, "m1") as op:
        first = (await op.next())["syncTaskUpdated"]
        assert (first["status"], first["total"]) == ("QUEUED", None)
        # when the row changes behind Shopbridge's back: no process publishes a signal for it
        with app._db.begin() as conn:
            conn.execute(sa.update(sync_tasks).where(sync_tasks.c.id == task_id).values(total=4242))
        # then the periodic re-read finds it: a deadline of many re-read periods on a loaded machine (not a measured
        # time), yet far below what a subscription re-reading only once a minute would take
        second = (await op.next(timeout=REREAD_DEADLINE))["syncTaskUpdated"]
    assert (second["status"], second["total"]) == ("QUEUED", 4242) and shop["id"]
