"""Coalesced sends (`adapters.queue.send_coalesced`, `adapters.pending_messages`) over real brokers: on Redis the
"queued, not started" mark is shared by every process of the deployment (two brokers on one Redis stand for two
processes) and lapses; a run's start clears it; a send that fails leaves no mark behind; a run whose Redis is down
still runs. The actors are the test's own: what is under test is the send and the mark, not what a run does."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from cryptography.fernet import Fernet
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, MiddlewareError
from redis import Redis as SyncRedis

from adapters.config import load_settings
from adapters.pending_messages import ORPHANED_AFTER_SECONDS, PENDING_TTL_SECONDS, run_started, still_waiting
from adapters.queue import send_coalesced
from domain.ports import QueueUnavailableError
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.waiting import log_lines
from workers.broker import setup_broker
from workers.resources import Resources, _delivery

QUEUE = "live"
ACTOR = "push_inventory"


def _actor(broker: dramatiq.Broker) -> dramatiq.Actor[[str], Any]:
    def push_inventory(shop_id: str) -> None:  # never run: the tests read the queue
        pass

    return dramatiq.actor(push_inventory, broker=broker, actor_name=ACTOR, queue_name=QUEUE)


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # the test's own keys on the session's Redis


@pytest.fixture
def brokers(redis_server: RedisServer, namespace: str) -> Iterator[tuple[RedisBroker, RedisBroker]]:
    made = (
        RedisBroker(url=redis_server.url, namespace=namespace),  # type: ignore[no-untyped-call]
        RedisBroker(url=redis_server.url, namespace=namespace),  # type: ignore[no-untyped-call]
    )
    yield made
    for broker in made:
        broker.close()


@pytest.mark.redis
async def test_on_redis_a_queued_unstarted_message_covers_every_process_until_its_run_starts(
    brokers: tuple[RedisBroker, RedisBroker], redis_server: RedisServer, namespace: str
) -> None:
    redis = SyncRedis.from_url(redis_server.url)
    one, other = (_actor(broker) for broker in brokers)

    # given a push of shop s1 sent by one process
    assert await send_coalesced(one, "s1", blocking=True)
    # when another process, and the first again, send pushes of s1, and one of s2
    coalesced = [await send_coalesced(other, "s1", blocking=True), await send_coalesced(one, "s1", blocking=True)]
    assert await send_coalesced(other, "s2", blocking=True)
    # then Redis holds one message per shop; the mark lapses within PENDING_TTL_SECONDS
    assert coalesced == [False, False]
    assert redis.llen(f"{namespace}:{QUEUE}") == 2
    assert 0 < redis.pttl(f"{namespace}:pending:{ACTOR}:s1") <= PENDING_TTL_SECONDS * 1000

    # when the s1 run starts (in any process): the next send of s1 is a message of its own
    await run_started(brokers[1], ACTOR, "s1")
    assert await send_coalesced(one, "s1", blocking=True)
    assert not await send_coalesced(other, "s1", blocking=True)
    assert redis.llen(f"{namespace}:{QUEUE}") == 3


@pytest.mark.redis
async def test_a_mark_with_no_message_behind_it_holds_back_sends_for_ten_seconds_at_most(
    brokers: tuple[RedisBroker, RedisBroker], redis_server: RedisServer, namespace: str
) -> None:
    """A process killed between its mark and its send (a try-out's `kill -9` of the API during a webhook flood) leaves
    a mark and no message: every send of the key was held back until the mark's 60 s expiry (204 stored pushes
    PENDING for 70 s). A mark older than ORPHANED_AFTER_SECONDS now holds back no send."""
    redis = SyncRedis.from_url(redis_server.url)
    one, other = (_actor(broker) for broker in brokers)
    mark, ttl_ms = f"{namespace}:pending:{ACTOR}:s1", int(PENDING_TTL_SECONDS * 1000)
    # given the mark of a process killed before its send, set just over ORPHANED_AFTER_SECONDS ago (its remaining life
    # says its age), and no message
    redis.set(mark, b"1", px=ttl_ms - int(ORPHANED_AFTER_SECONDS * 1000) - 1000)
    # when another process sends s1: it is sent, and marked afresh
    assert await send_coalesced(other, "s1", blocking=True)
    assert redis.llen(f"{namespace}:{QUEUE}") == 1
    assert redis.pttl(mark) > ttl_ms - 5000
    # and a mark younger than that still covers a send (the message it marks is queued): one message, not two
    assert not await send_coalesced(one, "s1", blocking=True)
    redis.set(mark, b"1", px=ttl_ms - int(ORPHANED_AFTER_SECONDS * 1000) + 2000)
    assert not await send_coalesced(one, "s1", blocking=True)
    assert redis.llen(f"{namespace}:{QUEUE}") == 1


@pytest.mark.redis
async def test_a_message_sent_back_or_waiting_for_its_shop_keeps_its_mark_young(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A delivered message that waits (sent back for a live slot, a shutdown or the schema gate: `Resources.
    _send_again`; waiting for its shop's turn: `still_waiting`) renews its mark: otherwise, past
    ORPHANED_AFTER_SECONDS, every send let one more message through while it waited (a reviewer: one more per 10 s
    per shop while every live slot was taken)."""
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_BROKER_URL": redis_server.url}
    env |= {"SHOPBRIDGE_SECRET_KEY": "s" * 32, "SHOPBRIDGE_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    settings = load_settings(env)
    broker = setup_broker(settings)
    redis = SyncRedis.from_url(redis_server.url)
    actor, shop = broker.get_actor(ACTOR), f"s-{uuid.uuid4().hex[:8]}"
    mark, ttl_ms = f"{broker.namespace}:pending:{ACTOR}:{shop}", int(PENDING_TTL_SECONDS * 1000)
    old = ttl_ms - int(ORPHANED_AFTER_SECONDS * 1000) - 1000  # the remaining life of a mark 11 s old
    try:
        # given a push of the shop sent, its mark 11 s old, its message delivered and sent back for a later try
        assert await send_coalesced(actor, shop, blocking=True)
        redis.pexpire(mark, old)
        token = _delivery.set((broker, actor.message(shop)))
        try:
            send_again = Resources.of(broker)._send_again(1_000)
            assert send_again is not None
            await send_again()
        finally:
            _delivery.reset(token)
        # then its mark is young again: it covers the next send
        assert redis.pttl(mark) > ttl_ms - 5000
        assert not await send_coalesced(actor, shop, blocking=True)
        # and a run waiting for its shop's turn renews it alike
        redis.pexpire(mark, old)
        await still_waiting(broker, ACTOR, shop)
        assert not await send_coalesced(actor, shop, blocking=True)
    finally:
        broker.close()


class _Refused(MiddlewareError):
    """A send the broker refused (a `MiddlewareError`: Dramatiq logs and swallows any other error of a hook)."""


class _FailingSends(Middleware):
    """The broker refuses the next `failures` sends, as a broker that cannot take a message would."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def before_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        if self.failures:
            self.failures -= 1
            raise _Refused("the broker refused the message")


async def test_a_send_that_fails_leaves_no_mark_and_the_next_one_goes_through() -> None:
    broker = StubBroker()
    broker.add_middleware(_FailingSends(1))
    actor = _actor(broker)
    try:
        # given a send of s1 that the broker refuses
        with pytest.raises(_Refused):
            await send_coalesced(actor, "s1", blocking=False)
        # when s1 is sent again: it is not held back by a mark with no message behind it
        assert await send_coalesced(actor, "s1", blocking=False)
        assert not await send_coalesced(actor, "s1", blocking=False)
        assert broker.queues[QUEUE].qsize() == 1
    finally:
        broker.close()


@pytest.mark.redis
async def test_a_run_whose_redis_is_down_goes_on_with_one_warning_and_the_send_is_an_outage(
    own_redis: RedisServer,
) -> None:
    broker = RedisBroker(url=own_redis.url, namespace="test-down")  # type: ignore[no-untyped-call]
    actor = _actor(broker)
    try:
        assert await send_coalesced(actor, "s1", blocking=True)
        own_redis.stop()
        # when a run of s1 starts with Redis down: one WARNING line, no exception (the run itself goes on)
        with log_lines("adapters.pending_messages", logging.WARNING) as lines:
            await run_started(broker, ACTOR, "s1")
        assert len(lines.messages) == 1 and "held back for up to 10 s" in lines.messages[0], lines.messages
        # and a send is the queue's outage, as any send
        with pytest.raises(QueueUnavailableError):
            await send_coalesced(actor, "s1", blocking=True)
    finally:
        broker.close()
