"""TikTok webhook events: what each one means for Shopbridge, and the inbox entry that tracks its processing.

Webhooks are notifications only (tiktok-api.md §10): an order or product event makes Shopbridge re-fetch that
record through the API, never trust the pushed fields. Types and their `data` are live-sync.md §2.4:

    1 ORDER_STATUS_CHANGE, 11 CANCELLATION_STATUS_CHANGE, 12 RETURN_STATUS_CHANGE   data.order_id → refresh it;
                                                                1's data.update_time: the version to expect
    4 PACKAGE_UPDATE                                            data.package_list[].order_id_list[] → refresh them
    5 PRODUCT_STATUS_CHANGE, 15 PRODUCT_INFORMATION_CHANGE, 16 PRODUCT_CREATION    data.product_id → refresh it
    42 COMBINED_LISTING_CHANGE                                  data.products[] (ids, or objects with a
                                                                product_id) → refresh each (it relinks them)
    27 INVENTORY_STATUS_CHANGE                                  data.sku_id → reconcile the shop's stock at TikTok
                                                                (a drift signal: `Meaning.reconcile_skus`)
    6 SELLER_DEAUTHORIZATION                                    the shop is REVOKED (its data is kept)
    7 UPCOMING_AUTHORIZATION_EXPIRATION                         data.expiration_time (Unix s, a string) is stored;
                                                                0 (TikTok's zero value: no date given) is IGNORED
    anything else                                               stored and IGNORED

Interpreted is not subscribed: `INTERPRETED_EVENT_TYPES` are the types given a meaning here, whoever subscribed
them; `SUBSCRIBED_EVENT_TYPES` those Shopbridge subscribes each shop to through the Event API. 27 and 42 are in the
first only: the Event API's `event_type` enum has no name for them (live-sync.md §2.5, tiktok-api.md §10:
[UNCERTAIN]), so they come when chosen in Partner Center for the app (README, TikTok webhooks).

`interpret` is total over whatever JSON a signed push carried: it returns a `Meaning` or raises
`MalformedEventError` (the event ends FAILED, MALFORMED_EVENT, with the reason), never anything else, so that one
bad event cannot stop its shop's batch nor break the `webhookEvents` listing. Ids are 1 to 64 ASCII digits (a
positive JSON integer, or a string); times are whole Unix seconds (an integer, or a string of digits) that a
`datetime` can hold, 1970-01-01 to 9999-12-31.

Pure and synchronous: the services load events, ask `interpret`, and act.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any

from domain.catalog import earlier_in_order_life

MAX_ORDER_IDS_PER_CALL = 50  # Get Order Detail takes at most 50 ids (tiktok-api.md §8)
MAX_ID_DIGITS = 64  # TikTok's ids have 18-19 digits; 64 is the width Shopbridge stores TikTok ids in
LAST_UNIX_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a `datetime` can hold
# How long after its receipt an event whose order TikTok does not return yet stays PENDING and is retried, before it
# ends FAILED (ORDER_NOT_FOUND): TikTok pushes an order's webhook as it writes the order, and Get Order Detail can lag
# behind (read-after-write; TikTok documents no bound, live-sync.md §8 "order search index lag"). 15 minutes outlasts
# the design's 10-minute poll overlap, and at the stale sweep's default cadence (SHOPBRIDGE_SYNC_STALE_AFTER, 300 s,
# jittered) gives the order two to four more fetches; an order still absent after it is not this shop's.
# The same bound holds an event whose order TikTok serves in a version older than the event says it is (an order
# status change's `data.update_time` after the fetched order's `update_time`: the same read lag, after a change):
# PENDING with STALE_ORDER and retried meanwhile, then settled with the version served, left to the order poll.
ORDER_NOT_FOUND_RETRY = timedelta(minutes=15)
# How late TikTok may deliver a notification after its first attempt: retries at +2 min, +30 min, +3 h, +12 h, then
# none (tiktok-api.md §10, live-sync.md §2.2): an undated notice received at R was first sent at R - 15 h 32 min or
# after.
TIKTOK_RETRY_SPAN = timedelta(hours=15, minutes=32)
# How far ahead of Shopbridge's clock a push time may be and still be read (`push_time`): TikTok's clock and ours
# disagree by seconds, not minutes (both NTP-synced); 15 minutes is generous for that and far below what a wrong
# time could do (a push dated years ahead outranked every later authorization, so its replay revoked them all).
FUTURE_PUSH_SKEW = timedelta(minutes=15)


class EventType(IntEnum):
    """TikTok's numeric webhook types with their Event API names (live-sync.md §2.4). 27 and 42 have no documented
    Event API name: theirs here are descriptive (27's is the one [3P PE] uses), never sent to the Event API."""

    ORDER_STATUS_CHANGE = 1
    REVERSE_STATUS_UPDATE = 2
    RECIPIENT_ADDRESS_UPDATE = 3
    PACKAGE_UPDATE = 4
    PRODUCT_STATUS_CHANGE = 5
    SELLER_DEAUTHORIZATION = 6
    UPCOMING_AUTHORIZATION_EXPIRATION = 7
    CANCELLATION_STATUS_CHANGE = 11
    RETURN_STATUS_CHANGE = 12
    NEW_CONVERSATION = 13
    NEW_MESSAGE = 14
    PRODUCT_INFORMATION_CHANGE = 15
    PRODUCT_CREATION = 16
    SHOPPABLE_CONTENT_POSTING = 17
    PRODUCT_CATEGORY_CHANGE = 18
    SIZE_CHART_CHANGE = 19
    CREATOR_DEAUTHORIZATION = 20
    INBOUND_FBT_ORDER_STATUS_CHANGE = 21
    FBT_SELLER_ONBOARDING = 22
    GOODS_MATCH = 23
    FBT_INVENTORY_UPDATE = 24
    OPPORTUNITY_MATCHING_STATUS_CHANGE = 25
    INVENTORY_STATUS_CHANGE = 27
    NEW_MESSAGE_LISTENER = 33
    TOKOPEDIA_MIRROR_STATUS_CHANGE = 35
    INVOICE_STATUS_CHANGE = 36
    PRODUCT_AUDIT_STATUS_CHANGE = 37
    STRIKETHROUGH_PRICE_EXPIRED = 38
    ACTIVITY_STATUS_CHANGE = 39
    COMBINED_LISTING_CHANGE = 42


ORDER_EVENTS = frozenset({EventType.ORDER_STATUS_CHANGE, EventType.CANCELLATION_STATUS_CHANGE,
                          EventType.RETURN_STATUS_CHANGE})  # fmt: skip
PRODUCT_EVENTS = frozenset({EventType.PRODUCT_STATUS_CHANGE, EventType.PRODUCT_INFORMATION_CHANGE,
                            EventType.PRODUCT_CREATION})  # fmt: skip
SUBSCRIBED_EVENT_TYPES: tuple[EventType, ...] = (
    EventType.ORDER_STATUS_CHANGE,
    EventType.PACKAGE_UPDATE,
    EventType.CANCELLATION_STATUS_CHANGE,
    EventType.RETURN_STATUS_CHANGE,
    EventType.PRODUCT_STATUS_CHANGE,
    EventType.PRODUCT_INFORMATION_CHANGE,
    EventType.PRODUCT_CREATION,
    EventType.SELLER_DEAUTHORIZATION,
    EventType.UPCOMING_AUTHORIZATION_EXPIRATION,
)
"""What Shopbridge subscribes each shop to through the Event API (`PUT /event/202309/webhooks`, one per type, by
name): the interpreted types the Event API's enum names (live-sync.md §2.5)."""

INTERPRETED_EVENT_TYPES: frozenset[EventType] = frozenset(
    {*SUBSCRIBED_EVENT_TYPES, EventType.INVENTORY_STATUS_CHANGE, EventType.COMBINED_LISTING_CHANGE}
)
"""The types `interpret` gives a meaning (the module docstring); any other is stored and IGNORED. 27 and 42 are
subscribed in Partner Center, not through the Event API (`SUBSCRIBED_EVENT_TYPES`)."""


def event_type_name(type_: int) -> str | None:
    """TikTok's name of a numeric type, or None for a type Shopbridge does not know."""
    try:
        return EventType(type_).name
    except ValueError:
        return None


def order_status(raw: str) -> str:
    """The API's spelling of an order status: the order webhook says `CANCEL` where the API says `CANCELLED`."""
    status = raw.strip().upper()
    return "CANCELLED" if status == "CANCEL" else status


NO_END_DATE = "data.expiration_time is 0: TikTok gave no end date; the shop's expiresAt is unchanged."


class MalformedEventError(ValueError):
    """A handled event whose `data` lacks what it must carry; the event is kept and marked FAILED."""


@dataclass(frozen=True, slots=True)
class Meaning:
    """What an event asks Shopbridge to do; empty means nothing (an ignored type)."""

    order_ids: tuple[str, ...] = ()
    product_ids: tuple[str, ...] = ()
    deauthorized: bool = False
    authorization_expires_at: datetime | None = None
    ignored_because: str | None = None  # why an empty meaning of a handled type asks nothing (`NO_END_DATE`)
    # TikTok SKU ids whose stock TikTok says changed status (webhook 27): the shop's linked SKUs are reconciled
    # (`domain.services.inventory_reconcile.reconcile_shop`: read at TikTok, drift counted and pushed again)
    reconcile_skus: tuple[str, ...] = ()
    # When an order status change (type 1) says its order was updated (`data.update_time`, UTC); None when unknown:
    # absent, 0, not Unix seconds. Only a hint (`stale_order`), never a reason to fail the event.
    order_update_time: datetime | None = None
    # The status it says the order took then (`data.order_status`, the API's spelling: `order_status`); None when
    # absent or not text. Only a hint, as `order_update_time`: two changes within one second share that time.
    order_status_hint: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.order_ids
            or self.product_ids
            or self.reconcile_skus
            or self.deauthorized
            or self.authorization_expires_at
        )


