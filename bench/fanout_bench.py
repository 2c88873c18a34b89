"""Benchmark 6 (issue 9): 1,000 WebSocket subscribers to one running task's `syncTaskUpdated`, then as many to one
inventory item's `inventoryItemUpdated` (`bench/fanout_items.py`: its reads per update, figures under "item").

    await fanout(harness, "sqlite", FanoutSizes()) -> dict of figures (delivery p50/p95, reads per update)

Shopbridge (`gql.app.create_app`, one process: the API with its embedded worker pool) is served by uvicorn in a
thread of this process, on a database holding one shop; `bench/fanout_clients.py` in a child process opens
`subscribers` WebSockets (graphql-transport-ws), each following the task by id. This process plays the worker: it
commits `updates` progress updates of the RUNNING task (`processed` += 1 each, `interval` seconds apart, through
the sync task repository as the importer does), then SUCCEEDED, stamping each commit's wall-clock time and
publishing the change signal on the app's event bus, as the worker does after its commit. A delivery's delay
runs from the commit of the state it carries to its arrival at a subscriber (states a subscriber skipped by
coalescing are not counted; its later message carries the newer state). Figures: p50/p95 of every delivery
(goal p95 <= 250 ms), the SELECTs of `sync_tasks` the API ran meanwhile per update (goal: 1, whatever the number
of subscribers), and the check that every subscriber received the final state and completed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import uvicorn
from sqlalchemy import event

from adapters.config import load_settings
from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from bench.fanout_floor import fanout_floor
from bench.fanout_items import ItemRun, item_fanout
from bench.fanout_measure import FanoutSizes, GcWatch, delay_figures, thread_cpu_seconds
from bench.harness import ROOT, SECRET_KEY, Harness, free_port, log
from bench.query_bench import MERCHANT_ID, seed
from domain.sync import SyncKind, SyncTask, SyncTrigger
from gql.auth import issue_token
from gql.ids import to_global_id
from gql.serving import protocol_options
from tests.fixtures.served import ThreadedServer

GOAL_P95_MS = 250.0


def _served(asgi_app: Any, port: int, max_message_bytes: int) -> ThreadedServer:
    """The test suite's server thread, with the WebSocket options `shopbridge serve` uses (no per-message deflate)."""
    config = uvicorn.Config(
        asgi_app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2,
        **protocol_options(max_message_bytes),
    )  # fmt: skip
    return ThreadedServer(config, name="shopbridge-server")


