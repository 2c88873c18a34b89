"""Rules for text a merchant types (shop names, SKUs, reasons): something visible, and no character that hides or
disguises what is shown.

- **Invisible** (`is_invisible`), what Unicode says renders blank:
  - whitespace (`str.isspace`: space, no-break space U+00A0, ideographic space U+3000, line breaks, ...);
  - format characters (category Cf: zero-width space U+200B, joiners U+200C/U+200D, word joiner U+2060, BOM U+FEFF,
    soft hyphen U+00AD, bidi controls, tag characters ...);
  - the other Default_Ignorable_Code_Point code points (Unicode's DerivedCoreProperties.txt, which `unicodedata`
    does not expose; the table below is its list): the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, the combining
    grapheme joiner U+034F, variation selectors, and the reserved code points Unicode says to show as nothing;
  - U+2800 BRAILLE PATTERN BLANK: a symbol (So), not ignorable, but a Braille cell with no dot renders as a blank
    the width of a letter, and is the usual "invisible name" character.
- **Blank** (`is_blank`): only invisible characters (or empty). A name or SKU of those looks empty.
- **Normalized** (`normalized`): text a merchant types is taken in Unicode Normalization Form C (NFC) before any
  rule, comparison or storage: "CAFÉ-1" typed with a precomposed É (U+00C9) and with E + a combining acute accent
  (U+0301) shows the same and is one text, as a zero-width space would otherwise make two look-alikes. Seller SKUs
  from TikTok are stored as sent and matched on their NFC form (`domain.inventory.links.trimmed`).
- **Length** (`user_perceived_length`): what a merchant counts as one character is an extended grapheme cluster
  (Unicode Standard Annex #29, "Unicode Text Segmentation"): a family emoji (man, ZWJ, woman, ZWJ, girl, ZWJ, boy: 7
  code points), a flag (2 regional indicators), a letter with its combining accents are one each. Counted by the
  `regex` package's `\\X` (the segmentation tables follow Unicode's releases; `unicodedata` has no segmentation).
- **Control characters**: C0/C1 controls (Cc: NUL, tab, line feed, ESC...), the line and paragraph separators
  (Zl, Zp), surrogates (Cs), and the bidi embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069)
  that can make a text show as another.
- **Combining marks**: a combining character (Unicode Standard, chapter 3, D52: general category M, i.e. Mn, Mc, Me:
  accents, vowel signs, enclosing circles, variation selectors) belongs to the character before it; one at the start
  of a text has none (`leading_combining_mark`; D57 calls that a defective combining character sequence), and
  neither has one after only invisible characters (a zero-width space U+200B, a BOM, a Hangul filler...): shown, it
  is the same lone mark at the start, so it is taken as leading. The
  Stream-Safe Text Format (UAX #15, "Unicode Normalization Forms", section 13) bounds a run of non-starters (canonical
  combining class != 0, `unicodedata.combining`: the stacking accents) at `STREAM_SAFE_MAX_NON_STARTERS` (30) in
  NFKD, what no real language needs and what a text piling accents on one letter ("Zalgo" text) exceeds
  (`longest_non_starter_run`).
- **Look-alikes** (`look_alike`): the one rule shop names and SKUs a merchant types share, so that they agree (they
  did not: a shop name took "a" + U+200B ZERO WIDTH SPACE, shown as "a", which a SKU refused, while a SKU took a
  lone U+0301 COMBINING ACUTE ACCENT, which a shop name refused; attack56, F-unicode-names). Neither may start with
  a combining mark (`leading_combining_mark`), nor hold a **zero-width** character (`is_zero_width`: a format
  character, Cf, or another Default_Ignorable_Code_Point: U+200B, the word joiner U+2060, a BOM, a soft hyphen, a
  Hangul filler U+3164...: Unicode says to show them as nothing, so "a" + U+200B + "b" looks like "ab") unless it is
  part of a visible character, an extended grapheme cluster (UAX #29) with something visible in it (the joiners
  U+200D of an emoji sequence, a variation selector U+FE0F, a ZWNJ U+200C in Persian, the tags of a subdivision
  flag, a Hangul filler in a conjoining jamo syllable). Display text (a shop name) may hold the blanks that show as
  a gap (a no-break or ideographic space, the Braille blank U+2800 in Braille text); an identifier (a SKU, matched
  exactly against TikTok's seller SKUs) holds no invisible character but the plain space U+0020 at all, emoji
  joiners included. Only new input is checked: names and SKUs stored before keep their characters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# The one package the domain imports beyond the standard library (pyproject.toml's import-linter contract says so):
# pure text rules, no I/O; UAX #29's segmentation is too big and too often revised to keep a copy of here.
import regex

_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15.1) outside category Cf, which is_invisible
# already covers by category: shown as nothing, whatever their category (Lo, Mn, Cn).
_IGNORABLE_RANGES = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x2065, 0x2065), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0xE0000, 0xE0FFF),
)  # fmt: skip
BRAILLE_PATTERN_BLANK = "\u2800"
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def normalized(text: str) -> str:
    """`text` in Unicode Normalization Form C (see the module): canonically equivalent texts, which render alike
    ("É" and "E" + U+0301 COMBINING ACUTE ACCENT), become one."""
    return unicodedata.normalize("NFC", text)


# UAX #15, section 13: no text in Stream-Safe Text Format has more than 30 non-starters in a row (in NFKD).
STREAM_SAFE_MAX_NON_STARTERS = 30


def leading_combining_mark(text: str) -> str | None:
    """The combining mark (general category Mn, Mc or Me, Unicode D52; see the module) that `text` starts with, or
    that comes after only invisible characters (`is_invisible`: U+200B ZERO WIDTH SPACE, a BOM, a space...): nothing
    visible before it carries it, so it shows as a lone mark at the start either way. None for "", for text without
    a visible character before its first mark ("a\u0301", "\u200ba\u0301") and for text with no mark at all. A
    mark that is itself invisible (U+034F COMBINING GRAPHEME JOINER, a variation selector) is a mark first."""
    for ch in text:
        if unicodedata.category(ch).startswith("M"):
            return ch
        if not is_invisible(ch):
            return None
    return None


def longest_non_starter_run(text: str) -> int:
    """The most non-starters (canonical combining class != 0) in a row in `text` decomposed to NFKD, as UAX #15's
    Stream-Safe Text Format counts them (see the module; at most `STREAM_SAFE_MAX_NON_STARTERS` there): "é" (U+00E9)
    is e + 1, "x" + 62 x U+0301 is 62, "Shop" is 0. A starter (a letter, a space, U+034F COMBINING GRAPHEME JOINER)
    ends a run. Linear in the NFKD form, which is at most 18 times `text` (U+FDFA)."""
    longest = run = 0
    for ch in unicodedata.normalize("NFKD", text):
        run = run + 1 if unicodedata.combining(ch) else 0
        longest = max(longest, run)
    return longest


_GRAPHEME_CLUSTER = regex.compile(r"\X")
# The longest text a refusal counts the characters of (`user_perceived_length`, ~1 ms here): a longer one is refused on
# its code points alone, at once. Counting is linear and runs on the event loop: a 1 MiB input (the request bound)
# held it ~0.5 s before its refusal (review56 F5). A character is at least one code point, so past this bound a text
# is past every character limit below it too.
COUNTED_MAX_CODE_POINTS = 8000
# NFC keeps at least a quarter of a text's code points: NFD never shortens a text, NFC's form decomposes back to the
# same NFD, and no character's canonical decomposition is longer than 4 code points (tests/unit/test_text.py scans
# them). So a text more than 4 times a bound in code points is past it in NFC too, normalized or not.
NFC_MAX_SHRINK = 4


def user_perceived_length(text: str) -> int:
    """The number of extended grapheme clusters of `text` (UAX #29, see the module): what a user counts as
    characters. A family emoji (7 code points), a flag (2) and "q" with two combining accents (3) are 1 each; "" is 0.
    Linear: a 1 MiB text (the request bound, SHOPBRIDGE_MAX_REQUEST_BYTES) takes ~0.2 s, as graphql-core's parsing of
    it as a literal does."""
    return len(_GRAPHEME_CLUSTER.findall(text))


def clusters_within(text: str, max_clusters: int, max_code_points: int) -> str:
    """The longest prefix of `text` made of whole extended grapheme clusters (UAX #29, as `user_perceived_length`
    counts them) with at most `max_clusters` of them and at most `max_code_points` code points: `text` itself when it
    fits; a flag or a letter with its accents is never cut in two. Linear."""
    if len(text) <= max_code_points and user_perceived_length(text) <= max_clusters:
        return text
    kept = 0
    for count, cluster in enumerate(_GRAPHEME_CLUSTER.finditer(text), start=1):
        if count > max_clusters or cluster.end() > max_code_points:
            break
        kept = cluster.end()
    return text[:kept]


def code_points_refusal(subject: str, limit: int, text: str) -> str:
    """The refusal of `text` past `limit` code points, one sentence naming `subject`: "query has at most 255
    characters (this one has 300)." when each of its characters (`user_perceived_length`) is one code point, else
    both counts, as a merchant cannot see code points: "query has at most 255 Unicode code points (its 200 characters
    take 1400)." (200 family emojis, 7 code points each). Past `COUNTED_MAX_CODE_POINTS` code points, its code points
    alone, uncounted: "query has at most 255 Unicode code points (this one has 1000000)."."""
    rule = f"{subject} has at most {limit}"
    return length_refusal(text, f"{rule} characters", f"{rule} Unicode code points")


def length_refusal(text: str, characters_rule: str, code_points_rule: str) -> str:
    """The refusal of `text` past a limit in code points, one sentence: `characters_rule` "(this one has 300)." when
    each of its characters (`user_perceived_length`) is one code point, else `code_points_rule` with both counts, "(its
    200 characters take 1400).", as a merchant cannot see code points; past `COUNTED_MAX_CODE_POINTS` code points,
    `code_points_rule` with its code points alone, uncounted (counting is linear, on the event loop: review56 F5)."""
    if len(text) > COUNTED_MAX_CODE_POINTS:
        return f"{code_points_rule} (this one has {len(text)})."
    characters = user_perceived_length(text)
    if characters == len(text):
        return f"{characters_rule} (this one has {len(text)})."
    return f"{code_points_rule} (its {characters} characters take {len(text)})."


@dataclass(frozen=True, slots=True)
class LookAlike:
    """Why a text could show as another (`look_alike`): `leading_mark` True for a combining mark with nothing visible
    before it, False for an invisible character among visible ones; `found`: that character, `describe`d."""

    leading_mark: bool
    found: str


def look_alike(text: str, *, display: bool = False) -> LookAlike | None:
    """What makes `text` (NFC, trimmed, not blank, without controls) look like another text, or None (see the
    module): a leading combining mark (`leading_combining_mark`) first; then, for an identifier (`display=False`,
    a SKU), its first invisible character other than U+0020 (`is_invisible`); for display text (`display=True`, a
    shop name), its first zero-width character (`is_zero_width`) outside a visible grapheme cluster: "a\u200bb" and
    "\u200bShop" are refused, "👨\u200d👩", "❤\ufe0f", "My\u00a0Shop" and "⠁\u2800⠂" are not. Linear in `text`."""
    if (mark := leading_combining_mark(text)) is not None:
        return LookAlike(leading_mark=True, found=describe(mark))
    if not display:
        hidden = next((ch for ch in text if ch != " " and is_invisible(ch)), None)
        return None if hidden is None else LookAlike(leading_mark=False, found=describe(hidden))
    if not any(is_zero_width(ch) for ch in text):  # the usual text: no segmentation needed
        return None
    for cluster in _GRAPHEME_CLUSTER.findall(text):
        if all(is_invisible(ch) for ch in cluster) and (zero := [ch for ch in cluster if is_zero_width(ch)]):
            return LookAlike(leading_mark=False, found=describe(zero[0]))
    return None


def is_zero_width(ch: str) -> bool:
    """True when `ch` is shown as nothing at all (see the module): a format character (Cf: U+200B, U+200D, U+2060,
    U+FEFF, U+00AD...) or another Default_Ignorable_Code_Point (a Hangul filler, a variation selector...). Whitespace
    and U+2800, invisible too (`is_invisible`), show as a gap instead."""
    return unicodedata.category(ch) == "Cf" or _ignorable(ch)


def is_invisible(ch: str) -> bool:
    """True when the character `ch` renders blank: whitespace, a format character, a default-ignorable code point
    or the Braille pattern blank U+2800 (see the module)."""
    return ch.isspace() or ch == BRAILLE_PATTERN_BLANK or unicodedata.category(ch) == "Cf" or _ignorable(ch)


def is_blank(text: str) -> bool:
    """True when `text` shows nothing: empty, or only invisible characters (see the module)."""
    return all(is_invisible(ch) for ch in text)


def strip_gaps(text: str) -> str:
    """`text` without what shows as a gap around it: Unicode whitespace (`str.strip`) and the Braille pattern blank
    U+2800, in any mix ("Maple" + U+2800 shows as "Maple " in a picker: review63 F6). Zero-width characters at the
    ends are kept (the look-alike rule says what it found, `look_alike`)."""
    while (stripped := text.strip().strip(BRAILLE_PATTERN_BLANK)) != text:
        text = stripped
    return text


def strip_invisible(text: str) -> str:
    """`text` without the invisible characters of the Basic Multilingual Plane around it (`EDGE_INVISIBLE`: the
    whitespace `str.strip()` removes, and zero-width spaces, joiners, BOMs, fillers, U+2800...): what a pasted value
    shows, without what it hides at its ends."""
    return text.strip(EDGE_INVISIBLE)


def has_invisible_characters(text: str) -> bool:
    """True when `text` holds an invisible character (see the module) other than the plain space U+0020 ("Lamp
    40x40"); its look-alikes (no-break space U+00A0, ideographic space U+3000, U+2800, ...) count."""
    return any(ch != " " and is_invisible(ch) for ch in text)


def _ignorable(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _IGNORABLE_RANGES)


def has_control_characters(text: str, *, line_breaks: bool = False) -> bool:
    """True when `text` holds a control character (see the module); `line_breaks=True` allows LF, CR and tab
    (a multi-line note)."""
    return first_control_character(text, line_breaks=line_breaks) is not None


def first_control_character(text: str, *, line_breaks: bool = False) -> str | None:
    """The first control character of `text` (see the module) as `describe` names it, or None; `line_breaks=True`
    allows LF, CR and tab."""
    allowed = "\n\r\t" if line_breaks else ""
    for ch in text:
        if (unicodedata.category(ch) in _FORBIDDEN_CATEGORIES and ch not in allowed) or ch in _BIDI_CONTROLS:
            return describe(ch)
    return None


def first_invisible_character(text: str) -> str | None:
    """The first invisible character of `text` but the plain space (`has_invisible_characters`), named by
    `describe`, or None."""
    return next((describe(ch) for ch in text if ch != " " and is_invisible(ch)), None)


def describe(ch: str) -> str:
    """`ch` as a user can look it up, whatever it renders as: its code point and Unicode name, e.g. `U+202E
    RIGHT-TO-LEFT OVERRIDE`; a character without a name (controls, surrogates) by its code point alone."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


# The invisible characters of the Basic Multilingual Plane (`is_invisible` over U+0000..U+FFFF: 110 under this
# Python's Unicode 14.0, the 25 `str.isspace` ones among them): `strip_invisible`'s set (sized once for SQL's
# TRIM(x, chars); the seller SKUs' match keys are computed in Python since migration 0015, and stored). The rest (tag
# characters, reserved ignorables beyond U+FFFF) are left where they are.
# Written out, not computed at import: the scan of 65,536 code points cost every process that imports the domain
# ~0.7 s of CPU at start-up. tests/unit/test_text.py checks it equals the scan, so a Python with a newer Unicode
# fails there until this is regenerated (`"".join(chr(c) for c in range(0x10000) if is_invisible(chr(c)))`).
EDGE_INVISIBLE = (
    "\u0009\u000a\u000b\u000c\u000d\u001c\u001d\u001e\u001f\u0020\u0085\u00a0\u00ad\u034f\u0600\u0601"
    "\u0602\u0603\u0604\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u1680\u17b4\u17b5\u180b"
    "\u180c\u180d\u180e\u180f\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b"
    "\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u202f\u205f\u2060\u2061\u2062"
    "\u2063\u2064\u2065\u2066\u2067\u2068\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u2800\u3000\u3164"
    "\ufe00\ufe01\ufe02\ufe03\ufe04\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a\ufe0b\ufe0c\ufe0d\ufe0e\ufe0f"
    "\ufeff\uffa0\ufff0\ufff1\ufff2\ufff3\ufff4\ufff5\ufff6\ufff7\ufff8\ufff9\ufffa\ufffb"
)


TRUNCATION_MARK = "\u2026"  # HORIZONTAL ELLIPSIS: what ends a text cut to fit (`truncated`)


def truncated(text: str, limit: int) -> str:
    """`text` when it has at most `limit` code points; else its longest prefix of whole extended grapheme clusters
    (UAX #29, as `user_perceived_length` counts them) that, followed by `TRUNCATION_MARK`, takes at most `limit`
    code points, and that mark: a flag or a letter with its accents is never cut in two. `limit` >= 1."""
    if len(text) <= limit:
        return text
    room, kept = limit - len(TRUNCATION_MARK), 0
    for cluster in _GRAPHEME_CLUSTER.finditer(text):
        if cluster.end() > room:
            break
        kept = cluster.end()
    return text[:kept] + TRUNCATION_MARK
