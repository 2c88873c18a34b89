"""A seller deauthorization (webhook 6) without the envelope's `timestamp`, over real HTTP on SQLite and PostgreSQL.

TikTok documents `timestamp` (push time) in every envelope (tiktok-api.md §10), but the intake accepts a push without
one (README), and a delivery can come up to about 15.5 hours after the first attempt (+2 min, +30 min, +3 h, +12 h).
Dated on receipt, such a notice arriving after the merchant re-authorized revoked the new authorization. The rule
(`domain.intake.WebhookEvent.sent_no_earlier_than`): an undated notice is taken as sent as early as its receipt
minus that span, so it changes nothing for an authorization granted within it; TikTok's refusal of the tokens
revokes the shop if the seller did remove the app.
"""

from __future__ import annotations

from tests.e2e.test_webhooks import ORDERS, all_settled, envelope, push, stored_events
from tests.fixtures.waiting import wait_until


def test_an_undated_deauthorization_does_not_revoke_an_authorization_granted_within_tiktoks_retry_span(app) -> None:
    shop = app.connect_shop("m1", "us-local", "US")  # authorized moments ago
    app.wait_for_idle_sync()
    # given a deauthorization push without a timestamp (a late delivery about an earlier authorization, perhaps)
    undated = envelope(6, shop["tiktokShopId"], {"message": "Shop is deauthorized"})
    del undated["timestamp"]
    assert push(app, undated).status_code == 200
    wait_until(lambda: len(stored_events(app)) == 1 and all_settled(app), what="the event processed")
    # then the shop keeps its authorization (it was REVOKED), and the event says why it changed nothing
    assert app.graphql(ORDERS, {"id": shop["id"]}, "m1")["shop"]["status"] == "ACTIVE"
    (event,) = stored_events(app)
    assert (event["outcome"], event["error_code"], event["notified_at"]) == ("IGNORED", None, None)
    assert event["error_message"].startswith("No push time, or one later than this server's clock, and received")
