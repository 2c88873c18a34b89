"""`setup_broker(settings)`: the Dramatiq broker of this process, with its middleware and our actors bound to it.

Redis when `settings.broker_url` is set, else the in-memory `EmbeddedBroker` (Dramatiq's StubBroker, mended; the
embedded default). Both get the `AsyncIO` middleware (our actors are `async def`), `UnknownKeywordsIgnored` (a
keyword argument an actor does not take, a newer release's, is dropped), `Resources` (the per-process
composition root, publishing through `MeteredEvents`) and `Observability` (closes a bus made here; retires a worker
process's metrics). Call it before anything imports `workers.actors` on its own: Dramatiq binds actors to the global
broker at import.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.brokers.stub import StubBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import AsyncIO, Retries

from adapters.config import Settings
from adapters.events import InProcessEventBus, RedisEventBus
from adapters.metrics import MeteredEvents
from adapters.queue import BROKER_NAMESPACE
from domain.ports import EventPublisher
from workers.keywords import UnknownKeywordsIgnored
from workers.observability import Observability
from workers.outages import OutlastingRetries
from workers.queues import LIVE_QUEUE as LIVE_QUEUE  # re-exported: importers of the names predate workers.queues
from workers.queues import SYNC_QUEUE as SYNC_QUEUE
from workers.resources import Resources
from workers.slots import ThreadSlots

log = logging.getLogger(__name__)


class EmbeddedBroker(StubBroker):
    """Dramatiq's in-memory `StubBroker`, whose worker consumes each delay queue as a delay queue.

    `StubBroker.declare_queue` keeps a queue's delay queue (`live.DQ`) among its ordinary queues, so a `Worker`
    added its consumer as an ordinary one first, with an ordinary queue's prefetch (2 x worker threads: 8 at the
    embedded pool's 4) instead of a delay queue's (1,000 x threads), and the delay consumer was then skipped as
    already there. A delayed message holds its prefetch slot until its eta: 8 far-off ones (a push's `push_later`
    ~630 s ahead) blocked every later delayed message of the queue (a webhook run sent again in 1 s for a live
    slot, a retry) until one came due: events stayed PENDING 24-68 s and shops showed stock the pool no longer had
    (try-out pool51, 2026-12-05). Dramatiq's Redis broker keeps the two apart (its `queues` holds ordinary queues
    only), as this
    does; RabbitMQ's had the same fault (Bogdanp/dramatiq#546).
    """

    def get_declared_queues(self) -> set[str]:
        """The ordinary queues only (`get_declared_delay_queues` lists the delay queues)."""
        return set(self.queues) - self.delay_queues


class _Consumer(_RedisConsumer):
    """Dramatiq's Redis consumer, whose `requeue` says a lost connection as its `ack` and `nack` do, and whose `ack`
    and `nack` give up on Redis once the worker is shutting down (`WorkerRedisBroker`).

    The `sync` queue's consumer also counts the process's running imports (`running_imports`) among the messages it
    holds: after a lost connection Dramatiq's consumer thread makes a new consumer, which knows nothing of the
    imports its predecessor fetched and which still run, and would fetch as many again (`WorkerRedisBroker.consume`).
    """

    broker: WorkerRedisBroker
    running_imports: ThreadSlots | None = None  # set on the `sync` queue's consumer only

    @property
    def outstanding_message_count(self) -> int:
        """The messages held: fetched and not acknowledged yet (Dramatiq's count), or running imports if more."""
        held = int(super().outstanding_message_count)
        return held if self.running_imports is None else max(held, self.running_imports.taken)

    def requeue(self, messages: Any) -> None:
        """Hand `messages` back to the queue; Redis unreachable raises Dramatiq's `ConnectionClosed`."""
        try:
            super().requeue(messages)  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError) as lost:
            raise ConnectionClosed(lost) from None  # type: ignore[no-untyped-call]

    def ack(self, message: Any) -> None:
        """Acknowledge `message`; Redis unreachable raises `ConnectionClosed`, or, the worker shutting down, is one
        WARNING line."""
        self._settle(super().ack, message, "acknowledgement")

    def nack(self, message: Any) -> None:
        """Reject `message` (to the dead-letter queue); as `ack` when Redis is unreachable."""
        self._settle(super().nack, message, "rejection")

    def _settle(self, settle: Any, message: Any, what: str) -> None:
        try:
            settle(message)
        except ConnectionClosed as lost:
            if not self.broker.stopping.is_set():
                raise  # Dramatiq's consumer thread tries it again every 5 s until Redis answers
            log.warning(
                "the %s of %s is given up: the worker is shutting down and the queue is unavailable (%s); Redis, if it "
                "kept its data, hands the message back to its queue once this worker's heartbeat is older than "
                "SHOPBRIDGE_BROKER_HEARTBEAT_TIMEOUT_MS, and it runs again (README, Operations)",
                what, message, lost,
            )  # fmt: skip


