"""Dramatiq actors: thin, idempotent, JSON-simple arguments; the work is in `domain.services`.

Import through `workers.broker.setup_broker`, never first: the decorators bind to the global broker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq

from adapters.config import Settings
from adapters.queue import DramatiqTaskQueue
from domain.errors import DomainError
from domain.ports import AuthorizationLostError
from domain.services import importer, intake, webhook_registration
from workers.broker import LIVE_QUEUE, SYNC_QUEUE
from workers.resources import Resources


@dramatiq.actor(
    queue_name=SYNC_QUEUE,
    # Defaults only; `bind` sets them from the settings. Retries resume from the checkpoint; the engine counts
    # attempts in the database and fails the task on the last one, so Dramatiq gets one spare retry.
    max_retries=5,
    min_backoff=10_000,
    max_backoff=600_000,
    time_limit=2 * 3600 * 1000,  # one attempt of a 100,000-order import fits with room to spare
    throws=(DomainError, AuthorizationLostError),  # retrying cannot fix a rule or a lost authorization
)
async def run_sync_task(task_id: str) -> None:
    """Run or resume sync task `task_id`; a finished or deleted task is a no-op."""
    resources = await Resources.of(run_sync_task.broker).get()
    await importer.run_sync_task(task_id, resources.sync)


@dramatiq.actor(
    queue_name=LIVE_QUEUE,
    # TikTok unavailable: events stay PENDING and the message is retried; 10 tries over ~an hour, then the next
    # event of the shop (or a replay) picks them up again.
    max_retries=10,
    min_backoff=1_000,
    max_backoff=600_000,
    time_limit=5 * 60 * 1000,  # 500 events: at most 10 order calls and a few hundred product calls
    throws=(DomainError,),
)
async def process_webhook_events(shop_id: str) -> None:
    """Process shop `shop_id`'s pending webhook events; nothing pending (or no such shop) is a no-op."""
    resources = await Resources.of(process_webhook_events.broker).get()
    # A burst enqueues one message per event: runs of one shop take turns in this process (all actors share one
    # event loop), so the first run takes the whole batch and the next ones find little or nothing left. Across
    # processes two runs may overlap; that costs duplicate fetches, never wrong data.
    lock = _shop_locks.setdefault(shop_id, asyncio.Lock())
    try:
        async with lock:
            await intake.process_shop_events(resources.intake, shop_id)
    finally:
        if not lock.locked() and _shop_locks.get(shop_id) is lock:
            del _shop_locks[shop_id]


_shop_locks: dict[str, asyncio.Lock] = {}


@dramatiq.actor(
    queue_name=LIVE_QUEUE,
    max_retries=5,  # each failure is shown on the shop (`webhook_registration_error`) until one succeeds
    min_backoff=10_000,
    max_backoff=3_600_000,
    time_limit=60 * 1000,
    throws=(DomainError, AuthorizationLostError),
)
async def register_webhooks(shop_id: str) -> None:
    """Register `SHOPBRIDGE_PUBLIC_URL/webhooks/tiktok` for shop `shop_id` with TikTok's Event API; idempotent."""
    resources = await Resources.of(register_webhooks.broker).get()
    deps = resources.intake
    await webhook_registration.register_shop_webhooks(
        deps.uow_factory, deps.shop_api, deps.clock, shop_id, resources.webhook_url
    )


ACTORS: tuple[dramatiq.Actor[..., Any], ...] = (run_sync_task, process_webhook_events, register_webhooks)


def bind(broker: dramatiq.Broker, settings: Settings) -> None:
    """Declare the actors on `broker` (tests and the embedded mode may build several brokers) and tune them."""
    for actor in ACTORS:
        if actor.broker is not broker:
            actor.broker = broker
            broker.declare_actor(actor)
    run_sync_task.options.update(
        max_retries=settings.sync_max_attempts,
        min_backoff=settings.sync_min_backoff_ms,
        max_backoff=settings.sync_max_backoff_ms,
        time_limit=settings.sync_time_limit_seconds * 1000,
    )
    # Registration retries back off like imports do (tests shorten both through the same settings).
    register_webhooks.options.update(min_backoff=settings.sync_min_backoff_ms)


def task_queue(settings: Settings) -> DramatiqTaskQueue:
    """The queue over these actors: blocking sends on Redis; no registration when the address is app-wide."""
    return DramatiqTaskQueue(
        run_sync_task,
        blocking=settings.broker_url is not None,
        webhook_events_actor=process_webhook_events,
        webhook_registration_actor=None if settings.webhooks_app_wide else register_webhooks,
    )
