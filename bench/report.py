"""The closing table: one row per figure, one column per database, the goal and whether it holds.

print(table(results))   # results: {"sqlite": {"1_import": {...}, ...}, "postgres": {...}}; goals are checked
                        # on the unrounded figures, shown rounded
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (benchmark key, label, how to show the figure, goal text, goal check on the UNROUNDED result or None)
Row = tuple[str, str, Callable[[dict[str, Any]], Any], str, Callable[[dict[str, Any]], bool] | None]


def _x(value: float) -> str:
    """A ratio shown to 3 decimals (the check uses the value itself)."""
    return f"{value:.3f}"


def _cpu_bill(run: dict[str, Any]) -> str:
    """Benchmark 2's CPU seconds of one side, worker + sandbox + database (PostgreSQL's cluster; on SQLite the
    database runs in the worker), then the CPU-bound ceiling: "7.4 + 2.0 + 13.4 = 22.8 s (44.8/s)"."""
    parts = [run[key] for key in ("worker_cpu_s", "sandbox_cpu_s", "database_cpu_s") if key in run]
    shown = " + ".join(f"{part:.1f}" for part in parts)
    return f"{shown} = {sum(parts):.1f} s ({run['cpu_ceiling_ok_requests_per_s']}/s)"


ROWS: list[Row] = [
    ("1_import", "1. products / SKUs / orders imported (older skipped)",
     lambda r: f"{r['products']}/{r['skus']}/{r['orders_in_window']} ({r['orders_skipped']})", "", None),
    ("1_import", "1. sync s: products + orders (median of runs)",
     lambda r: f"{r['sync_products_s']} + {r['sync_orders_s']}", "", None),
    ("1_import", "1. limit s: products + orders (writer busy)",
     lambda r: f"{r['limit_products_s']} + {r['limit_orders_s']} ({r['limit_write_s']})", "", None),
    ("1_import", "1. sync / limit: products", lambda r: _x(r["ratio_products"]), "", None),
    ("1_import", "1. sync / limit: orders", lambda r: _x(r["ratio_orders"]), "", None),
    ("1_import", "1. sync / limit: total, per run", lambda r: ", ".join(_x(v) for v in r["run_ratios"]), "", None),
    ("1_import", "1. sync / limit: total (median)", lambda r: _x(r["ratio"]), "<= 1.2", lambda r: r["ratio"] <= 1.2),
    ("1_import", "1. catalog-only limit s: products + orders (the limit before the pool)",
     lambda r: f"{r['catalog_limit_products_s']} + {r['catalog_limit_orders_s']}", "", None),
    ("1_import", "1. sync / catalog-only limit: products; orders; total (median)",
     lambda r: f"{_x(r['catalog_ratio_products'])}; {_x(r['catalog_ratio_orders'])}; {_x(r['catalog_ratio'])}", "",
     None),
    ("1_import", "1. worker CPU during orders, sync / limit; sync / catalog-only limit",
     lambda r: f"{_x(r['orders_cpu_ratio'])}; {_x(r['catalog_orders_cpu_ratio'])}", "", None),
    ("2_budget", "2. orders, requests (429s)",
     lambda r: f"{r['orders']}, {r['requests']} ({r['requests_429']})", "", None),
    ("2_budget", "2. ok requests/s under 50/s", lambda r: r["ok_requests_per_s"], ">= 45",
     lambda r: r["ok_requests_per_s"] >= 45),
    ("2_budget", "2. limit loop's ok requests/s, same pages and pacing; sync / limit",
     lambda r: f"{r['limit']['ok_requests_per_s']}; {_x(r['ratio_to_limit'])}", "", None),
    ("2_budget", "2. share answered 429", lambda r: f"{r['share_429']:.2%}", "< 1%", lambda r: r["share_429"] < 0.01),
    ("2_budget", "2. CPU s (worker + sandbox + database); ok requests/s it allows on every core: sync; limit",
     lambda r: f"{_cpu_bill(r)}; {_cpu_bill(r['limit'])}" if "cpu_ceiling_ok_requests_per_s" in r else "-", "", None),
    ("3_memory", "3. peak RSS MiB: small / large orders",
     lambda r: f"{r['small_peak_mib']} / {r['large_peak_mib']} ({r['small_orders']}/{r['large_orders']})", "", None),
    ("3_memory", "3. growth MiB (peak - start-up): small / large",
     lambda r: f"{r['small_growth_mib']} / {r['large_growth_mib']}", "", None),
    ("3_memory", "3. peak RSS large / small", lambda r: _x(r["ratio"]), "<= 1.25", lambda r: r["ratio"] <= 1.25),
    ("3_memory", "3. growth large / small", lambda r: _x(r["growth_ratio"]), "<= 1.25",
     lambda r: r["growth_ratio"] <= 1.25),
    ("4_orders_page", "4. median ms: small / large store",
     lambda r: f"{r['small']['median_ms']} / {r['large']['median_ms']}", "", None),
    ("4_orders_page", "4. requests/s: small / large store",
     lambda r: f"{r['small']['requests_per_s']} / {r['large']['requests_per_s']}", "", None),
    ("4_orders_page", "4. median latency large / small", lambda r: _x(r["latency_ratio"]), "<= 1.3",
     lambda r: r["latency_ratio"] <= 1.3),
    ("4_orders_page", "4. requests/s small / large", lambda r: _x(r["throughput_ratio"]), "<= 1.3",
     lambda r: r["throughput_ratio"] <= 1.3),
    ("5_api", "5. requests/s: orders page / { __typename }",
     lambda r: f"{r['page_requests_per_s']} / {r['ceiling_requests_per_s']}", "", None),
    ("5_api", "5. orders page p50 / p95 ms", lambda r: f"{r['page_p50_ms']} / {r['page_p95_ms']}", "", None),
    ("5_api", "5. orders page / { __typename }, per round",
     lambda r: ", ".join(_x(v) for v in r["round_ratios"]), "", None),
    ("5_api", "5. server CPU ms per request: page / ceiling (ratio)",
     lambda r: f"{r['page_cpu_ms']:.2f} / {r['ceiling_cpu_ms']:.2f} ({_x(r['cpu_ratio'])})",
     ">= 0.3 (as if CPU-bound)", lambda r: r["cpu_ratio"] >= 0.3),
    ("5_api", "5. orders page / { __typename } (medians)", lambda r: _x(r["ratio"]), ">= 0.3",
     lambda r: r["ratio"] >= 0.3),
    ("5_api", "5. Strawberry alone executing the page, CPU ms (no database, no code of ours)",
     lambda r: f"{r['library_page_cpu_ms']:.2f}" if "library_page_cpu_ms" in r else "-", "", None),
    ("5_api", "5. best CPU ratio the library allows: ceiling / (ceiling + that)",
     lambda r: _x(r["best_cpu_ratio"]) if "best_cpu_ratio" in r else "-", "", None),
    ("6_fanout", "6. subscribers, updates, deliveries",
     lambda r: f"{r['subscribers']}, {r['updates']}, {r['deliveries']}", "", None),
    ("6_fanout", "6. commit -> delivery p50 / max ms", lambda r: f"{r['p50_ms']:.1f} / {r['max_ms']:.1f}", "", None),
    ("6_fanout", "6. commit -> delivery p95 ms", lambda r: f"{r['p95_ms']:.1f}", "<= 250",
     lambda r: r["p95_ms"] <= 250),
    ("6_fanout", "6. API thread CPU ms: per update / per delivery",
     lambda r: f"{r['api_cpu_ms_per_update']:.1f} / {r['api_cpu_ms_per_delivery']:.3f}" if "api_cpu_s" in r else "-",
     "", None),
    ("6_fanout", "6. floor (uvicorn + Starlette + bare Strawberry, same run): CPU ms per delivery / p95 ms",
     lambda r: f"{r['floor_cpu_ms_per_delivery']:.3f} / {r['floor_p95_ms']:.1f}" if "floor" in r else "-", "", None),
    ("6_fanout", "6. API CPU per delivery / the floor's",
     lambda r: _x(r["cpu_over_floor"]) if "floor" in r else "-", "", None),
    ("6_fanout", "6. garbage collections by generation (CPU s)",
     lambda r: f"{r['gc_collections']} ({sum(r['gc_cpu_s']):.2f})" if "gc_cpu_s" in r else "-", "", None),
    ("6_fanout", "6. task reads per update (reads / updates)",
     lambda r: f"{r['reads_per_update']:.2f} ({r['task_selects']} / {r['updates']})", "1",
     lambda r: r["goals"]["reads_per_update"]["met"]),
    ("6_fanout", "6. item (inventoryItemUpdated): reads per update (reads / updates), delivery p95 ms",
     lambda r: f"{r['item']['reads_per_update']:.2f} ({r['item']['item_selects']} / {r['item']['updates']}), "
     f"{r['item']['p95_ms']:.1f}" if "item" in r else "-", "1",
     lambda r: "item" not in r or r["goals"]["item_reads_per_update"]["met"]),
    ("7_live", "7. sales -> visible in GraphQL: count at /s, p50 ms",
     lambda r: f"{r['sales']} at {r['sale_rate_per_s']}/s, {r['sale_p50_ms']}", "", None),
    ("7_live", "7. sale -> visible p95 ms", lambda r: r["sale_p95_ms"], "<= 1000", lambda r: r["sale_p95_ms"] <= 1000),
    ("7_live", "7. webhooks sent at /s achieved (statuses), p50 ms",
     lambda r: f"{r['webhooks_sent']} at {r['webhook_achieved_per_s']}/s ({r['webhook_statuses']}), "
     f"{r['webhook_p50_ms']}", "", None),
    ("7_live", "7. webhook acknowledgement p99 ms", lambda r: r["webhook_p99_ms"], "<= 50",
     lambda r: r["webhook_p99_ms"] <= 50),
    ("7_live", "7. production layout (API + worker processes): achieved /s, p50 ms",
     lambda r: f"{r['production_webhook_achieved_per_s']}/s, {r['production_webhook_p50_ms']}"
     if "production_webhook_p50_ms" in r else "-", "", None),
    ("7_live", "7. production layout: webhook acknowledgement p99 ms",
     lambda r: r.get("production_webhook_p99_ms", "-"), "<= 50",
     lambda r: r["production_webhook_p99_ms"] <= 50),
    ("7_live", "7. requests of a 300 s poll, unchanged shop: orders / products",
     lambda r: f"{r['poll_requests']['ORDERS']} / {r['poll_requests']['PRODUCTS']}", "1 / 1",
     lambda r: r["poll_requests"]["ORDERS"] == 1 and r["poll_requests"]["PRODUCTS"] == 1),
    ("8_pool", "8. sales on 3 shops at /s -> other shops updated: count, p50 ms",
     lambda r: f"{r['pool_sales']} at {r['pool_sale_rate_per_s']}/s, {r['pool_push_p50_ms']}", "", None),
    ("8_pool", "8. sale -> every other shop's TikTok stock p95 ms", lambda r: r["pool_push_p95_ms"], "<= 2000",
     lambda r: r["pool_push_p95_ms"] <= 2000),
    ("8_pool", "8. burst of 100 sales: Update Inventory per sale and shop",
     lambda r: r["burst_pushes_per_sale_per_shop"], "<= 0.05", lambda r: r["burst_pushes_per_sale_per_shop"] <= 0.05),
    ("8_pool", "8. flash sale of the last 50 units (safety 3): sold, oversold",
     lambda r: f"{r['flash_sold']}, {r['flash_oversold']}", "0 oversold", lambda r: r["flash_oversold"] == 0),
    ("9_writes", "9. a write during an import: p50 / p95 / max ms (writes; import s)",
     lambda r: f"{r['p50_ms']} / {r['p95_ms']} / {r['max_ms']} ({r['writes']}; {r['import_s']})", "", None),
]  # fmt: skip


def _cell(results: dict[str, Any], row: Row) -> str:
    key, _, show, _, check = row
    if key not in results:
        return "-"
    try:
        value = show(results[key])
    except KeyError:
        return "?"
    if check is None or value == "-":  # "-": not measured on this database
        return str(value)
    return f"{value} {'ok' if check(results[key]) else 'MISS'}"


def table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table of every figure present in `results`."""
    databases = list(results)
    present = {key for db in databases for key in results[db]}
    lines = ["| figure | " + " | ".join(databases) + " | goal |", "|---|" + "---|" * len(databases) + "---|"]
    for row in ROWS:
        if row[0] in present:
            cells = [_cell(results[db], row) for db in databases]
            lines.append(f"| {row[1]} | " + " | ".join(cells) + f" | {row[3]} |")
    return "\n".join(lines)


def merged(previous: dict[str, Any], results: dict[str, dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """The results file after `run`: each figure this run measured (per database and benchmark) replaces the one
    before, stamped with its run (`measured`: when, machine, arguments, load average); the figures of benchmarks
    or databases it did not run stay as they were, with their own stamps. `runs` lists every run, newest last."""
    figures: dict[str, dict[str, Any]] = {db: dict(kept) for db, kept in previous.get("results", {}).items()}
    stamp = {key: run[key] for key in ("when", "machine", "args", "load_average")}
    for db, benchmarks in results.items():
        for name, figure in benchmarks.items():
            figures.setdefault(db, {})[name] = {**figure, "measured": stamp}
    return {"when": run["when"], "results": figures, "runs": [*previous.get("runs", []), run]}


def read(path: Path) -> dict[str, Any]:
    """The results file as it is, or an empty one (absent, or of the older one-run shape without stamps)."""
    try:
        document = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) and "runs" in document else {}
