"""Bounds on HTTP request bodies: beyond `SHOPBRIDGE_MAX_REQUEST_BYTES`, 413 with a JSON error; not all there
within `SHOPBRIDGE_REQUEST_BODY_TIMEOUT` seconds of its first read, 408 `REQUEST_TIMEOUT`. Each in the shape of the
route asked for (`gql.responses.refusal_response`: GraphQL's on `/graphql`, `{"error": {"code", "message"}}` else).

A declared `Content-Length` over the limit is refused before anything is read; a chunked body is counted as it
arrives and refused as soon as it passes the limit, so a 50 MB body is never held in memory. Paths that bound their
own bodies (the TikTok webhook endpoint, with its own cap, deadline and answer: `body_within`) are exempt.

The deadline: uvicorn bounds no request body in time, so a client that declares 100 bytes and sends one every
minute (slowloris) held its connection and its task for ever, and enough of them every file descriptor of the
process; anyone can, with no token (`POST /console/login`, `POST /webhooks/tiktok`, a 401 aside). Only the body's
reads are bounded: once its last byte is in, waiting for the client to hang up (a streamed answer) is not. A route
that answers without reading the body, or never reads it, is bounded by the server's protocol instead
(`gql.http_protocol.HttpProtocol`: `Connection: close` after an answer given with the body unread, and its own 408 once
the body is late by as many seconds from the head's end, the app's deadlines here answering first).

Each refusal is one INFO line on `shopbridge.http`, at most one a minute per reason (`ThrottledLog`), the next
saying how many were left out: a declared Content-Length is all it takes to be refused, as often as one likes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gql.responses import header, refusal_response
from gql.throttled_log import ThrottledLog

log = logging.getLogger("shopbridge.http")

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"


class _BodyTooLarge(Exception):
    pass


class BodyTooSlowError(Exception):
    """The request's body did not arrive within its deadline."""


async def body_within(chunks: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """`chunks` (a request's body, e.g. Starlette's `request.stream()`), each awaited within what is left of
    `seconds` from the first: `BodyTooSlowError` once they are spent before the body ends."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTooSlowError from None
        yield chunk


class RequestSizeLimit:
    """Pure ASGI middleware (it must see the body before Starlette's Request buffers it)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, exempt_paths: tuple[str, ...] = (), body_timeout_seconds: float = 30.0
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_paths = frozenset(exempt_paths)
        self.body_timeout_seconds = body_timeout_seconds
        # Anyone can be refused, as often as they like (a Content-Length is enough): one INFO line a minute per reason.
        self.refusals = ThrottledLog(log, interval_seconds=60.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await refusal_response(scope, 400, "Content-Length is not a number.", "BAD_REQUEST")(
                    scope, receive, send
                )
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0
        started = False
        body_done = False
        deadline: float | None = None  # from the first read of the body

        async def counting_receive() -> Message:
            nonlocal received, body_done, deadline
            if body_done:  # the body is in: what follows is the client hanging up, whenever it does
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.body_timeout_seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlowError from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
                body_done = not message.get("more_body", False)
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
        except BodyTooSlowError:
            self.refusals.info(
                REQUEST_TIMEOUT,
                "request refused: body not received within %gs (%s %s)",
                self.body_timeout_seconds,
                scope.get("method"),
                scope.get("path"),
            )
            if started:
                return
            message = f"The request body did not arrive within {self.body_timeout_seconds:g} seconds."
            await refusal_response(scope, 408, message, REQUEST_TIMEOUT, {"Connection": "close"})(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope.get("method"), scope.get("path")
        self.refusals.info(
            REQUEST_TOO_LARGE, "request refused: body over %d bytes (%s %s)", self.max_bytes, method, path
        )
        message = f"The request body is larger than {self.max_bytes} bytes."
        await refusal_response(scope, 413, message, REQUEST_TOO_LARGE)(scope, receive, send)
