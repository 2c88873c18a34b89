"""The Strawberry ASGI view: merchant authentication, GraphQL over HTTP status codes, and the WebSocket protocol.

HTTP follows GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): a client accepting
`application/graphql-response+json` gets that media type, and 400 when the request fails before execution (parse,
validation, variables, limits, no operation to run); `application/json` clients keep 200 for those (allowed for legacy
clients). A malformed request answers 400, a POST whose body is not declared JSON 415 (`UNSUPPORTED_MEDIA_TYPE`), a
mutation over GET 405 with `Allow: POST`, other methods 405, a merchant past its requests a minute 429 `RATE_LIMITED`
with `Retry-After` (gql/request_rate.py: at the door, or once a mutation's further fields find no units left); every
error body is a JSON GraphQL response with `extensions.code`.
WebSockets speak `graphql-transport-ws` only (gql/websocket.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from adapters.logs import bind_log_context, log_context
from adapters.request_rate import RequestRate
from gql.auth import (
    AmbiguousCredentialsError,
    AuthenticationError,
    MissingBearerTokenError,
    SocketTokenRefusedError,
    bearer_challenge,
    bearer_token,
    verify_token,
    verify_token_claims,
)
from gql.context import Context
from gql.operations import METHOD_NOT_ALLOWED, OPERATION_NOT_SUPPORTED
from gql.request_ids import answering_request_id
from gql.request_ids import request_id as request_id_of
from gql.request_rate import graphql_rate_limited
from gql.responses import GRAPHQL_RESPONSE_JSON, ambiguous_credentials, error_response, header, response_media_type
from gql.socket_slots import SocketSlots
from gql.throttled_log import ThrottledLog
from gql.websocket import BoundedWebSocketAdapter, TransportWSHandler

BAD_REQUEST = "BAD_REQUEST"
GRAPHQL_REALM = "graphql"  # the WWW-Authenticate realm of a 401 (merchant tokens; /metrics has its own)
GRAPHIQL_CDN = "https://unpkg.com"  # where Strawberry's GraphiQL page loads its assets from
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
UNSUPPORTED_CONTENT_TYPE = "Unsupported content type: send the request as JSON, with Content-Type: application/json."
BATCH_NOT_SUPPORTED = (
    "Batched requests (a JSON array of operations) are not supported: send each operation in its own request, as a "
    "JSON object."
)


def _graphiql_unloaded_notice(base: str) -> str:
    """A script for the end of GraphiQL's page: once the page has loaded without GraphiQL (its scripts unreachable
    from the browser, e.g. no internet, or a mirror down or serving other bytes than the integrity hashes), the
    page's "Loading..." becomes why, and what to do instead. `base`: where the scripts were loaded from."""
    message = (
        f"GraphiQL could not load its scripts from {base} (no internet access from this browser, a firewall, or "
        "a mirror that is down or serves other files). Set SHOPBRIDGE_GRAPHIQL_ASSETS_URL to a mirror of GraphiQL's "
        "npm packages (see the README, Web console), or use the web console at /console/, or send your GraphQL "
        "with any client: POST /graphql with the header Authorization: Bearer <token>."
    )
    text = json.dumps(message).replace("<", "\\u003c")  # a JSON string is a JS string; no "</script>" in it
    return (
        '<script>window.addEventListener("load", function () { if (!window.GraphiQL) '
        f'{{ document.getElementById("graphiql").textContent = {text}; }} }});</script>\n'
    )


# GraphiQL's page may not be framed by another site's (clickjacking, with the merchant's token in its headers editor):
# frame-ancestors, and X-Frame-Options for browsers before CSP 2. Nothing else of the console's policy
# (gql/console): the page runs inline scripts and loads its assets from a CDN or SHOPBRIDGE_GRAPHIQL_ASSETS_URL.
GRAPHIQL_SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
# Strawberry's page keeps the headers editor (the Bearer token) in localStorage, read by any script of this origin
# for ever after; like the console (sessionStorage), the token is not kept past the tab.
_PERSISTED_HEADERS = "shouldPersistHeaders: true"
# Strawberry's page starts GraphiQL in its last, inline script, which uses the scripts loaded before it: js-cookie's
# `Cookies` (for Django's CSRF cookie, which Shopbridge has none of) and GraphiQL itself. When they could not load
# (offline, a firewall, a mirror down), it threw "Cookies is not defined" into the browser's console beside the page's
# own notice (newcomer57 F5). It runs only when GraphiQL is there, and reads the cookie only when js-cookie is.
_CSRF_COOKIE = 'Cookies.get("csrftoken")'
_GUARDED_CSRF_COOKIE = '(window.Cookies ? Cookies.get("csrftoken") : null)'
_STARTUP_GUARD = "if (window.GraphiQL) {"


