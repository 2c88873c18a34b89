"""The TikTok client over `httpx.MockTransport`: the bytes on the wire, retries, token refresh and the product scan.

The transport is faked, never the client: each test's handler plays TikTok and records what it received.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from adapters.config import TikTokSettings
from adapters.tiktok import (
    AccessTokenExpiredError,
    InvalidRefreshTokenError,
    NetworkError,
    RateLimiter,
    ServerError,
    SignatureError,
    SkuStock,
    TikTokClient,
)
from domain.catalog import WarehouseStock
from domain.ports import AuthorizationLostError, TikTokUnavailableError
from domain.shops import TokenSet
from domain.stored import StoredProduct
from domain.sync import RecordFailure

SETTINGS = TikTokSettings(
    app_key="appkey",
    app_secret="s3cr3t-app-secret",
    service_id="7000000000000000001",
    api_url="https://api.example",
    auth_url="https://auth.example",
    authorize_url="https://services.example/open/authorize?lang=en",
    rate_limit_per_second=50,
    timeout_seconds=2,
    max_retries=3,
)
NOW = 1_700_000_000.0
Handler = Callable[[httpx.Request], httpx.Response]


def ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "message": "Success", "data": data, "request_id": "RID"})


def fail(code: int, message: str = "", status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "data": None, "request_id": "RID"})


def token_data(suffix: str) -> dict[str, Any]:
    return {
        "access_token": f"TTP_access_{suffix}",
        "access_token_expire_in": int(NOW) + 7 * 86400,
        "refresh_token": f"TTP_refresh_{suffix}",
        "refresh_token_expire_in": int(NOW) + 365 * 86400,
        "seller_name": "Seller",
        "open_id": "7010736057180325637",
    }


class Recorder:
    """Plays TikTok with `handler` and keeps every request it received."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(0)  # a network round trip lets concurrent calls interleave
        return self.handler(request)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def make_client(handler: Handler, slept: list[float] | None = None) -> tuple[TikTokClient, Recorder]:
    recorder = Recorder(handler)
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    sleeps = slept if slept is not None else []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client = TikTokClient(
        SETTINGS, http, clock=lambda: NOW, sleep=fake_sleep, rng=lambda: 0.5, rate_limiter=RateLimiter(10_000)
    )
    return client, recorder


def hand_sign(path: str, pairs: list[tuple[str, str]], body: bytes) -> str:
    signed = "".join(k + v for k, v in sorted(pairs) if k not in ("sign", "access_token"))
    secret = SETTINGS.app_secret.encode()
    return hmac.new(secret, secret + path.encode() + signed.encode() + body + secret, hashlib.sha256).hexdigest()


def query_pairs(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True)


# -- the wire ------------------------------------------------------------------------------------------------------


async def test_page_token_is_url_encoded_on_the_wire_and_signed_raw():
    # given a page token with / + = and non-ASCII characters
    token = "b2Zm/c2V0+PTAK=ñ"
    client, recorder = make_client(lambda r: ok({"products": [], "next_page_token": "", "total_count": 0}))
    # when the next page is searched
    await client.search_products("TTP_token", "GCP_cipher", page_size=100, page_token=token, update_time_ge=5)
    request = recorder.requests[0]
    raw_query = request.url.query.decode()
    # then the token is percent-encoded on the wire and decodes back to the raw value
    assert "page_token=b2Zm%2Fc2V0%2BPTAK%3D%C3%B1" in raw_query
    pairs = query_pairs(request)
    params = dict(pairs)
    assert params["page_token"] == token
    # and the signature is over the raw values and the exact body bytes sent
    assert request.content == b'{"update_time_ge":5}'
    assert params["sign"] == hand_sign("/product/202309/products/search", pairs, request.content)
    assert params["timestamp"] == "1700000000"
    assert params["shop_cipher"] == "GCP_cipher" and params["app_key"] == "appkey"
    assert request.headers["x-tts-access-token"] == "TTP_token"
    assert request.headers["content-type"] == "application/json"
    assert "access_token" not in params


