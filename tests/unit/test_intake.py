"""What a webhook event means (domain/intake.py), and the shop's lifecycle notices (6, 7). Pure, no I/O."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.intake import (
    FUTURE_PUSH_SKEW,
    INTERPRETED_EVENT_TYPES,
    NO_COMBINED_PRODUCTS,
    NO_END_DATE,
    TIKTOK_RETRY_SPAN,
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
    push_time,
    shop_notices,
)
from domain.shops import ShopStatus
from tests.fakes import T0, make_shop

BIG = 576486316948490001  # beyond 2**53: a float would read it as ...0000


class TestInterpret:
    @pytest.mark.parametrize("type_", [1, 11, 12])
    def test_order_events_refresh_their_order(self, type_: int) -> None:
        # a status change also says the status it announces (the API's spelling), a hint for `stale_order`
        assert interpret(type_, {"order_id": "576684019603311365", "order_status": "CANCEL"}) == Meaning(
            order_ids=("576684019603311365",), order_status_hint="CANCELLED" if type_ == 1 else None
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

    def test_an_inventory_status_change_reconciles_its_sku(self) -> None:
        data = json.loads(f'{{"product_id": "1", "sku_id": {BIG}, "current_inventory_status": "OUT_OF_STOCK"}}')
        assert interpret(27, data) == Meaning(reconcile_skus=(str(BIG),))
        assert not interpret(27, data).is_empty

    def test_a_combined_listing_change_refreshes_its_products(self) -> None:
        data = json.loads(f'{{"combined_listing_id": "5", "products": [{BIG}, {{"product_id": "12"}}, "12"]}}')
        assert interpret(42, data) == Meaning(product_ids=(str(BIG), "12"))
        assert interpret(42, {"products": []}) == Meaning(ignored_because=NO_COMBINED_PRODUCTS)

    @pytest.mark.parametrize("type_", [2, 3, 13, 24, 99])
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
            (27, {"product_id": "1"}),
            (27, {"sku_id": "x"}),
            (42, {"combined_listing_id": "5"}),
            (42, {"products": [{"id": "1"}]}),
            (42, {"products": [None]}),
        ],
    )
    def test_malformed_data_of_a_handled_type_is_refused(self, type_: int, data: dict) -> None:
        with pytest.raises(MalformedEventError):
            interpret(type_, data)

    def test_names(self) -> None:
        assert event_type_name(1) == "ORDER_STATUS_CHANGE"
        assert event_type_name(7) == "UPCOMING_AUTHORIZATION_EXPIRATION"
        assert event_type_name(1000) is None
        assert event_type_name(42) == "COMBINED_LISTING_CHANGE"
        assert {t.value for t in INTERPRETED_EVENT_TYPES} == {1, 4, 5, 6, 7, 11, 12, 15, 16, 27, 42}


class TestNotificationKey:
    def test_tiktok_id_wins(self) -> None:
        assert notification_key("7327112393057371910", 6, "7494", {"a": 1}) == "tts:7327112393057371910"

    def test_digest_of_type_shop_and_canonical_data_otherwise(self) -> None:
        expected = hashlib.sha256(b'1|7494|{"a":1,"b":[2,3]}').hexdigest()
        assert notification_key(None, 1, "7494", {"b": [2, 3], "a": 1}) == "sha256:" + expected
        assert notification_key(None, 1, "7494", {"a": 1, "b": [2, 3]}) == "sha256:" + expected
        assert notification_key(None, 11, "7494", {"a": 1, "b": [2, 3]}) != "sha256:" + expected
        assert notification_key(None, 1, "7495", {"a": 1, "b": [2, 3]}) != "sha256:" + expected

    def test_with_a_push_time_the_digest_holds_it_and_an_unknown_one_is_left_out(self) -> None:
        # the same notice pushed at two known times is two events (a deauthorization carries the same message
        # every time); a redelivery of one push is the same envelope, so the same key
        dated = hashlib.sha256(b'6|7494|1700000000|{"message":"m"}').hexdigest()
        assert notification_key(None, 6, "7494", {"message": "m"}, 1_700_000_000) == "sha256:" + dated
        assert notification_key(None, 6, "7494", {"message": "m"}, 1_700_000_001) != "sha256:" + dated
        undated = "sha256:" + hashlib.sha256(b'6|7494|{"message":"m"}').hexdigest()
        for unknown in (None, 0, -1, 10**20):  # `push_time`: none of them is a time
            assert notification_key(None, 6, "7494", {"message": "m"}, unknown) == undated
        assert len(notification_key(None, 6, "7" * 64, {"message": "m"}, 1)) <= 80  # the column's width

    def test_a_notification_id_of_zero_is_no_id(self) -> None:
        # TikTok's zero value of an id it did not set: every push carrying it would be taken for the first one
        undated = notification_key(None, 1, "7494", {"order_id": "9"})
        assert notification_key("0", 1, "7494", {"order_id": "9"}) == undated
        assert notification_key("000", 1, "7494", {"order_id": "9"}) == undated
        assert notification_key("10", 1, "7494", {"order_id": "9"}) == "tts:10"


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
        received = T0 + timedelta(hours=1, seconds=2)  # (a push is received after it is sent)
        events = [
            WebhookEvent.receive(self.notification(7, {"expiration_time": str(end)}, after), shop.id, received),
            WebhookEvent.receive(self.notification(6, {"message": "bye"}, after), shop.id, received),
        ]
        deauthorized_at, expiries = shop_notices(events)
        assert deauthorized_at is not None
        assert shop.note_authorization_end(expiries[0][0], expiries[0][1], T0 + timedelta(hours=2))
        assert shop.authorization_expires_at == datetime.fromtimestamp(end, UTC)
        assert shop.deauthorize(deauthorized_at, T0 + timedelta(hours=2))
        assert shop.status(T0 + timedelta(hours=2)) is ShopStatus.REVOKED

    def test_notices_older_than_the_authorization_change_nothing(self) -> None:
        shop = make_shop(now=T0)
        before = T0 - timedelta(minutes=5)
        assert not shop.deauthorize(before, T0)
        assert not shop.note_authorization_end(T0 + timedelta(days=3), before, T0)
        assert shop.revoked_at is None and shop.authorization_expires_at is None
        # a notice of the authorization's own second still counts (TikTok's timestamps are whole seconds)
        later = make_shop(now=T0 + timedelta(milliseconds=700))
        assert not later.deauthorize(T0 - timedelta(seconds=1), T0)
        assert later.deauthorize(T0, T0 + timedelta(seconds=1))

    def test_an_undated_notice_counts_only_for_an_authorization_older_than_tiktoks_retry_span(self) -> None:
        """Rule (`WebhookEvent.sent_no_earlier_than`): without a push time, a notice received at R may have been
        first sent at R - 15 h 32 min (TikTok's last retry): it revokes only an authorization granted by then."""
        assert TIKTOK_RETRY_SPAN == timedelta(minutes=2 + 30 + 3 * 60 + 12 * 60)  # +2 min, +30 min, +3 h, +12 h

        def undated(received: datetime) -> WebhookEvent:
            return WebhookEvent.receive(Notification(6, "n", "7494", None, {"message": "bye"}), "shop-1", received)

        # received within the span after the authorization (a late delivery about an earlier one, perhaps): no
        within = undated(T0 + TIKTOK_RETRY_SPAN - timedelta(seconds=1))
        assert within.notified_at is None and within.notice_time == within.received_at  # still shown as received
        assert within.sent_no_earlier_than == T0 - timedelta(seconds=1)
        shop = make_shop(now=T0)
        assert not shop.deauthorize(shop_notices([within])[0], within.received_at)
        assert shop.status(within.received_at) is ShopStatus.ACTIVE
        # received the span or more after it: it can only be about this authorization
        (deauthorized_at, _) = shop_notices([undated(T0 + TIKTOK_RETRY_SPAN)])
        assert deauthorized_at == T0 and shop.deauthorize(deauthorized_at, T0 + TIKTOK_RETRY_SPAN)
        assert shop.status(T0 + TIKTOK_RETRY_SPAN) is ShopStatus.REVOKED
        # a dated one is read by its push time as before
        dated = WebhookEvent.receive(
            Notification(6, "d", "7494", int(T0.timestamp()), {}), "shop-1", T0 + timedelta(days=1)
        )
        assert dated.sent_no_earlier_than == T0


class TestInterpretEdges:
    @pytest.mark.parametrize(
        ("type_", "data", "message"),
        [
            (1, {}, "data.order_id must be an id (digits)"),
            (11, {"order_id": 0}, "data.order_id must be an id (digits)"),
            (12, {"order_id": "١٢٣"}, "data.order_id must be an id (digits)"),  # digits, but not ASCII ones
            (4, {}, "data.package_list must be a list"),
            (4, {"package_list": ["p1"]}, "each data.package_list entry needs an order_id_list"),
            (4, {"package_list": [{"order_id_list": "11"}]}, "each data.package_list entry needs an order_id_list"),
            (4, {"package_list": [{"order_id_list": ["11", "x"]}]}, "data.order_id_list[] must be an id (digits)"),
            (15, {"product_id": False}, "data.product_id must be an id (digits)"),
            (16, {"product_id": 1.0}, "data.product_id must be an id (digits)"),
            (7, {}, "data.expiration_time must be Unix seconds"),
            (7, {"expiration_time": True}, "data.expiration_time must be Unix seconds"),
            (7, {"expiration_time": 1.7e9}, "data.expiration_time must be Unix seconds"),
            (7, {"expiration_time": "-5"}, "data.expiration_time must be Unix seconds"),
        ],
    )
    def test_a_refusal_says_what_is_wrong_with_the_data(self, type_: int, data: dict, message: str) -> None:
        with pytest.raises(MalformedEventError) as refused:
            interpret(type_, data)
        assert str(refused.value) == message

    @pytest.mark.parametrize("zero", [0, "0", " 0 "])
    def test_an_expiry_of_0_is_no_end_date_not_a_malformed_event(self, zero: object) -> None:
        # TikTok's zero value for a time it does not give (its envelope's `timestamp` likewise): nothing to store
        meaning = interpret(7, {"message": "Your authorization will expire soon", "expiration_time": zero})
        assert meaning.is_empty and meaning.authorization_expires_at is None
        assert meaning.ignored_because == NO_END_DATE

    def test_the_smallest_ids_and_padded_ids_are_read(self) -> None:
        assert interpret(1, {"order_id": 1}).order_ids == ("1",)
        assert interpret(5, {"product_id": " 1729 "}).product_ids == ("1729",)
        assert interpret(4, {"package_list": []}) == Meaning()  # a package update listing no package: nothing

    def test_an_expiry_as_a_number_or_at_the_first_second_is_read(self) -> None:
        assert interpret(7, {"expiration_time": 1_700_000_000}).authorization_expires_at == datetime(
            2023, 11, 14, 22, 13, 20, tzinfo=UTC
        )
        assert interpret(7, {"expiration_time": "1"}).authorization_expires_at == datetime(
            1970, 1, 1, 0, 0, 1, tzinfo=UTC
        )

    def test_each_meaning_is_something_to_do_only_when_it_carries_something(self) -> None:
        assert Meaning().is_empty
        assert not Meaning(order_ids=("1",)).is_empty
        assert not Meaning(product_ids=("1",)).is_empty
        assert not Meaning(deauthorized=True).is_empty
        assert not Meaning(authorization_expires_at=T0).is_empty


class TestNotificationKeyEdges:
    def test_without_a_shop_id_and_with_text_and_decimals_as_the_webhook_parses_them(self) -> None:
        data = {"name": "café", "price": Decimal("1.50")}  # envelopes are parsed with parse_float=Decimal
        expected = hashlib.sha256('16||{"name":"café","price":"1.50"}'.encode()).hexdigest()
        assert notification_key(None, 16, None, data) == "sha256:" + expected
        assert notification_key("", 16, None, data) == "sha256:" + expected  # an empty TikTok id is no id

    def test_batches_of_a_given_size(self) -> None:
        assert list(order_id_batches(["1", "2", "3", "2", "4"], size=2)) == [["1", "2"], ["3", "4"]]
        assert list(order_id_batches([])) == []


class TestReceive:
    def test_an_inbox_entry_keeps_the_envelope_and_dates_it_by_tiktoks_push_time(self) -> None:
        note = Notification(1, "7327112393057371910", "7494", 1_700_000_000, {"order_id": "9"})
        event = WebhookEvent.receive(note, "shop-1", T0)
        assert (event.notification_key, event.type, event.tiktok_shop_id, event.shop_id, event.data) == (
            "tts:7327112393057371910", 1, "7494", "shop-1", {"order_id": "9"},
        )  # fmt: skip
        assert (event.tts_notification_id, event.received_at, event.attempts) == ("7327112393057371910", T0, 0)
        assert event.notified_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC) == event.notice_time
        assert (event.outcome, event.error_code, event.error_message) == (EventOutcome.PENDING, None, None)
        assert event.event_type == "ORDER_STATUS_CHANGE"
        assert event.meaning() == Meaning(order_ids=("9",))
        other = WebhookEvent.receive(note, "shop-1", T0)
        assert other.id != event.id and len(event.id) == 32

    def test_without_a_push_time_it_is_dated_when_received(self) -> None:
        event = WebhookEvent.receive(Notification(1, None, "7494", None, {"order_id": "9"}), "shop-1", T0)
        assert event.notified_at is None and event.notice_time == T0
        digest = hashlib.sha256(b'1|7494|{"order_id":"9"}').hexdigest()
        assert event.notification_key == "sha256:" + digest  # type, shop id and data, as notification_key says
        assert event.tts_notification_id is None
        zero = WebhookEvent.receive(Notification(1, None, "7494", 0, {"order_id": "9"}), "shop-1", T0)
        assert (zero.notified_at, zero.notification_key) == (None, event.notification_key)  # 0: no push time

    def test_an_event_of_no_known_shop_says_why_it_is_ignored(self) -> None:
        event = WebhookEvent.receive(Notification(1, None, "9999", None, {"order_id": "9"}), None, T0)
        assert (event.outcome, event.error_code, event.error_message, event.processed_at) == (
            EventOutcome.IGNORED, "UNKNOWN_SHOP", "No connected shop has this TikTok shop id.", T0,
        )  # fmt: skip

    def test_finish_records_outcome_code_message_and_time(self) -> None:
        event = WebhookEvent.receive(Notification(1, None, "7494", None, {"order_id": "9"}), "shop-1", T0)
        event.finish(T0 + timedelta(seconds=3), EventOutcome.FAILED, "ORDER_NOT_FOUND", "Order 9 not found")
        assert (event.outcome, event.error_code, event.error_message, event.processed_at) == (
            EventOutcome.FAILED, "ORDER_NOT_FOUND", "Order 9 not found", T0 + timedelta(seconds=3),
        )  # fmt: skip
        event.replay()
        assert (event.outcome, event.error_code, event.error_message, event.processed_at) == (
            EventOutcome.PENDING, None, None, None,
        )  # fmt: skip


