"""The sandbox's gateway over real HTTP: signature, timestamp window, app key, token, shop cipher rules, routing,
and mounting under a path prefix. Requests are signed by the tests' own signer (tests/fixtures/sandbox.py)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest

from sandbox.config import SandboxConfig
from sandbox.signing import signature
from tests.fixtures.sandbox import TikTokCaller, connect, tiktok_sign

SHOPS = "/authorization/202309/shops"
PRODUCTS = "/product/202309/products/search"


def test_signing_reproduces_the_official_vector_v1() -> None:
    # given the worked example of tiktok-api.md sec. 4 / vector V1
    query = [("app_key", "29a39d"), ("timestamp", "1623812664")]
    expected = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    # then the sandbox's signer and the tests' own signer both give the published sign
    assert signature("e59af819cc", "/authorization/202309/shops", query) == expected
    assert tiktok_sign("e59af819cc", "/authorization/202309/shops", dict(query)) == expected


def test_signing_excludes_sign_and_access_token_and_appends_the_body() -> None:
    base = [("app_key", "k"), ("timestamp", "1")]
    plain = signature("s", "/p", base, b'{"a":1}')
    assert signature("s", "/p", [*base, ("sign", "x"), ("access_token", "y")], b'{"a":1}') == plain
    assert signature("s", "/p", base, b'{"a": 1}') != plain
    assert signature("s", "/p", base, b"{}") != signature("s", "/p", base, b"")
    assert signature("s", "/p", base, b"--x", "multipart/form-data; boundary=x") == signature("s", "/p", base)
    assert plain == plain.lower()


def test_a_signed_call_lists_the_sellers_shops(tiktok) -> None:
    # given a cross-border seller who approved the app
    caller = tiktok("cross-border")
    # when it lists its authorized shops (no shop_cipher allowed there)
    envelope = caller.call("GET", SHOPS, with_cipher=False)
    # then both shops come back in TikTok's envelope
    assert envelope["code"] == 0 and envelope["message"] == "Success" and len(envelope["request_id"]) == 34
    shops = envelope["data"]["shops"]
    assert [(s["region"], s["seller_type"]) for s in shops] == [("GB", "CROSS_BORDER"), ("MY", "CROSS_BORDER")]
    assert all(len(s["id"]) == 19 and s["id"].isdigit() and s["cipher"].startswith("GCP_") for s in shops)


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"app_key": "someone-else"}, 36009004, "app_key"),
        ({"timestamp": ""}, 36009004, "timestamp"),
        ({"timestamp": "yesterday"}, 36009004, "timestamp"),
        ({"timestamp": -330}, 36009004, "timestamp"),  # seconds from now, computed when the test runs
        ({"timestamp": +60}, 36009004, "timestamp"),
        ({"sign": ""}, 36009004, "sign"),
        ({"shop_id": "7000714532876273420"}, 36009004, "shop_id"),
    ],
)
def test_bad_common_parameters_are_refused(tiktok, change: dict[str, str | int], code: int, fragment: str) -> None:
    caller = tiktok("us-local")
    server = caller.server
    params = {"app_key": server.config.app_key, "timestamp": str(int(time.time()))}
    params.update({k: str(int(time.time()) + v) if isinstance(v, int) else v for k, v in change.items()})
    if "sign" not in change:
        params["sign"] = tiktok_sign(server.config.app_secret, SHOPS, {k: v for k, v in params.items() if v})
    params = {k: v for k, v in params.items() if v}
    response = server.http.get(
        f"{server.url}{SHOPS}?{urlencode(params)}", headers={"x-tts-access-token": caller.access_token}
    )
    envelope = response.json()
    assert (envelope["code"], response.status_code) == (code, 200)
    assert fragment in envelope["message"]
    assert envelope["request_id"]


def test_timestamps_inside_the_window_are_accepted(tiktok) -> None:
    caller = tiktok("us-local")
    for offset in (-290, 0, 25):
        assert caller.call("GET", SHOPS, with_cipher=False, timestamp=int(time.time()) + offset)["code"] == 0


def test_a_wrong_signature_is_106001_with_http_401(tiktok) -> None:
    caller = tiktok("us-local")
    good = tiktok_sign(caller.server.config.app_secret, SHOPS, {"app_key": "x"})
    for sign in ("0" * 64, good):
        envelope = caller.call("GET", SHOPS, with_cipher=False, sign=sign)
        assert (envelope["code"], envelope["_http_status"]) == (106001, 401)


def test_an_upper_case_signature_is_refused(tiktok) -> None:
    caller = tiktok("us-local")
    now = str(int(time.time()))
    query = {"app_key": caller.server.config.app_key, "timestamp": now}
    upper = tiktok_sign(caller.server.config.app_secret, SHOPS, query).upper()
    assert caller.call("GET", SHOPS, with_cipher=False, timestamp=int(now), sign=upper)["code"] == 106001


def test_the_body_is_signed_exactly_as_sent(tiktok) -> None:
    caller = tiktok("us-local")
    query = {"page_size": "5"}
    # compact and spaced JSON both pass when the bytes sent are the bytes signed
    assert caller.call("POST", PRODUCTS, query, raw_body=b'{"status": "ACTIVATE"}')["code"] == 0
    assert caller.call("POST", PRODUCTS, query, raw_body=b'{"status":"ACTIVATE"}')["code"] == 0
    assert caller.call("POST", PRODUCTS, query, raw_body=b"{}")["code"] == 0
    # signing one serialization and sending another fails
    params = {
        "app_key": caller.server.config.app_key,
        "timestamp": str(int(time.time())),
        "shop_cipher": caller.shop_cipher,
        "page_size": "5",
    }
    sign = tiktok_sign(caller.server.config.app_secret, PRODUCTS, params, b'{"status":"ACTIVATE"}')
    envelope = caller.call(
        "POST", PRODUCTS, query, raw_body=b'{"status": "ACTIVATE"}', sign=sign, timestamp=int(params["timestamp"])
    )
    assert envelope["code"] == 106001


def test_a_non_ascii_body_is_signed_as_utf8_bytes(tiktok) -> None:
    caller = tiktok("us-local")
    raw = '{"seller_skus":["Größe-42 🧦"]}'.encode()
    assert caller.call("POST", PRODUCTS, {"page_size": "5"}, raw_body=raw)["code"] == 0


def test_an_access_token_query_parameter_is_left_out_of_the_signature(tiktok) -> None:
    caller = tiktok("us-local")
    assert caller.call("GET", SHOPS, {"access_token": "legacy"}, with_cipher=False)["code"] == 0


@pytest.mark.parametrize("token", ["", "TTP_not-a-token"])
def test_a_missing_or_unknown_access_token_is_invalid(sandbox, token: str) -> None:
    caller = TikTokCaller(sandbox, token)
    envelope = caller.call("GET", SHOPS)
    assert envelope["code"] == 36009004
    assert "x-tts-access-token" in envelope["message"] and "invalid" in envelope["message"]


def test_shop_cipher_is_forbidden_on_authorization_and_required_on_shop_apis(tiktok) -> None:
    caller = tiktok("us-local")
    forbidden = caller.call("GET", SHOPS)
    assert forbidden["code"] == 36009004 and forbidden["message"].startswith("Unexpected identifier")
    assert caller.call("POST", PRODUCTS, {"page_size": "5"}, {}, with_cipher=False)["code"] == 106013


def test_a_cipher_of_another_seller_is_refused(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    other = sandbox.world.sellers["us-local-2"].shops[0].cipher
    assert caller.call("POST", PRODUCTS, {"page_size": "5"}, {}, shop_cipher=other)["code"] == 101000
    assert caller.call("POST", PRODUCTS, {"page_size": "5"}, {}, shop_cipher="GCP_nope")["code"] == 101000


def test_unknown_paths_and_wrong_methods(tiktok) -> None:
    caller = tiktok("us-local")
    assert caller.call("GET", "/product/202309/nothing/here")["code"] == 36009009
    assert caller.call("GET", PRODUCTS, {"page_size": "5"})["code"] == 36009010


def test_the_sandbox_mounted_under_a_prefix_signs_the_unprefixed_path(sandbox_factory) -> None:
    # given the sandbox mounted at /sandbox inside another app
    server = sandbox_factory(SandboxConfig(products=5, orders=5), mount_prefix="/sandbox")
    assert server.url.endswith("/sandbox")
    # then the consent form posts back under the prefix
    page = server.http.get(
        f"{server.url}/oauth/authorize", params={"service_id": server.config.service_id, "state": "s"}
    )
    assert 'action="/sandbox/oauth/authorize"' in page.text
    # and a client signing TikTok's own path (without /sandbox) gets through
    caller = connect(server, "sg-local")
    envelope = caller.call("POST", PRODUCTS, {"page_size": "2"}, {})
    assert envelope["code"] == 0 and len(envelope["data"]["products"]) == 2
    # and signing the wire path instead fails
    params = {"app_key": server.config.app_key, "timestamp": str(int(time.time())), "shop_cipher": caller.shop_cipher}
    params["page_size"] = "2"
    wrong = tiktok_sign(server.config.app_secret, "/sandbox" + PRODUCTS, params, b"{}")
    assert (
        caller.call("POST", PRODUCTS, {"page_size": "2"}, {}, sign=wrong, timestamp=int(params["timestamp"]))["code"]
        == 106001
    )
    assert server.control("GET", "counters")["by_path"][PRODUCTS] == {"ok": 1, "106001": 1}
