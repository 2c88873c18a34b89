"""Production mode: the API only enqueues to Redis; a separate worker process imports; progress reaches a GraphQL
subscriber on the API process through Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable

import pytest

from tests.e2e.databases import subject_not_the_database
from tests.fixtures.sync import settings_env
from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until
from tests.fixtures.workers import spawn_worker, stop_worker

ORDER_SEARCH = "/order/202309/orders/search"
ORDERS = "ORDERS"
SUBSCRIPTION = "subscription($shopId: ID) { syncTaskUpdated(shopId: $shopId) { id kind status processed total } }"


@pytest.mark.redis
@subject_not_the_database("progress through Redis from a worker process")
async def test_a_subscriber_on_the_api_sees_progress_made_by_a_worker_process(app_factory, redis_server) -> None:
    # given an API process on Redis, with no worker inside it, and one worker process beside it
    # (TikTok holds the order search: the test lets pages of 20 orders through one at a time, so the orders import
    # makes progress the subscriber can see whatever the machine's speed; 20 ms pages only made that likely. The
    # worker's client waits for a held page as long as the test may take, instead of retrying and failing.)
    app = app_factory(
        orders=400, sync_order_slices=1, sync_page_size=20, tiktok_timeout_seconds=DEADLINE_SECONDS,
        broker_url=redis_server.url.rsplit("/", 1)[0] + "/1",
    )  # fmt: skip
    app.sandbox.hold(ORDER_SEARCH)
    worker = spawn_worker({**settings_env(app.settings), "SHOPBRIDGE_TIKTOK_TIMEOUT": str(DEADLINE_SECONDS)})
    try:
        async with app.subscribe(SUBSCRIPTION, {}, "m1") as op:
            bus = app.asgi.state.services.events
            await asyncio.to_thread(wait_until, lambda: bus.listening("m1"), "the subscription listening on Redis")
            # when a merchant connects a shop (the API enqueues two tasks to Redis)
            shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
            # then the subscriber sees the worker's progress, up to both tasks SUCCEEDED
            finished: set[str] = set()
            statuses: list[tuple[str, str, int]] = []

            async def read_until(reached: Callable[[], bool]) -> None:
                while not reached():
                    task = (await op.next())["syncTaskUpdated"]
                    statuses.append((task["kind"], task["status"], task["processed"]))
                    if task["status"] == "SUCCEEDED":
                        finished.add(task["kind"])

            for pages in (1, 2):
                await asyncio.to_thread(app.sandbox.wait_held)
                await asyncio.to_thread(app.sandbox.let_through, 1)
                await read_until(lambda pages=pages: (ORDERS, "RUNNING", 20 * pages) in statuses)
            app.sandbox.hold()
            await read_until(lambda: len(finished) == 2)
        assert finished == {"PRODUCTS", "ORDERS"}
        orders = [processed for kind, status, processed in statuses if kind == "ORDERS" and status == "RUNNING"]
        assert len(orders) >= 2 and orders == sorted(orders), statuses
        view = app.graphql("query($id: ID!) { shop(id: $id) { productCount orderCount } }", {"id": shop["id"]}, "m1")
        assert view["shop"]["productCount"] > 0 and view["shop"]["orderCount"] > 0
    finally:
        stop_worker(worker)


# Who logs a send that failed after a commit: a sync task's (`domain.services.sync.send_tasks`, which marks it unsent),
# any other's (the unit of work's after-commit callbacks).
SENDERS = ("domain.services.sync", "adapters.db.uow")


@subject_not_the_database("work unsent while Redis is down")
def test_with_redis_down_a_shop_connects_and_the_unsent_work_is_one_warning_line_each(app_factory, caplog) -> None:
    # given an API process whose Redis cannot be reached (down, restarting)
    app = app_factory(broker_url="redis://127.0.0.1:1/0")
    # when a merchant connects a shop: the authorization commits, then its imports and webhook registration cannot
    # be sent to the queue
    shop = app.connect_shop("m1", "us-local", "US")
    # then the merchant sees the shop and its imports QUEUED (the scheduler's tick sends them once Redis is back)...
    query = "query($id: ID!) { shop(id: $id) { status syncTasks { edges { node { kind status } } } } }"
    found = app.graphql(query, {"id": shop["id"]}, "m1")["shop"]
    assert found["status"] == "ACTIVE"
    assert sorted(t["node"]["status"] for t in found["syncTasks"]["edges"]) == ["QUEUED", "QUEUED"]
    # ...and each send that failed is one WARNING line naming Redis, not an ERROR with a traceback: an outage
    unsent = [r for r in caplog.records if r.name in SENDERS]
    assert unsent and all((r.levelname, r.exc_info) == ("WARNING", None) for r in unsent), unsent
    assert all("Redis unavailable: ConnectionError" in r.getMessage() for r in unsent)
    # and each was tried: a refusal costs milliseconds, so it opens no window of sends skipped (a timeout does)
    assert len(unsent) >= 2 and not any("not tried" in r.getMessage() for r in unsent), unsent


class HungRedis:
    """A TCP listener that accepts connections and never answers (a hung Redis); counts the connections taken."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # the accepting thread looks at `_closing` this often
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self.accepted: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="hung-redis", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                self.accepted.append(self._listener.accept()[0])

    def close(self) -> None:
        self._closing.set()
        self._thread.join()
        self._listener.close()
        for connection in self.accepted:
            connection.close()


SYNC_START = "mutation($input: SyncStartInput!) { syncStart(input: $input) { tasks { status } userErrors { code } } }"


@subject_not_the_database("a hung Redis's timeout")
def test_with_redis_hung_a_mutation_after_the_first_timeout_does_not_try_redis_again(app_factory, caplog) -> None:
    # given a merchant's shop, connected and imported while Redis answered (here: the embedded mode)
    first = app_factory()
    shop = first.connect_shop("m1", "us-local", "US")
    first.wait_for_idle_sync()
    first.stop()
    # and the API process now on a Redis that accepts connections and never answers
    hung = HungRedis()
    try:
        app = app_factory(broker_url=hung.url, encryption_key=first.settings.encryption_key)
        # when the merchant starts an import: its send waits out the Redis client's timeout, and fails
        started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")
        assert started["syncStart"] == {"tasks": [{"status": "QUEUED"}], "userErrors": []}
        tried = len(hung.accepted)
        assert tried >= 1
        # and then another one, at once
        again = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
    finally:
        hung.close()
    # then it is QUEUED too (the scheduler's tick sends it once Redis is back), without opening a connection to Redis
    # again: it did not wait out the timeout a second time (each send and each signal did, 5 s each, every mutation)
    assert again["syncStart"] == {"tasks": [{"status": "QUEUED"}], "userErrors": []}
    assert len(hung.accepted) == tried
    # and each unsent task is one WARNING line naming Redis, the second saying it was not tried
    unsent = [r.getMessage() for r in caplog.records if r.name in SENDERS]
    assert len(unsent) == 2 and all("Redis unavailable: TimeoutError" in m for m in unsent), unsent
    assert "not tried" in unsent[1], unsent