class TestShopNotices:
    def event(self, type_: int, data: dict, pushed: datetime) -> WebhookEvent:
        return WebhookEvent.receive(Notification(type_, None, "7494", int(pushed.timestamp()), data), "s", T0)

    def test_the_latest_deauthorization_and_every_expiry_by_notice_time_skipping_malformed_ones(self) -> None:
        t = [T0 + timedelta(minutes=m) for m in range(5)]
        events = [
            self.event(7, {"expiration_time": "1900000000"}, t[3]),
            self.event(6, {}, t[2]),
            self.event(7, {"expiration_time": "soon"}, t[4]),  # malformed: skipped, the rest still read
            self.event(6, {}, t[4]),
            self.event(6, {}, t[1]),
            self.event(7, {"expiration_time": "2000000000"}, t[0]),  # noticed first, though it ends later
            self.event(1, {"order_id": "5"}, t[4]),
        ]
        deauthorized_at, expiries = shop_notices(events)
        assert deauthorized_at == t[4]
        assert expiries == [
            (datetime(2033, 5, 18, 3, 33, 20, tzinfo=UTC), t[0]),
            (datetime(2030, 3, 17, 17, 46, 40, tzinfo=UTC), t[3]),
        ]
        assert shop_notices([]) == (None, [])
        assert shop_notices([self.event(6, {}, t[2]), self.event(6, {}, t[2])]) == (t[2], [])


