"""Benchmark 7's webhook load, in a child process of its own (so that its clients never share the API's GIL).

    python -m bench.webhook_load URL --app-key K --app-secret S --shop-id ID --orders ID,ID,... \
        [--rate 200] [--seconds 10] [--clients 8]   -> one JSON line on stdout: latencies (ms) and the pacing

Sends `rate * seconds` signed ORDER_STATUS_CHANGE pushes (type 1; live-sync.md §2.1: `Authorization` = hex
HMAC-SHA256(app secret, app key + raw body)), each with its own `tts_notification_id`, naming the given orders in
turn. Push i is due at start + i / rate; `clients` workers (one httpx.AsyncClient each, keep-alive) take the next
push, wait until it is due and time its POST (request sent to response read). A worker that falls behind sends at
once: the achieved rate says whether the pacing held. The notification ids answered 200 are listed, so that the
bench can check that each acknowledged push is in the inbox.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any

import httpx

from adapters.tiktok.signing import webhook_signature

FIRST_NOTIFICATION_ID = 7_500_000_000_000_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_load")
    parser.add_argument("url", help="the webhook endpoint, e.g. http://127.0.0.1:8000/webhooks/tiktok")
    parser.add_argument("--app-key", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--shop-id", required=True, help="TikTok's shop id")
    parser.add_argument("--orders", required=True, help="TikTok order ids the pushes name, comma-separated")
    parser.add_argument("--rate", type=float, default=200.0, help="pushes per second (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long (default %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default %(default)s)")
    return parser.parse_args(argv)


def bodies(shop_id: str, orders: list[str], count: int) -> list[bytes]:
    statuses = itertools.cycle(["AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED"])
    now = int(time.time())
    return [
        json.dumps({
            "type": 1, "tts_notification_id": str(FIRST_NOTIFICATION_ID + i), "shop_id": shop_id, "timestamp": now,
            "data": {"order_id": orders[i % len(orders)], "order_status": next(statuses), "update_time": now},
        }).encode()
        for i in range(count)
    ]  # fmt: skip


async def load(args: argparse.Namespace) -> dict[str, Any]:
    count = max(1, round(args.rate * args.seconds))
    payloads = [(raw, webhook_signature(args.app_key, args.app_secret, raw)) for raw in bodies(
        args.shop_id, args.orders.split(","), count
    )]  # fmt: skip
    latencies: list[float] = [0.0] * count
    statuses: dict[int, int] = {}
    late: list[float] = []
    acknowledged: list[str] = []  # tts_notification_ids answered 200: each must be in the inbox afterwards
    next_index = itertools.count()
    start = time.perf_counter() + 0.2

    async def worker(client: httpx.AsyncClient) -> None:
        while (i := next(next_index)) < count:
            due = start + i / args.rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                late.append(-wait)
            raw, sign = payloads[i]
            sent = time.perf_counter()
            response = await client.post(
                args.url, content=raw, headers={"content-type": "application/json", "Authorization": sign}
            )
            latencies[i] = (time.perf_counter() - sent) * 1000
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                acknowledged.append(str(FIRST_NOTIFICATION_ID + i))

    clients = [httpx.AsyncClient(timeout=30) for _ in range(args.clients)]
    try:
        for client in clients:  # open each keep-alive connection before the clock starts
            await client.get(args.url.rsplit("/webhooks/", 1)[0] + "/healthz")
        start = time.perf_counter() + 0.2
        await asyncio.gather(*(worker(client) for client in clients))
        elapsed = time.perf_counter() - start
    finally:
        for client in clients:
            await client.aclose()
    return {
        "sent": count,
        "statuses": {str(code): n for code, n in sorted(statuses.items())},
        "seconds": round(elapsed, 2),
        "achieved_per_s": round(count / elapsed, 1),
        "late_sends": len(late),
        "max_late_ms": round(max(late, default=0.0) * 1000, 1),
        "latencies_ms": [round(value, 3) for value in latencies],
        "acknowledged": acknowledged,
    }


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(asyncio.run(load(parse_args(argv)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
