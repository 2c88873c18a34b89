"""An inventory item: one pool row per merchant SKU, and the merchant's edits of it.

`available = on_hand - reserved - safety_stock`, in units, what the shops may still sell; it may go negative (pushed as
0 everywhere): when the safety stock is more than what is left, or when the item is **oversold** (`is_oversold`:
reserved above on-hand, whatever the safety stock). Every counter change adds 1 to `version`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from domain.errors import DomainError, ErrorCode, ValidationError
from domain.text import (
    first_control_character,
    first_invisible_character,
    is_blank,
    length_refusal,
    look_alike,
    normalized,
    user_perceived_length,
)

# A SKU's limit, in Unicode code points (of its NFC form), not in user-perceived characters as a shop name's
# (`domain.shops.NAME_MAX_LENGTH`): a SKU is an identifier, equal to a seller SKU code point by code point, and both
# columns holding them (`inventory_items.sku`, `skus.seller_sku`) are VARCHAR(255), which PostgreSQL counts in code
# points. A limit in characters would let a SKU no seller SKU column can hold (and need a wider column, as names got
# in migration 0022) for nothing: a SKU that long could never link. For a SKU of letters, digits and punctuation, as
# seller SKUs are, the two counts are the same.
MAX_SKU_LENGTH = 255
MAX_UNITS = 1_000_000_000  # far above any shelf; keeps the counters inside a 32-bit integer column
# A reason's limit, in user-perceived characters (extended grapheme clusters, `domain.text.user_perceived_length`),
# as its message and the schema say: a reason is free text the merchant writes and reads back in the item's history,
# counted as a shop name is (`domain.shops.NAME_MAX_LENGTH`), not an identifier matched code point by code point as a
# SKU is. It counted code points while saying characters: a reason of 100 family emojis (700 code points) was refused
# as "this one has 700" (outage56). The column (`inventory_movements.reason`, TEXT) has no limit of its own; a bound in
# code points stays, as for names, since one character can carry any number of combining marks: 8,000 holds 500 of
# Unicode's longest emoji sequences (~11 code points each).
MAX_REASON_LENGTH = 500
MAX_REASON_CODE_POINTS = 8000
# The refusals' words, the limit in each (the GraphQL edge refuses an input too long to read further in the same words).
# Every INVALID_INPUT message is one sentence, as every other userError's: what is accepted, then what this input was
# or held, in parentheses or after a colon ("A SKU has 1 to 255 characters (this one has 300).").
SKU_LENGTH_RULE = f"A SKU has 1 to {MAX_SKU_LENGTH} characters"
# The same limit told in code points, when the SKU's characters as seen are fewer (an emoji sequence, a letter with
# combining accents): the merchant is not told a count it cannot see (newcomer54, finding 7).
SKU_CODE_POINTS_RULE = f"A SKU has 1 to {MAX_SKU_LENGTH} Unicode code points, as the database stores it"
SKU_INVISIBLE_RULE = "A SKU must not contain invisible characters (zero-width, no-break or blank characters)"
REASON_REQUIRED = f"A reason of 1 to {MAX_REASON_LENGTH} characters is required"
REASON_TOO_LONG = f"A reason has at most {MAX_REASON_LENGTH} characters"


class MovementKind(StrEnum):
    """Why an item's counters moved (`inventory_movements.kind`)."""

    CREATED = "CREATED"  # inventoryItemCreate with an initial on-hand
    SEEDED = "SEEDED"  # a new item took its on-hand from the first linked shop's TikTok stock
    SET = "SET"  # inventorySetOnHand
    ADJUSTED = "ADJUSTED"  # inventoryAdjust
    RESERVED = "RESERVED"  # an open order line reserved a unit
    DEDUCTED = "DEDUCTED"  # a shipped line left the shelf (on-hand and reserved both drop)
    RELEASED = "RELEASED"  # a cancelled line, an unlinked SKU or a deleted shop gave its reservation back
    # A deleted shop's units taken off as sold unseen that its TikTok shop, connected again and imported, showed no
    # sale took: back on on-hand (`domain.inventory.unexplained`, soak59 F3)
    CORRECTED = "CORRECTED"


# The movements only the merchant's own hand makes: `inventoryItemCreate` (recorded even at 0 units),
# `inventorySetOnHand`, `inventoryAdjust`.
HAND_MADE = frozenset({MovementKind.CREATED, MovementKind.SET, MovementKind.ADJUSTED})