def _guard_startup(page: str) -> str:
    """Strawberry's GraphiQL `page` with its start-up script (the last inline `<script>`) run only when GraphiQL's
    scripts loaded (`_STARTUP_GUARD`), and its read of the CSRF cookie only when js-cookie did. A page of another
    shape (a Strawberry upgrade) is returned as it is: its errors, if any, are only noise beside the notice."""
    start = page.rfind("<script>")
    end = page.rfind("</script>")
    if start < 0 or end < start:
        return page
    body = page[start + len("<script>") : end].replace(_CSRF_COOKIE, _GUARDED_CSRF_COOKIE, 1)
    return f"{page[:start]}<script>{_STARTUP_GUARD}{body}}}{page[end:]}"


class _MethodNotAllowed(HTTPException):
    def __init__(self, reason: str, allow: str) -> None:
        super().__init__(405, reason)
        self.allow = allow


class _UnsupportedMediaType(HTTPException):
    """A POST whose Content-Type is not JSON (or none): 415, as GraphQL over HTTP says, not a malformed body's 400."""

    def __init__(self) -> None:
        super().__init__(415, UNSUPPORTED_CONTENT_TYPE)


class ShopbridgeGraphQL(GraphQL[Context, None]):
    """GraphQL over HTTP and WebSocket. HTTP requests without a valid bearer token are refused with 401
    (GraphiQL's HTML page excepted); a WebSocket must authenticate in `connection_init` or is closed with 4403, and
    is closed with 1008 `TOO_MANY_CONNECTIONS` when its merchant already holds `max_websockets_per_merchant` open
    sockets in this process (gql/socket_slots.py). With `request_rate`, a merchant's authenticated HTTP requests
    past its cap are refused with 429 `RATE_LIMITED` and `Retry-After` before anything runs (gql/request_rate.py).
    """

    graphql_transport_ws_handler_class = TransportWSHandler
    websocket_adapter_class = BoundedWebSocketAdapter

    def __init__(
        self,
        schema: Any,
        secret_key: str,
        allowed_origins: Sequence[str] = (),
        max_message_bytes: int = 1_048_576,
        graphiql_assets_url: str | None = None,
        max_websockets_per_merchant: int = 20,
        request_rate: RequestRate | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            # The reference client (npm graphql-ws, GraphiQL) speaks graphql-transport-ws; the legacy graphql-ws
            # protocol (subscriptions-transport-ws, unmaintained) is not offered: such a client is closed with 4406.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
            allowed_origins=allowed_origins,  # browser pages on these origins may open the WebSocket too
        )
        self.secret_key = secret_key
        self.max_message_bytes = max_message_bytes
        self.graphiql_assets_url = graphiql_assets_url
        self.socket_slots = SocketSlots(max_websockets_per_merchant)
        # A socket refused or closed for the client's mistake: one INFO line a minute per reason, not one per socket.
        # Anyone can open sockets with a bad token or a bad message, as fast as they like (gql/websocket.py).
        self.socket_refusals = ThrottledLog(logging.getLogger("shopbridge.ws"), interval_seconds=60.0)
        self.request_rate = request_rate

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL's page. Its scripts and styles come from `GRAPHIQL_CDN`, or from the mirror set in
        `SHOPBRIDGE_GRAPHIQL_ASSETS_URL`, which must serve the same paths (`/graphiql@3.8.3/graphiql.min.js`...)
        and the same bytes (the page keeps its subresource-integrity hashes). The headers editor (the token) is not
        persisted in the browser's localStorage."""
        page = super().graphql_ide_html.replace(_PERSISTED_HEADERS, "shouldPersistHeaders: false", 1)
        page = _guard_startup(page)
        base = self.graphiql_assets_url or GRAPHIQL_CDN
        if self.graphiql_assets_url is not None:
            page = page.replace(GRAPHIQL_CDN + "/", base + "/")
        return page.replace("</body>", _graphiql_unloaded_notice(base) + "</body>", 1)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL's page, with `GRAPHIQL_SECURITY_HEADERS`: no other site may frame it."""
        response = await super().render_graphql_ide(request)
        response.headers.update(GRAPHIQL_SECURITY_HEADERS)
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope)  # the app's RequestIdMiddleware chose it (gql/request_ids.py)
        with log_context(request_id=request_id):
            if scope["type"] != "http":
                await super().__call__(scope, receive, send)
                return
            send = answering_request_id(send, request_id)
            state = scope.setdefault("state", {})
            if scope.get("method") not in ("GET", "POST"):
                message = "GraphQL only supports GET and POST requests."
                await error_response(scope, 405, message, METHOD_NOT_ALLOWED, {"Allow": "GET, POST"})(
                    scope, receive, send
                )
                return
            if not _is_ide_page(scope):
                if (ambiguous := ambiguous_credentials(scope)) is not None:
                    await ambiguous(scope, receive, send)
                    return
                try:
                    state["merchant_id"] = self._authenticate(header(scope, b"authorization"))
                except AuthenticationError as exc:
                    invalid_token = not isinstance(exc, MissingBearerTokenError)
                    headers = {"WWW-Authenticate": bearer_challenge(GRAPHQL_REALM, invalid_token)}
                    await error_response(scope, 401, str(exc), "UNAUTHENTICATED", headers)(scope, receive, send)
                    return
                bind_log_context(merchant_id=state["merchant_id"])
                if self.request_rate is not None:
                    retry_after = await self.request_rate.admit("merchant:" + state["merchant_id"])
                    if retry_after is not None:
                        refusal = graphql_rate_limited(scope, retry_after, self.request_rate.per_minute)
                        await refusal(scope, receive, send)
                        return
            try:
                response = await self.run(Request(scope=scope, receive=receive))
            except _MethodNotAllowed as exc:
                response = error_response(scope, 405, exc.reason, METHOD_NOT_ALLOWED, {"Allow": exc.allow})
            except _UnsupportedMediaType as exc:
                response = error_response(scope, 415, exc.reason, UNSUPPORTED_MEDIA_TYPE)
            except HTTPException as exc:
                response = error_response(scope, exc.status_code, exc.reason, BAD_REQUEST)
            else:
                if response_media_type(scope) == GRAPHQL_RESPONSE_JSON and "json" in response.headers.get(
                    "content-type", ""
                ):
                    response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
                    if state.get("request_error"):
                        response.status_code = 400
                if state.get("operation_not_supported"):  # a subscription over HTTP: 400 for every client
                    response.status_code = 400
                if state.get("rate_limited"):  # a mutation's further fields past the cap (gql/request_rate.py)
                    response.status_code = 429
                    response.headers["Retry-After"] = str(state["rate_limited"])
            await response(scope, receive, send)

    def _authenticate(self, header_value: str | None) -> str:
        return verify_token(self.secret_key, bearer_token(header_value))

    def decode_json(self, data: str | bytes) -> object:
        """A request body, `variables`/`extensions` parameter or WebSocket message as JSON. What Python's decoder
        refuses though the text may be well-formed is malformed JSON like any other, `json.JSONDecodeError`: nesting
        deeper than it can follow (about 1,000 levels: `RecursionError`), an integer of more than 4,300 digits
        (`sys.get_int_max_str_digits()`: `ValueError`, CVE-2020-10735), bytes that are not UTF-8 (UTF-16 and UTF-32
        included: `UnicodeDecodeError`; RFC 8259 sec. 8.1). So HTTP answers 400 `BAD_REQUEST` and a WebSocket closes
        4400, never a 500 or a socket dropped without a close frame, and nothing is logged as a server error."""
        try:
            # UTF-8 first, a byte order mark ignored (sec. 8.1 allows it): from bytes, Python's decoder would detect
            # UTF-16 and UTF-32 on its own and read them
            return super().decode_json(data.decode("utf-8-sig") if isinstance(data, bytes) else data)
        except json.JSONDecodeError:
            raise
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", "", 0) from None
        except UnicodeDecodeError:
            raise json.JSONDecodeError("JSON text must be UTF-8", "", 0) from None
        except ValueError as exc:  # the int limit: "Exceeds the limit (4300 digits) for integer string conversion"
            raise json.JSONDecodeError(f"JSON number out of range: {str(exc)[:80]}", "", 0) from None

    def _validate_batch_request(self, request_data: list[GraphQLRequestData], protocol: Any) -> None:
        """A POST body that is a JSON array (Apollo-style batching) is 400 `BAD_REQUEST` saying what to send instead:
        Strawberry's own words, "Batching is not enabled", read as a setting the client could turn on (tryout71 F2).
        Batching stays off: each operation of a batch would bypass the per-request limits and the rate limit's
        one unit a request. Strawberry calls this for every list body before anything runs."""
        raise HTTPException(400, BATCH_NOT_SUPPORTED)

    def parse_json(self, data: str | bytes) -> Any:
        parsed = super().parse_json(data)
        if not isinstance(parsed, (dict, list)):
            raise HTTPException(400, "Expected a JSON object.")
        return parsed

    def parse_query_params(self, params: Mapping[str, str | None]) -> dict[str, Any]:
        """A GET's parameters; its `variables` or `extensions` not JSON is told as that parameter, not as "the
        request body" (a GET has none): 400 `BAD_REQUEST`."""
        for name in ("variables", "extensions"):
            value = params.get(name)
            if value:
                try:
                    self.decode_json(value)
                except json.JSONDecodeError:
                    raise HTTPException(400, f"The `{name}` query parameter is not valid JSON.") from None
        return super().parse_query_params(params)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST" and "application/json" not in parse_content_type(request.content_type or "")[0]:
            raise _UnsupportedMediaType()  # what Strawberry reads as JSON (parameters allowed), else 415
        parsed = await super().parse_http_body(request)
        if isinstance(parsed, GraphQLRequestData) and not isinstance(parsed.operation_name, (str, type(None))):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        return parsed

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError) and request_adapter.method == "GET":
                raise _MethodNotAllowed(exc.reason, "POST") from exc
            if isinstance(exc.__cause__, CannotGetOperationTypeError):
                # The document names no operation to run (an unknown `operationName`, or none at all): a request
                # error like several operations without a name, its status by the Accept (`process_result`).
                return ExecutionResult(data=None, errors=[GraphQLError(exc.reason, extensions={"code": BAD_REQUEST})])
            raise

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        processed = await super().process_result(request, result)
        if _is_request_error(result):
            state = request.scope.setdefault("state", {})
            state["request_error"] = True
            if any((error.extensions or {}).get("code") == OPERATION_NOT_SUPPORTED for error in result.errors or ()):
                state["operation_not_supported"] = True
            if response_media_type(request.scope) == GRAPHQL_RESPONSE_JSON or state.get("rate_limited"):
                processed.pop("data", None)  # a request error has no data entry (GraphQL over HTTP, 6.4.2)
        return processed

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        merchant_id = request.scope.get("state", {}).get("merchant_id") if request.scope["type"] == "http" else None
        services = request.scope["app"].state.services  # built by the app's lifespan
        return Context(
            services=services,
            merchant_id=merchant_id,
            request=request,
            response=response,
            request_rate=self.request_rate,
        )

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        """Strawberry's rule (a cross-origin handshake is refused with 403 unless its `Origin` is among
        `allowed_origins`: SHOPBRIDGE_CORS_ORIGINS), with the refusal logged our way: one INFO line a minute on
        `shopbridge.ws` naming the setting. Strawberry's own WARNING for it ("add it to `allowed_origins`", a name
        no operator sets) is dropped by `gql.logfilters.StrawberryOriginLines`: anyone can send a foreign `Origin`
        as fast as they like, without a token, and each handshake was a WARNING line (try-out newcomer54)."""
        if super().is_websocket_origin_allowed(request, origin):
            return True
        self.socket_refusals.info(
            "origin",
            "websocket refused (403): origin %r is not in SHOPBRIDGE_CORS_ORIGINS; add it there if pages on it "
            "should open sockets",
            origin[:200],
        )
        return False

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params or {}
        authorization = _find_authorization(params)
        try:
            context.merchant_id, context.token_expires_at = verify_token_claims(
                self.secret_key, bearer_token(authorization)
            )
        except AuthenticationError as exc:
            self.socket_refusals.info("token", "websocket refused: %s", exc)
            raise SocketTokenRefusedError(exc) from exc  # closed 4403 with why (gql/websocket.py)
        bind_log_context(merchant_id=context.merchant_id)
        # TooManyConnectionsError past the merchant's cap: the handler closes the socket with 1008 (gql/websocket.py)
        self.socket_slots.acquire(context.merchant_id, context, context.token_expires_at, context.request.close)
        return None