async def test_empty_params_are_never_sent_and_first_page_has_no_token():
    client, recorder = make_client(lambda r: ok({"orders": [], "total_count": 0}))
    await client.search_orders("TTP_token", "GCP_cipher", page_size=50, page_token="", create_time_ge=1)
    params = dict(query_pairs(recorder.requests[0]))
    assert "page_token" not in params
    assert params["sort_field"] == "create_time" and params["sort_order"] == "ASC"
    assert recorder.requests[0].content == b'{"create_time_ge":1}'


async def test_non_ascii_body_is_sent_as_utf8_and_signed_as_sent():
    client, recorder = make_client(lambda r: ok({"errors": []}))
    await client.update_inventory(
        "TTP_token", "GCP_cipher", "1729592969712207008", [SkuStock("17295929697122070131", [WarehouseStock("ñ", 3)])]
    )
    request = recorder.requests[0]
    assert (
        request.content
        == '{"skus":[{"id":"17295929697122070131","inventory":[{"warehouse_id":"ñ","quantity":3}]}]}'.encode()
    )
    assert dict(query_pairs(request))["sign"] == hand_sign(request.url.path, query_pairs(request), request.content)


async def test_order_detail_ids_are_comma_joined_and_capped_at_50():
    client, recorder = make_client(lambda r: ok({"orders": []}))
    await client.get_orders("TTP_token", "GCP_cipher", ["1", "2", "3"])
    request = recorder.requests[0]
    assert request.method == "GET" and request.content == b""
    assert dict(query_pairs(request))["ids"] == "1,2,3"
    assert dict(query_pairs(request))["sign"] == hand_sign("/order/202309/orders", query_pairs(request), b"")
    with pytest.raises(ValueError, match="1 to 50"):
        await client.get_orders("TTP_token", "GCP_cipher", [str(i) for i in range(51)])


async def test_authorized_shops_carry_no_shop_cipher():
    shop = {"id": "7000714532876273420", "name": "Shop", "region": "US", "seller_type": "LOCAL", "cipher": "GCP_1"}
    client, recorder = make_client(lambda r: ok({"shops": [shop]}))
    shops = await client.authorized_shops("TTP_token")
    assert shops[0].cipher == "GCP_1"
    assert "shop_cipher" not in dict(query_pairs(recorder.requests[0]))


def test_authorization_url_keeps_its_query_and_encodes_state():
    client, _ = make_client(lambda r: ok({}))
    url = client.authorization_url("a b&c=d/é")
    parts = urlsplit(url)
    assert parts.netloc == "services.example" and parts.path == "/open/authorize"
    assert parse_qsl(parts.query) == [("lang", "en"), ("service_id", "7000000000000000001"), ("state", "a b&c=d/é")]


async def test_code_exchange_is_an_unsigned_get_with_absolute_expiries():
    client, recorder = make_client(lambda r: ok(token_data("1")))
    tokens = await client.exchange_code("CODE")
    request = recorder.requests[0]
    assert request.method == "GET" and request.url.path == "/api/v2/token/get"
    assert dict(query_pairs(request)) == {
        "app_key": "appkey",
        "app_secret": SETTINGS.app_secret,
        "auth_code": "CODE",
        "grant_type": "authorized_code",
    }
    assert "x-tts-access-token" not in request.headers
    assert tokens.access_token == "TTP_access_1"
    assert tokens.access_token_expires_at.timestamp() == NOW + 7 * 86400


async def test_refresh_refused_means_authorization_lost():
    client, _ = make_client(lambda r: fail(36004005, "The refresh token is invalid."))
    with pytest.raises(InvalidRefreshTokenError) as caught:
        await client.refresh("TTP_refresh")
    assert isinstance(caught.value, AuthorizationLostError)


