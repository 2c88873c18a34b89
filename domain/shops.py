"""TikTok Shops connected to a merchant: regions, names, tokens, expiry, status, and the rules between them."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import DomainError, ErrorCode, ValidationError
from domain.text import (
    BRAILLE_PATTERN_BLANK,
    NFC_MAX_SHRINK,
    STREAM_SAFE_MAX_NON_STARTERS,
    clusters_within,
    first_control_character,
    is_blank,
    is_zero_width,
    longest_non_starter_run,
    look_alike,
    normalized,
    strip_gaps,
    truncated,
    user_perceived_length,
)

EXPIRING_SOON_WINDOW = timedelta(days=7)
# A shop name's limit, in user-perceived characters (extended grapheme clusters, `domain.text.user_perceived_length`).
NAME_MAX_LENGTH = 64
# What the database holds of a name, in code points: shops.name and authorization_requests.name are VARCHAR(1024), which
# PostgreSQL counts in code points (migration 0022). A limit in clusters needs such a bound anyway (one cluster can
# carry any number of combining marks); 1,024 holds 64 of Unicode's longest emoji sequences (~11 code points each).
NAME_MAX_CODE_POINTS = 1024
# A shop name's refusal of an invisible character among visible ones (`domain.text.look_alike`), as a SKU's says it.
NAME_INVISIBLE_RULE = "The shop name must not contain zero-width characters, but within an emoji or a letter"


# What the merchant is told of a shop whose stored tokens no configured key decrypts (`Shop.tokens_unreadable`): its
# notice (domain.attention) and every refusal to sync it (domain.sync.ensure_shop_can_sync) say the same cause, the
# key that changed, not an authorization TikTok ended.
TOKENS_UNREADABLE_MESSAGE = (
    "Shopbridge cannot read this shop's tokens (its encryption key changed): re-authorize it to resume syncing."
)


class Region(StrEnum):
    """Regions Shopbridge supports. The value is ours; `tiktok_code` is what TikTok calls it."""

    US = "US"
    UK = "UK"
    MY = "MY"
    SG = "SG"

    @property
    def tiktok_code(self) -> str:
        return "GB" if self is Region.UK else self.value

    @classmethod
    def from_tiktok(cls, code: str) -> Region | None:
        """The region for TikTok's code (`GB` is the UK), or None when Shopbridge does not support it.

        `UK` (our own value) is accepted too, rather than refuse a shop over a spelling."""
        code = code.upper()
        if code == "GB":
            return cls.UK
        try:
            return cls(code)
        except ValueError:
            return None


class ShopStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRING_SOON = "EXPIRING_SOON"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


class EndNoticeRefusal(StrEnum):
    """Why an authorization-end notice (webhook 7) changes nothing (`Shop.authorization_end_refused`)."""

    STALE = "STALE"  # sent before the current authorization
    ENDED = "ENDED"  # the authorization had ended: only a re-authorization renews it
    EARLIER_END = "EARLIER_END"  # it announces an end before the one stored


class SellerType(StrEnum):
    LOCAL = "LOCAL"
    CROSS_BORDER = "CROSS_BORDER"


def parse_shop_name(raw: str, field_path: tuple[str, ...] = ("name",)) -> str:
    """The custom name, in NFC (`domain.text.normalized`: what the merchant sees is what is stored and compared),
    trimmed; 1 to 64 characters, something visible, no control characters, else INVALID_NAME (a name too long is
    told its length, as a SKU or a reason is).

    Characters are user-perceived ones (extended grapheme clusters, UAX #29; `domain.text.user_perceived_length`):
    a family emoji, a flag, a letter with its combining accents count 1 each. The name must also fit the database's
    `NAME_MAX_CODE_POINTS` (1,024) code points, where such a character takes several (a family emoji 7, a flag 2; 64
    of any emoji fit): a name under 64 characters that does not (a letter carrying hundreds of combining marks) is
    refused with INVALID_NAME saying so, in both counts; one past 4 times that (`domain.text.NFC_MAX_SHRINK`: no NFC
    brings it under) is refused on its code points alone, neither normalized nor counted (both linear).

    A name that starts with a combining mark (`domain.text.leading_combining_mark`: an accent or vowel sign with
    no visible character before it, "\u0301" alone or after a zero-width space U+200B), that holds a zero-width
    character outside an emoji or a letter ("a" + U+200B + "b", shown as "ab"; `domain.text.look_alike`, the rule
    SKUs share) or that stacks more than 30
    combining marks in a row on one character (`domain.text.longest_non_starter_run`, the bound of UAX #15's
    Stream-Safe Text Format: "x" + 62 x U+0301) is refused with INVALID_NAME saying which (the mark found; how many
    marks, counted decomposed as UAX #15 does).

    A name of only invisible characters (`domain.text.is_blank`: whitespace, format characters such as the
    zero-width space U+200B, word joiner U+2060 and BOM U+FEFF, the Hangul fillers U+115F/U+1160/U+3164/U+FFA0, the
    Braille pattern blank U+2800, ...) is empty. Zero-width characters that are part of a visible character are kept
    (an emoji sequence joins with U+200D, a heart takes U+FE0F), and so are blanks that show as a gap (a no-break
    space, U+2800 in Braille text); zero-width ones were kept anywhere until attack56 (a name "a" + U+200B showed as
    "a"): names stored before are not rewritten, only new ones are checked."""
    if len(raw) > NFC_MAX_SHRINK * NAME_MAX_CODE_POINTS and len(raw.strip()) > NFC_MAX_SHRINK * NAME_MAX_CODE_POINTS:
        # past what NFC could bring under the bound: refused on its code points, neither normalized nor counted (both
        # linear, on the event loop: a 1 MiB name held it ~0.5 s; review56 F5's rule for reasons and SKUs)
        raise ValidationError(
            ErrorCode.INVALID_NAME,
            f"The shop name must be at most {NAME_MAX_LENGTH} characters and {NAME_MAX_CODE_POINTS} Unicode code "
            f"points (this one takes {len(raw.strip())} code points).",
            field_path,
        )
    name = strip_gaps(normalized(raw))  # (U+2800 at either end too: "Maple" + U+2800 was a second "Maple", review63 F6)
    if is_blank(name):
        raise ValidationError(ErrorCode.INVALID_NAME, "The shop name must not be empty.", field_path)
    length = user_perceived_length(name)
    if length > NAME_MAX_LENGTH:
        raise ValidationError(
            ErrorCode.INVALID_NAME,
            f"The shop name must be at most {NAME_MAX_LENGTH} characters (this one has {length}).",
            field_path,
        )
    if len(name) > NAME_MAX_CODE_POINTS:
        raise ValidationError(
            ErrorCode.INVALID_NAME,
            f"The shop name is too long to store: its {length} characters take {len(name)} Unicode code points, at "
            f"most {NAME_MAX_CODE_POINTS} (a character carries too many combining marks).",
            field_path,
        )
    if (control := first_control_character(name)) is not None:
        raise ValidationError(
            ErrorCode.INVALID_NAME,
            f"The shop name must not contain control characters or text-direction overrides (found {control}).",
            field_path,
        )
    if (look := look_alike(name, display=True)) is not None:
        if look.leading_mark:
            message = (
                "The shop name must not start with a combining mark, which has no character to sit on "
                f"(found {look.found})."
            )
        else:
            message = f"{NAME_INVISIBLE_RULE}: it would look like another name (found {look.found})."
        raise ValidationError(ErrorCode.INVALID_NAME, message, field_path)
    # after the code-point bound: the run is counted in NFKD, at most 18 times as long as the (bounded) name
    if (marks := longest_non_starter_run(name)) > STREAM_SAFE_MAX_NON_STARTERS:
        raise ValidationError(
            ErrorCode.INVALID_NAME,
            f"The shop name must not stack more than {STREAM_SAFE_MAX_NON_STARTERS} combining marks on one character "
            f"(this one has {marks} in a row).",
            field_path,
        )
    return name


def folded_shop_name(name: str) -> str:
    """How two of a merchant's shop names are compared (tryout60 F3: the seed's custom name is "for easy
    identification and management", so no two of a merchant's shops may share one): trimmed, in NFC, then caseless
    by Unicode's full case folding (`str.casefold`, Unicode 3.13 "Default Case Folding": "Straße" and "STRASSE" fold
    alike, as "ΣΊΣΥΦΟΣ" and "σίσυφος"), in NFC again (folding can leave text denormalized), every run of whitespace
    inside it one plain space (`str.split`'s Unicode whitespace: "Main  store", "Main\u00a0store" with a no-break
    space, an en space U+2002 or an ideographic space U+3000 all show as "Main store" in a picker, so they are one
    name: review61b N1; the Braille pattern blank U+2800, a blank the width of a letter, counts as a space there:
    "Maple" + U+2800 + "US" showed as "Maple US" beside "Maple US", tryout65), and without the zero-width characters
    (`domain.text.is_zero_width`: format characters and the other Default_Ignorable_Code_Point code points, which
    Unicode says to show as nothing: "Maple" + U+200D ZWJ, + U+200C ZWNJ or + U+FE0F VARIATION SELECTOR-16, "Ma" +
    U+034F COMBINING GRAPHEME JOINER + "ple" all show as
    "Maple" in a picker, so they are one name: tryout62 F3; NFC again after, as a joiner dropped from between two
    marks can let them compose). So an emoji sequence and its parts ("👨‍👩", "👨👩") fold alike too: one name
    too many refused, never two shops that look alike. Computed in Python and stored as `shop_name_key`'s digest,
    never in SQL: SQLite's lower() folds ASCII only, PostgreSQL's lower() follows the database's collation, and
    neither folds "ß" to "ss". A change of this fold needs a migration recomputing the stored keys (0061 for this
    one's zero-width characters, 0065 for U+2800)."""
    folded = normalized(normalized(name).casefold())
    visible = normalized("".join(ch for ch in folded if not is_zero_width(ch)))
    return " ".join(visible.replace(BRAILLE_PATTERN_BLANK, " ").split())


def shop_name_key(name: str) -> str:
    """The key of a shop's name that `shops.name_key` stores and a UNIQUE index holds per merchant (migration 0057):
    the SHA-256 of `folded_shop_name`'s UTF-8, as 64 lowercase hex digits. A digest rather than the folded text:
    a name may take 1,024 code points (up to ~12 KB folded), past what a PostgreSQL B-tree index entry holds
    (~2.7 KB), and two names that fold alike are one key."""
    return hashlib.sha256(folded_shop_name(name).encode()).hexdigest()


def numbered_shop_name(name: str, number: int) -> str:
    """`name` with " (number)" after it ("Main store" and 2: "Main store (2)"), what a name taken by another of the
    merchant's shops becomes where refusing it would cost the merchant more than the number (a connect completed
    after TikTok's consent, `domain.services.shops.complete_authorization`; the duplicates migration 0057 found).
    The name is cut first, at whole characters (`domain.text.clusters_within`), so that the result keeps within
    `NAME_MAX_LENGTH` characters and `NAME_MAX_CODE_POINTS` code points; `number` >= 2."""
    suffix = f" ({number})"
    base = clusters_within(normalized(name).strip(), NAME_MAX_LENGTH - len(suffix), NAME_MAX_CODE_POINTS - len(suffix))
    return base.rstrip() + suffix


def distinct_shop_names(shops: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The name each of the shops `shops` ((shop id, merchant id, name), in merchant then creation order) keeps so
    that no two of a merchant's fold alike (`shop_name_key`), as (shop id, name, name key): the first shop of a
    folded name keeps it; a later one takes the first "Name (n)" (n >= 2, `numbered_shop_name`) whose key no shop of
    the merchant has (neither an original name nor one given here). The rule migrations 0057 (the keys' start) and
    0061 (zero-width characters folded) apply to the names stored, deterministically."""
    named: list[tuple[str, str, str]] = []
    by_merchant: dict[str, list[tuple[str, str]]] = {}
    for shop_id, merchant_id, name in shops:
        by_merchant.setdefault(merchant_id, []).append((shop_id, name))
    for merchant_shops in by_merchant.values():
        taken = {shop_name_key(name) for _, name in merchant_shops}  # every original name stays the first holder's
        kept: set[str] = set()
        for shop_id, name in merchant_shops:
            key = shop_name_key(name)
            if key not in kept:
                kept.add(key)
                named.append((shop_id, name, key))
                continue
            number = 2
            while shop_name_key(numbered_shop_name(name, number)) in taken:
                number += 1
            numbered = numbered_shop_name(name, number)
            taken.add(shop_name_key(numbered))
            named.append((shop_id, numbered, shop_name_key(numbered)))
    return named


@dataclass(frozen=True, slots=True)
class ShopName:
    """One of a merchant's shops by its id and custom name: the holder of a name (`ShopRepository.holder_of_name`)."""

    shop_id: str
    name: str


class NameTakenError(DomainError):
    """NAME_TAKEN (on `name`): another of the merchant's shops, `taken_by`, has a name that folds as the one asked
    for does (`folded_shop_name`); nothing changed. `taken_by` is None only when a concurrent rename or connect won
    the name and let it go again before this one could name it (the database's unique index refused it).
    `adding`: refused to Add store (`shopAuthorizationStart`), whose merchant may mean to renew that very shop: the
    message then says Re-authorize does."""

    def __init__(
        self, taken_by: ShopName | None, field: tuple[str, ...] | None = ("name",), *, adding: bool = False
    ) -> None:
        holder = f"“{truncated(taken_by.name, 80)}”" if taken_by is not None else "that name"
        message = (
            f"Another of your shops is named {holder}: give this {'new shop' if adding else 'one'} a name none of "
            "your other shops has (names are compared ignoring upper and lower case and extra spaces)."
        )
        if adding and taken_by is not None:
            message += f" To renew the authorization of {holder}, Re-authorize it instead."
        super().__init__(ErrorCode.NAME_TAKEN, message, field)
        self.taken_by = taken_by


def ensure_name_free(taken_by: ShopName | None, *, adding: bool = False) -> None:
    """NameTakenError (on `name`) when another of the merchant's shops holds the name (`taken_by`, as
    `ShopRepository.holder_of_name` found it), else nothing; `adding` as NameTakenError's."""
    if taken_by is not None:
        raise NameTakenError(taken_by, adding=adding)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """TikTok's tokens for one authorization; expiry times are absolute (TikTok sends Unix timestamps)."""

    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    seller_name: str | None = None
    open_id: str | None = None

    def __repr__(self) -> str:  # tokens never reach a log line through a repr
        return (
            f"TokenSet(access_token_expires_at={self.access_token_expires_at.isoformat()}, "
            f"refresh_token_expires_at={self.refresh_token_expires_at.isoformat()}, seller_name={self.seller_name!r})"
        )


@dataclass(frozen=True, slots=True)
class AuthorizedShop:
    """A shop as TikTok's Get Authorized Shops lists it."""

    tiktok_shop_id: str
    name: str
    region_code: str
    seller_type: str
    cipher: str
    code: str | None = None


def choose_authorized_shop(
    shops: list[AuthorizedShop], region: Region, *, reauthorizing: bool = False
) -> AuthorizedShop:
    """The one shop a consent granted, checked against the rules: local seller, supported and chosen region.

    A local seller has exactly one shop. A cross-border seller's token covers several shops in other countries,
    and Shopbridge refuses those whatever their region.

    `reauthorizing` (`region` is then the region of the shop re-authorized): a shop in another region is another
    shop (a TikTok shop's region never changes), so it is not compared here but left to `Shop.reauthorize`, which
    refuses it as SHOP_MISMATCH naming the shop re-authorized (F4: refused here, the message could not name it).
    REGION_MISMATCH's advice, "add it again and pick its region", was wrong there.
    """
    if not shops:
        raise DomainError(ErrorCode.TIKTOK_UNAVAILABLE, "TikTok returned no authorized shop for this consent.")
    if any(s.seller_type.upper() != SellerType.LOCAL for s in shops):
        raise DomainError(ErrorCode.CROSS_BORDER_SHOP, "Cross-border shops are not supported; authorize a local shop.")
    shop = shops[0]
    shop_region = Region.from_tiktok(shop.region_code)
    if shop_region is None:
        raise DomainError(
            ErrorCode.UNSUPPORTED_REGION,
            f"The shop is in region {shop.region_code}; only US, UK, MY and SG are supported.",
        )
    if shop_region is not region and not reauthorizing:
        raise DomainError(
            ErrorCode.REGION_MISMATCH,
            f"The authorized shop is in {shop_region.value}, not in the chosen region {region.value}.",
        )
    return shop


def new_id() -> str:
    return uuid.uuid4().hex


class Revocation(StrEnum):
    """Why a shop is REVOKED (`Shop.revoked_because`, stored in `shops.revoked_because`, migration 0043)."""

    DEAUTHORIZED = "DEAUTHORIZED"  # the seller removed the app (webhook 6, `Shop.deauthorize`)
    # TikTok refused the authorization in a session's call or refresh (`Shop.revoke_refused`) whose pair is not the
    # one stored when the shop was revoked (the session had adopted a newer one), or revoked before PAIR_REFUSED
    # existed: which pair was refused is not known, so no refresh lifts it.
    REFUSED = "REFUSED"
    # The token sweep's refresh of the pair, refused (`domain.services.tokens`), and ...
    REFRESH_REFUSED = "REFRESH_REFUSED"
    # ... a session's call or refresh refused with the pair still stored (`Shop.revoke_refused`): a refresh of that
    # same pair stored later lifts either (`Shop.refresh_tokens`), since the refusal may have been of a token another
    # process's refresh had just retired (TikTok rotating refresh tokens; review54a F1).
    PAIR_REFUSED = "PAIR_REFUSED"

    @property
    def liftable(self) -> bool:
        """Whether a refresh of the refused pair, stored later, lifts the revocation (`Shop.refresh_tokens`)."""
        return self in (Revocation.REFRESH_REFUSED, Revocation.PAIR_REFUSED)


@dataclass(slots=True)
class Shop:
    """A TikTok Shop connected to one merchant, with its custom name and its (decrypted) tokens."""

    id: str
    merchant_id: str
    name: str
    region: Region
    tiktok_shop_id: str
    tiktok_shop_name: str
    tiktok_shop_cipher: str
    tiktok_shop_code: str | None
    seller_name: str | None
    tokens: TokenSet
    authorized_at: datetime
    created_at: datetime
    revoked_at: datetime | None = None
    # Why it was revoked (None: not revoked, or revoked before migration 0043 kept the reason: never lifted).
    revoked_because: Revocation | None = None
    last_synced_at: datetime | None = None
    tokens_refreshed_at: datetime | None = None  # the last refresh of the pair; None: as authorized
    version: int = field(default=1)
    # Live sync (issue 7): the authorization's end date from webhook 7, and the state of webhook registration.
    authorization_expires_at: datetime | None = None
    webhooks_registered_at: datetime | None = None
    webhook_registration_error: str | None = None
    last_webhook_at: datetime | None = None
    # The address the last successful registration sent TikTok (None: none yet, or registered before it was kept).
    webhooks_registered_address: str | None = None
    # The stored tokens could not be decrypted with any configured key (SHOPBRIDGE_ENCRYPTION_KEY lost or changed):
    # `tokens` then holds empty strings, never a guess; the shop counts as REVOKED until it is re-authorized.
    tokens_unreadable: bool = False

    @classmethod
    def connect(
        cls,
        merchant_id: str,
        name: str,
        region: Region,
        granted: AuthorizedShop,
        tokens: TokenSet,
        now: datetime,
    ) -> Shop:
        return cls(
            id=new_id(),
            merchant_id=merchant_id,
            name=name,
            region=region,
            tiktok_shop_id=granted.tiktok_shop_id,
            tiktok_shop_name=granted.name,
            tiktok_shop_cipher=granted.cipher,
            tiktok_shop_code=granted.code,
            seller_name=tokens.seller_name,
            tokens=tokens,
            authorized_at=now,
            created_at=now,
        )

    @property
    def expires_at(self) -> datetime:
        """When the authorization ends (UTC): the refresh token's expiry, or the end TikTok announced with webhook 7
        if earlier (`authorization_end`). `status` and the merchant's "Expire date" read this; token renewal does
        not (the refresh token stays usable until its own expiry, `tokens.refresh_token_expires_at`)."""
        return authorization_end(self.tokens.refresh_token_expires_at, self.authorization_expires_at)

    def status(self, now: datetime) -> ShopStatus:
        return shop_status(self.expires_at, self.revoked_at, now, tokens_unreadable=self.tokens_unreadable)

    @property
    def authorization_lost(self) -> bool:
        """Revoked by TikTok or the seller, or its tokens unreadable here: nothing can be asked of TikTok for it."""
        return self.revoked_at is not None or self.tokens_unreadable

    def rename(self, raw_name: str, taken_by: ShopName | None = None) -> None:
        """The custom name `raw_name` (`parse_shop_name`: INVALID_NAME), unless another of the merchant's shops,
        `taken_by`, holds it (NAME_TAKEN, `ensure_name_free`); its own name in another case or spacing is fine."""
        name = parse_shop_name(raw_name)
        ensure_name_free(taken_by)
        self.name = name

    def reauthorize(self, granted: AuthorizedShop, tokens: TokenSet, now: datetime) -> None:
        """Renew tokens and expiry; the shop must be the same TikTok shop, else SHOP_MISMATCH, whose message names
        the shop TikTok returned and the one re-authorized, by TikTok's name and the merchant's (tryout64 F5: "this
        entry" named neither, and the console showed it at the top of Store management, on no row); when TikTok's
        shop is in another region (`granted.region_code`, a supported one: `choose_authorized_shop`), both regions
        and both TikTok shop ids too (F4: the region's refusal named neither shop re-authorized nor its id)."""
        granted_region = Region.from_tiktok(granted.region_code)
        other_shop = granted.tiktok_shop_id != self.tiktok_shop_id
        if other_shop and granted_region is not None and granted_region is not self.region:
            raise DomainError(
                ErrorCode.SHOP_MISMATCH,
                f"TikTok returned the shop “{granted.name}” (TikTok shop id {granted.tiktok_shop_id}), in "
                f"{granted_region.value}, not the shop you are re-authorizing (in {self.region.value}): "
                f"“{self.tiktok_shop_name}” (TikTok shop id {self.tiktok_shop_id}), named “{self.name}” here. Sign in "
                f"to TikTok with the account of “{self.tiktok_shop_name}” and re-authorize again. Nothing was changed.",
            )
        if other_shop:
            raise DomainError(
                ErrorCode.SHOP_MISMATCH,
                f"TikTok returned the shop “{granted.name}”, not “{self.tiktok_shop_name}”, which you are "
                f"re-authorizing as “{self.name}”: sign in to TikTok with the account of “{self.tiktok_shop_name}” "
                "and re-authorize again. Nothing was changed.",
            )
        self.tokens = tokens
        self.tokens_unreadable = False
        self.tiktok_shop_name = granted.name
        self.tiktok_shop_cipher = granted.cipher
        self.tiktok_shop_code = granted.code
        if tokens.seller_name:
            self.seller_name = tokens.seller_name
        self.authorized_at = now
        self.revoked_at, self.revoked_because = None, None
        self.authorization_expires_at = None  # a new authorization has a new end date; webhook 7 will tell it

    def refresh_tokens(self, tokens: TokenSet, now: datetime | None = None) -> bool:
        """A token refresh renewed the pair; TikTok's answer is authoritative for both expiries. `now` (when
        given) dates the pair, from which the next refresh is planned (see `domain.tokens`).

        A revocation for a refusal of the replaced pair (`Revocation.liftable`: the token sweep's refused refresh,
        `REFRESH_REFUSED`, or any session's call or refresh refused with that pair stored, `PAIR_REFUSED`) made since
        the replaced pair was issued is lifted: TikTok has just renewed that very pair, so the refusal behind the
        revocation was of a token this refresh retired (with rotating refresh tokens, another process's refresh or
        call was refused the token this refresh had spent a moment before its commit: README, Token lifecycle;
        review54a F1). Never another: the seller's deauthorization (webhook 6), committed between TikTok's answer to
        this refresh and its commit, stands (review53), and so does a refusal of a pair other than the stored one
        (`REFUSED`). True when it lifted one (the shop is ACTIVE again)."""
        lifted = (
            self.revoked_at is not None
            and self.revoked_because is not None
            and self.revoked_because.liftable
            and self.revoked_at >= self.tokens_issued_at
        )
        self.tokens = replace(tokens, seller_name=tokens.seller_name or self.tokens.seller_name)
        if now is not None:
            self.tokens_refreshed_at = now
        if lifted:
            self.revoked_at, self.revoked_because = None, None
        return lifted

    @property
    def tokens_issued_at(self) -> datetime:
        """When the current pair was obtained: its refresh, or the (re-)authorization, whichever is later."""
        if self.tokens_refreshed_at is None:
            return self.authorized_at
        return max(self.tokens_refreshed_at, self.authorized_at)

    def record_sync(self, now: datetime) -> None:
        """An import of the shop finished: the Task Center shows when data was last brought in."""
        self.last_synced_at = now

    def revoke(self, now: datetime, because: Revocation = Revocation.REFUSED) -> None:
        """TikTok no longer honours this authorization: the merchant must re-authorize (`because`: by default one
        that no refresh lifts). A shop revoked already keeps its time; its reason only hardens: one a later refresh
        may lift (`Revocation.liftable`) gives way to any that none lifts."""
        if self.revoked_at is None:
            self.revoked_at, self.revoked_because = now, because
        elif not because.liftable:
            self.revoked_because = because

    def revoke_refused(self, refused: Shop, now: datetime, refused_access_token: str | None = None) -> bool:
        """TikTok refused the tokens of `refused` (this shop as a session loaded it, whose call or refresh was
        refused after the session looked at the stored pair; `refused_access_token`: the access token of the pair
        refused, when the session told it, `AuthorizationLostError.refused_access_token`): REVOKED, unless the refusal
        says nothing of what is stored now. That is so when the shop was re-authorized since (the refusal was about the
        authorization replaced), and when its stored tokens are unreadable here (`tokens_unreadable`) although the
        refused ones were read: another process stored a pair since under a key this one lacks (a key rotation rolling
        out, README "The encryption key"), which it holds and TikTok honours.

        The reason: `PAIR_REFUSED` when the pair refused is the stored one (`refused_access_token` that of the stored
        pair; without it, the pair `refused` was loaded with still stored: the session had no other pair to adopt);
        a refresh of it stored later by another process lifts the revocation (`refresh_tokens`: TikTok may have
        retired the refused token for that refresh; review54a F1). Otherwise `REFUSED`, which none lifts: a refusal
        of a pair no longer stored, or of one not known. A shop revoked already is left as it is, its reason too:
        after the token sweep's refused refresh (`REFRESH_REFUSED`) a call's refusal is of that same pair, which a
        later refresh lifts as well (review53b). A shop whose authorization has ended at `now` (EXPIRED: its refresh
        token's expiry, or the end webhook 7 announced, passed while a call that began before it was under way) is
        left EXPIRED: the end explains the refusal, and its notice says so since the end (break66 F2; the webhook
        intake's rule for a shop that expired before its batch). True when it revoked now."""
        if self.authorized_at != refused.authorized_at or self.tokens_unreadable or self.revoked_at is not None:
            return False
        if self.status(now) is ShopStatus.EXPIRED:
            return False
        if refused_access_token is not None:
            same_pair = self.tokens.access_token == refused_access_token
        else:
            same_pair = (self.tokens.access_token, self.tokens.refresh_token) == (
                refused.tokens.access_token, refused.tokens.refresh_token,
            )  # fmt: skip
        self.revoke(now, Revocation.PAIR_REFUSED if same_pair else Revocation.REFUSED)
        return True

    def notice_is_current(self, notified_at: datetime) -> bool:
        """Whether a notice TikTok pushed at `notified_at` (UTC, webhook 6 or 7) is about the current authorization:
        sent at or after it. TikTok's push time has whole seconds: a notice of the authorization's own second
        still counts."""
        return notified_at >= self.authorized_at.replace(microsecond=0)

    def deauthorize(self, notified_at: datetime, now: datetime) -> bool:
        """The seller removed the app (webhook 6, live-sync.md §2.4): REVOKED, data kept, until re-authorized.

        A notice sent before the current authorization (a late retry, a replay) is about an authorization that
        no longer exists and changes nothing. True when it applied.
        """
        if not self.notice_is_current(notified_at):
            return False
        self.revoke(now, Revocation.DEAUTHORIZED)
        return True

    def authorization_end_refused(
        self, expires_at: datetime, notified_at: datetime, sent_by: datetime
    ) -> EndNoticeRefusal | None:
        """Why webhook 7, announcing the end `expires_at`, changes nothing (all UTC); None when it is stored
        (`note_authorization_end`). `notified_at`: the earliest TikTok can have sent it, `sent_by`: the latest
        (both its push time, the envelope's `timestamp`, when it has one: `WebhookEvent.sent_no_earlier_than`,
        `sent_no_later_than`).

        STALE: sent before the current authorization (`notice_is_current`). ENDED: sent (`sent_by`) at or after the
        stored end (`expires_at` of the shop: the refresh token's expiry or the end announced already): the
        authorization had ended when TikTok sent it, and a notice never renews it, only a re-authorization does
        (`reauthorize` clears the announced end); a later end announced after the end brought an EXPIRED shop back
        to ACTIVE (tryout71 O2). EARLIER_END: an end before the one stored: TikTok retries a notice for 15.5 h and
        none is ordered, so a late copy of an earlier notice must not move the end back; within one authorization
        the announced end only moves later (lows72). The rule reads only the notices' own send times and ends, never
        the time they are processed, so the same notices give the same end whatever order they arrive in and however
        late the intake takes them (review72b F1: ENDED was decided at the processing time, so two notices of one
        authorization gave EXPIRED or ACTIVE by arrival order and intake latency). So a notice sent before the stored
        end with a later end is stored even when processed after that end had passed: the shop is ACTIVE again, as
        it would have been had the notice come in time."""
        if not self.notice_is_current(notified_at):
            return EndNoticeRefusal.STALE
        if self.expires_at <= sent_by:
            return EndNoticeRefusal.ENDED
        if self.authorization_expires_at is not None and expires_at < self.authorization_expires_at:
            return EndNoticeRefusal.EARLIER_END
        return None

    def note_authorization_end(self, expires_at: datetime, notified_at: datetime, sent_by: datetime) -> bool:
        """Webhook 7: the authorization ends at `expires_at` (UTC), unless `authorization_end_refused` says why not
        (a notice from before a re-authorization, one sent at or after the stored end, or of an earlier end; its
        send time between `notified_at` and `sent_by`, UTC). True when stored."""
        if self.authorization_end_refused(expires_at, notified_at, sent_by) is not None:
            return False
        self.authorization_expires_at = expires_at
        return True

    def record_webhook_registration(self, now: datetime, error: str | None, address: str | None = None) -> None:
        """The outcome of registering `address` with TikTok's Event API (`error` None: every type registered)."""
        if error is None:
            self.webhooks_registered_at, self.webhook_registration_error = now, None
            self.webhooks_registered_address = address
        else:
            self.webhook_registration_error = error

    @property
    def awaits_first_webhook_registration(self) -> bool:
        """Never registered, and no failed try recorded: the registration queued at its connection has not ended.
        A new shop's imports wait for it (README "Registering the address with TikTok")."""
        return self.webhooks_registered_at is None and self.webhook_registration_error is None

    def webhooks_registered_elsewhere(self, address: str) -> bool:
        """Registered once, but not with `address` as far as Shopbridge knows (an unknown address counts)."""
        return self.webhooks_registered_at is not None and self.webhooks_registered_address != address


@dataclass(frozen=True, slots=True)
class RegisteredWebhooks:
    """Where a shop's webhooks were last registered (`address` None: unknown, registered before it was kept), and
    whether a configured key decrypts its stored tokens (`tokens_readable`; False: `Shop.tokens_unreadable`, so a
    registration cannot call TikTok for it)."""

    shop_id: str
    address: str | None
    registered_at: datetime
    tokens_readable: bool = True

    def by_a_newer_process(self, started_at: datetime) -> bool:
        """Registered with a known address since `started_at` (this process's start): another process, configured
        with that address, registered it, and serves beside this one. Registering ours again would make the two
        take turns forever; the operator must make their SHOPBRIDGE_PUBLIC_URL agree instead."""
        return self.address is not None and self.registered_at >= started_at


def connect_or_renew(
    existing: Shop | None,
    merchant_id: str,
    name: str,
    region: Region,
    granted: AuthorizedShop,
    tokens: TokenSet,
    now: datetime,
) -> tuple[Shop, bool]:
    """The shop a consent yields, and whether it was renewed rather than connected.

    A TikTok shop not yet connected becomes the merchant's; the merchant's own is re-authorized, its data stays,
    and it takes the name the merchant typed when connecting it again (a connect form asks for a name: the
    merchant means it); another merchant's is refused with SHOP_ALREADY_CONNECTED until that merchant deletes it.
    """
    if existing is None:
        return Shop.connect(merchant_id, name, region, granted, tokens, now), False
    if existing.merchant_id != merchant_id:
        raise DomainError(
            ErrorCode.SHOP_ALREADY_CONNECTED,
            "This TikTok Shop is connected to another Shopbridge account; it must be deleted there first.",
        )
    existing.reauthorize(granted, tokens, now)
    existing.rename(name)
    return existing, True


def authorization_end(refresh_token_expires_at: datetime, announced_end: datetime | None) -> datetime:
    """When a shop's authorization ends (UTC): the earlier of the refresh token's expiry and the end TikTok announced
    with webhook 7 (`Shop.authorization_expires_at`, None until one arrives; a re-authorization clears it).

    Rule from live-sync.md §4 ("use min(refresh_token_expire_in, webhook-7 expiration_time)"): TikTok grants an
    authorization for at most a year, yet its refresh tokens have been seen to expire ~100 years ahead, so the
    refresh token's expiry alone can be far past the real end.
    """
    if announced_end is None:
        return refresh_token_expires_at
    return min(refresh_token_expires_at, announced_end)


def shop_status(
    expires_at: datetime, revoked_at: datetime | None, now: datetime, *, tokens_unreadable: bool = False
) -> ShopStatus:
    """REVOKED beats everything (a revocation, or tokens no configured key decrypts); then EXPIRED, EXPIRING_SOON
    (within 7 days), ACTIVE. `expires_at`: the authorization's end (`authorization_end`), not the refresh token's
    expiry alone."""
    if revoked_at is not None or tokens_unreadable:
        return ShopStatus.REVOKED
    if expires_at <= now:
        return ShopStatus.EXPIRED
    if expires_at - now <= EXPIRING_SOON_WINDOW:
        return ShopStatus.EXPIRING_SOON
    return ShopStatus.ACTIVE