def _is_request_error(result: ExecutionResult) -> bool:
    """Nothing was executed: parse, validation, variable or limit errors (no error has a path, no data)."""
    errors: list[GraphQLError] = result.errors or []
    return bool(errors) and result.data is None and all(error.path is None for error in errors)


def _find_authorization(params: dict[str, object]) -> str | None:
    """`{"Authorization": "Bearer …"}` in the payload, any case; also inside a `headers` object.
    AmbiguousCredentialsError when it holds several different values (keys `Authorization` and `authorization`,
    or one beside and one inside `headers`); the same value twice is one credential."""
    found: list[str] = []
    for source in (params, params.get("headers")):
        if isinstance(source, dict):
            for key, value in source.items():
                if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                    found.append(value)
    if len(set(found)) > 1:
        raise AmbiguousCredentialsError(AmbiguousCredentialsError.WS_REASON)
    return found[0] if found else None


def _is_ide_page(scope: Scope) -> bool:
    """A browser asking for GraphiQL: GET, HTML accepted, no query. It carries no token and needs none.

    The query string is parsed exactly as Strawberry parses it, so no encoding of `query` slips past the check.
    """
    if scope.get("method") != "GET":
        return False
    accept = header(scope, b"accept") or ""
    params = QueryParams(scope.get("query_string", b"").decode("latin-1"))
    return "text/html" in accept and not params.get("query")
