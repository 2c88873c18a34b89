"""The floor under benchmark 6: what fanning one task's state out to N WebSocket subscribers costs the server stack
alone (uvicorn, Starlette, Strawberry's graphql-transport-ws handler, graphql-core), with no database and no code
of ours.

    await fanout_floor(FanoutSizes(subscribers=1_000)) -> dict of figures (the same as benchmark 6's, `floor_*`)
    python -m bench.fanout_floor [--subscribers 300] [--updates 20] [--interval 0.5]

A minimal Strawberry schema (no extensions, Strawberry's own view, handler and executor) with one subscription,
`syncTaskUpdated(taskId: ID!)`, whose generator yields the current state (`id status processed`, the object shape
benchmark 6 asks for) at once and then on each signal (the latest state wins, as ours), completing after
SUCCEEDED. It is mounted on a Starlette app and served by uvicorn in a thread of this process with the WebSocket
options `shopbridge serve` uses (`gql.serving.protocol_options`). The same subscriber process as benchmark 6
(`bench/fanout_clients.py`) opens the same sockets with the same document; the same driver loop stamps each new
state's wall-clock time and signals the server's loop (`call_soon_threadsafe`, as the in-process event bus does),
`interval` seconds apart. Figures: the same delays (p50/p95/max) and the server thread's CPU per delivery.

Benchmark 6 runs it right after each database's run of ours, in the same process, so the two CPU figures per
delivery come from the same minutes of the same machine: their difference is what our code adds per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import gc
import json
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from bench.fanout_measure import FanoutSizes, GcWatch, delay_figures, thread_cpu_seconds
from bench.harness import ROOT, free_port, log
from gql.serving import protocol_options
from tests.fixtures.served import ThreadedServer

TASK_ID = "U3luY1Rhc2s6Zmxvb3I="  # any id: the floor has one task


@strawberry.enum
class SyncTaskStatus(enum.Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"


@strawberry.type
class SyncTask:
    id: strawberry.ID
    status: SyncTaskStatus
    processed: int


@dataclass
class Hub:
    """The one task's latest state and a future every waiting subscriber awaits (set and replaced per signal)."""

    state: SyncTask
    version: int = 0
    changed: asyncio.Future[None] | None = None
    loop: asyncio.AbstractEventLoop | None = None  # the server's, set at start-up

    def publish(self, state: SyncTask) -> None:
        """On the server's loop."""
        self.state = state
        self.version += 1
        if self.changed is not None and not self.changed.done():
            self.changed.set_result(None)
        self.changed = None

    async def wait(self) -> None:
        if self.changed is None:
            self.changed = asyncio.get_running_loop().create_future()
        await self.changed


def build_app(hub: Hub) -> Starlette:
    @strawberry.type
    class Query:
        @strawberry.field
        def ok(self) -> bool:
            return True

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def sync_task_updated(self, task_id: strawberry.ID) -> AsyncGenerator[SyncTask, None]:
            seen = -1
            while True:
                if hub.version != seen:
                    seen = hub.version
                    state = hub.state
                    yield state
                    if state.status is SyncTaskStatus.SUCCEEDED:
                        return
                    continue  # the state may have moved while this message was sent
                await hub.wait()

    schema = strawberry.Schema(query=Query, subscription=Subscription)
    graphql = GraphQL[Any, None](schema, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.loop = asyncio.get_running_loop()
        yield

    routes = [Route("/graphql", graphql), WebSocketRoute("/graphql", graphql)]
    return Starlette(routes=routes, lifespan=lifespan)


def _served(app: Starlette) -> ThreadedServer:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on",
        timeout_graceful_shutdown=2, **protocol_options(1_048_576),
    )  # fmt: skip
    return ThreadedServer(config, name="fanout-floor-server")


async def fanout_floor(sizes: FanoutSizes, log_path: Any = None) -> dict[str, Any]:
    """Benchmark 6's run against the floor's server; the same figures as `bench.fanout_bench.fanout`."""
    hub = Hub(SyncTask(id=strawberry.ID(TASK_ID), status=SyncTaskStatus.RUNNING, processed=0))
    served = _served(build_app(hub))
    url = served.start().replace("http://", "ws://", 1) + "/graphql"
    server_loop = hub.loop
    assert server_loop is not None
    stderr = open(log_path, "wb") if log_path is not None else subprocess.DEVNULL
    clients: subprocess.Popen[bytes] | None = None
    try:
        log(f"[6/floor] {sizes.subscribers} subscribers connecting")
        clients = subprocess.Popen(
            [sys.executable, "-m", "bench.fanout_clients", url, "no-token", TASK_ID, str(sizes.subscribers), "300"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
        assert clients.stdout is not None
        line = await asyncio.to_thread(clients.stdout.readline)
        if line.strip() != b"ready":
            raise RuntimeError(f"the floor's subscribers did not all connect: {line!r}")
        log(f"[6/floor] all subscribed; {sizes.updates} updates {sizes.interval}s apart")
        native = served.thread.native_id
        assert native is not None
        cpu = thread_cpu_seconds(native)
        collections = GcWatch()
        gc.callbacks.append(collections)
        commits: dict[tuple[int, str], float] = {}
        try:
            for n in range(1, sizes.updates + 2):
                status = SyncTaskStatus.RUNNING if n <= sizes.updates else SyncTaskStatus.SUCCEEDED
                state = SyncTask(id=strawberry.ID(TASK_ID), status=status, processed=min(n, sizes.updates))
                commits[(state.processed, status.value)] = time.time()
                server_loop.call_soon_threadsafe(hub.publish, state)
                await asyncio.sleep(sizes.interval)
            output = await asyncio.to_thread(clients.stdout.read)
            clients.wait(timeout=60)
            cpu = thread_cpu_seconds(native) - cpu
        finally:
            gc.callbacks.remove(collections)
    finally:
        if clients is not None and clients.poll() is None:
            clients.kill()
            clients.wait()
        if clients is not None and clients.stdout is not None:
            clients.stdout.close()
        if log_path is not None:
            stderr.close()  # type: ignore[union-attr]
        served.stop()
    result = json.loads(output.decode().strip().splitlines()[-1])
    if result["completed"] != sizes.subscribers or result["errors"]:
        raise RuntimeError(f"floor: {result['completed']} of {sizes.subscribers} completed; {result['errors']}")
    figures = delay_figures(result, commits, sizes, cpu, collections)
    log(
        f"[6/floor] {figures['deliveries']} deliveries: p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} "
        f"ms; server thread CPU {figures['api_cpu_ms_per_delivery']:.3f} ms per delivery; "
        f"GC {collections.collections} in {sum(collections.cpu_s):.2f} s CPU"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    sizes = FanoutSizes(subscribers=args.subscribers, updates=args.updates, interval=args.interval)
    print(json.dumps(asyncio.run(fanout_floor(sizes)), indent=2))


if __name__ == "__main__":
    main()
