"""TikTok records (`adapters.tiktok.records`) at their edges: times that are no Unix time, optional fields TikTok
leaves out or sends empty, and the name each envelope-level refusal gives (tiktok-api.md sections 3 to 9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from msgspec import Raw

from adapters.tiktok import records
from adapters.tiktok.errors import UnexpectedResponseError
from adapters.tiktok.models import SkuUpdateFailure, Warehouse, WarehouseFailure
from domain.catalog import Money, Order, Product, Sku, WarehouseStock
from domain.shops import AuthorizedShop
from domain.sync import RecordFailure
from tests.unit.test_tiktok_signing import ORDER, PRODUCT

NOT_A_TIME = 10**15  # year ~31,690,000: datetime cannot hold it


def raw(value: Any) -> Raw:
    return Raw(json.dumps(value).encode())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"create_time": NOT_A_TIME}, "create_time is not a Unix time: 1000000000000000"),
        ({"update_time": NOT_A_TIME}, "update_time is not a Unix time: 1000000000000000"),
        ({"update_time": -NOT_A_TIME}, "update_time is not a Unix time: -1000000000000000"),
    ],
)
@pytest.mark.parametrize(
    ("record", "one"), [(ORDER, records.order), (PRODUCT, records.product)], ids=["order", "product"]
)
def test_a_time_that_is_no_unix_time_fails_the_record_with_its_field(
    record: dict[str, Any], one: Any, change: dict[str, Any], reason: str
) -> None:
    assert one(raw({**record, **change})) == RecordFailure(record["id"], reason)


@pytest.mark.parametrize(
    ("record", "one"), [(ORDER, records.order), (PRODUCT, records.product)], ids=["order", "product"]
)
def test_an_update_time_of_0_is_unknown_not_1970(record: dict[str, Any], one: Any) -> None:
    # given a record whose update_time is 0 (TikTok's zero value of an int64 it did not set)
    read = one(raw({**record, "update_time": 0}))
    # then it reads as updated when created, as without one (read as 1970-01-01, it was older than any stored one)
    assert read.updated_at == read.created_at == datetime.fromtimestamp(record["create_time"], UTC)


def test_an_order_without_a_creation_time_fails_with_the_reason() -> None:
    # given an order whose create_time is 0: then it is no order of 1970 (which the pool would take for history)
    assert records.order(raw({**ORDER, "create_time": 0})) == RecordFailure(ORDER["id"], records.NO_CREATE_TIME)
    assert records.NO_CREATE_TIME == "create_time is 0: TikTok gave no creation time"


@pytest.mark.parametrize("field", ["access_token_expire_in", "refresh_token_expire_in"])
def test_a_token_expiry_that_is_no_unix_time_is_an_unexpected_token_response(field: str) -> None:
    data = {
        "access_token": "TTP_a",
        "access_token_expire_in": 1660556783,
        "refresh_token": "TTP_r",
        "refresh_token_expire_in": 1691487031,
    }
    with pytest.raises(UnexpectedResponseError) as refused:
        records.token_set(raw({**data, field: NOT_A_TIME}))
    assert str(refused.value) == f"token response: {field} is not a Unix time: 1000000000000000"


def test_a_token_answer_without_an_expiry_is_an_unexpected_token_response() -> None:
    with pytest.raises(UnexpectedResponseError) as refused:
        records.token_set(raw({"access_token": "TTP_a", "refresh_token": "TTP_r", "refresh_token_expire_in": 1}))
    assert str(refused.value) == "token response: Object missing required field `access_token_expire_in`"


@pytest.mark.parametrize("empty", ["", None])
def test_a_token_answer_with_empty_seller_and_open_id_has_none(empty: str | None) -> None:
    tokens = records.token_set(
        raw({
            "access_token": "TTP_a", "access_token_expire_in": 1660556783, "refresh_token": "TTP_r",
            "refresh_token_expire_in": 1691487031, "seller_name": empty, "open_id": empty,
        })
    )  # fmt: skip
    assert (tokens.access_token, tokens.refresh_token, tokens.seller_name, tokens.open_id) == (
        "TTP_a", "TTP_r", None, None,
    )  # fmt: skip


def test_authorized_shops_without_name_or_code_and_an_answer_without_shops() -> None:
    shop = {"id": "7000714532876273420", "region": "GB", "seller_type": "LOCAL", "cipher": "GCP_XF90", "code": ""}
    assert records.authorized_shops(raw({"shops": [shop]})) == [
        AuthorizedShop("7000714532876273420", "", "GB", "LOCAL", "GCP_XF90", None)
    ]
    assert records.authorized_shops(raw({"shops": [{**shop, "name": "Maomao", "code": "CNGBCBA4LLU8"}]})) == [
        AuthorizedShop("7000714532876273420", "Maomao", "GB", "LOCAL", "GCP_XF90", "CNGBCBA4LLU8")
    ]
    assert records.authorized_shops(raw({})) == [] == records.authorized_shops(raw({"shops": None}))
    with pytest.raises(UnexpectedResponseError) as refused:
        records.authorized_shops(raw({"shops": [{"id": "1", "region": "GB", "seller_type": "LOCAL"}]}))
    assert str(refused.value) == "authorized shops: Object missing required field `cipher` - at `$.shops[0]`"


def test_a_product_with_only_its_required_fields() -> None:
    # given Search Products' record with no title, status, update_time or SKUs
    product = records.product(raw({"id": "1729592969712207008", "create_time": 1234567890}))
    # then it is untitled, of an unknown status, updated when created, without SKUs
    assert product == Product(
        "1729592969712207008", "", "UNKNOWN", datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC),
        datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC), (),
    )  # fmt: skip


def test_a_sku_with_an_empty_seller_sku_and_no_inventory() -> None:
    sku = {"id": "1729592969712207012", "seller_sku": "", "price": {"currency": "USD", "sale_price": "1.50"}}
    product = records.product(raw({**PRODUCT, "skus": [sku]}))
    assert isinstance(product, Product)
    assert product.skus == (Sku("1729592969712207012", None, Money(Decimal("1.50"), "USD"), ()),)


def test_an_order_with_only_its_required_fields() -> None:
    # given an UNPAID order's record: no status, update time, buyer, address or line items
    order = records.order(
        raw({"id": "576461413038785752", "create_time": 1619611561, "payment": {"currency": "IDR",
             "total_amount": "0"}, "user_id": "", "recipient_address": {"name": "", "region_code": ""}})
    )  # fmt: skip
    assert order == Order(
        "576461413038785752", "UNKNOWN", datetime(2021, 4, 28, 12, 6, 1, tzinfo=UTC),
        datetime(2021, 4, 28, 12, 6, 1, tzinfo=UTC), Money(Decimal("0"), "IDR"), (), None, None, None,
    )  # fmt: skip


def test_a_line_item_without_product_name_or_ids_keeps_none() -> None:
    item = {"id": "7", "sku_id": "8", "sale_price": "1.00", "product_id": "", "seller_sku": "", "product_name": None}
    order = records.order(raw({**ORDER, "line_items": [item]}))
    assert isinstance(order, Order)
    line = order.line_items[0]
    assert (line.tiktok_product_id, line.seller_sku, line.product_name) == (None, None, "")


def test_each_line_keeps_its_own_status_for_the_pool() -> None:
    # given an open order with one line cancelled on its own (an item-level cancellation) and one of no status
    lines = [
        {"id": "7", "sku_id": "8", "sale_price": "1.00", "display_status": "CANCELLED"},
        {"id": "9", "sku_id": "8", "sale_price": "1.00", "display_status": ""},
        {"id": "10", "sku_id": "8", "sale_price": "1.00"},
    ]
    order = records.order(raw({**ORDER, "status": "AWAITING_SHIPMENT", "line_items": lines}))
    assert isinstance(order, Order)
    assert [line.display_status for line in order.line_items] == ["CANCELLED", None, None]


def test_each_line_keeps_its_packages_status_for_the_pool() -> None:
    # given a cancelled order whose lines' packages say lost, still to fulfil, something new, empty and nothing
    lines = [
        {"id": "7", "sku_id": "8", "sale_price": "1.00", "package_status": "CANCELLED"},
        {"id": "9", "sku_id": "8", "sale_price": "1.00", "package_status": "TO_FULFILL"},
        {"id": "10", "sku_id": "8", "sale_price": "1.00", "package_status": "SOMETHING_NEW"},
        {"id": "11", "sku_id": "8", "sale_price": "1.00", "package_status": ""},
        {"id": "12", "sku_id": "8", "sale_price": "1.00"},
    ]
    data = {**ORDER, "status": "CANCELLED", "line_items": lines}
    # then each line has its package's status (live-sync.md §3.2), a value this version does not know too, read
    # from Get Order Detail and from a search page alike
    expected = ["CANCELLED", "TO_FULFILL", "SOMETHING_NEW", None, None]
    order = records.order(raw(data))
    assert isinstance(order, Order)
    assert [line.package_status for line in order.line_items] == expected
    searched = records.orders_page(raw({"orders": [data]})).items[0]
    assert searched.package_statuses == tuple(expected)  # type: ignore[union-attr]


def test_an_order_tiktok_fulfils_from_its_own_warehouse_says_so_for_the_pool() -> None:
    # given orders of each fulfilment type TikTok names, and one that names none
    kinds = {"FULFILLMENT_BY_TIKTOK": True, "FULFILLMENT_BY_SELLER": False, None: False}
    for kind, by_tiktok in kinds.items():
        data = {**ORDER, "fulfillment_type": kind} if kind else ORDER
        # then only the FBT order is fulfilled by TikTok, decoded either way (Get Order Detail, the import's pages)
        order = records.order(raw(data))
        assert isinstance(order, Order)
        assert order.fulfilled_by_tiktok is by_tiktok
        assert records.orders_page(raw({"orders": [data]})).items[0].fulfilled_by_tiktok is by_tiktok  # type: ignore[union-attr]


def test_an_order_page_ends_on_an_empty_token_and_names_what_it_could_not_read() -> None:
    page = records.orders_page(raw({"orders": [], "next_page_token": "", "total_count": 0}))
    assert (list(page.items), page.next_page_token, page.total_count) == ([], None, 0)
    page = records.orders_page(raw({"orders": [ORDER, {"id": "9"}], "next_page_token": "t2", "total_count": 2}))
    assert (page.next_page_token, page.total_count) == ("t2", 2)
    assert page.items[1] == RecordFailure("9", "Object missing required field `create_time`")
    refusals = {
        "order search": lambda: records.orders_page(raw({"orders": "x"})),
        "order detail": lambda: records.orders(raw({"orders": "x"})),
        "product search": lambda: records.products_page(raw({"products": "x"})),
    }
    for what, read in refusals.items():
        with pytest.raises(UnexpectedResponseError) as refused:
            read()
        assert str(refused.value) == f"{what}: Expected `array | null`, got `str` - at `$.{what.split()[0]}s`"


def test_a_product_page_read_record_by_record_keeps_its_token_and_total() -> None:
    page = records.products_page(raw({"products": [PRODUCT, {"id": "9"}], "next_page_token": "t2", "total_count": 2}))
    assert (page.next_page_token, page.total_count) == ("t2", 2)
    assert page.items[1] == RecordFailure("9", "Object missing required field `create_time`")
    page = records.products_page(raw({"products": [{"id": "9"}], "next_page_token": ""}))
    assert (page.next_page_token, page.total_count) == (None, None)


def test_an_inventory_update_failure_without_detail_or_warehouse() -> None:
    result = records.inventory_update_result(
        raw({"errors": [
            {"code": 12052990, "message": "Check failed"},
            {"code": 12052991, "message": "x", "detail": {"sku_id": "", "extra_errors": [
                {"warehouse_id": "", "code": 12052097, "message": "The warehouse does not exist"}]}},
        ]})
    )  # fmt: skip
    assert result.failures == (
        SkuUpdateFailure(sku_id=None, code=12052990, message="Check failed", warehouse_failures=()),
        SkuUpdateFailure(
            sku_id=None, code=12052991, message="x",
            warehouse_failures=(WarehouseFailure(None, 12052097, "The warehouse does not exist"),),
        ),
    )  # fmt: skip
    with pytest.raises(UnexpectedResponseError) as refused:
        records.inventory_update_result(raw({"errors": "x"}))
    assert str(refused.value) == "inventory update: Expected `array | null`, got `str` - at `$.errors`"


def test_warehouses_as_get_warehouses_lists_them() -> None:
    found = records.warehouses(
        raw({"warehouses": [
            {"id": "7068517275539719942", "name": "Main", "type": "SALES_WAREHOUSE", "effect_status": "ENABLED",
             "is_default": True},
            {"id": "7068517275539719943"},
        ]})
    )  # fmt: skip
    assert found == [
        Warehouse("7068517275539719942", "Main", "SALES_WAREHOUSE", "ENABLED", True),
        Warehouse("7068517275539719943", None, None, None, False),
    ]
    assert records.warehouses(raw({})) == []
    with pytest.raises(UnexpectedResponseError) as refused:
        records.warehouses(raw({"warehouses": "x"}))
    assert str(refused.value) == "warehouses: Expected `array | null`, got `str` - at `$.warehouses`"


def test_inventory_without_skus_or_warehouses() -> None:
    assert records.inventory(raw({})) == []
    assert records.inventory(raw({"inventory": [{"product_id": "1"}]})) == []
    levels = records.inventory(raw({"inventory": [{"product_id": "1", "skus": [{"id": "2"}]}]}))
    assert [(s.product_id, s.sku_id, s.seller_sku, s.available_quantity, s.warehouses) for s in levels] == [
        ("1", "2", None, 0, ())
    ]


def test_stock_per_warehouse_of_a_products_skus() -> None:
    product = records.product(
        raw({**PRODUCT, "skus": [{**PRODUCT["skus"][0], "inventory": [
            {"warehouse_id": "7068517275539719942", "quantity": 5}, {"warehouse_id": "7068517275539719943"}]}]})
    )  # fmt: skip
    assert isinstance(product, Product)
    assert product.skus[0].stock == (WarehouseStock("7068517275539719942", 5), WarehouseStock("7068517275539719943", 0))


def test_an_id_sent_as_a_json_boolean_is_no_id() -> None:
    # ids sent as JSON numbers are read as their digits; true is not a number, and not an id either
    assert records.product(raw({**PRODUCT, "id": True})) == RecordFailure(
        "(no id)", "Expected `str`, got `bool` - at `$.id`"
    )
    item = {"id": "7", "sku_id": False, "sale_price": "1"}
    assert records.order(raw({**ORDER, "line_items": [item]})) == RecordFailure(
        "576461413038785752", "Expected `str`, got `bool` - at `$.line_items[0].sku_id`"
    )


def test_an_order_carries_when_the_carrier_collected_it_and_its_packages() -> None:
    # given an order TikTok serves IN_TRANSIT with its collection_time (Unix seconds) and its one package
    collected = ORDER["create_time"] + 3600
    data = {**ORDER, "status": "IN_TRANSIT", "collection_time": collected, "packages": [{"id": "1152321127278713123"}]}
    # then the order says when it was collected (UTC) and which packages it has, read from Get Order Detail and from
    # a search page alike; the catalog stores the time (`orders.collected_at`)
    order = records.order(raw(data))
    assert isinstance(order, Order)
    assert (order.collected_at, order.package_ids) == (datetime.fromtimestamp(collected, UTC), ("1152321127278713123",))
    searched = records.orders_page(raw({"orders": [data]})).items[0]
    assert (searched.collected_at, searched.package_ids) == (order.collected_at, order.package_ids)  # type: ignore[union-attr]


@pytest.mark.parametrize("absent", [{}, {"collection_time": 0}, {"collection_time": None}])
def test_an_order_not_collected_yet_has_no_collection_time(absent: dict[str, Any]) -> None:
    # given an order TikTok serves without a collection_time, or with 0 (an int64 it did not set) or null
    order = records.order(raw({**ORDER, **absent}))
    # then it has none (not 1970-01-01, which every count would take for a shipment before it), and no package
    assert isinstance(order, Order)
    assert (order.collected_at, order.package_ids) == (None, ())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "collection_time is not a Unix time: -1"),
        (NOT_A_TIME, "collection_time is not a Unix time: 1000000000000000"),
        (1, "collection_time 1970-01-01T00:00:01Z is before create_time "),
        ("yesterday", "collection_time"),
        (1.5, "collection_time"),
    ],
)
def test_a_collection_time_that_is_no_time_of_the_order_fails_the_record_alone(value: Any, reason: str) -> None:
    # given an order page whose first order's collection_time is no Unix time, or one before the order was made
    bad = {**ORDER, "collection_time": value}
    page = records.orders_page(raw({"orders": [bad, {**ORDER, "id": "577"}]}))
    # then that order is a per-record failure naming the field; the other one is read
    failure, other = page.items
    assert isinstance(failure, RecordFailure) and failure.tiktok_id == ORDER["id"] and reason in failure.reason
    assert not isinstance(other, RecordFailure) and other.tiktok_order_id == "577"