async def test_secrets_never_reach_the_logs(caplog):
    # given every logger at DEBUG, httpx's included (it logs each request URL at INFO; a process's configure_logging
    # sets its own level, WARNING below SHOPBRIDGE_LOG_LEVEL=DEBUG, which a root at DEBUG does not lower)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    responses = iter([httpx.Response(500), fail(36004005, "The refresh token is invalid.")])
    client, _ = make_client(lambda r: next(responses))
    with pytest.raises(InvalidRefreshTokenError) as caught:
        await client.refresh("TTP_refresh_secret_value")
    text = caplog.text + str(caught.value) + repr(caught.value)
    assert "GET /api/v2/token/refresh" in caplog.text  # the path is logged
    assert "app_secret=***" in caplog.text  # httpx's own request line, redacted
    assert SETTINGS.app_secret not in text
    assert "TTP_refresh_secret_value" not in text


# -- retries -------------------------------------------------------------------------------------------------------


def sequence(*responses: httpx.Response | Exception) -> Handler:
    remaining = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


@pytest.mark.parametrize(
    "transient",
    [
        fail(36009002, "Too many requests", status=429),
        fail(36009003, "Internal error", status=500),
        httpx.Response(503, text="Service Unavailable"),
        httpx.Response(408),
        fail(36009004, "Overloaded", status=503),
        fail(36009007, "Request timeout"),
        httpx.Response(200, content=b'{"code":0,"data":{"orders":[{"id":"57'),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.DecodingError("Error -3 while decompressing data: incorrect header check"),  # a body not gzip as said
    ],
    ids="429 500 503-bare 408-bare 36009004-503 36009007 malformed-json timeout dropped bad-gzip".split(),
)
async def test_transient_failures_are_retried_with_backoff(transient):
    slept: list[float] = []
    client, recorder = make_client(sequence(transient, transient, ok({"orders": []})), slept)
    assert await client.get_orders("TTP_token", "GCP_cipher", ["1"]) == []
    assert len(recorder.requests) == 3
    # equal jitter with rng=0.5: 3/4 of min(5, 0.2 * 2^n)
    assert slept == pytest.approx([0.15, 0.3])
    # each attempt is signed afresh
    assert all("sign" in dict(query_pairs(r)) for r in recorder.requests)


async def test_retries_run_out_as_tiktok_unavailable():
    slept: list[float] = []
    client, recorder = make_client(sequence(fail(36009003, "Internal error", status=500)), slept)
    with pytest.raises(ServerError) as caught:
        await client.get_orders("TTP_token", "GCP_cipher", ["1"])
    assert isinstance(caught.value, TikTokUnavailableError)
    assert caught.value.request_id == "RID"
    assert len(recorder.requests) == SETTINGS.max_retries + 1
    assert slept == pytest.approx([0.15, 0.3, 0.6])


async def test_network_errors_outlive_retries_as_unavailable():
    client, recorder = make_client(sequence(httpx.ConnectError("refused")))
    with pytest.raises(NetworkError):
        await client.get_orders("TTP_token", "GCP_cipher", ["1"])
    assert len(recorder.requests) == SETTINGS.max_retries + 1


async def test_our_bugs_are_not_retried():
    client, recorder = make_client(sequence(fail(106001, "Invalid credentials. The sign is invalid.", status=401)))
    with pytest.raises(SignatureError):
        await client.get_orders("TTP_token", "GCP_cipher", ["1"])
    assert len(recorder.requests) == 1


async def test_backoff_is_capped():
    client, _ = make_client(lambda r: ok({}))
    assert client.transport.backoff(20) == pytest.approx(5.0 * 0.75)


# -- the shop session: refresh on 105002 ---------------------------------------------------------------------------

TOKENS = TokenSet(
    access_token="TTP_access_0",
    access_token_expires_at=datetime.fromtimestamp(NOW, UTC),
    refresh_token="TTP_refresh_0",
    refresh_token_expires_at=datetime.fromtimestamp(NOW + 365 * 86400, UTC),
    seller_name="Seller",
)


