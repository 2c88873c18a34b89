"""TikTok signing (tiktok-api.md sec. 14), error classification, payload mapping and the rate limiter's schedule.

Every expected signature is built here by hand from the algorithm and hashed with `hmac` directly: the code under
test never computes its own expectation.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import json
import re
from collections.abc import Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from msgspec import Raw

from adapters.tiktok import errors, records
from adapters.tiktok.ratelimit import RateLimiter
from adapters.tiktok.signing import sign, verify_webhook, webhook_signature
from domain.catalog import Order, Product
from domain.ports import (
    AuthorizationLostError,
    GatewayRefusedError,
    MissingPermissionError,
    TikTokUnavailableError,
)
from domain.stored import StoredProduct
from domain.sync import RecordFailure

SECRET = "e59af819cc"


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# -- request signing ---------------------------------------------------------------------------------------------


def test_v1_official_vector():
    # given the documented example, when signed, then the documented sign
    result = sign(SECRET, "/authorization/202309/shops", {"app_key": "29a39d", "timestamp": 1623812664})
    assert result == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    # and that is the HMAC of the documented wrapped string
    wrapped = b"e59af819cc/authorization/202309/shopsapp_key29a39dtimestamp1623812664e59af819cc"
    assert result == hmac_hex(SECRET, wrapped)


def test_sign_and_access_token_are_excluded():
    base = {"app_key": "29a39d", "timestamp": 1623812664, "shop_cipher": "GCP_x"}
    with_extras = {**base, "sign": "deadbeef", "access_token": "TTP_secret"}
    expected = hmac_hex(
        SECRET, b"e59af819cc/order/202309/ordersapp_key29a39dshop_cipherGCP_xtimestamp1623812664e59af819cc"
    )
    assert sign(SECRET, "/order/202309/orders", with_extras) == expected
    assert sign(SECRET, "/order/202309/orders", base) == expected


def test_arrays_are_comma_joined():
    query = {"app_key": "k", "timestamp": 1700000000, "ids": ["576461413038785752", "576461413038785753"]}
    expected = hmac_hex(
        "s", b"s/order/202309/ordersapp_keykids576461413038785752,576461413038785753timestamp1700000000s"
    )
    assert sign("s", "/order/202309/orders", query) == expected


def test_keys_sort_by_bytes_not_by_locale():
    # "Z" (0x5a) < "_" (0x5f) < "a" (0x61): uppercase first, then underscore, then lowercase.
    query = {"a": "1", "_b": "2", "Z": "3", "a_": "4"}
    expected = hmac_hex("s", b"s/pZ3_b2a1a_4s")
    assert sign("s", "/p", query) == expected


def test_body_is_appended_exactly_as_sent():
    query = {"app_key": "k", "timestamp": 1}
    compact, spaced = b'{"a":1}', b'{"a": 1}'
    compact_sign = sign("s", "/p", query, compact)
    spaced_sign = sign("s", "/p", query, spaced)
    assert compact_sign == hmac_hex("s", b's/papp_keyktimestamp1{"a":1}s')
    assert spaced_sign == hmac_hex("s", b's/papp_keyktimestamp1{"a": 1}s')
    assert compact_sign != spaced_sign


def test_literal_empty_object_body_is_signed_and_no_body_is_not():
    query = {"app_key": "k", "timestamp": 1}
    assert sign("s", "/p", query, b"{}") == hmac_hex("s", b"s/papp_keyktimestamp1{}s")
    assert sign("s", "/p", query, None) == hmac_hex("s", b"s/papp_keyktimestamp1s")
    assert sign("s", "/p", query, b"") == hmac_hex("s", b"s/papp_keyktimestamp1s")
    assert sign("s", "/p", query, b"{}") != sign("s", "/p", query, None)


def test_multipart_body_is_never_signed():
    query = {"app_key": "k", "timestamp": 1}
    assert sign("s", "/p", query, b"--boundary...", multipart=True) == hmac_hex("s", b"s/papp_keyktimestamp1s")


def test_page_token_is_signed_raw_with_slash_plus_equals_and_non_ascii():
    token = "b2Zm/c2V0+PTAK=ñ✓"
    query = {"app_key": "k", "timestamp": 1, "page_token": token, "page_size": 100}
    expected_message = "s/papp_keykpage_size100page_token" + token + "timestamp1s"
    assert sign("s", "/p", query) == hmac_hex("s", expected_message.encode("utf-8"))


def test_signature_is_lowercase_hex():
    result = sign("S3CRET", "/p", {"app_key": "K", "timestamp": 1})
    assert re.fullmatch(r"[0-9a-f]{64}", result)


# -- webhooks -----------------------------------------------------------------------------------------------------


def test_webhook_signature_is_hmac_of_app_key_and_raw_body():
    raw = b'{"type":1,"shop_id":"7494049642642441621","data":{"order_id":"576486316948490001"}}'
    expected = hmac_hex("secret", b"appkey" + raw)
    assert webhook_signature("appkey", "secret", raw) == expected
    assert verify_webhook("appkey", "secret", raw, expected)


def test_webhook_with_one_changed_byte_fails():
    raw = b'{"type":1,"shop_id":"7494049642642441621"}'
    header = hmac_hex("secret", b"appkey" + raw)
    tampered = raw.replace(b"7494", b"7495")
    assert not verify_webhook("appkey", "secret", tampered, header)
    assert not verify_webhook("appkey", "secret", raw, header[:-1] + ("0" if header[-1] != "0" else "1"))
    assert not verify_webhook("appkey", "secret", raw, None)
    assert not verify_webhook("appkey", "secret", raw, "")


# -- error classification -----------------------------------------------------------------------------------------


def envelope(code: int, message: str = "", request_id: str = "REQ1") -> dict[str, object]:
    return {"code": code, "message": message, "data": None, "request_id": request_id}


def test_success_is_code_zero_on_2xx():
    assert errors.classify(200, envelope(0, "Success")) is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, envelope(36009002, "Too many requests"), errors.RateLimitedError),
        (200, envelope(36009002, "Too many requests"), errors.RateLimitedError),
        (500, envelope(36009003, "Internal error"), errors.ServerError),
        (503, envelope(36009003, "Service unavailable"), errors.ServerError),
        (200, envelope(36009003, "Internal error, retry"), errors.ServerError),
        (200, envelope(36009007, "Request timeout"), errors.ServerError),
        (502, None, errors.ServerError),
        (429, None, errors.RateLimitedError),
        (200, None, errors.MalformedResponseError),
        (
            200,
            envelope(105002, "Expired credentials. The x-tts-access-token header has expired."),
            errors.AccessTokenExpiredError,
        ),
        (200, envelope(105005, "Access denied: scope"), errors.MissingScopeError),
        (
            200,
            envelope(36009004, "Invalid credentials. The x-tts-access-token header is invalid."),
            errors.InvalidAccessTokenError,
        ),
        (200, envelope(36009004, "The access_token is invalid"), errors.InvalidAccessTokenError),
        (200, envelope(101000, "Invalid shop_cipher or x-tts-access-token"), errors.InvalidAccessTokenError),
        (401, envelope(106001, "Invalid credentials. The sign query parameter is invalid."), errors.SignatureError),
        (200, envelope(36009004, "Missing sign. The sign query parameter is required."), errors.SignatureError),
        (200, envelope(36009004, "Invalid timestamp. The timestamp is older than 5 minutes."), errors.ClockSkewError),
        (
            200,
            envelope(36009004, "Invalid app_key. The app_key query parameter is invalid."),
            errors.InvalidRequestError,
        ),
        (
            200,
            envelope(36009004, "Unexpected identifier. The shop_cipher query parameter is not required."),
            errors.InvalidRequestError,
        ),
        (200, envelope(106013, "Missing shop_cipher"), errors.InvalidRequestError),
        (200, envelope(36009009, "Invalid path"), errors.InvalidRequestError),
        (200, envelope(36009010, "Invalid method"), errors.InvalidRequestError),
        (200, envelope(36009014, "The version name is invalid"), errors.InvalidRequestError),
        (
            200,
            envelope(12052180, "The total number of search results can not exceed 10000."),
            errors.SearchCapExceededError,
        ),
        (200, envelope(21008111, "The order does not belong to the current seller"), errors.RecordNotFound),
        (400, None, errors.InvalidRequestError),
    ],
)
def test_classify_reads_the_envelope_code_first(status, body, expected):
    error = errors.classify(status, body)
    assert type(error) is expected
    assert error.http_status == status
    if body is not None:
        assert error.code == body["code"]
        assert error.request_id == "REQ1"
        assert error.message == body["message"]


def test_code_zero_under_an_error_status_is_not_success():
    assert isinstance(errors.classify(503, envelope(0, "Success")), errors.ServerError)


def test_retryable_errors_are_tiktok_unavailable_for_services():
    # Once the retries are spent the client raises the last transient error as is: services see UNAVAILABLE.
    for code, status in [(36009002, 429), (36009003, 500), (36009007, 200), (105002, 200)]:
        error = errors.classify(status, envelope(code))
        assert isinstance(error, TikTokUnavailableError)
        assert error.retryable
    assert isinstance(errors.NetworkError("timed out"), TikTokUnavailableError)


def test_lost_authorization_is_the_domain_error():
    for code, message in [(36009004, "The x-tts-access-token header is invalid."), (101000, "token/cipher")]:
        error = errors.classify(200, envelope(code, message))
        assert isinstance(error, AuthorizationLostError)
        assert not error.retryable
    assert issubclass(errors.InvalidRefreshTokenError, AuthorizationLostError)
    assert issubclass(errors.AuthCodeRejectedError, AuthorizationLostError)


def test_a_missing_scope_is_a_refusal_of_one_api_not_a_lost_authorization():
    # tiktok-api.md sec. 13.8: scope errors look like auth errors, but the authorization still holds
    error = errors.classify(200, envelope(105005, "Access denied."))
    assert isinstance(error, MissingPermissionError) and isinstance(error, GatewayRefusedError)
    assert not isinstance(error, AuthorizationLostError | TikTokUnavailableError)
    assert not error.retryable


def test_our_bugs_and_business_refusals_are_refusals_neither_retryable_nor_lost_authorization():
    for code, message, status in [
        (106001, "Invalid credentials. The sign query parameter is invalid.", 401),
        (36009004, "Invalid parameter. A required parameter is missing.", 200),
        (36009004, "Invalid timestamp.", 200),
        (36009009, "Invalid path", 200),
        (21008111, "The order does not belong to the current seller", 200),
    ]:
        error = errors.classify(status, envelope(code, message))
        assert isinstance(error, errors.ClientBugError | errors.ApiError)
        assert isinstance(error, GatewayRefusedError) and not isinstance(error, MissingPermissionError)
        assert not isinstance(error, TikTokUnavailableError | AuthorizationLostError)


def test_error_text_names_code_and_request_id():
    error = errors.classify(401, envelope(106001, "Invalid credentials.", request_id="2024ABC"))
    assert str(error) == "Invalid credentials. (code=106001, http=401, request_id=2024ABC)"


# -- decoding records ------------------------------------------------------------------------------------------------


def raw_json(value: Any) -> Raw:
    """An envelope's `data` as the transport hands it over: raw JSON bytes."""
    return Raw(json.dumps(value).encode())


