"""Contract of the `TikTokAuthGateway` port: `tests.fakes.FakeTikTokAuth` and the real client against the sandbox
over HTTP agree on what the shop services rely on: a consent URL carrying the state, a code exchanged once for
tokens that name the granted shop, and a code TikTok does not know refused as lost authorization."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from adapters.tls import tls_context
from domain.ports import AuthorizationLostError
from tests.fakes import FakeTikTokAuth
from tests.integration.test_tiktok_client import authorize, make_client


@dataclass
class Auth:
    gateway: Any  # a TikTokAuthGateway
    code: str  # a code the seller's consent gave
    tiktok_shop_id: str  # the shop that consent granted


@pytest.fixture(params=["fake", "sandbox"])
async def auth(request: pytest.FixtureRequest, sandbox: Any) -> AsyncIterator[Auth]:
    async with httpx.AsyncClient(verify=tls_context()) as http:
        client = make_client(sandbox, http)
        code = (await authorize(sandbox, "us-local"))["code"]
        seller = next(s for s in sandbox.control("GET", "/shops")["sellers"] if s["key"] == "us-local")
        tiktok_shop_id = seller["shops"][0]["id"]
        if request.param == "fake":
            fake = FakeTikTokAuth()
            granted = (await client.authorized_shops((await client.exchange_code(code)).access_token))[0]
            fake.grant(code, granted)
            yield Auth(fake, code, tiktok_shop_id)
        else:
            yield Auth(client, code, tiktok_shop_id)


async def test_the_consent_url_carries_the_state(auth: Auth) -> None:
    url = auth.gateway.authorization_url("state-xyz")
    assert parse_qs(urlsplit(url).query)["state"] == ["state-xyz"]


async def test_a_code_gives_tokens_that_name_the_granted_shop(auth: Auth) -> None:
    tokens = await auth.gateway.exchange_code(auth.code)
    assert tokens.access_token and tokens.refresh_token
    assert tokens.access_token_expires_at < tokens.refresh_token_expires_at
    shops = await auth.gateway.authorized_shops(tokens.access_token)
    assert [shop.tiktok_shop_id for shop in shops] == [auth.tiktok_shop_id]


async def test_a_code_tiktok_does_not_know_is_lost_authorization(auth: Auth) -> None:
    with pytest.raises(AuthorizationLostError):
        await auth.gateway.exchange_code("no-such-code")