def interpret(type_: int, data: Mapping[str, Any]) -> Meaning:
    """The meaning of one event (see the module docstring); `MalformedEventError` when `data` does not fit its type.

    Ids may arrive as JSON numbers beyond 2^53 (product samples do): they are read exactly and turned into text.
    """
    if type_ not in INTERPRETED_EVENT_TYPES:
        return Meaning()
    if type_ == EventType.SELLER_DEAUTHORIZATION:
        return Meaning(deauthorized=True)
    if not isinstance(data, Mapping):
        raise MalformedEventError("data must be an object")
    if type_ in ORDER_EVENTS:
        order_id = _identifier(data, "order_id")
        if type_ == EventType.ORDER_STATUS_CHANGE:
            status = data.get("order_status")
            return Meaning(
                order_ids=(order_id,),
                order_update_time=push_time(_whole_number(data.get("update_time"))),
                order_status_hint=order_status(status) if isinstance(status, str) and status.strip() else None,
            )
        return Meaning(order_ids=(order_id,))
    if type_ == EventType.PACKAGE_UPDATE:
        packages = data.get("package_list")
        if not isinstance(packages, list):
            raise MalformedEventError("data.package_list must be a list")
        ids: list[str] = []
        for package in packages:
            if not isinstance(package, Mapping) or not isinstance(package.get("order_id_list"), list):
                raise MalformedEventError("each data.package_list entry needs an order_id_list")
            ids.extend(_id_text(value, "order_id_list[]") for value in package["order_id_list"])
        return Meaning(order_ids=tuple(dict.fromkeys(ids)))
    if type_ in PRODUCT_EVENTS:
        return Meaning(product_ids=(_identifier(data, "product_id"),))
    if type_ == EventType.COMBINED_LISTING_CHANGE:
        return _combined_listing_change(data)
    if type_ == EventType.INVENTORY_STATUS_CHANGE:
        return Meaning(reconcile_skus=(_identifier(data, "sku_id"),))
    if type_ == EventType.UPCOMING_AUTHORIZATION_EXPIRATION:
        raw = data.get("expiration_time")
        if _whole_number(raw) == 0:  # an int64 TikTok did not set, as its envelope's `timestamp: 0`
            return Meaning(ignored_because=NO_END_DATE)
        return Meaning(authorization_expires_at=_expiration_time(raw))
    return Meaning()  # a type subscribed to before it is given a meaning here


