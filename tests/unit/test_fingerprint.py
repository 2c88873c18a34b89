"""The catalog's fingerprint (`domain.stored.digest`): exact, and stable across releases.

The digests below were computed by the release before the one-pass digest: a change of the formula would make
every stored row look changed once (a full rewrite at the next import), so it must be deliberate, never a side
effect of making it faster.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.stored import digest

AT = datetime(2026, 11, 30, 12, 0, 1, 250_000, tzinfo=UTC)
ITEM = ("577086512123755123", "2729382476852921560", None, "TEE-RED", "Tee", 1, Decimal("4.10"), "USD", 0)
ORDER = ("576", "UNPAID", AT, AT, Decimal("12.30"), "USD", "buyer", "Ana", "US")


def order(buyer: object, name: object = "Ana") -> tuple[object, ...]:
    return (*ORDER[:6], buyer, name, "US")


@pytest.mark.parametrize(
    ("values", "children", "expected"),
    [
        (ORDER, ((*ITEM[:2], "p", *ITEM[3:]),), "bb69ac17d9a63eada569ee95b54b6e56"),  # no None anywhere
        (order(None), (ITEM,), "7a15672c409b077943c888fdf981d889"),  # a None
        (order("None"), (ITEM,), "b151740494ede36f981e83076fb04267"),  # the text "None"
        (order("a\x1fb"), (ITEM,), "b5a2d3a0504b18e8a0697d46f42e27e7"),  # a value holding the separator
        (order("a\x00", None), (), "d2544bcdfd9034b7488baa58fc05be35"),  # a value holding the None marker
    ],
)
def test_the_fingerprint_of_a_record_is_what_earlier_releases_stored(
    values: tuple[object, ...], children: tuple[tuple[object, ...], ...], expected: str
) -> None:
    assert digest(values, children) == expected


def test_none_the_text_none_and_the_markers_never_collide() -> None:
    variants = [order(None), order("None"), order(""), order("\x00"), order("a\x1fb"), order("a", "\x1fb")]
    assert len({digest(v, (ITEM,)) for v in variants}) == len(variants)
    # and where a value sits matters: the same texts in other columns, or a row moved to another child, differ
    assert digest(order("x", "y"), ()) != digest(order("y", "x"), ())
    assert digest(ORDER, (ITEM,), ()) != digest(ORDER, (), (ITEM,))


class _CountedRows(tuple[tuple[object, ...], ...]):
    """A child's rows that count how often they are walked."""

    walked = 0

    def __iter__(self) -> Iterator[tuple[object, ...]]:
        _CountedRows.walked += 1
        return super().__iter__()


@pytest.mark.parametrize(
    ("values", "rows", "expected"),
    [
        (order(None), (ITEM,), "7a15672c409b077943c888fdf981d889"),
        (order("a\x00", None), (), "d2544bcdfd9034b7488baa58fc05be35"),  # the exact path (repr) too
    ],
    ids=["a-none", "a-value-holding-the-marker"],
)
def test_a_fingerprint_walks_each_childs_rows_once(
    values: tuple[object, ...], rows: tuple[tuple[object, ...], ...], expected: str
) -> None:
    """The digest runs once per imported record, and most records hold a None (a line's absent cancel reason): their
    None values are counted in the pass that spells them, not in a second walk of every row (bench/README.md, "Our
    CPU per record, stop 61"). The digest stays the earlier releases' (above)."""
    counted = _CountedRows(rows)
    _CountedRows.walked = 0
    assert digest(values, counted) == expected
    assert _CountedRows.walked == 1
