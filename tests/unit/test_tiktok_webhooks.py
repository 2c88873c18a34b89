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
    ("raw", "reason"),
    [(b"", "the body is not JSON: "), (b"not json", "the body is not JSON: "), (b"\xff\xfe", "the body is not JSON: "),
     (b'{"type":1,"data":{"order_id":NaN}}', "the body is not JSON: NaN is not a JSON number (RFC 8259)"),
     (b'{"type":1,"data":{"x":[Infinity]}}', "the body is not JSON: Infinity is not a JSON number (RFC 8259)"),
     (b'{"type":-Infinity}', "the body is not JSON: -Infinity is not a JSON number (RFC 8259)"),
     (b"[1]", "the body is not a JSON object"), (b'{"data":{}}', "type must be an integer"),
     (b'{"type":"1"}', "type must be an integer"), (b'{"type":true}', "type must be an integer"),
     (b'{"type":1,"data":[1]}', "data must be an object"),
     (b'{"type":1,"shop_id":{"x":1}}', "shop_id must be a string of at most 64 printable characters, or an integer"),
     (b'{"type":1,"tts_notification_id":"' + b"9" * 65 + b'"}',
      "tts_notification_id must be a string of at most 64 printable characters, or an integer")],
)  # fmt: skip
def test_anything_else_is_malformed_and_the_log_says_why(raw: bytes, reason: str) -> None:
    # the reason is what the operator reads in "signed webhook refused, not an envelope: ..."
    with pytest.raises(MalformedWebhookError) as refused:
        parse_notification(raw)
    assert str(refused.value).startswith(reason)
    assert reason.endswith(": ") or str(refused.value) == reason


def test_edges_of_the_envelope() -> None:
    # data absent or null is an empty object; lists inside it keep their values (Decimals as exact text)
    assert parse_notification(b'{"type":1}').data == {}
    assert parse_notification(b'{"type":1,"data":null}').data == {}
    assert parse_notification(b'{"type":2,"data":{"prices":[1.10,2]}}').data == {"prices": ["1.10", 2]}
    # an empty id is no id; an id of exactly 64 characters is kept
    assert parse_notification(b'{"type":1,"shop_id":""}').tiktok_shop_id is None
    # a timestamp that is not a number of seconds is no timestamp
    assert parse_notification(b'{"type":1,"timestamp":"1664095733"}').timestamp is None
    assert parse_notification(b'{"type":1,"timestamp":true}').timestamp is None
    sixty_four = "7" * 64
    parsed = parse_notification(b'{"type":1,"tts_notification_id":"' + sixty_four.encode() + b'"}')
    assert parsed.tts_notification_id == sixty_four


TYPE_RANGE = "type must be an integer from 0 to 2147483647"
ID_TEXT = "must be a string of at most 64 printable characters, or an integer"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b'{"type":99999999999999999999999}', TYPE_RANGE),  # the trial's push: beyond 64 bits (SQLite)
     (b'{"type":2147483648}', TYPE_RANGE),  # beyond PostgreSQL's INTEGER
     (b'{"type":-1}', TYPE_RANGE),
     (b'{"type":1,"shop_id":' + b"7" * 65 + b"}", "shop_id " + ID_TEXT),  # a number longer than VARCHAR(64)
     (b'{"type":1,"tts_notification_id":' + b"7" * 65 + b"}", "tts_notification_id " + ID_TEXT),
     (b'{"type":1,"shop_id":"74\\u000094"}', "shop_id " + ID_TEXT),  # NUL: PostgreSQL refuses it in text
     (b'{"type":1,"tts_notification_id":"\\ud800"}', "tts_notification_id " + ID_TEXT)],  # UTF-8 cannot encode it
)  # fmt: skip
def test_what_no_database_column_can_hold_is_malformed(raw: bytes, reason: str) -> None:
    # an insert the database refuses answers 500, and TikTok retries it for 12 hours: refused here instead (400)
    with pytest.raises(MalformedWebhookError) as refused:
        parse_notification(raw)
    assert str(refused.value) == reason


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-32-be"])
def test_a_body_in_another_encoding_than_utf8_is_not_json(encoding: str) -> None:
    # RFC 8259 sec. 8.1: JSON between systems is UTF-8 (TikTok's are); Python's decoder would detect UTF-16/32 from
    # bytes on its own and read them
    body = '{"type":1,"shop_id":"7494726673780148744","data":{"order_id":"576684019603311365"}}'
    with pytest.raises(MalformedWebhookError) as refused:
        parse_notification(body.encode(encoding))
    assert str(refused.value).startswith("the body is not JSON")
    # a UTF-8 byte order mark is allowed to be ignored (sec. 8.1) and is
    assert parse_notification(body.encode("utf-8-sig")).tiktok_shop_id == "7494726673780148744"


def test_data_nested_to_the_depth_limit_is_read_and_one_level_more_is_malformed() -> None:
    # the envelope is level 1 and its data level 2: 62 lists inside data reach 64 levels in all
    def body(lists: int) -> bytes:
        return b'{"type":1,"data":{"a":' + b"[" * lists + b"]" * lists + b"}}"

    assert parse_notification(body(62)).data["a"] is not None
    with pytest.raises(MalformedWebhookError) as refused:
        parse_notification(body(63))
    assert str(refused.value) == "the body is nested deeper than 64 levels"
    # nested beyond what Python's decoder follows at all (RecursionError), it is malformed too, never a crash
    with pytest.raises(MalformedWebhookError) as refused:
        parse_notification(body(100_000))
    assert str(refused.value) == "the body is nested deeper than 64 levels"


def test_the_edges_of_each_column_are_read_and_one_past_them_is_malformed() -> None:
    parsed = parse_notification(b'{"type":2147483647,"shop_id":' + b"7" * 64 + b',"tts_notification_id":0}')
    assert (parsed.type, parsed.tiktok_shop_id, parsed.tts_notification_id) == (2147483647, "7" * 64, "0")
    assert parse_notification(b'{"type":0,"shop_id":"caf\xc3\xa9 7"}').tiktok_shop_id == "caf\u00e9 7"
    with pytest.raises(MalformedWebhookError):
        parse_notification(b'{"type":2147483648}')
    with pytest.raises(MalformedWebhookError):
        parse_notification(b'{"type":1,"shop_id":' + b"7" * 65 + b"}")
    # a timestamp is read as it is; `domain.intake.push_time` decides whether it is a time
    assert parse_notification(b'{"type":1,"timestamp":99999999999999999999999}').timestamp == 10**23 - 1
