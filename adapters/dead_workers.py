"""`requeue_dead_workers_messages(broker)`: hand the messages a dead worker process fetched and never acked back to
their Redis queues, as Dramatiq's own maintenance does, but when asked rather than by chance.

Dramatiq's Redis broker (`dramatiq/brokers/redis/dispatch.lua`) moves each message a consumer fetches from the list
`{ns}:{queue}` into the set `{ns}:__acks__.{worker id}.{queue}` until its ack; each command of a worker process
scores its id in the sorted set `{ns}:__heartbeats__` (milliseconds). A process killed (SIGKILL, out of memory)
leaves its sets behind: the messages it was running and the ones it had prefetched, not begun. Dramatiq pushes them
back on their lists only in its maintenance, once the worker's heartbeat is older than `heartbeat_timeout`
(`SHOPBRIDGE_BROKER_HEARTBEAT_TIMEOUT_MS`), and only in the one command in `maintenance_chance` per million that
runs it (`SHOPBRIDGE_BROKER_MAINTENANCE_CHANCE`, 1 in 1000 by default): a try-out (49) saw an ORDERS import a
killed worker had fetched and not begun stay QUEUED 112 s to 6 min, the live worker idle. The stale sweep of every
worker process calls this each turn (`workers.resources`), so such a message runs on a live worker at the first
turn past its heartbeat's lapse; the sweep sends the sync tasks among them no second message
(`resume_stale_tasks(handed_back=...)`): a RUNNING one's run on a live worker takes it over (`SyncTask.begin_attempt`).

The rule is Dramatiq's: a live process none of whose consumers fetched for `heartbeat_timeout` (every one of them
full) would lose its messages to Dramatiq's maintenance just the same; they run twice then, which is safe (the
actors are idempotent; a run of an import found RUNNING elsewhere takes it over).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import dramatiq
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import DecodeError

log = logging.getLogger(__name__)

# KEYS: the namespace; ARGV: the time now and the heartbeat timeout (ms), then the queues. The keys and the moves are
# dispatch.lua's maintenance (Dramatiq 2.2): an id goes back on its list only if its body is still in the queue's
# hash (an ack deletes it), and the dead worker's set of that queue is deleted. Returns the bodies that went back.
_REQUEUE = """
local namespace = KEYS[1]
local dead = redis.call("zrangebyscore", namespace .. ":__heartbeats__", 0, tonumber(ARGV[1]) - tonumber(ARGV[2]))
local moved = {}
for _, worker in ipairs(dead) do
    for i = 3, #ARGV do
        local queue = namespace .. ":" .. ARGV[i]
        local acks = namespace .. ":__acks__." .. worker .. "." .. ARGV[i]
        for _, message_id in ipairs(redis.call("smembers", acks)) do
            local body = redis.call("hget", queue .. ".msgs", message_id)
            if body then
                redis.call("rpush", queue, message_id)
                table.insert(moved, body)
            end
        end
        redis.call("del", acks)
    end
end
return moved
"""


def requeue_dead_workers_messages(broker: dramatiq.Broker) -> list[Message[Any]]:
    """Push every message held in the ack set of a worker whose heartbeat is older than the broker's
    `heartbeat_timeout` back on its queue (each queue and delay queue declared on `broker`), in one script; returns
    them (a body that does not decode is moved but left out). Nothing on another broker than Redis (the in-memory
    StubBroker has no such sets). A blocking call: run it in a thread. Redis unreachable raises redis's
    `ConnectionError`/`TimeoutError`."""
    if not isinstance(broker, RedisBroker):
        return []
    queues = sorted(broker.get_declared_queues() | broker.get_declared_delay_queues())
    if not queues:
        return []
    now_ms = int(time.time() * 1000)  # the caller's clock, as Dramatiq's own maintenance compares
    script = broker.client.register_script(_REQUEUE)  # EVALSHA, loading the script once per Redis
    bodies = script(keys=[broker.namespace], args=[now_ms, broker.heartbeat_timeout, *queues])
    if bodies:
        log.warning(
            "requeued %d message(s) fetched by worker processes silent for over %d ms (killed or stuck)",
            len(bodies), broker.heartbeat_timeout,
        )  # fmt: skip
    moved: list[Message[Any]] = []
    for body in bodies:
        with contextlib.suppress(DecodeError):  # no worker could run it either
            moved.append(Message.decode(body))
    return moved
