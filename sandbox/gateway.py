"""TikTok's API gateway in front of the business endpoints: routing, signature and credential checks, shop cipher
rules, rate limiting, held calls, injected faults, latency and counters, answering in TikTok's envelope.

Checks run in TikTok's documented order of concern: path, method, app_key, timestamp, sign, shop_id, access token,
shop_cipher; then the rate limit (per API, app and shop; per app and token where no shop applies), then a hold
(`POST /_sandbox/hold`), then faults.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from sandbox import envelope as codes
from sandbox.envelope import ApiError, envelope, failure, new_request_id, success
from sandbox.faults import RETRY_AFTER_SECONDS, TRICKLE_STEP_SECONDS
from sandbox.params import json_object
from sandbox.sellers import Seller, Shop
from sandbox.signing import signature, signature_matches
from sandbox.state import ShopData, World
from sandbox.tokens import Grant, TokenError

TIMESTAMP_PAST_SECONDS = 300
TIMESTAMP_FUTURE_SECONDS = 30
INVALID_TOKEN_MESSAGE = "Invalid credentials. The x-tts-access-token header is invalid."  # noqa: S105 - a message


def tiktok_path(scope: Scope) -> str:
    """The request path without the mount prefix: the path the client signed."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :] or "/"
    return path


@dataclass
class Call:
    """One authenticated business API call, as a handler sees it."""

    world: World
    request: Request
    query: dict[str, str]
    body: bytes
    grant: Grant
    seller: Seller
    shop: Shop | None
    path_params: dict[str, str] = field(default_factory=dict)

    def shop_data(self) -> ShopData:
        assert self.shop is not None, "only shop-scoped routes ask for shop data"
        return self.world.shop_data(self.shop)

    def json_body(self) -> dict[str, Any]:
        return json_object(self.body)


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class ApiRoute:
    """A TikTok endpoint: method, path template (`{name}` segments), handler and whether it is shop-scoped."""

    method: str
    template: str
    handler: Handler
    shop_scoped: bool = True

    @property
    def pattern(self) -> re.Pattern[str]:
        # TikTok's path parameters are numeric ids: `/products/search` is the search, never a product named "search".
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[0-9]+)", self.template) + "$")


