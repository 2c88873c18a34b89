"""The Strawberry ASGI view: merchant authentication over HTTP and in the WebSocket `connection_init` payload."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import timedelta
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from adapters.logs import bind_log_context, log_context
from gql.auth import AuthenticationError, bearer_token, verify_token, verify_token_claims
from gql.context import Context

log = logging.getLogger("shopbridge.auth")


class ShopbridgeGraphQL(GraphQL[Context, None]):
    """GraphQL over HTTP and WebSocket. HTTP requests without a valid bearer token are refused with 401
    (GraphiQL's HTML page excepted); a WebSocket must authenticate in `connection_init` or is closed with 4403.
    """

    def __init__(self, schema: Any, secret_key: str) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
        )
        self.secret_key = secret_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with log_context(request_id=_request_id(scope)):
            if scope["type"] == "http" and not _is_ide_page(scope):
                try:
                    merchant_id = self._authenticate(_header(scope, b"authorization"))
                except AuthenticationError as exc:
                    await _unauthorized(str(exc))(scope, receive, send)
                    return
                scope.setdefault("state", {})["merchant_id"] = merchant_id
                bind_log_context(merchant_id=merchant_id)
            await super().__call__(scope, receive, send)

    def _authenticate(self, header_value: str | None) -> str:
        return verify_token(self.secret_key, bearer_token(header_value))

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        merchant_id = request.scope.get("state", {}).get("merchant_id") if request.scope["type"] == "http" else None
        services = request.scope["app"].state.services  # built by the app's lifespan
        return Context(services=services, merchant_id=merchant_id, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params or {}
        header = _find_authorization(params)
        try:
            context.merchant_id, context.token_expires_at = verify_token_claims(self.secret_key, bearer_token(header))
        except AuthenticationError as exc:
            log.info("websocket refused: %s", exc)
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        bind_log_context(merchant_id=context.merchant_id)
        return None


def _find_authorization(params: dict[str, object]) -> str | None:
    """`{"Authorization": "Bearer …"}` in the payload, any case; also inside a `headers` object."""
    for source in (params, params.get("headers")):
        if isinstance(source, dict):
            for key, value in source.items():
                if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
                    return value
    return None


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _request_id(scope: Scope) -> str:
    """The caller's `X-Request-ID` when it is a plain token (a load balancer's), else a new random one."""
    given = _header(scope, b"x-request-id")
    return given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _is_ide_page(scope: Scope) -> bool:
    """A browser asking for GraphiQL: GET, HTML accepted, no query. It carries no token and needs none.

    The query string is parsed exactly as Strawberry parses it, so no encoding of `query` slips past the check.
    """
    if scope.get("method") != "GET":
        return False
    accept = _header(scope, b"accept") or ""
    params = QueryParams(scope.get("query_string", b"").decode("latin-1"))
    return "text/html" in accept and not params.get("query")


def _unauthorized(message: str) -> Any:
    from starlette.responses import Response

    body = json.dumps({"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]})
    return Response(body, status_code=401, media_type="application/json", headers={"WWW-Authenticate": "Bearer"})
