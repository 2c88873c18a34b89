"""What benchmark 6 (`bench/fanout_bench.py`) and its floor (`bench/fanout_floor.py`) share: sizes, the thread CPU
clock, the garbage-collection watch, and the figures computed from the subscribers' report.

    figures = delay_figures(result, commits, sizes, cpu_s, gc_watch)
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FanoutSizes:
    subscribers: int = 1_000
    updates: int = 20
    interval: float = 0.5  # seconds between updates (a task's progress moves every batch, ~2,000 records)

    def scaled(self, scale: float) -> FanoutSizes:
        return replace(self, subscribers=max(50, round(self.subscribers * min(1.0, scale))))


def thread_cpu_seconds(native_id: int) -> float:
    """User + system CPU seconds of one thread of this process, from /proc/self/task/<tid>/stat."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class GcWatch:
    """Garbage collections while installed (`gc.callbacks`), by generation, with the CPU seconds each took (of the
    thread that triggered it: a collection stops every thread of the process, the API's event loop included)."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.cpu_s = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.collections[info["generation"]] += 1
            self.cpu_s[info["generation"]] += time.thread_time() - self._started


def percentile(values: list[float], share: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def delay_figures(
    result: dict[str, Any], commits: dict[tuple[int, str], float], sizes: FanoutSizes, cpu_s: float, gcs: GcWatch
) -> dict[str, Any]:
    """The figures of one run from `bench/fanout_clients.py`'s report: `result["deliveries"]` is
    `[subscriber, processed, status, at]`, `commits` maps `(processed, status)` to the commit's wall-clock time,
    `cpu_s` is the serving thread's CPU seconds from the first update to the last completion. Raises when a
    subscriber did not receive the final state."""
    final = {d[0] for d in result["deliveries"] if d[2] == "SUCCEEDED"}
    if len(final) != sizes.subscribers:
        raise RuntimeError(f"{sizes.subscribers - len(final)} subscribers missed the final state")
    # The first message (the state at subscription, before any measured commit) is not a delivery of a commit.
    delays = [(at - commits[(processed, status)]) * 1000 for _, processed, status, at in result["deliveries"]
              if (processed, status) in commits]  # fmt: skip
    updates = sizes.updates + 1
    return {
        "subscribers": sizes.subscribers,
        "updates": updates,
        "interval_s": sizes.interval,
        "deliveries": len(delays),
        "deliveries_per_subscriber": len(delays) / sizes.subscribers,
        "p50_ms": percentile(delays, 0.50),
        "p95_ms": percentile(delays, 0.95),
        "max_ms": max(delays),
        # The serving thread's CPU (its event loop: feed, subscriptions, Strawberry, WebSocket sends), per update and
        # per delivery. Steadier than the delays when other processes compete for the cores.
        "api_cpu_s": cpu_s,
        "api_cpu_ms_per_update": cpu_s * 1000 / updates,
        "api_cpu_ms_per_delivery": cpu_s * 1000 / max(1, len(delays)),
        "gc_collections": gcs.collections,  # generations 0, 1, 2 (2: full, over every object)
        "gc_cpu_s": gcs.cpu_s,
    }