PRODUCT = {
    "id": "1729592969712207008",
    "title": "Short Boat Invisible Socks ñ",
    "status": "ACTIVATE",
    "create_time": 1234567890,
    "update_time": 1234567900,
    "skus": [
        {
            "id": "1729592969712207012",
            "seller_sku": "Color-Red-XM01",
            "price": {"currency": "USD", "sale_price": "121.11", "tax_exclusive_price": "111.01"},
            "inventory": [{"quantity": 999, "warehouse_id": "7068517275539719942"}],
        }
    ],
}

ORDER = {
    "id": "576461413038785752",
    "status": "AWAITING_SHIPMENT",
    "create_time": 1619611561,
    "update_time": 1619611563,
    "payment": {"currency": "IDR", "total_amount": "5000.10", "sub_total": "5000"},
    "line_items": [
        {
            "id": "577086512123755123",
            "sku_id": "2729382476852921560",
            "seller_sku": "red_iphone_256",
            "product_id": "1729582718312380123",
            "product_name": "iPhone",
            "sale_price": "0.01",
            "currency": "IDR",
        },
        {
            "id": "577086512123755124",
            "sku_id": "2729382476852921560",
            "product_name": "iPhone",
            "sale_price": "0.01",
            "quantity": 3,
        },
    ],
    "recipient_address": {"name": "Ana", "region_code": "US"},
    "user_id": "7021436810468230477",
}