class TokenWorld:
    """A TikTok where only the latest refreshed access token works: TTP_access_0 has already expired."""

    def __init__(self) -> None:
        self.generation = 0
        self.refreshes = 0
        self.calls_by_token: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            assert dict(query_pairs(request))["refresh_token"] == f"TTP_refresh_{self.generation}"
            self.refreshes += 1
            self.generation += 1
            return ok(token_data(str(self.generation)))
        token = request.headers["x-tts-access-token"]
        self.calls_by_token[token] = self.calls_by_token.get(token, 0) + 1
        if self.generation == 0 or token != f"TTP_access_{self.generation}":
            return fail(105002, "Expired credentials. The x-tts-access-token header has expired.")
        return ok({"orders": [], "total_count": 0})


async def test_concurrent_105002_cause_one_refresh_and_each_call_retries():
    # given a session whose access token has expired
    world = TokenWorld()
    client, _ = make_client(world)
    persisted: list[TokenSet] = []

    async def persist(tokens: TokenSet) -> None:
        await asyncio.sleep(0)  # a real save awaits; other calls pile up on the lock meanwhile
        persisted.append(tokens)

    session = client.for_shop("GCP_cipher", TOKENS, persist)
    # when 20 calls run at once and all see 105002
    pages = await asyncio.gather(
        *(session.search_orders(page_size=10, page_token=None, create_time_ge=0, create_time_lt=1) for _ in range(20))
    )
    # then TikTok saw one refresh, the new pair was persisted once, and every call was retried on the new token
    assert world.refreshes == 1
    assert [t.access_token for t in persisted] == ["TTP_access_1"]
    assert session.tokens.refresh_token == "TTP_refresh_1"
    assert session.tokens.seller_name == "Seller"
    assert len(pages) == 20
    assert world.calls_by_token["TTP_access_1"] == 20
    assert 1 <= world.calls_by_token["TTP_access_0"] <= 20


async def test_a_refused_refresh_is_authorization_lost():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            return fail(36004001, "The refresh token has expired.")
        return fail(105002, "Expired credentials.")

    client, recorder = make_client(handler)
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    with pytest.raises(AuthorizationLostError):
        await session.get_orders(["1"])
    assert recorder.paths() == ["/order/202309/orders", "/api/v2/token/refresh"]


async def test_105002_on_a_fresh_token_is_retried_then_unavailable_without_a_second_refresh():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            return ok(token_data("1"))
        return fail(105002, "Expired credentials.")

    client, recorder = make_client(handler)
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    with pytest.raises(AccessTokenExpiredError) as caught:
        await session.get_orders(["1"])
    assert isinstance(caught.value, TikTokUnavailableError)
    assert recorder.paths().count("/api/v2/token/refresh") == 1
    assert recorder.paths().count("/order/202309/orders") == 1 + 1 + SETTINGS.max_retries


# -- the product scan ----------------------------------------------------------------------------------------------


class Catalog:
    """Search Products over `count` products with spread update times, a result cap, and offset page tokens."""

    def __init__(self, count: int, cap: int, report_cap_in_total: bool) -> None:
        self.products = [
            {
                "id": str(10**18 + i),
                "title": f"P{i}",
                "status": "ACTIVATE",
                "create_time": 1_600_000_000,
                "update_time": 1_600_000_000 + (i * 7919) % 50_000_000,
                "skus": [],
            }
            for i in range(count)
        ]
        self.cap = cap
        self.report_cap_in_total = report_cap_in_total
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        params = dict(query_pairs(request))
        body = json.loads(request.content)
        ge, le = body.get("update_time_ge", 0), body.get("update_time_le", 2**40)
        matching = [p for p in self.products if ge <= p["update_time"] <= le]
        offset = int(params.get("page_token", "0").removeprefix("off/"))
        size = int(params["page_size"])
        if offset + size > self.cap and len(matching) > self.cap:
            return fail(12052180, "The total number of search results can not exceed 10000.")
        page = matching[offset : offset + size]
        more = offset + size < len(matching)
        total = len(matching) if self.report_cap_in_total else min(len(matching), self.cap)
        return ok({"products": page, "next_page_token": f"off/{offset + size}" if more else "", "total_count": total})


