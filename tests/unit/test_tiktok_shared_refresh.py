"""`TikTokClient.refresh_shop`: sessions of one shop share one refresh of one token pair, per shop, for as long as
the refreshed access token is valid, and the client remembers the last `MAX_SHARED_REFRESHES` shops (4,096; least
recently used dropped)."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.tiktok import TikTokClient
from adapters.tiktok import client as client_module
from domain.shops import TokenSet
from tests.unit.test_tiktok_client import NOW, make_client, ok, token_data


def refreshes(client_calls: list[httpx.Request]) -> list[str]:
    """The refresh tokens TikTok was asked to refresh, in order."""
    return [r.url.params["refresh_token"] for r in client_calls]


def _pair(shop: str) -> TokenSet:
    from datetime import UTC, datetime

    expires = datetime.fromtimestamp(NOW - 1, UTC)
    return TokenSet(f"TTP_access_{shop}", expires, f"TTP_refresh_{shop}", datetime.fromtimestamp(NOW + 86400, UTC))


def answering(expire_in: int | None = None) -> tuple[TikTokClient, Any]:
    def handler(request: httpx.Request) -> httpx.Response:
        data = token_data(request.url.params["refresh_token"].removeprefix("TTP_refresh_") + "-new")
        if expire_in is not None:
            data["access_token_expire_in"] = expire_in
        return ok(data)

    return make_client(handler)


async def test_each_shop_has_its_own_shared_refresh() -> None:
    client, recorder = answering()
    # when shop A's pair is refreshed, then shop B's, then A's old pair again (a second session of A)
    first = await client.refresh_shop("GCP_A", _pair("a"))
    await client.refresh_shop("GCP_B", _pair("b"))
    again = await client.refresh_shop("GCP_A", _pair("a"))
    # then the second session of A got the first refresh's answer: TikTok refreshed each pair once
    assert again == first and first.access_token == "TTP_access_a-new"
    assert refreshes(recorder.requests) == ["TTP_refresh_a", "TTP_refresh_b"]


async def test_an_answer_whose_access_token_has_expired_is_not_shared() -> None:
    # given TikTok's refreshed access token expiring exactly now
    client, recorder = answering(expire_in=int(NOW))
    await client.refresh_shop("GCP_A", _pair("a"))
    await client.refresh_shop("GCP_A", _pair("a"))
    assert refreshes(recorder.requests) == ["TTP_refresh_a", "TTP_refresh_a"]


async def test_the_client_remembers_the_last_shops_least_recently_used_dropped(monkeypatch) -> None:
    # given a client that remembers 3 shops (4,096 in production: the same rule, without 4,097 requests per run)
    monkeypatch.setattr(client_module, "MAX_SHARED_REFRESHES", 3)
    client, recorder = answering()
    for n in range(3):
        await client.refresh_shop(f"GCP_{n}", _pair(str(n)))
    # 3 shops: the first is still remembered (and becomes the most recently used)
    await client.refresh_shop("GCP_0", _pair("0"))
    assert len(recorder.requests) == 3
    # one more shop: the least recently used one, shop 1, is forgotten; shop 0 is not
    await client.refresh_shop("GCP_3", _pair("3"))
    await client.refresh_shop("GCP_0", _pair("0"))
    await client.refresh_shop("GCP_1", _pair("1"))
    assert refreshes(recorder.requests)[3:] == ["TTP_refresh_3", "TTP_refresh_1"]
