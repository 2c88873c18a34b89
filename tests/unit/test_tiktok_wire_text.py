"""TikTok's text with a NUL escape (`\\u0000`) is read with U+FFFD in its place: PostgreSQL refuses a NUL in text."""

from __future__ import annotations

import msgspec
import pytest

from adapters.tiktok import wire


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (rb'"Lamp\u0000X"', "Lamp\ufffdX"),
        (rb'"\u0000\u0000"', "\ufffd\ufffd"),
        (rb'"a\\\u0000"', "a\\\ufffd"),  # an escaped backslash, then the escape
        (rb'"a\\u0000"', "a\\u0000"),  # a backslash followed by the text "u0000": no NUL, kept
        (rb'"a\\\\u0000"', "a\\\\u0000"),
        (rb'"Lamp \u00e9"', "Lamp \u00e9"),
    ],
)
def test_a_nul_escape_in_tiktoks_text_is_read_as_the_replacement_character(raw: bytes, text: str) -> None:
    decoded = wire.envelope(b'{"code":0,"data":{"title":' + raw + b"}}")
    assert decoded is not None
    assert msgspec.json.decode(decoded.data) == {"title": text}


@pytest.mark.parametrize(
    "content",
    [b'{"code":0,"data":{"title":"Lamp"}}', rb'{"code":0,"data":{"title":"Lamp \u00e9 \"x\" a\\u0000"}}'],
    ids=["no-escape", "other-escapes"],
)
def test_a_response_without_a_nul_escape_is_decoded_from_its_own_bytes(content: bytes) -> None:
    assert wire.without_nul(content) is content


class _Searched(bytes):
    """Response bytes that record what each `in` test looked for."""

    needles: list[bytes] = []

    def __contains__(self, needle: object) -> bool:
        assert isinstance(needle, bytes)
        _Searched.needles.append(needle)
        return super().__contains__(needle)


def test_a_response_without_any_escape_is_scanned_for_a_backslash_only() -> None:
    """Every page of every import is checked for a NUL escape (200 KB for 100 orders): a page holding no backslash
    holds no escape, and one memchr of it says so; `in` with the six-byte needle cost ~100 times that (its scan stops
    at every "0" of the page's ids and amounts, bench/README.md)."""
    _Searched.needles = []
    content = _Searched(b'{"code":0,"data":{"orders":[{"id":"5760041472283145809","total_amount":"208.70"}]}}')
    assert wire.without_nul(content) is content
    assert _Searched.needles == [b"\\"]