# Rule (`shopDelete`, "left behind"): an item a deleted shop's SKUs linked goes with that shop, with its movements,
# when no other shop's SKU links it (nor reserves units of it) and nothing on it is the merchant's by hand: no
# `HAND_MADE` movement (it was created by an import, its on-hand never counted, even to its value, nor adjusted)
# and a safety stock of 0 (only `inventoryItemUpdate` sets one). Its on-hand is then only what that shop's TikTok
# stock seeded and its orders moved: the shop's "associated inventory data", which the help center says is removed
# with it. Any other item stays,
# without the deleted shop's links and reservations: a count or an item the merchant made is never dropped silently.
# The same rule applies to the items an import's link change leaves to nobody (a seller SKU found on a second SKU of
# the shop in a later page, or renamed away). Applied set-based by `adapters.db.repositories.inventory.shop_items`.


@dataclass(frozen=True, slots=True)
class InventoryItem:
    id: str
    merchant_id: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def available(self) -> int:
        """Units that may still be sold: on-hand minus reserved minus safety stock; negative when oversold, or when
        the safety stock is more than what is left."""
        return self.on_hand - self.reserved - self.safety_stock

    @property
    def oversold(self) -> bool:
        """`is_oversold` of its counters."""
        return is_oversold(self.on_hand, self.reserved)


def is_oversold(on_hand: int, reserved: int) -> bool:
    """Rule: an item is oversold when the units its open orders hold (`reserved`) are more than it holds (`on_hand`,
    which shipments may have taken below 0): `on_hand - reserved < 0`, more was sold than is held. The safety stock
    plays no part: one above what is left makes `available` negative (pushed as 0) with nothing sold. The filter of
    `inventoryItems(oversold:)` states the same rule in SQL (`adapters.db.inventory_queries.item_page`)."""
    return on_hand - reserved < 0


SKU_SEARCH_KEY_MAX = 1024  # characters of a search key kept (`inventory_items.sku_search` holds that many)


