"""The Event API (`GET|PUT|DELETE /event/202309/webhooks`) over real HTTP, validated as TikTok validates it."""

from __future__ import annotations

import pytest

from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SMALL_DATA, connect

EVENTS = "/event/202309/webhooks"
GOOD = "https://hooks.example.com/tiktok"


def test_put_get_delete_per_shop(sandbox) -> None:
    uk, my = connect(sandbox, "cross-border", 0), connect(sandbox, "cross-border", 1)
    assert uk.call("GET", EVENTS)["data"] == {"webhooks": [], "total_count": 0}
    put = uk.call("PUT", EVENTS, body={"address": GOOD, "event_type": "ORDER_STATUS_CHANGE"})
    assert put["code"] == 0 and put["data"] == {}
    uk.call("PUT", EVENTS, body={"address": GOOD + "/products", "event_type": "PRODUCT_CREATION"})
    listing = uk.call("GET", EVENTS)["data"]
    assert listing["total_count"] == 2
    by_type = {hook["event_type"]: hook for hook in listing["webhooks"]}
    assert by_type["ORDER_STATUS_CHANGE"]["address"] == GOOD
    assert set(by_type["PRODUCT_CREATION"]) == {"event_type", "address", "create_time", "update_time"}
    # Registrations are per shop: the seller's other shop has none.
    assert my.call("GET", EVENTS)["data"]["total_count"] == 0
    assert uk.call("DELETE", EVENTS, body={"event_type": "ORDER_STATUS_CHANGE"})["code"] == 0
    # Deleting what is not registered succeeds too, as TikTok documents.
    assert uk.call("DELETE", EVENTS, body={"event_type": "ORDER_STATUS_CHANGE"})["code"] == 0
    assert [h["event_type"] for h in uk.call("GET", EVENTS)["data"]["webhooks"]] == ["PRODUCT_CREATION"]


def test_update_keeps_create_time(sandbox) -> None:
    caller = connect(sandbox, "us-local")
    caller.call("PUT", EVENTS, body={"address": GOOD, "event_type": "ORDER_STATUS_CHANGE"})
    sandbox.control("POST", "clock", {"advance_seconds": 100})
    caller.call("PUT", EVENTS, body={"address": GOOD + "/v2", "event_type": "ORDER_STATUS_CHANGE"})
    (hook,) = caller.call("GET", EVENTS)["data"]["webhooks"]
    assert hook["address"] == GOOD + "/v2" and hook["update_time"] >= hook["create_time"] + 100


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("http://hooks.example.com/tiktok", "https"),
        ("https://hooks.example.com:8443/tiktok", "port"),
        ("https://203.0.113.7/tiktok", "IP"),
        ("https://localhost/tiktok", "domain"),
        ("http://127.0.0.1:9000/tiktok", "https"),  # loopback needs the flag
        ("https://hooks.example.com/" + "a" * 240, "255"),
        ("", "address is missing"),
        (None, "address is missing"),
    ],
)
def test_put_refuses_addresses_tiktok_refuses(sandbox, address, fragment: str) -> None:
    caller = connect(sandbox, "us-local")
    answer = caller.call("PUT", EVENTS, body={"address": address, "event_type": "ORDER_STATUS_CHANGE"})
    assert answer["code"] == 36009004 and fragment in answer["message"]
    assert caller.call("GET", EVENTS)["data"]["total_count"] == 0


def test_event_type_and_shop_cipher_are_required(sandbox) -> None:
    caller = connect(sandbox, "us-local")
    unknown = caller.call("PUT", EVENTS, body={"address": GOOD, "event_type": "ORDER_CHANGED"})
    assert unknown["code"] == 36009004 and "event_type" in unknown["message"]
    missing = caller.call("DELETE", EVENTS, body={})
    assert missing["code"] == 36009004 and "event_type" in missing["message"]
    assert caller.call("GET", EVENTS, with_cipher=False)["code"] == 106013
    assert caller.call("PATCH", EVENTS, body={})["code"] == 36009010


def test_loopback_http_needs_the_flag(sandbox_factory) -> None:
    server = sandbox_factory(SandboxConfig(**SMALL_DATA, allow_insecure_webhook_urls=True))
    caller = connect(server, "us-local")
    for address in ("http://127.0.0.1:9000/hooks", "http://localhost:8000/webhooks/tiktok"):
        assert caller.call("PUT", EVENTS, body={"address": address, "event_type": "PACKAGE_UPDATE"})["code"] == 0
    # The flag relaxes loopback only.
    refused = caller.call("PUT", EVENTS, body={"address": "http://hooks.example.com:80/x", "event_type": "NEW_MESSAGE"})
    assert refused["code"] == 36009004
