"""Requests that may call the embedded sandbox finish before the listener closes (see gql.serving).

In the embedded default a request such as an authorization's completion calls TikTok's stand-in mounted in this
very server.
uvicorn closes its listener first and only then waits for requests in flight: such a request would then find the
port closed. `RequestGate` counts HTTP requests in flight outside the sandbox's own paths; `drain()` (run while the
server still listens) refuses new ones with 503 `SERVICE_UNAVAILABLE` (and `Retry-After`) and waits until those in
flight have answered, within a bound. WebSockets are not counted: a subscription never calls TikTok.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from gql.responses import refusal_response

log = logging.getLogger("shopbridge.http")

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class RequestGate:
    """The count of requests in flight and whether new ones are still let in; one per app."""

    def __init__(self, exempt_prefix: str | None) -> None:
        self.exempt_prefix = exempt_prefix  # the sandbox's mount: its requests are what the others wait on
        self.in_flight = 0
        self.closed = False
        self._idle: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._idle is None:  # made on the serving loop, at first use
            self._idle = asyncio.Event()
            if self.in_flight == 0:
                self._idle.set()
        return self._idle

    def enter(self) -> None:
        self.in_flight += 1
        self._event().clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._event().set()

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 (a bound, not a deadline of the caller's)
        """Refuse new requests, then wait up to `timeout` seconds for those in flight; idempotent."""
        self.closed = True
        if self.in_flight:
            log.info("stopping: waiting for %d request(s) in flight", self.in_flight)
        try:
            async with asyncio.timeout(timeout):  # not wait_for: it can lose a cancellation on 3.11 (gh-86296)
                await self._event().wait()
        except TimeoutError:
            log.warning("stopping: %d request(s) still in flight after %.0f s", self.in_flight, timeout)


class RequestGateMiddleware:
    """Pure ASGI middleware counting HTTP requests through `gate` (outside its exempt prefix)."""

    def __init__(self, app: ASGIApp, gate: RequestGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = self.gate
        prefix = gate.exempt_prefix
        if scope["type"] != "http" or (prefix and str(scope.get("path", "")).startswith(prefix + "/")):
            await self.app(scope, receive, send)
            return
        if gate.closed:
            response = refusal_response(
                scope, 503, "The server is stopping; try again shortly.", SERVICE_UNAVAILABLE,
                {"Retry-After": "5", "Connection": "close"},
            )  # fmt: skip
            await response(scope, receive, send)
            return
        gate.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            gate.leave()