# Whatever JSON a signed push carries, at any place of `data`: every value TikTok's payload could bring.
HOSTILE = [
    None, True, False, 0, -1, 1.5, 1.7e9, 10**20, 10**64, -(10**30), "", " ", "-5", "+5", "1_700_000_000", "1e9",
    "1798761600.0", "0x10", "١٢٣", "NaN", "9" * 65, "9" * 5000, "\x00", "\ud800", [], [None], {}, {"a": None},
]  # fmt: skip


class TestHostileData:
    """A malformed event ends FAILED/MALFORMED_EVENT with a reason: `interpret` raises nothing else, ever (a
    ValueError here stopped the shop's processing for good and broke the `webhookEvents` listing)."""

    def test_any_value_in_any_field_is_read_or_refused_as_malformed(self) -> None:
        # given each hostile value at each place of `data` an event of a handled type reads
        crashes = []
        for value in HOSTILE:
            shapes = [
                {"order_id": value}, {"product_id": value}, {"expiration_time": value}, {"package_list": value},
                {"package_list": [value]}, {"package_list": [{"order_id_list": value}]},
                {"package_list": [{"order_id_list": [value]}]}, {"sku_id": value}, {"products": value},
                {"products": [value]}, {"products": [{"product_id": value}]},
            ]  # fmt: skip
            for type_, data in itertools.product(sorted(INTERPRETED_EVENT_TYPES), shapes):
                # when it is interpreted, then it means something, or is refused with a reason; nothing else
                try:
                    interpret(type_, data)
                except MalformedEventError as refused:
                    assert str(refused)
                except Exception as exc:
                    crashes.append((type_.value, repr(data)[:60], repr(exc)[:80]))
        assert crashes == []

    @pytest.mark.parametrize("type_", [1, 4, 5, 7, 27, 42])
    @pytest.mark.parametrize("data", [None, [], "x", 7])
    def test_data_that_is_not_an_object_is_malformed(self, type_: int, data: object) -> None:
        with pytest.raises(MalformedEventError, match=r"^data must be an object$"):
            interpret(type_, data)  # type: ignore[arg-type]
        assert interpret(6, data) == Meaning(deauthorized=True)  # type: ignore[arg-type]  # 6 reads no data

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ("1798761600000", "1798761600000 is past the year 9999 (in milliseconds?)"),  # the trial's notice
            (1798761600000, "1798761600000 is past the year 9999 (in milliseconds?)"),
            ("253402300800", "253402300800 is past the year 9999 (in milliseconds?)"),  # the first second of 10000
            (10**20, "100000000000000000000 is past the year 9999"),
            ("9" * 30, "a number of over 24 digits is past the year 9999"),
        ],
    )
    def test_an_expiry_past_the_year_9999_milliseconds_included_is_malformed(self, raw: object, message: str) -> None:
        with pytest.raises(MalformedEventError) as refused:
            interpret(7, {"expiration_time": raw})
        assert str(refused.value) == "data.expiration_time must be Unix seconds: " + message
        # the last second a datetime holds is still read
        assert interpret(7, {"expiration_time": " 253402300799 "}).authorization_expires_at == datetime(
            9999, 12, 31, 23, 59, 59, tzinfo=UTC
        )

    @pytest.mark.parametrize("raw", ["+1700000000", "1_700_000_000"])
    def test_an_expiry_that_is_not_plain_digits_is_malformed(self, raw: object) -> None:
        # int() reads these; TikTok's numbers are plain digits
        with pytest.raises(MalformedEventError, match=r"^data\.expiration_time must be Unix seconds$"):
            interpret(7, {"expiration_time": raw})

    @pytest.mark.parametrize(
        ("data", "name"),
        [({"order_id": "9" * 65}, "order_id"), ({"product_id": 10**64}, "product_id"),
         ({"package_list": [{"order_id_list": ["1", "9" * 5000]}]}, "order_id_list[]")],
    )  # fmt: skip
    def test_an_id_of_more_than_64_digits_is_malformed(self, data: dict, name: str) -> None:
        type_ = 5 if "product_id" in data else 4 if "package_list" in data else 1
        with pytest.raises(MalformedEventError) as refused:
            interpret(type_, data)
        assert str(refused.value) == f"data.{name} must be an id of at most 64 digits"
        assert interpret(1, {"order_id": "9" * 64}).order_ids == ("9" * 64,)
        assert interpret(5, {"product_id": 10**64 - 1}).product_ids == ("9" * 64,)


