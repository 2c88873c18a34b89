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

A mutation operation counts one unit per top-level field it runs (security audit 50): 30 aliased
`inventoryItemCreate` in one request created 30 items for one unit, so the cap of 600 a minute let one merchant
create 18,000 items a minute, and so for every mutation, over HTTP and the socket alike. The request's own unit is
taken at the door (before its body is read); once its document is parsed and valid and its operation chosen,
`MutationFields` takes the other N - 1 for N top-level mutation fields (distinct response names, through fragments;
`__typename` is free, a field under `@skip`/`@include` counts whether or not it runs) from the same budget, all or
none. Without them nothing runs: `RATE_LIMITED` with `retryAfter`, HTTP 429 with `Retry-After` (the request's door
unit stays spent: it was parsed and validated), or the socket's `error` message for that id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from starlette.responses import JSONResponse, Response
from starlette.types import Scope
from strawberry.extensions import SchemaExtension

from adapters.metrics import REQUESTS_RATE_LIMITED
from adapters.request_rate import RequestRate
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


class MutationFields(SchemaExtension):
    """Takes the merchant's further units for a mutation operation of several top-level fields (see the module),
    before anything runs; refuses it `RATE_LIMITED` when they are not there. Needs the context's `request_rate`
    (None: no cap) and `merchant_id`; a document already refused (parse, validation, limits) takes nothing more."""

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        rate: RequestRate | None = getattr(context.context, "request_rate", None)
        merchant_id: str | None = getattr(context.context, "merchant_id", None)
        if document is not None and not context.pre_execution_errors and rate is not None and merchant_id:
            operation = get_operation_ast(document, context.operation_name)
            if operation is not None and operation.operation is OperationType.MUTATION:
                fields = mutation_fields(document, operation)
                if fields > 1:
                    retry_after = await rate.admit("merchant:" + merchant_id, fields - 1)
                    if retry_after is not None:
                        context.pre_execution_errors = [
                            _mutations_rate_limited(context.context, retry_after, rate.per_minute, fields)
                        ]
        yield


def mutation_fields(document: DocumentNode, operation: OperationDefinitionNode) -> int:
    """How many top-level fields `operation` runs: its distinct response names (alias, else name), through inline
    fragments and fragment spreads (each fragment once), `__typename` and other `__` fields left out."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: set[str] = set()
    spread: set[str] = set()
    pending: list[SelectionSetNode] = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if not selection.name.value.startswith("__"):
                    names.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                if selection.name.value in fragments:
                    pending.append(fragments[selection.name.value].selection_set)
    return len(names)


def _mutations_rate_limited(context: object, seconds: int, per_minute: int, fields: int) -> GraphQLError:
    """The error of a mutation operation of `fields` top-level fields whose further units are not there; over HTTP
    the request's state says so, for the view's 429 and `Retry-After` (gql/view.py)."""
    request = getattr(context, "request", None)
    scope = getattr(request, "scope", None)
    over_http = isinstance(scope, dict) and scope.get("type") == "http"
    endpoint = GRAPHQL if over_http else GRAPHQL_WS
    if over_http:
        scope.setdefault("state", {})["rate_limited"] = seconds  # type: ignore[union-attr]
    REQUESTS_RATE_LIMITED.labels(endpoint).inc()
    log.warning(endpoint, "operation refused: RATE_LIMITED, %d mutations over %d requests a minute", fields, per_minute)
    message = (
        f"Too many requests: at most {per_minute} a minute per merchant, each mutation field counting one "
        f"(this operation runs {fields}); try again in {seconds} seconds."
    )
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
