"""An order webhook pushed before Get Order Detail can return the order, or its new version (TikTok's read lag),
over real HTTP: the event is retried, not settled for good, and ends PROCESSED once TikTok serves it.

The sandbox leaves an order out of Get Order Detail while the test holds it under `detail_lag` (its control
surface), or serves its version before a change under `stale_detail`; the test signs its pushes itself
(`tests.e2e.test_webhooks.push`). The stale sweep, which retries the shops with events still PENDING, runs every
0.5-1 s here (`sync_stale_after_seconds=1`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_webhooks import EVENTS, envelope, orders_of, push, stored_events
from tests.fixtures.waiting import wait_until


def _event(app: Any) -> dict[str, Any]:
    (event,) = stored_events(app)
    return event


def test_an_order_webhook_ahead_of_get_order_detail_is_retried_then_processed(app_factory) -> None:
    app = app_factory(sync_stale_after_seconds=1)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    # given a new order TikTok's Get Order Detail does not serve yet
    created = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/orders", {"orders": [{"status": "AWAITING_SHIPMENT", "detail_lag": True}]}
    )
    order_id = created["orders"][0]["id"]
    # when its status-change webhook arrives first
    assert (
        push(app, envelope(1, tiktok_id, {"order_id": order_id, "order_status": "AWAITING_SHIPMENT"})).status_code
        == 200
    )
    # then its first run leaves it PENDING, saying why and until when: not FAILED for good (it was)
    wait_until(lambda: _event(app)["attempts"] >= 1, what="a first attempt")
    event = _event(app)
    assert (event["outcome"], event["error_code"]) == ("PENDING", "ORDER_NOT_FOUND")
    # and it is retried (the sweep runs it again)
    wait_until(lambda: _event(app)["attempts"] >= 2, what="a second attempt")
    event = _event(app)
    assert (event["outcome"], event["error_code"]) == ("PENDING", "ORDER_NOT_FOUND")
    assert "retried until" in event["error_message"]
    node = app.graphql(EVENTS, {"id": shop["id"], "first": 5}, "m1")["webhookEvents"]["edges"][0]["node"]
    assert (node["outcome"], node["errorCode"], node["processedAt"]) == ("PENDING", "ORDER_NOT_FOUND", None)
    # when TikTok serves the order
    app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": [{"id": order_id, "detail_lag": False}]})
    # then a retry fetches it: the order is stored and the event PROCESSED, with no error left on it
    wait_until(lambda: _event(app)["outcome"] == "PROCESSED", what="the event processed")
    event = _event(app)
    assert (event["error_code"], event["error_message"]) == (None, None)
    assert orders_of(app, shop["id"])[order_id]["status"] == "AWAITING_SHIPMENT"


# An event PENDING with a code is stored as ORDER_NOT_FOUND's, which the test above runs on both databases.
@subject_not_the_database("the domain's stale order rule (`domain.intake.stale_order`)")
def test_an_order_webhook_newer_than_get_order_details_version_is_retried_until_tiktok_serves_it(app_factory) -> None:
    app = app_factory(sync_stale_after_seconds=1)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    tiktok_id = shop["tiktokShopId"]
    placed = int(time.time()) - 600
    # given a paid order Shopbridge has from its webhook
    created = app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/orders",
        {"orders": [{"status": "AWAITING_SHIPMENT", "create_time": placed, "update_time": placed}]},
    )  # fmt: skip
    order_id = created["orders"][0]["id"]
    data = {"order_id": order_id, "order_status": "AWAITING_SHIPMENT", "update_time": placed}
    assert push(app, envelope(1, tiktok_id, data)).status_code == 200
    wait_until(lambda: _event(app)["outcome"] == "PROCESSED", what="the order's first event processed")
    # when the buyer cancels it, and its webhook (saying when) arrives while Get Order Detail still serves the
    # version before (TikTok's read lag)
    cancelled = placed + 60
    app.sandbox.control(
        "POST", f"/shops/{tiktok_id}/orders",
        {"orders": [{"id": order_id, "status": "CANCELLED", "update_time": cancelled, "stale_detail": True}]},
    )  # fmt: skip
    data = {"order_id": order_id, "order_status": "CANCEL", "update_time": cancelled}
    assert push(app, envelope(1, tiktok_id, data)).status_code == 200
    # then the event is not settled with the older version (it was PROCESSED, the cancellation left to the poll):
    # it stays PENDING, saying why and until when, and is retried
    latest = lambda: stored_events(app)[-1]  # noqa: E731
    wait_until(lambda: latest()["attempts"] >= 1, what="a first attempt")
    assert (latest()["outcome"], latest()["error_code"]) == ("PENDING", "STALE_ORDER")
    wait_until(lambda: latest()["attempts"] >= 2, what="a second attempt")
    event = latest()
    assert (event["outcome"], event["error_code"]) == ("PENDING", "STALE_ORDER")
    stamp = lambda seconds: datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    assert f"{stamp(placed)}, before this event's update_time {stamp(cancelled)}" in event["error_message"]
    assert "retried until" in event["error_message"]
    assert orders_of(app, shop["id"])[order_id]["status"] == "AWAITING_SHIPMENT"
    # when TikTok serves the cancelled version
    app.sandbox.control("POST", f"/shops/{tiktok_id}/orders", {"orders": [{"id": order_id, "stale_detail": False}]})
    # then a retry stores it and the event is PROCESSED, with no error left on it
    wait_until(lambda: latest()["outcome"] == "PROCESSED", what="the cancellation's event processed")
    event = latest()
    assert (event["error_code"], event["error_message"]) == (None, None)
    assert orders_of(app, shop["id"])[order_id]["status"] == "CANCELLED"