def test_product_maps_ids_as_strings_money_as_decimal_and_times_as_utc():
    product = records.product(PRODUCT)
    assert isinstance(product, Product)
    assert product.tiktok_product_id == "1729592969712207008"
    assert product.created_at == datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)
    sku = product.skus[0]
    assert sku.tiktok_sku_id == "1729592969712207012"
    assert sku.price.amount == Decimal("121.11") and sku.price.currency == "USD"
    assert sku.quantity == 999 and sku.stock[0].warehouse_id == "7068517275539719942"


def test_ids_beyond_2_53_sent_as_json_numbers_keep_every_digit():
    # given an id above 2^53 that a float would round, in an envelope as our transport splits it
    from adapters.tiktok.transport import decode_envelope

    raw = b'{"code":0,"data":{"id":576486316948490001,"title":"x","create_time":1,"update_time":1,"skus":[]}}'
    envelope, data = decode_envelope(raw)
    assert envelope is not None and envelope["code"] == 0
    product = records.product(data)
    assert product.tiktok_product_id == "576486316948490001"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "Expected `str`, got `null` - at `$.id`"),
        ({"id": "  "}, "missing id"),
        ({"create_time": "yesterday"}, "Expected `int`, got `str` - at `$.create_time`"),
        (
            {"skus": [{"id": "9", "price": {"currency": "USD", "sale_price": "12,50"}}]},
            "Invalid decimal string - at `$.skus[0].price.sale_price`",
        ),
        (
            {"skus": [{"id": "9", "price": {"currency": "USD", "sale_price": "NaN"}}]},
            "sku 9: sale_price is not a valid amount: NaN",
        ),
        (
            {"skus": [{"id": "9", "price": {"currency": "USD", "sale_price": "-1"}}]},
            "sku 9: sale_price is not a valid amount: -1",
        ),
        (
            {"skus": [{"id": "9", "price": {"sale_price": "1.00"}}]},
            "Object missing required field `currency` - at `$.skus[0].price`",
        ),
        (
            {"skus": [{"id": "9", "price": {"sale_price": "1.00", "currency": " "}}]},
            "sku 9: sale_price has no currency",
        ),
        ({"skus": "many"}, "Expected `array | null`, got `str` - at `$.skus`"),
    ],
)
def test_a_bad_product_becomes_a_record_failure(change, reason):
    result = records.product({**PRODUCT, **change})
    assert isinstance(result, RecordFailure)
    assert result.reason == reason
    expected_id = "(no id)" if change.get("id", "x") in (None, "  ") else "1729592969712207008"
    assert result.tiktok_id == expected_id