class Gateway:
    """An ASGI-style endpoint that serves every business route of one world."""

    def __init__(self, world: World, routes: list[ApiRoute]) -> None:
        self.world = world
        self.routes = [(route, route.pattern) for route in routes]

    async def __call__(self, request: Request) -> Response:
        world, request_id = self.world, new_request_id()
        path = tiktok_path(request.scope)
        counter_key, fault = path, None
        try:
            if world.latency_ms:
                await asyncio.sleep(world.latency_ms / 1000)
            route, path_params = self._route(request.method, path)
            counter_key = route.template
            body = await request.body()
            call = self._authenticate(request, route, body, path, path_params)
            self._rate_limit(route, call)
            if not await world.holds.wait(route.template, request.is_disconnected):
                return Response(status_code=499)  # held until its client left: nobody is listening any more
            fault = world.faults.pick(route.template)
            if fault == "repeat_page_token":
                fault = None if "page_token" not in call.query else fault  # a first page has none to repeat
            if fault is not None:
                world.counters.record(counter_key, f"fault:{fault}")
                if fault not in ("slow", "repeat_page_token", "trickle"):
                    return _fault_response(fault, request_id)
                if fault == "slow" and not await _sleep_unless_disconnected(request, world.faults.slow_seconds):
                    return Response(status_code=499)  # nobody is listening any more
            data = await route.handler(call)
            if fault == "repeat_page_token" and isinstance(data, dict) and data.get("next_page_token"):
                data["next_page_token"] = call.query["page_token"]  # the cursor never advances
        except ApiError as error:
            world.counters.record(counter_key, str(error.code))
            return failure(error, request_id)
        if fault is None:
            world.counters.record(counter_key, "ok")
        if fault == "trickle":
            begun = world.faults.trickles_ended

            def ended() -> bool:
                return world.stopping() or world.faults.trickles_ended != begun

            return _trickled(success(data, request_id), world.faults.slow_seconds, ended)
        return success(data, request_id)

    def _route(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]]:
        path_known = False
        for route, pattern in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route.method == method:
                return route, match.groupdict()
            path_known = True
        if path_known:
            raise ApiError(codes.INVALID_METHOD, f"Invalid HTTP method. {method} is not supported for this path.")
        raise ApiError(codes.INVALID_PATH, "Invalid path. Please check the request path.")

    def _authenticate(
        self, request: Request, route: ApiRoute, body: bytes, path: str, path_params: dict[str, str]
    ) -> Call:
        world = self.world
        pairs = request.query_params.multi_items()
        query = dict(pairs)
        if query.get("app_key") != world.app_key:
            raise ApiError(
                codes.INVALID_PARAMETER, "Invalid app_key. The app_key query parameter is missing or invalid."
            )
        self._check_timestamp(query.get("timestamp"))
        given_sign = query.get("sign")
        if not given_sign:
            raise ApiError(codes.INVALID_PARAMETER, "Missing sign. The sign query parameter is required.")
        expected = signature(world.config.app_secret, path, pairs, body, request.headers.get("content-type", ""))
        if not signature_matches(expected, given_sign):
            raise ApiError(codes.INVALID_SIGN, "Invalid credentials. The sign query parameter is invalid.")
        if "shop_id" in query:
            raise ApiError(codes.INVALID_PARAMETER, "Invalid identifier. The shop_id query parameter is invalid.")
        grant = self._grant(request.headers.get("x-tts-access-token", ""))
        seller = world.sellers[grant.seller_key]
        shop = self._shop(route, query.get("shop_cipher"), seller)
        return Call(world, request, query, body, grant, seller, shop, path_params)

    def _check_timestamp(self, raw: str | None) -> None:
        if not raw:
            raise ApiError(codes.INVALID_PARAMETER, "Invalid timestamp. The timestamp query parameter is required.")
        try:
            timestamp = int(raw)
        except ValueError:
            raise ApiError(codes.INVALID_PARAMETER, "Invalid timestamp. The timestamp must be Unix seconds.") from None
        now = self.world.clock.wall()  # the client's clock does not move with `POST /_sandbox/clock`
        if timestamp < 0 or not now - TIMESTAMP_PAST_SECONDS <= timestamp <= now + TIMESTAMP_FUTURE_SECONDS:
            raise ApiError(
                codes.INVALID_PARAMETER,
                "Invalid timestamp. The timestamp is older than 5 minutes or more than 30 seconds in the future.",
            )

    def _grant(self, access_token: str) -> Grant:
        try:
            grant = self.world.tokens.check_access(access_token)
        except TokenError as error:
            if error.reason == "expired":
                raise ApiError(
                    codes.EXPIRED_TOKEN, "Expired credentials. The x-tts-access-token header has expired."
                ) from None
            raise ApiError(codes.INVALID_PARAMETER, INVALID_TOKEN_MESSAGE) from None
        if grant.app_key != self.world.app_key:
            raise ApiError(codes.INVALID_PARAMETER, INVALID_TOKEN_MESSAGE)
        return grant

    def _shop(self, route: ApiRoute, cipher: str | None, seller: Seller) -> Shop | None:
        if not route.shop_scoped:
            if cipher is not None:
                raise ApiError(
                    codes.INVALID_PARAMETER,
                    "Unexpected identifier. The shop_cipher query parameter is not required for this request.",
                )
            return None
        if not cipher:
            raise ApiError(
                codes.MISSING_SHOP_CIPHER, "Missing shop_cipher. The shop_cipher query parameter is required."
            )
        shop = self.world.shops_by_cipher.get(cipher)
        if shop is None or shop.seller_key != seller.key:
            raise ApiError(
                codes.TOKEN_SHOP_MISMATCH,
                "Invalid shop_cipher or x-tts-access-token: the access token is not authorized for this shop.",
            )
        return shop

    def _rate_limit(self, route: ApiRoute, call: Call) -> None:
        scope = call.shop.id if call.shop is not None else call.grant.access_token
        if not self.world.rate_limiter.allow((route.template, self.world.app_key, scope)):
            raise ApiError(codes.TOO_MANY_REQUESTS, "Too many requests. Please retry later.")


