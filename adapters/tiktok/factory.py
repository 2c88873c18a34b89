"""Builds a process's TikTok client: its HTTP pool, and the rate limit shared across processes when Redis is there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from adapters import metrics
from adapters.config import Settings
from adapters.tiktok.availability import shared as shared_availability
from adapters.tiktok.client import TikTokClient
from adapters.tiktok.ratelimit import Limiter
from adapters.tiktok.shared_ratelimit import RedisRateLimiter, limiter_redis
from adapters.tls import tls_context

Closer = Callable[[], Awaitable[None]]


def build_tiktok_client(settings: Settings, user_agent: str) -> tuple[TikTokClient, list[Closer]]:
    """One client per process and event loop, and what to close at shutdown (in order)."""
    http = httpx.AsyncClient(
        # No timeout here: the transport gives every request its own (`SHOPBRIDGE_TIKTOK_TIMEOUT`, every phase).
        # Enough for every order slice of several concurrent imports.
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        headers={"user-agent": user_agent},
        verify=tls_context(),
    )
    closers: list[Closer] = [http.aclose]
    limiter: Limiter | None = None  # None: the client paces itself within this process
    if settings.broker_url:
        # Several processes import at once: one budget per app and shop for all of them.
        shared = RedisRateLimiter(limiter_redis(settings.broker_url), settings.tiktok.rate_limit_per_second)
        closers.append(shared.aclose)
        limiter = shared
    # One outage state per process and TikTok hosts: the embedded demo's API and worker pool say an outage once.
    tiktok = settings.tiktok
    availability = shared_availability(tiktok.app_key, tiktok.api_url, tiktok.auth_url)
    client = TikTokClient(
        tiktok, http, rate_limiter=limiter, observer=metrics.tiktok_request, availability=availability
    )
    return client, closers