NO_COMBINED_PRODUCTS = "data.products names no product: nothing to re-fetch."


def _combined_listing_change(data: Mapping[str, Any]) -> Meaning:
    """Webhook 42: every product of `data.products` re-fetched, as a product event's (the fetch relinks its SKUs:
    live-sync.md §7.5 names 42 with 5, 15 and 16). TikTok documents `products[]` without its entries' shape
    (live-sync.md §2.4), so an entry is read as an id (digits, a JSON number or a string) or an object with a
    `product_id`; anything else is malformed. An empty list means nothing (`NO_COMBINED_PRODUCTS`)."""
    products = data.get("products")
    if not isinstance(products, list):
        raise MalformedEventError("data.products must be a list")
    ids = [
        _id_text(entry.get("product_id"), "products[].product_id")
        if isinstance(entry, Mapping)
        else _id_text(entry, "products[]")
        for entry in products
    ]
    if not ids:
        return Meaning(ignored_because=NO_COMBINED_PRODUCTS)
    return Meaning(product_ids=tuple(dict.fromkeys(ids)))


def _expiration_time(raw: Any) -> datetime:
    """Webhook 7's `expiration_time`: Unix seconds, as TikTok documents it (tiktok-api.md §10).

    A value past the year 9999 is refused, milliseconds included: no TikTok source sends milliseconds, and reading
    a number's unit from its size would store a wrong end date the day it guesses wrong. The event is FAILED with
    the reason, in view in `webhookEvents`, and TikTok sends the notice again daily until the authorization ends.
    """
    seconds = _whole_number(raw)
    if seconds is None or seconds <= 0:  # 0 is read before: no end date (`NO_END_DATE`)
        raise MalformedEventError("data.expiration_time must be Unix seconds")
    if seconds > LAST_UNIX_SECOND:
        shown = str(seconds) if seconds < 10**24 else "a number of over 24 digits"
        unit = " (in milliseconds?)" if seconds // 1000 <= LAST_UNIX_SECOND else ""
        raise MalformedEventError(f"data.expiration_time must be Unix seconds: {shown} is past the year 9999{unit}")
    return datetime.fromtimestamp(seconds, UTC)


