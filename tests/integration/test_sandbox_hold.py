"""`/_sandbox/hold` over real HTTP: calls of a held API wait until released, one step or all at once; other APIs
pass; a client that gives up frees its call; reset releases everything (issue 13: act while an import runs)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fixtures.waiting import DEADLINE_SECONDS, wait_until

PRODUCTS = "/product/202309/products/search"
ORDERS = "/order/202309/orders/search"


def hold_state(sandbox) -> dict:
    return dict(sandbox.control("GET", "hold"))


def waiting(sandbox, n: int) -> None:
    wait_until(lambda: hold_state(sandbox)["waiting"] == n, f"{n} held call(s) waiting")


def test_a_held_api_answers_only_once_released_step_by_step_and_other_apis_pass(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    # given the order search held
    assert sandbox.control("POST", "hold", {"paths": [ORDERS]}) == {"paths": [ORDERS], "waiting": 0, "held": 0}
    with ThreadPoolExecutor(2) as pool:
        # when a client searches orders: its call waits at "TikTok"
        first = pool.submit(caller.call, "POST", ORDERS, {"page_size": "5"}, {})
        waiting(sandbox, 1)
        # while the product search is answered at once
        assert caller.call("POST", PRODUCTS, {"page_size": "5"}, {})["code"] == 0
        assert not first.done()
        assert sandbox.control("GET", "counters")["by_path"].get(ORDERS) is None  # nothing answered yet
        # then releasing the waiting call answers it, with the orders of the shop
        released = sandbox.control("POST", "hold/release")
        assert (released["released"], released["paths"]) == (1, [ORDERS])
        page = first.result(timeout=DEADLINE_SECONDS)
        assert page["code"] == 0 and len(page["data"]["orders"]) == 5
        # and the next call waits again: the path stays held
        second = pool.submit(caller.call, "POST", ORDERS, {"page_size": "5"}, {})
        wait_until(lambda: hold_state(sandbox) == {"paths": [ORDERS], "waiting": 1, "held": 2}, "a second held call")
        assert not second.done()
        # until the hold is lifted
        assert sandbox.control("POST", "hold", {"paths": []}) == {"paths": [], "waiting": 1, "held": 0}
        assert second.result(timeout=DEADLINE_SECONDS)["code"] == 0
    assert sandbox.control("GET", "counters")["by_path"][ORDERS] == {"ok": 2}
    assert hold_state(sandbox) == {"paths": [], "waiting": 0, "held": 0}


def test_a_client_that_gives_up_frees_its_held_call_unanswered(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    sandbox.control("POST", "hold", {"paths": [ORDERS]})
    with pytest.raises(httpx.ReadTimeout):
        caller.request("POST", ORDERS, {"page_size": "5"}, {}, timeout=0.5)
    # the sandbox sees the client gone: nothing waits any more, and nothing was answered
    waiting(sandbox, 0)
    assert hold_state(sandbox)["held"] == 1
    assert sandbox.control("GET", "counters")["by_path"].get(ORDERS) is None
    assert sandbox.control("POST", "hold/release")["released"] == 0


def test_reset_releases_every_held_call(sandbox, tiktok) -> None:
    caller = tiktok("us-local")
    sandbox.control("POST", "hold", {"paths": [ORDERS, PRODUCTS]})
    assert sandbox.control("GET", "")["hold"]["paths"] == sorted([ORDERS, PRODUCTS])
    with ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(caller.call, "POST", path, {"page_size": "5"}, {}) for path in (ORDERS, PRODUCTS)]
        waiting(sandbox, 2)
        assert sandbox.control("POST", "reset")["hold"] == {"paths": [], "waiting": 2, "held": 0}
        assert [call.result(timeout=DEADLINE_SECONDS)["code"] for call in calls] == [0, 0]
    assert caller.call("POST", ORDERS, {"page_size": "5"}, {})["code"] == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"paths": ORDERS}, {"paths": [ORDERS, 5]}, {"paths": ["/order/202309/orders/find"]}],
)
def test_hold_input_is_validated(sandbox, body) -> None:
    response = sandbox.http.post(f"{sandbox.url}/_sandbox/hold", json=body)
    assert response.status_code == 400 and "paths" in response.json()["error"]
    assert hold_state(sandbox)["paths"] == []
