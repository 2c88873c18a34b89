"""The Redis-shared rate limit: two processes' clients of one shop stay within TikTok's budget together."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise

import httpx
import pytest
from redis.asyncio import Redis

from adapters.metrics import TIKTOK_REQUESTS
from adapters.tiktok import TikTokClient
from adapters.tiktok.factory import build_tiktok_client
from adapters.tiktok.ratelimit import RateLimiter
from adapters.tiktok.shared_ratelimit import RedisRateLimiter
from sandbox.config import SandboxConfig
from tests.fixtures.sync import sync_settings

pytestmark = pytest.mark.redis


async def test_two_limiters_share_one_pace(redis_server) -> None:
    # given two limiters on separate connections, as in two processes, at 20 requests/s
    first = RedisRateLimiter(Redis.from_url(redis_server.url), 20, headroom=1.0)
    second = RedisRateLimiter(Redis.from_url(redis_server.url), 20, headroom=1.0)
    times: list[float] = []

    async def request(limiter: RedisRateLimiter) -> None:
        await limiter.acquire(("app", "shop-pace"))
        times.append(time.monotonic())

    try:
        # when each sends 15 requests at once
        await asyncio.gather(*(request(limiter) for limiter in (first, second) for _ in range(15)))
    finally:
        await first.aclose()
        await second.aclose()
    # then the 30 are spread 50 ms apart, as one budget: no second holds more than 20 (+1 at the boundary)
    times.sort()
    assert times[-1] - times[0] >= 29 * 0.05 * 0.9
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 21


async def test_other_lanes_are_independent(redis_server) -> None:
    limiter = RedisRateLimiter(Redis.from_url(redis_server.url), 5, headroom=1.0)
    try:
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire(("app", f"shop-{i}")) for i in range(10)))
        assert time.monotonic() - started < 0.5  # ten lanes, one request each: nobody waits
    finally:
        await limiter.aclose()


async def test_an_unreachable_redis_falls_back_to_pacing_in_process(caplog) -> None:
    # given a limiter of 10 requests/s whose Redis cannot be reached, and a record of the waits it asks for
    slots: list[float] = []

    async def record(seconds: float) -> None:  # called right after the slot is booked: now + wait is the slot
        slots.append(time.monotonic() + seconds)

    limiter = RedisRateLimiter(
        Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2), 10, headroom=1.0, sleep=record
    )
    try:
        # when five requests of one shop go at once
        with caplog.at_level("WARNING", logger="adapters.tiktok.shared_ratelimit"):
            await asyncio.gather(*(limiter.acquire(("app", "shop")) for _ in range(5)))
    finally:
        await limiter.aclose()
    # then they are paced in process: the first at once, the other four in slots 100 ms apart; said once
    assert len(slots) == 4, slots
    slots.sort()
    assert all(abs(later - earlier - 0.1) < 0.005 for earlier, later in pairwise(slots)), slots
    warnings = [r for r in caplog.records if "shared rate limit unavailable" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("with_redis", [True, False])
async def test_a_processs_client_paces_through_redis_when_there_is_one(sandbox, redis_server, tmp_path, with_redis):
    # given the client a process builds, with or without Redis as its broker
    settings = sync_settings(
        "sqlite+aiosqlite:///unused.db", sandbox, tmp_path, broker_url=redis_server.url if with_redis else None
    )
    redis = Redis.from_url(redis_server.url)
    await redis.delete(*(await redis.keys("shopbridge:tiktok-rate:*")) or ["-"])
    shops_ok = TIKTOK_REQUESTS.labels("GET /authorization/202309/shops", "ok")
    before = shops_ok._value.get()
    client, closers = build_tiktok_client(settings, "shopbridge-test/1.0")
    try:
        # when it lists a seller's shops
        params = sandbox.authorize("us-local", "state-1")
        tokens = await client.exchange_code(params["code"])
        shops = await client.authorized_shops(tokens.access_token)
        assert shops and shops[0].region_code == "US"
        # then the request was paced by a lane in Redis only when Redis is there, and counted in the metrics
        assert bool(await redis.keys("shopbridge:tiktok-rate:*")) is with_redis
        assert shops_ok._value.get() == before + 1
    finally:
        # and what to close at shutdown: the HTTP pool, then the Redis connection when there is one
        assert len(closers) == (2 if with_redis else 1)
        for close in closers:
            await close()
        await redis.aclose()
    with pytest.raises(RuntimeError, match="client has been closed"):  # the token endpoint is not paced
        await client.refresh(tokens.refresh_token)


@pytest.mark.parametrize("shared", [True, False])
async def test_two_processes_importing_one_shop_draw_no_429(sandbox_factory, redis_server, tmp_path, shared) -> None:
    # given a sandbox limiting one shop to 20 requests/s, and two clients (two worker processes) of that shop
    sandbox = sandbox_factory(SandboxConfig(products=5, orders=200, rate_limit=20))
    settings = sync_settings("sqlite+aiosqlite:///unused.db", sandbox, tmp_path)
    tiktok_settings = settings.tiktok.__class__(**{**settings.tiktok.__dict__, "rate_limit_per_second": 20})
    shop_tokens = sandbox.tokens_for("us-local")
    shop = next(e for e in sandbox.control("GET", "/shops")["sellers"] if e["key"] == "us-local")["shops"][0]
    clients, limiters = [], []
    async with httpx.AsyncClient(timeout=10) as http_a, httpx.AsyncClient(timeout=10) as http_b:
        for http in (http_a, http_b):
            limiter: RateLimiter | RedisRateLimiter = (
                RedisRateLimiter(Redis.from_url(redis_server.url), 20) if shared else RateLimiter(20)
            )
            limiters.append(limiter)
            settings_no_retry = tiktok_settings.__class__(**{**tiktok_settings.__dict__, "max_retries": 0})
            clients.append(TikTokClient(settings_no_retry, http, rate_limiter=limiter))  # type: ignore[arg-type]
        sandbox.control("POST", "/counters/reset")

        async def page(client: TikTokClient) -> None:
            try:
                await client.search_orders(
                    shop_tokens["access_token"], shop["cipher"], page_size=10, create_time_ge=0,
                    create_time_lt=int(time.time()) + 1,
                )  # fmt: skip
            except Exception:  # a 429 with retries off: counted by the sandbox below
                pass

        # when both send 60 requests at once (three seconds' worth: far more than the sandbox's one-second burst)
        await asyncio.gather(*(page(client) for client in clients for _ in range(60)))
        for limiter in limiters:
            if isinstance(limiter, RedisRateLimiter):
                await limiter.aclose()
    outcomes = sandbox.control("GET", "/counters")["by_outcome"]
    # then with a shared budget nothing is throttled; with a budget per process, TikTok throttles
    if shared:
        assert outcomes.get("36009002", 0) == 0 and outcomes.get("ok") == 120, outcomes
    else:
        assert outcomes.get("36009002", 0) > 0, outcomes
