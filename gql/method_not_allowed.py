"""405 for a method a path lacks, app-wide, in the shape of the app's other non-GraphQL errors.

`{"error": {"code": "METHOD_NOT_ALLOWED", "message": "<path> takes <methods> only, not <method>."}}` with `Allow`
naming the path's methods, sorted (RFC 9110 15.5.6). Starlette's routes and static files raise `HTTPException(405)` with
`Allow` set; its default handler answered them `Method Not Allowed` as text/plain, though the README promised
this shape for every route (try-out newcomer54). `/graphql` answers its own 405 in GraphQL's shape
(`{"errors": [...]}`, gql/view.py), and the embedded sandbox, an app of its own under its mount, answers as it does.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gql.operations import METHOD_NOT_ALLOWED


def method_not_allowed_response(path: str, method: str, allow: str) -> Response:
    """The 405 answer for `method` on `path`, whose methods are `allow` ("GET, HEAD", sorted)."""
    message = f"{path} takes {allow} only, not {method}." if allow else f"{path} does not take {method}."
    body = {"error": {"code": METHOD_NOT_ALLOWED, "message": message}}
    return JSONResponse(body, status_code=405, headers={"Allow": allow} if allow else None)


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for status 405 (`exception_handlers={405: method_not_allowed}`)."""
    headers = exc.headers if isinstance(exc, HTTPException) else None
    # Starlette joins a route's methods from a set: their order changed from one process to the next
    methods = sorted(m.strip() for m in (headers or {}).get("Allow", "").split(",") if m.strip())
    return method_not_allowed_response(request.url.path, request.method, ", ".join(methods))
