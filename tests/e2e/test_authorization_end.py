"""The end of a shop's authorization through GraphQL over real HTTP, on SQLite and PostgreSQL: a signed webhook 7
(UPCOMING_AUTHORIZATION_EXPIRATION) moves `expiresAt` (the console's "Expire date") and `status` to the end TikTok
announced when it comes before the refresh token's expiry (live-sync.md §4: min(refresh_token_expire_in,
webhook-7 expiration_time)), for queries and `shopUpdated` alike; a re-authorization restores the token's expiry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_live_poll import next_shop
from tests.e2e.test_store_management import REAUTH, complete, state_of
from tests.e2e.test_webhooks import all_settled, envelope, push, shop_row
from tests.fixtures.app import SMALL_SHOP, ShopbridgeServer
from tests.fixtures.waiting import wait_until

FIELDS = "id status expiresAt attention { code message at }"
SHOP = "query($id: ID!) { shop(id: $id) { " + FIELDS + " } }"
SHOPS = "{ shops { edges { node { " + FIELDS + " } } } }"  # the console's Store management list
SHOP_UPDATED = "subscription($shopId: ID!) { shopUpdated(shopId: $shopId) { " + FIELDS + " } }"
SYNC_START = """mutation($id: ID!) { syncStart(input: {shopId: $id, kinds: [PRODUCTS]}) {
  tasks { id } userErrors { code } } }"""


def when(value: Any) -> datetime:
    """A DateTime from GraphQL or a timestamp column (SQLite answers text), as an aware UTC datetime."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def shop_of(app: ShopbridgeServer, shop_id: str) -> dict[str, Any]:
    return dict(app.graphql(SHOP, {"id": shop_id}, "m1")["shop"])


def announce_end(app: ShopbridgeServer, shop: dict[str, Any], ends: datetime) -> None:
    """TikTok's webhook 7, signed with the app secret, and processed."""
    body = envelope(7, shop["tiktokShopId"], {"message": "expiring", "expiration_time": str(int(ends.timestamp()))})
    assert push(app, body).status_code == 200
    wait_until(lambda: all_settled(app), what="the notice processed")


@pytest.fixture
def app(app_factory: Callable[..., ShopbridgeServer]) -> ShopbridgeServer:
    """Small shops (`SMALL_SHOP`): these tests wait for the import, then read the authorization's end and status."""
    return app_factory(**SMALL_SHOP)


@pytest.fixture
def connected(app: ShopbridgeServer) -> tuple[ShopbridgeServer, dict[str, Any]]:
    shop = app.connect_shop("m1", "us-local", "US")  # the sandbox's refresh token lives a year
    app.wait_for_idle_sync()
    return app, shop


def test_an_announced_end_in_5_days_is_the_expire_date_and_makes_the_shop_expiring_soon(connected) -> None:
    app, shop = connected
    token_expiry = when(shop_row(app, shop["tiktokShopId"])["refresh_token_expires_at"])
    before = shop_of(app, shop["id"])
    assert (before["status"], when(before["expiresAt"])) == ("ACTIVE", token_expiry)
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)

    async def scenario() -> dict[str, Any]:
        async with app.subscribe(SHOP_UPDATED, {"shopId": shop["id"]}, "m1") as op:
            await next_shop(op, lambda s: True)  # the shop as it is
            # when TikTok announces that the authorization ends in 5 days
            await asyncio.to_thread(announce_end, app, shop, ends)
            # then a follower of the shop sees the new end and status
            return await next_shop(op, lambda s: s["attention"] != before["attention"])

    followed = asyncio.run(scenario())
    # and the shop, its list and its subscription all say the authorization ends then: EXPIRING_SOON
    read = shop_of(app, shop["id"])
    (listed,) = [e["node"] for e in app.graphql(SHOPS, {}, "m1")["shops"]["edges"]]
    for seen in (read, listed, followed):
        assert (seen["status"], when(seen["expiresAt"])) == ("EXPIRING_SOON", ends), seen
        assert [(a["code"], when(a["at"])) for a in seen["attention"]] == [("EXPIRING_SOON", ends)]
        assert "ends in 5 days" in seen["attention"][0]["message"]
    # while the refresh token keeps its own expiry (its renewal is planned on it)
    assert when(shop_row(app, shop["tiktokShopId"])["refresh_token_expires_at"]) == token_expiry


def test_an_announced_end_already_past_expires_the_shop_until_it_is_reauthorized(connected) -> None:
    app, shop = connected
    # given TikTok announces an end that has already passed (the intake takes any Unix time up to the year 9999)
    ended = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    announce_end(app, shop, ended)
    # then the shop is EXPIRED since then, and no sync may start
    expired = shop_of(app, shop["id"])
    assert (expired["status"], when(expired["expiresAt"])) == ("EXPIRED", ended)
    assert [(a["code"], when(a["at"])) for a in expired["attention"]] == [("REAUTHORIZATION_REQUIRED", ended)]
    refused = app.graphql(SYNC_START, {"id": shop["id"]}, "m1")["syncStart"]
    assert refused == {"tasks": [], "userErrors": [{"code": "REAUTHORIZATION_REQUIRED"}]}

    # when the seller re-authorizes the shop
    started = app.graphql(REAUTH, {"id": shop["id"]}, "m1")["shopReauthorizationStart"]
    state = state_of(started["authorizationUrl"])
    payload = complete(app, "m1", state, code=app.sandbox.authorize("us-local", state)["code"])
    assert payload["userErrors"] == [] and payload["reauthorized"] is True

    # then the new refresh token's expiry (a year away) is the end again: ACTIVE, nothing to do
    token_expiry = when(shop_row(app, shop["tiktokShopId"])["refresh_token_expires_at"])
    assert token_expiry > datetime.now(UTC) + timedelta(days=300)
    renewed = shop_of(app, shop["id"])
    assert (renewed["status"], when(renewed["expiresAt"]), renewed["attention"]) == ("ACTIVE", token_expiry, [])
    assert (payload["shop"]["status"], when(payload["shop"]["expiresAt"])) == ("ACTIVE", token_expiry)
