"""The sandbox's webhook sender over real HTTP: envelope, signature, addresses, retries, faults and the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from sandbox.config import SandboxConfig
from sandbox.webhooks import webhook_signature
from tests.fixtures.sandbox import SMALL_DATA, connect
from tests.fixtures.waiting import wait_until

EVENTS = "/event/202309/webhooks"
W1 = (
    b'{"type":1,"shop_id":"7494726673780148744","timestamp":1664095733,"data":{"order_id":"576684019603311365",'
    b'"order_status":"AWAITING_SHIPMENT","update_time":1664095610}}'
)
W2 = (
    b'{"type":6,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621","timestamp":1644412885,'
    b'"data":{"message":"Shop_id {xxx} is deauthorized from your APP by merchant."}}'
)


def expected_signature(config: SandboxConfig, body: bytes) -> str:
    """Independent of sandbox/webhooks.py: live-sync.md sec. 2.1."""
    return hmac.new(config.app_secret.encode(), config.app_key.encode() + body, hashlib.sha256).hexdigest()


def log(server, **query) -> list[dict]:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return server.control("GET", f"webhooks/log?{params}")["deliveries"]


def settled(server) -> bool:
    return server.world.webhooks.pending == 0


@pytest.fixture
def live(sandbox_factory, webhook_receiver):
    """A sandbox pushing to the receiver app-wide, with TikTok's retry schedule 100,000 times faster."""
    config = SandboxConfig(
        **SMALL_DATA, webhook_url=webhook_receiver.url, webhook_retry_factor=100_000, allow_insecure_webhook_urls=True
    )
    return sandbox_factory(config)


def sku_in_stock(server, shop_id: str) -> dict:
    products = server.control("GET", f"shops/{shop_id}/products")["products"]
    return next(
        sku
        for product in products
        if product["status"] == "ACTIVATE"
        for sku in product["skus"]
        if sum(stock["quantity"] for stock in sku["inventory"]) >= 3
    )


def sell(server, seller: str = "us-local", quantity: int = 1) -> str:
    shop_id = server.world.sellers[seller].shops[0].id
    sku = sku_in_stock(server, shop_id)
    return server.control("POST", f"shops/{shop_id}/sales", {"sku_id": sku["id"], "quantity": quantity})["order_id"]


@pytest.mark.parametrize(("body", "signature"), [
    (W1, "21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27"),
    (W2, "8fdf12fb222de4dcfb93c43732f54aacf6992d34df3503ab250711734f80610b"),
])  # fmt: skip
def test_signature_matches_the_published_vectors(body: bytes, signature: str) -> None:
    assert webhook_signature("fake_app_key", "fake_app_secret", body) == signature


def test_a_sale_pushes_a_signed_envelope(live, webhook_receiver) -> None:
    connect(live, "us-local")
    order_id = sell(live)
    (push,) = webhook_receiver.wait_for(lambda got: len(got) == 1)
    assert list(push.json) == ["type", "tts_notification_id", "shop_id", "timestamp", "data"]
    assert push.json["type"] == 1 and push.json["shop_id"] == live.world.sellers["us-local"].shops[0].id
    data = push.json["data"]
    assert data["order_id"] == order_id and data["order_status"] == "AWAITING_SHIPMENT"
    assert data["is_on_hold_order"] is False and isinstance(data["update_time"], int)
    assert push.authorization == expected_signature(live.config, push.body)
    entry = wait_until(lambda: log(live), what="a log entry")[0]
    assert entry["tts_notification_id"] == push.json["tts_notification_id"]
    assert (entry["type"], entry["attempt"], entry["status_code"], entry["error"]) == (1, 1, 200, None)
    assert entry["url"] == webhook_receiver.url


def test_a_shops_registration_wins_over_the_app_url(live, webhook_receiver) -> None:
    caller = connect(live, "us-local")
    live.control("POST", "webhooks", {"url": "http://127.0.0.1:9/nobody-listens"})
    registered = webhook_receiver.url + "?shop=us"
    assert caller.call("PUT", EVENTS, body={"address": registered, "event_type": "ORDER_STATUS_CHANGE"})["code"] == 0
    sell(live)
    webhook_receiver.wait_for(lambda got: len(got) == 1)
    assert wait_until(lambda: log(live))[0]["url"] == registered


def test_no_push_without_an_address_or_an_authorization(live, webhook_receiver) -> None:
    sell(live, "uk-local")  # never authorized the app
    live.control("POST", "webhooks", {"url": None})
    connect(live, "us-local")
    sell(live, "us-local")  # authorized, but no address
    assert settled(live) and log(live) == [] and webhook_receiver.received == []


def test_failures_are_retried_on_tiktoks_schedule_until_a_200(live, webhook_receiver) -> None:
    connect(live, "us-local")
    webhook_receiver.answer = lambda push: 200 if len(webhook_receiver.received) >= 2 else 503
    sell(live)
    webhook_receiver.wait_for(lambda got: len(got) == 3)
    wait_until(lambda: settled(live), what="the delivery ending")
    entries = log(live)
    assert [(e["attempt"], e["status_code"]) for e in entries] == [(1, 503), (2, 503), (3, 200)]
    assert len({e["tts_notification_id"] for e in entries}) == 1
    assert len({push.body for push in webhook_receiver.received}) == 1  # a retry resends the same bytes


def test_nothing_after_the_fourth_retry(live, webhook_receiver) -> None:
    connect(live, "us-local")
    webhook_receiver.answer = lambda push: 500
    sell(live)
    wait_until(lambda: len(log(live)) == 5 and settled(live), what="five attempts")
    assert [e["attempt"] for e in log(live)] == [1, 2, 3, 4, 5]
    assert len(webhook_receiver.received) == 5


