"""review56 F5: a text far past its limit is refused on its code points, before its characters are counted.

Counting characters (UAX #29 grapheme clusters, `domain.text.user_perceived_length`) and NFC are linear and run on the
event loop: a 1 MiB `reason`, `query` or `sku` (the request bound) held it 0.2-1 s before its refusal (outage56's
refusals). These tests count what the refusals hand to the `regex` package's cluster pattern and to `unicodedata`'s
normalization (both wrapped, each call passed on as is), not how long they take.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

import domain.text
from domain.errors import ValidationError
from domain.shops import parse_shop_name
from domain.text import COUNTED_MAX_CODE_POINTS, NFC_MAX_SHRINK, code_points_refusal
from gql.inventory.mutations import bounded_reason, bounded_sku

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points, 1 character
HUGE = [
    pytest.param("a" * 1_000_000, id="letters"),
    pytest.param("e\u0301" * 500_000, id="decomposed-accents"),
    pytest.param(FAMILY * 200_000, id="family-emojis"),
]


class _CountingPattern:
    """The `regex` pattern, passed on as is, recording the length of each text it is asked to split."""

    def __init__(self, pattern: Any, lengths: list[int]) -> None:
        self._pattern = pattern
        self._lengths = lengths

    def findall(self, text: str, *args: Any) -> Any:
        self._lengths.append(len(text))
        return self._pattern.findall(text, *args)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[int]]]:
    """The lengths of the texts whose grapheme clusters were counted, and of those normalized."""
    lengths: dict[str, list[int]] = {"graphemes": [], "nfc": []}
    monkeypatch.setattr(
        domain.text, "_GRAPHEME_CLUSTER", _CountingPattern(domain.text._GRAPHEME_CLUSTER, lengths["graphemes"])
    )
    normalize = unicodedata.normalize

    def counting_normalize(form: Any, text: str) -> str:
        lengths["nfc"].append(len(text))
        return normalize(form, text)

    monkeypatch.setattr(unicodedata, "normalize", counting_normalize)
    yield lengths


@pytest.mark.parametrize("text", HUGE)
def test_a_reason_far_past_its_limit_is_refused_neither_counted_nor_normalized(
    counted: dict[str, list[int]], text: str
) -> None:
    # when inventoryAdjust's edge bound sees a 1,000,000 code point reason
    with pytest.raises(ValidationError) as refused:
        bounded_reason(text)
    # then its characters are never counted nor the text normalized, and it is refused in code points
    assert counted == {"graphemes": [], "nfc": []}
    assert refused.value.message == (
        f"A reason has at most 500 characters and 8000 Unicode code points (this one takes {len(text)} code points)."
    )
    assert refused.value.field == ("reason",)


def test_a_reason_within_what_nfc_could_bring_under_the_bound_is_normalized_and_counted_within_the_cap(
    counted: dict[str, list[int]],
) -> None:
    # given a reason of 10,000 code points that NFC composes into 5,000 characters ("e" + U+0301 is one "é")
    text = "e\u0301" * 5_000
    # when the edge bound sees it
    with pytest.raises(ValidationError) as refused:
        bounded_reason(text)
    # then it is told its characters as a reader counts them, counted on its NFC form (within the cap)
    assert refused.value.message == "A reason has at most 500 characters (this one has 5000)."
    assert counted["nfc"] == [10_000] and counted["graphemes"] == [5_000]
    assert NFC_MAX_SHRINK * 8000 >= 10_000


@pytest.mark.parametrize("text", HUGE)
def test_a_query_or_sku_far_past_its_limit_is_refused_uncounted(counted: dict[str, list[int]], text: str) -> None:
    # when inventoryItems(query:) and inventoryItemUpdated(sku:) refuse a 1,000,000 code point text, and
    # inventoryItemCreate's edge bound a SKU of as many
    told = code_points_refusal("query", 255, text)
    with pytest.raises(ValidationError) as refused:
        bounded_sku(text)
    # then no character of them is counted, and each is told in code points
    assert counted["graphemes"] == []
    assert told == f"query has at most 255 Unicode code points (this one has {len(text)})."
    assert refused.value.message == (
        f"A SKU has 1 to 255 Unicode code points, as the database stores it (this one has {len(text)})."
    )


def test_refusals_within_the_cap_still_count_characters(counted: dict[str, list[int]]) -> None:
    # given 200 family emojis (1,000 code points, 200 characters): within the cap
    text = FAMILY * 200
    # then the refusal counts them, as before, and says both counts
    assert (
        code_points_refusal("sku", 255, text)
        == "sku has at most 255 Unicode code points (its 200 characters take 1000)."
    )
    assert counted["graphemes"] == [1_000] and len(text) <= COUNTED_MAX_CODE_POINTS


def test_no_canonical_decomposition_is_longer_than_nfc_max_shrink() -> None:
    """What `NFC_MAX_SHRINK` rests on: NFC keeps at least 1/4 of a text's code points (domain/text.py)."""
    longest = max(
        len(unicodedata.normalize("NFD", chr(code))) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF
    )
    assert longest <= NFC_MAX_SHRINK


@pytest.mark.parametrize("text", HUGE)
def test_a_shop_name_far_past_its_limit_is_refused_neither_counted_nor_normalized(
    counted: dict[str, list[int]], text: str
) -> None:
    # when shopRename (or an authorization's name) sees a 1,000,000 code point name
    with pytest.raises(ValidationError) as refused:
        parse_shop_name(text)
    # then its characters are never counted nor the text normalized, and it is refused in code points
    assert counted == {"graphemes": [], "nfc": []}
    assert refused.value.code.value == "INVALID_NAME"
    assert refused.value.message == (
        f"The shop name must be at most 64 characters and 1024 Unicode code points (this one takes {len(text)} code "
        "points)."
    )
