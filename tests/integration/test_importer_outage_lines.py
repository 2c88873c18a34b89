"""The import engine's best-effort writes after a run (recording its failed run, handing the task back, counting
the shop's records again) over a real database: an outage of the database is
one WARNING line without a traceback (README, Logs), a bug keeps its traceback.

SQLite stands for the database on purpose: a file in a directory that does not exist is refused with SQLITE_CANTOPEN
on every statement (an outage by `adapters.db.outage.unavailable`), and an empty file lacks the tables (no such
table: a bug), both deterministic without a server to stop. PostgreSQL's outages are classified by the same rule
(tests/integration/test_db_outage.py). The planner statistics' refresh, logged alike, runs no statement on
SQLite (PostgreSQL only), so it is not among the writes here."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from domain.services import importer
from domain.sync import SyncKind, SyncTask, SyncTrigger
from tests.fakes import T0, FakeClock, FakeEventPublisher, FakeShopApi

Write = Callable[[importer._Run], Awaitable[object]]

WRITES: dict[str, tuple[Write, str]] = {
    "failed run": (lambda run: importer._failed_attempt(run, "TIKTOK_UNAVAILABLE", "down"), "record its failed run"),
    "hand back": (importer._hand_back, "hand it back after the interruption"),
    "recount": (lambda run: importer._recount(run, SyncKind.ORDERS), "count the shop's orders again"),
}


async def _run_write(url: str, cipher: TokenCipher, write: Write, caplog: pytest.LogCaptureFixture) -> str:
    before = set(threading.enumerate())
    db = Database(url)
    try:
        api = FakeShopApi([], []).factory
        deps = importer.SyncDeps(uow_factory(db, cipher), api, FakeEventPublisher(), FakeClock())
        task = SyncTask.queue("shop-1", "merchant-1", SyncKind.ORDERS, SyncTrigger.MANUAL, T0)
        with caplog.at_level(logging.WARNING, logger=importer.__name__):
            await write(importer._Run(deps, task, 1))
    finally:
        await db.dispose()
        # aiosqlite (0.22) stops a connection whose connect failed by queueing a close to its thread with a future of
        # this loop that nobody awaits: the thread then hands that future its result through the loop, and raised
        # "Event loop is closed" when the test had ended first (a teardown error, by timing). Its threads end here.
        for thread in set(threading.enumerate()) - before:
            if thread.name.endswith("(_connection_worker_thread)"):
                await asyncio.to_thread(thread.join)
    return task.id


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == importer.__name__]


@pytest.mark.parametrize("name", list(WRITES))
async def test_a_database_outage_is_one_line_without_a_traceback(
    name: str, tmp_path: Path, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    write, what = WRITES[name]
    # given a database that cannot be opened (its directory is gone: SQLITE_CANTOPEN, an outage)
    task_id = await _run_write(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'shopbridge.db'}", cipher, write, caplog)
    # then the write's failure is one WARNING line naming the outage, and no traceback
    [record] = _lines(caplog)
    assert record.levelno == logging.WARNING
    assert not record.exc_info
    message = record.getMessage()
    assert "\n" not in message
    assert message.startswith(f"sync task {task_id}: could not {what}: "), message
    assert "the database is unavailable (OperationalError: unable to open database file)" in message, message


@pytest.mark.parametrize("name", list(WRITES))
async def test_a_bug_keeps_its_traceback(
    name: str, tmp_path: Path, cipher: TokenCipher, caplog: pytest.LogCaptureFixture
) -> None:
    write, what = WRITES[name]
    # given a database without its tables (a bug or a set-up fault, not an outage)
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    await _run_write(f"sqlite+aiosqlite:///{path}", cipher, write, caplog)
    # then the failure keeps its traceback, its message on one line
    [record] = _lines(caplog)
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None
    assert what in record.getMessage() and "no such table" in record.getMessage()
    assert "\n" not in record.getMessage()
