"""Which failure of an actor's run is an outage (one WARNING line, retried) and which a bug (ERROR, traceback): the
project's one rule, `domain.ports.traced` plus the database's `adapters.db.outage.unavailable`, as
`workers.outages.outage_cause` applies it. TikTok's errors come from `classify`, as the transport raises them.
And the retry `OutlastingRetries` sends again once the broker is back keeps its backoff."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from adapters.tiktok.errors import classify
from domain.errors import ValidationError
from domain.ports import QueueUnavailableError
from workers.outages import OutlastingRetries, outage_cause

TIKTOK_ANSWERS = {
    "malformed": (200, None),
    "http 503": (503, None),
    "rate limited": (429, {"code": 36009002, "message": "Too many requests", "request_id": "r1"}),
    "internal error": (200, {"code": 36009003, "message": "Internal error", "request_id": "r2"}),
}


@pytest.mark.parametrize("answer", sorted(TIKTOK_ANSWERS), ids=sorted(TIKTOK_ANSWERS))
def test_tiktok_unavailable_is_an_outage_named_in_one_line(answer: str) -> None:
    error = classify(*TIKTOK_ANSWERS[answer])
    assert error is not None
    error.api = "POST /order/202309/orders/search"
    assert outage_cause(error) == f"TikTok is unavailable ({error})"


def test_the_broker_unreachable_is_an_outage() -> None:
    error = QueueUnavailableError("Redis unavailable: ConnectionError: Error 111 connecting to 127.0.0.1:6379.")
    assert outage_cause(error) == f"the queue is unavailable ({error})"


REFUSALS = {
    "bad parameter": (200, {"code": 36009004, "message": "A required parameter is missing.", "request_id": "r3"}),
    "business refusal": (200, {"code": 21008111, "message": "Order not found", "request_id": "r4"}),
    "token revoked": (200, {"code": 36009004, "message": "Invalid access_token", "request_id": "r5"}),
}


@pytest.mark.parametrize("answer", sorted(REFUSALS), ids=sorted(REFUSALS))
def test_a_refusal_of_tiktok_is_no_outage(answer: str) -> None:
    # retrying cannot fix these: the actors `throws=` them, or the engine fails the task at once
    assert outage_cause(classify(*REFUSALS[answer])) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        KeyError("ge"), ValueError("bad stored data"), ValidationError("INVALID_INPUT", "no"),
        # OSErrors of files, raised by code of ours: they were taken for the database down ("the database is
        # unavailable (FileNotFoundError: ...)"), retried in a WARNING line without a traceback
        FileNotFoundError(2, "No such file or directory", "/srv/shopbridge/missing.pem"),
        PermissionError(13, "Permission denied", "/srv/shopbridge/data"),
        IsADirectoryError(21, "Is a directory", "/srv/shopbridge"),
    ],
    ids=["key-error", "value-error", "domain-error", "file-not-found", "permission-denied", "is-a-directory"],
)  # fmt: skip
def test_anything_else_is_a_bug_that_keeps_its_traceback(error: Exception) -> None:
    assert outage_cause(error) is None


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"), OSError("Multiple exceptions: ..."),
     TimeoutError()],
    ids=["refused", "multiple", "timeout"],
)  # fmt: skip
def test_a_connection_error_the_driver_raises_as_it_is_stays_a_database_outage(error: OSError) -> None:
    # asyncpg raises the socket's own error when it cannot connect
    assert (outage_cause(error) or "").startswith("the database is unavailable (")


def test_the_process_s_pool_exhausted_is_said_as_such_not_as_the_database_down() -> None:
    # given SQLAlchemy's pool timeout (soak53: read as "the database is unavailable" while PostgreSQL served)
    error = PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00")
    # then a run failing on it is retried as an outage, in a line naming the pool, its size and the settings
    cause = outage_cause(error) or ""
    assert cause.startswith("this process's database connections are all in use, the database itself may be up")
    assert "QueuePool limit of size 5 overflow 10 reached" in cause and "SHOPBRIDGE_DB_POOL_SIZE" in cause


class BrokerDownOnce(StubBroker):
    """A broker whose first `enqueue` finds Redis restarting; it notes the delay of every later send."""

    def __init__(self) -> None:
        super().__init__()
        self.delays: list[int | None] = []
        self.down = True

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        if self.down:
            self.down = False
            raise RedisConnectionError("Redis is restarting")
        self.delays.append(delay)
        return message


@pytest.mark.parametrize(("retries", "least_ms"), [(0, 10_000), (2, 40_000)])
def test_a_retry_sent_again_after_a_redis_blip_keeps_the_backoff_dramatiq_drew(retries: int, least_ms: int) -> None:
    # given an import-like actor (backoff 10 s doubling, to 80 s) whose run failed with an ordinary exception (a bug,
    # not the `Retry` carrying its delay that `Resources.serving` raises on an outage), `retries` retries so far,
    # and Redis down as Dramatiq's middleware sends the retry
    broker = BrokerDownOnce()
    middleware = OutlastingRetries(pause_seconds=0.001, patience_seconds=5)

    @dramatiq.actor(broker=broker, max_retries=5, min_backoff=10_000, max_backoff=80_000)
    def work(x: int) -> None: ...

    message = MessageProxy(work.message_with_options(args=(1,), retries=retries))
    # when the send is made again once Redis answers
    middleware.after_process_message(broker, message, exception=ValueError("a bug"))
    # then it waits the backoff Dramatiq's Retries draws for that retry (10 s x 2^retries, jittered up to twice as
    # much, capped at 80 s), not none: a bug retried at once, over and over, once per blip
    [delay] = broker.delays
    assert delay is not None and least_ms <= delay <= min(2 * least_ms, 80_000), delay
    assert message.options["retries"] == retries + 1
