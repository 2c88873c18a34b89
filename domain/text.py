"""Rules for text a merchant types (shop names, SKUs, reasons): something visible, and no character that hides or
disguises what is shown.

- **Blank**: only whitespace and invisible characters: format characters (category Cf: zero-width space U+200B,
  joiners U+200C/U+200D, word joiner U+2060, BOM U+FEFF, ...) and the other code points Unicode says to show as
  nothing (Default_Ignorable_Code_Point: the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the combining grapheme
  joiner U+034F, variation selectors...). A name or SKU of those looks empty.
- **Control characters**: C0/C1 controls (Cc: NUL, tab, line feed, ESC...), the line and paragraph separators
  (Zl, Zp), surrogates (Cs), and the bidi embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069)
  that can make a text show as another.
"""

from __future__ import annotations

import unicodedata

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt) outside category Cf, which is_blank already
# covers: shown as nothing, whatever their category (Lo, Mn).
_IGNORABLE_RANGES = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF),
)  # fmt: skip
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_blank(text: str) -> bool:
    """True when `text` shows nothing: empty, or only whitespace and invisible characters (see the module)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" or _ignorable(ch) for ch in text)


def _ignorable(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def has_control_characters(text: str, *, line_breaks: bool = False) -> bool:
    """True when `text` holds a control character (see the module); `line_breaks=True` allows LF, CR and tab
    (a multi-line note)."""
    allowed = "\n\r\t" if line_breaks else ""
    return any(
        (unicodedata.category(ch) in _FORBIDDEN_CATEGORIES and ch not in allowed) or ch in _BIDI_CONTROLS for ch in text
    )
