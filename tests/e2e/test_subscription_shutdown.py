"""A server's stop ends a live subscription whose read waits for a database connection at once (shutdown55, soak55
F4): `shopbridge serve` waited its whole graceful-shutdown time on such sockets, then logged ERROR "Cancel N
running task(s), timeout graceful shutdown exceeded", though their clients had gone (their clients reconnect to
another process anyway)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until
from tests.fixtures.ws import close_code

SHOPS_UPDATED = "subscription { shopsUpdated { id name } }"
SUBSCRIPTIONS = 3


# Both databases. The test holds the pool's connection itself, checked out of the engine's pool directly on the
# server's loop: no request in flight (which a graceful stop rightly waits for) holds it, and nothing the stop runs
# before the lifespan's closers needs it (the embedded worker pool, which the lifespan quiesces first, has a pool of
# its own: workers/resources.py). On PostgreSQL reads and writes share that one pool (`AnsweringPool`, a
# `CheckoutWaitPool`); on SQLite it is the read engine's (`CheckoutWaitPool`).
async def test_a_stop_ends_a_subscription_waiting_for_a_pool_connection_without_an_error_line(app_factory) -> None:
    lines: list[logging.LogRecord] = []
    recorder = logging.Handler(logging.INFO)
    recorder.emit = lines.append  # type: ignore[method-assign]
    server_log = logging.getLogger("uvicorn.error")  # where the server writes its shutdown lines (not propagated)
    server_log.addHandler(recorder)
    # given an API whose read pool lends one connection, waited for longer than the test lasts
    app = app_factory(db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=DEADLINE_SECONDS)
    services = app.asgi.state.services
    engine = services.db.read_engine
    loop = app.served.server.loop
    assert loop is not None
    # and that connection held by the test (checked out of the engine's pool, as a request's read would) until the
    # app's lifespan shutdown (its closers run after uvicorn has waited for the open connections and requests),
    # which records what the pool held then
    held_until_shutdown: dict[str, Any] = {}

    async def hold() -> None:
        connection = await engine.connect()
        await connection.exec_driver_sql("SELECT 1")

        async def release_at_shutdown() -> None:
            held_until_shutdown["checked_out"] = engine.pool.checkedout()
            held_until_shutdown["requests_running"] = len(app.served.server.server_state.tasks)
            await connection.close()

        services.closers.append(release_at_shutdown)  # appended last: run first

    asyncio.run_coroutine_threadsafe(hold(), loop).result(timeout=DEADLINE_SECONDS)
    wait_until(lambda: engine.pool.checkedout() == 1, "the test to hold the pool's one connection")
    try:
        async with contextlib.AsyncExitStack() as sockets:
            # and subscriptions whose first read waits for that connection (SQLAlchemy's queue: a getter each)
            subscribed = [
                await sockets.enter_async_context(app.subscribe(SHOPS_UPDATED, None, f"m{n}"))
                for n in range(SUBSCRIPTIONS)
            ]
            wait_until(
                lambda: len(engine.pool._pool._queue._getters) == SUBSCRIPTIONS, "the subscriptions' reads to wait"
            )

            # when the server stops
            stopped = asyncio.create_task(asyncio.to_thread(app.served.stop))
            # then each subscription is closed with 1012 (service restart: its client reconnects elsewhere)
            assert [await close_code(each.socket) for each in subscribed] == [1012] * SUBSCRIPTIONS
            await stopped
    finally:
        server_log.removeHandler(recorder)
    # and the server went on to its shutdown with the pool still held and no request left running: the waiting
    # reads ended with their sockets, not with the pool's timeout
    assert held_until_shutdown == {"checked_out": 1, "requests_running": 0}
    # and it wrote no ERROR line: no task outlived the graceful-shutdown time, nor was cancelled
    assert [r.getMessage() for r in lines if r.levelno >= logging.ERROR] == []