def sku_search_key(sku: str) -> str:
    """Rule: SKUs are searched ignoring case, every letter's (Unicode case folding: "ÉTÉ" is "été", "ß" is "ss"),
    accents kept, however they are encoded ("É" U+00C9 and "E" + U+0301 COMBINING ACUTE ACCENT are one letter), and
    ignoring width and the other compatibility variants: "SKU-1" in full-width letters and digit (U+FF33 U+FF2B
    U+FF35 - U+FF11, as a CJK input method types it) finds "SKU-1" and the reverse, half-width katakana KA + the
    voiced mark (U+FF76 U+FF9E) is GA (U+30AC), the ligature U+FB01 is "fi". Only the search folds them: a full-width
    SKU stays its own item (`checked_sku`, NFC, as TikTok keeps a seller SKU as typed). The key of a SKU, and of a
    search text, is its compatibility caseless form (Unicode D146, NFKD(casefold(NFKD(casefold(NFD(x)))))) composed
    again (NFKC), its first `SKU_SEARCH_KEY_MAX` characters (a 255-character SKU fits unless its letters expand past
    4 each: U+FDFA is 18). Stored as `inventory_items.sku_search` (recomputed by migration 0029, as by 0014, when
    this rule changed)."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFD", sku).casefold())
    return unicodedata.normalize("NFKC", decomposed.casefold())[:SKU_SEARCH_KEY_MAX]


def sku_as_typed(raw: str) -> str:
    """A SKU a merchant typed, in the form it is stored and looked up in: NFC (`domain.text.normalized`), trimmed of
    surrounding whitespace (`checked_sku` then checks that form)."""
    return normalized(raw).strip()


def checked_sku(raw: str) -> str:
    """Rule: a merchant SKU is taken in NFC (`domain.text.normalized`: "CAFÉ-1" with a precomposed É and with E + a
    combining accent are one SKU, and one item), trimmed of surrounding whitespace, not blank (nor only invisible
    characters), at most 255 Unicode code points (`MAX_SKU_LENGTH` says why), with no control character (domain.text:
    a tab, a line break, a bidi override) and no invisible character but the plain space U+0020
    (domain.text.is_invisible: a zero-width space U+200B, word joiner U+2060, BOM U+FEFF, no-break space U+00A0,
    Braille blank U+2800, Hangul filler U+3164, variation selector U+FE0F...). Raises `ValidationError(INVALID_INPUT)`
    on the field `sku`, one sentence per reason: empty once trimmed, "A SKU has 1 to 255 characters (this one is
    empty)."; longer, `sku_too_long`'s sentence ("(this one has N)." when its N code points are N characters, else
    both counts); only invisible characters, "... it would look empty (found U+3164 HANGUL FILLER)."; a control
    character or bidi override, a leading combining mark (a lone U+0301: a shop name refuses it too, and took it
    before attack56) and an invisible character among visible ones (`domain.text.look_alike`, the rule shop names
    share; a SKU allows no emoji joiner either), each its message naming the character found. SKUs stored before
    are not rewritten: only new ones are checked.

    Seller SKUs link to it by exact match, and TikTok's seller SKUs are one line of printable text: a SKU that
    looks empty, spans lines, shows as another or as an existing SKU ("NEW-2" and "NEW-2" + U+200B) could only
    mislead the merchant reading the pool. Surrounding whitespace is trimmed rather than refused: what is stored is
    then what is seen. Seller SKUs imported from TikTok are not checked (TikTok's data is what it is).
    """
    sku = sku_as_typed(raw)
    if not sku:
        raise ValidationError(ErrorCode.INVALID_INPUT, f"{SKU_LENGTH_RULE} (this one is empty).", ("sku",))
    if len(sku) > MAX_SKU_LENGTH:
        raise ValidationError(ErrorCode.INVALID_INPUT, sku_too_long(sku), ("sku",))
    if is_blank(sku):  # what whitespace trimming left: a zero-width space, a Hangul filler U+3164..., named
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"{SKU_INVISIBLE_RULE}: it would look empty (found {first_invisible_character(sku)}).",
            ("sku",),
        )
    if (control := first_control_character(sku)) is not None:
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"A SKU must not contain control characters or text-direction overrides (found {control}).",
            ("sku",),
        )
    if (look := look_alike(sku)) is not None:  # the rule shop names share, here without emoji joiners
        if look.leading_mark:
            message = (
                f"A SKU must not start with a combining mark, which has no character to sit on (found {look.found})."
            )
        else:
            message = f"{SKU_INVISIBLE_RULE}: it would look like another SKU (found {look.found})."
        raise ValidationError(ErrorCode.INVALID_INPUT, message, ("sku",))
    return sku


def sku_too_long(sku: str) -> str:
    """The refusal of a SKU (trimmed, NFC) past `MAX_SKU_LENGTH` code points, one sentence: "A SKU has 1 to 255
    characters (this one has 300)." when each of its characters is one code point; else, as `parse_shop_name` tells a
    name too long to store, both counts: "A SKU has 1 to 255 Unicode code points, as the database stores it (its 255
    characters take 1785)." (255 family emojis, 7 code points each; characters are user-perceived ones,
    `domain.text.user_perceived_length`). Past `domain.text.COUNTED_MAX_CODE_POINTS`, its code points alone,
    uncounted: "A SKU has 1 to 255 Unicode code points, as the database stores it (this one has 1000000)."."""
    return length_refusal(sku, SKU_LENGTH_RULE, SKU_CODE_POINTS_RULE)


def checked_units(value: int, field: str) -> int:
    """Rule: a stock quantity (on-hand, safety stock) is a whole number of units from 0 to 1,000,000,000; else
    INVALID_INPUT on `field`, "onHand must be between 0 and 1000000000 units (this one is -1)."."""
    if not 0 <= value <= MAX_UNITS:
        raise ValidationError(
            ErrorCode.INVALID_INPUT, f"{field} must be between 0 and {MAX_UNITS} units (this one is {value}).", (field,)
        )
    return value


@dataclass(frozen=True, slots=True)
class Edit:
    """A merchant's change of an item: the deltas to apply arithmetically, and the movement recorded for it."""

    kind: MovementKind
    on_hand_delta: int
    reason: str | None = None


def set_on_hand(item: InventoryItem, on_hand: int, compare_on_hand: int | None) -> Edit:
    """`inventorySetOnHand`: the edit that makes `on_hand` the given value, its difference in units.

    Rule: a count that finds the on-hand the item has is recorded all the same, an edit of 0 units (a SET movement
    that moves nothing): the merchant's count leaves its trace in the item's history, as Odoo's inventory adjustment
    logs "Product Quantity Confirmed" for a count without difference, and it is the merchant's hand (`HAND_MADE`: the
    item stays when the shop that imported it is deleted), as a count that changed the value would be.

    `compare_on_hand` is Shopify's compare-and-set (`changeFromQuantity`, live-sync.md §5.2): when given and the
    stored on-hand differs, `DomainError(VERSION_CONFLICT)`: someone changed it since the merchant looked.
    """
    checked_units(on_hand, "onHand")
    compared(item, compare_on_hand)
    return Edit(MovementKind.SET, on_hand - item.on_hand)


