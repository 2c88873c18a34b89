"""Which stage of benchmark 2's import waits on which: `python -m bench.writer_waits postgres|sqlite [--scale 1.0]
[--batch-records N]` (not part of `make bench`; bench/README.md, "Benchmark 2 on PostgreSQL, stop 62").

Benchmark 2's engine side alone, as `bench.import_bench.budget` runs it (a warm sandbox at 100 ms latency and 50
requests/s, a fresh database, `bench.sync_run.SyncWorker`, production settings; 50,000 orders at `--scale 1.0`), with
the event loop instrumented to split each of the writer's transactions (`importer._store_once`: one batch, its
counters and checkpoint, the commit) into:

- the writer's own Python: the CPU (`time.thread_time`, so a loaded machine's preemption does not count) of the
  steps of the writer's task and of the tasks it starts (each statement runs in one: `sessions.run_to_completion`),
  inside the transaction: our code, SQLAlchemy's and the driver's client side;
- the other tasks' Python meanwhile (the sixteen sources fetching and decoding pages): work overlapped with the
  writer's waits, unless it delays the writer;
- the loop idle in `select` meanwhile (nothing to run: the writer waits for the database, the sources for the
  sandbox or for room in the queue);
- the writer's ready wait: the other tasks' CPU between the `select` that returned the writer's answer and the
  writer's step (what a source's decoding made the writer wait), summed over its steps;
- the database calls' walls, per statement (SQLAlchemy's cursor events and asyncpg's COPY): the server's time plus
  the round trip, plus, on a loaded machine, any time the worker or the server sat descheduled.

To time the steps, the loop's tasks are the standard library's pure-Python `asyncio.Task` (`asyncio.tasks._PyTask`),
slower than the C one: read the figures as shares and CPU seconds, not as a rate for the table. `--batch-records`
overrides `SyncOptions.batch_records` (the records per transaction) for an experiment; nothing else is changed.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.tasks
import collections
import os
import selectors
import statistics
import time
import weakref
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.harness import CpuMeter, Harness, log
from bench.import_bench import ALL_ORDERS_WINDOW, Sizes
from bench.sync_run import SyncWorker
from domain.services import importer
from domain.sync import SyncKind

_FIGURES = ("writer_cpu", "others_cpu", "idle", "db", "db_calls", "ready_wait", "writer_steps")
_SECONDS = ("wall", "writer_cpu", "others_cpu", "idle", "db", "ready_wait")
_now: dict[str, Any] = {"in_writer": False, "select_end": 0.0, "others_since_select": 0.0}
_whole: collections.Counter[str] = collections.Counter()  # the whole run's figures
_statements: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])  # statement -> calls, wall s
_batches: list[dict[str, float]] = []  # one per transaction: records, wall and `_FIGURES`
_batch: collections.Counter[str] = collections.Counter()  # the transaction under way
_writer_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # the writer and the tasks it started


def _instrument(batch_records: int | None) -> None:
    """Wrap the loop's task steps and `select`, the database calls and the writer's transaction (see the module)."""
    step = asyncio.tasks._PyTask._Task__step  # type: ignore[attr-defined]

    def timed_step(task: Any, exc: BaseException | None = None) -> None:
        writer = task in _writer_tasks
        if writer and _now["in_writer"]:  # (a step of the writer's, as the loop runs it: its answer is in)
            _batch["ready_wait"] += _now["others_since_select"]
            _batch["writer_steps"] += 1
        started = time.thread_time()
        try:
            step(task, exc)
        finally:
            cpu = time.thread_time() - started
            _whole["writer_cpu" if writer else "others_cpu"] += cpu
            if not writer:
                _now["others_since_select"] += cpu
            if _now["in_writer"]:
                _batch["writer_cpu" if writer else "others_cpu"] += cpu

    asyncio.tasks._PyTask._Task__step = timed_step  # type: ignore[attr-defined]
    select = selectors.EpollSelector.select

    def timed_select(selector: Any, timeout: float | None = None) -> Any:
        started = time.perf_counter()
        try:
            return select(selector, timeout)
        finally:
            _now["select_end"] = time.perf_counter()
            _now["others_since_select"] = 0.0
            _whole["idle"] += _now["select_end"] - started
            if _now["in_writer"]:
                _batch["idle"] += _now["select_end"] - started

    selectors.EpollSelector.select = timed_select  # type: ignore[method-assign]

    def count(statement: str, seconds: float) -> None:
        if _now["in_writer"]:
            _batch["db"] += seconds
            _batch["db_calls"] += 1
            figures = _statements[" ".join(statement.split())[:72]]
            figures[0] += 1
            figures[1] += seconds

    @event.listens_for(Engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info["writer_waits_started"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        count(statement, time.perf_counter() - conn.info.pop("writer_waits_started", time.perf_counter()))

    copy = asyncpg.Connection.copy_records_to_table

    async def timed_copy(connection: Any, table_name: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await copy(connection, table_name, **kwargs)
        finally:
            count(f"COPY {table_name}", time.perf_counter() - started)

    asyncpg.Connection.copy_records_to_table = timed_copy  # type: ignore[method-assign]
    store_once = importer._store_once

    async def timed_store_once(run: Any, upsert: Any, chunks: list[Any]) -> None:
        _batch.clear()
        _now["in_writer"] = True
        started = time.perf_counter()
        try:
            await store_once(run, upsert, chunks)
        finally:
            _now["in_writer"] = False
            records = sum(len(chunk.items) for chunk in chunks)
            _batches.append({"records": records, "wall": time.perf_counter() - started, **_batch})

    importer._store_once = timed_store_once  # type: ignore[assignment]
    run_pipeline = importer.run_pipeline

    async def pipeline(*args: Any, **kwargs: Any) -> Any:
        if batch_records is not None:
            kwargs["batch_records"] = batch_records
        return await run_pipeline(*args, **kwargs)

    importer.run_pipeline = pipeline  # type: ignore[assignment]


def _task(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    """The loop's task factory: a pure-Python task, counted as the writer's when it is the writer
    (`pipeline._consume`) or was created by one of the writer's tasks (each statement runs in a task of its own:
    `sessions.run_to_completion`)."""
    task: asyncio.Task[Any] = asyncio.tasks._PyTask(coro, loop=loop, **kwargs)  # type: ignore[attr-defined]
    if getattr(coro, "__qualname__", "") == "_consume" or asyncio.current_task(loop) in _writer_tasks:
        _writer_tasks.add(task)
    return task


async def _run(kind: str, scale: float) -> None:
    asyncio.get_running_loop().set_task_factory(_task)
    sizes = Sizes().scaled(scale)
    with Harness() as harness:
        sandbox = harness.sandbox(sizes.products, sizes.budget_orders)
        sandbox.configure(latency_ms=0, rate_limit=None)
        sandbox.warm()
        sandbox.warm_orders()  # as `budget` does: every order rendered before the run
        url = harness.fresh_database(kind)
        settings = harness.settings(url, sandbox.url, rate_limit=sizes.budget_rate)
        async with SyncWorker(settings) as worker:
            shop = await worker.connect(sandbox)
            sandbox.configure(latency_ms=sizes.budget_latency_ms, rate_limit=sizes.budget_rate)
            meter = CpuMeter(sandbox, harness.postgres() if kind == "postgres" else None)
            log(f"ORDERS ({sizes.budget_orders} orders), load {os.getloadavg()[0]:.1f}")
            _whole.clear()
            started = time.perf_counter()
            run = await worker.run(shop, SyncKind.ORDERS, since=datetime.now(UTC) - ALL_ORDERS_WINDOW)
            wall = time.perf_counter() - started
            cpu = meter.read()
        outcomes = next(v for k, v in sandbox.counters()["by_path"].items() if k.endswith("/orders/search"))
    _report(run.task.status, run.task.created, run.seconds, wall, outcomes.get("ok", 0), cpu)


def _report(status: str, created: int, seconds: float, wall: float, ok: int, cpu: dict[str, float]) -> None:
    batches = _batches
    total = {key: sum(batch.get(key, 0.0) for batch in batches) for key in ("records", "wall", *_FIGURES)}
    print(f"task {status}, {created} orders created in {seconds:.2f} s: {ok / seconds:.1f} ok requests/s; CPU s {cpu}")
    print(f"load average now {os.getloadavg()[0]:.1f}")
    print(
        f"the whole run, {wall:.2f} s: the writer's Python {_whole['writer_cpu']:.2f} s CPU, the other tasks' "
        f"{_whole['others_cpu']:.2f} s CPU, the loop idle in select {_whole['idle']:.2f} s"
    )
    print(
        f"{len(batches)} transactions of {total['records'] / max(1, len(batches)):.0f} records (median "
        f"{1000 * statistics.median(b['wall'] for b in batches):.0f} ms), {wall - total['wall']:.2f} s outside them"
    )
    print("inside them, s: " + ", ".join(f"{key} {value:.2f}" for key, value in total.items() if key in _SECONDS))
    calls, steps = int(total["db_calls"]), int(total["writer_steps"])
    print(f"inside them, counts: database calls {calls}, the writer's steps {steps}")
    for statement, (calls, seconds) in sorted(_statements.items(), key=lambda item: -item[1][1]):
        print(f"  {seconds:7.2f} s {int(calls):5d} calls  {statement}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", choices=("postgres", "sqlite"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--batch-records", type=int, default=None, help="override SyncOptions.batch_records")
    args = parser.parse_args()
    _instrument(args.batch_records)
    asyncio.run(_run(args.db, args.scale))


if __name__ == "__main__":
    main()
