"""Error responses of the GraphQL endpoint: always a JSON GraphQL response, in the media type the client accepts.

GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): a client that accepts
`application/graphql-response+json` gets that media type and 4xx for request errors; anyone else gets
`application/json` (a "legacy" client).
"""

from __future__ import annotations

import json

from starlette.responses import Response
from starlette.types import Scope

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def response_media_type(scope: Scope) -> str:
    """`application/graphql-response+json` when the Accept header lists it (with q > 0), else `application/json`."""
    for entry in (header(scope, b"accept") or "").split(","):
        kind, *params = (part.strip() for part in entry.split(";"))
        if kind.lower() == GRAPHQL_RESPONSE_JSON and not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in params):
            return GRAPHQL_RESPONSE_JSON
    return APPLICATION_JSON


def error_response(
    scope: Scope, status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    """`{"errors": [{"message", "extensions": {"code"}}]}` with the status and the negotiated media type."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    media_type = response_media_type(scope)
    return Response(body, status_code=status, media_type=media_type, headers=headers)
