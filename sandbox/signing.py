"""The sandbox's own TikTok request signature (tiktok-api.md sec. 4), written independently of adapters/tiktok."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

# Never part of the signed string: `sign` is the result and `access_token` is the legacy token parameter.
EXCLUDED_PARAMS = frozenset({"sign", "access_token"})


def signature(
    app_secret: str,
    path: str,
    params: Iterable[tuple[str, str]],
    body: bytes = b"",
    content_type: str = "",
) -> str:
    """Lower-case hex HMAC-SHA256 over `secret + path + sorted(key+value) + body + secret`, keyed by the secret.

    `params` are decoded (raw) query values; `body` is the bytes as received. Multipart bodies are never signed.
    """
    pairs = sorted((key, value) for key, value in params if key not in EXCLUDED_PARAMS)
    secret = app_secret.encode()
    message = path.encode() + b"".join(key.encode() + value.encode() for key, value in pairs)
    if body and not content_type.lower().startswith("multipart/form-data"):
        message += body
    return hmac.new(secret, secret + message + secret, hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison; upper-case hex is refused like TikTok does."""
    return hmac.compare_digest(expected, given)
