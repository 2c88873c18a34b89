"""The Redis-shared rate limit: two processes' clients of one shop stay within TikTok's budget together."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from itertools import pairwise

import httpx
import pytest
from redis.asyncio import Redis

from adapters.metrics import TIKTOK_REQUESTS
from adapters.tiktok import TikTokClient
from adapters.tiktok.factory import build_tiktok_client
from adapters.tiktok.ratelimit import RateLimiter
from adapters.tiktok.shared_ratelimit import LIMITER_CONNECTIONS, RedisRateLimiter, limiter_redis
from adapters.tls import tls_context
from sandbox.config import SandboxConfig
from tests.fixtures.sync import sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS

pytestmark = pytest.mark.redis
NOW = 1000.0  # seconds, the in-process fallback's frozen clock


async def test_two_limiters_share_one_pace(redis_server) -> None:
    # given two limiters on separate connections, as in two processes, of one request per 100 s, whose waits are
    # recorded, not slept: slots this far apart make the waits independent of the machine's speed (no timer read)
    waits: dict[str, list[float]] = {"first": [], "second": []}

    def recorder(name: str) -> Callable[[float], Awaitable[None]]:
        async def record(seconds: float) -> None:
            waits[name].append(seconds)

        return record

    first = RedisRateLimiter(limiter_redis(redis_server.url), 0.01, headroom=1.0, sleep=recorder("first"))
    second = RedisRateLimiter(limiter_redis(redis_server.url), 0.01, headroom=1.0, sleep=recorder("second"))
    try:
        # when each sends 15 requests of one shop at once
        await asyncio.gather(*(limiter.acquire(("app", "shop-pace")) for limiter in (first, second) for _ in range(15)))
    finally:
        await first.aclose()
        await second.aclose()
    # then the 30 are booked 100 s apart, as one budget: one goes at once, the n-th other waits n x 100 s (less the
    # instants since the first booking), whichever process sent it
    assert len(waits["first"]) + len(waits["second"]) == 29
    assert len(waits["first"]) >= 14 and len(waits["second"]) >= 14
    booked = sorted(waits["first"] + waits["second"])
    assert all(100 * n - 50 < wait <= 100 * n for n, wait in enumerate(booked, start=1)), booked


def test_two_processes_pacing_on_their_own_book_twice_the_budget() -> None:
    # given two in-process limiters, as in two processes without Redis, of one request per 100 s on a frozen clock
    first, second = (RateLimiter(0.01, headroom=1.0, clock=lambda: NOW) for _ in range(2))
    # when each books the slots of 15 requests of one shop (what `acquire` then sleeps until)
    waits = [[limiter.reserve(("app", "shop-pace")) for _ in range(15)] for limiter in (first, second)]
    # then each process spends the whole budget by itself: two requests go at once and two in every slot after,
    # twice the rate TikTok allows (the control of the test above, and what the shared limiter is for)
    assert waits[0] == waits[1] == [100.0 * n for n in range(15)]


async def test_other_lanes_are_independent(redis_server) -> None:
    # given a limiter of one request per 100 s whose waits are recorded, not slept (no timer is read)
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    limiter = RedisRateLimiter(Redis.from_url(redis_server.url), 0.01, headroom=1.0, sleep=record)
    try:
        # when ten lanes send one request each, then one of them a second
        await asyncio.gather(*(limiter.acquire(("app", f"shop-lanes-{i}")) for i in range(10)))
        assert slept == []  # ten lanes, one request each: nobody waits
        await limiter.acquire(("app", "shop-lanes-0"))
    finally:
        await limiter.aclose()
    # then only that second request waits, for its slot 100 s after its lane's first (less the instants between)
    assert len(slept) == 1 and 50 < slept[0] <= 100


async def test_an_unreachable_redis_falls_back_to_pacing_in_process(caplog) -> None:
    # given a limiter of 10 requests/s whose Redis cannot be reached, on a frozen clock, and the slots it books
    slots: list[float] = []

    async def record(seconds: float) -> None:  # called right after the slot is booked: now + wait is the slot
        slots.append(NOW + seconds)

    limiter = RedisRateLimiter(
        Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2), 10, headroom=1.0, sleep=record,
        clock=lambda: NOW,
    )  # fmt: skip
    try:
        # when five requests of one shop go at once
        with caplog.at_level("WARNING", logger="adapters.tiktok.shared_ratelimit"):
            await asyncio.gather(*(limiter.acquire(("app", "shop")) for _ in range(5)))
            # and then one request of another shop
            await limiter.acquire(("app", "other-shop"))
    finally:
        await limiter.aclose()
    # then they are paced in process: the first at once, the other four in slots 100 ms apart; said once; and the
    # other shop's lane is its own (its request goes at once)
    assert sorted(slots) == pytest.approx([NOW + 0.1, NOW + 0.2, NOW + 0.3, NOW + 0.4])
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


# The limiter's DEBUG line for each booking (its docstring): the lane and the slot, microseconds on Redis's clock.
BOOKED = re.compile(r"^booked lane (?P<lane>\S+) slot (?P<slot>\d+) us \(Redis clock\), -?\d+ us ahead$")


async def test_two_processes_importing_one_shop_book_one_budget(
    sandbox_factory, redis_server, tmp_path, caplog
) -> None:
    # given a sandbox limiting one shop to 20 requests/s, and two clients (two worker processes) of that shop, each
    # pacing through Redis as a process does (`limiter_redis`, 20 requests/s at 95 %) and retrying a 429 as in
    # production; the control without a shared budget, which books twice TikTok's rate whatever the machine's
    # speed, is test_two_processes_pacing_on_their_own_book_twice_the_budget
    sandbox = sandbox_factory(SandboxConfig(products=5, orders=200, rate_limit=20))
    settings = sync_settings("sqlite+aiosqlite:///unused.db", sandbox, tmp_path)
    tiktok_settings = settings.tiktok.__class__(**{**settings.tiktok.__dict__, "rate_limit_per_second": 20})
    shop_tokens = sandbox.tokens_for("us-local")
    shop = next(e for e in sandbox.control("GET", "/shops")["sellers"] if e["key"] == "us-local")["shops"][0]
    clients, limiters = [], []
    async with (
        httpx.AsyncClient(verify=tls_context(), timeout=DEADLINE_SECONDS) as http_a,
        httpx.AsyncClient(verify=tls_context(), timeout=DEADLINE_SECONDS) as http_b,
    ):
        for http in (http_a, http_b):
            limiter = RedisRateLimiter(limiter_redis(redis_server.url), 20)
            limiters.append(limiter)
            clients.append(TikTokClient(tiktok_settings, http, rate_limiter=limiter))
        sandbox.control("POST", "/counters/reset")

        async def page(client: TikTokClient) -> int:
            found = await client.search_orders(
                shop_tokens["access_token"], shop["cipher"], page_size=10, create_time_ge=0,
                create_time_lt=int(time.time()) + 1,
            )  # fmt: skip
            return len(found.items)

        # when both send 60 requests at once (three seconds' worth: far more than the sandbox's one-second burst)
        try:
            with caplog.at_level("DEBUG", logger="adapters.tiktok.shared_ratelimit"):
                pages = await asyncio.gather(*(page(client) for client in clients for _ in range(60)))
        finally:
            for limiter in limiters:
                await limiter.aclose()
    outcomes = sandbox.control("GET", "/counters")["by_outcome"]
    records = [r for r in caplog.records if r.name == "adapters.tiktok.shared_ratelimit"]
    # then every request was answered over HTTP (a 429, should a starved CPU send a stalled process's due requests
    # at once, is retried: when a request *arrives* is not the limiter's to promise, so 429s are not asserted)
    assert pages == [10] * 120 and outcomes.get("ok") == 120 and set(outcomes) <= {"ok", "36009002"}, outcomes
    # and neither process fell back to its own pace
    assert [r.getMessage() for r in records if r.levelno >= logging.WARNING] == []
    # and every request the sandbox saw (retries included) was booked in one lane on Redis's one clock, each slot
    # at least 1/(20 x 0.95) s after the one before, whichever process booked it: one budget, never more than 20
    # slots in a second (two lanes, or a process pacing on its own, book twice that: see the control)
    booked = [m for r in records if r.levelno == logging.DEBUG and (m := BOOKED.match(r.getMessage()))]
    assert len(booked) == sum(outcomes.values()) and len({m["lane"] for m in booked}) == 1, outcomes
    slots = sorted(int(m["slot"]) for m in booked)
    gaps = [later - earlier for earlier, later in pairwise(slots)]
    assert min(gaps) >= 1_000_000 / (20 * 0.95), gaps


@pytest.mark.parametrize(("per_second", "headroom"), [(0, 0.95), (-1, 0.95), (20, 0), (20, 1.01)])
async def test_a_rate_or_headroom_out_of_range_is_refused(per_second: float, headroom: float) -> None:
    redis = Redis.from_url("redis://127.0.0.1:1/0")  # never connected
    with pytest.raises(ValueError, match=r"^per_second must be positive and headroom in \(0, 1\]$"):
        RedisRateLimiter(redis, per_second, headroom=headroom)
    await redis.aclose()


# The lane's key: the prefix, then the first 24 hex digits of SHA-256 of repr(("app", "shop-key")), computed apart
# (`printf "%s" "('app', 'shop-key')" | sha256sum`): every process, of any version, must name a lane alike.
LANE_KEY = "shopbridge:tiktok-rate:04c1520024e339f3fc6fdbf9"


async def test_each_booking_moves_the_lanes_next_slot_one_interval_on(redis_server) -> None:
    # given a lane of one request per 1,000 s at half the budget (slots 2,000 s apart), its waits recorded, not slept
    redis = Redis.from_url(redis_server.url)
    await redis.delete(LANE_KEY)
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    limiter = RedisRateLimiter(Redis.from_url(redis_server.url), 0.001, headroom=0.5, sleep=record)
    try:
        # when three requests book their slots
        booked = []
        for _ in range(3):
            await limiter.acquire(("app", "shop-key"))
            booked.append(int(await redis.get(LANE_KEY)))
        # then the lane's next free slot (microseconds, Redis's clock) moves 2,000 s on each time
        assert [later - earlier for earlier, later in pairwise(booked)] == [2_000_000_000, 2_000_000_000]
        # and the first went at once, the others wait for their slots (minus the instants since each booking)
        assert len(slept) == 2
        assert 1900 < slept[0] <= 2000 and 3900 < slept[1] <= 4000
        # and an idle lane is forgotten a minute after its last booking
        assert 50_000 < await redis.pttl(LANE_KEY) <= 60_000
    finally:
        await limiter.aclose()
        await redis.aclose()


async def test_a_slot_booked_by_another_process_is_waited_for_in_seconds(redis_server) -> None:
    # given a process whose limiter booked the lane's next slot 10,000,000 s ahead (one request per 10^7 s)
    other = RedisRateLimiter(Redis.from_url(redis_server.url), 1e-7, headroom=1.0)
    await other.acquire(("app", "shop-far"))
    await other.aclose()
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    # when this process's limiter acquires the same lane
    limiter = RedisRateLimiter(Redis.from_url(redis_server.url), 50, sleep=record)
    try:
        await limiter.acquire(("app", "shop-far"))
    finally:
        await limiter.aclose()
    # then it sleeps until that slot: 10^7 s, less the instants between the two bookings
    assert len(slept) == 1 and 10_000_000 - 1_000 < slept[0] <= 10_000_000


async def test_the_fallback_is_reported_once_per_outage(redis_server, caplog) -> None:
    # given a lane whose key Redis cannot book (it holds a list: every booking fails with WRONGTYPE)
    redis = Redis.from_url(redis_server.url)
    lane_key = "shopbridge:tiktok-rate:bc43afc2ea5a5d18f796e8d5"  # ("app", "shop-down"), as LANE_KEY
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    limiter = RedisRateLimiter(Redis.from_url(redis_server.url), 10, headroom=1.0, sleep=record, clock=lambda: NOW)
    try:
        with caplog.at_level("WARNING", logger="adapters.tiktok.shared_ratelimit"):
            await redis.delete(lane_key)
            await redis.rpush(lane_key, "not a slot")
            # when two requests go during an outage, one after it, and one during a second outage
            await limiter.acquire(("app", "shop-down"))
            await limiter.acquire(("app", "shop-down"))
            await redis.delete(lane_key)
            await limiter.acquire(("app", "shop-down"))
            booked = await redis.get(lane_key)
            await redis.delete(lane_key)
            await redis.rpush(lane_key, "not a slot")
            await limiter.acquire(("app", "shop-down"))
    finally:
        await limiter.aclose()
        await redis.delete(lane_key)
        await redis.aclose()
    # then each outage is reported once, and between them the lane was booked in Redis again
    warnings = [r.getMessage() for r in caplog.records if "shared rate limit unavailable" in r.getMessage()]
    assert warnings == ["shared rate limit unavailable, pacing in process only: ResponseError"] * 2
    assert booked is not None
    # and during the outages the requests were paced in process (the second waits its slot 0.1 s on, and the last
    # one the next slot: the in-process lane kept its bookings), after the outage through Redis (no wait)
    assert slept == pytest.approx([0.1, 0.2])


async def test_a_burst_of_requests_books_its_slots_over_a_few_connections(redis_server, caplog) -> None:
    # given the Redis client a process's limiter uses, its connections named so that Redis can count them, and a
    # lane of one request per 1,000 s whose waits are recorded, not slept
    redis = Redis.from_url(redis_server.url)
    await redis.delete(LANE_KEY)
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    limiter = RedisRateLimiter(
        limiter_redis(f"{redis_server.url}?client_name=burst"), 0.001, headroom=1.0, sleep=record
    )
    try:
        # when 120 requests of one shop go at once (two imports' worth)
        with caplog.at_level("WARNING", logger="adapters.tiktok.shared_ratelimit"):
            await asyncio.gather(*(limiter.acquire(("app", "shop-key")) for _ in range(120)))
        # then they took turns on a few connections rather than opening one each (with redis-py's default pool,
        # 120; on a loaded machine such a burst outlasted the 5 s socket timeout and both processes fell back)
        burst = [c for c in await redis.client_list() if c["name"] == "burst"]
        assert 1 <= len(burst) <= LIMITER_CONNECTIONS
        # and each booked its slot in Redis: none fell back, the lane's next slot is 120 intervals on
        now_s, now_us = await redis.time()
        ahead_s = (int(await redis.get(LANE_KEY)) - (now_s * 1_000_000 + now_us)) / 1_000_000
        assert 120_000 - 50 < ahead_s <= 120_000 and len(slept) == 119
        assert [r.getMessage() for r in caplog.records if r.name == "adapters.tiktok.shared_ratelimit"] == []
    finally:
        await limiter.aclose()
        await redis.delete(LANE_KEY)
        await redis.aclose()
