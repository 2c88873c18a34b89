"""Benchmark 5 (issue 9): the orders page's requests/s against Strawberry's own ceiling on the same server.

    await api_ceiling(harness, "sqlite", ApiSizes()) -> dict of figures (requests/s of both, ratio, latencies)

One store of `orders` orders (seeded as benchmark 4 does), one `shopbridge serve` process (the whole stack:
uvicorn, the Starlette app and its middleware, authentication, the cost check, Strawberry), 16 concurrent
clients. The orders page (`bench.query_bench.QUERY`: 50 orders with line items and `totalCount`) and
`{ __typename }` (the same request path with nothing to resolve: the stack's ceiling) are each loaded for
`seconds` per round, in `runs` alternating rounds (page, ceiling, ceiling, page, ...). Figures: the median
requests/s of each, their ratio (goal >= 0.3, checked unrounded), and the page's p50/p95 latency (medians over
the rounds). Both answers are checked first: 50 orders with line items and `totalCount` = the orders stored;
`{"__typename": "Query"}`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx

from bench import executor_floor
from bench.harness import SECRET_KEY, Harness, log, process_cpu_seconds
from bench.query_bench import MERCHANT_ID, QUERY, check_orders_page, figures_of, load, seed, start_api
from gql.auth import issue_token
from gql.ids import to_global_id

CEILING = {"query": "{ __typename }"}
GOAL = 0.3


@dataclass(frozen=True)
class ApiSizes:
    orders: int = 1_000
    clients: int = 16
    seconds: float = 6.0  # per round and query
    warmup_seconds: float = 2.0
    runs: int = 3

    def scaled(self, scale: float) -> ApiSizes:
        return replace(self, seconds=max(2.0, self.seconds * min(1.0, scale * 2)))


async def api_ceiling(harness: Harness, kind: str, sizes: ApiSizes) -> dict[str, Any]:
    url = harness.fresh_database(kind)
    started = time.perf_counter()
    shop_id = await seed(url, sizes.orders, harness.encryption_key)
    log(f"[5/{kind}] seeded {sizes.orders} orders in {time.perf_counter() - started:.1f}s; starting the API")
    server, endpoint = start_api(harness, url)
    token = issue_token(SECRET_KEY, MERCHANT_ID, 3600)
    page = {"query": QUERY, "variables": {"id": to_global_id("Shop", shop_id)}}
    runs: dict[str, list[dict[str, Any]]] = {"page": [], "ceiling": []}
    try:
        await check_orders_page(endpoint, token, page["variables"]["id"], sizes.orders)
        async with httpx.AsyncClient(timeout=30, headers={"authorization": f"Bearer {token}"}) as http:
            answer = (await http.post(endpoint, json=CEILING)).json()
        assert answer == {"data": {"__typename": "Query"}}, answer
        bodies = {"page": page, "ceiling": CEILING}
        for body in bodies.values():
            await load(endpoint, token, body, sizes.clients, seconds=sizes.warmup_seconds)
        for round_ in range(sizes.runs):
            for name in ("page", "ceiling") if round_ % 2 == 0 else ("ceiling", "page"):
                cpu = process_cpu_seconds(server.pid)
                latencies, seconds = await load(endpoint, token, bodies[name], sizes.clients, seconds=sizes.seconds)
                figures = figures_of(latencies, seconds)
                # The server's own CPU per request: what a machine whose load moves every second cannot skew much.
                figures["server_cpu_ms_per_request"] = (process_cpu_seconds(server.pid) - cpu) * 1000 / len(latencies)
                runs[name].append(figures)
    finally:
        harness.forget(server)
        harness.drop_database(url)
    page_rps = statistics.median(r["requests_per_s"] for r in runs["page"])
    ceiling_rps = statistics.median(r["requests_per_s"] for r in runs["ceiling"])
    figures = {
        "orders": sizes.orders,
        "clients": sizes.clients,
        "runs": sizes.runs,
        "page_requests_per_s": page_rps,
        "ceiling_requests_per_s": ceiling_rps,
        "ratio": page_rps / ceiling_rps,
        "round_ratios": [
            p["requests_per_s"] / c["requests_per_s"] for p, c in zip(runs["page"], runs["ceiling"], strict=True)
        ],
        "page_cpu_ms": statistics.median(r["server_cpu_ms_per_request"] for r in runs["page"]),
        "ceiling_cpu_ms": statistics.median(r["server_cpu_ms_per_request"] for r in runs["ceiling"]),
        "page_p50_ms": statistics.median(r["median_ms"] for r in runs["page"]),
        "page_p95_ms": statistics.median(r["p95_ms"] for r in runs["page"]),
        "ceiling_p50_ms": statistics.median(r["median_ms"] for r in runs["ceiling"]),
        "ceiling_p95_ms": statistics.median(r["p95_ms"] for r in runs["ceiling"]),
        "per_run": runs,
    }
    figures["cpu_ratio"] = figures["ceiling_cpu_ms"] / figures["page_cpu_ms"]  # the ratio a CPU-bound server has
    # The floor under the page's CPU: Strawberry (async, as the server runs it) executing the same document over
    # in-memory objects, measured here in the same run (bench/executor_floor.py). Even a page that cost nothing
    # but that execution could reach no better CPU ratio than `best_cpu_ratio`.
    floor = (await asyncio.to_thread(executor_floor.measure, 100))["strawberry_async"]  # its own event loop
    figures["library_page_cpu_ms"] = floor["page_ms"] - floor["ceiling_ms"]
    figures["best_cpu_ratio"] = figures["ceiling_cpu_ms"] / (figures["ceiling_cpu_ms"] + figures["library_page_cpu_ms"])
    figures["goals"] = {
        "ratio": {"goal": f">= {GOAL}", "met": figures["ratio"] >= GOAL},
        "cpu_ratio": {"goal": f">= {GOAL}", "met": figures["cpu_ratio"] >= GOAL},
    }
    log(
        f"[5/{kind}] orders page {page_rps} requests/s, {{ __typename }} {ceiling_rps} requests/s: "
        f"ratio {figures['ratio']:.3f} (rounds {[round(r, 3) for r in figures['round_ratios']]}); server CPU per "
        f"request {figures['page_cpu_ms']:.2f} / {figures['ceiling_cpu_ms']:.2f} ms: {figures['cpu_ratio']:.3f}; "
        f"Strawberry alone {figures['library_page_cpu_ms']:.2f} ms, best ratio {figures['best_cpu_ratio']:.3f}"
    )
    return figures
