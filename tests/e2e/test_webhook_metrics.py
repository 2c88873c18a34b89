"""Webhook metrics on /metrics over real HTTP, both databases: events received by type and inbox outcome, events
settled by type and outcome, the lag from receipt to settlement, and the intake's batch sizes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.processes import oneshot
from tests.fixtures.waiting import wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(app: ShopbridgeServer) -> Samples:
    found = {}
    for family in text_string_to_metric_families(oneshot.get(f"{app.url}/metrics").text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    def total(found: Samples) -> float:
        return sum(v for (n, ls), v in found.items() if n == name and labels.items() <= dict(ls).items())

    return total(after) - total(before)


def push(app: ShopbridgeServer, body: dict[str, Any]) -> int:
    raw = json.dumps(body).encode()
    tiktok = app.settings.tiktok
    mac = hmac.new(tiktok.app_secret.encode(), tiktok.app_key.encode() + raw, hashlib.sha256).hexdigest()
    return oneshot.post(f"{app.url}/webhooks/tiktok", content=raw, headers={"Authorization": mac}).status_code


def test_webhook_events_received_processed_and_their_lag(app: ShopbridgeServer) -> None:
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    order_id = app.sandbox.control("GET", f"/shops/{tiktok_id}/orders")["orders"][0]["id"]
    before = scrape(app)
    now = int(time.time())
    order_event = {"type": 1, "tts_notification_id": "m-1", "shop_id": tiktok_id, "timestamp": now,
                   "data": {"order_id": order_id, "order_status": "AWAITING_SHIPMENT"}}  # fmt: skip
    unknown_shop = {"type": 5, "tts_notification_id": "m-2", "shop_id": "404", "timestamp": now, "data": {}}
    unknown_type = {"type": 999, "tts_notification_id": "m-3", "shop_id": tiktok_id, "timestamp": now, "data": {}}
    # when TikTok pushes an order change (twice: a retry), a product change of a shop nobody connected, and a type
    # Shopbridge does not know
    assert [push(app, b) for b in (order_event, order_event, unknown_shop, unknown_type)] == [200] * 4

    def settled() -> Samples | None:
        after = scrape(app)
        return after if moved(before, after, "shopbridge_webhook_events_processed_total") >= 3 else None

    after = wait_until(settled, "the events settled")
    received = "shopbridge_webhook_events_received_total"
    # then each verified push is counted by its type and what the inbox did with it
    assert moved(before, after, received, type="ORDER_STATUS_CHANGE", outcome="stored") == 1
    assert moved(before, after, received, type="ORDER_STATUS_CHANGE", outcome="duplicate") == 1
    assert moved(before, after, received, type="PRODUCT_STATUS_CHANGE", outcome="stored") == 1
    assert moved(before, after, received, type="OTHER", outcome="stored") == 1
    assert moved(before, after, received, outcome="failed") == 0
    # and each settled event by its outcome: the order fetched and applied, the unknown shop's event ignored at
    # receipt, the unknown type ignored by the worker
    processed = "shopbridge_webhook_events_processed_total"
    assert moved(before, after, processed, type="ORDER_STATUS_CHANGE", outcome="processed") == 1
    assert moved(before, after, processed, type="PRODUCT_STATUS_CHANGE", outcome="ignored") == 1
    assert moved(before, after, processed, type="OTHER", outcome="ignored") == 1
    assert moved(before, after, processed) == 3
    # the lag from receipt to settlement is observed for the two events a worker settled
    assert moved(before, after, "shopbridge_webhook_processing_lag_seconds_count") == 2
    lag = moved(before, after, "shopbridge_webhook_processing_lag_seconds_sum")
    assert 0 <= lag < 60
    # and the pushes went through the intake's batches: three stored or found stored, one push per batch here
    assert moved(before, after, "shopbridge_webhook_intake_batch_size_count") == 4
    assert moved(before, after, "shopbridge_webhook_intake_batch_size_sum") == 4
