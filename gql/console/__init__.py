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
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

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


def console_routes() -> list[Route | Mount]:
    """`/` and `/console` redirect to `/console/`; `POST /console/login` exchanges a demo login code."""
    return [
        Route("/", _to_console),
        Route("/console", _to_console),
        Route("/console/login", exchange_login_code, methods=["POST"]),
        Mount("/console", app=_ConsoleFiles(directory=STATIC_DIR, html=True), name="console"),
    ]
