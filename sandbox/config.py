"""The sandbox's settings: TikTok's app registration plus knobs for data size, token lifetimes, limits and clock.

Defaults (also the `shopbridge sandbox` flag defaults):

| field               | default                                          |
|---------------------|--------------------------------------------------|
| app_key             | `sandbox-app-key`                                |
| app_secret          | `sandbox-app-secret`                             |
| service_id          | `7000000000000000001`                            |
| redirect_url        | `http://127.0.0.1:8000/oauth/tiktok/callback`    |
| products / orders   | 40 / 120 per shop (at most 100000 / 300000)       |
| seed                | 1                                                |
| rare_cases          | False (True: a share of orders FBT or cancelled after shipping, `sandbox.data.make_rare`; |
|                     | `POST /_sandbox/reseed` sets it at run time)      |
| access_token_ttl    | 7 days (seconds)                                 |
| refresh_token_ttl   | 365 days (seconds)                               |
| rate_limit          | 50.0 requests/s per API, app and shop (None or 0 = unlimited) |
| latency_ms          | 0                                                |
| product_search_cap  | 10000 (TikTok's 12052180 cap)                    |
| authorization_ttl   | 365 days (seconds): a seller's authorization end  |
| webhook_url         | None (app-wide push URL; `POST /_sandbox/webhooks` sets it at run time) |
| webhook_retry_factor| 1.0 (TikTok's retry schedule is divided by it)   |
| webhook_timeout_seconds | 3.0 (TikTok's wait for a push's answer; an attempt not answered by then failed) |
| inventory_allow_zero / inventory_max_quantity | True / 99999 (Update Inventory quantity bounds) |
| state_dir           | None (memory only); a directory keeps tokens and data across restarts |
| allow_insecure_webhook_urls | False (True: Event API accepts http loopback URLs with a port) |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_APP_KEY = "sandbox-app-key"
DEFAULT_APP_SECRET = "sandbox-app-secret"  # noqa: S105 - a public, well-known sandbox credential
DEFAULT_SERVICE_ID = "7000000000000000001"
DEFAULT_REDIRECT_URL = "http://127.0.0.1:8000/oauth/tiktok/callback"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100

# Upper bounds on one shop's data, for every way a size comes in: SandboxConfig, `POST /_sandbox/reseed`, the
# `--products`/`--orders` flags, and Shopbridge's SHOPBRIDGE_SANDBOX_PRODUCTS/_ORDERS (adapters/config.py keeps a
# copy, pinned to these by tests/unit/test_config.py: the import contracts let it import nothing of the sandbox).
# A reseed only records the sizes; a shop's data is built in one piece on its first use (World.shop_data), and its
# orders are rendered in full when first read, then kept. Measured (CPython 3.11, one shop, RSS from
# /proc/self/status): a product ~4.7 KB and ~0.2-0.3 ms to generate; an order ~0.5 KB of metadata (~20 us) plus
# ~3.7 KB once rendered (~110 us; an import reads, so renders, every one). 10,000,000 products would be ~47 GB and
# hours of one core, inside the request that first touches the shop. At these bounds a shop holds ~0.45 GB of
# products and ~1.2 GB of rendered orders, ~1.7 GB in all, built in about a minute; the benchmarks use at most
# 5,000 products and 100,000 orders per shop (bench/import_bench.py `Sizes`).
MAX_PRODUCTS_PER_SHOP = 100_000
MAX_ORDERS_PER_SHOP = 300_000


@dataclass
class SandboxConfig:
    """Everything a sandbox world is built from; mutable knobs are copied into the world at start."""

    app_key: str = DEFAULT_APP_KEY
    app_secret: str = DEFAULT_APP_SECRET
    service_id: str = DEFAULT_SERVICE_ID
    redirect_url: str = DEFAULT_REDIRECT_URL
    products: int = 40
    orders: int = 120
    seed: int = 1
    # Opt-in: a share of generated orders fulfilled by TikTok (FBT) or cancelled after their package left the shelf
    # (`sandbox.data.make_rare`), for checks that must meet those line rules. Off, the data is as it always was.
    rare_cases: bool = False
    access_token_ttl: int = 7 * 86400
    refresh_token_ttl: int = 365 * 86400
    rate_limit: float | None = 50.0
    latency_ms: int = 0
    product_search_cap: int = 10_000
    # Auth codes live 30 minutes at TikTok; configurable so tests need not wait.
    auth_code_ttl: int = 30 * 60
    # TikTok leaves it open whether a refresh invalidates the old refresh token; by default it stays usable.
    rotate_refresh_tokens: bool = False
    # Seconds a `slow` fault sleeps before answering: longer than any sane client timeout.
    slow_seconds: float = 15.0
    # TikTok grants an authorization for at most a year; webhook 7 fires daily in its last 30 days.
    authorization_ttl: int = 365 * 86400
    # App-wide webhook URL (Partner Center's); a shop's Event API registration wins for its event type.
    webhook_url: str | None = None
    # TikTok retries after 2 min, 30 min, 3 h, 12 h; each wait is divided by this (1000 -> 120 ms, 1.8 s, ...).
    webhook_retry_factor: float = 1.0
    # TikTok waits 3 s for a push's answer (tiktok-api.md sec. 10). Tests on a loaded machine, where the sender, the
    # receiver and its worker pool share a few starved cores, give it longer: what they check is the answer.
    webhook_timeout_seconds: float = 3.0
    # TikTok only takes https URLs with a domain and no port; True also takes http loopback URLs (local tests).
    allow_insecure_webhook_urls: bool = False
    # Update Inventory quantity bounds: TikTok documents 1..99,999; integrators push 0 (live-sync.md sec. 1.1).
    inventory_allow_zero: bool = True
    inventory_max_quantity: int = 99_999
    # Directory where the sandbox keeps its state across restarts (tokens, data, registrations); None = memory only.
    state_dir: str | None = None
    # Wall clock for timestamps, expiries and data generation; tests inject a fake one.
    clock: Callable[[], float] = field(default=time.time, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.products <= MAX_PRODUCTS_PER_SHOP:
            raise ValueError(f"products must be from 0 to {MAX_PRODUCTS_PER_SHOP} per shop, got {self.products}")
        if not 0 <= self.orders <= MAX_ORDERS_PER_SHOP:
            raise ValueError(f"orders must be from 0 to {MAX_ORDERS_PER_SHOP} per shop, got {self.orders}")
        if self.rate_limit is not None and self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0 or None")
        if self.product_search_cap < 1:
            raise ValueError("product_search_cap must be >= 1")
        if self.webhook_retry_factor <= 0:
            raise ValueError("webhook_retry_factor must be > 0")
        if self.webhook_timeout_seconds <= 0:
            raise ValueError("webhook_timeout_seconds must be > 0")
