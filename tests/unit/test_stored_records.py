"""Records in their stored form (domain.stored): the values kept, the checks, the reasons, the way back.

test_fingerprint.py pins the digest itself; test_tiktok_mapping.py decodes TikTok's samples into these forms.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.dialects import sqlite

from adapters.db.tables import DecimalText
from domain.catalog import BundleComponent, InvalidRecord, LineItem, Money, Order, Product, Sku, WarehouseStock
from domain.stored import (
    StoredOrder,
    StoredProduct,
    digest,
    order_as_stored,
    product_as_stored,
    store_order,
    store_product,
)
from gql.mappers import money

CREATED = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
UPDATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
PRICE = Decimal("4.10")


def order(*line_items: tuple, components: tuple = (), currency: str | None = " usd ") -> StoredOrder:  # type: ignore[type-arg]
    return store_order(
        " 576 ", "UNPAID", CREATED, UPDATED, Decimal("12.30"), currency, "buyer", "Ana", "US", line_items, components
    )


LINE = ("li-1", "sku-1", "p-1", "TEE-RED", "Tee", 2, PRICE, None, None, None, None)
NONE3 = (None, None, None)  # no display_status, cancel_reason, cancel_user


def product(*skus: tuple) -> StoredProduct:  # type: ignore[type-arg]
    return store_product(" p-1 ", "Tee", "ACTIVATE", CREATED, UPDATED, skus)


SKU = ("sku-1", "TEE-RED", PRICE, "usd", [("w1", 3), ("w2", 4)], False)


class TestStoreOrder:
    def test_the_values_kept_are_trimmed_checked_and_numbered(self) -> None:
        stored = order(
            (" li-1 ", " sku-1 ", "p-1", "TEE-RED", "Tee", 2, PRICE, None, *NONE3),
            ("li-2", "sku-2", None, None, "Mug", 1, Decimal("0"), "eur", "CANCELLED", "Out of stock", "SELLER"),
        )
        assert stored.values == (
            "576", "UNPAID", CREATED, UPDATED, Decimal("12.30"), "USD", "buyer", "Ana", "US", None, None,
        )  # fmt: skip
        assert stored.line_items == (
            ("li-1", "sku-1", "p-1", "TEE-RED", "Tee", 2, PRICE, "USD", 0, *NONE3),  # no currency: the order's
            ("li-2", "sku-2", None, None, "Mug", 1, Decimal("0"), "EUR", 1, "CANCELLED", "Out of stock", "SELLER"),
        )
        assert (stored.tiktok_order_id, stored.created_at, stored.updated_at, stored.components) == (
            "576", CREATED, UPDATED, (),
        )  # fmt: skip

    def test_the_collection_time_is_stored_and_fingerprinted_only_where_set(self) -> None:
        # given an order as stored without a collection time, and the same order collected by the carrier
        plain = order(LINE)
        collected_at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        collected = store_order(
            "576", "UNPAID", CREATED, UPDATED, Decimal("12.30"), "USD", "buyer", "Ana", "US", [LINE],
            collected_at=collected_at, package_ids=["pk-1"],
        )  # fmt: skip
        # then the time and the package count (stored with it only, migration 0052) are the last stored values; an
        # order without a time keeps the fingerprint of the values before migration 0050 (nothing rewritten at the
        # upgrade), and one with it another (rewritten once TikTok gives it)
        assert (plain.values[-2:], plain.collected_at, plain.package_count) == ((None, None), None, None)
        assert (collected.values[-2:], collected.package_count) == ((collected_at, 1), 1)
        assert plain.fingerprint == digest(plain.values[:-2], plain.line_items)
        assert collected.fingerprint not in (plain.fingerprint, digest(collected.values[:-2], collected.line_items))
        # and the domain order carries it both ways, its packages too (for the pool: their ids are not stored)
        back = collected.order()
        assert (back.collected_at, back.package_ids) == (collected_at, ("pk-1",))
        assert order_as_stored(back) == collected

    def test_a_collection_before_the_orders_creation_refuses_the_order(self) -> None:
        with pytest.raises(InvalidRecord, match="collection_time 2026-10-31T08:00:00Z is before create_time"):
            store_order(
                "576", "UNPAID", CREATED, UPDATED, Decimal("1"), "USD", None, None, None, [LINE],
                collected_at=datetime(2026, 10, 31, 8, 0, tzinfo=UTC),
            )  # fmt: skip

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            ({"id": "  "}, "missing id"),
            ({"currency": None}, "payment.total_amount has no currency"),
            ({"line": ("  ", "sku-1", None, None, "Tee", 1, PRICE, None, *NONE3)}, "missing id"),
            ({"line": ("li-7", " ", None, None, "Tee", 1, PRICE, None, *NONE3)}, "line item li-7: missing sku_id"),
            (
                {"line": ("li-7", "s", None, None, "Tee", 0, PRICE, None, *NONE3)},
                "line item li-7: quantity 0 is not positive",
            ),
            (
                {"line": ("li-7", "s", None, None, "Tee", 1, Decimal("-1"), None, *NONE3)},
                "line item li-7: sale_price is not a valid amount: -1",
            ),
        ],
    )
    def test_a_record_breaking_a_rule_is_refused_with_its_reason(self, change: dict, reason: str) -> None:  # type: ignore[type-arg]
        with pytest.raises(InvalidRecord) as refused:
            store_order(
                change.get("id", "576"), "UNPAID", CREATED, UPDATED, Decimal("1"), change.get("currency", "USD"),
                None, None, None, [change.get("line", LINE)],
            )  # fmt: skip
        assert str(refused.value) == reason

    def test_a_bundle_lines_components_ride_along_trimmed_in_line_order(self) -> None:
        stored = order(LINE, ("li-2", "sku-2", None, None, "Mug", 1, PRICE, None, *NONE3), components=(
            (" li-1 ", " c-1 ", 2, "MUG"), ("li-1", "c-2", 1, None),
        ))  # fmt: skip
        assert stored.components == (("li-1", "c-1", 2, "MUG"), ("li-1", "c-2", 1, None))
        # the catalog does not store them: the fingerprint is the plain order's
        assert (
            stored.fingerprint == order(LINE, ("li-2", "sku-2", None, None, "Mug", 1, PRICE, None, *NONE3)).fingerprint
        )

    @pytest.mark.parametrize(
        ("component", "reason"),
        [
            (("li-9", "c-1", 1, None), "line item li-9: combined_listing_skus: not a line item of the order"),
            (("li-1", "  ", 1, None), "line item li-1: combined_listing_skus: missing sku_id"),
            (("li-1", "c-1", 0, None), "line item li-1: combined_listing_skus: sku_count 0 is not positive"),
        ],
    )
    def test_a_bad_component_is_refused_with_its_reason(self, component: tuple, reason: str) -> None:  # type: ignore[type-arg]
        with pytest.raises(InvalidRecord) as refused:
            order(LINE, components=(component,))
        assert str(refused.value) == reason

    def test_the_fingerprint_changes_with_any_stored_value(self) -> None:
        plain = order(LINE).fingerprint
        assert order(LINE).fingerprint == plain
        assert (
            store_order(
                "576", "UNPAID", CREATED, UPDATED, Decimal("12.30"), "USD", "buyer", "Ana", "GB", [LINE]
            ).fingerprint
            != plain
        )
        assert order(LINE, currency="EUR").fingerprint != plain
        assert order((*LINE[:5], 3, *LINE[6:])).fingerprint != plain
        assert order((*LINE[:8], "CANCELLED", None, None)).fingerprint != plain  # a line's own status: stored
        assert order((*LINE[:8], None, "Out of stock", None)).fingerprint != plain
        assert order((*LINE[:8], None, None, "SELLER")).fingerprint != plain
        assert order(LINE, LINE).fingerprint != plain

    def test_the_domain_order_goes_back_and_forth(self) -> None:
        bundle = LineItem("li-1", "sku-1", "p-1", "TEE-RED", "Tee", 2, Money(PRICE, "USD"), (
            BundleComponent("c-1", 2, "MUG"), BundleComponent("c-2", 1),
        ))  # fmt: skip
        plain = LineItem("li-2", "sku-2", None, None, "Mug", 1, Money(Decimal("0.50"), "EUR"))
        domain = Order(
            "576", "UNPAID", CREATED, UPDATED, Money(Decimal("12.30"), "USD"), (bundle, plain), "b", "Ana", "US"
        )
        stored = order_as_stored(domain)
        assert stored.components == (("li-1", "c-1", 2, "MUG"), ("li-1", "c-2", 1, None))
        assert stored.line_items[1] == ("li-2", "sku-2", None, None, "Mug", 1, Decimal("0.50"), "EUR", 1, *NONE3)
        assert stored.order() == domain
        assert order_as_stored(stored) is stored

    def test_each_lines_own_status_and_cancellation_are_stored_and_read_by_the_pool(self) -> None:
        # given an open order whose second line was cancelled alone (item-level cancellation)
        first = LineItem("li-1", "sku-1", None, None, "Tee", 1, Money(PRICE, "USD"))
        second = LineItem("li-2", "sku-1", None, None, "Tee", 1, Money(PRICE, "USD"), display_status="CANCELLED",
                          cancel_reason="Out of stock", cancel_user="SELLER")  # fmt: skip
        domain = Order("576", "UNPAID", CREATED, UPDATED, Money(Decimal("8.20"), "USD"), (first, second))
        stored = order_as_stored(domain)
        # then the stored form keeps each line's status and cancellation with the line (the catalog stores them,
        # migration 0037), the pool reads the statuses in line order, and it gives them back
        assert [line[9:] for line in stored.line_items] == [NONE3, ("CANCELLED", "Out of stock", "SELLER")]
        assert stored.line_statuses == (None, "CANCELLED")
        assert stored.order() == domain
        # stored, they are in the fingerprint: the same order without them differs
        plain = order_as_stored(replace(domain, line_items=(first, replace(second, display_status=None))))
        assert plain.fingerprint != stored.fingerprint and plain.line_statuses == ()

    def test_each_lines_package_status_rides_along_outside_the_fingerprint(self) -> None:
        # given a cancelled order whose first line's package was lost in transit, the second's never shipped
        first = LineItem("li-1", "sku-1", None, None, "Tee", 1, Money(PRICE, "USD"), package_status="CANCELLED")
        second = LineItem("li-2", "sku-1", None, None, "Tee", 1, Money(PRICE, "USD"))
        domain = Order("576", "CANCELLED", CREATED, UPDATED, Money(Decimal("8.20"), "USD"), (first, second))
        stored = order_as_stored(domain)
        # then the stored form keeps each line's package status, in line order, for the pool, and gives it back
        assert stored.package_statuses == ("CANCELLED", None)
        assert stored.order() == domain
        # the catalog does not store it: the fingerprint is that of the same order without it
        plain = order_as_stored(replace(domain, line_items=(replace(first, package_status=None), second)))
        assert plain.fingerprint == stored.fingerprint and plain.package_statuses == ()
        with pytest.raises(InvalidRecord, match="1 package statuses for 2 line items"):
            store_order("576", "UNPAID", CREATED, UPDATED, Decimal("1"), "USD", None, None, None,
                        [LINE, ("li-2", *LINE[1:])], (), False, ["CANCELLED"])  # fmt: skip


class TestStoreProduct:
    def test_the_values_kept_are_trimmed_checked_and_summed(self) -> None:
        stored = product(
            (" sku-1 ", "TEE-RED", PRICE, "usd", [(" w1 ", 3), ("w2", 4)], False),
            ("sku-2", None, PRICE, "USD", [], True),
        )
        assert (stored.values, stored.tiktok_product_id) == (("p-1", "Tee", "ACTIVATE", CREATED, UPDATED), "p-1")
        assert stored.skus == (
            ("sku-1", "TEE-RED", PRICE, "USD", 7, 0, False),
            ("sku-2", None, PRICE, "USD", 0, 1, True),
        )
        assert stored.stock == (("sku-1", "w1", 3), ("sku-1", "w2", 4))

    @pytest.mark.parametrize(
        ("tiktok_product_id", "sku", "reason"),
        [
            (" ", SKU, "missing id"),
            ("p-1", (" ", None, PRICE, "USD", [], False), "missing id"),
            ("p-1", ("sku-9", None, PRICE, None, [], False), "sku sku-9: sale_price has no currency"),
            ("p-1", ("sku-9", None, PRICE, "USD", [(" ", 1)], False), "sku sku-9: missing warehouse_id"),
        ],
    )
    def test_a_record_breaking_a_rule_is_refused_with_its_reason(
        self,
        tiktok_product_id: str,
        sku: tuple[object, ...],
        reason: str,
    ) -> None:
        with pytest.raises(InvalidRecord) as refused:
            store_product(tiktok_product_id, "Tee", "ACTIVATE", CREATED, UPDATED, [sku])
        assert str(refused.value) == reason

    def test_the_fingerprint_covers_skus_and_stock(self) -> None:
        plain = product(SKU).fingerprint
        assert product(SKU).fingerprint == plain
        assert product((*SKU[:4], [("w1", 3), ("w2", 5)], False)).fingerprint != plain
        assert product((*SKU[:4], [("w1", 7)], False)).fingerprint != plain  # same sum, other warehouses
        assert product((*SKU[:5], True)).fingerprint != plain
        retitled = store_product("p-1", "Tee (new)", "ACTIVATE", CREATED, UPDATED, [SKU])
        assert retitled.fingerprint != plain

    def test_the_domain_product_goes_back_and_forth(self) -> None:
        skus = (
            Sku("sku-1", "TEE-RED", Money(PRICE, "USD"), (WarehouseStock("w1", 3), WarehouseStock("w2", 4))),
            Sku("sku-2", None, Money(PRICE, "USD"), (), bundle=True),
        )
        domain = Product("p-1", "Tee", "ACTIVATE", CREATED, UPDATED, skus)
        stored = product_as_stored(domain)
        assert stored == product(
            ("sku-1", "TEE-RED", PRICE, "USD", [("w1", 3), ("w2", 4)], False), ("sku-2", None, PRICE, "USD", [], True)
        )
        assert stored.product() == domain
        assert product_as_stored(stored) is stored


class TestPlainAmounts:
    """`Money.amount` is one kind of text: a plain decimal with TikTok's digits (try-out regions53, defect 5: TikTok's
    "1e3" was stored and served as "1E+3" although the schema promises "an exact decimal string like 12.50")."""

    @pytest.mark.parametrize(
        ("tiktok", "served"),
        [("12.50", "12.50"), ("12.5", "12.5"), ("0", "0"), ("1e3", "1000"), ("1E+3", "1000"), ("15E-1", "1.5"),
         ("1E-7", "0.0000001"), ("12345678901234567890.12", "12345678901234567890.12")],
    )  # fmt: skip
    def test_an_amount_is_stored_and_served_in_plain_decimal_notation(self, tiktok: str, served: str) -> None:
        amount = Decimal(tiktok)  # as msgspec decodes TikTok's decimal string (adapters/tiktok/wire.py)
        stored = product(("sku-1", "TEE-RED", amount, "usd", [("w1", 3)], False))
        kept = stored.skus[0][2]
        assert DecimalText().process_bind_param(kept, sqlite.dialect()) == served
        assert money(Money(kept, "USD")).amount == served

    @pytest.mark.parametrize("tiktok", ["1e40", "1E+999999999", "1E-39"])
    def test_an_amount_too_long_to_write_out_is_unreadable(self, tiktok: str) -> None:
        with pytest.raises(InvalidRecord, match=r"^sku sku-1: sale_price is not a valid amount: .* longer than 40"):
            product(("sku-1", "TEE-RED", Decimal(tiktok), "usd", [("w1", 3)], False))
        with pytest.raises(InvalidRecord, match=r"^payment.total_amount is not a valid amount"):
            store_order("576", "UNPAID", CREATED, UPDATED, Decimal(tiktok), "USD", None, None, None, [LINE])
