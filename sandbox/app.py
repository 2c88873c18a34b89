"""`create_app(config)`: the sandbox as a Starlette app, standalone at `/` or mounted under a path prefix.

Routes: `/oauth/authorize` (consent), `/api/v2/token/{get,refresh}` (tokens), `/_sandbox/...` (control) and,
for every other path, TikTok's gateway (business API; unknown paths answer 36009009 in the envelope).
`app.state.sandbox` is the World; the app's lifespan starts and stops its webhook sender.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sandbox.api import ROUTES
from sandbox.config import SandboxConfig
from sandbox.control import Control
from sandbox.gateway import Gateway
from sandbox.hold_control import HoldControl
from sandbox.inventory_control import InventoryControl
from sandbox.live import LiveControl
from sandbox.oauth import OAuth
from sandbox.sellercenter import SellerCenter
from sandbox.state import World

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left; nobody receives it

logger = logging.getLogger("sandbox")


async def _client_gone(request: Request, exc: Exception) -> Response:
    """A client that hangs up mid-request (an import cancelled, a timeout) is normal traffic: one debug line, no
    traceback (issue 12, item 4)."""
    logger.debug("sandbox: client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """A fresh sandbox world served by a new app; nothing is shared between two apps."""
    world = World(config or SandboxConfig())
    oauth, control, gateway = OAuth(world), Control(world), Gateway(world, ROUTES)

    async def index(request: Request) -> HTMLResponse:
        # A landing page for people: the consent link is the one thing worth clicking.
        query = urlencode({"service_id": world.config.service_id, "state": "demo"})
        link = html.escape(f"{request.scope.get('root_path', '')}/oauth/authorize?{query}", quote=True)
        return HTMLResponse(
            "<!doctype html><meta charset='utf-8'><title>TikTok Shop sandbox</title>"
            "<h1>TikTok Shop sandbox</h1>"
            f"<p><a href='{link}'>Open the seller consent page</a> · <a href='_sandbox/shops'>sellers and shops</a></p>"
        )

    async def control_not_found(request: Request) -> JSONResponse:
        return JSONResponse({"error": f"no control endpoint {request.method} {request.url.path}"}, status_code=404)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/oauth/authorize", oauth.authorize, methods=["GET", "POST"]),
        Route("/api/v2/token/get", oauth.token_get, methods=ALL_METHODS),
        Route("/api/v2/token/refresh", oauth.token_refresh, methods=ALL_METHODS),
        *control.routes(),
        *LiveControl(world).routes(),
        *SellerCenter(world).routes(),
        *InventoryControl(world).routes(),
        *HoldControl(world).routes(),
        Route("/_sandbox/{rest:path}", control_not_found, methods=ALL_METHODS),
        Route("/{path:path}", gateway.__call__, methods=ALL_METHODS),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Webhook deliveries and the authorization-expiration ticker run in tasks the sender owns; stopping the
        # app cancels and awaits them all. A host that mounts this app (no sub-app lifespan) calls
        # `await world.aclose()` from its own lifespan; sending then starts lazily on the first push.
        world.webhooks.ensure_started()
        try:
            yield
        finally:
            await world.aclose()  # also saves the state under `config.state_dir`, if set

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={ClientDisconnect: _client_gone})
    app.state.sandbox = world
    return app
