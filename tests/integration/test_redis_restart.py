"""Redis restarts (an upgrade, a failover; it needs no persistence): every connection the clients kept open in their
pools is closed by the server. Each client must reconnect at its next command, not fail that command: a booking of
the shared rate limit fell back to pacing in process, and a change signal was lost, once per stale connection, for
as long as the pools kept such connections (seen half an hour after a restart). While it is down, the signals lost
are logged one line a minute per kind, not one per signal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.db import Database
from adapters.events import LostSignalLines, RedisEventBus
from adapters.readiness import Readiness, ReadinessProbe
from adapters.tiktok.shared_ratelimit import RedisRateLimiter, limiter_redis
from domain.sync import SyncKind, SyncTask, SyncTrigger
from tests.fixtures.processes import free_port

pytestmark = pytest.mark.redis


async def test_after_a_restart_the_next_booking_and_signal_go_through_redis(own_redis, caplog) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    limiter = RedisRateLimiter(limiter_redis(own_redis.url), 1000, headroom=1.0, sleep=record)
    bus = RedisEventBus(own_redis.url)
    task = SyncTask.queue("shop-1", "merchant-a", SyncKind.ORDERS, SyncTrigger.MANUAL, datetime.now(UTC))
    try:
        with caplog.at_level("WARNING"):
            # given a booking and a signal sent through Redis, their connections then idle in the pools
            await limiter.acquire(("app", "shop-restart"))
            await bus.task_changed(task)
            # when Redis restarts
            own_redis.restart()
            # then the next booking and signal reconnect and go through: no fallback, no lost signal
            await limiter.acquire(("app", "shop-restart"))
            await bus.task_changed(task)
    finally:
        await limiter.aclose()
        await bus.aclose()
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []


async def test_after_a_restart_the_next_readiness_check_passes(own_redis, sqlite_url) -> None:
    db = Database(sqlite_url)
    probe = ReadinessProbe(db, own_redis.url)
    try:
        # given a process found ready, its Redis connection then idle
        assert await probe.check() == Readiness()
        # when Redis restarts, then the next check reconnects: Redis is not reported degraded (nor alerted on)
        own_redis.restart()
        assert await probe.check() == Readiness()
    finally:
        await probe.aclose()
        await db.dispose()


async def test_signals_lost_while_redis_is_down_are_one_line_a_minute_per_kind(caplog) -> None:
    # given a process whose Redis does not answer (nothing listens on its port)
    clock = [0.0]
    bus = RedisEventBus(f"redis://127.0.0.1:{free_port()}/0", lost_lines=LostSignalLines(clock=lambda: clock[0]))
    task = SyncTask.queue("shop-1", "merchant-a", SyncKind.ORDERS, SyncTrigger.MANUAL, datetime.now(UTC))
    try:
        with caplog.at_level("WARNING", logger="adapters.events"):
            # when an import's pages signal a hundred pool items and its task, and a minute later one more item
            for n in range(100):
                await bus.inventory_item_changed(f"item-{n}", "merchant-a")
            await bus.task_changed(task)
            clock[0] = 60.0
            await bus.inventory_item_changed("item-100", "merchant-a")
    finally:
        await bus.aclose()
    # then each kind is one line a minute, the next one saying how many were left out (a 15 s Redis restart during
    # an import logged ~1,500 identical lines)
    re_read = "subscribers will re-read on their timeout (this line again in 60 s at most"
    assert [r.getMessage() for r in caplog.records if r.name == "adapters.events"] == [
        f"could not publish an inventory item signal; {re_read})",
        f"could not publish a sync task signal; {re_read})",
        f"could not publish an inventory item signal; {re_read}, 99 more lost since the last one)",
    ]
