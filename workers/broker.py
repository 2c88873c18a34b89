"""`setup_broker(settings)`: the Dramatiq broker of this process, with its middleware and our actors bound to it.

Redis when `settings.broker_url` is set, else the in-memory StubBroker (the embedded default). Both get the
`AsyncIO` middleware (our actors are `async def`) and `Resources` (the per-process composition root). Call it
before anything imports `workers.actors` on its own: Dramatiq binds actors to the global broker at import.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from adapters.config import Settings
from domain.ports import EventPublisher
from workers.resources import Resources

SYNC_QUEUE = "sync"  # the queue of sync task messages
LIVE_QUEUE = "live"  # webhook processing and registration: short messages, kept apart from hour-long imports


def setup_broker(settings: Settings, *, events: EventPublisher | None = None) -> dramatiq.Broker:
    """A new broker, made the global one, with `workers.actors` declared on it (re-bound if already imported).

    `events`: the bus the worker publishes on; the embedded mode passes the API's in-process bus.
    """
    broker: dramatiq.Broker
    if settings.broker_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.broker_url,
            heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
            maintenance_chance=settings.broker_maintenance_chance,
        )
    else:
        broker = StubBroker()
    broker.add_middleware(AsyncIO())
    resources = Resources(settings, events=events)
    broker.add_middleware(resources)
    dramatiq.set_broker(broker)

    from workers import actors  # only now: its decorators need the broker set above

    actors.bind(broker, settings)
    resources.actor = actors.run_sync_task
    resources.queue_factory = lambda: actors.task_queue(settings)
    return broker
