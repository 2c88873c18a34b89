"""`make bench` / `python -m bench [--only 1,...,9|api|fanout|live|pool|writes] [--scale 1] [--db ...]`: run, save.

Runs each chosen benchmark on each chosen database, prints progress lines (stderr) and a table (stdout), and merges
every figure into `bench/results.json`, or the file `--output` names (the committed one is kept in git: each figure
with the date, machine, arguments and load average of the run that measured it; a run of some benchmarks replaces
only theirs). Full size (`--scale 1`) is the issue's; smaller scales shrink every data size for quick iterations.
Servers are throwaway: a sandbox process, a PostgreSQL cluster in a temp dir, API processes; all are stopped and
removed on exit, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.api_bench import ApiSizes, api_ceiling
from bench.fanout_bench import FanoutSizes, fanout
from bench.harness import Harness, log
from bench.import_bench import Sizes, budget, throughput
from bench.live_bench import LiveSizes, live
from bench.memory_bench import MemorySizes, memory
from bench.pool_bench import PoolSizes, pool
from bench.query_bench import QuerySizes, orders_page
from bench.writes_bench import WriteSizes, writes_during_import

RESULTS = Path(__file__).resolve().parent / "results.json"
DATABASES = ("sqlite", "postgres")
BENCHMARKS = (1, 2, 3, 4, 5, 6, 7, 8, 9)  # issue 9's table is 1-6; live sync 7, the pool 8, writes during an import 9
NAMES = {"api": "5", "fanout": "6", "live": "7", "pool": "8", "writes": "9"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(str(n) for n in BENCHMARKS),
        help="benchmarks to run, comma-separated; `api` is 5, `fanout` 6, `live` 7, `pool` 8, `writes` 9 "
        "(default %(default)s)",
    )
    parser.add_argument("--db", default="sqlite,postgres", help="databases, comma-separated (default %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every data size (default %(default)s)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file (default bench/results.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite files) for inspection")
    args = parser.parse_args(argv)
    parts = [NAMES.get(part.strip(), part.strip()) for part in args.only.split(",") if part.strip()]
    if not all(part.isdigit() for part in parts):
        parser.error("--only takes 1..9, api, fanout, live, pool or writes")
    args.only = sorted({int(part) for part in parts})
    args.db = [part.strip() for part in args.db.split(",") if part.strip()]
    if not set(args.only) <= set(BENCHMARKS) or not set(args.db) <= set(DATABASES) or args.scale <= 0:
        parser.error(
            "--only takes 1..9, api, fanout, live, pool or writes; --db sqlite and/or postgres; "
            "--scale must be positive"
        )
    return args


async def run(args: argparse.Namespace, harness: Harness) -> dict[str, dict[str, Any]]:
    import_sizes = Sizes().scaled(args.scale)
    memory_sizes = MemorySizes().scaled(args.scale)
    query_sizes = QuerySizes().scaled(args.scale)
    live_sizes = LiveSizes().scaled(args.scale)
    api_sizes = ApiSizes().scaled(args.scale)
    fanout_sizes = FanoutSizes().scaled(args.scale)
    pool_sizes = PoolSizes().scaled(args.scale)
    write_sizes = WriteSizes().scaled(args.scale)
    results: dict[str, dict[str, Any]] = {db: {} for db in args.db}
    sandbox = None
    if {2, 3} & set(args.only):  # benchmark 1 starts a sandbox per side (`import_bench._same_data`)
        log("starting the sandbox")
        sandbox = harness.sandbox(import_sizes.products, import_sizes.orders)
    for db in args.db:
        if 1 in args.only:
            results[db]["1_import"] = await throughput(harness, db, import_sizes)
        if 2 in args.only and sandbox is not None:
            results[db]["2_budget"] = await budget(harness, sandbox, db, import_sizes)
        if 3 in args.only and sandbox is not None:
            results[db]["3_memory"] = await asyncio.to_thread(memory, harness, sandbox, db, memory_sizes)
        if 4 in args.only:
            results[db]["4_orders_page"] = await orders_page(harness, db, query_sizes)
        if 5 in args.only:
            results[db]["5_api"] = await api_ceiling(harness, db, api_sizes)
        if 6 in args.only:
            results[db]["6_fanout"] = await fanout(harness, db, fanout_sizes)
        if 7 in args.only:
            results[db]["7_live"] = await live(harness, db, live_sizes)
        if 8 in args.only:
            results[db]["8_pool"] = await pool(harness, db, pool_sizes)
        if 9 in args.only:
            results[db]["9_writes"] = await writes_during_import(harness, db, write_sizes)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, load_before = time.monotonic(), _load_average()
    with Harness(keep=args.keep) as harness:
        if args.keep:
            log(f"temp dir kept: {harness.directory}")
        results = asyncio.run(run(args, harness))
    run_record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_stamp(),
        "args": {"only": args.only, "db": args.db, "scale": args.scale},
        "load_average": {"before": load_before, "after": _load_average()},
        "seconds": round(time.monotonic() - started, 1),
    }
    document = report.merged(report.read(args.output), results, run_record)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(report.table(results))
    log(f"done in {run_record['seconds']}s; figures in {args.output}")
    return 0


def machine_stamp() -> dict[str, object]:
    """What ran the figures: cores, OS, and the interpreter: its version, its real path (a venv's `python` resolves to
    the interpreter it was made from: /usr/bin/python3.11 or pyenv's) and its build (`platform.python_build()`: tag
    and date). Two builds of one version differ by ~15-20 % of CPU on our code (Debian's PGO+LTO 3.11 against pyenv's
    default build, bench/README.md "The interpreter, stop 71"), so a figure names the one it ran on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "python_executable": os.path.realpath(sys.executable),
        "python_build": " ".join(platform.python_build()),
        "platform": platform.platform(),
    }


def _load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (what else competed for the cores), rounded."""
    return [round(value, 2) for value in os.getloadavg()]


if __name__ == "__main__":
    sys.exit(main())
