"""Global ids (gql/ids.py): only `base64url("Type:" + 32 lowercase hex digits)` is one of ours; anything else,
including a valid id with something after it, names nothing and never reaches the database."""

from __future__ import annotations

import base64

import pytest

from domain.errors import NotFoundError
from gql.ids import from_global_id, internal_id, to_global_id

HEX = "0123456789abcdef" * 2


def encoded(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_an_id_we_made_parses_back() -> None:
    assert from_global_id(to_global_id("Shop", HEX)) == ("Shop", HEX)
    assert internal_id(to_global_id("Shop", HEX), "Shop", "id") == HEX


@pytest.mark.parametrize(
    "raw",
    [
        f"Shop:{HEX}\x00",
        f"Shop:{HEX}x",
        f"Shop:{HEX}0",
        f"Shop:{HEX}\n",
        f"Shop:{HEX}:{HEX}",
        f"Shop:{HEX[:-1]}",
        f"Shop:{HEX.upper()}",
        f"Shop: {HEX}",
        f":{HEX}",
        HEX,
    ],
    ids=[
        "NUL after",
        "letter after",
        "33 digits",
        "newline after",
        "two ids",
        "31 digits",
        "upper case",
        "space before",
        "no type",
        "no colon",
    ],
)
def test_anything_but_exactly_type_colon_32_hex_digits_is_not_an_id(raw: str) -> None:
    assert from_global_id(encoded(raw)) is None
    with pytest.raises(NotFoundError):
        internal_id(encoded(raw), "Shop", "id")


@pytest.mark.parametrize("global_id", ["", "!!!", "a", "x" * 201])
def test_what_is_not_base64_or_too_long_is_not_an_id(global_id: str) -> None:
    assert from_global_id(global_id) is None


def test_an_id_of_another_type_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        internal_id(to_global_id("Order", HEX), "Shop", "id")


def test_another_spelling_of_an_id_is_not_an_id() -> None:
    # base64 decoders accept padding, and ignore the unused low bits of the last character: "...Q", "...R",
    # "...Q=" all decode to the same bytes. Only the spelling we issue is an id, so one object has one id.
    ours = to_global_id("Shop", HEX)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    low_bit = ours[:-1] + alphabet[alphabet.index(ours[-1]) ^ 1]
    for spelling in (ours + "=", ours + "==", low_bit):
        assert base64.urlsafe_b64decode(spelling + "==") == base64.urlsafe_b64decode(ours + "==")
        assert from_global_id(spelling) is None, spelling
