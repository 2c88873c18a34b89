"""`subscribe_shop_activity` (adapters/events.py), what `shopUpdated` waits on: one slot fed by the shop signals and
by the task signals, each naming a shop (a task's: its own), on both buses; over Redis, a task signal that names no
shop (a publisher that did not say it) tells its followers to re-read (an empty set)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis

from adapters.events import CHANNEL, InProcessEventBus, RedisEventBus
from domain.sync import SyncKind, SyncTask, SyncTrigger

WAIT = 10.0  # seconds: a deadline, not a delay (a signal is there in milliseconds)


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "in-process":
        yield InProcessEventBus()
        return
    redis_bus = RedisEventBus(request.getfixturevalue("redis_server").url)
    try:
        yield redis_bus
    finally:
        await redis_bus.aclose()


async def test_a_shops_activity_names_the_shop_of_each_task_signal_and_each_shop_signal(bus: Any) -> None:
    task = SyncTask.queue("shop-1", "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, datetime.now(UTC))
    async with bus.subscribe_shop_activity("m1") as signals, bus.subscribe("m1") as task_signals:
        if isinstance(bus, RedisEventBus):  # connected, it tells everyone to re-read what it may have missed
            await bus.wait_listening()
            assert (await signals.wait(WAIT), await task_signals.wait(WAIT)) == (set(), set())
        # when a task of shop-1 changes, then the activity names shop-1, the task signals the task
        await bus.task_changed(task)
        assert await signals.wait(WAIT) == {"shop-1"}
        assert await task_signals.wait(WAIT) == {task.id}
        # and a shop signal names its shop, in the same slot
        await bus.shop_changed("shop-2", "m1")
        assert await signals.wait(WAIT) == {"shop-2"}
        # and another merchant's signals are not heard (the next one of m1 comes alone)
        await bus.task_changed(SyncTask.queue("shop-3", "m2", SyncKind.ORDERS, SyncTrigger.MANUAL, datetime.now(UTC)))
        await bus.shop_changed("shop-3", "m2")
        await bus.shop_changed("shop-4", "m1")
        assert await signals.wait(WAIT) == {"shop-4"}


@pytest.mark.redis
async def test_a_task_signal_naming_no_shop_tells_the_followers_of_shops_to_re_read(redis_server: Any) -> None:
    bus = RedisEventBus(redis_server.url)
    publisher = aioredis.Redis.from_url(redis_server.url)
    try:
        async with bus.subscribe_shop_activity("m1") as signals:
            await bus.wait_listening()
            assert await signals.wait(WAIT) == set()  # connected: re-read what may have been missed
            # when a publisher sends a task signal without its shop
            await publisher.publish(CHANNEL, json.dumps({"task_id": "task-1", "merchant_id": "m1"}))
            # then the followers of the merchant's shops are told that names may be lost: re-read (an empty set)
            assert await signals.wait(WAIT) == set()
    finally:
        await publisher.aclose()
        await bus.aclose()
