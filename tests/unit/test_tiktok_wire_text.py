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


def test_a_response_without_a_nul_escape_is_decoded_from_its_own_bytes() -> None:
    content = b'{"code":0,"data":{"title":"Lamp"}}'
    assert wire.without_nul(content) is content
