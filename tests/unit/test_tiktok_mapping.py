"""Decoding TikTok records from bytes (`adapters.tiktok.wire` + `records`): a page decoded whole or record by
record gives the same results, a malformed record is a failure with a reason, ids never lose a digit."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from msgspec import Raw

from adapters.tiktok import records
from adapters.tiktok.errors import UnexpectedResponseError
from domain.catalog import BundleComponent, LineItem, Money, Order, Product, Sku, WarehouseStock
from domain.stored import StoredOrder, StoredProduct, order_as_stored
from domain.sync import RecordFailure
from tests.unit.test_tiktok_signing import ORDER, PRODUCT

ODD_VALUES = [
    None, "", "  ", " 12 ", "x", "NaN", "-1", "1e3", "1700000000", "12,50", "\x1f", 0, 5, -1, 10**30, True, 1.5,
    [], {}, [{}], ["x"],
]  # fmt: skip


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key or index of a JSON value, nested ones included."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*path, key)
        yield from leaf_paths(child, (*path, key))


def variants(record: dict[str, Any]) -> Iterator[Any]:
    """The record with one field replaced by each odd value, or removed."""
    for path in leaf_paths(record):
        for value in [*ODD_VALUES, KeyError]:
            changed = copy.deepcopy(record)
            parent = changed
            for key in path[:-1]:
                parent = parent[key]
            if value is KeyError:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield changed
    yield from ODD_VALUES


def raw(value: Any) -> Raw:
    return Raw(json.dumps(value).encode())


def test_a_plain_order_decodes_to_the_domain_order():
    assert records.order(raw(ORDER)) == Order(
        "576461413038785752",
        "AWAITING_SHIPMENT",
        datetime(2021, 4, 28, 12, 6, 1, tzinfo=UTC),
        datetime(2021, 4, 28, 12, 6, 3, tzinfo=UTC),
        Money(Decimal("5000.10"), "IDR"),
        (
            LineItem(
                "577086512123755123",
                "2729382476852921560",
                "1729582718312380123",
                "red_iphone_256",
                "iPhone",
                1,
                Money(Decimal("0.01"), "IDR"),
            ),
            LineItem(
                "577086512123755124", "2729382476852921560", None, None, "iPhone", 3, Money(Decimal("0.01"), "IDR")
            ),
        ),
        "7021436810468230477",
        "Ana",
        "US",
    )


def test_a_plain_product_decodes_to_the_domain_product():
    assert records.product(raw(PRODUCT)) == Product(
        "1729592969712207008",
        "Short Boat Invisible Socks ñ",
        "ACTIVATE",
        datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC),
        datetime(2009, 2, 13, 23, 31, 40, tzinfo=UTC),
        (
            Sku(
                "1729592969712207012",
                "Color-Red-XM01",
                Money(Decimal("121.11"), "USD"),
                (WarehouseStock("7068517275539719942", 999),),
            ),
        ),
    )


def test_ids_sent_as_json_numbers_and_times_as_digit_strings_are_read_exactly():
    # given a page whose record has its ids as JSON numbers beyond 2^53 and a time as a digit string
    body = (
        b'{"orders":[{"id":576461413038785752,"create_time":"1619611561","update_time":1619611563,'
        b'"payment":{"currency":"IDR","total_amount":"5000.10"},"user_id":7021436810468230477,'
        b'"line_items":[{"id":577086512123755123,"sku_id":2729382476852921560,"product_id":1729582718312380123,'
        b'"sale_price":"0.01"}]}]}'
    )
    # when it is decoded
    page = records.orders_page(Raw(body))
    # then every digit is kept
    stored = page.items[0]
    assert isinstance(stored, StoredOrder)
    order = stored.order()
    assert order.tiktok_order_id == "576461413038785752" and order.buyer_user_id == "7021436810468230477"
    assert order.created_at == datetime(2021, 4, 28, 12, 6, 1, tzinfo=UTC)
    item = order.line_items[0]
    assert (item.tiktok_line_item_id, item.tiktok_sku_id, item.tiktok_product_id) == (
        "577086512123755123",
        "2729382476852921560",
        "1729582718312380123",
    )


def test_money_sent_as_a_json_number_keeps_its_exact_digits():
    body = b'{"id":"1","create_time":1,"payment":{"currency":"usd","total_amount":0.1},"line_items":[]}'
    order = records.order(Raw(body))
    assert isinstance(order, Order) and order.total == Money(Decimal("0.1"), "USD")


def test_unknown_fields_are_ignored_and_a_bad_record_fails_alone():
    body = (
        b'{"next_page_token":"abc","total_count":7,"surprise":[1,2],"orders":['
        + json.dumps({**ORDER, "brand_new_field": {"x": [1]}}).encode()
        + b',{"id":"9","create_time":1,"payment":{"currency":"USD"}},'
        + json.dumps({**ORDER, "id": "576461413038785753"}).encode()
        + b"]}"
    )
    page = records.orders_page(Raw(body))
    assert [type(item) for item in page.items] == [StoredOrder, RecordFailure, StoredOrder]
    assert page.items[1] == RecordFailure("9", "Object missing required field `total_amount` - at `$.payment`")
    assert (page.next_page_token, page.total_count) == ("abc", 7)


def test_an_empty_or_null_data_is_an_empty_last_page():
    for data in (Raw(b"null"), Raw(b"{}"), Raw(b"")):
        page = records.products_page(data)
        assert (list(page.items), page.next_page_token, page.total_count) == ([], None, None)


@pytest.mark.parametrize("body", [b"[]", b'"x"', b'{"orders":{"a":1}}', b'{"orders":[],"total_count":"many"}'])
def test_a_page_we_do_not_understand_is_an_unexpected_response(body):
    with pytest.raises(UnexpectedResponseError):
        records.orders_page(Raw(body))


@pytest.mark.parametrize(
    ("record", "one", "page_of"),
    [
        (ORDER, records.stored_order, lambda items: records.orders_page(raw({"orders": items}))),
        (PRODUCT, records.stored_product, lambda items: records.products_page(raw({"products": items}))),
    ],
    ids=["order", "product"],
)
def test_any_variant_is_a_record_or_a_failure_and_pages_agree_with_records(record, one, page_of):
    decoded = []
    for variant in variants(record):
        result = one(raw(variant))
        assert isinstance(result, StoredOrder | StoredProduct | RecordFailure), variant
        assert isinstance(result, RecordFailure) or result == one(variant)  # raw bytes or parsed: the same
        decoded.append(result)
    # a page of every variant, plus a good record, decodes to the same results as record by record
    page = page_of([*variants(record), record])
    assert list(page.items) == [*decoded, one(raw(record))]
    assert sum(isinstance(item, StoredOrder | StoredProduct) for item in decoded) > 10


def test_an_order_is_stored_as_its_values_with_a_fingerprint_of_exactly_those():
    # given the order decoded for import
    stored = records.stored_order(raw(ORDER))
    assert isinstance(stored, StoredOrder)
    # then its values are the columns stored, in order, line items numbered by position
    assert stored.values == (
        "576461413038785752", "AWAITING_SHIPMENT", datetime(2021, 4, 28, 12, 6, 1, tzinfo=UTC),
        datetime(2021, 4, 28, 12, 6, 3, tzinfo=UTC), Decimal("5000.10"), "IDR", "7021436810468230477", "Ana", "US",
        None, None,
    )  # fmt: skip
    assert stored.line_items == (
        ("577086512123755123", "2729382476852921560", "1729582718312380123", "red_iphone_256", "iPhone", 1,
         Decimal("0.01"), "IDR", 0, None, None, None),
        ("577086512123755124", "2729382476852921560", None, None, "iPhone", 3, Decimal("0.01"), "IDR", 1, None, None,
         None),
    )  # fmt: skip
    # and a line's own status, and why and by whom it was cancelled, are stored with it (migration 0037), "" as
    # none, and change the fingerprint
    first, second = ORDER["line_items"]
    lines = [
        {**first, "display_status": "AWAITING_SHIPMENT", "cancel_reason": "", "cancel_user": ""},
        {**second, "display_status": "CANCELLED", "cancel_reason": "Out of stock", "cancel_user": "SELLER"},
    ]
    cancelled = records.stored_order(raw({**ORDER, "line_items": lines}))
    assert isinstance(cancelled, StoredOrder) and cancelled.fingerprint != stored.fingerprint
    assert [line[9:] for line in cancelled.line_items] == [
        ("AWAITING_SHIPMENT", None, None), ("CANCELLED", "Out of stock", "SELLER"),
    ]  # fmt: skip
    assert [(i.display_status, i.cancel_reason, i.cancel_user) for i in cancelled.order().line_items] == [
        ("AWAITING_SHIPMENT", None, None), ("CANCELLED", "Out of stock", "SELLER"),
    ]  # fmt: skip
    # and a field Shopbridge does not store leaves the fingerprint alone; one it stores changes it
    unstored = records.stored_order(
        raw({**ORDER, "buyer_message": "hello", "payment": {**ORDER["payment"], "tax": "1"}})
    )
    restatus = records.stored_order(raw({**ORDER, "status": "IN_TRANSIT"}))
    assert isinstance(unstored, StoredOrder) and isinstance(restatus, StoredOrder)
    assert unstored.fingerprint == stored.fingerprint != restatus.fingerprint
    # and the domain order made from it goes back to the same stored form
    assert order_as_stored(stored.order()) == stored


def test_a_virtual_bundles_skus_are_marked_as_bundles():
    # a SKU with combined_skus, or any SKU of a COMBINED_PRODUCT (live-sync.md sec. 1.5), is a bundle SKU
    combo = copy.deepcopy(PRODUCT)
    combo["skus"][0]["combined_skus"] = [{"product_id": "1", "sku_id": "2", "sku_count": 2, "seller_sku": "X"}]
    typed = copy.deepcopy(PRODUCT)
    typed["product_types"] = ["COMBINED_PRODUCT"]
    for product in (combo, typed):
        decoded = records.product(raw(product))
        assert not isinstance(decoded, RecordFailure) and decoded.skus[0].bundle
    plain = records.product(raw(PRODUCT))
    assert not isinstance(plain, RecordFailure) and not plain.skus[0].bundle


def _bundle_order(listing: list[dict[str, Any]]) -> dict[str, Any]:
    bundle = copy.deepcopy(ORDER)
    bundle["line_items"][0]["combined_listing_skus"] = listing
    return bundle


def test_a_bundle_line_decodes_its_components_which_the_catalog_does_not_store():
    # given an order whose first line sells a virtual bundle (Get Order Detail combined_listing_skus, live-sync.md
    # sec. 1.5), one component id sent as a JSON number
    listing = [
        {"sku_id": "111", "sku_count": 2, "seller_sku": "MUG"},
        {"sku_id": 2729382476852921999, "sku_count": 1, "seller_sku": ""},
    ]
    # when it is decoded
    order = records.order(raw(_bundle_order(listing)))
    stored = records.stored_order(raw(_bundle_order(listing)))
    plain = records.stored_order(raw(ORDER))
    # then the line carries its components, the other line none
    assert isinstance(order, Order) and isinstance(stored, StoredOrder) and isinstance(plain, StoredOrder)
    assert order.line_items[0].combined_listing_skus == (
        BundleComponent("111", 2, "MUG"),
        BundleComponent("2729382476852921999", 1, None),
    )
    assert order.line_items[1].combined_listing_skus == ()
    # and the components go back and forth with the stored form, outside the stored rows and their fingerprint
    assert order_as_stored(order) == stored
    assert (stored.line_items, stored.fingerprint) == (plain.line_items, plain.fingerprint)


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        ({"sku_id": "111", "sku_count": 0}, "combined_listing_skus: sku_count 0 is not positive"),
        ({"sku_id": " ", "sku_count": 1}, "combined_listing_skus: missing sku_id"),
    ],
)
def test_a_bundle_component_without_units_or_sku_is_a_failure_with_a_reason(part: dict[str, Any], reason: str):
    decoded = records.stored_order(raw(_bundle_order([part])))
    assert isinstance(decoded, RecordFailure)
    assert decoded.reason == f"line item 577086512123755123: {reason}"


@pytest.mark.parametrize(
    ("raw_id", "reported"),
    [(b"576486316948490001", "576486316948490001"), (b'" 5764 "', "5764"), (b"true", "(no id)"), (b"null", "(no id)")],
)
def test_a_record_that_fails_is_reported_under_its_id_however_it_was_sent(raw_id: bytes, reported: str):
    # a product whose create_time no decoding can read, with its id as a JSON number, padded text, a bool or null
    raw = Raw(b'{"id":' + raw_id + b',"create_time":"yesterday","skus":[]}')
    failure = records.product(raw)
    assert isinstance(failure, RecordFailure) and failure.tiktok_id == reported


def test_plain_json_keeps_money_exact_and_no_bytes_are_no_value():
    from adapters.tiktok import wire

    assert wire.plain(Raw(b'{"price":1.10,"ids":[576486316948490001]}')) == {
        "price": Decimal("1.10"), "ids": [576486316948490001],
    }  # fmt: skip
    assert wire.plain(b"") is None
