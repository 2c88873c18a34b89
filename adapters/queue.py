"""Dramatiq senders of the domain's queue ports: `DramatiqTaskQueue` (`TaskQueue`: sync tasks, a shop's webhook
events, webhook registration, inventory pushes and reconciles) and `DramatiqScheduledWork` (`ScheduledWork`: polls
and token refreshes)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import dramatiq
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name
from dramatiq.errors import DecodeError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adapters.dead_workers import requeue_dead_workers_messages
from adapters.outage_window import OutageWindow
from adapters.pending_messages import pending_messages
from adapters.per_broker import PerBroker
from domain.ports import QueueUnavailableError
from domain.sync import SyncKind

_T = TypeVar("_T")

BROKER_NAMESPACE = "dramatiq"
"""The prefix of every Redis key of our broker (`RedisBroker(namespace=...)`, Dramatiq's default): the queue of
`queue` is the list `{BROKER_NAMESPACE}:{queue}`, its delayed retries `{BROKER_NAMESPACE}:{queue}.DQ`. Not a setting:
the broker (`workers.broker`) and the queue depths `/metrics` reads (`adapters.readiness`) both take it from here."""


class DramatiqTaskQueue:
    """Sends `actor(id)`. On Redis `send` is a blocking network call, so it runs in a thread.

    `blocking=False` (the in-memory StubBroker) sends inline: it only appends to an in-process queue.
    `webhook_registration_actor=None` makes registration a no-op (the address is configured app-wide).
    """

    def __init__(
        self,
        actor: dramatiq.Actor[[str], Any],
        *,
        blocking: bool = True,
        webhook_events_actor: dramatiq.Actor[[str], Any] | None = None,
        webhook_registration_actor: dramatiq.Actor[[str], Any] | None = None,
        inventory_push_actor: dramatiq.Actor[[str], Any] | None = None,
        inventory_reconcile_actor: dramatiq.Actor[[str], Any] | None = None,
    ) -> None:
        self._actor = actor
        self._blocking = blocking
        self._webhook_events_actor = webhook_events_actor
        self._webhook_registration_actor = webhook_registration_actor
        self._inventory_push_actor = inventory_push_actor
        self._inventory_reconcile_actor = inventory_reconcile_actor

    async def enqueue_sync(self, task_id: str, *, after_webhook_registration: bool = False) -> None:
        if after_webhook_registration and self._webhook_registration_actor is not None:
            await self._send_with(self._actor, task_id, {"after_webhook_registration": True})
        else:  # no registration queued (or none at all: the address is app-wide): nothing to wait for
            await self._send(self._actor, task_id)

    async def sync_tasks_with_messages(self) -> set[str] | None:
        """The task ids of every sync message Redis holds (`domain.ports.QueuedMessages`); None on another broker.

        Dramatiq's Redis broker keeps each message's body in the hash `{ns}:{queue}.msgs` (`.DQ.msgs` while delayed
        for a retry) from its send until its ack, so one being run, or fetched by a worker that then died, is there
        too (the workers' sweep hands a dead worker's back to its queue first, `requeue_dead_workers_messages`); a
        restart of a Redis without persistence empties them. Read in slices (HSCAN), in a thread. A message moves
        between the two hashes (a retry: delayed, then due), always sent anew before the old one is acked: the
        queue's hash is read before and after the delayed one, so a move during the reading is seen either way.
        Redis unreachable raises `QueueUnavailableError` (Redis's error its cause), as a send does: the sweep that
        asked says so in one line and turns again later; it logged a traceback every turn of every worker process.
        """
        broker = self._actor.broker
        if not isinstance(broker, RedisBroker):
            return None
        try:
            return await asyncio.to_thread(self._task_ids_in_redis, broker)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise QueueUnavailableError(f"Redis unavailable: {type(exc).__name__}: {exc}") from exc

    async def requeue_dead_workers_messages(self) -> set[str]:
        """Hand the messages of worker processes whose Redis heartbeat lapsed back to their queues, every queue's
        (`adapters.dead_workers`); returns the sync task ids among them, whose message will now run them. Nothing on
        another broker. Redis unreachable raises `QueueUnavailableError`."""
        try:
            moved = await asyncio.to_thread(requeue_dead_workers_messages, self._actor.broker)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise QueueUnavailableError(f"Redis unavailable: {type(exc).__name__}: {exc}") from exc
        return {str(m.args[0]) for m in moved if m.actor_name == self._actor.actor_name and m.args}

    def _task_ids_in_redis(self, broker: RedisBroker) -> set[str]:
        name, queue = self._actor.actor_name, self._actor.queue_name
        found: set[str] = set()
        ready, delayed = f"{broker.namespace}:{queue}.msgs", f"{broker.namespace}:{dq_name(queue)}.msgs"
        for key in (ready, delayed, ready):
            for _, body in broker.client.hscan_iter(key, count=500):
                try:
                    message = Message.decode(body)
                except DecodeError:  # no worker could run it either
                    continue
                if message.actor_name == name and message.args:
                    found.add(str(message.args[0]))
        return found

    async def enqueue_webhook_events(self, shop_id: str) -> None:
        """Send `process_webhook_events(shop_id)` unless one of the shop is queued and its run has not begun reading
        (`send_coalesced`): that run processes every event pending when it reads, so a replayed event (marked
        PENDING before this send) or a stored push is in its reading. Each `webhookEventReplay` sent a message of its
        own before (security review 44). A queue built without the actor (some tests) raises."""
        if self._webhook_events_actor is None:
            raise RuntimeError("this queue has no webhook events actor")
        await send_coalesced(self._webhook_events_actor, shop_id, blocking=self._blocking)

    async def enqueue_webhook_registration(self, shop_id: str) -> None:
        if self._webhook_registration_actor is not None:
            await self._send(self._webhook_registration_actor, shop_id)

    async def enqueue_inventory_push(self, shop_id: str) -> None:
        """Send `push_inventory(shop_id)` unless one of the shop is queued and not started yet, which pushes what
        this one would (`send_coalesced`); a queue built without the actor (some tests) raises."""
        if self._inventory_push_actor is None:
            raise RuntimeError("this queue has no inventory push actor")
        await send_coalesced(self._inventory_push_actor, shop_id, blocking=self._blocking)

    async def enqueue_inventory_push_later(self, shop_id: str, delay_ms: int) -> bool:
        """Send `push_inventory(shop_id)` `delay_ms` (milliseconds) from now (`send_later`: not coalesced, and not
        sent again while one this process sent is due by then); True if sent. Raises `QueueUnavailableError` as
        `send` does; a queue built without the actor (some tests) raises RuntimeError."""
        if self._inventory_push_actor is None:
            raise RuntimeError("this queue has no inventory push actor")
        return await send_later(self._inventory_push_actor, shop_id, delay_ms, blocking=self._blocking)

    async def enqueue_inventory_reconcile(self, shop_id: str) -> None:
        """Send `reconcile_inventory(shop_id)` (`send`; a webhook batch sends at most one per shop, and the run is
        idempotent); a queue built without the actor (some tests) raises RuntimeError."""
        if self._inventory_reconcile_actor is None:
            raise RuntimeError("this queue has no inventory reconcile actor")
        await self._send(self._inventory_reconcile_actor, shop_id)

    async def _send(self, actor: dramatiq.Actor[[str], Any], value: str) -> None:
        await send(actor, value, blocking=self._blocking)

    async def _send_with(self, actor: dramatiq.Actor[..., Any], value: str, kwargs: dict[str, Any]) -> None:
        """As `_send`, with keyword arguments for the actor."""
        sending = functools.partial(actor.send_with_options, args=(value,), kwargs=kwargs)
        await _through_window(actor.broker, sending, blocking=self._blocking)


class DramatiqScheduledWork:
    """`domain.ports.ScheduledWork` over the poll and token-refresh actors; blocking sends run in a thread."""

    def __init__(
        self, poll: dramatiq.Actor[..., Any], refresh: dramatiq.Actor[[str], Any], *, blocking: bool = True
    ) -> None:
        self._poll = poll
        self._refresh = refresh
        self._blocking = blocking

    async def enqueue_poll(self, shop_id: str, kind: SyncKind, scheduled_at: str) -> None:
        await self._send(self._poll, shop_id, kind.value, scheduled_at)

    async def enqueue_token_refresh(self, shop_id: str) -> None:
        await self._send(self._refresh, shop_id)

    async def _send(self, actor: dramatiq.Actor[..., Any], *args: str) -> None:
        await send(actor, *args, blocking=self._blocking)


async def send(actor: dramatiq.Actor[..., Any], *args: str, blocking: bool) -> None:
    """`actor.send(*args)`: in a thread when `blocking` (Redis: a network call), inline on the in-memory broker.

    Redis unreachable (down, restarting, a timeout) raises `QueueUnavailableError`: an outage the callers log in
    one line, the work being sent again by a sweep or the next tick; Redis's own error is its cause. For
    `REDIS_OUTAGE_WINDOW_SECONDS` after a timeout, sends through the same broker raise it at once, naming that
    timeout, without trying Redis: a hung Redis (accepting, never answering; or a network dropping packets) would
    otherwise hold every mutation that enqueues for the client's 5 s timeout, for work the sweep sends anyway. A
    refused connection opens no window: it costs milliseconds, and the first send after Redis is back goes through.
    """
    await _through_window(actor.broker, functools.partial(actor.send, *args), blocking=blocking)


_sent_later = PerBroker(lambda _broker: dict[tuple[str, str], float]())
"""Per broker: (actor name, argument) -> `time.monotonic()` at which the last message `send_later` sent is due."""


async def send_later(actor: dramatiq.Actor[..., Any], argument: str, delay_ms: int, *, blocking: bool) -> bool:
    """`actor.send_with_options(args=(argument,), delay=delay_ms)` (milliseconds), with `send`'s handling of Redis
    outages, unless this process sent one of (`actor`, `argument`) due no later that has not run yet (so a run that
    finds the same rows waiting sends no second message for them); True if sent. Never coalesced
    (`send_coalesced`): a delayed message counted as "queued and not started" would hold back every send of its key
    until it runs. A broker's record is its own: a new one (a restart, each test) starts with none."""
    sent, key = _sent_later.of(actor.broker), (actor.actor_name, argument)
    now = time.monotonic()
    due = now + max(0, delay_ms) / 1000
    for done in [k for k, at in sent.items() if at < now]:
        del sent[done]
    if sent.get(key, math.inf) <= due:
        return False
    call = functools.partial(actor.send_with_options, args=(argument,), delay=max(0, delay_ms))
    await _through_window(actor.broker, call, blocking=blocking)
    sent[key] = due
    return True


async def send_coalesced(actor: dramatiq.Actor[[str], Any], argument: str, *, blocking: bool) -> bool:
    """`actor.send(argument)` unless a message of (`actor`, `argument`) is queued and not started yet
    (`adapters.pending_messages`: the marker set here, cleared by the actor as its run begins, `run_started`);
    True if sent. For an actor whose run reads all its work when it starts and is idempotent (`push_inventory`,
    `process_webhook_events`):
    the queued message does what this one would, so a burst (an import's batches, each moving the pool) leaves one
    message per shop in the queue, not one per batch, and a webhook sent after them waits behind that one. A send
    that fails clears the marker again (best effort; else it lapses) and raises as `send` does."""
    markers = pending_messages(actor.broker)

    def claim_and_send() -> bool:
        if not markers.claim(actor.actor_name, argument):
            return False
        try:
            actor.send(argument)
        except BaseException:
            with contextlib.suppress(Exception):
                markers.release(actor.actor_name, argument)
            raise
        return True

    return await _through_window(actor.broker, claim_and_send, blocking=blocking)


async def _through_window(broker: dramatiq.Broker, call: Callable[[], _T], *, blocking: bool) -> _T:
    """`call()` (a send to `broker`), with `send`'s handling of Redis outages."""
    window = _outage_window(broker) if blocking else None
    if window is not None and (cause := window.skipping()) is not None:
        raise QueueUnavailableError(f"{cause} (not tried: within {window.seconds:g} s of that failure)")
    try:
        result = await asyncio.to_thread(call) if blocking else call()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        cause = f"Redis unavailable: {type(exc).__name__}: {exc}"
        if window is not None and isinstance(exc, RedisTimeoutError):
            window.open(cause)
        raise QueueUnavailableError(cause) from exc
    if window is not None:
        window.close()
    return result


REDIS_OUTAGE_WINDOW_SECONDS = 15.0
"""How long after a send to Redis timed out the process's sends skip it (seconds). Short beside the outage it stands
for: a sync task skipped is marked unsent and sent by a scheduler tick once a send goes through again (a tick within
the window skips too, and the next one sends it); other work waits for its sweep or tick anyway."""

_windows = PerBroker(lambda _broker: OutageWindow(REDIS_OUTAGE_WINDOW_SECONDS))


def _outage_window(broker: dramatiq.Broker) -> OutageWindow:
    """The broker's window, made on its first send: one per broker, so per process (and per test)."""
    return _windows.of(broker)
