"""Dramatiq actors: thin, idempotent, JSON-simple arguments; the work is in `domain.services`.

Import through `workers.broker.setup_broker`, never first: the decorators bind to the global broker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dramatiq

from adapters.config import Settings
from adapters.logs import log_context
from domain.errors import DomainError
from domain.ports import AuthorizationLostError, GatewayRefusedError
from domain.services import importer, polling, tokens
from domain.sync import SyncKind
from workers.broker import SYNC_QUEUE
from workers.resources import Resources

# The engine enforces SHOPBRIDGE_SYNC_TIME_LIMIT itself (`SyncOptions.time_limit_seconds`), on the event loop, and
# records TIME_LIMIT_EXCEEDED. Dramatiq's own TimeLimit stays a backstop a little later: it interrupts the worker
# thread, which for an async actor only cancels the coroutine's future, with nothing recorded.
TIME_LIMIT_GRACE_MS = 30_000


@dramatiq.actor(
    queue_name=SYNC_QUEUE,
    # Defaults only; `bind` sets them from the settings. Retries resume from the checkpoint; the engine counts
    # attempts in the database and fails the task on the last one, so Dramatiq gets one spare retry.
    max_retries=5,
    min_backoff=10_000,
    max_backoff=600_000,
    time_limit=2 * 3600 * 1000 + TIME_LIMIT_GRACE_MS,  # one attempt of a 100,000-order import fits with room to spare
    # Retrying cannot fix a rule, a lost authorization or a refusal (the engine fails those tasks itself anyway).
    throws=(DomainError, AuthorizationLostError, GatewayRefusedError),
)
async def run_sync_task(task_id: str) -> None:
    """Run or resume sync task `task_id`; a finished or deleted task is a no-op."""
    with log_context(task_id=task_id):
        async with Resources.of(run_sync_task.broker).serving() as resources:
            await importer.run_sync_task(task_id, resources.sync)


@dramatiq.actor(queue_name=SYNC_QUEUE, max_retries=3, min_backoff=1_000, max_backoff=30_000, time_limit=60_000)
async def poll_shop(shop_id: str, kind: str, scheduled_at: str | None = None) -> None:
    """Queue the shop's poll of `kind` for the tick `scheduled_at` (ISO 8601) and enqueue it; a duplicate, a
    shop that cannot sync or an active task of the kind make it a no-op."""
    tick = datetime.fromisoformat(scheduled_at) if scheduled_at else None
    async with Resources.of(poll_shop.broker).serving() as resources:
        deps = resources.sync
        await polling.start_poll(
            deps.uow_factory, resources.queue, deps.events, deps.clock, resources.poll, shop_id, SyncKind(kind), tick
        )


@dramatiq.actor(
    queue_name=SYNC_QUEUE,
    max_retries=3,
    min_backoff=5_000,
    max_backoff=60_000,
    time_limit=60_000,
    throws=(DomainError,),
)
async def refresh_shop_tokens(shop_id: str) -> None:
    """Refresh the shop's access token if it is (still) due; a dead refresh token revokes the shop."""
    async with Resources.of(refresh_shop_tokens.broker).serving() as resources:
        deps = resources.sync
        await tokens.refresh_shop_tokens(deps.uow_factory, resources.refresh, deps.events, deps.clock, shop_id)


ACTORS: tuple[dramatiq.Actor[..., Any], ...] = (run_sync_task, poll_shop, refresh_shop_tokens)


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
        time_limit=settings.sync_time_limit_seconds * 1000 + TIME_LIMIT_GRACE_MS,
    )
