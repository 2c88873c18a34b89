"""Search Products over real HTTP: page sizes, opaque tokens, completeness, filters, body types and the result cap."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import connect, tiktok_sign

PRODUCTS = "/product/202309/products/search"


def all_pages(caller, body: dict, page_size: int = 7) -> tuple[list[dict], list[dict]]:
    """Every product of a search, and every page's data."""
    products, pages, token = [], [], None
    while True:
        query = {"page_size": str(page_size), **({"page_token": token} if token else {})}
        envelope = caller.call("POST", PRODUCTS, query, body)
        assert envelope["code"] == 0, envelope
        pages.append(envelope["data"])
        products += envelope["data"]["products"]
        token = envelope["data"]["next_page_token"]
        if not token:
            return products, pages


@pytest.mark.parametrize("page_size", [None, "0", "101", "ten"])
def test_page_size_is_required_between_1_and_100(tiktok, page_size: str | None) -> None:
    caller = tiktok("us-local")
    query = {"page_size": page_size} if page_size is not None else {}
    assert caller.call("POST", PRODUCTS, query, {})["code"] == 12019109


def test_paging_returns_every_product_once_with_opaque_tokens(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    products, pages = all_pages(caller, {})
    truth = sandbox.control("GET", f"shops/{sandbox.world.sellers['us-local'].shops[0].id}/products")["products"]
    assert [p["id"] for p in products] == [p["id"] for p in truth]
    assert products == truth  # field by field
    assert len({p["id"] for p in products}) == 30 and {page["total_count"] for page in pages} == {30}
    assert pages[-1]["next_page_token"] == ""
    # tokens carry the characters that must be URL-encoded on the wire and signed raw
    assert all(c in pages[0]["next_page_token"] for c in "+/=")


def test_products_have_skus_prices_and_stock_in_the_shop_currency(tiktok) -> None:
    caller = tiktok("id-local")
    products, _ = all_pages(caller, {}, page_size=100)
    assert {p["status"] for p in products} >= {"ACTIVATE", "DRAFT", "SELLER_DEACTIVATED"}
    assert any(not p["title"].isascii() for p in products)
    for product in products:
        assert 1 <= len(product["skus"]) <= 5 and len(product["id"]) == 19
        for sku in product["skus"]:
            assert sku["price"]["currency"] == "IDR" and sku["price"]["sale_price"].isdigit()
            assert 1 <= len(sku["inventory"]) <= 2


def test_an_unencoded_page_token_does_not_get_through(tiktok) -> None:
    caller = tiktok("us-local")
    token = caller.call("POST", PRODUCTS, {"page_size": "5"}, {})["data"]["next_page_token"]
    server = caller.server
    params = {
        "app_key": server.config.app_key,
        "timestamp": str(int(caller.clock())),
        "shop_cipher": caller.shop_cipher,
        "page_size": "5",
        "page_token": token,
    }
    params["sign"] = tiktok_sign(server.config.app_secret, PRODUCTS, params, b"{}")
    # a careless client that puts the token on the wire raw: "+" arrives as a space
    raw_query = urlencode({k: v for k, v in params.items() if k != "page_token"}) + "&page_token=" + token
    response = server.http.post(
        f"{server.url}{PRODUCTS}?{raw_query}",
        content=b"{}",
        headers={"x-tts-access-token": caller.access_token, "content-type": "application/json"},
    )
    assert response.json()["code"] == 106001


def test_a_token_replayed_with_other_filters_is_refused(tiktok) -> None:
    caller = tiktok("us-local")
    token = caller.call("POST", PRODUCTS, {"page_size": "5"}, {})["data"]["next_page_token"]
    envelope = caller.call("POST", PRODUCTS, {"page_size": "5", "page_token": token}, {"status": "DRAFT"})
    assert envelope["code"] == 12019108
    assert caller.call("POST", PRODUCTS, {"page_size": "5", "page_token": "b2Zmc2V0PTAK"}, {})["code"] == 12019108


def test_filters_by_status_and_inclusive_time_bounds(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    truth = sandbox.control("GET", f"shops/{sandbox.world.sellers['us-local'].shops[0].id}/products")["products"]
    active, _ = all_pages(caller, {"status": "ACTIVATE"})
    assert {p["id"] for p in active} == {p["id"] for p in truth if p["status"] == "ACTIVATE"}
    pivot = sorted(p["update_time"] for p in truth)[10]
    window, _ = all_pages(caller, {"update_time_ge": pivot, "update_time_le": pivot})
    assert window and all(p["update_time"] == pivot for p in window)
    created = sorted(p["create_time"] for p in truth)
    older, _ = all_pages(caller, {"create_time_le": created[4]})
    assert len(older) == 5


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"create_time_ge": "1700000000"},
            36009004,
            "param create_time_ge type invalid, actual type is:string, expected type is:int64",
        ),
        (
            {"update_time_le": 1.5},
            36009004,
            "param update_time_le type invalid, actual type is:float64, expected type is:int64",
        ),
        ({"status": 3}, 36009004, "param status type invalid"),
        ({"status": "SOLD"}, 36009004, "status"),
        ({"seller_skus": [str(n) for n in range(11)]}, 12019027, "seller_skus"),
        ({"create_time_ge": 10, "create_time_le": 5}, 12019118, "create_time"),
        ({"update_time_ge": -1}, 12019119, "update_time"),
    ],
)
def test_bad_bodies_are_refused_like_tiktok(tiktok, body: dict, code: int, message: str) -> None:
    envelope = tiktok("us-local").call("POST", PRODUCTS, {"page_size": "5"}, body)
    assert envelope["code"] == code and message in envelope["message"]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"x"'])
def test_a_body_that_is_not_a_json_object_is_refused(tiktok, raw: bytes) -> None:
    assert tiktok("us-local").call("POST", PRODUCTS, {"page_size": "5"}, raw_body=raw)["code"] == 36009022


def test_searches_beyond_the_cap_are_refused_and_narrower_windows_pass(sandbox_factory) -> None:
    server = sandbox_factory(SandboxConfig(products=30, orders=1, product_search_cap=10))
    caller = connect(server, "us-local")
    envelope = caller.call("POST", PRODUCTS, {"page_size": "5"}, {})
    assert envelope["code"] == 12052180 and "can not exceed 10" in envelope["message"]
    truth = server.control("GET", f"shops/{server.world.sellers['us-local'].shops[0].id}/products")["products"]
    bound = sorted(p["update_time"] for p in truth)[9]
    narrow, _ = all_pages(caller, {"update_time_le": bound}, page_size=3)
    assert len(narrow) == 10


def test_get_product_answers_the_product_itself_or_12052048(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    shop_id = sandbox.world.sellers["us-local"].shops[0].id
    truth = sandbox.control("GET", f"shops/{shop_id}/products")["products"]
    envelope = caller.call("GET", f"/product/202309/products/{truth[0]['id']}")
    assert (envelope["code"], envelope["data"]) == (0, truth[0])
    # another shop's product, an unknown id: the same refusal
    other_shop = sandbox.world.sellers["uk-local"].shops[0].id
    foreign = sandbox.control("GET", f"shops/{other_shop}/products")["products"][0]["id"]
    for product_id in (foreign, "1729000000000000000"):
        refused = caller.call("GET", f"/product/202309/products/{product_id}")
        assert (refused["code"], refused["data"], refused["_http_status"]) == (12052048, None, 200)
