"""Sync through GraphQL: tasks after authorization, manual starts, cancel, the Task Center, live subscriptions."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from adapters.db.engine import POSTGRES_IMPORT_BATCH_RECORDS, SQLITE_IMPORT_BATCH_RECORDS
from gql.ids import from_global_id
from tests.e2e.databases import subject_not_the_database
from tests.fixtures.app import TASK_FIELDS, ShopbridgeServer
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines, wait_until
from tests.fixtures.ws import TRANSPORT_WS, OperationError

TASKS = "query($id: ID!) { shop(id: $id) { productCount orderCount lastSyncedAt syncTasks { totalCount edges { node { "
TASKS += TASK_FIELDS + " } } } } }"
ORDER_SEARCH = "/order/202309/orders/search"
SHOP_UPDATED = "subscription($shopId: ID!) { shopUpdated(shopId: $shopId) { id } }"
EXPIRY_DEADLINE = 20  # seconds: many re-read periods (1.5 s) on a loaded machine
PRODUCT_SEARCH = "/product/202309/products/search"
SYNC_START = (
    """mutation($input: SyncStartInput!) { syncStart(input: $input) {
  tasks { """
    + TASK_FIELDS
    + """ } userErrors { field message code } retryAt } }"""
)
CANCEL = """mutation($id: ID!) { syncTaskCancel(input: {taskId: $id}) { task { id status cancelRequested }
  userErrors { code } } }"""
TASK_UPDATED = "subscription($taskId: ID, $shopId: ID) { syncTaskUpdated(taskId: $taskId, shopId: $shopId) { "
TASK_UPDATED += "id kind status processed total progress created updated unchanged attempts shop { id name } } }"
ORDERS_PAGE = """query($id: ID!, $first: Int) { shop(id: $id) { orders(first: $first) { totalCount edges { node {
  tiktokOrderId status createdAt total { amount currency }
  lineItems { tiktokSkuId sellerSku productName quantity salePrice { amount currency } } } } } } }"""


def tasks_of(app: ShopbridgeServer, shop_id: str, merchant: str = "m1") -> dict:
    return app.graphql(TASKS, {"id": shop_id}, merchant)["shop"]


def sandbox_orders_since(app: ShopbridgeServer, tiktok_shop_id: str, since: datetime) -> list[dict]:
    body = app.sandbox.control("GET", f"/shops/{tiktok_shop_id}/orders?created_since={int(since.timestamp())}")
    return list(body["orders"])


POLICY_OFF = """mutation($input: ShopInventoryPolicyUpdateInput!) { shopInventoryPolicyUpdate(input: $input) {
  userErrors { code } } }"""


class TestAfterAuthorization:
    def test_two_tasks_import_products_and_30_days_of_orders(self, app: ShopbridgeServer) -> None:
        # given a freshly connected shop
        connected_at = datetime.now(UTC)
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        # then it has a PRODUCTS and an ORDERS task, both triggered by the authorization and finished
        view = tasks_of(app, shop["id"])
        tasks = {edge["node"]["kind"]: edge["node"] for edge in view["syncTasks"]["edges"]}
        assert set(tasks) == {"PRODUCTS", "ORDERS"}
        for task in tasks.values():
            assert (task["trigger"], task["status"], task["progress"]) == ("AUTHORIZATION", "SUCCEEDED", 1.0)
            assert task["failed"] == 0 and task["processed"] == task["created"] == task["total"]
        # and holds every product and exactly the orders of the last 30 days
        products = app.sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/products")["products"]
        assert view["productCount"] == len(products) == tasks["PRODUCTS"]["created"]
        window = sandbox_orders_since(app, shop["tiktokShopId"], connected_at - timedelta(days=30, seconds=5))
        everything = sandbox_orders_since(app, shop["tiktokShopId"], connected_at - timedelta(days=60))
        assert 0 < len(window) < len(everything), "the sandbox must have older orders to skip"
        assert abs(view["orderCount"] - len(window)) <= 1  # an order exactly on the window's edge may go either way
        assert view["lastSyncedAt"] is not None
        # and orders can be filtered by creation time, an offset-less time being UTC
        naive = (connected_at - timedelta(days=2)).replace(tzinfo=None).isoformat()
        recent = app.graphql(
            "query($id: ID!, $t: DateTime) { shop(id: $id) { orders(first: 100, createdAfter: $t) { totalCount } } }",
            {"id": shop["id"], "t": naive},
            "m1",
        )["shop"]["orders"]["totalCount"]
        assert recent == len([o for o in window if o["create_time"] > (connected_at - timedelta(days=2)).timestamp()])
        # and an order reads back as TikTok has it
        page = app.graphql(ORDERS_PAGE, {"id": shop["id"], "first": 100}, "m1")["shop"]["orders"]
        truth = {order["id"]: order for order in everything}
        for edge in page["edges"]:
            node = edge["node"]
            source = truth[node["tiktokOrderId"]]
            assert node["status"] == source["status"]
            assert node["total"] == {
                "amount": source["payment"]["total_amount"],
                "currency": source["payment"]["currency"],
            }
            assert sorted(li["tiktokSkuId"] for li in node["lineItems"]) == sorted(
                li["sku_id"] for li in source["line_items"]
            )

    def test_running_again_changes_nothing_and_says_so(self, app: ShopbridgeServer) -> None:
        shop = app.connect_shop("m1", "uk-local", "UK")
        # The pool's pushes (issue 8) would change TikTok's stock between the two runs: off for this shop.
        off = app.graphql(POLICY_OFF, {"input": {"shopId": shop["id"], "pushEnabled": False}}, "m1")
        assert off["shopInventoryPolicyUpdate"]["userErrors"] == []
        app.wait_for_idle_sync()
        before = app.row_counts()
        started = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS", "ORDERS"]}}, "m1")
        payload = started["syncStart"]
        assert payload["userErrors"] == [] and {t["trigger"] for t in payload["tasks"]} == {"MANUAL"}
        for task in payload["tasks"]:
            done = app.wait_for_task(task["id"], "m1")
            assert done["status"] == "SUCCEEDED"
            assert (done["created"], done["updated"]) == (0, 0) and done["unchanged"] == done["processed"] > 0
        after = app.row_counts()
        assert {k: v for k, v in after.items() if k != "sync_tasks"} == {
            k: v for k, v in before.items() if k != "sync_tasks"
        }


class TestManualSync:
    def test_a_start_naming_a_running_kind_starts_nothing_not_even_the_idle_kind(self, app_factory) -> None:
        # given a shop whose ORDERS sync runs (TikTok holds its page) while no PRODUCTS sync does
        app = app_factory(tiktok_timeout_seconds=DEADLINE_SECONDS)
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        app.sandbox.hold(ORDER_SEARCH)
        first = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")["syncStart"]
        running = first["tasks"][0]
        app.sandbox.wait_held()
        before = app.graphql(TASKS, {"id": shop["id"]}, "m1")["shop"]["syncTasks"]["totalCount"]
        # when the merchant starts PRODUCTS and ORDERS together, in either order
        for kinds in (["PRODUCTS", "ORDERS"], ["ORDERS", "PRODUCTS"]):
            both = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": kinds}}, "m1")["syncStart"]
            # then all or nothing: SYNC_ALREADY_RUNNING with the running ORDERS task only, and no PRODUCTS task
            assert [e["code"] for e in both["userErrors"]] == ["SYNC_ALREADY_RUNNING"], kinds
            assert [(t["id"], t["kind"]) for t in both["tasks"]] == [(running["id"], "ORDERS")], kinds
        tasks = app.graphql(TASKS, {"id": shop["id"]}, "m1")["shop"]["syncTasks"]
        assert tasks["totalCount"] == before
        assert [e["node"]["status"] for e in tasks["edges"] if e["node"]["kind"] == "PRODUCTS"] == ["SUCCEEDED"]
        # and PRODUCTS alone starts
        alone = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")["syncStart"]
        assert alone["userErrors"] == [] and [t["kind"] for t in alone["tasks"]] == ["PRODUCTS"]
        app.sandbox.hold()
        assert app.wait_for_task(running["id"], "m1")["status"] == "SUCCEEDED"
        assert app.wait_for_task(alone["tasks"][0]["id"], "m1")["status"] == "SUCCEEDED"

    def test_a_start_of_two_running_kinds_names_both(self, app_factory) -> None:
        # given a shop whose PRODUCTS and ORDERS syncs both run (TikTok holds both searches)
        app = app_factory(tiktok_timeout_seconds=DEADLINE_SECONDS)
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        app.sandbox.hold(ORDER_SEARCH, PRODUCT_SEARCH)
        both = {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS", "ORDERS"]}}
        first = app.graphql(SYNC_START, both, "m1")["syncStart"]
        assert first["userErrors"] == []
        # when the merchant starts both again
        again = app.graphql(SYNC_START, both, "m1")["syncStart"]
        # then the refusal names both kinds (before: ORDERS only) and shows both running tasks
        assert [(e["code"], e["message"]) for e in again["userErrors"]] == [
            ("SYNC_ALREADY_RUNNING", "This shop's products and orders syncs are already running.")
        ]
        assert [(t["id"], t["kind"]) for t in again["tasks"]] == [(t["id"], t["kind"]) for t in first["tasks"]]
        app.sandbox.hold()
        for task in first["tasks"]:
            assert app.wait_for_task(task["id"], "m1")["status"] == "SUCCEEDED"

    def test_second_task_of_a_kind_is_refused_and_cancel_stops_it(self, app_factory) -> None:
        # (the client waits for a held page as long as the test may take, instead of retrying and failing)
        app = app_factory(tiktok_timeout_seconds=DEADLINE_SECONDS)
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        # TikTok now holds the order search, so the sync below is still running (waiting for a page) when the second
        # start and the cancel land, whatever the machine's speed: slow pages only made that likely
        app.sandbox.hold(ORDER_SEARCH)
        first = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")["syncStart"]
        task = first["tasks"][0]
        app.sandbox.wait_held()
        again = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")["syncStart"]
        assert [e["code"] for e in again["userErrors"]] == ["SYNC_ALREADY_RUNNING"]
        assert [t["id"] for t in again["tasks"]] == [task["id"]]
        cancelled = app.graphql(CANCEL, {"id": task["id"]}, "m1")["syncTaskCancel"]
        assert cancelled["userErrors"] == [] and cancelled["task"]["cancelRequested"] is True
        app.sandbox.hold()  # TikTok answers again: the run sees the cancel at its next page
        assert app.wait_for_task(task["id"], "m1")["status"] == "CANCELLED"
        finished = app.graphql(CANCEL, {"id": task["id"]}, "m1")["syncTaskCancel"]
        assert [e["code"] for e in finished["userErrors"]] == ["SYNC_TASK_FINISHED"]
        assert finished["task"] == {"id": task["id"], "status": "CANCELLED", "cancelRequested": True}  # as it ended
        # once it has ended, a new one may start
        third = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")["syncStart"]
        assert third["userErrors"] == []
        assert app.wait_for_task(third["tasks"][0]["id"], "m1")["status"] == "SUCCEEDED"

    def test_a_merchant_may_start_so_many_syncs_of_a_shop_and_kind_per_hour(self, app_factory) -> None:
        """SHOPBRIDGE_MAX_SYNC_STARTS_PER_HOUR (security review 44): one active task per shop and kind, but a small
        shop's import ends in seconds, so a loop of `syncStart` made thousands of task rows a day and held the shared
        import slots. Now the merchant's own starts of a shop and kind are bounded per hour."""
        app = app_factory(max_sync_starts_per_hour=2, products=3, orders=3)
        # given a shop whose authorization imported both kinds (automatic: not counted), then two PRODUCTS syncs
        # started by hand within the hour
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()

        def start(*kinds: str) -> dict[str, Any]:
            body = {"input": {"shopId": shop["id"], "kinds": list(kinds)}}
            return dict(app.graphql(SYNC_START, body, "m1")["syncStart"])

        created = []
        for _ in range(2):
            started = start("PRODUCTS")
            assert (started["userErrors"], started["retryAt"]) == ([], None)
            created.append(datetime.fromisoformat(started["tasks"][0]["createdAt"]))
            app.wait_for_task(started["tasks"][0]["id"], "m1")
        rows = app.count_rows("sync_tasks")
        # when a third PRODUCTS sync is started, alone or with ORDERS
        for kinds in (["PRODUCTS"], ["ORDERS", "PRODUCTS"]):
            refused = start(*kinds)
            # then it is refused, all or nothing, saying when it may start again: an hour after the oldest of them
            (error,) = refused["userErrors"]
            assert (error["code"], error["field"], refused["tasks"]) == ("TOO_MANY_SYNC_STARTS", None, []), kinds
            retry_at = datetime.fromisoformat(refused["retryAt"])
            assert retry_at == created[0] + timedelta(hours=1)
            seconds = (retry_at - app.clock.now()).total_seconds()
            match = re.search(r"within 60 minutes; try again in (\d+) seconds \(at (\S+)Z\)\.$", error["message"])
            assert match and 0 < seconds <= int(match[1]) <= 3600, (error["message"], seconds)
            assert datetime.fromisoformat(match[2]).replace(tzinfo=UTC) == retry_at.replace(microsecond=0)
        assert app.count_rows("sync_tasks") == rows
        # and ORDERS alone, started by hand once this hour, is not held back by PRODUCTS'
        orders = start("ORDERS")
        assert orders["userErrors"] == []
        app.wait_for_task(orders["tasks"][0]["id"], "m1")
        # and an hour after the first start, PRODUCTS may start again
        app.clock.advance(timedelta(hours=1))
        again = start("PRODUCTS")
        assert again["userErrors"] == []
        assert app.wait_for_task(again["tasks"][0]["id"], "m1")["status"] == "SUCCEEDED"

    @pytest.mark.parametrize(
        ("kinds", "since_days", "code"),
        [
            ([], None, "INVALID_INPUT"),
            (["ORDERS"], 91, "INVALID_SYNC_WINDOW"),
            (["ORDERS"], -1, "INVALID_SYNC_WINDOW"),
            (["ORDERS"], "naive", "INVALID_SYNC_WINDOW"),  # a time without an offset is UTC, still too old
            (["PRODUCTS"], 7, "INVALID_SYNC_WINDOW"),  # a window for no ORDERS task: an error, not ignored
        ],
    )
    @subject_not_the_database("syncStart's argument checks")
    def test_bad_requests(self, app: ShopbridgeServer, kinds: list, since_days: int | str | None, code: str) -> None:
        shop = app.connect_shop("m1", "sg-local", "SG")
        app.wait_for_idle_sync()
        since = None
        if since_days == "naive":
            since = (datetime.now(UTC) - timedelta(days=91)).replace(tzinfo=None).isoformat()
        elif since_days is not None:
            since = (datetime.now(UTC) - timedelta(days=since_days)).isoformat()
        payload = app.graphql(
            SYNC_START, {"input": {"shopId": shop["id"], "kinds": kinds, "ordersCreatedSince": since}}, "m1"
        )["syncStart"]
        assert [e["code"] for e in payload["userErrors"]] == [code] and payload["tasks"] == []

    def test_90_days_back_imports_older_orders(self, app: ShopbridgeServer) -> None:
        shop = app.connect_shop("m1", "my-local", "MY")
        app.wait_for_idle_sync()
        thirty = tasks_of(app, shop["id"])["orderCount"]
        since = (datetime.now(UTC) - timedelta(days=90)).isoformat()
        payload = app.graphql(
            SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"], "ordersCreatedSince": since}}, "m1"
        )["syncStart"]
        done = app.wait_for_task(payload["tasks"][0]["id"], "m1")
        everything = app.sandbox.control("GET", f"/shops/{shop['tiktokShopId']}/orders")["orders"]
        assert done["created"] == len(everything) - thirty and tasks_of(app, shop["id"])["orderCount"] == len(
            everything
        )

    def test_task_center_lists_and_filters(self, app: ShopbridgeServer) -> None:
        us = app.connect_shop("m1", "us-local", "US")
        app.connect_shop("m1", "uk-local", "UK")
        app.connect_shop("m2", "sg-local", "SG")
        app.wait_for_idle_sync()
        query = "query($shop: ID, $status: [SyncTaskStatus!]) { syncTasks(shopId: $shop, status: $status) { "
        query += "totalCount edges { node { shop { id } status } } } }"
        assert app.graphql(query, {}, "m1")["syncTasks"]["totalCount"] == 4
        only_us = app.graphql(query, {"shop": us["id"]}, "m1")["syncTasks"]
        assert only_us["totalCount"] == 2 and {e["node"]["shop"]["id"] for e in only_us["edges"]} == {us["id"]}
        assert app.graphql(query, {"status": ["RUNNING"]}, "m1")["syncTasks"]["totalCount"] == 0
        # the status filter is a set: no status matches no task (it used to match them all), null matches any
        assert app.graphql(query, {"status": []}, "m1")["syncTasks"] == {"totalCount": 0, "edges": []}
        assert app.graphql(query, {"status": None}, "m1")["syncTasks"]["totalCount"] == 4
        literal = "{ syncTasks(status: []) { totalCount edges { node { id } } } }"
        assert app.graphql(literal, {}, "m1")["syncTasks"] == {"totalCount": 0, "edges": []}
        assert app.graphql(query, {"shop": us["id"]}, "m2")["syncTasks"]["totalCount"] == 0

    def test_task_center_filters_by_trigger_so_imports_show_without_the_polls(self, app: ShopbridgeServer) -> None:
        """Rule (Query.syncTasks and Shop.syncTasks `trigger`, a set like `status`): polls are most of a shop's
        tasks, and the imports a merchant started sank under them with no way to list them alone (newcomer57 F12)."""
        # given a shop's two imports after its authorization, one Sync now, then three polls (the newest tasks)
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        manual = app.graphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["PRODUCTS"]}}, "m1")["syncStart"]
        app.wait_for_task(manual["tasks"][0]["id"], "m1")
        columns = [c["name"] for c in sa.inspect(app._db).get_columns("sync_tasks")]
        for n in range(3):
            copied = {"id": f"'{'f' * 31}{n}'", "trigger": "'SCHEDULED'"}
            picked = ", ".join(copied.get(c, f'"{c}"') for c in columns)
            quoted = ", ".join(f'"{c}"' for c in columns)
            app.execute(
                f"INSERT INTO sync_tasks ({quoted}) SELECT {picked} FROM sync_tasks WHERE \"trigger\" = 'MANUAL'"
            )
        query = "query($trigger: [SyncTrigger!], $first: Int, $after: String) { syncTasks(trigger: $trigger, "
        query += "first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } "
        query += "edges { node { trigger } } } }"

        def triggers(**variables: Any) -> tuple[int, list[str]]:
            page = app.graphql(query, variables, "m1")["syncTasks"]
            return page["totalCount"], [e["node"]["trigger"] for e in page["edges"]]

        # when the Task Center asks for the imports only, then the polls are left out, newest first
        imports = ["AUTHORIZATION", "MANUAL", "REAUTHORIZATION"]
        assert triggers(trigger=imports) == (3, ["MANUAL", "AUTHORIZATION", "AUTHORIZATION"])
        # and a page turn keeps the filter
        first = app.graphql(query, {"trigger": imports, "first": 1}, "m1")["syncTasks"]
        after = first["pageInfo"]["endCursor"]
        assert triggers(trigger=imports, first=5, after=after) == (3, ["AUTHORIZATION", "AUTHORIZATION"])
        # the polls alone; a set: repeats count once, [] matches none, null every task
        assert triggers(trigger=["SCHEDULED", "SCHEDULED"]) == (3, ["SCHEDULED"] * 3)
        assert triggers(trigger=[]) == (0, [])
        assert triggers(trigger=None)[0] == 6
        # and a shop's own list takes the same filter
        own = "query($id: ID!) { shop(id: $id) { syncTasks(trigger: [SCHEDULED]) { totalCount } } }"
        assert app.graphql(own, {"id": shop["id"]}, "m1")["shop"]["syncTasks"]["totalCount"] == 3


