"""How long a value TikTok sends may be (`domain.stored`, the rule at `MAX_ID_CHARS`): every text the catalog keeps
fits its column on both databases, decided before any database. An over-long id, code or status refuses its record
alone; an over-long seller SKU is not kept (the SKU, the line, stored without one); an over-long recipient name is
cut on a grapheme boundary with a mark. Before (try-out attack56, F-pg-poison) PostgreSQL refused such a value and
failed the whole batch; SQLite stored it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from msgspec import Raw
from sqlalchemy import String

from adapters.db import tables
from adapters.tiktok import records
from adapters.tiktok.errors import UnexpectedResponseError
from domain import stored
from domain.stored import kept_seller_sku
from domain.sync import RecordFailure
from domain.text import TRUNCATION_MARK, truncated, user_perceived_length
from tests.unit.test_tiktok_signing import ORDER, PRODUCT


def raw(value: Any) -> Raw:
    return Raw(json.dumps(value).encode())


def changed(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(record)
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copied


def kept_at_limit_refused_past_it(
    parse: Callable[[Raw], Any], record: dict[str, Any], path: tuple[Any, ...], limit: int, reason: str
) -> Any:
    """`record` with `limit` characters at `path` is read by `parse` (returned: kept at its column's width); with one
    more it is refused alone, a RecordFailure of the record's id whose reason begins with `reason`."""
    kept = parse(raw(changed(record, path, "X" * limit)))
    failure = parse(raw(changed(record, path, "X" * (limit + 1))))
    assert isinstance(failure, RecordFailure) and failure.tiktok_id == record["id"]
    assert failure.reason.startswith(reason), failure.reason
    return kept


@pytest.mark.parametrize(
    ("path", "limit", "reason"),
    [
        (("skus", 0, "id"), 64, "id has more than 64 characters (65)"),
        (("skus", 0, "inventory", 0, "warehouse_id"), 64, "sku 1729592969712207012: warehouse_id has more than 64"),
        (("status",), 32, "status has more than 32 characters (33)"),
        (("skus", 0, "price", "currency"), 8, "sku 1729592969712207012: sale_price currency has more than 8"),
    ],
)
def test_a_product_with_an_id_status_or_currency_over_its_column_is_refused_alone(
    path: tuple[Any, ...], limit: int, reason: str
) -> None:
    assert kept_at_limit_refused_past_it(records.product, PRODUCT, path, limit, reason).skus


@pytest.mark.parametrize(
    ("path", "limit", "reason"),
    [
        (("line_items", 0, "id"), 64, "id has more than 64 characters"),
        (("line_items", 0, "sku_id"), 64, "line item 577086512123755123: sku_id has more than 64 characters"),
        (("line_items", 0, "product_id"), 64, "line item 577086512123755123: product_id has more than 64"),
        (("line_items", 0, "display_status"), 32, "line item 577086512123755123: display_status has more than 32"),
        (("line_items", 0, "cancel_user"), 32, "line item 577086512123755123: cancel_user has more than 32"),
        (("line_items", 0, "currency"), 8, "line item 577086512123755123: sale_price currency has more than 8"),
        (("payment", "currency"), 8, "payment.total_amount currency has more than 8 characters (9)"),
        (("status",), 32, "status has more than 32 characters (33)"),
        (("user_id",), 128, "user_id has more than 128 characters (129)"),
        (("recipient_address", "region_code"), 16, "recipient_address.region_code has more than 16 characters"),
    ],
)
def test_an_order_with_an_id_status_or_code_over_its_column_is_refused_alone(
    path: tuple[Any, ...], limit: int, reason: str
) -> None:
    assert kept_at_limit_refused_past_it(records.order, ORDER, path, limit, reason).line_items


def test_an_over_long_order_id_refuses_the_order_alone_in_its_page() -> None:
    # given a page of two orders, one with a 65-character id
    page = records.orders_page(raw({"orders": [changed(ORDER, ("id",), "9" * 65), ORDER]}))
    # then that one is a failure and the other is stored
    failure, kept = page.items
    assert isinstance(failure, RecordFailure) and failure.reason == "id has more than 64 characters (65)"
    assert not isinstance(kept, RecordFailure) and kept.tiktok_order_id == ORDER["id"]


def test_a_product_skus_seller_sku_over_255_characters_is_not_kept_and_the_sku_is() -> None:
    # given a product whose SKU has a 256-character seller SKU, and a sibling of 255
    sibling = {**PRODUCT["skus"][0], "id": "1729592969712207013", "seller_sku": "S" * 255}
    long = {**PRODUCT["skus"][0], "seller_sku": "L" * 256}
    read = records.stored_product(raw({**PRODUCT, "skus": [long, sibling]}))
    assert not isinstance(read, RecordFailure)
    # then both SKUs are stored with their stock; the long one without a seller SKU, the sibling with its own
    assert [(s[0], s[1], s[4]) for s in read.skus] == [
        ("1729592969712207012", None, 999), ("1729592969712207013", "S" * 255, 999)
    ]  # fmt: skip


def test_a_seller_sku_too_long_to_keep_is_flagged_on_its_sku_and_a_blank_or_kept_one_is_not() -> None:
    # given a product with SKUs whose seller SKU is 256 characters, 255 NFC-lengthening ones (510 as matched), 255
    # characters (kept), and 300 spaces (blank: no seller SKU, however long)
    ids = [f"17295929697122070{n}" for n in range(10, 14)]
    values = ["L" * 256, "\u0344" * 255, "S" * 255, " " * 300]
    specs = [{**PRODUCT["skus"][0], "id": i, "seller_sku": v} for i, v in zip(ids, values, strict=True)]
    read = records.stored_product(raw({**PRODUCT, "skus": specs}))
    assert not isinstance(read, RecordFailure)
    # then the first two are stored without it and flagged too long (their links LONG_SELLER_SKU); the 255 one kept;
    # the blank one is not kept either (too long for its column) but not flagged: it is no seller SKU (NO_SELLER_SKU)
    assert [s[1] for s in read.skus] == [None, None, "S" * 255, None]
    assert read.too_long_seller_skus == (ids[0], ids[1])
    assert [stored.seller_sku_too_long(v) for v in [*values, None]] == [True, True, False, False, False]
    # and the flag goes through a domain Product (Get Product's, `records.product`) and back unchanged
    product = records.product(raw({**PRODUCT, "skus": specs}))
    assert not isinstance(product, RecordFailure)
    assert [s.seller_sku_too_long for s in product.skus] == [True, True, False, False]
    assert stored.product_as_stored(product) == read
    assert stored.product_as_stored(read.product()) == read


def test_the_too_long_flag_is_fingerprinted_only_where_set() -> None:
    # given a product without an over-long seller SKU: its fingerprint is the one it had before the flag (migration
    # 0048), so an upgrade rewrites none of them
    plain = records.stored_product(raw(PRODUCT))
    assert not isinstance(plain, RecordFailure) and plain.too_long_seller_skus == ()
    assert plain.fingerprint == stored.digest(plain.values, plain.skus, plain.stock)
    # and one stored without its seller SKU before the flag: its fingerprint changes, so its next import or product
    # event rewrites it with the flag, and its SKU's link becomes LONG_SELLER_SKU
    flagged = records.stored_product(raw(changed(PRODUCT, ("skus", 0, "seller_sku"), "L" * 300)))
    assert not isinstance(flagged, RecordFailure) and flagged.too_long_seller_skus == (PRODUCT["skus"][0]["id"],)
    assert flagged.fingerprint != stored.digest(flagged.values, flagged.skus, flagged.stock)


def test_an_order_lines_seller_sku_over_255_characters_is_not_kept_and_the_line_is() -> None:
    line = {**ORDER["line_items"][0], "seller_sku": "L" * 300}
    bundle = {**ORDER["line_items"][1], "combined_listing_skus": [{"sku_id": "77", "seller_sku": "C" * 256}]}
    read = records.order(raw({**ORDER, "line_items": [line, bundle]}))
    assert not isinstance(read, RecordFailure)
    first, second = read.line_items
    assert (first.tiktok_sku_id, first.seller_sku, first.quantity) == ("2729382476852921560", None, 1)
    assert [(c.tiktok_sku_id, c.seller_sku) for c in second.combined_listing_skus] == [("77", None)]


def test_a_seller_sku_whose_matched_form_is_over_255_characters_is_not_kept() -> None:
    # U+0344 COMBINING GREEK DIALYTIKA TONOS is two code points in NFC: 255 of them match as 510
    assert kept_seller_sku("\u0344" * 255) is None
    assert kept_seller_sku("A" * 255) == "A" * 255 and kept_seller_sku(None) is None


def test_an_over_long_recipient_name_is_cut_on_a_grapheme_boundary_with_a_mark() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points, one character
    read = records.order(raw(changed(ORDER, ("recipient_address", "name"), family * 60)))
    assert not isinstance(read, RecordFailure)
    name = read.recipient_name or ""
    assert len(name) <= 255 and name.endswith(TRUNCATION_MARK)
    assert name == family * 50 + TRUNCATION_MARK  # 250 code points + the mark: the 51st family does not fit whole
    assert user_perceived_length(name) == 51


def test_truncated_keeps_a_short_text_and_cuts_a_long_one_to_the_limit() -> None:
    assert truncated("Ana", 3) == "Ana"
    assert truncated("Anabel", 4) == "Ana" + TRUNCATION_MARK
    assert truncated("e\u0301e\u0301", 3) == "e\u0301" + TRUNCATION_MARK  # the accent stays with its letter


@pytest.mark.parametrize(
    ("table", "column", "limit"),
    [
        (tables.products, "tiktok_product_id", stored.MAX_ID_CHARS),
        (tables.products, "status", stored.MAX_STATUS_CHARS),
        (tables.skus, "tiktok_sku_id", stored.MAX_ID_CHARS),
        (tables.skus, "seller_sku", stored.MAX_SELLER_SKU_CHARS),
        (tables.skus, "seller_sku_key", stored.MAX_SELLER_SKU_CHARS),
        (tables.skus, "currency", stored.MAX_CURRENCY_CHARS),
        (tables.warehouse_stocks, "warehouse_id", stored.MAX_ID_CHARS),
        (tables.orders, "tiktok_order_id", stored.MAX_ID_CHARS),
        (tables.orders, "status", stored.MAX_STATUS_CHARS),
        (tables.orders, "currency", stored.MAX_CURRENCY_CHARS),
        (tables.orders, "buyer_user_id", stored.MAX_BUYER_ID_CHARS),
        (tables.orders, "recipient_name", stored.MAX_NAME_CHARS),
        (tables.orders, "recipient_region", stored.MAX_REGION_CHARS),
        (tables.line_items, "tiktok_line_item_id", stored.MAX_ID_CHARS),
        (tables.line_items, "tiktok_sku_id", stored.MAX_ID_CHARS),
        (tables.line_items, "tiktok_product_id", stored.MAX_ID_CHARS),
        (tables.line_items, "seller_sku", stored.MAX_SELLER_SKU_CHARS),
        (tables.line_items, "currency", stored.MAX_CURRENCY_CHARS),
        (tables.line_items, "display_status", stored.MAX_STATUS_CHARS),
        (tables.line_items, "cancel_user", stored.MAX_STATUS_CHARS),
        (tables.sku_links, "seller_sku", stored.MAX_SELLER_SKU_CHARS),
        (tables.sku_links, "tiktok_sku_id", stored.MAX_ID_CHARS),
        (tables.inventory_items, "sku", stored.MAX_SELLER_SKU_CHARS),
    ],
)
def test_the_domain_bounds_are_the_columns_widths(table: Any, column: str, limit: int) -> None:
    # a column widened or narrowed without its bound (or the other way) would let a TikTok value fail a batch again
    kind = table.c[column].type
    assert isinstance(kind, String) and kind.length == limit


TOKENS = {"access_token": "TTP_a", "access_token_expire_in": 1660556783, "refresh_token": "TTP_r",
          "refresh_token_expire_in": 1691487031}  # fmt: skip
SHOP = {"id": "7000714532876273420", "region": "GB", "seller_type": "LOCAL", "cipher": "GCP_XF90", "code": "CNGB"}


def test_a_token_answer_with_an_over_long_seller_name_or_open_id_is_kept_with_the_name_cut() -> None:
    # given a refresh answer whose seller name has 300 characters and whose open_id has 256
    tokens = records.token_set(raw({**TOKENS, "seller_name": "N" * 300, "open_id": "O" * 256}))
    # then the tokens are kept (a pair not stored is lost), the name cut with the mark, the open_id dropped
    assert (tokens.access_token, tokens.refresh_token) == ("TTP_a", "TTP_r")
    assert (tokens.seller_name, tokens.open_id) == ("N" * 254 + TRUNCATION_MARK, None)
    fits = records.token_set(raw({**TOKENS, "seller_name": "N" * 255, "open_id": "O" * 255}))
    assert (fits.seller_name, fits.open_id) == ("N" * 255, "O" * 255)


def test_an_authorized_shop_with_an_over_long_name_or_code_is_kept_and_one_with_a_long_id_is_refused() -> None:
    (shop,) = records.authorized_shops(raw({"shops": [{**SHOP, "name": "S" * 300, "code": "C" * 65}]}))
    assert (shop.tiktok_shop_id, shop.name, shop.code) == (SHOP["id"], "S" * 254 + TRUNCATION_MARK, None)
    for field, limit in (("id", 64), ("cipher", 255)):
        assert records.authorized_shops(raw({"shops": [{**SHOP, field: "9" * limit}]}))
        with pytest.raises(UnexpectedResponseError) as refused:
            records.authorized_shops(raw({"shops": [{**SHOP, field: "9" * (limit + 1)}]}))
        assert str(refused.value) == (
            f"authorized shops: {field} has more than {limit} characters ({limit + 1}) - at `$.shops[0].{field}`"
        )


@pytest.mark.parametrize(
    ("column", "limit"),
    [
        ("tiktok_shop_id", records.SHOP_ID_MAX_CHARS),
        ("tiktok_shop_code", records.SHOP_CODE_MAX_CHARS),
        ("tiktok_shop_cipher", records.SHOP_CIPHER_MAX_CHARS),
        ("tiktok_shop_name", records.SHOP_NAME_MAX_CHARS),
        ("seller_name", records.SHOP_NAME_MAX_CHARS),
        ("token_seller_name", records.SHOP_NAME_MAX_CHARS),
        ("token_open_id", records.OPEN_ID_MAX_CHARS),
    ],
)
def test_the_shop_bounds_are_the_columns_widths(column: str, limit: int) -> None:
    kind = tables.shops.c[column].type
    assert isinstance(kind, String) and kind.length == limit
