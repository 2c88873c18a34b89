"""Per-(actor, argument) "a message is queued and not started yet" markers, kept where the broker keeps its queue.

Coalescing a shop's `push_inventory` messages (`adapters.queue.send_coalesced`): a run reads the shop's dirty outbox
rows when it starts, so a message sent while another of the same shop waits unstarted would push nothing that one
will not. The sender sets the marker before it sends and sends only if it was not set (`claim`); the actor clears
it first thing in its run (`started`), before it reads anything; so a change committed after that read is sent a
message of its own, and one committed before it is in the read. Never a lost push: a marker with no message behind
it (the send failed and so did its `release`; a process killed between its mark and its send; a message dropped
unstarted) holds back the sends of its key for `ORPHANED_AFTER_SECONDS` at most: a send finding a mark that old
sends anyway and marks again. The scheduler's tick re-sends every shop whose outbox rows are due
(`domain.services.inventory_reconcile`).
A shop's `process_webhook_events` messages alike (webhook pushes, `webhookEventReplay`, the stale-event sweep): its
run reads the shop's PENDING events once it may run (`workers.actors._process_webhook_events`), and the mark is
cleared just before; a mark with no message behind it is passed over the same way, and the sweep re-sends every
shop whose events are still PENDING (`domain.services.intake.resume_pending_events`).

Redis broker: a key `{namespace}:pending:{actor}:{argument}` (set by one script, `_CLAIM`; `DEL`), shared by every
process of the deployment, lost with the queue when Redis restarts empty. Any other broker (the embedded
StubBroker): a dict in this process (the only one to send to or consume that broker's queue), passed over at the
same age.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.per_broker import PerBroker

log = logging.getLogger(__name__)

PENDING_TTL_SECONDS = 60.0
"""How long a Redis marker lives (seconds), unless a run's start or a send's failure clears it first."""

ORPHANED_AFTER_SECONDS = 10.0
"""The age (seconds) past which a marker holds back no send: a send finding it sends anyway and marks again. A message
that waits keeps its marker young (`rearm`: sent back for a live slot, a shutdown or the schema gate, every second at
most; waiting for its shop's turn, every `REARM_SECONDS`), and a run begins within milliseconds of its message
otherwise, so a marker this old has most likely no message behind it: an API process killed between the mark and
the send (a try-out's `kill -9` during a webhook flood left 204 stored pushes PENDING for 70 s, every send held back
until the 60 s marker lapsed), a message dropped unstarted. A message queued this long behind others (a backlog of
the `live` queue, not yet delivered) lets one more through per such age: the runs are idempotent, and the extra one
finds its work done or does the newer work."""

REARM_SECONDS = ORPHANED_AFTER_SECONDS / 2
"""How often (seconds) a delivered message waiting for its shop's turn renews its marker (`rearm`)."""

# SET NX, or, over a marker older than ARGV[2] ms (its remaining life below PX - that), SET again; 1 if set. One
# round trip, atomic: two senders finding one old marker send one message, not two.
_CLAIM = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 1 end
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < tonumber(ARGV[1]) - tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return 1
end
return 0
"""


class PendingMessages:
    """The markers of one broker. Methods are blocking on Redis (call them in a thread); `RedisError` propagates."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._redis = broker if isinstance(broker, RedisBroker) else None
        self._claim = self._redis.client.register_script(_CLAIM) if self._redis is not None else None
        self._local: dict[str, float] = {}  # key -> when its marker was set (`time.monotonic()`)
        self._lock = threading.Lock()

    @property
    def blocking(self) -> bool:
        """Whether the methods are network calls (Redis), to run outside the event loop."""
        return self._redis is not None

    def _key(self, actor_name: str, argument: str) -> str:
        namespace = self._redis.namespace if self._redis is not None else ""
        return f"{namespace}:pending:{actor_name}:{argument}"

    def claim(self, actor_name: str, argument: str) -> bool:
        """Set the marker of (`actor_name`, `argument`); True if it was not set, or set over `ORPHANED_AFTER_SECONDS`
        ago: the caller sends the message (or `release`s on failure). False: a message of the key is queued and not
        started; it covers the caller."""
        key = self._key(actor_name, argument)
        if self._claim is not None:
            ttl_ms, orphaned_ms = int(PENDING_TTL_SECONDS * 1000), int(ORPHANED_AFTER_SECONDS * 1000)
            return bool(self._claim(keys=[key], args=[ttl_ms, orphaned_ms]))
        now = time.monotonic()
        with self._lock:
            set_at = self._local.get(key)
            if set_at is not None and now - set_at < ORPHANED_AFTER_SECONDS:
                return False
            self._local[key] = now
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

    def rearm(self, actor_name: str, argument: str) -> None:
        """Make the marker of (`actor_name`, `argument`) young again, if it is set: a message of the key still waits
        unstarted (sent back for a later try, or waiting for its shop's turn), and covers the sends of its key for
        another `ORPHANED_AFTER_SECONDS`; without it the marker aged, and each send after that age sent one more
        message while the first waited (a reviewer: one more per 10 s per shop while every live slot was taken)."""
        key = self._key(actor_name, argument)
        if self._redis is not None:
            self._redis.client.pexpire(key, int(PENDING_TTL_SECONDS * 1000))  # set: a new age; absent: nothing
            return
        with self._lock:
            if key in self._local:
                self._local[key] = time.monotonic()


_markers = PerBroker(PendingMessages)


def pending_messages(broker: dramatiq.Broker) -> PendingMessages:
    """The broker's markers, made on first use: one per broker (so per process, and per test)."""
    return _markers.of(broker)


async def run_started(broker: dramatiq.Broker, actor_name: str, argument: str) -> None:
    """Clear the marker of (`actor_name`, `argument`) as the actor's run begins, before it reads its work (in a
    thread on Redis). Redis unavailable is one WARNING line and the run goes on: the marker lapses within
    `ORPHANED_AFTER_SECONDS` as far as sends go, after which the next send (a change, the scheduler's tick) goes
    through."""
    try:
        await _mark(broker, PendingMessages.started, actor_name, argument)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning(
            "could not clear the pending mark of %s(%s), Redis unavailable (%s: %s); its sends are held back for up "
            "to %g s, then the next send goes through",
            actor_name, argument, type(exc).__name__, exc, ORPHANED_AFTER_SECONDS,
        )  # fmt: skip


async def still_waiting(broker: dramatiq.Broker, actor_name: str, argument: str) -> None:
    """`rearm` the marker of (`actor_name`, `argument`) (in a thread on Redis): its message still waits unstarted.
    Redis unavailable is one DEBUG line: a marker that ages lets one more message through, which is harmless."""
    try:
        await _mark(broker, PendingMessages.rearm, actor_name, argument)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.debug("could not renew the pending mark of %s(%s): %s", actor_name, argument, exc)


async def _mark(
    broker: dramatiq.Broker, method: Callable[[PendingMessages, str, str], None], actor_name: str, argument: str
) -> None:
    """`method` of the broker's markers on (`actor_name`, `argument`): in a thread on Redis (a network call), inline
    on the embedded broker. Redis's errors propagate."""
    markers = pending_messages(broker)
    if markers.blocking:
        await asyncio.to_thread(method, markers, actor_name, argument)
    else:
        method(markers, actor_name, argument)
