"""What a refused TikTok call raises over `httpx.MockTransport`: the token endpoints' refusals in our terms, the API
each refusal names, Get Order Detail's bad records, and Update Inventory's body for a single-warehouse SKU."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.tiktok import SkuStock
from adapters.tiktok.errors import (
    ApiError,
    AuthCodeRejectedError,
    InvalidRefreshTokenError,
    InvalidRequestError,
    UnexpectedResponseError,
)
from adapters.tiktok.models import InventoryUpdateResult, SkuUpdateFailure, WarehouseFailure
from domain.catalog import Order, WarehouseStock
from domain.sync import RecordFailure
from tests.unit.test_tiktok_client import fail, make_client, ok
from tests.unit.test_tiktok_signing import ORDER

TOKEN_GET = "GET /api/v2/token/get"
TOKEN_REFRESH = "GET /api/v2/token/refresh"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("The auth code is invalid or expired.", AuthCodeRejectedError),  # the seller's consent: authorize again
        ("Invalid app_key.", InvalidRequestError),  # our configuration
        ("The App_Secret does not match.", InvalidRequestError),
        ("Unknown app key.", InvalidRequestError),
        ("Wrong app secret.", InvalidRequestError),
    ],
)
async def test_a_refused_code_exchange_is_a_lost_consent_unless_our_app_is_wrong(message: str, kind: type) -> None:
    client, _ = make_client(lambda r: fail(36004004, message, status=400))
    with pytest.raises(kind) as refused:
        await client.exchange_code("CODE")
    assert type(refused.value) is kind
    assert str(refused.value) == f"{message} (code=36004004, http=400, request_id=RID, api={TOKEN_GET})"


async def test_a_refused_refresh_is_a_lost_authorization_and_keeps_tiktoks_details() -> None:
    client, _ = make_client(lambda r: fail(36004005, "The refresh token is invalid."))
    with pytest.raises(InvalidRefreshTokenError) as refused:
        await client.refresh("TTP_refresh")
    assert str(refused.value) == (
        f"The refresh token is invalid. (code=36004005, http=200, request_id=RID, api={TOKEN_REFRESH})"
    )


async def test_a_token_request_we_built_wrong_is_our_bug_not_a_lost_authorization() -> None:
    # 36009004 about the timestamp is a ClientBugError: our request, whatever the grant
    client, _ = make_client(lambda r: fail(36009004, "Invalid timestamp."))
    with pytest.raises(InvalidRequestError) as refused:
        await client.refresh("TTP_refresh")
    assert type(refused.value) is InvalidRequestError


async def test_each_refusal_names_the_api_it_refused() -> None:
    client, _ = make_client(lambda r: fail(12052048, "Product not found"))
    with pytest.raises(ApiError) as refused:
        await client.get_product("TTP", "GCP_1", "1729592969712207008")
    assert refused.value.api == "GET /product/202309/products/1729592969712207008"
    with pytest.raises(ApiError) as refused:
        await client.update_inventory("TTP", "GCP_1", "17", [SkuStock("9", (WarehouseStock("W1", 1),))])
    assert refused.value.api == "POST /product/202309/products/17/inventory/update"
    with pytest.raises(ApiError) as refused:
        await client.search_inventory("TTP", "GCP_1", sku_ids=["9"])
    assert refused.value.api == "POST /product/202309/inventory/search"
    with pytest.raises(ApiError) as refused:
        await client.warehouses("TTP", "GCP_1")
    assert refused.value.api == "GET /logistics/202309/warehouses"
    with pytest.raises(ApiError) as refused:
        await client.register_webhook("TTP", "GCP_1", "https://hooks.example.com/t", "ORDER_STATUS_CHANGE")
    assert refused.value.api == "PUT /event/202309/webhooks"


async def test_a_warehouse_answer_of_another_shape_is_unexpected_and_says_where() -> None:
    client, _ = make_client(lambda r: ok({"warehouses": [{"name": "no id"}]}))
    with pytest.raises(UnexpectedResponseError) as refused:
        await client.warehouses("TTP", "GCP_1")
    assert str(refused.value).startswith("warehouses: Object missing required field `id`")


async def test_update_inventory_leaves_out_an_empty_warehouse_id() -> None:
    client, recorder = make_client(lambda r: ok({}))
    skus = [SkuStock("9", (WarehouseStock("", 5),)), SkuStock("8", (WarehouseStock("W1", 2),))]
    result = await client.update_inventory("TTP", "GCP_1", "17", skus)
    assert result.ok
    assert json.loads(recorder.requests[0].content) == {
        "skus": [
            {"id": "9", "inventory": [{"quantity": 5}]},
            {"id": "8", "inventory": [{"warehouse_id": "W1", "quantity": 2}]},
        ]
    }


async def test_order_detail_keeps_good_orders_and_reports_bad_ones() -> None:
    bad: dict[str, Any] = {**ORDER, "id": "576461413038785999", "payment": None}
    client, _ = make_client(lambda r: ok({"orders": [ORDER, bad]}))
    got = await client.get_orders("TTP", "GCP_1", [ORDER["id"], bad["id"]])
    assert isinstance(got[0], Order) and got[0].tiktok_order_id == ORDER["id"]
    assert got[1] == RecordFailure("576461413038785999", "Expected `object`, got `null` - at `$.payment`")
    client, _ = make_client(lambda r: ok({"orders": "none"}))
    with pytest.raises(UnexpectedResponseError) as refused:
        await client.get_orders("TTP", "GCP_1", [ORDER["id"]])
    assert str(refused.value).startswith("order detail: Expected `array | null`, got `str` - at `$.orders`")


async def test_update_inventory_reads_tiktoks_documented_per_sku_failures() -> None:
    # the sample of tiktok-api.md sec. 9 (code 0, one SKU refused in one warehouse), and a failure without detail
    documented = {
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
                        },
                        {"warehouse_id": "", "code": 12052393, "message": "Promotion-locked"},
                    ],
                },
            },
            {"code": 12052556, "message": "SKU id not exist"},
        ]
    }
    client, _ = make_client(lambda r: ok(documented))
    result = await client.update_inventory("TTP", "GCP_1", "17", [SkuStock("9", (WarehouseStock("W1", 1),))])
    assert result == InventoryUpdateResult(
        (
            SkuUpdateFailure(
                "1729592969712207013", 12052990, "Check failed",
                (WarehouseFailure("7068517275539719942", 12052097, "The warehouse does not exist"),
                 WarehouseFailure(None, 12052393, "Promotion-locked")),
            ),
            SkuUpdateFailure(None, 12052556, "SKU id not exist"),
        )
    )  # fmt: skip
    client, _ = make_client(lambda r: ok({"errors": {"code": 1}}))
    with pytest.raises(UnexpectedResponseError) as refused:
        await client.update_inventory("TTP", "GCP_1", "17", [SkuStock("9", (WarehouseStock("W1", 1),))])
    assert str(refused.value).startswith("inventory update: Expected `array | null`, got `object` - at `$.errors`")


@pytest.mark.parametrize("count", [0, 51])
async def test_order_detail_takes_1_to_50_ids(count: int) -> None:
    client, recorder = make_client(lambda r: ok({"orders": []}))
    with pytest.raises(ValueError) as refused:
        await client.get_orders("TTP", "GCP_1", [str(n) for n in range(count)])
    assert str(refused.value) == f"get_orders takes 1 to 50 ids, got {count}" and recorder.requests == []


async def test_order_detail_sends_50_ids_and_names_its_api_when_refused() -> None:
    client, recorder = make_client(lambda r: fail(21008111, "The order does not belong to the current seller"))
    with pytest.raises(ApiError) as refused:
        await client.get_orders("TTP", "GCP_1", [str(n) for n in range(50)])
    assert refused.value.api == "GET /order/202309/orders"
    assert dict(recorder.requests[0].url.params)["ids"] == ",".join(str(n) for n in range(50))
