"""Get Order List and Get Order Detail over real HTTP: windows, sort, keyset paging under inserts, detail limits."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from sandbox.data import ORDER_STATUSES

SEARCH = "/order/202309/orders/search"
DETAIL = "/order/202309/orders"


def shop_id(sandbox, seller: str = "us-local") -> str:
    return sandbox.world.sellers[seller].shops[0].id


def search_all(caller, body: dict, page_size: int = 9, **query: str) -> tuple[list[dict], set[int]]:
    orders, totals, token = [], set(), None
    while True:
        params = {"page_size": str(page_size), **query, **({"page_token": token} if token else {})}
        envelope = caller.call("POST", SEARCH, params, body)
        assert envelope["code"] == 0, envelope
        orders += envelope["data"]["orders"]
        totals.add(envelope["data"]["total_count"])
        token = envelope["data"]["next_page_token"]
        if not token:
            return orders, totals


def test_default_order_is_newest_created_first_and_complete(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    orders, totals = search_all(caller, {})
    truth = sandbox.control("GET", f"shops/{shop_id(sandbox)}/orders")["orders"]
    expected = sorted(truth, key=lambda o: (o["create_time"], o["id"]), reverse=True)
    assert orders == expected and totals == {80}


def test_orders_cover_every_status_and_the_last_45_days(sandbox) -> None:
    truth = sandbox.control("GET", f"shops/{shop_id(sandbox, 'uk-local')}/orders")["orders"]
    assert {o["status"] for o in truth} == set(ORDER_STATUSES)
    now = time.time()
    assert all(now - 45 * 86400 - 5 <= o["create_time"] <= now for o in truth)
    assert len({item["id"] for o in truth for item in o["line_items"]}) == sum(len(o["line_items"]) for o in truth)
    for order in truth:
        payment = order["payment"]
        items = sum(Decimal(item["sale_price"]) for item in order["line_items"])
        assert payment["currency"] == "GBP" and Decimal(payment["sub_total"]) == items
        assert Decimal(payment["total_amount"]) == items + Decimal(payment["shipping_fee"]) + Decimal(payment["tax"])
        assert (order["recipient_address"] == {}) == (order["status"] in ("UNPAID", "ON_HOLD"))


def test_update_time_window_ascending_honours_ge_and_strict_lt(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    truth = sandbox.control("GET", f"shops/{shop_id(sandbox)}/orders")["orders"]
    times = sorted(o["update_time"] for o in truth)
    low, high = times[10], times[50]
    body = {"update_time_ge": low, "update_time_lt": high}
    orders, totals = search_all(caller, body, sort_field="update_time", sort_order="ASC")
    expected = sorted((o for o in truth if low <= o["update_time"] < high), key=lambda o: (o["update_time"], o["id"]))
    assert [o["id"] for o in orders] == [o["id"] for o in expected] and totals == {len(expected)}
    assert any(o["update_time"] == low for o in orders) and all(o["update_time"] != high for o in orders)


def test_status_and_create_window_filters_combine(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    truth = sandbox.control("GET", f"shops/{shop_id(sandbox)}/orders")["orders"]
    since = sorted(o["create_time"] for o in truth)[20]
    body = {"create_time_ge": since, "order_status": "COMPLETED"}
    orders, totals = search_all(caller, body, page_size=4, sort_field="update_time", sort_order="DESC")
    expected = [o for o in truth if o["create_time"] >= since and o["status"] == "COMPLETED"]
    assert {o["id"] for o in orders} == {o["id"] for o in expected} and totals == {len(expected)}
    assert [o["update_time"] for o in orders] == sorted((o["update_time"] for o in orders), reverse=True)


def test_cursors_stay_valid_when_orders_arrive_between_pages(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    query = {"page_size": "20", "sort_field": "update_time", "sort_order": "ASC"}
    first = caller.call("POST", SEARCH, query, {})["data"]
    seen = [o["id"] for o in first["orders"]]
    # when an old order is touched (moves to the end) and a new one arrives, mid-pagination
    touched = seen[0]
    changed = sandbox.control(
        "POST", f"shops/{shop_id(sandbox)}/orders", {"orders": [{"id": touched, "status": "COMPLETED"}, {}]}
    )
    new_id = changed["orders"][1]["id"]
    token = first["next_page_token"]
    while token:
        data = caller.call("POST", SEARCH, {**query, "page_token": token}, {})["data"]
        seen += [o["id"] for o in data["orders"]]
        token = data["next_page_token"]
    # then nothing already paged is repeated except the order that really changed, and the new one shows up
    assert len(seen) == 80 + 2 and seen.count(touched) == 2 and new_id in seen
    assert len(set(seen)) == 81


@pytest.mark.parametrize(
    ("query", "body", "code", "message"),
    [
        ({}, {}, 21001001, "page_size"),
        ({"page_size": "0"}, {}, 21001001, "page_size"),
        ({"page_size": "101"}, {}, 21001001, "page_size"),
        ({"page_size": "5", "sort_field": "price"}, {}, 21001001, "sort_field"),
        ({"page_size": "5", "sort_order": "UP"}, {}, 21001001, "sort_order"),
        ({"page_size": "5", "page_token": "garbage"}, {}, 21001001, "page_token"),
        ({"page_size": "5"}, {"order_status": "LOST"}, 21001001, "order_status"),
        (
            {"page_size": "5"},
            {"create_time_ge": "1700000000"},
            36009004,
            "param create_time_ge type invalid, actual type is:string, expected type is:int64",
        ),
        ({"page_size": "5"}, {"update_time_lt": True}, 36009004, "actual type is:bool"),
    ],
)
def test_bad_order_searches_are_refused(tiktok, query: dict, body: dict, code: int, message: str) -> None:
    envelope = tiktok("us-local").call("POST", SEARCH, query, body)
    assert envelope["code"] == code and message in envelope["message"]


def test_detail_returns_this_shops_orders_only_up_to_50(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    mine = [o["id"] for o in sandbox.control("GET", f"shops/{shop_id(sandbox)}/orders")["orders"]]
    theirs = [o["id"] for o in sandbox.control("GET", f"shops/{shop_id(sandbox, 'us-local-2')}/orders")["orders"]]
    envelope = caller.call("GET", DETAIL, {"ids": ",".join(mine[:3])})
    assert envelope["code"] == 0 and [o["id"] for o in envelope["data"]["orders"]] == mine[:3]
    mixed = caller.call("GET", DETAIL, {"ids": ",".join([mine[5], theirs[0]])})
    assert [o["id"] for o in mixed["data"]["orders"]] == [mine[5]]
    assert caller.call("GET", DETAIL, {"ids": theirs[0]})["code"] == 21008111
    assert caller.call("GET", DETAIL, {"ids": ",".join(mine[:50])})["code"] == 0
    assert caller.call("GET", DETAIL, {"ids": ",".join(mine[:51])})["code"] == 21001001
    assert caller.call("GET", DETAIL, {})["code"] == 21001001


def test_lines_of_a_bundle_sku_carry_its_components(sandbox, tiktok) -> None:
    # given the seller's virtual bundle (a COMBINED_PRODUCT whose SKUs list combined_skus)
    products = sandbox.control("GET", f"shops/{shop_id(sandbox)}/products")["products"]
    bundles = {s["id"]: s["combined_skus"] for p in products for s in p["skus"] if s.get("combined_skus")}
    assert bundles
    # when the orders are listed as TikTok lists them
    orders, _ = search_all(tiktok("us-local"), {}, page_size=50)
    lines = [line for order in orders for line in order["line_items"]]
    # then every line of a bundle SKU names its components as Get Order List documents (live-sync.md sec. 1.5),
    # and no other line does
    bundle_lines = [line for line in lines if line["sku_id"] in bundles]
    assert bundle_lines
    for line in bundle_lines:
        assert line["combined_listing_skus"] == [
            {"sku_id": part["sku_id"], "sku_count": part["sku_count"], "seller_sku": part["seller_sku"]}
            for part in bundles[line["sku_id"]]
        ]
    assert all("combined_listing_skus" not in line for line in lines if line["sku_id"] not in bundles)
