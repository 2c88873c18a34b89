"""Pending OAuth requests: the `state` that ties TikTok's redirect back to a merchant and what it asked for."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import DomainError, ErrorCode, ValidationError, ValidationErrors, when_to_retry
from domain.inventory_push import InventoryPolicy
from domain.shops import Region, parse_shop_name

STATE_TTL = timedelta(minutes=30)
# How long a request is kept once expired (a used one expires like any other: its link is dead either way), so that
# a link opened again within a day still says "already used" or "expired" rather than "unknown"; retention then
# deletes it (`domain.services.retention.SPENT_AUTHORIZATIONS`).
KEPT_AFTER_EXPIRY = timedelta(days=1)
STATE_BYTES = 32
# How many authorizations (re-authorizations included) one merchant may have started within a state's life and not
# completed (pending, denied, failed), by default (SHOPBRIDGE_MAX_AUTHORIZATION_STARTS): each is a row until a day past
# its expiry. A start whose completion connected or renewed a shop frees its place (newcomer54 finding 8: a merchant
# renewing a fleet of shops that expire together was held 30 minutes every 20), but every start, completed or not,
# still counts toward `COMPLETED_STARTS_FACTOR` times the limit: the rows stay bounded whatever completes.
DEFAULT_MAX_STARTS = 20
COMPLETED_STARTS_FACTOR = 10
# INVALID_STATE's field, whatever made the state unusable (unknown, another merchant's, used, expired): the input at
# fault is the same, and a client marks one field for all of them (README, userErrors).
STATE = ("state",)
REAUTHORIZED_SHOP_DELETED = (
    "The shop this re-authorization was for has been deleted, so nothing was connected. "
    "To connect it again, start a new authorization (Add store)."
)


class AuthorizationPurpose(StrEnum):
    CONNECT = "CONNECT"
    REAUTHORIZE = "REAUTHORIZE"


def new_state() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(STATE_BYTES)


def state_digest(state: str) -> str:
    """What is stored: a digest, so that a leaked database row cannot complete anyone's authorization."""
    return hashlib.sha256(state.encode()).hexdigest()


# The refusal of a state used by a completion that did not finish (denied, failed) or is still under way (a second tab
# or a retry racing the first): it cannot say which, so it says both outcomes (tryout60 F4: it said "start again" to a
# merchant whose first try was connecting the shop). A completed one is answered with its shop (`completed_for`).
ALREADY_USED = (
    "This authorization link was already used: if that use completed, the shop is in Store management; otherwise "
    "start again."
)


