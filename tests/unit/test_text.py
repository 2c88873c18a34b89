"""domain.text: the written-out edge set equals the rule it was generated from, and the rules themselves."""

from __future__ import annotations

import pytest

from domain.shops import parse_shop_name
from domain.text import (
    EDGE_INVISIBLE,
    code_points_refusal,
    describe,
    first_control_character,
    first_invisible_character,
    is_blank,
    is_invisible,
    leading_combining_mark,
    longest_non_starter_run,
    look_alike,
    strip_invisible,
    user_perceived_length,
)


def test_the_edge_set_is_every_invisible_character_of_the_basic_multilingual_plane() -> None:
    scanned = "".join(chr(code) for code in range(0x10000) if is_invisible(chr(code)))
    assert EDGE_INVISIBLE == scanned
    assert len(set(EDGE_INVISIBLE)) == len(EDGE_INVISIBLE)


@pytest.mark.parametrize(
    "ch",
    ["\u00a0", "\u200b", "\ufeff", "\u3164", "\u2800", "\u3000", "\t", "\u180e"],
    ids=["nbsp", "zwsp", "bom", "hangul-filler", "braille-blank", "ideographic-space", "tab", "mongolian-vs"],
)
def test_the_usual_look_alikes_of_nothing_are_trimmed(ch: str) -> None:
    assert ch in EDGE_INVISIBLE
    assert strip_invisible(f"{ch}SKU-1{ch}") == "SKU-1"


def test_inner_characters_stay_and_a_visible_text_is_untouched() -> None:
    assert strip_invisible("\u200bA\u200bB\u00a0") == "A\u200bB"
    assert strip_invisible("Lamp 40x40") == "Lamp 40x40"
    assert "A" not in EDGE_INVISIBLE


def test_blank_and_named_characters() -> None:
    assert is_blank("\u200b \u2800")
    assert not is_blank("\u200bx")
    assert first_invisible_character("a b\u00a0c") == "U+00A0 NO-BREAK SPACE"
    assert first_control_character("ok\u202eko") == "U+202E RIGHT-TO-LEFT OVERRIDE"
    assert first_control_character("line\nbreak", line_breaks=True) is None
    assert describe("\x00") == "U+0000"


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("", 0),
        ("Lamp 40x40", 10),
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", 1),  # family: 4 people joined by 3 ZWJ
        ("\U0001f1eb\U0001f1f7\U0001f1ef\U0001f1f5", 2),  # the flags of France and Japan: 2 regional indicators each
        ("q\u0301\u0323", 1),  # a letter and two combining accents (no precomposed form, NFC keeps 3 code points)
        ("\u2764\ufe0f", 1),  # a heart and its emoji-style variation selector
        ("\ud55c\u3164\uae00", 3),  # a Hangul filler between syllables is a cluster of its own
        ("\r\n", 1),
    ],
    ids=["empty", "ascii", "family", "two-flags", "combining-accents", "variation-selector", "hangul-filler", "crlf"],
)
def test_user_perceived_length_counts_grapheme_clusters(text: str, length: int) -> None:
    assert user_perceived_length(text) == length


@pytest.mark.parametrize(
    ("text", "run"),
    [
        ("", 0),
        ("Shop", 0),
        ("\u00e9", 1),  # precomposed: e + U+0301 decomposed, as UAX #15 counts
        ("x" + "\u0301" * 62, 62),
        ("q\u0323\u0301 x\u0301", 2),  # the longest run, not the sum
        ("x" + "\u0301" * 30 + "\u034f" + "\u0301" * 30, 30),  # the combining grapheme joiner is a starter
        ("\u2764\ufe0f", 0),  # a variation selector is a mark (Mn) but a starter (combining class 0)
    ],
    ids=["empty", "ascii", "precomposed", "62-marks", "longest-run", "cgj-breaks-run", "variation-selector"],
)
def test_longest_non_starter_run_counts_combining_marks_in_a_row_decomposed(text: str, run: int) -> None:
    assert longest_non_starter_run(text) == run


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        ("", None),
        ("a\u0301", None),
        ("\u200ba\u0301", None),  # a visible character carries it, whatever comes before
        ("\u200b", None),
        ("\u0301a", "\u0301"),
        ("\u093f", "\u093f"),
        ("\u20dd", "\u20dd"),
        ("\u200b\u0301a", "\u0301"),  # after only a zero-width space: shown as a leading mark, it is one
        ("\ufeff\u2060\u3164\u093f", "\u093f"),  # a BOM, a word joiner, a Hangul filler
        (" \u0301", "\u0301"),  # a space shows nothing to carry it at the start either
        ("\u034fa", "\u034f"),  # the combining grapheme joiner is invisible, and a mark first
    ],
    ids=["empty", "letter-then-mark", "zwsp-letter-then-mark", "zwsp-only", "nonspacing-mark", "spacing-mark",
         "enclosing-mark", "zwsp-then-mark", "format-and-filler-then-mark", "space-then-mark", "cgj-first"],
)  # fmt: skip
def test_leading_combining_mark_is_a_mark_of_any_kind_before_anything_visible(text: str, mark: str | None) -> None:
    assert leading_combining_mark(text) == mark


def test_a_limit_in_code_points_is_told_in_characters_when_they_are_the_same_and_in_both_counts_when_not() -> None:
    # given a query of 300 letters and one of 200 family emojis (7 code points each), both past 255 code points
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    # then the first is told its characters, the second its code points and the characters it sees (outage56)
    assert code_points_refusal("query", 255, "q" * 300) == "query has at most 255 characters (this one has 300)."
    assert code_points_refusal("query", 255, family * 200) == (
        "query has at most 255 Unicode code points (its 200 characters take 1400)."
    )


@pytest.mark.parametrize(
    "raw",
    [
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # a family: people joined by U+200D, one character
        "\u2764\ufe0f",  # a heart and its emoji-style variation selector
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # a subdivision flag's tags
        "\u0646\u200c\u0645",  # ZWNJ between two Arabic-script letters, as Persian writes
        "\u115f\u1161",  # a Hangul filler in a conjoining jamo syllable
        "My\u00a0Shop",  # a no-break space shows as a gap
        "\u2801\u2800\u2802",  # Braille text with a blank cell
    ],
    ids=lambda value: ascii(value),
)
def test_display_text_keeps_zero_width_characters_inside_a_visible_one_and_blanks_with_a_width(raw: str) -> None:
    # a shop name keeps them (`display=True`); a SKU, an identifier matched exactly, keeps none but U+0020
    assert look_alike(raw, display=True) is None and parse_shop_name(raw) == raw
    assert look_alike(raw) is not None
