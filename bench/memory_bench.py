"""Benchmark 3: peak RSS of a worker process importing a small and a large orders window (goal: within 1.25x).

    memory(harness, sandbox, "sqlite", MemorySizes()) -> dict of figures

Each import runs in a fresh child process (`bench.import_child`), the sandbox in another; the peak is the child's
own VmHWM, which it reports itself (`os.wait4`'s `ru_maxrss` is kept beside: on Linux it counts the parent's peak too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bench.harness import ROOT, Harness, SandboxProcess, log
from bench.import_bench import ALL_ORDERS_WINDOW, UNPACED


@dataclass(frozen=True)
class MemorySizes:
    products: int = 5_000
    small: int = 10_000
    large: int = 100_000

    def scaled(self, scale: float) -> MemorySizes:
        return MemorySizes(
            max(50, int(self.products * scale)), max(100, int(self.small * scale)), max(1_000, int(self.large * scale))
        )


def _import_in_child(
    harness: Harness, sandbox: SandboxProcess, kind: str, sizes: MemorySizes, orders: int
) -> dict[str, Any]:
    """Import every order of a sandbox of `orders` orders in a fresh child process; its figures and peak RSS."""
    sandbox.reseed(sizes.products, orders)
    sandbox.configure(latency_ms=0, rate_limit=None)
    sandbox.warm()
    url = harness.fresh_database(kind)
    env = {**os.environ, **harness.env(url, sandbox.url, rate_limit=UNPACED)}
    days = str(ALL_ORDERS_WINDOW.total_seconds() / 86400)
    errors = harness.directory / f"import-child-{kind}-{orders}.log"
    try:
        with errors.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.import_child", sandbox.url, days],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
            )  # fmt: skip
        try:
            assert process.stdout is not None
            stdout = process.stdout.read()
            # wait4, not wait: this child's own resource usage (RUSAGE_CHILDREN would mix in the others). Its
            # ru_maxrss is not the peak, though: Linux keeps, across exec, the high-water mark of the memory the
            # child had as a fork of this process (exec_mmap's setmax_mm_hiwater_rss), and this process holds
            # benchmark 1's imports by then (949 MiB for both imports in the 2026-12-02 18:43 run). The peak is the
            # child's own VmHWM, which exec resets (`peak_kb`).
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        except BaseException:
            process.kill()
            process.wait()
            raise
    finally:
        harness.drop_database(url)
    if process.returncode != 0:
        raise RuntimeError(f"the import child failed ({process.returncode}):\n{errors.read_text()[-3000:]}")
    figures: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    figures["ru_maxrss_kb"] = usage.ru_maxrss
    return figures


def memory(harness: Harness, sandbox: SandboxProcess, kind: str, sizes: MemorySizes) -> dict[str, Any]:
    """Benchmark 3: the small import, then the large one, each in a fresh process; the ratio of their peaks."""
    runs = {}
    for label, orders in (("small", sizes.small), ("large", sizes.large)):
        log(f"[3/{kind}] import of {orders} orders in a child process")
        runs[label] = figures = _import_in_child(harness, sandbox, kind, sizes, orders)
        if figures["orders"] != orders:  # the same work as claimed: every order of the sandbox imported
            raise RuntimeError(f"the child imported {figures['orders']} of {orders} orders")
        log(
            f"[3/{kind}] {figures['orders']} orders in {figures['seconds']}s: "
            f"peak RSS {figures['peak_kb'] / 1024:.0f} MiB "
            f"(after start-up {figures['baseline_kb'] / 1024:.0f} MiB)"
        )
    small, large = runs["small"], runs["large"]
    return {
        "small_orders": small["orders"],
        "large_orders": large["orders"],
        "small_peak_mib": round(small["peak_kb"] / 1024, 1),
        "large_peak_mib": round(large["peak_kb"] / 1024, 1),
        "small_baseline_mib": round(small["baseline_kb"] / 1024, 1),
        "large_baseline_mib": round(large["baseline_kb"] / 1024, 1),
        "small_seconds": small["seconds"],
        "large_seconds": large["seconds"],
        "small_growth_mib": round((small["peak_kb"] - small["baseline_kb"]) / 1024, 1),
        "large_growth_mib": round((large["peak_kb"] - large["baseline_kb"]) / 1024, 1),
        # wait4's figure, kept beside: on Linux it also counts the forking parent's peak (below), so it is no measure
        "small_wait4_maxrss_mib": round(small["ru_maxrss_kb"] / 1024, 1),
        "large_wait4_maxrss_mib": round(large["ru_maxrss_kb"] / 1024, 1),
        "ratio": large["peak_kb"] / small["peak_kb"],
        "growth_ratio": (large["peak_kb"] - large["baseline_kb"]) / max(1, small["peak_kb"] - small["baseline_kb"]),
    }
