"""What a webhook event means (domain/intake.py), and the shop's lifecycle notices (6, 7). Pure, no I/O."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from domain.intake import (
    HANDLED_EVENT_TYPES,
    EventOutcome,
    MalformedEventError,
    Meaning,
    Notification,
    WebhookEvent,
    event_type_name,
    interpret,
    notification_key,
    order_id_batches,
    order_status,
    shop_notices,
)
from domain.shops import ShopStatus
from tests.fakes import T0, make_shop

BIG = 576486316948490001  # beyond 2**53: a float would read it as ...0000


class TestInterpret:
    @pytest.mark.parametrize("type_", [1, 11, 12])
    def test_order_events_refresh_their_order(self, type_: int) -> None:
        assert interpret(type_, {"order_id": "576684019603311365", "order_status": "CANCEL"}) == Meaning(
            order_ids=("576684019603311365",)
        )

    def test_cancel_and_cancelled_both_mean_cancelled(self) -> None:
        assert order_status("CANCEL") == order_status("CANCELLED") == order_status(" cancel ") == "CANCELLED"
        assert order_status("AWAITING_SHIPMENT") == "AWAITING_SHIPMENT"
        for status in ("CANCEL", "CANCELLED"):
            assert interpret(1, {"order_id": "1", "order_status": status}).order_ids == ("1",)

    def test_package_update_refreshes_every_order_of_every_package_once(self) -> None:
        data = {"sc_type": "COMBINE", "package_list": [
            {"package_id": "p1", "order_id_list": ["11", "12"]},
            {"package_id": "p2", "order_id_list": ["12", 13]},
        ]}  # fmt: skip
        assert interpret(4, data).order_ids == ("11", "12", "13")

    @pytest.mark.parametrize("type_", [5, 15, 16])
    def test_product_events_read_big_numeric_ids_exactly(self, type_: int) -> None:
        data = json.loads(f'{{"product_id": {BIG}, "status": "PRODUCT_STATUS_CHANGED"}}')
        assert interpret(type_, data) == Meaning(product_ids=(str(BIG),))
        assert interpret(type_, data).product_ids[0].endswith("0001")

    def test_deauthorization_and_expiry(self) -> None:
        assert interpret(6, {"message": "bye"}) == Meaning(deauthorized=True)
        meaning = interpret(7, {"message": "soon", "expiration_time": "1700000000"})
        assert meaning.authorization_expires_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)

    @pytest.mark.parametrize("type_", [2, 3, 13, 27, 99])
    def test_other_types_mean_nothing(self, type_: int) -> None:
        assert interpret(type_, {"order_id": "1"}).is_empty

    @pytest.mark.parametrize(
        ("type_", "data"),
        [
            (1, {}),
            (1, {"order_id": ""}),
            (1, {"order_id": "../products/1"}),
            (1, {"order_id": True}),
            (4, {"package_list": "x"}),
            (4, {"package_list": [{"package_id": "p"}]}),
            (5, {"product_id": -1}),
            (7, {"expiration_time": "soon"}),
            (7, {}),
        ],
    )
    def test_malformed_data_of_a_handled_type_is_refused(self, type_: int, data: dict) -> None:
        with pytest.raises(MalformedEventError):
            interpret(type_, data)

    def test_names(self) -> None:
        assert event_type_name(1) == "ORDER_STATUS_CHANGE"
        assert event_type_name(7) == "UPCOMING_AUTHORIZATION_EXPIRATION"
        assert event_type_name(1000) is None
        assert {t.value for t in HANDLED_EVENT_TYPES} == {1, 4, 5, 6, 7, 11, 12, 15, 16}


class TestNotificationKey:
    def test_tiktok_id_wins(self) -> None:
        assert notification_key("7327112393057371910", 6, "7494", {"a": 1}) == "tts:7327112393057371910"

    def test_digest_of_type_shop_and_canonical_data_otherwise(self) -> None:
        expected = hashlib.sha256(b'1|7494|{"a":1,"b":[2,3]}').hexdigest()
        assert notification_key(None, 1, "7494", {"b": [2, 3], "a": 1}) == "sha256:" + expected
        assert notification_key(None, 1, "7494", {"a": 1, "b": [2, 3]}) == "sha256:" + expected
        assert notification_key(None, 11, "7494", {"a": 1, "b": [2, 3]}) != "sha256:" + expected
        assert notification_key(None, 1, "7495", {"a": 1, "b": [2, 3]}) != "sha256:" + expected


def test_order_ids_are_coalesced_into_calls_of_at_most_50() -> None:
    ids = [str(i) for i in range(120)] + ["3", "7"]
    batches = list(order_id_batches(ids))
    assert [len(b) for b in batches] == [50, 50, 20]
    assert [i for b in batches for i in b] == [str(i) for i in range(120)]


class TestEvents:
    def notification(
        self, type_: int = 1, data: dict | None = None, timestamp: int | None = 1_700_000_000
    ) -> Notification:
        return Notification(type_, None, "7494", timestamp, data if data is not None else {"order_id": "1"})

    def test_an_event_of_no_known_shop_is_kept_but_ignored(self) -> None:
        event = WebhookEvent.receive(self.notification(), None, T0)
        assert (event.outcome, event.error_code, event.processed_at) == (EventOutcome.IGNORED, "UNKNOWN_SHOP", T0)
        known = WebhookEvent.receive(self.notification(), "shop-1", T0)
        assert known.outcome is EventOutcome.PENDING and known.processed_at is None

    def test_replay_makes_it_pending_again(self) -> None:
        event = WebhookEvent.receive(self.notification(), "shop-1", T0)
        event.finish(T0, EventOutcome.FAILED, "ORDER_NOT_FOUND", "gone")
        event.replay()
        assert (event.outcome, event.error_code, event.processed_at) == (EventOutcome.PENDING, None, None)

    def test_notices_of_the_current_authorization_apply(self) -> None:
        shop = make_shop(now=T0)
        after = int((T0 + timedelta(hours=1)).timestamp())
        end = int((T0 + timedelta(days=20)).timestamp())
        events = [
            WebhookEvent.receive(self.notification(7, {"expiration_time": str(end)}, after), shop.id, T0),
            WebhookEvent.receive(self.notification(6, {"message": "bye"}, after), shop.id, T0),
        ]
        deauthorized_at, expiries = shop_notices(events)
        assert deauthorized_at is not None
        assert shop.note_authorization_end(expiries[0][0], expiries[0][1])
        assert shop.authorization_expires_at == datetime.fromtimestamp(end, UTC)
        assert shop.deauthorize(deauthorized_at, T0 + timedelta(hours=2))
        assert shop.status(T0 + timedelta(hours=2)) is ShopStatus.REVOKED

    def test_notices_older_than_the_authorization_change_nothing(self) -> None:
        shop = make_shop(now=T0)
        before = T0 - timedelta(minutes=5)
        assert not shop.deauthorize(before, T0)
        assert not shop.note_authorization_end(T0 + timedelta(days=3), before)
        assert shop.revoked_at is None and shop.authorization_expires_at is None
        # a notice of the authorization's own second still counts (TikTok's timestamps are whole seconds)
        later = make_shop(now=T0 + timedelta(milliseconds=700))
        assert not later.deauthorize(T0 - timedelta(seconds=1), T0)
        assert later.deauthorize(T0, T0 + timedelta(seconds=1))