DROPPED_ON_PURPOSE: contextvars.ContextVar[bool] = contextvars.ContextVar("sandbox_dropped_on_purpose", default=False)
"""True in the context of a request whose answer the `drop` fault cut short, once the sandbox's app returned.

The server that ran it reads it there: uvicorn logs "ASGI callable returned without completing response." at ERROR
on `uvicorn.error` right after the app returns, in the same task (`run_asgi`), so a log filter can tell the fault's
cut from an app's bug (Shopbridge's, for the embedded sandbox: `gql.logfilters.SandboxDropLines`)."""


class _DroppedResponse(Response):
    """Promises a body, sends the headers, then ends the exchange: the server closes the connection mid-response.

    ASGI has no "abort"; returning with an incomplete body makes the server close the transport, and the client
    sees the connection end early (httpx raises RemoteProtocolError). `DROPPED_ON_PURPOSE` says so to the server's log.
    """

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        DROPPED_ON_PURPOSE.set(True)  # the request's own task: seen by uvicorn once the app returns
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")],
            }
        )


def _fault_response(kind: str, request_id: str) -> Response:
    if kind == "http_500":
        return JSONResponse(envelope(codes.INTERNAL_ERROR, "Internal error, please retry.", None, request_id), 500)
    if kind == "http_503":
        return JSONResponse(envelope(codes.INTERNAL_ERROR, "Service unavailable, please retry.", None, request_id), 503)
    if kind == "http_429":
        return JSONResponse(
            envelope(codes.TOO_MANY_REQUESTS, "Too many requests. Please retry later.", None, request_id), 429
        )
    if kind == "http_429_retry_after":
        return JSONResponse(
            envelope(codes.TOO_MANY_REQUESTS, "Too many requests. Please retry later.", None, request_id),
            429,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if kind == "expired_token":
        message = "Expired credentials. The x-tts-access-token header has expired."
        return JSONResponse(envelope(codes.EXPIRED_TOKEN, message, None, request_id))
    if kind == "http_408":
        return Response(status_code=408, headers={"connection": "close"})
    if kind == "bad_gzip":
        return JSONResponse(envelope(0, "Success", {}, request_id), headers={"content-encoding": "gzip"})
    if kind == "malformed_json":
        return Response(b'{"code":0,"message":"Success","data":{"orders":[{"id":"57', media_type="application/json")
    if kind == "drop":
        return _DroppedResponse()
    if kind == "missing_scope":
        message = "Access denied. The app or the access token lacks the scope this API requires."
        return JSONResponse(envelope(codes.MISSING_SCOPE, message, None, request_id))
    if kind == "missing_parameter":
        message = "Invalid parameter. A required parameter is missing."
        return JSONResponse(envelope(codes.INVALID_PARAMETER, message, None, request_id))
    if kind == "invalid_sign":
        message = "Invalid credentials. The sign query parameter is invalid."
        return JSONResponse(envelope(codes.INVALID_SIGN, message, None, request_id), 401)
    raise AssertionError(f"unhandled fault kind {kind}")


def _trickled(answer: Response, seconds: float, stopping: Callable[[], bool]) -> StreamingResponse:
    """`answer`'s body, preceded by one space (JSON's leading whitespace) every `TRICKLE_STEP_SECONDS` for `seconds`,
    or until `stopping()` (the server stops, or a test ended the trickles under way, `Faults.end_trickles`: the rest
    comes at once, so no answer keeps the stop waiting). A client that hangs up ends it (Starlette's
    StreamingResponse listens for the disconnect)."""

    async def body() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline and not stopping():
            yield b" "
            await asyncio.sleep(TRICKLE_STEP_SECONDS)
        yield bytes(answer.body)

    return StreamingResponse(body(), status_code=answer.status_code, media_type="application/json")


async def _sleep_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep `seconds` in short steps; False as soon as the client has gone (so shutdown is never held up)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        await asyncio.sleep(min(0.05, remaining))
        if await request.is_disconnected():
            return False
    return True
