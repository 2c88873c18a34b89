"""TikTok misbehaving at the webhook endpoint, over real HTTP on SQLite and PostgreSQL: signed pushes without a
`tts_notification_id`, with `timestamp: 0`, duplicated and out of order, ids as numbers and strings, unknown types,
shops deleted or another merchant's. Each ends in TikTok's state and is idempotent.

Rules under test (`domain/intake.py`): the inbox key without a notification id is a digest of type, shop, push
time and data (`notification_key`), so a redelivery is stored once and the same notice pushed again later is a new
event; a push time of 0 is unknown (`push_time`), never 1970-01-01.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from tests.e2e.test_store_management import REAUTH, complete, state_of
from tests.e2e.test_webhooks import all_settled, envelope, push, stored_events
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import wait_until

STATUS = "query($id: ID!) { shop(id: $id) { status } }"
DEAUTHORIZED = {"message": "Shop_id is deauthorized from your APP by merchant."}  # the same text every time


def connect(app: ShopbridgeServer, merchant: str = "m1", seller: str = "us-local") -> dict[str, Any]:
    shop = app.connect_shop(merchant, seller, "US")
    app.wait_for_idle_sync()
    return shop


def status_of(app: ShopbridgeServer, shop: dict[str, Any], merchant: str = "m1") -> str:
    return str(app.graphql(STATUS, {"id": shop["id"]}, merchant)["shop"]["status"])


def reauthorize(app: ShopbridgeServer, shop: dict[str, Any]) -> None:
    started = app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]
    state = state_of(started["authorizationUrl"])
    payload = complete(app, "m1", state, code=app.sandbox.authorize("us-local", state)["code"])
    assert payload["userErrors"] == [] and payload["reauthorized"] is True


def deauthorize(app: ShopbridgeServer, shop: dict[str, Any], timestamp: int | None) -> dict[str, Any]:
    """A seller deauthorization without a `tts_notification_id`, pushed at `timestamp` (None: no timestamp)."""
    body = envelope(6, shop["tiktokShopId"], DEAUTHORIZED, notification_id=None)
    if timestamp is None:
        del body["timestamp"]
    else:
        body["timestamp"] = timestamp
    assert push(app, body).status_code == 200
    wait_until(lambda: all_settled(app), what="the deauthorization processed")
    return body


class TestDeauthorizationWithoutNotificationId:
    def test_one_after_a_reauthorization_revokes_again_its_redelivery_is_dropped(self, app: ShopbridgeServer) -> None:
        shop = connect(app)
        # given the seller removed the app (a push without tts_notification_id): REVOKED
        first = int(time.time())
        deauthorize(app, shop, first)
        assert status_of(app, shop) == "REVOKED"
        # and the merchant re-authorized it
        reauthorize(app, shop)
        assert status_of(app, shop) == "ACTIVE"
        # when the seller removes the app again: the same type, shop and data, pushed later
        second = deauthorize(app, shop, max(int(time.time()), first + 1))
        # then it is a new event, and the shop is REVOKED again (it was dropped as a duplicate of the first: ACTIVE)
        assert len(stored_events(app)) == 2
        assert status_of(app, shop) == "REVOKED"
        # and a redelivery of that push (the same envelope) is still stored once
        assert push(app, second).status_code == 200
        assert len(stored_events(app)) == 2

    def test_an_undated_one_after_tiktoks_retry_span_is_no_retry_and_revokes_again(self, app: ShopbridgeServer) -> None:
        shop = connect(app)
        app.clock.advance(timedelta(hours=16))  # authorized longer ago than TikTok retries a push (15 h 32 min)
        # given the seller removed the app, pushed without id nor timestamp: REVOKED
        body = deauthorize(app, shop, None)
        assert status_of(app, shop) == "REVOKED"
        # and a redelivery of it within TikTok's retry span is dropped
        app.clock.advance(timedelta(hours=15))
        assert push(app, body).status_code == 200
        assert len(stored_events(app)) == 1
        # when the merchant re-authorizes, and more than the span later the seller removes the app again
        reauthorize(app, shop)
        app.clock.advance(timedelta(hours=16))
        deauthorize(app, shop, None)
        # then that push cannot be a retry of the first (TikTok's retries end 15 h 32 min after the first attempt):
        # a new event, and the shop is REVOKED again (it was dropped as a duplicate: ACTIVE)
        assert len(stored_events(app)) == 2
        assert status_of(app, shop) == "REVOKED"


class TestPushTimeZero:
    def test_a_deauthorization_pushed_at_0_is_undated_not_sent_in_1970(self, app: ShopbridgeServer) -> None:
        shop = connect(app)
        # given a shop authorized longer ago than TikTok retries a push (15 h 32 min)
        app.clock.advance(timedelta(hours=16))
        # when the seller removes the app and TikTok pushes it with `timestamp: 0` (an int64 it did not set)
        deauthorize(app, shop, 0)
        # then it counts as undated: sent after the authorization, so the shop is REVOKED (read as 1970-01-01, it
        # was IGNORED as sent before the authorization, and the shop stayed ACTIVE)
        assert status_of(app, shop) == "REVOKED"
        (event,) = stored_events(app)
        assert (event["outcome"], event["notified_at"]) == ("PROCESSED", None)