async def test_a_product_read_carries_when_its_stock_was_read_the_request_not_the_answer():
    # given TikTok answering a product search and a Get Product, our clock moving 5 s while each is on its way
    product = {"id": "1729", "title": "Tee", "status": "ACTIVATE", "create_time": 1_600_000_000, "skus": []}
    clock = [NOW]

    def handler(request: httpx.Request) -> httpx.Response:
        clock[0] += 5
        if request.url.path.endswith("/search"):
            return ok({"products": [product], "next_page_token": "", "total_count": 1})
        return ok(product)

    client, _ = make_client(handler)
    client.transport.clock = lambda: clock[0]
    # when both are read
    page = await client.search_products("TTP_token", "GCP_cipher")
    detail = await client.get_product("TTP_token", "GCP_cipher", "1729")
    # then each product's stock counts at the instant its request was sent (the seed's one instant: an order
    # created after it is not in that stock)
    (searched,) = page.items
    assert isinstance(searched, StoredProduct)
    assert searched.stock_read_at == datetime.fromtimestamp(NOW, UTC)
    assert searched.product().stock_read_at == datetime.fromtimestamp(NOW, UTC)
    assert not isinstance(detail, RecordFailure)
    assert detail.stock_read_at == datetime.fromtimestamp(NOW + 5, UTC)


@pytest.mark.parametrize("report_cap_in_total", [True, False], ids=["split-on-total", "split-on-12052180"])
async def test_scan_splits_windows_under_the_cap_and_finds_every_product(report_cap_in_total):
    catalog = Catalog(count=230, cap=50, report_cap_in_total=report_cap_in_total)
    client, _ = make_client(catalog)
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    session.search_cap = 50
    seen: list[str] = []
    last = None
    async for scan in session.scan_products(None, page_size=20):
        seen.extend(p.tiktok_product_id for p in scan.page.items if isinstance(p, StoredProduct))
        last = scan
    assert sorted(set(seen)) == sorted(p["id"] for p in catalog.products)
    if report_cap_in_total:
        assert len(seen) == len(set(seen))  # split before paging: no page fetched twice
        assert last.total_count == 230
    assert last.checkpoint["windows"] == []


async def test_scan_resumes_after_the_last_stored_page():
    catalog = Catalog(count=230, cap=50, report_cap_in_total=True)
    client, _ = make_client(catalog)
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    session.search_cap = 50
    # given a scan killed after its fourth stored page
    stored: list[str] = []
    checkpoint: dict[str, Any] = {}
    pages = 0
    async for scan in session.scan_products(checkpoint, page_size=20):
        stored.extend(p.tiktok_product_id for p in scan.page.items)
        checkpoint = json.loads(json.dumps(scan.checkpoint))  # what the task row holds
        pages += 1
        if pages == 4:
            break
    # when resumed from the stored checkpoint
    async for scan in session.scan_products(checkpoint, page_size=20):
        stored.extend(p.tiktok_product_id for p in scan.page.items)
    # then every product is stored exactly once
    assert sorted(stored) == sorted(p["id"] for p in catalog.products)


async def test_scan_of_an_empty_shop_yields_one_final_page():
    client, _ = make_client(lambda r: ok({"products": [], "total_count": 0}))
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    scans = [scan async for scan in session.scan_products(None)]
    assert len(scans) == 1 and scans[0].total_count == 0 and scans[0].checkpoint["windows"] == []
    assert [s async for s in session.scan_products(scans[0].checkpoint)] == []


