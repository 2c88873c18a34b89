"""`python -m bench.import_child SANDBOX_URL DAYS`: one ORDERS import in this process, then its memory, as JSON.

Settings come from the SHOPBRIDGE_* environment, exactly as a worker process gets them. The last stdout line is
`{"orders": ..., "seconds": ..., "baseline_kb": ..., "peak_kb": ...}`: RSS after start-up (everything imported,
resources built, shop connected) and the high-water mark (VmHWM) after the import.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta

from adapters.config import load_settings
from bench.harness import SandboxProcess
from bench.sync_run import SyncWorker
from domain.sync import SyncKind


def status_kb(field: str) -> int:
    """A `/proc/self/status` figure in kB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


async def main(sandbox_url: str, days: float) -> dict[str, object]:
    async with SyncWorker(load_settings()) as worker:
        sandbox = SandboxProcess(sandbox_url)
        try:
            shop = await worker.connect(sandbox)
        finally:
            sandbox.close()
        baseline = status_kb("VmRSS")
        run = await worker.run(shop, SyncKind.ORDERS, since=datetime.now(UTC) - timedelta(days=days))
    if run.task.status != "SUCCEEDED":
        raise SystemExit(f"the import ended {run.task.status}: {run.task.error_message}")
    return {
        "orders": run.task.created,
        "seconds": round(run.seconds, 2),
        "baseline_kb": baseline,
        "peak_kb": status_kb("VmHWM"),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], float(sys.argv[2])))), flush=True)