def test_a_page_keeps_good_records_and_reports_bad_ones():
    page = records.products_page(
        Raw(
            b'{"products":[' + json.dumps(PRODUCT).encode() + b',{"id":"2","create_time":[]},"junk"],'
            b'"next_page_token":"","total_count":3,"unknown_field":{"a":1}}'
        )
    )
    assert [type(item) for item in page.items] == [StoredProduct, RecordFailure, RecordFailure]
    assert page.items[1] == RecordFailure("2", "Expected `int`, got `array` - at `$.create_time`")
    assert page.items[2] == RecordFailure("(no id)", "Expected `object`, got `str`")
    assert page.next_page_token is None  # "" means the last page
    assert page.total_count == 3


def test_order_maps_total_line_items_and_recipient():
    order = records.order(ORDER)
    assert isinstance(order, Order)
    assert order.tiktok_order_id == "576461413038785752"
    assert order.total.amount == Decimal("5000.10") and order.total.currency == "IDR"
    assert [item.quantity for item in order.line_items] == [1, 3]  # 202309 has no quantity: one unit each
    assert order.line_items[1].sale_price.currency == "IDR"  # from the payment when the item has none
    assert order.line_items[0].tiktok_product_id == "1729582718312380123"
    assert (order.buyer_user_id, order.recipient_name, order.recipient_region) == ("7021436810468230477", "Ana", "US")


