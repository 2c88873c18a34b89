"""Where benchmark 2's requests/s go, request by request: `python -m bench.request_times sqlite|postgres [--scale 1.0]
[--side engine|limit|both] [--json FILE]` (not part of `make bench`; bench/README.md, "Benchmark 2, stop 64").

Benchmark 2's two sides as `bench.import_bench.budget` runs them (a warm sandbox at 100 ms latency and 50 requests/s,
a fresh database each; the engine by `bench.sync_run.SyncWorker` with production settings, then the limit loop,
`bench.limit.bare_import`, on the same slices and pacing), with every orders request's moments recorded, per slice
(keyed by the task that fetches it; perf_counter seconds from the run's start):

- asked: the slice entered `RateLimiter.acquire` for its next page; dispatched: the limiter let it go;
- sent / answered: `httpx.AsyncClient.send` began / returned (the sandbox's 100 ms and the wire);
- returned: the page decoded and handed back to the slice (the engine's `importer._search_created`, the limit's
  `_Fetcher.call`); the slice's next `asked` minus this `returned` is its wait to put the page on the pipeline's
  full queue (the writer's backpressure) plus its generator's own steps;

and the writer's transactions (the engine's `importer._store_once`, the limit's insert) and the run's phases (the
task's begin, the pipeline, its end: `importer.run_pipeline`'s start and end; the engine's last write and recount,
`importer._finish_once`, `_recount`, and the planner statistics after the run, `refresh_statistics` (outside the
run's seconds since stop 66, as the worker's actor runs it), each one's seconds). It
prints, per side: the phases, each gap's sum / mean / p50 / p95, each slice's pages and last answer, per 0.5 s the
dispatches/s, the mean requests in flight and the writer's busy share, and the writer's busy seconds, the gaps
between its transactions and what it wrote after the last answer. Nothing is changed but the wrappers' bookkeeping
(a few microseconds a request).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import httpx

from adapters.tiktok import ratelimit
from bench import limit as bench_limit
from bench.harness import CpuMeter, Harness, log
from bench.import_bench import ALL_ORDERS_WINDOW, LIMIT_BATCH_RECORDS, Sizes
from bench.sync_run import SyncWorker
from domain.services import importer
from domain.services.importer import SyncOptions
from domain.services.order_slices import plan_slices
from domain.sync import SyncKind

_T0 = time.perf_counter()
_slice: contextvars.ContextVar[int] = contextvars.ContextVar("request_times_slice", default=-1)
_open: dict[int, dict[str, float]] = {}  # the request under way, by the slice's task
_events: dict[str, list[Any]] = {"requests": [], "transactions": [], "phases": []}
_BIN = 0.5  # seconds per row of the timeline


def _now() -> float:
    return time.perf_counter() - _T0


def _instrument() -> None:
    """Wrap the limiter, httpx's send, both sides' page calls and writers, and the engine's pipeline (the module)."""
    acquire = ratelimit.RateLimiter.acquire

    async def timed_acquire(self: ratelimit.RateLimiter, key: Any) -> None:
        slice_id = id(asyncio.current_task())
        _slice.set(slice_id)  # copied into the request's own task (`transport.sent_whole`)
        record = _open[slice_id] = {"slice": slice_id, "asked": _now()}
        await acquire(self, key)
        record["dispatched"] = _now()

    ratelimit.RateLimiter.acquire = timed_acquire  # type: ignore[method-assign]
    send = httpx.AsyncClient.send

    async def timed_send(self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        record = _open.get(_slice.get())
        if record is not None:
            record["sent"] = _now()
        response = await send(self, request, **kwargs)
        if record is not None:
            record["answered"] = _now()
        return response

    httpx.AsyncClient.send = timed_send  # type: ignore[method-assign]

    def returning(call: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            page = await call(*args, **kwargs)
            record = _open.pop(id(asyncio.current_task()), None)
            if record is not None:
                record["returned"] = _now()
                _events["requests"].append(record)
            return page

        return timed

    importer._search_created = returning(importer._search_created)  # type: ignore[assignment]
    bench_limit._Fetcher.call = returning(bench_limit._Fetcher.call)  # type: ignore[method-assign]

    def transaction(call: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = _now()
            try:
                return await call(*args, **kwargs)
            finally:
                _events["transactions"].append((started, _now()))

        return timed

    importer._store_once = transaction(importer._store_once)  # type: ignore[assignment]
    bench_limit.copy_batch = transaction(bench_limit.copy_batch)  # type: ignore[assignment]
    bench_limit.executemany_batch = transaction(bench_limit.executemany_batch)  # type: ignore[assignment]
    run_pipeline = importer.run_pipeline

    async def pipeline(*args: Any, **kwargs: Any) -> Any:
        _events["phases"].append(("pipeline_start", _now()))
        try:
            return await run_pipeline(*args, **kwargs)
        finally:
            _events["phases"].append(("pipeline_end", _now()))

    importer.run_pipeline = pipeline  # type: ignore[assignment]
    for name in ("_finish_once", "_recount", "refresh_statistics"):  # the run's end: its last write, count; ANALYZE
        setattr(importer, name, _phase(f"_{name.lstrip('_')}", getattr(importer, name)))  # "_": a duration


def _phase(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = _now()
        try:
            return await call(*args, **kwargs)
        finally:
            _events["phases"].append((name, _now() - started))

    return timed


def _reset() -> None:
    for key in _events:
        _events[key] = []
    _open.clear()


async def _run(kind: str, scale: float, side: str) -> dict[str, Any]:
    sizes = Sizes().scaled(scale)
    result: dict[str, Any] = {"db": kind, "scale": scale}
    with Harness() as harness:
        sandbox = harness.sandbox(sizes.products, sizes.budget_orders)
        sandbox.configure(latency_ms=0, rate_limit=None)
        sandbox.warm()
        sandbox.warm_orders()  # as `budget` does: every order rendered before either side runs
        since = datetime.now(UTC) - ALL_ORDERS_WINDOW
        cluster = harness.postgres() if kind == "postgres" else None
        if side in ("engine", "both"):
            url = harness.fresh_database(kind)
            async with SyncWorker(harness.settings(url, sandbox.url, rate_limit=sizes.budget_rate)) as worker:
                shop = await worker.connect(sandbox)
                sandbox.configure(latency_ms=sizes.budget_latency_ms, rate_limit=sizes.budget_rate)
                log(f"engine: ORDERS ({sizes.budget_orders} orders), load {os.getloadavg()[0]:.1f}")
                meter = CpuMeter(sandbox, cluster)
                _reset()
                _events["phases"].append(("run_start", _now()))
                run = await worker.run(shop, SyncKind.ORDERS, since=since)
                _events["phases"].append(("run_end", _now()))
                result["engine"] = _side(run.seconds, sandbox.counters(), meter.read())
            harness.drop_database(url)
        if side in ("limit", "both"):
            sandbox.configure(latency_ms=sizes.budget_latency_ms, rate_limit=sizes.budget_rate)  # counters to zero
            url = harness.fresh_database(kind)
            target = bench_limit.Target(sandbox.url, sandbox.access_token(), sandbox.shop()["cipher"], url)
            options = SyncOptions()
            slices = [(s.ge, s.lt) for s in plan_slices(since, datetime.now(UTC), options.order_slices)]
            log(f"limit: the same pages and pacing, load {os.getloadavg()[0]:.1f}")
            meter = CpuMeter(sandbox, cluster)
            _reset()
            _events["phases"].append(("run_start", _now()))
            try:
                bare = await bench_limit.bare_import(
                    target, "orders", slices=slices, page_size=options.page_size,
                    batch_records=LIMIT_BATCH_RECORDS, queue_pages=options.queue_pages, rate=sizes.budget_rate,
                )  # fmt: skip
            except httpx.HTTPError as exc:  # the bare loop has no retries: an `httpx.ReadError` on a loaded machine
                log(f"limit: failed ({exc!r}); the engine's figures stand")
            else:
                _events["phases"].append(("run_end", _now()))
                result["limit"] = _side(bare.seconds, sandbox.counters(), meter.read())
            harness.drop_database(url)
    return result


def _side(seconds: float, counters: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    outcomes = next((v for k, v in counters["by_path"].items() if k.endswith("/orders/search")), {})
    return {"seconds": seconds, "outcomes": outcomes, "cpu": cpu, "load": os.getloadavg(),
            **{key: list(value) for key, value in _events.items()}}  # fmt: skip


def _spread(values: list[float]) -> str:
    ordered = sorted(values) or [0.0]
    pick = lambda share: 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * share))]  # noqa: E731
    return (
        f"sum {sum(ordered):7.2f} s, mean {1000 * statistics.mean(ordered):6.1f} ms, p50 {pick(0.5):6.1f}, "
        f"p95 {pick(0.95):6.1f}, max {1000 * ordered[-1]:6.1f}"
    )


def _report(name: str, side: dict[str, Any]) -> None:
    requests = [r for r in side["requests"] if "answered" in r]
    phases = {name: moment for name, moment in side["phases"] if not name.startswith("_")}
    start, end = phases["run_start"], phases["run_end"]
    ok = side["outcomes"].get("ok", 0)
    print(
        f"== {name}: {ok} ok of {len(requests)} timed requests in {side['seconds']:.2f} s: "
        f"{ok / side['seconds']:.1f} ok requests/s; CPU s {side['cpu']}; load {side['load'][0]:.1f}"
    )
    first, last = min(r["sent"] for r in requests), max(r["answered"] for r in requests)
    print(
        f"  from the run's start, s: pipeline {phases.get('pipeline_start', start) - start:.3f}, first send "
        f"{first - start:.3f}, last answer {last - start:.3f}, pipeline end "
        f"{phases.get('pipeline_end', end) - start:.3f}, run end {end - start:.3f}"
    )
    by_slice: dict[int, list[dict[str, float]]] = defaultdict(list)
    for record in requests:
        by_slice[int(record["slice"])].append(record)
    puts: list[float] = []
    for pages in by_slice.values():
        pages.sort(key=lambda r: r["asked"])
        puts += [later["asked"] - earlier["returned"] for earlier, later in pairwise(pages)]
    gaps = {
        "asked -> dispatched (the limiter)": [r["dispatched"] - r["asked"] for r in requests],
        "dispatched -> sent (signing, the pool)": [r["sent"] - r["dispatched"] for r in requests],
        "sent -> answered (latency, the wire)": [r["answered"] - r["sent"] for r in requests],
        "answered -> returned (decoding, loop turns)": [r["returned"] - r["answered"] for r in requests],
        "returned -> next asked (the queue's room)": puts,
    }
    ends = {name: seconds for name, seconds in side["phases"] if name.startswith("_")}
    print("  the run's end, s: " + ", ".join(f"{name.lstrip('_')} {seconds:.3f}" for name, seconds in ends.items()))
    for label, values in gaps.items():
        print(f"  {label:45s} {_spread(values)}")
    lasts = sorted(round(max(r["answered"] for r in pages) - start, 2) for pages in by_slice.values())
    print(f"  {len(by_slice)} slices, pages {sorted(len(p) for p in by_slice.values())}; last answers (s) {lasts}")
    bins = int((end - start) / _BIN) + 1
    dispatched, in_flight, busy = [0] * bins, [0.0] * bins, [0.0] * bins

    def spread_over(first: float, last: float, into: list[float]) -> None:
        index = int(first / _BIN)
        while index < bins and index * _BIN < last:
            into[index] += max(0.0, min(last, (index + 1) * _BIN) - max(first, index * _BIN)) / _BIN
            index += 1

    for record in requests:
        dispatched[min(bins - 1, int((record["dispatched"] - start) / _BIN))] += 1
        spread_over(record["sent"] - start, record["answered"] - start, in_flight)
    transactions = side["transactions"]
    for began, ended in transactions:
        spread_over(began - start, ended - start, busy)
    print(f"  per {_BIN:g} s from the start: dispatches/s / requests in flight (mean) / the writer's busy share")
    cells = [f"{i * _BIN:5.1f}:{dispatched[i] / _BIN:3.0f}/{in_flight[i]:4.1f}/{busy[i]:.2f}" for i in range(bins)]
    for row in range(0, bins, 6):
        print("   " + "  ".join(cells[row : row + 6]))
    if transactions:
        walls = [ended - began for began, ended in transactions]
        between = [later[0] - earlier[1] for earlier, later in pairwise(transactions)]
        after = sum(1 for _, ended in transactions if ended > last)
        print(
            f"  writer: {len(walls)} transactions, busy {sum(walls):.2f} s (median "
            f"{1000 * statistics.median(walls):.0f} ms), {sum(between):.2f} s between them; first begins at "
            f"{transactions[0][0] - start:.2f} s; after the "
            f"last answer {after} transactions, {transactions[-1][1] - last:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", choices=("postgres", "sqlite"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--side", choices=("engine", "limit", "both"), default="both")
    parser.add_argument("--json", default=None, help="also write every recorded moment to this file")
    args = parser.parse_args()
    _instrument()
    result = asyncio.run(_run(args.db, args.scale, args.side))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file)
    for name in ("engine", "limit"):
        if name in result:
            _report(name, result[name])


if __name__ == "__main__":
    main()
