"""Webhooks for a shop whose authorization has ended, over real HTTP (SQLite only: the intake's rule is the subject,
tests/e2e/databases.py): nothing is asked of TikTok for it (as polls and imports do not), and the shop stays EXPIRED,
not REVOKED (domain/services/intake.py).

The sandbox's tokens live 8 s here; the test waits for the shop's status, not for a clock.
"""

from __future__ import annotations

from tests.e2e.databases import subject_not_the_database
from tests.e2e.test_webhooks import all_settled, envelope, push, stored_events
from tests.fixtures.waiting import wait_until

SHOP = "query($id: ID!) { shop(id: $id) { status expiresAt attention { code message at } } }"


@subject_not_the_database("the intake's rule for an expired shop (domain/services/intake.py)")
def test_an_order_event_for_an_expired_shop_asks_tiktok_nothing_and_the_shop_stays_expired(app_factory) -> None:
    # given a shop whose refresh token (and access token) expired: EXPIRED, "TikTok ended" its authorization
    app = app_factory(orders=5, refresh_token_ttl=8, access_token_ttl=8)
    shop = app.connect_shop("m1", "us-local", "US")
    app.wait_for_idle_sync()

    def view() -> dict:
        return dict(app.graphql(SHOP, {"id": shop["id"]}, "m1")["shop"])

    wait_until(lambda: view()["status"] == "EXPIRED", what="the authorization to end")
    before = view()
    assert [a["code"] for a in before["attention"]] == ["REAUTHORIZATION_REQUIRED"]
    tiktok_id = shop["tiktokShopId"]
    order_id = app.sandbox.control("GET", f"/shops/{tiktok_id}/orders")["orders"][0]["id"]
    app.sandbox.control("POST", "/counters/reset")
    # when TikTok pushes an order event for it
    assert push(app, envelope(1, tiktok_id, {"order_id": order_id, "order_status": "UNPAID"})).status_code == 200
    wait_until(lambda: all_settled(app), what="the event processed")
    # then the event failed, asking for a re-authorization, and saying why
    ((outcome, code, message),) = [(e["outcome"], e["error_code"], e["error_message"]) for e in stored_events(app)]
    assert (outcome, code) == ("FAILED", "REAUTHORIZATION_REQUIRED")
    assert message == "The shop's authorization has ended; its re-authorization replays the event."
    # and nothing was asked of TikTok (no Get Order Detail, no refresh of the dead tokens)
    assert app.sandbox.control("GET", "/counters")["total"] == 0
    # and the shop still says what happened: EXPIRED, "TikTok ended" it at its end date (was: REVOKED, now)
    assert view() == before
