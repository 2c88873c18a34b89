"""Benchmark 6's item part (issue 9): the same subscribers following one inventory item (`inventoryItemUpdated`).

    figures = await item_fanout(ItemRun(...), sizes) -> reads of the item per update, delivery p50/p95

Run by `bench/fanout_bench.py` on its app, after the task part. `bench/fanout_clients.py` (its `item` mode) opens
`subscribers` WebSockets following one item of the bench merchant (created here, with no links: nothing is pushed);
this process then commits `updates` adjustments of +1 unit, `interval` seconds apart, through the pool's service as
`inventoryAdjust` does, which signals the item on the app's event bus after its commit. Figures: the SELECTs of
`inventory_items` the API thread ran meanwhile per update (goal: 1 however many follow it,
gql/inventory/shared_reads.py; each follower's own read before, one per follower and update), and each delivery's
delay from the commit of the on-hand it carries.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.fanout_measure import FanoutSizes, percentile
from bench.harness import ROOT, log
from bench.query_bench import MERCHANT_ID
from domain.ports import UnitOfWorkFactory
from domain.services import inventory as pool
from gql.ids import to_global_id
from gql.shared_reads import FALLBACK_INTERVAL


@dataclass(frozen=True)
class ItemRun:
    """What the item part borrows from the task part's run: the served app (its services, its API thread's id, its
    WebSocket address), a token of the bench merchant, the bench's own units of work, and where its log goes."""

    services: Any  # the app's gql.container.Services (its event bus and clock are thread-safe; not its database)
    api_thread: int | None
    ws_url: str
    token: str
    uows: UnitOfWorkFactory
    log_path: Path
    kind: str


async def item_fanout(run: ItemRun, sizes: FanoutSizes) -> dict[str, Any]:
    services = run.services
    item = await pool.create_item(
        run.uows, services.queue, services.events, services.clock, MERCHANT_ID, "FANOUT-1", 0, 0
    )
    log(f"[6/{run.kind}] {sizes.subscribers} subscribers of an item connecting")
    stderr = run.log_path.open("wb")
    clients = subprocess.Popen(
        [sys.executable, "-m", "bench.fanout_clients", run.ws_url, run.token, to_global_id("InventoryItem", item.id),
         str(sizes.subscribers), "300", "item", str(sizes.updates)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
    )  # fmt: skip
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == run.api_thread and "FROM inventory_items" in statement:
            statements.append(statement)

    engine = services.db.read_engine.sync_engine
    commits: dict[int, float] = {}  # on-hand -> its commit's time
    try:
        assert clients.stdout is not None
        line = await asyncio.to_thread(clients.stdout.readline)
        if line.strip() != b"ready":
            raise RuntimeError(f"the item's subscribers did not all connect: {line!r} (see {run.log_path.name})")
        event.listen(engine, "before_cursor_execute", record)
        start = time.monotonic()
        try:
            for on_hand in range(1, sizes.updates + 1):
                # (no links: the queue is never called; the signal goes out after the commit, as the API's does)
                await pool.adjust_item(run.uows, services.queue, services.events, MERCHANT_ID, item.id, 1, "bench")
                commits[on_hand] = time.time()
                await asyncio.sleep(sizes.interval)
            output = await asyncio.to_thread(clients.stdout.read)
            clients.wait(timeout=60)
            window = time.monotonic() - start
        finally:
            event.remove(engine, "before_cursor_execute", record)
    finally:
        if clients.poll() is None:
            clients.kill()
            clients.wait()
        if clients.stdout is not None:
            clients.stdout.close()
        stderr.close()
    result = json.loads(output.decode().strip().splitlines()[-1])
    if result["completed"] != sizes.subscribers or result["errors"]:
        raise RuntimeError(f"{result['completed']} of {sizes.subscribers} item followers got the last state; errors "
                           f"{result['errors']}")  # fmt: skip
    delays = [(at - commits[on_hand]) * 1000 for _, on_hand, _, at in result["deliveries"] if on_hand in commits]
    figures = {
        "updates": sizes.updates,
        "deliveries": len(delays),
        "p50_ms": percentile(delays, 0.50),
        "p95_ms": percentile(delays, 0.95),
        "item_selects": len(statements),
        "reads_per_update": len(statements) / sizes.updates,
        # the shared fallback re-reads the window held at most (one per FALLBACK_INTERVAL), beside one per update
        "fallback_ticks": math.floor(window / FALLBACK_INTERVAL) + 1,
    }
    log(
        f"[6/{run.kind}] item: {len(delays)} deliveries, p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} "
        f"ms; {len(statements)} item reads for {sizes.updates} updates"
    )
    return figures
