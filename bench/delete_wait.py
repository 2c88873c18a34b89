"""A shop's delete sent mid-import: how long it waits for the import's batch in flight, at each records-per-
transaction size. `python -m bench.delete_wait [--db postgres|sqlite] [--sizes 500,2000] [--tries 4] [--orders 15000]
[--after 4000]` (not part of `make bench`; bench/README.md, "Records per transaction by database, stop 69", and
stop 70's section for SQLite).

Each try: a fresh database, a shop connected, its orders import (every order of the sandbox) run by the engine as a
worker runs it (`bench.sync_run.SyncWorker`: production settings, but the size tried) against a warm, unpaced sandbox
(the writer is the bottleneck: every batch is full), and once `--after` records are stored plus a random fraction of
a second (so the delete lands anywhere in a batch), `delete_shop` as `shopDelete` calls it. Timed, per try: the
delete's wait for the shop (PostgreSQL: its mark, `pg_advisory_xact_lock`, which waits for the batch holding the
mark shared, then the shop's row `FOR UPDATE`: `adapters.db.shop_deletes`; SQLite: from the call to the delete's
first statement, which waits for this process's write turn, i.e. the import's transaction under way:
`adapters.db.write_turns`), the delete's wall time whole, and the import's transactions (from the batch's first
statement to its commit: what a delete can wait for at most; on SQLite the transactions that insert orders). Sizes
alternate try by try; the figures are printed per size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import random
import statistics
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from adapters.db.shop_deletes import delete_mark_key
from bench.harness import Harness, log
from bench.import_bench import UNPACED
from bench.sync_run import SyncWorker
from domain.services import importer
from domain.services.shops import delete_shop
from domain.sync import SyncKind, SyncTask, SyncTrigger

T = TypeVar("T")


# True in the delete's task and the tasks it starts (`run_to_completion`'s), whose context they copy, and in the
# greenlets SQLAlchemy runs their statements in (which take their task's context): how SQLite's probe tells the
# delete's first statement from the import's
_DELETING: contextvars.ContextVar[bool] = contextvars.ContextVar("deleting", default=False)


async def _deleting(call: Awaitable[T]) -> T:
    _DELETING.set(True)  # (this task's own context: the caller's stays False)
    return await call


class _Timings:
    """Statement and transaction walls from SQLAlchemy's events, for one shop's delete and its import."""

    def __init__(self, mark_key: int, kind: str) -> None:
        self.mark_key = mark_key
        self.kind = kind
        self.delete_sent = 0.0  # SQLite: when the delete was called (perf_counter)
        self._writes_orders: set[Any] = set()  # SQLite: connections whose transaction under way inserted orders
        self.delete_wait = 0.0  # seconds the delete's waiting statements took
        self.batches: list[float] = []  # seconds of each import transaction, first statement to commit
        self._started: dict[Any, float] = {}  # connection -> its statement's start
        self._batch_started: dict[Any, float] = {}  # connection -> its import transaction's first statement

    def _waits(self, statement: str, parameters: Any) -> bool:
        text = statement.lstrip()
        if text.startswith("SELECT pg_advisory_xact_lock("):  # the delete's mark (not the writers' turns)
            return isinstance(parameters, (tuple, list)) and self.mark_key in parameters
        return text.startswith("SELECT shops.") and text.rstrip().endswith("FOR UPDATE")  # the delete's row

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        now = time.perf_counter()
        if self.kind == "sqlite":
            self._before_sqlite(conn, statement, now)
            return
        if self._waits(statement, parameters):
            self._started[conn] = now
        if "pg_try_advisory_xact_lock_shared" in statement and "FOR KEY SHARE" in statement:  # a batch's first
            self._batch_started[conn] = now

    def _before_sqlite(self, conn: Any, statement: str, now: float) -> None:
        if self.delete_wait == 0.0 and _DELETING.get():
            self.delete_wait = now - self.delete_sent  # its first statement: the write turn is the delete's
        self._batch_started.setdefault(conn, now)  # a transaction's first statement (BEGIN IMMEDIATE included)
        if statement.lstrip().startswith("INSERT INTO orders"):
            self._writes_orders.add(conn)

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if (started := self._started.pop(conn, None)) is not None:
            self.delete_wait += time.perf_counter() - started

    def ended(self, conn: Any) -> None:
        started = self._batch_started.pop(conn, None)
        if self.kind == "sqlite" and conn not in self._writes_orders:
            return  # not an import batch (the progress polls, the delete)
        self._writes_orders.discard(conn)
        if started is not None:
            self.batches.append(time.perf_counter() - started)

    def __enter__(self) -> _Timings:
        event.listen(Engine, "before_cursor_execute", self.before)
        event.listen(Engine, "after_cursor_execute", self.after)
        event.listen(Engine, "commit", self.ended)
        event.listen(Engine, "rollback", self.ended)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self.before)
        event.remove(Engine, "after_cursor_execute", self.after)
        event.remove(Engine, "commit", self.ended)
        event.remove(Engine, "rollback", self.ended)


async def _try(harness: Harness, sandbox: Any, kind: str, size: int, after: int) -> dict[str, Any]:
    url = harness.fresh_database(kind)
    try:
        async with SyncWorker(harness.settings(url, sandbox.url, rate_limit=UNPACED), batch_records=size) as worker:
            shop = await worker.connect(sandbox)
            deps = worker.deps
            since = deps.clock.now() - timedelta(days=46)  # every order of the sandbox (spread over 45 days)
            task = SyncTask.queue(shop.id, shop.merchant_id, SyncKind.ORDERS, SyncTrigger.MANUAL, deps.clock.now(),
                                  since)  # fmt: skip
            async with deps.uow_factory() as uow:
                await uow.sync_tasks.add(task)
                await uow.commit()
            with _Timings(delete_mark_key(shop.id), kind) as timings:
                run = asyncio.create_task(importer.run_sync_task(task.id, deps))
                processed = 0
                while processed < after and not run.done():
                    await asyncio.sleep(0.05)
                    async with deps.uow_factory() as uow:
                        stored = await uow.sync_tasks.get(task.id)
                    processed = stored.processed if stored is not None else 0
                await asyncio.sleep(random.uniform(0, 1.0))  # anywhere in the batch under way
                if run.done():
                    raise RuntimeError(f"the import ended before the delete was sent: raise --orders ({processed})")
                started = timings.delete_sent = time.perf_counter()
                deleting = delete_shop(deps.uow_factory, deps.clock, shop.merchant_id, shop.id)
                await asyncio.create_task(_deleting(deleting))
                delete_s = time.perf_counter() - started
                outcome = (await asyncio.gather(run, return_exceptions=True))[0]
    finally:
        harness.drop_database(url)
    figures = {"size": size, "wait_ms": round(timings.delete_wait * 1000, 1), "delete_s": round(delete_s, 2),
               "processed_before": processed, "batches": len(timings.batches),
               "batch_p50_ms": round(statistics.median(timings.batches or [0.0]) * 1000, 1),
               "batch_max_ms": round(max(timings.batches or [0.0]) * 1000, 1), "load": os.getloadavg()[0],
               "outcome": type(outcome).__name__}  # fmt: skip
    log(f"delete_wait {kind}: {figures}")
    return figures


async def _run(kind: str, sizes: list[int], tries: int, orders: int, after: int) -> None:
    with Harness() as harness:
        sandbox = harness.sandbox(200, orders)
        sandbox.warm()
        sandbox.warm_orders()
        results: list[dict[str, Any]] = []
        for number in range(tries):
            for size in sizes if number % 2 == 0 else list(reversed(sizes)):  # alternating order, try by try
                results.append(await _try(harness, sandbox, kind, size, after))
    for size in sizes:
        mine = [r for r in results if r["size"] == size]
        waits = [r["wait_ms"] for r in mine]
        batches = [r["batch_p50_ms"] for r in mine]
        print(f"{kind} {size:>5} records a transaction: delete waited p50 {statistics.median(waits):.0f} ms, max "
              f"{max(waits):.0f} ms ({', '.join(f'{w:.0f}' for w in waits)}); the import's transactions p50 "
              f"{statistics.median(batches):.0f} ms, max {max(r['batch_max_ms'] for r in mine):.0f} ms; delete whole "
              f"{', '.join(str(r['delete_s']) for r in mine)} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delete_wait", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgres", choices=["postgres", "sqlite"], help="the database")
    parser.add_argument("--sizes", default="500,2000", help="records per transaction, comma-separated")
    parser.add_argument("--tries", type=int, default=4, help="tries per size")
    parser.add_argument("--orders", type=int, default=15_000, help="the sandbox's orders")
    parser.add_argument("--after", type=int, default=4_000, help="records stored before the delete is sent")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    asyncio.run(_run(args.db, sizes, args.tries, args.orders, args.after))


if __name__ == "__main__":
    main()
