"""`gql.live_outage.wait_out`: a live read that fails on a database outage is read again until it succeeds, the
outage told in one WARNING line and its end in one INFO line per process; any other error is raised at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import pytest
import strawberry
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gql.live_outage import DatabaseOutage, subscription_field, wait_out

REFUSED = ConnectionRefusedError(111, "Connection refused")  # what asyncpg raises while PostgreSQL is down


class Clock:
    """Monotonic seconds a test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reads(*outcomes: object) -> Callable[[], object]:
    """A read that raises or returns each outcome in turn."""
    pending: Iterator[object] = iter(outcomes)

    async def read() -> object:
        outcome = next(pending)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return read


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "shopbridge.subscriptions"]


async def test_reads_failing_on_an_outage_are_read_again_and_told_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shopbridge.subscriptions")
    outage = DatabaseOutage(Clock(), first_retry=0.001, max_retry=0.002)
    checks: list[str] = []
    # given two subscriptions whose reads fail on an outage, 2 and 3 times
    first = await wait_out(outage, "syncTaskUpdated", reads(REFUSED, REFUSED, "tasks"), lambda: checks.append("t"))
    second = await wait_out(outage, "inventoryItemUpdated", reads(REFUSED, REFUSED, REFUSED, "item"))
    # then each got what its read returned once the database answered, its token checked at each retry
    assert (first, second, checks) == ("tasks", "item", ["t", "t"])
    # and the outage was one WARNING line, its end one INFO line (the first success ended it)
    assert [level for level, _ in lines(caplog)] == ["WARNING", "INFO", "WARNING", "INFO"]
    assert lines(caplog)[0][1].startswith(
        "the database is unavailable (ConnectionRefusedError: [Errno 111] Connection refused): live subscriptions"
    )
    assert lines(caplog)[1][1].endswith("(syncTaskUpdated waited, 2 retries)")


async def test_a_read_begun_before_the_outage_ended_is_its_tail_not_a_new_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shopbridge.subscriptions")
    clock = Clock()
    outage = DatabaseOutage(clock)
    outage.failed("syncTaskUpdated", REFUSED, began=clock.now)
    began = clock.now  # another subscription's read begins, on a connection the pool has not found dead yet
    clock.now += 5
    outage.recovered()  # a read succeeded: the database is back
    outage.failed("inventoryItemUpdated", REFUSED, began=began)  # the read begun before fails after
    assert [level for level, _ in lines(caplog)] == ["WARNING", "INFO"]
    assert outage.since is None
    outage.failed("inventoryItemUpdated", REFUSED, began=clock.now)  # one begun after: a new outage
    assert [level for level, _ in lines(caplog)] == ["WARNING", "INFO", "WARNING"]


async def test_an_error_that_is_no_outage_is_raised_at_once(caplog: pytest.LogCaptureFixture) -> None:
    outage = DatabaseOutage(Clock())
    with pytest.raises(KeyError):
        await wait_out(outage, "syncTaskUpdated", reads(KeyError("a bug"), "never read"))
    assert outage.since is None and lines(caplog) == []


async def test_a_token_that_expires_during_the_back_off_reads_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a subscription whose read fails on an outage once, and whose token expires while it waits to read again
    outage = DatabaseOutage(Clock(), first_retry=0.001, max_retry=0.002)
    expired = False
    real_sleep = asyncio.sleep

    async def back_off(seconds: float) -> None:  # the token's end falls within the back-off's sleep
        nonlocal expired
        expired = True
        await real_sleep(0)

    def token_check() -> None:
        if expired:
            raise PermissionError("the token expired")

    monkeypatch.setattr(asyncio, "sleep", back_off)
    # then the read after the sleep never runs: the check before it ends the subscription (it ran before the sleep,
    # and the read after it sent one more state on an expired token)
    with pytest.raises(PermissionError):
        await wait_out(outage, "inventoryItemUpdated", reads(REFUSED, "the state"), token_check)


async def test_the_outage_s_length_counts_from_when_its_first_failed_read_began(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shopbridge.subscriptions")
    clock = Clock()
    outage = DatabaseOutage(clock, first_retry=0.001, max_retry=0.002)
    outcomes: Iterator[object] = iter([PoolTimeout("QueuePool limit of size 5 overflow 10 reached"), "the state"])

    async def read() -> object:
        # given a read that waits the pool's whole timeout (30 s) before it fails, and one that succeeds at once
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            clock.now += 30
            raise outcome
        return outcome

    assert await wait_out(outage, "inventoryItemUpdated", read) == "the state"
    # then the INFO line counts the 30 s the failed read waited (it said "after 0.0 s": soak55 F2)
    assert lines(caplog)[-1] == (
        "INFO",
        "the database is available again after 30.0 s: live subscriptions read the current state "
        "(inventoryItemUpdated waited, 1 retries)",
    )


@strawberry.type
class _Query:
    @strawberry.field
    def unused(self) -> int:
        return 0


@strawberry.type
class _Subscription:
    @strawberry.subscription
    async def shop_updated(self, info: strawberry.Info) -> AsyncGenerator[str, None]:
        yield subscription_field(info)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "query",
    [
        "subscription { shopUpdated }",
        "subscription { mine: shopUpdated }",
        "subscription { ... on Subscription { mine: shopUpdated } }",
        "subscription S { ...Root } fragment Root on Subscription { ... { mine: shopUpdated } }",
    ],
)
async def test_a_nested_read_s_wait_is_told_under_its_subscription_s_field_by_name(query: str) -> None:
    """`load_live` logs a wait under the operation's root field (`subscription_field`): its name, whatever alias
    or fragment the client wrote, so the WARNING and INFO lines name the subscription as its own reads do."""
    schema = strawberry.Schema(query=_Query, subscription=_Subscription)
    messages: Any = await schema.subscribe(query)
    try:
        result = await anext(messages)
    finally:
        await messages.aclose()
    assert result.errors is None, result.errors
    assert list(result.data.values()) == ["shopUpdated"]
