"""Auth codes, access tokens and refresh tokens: issued per (app, seller), single-use codes, expiry and revocation.

A seller's authorization of the app ends `authorization_ttl` seconds after consent (tiktok-api.md sec. 2, step 5:
"the authorization itself expires"); from then on every token issued under it is refused as if revoked, whatever
its own expiry. Consent again starts a new authorization with new tokens; the ended one's stay refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class AuthCode:
    app_key: str
    seller_key: str
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    """An access/refresh token pair; `expires_at` fields are absolute Unix seconds, as TikTok answers them."""

    app_key: str
    seller_key: str
    access_token: str
    refresh_token: str
    access_expires_at: int
    refresh_expires_at: int
    access_revoked: bool = False
    refresh_revoked: bool = False


class TokenError(Exception):
    """A token the store refuses; `reason` is one of invalid (unknown, revoked, other app, or its seller's
    authorization has ended), expired (past the token's own expiry)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenStore:
    """In-memory authorization server state, read through the injectable wall clock."""

    def __init__(
        self,
        clock: Callable[[], float],
        access_ttl: int,
        refresh_ttl: int,
        code_ttl: int,
        authorization_ttl: int = 365 * 86400,
    ) -> None:
        self.clock = clock
        self.authorization_ttl = authorization_ttl
        # Seller key -> end of the seller's authorization of the app (Unix s); present while authorized.
        self.authorized_until: dict[str, int] = {}
        # Called after every change worth keeping across a restart (the world saves its state).
        self.on_change: Callable[[], None] = lambda: None
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self.codes: dict[str, AuthCode] = {}
        self.by_access: dict[str, Grant] = {}
        self.by_refresh: dict[str, Grant] = {}

    def issue_code(self, app_key: str, seller_key: str) -> str:
        code = "SBC_" + secrets.token_urlsafe(24)
        self.codes[code] = AuthCode(app_key, seller_key, self.clock() + self.code_ttl)
        return code

    def redeem_code(self, app_key: str, code: str) -> Grant:
        """Exchange a code once; unknown, used, expired or other-app codes raise TokenError('invalid')."""
        auth = self.codes.get(code)
        if auth is None or auth.used or auth.app_key != app_key or self.clock() >= auth.expires_at:
            raise TokenError("invalid")
        auth.used = True
        if self._authorization_ended(auth.seller_key):
            # The tokens of an ended authorization stay dead: consent starts a new one with its own tokens.
            self._revoke_grants(auth.seller_key)
        # Consent (again) starts a new authorization period, as re-authorizing does at TikTok.
        self.authorized_until[auth.seller_key] = int(self.clock()) + self.authorization_ttl
        grant = self._issue(app_key, auth.seller_key)
        self.on_change()
        return grant

    def refresh(self, app_key: str, refresh_token: str, rotate: bool) -> Grant:
        """A new pair for a valid refresh token; the old access token stops working at once.

        With `rotate` the old refresh token stops working too; without it, it stays valid until it expires
        (TikTok leaves this open: tiktok-api.md sec. 3 [UNCERTAIN]). Once the seller's authorization has ended
        the token is 'invalid', as a revoked one: the seller must consent again.
        """
        grant = self.by_refresh.get(refresh_token)
        if grant is None or grant.refresh_revoked or grant.app_key != app_key:
            raise TokenError("invalid")
        if self.clock() >= grant.refresh_expires_at:
            raise TokenError("expired")
        if self._authorization_ended(grant.seller_key):
            raise TokenError("invalid")
        grant.access_revoked = True
        if rotate:
            grant.refresh_revoked = True
        fresh = self._issue(app_key, grant.seller_key)
        self.on_change()
        return fresh

    def check_access(self, access_token: str) -> Grant:
        """The grant behind a valid access token, or TokenError('invalid' | 'expired'); 'invalid' too once the
        seller's authorization has ended (a refresh cannot help then)."""
        grant = self.by_access.get(access_token)
        if grant is None or grant.access_revoked:
            raise TokenError("invalid")
        if self.clock() >= grant.access_expires_at:
            raise TokenError("expired")
        if self._authorization_ended(grant.seller_key):
            raise TokenError("invalid")
        return grant

    def _authorization_ended(self, seller_key: str) -> bool:
        # No end recorded: the seller revoked (their grants are revoked already) or the state predates it.
        until = self.authorized_until.get(seller_key)
        return until is not None and self.clock() >= until

    def revoke_seller(self, seller_key: str) -> int:
        """The seller deauthorized the app: every token of theirs becomes invalid. Returns how many grants."""
        self.authorized_until.pop(seller_key, None)
        revoked = self._revoke_grants(seller_key)
        self.on_change()
        return revoked

    def _revoke_grants(self, seller_key: str) -> int:
        grants = [g for g in self.by_access.values() if g.seller_key == seller_key]
        for grant in grants:
            grant.access_revoked = grant.refresh_revoked = True
        return len(grants)

    def expire_seller_access(self, seller_key: str) -> int:
        """Make the seller's live access tokens expired (105002) until refreshed. Returns how many."""
        now = int(self.clock())
        live = [g for g in self.by_access.values() if g.seller_key == seller_key and not g.access_revoked]
        for grant in live:
            grant.access_expires_at = min(grant.access_expires_at, now - 1)
        return len(live)

    def clear(self) -> None:
        self.authorized_until.clear()
        self.codes.clear()
        self.by_access.clear()
        self.by_refresh.clear()

    def _issue(self, app_key: str, seller_key: str) -> Grant:
        now = int(self.clock())
        grant = Grant(
            app_key=app_key,
            seller_key=seller_key,
            access_token="TTP_" + secrets.token_urlsafe(32),
            refresh_token="TTP_" + secrets.token_urlsafe(32),
            access_expires_at=now + self.access_ttl,
            refresh_expires_at=now + self.refresh_ttl,
        )
        self.by_access[grant.access_token] = grant
        self.by_refresh[grant.refresh_token] = grant
        return grant
