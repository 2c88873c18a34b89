"""A client that hangs up while sending its body (`POST /graphql`, `POST /webhooks/tiktok`) is normal traffic, not
a server error: one DEBUG line on `shopbridge.http`, no traceback, and a 499 nobody receives.

Every route that reads a body (the GraphQL view through Strawberry, the webhook endpoint's stream) raises
Starlette's `ClientDisconnect` when the socket closes early; the app maps it here, once for all of them.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger("shopbridge.http")

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left; nobody receives it


async def client_gone(request: Request, exc: Exception) -> Response:
    log.debug("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)
