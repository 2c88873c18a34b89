"""TikTok refusing, looping or stalling, seen through GraphQL: each fails only its own task, at once, with a stable
code and TikTok's words, and the sandbox's counters show that nothing kept calling TikTok (issue 12, items 16-19).

The sandbox aims each fault at the order search alone (`paths`), so the products sync of the same shop shows what
still works."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_sync import SYNC_START, tasks_of
from tests.fixtures.app import ShopbridgeServer

ORDER_SEARCH = "/order/202309/orders/search"
SHOP_STATUS = "query($id: ID!) { shop(id: $id) { status orderCount } }"
ATTENTION = "query($id: ID!) { shop(id: $id) { attention { code message } } }"


def tasks_by_kind(app: ShopbridgeServer, shop_id: str) -> dict[str, dict[str, Any]]:
    edges = tasks_of(app, shop_id)["syncTasks"]["edges"]
    return {edge["node"]["kind"]: edge["node"] for edge in edges}


def order_search_counts(app: ShopbridgeServer) -> dict[str, int]:
    return dict(app.sandbox.control("GET", "/counters")["by_path"].get(ORDER_SEARCH, {}))


def aim_fault(app: ShopbridgeServer, kind: str, **extra: Any) -> None:
    """From now on every order search meets `kind`; the counters start from zero."""
    app.sandbox.control("POST", "/counters/reset")
    app.sandbox.control("POST", "/faults", {"rate": 1.0, "kinds": [kind], "paths": [ORDER_SEARCH], **extra})


def start(app: ShopbridgeServer, shop_id: str, kinds: list[str]) -> list[dict[str, Any]]:
    payload = app.graphql(SYNC_START, {"input": {"shopId": shop_id, "kinds": kinds}}, "m1")["syncStart"]
    assert payload["userErrors"] == []
    return list(payload["tasks"])


@subject_not_the_database("TikTok's refusals as task errors")
def test_a_missing_scope_fails_the_orders_task_only_and_the_shop_stays_active(app: ShopbridgeServer) -> None:
    # given an app whose token lacks the order scope: TikTok answers 105005 on the order search, and only there
    aim_fault(app, "missing_scope")
    # when a shop is connected (which starts a PRODUCTS and an ORDERS task)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    # then the ORDERS task failed on its first attempt with a code naming the missing permission
    tasks = tasks_by_kind(app, shop["id"])
    orders = tasks["ORDERS"]
    assert (orders["status"], orders["errorCode"], orders["attempts"]) == ("FAILED", "MISSING_SCOPE", 1)
    assert orders["failedAttempts"] == 1  # the refused run: a run that failed, its only one
    assert f"POST {ORDER_SEARCH}" in orders["errorMessage"] and "105005" in orders["errorMessage"]
    # and the products were imported, the shop is still ACTIVE, and a new products sync still works
    assert tasks["PRODUCTS"]["status"] == "SUCCEEDED"
    assert app.graphql(SHOP_STATUS, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"
    # and the shop's notice says a poll will not mend it, and what will (newcomer57 F10: "it is retried at the next
    # poll", and the merchant waited for a poll that failed the same way)
    assert app.graphql(ATTENTION, {"id": shop["id"]}, "m1")["shop"]["attention"] == [
        {
            "code": "SYNC_FAILING",
            "message": "The last orders sync failed: the shop's authorization lacks a permission Shopbridge needs, so "
            "the next poll fails the same way. Re-authorize the shop; the Task Center has the details.",
        }
    ]
    (again,) = start(app, shop["id"], ["PRODUCTS"])
    assert app.wait_for_task(again["id"], "m1")["status"] == "SUCCEEDED"
    # and the refused search was not retried: at most one request per time slice, all refused
    counts = order_search_counts(app)
    assert set(counts) == {"fault:missing_scope"} and counts["fault:missing_scope"] <= app.settings.sync_order_slices


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        ("missing_parameter", "36009004", "A required parameter is missing."),
        ("invalid_sign", "106001", "The sign query parameter is invalid."),
    ],
)
@subject_not_the_database("TikTok's refusals as task errors")
def test_a_refusal_no_retry_can_fix_fails_the_task_at_once_naming_tiktoks_code(
    app: ShopbridgeServer, kind: str, code: str, words: str
) -> None:
    shop = app.connect_shop("m1", "uk-local", "UK")
    app.wait_for_idle_sync()
    aim_fault(app, kind)
    (task,) = start(app, shop["id"], ["ORDERS"])
    done = app.wait_for_task(task["id"], "m1")
    assert (done["status"], done["errorCode"], done["attempts"]) == ("FAILED", "TIKTOK_REJECTED", 1)
    assert f"code={code}" in done["errorMessage"] and words in done["errorMessage"]
    assert app.graphql(SHOP_STATUS, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"
    counts = order_search_counts(app)
    assert set(counts) == {f"fault:{kind}"} and counts[f"fault:{kind}"] <= app.settings.sync_order_slices


@subject_not_the_database("TikTok's page tokens")
def test_a_page_token_that_comes_back_ends_the_import_with_a_clear_error(app_factory: Any) -> None:
    # given TikTok answering each page token with that same token, in an import of several pages per slice
    app = app_factory(orders=200, sync_page_size=5, sync_order_slices=2)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    aim_fault(app, "repeat_page_token")
    # when the orders are synced again
    (task,) = start(app, shop["id"], ["ORDERS"])
    done = app.wait_for_task(task["id"], "m1")
    # then the task failed with a clear code, after two pages per slice: no page was asked for twice
    assert (done["status"], done["errorCode"], done["attempts"]) == ("FAILED", "TIKTOK_CURSOR_STUCK", 1)
    assert "next_page_token" in done["errorMessage"]
    counts = order_search_counts(app)
    assert counts.get("fault:repeat_page_token", 0) <= 2 and counts.get("ok", 0) <= 2
    # and it counted only what was really there: each order once, never more than the total
    assert done["processed"] == done["unchanged"] <= 4 * 5
    assert done["total"] is None or done["processed"] <= done["total"]


def test_an_import_past_its_time_limit_fails_frees_the_worker_and_sends_nothing_more(app_factory: Any) -> None:
    # given the embedded worker pool with ONE thread (none kept from imports), a 10-second time limit, and one
    # attempt per task (the products sync below must end within it: 1 s was too short for it at load 13)
    app = app_factory(
        embedded_worker_threads=1, worker_reserved_threads=0, sync_time_limit_seconds=10, sync_max_attempts=1,
        tiktok_timeout_seconds=30.0,
    )  # fmt: skip
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()
    # and TikTok answering the order search slowly forever (each answer 11 s late, past the limit, within the
    # client's 30 s timeout; the stopped import's request is ended with it, and the server's stop waits for that)
    aim_fault(app, "slow", slow_seconds=11.0)
    # when an orders sync starts, and a products sync waits behind it for the only worker thread
    orders, products = start(app, shop["id"], ["ORDERS", "PRODUCTS"])
    failed = app.wait_for_task(orders["id"], "m1")
    sent = order_search_counts(app)
    # then the orders task failed with a clear code
    assert (failed["status"], failed["errorCode"], failed["attempts"]) == ("FAILED", "TIME_LIMIT_EXCEEDED", 1)
    assert failed["failedAttempts"] == 1  # the budget of SHOPBRIDGE_SYNC_MAX_ATTEMPTS=1 failed runs, spent
    assert "time limit" in failed["errorMessage"]
    # and the worker thread was freed: the products task behind it ran to its end
    assert app.wait_for_task(products["id"], "m1")["status"] == "SUCCEEDED"
    # and no request of the stopped import reached TikTok after it failed
    assert order_search_counts(app) == sent


@subject_not_the_database("TikTok's refusals as task errors")
def test_a_code_tiktok_refuses_is_a_denied_authorization_not_an_outage(app: ShopbridgeServer) -> None:
    # given a consent code already exchanged once (TikTok's codes are single-use)
    from tests.e2e.test_store_management import codes, complete, start, state_of

    first, second = (state_of(start(app, "m1", region)["authorizationUrl"]) for region in ("US", "UK"))
    code = app.sandbox.authorize("us-local", first)["code"]
    assert complete(app, "m1", first, code=code)["userErrors"] == []
    # when it is sent again: TikTok refuses it, and trying again later cannot help
    assert codes(complete(app, "m1", second, code=code)) == ["AUTHORIZATION_DENIED"]
