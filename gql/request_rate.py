"""The HTTP answer to a request over SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT (security review 45).

One merchant's runaway frontend or script sent `/graphql` as many requests as it liked, each taking the API's event
loop and a database connection from every other merchant. Now each merchant (by its token's subject) may send at
most that many HTTP requests to `/graphql` within any 60 seconds (`adapters.request_rate.RequestRate`: per process
without Redis, shared by every API process through Redis with it); `POST /console/login` is capped alike per client
address (it needs no token). Past the cap: 429 with `Retry-After` (whole seconds) and a body saying so in the
endpoint's own shape; counted in `shopbridge_requests_rate_limited_total{endpoint}`; one WARNING line a minute per
endpoint (`ThrottledLog`). Each operation a merchant starts over the WebSocket (a `subscribe` message: a query and a
mutation run over the socket as well as a subscription) draws on the same budget: without it, a socket ran any number
of queries and mutations one after another, past the cap HTTP keeps (20 at once was its only bound). One past the
cap gets an `error` message for its id, `RATE_LIMITED` with `retryAfter`, and the socket stays open. GraphiQL's page,
opening a WebSocket (capped by SHOPBRIDGE_MAX_WEBSOCKETS_PER_MERCHANT), its pings, `/healthz`, `/readyz`, `/metrics`
and TikTok's webhooks are not counted.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from adapters.metrics import REQUESTS_RATE_LIMITED
from gql.responses import error_response
from gql.throttled_log import ThrottledLog

log = ThrottledLog(logging.getLogger("shopbridge.http"), interval_seconds=60.0)

RATE_LIMITED = "RATE_LIMITED"
GRAPHQL = "graphql"
GRAPHQL_WS = "graphql_ws"
CONSOLE_LOGIN = "console_login"


def graphql_rate_limited(scope: Scope, seconds: int, per_minute: int) -> Response:
    """429 `{"errors": [{"message", "extensions": {"code": "RATE_LIMITED", "retryAfter": seconds}}]}` (the media
    type negotiated as for every error of the endpoint), `Retry-After: seconds` (RFC 9110 sec. 10.2.3)."""
    REQUESTS_RATE_LIMITED.labels(GRAPHQL).inc()
    log.warning(GRAPHQL, "request refused: RATE_LIMITED, over %d requests a minute to /graphql", per_minute)
    message = f"Too many requests: at most {per_minute} a minute per merchant; try again in {seconds} seconds."
    headers = {"Retry-After": str(seconds)}
    return error_response(scope, 429, message, RATE_LIMITED, headers, {"retryAfter": seconds})


def operation_rate_limited(seconds: int, per_minute: int) -> GraphQLError:
    """The error of a WebSocket `subscribe` past the merchant's cap, for the `error` message's payload:
    `{"message", "extensions": {"code": "RATE_LIMITED", "retryAfter": seconds}}`."""
    REQUESTS_RATE_LIMITED.labels(GRAPHQL_WS).inc()
    log.warning(GRAPHQL_WS, "operation refused: RATE_LIMITED, over %d requests a minute (WebSocket)", per_minute)
    message = f"Too many requests: at most {per_minute} a minute per merchant; try again in {seconds} seconds."
    return GraphQLError(message, extensions={"code": RATE_LIMITED, "retryAfter": seconds})


def login_rate_limited(seconds: int, per_minute: int) -> Response:
    """429 `{"error": {"code": "RATE_LIMITED", "message", "retryAfter": seconds}}` (the login endpoint's own error
    shape, which the console shows), `Retry-After: seconds`."""
    REQUESTS_RATE_LIMITED.labels(CONSOLE_LOGIN).inc()
    log.warning(CONSOLE_LOGIN, "request refused: RATE_LIMITED, over %d sign-ins a minute from one address", per_minute)
    message = f"Too many sign-in attempts from this address; try again in {seconds} seconds."
    return JSONResponse(
        {"error": {"code": RATE_LIMITED, "message": message, "retryAfter": seconds}},
        status_code=429,
        headers={"Retry-After": str(seconds), "Cache-Control": "no-store"},
    )
