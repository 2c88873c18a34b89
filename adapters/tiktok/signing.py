"""TikTok Shop request signing (HMAC-SHA256 over secret + path + sorted raw query + body + secret) and webhook HMACs.

The algorithm is section 4 of `tiktok-api.md`; the webhook signature is section 10. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

# Never part of the signature: the signature itself, and the token (it travels in a header since V2).
EXCLUDED_FROM_SIGNATURE = frozenset({"sign", "access_token", "x-tts-access-token"})

QueryValue = str | int | Sequence[str | int]


def query_value(value: QueryValue) -> str:
    """The wire (and signed) form of one query value: arrays comma-joined, numbers in decimal, strings as-is."""
    if isinstance(value, bool):  # bool is an int: say what TikTok expects rather than "True"
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    return ",".join(query_value(item) for item in value)


def string_to_sign(path: str, query: Mapping[str, QueryValue], body: bytes | None) -> bytes:
    """`path` + `{key}{value}` for every signed query param sorted by key bytes + the body exactly as sent."""
    # Python orders strings by code point, which is the order of their UTF-8 bytes: no key function needed.
    keys = sorted(k for k in query if k not in EXCLUDED_FROM_SIGNATURE)
    parts = [path.encode()]
    parts.extend(k.encode() + query_value(query[k]).encode() for k in keys)
    if body:
        parts.append(body)
    return b"".join(parts)


def sign(
    app_secret: str,
    path: str,
    query: Mapping[str, QueryValue],
    body: bytes | None = None,
    *,
    multipart: bool = False,
) -> str:
    """The `sign` query parameter: lowercase hex HMAC-SHA256 keyed by the secret over secret + string + secret.

    `body` must be the exact bytes sent; a multipart body is never signed.
    """
    secret = app_secret.encode()
    message = secret + string_to_sign(path, query, None if multipart else body) + secret
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def webhook_signature(app_key: str, app_secret: str, raw_body: bytes) -> str:
    """The `Authorization` header TikTok puts on a webhook: hex HMAC-SHA256(app_secret, app_key + raw body)."""
    return hmac.new(app_secret.encode(), app_key.encode() + raw_body, hashlib.sha256).hexdigest()


def verify_webhook(app_key: str, app_secret: str, raw_body: bytes, authorization: str | None) -> bool:
    """True when the header matches the raw body's signature; compared in constant time."""
    if not authorization:
        return False
    expected = webhook_signature(app_key, app_secret, raw_body)
    return hmac.compare_digest(expected.encode(), authorization.strip().lower().encode())
