"""The sandbox's seller consent page and token endpoints over real HTTP: codes, exchange, refresh and expiry."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.config import SandboxConfig
from tests.fixtures.sandbox import SandboxServer, TikTokCaller

SHOPS = "/authorization/202309/shops"


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def token_get(server: SandboxServer, code: str, **overrides: str) -> dict[str, Any]:
    params = {
        "app_key": server.config.app_key,
        "app_secret": server.config.app_secret,
        "auth_code": code,
        "grant_type": "authorized_code",
        **overrides,
    }
    return server.http.get(f"{server.url}/api/v2/token/get", params=params).json()


def token_refresh(server: SandboxServer, refresh_token: str, **overrides: str) -> dict[str, Any]:
    params = {
        "app_key": server.config.app_key,
        "app_secret": server.config.app_secret,
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
        **overrides,
    }
    return server.http.get(f"{server.url}/api/v2/token/refresh", params=params).json()


def test_the_consent_page_lists_every_seller_with_approve_and_deny(sandbox) -> None:
    page = sandbox.http.get(
        f"{sandbox.url}/oauth/authorize", params={"service_id": sandbox.config.service_id, "state": "x"}
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for key in ("us-local", "us-local-2", "uk-local", "my-local", "sg-local", "cross-border", "id-local"):
        assert f'name="seller" value="{key}"' in page.text
    assert "CROSS_BORDER" in page.text and "Caf\u00e9 Britannia" in page.text
    assert page.text.count('value="approve"') == 7 and page.text.count('value="deny"') == 7
    assert 'action="/oauth/authorize"' in page.text and 'name="state" value="x"' in page.text


def test_an_unknown_service_id_gets_a_clear_400_page(sandbox) -> None:
    page = sandbox.http.get(f"{sandbox.url}/oauth/authorize", params={"service_id": "42"})
    assert page.status_code == 400 and "Unknown service_id" in page.text


@pytest.mark.parametrize(
    "form",
    [{"seller": "nobody", "decision": "approve"}, {"seller": "us-local", "decision": "maybe"}, {"seller": "us-local"}],
)
def test_bad_consent_answers_get_400(sandbox, form: dict[str, str]) -> None:
    response = sandbox.http.post(
        f"{sandbox.url}/oauth/authorize", data={"service_id": sandbox.config.service_id, **form}
    )
    assert response.status_code == 400


def test_approve_and_deny_redirect_to_the_registered_url(sandbox) -> None:
    response = sandbox.http.post(
        f"{sandbox.url}/oauth/authorize",
        data={"service_id": sandbox.config.service_id, "state": "abc", "seller": "uk-local", "decision": "approve"},
    )
    assert response.status_code == 302
    assert response.headers["location"].startswith(sandbox.config.redirect_url + "?code=")
    approved = sandbox.authorize("uk-local", state="s/1+2")
    assert approved["state"] == "s/1+2" and approved["code"] and "error" not in approved
    denied = sandbox.authorize("uk-local", state="s2", decision="deny")
    assert denied == {"error": "auth_denied", "state": "s2"}
    assert set(sandbox.authorize("uk-local", state=None)) == {"code"}  # App Store style: no state


def test_a_code_exchanges_once_for_tokens_with_absolute_expiry(sandbox_factory) -> None:
    clock = FakeClock()
    server = sandbox_factory(SandboxConfig(products=1, orders=1, clock=clock, access_token_ttl=3600))
    code = server.authorize("id-local")["code"]
    body = token_get(server, code)
    assert body["code"] == 0 and body["request_id"]
    data = body["data"]
    assert data["access_token_expire_in"] == int(clock.now) + 3600
    assert data["refresh_token_expire_in"] == int(clock.now) + 365 * 86400
    assert data["seller_name"] == "Toko Nusantara" and data["seller_base_region"] == "ID"
    assert data["user_type"] == 0 and len(data["open_id"]) == 19 and "seller.order.info" in data["granted_scopes"]
    assert token_get(server, code)["code"] == 36004004  # single use


def test_a_code_expires_after_30_minutes(sandbox_factory) -> None:
    clock = FakeClock()
    server = sandbox_factory(SandboxConfig(products=1, orders=1, clock=clock))
    fresh, stale = server.authorize("us-local")["code"], server.authorize("us-local")["code"]
    clock.now += 30 * 60 - 1
    assert token_get(server, fresh)["code"] == 0
    clock.now += 1
    assert token_get(server, stale)["code"] == 36004004


def test_token_get_refuses_bad_credentials_and_grant_type(sandbox) -> None:
    code = sandbox.authorize("us-local")["code"]
    assert token_get(sandbox, code, app_secret="wrong")["code"] == 36004003
    assert token_get(sandbox, code, app_key="wrong")["code"] == 36004003
    assert token_get(sandbox, code, grant_type="authorization_code")["code"] == 36004002
    assert token_get(sandbox, "nope")["code"] == 36004004
    assert sandbox.http.post(f"{sandbox.url}/api/v2/token/get").json()["code"] == 36009010


def test_refresh_rotates_the_pair_and_retires_the_old_access_token(sandbox) -> None:
    first = sandbox.tokens_for("my-local")
    second = token_refresh(sandbox, first["refresh_token"])
    assert second["code"] == 0
    assert second["data"]["access_token"] != first["access_token"]
    assert second["data"]["refresh_token"] != first["refresh_token"]
    old, new = TikTokCaller(sandbox, first["access_token"]), TikTokCaller(sandbox, second["data"]["access_token"])
    assert old.call("GET", SHOPS)["code"] == 36009004
    assert new.call("GET", SHOPS)["code"] == 0
    # the previous refresh token keeps working by default (TikTok leaves it open)
    assert token_refresh(sandbox, first["refresh_token"])["code"] == 0
    assert token_refresh(sandbox, "TTP_unknown")["code"] == 36004005
    assert token_refresh(sandbox, first["refresh_token"], grant_type="authorized_code")["code"] == 36004002


def test_rotating_refresh_tokens_retires_the_old_refresh_token(sandbox_factory) -> None:
    server = sandbox_factory(SandboxConfig(products=1, orders=1, rotate_refresh_tokens=True))
    first = server.tokens_for("sg-local")
    assert token_refresh(server, first["refresh_token"])["code"] == 0
    assert token_refresh(server, first["refresh_token"])["code"] == 36004005


def test_access_and_refresh_tokens_expire_on_the_configured_clock(sandbox_factory) -> None:
    clock = FakeClock()
    server = sandbox_factory(
        SandboxConfig(
            products=1, orders=1, clock=clock, access_token_ttl=60, refresh_token_ttl=120, authorization_ttl=100
        )
    )
    tokens = server.tokens_for("us-local")
    caller = TikTokCaller(server, tokens["access_token"], clock=clock)
    assert caller.call("GET", SHOPS)["code"] == 0
    clock.now += 60
    assert caller.call("GET", SHOPS)["code"] == 105002
    refreshed = token_refresh(server, tokens["refresh_token"])
    assert refreshed["code"] == 0
    refreshed_caller = TikTokCaller(server, refreshed["data"]["access_token"], clock=clock)
    assert refreshed_caller.call("GET", SHOPS)["code"] == 0
    # The authorization ends 100 s after consent, before either token's own expiry (120 s and 180 s): the access
    # token is then invalid (36009004, not 105002) and a refresh is refused as for a revoked token.
    clock.now += 40
    assert refreshed_caller.call("GET", SHOPS)["code"] == 36009004
    ended = token_refresh(server, refreshed["data"]["refresh_token"])
    assert (ended["code"], ended["message"]) == (36004005, "can not find related auth record")
    # Consent again starts a new authorization with tokens that work; the ended one's tokens stay refused.
    again = server.tokens_for("us-local")
    assert TikTokCaller(server, again["access_token"], clock=clock).call("GET", SHOPS)["code"] == 0
    assert refreshed_caller.call("GET", SHOPS)["code"] == 36009004
    assert token_refresh(server, refreshed["data"]["refresh_token"])["code"] == 36004005
    clock.now += 120
    assert token_refresh(server, again["refresh_token"])["code"] == 36004001