@dataclass(slots=True)
class AuthorizationRequest:
    """One started authorization. Single-use, expiring; stored under the digest of its state."""

    state_digest: str
    merchant_id: str
    purpose: AuthorizationPurpose
    region: Region
    name: str
    created_at: datetime
    expires_at: datetime
    shop_id: str | None = None  # the shop being re-authorized
    used_at: datetime | None = None
    completed_at: datetime | None = None  # when its completion connected or renewed a shop: it no longer counts
    completed_shop_id: str | None = None  # the shop that completion connected or renewed (migration 0055)
    # A CONNECT's choice of stock push for the shop it connects (migration 0060, decide62): False, the new shop starts
    # with push off; True, with the defaults (push on). None: a REAUTHORIZE, or a request started before 0060: the
    # defaults. See `starting_policy`.
    push_enabled: bool | None = None

    @classmethod
    def start(
        cls, merchant_id: str, region: Region | None, raw_name: str, region_confirmed: bool, now: datetime,
        push_enabled: bool | None = True,
    ) -> tuple[AuthorizationRequest, str]:  # fmt: skip
        """A new CONNECT request and its plaintext state, after the merchant's confirmations are checked.

        Every field is checked, and every refusal told at once (`ValidationErrors`: a form marks each field in one
        answer), in this order: REGION_NOT_CONFIRMED on `regionConfirmed`, UNSUPPORTED_REGION on `region`, the
        name's INVALID_NAME on `name` (`domain.shops.parse_shop_name`), then INVALID_INPUT on `pushEnabled` when it
        is given as null (true or false, or left out: true); one alone is raised as itself. `push_enabled` is kept
        for the completion (`starting_policy`)."""
        problems: list[ValidationError] = []
        if not region_confirmed:
            problems.append(
                ValidationError(
                    ErrorCode.REGION_NOT_CONFIRMED,
                    "Confirm that the shop is a local shop in a supported region (US, UK, MY, SG).",
                    ("regionConfirmed",),
                )
            )
        if region is None:
            problems.append(ValidationError(ErrorCode.UNSUPPORTED_REGION, "Choose a supported region.", ("region",)))
        try:
            name = parse_shop_name(raw_name)
        except ValidationError as exc:
            problems.append(exc)
        if push_enabled is None:
            problems.append(
                ValidationError(
                    ErrorCode.INVALID_INPUT,
                    "pushEnabled cannot be null: give true (stock push on) or false (off), or leave it out (on).",
                    ("pushEnabled",),
                )
            )
        if problems or region is None or push_enabled is None:  # a None is among the problems
            raise ValidationErrors.of(problems)
        request, state = cls._new(merchant_id, AuthorizationPurpose.CONNECT, region, name, now, None)
        request.push_enabled = push_enabled
        return request, state

    @classmethod
    def start_reauthorization(
        cls, merchant_id: str, shop_id: str, region: Region, name: str, now: datetime
    ) -> tuple[AuthorizationRequest, str]:
        return cls._new(merchant_id, AuthorizationPurpose.REAUTHORIZE, region, name, now, shop_id)

    @classmethod
    def _new(
        cls,
        merchant_id: str,
        purpose: AuthorizationPurpose,
        region: Region,
        name: str,
        now: datetime,
        shop_id: str | None,
    ) -> tuple[AuthorizationRequest, str]:
        state = new_state()
        request = cls(
            state_digest=state_digest(state),
            merchant_id=merchant_id,
            purpose=purpose,
            region=region,
            name=name,
            created_at=now,
            expires_at=now + STATE_TTL,
            shop_id=shop_id,
        )
        return request, state

    def starting_policy(self) -> InventoryPolicy | None:
        """The push policy of a shop this request connects as a new shop (decide62): push off when the merchant chose
        so at Add store (`pushEnabled: false`), so that TikTok's stock of the SKUs joining the merchant's items by
        seller SKU is not replaced by the pool's available until they turn push on; None (no policy stored: the
        defaults, push on) otherwise. Applied only where the completion adds a shop: a connect that finds the TikTok
        shop already connected to this merchant re-authorizes it and keeps that shop's own policy (the choice was
        made not knowing which shop TikTok's consent would grant), as a REAUTHORIZE does."""
        if self.purpose is not AuthorizationPurpose.CONNECT or self.push_enabled is not False:
            return None
        return InventoryPolicy(push_enabled=False)

    def unexpired(self, now: datetime) -> bool:
        """Whether its state may still be completed (if unused) at `now`: what `check_room` counts."""
        return now < self.expires_at

    def may_be_pruned(self, expired_before: datetime) -> bool:
        """Whether retention may delete it: it expired before `expired_before` (no state can be spent after its
        expiry, so nothing reads the row any more but to word the refusal)."""
        return self.expires_at < expired_before

    def shop_to_reauthorize(self) -> str:
        """The id of the shop a REAUTHORIZE request renews. NOT_FOUND on `state` when that shop was deleted since
        the request started: `shopDelete` keeps its pending requests, detached (`shop_id` None), so that this
        completion says the shop is gone rather than "Unknown authorization state" (README, Deleting a shop)."""
        if self.shop_id is None:
            raise DomainError(ErrorCode.NOT_FOUND, REAUTHORIZED_SHOP_DELETED, STATE)
        return self.shop_id

    def completed_for(self, merchant_id: str) -> str | None:
        """The id of the shop this request's completion connected or renewed, when its own merchant submits it again
        (a double-submitted callback, a second tab, a retry whose answer was lost: tryout60 F4), else None. Such a
        repeat is answered with that shop rather than "already used; start again", which sent the merchant through
        TikTok's consent again for a shop already connected; the state stays spent and its code is never exchanged
        again (the one-use rule, RFC 6749 sec. 10.5). Another merchant's or an uncompleted (pending, denied, failed)
        request gives None: those are refused as before (`consume`). Expiry does not matter here (review61 F4: the
        docstring said it did; the code never did): the repeat spends nothing, and "expired; start again" would send
        the merchant through TikTok's consent for a shop already connected, the harm this answer exists to avoid;
        retention deletes the row a day after its expiry, and a repeat after that is "Unknown authorization state"."""
        if merchant_id != self.merchant_id or self.completed_at is None:
            return None
        return self.completed_shop_id

    def consume(self, now: datetime, merchant_id: str | None = None) -> None:
        """Spend the state: by its merchant (when the caller is known), once, before it expires; else INVALID_STATE
        on `state` (each refusal in its own words).

        Another merchant's attempt leaves the state unspent: nobody can burn someone else's authorization.
        """
        if merchant_id is not None and merchant_id != self.merchant_id:
            raise DomainError(ErrorCode.INVALID_STATE, "Unknown authorization state; start again.", STATE)
        if self.used_at is not None:
            raise DomainError(ErrorCode.INVALID_STATE, ALREADY_USED, STATE)
        if now >= self.expires_at:
            raise DomainError(ErrorCode.INVALID_STATE, "This authorization link has expired; start again.", STATE)
        self.used_at = now