def test_unpaid_order_without_address_maps():
    order = records.order({**ORDER, "recipient_address": None, "status": "UNPAID"})
    assert isinstance(order, Order) and order.recipient_name is None


def test_a_bad_order_becomes_a_record_failure():
    result = records.order({**ORDER, "payment": {"currency": "IDR", "total_amount": "five"}})
    assert result == RecordFailure("576461413038785752", "Invalid decimal string - at `$.payment.total_amount`")
    result = records.order({**ORDER, "line_items": [{"id": "7", "sale_price": "1"}]})
    assert result == RecordFailure(
        "576461413038785752", "Object missing required field `sku_id` - at `$.line_items[0]`"
    )
    result = records.order({**ORDER, "line_items": [{"id": "7", "sku_id": " ", "sale_price": "1"}]})
    assert result == RecordFailure("576461413038785752", "line item 7: missing sku_id")
    result = records.order({**ORDER, "line_items": [{"id": "7", "sku_id": "8", "sale_price": "1", "quantity": 0}]})
    assert result == RecordFailure("576461413038785752", "line item 7: quantity 0 is not positive")


def test_token_set_expiries_are_absolute_timestamps():
    tokens = records.token_set(
        raw_json(
            {
                "access_token": "TTP_a",
                "access_token_expire_in": 1660556783,
                "refresh_token": "TTP_r",
                "refresh_token_expire_in": 1691487031,
                "open_id": "7010736057180325637",
                "seller_name": "Jjj test shop",
            }
        )
    )
    assert tokens.access_token_expires_at == datetime(2022, 8, 15, 9, 46, 23, tzinfo=UTC)
    assert tokens.refresh_token_expires_at == datetime(2023, 8, 8, 9, 30, 31, tzinfo=UTC)
    assert tokens.seller_name == "Jjj test shop"
    assert "TTP_" not in repr(tokens)


def test_unreadable_token_response_is_unexpected():
    with pytest.raises(errors.UnexpectedResponseError):
        records.token_set(raw_json({"access_token": "TTP_a"}))


def test_authorized_shops_map():
    shops = records.authorized_shops(
        raw_json(
            {
                "shops": [
                    {
                        "id": "7000714532876273420",
                        "name": "Maomao",
                        "region": "GB",
                        "seller_type": "CROSS_BORDER",
                        "cipher": "GCP_XF90",
                        "code": "CNGBCBA4LLU8",
                    }
                ]
            }
        )
    )
    assert shops[0].tiktok_shop_id == "7000714532876273420" and shops[0].cipher == "GCP_XF90"
    assert shops[0].region_code == "GB" and shops[0].seller_type == "CROSS_BORDER"


def test_inventory_update_failures_are_surfaced():
    result = records.inventory_update_result(
        raw_json(
            {
                "errors": [
                    {
                        "code": 12052990,
                        "message": "Check failed",
                        "detail": {
                            "sku_id": "1729592969712207013",
                            "extra_errors": [
                                {
                                    "warehouse_id": "7068517275539719942",
                                    "code": 12052097,
                                    "message": "The warehouse does not exist",
                                }
                            ],
                        },
                    }
                ]
            }
        )
    )
    assert not result.ok
    failure = result.failures[0]
    assert (failure.sku_id, failure.code) == ("1729592969712207013", 12052990)
    assert failure.warehouse_failures[0].code == 12052097
    assert records.inventory_update_result(Raw(b"{}")).ok
    assert records.inventory_update_result(Raw(b"null")).ok


# -- the rate limiter's schedule --------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    # Half-open windows [t, t + window) starting at each event are the worst case.
    return max(sum(1 for u in times if t <= u < t + window - 1e-9) for t in times)


def test_concurrent_reservations_are_spaced_not_serialized():
    # given 50 requests arriving at once for a 20/s lane
    clock = FakeClock()
    limiter = RateLimiter(20, clock=clock)
    delays = [limiter.reserve(("app", "shop")) for _ in range(50)]
    # then each is booked its own slot at once, evenly spaced at 95% of the limit, the first without waiting
    assert delays[0] == 0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(delays)}
    assert gaps == {round(1 / 19, 9)}
    # and no 1-second window holds more than the limit
    assert max_in_any_window([clock.now + d for d in delays]) <= 20
    # and 50 requests take about 50/19 s, not 50 round trips
    assert delays[-1] == pytest.approx(49 / 19)


