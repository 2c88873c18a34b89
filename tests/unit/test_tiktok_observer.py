"""What the transport tells its observer (the `shopbridge_tiktok_requests_total` and retries metrics an operator
watches): the API called and the outcome of each response or failure, and each retry."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from adapters.tiktok import RateLimiter, TikTokClient
from adapters.tiktok.errors import TikTokError
from tests.unit.test_tiktok_client import NOW, SETTINGS, Handler, fail, ok

SEARCH = "POST /order/202309/orders/search"
REFRESH = "GET /api/v2/token/refresh"


def observed_client(handler: Handler, max_retries: int = 5) -> tuple[TikTokClient, list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []

    async def no_sleep(seconds: float) -> None:
        pass

    client = TikTokClient(
        dataclasses.replace(SETTINGS, max_retries=max_retries),
        httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        clock=lambda: NOW, sleep=no_sleep, rng=lambda: 0.5, rate_limiter=RateLimiter(10_000),
        observer=lambda what, outcome: seen.append((what, outcome)),
    )  # fmt: skip
    return client, seen


def in_turn(*answers: httpx.Response | Exception) -> Handler:
    remaining = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = remaining.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


async def search(client: TikTokClient) -> None:
    await client.search_orders("TTP", "GCP_1", page_size=10, create_time_ge=0, create_time_lt=1)


async def test_each_failure_and_retry_is_observed_until_the_answer() -> None:
    client, seen = observed_client(
        in_turn(
            fail(36009002, "Too many requests", status=429),
            fail(36009003, "Internal error", status=500),
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, content=b"<html>proxy</html>"),
            ok({"orders": [], "total_count": 0}),
        )
    )
    await search(client)
    assert seen == [
        (SEARCH, "rate_limited"), (SEARCH, "retry"), (SEARCH, "server"), (SEARCH, "retry"),
        (SEARCH, "network"), (SEARCH, "retry"), (SEARCH, "timeout"), (SEARCH, "retry"),
        (SEARCH, "malformed_response"), (SEARCH, "retry"), (SEARCH, "ok"),
    ]  # fmt: skip


async def test_the_token_endpoints_failures_are_observed_too() -> None:
    client, seen = observed_client(
        in_turn(
            httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), fail(36004005, "The refresh token is invalid.")
        )
    )
    with pytest.raises(TikTokError):
        await client.refresh("TTP_refresh")
    assert seen == [
        (REFRESH, "timeout"),
        (REFRESH, "retry"),
        (REFRESH, "network"),
        (REFRESH, "retry"),
        (REFRESH, "api"),
    ]


@pytest.mark.parametrize(
    ("code", "message", "outcome"),
    [
        (105002, "Expired credentials.", "access_token_expired"),
        (36009004, "The x-tts-access-token header is invalid.", "invalid_access_token"),
        (106001, "Invalid credentials. The sign query parameter is invalid.", "signature"),
        (36009004, "Invalid timestamp.", "clock_skew"),
        (105005, "Access denied.", "missing_scope"),
        (12052180, "The total number of search results can not exceed 10000.", "search_cap_exceeded"),
        (21008111, "The order does not belong to the current seller", "record_not_found"),
    ],
)
async def test_a_refusal_is_observed_by_its_kind_in_snake_case(code: int, message: str, outcome: str) -> None:
    client, seen = observed_client(in_turn(fail(code, message)))
    with pytest.raises(TikTokError):
        await search(client)
    assert seen == [(SEARCH, outcome)]
