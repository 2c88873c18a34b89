"""The closing table: one row per figure, one column per database, the goal and whether it holds.

print(table(results))   # results: {"sqlite": {"1_import": {...}, ...}, "postgres": {...}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (benchmark key, label, how to read the figure, goal text, goal check or None for a plain figure)
Row = tuple[str, str, Callable[[dict[str, Any]], Any], str, Callable[[Any], bool] | None]

ROWS: list[Row] = [
    ("1_import", "1. products / SKUs / orders imported (older skipped)",
     lambda r: f"{r['products']}/{r['skus']}/{r['orders_in_window']} ({r['orders_skipped']})", "", None),
    ("1_import", "1. sync s: products + orders", lambda r: f"{r['sync_products_s']} + {r['sync_orders_s']}", "", None),
    ("1_import", "1. limit s: products + orders (writer busy)",
     lambda r: f"{r['limit_products_s']} + {r['limit_orders_s']} ({r['limit_write_s']})", "", None),
    ("1_import", "1. sync / limit: products", lambda r: r["ratio_products"], "", None),
    ("1_import", "1. sync / limit: orders", lambda r: r["ratio_orders"], "", None),
    ("1_import", "1. sync / limit: total", lambda r: r["ratio"], "<= 1.2", lambda v: v <= 1.2),
    ("2_budget", "2. orders, requests (429s)",
     lambda r: f"{r['orders']}, {r['requests']} ({r['requests_429']})", "", None),
    ("2_budget", "2. ok requests/s under 50/s", lambda r: r["ok_requests_per_s"], ">= 45", lambda v: v >= 45),
    ("2_budget", "2. share answered 429", lambda r: f"{r['share_429']:.2%}", "< 1%", None),
    ("3_memory", "3. peak RSS MiB: small / large orders",
     lambda r: f"{r['small_peak_mib']} / {r['large_peak_mib']} ({r['small_orders']}/{r['large_orders']})", "", None),
    ("3_memory", "3. peak RSS large / small", lambda r: r["ratio"], "<= 1.25", lambda v: v <= 1.25),
    ("4_orders_page", "4. median ms: small / large store",
     lambda r: f"{r['small']['median_ms']} / {r['large']['median_ms']}", "", None),
    ("4_orders_page", "4. requests/s: small / large store",
     lambda r: f"{r['small']['requests_per_s']} / {r['large']['requests_per_s']}", "", None),
    ("4_orders_page", "4. median latency large / small", lambda r: r["latency_ratio"], "<= 1.3", lambda v: v <= 1.3),
    ("4_orders_page", "4. requests/s small / large", lambda r: r["throughput_ratio"], "<= 1.3", lambda v: v <= 1.3),
    ("5_live", "5. sales -> visible in GraphQL: count at /s, p50 ms",
     lambda r: f"{r['sales']} at {r['sale_rate_per_s']}/s, {r['sale_p50_ms']}", "", None),
    ("5_live", "5. sale -> visible p95 ms", lambda r: r["sale_p95_ms"], "<= 1000", lambda v: v <= 1000),
    ("5_live", "5. webhooks sent at /s achieved (statuses), p50 ms",
     lambda r: f"{r['webhooks_sent']} at {r['webhook_achieved_per_s']}/s ({r['webhook_statuses']}), "
     f"{r['webhook_p50_ms']}", "", None),
    ("5_live", "5. webhook acknowledgement p99 ms", lambda r: r["webhook_p99_ms"], "<= 50", lambda v: v <= 50),
    ("5_live", "5. requests of a 300 s poll, unchanged shop: orders / products",
     lambda r: f"{r['poll_requests']['ORDERS']} / {r['poll_requests']['PRODUCTS']}", "1 / 1",
     lambda v: v == "1 / 1"),
    ("6_pool", "6. sales on 3 shops at /s -> other shops updated: count, p50 ms",
     lambda r: f"{r['pool_sales']} at {r['pool_sale_rate_per_s']}/s, {r['pool_push_p50_ms']}", "", None),
    ("6_pool", "6. sale -> every other shop's TikTok stock p95 ms", lambda r: r["pool_push_p95_ms"], "<= 2000",
     lambda v: v <= 2000),
    ("6_pool", "6. burst of 100 sales: Update Inventory per sale and shop",
     lambda r: r["burst_pushes_per_sale_per_shop"], "<= 0.05", lambda v: v <= 0.05),
    ("6_pool", "6. flash sale of the last 50 units (safety 3): sold, oversold",
     lambda r: f"{r['flash_sold']}, {r['flash_oversold']}", "0 oversold", None),
]  # fmt: skip


def _cell(results: dict[str, Any], row: Row) -> str:
    key, _, read, _, check = row
    if key not in results:
        return "-"
    value = read(results[key])
    if key == "2_budget" and row[1].startswith("2. share"):
        ok = results[key]["share_429"] < 0.01
        return f"{value} {'ok' if ok else 'MISS'}"
    if check is None:
        return str(value)
    return f"{value} {'ok' if check(value) else 'MISS'}"


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