async def test_two_sessions_of_one_shop_share_one_refresh():
    # given the PRODUCTS and ORDERS tasks of one shop in one process, each with a session on the expired pair
    world = TokenWorld()  # refuses a refresh with a refresh token it already rotated
    client, _ = make_client(world)
    persisted: dict[str, list[str]] = {"products": [], "orders": []}

    def persist(name: str):  # type: ignore[no-untyped-def]
        async def save(tokens: TokenSet) -> None:
            await asyncio.sleep(0)
            persisted[name].append(tokens.access_token)

        return save

    products = client.for_shop("GCP_cipher", TOKENS, persist("products"))
    orders = client.for_shop("GCP_cipher", TOKENS, persist("orders"))
    # when both call TikTok at once and meet 105002
    await asyncio.gather(
        *(
            session.search_orders(page_size=10, page_token=None, create_time_ge=0, create_time_lt=1)
            for session in (products, orders, products, orders)
        )
    )
    # then TikTok saw one refresh, and both sessions went on with (and reported) its pair
    assert world.refreshes == 1
    assert products.tokens.access_token == orders.tokens.access_token == "TTP_access_1"
    assert persisted == {"products": ["TTP_access_1"], "orders": ["TTP_access_1"]}


class UpdatedFirstCatalog:
    """Search Products listing the most recently updated first, with offset page tokens: a product updated
    mid-walk jumps to the front, into pages an open-ended window has already walked."""

    def __init__(self, count: int) -> None:
        self.products = [
            {"id": str(10**18 + i), "title": f"P{i}", "status": "ACTIVATE", "create_time": 1_600_000_000,
             "update_time": 1_600_000_000 + i * 1000, "skus": []}
            for i in range(count)
        ]  # fmt: skip
        self.on_page: Callable[[int], None] = lambda served: None
        self.served = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(query_pairs(request))
        body = json.loads(request.content)
        ge, le = body.get("update_time_ge", 0), body.get("update_time_le", 2**40)
        matching = sorted(
            (p for p in self.products if ge <= p["update_time"] <= le), key=lambda p: p["update_time"], reverse=True
        )
        offset = int(params.get("page_token", "0").removeprefix("off/"))
        size = int(params["page_size"])
        more = offset + size < len(matching)
        page = [dict(p) for p in matching[offset : offset + size]]
        self.served += 1
        self.on_page(self.served)
        return ok(
            {"products": page, "next_page_token": f"off/{offset + size}" if more else "", "total_count": len(matching)}
        )


async def test_a_product_updated_during_the_scan_is_imported_with_its_update():
    # given a catalog of 30, and the oldest product (the last page of the walk) updated once the first page is out
    catalog = UpdatedFirstCatalog(30)
    oldest = catalog.products[0]

    def update_oldest(served: int) -> None:
        if served == 1:
            oldest["update_time"] = int(NOW)  # the client's clock: "now", during the walk
            oldest["title"] = "Renamed during the walk"

    catalog.on_page = update_oldest
    client, _ = make_client(catalog)
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    # when the whole catalog is scanned
    seen: dict[str, StoredProduct] = {}
    async for scan in session.scan_products(None, page_size=5):
        seen.update((p.tiktok_product_id, p) for p in scan.page.items if isinstance(p, StoredProduct))
    # then every product arrived, the updated one in its updated form
    assert sorted(seen) == sorted(p["id"] for p in catalog.products)
    assert seen[oldest["id"]].product().title == "Renamed during the walk"


async def test_a_refused_page_token_restarts_its_window_from_the_first_page():
    catalog = Catalog(count=23, cap=50, report_cap_in_total=True)
    refused: list[str] = []

    def expiring_tokens(request: httpx.Request) -> httpx.Response:
        token = dict(query_pairs(request)).get("page_token")
        if token == "stale-token":
            refused.append(token)
            return fail(12019108, "The page_token is invalid for this search.")
        return catalog(request)

    client, _ = make_client(expiring_tokens)
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    checkpoint = {"version": 1, "windows": [[0, None]], "page_token": "stale-token", "total_count": 23}
    seen = [
        p.tiktok_product_id async for scan in session.scan_products(checkpoint, page_size=5) for p in scan.page.items
    ]
    assert refused == ["stale-token"] and sorted(set(seen)) == sorted(p["id"] for p in catalog.products)
