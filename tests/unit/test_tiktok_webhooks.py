"""Webhooks on the wire: the signature over the raw body (vectors from live-sync.md §2.1) and the envelope."""

from __future__ import annotations

import pytest

from adapters.config import TikTokSettings
from adapters.tiktok.webhooks import MalformedWebhookError, is_authentic, parse_notification

SETTINGS = TikTokSettings("fake_app_key", "fake_app_secret", "1", "http://x", "http://x", "http://x")
W1 = (
    b'{"type":1,"shop_id":"7494726673780148744","timestamp":1664095733,"data":{"order_id":"576684019603311365",'
    b'"order_status":"AWAITING_SHIPMENT","update_time":1664095610}}'
)
W1_SIGNATURE = "21109834de72ec53c9959716d8514ae388ce1f123e5ffdcafc46713fcdf62b27"
W2 = (
    b'{"type":6,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621","timestamp":1644412885,'
    b'"data":{"message":"Shop_id {xxx} is deauthorized from your APP by merchant."}}'
)
W2_SIGNATURE = "8fdf12fb222de4dcfb93c43732f54aacf6992d34df3503ab250711734f80610b"


def test_the_published_vectors_verify_and_one_changed_byte_does_not() -> None:
    assert is_authentic(SETTINGS, W1, W1_SIGNATURE)
    assert is_authentic(SETTINGS, W2, W2_SIGNATURE)
    assert not is_authentic(SETTINGS, W2.replace(b"6", b"7", 1), W2_SIGNATURE)
    assert not is_authentic(SETTINGS, W2, None)
    assert not is_authentic(SETTINGS, W2, "")
    assert not is_authentic(SETTINGS, W2, W1_SIGNATURE)


def test_the_envelope_is_read_with_ids_as_text() -> None:
    notification = parse_notification(W2)
    assert (notification.type, notification.tts_notification_id, notification.tiktok_shop_id) == (
        6, "7327112393057371910", "7494049642642441621",
    )  # fmt: skip
    assert notification.timestamp == 1644412885 and notification.data["message"].startswith("Shop_id")
    # a product id as a bare number beyond 2^53 stays exact; a shop id sent as a number becomes text
    raw = b'{"type":5,"shop_id":7494049642642441621,"data":{"product_id":576486316948490001,"price":1.10}}'
    parsed = parse_notification(raw)
    assert parsed.tiktok_shop_id == "7494049642642441621"
    assert parsed.data == {"product_id": 576486316948490001, "price": "1.10"}
    assert parsed.tts_notification_id is None and parsed.timestamp is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1]", b'{"data":{}}', b'{"type":"1"}', b'{"type":true}', b'{"type":1,"data":[1]}',
     b'{"type":1,"shop_id":{"x":1}}', b'{"type":1,"tts_notification_id":"' + b"9" * 65 + b'"}', b"\xff\xfe"],
)  # fmt: skip
def test_anything_else_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedWebhookError):
        parse_notification(raw)
