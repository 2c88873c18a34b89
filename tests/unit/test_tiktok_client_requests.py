"""What each business endpoint sends (method, path, query, body), over `httpx.MockTransport`: the names are TikTok's
(tiktok-api.md sec. 6 to 8), written here as literals."""

from __future__ import annotations

import json

from domain.stored import StoredOrder
from tests.unit.test_tiktok_client import make_client, ok, query_pairs
from tests.unit.test_tiktok_observer import observed_client
from tests.unit.test_tiktok_signing import ORDER

PAGING = {"app_key", "timestamp", "sign"}


async def test_get_order_list_sends_every_time_filter_in_the_body_and_paging_in_the_query() -> None:
    client, recorder = make_client(lambda r: ok({"orders": [], "total_count": 0}))
    await client.search_orders(
        "TTP_token", "GCP_cipher", create_time_ge=1, create_time_lt=2, update_time_ge=3, update_time_lt=4
    )
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("POST", "/order/202309/orders/search")
    assert json.loads(request.content) == {
        "create_time_ge": 1, "create_time_lt": 2, "update_time_ge": 3, "update_time_lt": 4,
    }  # fmt: skip
    params = {k: v for k, v in query_pairs(request) if k not in PAGING}
    assert params == {"shop_cipher": "GCP_cipher", "page_size": "100", "sort_field": "create_time", "sort_order": "ASC"}


async def test_get_order_list_sends_the_page_token_and_reads_the_orders() -> None:
    client, recorder = make_client(lambda r: ok({"orders": [ORDER], "next_page_token": "t3", "total_count": 9}))
    page = await client.search_orders("TTP_token", "GCP_cipher", page_token="t2", create_time_ge=1)
    assert dict(query_pairs(recorder.requests[0]))["page_token"] == "t2"
    assert [type(item) for item in page.items] == [StoredOrder]
    assert (page.items[0].values[0], page.next_page_token, page.total_count) == ("576461413038785752", "t3", 9)


async def test_search_products_sends_its_filters_in_the_body_and_a_page_of_100_by_default() -> None:
    client, recorder = make_client(lambda r: ok({"products": [], "total_count": 0}))
    await client.search_products("TTP_token", "GCP_cipher", update_time_ge=3, update_time_le=4, status="ACTIVATE")
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("POST", "/product/202309/products/search")
    assert json.loads(request.content) == {"status": "ACTIVATE", "update_time_ge": 3, "update_time_le": 4}
    assert {k: v for k, v in query_pairs(request) if k not in PAGING} == {
        "shop_cipher": "GCP_cipher",
        "page_size": "100",
    }


async def test_search_products_sends_seller_skus_as_a_body_list_and_leaves_out_an_empty_one() -> None:
    # The confirmation of a product Get Product no longer serves (domain.unserved_products): seller_skus[], max 10
    client, recorder = make_client(lambda r: ok({"products": [], "total_count": 0}))
    await client.search_products("TTP_token", "GCP_cipher", status="ALL", seller_skus=("MUG-1", "MUG-2"))
    await client.search_products("TTP_token", "GCP_cipher", status="DELETED", seller_skus=(), update_time_ge=7)
    assert [json.loads(r.content) for r in recorder.requests] == [
        {"status": "ALL", "seller_skus": ["MUG-1", "MUG-2"]},
        {"status": "DELETED", "update_time_ge": 7},
    ]


async def test_get_authorized_shops_is_a_get_and_get_product_names_its_product() -> None:
    client, recorder = make_client(lambda r: ok({"shops": []}))
    await client.authorized_shops("TTP_token")
    assert (recorder.requests[0].method, recorder.requests[0].url.path) == ("GET", "/authorization/202309/shops")
    observed, seen = observed_client(lambda r: ok({"shops": []}))
    await observed.authorized_shops("TTP_token")
    assert seen == [("GET /authorization/202309/shops", "ok")]  # the metric's label an operator reads
    product = {"id": "1729592969712207008", "create_time": 1234567890}
    client, recorder = make_client(lambda r: ok(product))
    await client.get_product("TTP_token", "GCP_cipher", "1729592969712207008")
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("GET", "/product/202309/products/1729592969712207008")
    assert dict(query_pairs(request))["shop_cipher"] == "GCP_cipher"