def compared(item: InventoryItem, compare_on_hand: int | None) -> None:
    """Shopify's compare-and-set (`changeFromQuantity`, live-sync.md §5.2) of `inventorySetOnHand` and
    `inventoryAdjust`: when `compare_on_hand` (units) is given and the stored on-hand differs,
    `DomainError(VERSION_CONFLICT)` on `compareOnHand`: someone changed it since the merchant looked, or (an
    adjustment sent again after a lost answer) the first one applied. Outside -1e9..1e9: INVALID_INPUT."""
    # A value no on-hand can have is bad input, not a conflict. On-hand goes below 0 when shipments deduct more than
    # was counted (an oversold item), and the merchant's recount then compares with that value.
    if compare_on_hand is not None and not -MAX_UNITS <= compare_on_hand <= MAX_UNITS:
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"compareOnHand must be between -{MAX_UNITS} and {MAX_UNITS} units (this one is {compare_on_hand}).",
            ("compareOnHand",),
        )
    if compare_on_hand is not None and compare_on_hand != item.on_hand:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"On-hand is {item.on_hand}, not {compare_on_hand}: it changed meanwhile; read it again.",
            ("compareOnHand",),
        )


def reason_too_long(reason: str) -> str | None:
    """The refusal of a reason (trimmed, NFC) too long, one sentence, or None. Past `MAX_REASON_CODE_POINTS` code
    points (a long text, or a character carrying thousands of combining marks), told in code points and refused
    before its characters are counted (counting is linear and runs on the event loop: a 1 MiB reason held it ~0.5 s,
    review56 F5): "A reason has at most 500 characters and 8000 Unicode code points (this one takes 9012 code
    points)."; within them but past `MAX_REASON_LENGTH` characters (user-perceived): "A reason has at most 500
    characters (this one has 501)."."""
    if len(reason) <= MAX_REASON_LENGTH:  # each character is one code point at least: the common case, not counted
        return None
    if len(reason) > MAX_REASON_CODE_POINTS:  # too long whatever its characters: not counted
        code_points = len(reason)
        return (
            f"{REASON_TOO_LONG} and {MAX_REASON_CODE_POINTS} Unicode code points (this one takes {code_points} code "
            "points)."
        )
    characters = user_perceived_length(reason)
    if characters > MAX_REASON_LENGTH:
        return f"{REASON_TOO_LONG} (this one has {characters})."
    return None


def adjust(item: InventoryItem, delta: int, reason: str, compare_on_hand: int | None = None) -> Edit:
    """`inventoryAdjust`: add `delta` units (negative removes) for a stated `reason` (a stock count, damage...).

    Rules: delta is not 0; the reason (in NFC, `domain.text.normalized`) is not blank (at most 500 characters, as a
    reader counts them, and 8,000 code points: `reason_too_long`; line breaks and tabs but no other control
    character); a removal never takes on-hand below 0 (an addition to an on-hand below 0, shipments having deducted
    more than was counted, is taken whole). `compare_on_hand`: as `compared`, after
    the input's own checks and before those against the stored on-hand: an adjustment sent again (its answer lost)
    with the on-hand seen before the first is refused with VERSION_CONFLICT instead of applied twice (Shopify's
    `changeFromQuantity` on inventoryAdjustQuantities).
    """
    reason = normalized(reason).strip()
    if delta == 0:
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            "delta must not be 0: give the units to add (above 0) or remove (below 0).",
            ("delta",),
        )
    if abs(delta) > MAX_UNITS:
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"delta must be between -{MAX_UNITS} and {MAX_UNITS} units (this one is {delta}).",
            ("delta",),
        )
    if is_blank(reason):
        raise ValidationError(ErrorCode.INVALID_INPUT, f"{REASON_REQUIRED} (this one looks empty).", ("reason",))
    if (too_long := reason_too_long(reason)) is not None:
        raise ValidationError(ErrorCode.INVALID_INPUT, too_long, ("reason",))
    if (control := first_control_character(reason, line_breaks=True)) is not None:
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            "A reason must not contain control characters other than line breaks and tabs, nor text-direction "
            f"overrides (found {control}).",
            ("reason",),
        )
    compared(item, compare_on_hand)  # before the checks against on-hand: a stale one is the conflict, not the input
    if delta < 0 and item.on_hand + delta < 0:  # units received for an item sold beyond its count still add up
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"On-hand is {item.on_hand}: it cannot drop by {-delta} (at most {max(item.on_hand, 0)}).",
            ("delta",),
        )
    if item.on_hand + delta > MAX_UNITS:
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"On-hand is {item.on_hand}: adding {delta} would pass the maximum of {MAX_UNITS} units (add at most "
            f"{MAX_UNITS - item.on_hand}).",
            ("delta",),
        )
    return Edit(MovementKind.ADJUSTED, delta, reason)


def applied(item: InventoryItem, on_hand_delta: int, reserved_delta: int, now: datetime) -> InventoryItem:
    """The item after deltas (what the database's arithmetic update stores), version + 1."""
    return replace(
        item,
        on_hand=item.on_hand + on_hand_delta,
        reserved=item.reserved + reserved_delta,
        version=item.version + 1,
        updated_at=now,
    )
