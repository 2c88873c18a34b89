"""Merchant authentication: HS256 JWTs whose `sub` is the merchant id, issued by `shopbridge token`."""

from __future__ import annotations

import math
import time

from adapters.hidden_imports import hidden

# PyJWT loads cryptography's X.509 and public-key modules when it finds them, for the RS/ES/EdDSA algorithms; HS256
# needs none of them (hmac): ~0.06 s of CPU at every start of a process, spared (adapters/hidden_imports.py, imports71).
# PyJWT decides `has_crypto` once, at its first import: when this is it, RS/ES/EdDSA are unavailable to the whole
# process ("Algorithm not supported") and HMAC's guard against a DER public key used as its secret is off (ours is
# our own random secret). A use of those algorithms must import jwt before this module, or drop the hiding.
with hidden("cryptography.x509"):
    import jwt

ISSUER = "shopbridge"
ALGORITHM = "HS256"
MAX_MERCHANT_ID_LENGTH = 128
# How far ahead of this server's clock a token's `iat` or `nbf` may be (RFC 7519 sec. 4.1.5: "some small leeway,
# usually no more than a few minutes, to account for clock skew"): a token issued by a host whose clock is a few
# seconds ahead was refused as "invalid" (sec50). `exp` stays exact: such a host's `exp` is ahead too, and a
# WebSocket's subscriptions end at `exp` by this server's clock (gql/context.py).
CLOCK_LEEWAY_SECONDS = 60


class AuthenticationError(Exception):
    """The credentials are missing, malformed, expired or not ours; the message is safe to show."""


class SocketTokenRefusedError(Exception):
    """A `connection_init` whose token is refused: the socket is closed with 4403 (graphql-transport-ws's Forbidden)
    and `reason`, `Forbidden: ` and why in HTTP's words (`Forbidden: the token has expired`, `… the token is
    invalid`, `… the token is not valid yet: …`), so that a client tells an expired token (sign in again, or renew
    it) from a wrong one, as HTTP's 401 message does. Strawberry's own refusal said `Forbidden` alone (api66 F2).
    At most 123 bytes, as RFC 6455 sec. 5.5 allows a close reason."""

    MISSING = 'Forbidden: send {"Authorization": "Bearer <token>"} in the connection_init payload'

    def __init__(self, refusal: AuthenticationError) -> None:
        if isinstance(refusal, MissingBearerTokenError):
            reason = self.MISSING
        else:
            message = str(refusal).rstrip(".")
            reason = "Forbidden: " + message[:1].lower() + message[1:]
        self.reason = reason.encode()[:123].decode(errors="ignore")
        super().__init__(self.reason)


class MissingBearerTokenError(AuthenticationError):
    """No bearer token at all: no `Authorization`, another scheme, or `Bearer` alone; a 401 then names no error
    code in its challenge (RFC 6750 sec. 3.1, `bearer_challenge`)."""


def bearer_challenge(realm: str, invalid_token: bool) -> str:
    """A 401's `WWW-Authenticate` value: `Bearer realm="<realm>"`, plus `, error="invalid_token"` when a bearer token
    came and was refused (expired, forged, not the one). RFC 6750 sec. 3: the `Bearer` scheme MUST be followed by at
    least one auth-param (a bare `Bearer` was sent); sec. 3.1: a request without credentials gets no error code.
    `realm` (RFC 7235 sec. 2.2) tells the protection spaces apart: `graphql` (merchant tokens), `metrics`."""
    challenge = f'Bearer realm="{realm}"'
    return challenge + ', error="invalid_token"' if invalid_token else challenge


class AmbiguousCredentialsError(Exception):
    """More than one credential where one is expected (two `Authorization` headers, or a `connection_init` payload
    with both `Authorization` and `authorization` of different values): refused as a bad request (HTTP 400
    `BAD_REQUEST`, WebSocket close 4400), not read as the first or the last. A proxy in front may act on the other
    one (an appending proxy authorizes or logs the last), so that the two disagree on who called (attack56,
    F-two-auth). RFC 9110 sec. 5.3: `Authorization` is a singleton field, never a list."""

    HTTP_MESSAGE = "Ambiguous credentials: send one Authorization header, not several."
    # a close reason is at most 123 bytes (RFC 6455 sec. 5.5); the code first, as for 1008's TOO_MANY_CONNECTIONS
    WS_REASON = "BAD_REQUEST: ambiguous credentials: connection_init has several different Authorization values"


def merchant_id_problem(merchant_id: str) -> str | None:
    """Why `merchant_id` cannot be one, or None: 1 to 128 characters, not blank, no surrounding spaces or controls."""
    if not merchant_id or len(merchant_id) > MAX_MERCHANT_ID_LENGTH:
        return f"a merchant id must be 1 to {MAX_MERCHANT_ID_LENGTH} characters"
    if merchant_id != merchant_id.strip():
        return "a merchant id must not be blank or start or end with spaces"
    if any(not character.isprintable() for character in merchant_id):
        return "a merchant id must not contain control characters"
    return None


def issue_token(secret_key: str, merchant_id: str, ttl_seconds: int, now: float | None = None) -> str:
    """A token for `merchant_id` valid `ttl_seconds` from now; ValueError naming a bad merchant id."""
    if (problem := merchant_id_problem(merchant_id)) is not None:
        raise ValueError(problem)
    issued = int(now if now is not None else time.time())
    claims = {"sub": merchant_id, "iat": issued, "exp": issued + ttl_seconds, "iss": ISSUER}
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


def verify_token(secret_key: str, token: str) -> str:
    """The merchant id the token was issued for."""
    return verify_token_claims(secret_key, token)[0]


def verify_token_claims(secret_key: str, token: str, now: float | None = None) -> tuple[str, float]:
    """The merchant id the token was issued for, and when it expires (Unix seconds, finite).
    `AuthenticationError` otherwise: expired (`exp` at or before `now`), not valid yet (`iat` or `nbf` more than
    `CLOCK_LEEWAY_SECONDS` ahead), or invalid (a bad signature, a claim missing or foreign, an `exp` no float holds:
    `10**400` was a 500 and an ERROR traceback, sec50)."""
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["sub", "exp", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("The token has expired.") from exc
    except jwt.ImmatureSignatureError as exc:
        message = f"The token is not valid yet: issued for a time more than {CLOCK_LEEWAY_SECONDS} seconds ahead."
        raise AuthenticationError(message) from exc
    except (jwt.InvalidTokenError, UnicodeError) as exc:  # an unpaired surrogate no UTF-8 holds: jwt's encode
        raise AuthenticationError("The token is invalid.") from exc
    try:
        expires_at = float(claims["exp"])
    except (OverflowError, TypeError, ValueError):
        expires_at = math.nan
    if not math.isfinite(expires_at):
        raise AuthenticationError("The token is invalid.")
    if expires_at <= now:  # exact, not within the leeway PyJWT allows (CLOCK_LEEWAY_SECONDS)
        raise AuthenticationError("The token has expired.")
    merchant_id = claims.get("sub")
    if not isinstance(merchant_id, str) or merchant_id_problem(merchant_id) is not None:
        raise AuthenticationError("The token names no merchant.")
    return merchant_id, expires_at


def bearer_token(header_value: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value; MissingBearerTokenError without one."""
    if not header_value:
        raise MissingBearerTokenError("Send an Authorization: Bearer <token> header.")
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingBearerTokenError("The Authorization header must be 'Bearer <token>'.")
    return token.strip()