class WorkerRedisBroker(RedisBroker):
    """Dramatiq's Redis broker, whose consumer threads outlive a Redis outage.

    Dramatiq 2.2's consumer thread moves its due delayed messages with `broker.enqueue`, which lets Redis's own
    `ConnectionError` through: the thread logs "Consumer encountered an unexpected error" and closes its consumer,
    whose `requeue` of the delayed messages it still holds raised Redis's error again, outside every handler: the
    thread died ("Exception in thread"), and its process moved no delayed message of that queue again (retries, a
    webhook run sent again in 1 s, `push_later`) until it was restarted (try-out verify51, 2026-12-05, a 30 s Redis
    outage). Here `requeue` raises `ConnectionClosed`, which the thread's close expects, and the thread restarts its
    consumer as after any lost connection (the delayed messages it held stay unacknowledged in Redis, as after any
    lost connection of Dramatiq's: the database sweeps send their work again).

    The worker's shutdown does not wait for Redis either: Dramatiq's consumer thread tries a message's `ack` (or
    `nack`) every 5 s until Redis answers, holding its worker thread, and so the shutdown, for the whole shutdown
    timeout (`SHOPBRIDGE_WORKER_SHUTDOWN_TIMEOUT`, 30 s) during an outage; the process then exited under it, the
    message unacknowledged all the same. From the shutdown on (`stopping`, set as Dramatiq announces it) such an
    `ack` or `nack` is given up at once in one WARNING line: the message stays in this worker's acknowledgement set
    in Redis, handed back to its queue once the worker's heartbeat is stale (`adapters/dead_workers.py`, Dramatiq's
    own requeue check), as Dramatiq's own line says of a worker restarted meanwhile.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self.stopping = threading.Event()  # set from the worker's shutdown until its next boot

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _Consumer

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> _Consumer:
        """Dramatiq's consumer of `queue_name`; the `sync` queue's fetches no more messages than the process has
        import slots (`Resources.import_slots`, sized at the worker's boot, before Dramatiq adds its consumers).

        Dramatiq's `Worker` gives every ordinary queue's consumer one prefetch, 2 x worker threads
        (`Worker.queue_prefetch`), counting the messages running and those waiting in the process's in-memory work
        queue alike (`_RedisConsumer.outstanding_message_count`), and moves fetched messages into the process's
        acknowledgement set in Redis, where no other process can take them. A process whose import slots were all
        taken so held up to 2 x threads - slots imports that could not start there, while another process had a free
        slot: they waited for its busy threads (an import finding no slot is sent again by the thread that runs it,
        `workers.actors.run_sync_task`), and its consumer fetched them again once they came back to the queue
        (try-out scale52: a small shop's first import waited 48-62 s behind a big one, another worker idle). With
        the prefetch at the slots, every `sync` message a process holds is one it can run now (a running import's
        message counts until it is acknowledged, after its slot is given back); the others stay in the queue in Redis
        (`shopbridge_broker_queue_messages`) for any process with a free slot. Delay queues (`sync.DQ`: an import
        sent again, a retry) keep Dramatiq's prefetch: their consumer only moves a message to its queue when due.
        The polls' requests and token refreshes are `live` messages (`workers.actors.poll_shop`), which the cap never
        holds back: on the `sync` queue they waited behind every import while the slots were taken (review52b).
        """
        consumer = cast(_Consumer, super().consume(queue_name, prefetch, timeout))
        slots = Resources.of(self).import_slots if queue_name == SYNC_QUEUE else None
        if slots is not None and slots.size is not None:
            consumer.prefetch = min(prefetch, slots.size)
            consumer.running_imports = slots
        return consumer

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        """Dramatiq's `emit_before`, noting first whether a worker on this broker is booting or shutting down."""
        if signal == "worker_boot":
            self.stopping.clear()
        elif signal == "worker_shutdown":
            self.stopping.set()
        super().emit_before(signal, *args, **kwargs)


def setup_broker(settings: Settings, *, events: EventPublisher | None = None) -> dramatiq.Broker:
    """A new broker, made the global one, with `workers.actors` declared on it (re-bound if already imported).

    `events`: the bus the worker publishes on; the embedded mode passes the API's in-process bus.
    """
    broker: dramatiq.Broker
    if settings.broker_url:
        broker = WorkerRedisBroker(
            url=settings.broker_url,
            namespace=BROKER_NAMESPACE,
            heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
            maintenance_chance=settings.broker_maintenance_chance,
        )
    else:
        broker = EmbeddedBroker()
    # Dramatiq's Retries loses a retry whose send finds Redis down (`workers.outages.OutlastingRetries`).
    broker.middleware[:] = [OutlastingRetries.replacing(m) if type(m) is Retries else m for m in broker.middleware]
    broker.add_middleware(AsyncIO())
    # Every actor ignores a keyword it does not take (a newer release's, in a rolling deploy): `workers.keywords`.
    broker.add_middleware(UnknownKeywordsIgnored())
    own_bus: InProcessEventBus | RedisEventBus | None = None
    if events is None:
        own_bus = events = RedisEventBus(settings.broker_url) if settings.broker_url else InProcessEventBus()
    # The actors publish through MeteredEvents: records imported and task durations become metrics.
    resources = Resources(settings, events=MeteredEvents(events))
    broker.add_middleware(resources)
    broker.add_middleware(Observability(settings, own_bus.aclose if own_bus is not None else None))
    dramatiq.set_broker(broker)

    from workers import actors  # only now: its decorators need the broker set above

    actors.bind(broker, settings)
    resources.poll_actor = actors.poll_shop
    resources.refresh_actor = actors.refresh_shop_tokens
    resources.reconcile_actor = actors.reconcile_inventory
    resources.queue_factory = lambda: actors.task_queue(settings)
    return broker
