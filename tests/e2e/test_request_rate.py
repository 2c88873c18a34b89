"""SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT over real HTTP (security review 45): one merchant's requests to
/graphql, and one address's sign-ins, are capped within any minute; the other merchants and the operators'
endpoints are not held back. The cap is counted, not timed: no test waits for a minute to pass."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from adapters.config import load_settings
from gql.app import create_app
from gql.console.login import exchange_login_code
from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_webhook_metrics import moved, scrape
from tests.fixtures.app import ShopbridgeServer
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.fixtures.ws import connected

QUERY = {"query": "{ supportedRegions }"}


def _ask(
    app: ShopbridgeServer, merchant_id: str, accept: str = "application/json", body: dict[str, object] = QUERY
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {app.token(merchant_id)}", "Accept": accept}
    return app.http.post(f"{app.url}/graphql", json=body, headers=headers)


# The counts live in the API process (or Redis: tests/integration/test_request_rate.py), whatever the database.
@subject_not_the_database("the request rate's counts")
def test_past_the_cap_a_merchant_then_an_address_is_refused_429_with_retry_after_and_no_one_else(
    app_factory: Callable[..., ShopbridgeServer],
) -> None:
    # given a cap of 3 requests a minute per merchant
    app = app_factory(max_requests_per_minute_per_merchant=3)
    before = scrape(app)
    # when merchant m1 sends 3 requests, then a 4th within the minute
    assert [_ask(app, "m1").status_code for _ in range(3)] == [200, 200, 200]
    refused = _ask(app, "m1")
    # then the 4th is refused before it runs: 429, how long to wait (whole seconds, within the minute), and a
    # GraphQL response with a stable code saying so
    assert refused.status_code == 429, refused.text
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert refused.headers["content-type"].startswith("application/json")
    [error] = refused.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}
    assert error["message"].startswith("Too many requests: at most 3 a minute per merchant"), error
    assert "data" not in refused.json()
    # and a client of GraphQL over HTTP's media type gets it in that type, refused again (refusals are not counted
    # against the merchant, but neither do they free anything)
    again = _ask(app, "m1", accept="application/graphql-response+json")
    assert again.status_code == 429 and again.headers["content-type"].startswith("application/graphql-response+json")
    # while another merchant is not held back by m1's requests
    assert _ask(app, "m2").status_code == 200
    # nor are the operators' endpoints, whoever asks them how often
    for _ in range(4):
        assert [app.http.get(f"{app.url}{path}").status_code for path in ("/healthz", "/readyz")] == [200, 200]
    # and each refusal is counted
    after = scrape(app)
    assert moved(before, after, "shopbridge_requests_rate_limited_total", endpoint="graphql") == 2

    # Sign-ins (no token: by client address) are capped alike, counted apart from the merchants' requests.
    def sign_in() -> httpx.Response:
        return app.http.post(f"{app.url}/console/login", json={"code": "not-a-code"})

    # when a client at one address tries 4 sign-ins within the minute, its codes not valid
    answers = [sign_in() for _ in range(4)]
    # then the first 3 are read (400: the code is not valid), the 4th refused in the endpoint's own error shape,
    # which the console shows
    assert [answer.status_code for answer in answers] == [400, 400, 400, 429]
    retry_after = int(answers[3].headers["retry-after"])
    assert 1 <= retry_after <= 60
    body = answers[3].json()["error"]
    assert body["code"] == "RATE_LIMITED" and body["retryAfter"] == retry_after, body
    assert body["message"] == f"Too many sign-in attempts from this address; try again in {retry_after} seconds."
    assert moved(after, scrape(app), "shopbridge_requests_rate_limited_total", endpoint="console_login") == 1

    # Operations over the WebSocket draw on the merchant's budget too: a socket ran any number of them before.
    # when merchant m3 starts 4 operations over one socket within the minute
    before_ws = scrape(app)
    answers = asyncio.run(_operations_over_one_socket(app, "m3", [QUERY] * 4))
    # then 3 run, and the 4th gets an error message with the code and the wait; the socket stays open (pong)
    assert [kind for kind, _ in answers] == ["next", "next", "next", "error", "pong"], answers
    [error] = answers[3][1]
    assert error["extensions"]["code"] == "RATE_LIMITED" and 1 <= error["extensions"]["retryAfter"] <= 60, error
    assert error["message"].startswith("Too many requests: at most 3 a minute per merchant"), error
    # and the budget is the one HTTP draws on: m3's next HTTP request is refused as well
    assert _ask(app, "m3").status_code == 429
    assert moved(before_ws, scrape(app), "shopbridge_requests_rate_limited_total", endpoint="graphql_ws") == 1

    # A mutation counts one unit per top-level field it runs (security audit 50: 30 aliased inventoryItemCreate a
    # request made the cap of 600 a minute 18,000 items a minute).
    # when merchant m4 sends 2 aliased creates in one request, then 2 more in another
    before_mutations = scrape(app)
    first = _ask(app, "m4", body=_creates("m4-a0", "m4-a1"))
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    second = _ask(app, "m4", body=_creates("m4-b0", "m4-b1"))
    # then the first spent 2 of its 3 units, and the second, whose door unit was the 3rd, finds no unit for its
    # second field: refused before it runs, 429 with the wait, nothing created by it
    assert second.status_code == 429, second.text
    retry_after = int(second.headers["retry-after"])
    [error] = second.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}, error
    assert error["message"].startswith("Too many requests: at most 3 a minute per merchant, each mutation field"), error
    assert "data" not in second.json()
    assert _skus(app, "m4") == ["m4-a0", "m4-a1"]
    # and its budget is spent: the next request is refused at the door
    assert _ask(app, "m4").status_code == 429
    assert moved(before_mutations, scrape(app), "shopbridge_requests_rate_limited_total", endpoint="graphql") == 2
    # Over the WebSocket alike: a `subscribe` of a mutation of 2 fields spends 2 units, not 1.
    # when merchant m5 runs 2 aliased creates over a socket, then 2 more
    answers = asyncio.run(
        _operations_over_one_socket(app, "m5", [_creates("m5-a0", "m5-a1"), _creates("m5-b0", "m5-b1")])
    )
    # then the first ran, the second gets an error message RATE_LIMITED (no unit for its second field), and the
    # socket stays open
    assert [kind for kind, _ in answers] == ["next", "error", "pong"], answers
    [error] = answers[1][1]
    assert error["extensions"]["code"] == "RATE_LIMITED" and 1 <= error["extensions"]["retryAfter"] <= 60, error
    assert _skus(app, "m5") == ["m5-a0", "m5-a1"]
    assert _ask(app, "m5").status_code == 429


def _creates(*skus: str) -> dict[str, object]:
    """A mutation of one aliased inventoryItemCreate per SKU."""
    fields = "".join(
        f' a{i}: inventoryItemCreate(input: {{sku: "{sku}", onHand: 1}}) {{ userErrors {{ code }} }}'
        for i, sku in enumerate(skus)
    )
    return {"query": "mutation {" + fields + " }"}


def _skus(app: ShopbridgeServer, merchant_id: str) -> list[str]:
    rows = app.rows("SELECT sku FROM inventory_items WHERE merchant_id = :m ORDER BY sku", m=merchant_id)
    return [row["sku"] for row in rows]


async def _operations_over_one_socket(
    app: ShopbridgeServer, merchant_id: str, payloads: list[dict[str, object]]
) -> list[tuple[str, object]]:
    """Start an operation of each payload one after another on one socket, then ping: each answer's (type,
    payload)."""
    answers: list[tuple[str, object]] = []
    async with connected(app.url, {"Authorization": f"Bearer {app.token(merchant_id)}"}) as socket:
        for n, payload in enumerate(payloads):
            await socket.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
            answer = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))
            answers.append((answer["type"], answer.get("payload")))
            if answer["type"] == "next":  # its complete
                assert json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))["type"] == "complete"
        await socket.send(json.dumps({"type": "ping"}))
        answer = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE_SECONDS))
        answers.append((answer["type"], answer.get("payload")))
    return answers


def test_a_cap_of_0_builds_no_limiter(tmp_path: Path) -> None:
    # given SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT=0 (a limiter of 0 a minute would refuse everything)
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT": "0"}
    # when the app is built (nothing served: its routes are what is asked)
    app = create_app(load_settings(env))
    # then neither /graphql nor the sign-in counts requests
    routes = {route.path: route for route in app.routes if isinstance(route, Route)}
    assert routes["/graphql"].endpoint.request_rate is None
    assert routes["/console/login"].endpoint is exchange_login_code


@pytest.mark.redis
@subject_not_the_database("the request rate's counts in Redis")
def test_api_processes_on_one_redis_share_each_merchants_budget(
    app_factory: Callable[..., ShopbridgeServer], redis_server
) -> None:
    # given two API servers on one Redis (SHOPBRIDGE_BROKER_URL), as behind a load balancer, with a cap of 3
    broker_url = redis_server.url.rsplit("/", 1)[0] + "/6"  # a database of this test's own
    first, second = (app_factory(broker_url=broker_url, max_requests_per_minute_per_merchant=3) for _ in range(2))
    # when merchant m1 sends 2 requests to the first and 1 to the second
    assert [_ask(first, "m1").status_code, _ask(first, "m1").status_code, _ask(second, "m1").status_code] == [200] * 3
    # then its 4th is refused by either: the budget is one, not one per process
    assert [_ask(second, "m1").status_code, _ask(first, "m1").status_code] == [429, 429]
