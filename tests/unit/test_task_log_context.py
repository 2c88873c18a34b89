"""A worker's log lines name the shop they are about: a task's change binds its shop and merchant to the log context
of that task's own run only, never to a loop that publishes many tasks' changes (the stale sweep, the scheduler),
whose later lines would otherwise all name the last shop it touched."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog

from adapters.logs import log_context
from adapters.metrics import MeteredEvents
from domain.services.sync import resume_stale_tasks, start_sync
from domain.sync import SyncKind
from tests.fakes import FakeClock, FakeEventPublisher, FakeStore, FakeTaskQueue, FakeUnitOfWork, make_shop
from tests.fixtures.logs import logged_to


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    with logged_to("json") as stream:
        yield stream


async def test_the_stale_sweeps_lines_name_no_shop_of_the_tasks_it_re_sent(json_lines: io.StringIO) -> None:
    # given two shops of two merchants, each with an import nobody runs (its worker was killed)
    store, queue, clock = FakeStore(), FakeTaskQueue(), FakeClock()
    first, second = make_shop("m1", tiktok_shop_id="7001"), make_shop("m2", tiktok_shop_id="7002")
    store.shops.update({first.id: first, second.id: second})
    events = MeteredEvents(FakeEventPublisher())
    for shop in (first, second):
        await start_sync(lambda: FakeUnitOfWork(store), queue, None, clock, shop.merchant_id, shop.id,
                         [SyncKind.ORDERS])  # fmt: skip
    clock.advance(timedelta(minutes=21))

    async def sweep_turn() -> list[str]:  # the sweep loop of a worker process, as one asyncio task
        resent = await resume_stale_tasks(lambda: FakeUnitOfWork(store), queue, clock, timedelta(minutes=5),
                                          events=events)  # fmt: skip
        logging.getLogger("workers.resources").info("pruned 3 sync task(s) finished before ...")
        return resent

    # when the sweep re-sends both, publishing each task's change, then logs on
    assert len(await sweep_turn()) == 2
    # then neither its summary nor its later lines name one of the shops (or merchants) it touched
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        "re-enqueued 2 stale sync task(s)",
        "pruned 3 sync task(s) finished before ...",
    ]
    assert [(line.get("shop_id"), line.get("merchant_id")) for line in lines] == [(None, None), (None, None)]
    assert structlog.contextvars.get_contextvars() == {}


async def test_a_tasks_own_run_still_names_its_shop_and_merchant(json_lines: io.StringIO) -> None:
    # given a task's run (the actor binds its task id)
    store, queue, clock = FakeStore(), FakeTaskQueue(), FakeClock()
    shop = make_shop("m1")
    store.shops[shop.id] = shop
    (task,) = await start_sync(lambda: FakeUnitOfWork(store), queue, None, clock, "m1", shop.id, [SyncKind.ORDERS])
    events = MeteredEvents(FakeEventPublisher())
    with log_context(task_id=task.id):
        # when the run publishes its task's change, then logs
        await events.task_changed(task)
        logging.getLogger("domain.services.importer").info("a page of 100 orders")
    # then the line names the run's task, shop and merchant
    (line,) = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert (line["task_id"], line["shop_id"], line["merchant_id"]) == (task.id, shop.id, "m1")
