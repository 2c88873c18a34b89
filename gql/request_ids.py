"""Request ids: every HTTP request and WebSocket of the app gets one, bound to its log lines (`request_id`, the
access line included) and, for HTTP, sent back in the answer's `X-Request-ID` header (README, Logs).

The id is the caller's `X-Request-ID` when it is a plain token (a load balancer's, a frontend's), else a new random
one (32 hex). `RequestIdMiddleware` is the app's outermost layer, so `/healthz`, `/readyz`, the webhook endpoint,
the OAuth callback, the console and `/metrics` carry it as `/graphql` does (before, only the GraphQL view bound one:
a probe's or a TikTok push's access line had none). The embedded sandbox's answers, TikTok's stand-in, are left as
TikTok sends them (its own `request_id` is in its envelope).
"""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.config import SANDBOX_MOUNT
from adapters.logs import log_context
from gql.responses import header

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
STATE_KEY = "request_id"  # where the middleware leaves the id in the ASGI scope's `state`, for the view to reuse


def request_id(scope: Scope) -> str:
    """The request's id: the one the middleware chose (scope state), else the caller's `X-Request-ID` when it is a
    plain token (at most 128 of `A-Z a-z 0-9 . _ : -`), else a new random one."""
    chosen = (scope.get("state") or {}).get(STATE_KEY)
    if isinstance(chosen, str):
        return chosen
    given = header(scope, b"x-request-id")
    return given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def answering_request_id(send: Send, request_id: str) -> Send:
    """`send` with the request's id in the answer's `X-Request-ID` header (one, replacing any the app set): the id
    its log lines carry, which a merchant, a frontend or an operator can quote to find them."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
            message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode("ascii"))]}
        await send(message)

    return sending


class RequestIdMiddleware:
    """Binds each HTTP request's and WebSocket's id for the lines logged while it is served, and answers HTTP with
    it in `X-Request-ID` (not the embedded sandbox's answers: TikTok's stand-in)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})[STATE_KEY] = rid
        if scope["type"] == "http" and not _is_sandbox(scope):
            send = answering_request_id(send, rid)
        with log_context(request_id=rid):
            await self.app(scope, receive, send)


def _is_sandbox(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path == SANDBOX_MOUNT or path.startswith(SANDBOX_MOUNT + "/")