class TestPushTime:
    @pytest.mark.parametrize("timestamp", [1_796_140_000_000, 253_402_300_800, 2**63, 10**30, 0, -1, -(10**30)])
    def test_a_push_time_that_is_no_time_dates_the_event_when_received(self, timestamp: int) -> None:
        # given an envelope timestamp in milliseconds, past the year 9999, beyond 64 bits, 0 (TikTok's zero value of
        # an int64 it did not set) or before 1970
        event = WebhookEvent.receive(Notification(1, "n", "7494", timestamp, {"order_id": "9"}), "shop-1", T0)
        # then the event is kept, dated when received, and still means what its data says
        assert event.notified_at is None and event.notice_time == T0
        assert event.meaning() == Meaning(order_ids=("9",))
        # and it may have been sent as early as TikTok's last retry allows, never in 1970
        assert event.sent_no_earlier_than == T0 - TIKTOK_RETRY_SPAN
        # while the first second after 1970-01-01T00:00:00Z and the last a datetime holds are push times
        assert push_time(1) == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
        assert push_time(253_402_300_799) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
        assert push_time(None) is None

    def test_a_push_time_ahead_of_the_receipt_by_more_than_the_skew_is_unknown(self) -> None:
        """Rule (`push_time`): a push is not sent after it is received; up to `FUTURE_PUSH_SKEW` (15 minutes)
        ahead of the server's clock is a clock difference and kept, beyond it the time is unknown."""
        assert FUTURE_PUSH_SKEW == timedelta(minutes=15)
        edge = int((T0 + FUTURE_PUSH_SKEW).timestamp())

        def received(timestamp: int) -> WebhookEvent:
            return WebhookEvent.receive(Notification(6, None, "7494", timestamp, {"message": "bye"}), "shop-1", T0)

        # 15 minutes ahead: kept as sent, and keyed with it
        kept = received(edge)
        assert kept.notified_at == T0 + FUTURE_PUSH_SKEW and not kept.keyed_without_push_time
        # a second more, or in 2286: dated by its receipt, undated in its key (a redelivery is the same event)
        for ahead in (edge + 1, 9_999_999_999):
            event = received(ahead)
            assert (event.notified_at, event.notice_time) == (None, T0)
            assert event.sent_no_earlier_than == T0 - TIKTOK_RETRY_SPAN
            assert event.keyed_without_push_time
            assert event.notification_key == notification_key(None, 6, "7494", {"message": "bye"})
        # without a clock to compare with, the time is read as sent
        assert push_time(9_999_999_999) == datetime(2286, 11, 20, 17, 46, 39, tzinfo=UTC)


def test_a_lone_surrogate_in_data_still_has_a_notification_key() -> None:
    # JSON may escape half a UTF-16 pair ("\ud800"); UTF-8 cannot encode it, the digest must still be taken
    data = json.loads('{"note": "\\ud800"}')
    key = notification_key(None, 99, "7494", data)
    assert key.startswith("sha256:") and key != notification_key(None, 99, "7494", {"note": "x"})
