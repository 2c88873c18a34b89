"""The reference web console (issue 10): static ES modules and one stylesheet served at `/console/`.

The console is a client of the public GraphQL API like any other: it calls `POST /graphql` with the merchant's
bearer token and opens the `/graphql` WebSocket (graphql-transport-ws). Nothing here is private to it but the
demo's one-click sign-in (`gql/console/login.py`). No CDN, no build step: the files under `static/` are what the
browser runs.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from adapters.request_rate import RequestRate
from gql.console.login import exchange_login_code, rate_limited_by_address
from gql.method_not_allowed import method_not_allowed_response

STATIC_DIR = Path(__file__).parent / "static"
CONSOLE_PATH = "/console/"
# The console's pages run only their own files: scripts, the stylesheet and the icon from this origin, calls to this
# origin's /graphql (HTTP, and its WebSocket: CSP 3's 'self' matches ws: and wss: of the same host and port), no
# inline script or style (the console has none: index.html loads js/app.js and console.css, and the modules set
# no style attribute), no plugin, no <base>, forms posting only here; no page of another origin may frame it
# (clickjacking of Delete or Authorize: frame-ancestors, and X-Frame-Options for browsers before CSP 2).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


async def _to_console(request: Request) -> Response:
    return RedirectResponse(CONSOLE_PATH, status_code=307)


class _ConsoleFiles(StaticFiles):
    """Static files that browsers revalidate (ETag) instead of caching stale modules across an upgrade, each with
    the console's `SECURITY_HEADERS` (its policy, no framing, no sniffing)."""

    def file_response(
        self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers.update(SECURITY_HEADERS)
        return response


class _PathOwningRoute(Route):
    """A route that answers every request for its path: 405 with `Allow` (its methods, sorted) for a method it lacks,
    in JSON as the login endpoint's other errors, `{"error": {"code": "METHOD_NOT_ALLOWED", "message"}}`, as every
    route answers (gql/method_not_allowed.py).

    Starlette's router takes a later full match over an earlier route that matches the path only (its 405), so a
    method route under the `/console` mount's prefix lost its other methods to the static files: `GET
    /console/login` answered 404 and `PUT` 405 `Allow: GET, HEAD`, naming methods the path does not have."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            response = method_not_allowed_response(self.path, scope["method"], ", ".join(sorted(self.methods)))
            await response(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def console_routes(request_rate: RequestRate | None = None) -> list[Route | Mount]:
    """`/` and `/console` redirect to `/console/`; `POST /console/login` exchanges a demo login code (any other
    method: 405 `Allow: POST`), at most `request_rate`'s cap a minute per client address (429 `RATE_LIMITED`)."""
    login = exchange_login_code if request_rate is None else rate_limited_by_address(exchange_login_code, request_rate)
    return [
        Route("/", _to_console),
        Route("/console", _to_console),
        _PathOwningRoute("/console/login", login, methods=["POST"]),
        Mount("/console", app=_ConsoleFiles(directory=STATIC_DIR, html=True), name="console"),
    ]