class TooManyAuthorizationsError(DomainError):
    """TOO_MANY_AUTHORIZATIONS (on no field), carrying `retry_at` (UTC): when the oldest start still counted expires,
    and the merchant may start one more. The message says which starts count (those not completed: completing one
    frees its place, denying or abandoning one does not; or, past `COMPLETED_STARTS_FACTOR` times the limit, every
    start), and when, in seconds from `now` (rounded up) and as a UTC time."""

    def __init__(self, limit: int, retry_at: datetime, now: datetime, *, completed_count: bool = False) -> None:
        minutes = int(STATE_TTL.total_seconds() // 60)
        if completed_count:
            counted = f", completed or not: each counts until {minutes} minutes after it started"
        else:
            counted = (
                f" and left uncompleted: a pending, denied or failed one counts until {minutes} minutes after it "
                "started; completing one (a shop connected or renewed) frees its place"
            )
        super().__init__(
            ErrorCode.TOO_MANY_AUTHORIZATIONS,
            f"At most {limit} authorizations (re-authorizations included) may be started within {minutes} minutes"
            f"{counted}. Try again {when_to_retry(retry_at, now)}.",
        )
        self.retry_at = retry_at


def check_room(
    unexpired: Sequence[datetime], limit: int, now: datetime, every_unexpired: Sequence[datetime] = ()
) -> None:
    """Refuse a new (re-)authorization when the merchant already has `limit` requests that have not expired at `now`
    nor been completed: `TooManyAuthorizationsError` (TOO_MANY_AUTHORIZATIONS, on no field), whose `retry_at` is the
    expiry of the oldest of the newest `limit`, when the count drops below the limit; or, checked first, when it has
    `limit * COMPLETED_STARTS_FACTOR` requests not expired, completed or not (`every_unexpired`), likewise.

    `unexpired`: the expiry times (UTC) of the merchant's requests not expired at `now` and not completed (pending,
    spent by a denial or a failure), newest first, at most `limit`; `every_unexpired`: the same, completed ones
    included, at most `limit * COMPLETED_STARTS_FACTOR` (`AuthorizationRequestRepository.unexpired_expiries`). A
    request expires `STATE_TTL` after it started, so this counts the starts of the last 30 minutes.

    A completion that connected or renewed a shop frees its start's place (newcomer54 finding 8): a merchant renewing
    45 shops that expire together does so in one sitting. It needs TikTok's consent and a code TikTok issued, unlike a
    denial, which anyone may post, so a loop of starts spent by denials is still held at `limit`; and the rows stay
    bounded by `COMPLETED_STARTS_FACTOR` times that, whatever completes.

    Every start stores a row, kept until a day past its expiry (`KEPT_AFTER_EXPIRY`), so a loop of starts (or of
    starts each spent at once by a denied completion) filled the database. Bounded, one merchant holds at most
    `limit * COMPLETED_STARTS_FACTOR` rows per `STATE_TTL` (30 minutes), ~50 times that with the day retention
    keeps; an expired request no longer counts, so the merchant may start again once its oldest one expired.
    Concurrent starts each count before any commits: a burst of n at once may pass the limit by up to n - 1
    (security review 44)."""
    ceiling = limit * COMPLETED_STARTS_FACTOR
    if len(every_unexpired) >= ceiling:
        oldest = sorted(every_unexpired, reverse=True)[ceiling - 1]
        raise TooManyAuthorizationsError(ceiling, oldest, now, completed_count=True)
    if len(unexpired) >= limit:
        raise TooManyAuthorizationsError(limit, sorted(unexpired, reverse=True)[limit - 1], now)