def push_time(timestamp: int | None, now: datetime | None = None) -> datetime | None:
    """The envelope's `timestamp` (Unix seconds) as a time (UTC), or None when it is unknown: absent, 0, negative,
    past the year 9999, or, given `now` (the receiving server's clock, UTC: the `Clock` the intake dates receipts
    with), more than `FUTURE_PUSH_SKEW` after it. Rule: a push cannot be sent after it is received; trusted, one
    dated in 2286 outranked every authorization granted before then (`Shop.notice_is_current`), so a replay of a
    deauthorization revoked each re-authorization. Within the skew it is kept as sent (clocks differ by seconds).
    0 is TikTok's zero value of an int64 it did not set (as webhook 7's
    `expiration_time: 0`, `NO_END_DATE`), not a push made at 1970-01-01T00:00:00Z; read as that date it made a
    notice look older than every authorization (a deauthorization pushed with it was IGNORED as stale, however
    late it came) and keyed apart from its own redelivery. An unknown push time is never compared: the event is
    dated by its receipt (`WebhookEvent.notice_time`, `sent_no_earlier_than`) and keyed without it
    (`notification_key`). The push time is only a hint, never a reason to refuse."""
    if timestamp is None or not 0 < timestamp <= LAST_UNIX_SECOND:
        return None
    pushed = datetime.fromtimestamp(timestamp, UTC)
    if now is not None and pushed > now + FUTURE_PUSH_SKEW:
        return None
    return pushed


