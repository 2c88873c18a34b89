"""Rules for text a merchant types (shop names, SKUs, reasons): something visible, and no character that hides or
disguises what is shown.

- **Blank**: only whitespace and invisible format characters (category Cf: zero-width space U+200B, joiners
  U+200C/U+200D, word joiner U+2060, BOM U+FEFF, ...). A name or SKU of those looks empty.
- **Control characters**: C0/C1 controls (Cc: NUL, tab, line feed, ESC...), the line and paragraph separators
  (Zl, Zp), surrogates (Cs), and the bidi embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069)
  that can make a text show as another.
"""

from __future__ import annotations

import unicodedata

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_blank(text: str) -> bool:
    """True when `text` shows nothing: empty, or only whitespace and invisible format characters (Cf)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)


def has_control_characters(text: str, *, line_breaks: bool = False) -> bool:
    """True when `text` holds a control character (see the module); `line_breaks=True` allows LF, CR and tab
    (a multi-line note)."""
    allowed = "\n\r\t" if line_breaks else ""
    return any(
        (unicodedata.category(ch) in _FORBIDDEN_CATEGORIES and ch not in allowed) or ch in _BIDI_CONTROLS for ch in text
    )
