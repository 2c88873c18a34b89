"""Helpers for the tests of `syncTaskUpdated` without taskId on lost signals (test_task_feed_lost_window.py drives an
overflow of the feed's slot, test_task_feed_lost_signals.py a Redis reconnect): a subscription to every task, a task
added at a time of its own and signalled or not, a witness's wait for the read a signal asked for, and a subscriber's
messages read as `{"id": ..., "status": ...}` until a last one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from domain.shops import Shop
from domain.sync import SyncKind
from gql.container import Services
from gql.context import Context
from gql.feeds import Follower
from gql.ids import to_global_id
from gql.schema import schema
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import NOW, make_task

ALL_TASKS = "subscription { syncTaskUpdated { id status } }"


async def subscribe_all_tasks(services: Services, merchant_id: str) -> Any:
    """A subscription of the merchant to every task (ALL_TASKS): the async iterator of its execution results."""
    messages = await schema.subscribe(ALL_TASKS, context_value=Context(services, merchant_id))
    assert hasattr(messages, "__anext__"), messages
    return messages


async def add_task(
    uows: Callable[[], Any], bus: Any, shop: Shop, kind: SyncKind, at: int, *, finished: bool, signal: bool
) -> str:
    """A task of `shop` created `at` seconds after NOW (and finished then), committed, signalled on `bus` or not;
    its id."""
    task = make_task(shop, kind, created_at=NOW + timedelta(seconds=at))
    if finished:
        task.begin_attempt(NOW + timedelta(seconds=at))
        task.succeed(NOW + timedelta(seconds=at))
    async with uows() as uow:
        await uow.sync_tasks.add(task)
        await uow.commit()
    if signal:
        await bus.task_changed(task)
    return task.id


async def read_naming(witness: Follower, task_id: str) -> None:
    """Until the witness takes a snapshot whose read a signal naming `task_id` asked for (AssertionError if none came
    within DEADLINE_SECONDS of a snapshot)."""
    while True:
        snapshot = await witness.next(DEADLINE_SECONDS)
        assert snapshot is not None, f"no read named {task_id}"
        if task_id in witness.take_changed():
            return


async def received(messages: Any) -> dict[str, Any]:
    """The subscriber's next message, error-free, as its `syncTaskUpdated` `{"id": ..., "status": ...}`."""
    result = await asyncio.wait_for(anext(messages), DEADLINE_SECONDS)
    assert result.errors is None and result.data is not None, result.errors
    return dict(result.data["syncTaskUpdated"])


async def sent_until(messages: Any, last: str) -> list[dict[str, Any]]:
    """The messages the subscriber sends before the one of task `last` (a database id), in order."""
    sent = []
    while (message := await received(messages))["id"] != to_global_id("SyncTask", last):
        sent.append(message)
    return sent