def _whole_number(value: Any) -> int | None:
    """An integer, or a string of ASCII digits (surrounding blanks allowed); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            try:
                return int(text)
            except ValueError:  # more digits than Python converts to an int (4300): no time
                return None
    return None


def _identifier(data: Mapping[str, Any], name: str) -> str:
    return _id_text(data.get(name), name)


def _id_text(value: Any, name: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        text = str(value) if value < 10**MAX_ID_DIGITS else ""
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        text = value.strip()
    else:
        raise MalformedEventError(f"data.{name} must be an id (digits)")
    if not 0 < len(text) <= MAX_ID_DIGITS:
        raise MalformedEventError(f"data.{name} must be an id of at most {MAX_ID_DIGITS} digits")
    return text


def notification_key(
    tts_notification_id: str | None,
    type_: int,
    tiktok_shop_id: str | None,
    data: Any,
    timestamp: int | None = None,
    now: datetime | None = None,
) -> str:
    """The inbox's unique key (at most 80 characters): `tts:` + TikTok's `tts_notification_id`, else `sha256:` + a
    SHA-256 of type, shop id, push time and canonical data; the push time is left out when unknown (`push_time`,
    received at `now`, UTC).

    Rule: a redelivery of one notification (TikTok's retry, or a duplicate sent at once) is the same envelope, so
    it gets the same key and is stored once. Two notifications with the same type, shop and data pushed at two
    known times are two events: a seller deauthorization (webhook 6) carries the same `data.message` every time,
    and keyed on its data alone, the one after a re-authorization was dropped as a duplicate of the one before,
    leaving a revoked shop ACTIVE. An id of 0 (TikTok's zero value of an id it did not set) is no id: kept, every
    later push with it would have been dropped as a duplicate of the first.
    """
    if tts_notification_id and tts_notification_id.strip("0"):
        return "tts:" + tts_notification_id
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    pushed = "" if push_time(timestamp, now) is None else f"{timestamp}|"
    # surrogatepass: JSON may carry a lone surrogate (`"\ud800"`), which UTF-8 cannot encode; other text is unchanged
    digest = hashlib.sha256(f"{type_}|{tiktok_shop_id or ''}|{pushed}{canonical}".encode("utf-8", "surrogatepass"))
    return "sha256:" + digest.hexdigest()


def released_key(event_id: str) -> str:
    """The key a stored event keeps once it gives up its notification key (`WebhookEvent.keyed_without_push_time`):
    its own id behind a prefix no notification key has, at most 41 characters, so unique and never matched."""
    return "released:" + event_id


def order_id_batches(order_ids: Iterable[str], size: int = MAX_ORDER_IDS_PER_CALL) -> Iterator[list[str]]:
    """Distinct ids, first seen first, in batches of at most `size` (one Get Order Detail call each)."""
    distinct = list(dict.fromkeys(order_ids))
    for start in range(0, len(distinct), size):
        yield distinct[start : start + size]


class EventOutcome(StrEnum):
    PENDING = "PENDING"
    PROCESSED = "PROCESSED"
    IGNORED = "IGNORED"
    FAILED = "FAILED"


class EventError(StrEnum):
    """Stable `error_code`s of an event (shown by GraphQL `WebhookEvent.errorCode`)."""

    UNKNOWN_SHOP = "UNKNOWN_SHOP"  # IGNORED: no connected shop has the event's TikTok shop id
    MALFORMED_EVENT = "MALFORMED_EVENT"  # FAILED: `data` lacks what its type must carry
    # FAILED: TikTok says the shop has no such order (left out of Get Order Detail's answer, or the whole call
    # refused with 21008111 when it has none of the batch): the same code however the order was batched. Within
    # `ORDER_NOT_FOUND_RETRY` of its receipt the event stays PENDING with this code instead, and is retried
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    # FAILED: Get Product: not in the shop (12052048), or gone (12052031...), and never stored for the shop (a stored
    # one is confirmed with Search Products, `domain.unserved_products`); or that search ran past its pages
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    TIKTOK_ERROR = "TIKTOK_ERROR"  # FAILED: TikTok refused the re-fetch otherwise (the message has its code)
    UNREADABLE_RECORD = "UNREADABLE_RECORD"  # FAILED: TikTok's answer could not be mapped
    REAUTHORIZATION_REQUIRED = "REAUTHORIZATION_REQUIRED"  # FAILED: revoked or expired; its re-authorization replays it
    TIKTOK_UNAVAILABLE = "TIKTOK_UNAVAILABLE"  # still PENDING: the last run found TikTok unavailable; retried
    # PENDING: Get Order Detail served the order in a version older than the status change's `data.update_time`
    # (or of that time in a status before its `data.order_status` in TikTok's order life: `stale_order`), retried
    # within `ORDER_NOT_FOUND_RETRY` of its receipt; PROCESSED with it after that time, the version served stored
    # (unless a later one is) and the newer one left to the shop's order poll
    STALE_ORDER = "STALE_ORDER"


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified webhook's envelope `{type, tts_notification_id, shop_id, timestamp, data}` (live-sync.md §2.3)."""

    type: int
    tts_notification_id: str | None
    tiktok_shop_id: str | None
    timestamp: int | None  # TikTok's push time, Unix seconds (any integer: `push_time` reads it)
    data: dict[str, Any]


@dataclass(slots=True)
class WebhookEvent:
    """One stored notification and where its processing stands. `shop_id` is None when no shop matches."""

    id: str
    notification_key: str
    type: int
    tiktok_shop_id: str | None
    shop_id: str | None
    data: dict[str, Any]
    notified_at: datetime | None
    received_at: datetime
    processed_at: datetime | None = None
    attempts: int = 0
    outcome: EventOutcome = EventOutcome.PENDING
    error_code: str | None = None
    error_message: str | None = None
    tts_notification_id: str | None = field(default=None)

    @classmethod
    def receive(cls, notification: Notification, shop_id: str | None, now: datetime) -> WebhookEvent:
        """A new inbox entry; one for no known shop is kept but IGNORED at once (nobody can act on it)."""
        event = cls(
            id=uuid.uuid4().hex,
            notification_key=notification_key(
                notification.tts_notification_id,
                notification.type,
                notification.tiktok_shop_id,
                notification.data,
                notification.timestamp,
                now,
            ),
            type=notification.type,
            tiktok_shop_id=notification.tiktok_shop_id,
            shop_id=shop_id,
            data=notification.data,
            notified_at=push_time(notification.timestamp, now),
            received_at=now,
            tts_notification_id=notification.tts_notification_id,
        )
        if shop_id is None:
            event.finish(
                now, EventOutcome.IGNORED, EventError.UNKNOWN_SHOP, "No connected shop has this TikTok shop id."
            )
        return event

    @property
    def event_type(self) -> str | None:
        return event_type_name(self.type)

    @property
    def notice_time(self) -> datetime:
        """When TikTok sent it (push time), or when we got it if TikTok did not say."""
        return self.notified_at or self.received_at

    @property
    def sent_no_earlier_than(self) -> datetime:
        """The earliest TikTok can have sent it (UTC): its push time, or, without one, its receipt minus
        `TIKTOK_RETRY_SPAN`. Rule: a lifecycle notice (6, 7) counts for the shop's current authorization only when
        sent at or after it (`Shop.notice_is_current`). The envelope's `timestamp` is documented in every push
        (tiktok-api.md §10) but the intake accepts a push without it; dated on receipt, a late delivery of a
        deauthorization arriving after the merchant re-authorized revoked the new authorization. So an undated
        notice changes nothing for an authorization granted within the span before its receipt; if the seller did
        remove the app, TikTok refuses the tokens at the next call and that revokes the shop
        (`Shop.revoke_refused`)."""
        return self.notified_at or self.received_at - TIKTOK_RETRY_SPAN

    @property
    def sent_no_later_than(self) -> datetime:
        """The latest TikTok can have sent it (UTC): its push time, or, without one, its receipt. Rule: an
        authorization-end notice sent at or after the shop's end changes nothing (`Shop.authorization_end_refused`,
        ENDED); an undated one counts as sent when it was received, so one received after the end never renews it."""
        return self.notified_at or self.received_at

    @property
    def keyed_without_push_time(self) -> bool:
        """Whether its key is the digest of an envelope with neither `tts_notification_id` nor a known push time
        (`notification_key`). Rule: such a key stands for one notification only within `TIKTOK_RETRY_SPAN` of the
        stored event's receipt: TikTok retries a push for at most that long after its first attempt, so a push
        with the same key received later is no retry of it but the same notice pushed anew (a seller removing
        the app again after a re-authorization: same type, shop and message). The inbox then stores it as a new
        event (`domain.services.inbox.receive_notifications`, the stored one's key `released_key`)."""
        return self.notified_at is None and self.notification_key.startswith("sha256:")

    def meaning(self) -> Meaning:
        return interpret(self.type, self.data)

    def finish(self, now: datetime, outcome: EventOutcome, code: str | None = None, message: str | None = None) -> None:
        self.outcome, self.error_code, self.error_message, self.processed_at = outcome, code, message, now

    def await_order(self, now: datetime, message: str, code: EventError = EventError.ORDER_NOT_FOUND) -> bool:
        """Keep the event PENDING, with `code` (ORDER_NOT_FOUND, or STALE_ORDER), `message` and when its retries
        end, if it was received less than `ORDER_NOT_FOUND_RETRY` before `now` (UTC); True then. False (nothing
        changed) once that time is past: the caller settles it. Rule: an order TikTok does not return right after
        its webhook, or returns in a version older than the webhook says (`stale_order`), may not be readable yet
        (read-after-write lag), so it is transient for a bounded time; the stale sweep and the shop's next events
        retry it (`domain.services.intake.resume_pending_events`)."""
        until = self.received_at + ORDER_NOT_FOUND_RETRY
        if now >= until:
            return False
        self.outcome, self.error_code, self.processed_at = EventOutcome.PENDING, code, None
        self.error_message = (
            f"{message.rstrip('.')}; perhaps not readable yet: retried until {until:%Y-%m-%dT%H:%M:%SZ}."
        )
        return True

    def replay(self) -> None:
        """Process it again (GraphQL `webhookEventReplay`): harmless, every handler is idempotent."""
        self.outcome, self.error_code, self.error_message, self.processed_at = EventOutcome.PENDING, None, None, None


def stale_order(
    served_update_time: datetime, meaning: Meaning, received_at: datetime, served_status: str | None = None
) -> str | None:
    """Why the order Get Order Detail served (last updated at `served_update_time`, UTC, in status `served_status`)
    is older than the status change `meaning` announces (`Meaning.order_update_time`, `Meaning.order_status_hint`),
    or None when it is not, or the event gave no time, or one more than `FUTURE_PUSH_SKEW` after its receipt
    (`received_at`, UTC; a change is not pushed before it is made: such a time is no version TikTok will serve, as
    `push_time` reads the envelope's).

    Rule: an order webhook is pushed as TikTok writes the change, and Get Order Detail can still answer the version
    before it (read lag, live-sync.md §8): settled with that version, the event left the pool wrong (a cancellation
    not released, a paid order not reserved) until the next poll. A served version after the event's `update_time`
    is current: TikTok's `update_time` only grows with an order's changes. One at that very `update_time` is
    current unless its status comes before the event's in TikTok's order life (`domain.catalog.older_order_version`,
    tiktok-api.md §8): TikTok's times are whole seconds, and an order paid and shipped within one second has two
    versions of one time; the detail's AWAITING_SHIPMENT against the webhook's IN_TRANSIT is the version before it
    (try-out livesync52, defect 1). The catalog keeps the later one stored meanwhile (`older_order_version`)."""
    expected = meaning.order_update_time
    if expected is None or expected > received_at + FUTURE_PUSH_SKEW or served_update_time > expected:
        return None
    served_at, said_at = f"{served_update_time:%Y-%m-%dT%H:%M:%SZ}", f"{expected:%Y-%m-%dT%H:%M:%SZ}"
    if served_update_time < expected:
        return f"TikTok served the order as updated at {served_at}, before this event's update_time {said_at}"
    announced = meaning.order_status_hint
    if served_status is None or announced is None or not earlier_in_order_life(served_status, announced):
        return None
    return (
        f"TikTok served the order as {served_status} at {served_at}, this event's update_time, where the event says "
        f"{announced}, later in TikTok's order life: the version before it"
    )


def expiry_notices(events: Sequence[WebhookEvent]) -> list[tuple[WebhookEvent, datetime]]:
    """Every well-formed authorization-end notice (webhook 7) among `events` with the end it announces (UTC), in the
    order they were sent (`WebhookEvent.sent_no_earlier_than`; stable for equal times)."""
    notices: list[tuple[WebhookEvent, datetime]] = []
    for event in events:
        try:
            meaning = event.meaning()
        except MalformedEventError:
            continue
        if meaning.authorization_expires_at is not None:
            notices.append((event, meaning.authorization_expires_at))
    return sorted(notices, key=lambda notice: notice[0].sent_no_earlier_than)


def shop_notices(events: Sequence[WebhookEvent]) -> tuple[datetime | None, list[tuple[datetime, datetime]]]:
    """The latest deauthorization send time, and every (authorization end, send time), among well-formed events;
    a send time is `WebhookEvent.sent_no_earlier_than` (the push time, or for an undated one the earliest it can be)."""
    deauthorizations: list[datetime] = []
    expiries: list[tuple[datetime, datetime]] = []
    for event in events:
        try:
            meaning = event.meaning()
        except MalformedEventError:
            continue
        if meaning.deauthorized:
            deauthorizations.append(event.sent_no_earlier_than)
        if meaning.authorization_expires_at is not None:
            expiries.append((meaning.authorization_expires_at, event.sent_no_earlier_than))
    return max(deauthorizations, default=None), sorted(expiries, key=lambda pair: pair[1])
