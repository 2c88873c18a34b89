"""Per-(actor, argument) "a message is queued and not started yet" markers, kept where the broker keeps its queue.

Coalescing a shop's `push_inventory` messages (`adapters.queue.send_coalesced`): a run reads the shop's dirty outbox
rows when it starts, so a message sent while another of the same shop waits unstarted would push nothing that one
will not. The sender sets the marker before it sends and sends only if it was not set (`claim`); the actor clears
it first thing in its run (`started`), before it reads anything; so a change committed after that read is sent a
message of its own, and one committed before it is in the read. Never a lost push: a marker with no message behind
it (the send failed and so did its `release`; a message dropped unstarted) lapses after `PENDING_TTL_SECONDS`, and
the scheduler's tick re-sends every shop whose outbox rows are due (`domain.services.inventory_reconcile`).
A shop's `process_webhook_events` messages alike (webhook pushes, `webhookEventReplay`, the stale-event sweep): its
run reads the shop's PENDING events once it may run (`workers.actors._process_webhook_events`), and the mark is
cleared just before; a mark with no message behind it lapses the same way, and the sweep re-sends every shop whose
events are still PENDING (`domain.services.intake.resume_pending_events`).

Redis broker: a key `{namespace}:pending:{actor}:{argument}` (`SET NX PX`, `DEL`), shared by every process of the
deployment, lost with the queue when Redis restarts empty. Any other broker (the embedded StubBroker): a dict in this
process (the only one to send to or consume that broker's queue), with the same lapse.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.per_broker import PerBroker

log = logging.getLogger(__name__)

PENDING_TTL_SECONDS = 60.0
"""How long a Redis marker lives (seconds): the longest a marker with no message behind it can hold back the sends
of its key (then the scheduler's next tick sends one). A message still queued after it (a backlog of the `live`
queue) lets one more message through per lapse: extra runs find their rows pushed, which is harmless."""


class PendingMessages:
    """The markers of one broker. Methods are blocking on Redis (call them in a thread); `RedisError` propagates."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._redis = broker if isinstance(broker, RedisBroker) else None
        self._local: dict[str, float] = {}  # key -> when its marker lapses (`time.monotonic()`)
        self._lock = threading.Lock()

    @property
    def blocking(self) -> bool:
        """Whether the methods are network calls (Redis), to run outside the event loop."""
        return self._redis is not None

    def _key(self, actor_name: str, argument: str) -> str:
        namespace = self._redis.namespace if self._redis is not None else ""
        return f"{namespace}:pending:{actor_name}:{argument}"

    def claim(self, actor_name: str, argument: str) -> bool:
        """Set the marker of (`actor_name`, `argument`); True if it was not set: the caller sends the message (or
        `release`s on failure). False: a message of the key is queued and not started; it covers the caller."""
        key = self._key(actor_name, argument)
        if self._redis is not None:
            return bool(self._redis.client.set(key, b"1", nx=True, px=int(PENDING_TTL_SECONDS * 1000)))
        now = time.monotonic()
        with self._lock:
            if self._local.get(key, now) > now:
                return False
            self._local[key] = now + PENDING_TTL_SECONDS
            return True

    def release(self, actor_name: str, argument: str) -> None:
        """Clear the marker: the message a `claim` allowed was not sent, or its run has started (`started`)."""
        key = self._key(actor_name, argument)
        if self._redis is not None:
            self._redis.client.delete(key)
            return
        with self._lock:
            self._local.pop(key, None)

    started = release  # a run of the key begins: later changes need a message of their own


_markers = PerBroker(PendingMessages)


def pending_messages(broker: dramatiq.Broker) -> PendingMessages:
    """The broker's markers, made on first use: one per broker (so per process, and per test)."""
    return _markers.of(broker)


async def run_started(broker: dramatiq.Broker, actor_name: str, argument: str) -> None:
    """Clear the marker of (`actor_name`, `argument`) as the actor's run begins, before it reads its work (in a
    thread on Redis). Redis unavailable is one WARNING line and the run goes on: the marker lapses within
    `PENDING_TTL_SECONDS`, after which the scheduler's tick sends what is still due."""
    markers = pending_messages(broker)
    try:
        if markers.blocking:
            await asyncio.to_thread(markers.started, actor_name, argument)
        else:
            markers.started(actor_name, argument)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning(
            "could not clear the pending mark of %s(%s), Redis unavailable (%s: %s); its sends are held back for up "
            "to %g s, then the scheduler's tick sends what is due",
            actor_name, argument, type(exc).__name__, exc, PENDING_TTL_SECONDS,
        )  # fmt: skip
