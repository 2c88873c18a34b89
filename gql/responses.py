"""Error responses of the GraphQL endpoint: always a JSON GraphQL response, in the media type the client accepts.

GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): a client that accepts
`application/graphql-response+json` (and does not prefer `application/json`) gets that media type and 4xx for request
errors; anyone else gets `application/json` (a "legacy" client).

A refusal made for every route before the route answers (the app's body limits, a stopping server, the protocol's
head limits) answers in the shape of the route asked for (`refusal_response`, `refusal_body`): GraphQL's on
`/graphql`, an empty body on TikTok's webhook endpoint (its own answers carry none), `{"error": {"code",
"message"}}` on every other route (README, Web console: the shape of `/console/login`'s errors and of every 405).
They answered GraphQL's shape everywhere, so the console's login, which reads `error.code`, found none in a 413
(attack56, F-login-413).

Two `Authorization` field lines are refused on every route that reads the header, in the route's shape
(`ambiguous_credentials`: 400 `BAD_REQUEST`): `/graphql`, `/metrics` with its token, `/webhooks/tiktok`.
"""

from __future__ import annotations

import json
import re

from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from adapters.config import WEBHOOK_PATH
from gql.auth import AmbiguousCredentialsError
from gql.operations import BAD_REQUEST

GRAPHQL_PATH = "/graphql"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header `name` (lower case, as ASGI gives names), or None."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def header_count(scope: Scope, name: bytes) -> int:
    """How many field lines the request has of the header `name` (lower case)."""
    return sum(1 for key, _ in scope.get("headers", []) if key == name)


_QUALITY = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")  # RFC 9110 sec. 12.4.2: 0 to 1, three decimals at most


def _weight(params: list[str]) -> float:
    """A media range's quality (`q`); 1 when it gives none, or one that is not a quality value (as before)."""
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q" and _QUALITY.fullmatch(value.strip()):
            return float(value)
    return 1.0


def response_media_type(scope: Scope) -> str:
    """`application/graphql-response+json` when the Accept header lists it with a quality above 0 and not below
    `application/json`'s (content negotiation, RFC 9110 sec. 12.5.1: a legacy client that prefers
    `application/json` gets it, with its 200s), else `application/json`. `q=0`, `q=0.00`... refuse a type."""
    weights: dict[str, float] = {}
    for entry in (header(scope, b"accept") or "").split(","):
        kind, *params = (part.strip() for part in entry.split(";"))
        kind = kind.lower()
        weights[kind] = max(weights.get(kind, 0.0), _weight(params))
    graphql_response = weights.get(GRAPHQL_RESPONSE_JSON, 0.0)
    if graphql_response > 0 and graphql_response >= weights.get(APPLICATION_JSON, 0.0):
        return GRAPHQL_RESPONSE_JSON
    return APPLICATION_JSON


def error_response(
    scope: Scope,
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
    extensions: dict[str, object] | None = None,
) -> Response:
    """`{"errors": [{"message", "extensions": {"code", ...}}]}` with the status and the negotiated media type;
    `extensions`: more entries beside the code (e.g. RATE_LIMITED's `retryAfter`)."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]})
    media_type = response_media_type(scope)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def refusal_body(path: str, message: str, code: str) -> dict[str, object] | None:
    """The JSON body of a refusal on `path` (module docstring): `{"errors": [{"message", "extensions": {"code"}}]}`
    on `/graphql`; None (an empty body) on TikTok's webhook endpoint, which answers by its status alone; else
    `{"error": {"code", "message"}}`."""
    if path == WEBHOOK_PATH:
        return None
    if path == GRAPHQL_PATH:
        return {"errors": [{"message": message, "extensions": {"code": code}}]}
    return {"error": {"code": code, "message": message}}


def refusal_response(
    scope: Scope, status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    """A refusal made before the route answers, in the route's shape: `error_response` (with its negotiated media
    type) on `/graphql`, else `{"error": {"code", "message"}}` as `application/json`."""
    path = str(scope.get("path", ""))
    if path == GRAPHQL_PATH:
        return error_response(scope, status, message, code, headers)
    body = refusal_body(path, message, code)
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def ambiguous_credentials(scope: Scope) -> Response | None:
    """400 `BAD_REQUEST` "Ambiguous credentials: send one Authorization header, not several." in the route's shape
    (`refusal_response`) when the request has two or more `Authorization` field lines, whatever their values; None
    with one or none. RFC 9110 sec. 11.6.2 defines `Authorization` as a singleton: a proxy in front may act on the
    other line (gql/auth.py, AmbiguousCredentialsError). Asked before the header is read by each route that reads it:
    `/graphql` (attack56, F-two-auth), `/metrics` when its token is set, `/webhooks/tiktok` (small56: these two took
    the first line)."""
    if header_count(scope, b"authorization") > 1:
        return refusal_response(scope, 400, AmbiguousCredentialsError.HTTP_MESSAGE, BAD_REQUEST)
    return None
