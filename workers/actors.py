"""Dramatiq actors: thin, idempotent, JSON-simple arguments; the work is in `domain.services.importer`.

Import through `workers.broker.setup_broker`, never first: the decorators bind to the global broker.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from adapters.config import Settings
from adapters.logs import log_context
from domain.errors import DomainError
from domain.ports import AuthorizationLostError
from domain.services import importer
from workers.broker import SYNC_QUEUE
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
    with log_context(task_id=task_id):
        async with Resources.of(run_sync_task.broker).serving() as resources:
            await importer.run_sync_task(task_id, resources.sync)


ACTORS: tuple[dramatiq.Actor[..., Any], ...] = (run_sync_task,)


def bind(broker: dramatiq.Broker, settings: Settings) -> None:
    """Declare the actors on `broker` (tests and the embedded mode may build several brokers) and tune them."""
    for actor in ACTORS:
        if actor.broker is not broker:
            actor.broker = broker
            broker.declare_actor(actor)
        actor.options.update(
            max_retries=settings.sync_max_attempts,
            min_backoff=settings.sync_min_backoff_ms,
            max_backoff=settings.sync_max_backoff_ms,
            time_limit=settings.sync_time_limit_seconds * 1000,
        )
