"""A bound on HTTP request bodies: beyond `SHOPBRIDGE_MAX_REQUEST_BYTES`, 413 with a JSON error.

A declared `Content-Length` over the limit is refused before anything is read; a chunked body is counted as it
arrives and refused as soon as it passes the limit, so a 50 MB body is never held in memory. Paths that bound their
own bodies (the TikTok webhook endpoint, with its own cap and answer) are exempt.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.responses import error_response, header

log = logging.getLogger("shopbridge.http")

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"


class _BodyTooLarge(Exception):
    pass


class RequestSizeLimit:
    """Pure ASGI middleware (it must see the body before Starlette's Request buffers it)."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await error_response(scope, 400, "Content-Length is not a number.", "BAD_REQUEST")(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:  # the app answered before reading everything; nothing more can be said
                return
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        log.info("request refused: body over %d bytes (%s %s)", self.max_bytes, scope.get("method"), scope.get("path"))
        message = f"The request body is larger than {self.max_bytes} bytes."
        await error_response(scope, 413, message, REQUEST_TOO_LARGE)(scope, receive, send)