def test_lanes_are_independent():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock)
    limiter.reserve(("app", "shop-a"))
    assert limiter.reserve(("app", "shop-b")) == 0
    assert limiter.reserve(("app", "shop-a")) > 0


def test_an_idle_lane_does_not_bank_a_burst():
    clock = FakeClock()
    limiter = RateLimiter(10, headroom=1.0, clock=clock)
    limiter.reserve("k")
    clock.now += 60  # idle for a minute
    delays = [limiter.reserve("k") for _ in range(3)]
    assert delays == pytest.approx([0, 0.1, 0.2])


def test_past_1024_lanes_only_idle_lanes_are_forgotten():
    # given a lane with slots booked ahead, a lane that used its whole window, and idle lanes: 1024 in all
    clock = FakeClock()
    limiter = RateLimiter(10, headroom=1.0, clock=clock)
    for _ in range(5):
        limiter.reserve("busy")  # booked until now + 0.5 s
    for _ in range(10):
        limiter.record_dispatch("full")  # 10 dispatches now: the window is full until now + 1 s
    clock.now -= 1.5
    for _ in range(9):
        limiter.record_dispatch("recent")  # 9 dispatches long ago...
    clock.now += 1.5
    limiter.record_dispatch("recent")  # ...and one now: its window still counts it
    for n in range(1021):
        limiter.reserve(n)
    # when, 0.2 s later, a 1025th lane comes (and the idle lanes are dropped)
    clock.now += 0.2
    assert limiter.reserve("new") == 0
    # then the busy lane keeps its booked slots and the full lane its window
    assert limiter.reserve("busy") == pytest.approx(0.3)
    assert limiter.window_wait("full") == pytest.approx(0.8)
    assert limiter.reserve(0) == 0  # and an idle lane starts afresh
    # and the lane with one recent dispatch still counts it: 9 more fill its window until it is 1 s old
    for _ in range(9):
        limiter.record_dispatch("recent")
    assert limiter.window_wait("recent") == pytest.approx(0.8)


class VirtualTime:
    """Virtual time for concurrent sleepers: timers fire in order, and any due during a stall fire at its end."""

    def __init__(self, stall_until: float) -> None:
        self.now = 1000.0
        self.stall_until = stall_until
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._timers, (self.now + seconds, self._seq, future))
        await future

    async def run(self, coroutines: list[Coroutine[Any, Any, None]]) -> None:
        tasks = [asyncio.create_task(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            for _ in range(10):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if not self._timers:
                continue
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, self.stall_until if when < self.stall_until else when)
            future.set_result(None)
        await asyncio.gather(*tasks)


async def test_the_window_guard_holds_back_late_wakers():
    # given 30 concurrent requests on a 5/s lane, and an event loop stalled for 3 s so 14 booked slots come due at once
    time = VirtualTime(stall_until=1003.0)
    limiter = RateLimiter(5, headroom=1.0, clock=time.clock, sleep=time.sleep)
    dispatched: list[float] = []

    async def request() -> None:
        await limiter.acquire("k")
        dispatched.append(time.now)

    await time.run([request() for _ in range(30)])
    # then the late wakers are held back: no one-second window ever holds more than 5 dispatches
    assert len(dispatched) == 30
    assert max_in_any_window(dispatched) <= 5
    assert dispatched.count(1003.0) == 5


async def test_acquire_without_contention_does_not_sleep():
    clock = FakeClock()
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    limiter = RateLimiter(50, clock=clock, sleep=record_sleep)
    await limiter.acquire("k")
    clock.now += 1
    await limiter.acquire("k")
    assert slept == []


def test_a_boolean_query_value_is_signed_as_lowercase_json_text():
    # a Python bool is an int: it must not be signed as "True"/"1"
    query = {"app_key": "k", "timestamp": 1, "on": True, "off": False}
    assert sign("s", "/p", query) == hmac_hex("s", b"s/papp_keykofffalseontruetimestamp1s")
