"""The `/_sandbox/` control surface over real HTTP: faults seen by a real client, rate limits, latency, revocation,
counters, reseeding, order changes and input validation."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from gql.logfilters import INCOMPLETE_RESPONSE, SandboxDropLines
from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import TikTokCaller
from tests.fixtures.waiting import wait_until

SHOPS = "/authorization/202309/shops"
PRODUCTS = "/product/202309/products/search"
ORDERS = "/order/202309/orders/search"
NOT_JSON_NUMBER = "the body must be valid JSON (NaN and Infinity are not JSON numbers)"


def faults(sandbox, kind: str, **extra) -> None:
    sandbox.control("POST", "faults", {"rate": 1.0, "kinds": [kind], "seed": 7, **extra})


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("http_500", 500, 36009003), ("http_503", 503, 36009003), ("http_429", 429, 36009002)]
)
def test_http_faults_reach_the_client(sandbox, tiktok, kind: str, status: int, code: int) -> None:
    caller = tiktok("us-local")
    faults(sandbox, kind)
    response = caller.request("POST", ORDERS, {"page_size": "5"}, {})
    assert response.status_code == status and response.json()["code"] == code and response.json()["request_id"]
    assert sandbox.control("GET", "counters")["by_path"][ORDERS] == {f"fault:{kind}": 1}


def test_expired_token_fault_answers_105002(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    faults(sandbox, "expired_token")
    assert caller.call("POST", ORDERS, {"page_size": "5"}, {})["code"] == 105002


def test_malformed_json_fault(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    faults(sandbox, "malformed_json")
    response = caller.request("POST", ORDERS, {"page_size": "5"}, {})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_drop_fault_closes_the_connection_mid_response(sandbox, tiktok, caplog) -> None:
    # (served in this process by uvicorn, as the embedded sandbox is: with the filter Shopbridge's app installs then)
    caller = tiktok("us-local")
    faults(sandbox, "drop")
    uvicorn_error = logging.getLogger("uvicorn.error")
    drops = SandboxDropLines()
    uvicorn_error.addFilter(drops)
    try:
        with caplog.at_level(logging.INFO, logger="uvicorn.error"):
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                caller.request("POST", ORDERS, {"page_size": "5"}, {})
            # uvicorn's line comes once the app returned, maybe after the client saw the cut
            (line,) = wait_until(
                lambda: [r for r in caplog.records if INCOMPLETE_RESPONSE in r.getMessage()], "uvicorn's line"
            )
    finally:
        uvicorn_error.removeFilter(drops)
    # then it is INFO, not ERROR: the fault is on purpose (try-out livesync52: an ERROR per drop in Shopbridge's log)
    assert (line.levelname, line.getMessage()) == (
        "INFO",
        f"the sandbox's drop fault closed a connection mid-answer, on purpose ({INCOMPLETE_RESPONSE})",
    )


def test_an_answer_cut_short_by_any_other_app_stays_an_error() -> None:
    # the same uvicorn line outside a sandbox drop's request: an app's bug, left as uvicorn logged it
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, INCOMPLETE_RESPONSE, None, None)
    assert SandboxDropLines().filter(record)
    assert (record.levelname, record.getMessage()) == ("ERROR", INCOMPLETE_RESPONSE)


def test_slow_fault_outlasts_the_client_timeout(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    faults(sandbox, "slow", slow_seconds=3)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        caller.request("POST", ORDERS, {"page_size": "5"}, {}, timeout=0.3)
    assert time.monotonic() - started < 2
    assert sandbox.control("GET", "counters")["by_path"][ORDERS] == {"fault:slow": 1}


def test_trickle_fault_answers_whole_after_slow_seconds_though_no_read_times_out(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    faults(sandbox, "trickle", slow_seconds=1)
    started = time.monotonic()
    response = caller.request("POST", ORDERS, {"page_size": "5"}, {}, timeout=0.3)  # per read: a space every 50 ms
    assert time.monotonic() - started >= 1
    assert response.status_code == 200 and response.json()["code"] == 0 and "orders" in response.json()["data"]
    assert sandbox.control("GET", "counters")["by_path"][ORDERS] == {"fault:trickle": 1}


def test_faults_follow_the_rate_and_spare_token_endpoints(sandbox, tiktok) -> None:
    sandbox.control("POST", "faults", {"rate": 0.5, "kinds": ["http_500"], "seed": 3})
    caller = tiktok("us-local")  # consent and token exchange are never faulted
    statuses = [caller.request("GET", SHOPS, with_cipher=False).status_code for _ in range(20)]
    assert 0 < statuses.count(500) < 20 and statuses.count(500) + statuses.count(200) == 20
    counters = sandbox.control("GET", "counters")
    assert counters["by_path"][SHOPS] == {"ok": statuses.count(200), "fault:http_500": statuses.count(500)}
    assert counters["by_path"]["/api/v2/token/get"] == {"ok": 1}
    sandbox.control("POST", "reset")
    assert caller.call("GET", SHOPS, with_cipher=False)["code"] == 0


def test_rate_limit_answers_429_beyond_the_budget_per_shop(sandbox, tiktok) -> None:
    sandbox.control("POST", "rate-limit", {"per_second": 5})
    us, uk = tiktok("us-local"), tiktok("uk-local")
    codes = [us.call("POST", PRODUCTS, {"page_size": "1"}, {}) for _ in range(12)]
    limited = [c for c in codes if c["code"] == 36009002]
    assert limited and all(c["_http_status"] == 429 for c in limited)
    assert uk.call("POST", PRODUCTS, {"page_size": "1"}, {})["code"] == 0  # another shop has its own budget
    assert us.call("POST", ORDERS, {"page_size": "1"}, {})["code"] == 0  # and so has another API
    assert sandbox.control("GET", "counters")["by_path"][PRODUCTS]["36009002"] == len(limited)
    sandbox.control("POST", "rate-limit", {"per_second": None})
    assert all(us.call("POST", PRODUCTS, {"page_size": "1"}, {})["code"] == 0 for _ in range(15))


def test_latency_is_added_to_each_call(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    sandbox.control("POST", "latency", {"ms": 250})
    started = time.monotonic()
    assert caller.call("GET", SHOPS, with_cipher=False)["code"] == 0
    assert time.monotonic() - started >= 0.25


def test_revoke_makes_every_token_of_the_seller_invalid(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    other = tiktok("us-local-2")
    assert sandbox.control("POST", "sellers/us-local/revoke")["revoked_grants"] == 1
    envelope = caller.call("GET", SHOPS, with_cipher=False)
    assert envelope["code"] == 36009004 and "x-tts-access-token" in envelope["message"]
    assert other.call("GET", SHOPS, with_cipher=False)["code"] == 0


def test_expire_access_token_until_refreshed(sandbox) -> None:
    tokens = sandbox.tokens_for("my-local")
    sandbox.control("POST", "sellers/my-local/expire-access-token")
    assert TikTokCaller(sandbox, tokens["access_token"]).call("GET", SHOPS)["code"] == 105002
    params = {
        "app_key": sandbox.config.app_key,
        "app_secret": sandbox.config.app_secret,
        "refresh_token": tokens["refresh_token"],
        "grant_type": "refresh_token",
    }
    refreshed = sandbox.http.get(f"{sandbox.url}/api/v2/token/refresh", params=params).json()["data"]
    assert TikTokCaller(sandbox, refreshed["access_token"]).call("GET", SHOPS)["code"] == 0


def test_counters_count_by_path_and_outcome_and_reset(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    caller.call("GET", SHOPS, with_cipher=False)
    caller.call("GET", SHOPS)
    caller.call("GET", "/nowhere")
    counters = sandbox.control("GET", "counters")
    assert counters["by_path"][SHOPS] == {"ok": 1, "36009004": 1}
    assert counters["by_path"]["/nowhere"] == {"36009009": 1}
    assert counters["total"] == 4 and counters["by_outcome"]["ok"] == 2  # the token exchange counts too
    assert sandbox.control("POST", "counters/reset")["total"] == 0


def test_reseed_regenerates_data_and_can_reset_tokens(sandbox, tiktok) -> None:
    caller = tiktok("sg-local")
    shop = sandbox.world.sellers["sg-local"].shops[0].id
    before = sandbox.control("GET", f"shops/{shop}/orders")["orders"]
    sandbox.control("POST", "reseed", {"products": 3, "orders": 12, "seed": 2})
    after = sandbox.control("GET", f"shops/{shop}/orders")["orders"]
    assert len(after) == 12 and {o["id"] for o in after}.isdisjoint({o["id"] for o in before})
    assert len(sandbox.control("GET", f"shops/{shop}/products")["products"]) == 3
    assert caller.call("GET", SHOPS, with_cipher=False)["code"] == 0  # tokens survive by default
    sandbox.control("POST", "reseed", {"seed": 2, "reset_tokens": True})
    assert caller.call("GET", SHOPS, with_cipher=False)["code"] == 36009004


def test_a_reseed_turns_the_rare_cases_on_and_off_without_a_restart(sandbox) -> None:
    """`rare_cases` (`SandboxConfig.rare_cases`, `--rare-cases`): a share of orders fulfilled by TikTok and of
    cancelled ones lost after shipping (`sandbox.data.make_rare`). Before, only a restart could set it."""

    def rare(orders: list[dict]) -> tuple[int, int]:
        fbt = sum(o.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK" for o in orders)
        lost = sum(
            o["status"] == "CANCELLED" and any(i["package_status"] == "CANCELLED" for i in o["line_items"])
            for o in orders
        )
        return fbt, lost

    # given a sandbox started without the rare cases: its orders hold none
    shop = sandbox.world.sellers["us-local"].shops[0].id
    assert sandbox.control("GET", "/")["data"]["rare_cases"] is False
    # when a reseed turns them on
    answer = sandbox.control("POST", "reseed", {"orders": 300, "rare_cases": True})
    # then it says so, and the shop's new orders hold both kinds
    assert answer["rare_cases"] is True and sandbox.control("GET", "/")["data"]["rare_cases"] is True
    fbt, lost = rare(sandbox.control("GET", f"shops/{shop}/orders")["orders"])
    assert fbt > 0 and lost > 0
    # when a later reseed leaves the key out, the knob stays; when it turns it off, the orders hold none again
    assert sandbox.control("POST", "reseed", {"seed": 3})["rare_cases"] is True
    assert sandbox.control("POST", "reseed", {"rare_cases": False})["rare_cases"] is False
    assert rare(sandbox.control("GET", f"shops/{shop}/orders")["orders"]) == (0, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"products": 10_000_000}, "products must be an integer from 0 to 100000"),
        ({"products": 100_001, "orders": 10}, "products must be an integer from 0 to 100000"),
        ({"orders": 300_001}, "orders must be an integer from 0 to 300000"),
        # a misspelt key (here "product") was ignored, and the world reseeded at the old sizes under new ids
        (
            {"product": 10},
            "unknown keys ['product']; known: ['orders', 'products', 'rare_cases', 'reset_tokens', 'seed']",
        ),
        # a string was no boolean: "false" would have turned the rare cases on
        ({"rare_cases": "false"}, "rare_cases must be a boolean"),
        ({"rare_cases": 1}, "rare_cases must be a boolean"),
    ],
    ids=[
        "products-10M",
        "products-over-by-one",
        "orders-over-by-one",
        "unknown-key",
        "rare-cases-string",
        "rare-cases-number",
    ],
)
def test_a_reseed_beyond_the_data_bounds_is_refused_and_changes_nothing(sandbox, body, message: str) -> None:
    # given a sandbox serving its usual sizes
    shop = sandbox.world.sellers["us-local"].shops[0].id
    before = sandbox.control("GET", "/")["data"]
    ids_before = [p["id"] for p in sandbox.control("GET", f"shops/{shop}/products")["products"]]
    assert len(ids_before) == before["products"]
    # when a reseed asks for more data per shop than the sandbox can hold (10,000,000 products took the demo past
    # 10 GB and stopped it answering)
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/reseed", json=body)
    # then it is refused with the control surface's 400, naming the bound (or the keys it knows), and the data are
    # the old ones
    assert response.status_code == 400 and response.json() == {"error": message}
    assert sandbox.control("GET", "/")["data"] == before
    assert [p["id"] for p in sandbox.control("GET", f"shops/{shop}/products")["products"]] == ids_before


@pytest.mark.parametrize(("sizes", "message"), [({"products": 100_001}, "products"), ({"orders": 300_001}, "orders")])
def test_a_sandbox_built_beyond_the_data_bounds_is_refused(sizes: dict[str, int], message: str) -> None:
    # when code builds a sandbox with more data per shop than it can hold, then it is refused at once, by name
    with pytest.raises(ValueError, match=f"{message} must be from 0 to"):
        SandboxConfig(**sizes)


def test_a_reseed_at_the_data_bounds_is_taken(sandbox) -> None:
    # when a reseed asks for exactly the most data per shop (built lazily, so this test touches no shop's data)
    answer = sandbox.control("POST", "reseed", {"products": 100_000, "orders": 300_000})
    # then it is taken
    assert (answer["products"], answer["orders"]) == (100_000, 300_000)
    assert sandbox.control("GET", "/")["data"]["products"] == 100_000


def test_the_same_seed_gives_the_same_data_under_new_ids(sandbox, sandbox_factory) -> None:
    shop = sandbox.world.sellers["us-local"].shops[0].id

    def without_ids(value):
        if isinstance(value, dict):
            return {k: without_ids(v) for k, v in value.items() if k not in ("id", "product_id", "sku_id")}
        return [without_ids(v) for v in value] if isinstance(value, list) else value

    def fingerprint(server) -> list:
        # Times are relative to the moment of (re)seeding, and ids are never issued twice (sandbox/ids.py): compare
        # everything else.
        products = server.control("GET", f"shops/{shop}/products")["products"]
        return [(p["title"], p["status"], without_ids(p["skus"])) for p in products]

    def ids(server) -> list:
        return [p["id"] for p in server.control("GET", f"shops/{shop}/products")["products"]]

    first, first_ids = fingerprint(sandbox), ids(sandbox)
    # a fresh sandbox with the same settings serves the same data under the same ids
    twin = sandbox_factory(sandbox.world.config)
    assert fingerprint(twin) == first and ids(twin) == first_ids
    # a reseed with the same seed serves the same data under ids never issued before
    sandbox.control("POST", "reseed", {"seed": 1})
    assert fingerprint(sandbox) == first and set(ids(sandbox)).isdisjoint(first_ids)


def test_orders_can_be_added_and_changed_and_ground_truth_filters_by_creation(sandbox) -> None:
    shop = sandbox.world.sellers["us-local"].shops[0].id
    truth = sandbox.control("GET", f"shops/{shop}/orders")["orders"]
    unpaid = next(o for o in truth if o["status"] == "UNPAID")
    now = int(time.time())
    result = sandbox.control(
        "POST",
        f"shops/{shop}/orders",
        {"orders": [{"id": unpaid["id"], "status": "AWAITING_SHIPMENT"}, {"status": "UNPAID", "create_time": now}]},
    )["orders"]
    assert result[0]["status"] == "AWAITING_SHIPMENT" and result[0]["update_time"] >= now
    assert result[0]["recipient_address"] and {i["display_status"] for i in result[0]["line_items"]} == {
        "AWAITING_SHIPMENT"
    }
    assert result[1]["status"] == "UNPAID" and len(result[1]["id"]) == 19
    recent = sandbox.control("GET", f"shops/{shop}/orders?created_since={now}")["orders"]
    assert result[1]["id"] in [o["id"] for o in recent]
    assert all(o["create_time"] >= now for o in recent)


def test_stale_detail_serves_an_orders_version_before_its_change_until_ended(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    shop = sandbox.world.sellers["us-local"].shops[0].id
    (order,) = sandbox.control("POST", f"shops/{shop}/orders", {"orders": [{"status": "AWAITING_SHIPMENT"}]})["orders"]

    def detail() -> dict:
        (served,) = caller.call("GET", "/order/202309/orders", {"ids": order["id"]})["data"]["orders"]
        return served

    # a change under read lag: Get Order Detail still serves the version before it, and after a second change too
    for status in ("CANCELLED", "CANCELLED"):
        change = {"id": order["id"], "status": status, "update_time": order["update_time"] + 60, "stale_detail": True}
        sandbox.control("POST", f"shops/{shop}/orders", {"orders": [change]})
        assert (detail()["status"], detail()["update_time"]) == ("AWAITING_SHIPMENT", order["update_time"])
    # ended: the current version (an item with an id is a change: its update_time is now)
    sandbox.control("POST", f"shops/{shop}/orders", {"orders": [{"id": order["id"], "stale_detail": False}]})
    assert detail()["status"] == "CANCELLED"


def test_unreadable_records_are_served_broken_everywhere_unchanged_until_the_fault_is_lifted(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    shop = sandbox.world.sellers["us-local"].shops[0].id
    order = sandbox.control("GET", f"shops/{shop}/orders")["orders"][0]
    product = sandbox.control("GET", f"shops/{shop}/products")["products"][0]

    def served() -> tuple[dict, dict, dict, dict]:
        (detail,) = caller.call("GET", "/order/202309/orders", {"ids": order["id"]})["data"]["orders"]
        listed = caller.call("POST", ORDERS, {"page_size": "100"}, {})["data"]["orders"]
        products = caller.call("POST", PRODUCTS, {"page_size": "100"}, {})["data"]["products"]
        one = caller.call("GET", f"/product/202309/products/{product['id']}")["data"]
        return (detail, next(o for o in listed if o["id"] == order["id"]),
                next(p for p in products if p["id"] == product["id"]), one)  # fmt: skip

    # when the order and the product are made unreadable
    answer = sandbox.control("POST", "faults/records", {"unreadable": [product["id"], order["id"]]})
    assert answer == {"unreadable": sorted([product["id"], order["id"]])}
    # then every answer carries them broken (an order with create_time 0, a product with none), the rest as it is
    detail, listed, searched, one = served()
    assert detail == listed == {**order, "create_time": 0}
    assert searched["create_time"] is None and one["create_time"] is None
    assert one["update_time"] == product["update_time"]
    # and lifted, they are served as they were (nothing changed: same update_time)
    sandbox.control("POST", "faults/records", {"unreadable": []})
    detail, listed, searched, one = served()
    assert detail["create_time"] == order["create_time"] and detail["update_time"] == order["update_time"]
    assert one["create_time"] == product["create_time"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "faults/records", {"unreadable": "123"}, 400),
        ("POST", "faults/records", {"unreadable": [123]}, 400),
        ("POST", "faults/records", {}, 400),
        ("POST", "faults/failing", {"failing": "123"}, 400),
        ("POST", "faults/failing", {}, 400),
        ("POST", "latency", {"ms": -1}, 400),
        ("POST", "latency", {}, 400),
        ("POST", "rate-limit", {"per_second": "fast"}, 400),
        ("POST", "rate-limit", {}, 400),
        ("POST", "faults", {"rate": 2, "kinds": ["http_500"]}, 400),
        ("POST", "faults", {"rate": 0.5, "kinds": ["meteor"]}, 400),
        ("POST", "faults", {"rate": 0.5, "kinds": []}, 400),
        ("POST", "reseed", {"products": -1}, 400),
        ("POST", "reseed", {"reset_tokens": "yes"}, 400),
        ("POST", "sellers/nobody/revoke", None, 404),
        ("GET", "shops/123/orders", None, 404),
        ("POST", "shops/{shop}/orders", {"orders": [{"id": "1"}]}, 400),
        ("POST", "shops/{shop}/orders", {"orders": [{"status": "LOST"}]}, 400),
        ("POST", "shops/{shop}/orders", {"orders": [{"package_status": "LOST"}]}, 400),
        ("POST", "shops/{shop}/orders", {"orders": []}, 400),
        ("POST", "shops/{shop}/orders", {"orders": [{"status": "UNPAID", "stale_detail": True}]}, 400),  # no id
        ("GET", "nothing", None, 404),
        # a promotion lock on a SKU no shop has was taken (200) and locked nothing: a mistyped id tested nothing
        ("POST", "skus/1730000000000000000/promotion-lock", {"quantity": 5}, 404),
        ("POST", "skus/nope/promotion-lock", {"quantity": None}, 404),
        ("POST", "skus/1730000000000000000/global-stock", {"global": True}, 404),
    ],
)
def test_control_input_is_validated(sandbox, method: str, path: str, body, status: int) -> None:
    path = path.format(shop=sandbox.world.sellers["us-local"].shops[0].id)
    response = sandbox.http.request(method, f"{sandbox.url}/_sandbox/{path}", json=body)
    assert response.status_code == status and response.json()["error"]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("rate-limit", b'{"per_second": NaN}'),
        ("rate-limit", b'{"per_second": Infinity}'),
        ("faults", b'{"rate": 0, "kinds": [], "slow_seconds": Infinity}'),
        ("faults", b'{"rate": 0, "kinds": [], "slow_seconds": NaN}'),
    ],
)
def test_nan_and_infinity_are_refused_and_change_nothing(sandbox, path: str, raw: bytes) -> None:
    # given a body with NaN or Infinity, which Python's decoder takes but RFC 8259 has no place for (tryout69: the
    # value was stored, the POST answered 500, and `GET /_sandbox/` and `GET /_sandbox/faults` answered 500 from then
    # on, their JSON unable to carry it, until a reset)
    before = sandbox.control("GET", "")
    response = sandbox.http.post(
        f"{sandbox.url}/_sandbox/{path}", content=raw, headers={"content-type": "application/json"}
    )
    # then it is the control surface's 400, and every setting is as it was
    assert response.status_code == 400 and response.json() == {"error": NOT_JSON_NUMBER}
    after = sandbox.control("GET", "")
    assert {k: v for k, v in after.items() if k != "clock"} == {k: v for k, v in before.items() if k != "clock"}


def test_shops_lists_sellers_with_ids_and_ciphers(sandbox) -> None:
    sellers = {s["key"]: s for s in sandbox.control("GET", "shops")["sellers"]}
    assert list(sellers) == ["us-local", "us-local-2", "uk-local", "my-local", "sg-local", "cross-border", "id-local"]
    assert [s["region"] for s in sellers["cross-border"]["shops"]] == ["GB", "MY"]
    assert sellers["id-local"]["shops"][0]["region"] == "ID" and sellers["uk-local"]["shops"][0]["region"] == "GB"
    ids = [shop["id"] for s in sellers.values() for shop in s["shops"]]
    assert len(set(ids)) == 8 and all(len(i) == 19 and i.isdigit() for i in ids)


# -- refusals and a stuck cursor, aimed at one API (issue 12, items 16 to 18) -------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("missing_scope", 200, 105005), ("missing_parameter", 200, 36009004), ("invalid_sign", 401, 106001)],
)
def test_refusal_faults_strike_only_the_paths_given(sandbox, tiktok, kind: str, status: int, code: int) -> None:
    caller = tiktok("us-local")
    faults(sandbox, kind, paths=[ORDERS])
    refused = caller.request("POST", ORDERS, {"page_size": "5"}, {})
    assert refused.status_code == status and refused.json()["code"] == code and refused.json()["message"]
    assert caller.call("POST", PRODUCTS, {"page_size": "5"}, {})["code"] == 0  # other APIs still answer
    counters = sandbox.control("GET", "counters")["by_path"]
    assert counters[ORDERS] == {f"fault:{kind}": 1} and counters[PRODUCTS] == {"ok": 1}
    assert sandbox.control("GET", "faults")["paths"] == [ORDERS]


@pytest.mark.parametrize(("path", "key"), [(ORDERS, "orders"), (PRODUCTS, "products")])
def test_repeat_page_token_fault_answers_the_token_it_was_sent(sandbox, tiktok, path: str, key: str) -> None:
    caller = tiktok("us-local")
    faults(sandbox, "repeat_page_token", paths=[path])
    first = caller.call("POST", path, {"page_size": "5"}, {})["data"]  # a first page has no token to repeat
    token = first["next_page_token"]
    second = caller.call("POST", path, {"page_size": "5", "page_token": token}, {})["data"]
    third = caller.call("POST", path, {"page_size": "5", "page_token": token}, {})["data"]
    assert second["next_page_token"] == third["next_page_token"] == token
    assert second[key] == third[key] and second[key] != first[key]
    assert sandbox.control("GET", "counters")["by_path"][path] == {"ok": 1, "fault:repeat_page_token": 2}


@pytest.mark.parametrize("paths", ["/order/202309/orders/search", [1], None])
def test_fault_paths_must_be_a_list_of_paths(sandbox, paths) -> None:
    body = {"rate": 1.0, "kinds": ["missing_scope"], "paths": paths}
    response = sandbox.http.request("POST", f"{sandbox.url}/_sandbox/faults", json=body)
    assert response.status_code == 400 and "paths" in response.json()["error"]


ADVANCE_RULE = "advance_seconds must be a finite number from 0 to 315360000 (10 years): the clock only moves forward"


@pytest.mark.parametrize(
    "raw",
    [
        '{"advance_seconds": 1e308}',
        '{"advance_seconds": Infinity}',
        '{"advance_seconds": NaN}',
        '{"advance_seconds": 315360001}',
        '{"advance_seconds": 1' + "0" * 400 + "}",
        '{"advance_seconds": -0.5}',
    ],
    ids=["1e308", "infinity", "nan", "ten-years-and-a-second", "an-int-beyond-a-float", "backwards"],
)
def test_a_clock_advance_not_finite_or_beyond_ten_years_is_refused_and_moves_nothing(sandbox, tiktok, raw: str) -> None:
    # given a connected shop whose token works
    caller = tiktok("us-local")
    # when the clock is asked to jump by something no date can hold (1e308 s answered 200, was persisted, and every
    # token's expiry broke)
    response = sandbox.http.post(
        f"{sandbox.url}/_sandbox/clock", content=raw, headers={"content-type": "application/json"}
    )
    # then it is refused with the control surface's 400 naming the bound, and the clock and the token are as before
    # (NaN and Infinity already by the body's parse, which no control endpoint takes them past)
    rule = NOT_JSON_NUMBER if "NaN" in raw or "Infinity" in raw else ADVANCE_RULE
    assert response.status_code == 400 and response.json() == {"error": rule}
    assert sandbox.control("GET", "clock")["offset_seconds"] == 0
    assert caller.call("GET", SHOPS, with_cipher=False)["code"] == 0


def test_the_clock_moves_up_to_ten_years_at_once_and_a_hundred_in_all(sandbox) -> None:
    # given a fresh sandbox, when its clock moves by ten years ten times: each is taken
    for times in range(1, 11):
        assert (
            sandbox.control("POST", "clock", {"advance_seconds": 315_360_000})["offset_seconds"] == times * 315_360_000
        )
    # then one second more is refused, naming the bound, and the clock stays 100 years ahead
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": 1})
    assert response.status_code == 400 and response.json() == {
        "error": "the clock is 3.1536e+09 s ahead already and may be at most 3153600000 s (100 years) ahead: restart "
        "the sandbox without its saved state to start over"
    }
    assert sandbox.control("GET", "clock")["offset_seconds"] == 3_153_600_000
