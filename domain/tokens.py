"""When a shop's access token is refreshed ahead of its expiry (live-sync.md §7.8, tiktok-api.md §3).

TikTok's access tokens live 7 days. The sweep refreshes one when `now ≥ expires_at - lead - jitter`, where
`lead = max(24 h, 15 % of the token's lifetime)` (day 6 of 7), capped at half the lifetime so that a short-lived
token (a sandbox TTL of minutes) is refreshed at half-life rather than on every tick. The jitter, up to 10 % of
the lead, is fixed per shop (a digest of its id): every process computes the same due time, and a thousand shops
authorized in one minute do not all refresh in the same tick.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.shops import Shop, ShopStatus, shop_status

MIN_LEAD = timedelta(hours=24)
LEAD_SHARE = 0.15
JITTER_SHARE = 0.10
# A claimed refresh that neither finished nor failed within this long (its worker died) may be claimed again.
REFRESH_CLAIM_TTL = timedelta(minutes=2)
# Seconds between looks at the stored pair after TikTok refused ours, ~2 s in all, before the authorization is taken
# for lost: another process's refresh of the same pair may be a commit away (TikTok may end the old refresh token at
# once, tiktok-api.md sec. 3 [UNCERTAIN]). Used by every session (`adapters.tiktok.session`) and the token sweep.
STORED_TOKENS_POLL = (0.2, 0.5, 1.0, 0.0)


def refresh_due_at(shop_id: str, expires_at: datetime, issued_at: datetime) -> datetime:
    """When the access token of `shop_id` (obtained at `issued_at`, expiring at `expires_at`) should be renewed."""
    lifetime = max(expires_at - issued_at, timedelta(0))
    lead = min(max(MIN_LEAD, lifetime * LEAD_SHARE), lifetime / 2)
    return expires_at - lead - lead * JITTER_SHARE * _fraction(shop_id)


def refresh_due(shop: Shop, now: datetime) -> bool:
    """Whether the shop's access token should be renewed now (claims aside); never for a revoked or expired shop."""
    if shop.status(now) in (ShopStatus.REVOKED, ShopStatus.EXPIRED):
        return False
    return now >= refresh_due_at(shop.id, shop.tokens.access_token_expires_at, shop.tokens_issued_at)


def _fraction(shop_id: str) -> float:
    """A stable number in [0, 1) for a shop."""
    return int.from_bytes(hashlib.sha256(shop_id.encode()).digest()[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class ShopSchedule:
    """What the scheduler needs to know of a shop, without its tokens: whether it may sync, and its token's dates."""

    shop_id: str
    merchant_id: str
    expires_at: datetime  # the authorization's end (`domain.shops.authorization_end`), not the refresh token's alone
    revoked_at: datetime | None
    access_token_expires_at: datetime
    tokens_issued_at: datetime
    refresh_claimed_at: datetime | None = None
    # When the shop was last (re-)authorized (UTC): a poll covers up to it soon after (`PollCursor.catch_up_due`)
    authorized_at: datetime | None = None

    def may_sync(self, now: datetime) -> bool:
        """Revoked or expired shops are neither polled nor refreshed: the merchant must re-authorize."""
        return shop_status(self.expires_at, self.revoked_at, now) not in (ShopStatus.REVOKED, ShopStatus.EXPIRED)

    def refresh_due(self, now: datetime) -> bool:
        """Its access token should be renewed now, and nobody holds a claim on refreshing the current pair."""
        if not self.may_sync(now):
            return False
        if self.refresh_claimed_at is not None and self.refresh_claimed_at >= self.claims_older_than(now):
            return False
        return now >= self.refresh_due_at()

    def refresh_due_at(self) -> datetime:
        """When its current access token should be renewed (`refresh_due_at`)."""
        return refresh_due_at(self.shop_id, self.access_token_expires_at, self.tokens_issued_at)

    def claims_older_than(self, now: datetime) -> datetime:
        """Claims made before this no longer hold: they lapsed (their worker died), or they were for an earlier
        pair (a refresh done since ends its own claim)."""
        return max(now - REFRESH_CLAIM_TTL, self.tokens_issued_at)
