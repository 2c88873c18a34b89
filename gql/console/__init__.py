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

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from gql.console.login import exchange_login_code

STATIC_DIR = Path(__file__).parent / "static"
CONSOLE_PATH = "/console/"


async def _to_console(request: Request) -> Response:
    return RedirectResponse(CONSOLE_PATH, status_code=307)


class _ConsoleFiles(StaticFiles):
    """Static files that browsers revalidate (ETag) instead of caching stale modules across an upgrade."""

    def file_response(
        self, full_path: PathLike[str] | str, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


class _PathOwningRoute(Route):
    """A route that answers every request for its path: 405 with `Allow` (its methods, sorted) for a method it lacks.

    Starlette's router takes a later full match over an earlier route that matches the path only (its 405), so a
    method route under the `/console` mount's prefix lost its other methods to the static files: `GET
    /console/login` answered 404 and `PUT` 405 `Allow: GET, HEAD`, naming methods the path does not have."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        return (Match.FULL if match is Match.PARTIAL else match), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(sorted(self.methods))})
        await super().handle(scope, receive, send)


def console_routes() -> list[Route | Mount]:
    """`/` and `/console` redirect to `/console/`; `POST /console/login` exchanges a demo login code (any other
    method: 405 `Allow: POST`)."""
    return [
        Route("/", _to_console),
        Route("/console", _to_console),
        _PathOwningRoute("/console/login", exchange_login_code, methods=["POST"]),
        Mount("/console", app=_ConsoleFiles(directory=STATIC_DIR, html=True), name="console"),
    ]