async def fanout(harness: Harness, kind: str, sizes: FanoutSizes) -> dict[str, Any]:
    url = harness.fresh_database(kind)
    shop_id = await seed(url, 0, harness.encryption_key)
    env = harness.env(url, "http://127.0.0.1:9")  # TikTok is never called:
    env["SHOPBRIDGE_SCHEDULER"] = "off"  # no polls of the shop (the worker pool stays idle)
    env["SHOPBRIDGE_WEBHOOKS_APP_WIDE"] = "true"  # and no per-shop webhook registration at start-up
    # One merchant's subscribers: the per-merchant cap on open WebSockets (20 by default, a guard against one
    # client's leak) would refuse all but the first 20; twice as many, for the item part's sockets open while the
    # server may still be closing the task part's.
    env["SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT"] = str(2 * sizes.subscribers)
    from gql.app import create_app

    settings = load_settings(env)
    app = create_app(settings)
    served = _served(app, free_port(), settings.max_request_bytes)
    base = served.start()
    db = Database(url)
    clients: subprocess.Popen[bytes] | None = None
    stderr = (harness.directory / f"fanout-{kind}.log").open("wb")
    try:
        services = app.state.services
        uows = uow_factory(db, TokenCipher(harness.encryption_key))
        # Created after the app started (its start-up re-enqueues QUEUED tasks left by a crash; this one is ours).
        task = SyncTask.queue(shop_id, MERCHANT_ID, SyncKind.PRODUCTS, SyncTrigger.MANUAL, datetime.now(UTC))
        task.begin_attempt(datetime.now(UTC))
        async with uows() as uow:
            await uow.sync_tasks.add(task)
            await uow.commit()
        token = issue_token(SECRET_KEY, MERCHANT_ID, 3600)
        log(f"[6/{kind}] {sizes.subscribers} subscribers connecting")
        clients = subprocess.Popen(
            [sys.executable, "-m", "bench.fanout_clients", base.replace("http", "ws") + "/graphql", token,
             to_global_id("SyncTask", task.id), str(sizes.subscribers), "300"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        assert clients.stdout is not None
        line = await asyncio.to_thread(clients.stdout.readline)
        if line.strip() != b"ready":
            raise RuntimeError(f"the subscribers did not all connect: {line!r} (see fanout-{kind}.log)")
        feed = services.task_feeds[MERCHANT_ID]
        api_thread = served.thread.ident
        statements: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if threading.get_ident() == api_thread and statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        engine = services.db.read_engine.sync_engine
        reads_before = feed.reads
        api_native = served.thread.native_id
        assert api_native is not None
        api_cpu = thread_cpu_seconds(api_native)
        collections = GcWatch()
        gc.callbacks.append(collections)
        commits: dict[tuple[int, str], float] = {}  # (processed, status) -> commit time
        log(f"[6/{kind}] all subscribed; {sizes.updates} updates {sizes.interval}s apart")
        event.listen(engine, "before_cursor_execute", record)
        try:
            for n in range(1, sizes.updates + 2):
                if n <= sizes.updates:
                    task.record_batch(1, 0, 0, [])
                else:
                    task.succeed(datetime.now(UTC))
                async with uows() as uow:
                    assert await uow.sync_tasks.update(task)
                    await uow.commit()
                commits[(task.processed, task.status.value)] = time.time()
                await services.events.task_changed(task)
                await asyncio.sleep(sizes.interval)
            output = await asyncio.to_thread(clients.stdout.read)
            clients.wait(timeout=60)
            api_cpu = thread_cpu_seconds(api_native) - api_cpu
        finally:
            gc.callbacks.remove(collections)
            event.remove(engine, "before_cursor_execute", record)
        reads = feed.reads - reads_before
        # The item part (bench/fanout_items.py): the same subscriber count following one inventory item.
        items_log = harness.directory / f"fanout-items-{kind}.log"
        item_run = ItemRun(services, api_thread, base.replace("http", "ws") + "/graphql", token, uows, items_log, kind)
        item_figures = await item_fanout(item_run, sizes)
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
            clients.wait()
        if clients is not None and clients.stdout is not None:
            clients.stdout.close()
        stderr.close()
        await db.dispose()
        served.stop()
        harness.drop_database(url)
    result = json.loads(output.decode().strip().splitlines()[-1])
    if result["completed"] != sizes.subscribers or result["errors"]:
        raise RuntimeError(f"{result['completed']} of {sizes.subscribers} completed; errors {result['errors']}")
    figures = delay_figures(result, commits, sizes, api_cpu, collections)
    task_reads = [s for s in statements if "FROM sync_tasks" in s]
    figures |= {
        "task_selects": len(task_reads),
        "feed_reads": reads,
        "reads_per_update": len(task_reads) / figures["updates"],
        "all_selects": len(statements),
    }
    # The floor (bench/fanout_floor.py): the same sockets, document and updates through uvicorn, Starlette and a
    # minimal Strawberry schema, no database and no code of ours, right after ours in the same process.
    floor = await fanout_floor(sizes, harness.directory / f"fanout-floor-{kind}.log")
    figures["floor"] = floor
    figures["floor_cpu_ms_per_delivery"] = floor["api_cpu_ms_per_delivery"]
    figures["floor_p95_ms"] = floor["p95_ms"]
    figures["cpu_over_floor"] = figures["api_cpu_ms_per_delivery"] / floor["api_cpu_ms_per_delivery"]
    figures["item"] = item_figures
    item_reads_met = item_figures["item_selects"] <= item_figures["updates"] + item_figures["fallback_ticks"]
    figures["goals"] = {
        "p95_ms": {"goal": f"<= {GOAL_P95_MS}", "met": figures["p95_ms"] <= GOAL_P95_MS},
        "reads_per_update": {"goal": "1 (<= 1 + fallback re-reads)", "met": len(task_reads) <= reads},
        "item_reads_per_update": {"goal": "1 (<= 1 + fallback re-reads)", "met": item_reads_met},
    }
    log(
        f"[6/{kind}] {figures['deliveries']} deliveries: p50 {figures['p50_ms']:.1f} ms, "
        f"p95 {figures['p95_ms']:.1f} ms, max {figures['max_ms']:.1f} ms; "
        f"API thread CPU {figures['api_cpu_ms_per_delivery']:.3f} ms per delivery; "
        f"GC {collections.collections} in {sum(collections.cpu_s):.2f} s CPU; "
        f"{len(task_reads)} task reads for {figures['updates']} updates ({reads} feed reads); "
        f"floor: {figures['floor_cpu_ms_per_delivery']:.3f} ms per delivery, p95 {figures['floor_p95_ms']:.1f} ms; "
        f"item: {item_figures['item_selects']} reads for {item_figures['updates']} updates, "
        f"p95 {item_figures['p95_ms']:.1f} ms"
    )
    return figures
