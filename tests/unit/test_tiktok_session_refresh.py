"""`ShopSession`'s refresh over `httpx.MockTransport`: who the seller is survives a refresh answer that omits it,
a session refreshes again when its new token expires too, and each shop's sessions share their shop's refresh."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import httpx
import pytest

from adapters.tiktok.errors import AccessTokenExpiredError
from domain.shops import TokenSet
from tests.unit.test_tiktok_client import TOKENS, fail, make_client, ok, token_data


class Tokens:
    """A TikTok where only the latest access token of each refresh chain works, and `expire()` ends it early."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.valid: set[str] = set()
        self.refreshed: list[str] = []  # the refresh tokens TikTok was asked to refresh
        self.answer = answer or {}

    def expire(self) -> None:
        self.valid.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            old = request.url.params["refresh_token"]
            self.refreshed.append(old)
            data = {**token_data(f"{old.removeprefix('TTP_refresh_')}+"), **self.answer}
            data = {k: v for k, v in data.items() if v is not None}
            self.valid.add(data["access_token"])
            return ok(data)
        if request.headers["x-tts-access-token"] not in self.valid:
            return fail(105002, "Expired credentials. The x-tts-access-token header has expired.")
        return ok({"orders": [], "total_count": 0})


async def search(session: Any) -> None:
    await session.search_orders(page_size=10, page_token=None, create_time_ge=0, create_time_lt=1)


async def noop(tokens: TokenSet) -> None:
    await asyncio.sleep(0)


async def test_a_refresh_answer_without_the_seller_keeps_who_the_seller_is() -> None:
    # given a consent that told us the seller's name and open id, and a refresh answer without them
    world = Tokens({"seller_name": None, "open_id": None})
    client, _ = make_client(world)
    persisted: list[TokenSet] = []

    async def persist(tokens: TokenSet) -> None:
        persisted.append(tokens)

    session = client.for_shop("GCP_cipher", replace(TOKENS, open_id="7010736057180325000"), persist)
    await search(session)
    assert (persisted[0].seller_name, persisted[0].open_id) == ("Seller", "7010736057180325000")
    assert persisted[0].access_token == "TTP_access_0+"


async def test_a_refresh_answer_naming_the_seller_is_taken() -> None:
    world = Tokens({"seller_name": "Renamed", "open_id": "7010736057180325999"})
    client, _ = make_client(world)
    session = client.for_shop("GCP_cipher", replace(TOKENS, open_id="7010736057180325000"), noop)
    await search(session)
    assert (session.tokens.seller_name, session.tokens.open_id) == ("Renamed", "7010736057180325999")


async def test_a_second_expiry_is_one_more_refresh_shared_by_concurrent_calls(caplog) -> None:
    world = Tokens()
    client, _ = make_client(world)
    session = client.for_shop("GCP_cipher", TOKENS, noop)
    with caplog.at_level(logging.INFO, logger="adapters.tiktok"):
        await search(session)
        # when the refreshed token expires in turn, under 10 concurrent calls
        world.expire()
        await asyncio.gather(*(search(session) for _ in range(10)))
    # then one more refresh, of the refreshed pair: two in all
    assert world.refreshed == ["TTP_refresh_0", "TTP_refresh_0+"]
    assert session.tokens.access_token == "TTP_access_0++"
    lines = [r.getMessage() for r in caplog.records if "refreshing" in r.getMessage()]
    assert lines == ["tiktok access token expired for shop cipher ...pher; refreshing"] * 2


async def test_each_shops_sessions_share_their_shops_refresh() -> None:
    world = Tokens()
    client, _ = make_client(world)
    shop_b = replace(TOKENS, access_token="TTP_access_b", refresh_token="TTP_refresh_b")
    # when a session of shop A refreshes, then one of shop B, then a second session of A with A's old pair
    await search(client.for_shop("GCP_A", TOKENS, noop))
    await search(client.for_shop("GCP_B", shop_b, noop))
    second = client.for_shop("GCP_A", TOKENS, noop)
    await search(second)
    # then A's second session got A's refreshed pair, without asking TikTok to refresh A's old pair again
    assert world.refreshed == ["TTP_refresh_0", "TTP_refresh_b"]
    assert second.tokens.access_token == "TTP_access_0+"


async def test_105002_right_after_a_refresh_is_logged_once_per_retry_with_its_request_id(caplog) -> None:
    # given a TikTok that keeps answering 105002 even to the token just refreshed (it has not caught up with itself)
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            return ok(token_data("1"))
        return fail(105002, "Expired credentials.")

    client, _ = make_client(handler)
    session = client.for_shop("GCP_cipher", TOKENS, lambda tokens: asyncio.sleep(0))
    with caplog.at_level(logging.INFO, logger="adapters.tiktok"):
        with pytest.raises(AccessTokenExpiredError):
            await session.get_orders(["1"])
    # then each retry after the refresh told the operator why, naming TikTok's request id
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "right after" in r.getMessage()]
    assert client.settings.max_retries == 3
    assert lines == [(logging.INFO, "tiktok 105002 right after a refresh (request_id=RID); retrying")] * 3
