"""The mapping's fast path for plain records: exactly the careful path's result, or a deferral to it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from adapters.tiktok import mapping
from adapters.tiktok.plain_records import plain_order, plain_product
from domain.catalog import Order, Product
from tests.unit.test_tiktok_signing import ORDER, PRODUCT

ODD_VALUES = [
    None, "", "  ", " 12 ", "x", "NaN", "-1", "1e3", "1700000000", "12,50", "\x1f", 0, 5, -1, 10**30, True, 1.5,
    Decimal("1.5"), Decimal("-1"), [], {}, [{}], ["x"],
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


def test_plain_records_take_the_fast_path():
    assert isinstance(plain_order(ORDER), Order) and plain_order(ORDER) == mapping._record_or_failure(
        ORDER, mapping._order
    )
    assert isinstance(plain_product(PRODUCT), Product) and plain_product(PRODUCT) == mapping._record_or_failure(
        PRODUCT, mapping._product
    )


@pytest.mark.parametrize(
    ("record", "plain", "careful", "public"),
    [
        (ORDER, plain_order, mapping._order, mapping.order),
        (PRODUCT, plain_product, mapping._product, mapping.product),
    ],
    ids=["order", "product"],
)
def test_the_fast_path_agrees_with_the_careful_one_on_any_variant(record, plain, careful, public):
    taken = 0
    for variant in variants(record):
        expected = mapping._record_or_failure(variant, careful)
        fast = plain(variant)
        assert fast is None or fast == expected, variant
        assert public(variant) == expected, variant
        taken += fast is not None
    assert taken > 10  # the fast path covers more than the one plain record
