"""The TikTok Shop adapter: signing, the client and its per-shop session, errors, and payload mapping."""

from adapters.tiktok.client import TikTokClient
from adapters.tiktok.errors import (
    AccessTokenExpiredError,
    ApiError,
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
    RateLimitedError,
    SearchCapExceededError,
    ServerError,
    SignatureError,
    TikTokError,
    TransientError,
    UnexpectedResponseError,
    classify,
)
from adapters.tiktok.models import InventoryUpdateResult, SkuInventory, SkuStock, SkuUpdateFailure, WarehouseFailure
from adapters.tiktok.ratelimit import RateLimiter
from adapters.tiktok.session import ShopSession
from adapters.tiktok.signing import sign, verify_webhook, webhook_signature

__all__ = [
    "AccessTokenExpiredError",
    "ApiError",
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
    "RateLimitedError",
    "RateLimiter",
    "SearchCapExceededError",
    "ServerError",
    "ShopSession",
    "SignatureError",
    "SkuInventory",
    "SkuStock",
    "SkuUpdateFailure",
    "TikTokClient",
    "TikTokError",
    "TransientError",
    "UnexpectedResponseError",
    "WarehouseFailure",
    "classify",
    "sign",
    "verify_webhook",
    "webhook_signature",
]
