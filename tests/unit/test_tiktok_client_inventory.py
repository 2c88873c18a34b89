"""The client's consent URL and Inventory Search over `httpx.MockTransport`: the limits it refuses before sending,
and the stock it reads from TikTok's documented response shape (tiktok-api.md sec. 9)."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from adapters.tiktok import RateLimiter, SkuInventory, TikTokClient
from adapters.tiktok.errors import UnexpectedResponseError
from domain.catalog import WarehouseStock
from tests.unit.test_tiktok_client import NOW, SETTINGS, make_client, ok

# Inventory Search `data` as tiktok-api.md sec. 9 documents it: one product, one SKU with totals, one without.
INVENTORY = {
    "inventory": [
        {
            "product_id": "1729592969712207000",
            "skus": [
                {
                    "id": "1729592969712207013",
                    "seller_sku": "MUG-RED",
                    "total_available_quantity": 15,  # TikTok's total, taken as given (not our sum: 12)
                    "total_committed_quantity": 3,
                    "warehouse_inventory": [
                        {"warehouse_id": "7068517275539719942", "available_quantity": 10, "committed_quantity": 2},
                        {"warehouse_id": "7068517275539719943", "available_quantity": 2, "committed_quantity": 1},
                    ],
                },
                {
                    "id": "1729592969712207014",
                    "seller_sku": "",
                    "warehouse_inventory": [
                        {"warehouse_id": "7068517275539719942", "available_quantity": 4, "committed_quantity": 0},
                        {"warehouse_id": "7068517275539719943", "available_quantity": 5},
                    ],
                },
            ],
        }
    ]
}


async def test_inventory_search_reads_every_skus_stock_per_warehouse() -> None:
    client, recorder = make_client(lambda r: ok(INVENTORY))
    levels = await client.search_inventory("TTP_token", "GCP_1", product_ids=["1729592969712207000"])
    assert json.loads(recorder.requests[0].content) == {"product_ids": ["1729592969712207000"]}
    assert levels == [
        SkuInventory(
            product_id="1729592969712207000",
            sku_id="1729592969712207013",
            seller_sku="MUG-RED",
            available_quantity=15,
            committed_quantity=3,
            warehouses=(WarehouseStock("7068517275539719942", 10), WarehouseStock("7068517275539719943", 2)),
            committed_warehouses=(WarehouseStock("7068517275539719942", 2), WarehouseStock("7068517275539719943", 1)),
        ),
        SkuInventory(  # no totals: available is the warehouses' sum, committed 0; no seller SKU is None
            product_id="1729592969712207000",
            sku_id="1729592969712207014",
            seller_sku=None,
            available_quantity=9,
            committed_quantity=0,
            warehouses=(WarehouseStock("7068517275539719942", 4), WarehouseStock("7068517275539719943", 5)),
            committed_warehouses=(WarehouseStock("7068517275539719942", 0), WarehouseStock("7068517275539719943", 0)),
        ),
    ]


async def test_an_inventory_answer_of_another_shape_is_unexpected_and_says_where() -> None:
    client, _ = make_client(lambda r: ok({"inventory": [{"skus": []}]}))
    with pytest.raises(UnexpectedResponseError) as refused:
        await client.search_inventory("TTP_token", "GCP_1", sku_ids=["1"])
    assert str(refused.value).startswith("inventory search: Object missing required field `product_id`")


@pytest.mark.parametrize(
    ("product_ids", "sku_ids", "refusal"),
    [
        (None, None, "search_inventory needs product_ids or sku_ids"),
        ([], [], "search_inventory needs product_ids or sku_ids"),
        (None, [str(n) for n in range(601)], "search_inventory takes at most 600 SKU or 100 product ids"),
        ([str(n) for n in range(101)], None, "search_inventory takes at most 600 SKU or 100 product ids"),
    ],
)
async def test_inventory_search_refuses_before_sending(product_ids, sku_ids, refusal) -> None:
    client, recorder = make_client(lambda r: ok({"inventory": []}))
    with pytest.raises(ValueError) as refused:
        await client.search_inventory("TTP_token", "GCP_1", product_ids=product_ids, sku_ids=sku_ids)
    assert str(refused.value) == refusal and recorder.requests == []


async def test_inventory_search_takes_600_skus_or_100_products_sku_ids_winning() -> None:
    client, recorder = make_client(lambda r: ok({"inventory": []}))
    skus, products = [str(n) for n in range(600)], [str(n) for n in range(100)]
    assert await client.search_inventory("TTP_token", "GCP_1", product_ids=products) == []
    assert await client.search_inventory("TTP_token", "GCP_1", product_ids=products, sku_ids=skus) == []
    assert [json.loads(r.content) for r in recorder.requests] == [{"product_ids": products}, {"sku_ids": skus}]


def test_the_consent_url_replaces_service_id_and_state_and_keeps_blank_parameters() -> None:
    configured = "https://services.example/open/authorize?lang=en&ref=&service_id=OLD&state=OLD"
    settings = dataclasses.replace(SETTINGS, authorize_url=configured)
    client = TikTokClient(settings, httpx.AsyncClient(), clock=lambda: NOW, rate_limiter=RateLimiter(10))
    query = urlsplit(client.authorization_url("s-1")).query
    assert parse_qsl(query, keep_blank_values=True) == [
        ("lang", "en"), ("ref", ""), ("service_id", "7000000000000000001"), ("state", "s-1"),
    ]  # fmt: skip
