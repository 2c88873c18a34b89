"""What the API process needs of the worker side: a task queue and an event bus, and how to stop them.

Embedded default (no broker URL): a StubBroker with a worker pool inside this process and an in-process bus,
so subscriptions see the pool's progress directly. Production (Redis): the API only enqueues; workers are other
processes, and progress arrives through Redis pub/sub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from adapters.config import Settings
from adapters.events import InProcessEventBus, RedisEventBus
from domain.ports import TaskQueue
from workers.broker import setup_broker
from workers.embedded import EmbeddedWorker


async def _nothing() -> None:
    return None


@dataclass
class ApiRuntime:
    queue: TaskQueue
    events: Any  # InProcessEventBus | RedisEventBus: publish task changes, subscribe(merchant_id)
    stop: Callable[[], Awaitable[None]]
    # Stop the in-process worker pool, if any, before the server stops listening (its imports may call it, as
    # the embedded sandbox); idempotent, and `stop` does it too.
    quiesce: Callable[[], Awaitable[None]] = _nothing


async def start_api_runtime(settings: Settings) -> ApiRuntime:
    if settings.broker_url is None:
        bus = InProcessEventBus()
        worker = EmbeddedWorker(settings, events=bus)
        queue = await asyncio.to_thread(worker.start)  # the worker boots its own event-loop thread

        async def stop_embedded() -> None:
            await worker.stop()
            await bus.aclose()

        return ApiRuntime(queue=queue, events=bus, stop=stop_embedded, quiesce=worker.stop)

    redis_bus = RedisEventBus(settings.broker_url)
    setup_broker(settings, events=redis_bus)
    from workers.actors import task_queue

    async def stop_redis() -> None:
        await redis_bus.aclose()

    # RedisBroker's send is blocking network I/O: the queue runs it off the event loop.
    return ApiRuntime(queue=task_queue(settings), events=redis_bus, stop=stop_redis)
