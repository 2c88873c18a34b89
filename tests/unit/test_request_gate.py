"""The stop's drain (gql.draining): requests in flight finish while new ones get 503, the sandbox's own pass."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gql.draining import RequestGate, RequestGateMiddleware


async def test_drain_waits_for_requests_in_flight_and_refuses_new_ones() -> None:
    release, entered = asyncio.Event(), asyncio.Event()

    async def slow(request: Request) -> PlainTextResponse:
        entered.set()
        await release.wait()
        return PlainTextResponse("done")

    async def fast(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    gate = RequestGate("/sandbox")
    app = Starlette(
        routes=[Route("/slow", slow), Route("/fast", fast), Route("/sandbox/api", fast)],
        middleware=[Middleware(RequestGateMiddleware, gate=gate)],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        # given a request in flight
        in_flight = asyncio.create_task(client.get("/slow"))
        await asyncio.wait_for(entered.wait(), 10)
        # when the stop drains
        drained = asyncio.create_task(gate.drain(timeout=30))
        await asyncio.sleep(0)
        # then a new request is refused with a coded 503, the sandbox's own paths still answer
        refused = await client.get("/fast")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        # in the route's shape (attack56 F-login-413): `{"error": {...}}`, GraphQL's on /graphql alone
        assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        graphql = await client.post("/graphql")
        assert graphql.status_code == 503 and graphql.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert (await client.get("/sandbox/api")).status_code == 200
        # and the drain ends only once the request in flight has answered
        assert not drained.done()
        release.set()
        assert (await asyncio.wait_for(in_flight, 10)).text == "done"
        await asyncio.wait_for(drained, 10)
        assert gate.in_flight == 0