def test_a_slow_answer_times_out_after_three_seconds(live, webhook_receiver) -> None:
    connect(live, "us-local")
    webhook_receiver.answer = lambda push: None if not webhook_receiver.received else 200
    sell(live)
    entries = wait_until(lambda: len(log(live)) == 2 and log(live), what="a timeout then a retry")
    assert (entries[0]["error"], entries[0]["status_code"]) == ("timeout", None)
    assert (entries[1]["attempt"], entries[1]["status_code"]) == (2, 200)


def test_control_settings_round_trip_and_validation(live) -> None:
    settings = {"url": "http://127.0.0.1:1/x", "drop": 0.1, "duplicate": 0.2, "reorder": 0.3, "delay_ms": 5,
                "bad_signature": 0.4}  # fmt: skip
    assert live.control("POST", "webhooks", settings) == settings
    assert live.control("GET", "webhooks") == settings
    for bad in ({"drop": 1.5}, {"delay_ms": -1}, {"url": "ftp://x"}, {"duplicates": 0.1}, {"reorder": True}):
        response = live.http.post(f"{live.url}/_sandbox/webhooks", json=bad)
        assert response.status_code == 400 and response.json()["error"]
    assert live.control("GET", "webhooks") == settings


def test_drop_never_sends(live, webhook_receiver) -> None:
    connect(live, "us-local")
    live.control("POST", "webhooks", {"drop": 1})
    sell(live)
    assert settled(live) and webhook_receiver.received == []
    assert [(e["attempt"], e["error"]) for e in log(live)] == [(1, "dropped")]


def test_duplicate_sends_twice(live, webhook_receiver) -> None:
    connect(live, "us-local")
    live.control("POST", "webhooks", {"duplicate": 1})
    sell(live)
    first, second = webhook_receiver.wait_for(lambda got: len(got) == 2)
    assert first.body == second.body


def test_bad_signature(live, webhook_receiver) -> None:
    connect(live, "us-local")
    live.control("POST", "webhooks", {"bad_signature": 1})
    webhook_receiver.answer = lambda push: (
        401 if push.authorization != expected_signature(live.config, push.body) else 200
    )
    sell(live)
    # The 401 makes the sender try again: on a busy host the retry can be in before this wait wakes up, so wait
    # for the first push, not for exactly one (seen: two equal pushes, "pushes never matched").
    push = webhook_receiver.wait_for(lambda got: len(got) >= 1)[0]
    assert len(push.authorization) == 64 and push.authorization != expected_signature(live.config, push.body)
    assert wait_until(lambda: log(live))[0]["status_code"] == 401


def test_reorder_holds_a_push_until_the_next_one_is_sent(live, webhook_receiver) -> None:
    connect(live, "us-local")
    live.control("POST", "webhooks", {"reorder": 1})
    first = sell(live)
    live.control("POST", "webhooks", {"reorder": 0})
    second = sell(live)
    pushes = webhook_receiver.wait_for(lambda got: len(got) == 2)
    assert [push.json["data"]["order_id"] for push in pushes] == [second, first]


def test_delay_ms_postpones_the_push(live, webhook_receiver) -> None:
    connect(live, "us-local")
    live.control("POST", "webhooks", {"delay_ms": 300})
    started = time.monotonic()
    sell(live)
    webhook_receiver.wait_for(lambda got: len(got) == 1)
    assert time.monotonic() - started >= 0.3


def test_big_product_ids_are_json_numbers(live, webhook_receiver) -> None:
    # Checked on the raw bytes: TikTok sends product_id unquoted (live-sync.md sec. 2.3).
    connect(live, "us-local")
    shop_id = live.world.sellers["us-local"].shops[0].id
    created = live.control("POST", f"shops/{shop_id}/products", {"title": "Big Id", "skus": [{"quantity": 5}]})
    (push,) = webhook_receiver.wait_for(lambda got: len(got) == 1)
    assert push.json["type"] == 16 and push.json["data"]["product_id"] == int(created["product_id"])
    assert f'"product_id":{created["product_id"]}'.encode() in push.body
    assert json.loads(push.body)["data"]["product_types"] == []


def test_reset_turns_webhook_faults_off_but_keeps_the_url(live, webhook_receiver) -> None:
    live.control("POST", "webhooks", {"drop": 1, "duplicate": 0.5, "reorder": 0.5, "delay_ms": 9, "bad_signature": 1})
    live.control("POST", "reset")
    assert live.control("GET", "webhooks") == {"url": webhook_receiver.url, "drop": 0.0, "duplicate": 0.0,
                                               "reorder": 0.0, "delay_ms": 0, "bad_signature": 0.0}  # fmt: skip
    overview = live.control("GET", "")
    assert overview["webhooks"]["url"] == webhook_receiver.url and overview["clock"]["offset_seconds"] == 0


def test_stopping_the_app_cancels_and_awaits_every_delivery(sandbox_factory, webhook_receiver) -> None:
    # A retry two minutes away and a push stuck on a hanging receiver are both in flight when the app stops.
    config = SandboxConfig(**SMALL_DATA, webhook_url=webhook_receiver.url)
    server = sandbox_factory(config)
    connect(server, "us-local")
    webhook_receiver.answer = lambda push: 500 if len(webhook_receiver.received) == 0 else None
    sell(server)
    wait_until(lambda: log(server), what="the first failed attempt")  # now waiting 120 s to retry
    sell(server)
    webhook_receiver.wait_for(lambda got: len(got) == 2)  # the second push hangs in the receiver
    sender = server.world.webhooks
    assert sender.pending == 2
    server.stop()
    assert sender.pending == 0 and sender._client is None and sender._ticker is None
