"""Where an ORDERS import's writer spends its time: `python -m bench.writer_stages sqlite|postgres [--scale 0.3]
[--batch-records N]` (N: records per transaction; default the database's, `Database.import_batch_records`).

The engine as benchmark 1 runs it (`bench.sync_run`, a sandbox of its own, a fresh database; a PRODUCTS import
first), with the writer's stages wrapped to add up their wall time and calls: the whole transaction
(`importer._store`: the batch, the counters, the checkpoint, the commit), the catalog's upsert, the pool's ledger
and its parts, and the task's save with the commit. Wall time of an `await` includes the time the event loop spent
on other tasks (fetching, decoding) before it resumed the writer, so the stages read as "how long the writer was
in there", not as CPU; use py-spy (`--gil` for the CPU of the thread holding the GIL) for that.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import time
from typing import Any

import adapters.db.repositories.inventory.ledger as ledger
import adapters.db.repositories.inventory.writer as writer
from adapters.db.repositories.catalog import SqlCatalogRepository
from bench.harness import Harness
from bench.import_bench import UNPACED, Sizes, _same_data, _window_start
from bench.sync_run import SyncWorker
from domain.services import importer
from domain.sync import SyncKind

_STAGES: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])


def _timed(owner: Any, name: str, label: str) -> None:
    function = getattr(owner, name)

    @functools.wraps(function)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            stage = _STAGES[label]
            stage[0] += 1
            stage[1] += time.perf_counter() - started

    setattr(owner, name, wrapped)


_WRAPPED = (
    (importer, "_store", "the transaction (importer._store)"),
    (SqlCatalogRepository, "upsert_orders", "  catalog upsert"),
    (ledger, "apply_orders", "  ledger (pool_orders)"),
    (ledger, "_linked_items", "    links read"),
    (writer.PoolWrite, "flush", "    ledger rows, counters, movements"),
    (importer, "_save", "  task update + commit"),
)
for _owner, _name, _label in _WRAPPED:
    _timed(_owner, _name, _label)


async def _run(harness: Harness, kind: str, sizes: Sizes, batch_records: int | None) -> None:
    with _same_data(harness, sizes) as sandbox:
        since = _window_start()
        url = harness.fresh_database(kind)
        settings = harness.settings(url, sandbox.url, rate_limit=UNPACED)
        async with SyncWorker(settings, batch_records=batch_records) as worker:
            shop = await worker.connect(sandbox)
            await worker.run(shop, SyncKind.PRODUCTS)
            _STAGES.clear()
            cpu = time.process_time()
            run = await worker.run(shop, SyncKind.ORDERS, since=since)
            cpu = time.process_time() - cpu
    print(f"ORDERS {run.task.status}: {run.task.processed} orders in {run.seconds:.2f} s, process CPU {cpu:.2f} s")
    for label in (label for *_, label in _WRAPPED):
        calls, seconds = _STAGES[label]
        print(f"{label:40s} {int(calls):5d} calls {seconds:8.3f} s  {1000 * seconds / max(calls, 1):8.1f} ms each")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", choices=("sqlite", "postgres"))
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--batch-records", type=int, default=None, help="records per transaction (the database's)")
    args = parser.parse_args()
    with Harness() as harness:
        asyncio.run(_run(harness, args.db, Sizes().scaled(args.scale), args.batch_records))


if __name__ == "__main__":
    main()
