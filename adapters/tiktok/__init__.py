"""The TikTok Shop adapter: signing, the client and its per-shop session, errors, wire structs of payloads.

The names below are imported from their modules on first use (PEP 562), not with the package: every process imports
`adapters.tiktok.redaction` with its logging (adapters/logs.py), which loaded the client, httpx and the wire
structs with it, ~0.4 s of CPU for commands that never call TikTok (`shopbridge token`, `migrate`, a refused
start, Dramatiq's master process; measured, suitea69). `from adapters.tiktok import TikTokClient` works as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.tiktok.client import TikTokClient
    from adapters.tiktok.errors import (
        AccessTokenExpiredError,
        ApiError,
        AuthCodeOutcomeUnknownError,
        AuthCodeRejectedError,
        AuthorizationLost,
        ClientBugError,
        ClockSkewError,
        InvalidAccessTokenError,
        InvalidRefreshTokenError,
        InvalidRequestError,
        MalformedResponseError,
        MissingScopeError,
        NetworkError,
        PageTokenRejectedError,
        RateLimitedError,
        RecordNotFound,
        SearchCapExceededError,
        ServerError,
        SignatureError,
        TikTokError,
        TimeBudgetSpentError,
        TransientError,
        UnexpectedResponseError,
        classify,
    )
    from adapters.tiktok.models import InventoryUpdateResult, SkuInventory, SkuStock, SkuUpdateFailure, WarehouseFailure
    from adapters.tiktok.ratelimit import RateLimiter
    from adapters.tiktok.session import ShopSession
    from adapters.tiktok.signing import sign, verify_webhook, webhook_signature

_MODULE_OF = {
    "AccessTokenExpiredError": "adapters.tiktok.errors",
    "ApiError": "adapters.tiktok.errors",
    "AuthCodeOutcomeUnknownError": "adapters.tiktok.errors",
    "AuthCodeRejectedError": "adapters.tiktok.errors",
    "AuthorizationLost": "adapters.tiktok.errors",
    "ClientBugError": "adapters.tiktok.errors",
    "ClockSkewError": "adapters.tiktok.errors",
    "InvalidAccessTokenError": "adapters.tiktok.errors",
    "InvalidRefreshTokenError": "adapters.tiktok.errors",
    "InvalidRequestError": "adapters.tiktok.errors",
    "InventoryUpdateResult": "adapters.tiktok.models",
    "MalformedResponseError": "adapters.tiktok.errors",
    "MissingScopeError": "adapters.tiktok.errors",
    "NetworkError": "adapters.tiktok.errors",
    "PageTokenRejectedError": "adapters.tiktok.errors",
    "RateLimitedError": "adapters.tiktok.errors",
    "RateLimiter": "adapters.tiktok.ratelimit",
    "RecordNotFound": "adapters.tiktok.errors",
    "SearchCapExceededError": "adapters.tiktok.errors",
    "ServerError": "adapters.tiktok.errors",
    "ShopSession": "adapters.tiktok.session",
    "SignatureError": "adapters.tiktok.errors",
    "SkuInventory": "adapters.tiktok.models",
    "SkuStock": "adapters.tiktok.models",
    "SkuUpdateFailure": "adapters.tiktok.models",
    "TikTokClient": "adapters.tiktok.client",
    "TikTokError": "adapters.tiktok.errors",
    "TimeBudgetSpentError": "adapters.tiktok.errors",
    "TransientError": "adapters.tiktok.errors",
    "UnexpectedResponseError": "adapters.tiktok.errors",
    "WarehouseFailure": "adapters.tiktok.models",
    "classify": "adapters.tiktok.errors",
    "sign": "adapters.tiktok.signing",
    "verify_webhook": "adapters.tiktok.signing",
    "webhook_signature": "adapters.tiktok.signing",
}


def __getattr__(name: str) -> Any:
    """The public name `name`, imported from its module the first time it is asked for (then a plain attribute)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AccessTokenExpiredError",
    "ApiError",
    "AuthCodeOutcomeUnknownError",
    "AuthCodeRejectedError",
    "AuthorizationLost",
    "ClientBugError",
    "ClockSkewError",
    "InvalidAccessTokenError",
    "InvalidRefreshTokenError",
    "InvalidRequestError",
    "InventoryUpdateResult",
    "MalformedResponseError",
    "MissingScopeError",
    "NetworkError",
    "PageTokenRejectedError",
    "RateLimitedError",
    "RateLimiter",
    "RecordNotFound",
    "SearchCapExceededError",
    "ServerError",
    "ShopSession",
    "SignatureError",
    "SkuInventory",
    "SkuStock",
    "SkuUpdateFailure",
    "TikTokClient",
    "TikTokError",
    "TimeBudgetSpentError",
    "TransientError",
    "UnexpectedResponseError",
    "WarehouseFailure",
    "classify",
    "sign",
    "verify_webhook",
    "webhook_signature",
]
