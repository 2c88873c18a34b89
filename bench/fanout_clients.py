"""Benchmark 6's subscribers, in a child process of their own (their CPU never delays the API's or the writer's).

    python -m bench.fanout_clients WS_URL TOKEN TASK_ID COUNT TIMEOUT_S
    python -m bench.fanout_clients WS_URL TOKEN ITEM_ID COUNT TIMEOUT_S item FINAL_ON_HAND

Opens COUNT WebSockets (graphql-transport-ws), each subscribing to `syncTaskUpdated(taskId)` (with `item`:
`inventoryItemUpdated(inventoryItemId)`); prints `ready` once every one has its first message (the current state),
then records every message's arrival (wall clock, `time.time()`, the clock the writer stamps commits with) until each
subscription completes after SUCCEEDED (an item's: once it has received `onHand` FINAL_ON_HAND; it closes its socket
then), and prints one JSON line: `{"deliveries": [[subscriber, processed, status, at], ...], "completed": n,
"errors": [...]}` (an item's deliveries: `[subscriber, onHand, "ITEM", at]`).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

from websockets.asyncio.client import connect

QUERY = "subscription($id: ID!) { syncTaskUpdated(taskId: $id) { id status processed } }"
ITEM_QUERY = "subscription($id: ID!) { inventoryItemUpdated(inventoryItemId: $id) { id onHand version } }"
PROTOCOL = "graphql-transport-ws"


async def subscriber(
    n: int,
    url: str,
    token: str,
    task_id: str,
    ready: asyncio.Event,
    first: list[int],
    out: dict[str, Any],
    gate: asyncio.Semaphore,
    final_on_hand: int | None = None,
) -> None:
    await gate.acquire()  # released at the first message: a bounded number of handshakes at once
    released = False
    try:
        async with connect(url, subprotocols=[PROTOCOL], max_size=None, open_timeout=120) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
            ack = json.loads(await socket.recv())
            assert ack["type"] == "connection_ack", ack
            query = QUERY if final_on_hand is None else ITEM_QUERY
            payload = {"query": query, "variables": {"id": task_id}}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            got_first = False
            while True:
                raw = await socket.recv()
                at = time.time()
                message = json.loads(raw)
                if message["type"] == "next":
                    if "errors" in message["payload"]:
                        out["errors"].append(message["payload"]["errors"])
                        return
                    data = message["payload"]["data"]
                    if final_on_hand is None:
                        task = data["syncTaskUpdated"]
                        out["deliveries"].append([n, task["processed"], task["status"], at])
                    else:
                        on_hand = data["inventoryItemUpdated"]["onHand"]
                        out["deliveries"].append([n, on_hand, "ITEM", at])
                    if not got_first:
                        got_first = True
                        gate.release()
                        released = True
                        first[0] += 1
                        if first[0] == out["count"]:
                            ready.set()
                    if final_on_hand is not None and on_hand == final_on_hand:
                        out["completed"] += 1
                        return  # an item's subscription never completes: the client leaves
                elif message["type"] == "complete":
                    out["completed"] += 1
                    return
                elif message["type"] == "error":
                    out["errors"].append(message["payload"])
                    return
    finally:
        if not released:
            gate.release()


async def main(url: str, token: str, task_id: str, count: int, timeout: float, final_on_hand: int | None) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count * 2 + 100)), hard))
    out: dict[str, Any] = {"deliveries": [], "completed": 0, "errors": [], "count": count}
    ready = asyncio.Event()
    first = [0]
    gate = asyncio.Semaphore(50)  # connections opened at once

    async def one(n: int) -> None:
        try:
            await subscriber(n, url, token, task_id, ready, first, out, gate, final_on_hand)
        except Exception as error:  # reported, counted as a subscriber that did not complete
            out["errors"].append(f"{type(error).__name__}: {error}")

    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    await asyncio.wait_for(ready.wait(), timeout)
    print("ready", flush=True)
    await asyncio.wait(tasks, timeout=timeout)
    out["errors"] = [str(e)[:300] for e in out["errors"][:20]]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    url, token, task_id, count, timeout = sys.argv[1:6]
    final = int(sys.argv[7]) if sys.argv[6:7] == ["item"] else None
    asyncio.run(main(url, token, task_id, int(count), float(timeout), final))