class TestSubscriptions:
    async def test_a_task_from_queued_to_succeeded(self, app_factory) -> None:
        # one worker thread, and TikTok holding both searches: the ORDERS task waits QUEUED behind the PRODUCTS task
        # until the test releases it, then runs page by page (20 orders, one slice) as the test lets pages through,
        # whatever the machine's speed (25 ms pages only made a QUEUED first message and two progress steps likely).
        # On the registration path: a shop's first imports wait for its webhook registration (cff937e), and then
        # begin in their queued order (`SyncTask.waits_for_import_ahead`); with one thread ORDERS, whose message came
        # back first once the registration ended, began before PRODUCTS (CI on 1ecd03a; RUNNING from the first)
        app = app_factory(
            orders=400, products=60, embedded_worker_threads=1, worker_reserved_threads=0, sync_order_slices=1,
            sync_page_size=20, tiktok_timeout_seconds=DEADLINE_SECONDS,
        )  # fmt: skip
        app.sandbox.hold(PRODUCT_SEARCH, ORDER_SEARCH)
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        tasks = tasks_of(app, shop["id"])["syncTasks"]["edges"]
        orders_task = next(edge["node"] for edge in tasks if edge["node"]["kind"] == "ORDERS")
        async with app.subscribe(TASK_UPDATED, {"taskId": orders_task["id"]}, "m1") as op:
            messages = [(await op.next())["syncTaskUpdated"]]

            async def read_until(reached: Callable[[dict[str, Any]], bool]) -> None:
                while not reached(messages[-1]):
                    messages.append((await op.next())["syncTaskUpdated"])

            app.sandbox.hold(ORDER_SEARCH)  # the products import ends; the orders import starts, held at TikTok
            await read_until(lambda m: m["status"] == "RUNNING")
            for pages in (1, 2):
                await asyncio.to_thread(app.sandbox.let_through, 1)
                await read_until(lambda m, pages=pages: m["processed"] >= 20 * pages)
            app.sandbox.hold()
            messages += [m["syncTaskUpdated"] for m in await op.drain()]
        statuses = [m["status"] for m in messages]
        assert statuses[0] == "QUEUED" and "RUNNING" in statuses and statuses[-1] == "SUCCEEDED"
        running = [m["processed"] for m in messages if m["status"] == "RUNNING"]
        assert running == sorted(running) and len(set(running)) >= 2, messages
        assert messages[-1]["progress"] == 1.0 and messages[-1]["shop"] == {"id": shop["id"], "name": shop["name"]}
        assert all(m["id"] == orders_task["id"] for m in messages)

    @subject_not_the_database("subscription fan-out and ownership")
    async def test_following_a_shop_and_other_merchants_see_nothing(self, app_factory) -> None:
        app = app_factory(orders=300, latency_ms=20)
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        await asyncio.to_thread(app.wait_for_idle_sync)
        async with (
            app.subscribe(TASK_UPDATED, {"shopId": shop["id"]}, "m1") as mine,
            app.subscribe(TASK_UPDATED, {}, "m2") as theirs,
        ):
            bus = app.asgi.state.services.events
            await asyncio.to_thread(
                wait_until, lambda: bus.listening("m1") and bus.listening("m2"), "both subscriptions listening"
            )
            # the current state comes first: the shop's finished imports, one message each
            initial = [(await mine.next())["syncTaskUpdated"] for _ in range(2)]
            assert sorted((m["kind"], m["status"]) for m in initial) == [
                ("ORDERS", "SUCCEEDED"),
                ("PRODUCTS", "SUCCEEDED"),
            ]
            started = await app.agraphql(SYNC_START, {"input": {"shopId": shop["id"], "kinds": ["ORDERS"]}}, "m1")
            task_id = started["syncStart"]["tasks"][0]["id"]
            seen = []
            while not seen or seen[-1]["status"] != "SUCCEEDED":
                seen.append((await mine.next())["syncTaskUpdated"])
            assert {m["id"] for m in seen} == {task_id}
            with pytest.raises(TimeoutError):
                await theirs.next(timeout=1.5)

    @subject_not_the_database("a subscription's first messages")
    async def test_the_first_messages_are_the_current_state_even_when_nothing_runs(self, app_factory) -> None:
        # given a merchant whose two shops finished their imports, and nothing running
        app = app_factory(orders=30, products=20)
        us = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        gb = await asyncio.to_thread(app.connect_shop, "m1", "uk-local", "UK")
        await asyncio.to_thread(app.wait_for_idle_sync)
        # when a client subscribes with no arguments (the README's walk-through)
        async with app.subscribe(TASK_UPDATED, {}, "m1") as op:
            initial = [(await op.next())["syncTaskUpdated"] for _ in range(4)]
            # then it gets each shop's latest task of each kind, as stored, and nothing more until something changes
            assert sorted((m["shop"]["id"], m["kind"], m["status"]) for m in initial) == sorted(
                (shop["id"], kind, "SUCCEEDED") for shop in (us, gb) for kind in ("PRODUCTS", "ORDERS")
            )
            with pytest.raises(TimeoutError):
                await op.next(timeout=2)
        # and a merchant without tasks gets nothing first
        async with app.subscribe(TASK_UPDATED, {}, "m2") as other:
            with pytest.raises(TimeoutError):
                await other.next(timeout=2)

    @subject_not_the_database("ownership checks")
    async def test_another_merchants_task_cannot_be_followed(self, app: ShopbridgeServer) -> None:
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        task_id = tasks_of(app, shop["id"])["syncTasks"]["edges"][0]["node"]["id"]
        async with app.subscribe(TASK_UPDATED, {"taskId": task_id}, "m2") as op:
            with pytest.raises(OperationError) as error:
                await op.next()
        assert "not found" in str(error.value).lower()
        async with app.subscribe(TASK_UPDATED, {"shopId": shop["id"]}, "m2") as op:
            with pytest.raises(OperationError):
                await op.next()

    @subject_not_the_database("ownership checks")
    async def test_a_task_with_another_shops_id_is_refused_not_followed(self, app: ShopbridgeServer) -> None:
        # given a merchant with two shops, and a task of the first
        us = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        gb = await asyncio.to_thread(app.connect_shop, "m1", "uk-local", "UK")
        task_id = tasks_of(app, us["id"])["syncTasks"]["edges"][0]["node"]["id"]
        # when a subscription names that task with the second shop's id
        async with app.subscribe(TASK_UPDATED, {"taskId": task_id, "shopId": gb["id"]}, "m1") as op:
            # then it is refused, rather than streaming the first shop's task and ignoring shopId
            with pytest.raises(OperationError) as refused:
                await op.next()
        assert [e["extensions"]["code"] for e in refused.value.payload] == ["BAD_USER_INPUT"]
        assert refused.value.payload[0]["message"] == "taskId is a task of another shop than shopId."
        # and with its own shop's id it is followed
        async with app.subscribe(TASK_UPDATED, {"taskId": task_id, "shopId": us["id"]}, "m1") as op:
            assert (await op.next())["syncTaskUpdated"]["id"] == task_id

    @subject_not_the_database("a subscription's token expiry")
    async def test_a_subscription_ends_when_its_token_expires(self, app: ShopbridgeServer) -> None:
        async with app.subscribe(TASK_UPDATED, {}, "m1", ttl=2) as op:
            with pytest.raises(OperationError) as error:
                await op.next()
        assert "expired" in str(error.value)

    @subject_not_the_database("a subscription's token expiry")
    async def test_a_shop_subscription_ends_when_its_token_expires(self, app: ShopbridgeServer) -> None:
        """`shopUpdated` re-checks the token at each re-read (gql/subscriptions.py: a subscription does not outlive
        its token), even when the shop no longer changes."""
        # given an idle shop, and a subscriber whose token expires in 2 s
        shop = await asyncio.to_thread(app.connect_shop, "m1", "us-local", "US")
        await asyncio.to_thread(app.wait_for_idle_sync)
        async with app.subscribe(SHOP_UPDATED, {"shopId": shop["id"]}, "m1", ttl=2) as op:
            assert (await op.next())["shopUpdated"]["id"] == shop["id"]
            # when the token expires, then the subscription ends with an error at its next re-read (every 1.5 s;
            # a deadline of many periods, far below the wait of a subscription that keeps going)
            with pytest.raises(OperationError) as error:
                await op.next(timeout=EXPIRY_DEADLINE)
        assert "expired" in str(error.value)

    @subject_not_the_database("WebSocket authentication")
    async def test_websocket_without_valid_token_is_refused(self, app: ShopbridgeServer) -> None:
        import json

        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        for payload in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {app.token('m1', ttl=-5)}"}):
            async with connect(app.url.replace("http", "ws") + "/graphql", subprotocols=[TRANSPORT_WS]) as socket:
                await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(socket.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


class TestDeleteAfterImport:
    def test_zero_rows_of_the_shop_remain(self, app: ShopbridgeServer) -> None:
        shop = app.connect_shop("m1", "us-local", "US")
        kept = app.connect_shop("m1", "uk-local", "UK")
        app.wait_for_idle_sync()
        counts = app.row_counts(shop_tiktok_id=shop["tiktokShopId"])
        assert counts["orders"] > 0 and counts["products"] > 0 and counts["line_items"] > 0 and counts["skus"] > 0
        kept_before = app.row_counts(shop_tiktok_id=kept["tiktokShopId"])
        app.graphql(
            "mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId } }", {"id": shop["id"]}, "m1"
        )
        assert set(app.row_counts(shop_tiktok_id=shop["tiktokShopId"]).values()) == {0}
        assert app.row_counts(shop_tiktok_id=kept["tiktokShopId"]) == kept_before

    def test_delete_in_the_middle_of_an_import(self, app_factory) -> None:
        # One slice of 20 orders a page, and TikTok holding the order search: the test lets a first page through and
        # deletes the shop while the next one waits at TikTok, whatever the machine's speed (1.5 s pages only made
        # that likely). The client waits for a held page as long as the test may take, instead of retrying.
        app = app_factory(orders=200, sync_page_size=20, sync_order_slices=1, tiktok_timeout_seconds=DEADLINE_SECONDS)
        app.sandbox.hold(ORDER_SEARCH)
        shop = app.connect_shop("m1", "us-local", "US")
        task = next(e["node"] for e in tasks_of(app, shop["id"])["syncTasks"]["edges"] if e["node"]["kind"] == "ORDERS")
        query = "query($id: ID!) { syncTask(id: $id) { processed status } }"
        with log_lines("domain.services.importer") as lines:
            app.sandbox.wait_held()
            app.sandbox.let_through(1)  # a first page answered; the next one waits at TikTok
            wait_until(lambda: app.graphql(query, {"id": task["id"]}, "m1")["syncTask"]["processed"], "a first page")
            assert app.graphql(query, {"id": task["id"]}, "m1")["syncTask"]["status"] == "RUNNING"
            app.graphql(
                "mutation($id: ID!) { shopDelete(input: {shopId: $id}) { deletedShopId } }", {"id": shop["id"]}, "m1"
            )
            app.sandbox.hold()  # the held page is answered: the import tries to store it and learns the shop is gone
            # the import's own word that it has stopped: no page of it can be in flight after this line. Either word:
            # a write of the run that meets the delete while it is under way (its heartbeat, 15 s after the first
            # page, on a loaded machine) hands the run back instead, nothing written, its task gone with the shop
            task_id = from_global_id(task["id"])[1]
            lines.wait_for(f"sync task {task_id} stopped", f"sync task {task_id} handed back")
        assert set(app.row_counts(shop_tiktok_id=shop["tiktokShopId"]).values()) == {0}

    def test_a_delete_waits_behind_one_short_import_transaction(self, app_factory) -> None:
        # A shop's delete takes the shop first (PostgreSQL: its row FOR UPDATE; SQLite: the one write lock), so it
        # waits for the import's transaction in flight, which holds the shop until its commit: how long depends on
        # how many records one transaction stores. 2,000 kept a delete waiting 0.7-2.3 s (SQLite) and up to 4.6 s
        # (PostgreSQL) on a loaded machine; at most the database's records per transaction (`Database.
        # import_batch_records`: 1,000 on SQLite, where every write waits for the one write lock; 2,000 on PostgreSQL,
        # where only a delete and writes of the batch's rows wait), whatever the number of pages waiting.
        app = app_factory(orders=6000, sync_page_size=100, sync_order_slices=1, tiktok_timeout_seconds=DEADLINE_SECONDS)
        app.sandbox.hold(ORDER_SEARCH)
        shop = app.connect_shop("m1", "us-local", "US")
        task = next(e["node"] for e in tasks_of(app, shop["id"])["syncTasks"]["edges"] if e["node"]["kind"] == "ORDERS")
        task_id = from_global_id(task["id"])[1]
        written: list[int] = []  # the task's `processed` as each of its transactions writes it

        def record(conn, cursor, statement: str, parameters, context, executemany: bool) -> None:
            if statement.lstrip().startswith("UPDATE sync_tasks") and context is not None:
                values = context.compiled_parameters[0]
                if values.get("id_1") == task_id:
                    written.append(values["processed"])

        event.listen(Engine, "before_cursor_execute", record)
        try:
            # given the import running (its first order page asked) while something holds what its writer waits
            # for (the task's row; SQLite: the one write lock), and 25 pages (2,500 orders) fetched meanwhile, all
            # waiting for the writer. (Not the shop's row FOR UPDATE, as a delete holds it, on PostgreSQL: there the
            # writer hands its run back rather than wait, and no page is fetched while the shop is held.)
            app.sandbox.wait_held()
            with app.holding_the_task(from_global_id(shop["id"])[1], task_id):
                app.sandbox.let_through(25)
            # when it is free again and the import runs to its end
            app.sandbox.hold()
            done = app.wait_for_task(task["id"], "m1")
        finally:
            event.remove(Engine, "before_cursor_execute", record)
        # then no transaction of it stored more than its database's size of the 2,500 orders that were waiting
        assert done["status"] == "SUCCEEDED" and done["processed"] > 2500, done
        steps = [after - before for before, after in itertools.pairwise(written)]
        sqlite = app.settings.database_url.startswith("sqlite")
        most = SQLITE_IMPORT_BATCH_RECORDS if sqlite else POSTGRES_IMPORT_BATCH_RECORDS
        assert most < 2500, most  # the orders waiting are more than one transaction may store
        assert sum(steps) == done["processed"] - written[0] and max(steps) <= most, steps


class TestOrdersPage:
    def test_statement_count_does_not_depend_on_page_size(self, app: ShopbridgeServer) -> None:
        shop = app.connect_shop("m1", "us-local", "US")
        app.wait_for_idle_sync()
        engine = app.asgi.state.services.db.read_engine.sync_engine
        reads: dict[int, list[str]] = {}
        statements: list[str] = []

        def count(conn, cursor, statement, *args) -> None:
            statements.append(statement)

        for size in (5, 40):
            statements.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                page = app.graphql(ORDERS_PAGE, {"id": shop["id"], "first": size}, "m1")
            finally:
                event.remove(engine, "before_cursor_execute", count)
            assert len(page["shop"]["orders"]["edges"]) == size
            selects = [s.split("FROM", 1)[1].split()[0] for s in statements if s.lstrip().upper().startswith("SELECT")]
            reads[size] = selects
        # the shop (a DataLoader), one page of orders, the line items of all of them at once, the total count (the
        # shop's running count, a lookup)
        assert reads[5] == reads[40] == ["shops", "orders", "line_items", "shop_catalog_counts"], reads
