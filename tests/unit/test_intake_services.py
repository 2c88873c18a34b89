"""Webhook intake use cases over fakes: receive, process (coalesced, idempotent, any order), replay, register."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import ErrorCode, NotFoundError
from domain.intake import NO_END_DATE, ORDER_NOT_FOUND_RETRY, SUBSCRIBED_EVENT_TYPES, EventOutcome, Notification
from domain.ports import AuthorizationLostError, TikTokUnavailableError
from domain.services import inbox, intake
from domain.services.webhook_registration import register_shop_webhooks
from domain.shops import ShopStatus
from tests.fakes import (
    T0,
    FakeClock,
    FakeEventPublisher,
    FakeRefreshApi,
    FakeStore,
    FakeTaskQueue,
    FakeUnitOfWork,
    make_order,
    make_product,
    make_shop,
    make_tokens,
)

TIKTOK_SHOP = "7001"


def oid(i: int) -> str:
    return str(576000000000 + i)


def pid(i: int) -> str:
    return str(1729000000 + i)


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.clock = FakeClock()
        self.queue = FakeTaskQueue()
        # TikTok's ids are digits: order i is 576000000000 + i, product i is 1729000000 + i
        self.orders = [replace(make_order(i, T0 - timedelta(days=1)), tiktok_order_id=oid(i)) for i in range(120)]
        products = [replace(make_product(i), tiktok_product_id=pid(i)) for i in range(3)]
        self.api = FakeRefreshApi(self.orders, products)
        self.shop = make_shop(now=T0 - timedelta(days=2), tiktok_shop_id=TIKTOK_SHOP)
        self.store.shops[self.shop.id] = self.shop
        self.deps = intake.IntakeDeps(self.uow, self.api.factory, self.clock)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def receive(self, type_: int, data: dict, tts_id: str | None = None, at=T0, shop=TIKTOK_SHOP):
        self.clock.advance(timedelta(seconds=1))  # received one after the other
        notification = Notification(type_, tts_id, shop, int(at.timestamp()), data)
        return await inbox.receive_notification(self.uow, self.clock, notification)

    async def process(self) -> int:
        return await intake.process_shop_events(self.deps, self.shop.id)

    def outcomes(self) -> list[tuple[int, EventOutcome, str | None]]:
        events = sorted(self.store.webhook_events.values(), key=lambda e: (e.received_at, e.id))
        return [(e.type, e.outcome, e.error_code) for e in events]


@pytest.fixture
def world() -> World:
    return World()


async def test_order_events_arriving_together_cost_one_call_per_50_distinct_ids(world: World) -> None:
    for i in range(120):
        await world.receive(1, {"order_id": oid(i), "order_status": "AWAITING_SHIPMENT"}, f"n{i}")
    await world.receive(4, {"package_list": [{"order_id_list": [oid(1), oid(2)]}]}, "pkg")
    await world.receive(11, {"order_id": oid(3), "cancel_status": "CANCELLATION_REQUEST_SUCCESS"}, "cancel")
    assert await world.process() == 122
    assert [len(call) for call in world.api.order_calls] == [50, 50, 20]
    assert set(world.store.shop_orders(world.shop.id)) == {o.tiktok_order_id for o in world.orders}
    assert {outcome for _, outcome, _ in world.outcomes()} == {EventOutcome.PROCESSED}
    assert world.store.shops[world.shop.id].last_webhook_at == world.clock.now()  # the last one's receipt
    # processing again finds nothing pending and calls nobody
    assert await world.process() == 0 and len(world.api.order_calls) == 3


async def test_a_repeated_notification_is_stored_once(world: World) -> None:
    assert await world.receive(1, {"order_id": oid(1)}, "same") is not None
    assert await world.receive(1, {"order_id": oid(1)}, "same", at=T0 + timedelta(hours=3)) is None
    assert len(world.store.webhook_events) == 1


async def test_unknown_shops_and_types_are_kept_but_ignored(world: World) -> None:
    orphan = await world.receive(1, {"order_id": oid(1)}, "x", shop="7999")
    assert orphan is not None and orphan.shop_id is None and orphan.outcome is EventOutcome.IGNORED
    await world.receive(3, {"order_id": oid(1)}, "address")
    await world.receive(1, {"order": "no id"}, "bad")
    await world.process()
    assert world.outcomes() == [
        (1, EventOutcome.IGNORED, "UNKNOWN_SHOP"),
        (3, EventOutcome.IGNORED, None),
        (1, EventOutcome.FAILED, "MALFORMED_EVENT"),
    ]
    assert world.api.order_calls == []


async def test_products_are_fetched_one_by_one_and_missing_ones_fail(world: World) -> None:
    await world.receive(5, {"product_id": pid(1)}, "a")
    await world.receive(15, {"product_id": pid(1), "changed_fields": ["title"]}, "b")
    await world.receive(16, {"product_id": pid(2)}, "c")
    await world.receive(1, {"order_id": oid(2)}, "d")
    await world.receive(1, {"order_id": oid(999999)}, "e")  # TikTok leaves it out of the answer
    world.clock.advance(ORDER_NOT_FOUND_RETRY)  # past its retries (`WebhookEvent.await_order`)
    await world.process()
    assert world.api.product_calls == [pid(1), pid(2)]
    assert set(world.store.shop_products(world.shop.id)) == {pid(1), pid(2)}
    assert [o for _, o, _ in world.outcomes()] == [EventOutcome.PROCESSED] * 4 + [EventOutcome.FAILED]
    assert world.outcomes()[-1][2] == "ORDER_NOT_FOUND"
    # a batch of which TikTok knows no order at all is refused whole (21008111), as the sandbox does
    # (tests/integration/test_contract_shop_api.py): the order is not found all the same
    await world.receive(1, {"order_id": oid(999998)}, "f")
    world.clock.advance(ORDER_NOT_FOUND_RETRY)
    await world.process()
    assert world.outcomes()[-1][1:] == (EventOutcome.FAILED, "ORDER_NOT_FOUND")


async def test_tiktok_unavailable_leaves_events_pending_with_an_attempt_counted(world: World) -> None:
    await world.receive(1, {"order_id": oid(1)}, "a")
    world.api.error = TikTokUnavailableError("down")
    with pytest.raises(TikTokUnavailableError):
        await world.process()
    (event,) = world.store.webhook_events.values()
    assert (event.outcome, event.attempts, event.error_code) == (EventOutcome.PENDING, 1, "TIKTOK_UNAVAILABLE")
    world.api.error = None
    await world.process()
    (event,) = world.store.webhook_events.values()
    assert (event.outcome, event.attempts) == (EventOutcome.PROCESSED, 2)


async def test_a_refused_authorization_revokes_the_shop_and_fails_its_refreshes(world: World) -> None:
    await world.receive(1, {"order_id": oid(1)}, "a")
    world.api.error = AuthorizationLostError("revoked")
    await world.process()
    assert world.store.shops[world.shop.id].status(T0) is ShopStatus.REVOKED
    assert world.outcomes() == [(1, EventOutcome.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED.value)]


async def test_deauthorization_revokes_keeps_data_and_later_refreshes_wait_for_reauthorization(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.receive(1, {"order_id": oid(1)}, "a")
    await world.process()
    await world.receive(6, {"message": "bye"}, "deauth", at=T0 + timedelta(minutes=1))
    await world.receive(1, {"order_id": oid(2)}, "b", at=T0 + timedelta(minutes=2))
    with caplog.at_level(logging.INFO, logger="domain.services.intake"):
        await world.process()
    assert world.store.shops[world.shop.id].status(T0) is ShopStatus.REVOKED
    assert set(world.store.shop_orders(world.shop.id)) == {oid(1)}  # kept, and nothing fetched after
    assert world.outcomes()[1:] == [
        (6, EventOutcome.PROCESSED, None),
        (1, EventOutcome.FAILED, ErrorCode.REAUTHORIZATION_REQUIRED.value),
    ]
    with caplog.at_level(logging.INFO, logger="domain.services.intake"):
        await world.receive(6, {"message": "again"}, "deauth2", at=T0 + timedelta(minutes=3))
        await world.process()  # already REVOKED: no second line
    # one WARNING naming the shop, as a refused token's revocation has (try-out livesync52: no line at all)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"shop {world.shop.id}: TikTok's deauthorization notice (webhook type 6) revoked it: the seller removed "
            "the app; the shop needs re-authorizing",
        )
    ]


async def test_lifecycle_notices_apply_in_any_order_and_replayed(world: World) -> None:
    later, earlier = T0 + timedelta(days=20), T0 + timedelta(days=10)
    # a stale deauthorization (before the shop's authorization) and an expiry notice, arriving out of order
    await world.receive(7, {"expiration_time": str(int(later.timestamp()))}, "e2", at=T0)
    await world.receive(6, {"message": "old"}, "old", at=world.shop.authorized_at - timedelta(days=1))
    await world.receive(7, {"expiration_time": str(int(earlier.timestamp()))}, "e1", at=T0 - timedelta(hours=1))
    await world.process()
    shop = world.store.shops[world.shop.id]
    assert shop.revoked_at is None
    assert shop.authorization_expires_at == later  # the latest notice wins, whatever the arrival order
    # replaying the stale deauthorization changes nothing either
    stale = next(e for e in world.store.webhook_events.values() if e.type == 6)
    replayed = await intake.replay_event(world.uow, world.queue, world.shop.merchant_id, stale.id)
    assert replayed.outcome is EventOutcome.PENDING and world.queue.webhook_events == [world.shop.id]
    await world.process()
    assert world.store.shops[world.shop.id].revoked_at is None
    assert world.store.webhook_events[stale.id].attempts == 2


@pytest.mark.parametrize(
    ("arrivals", "batches"),
    [
        pytest.param("AB", 2, id="A then B, each in its batch"),
        pytest.param("AB", 1, id="A and B in one batch"),
        pytest.param("BA", 2, id="B's retry first, then A"),
    ],
)
async def test_two_end_notices_give_the_same_end_whatever_their_order_and_however_late_they_are_processed(
    world: World, arrivals: str, batches: int
) -> None:
    """review72b F1: notices A (sent 12 h ago, announcing an end 2 h ago) and B (sent 5 s after A, an end 29 days
    ahead), processed now, after A's end. ENDED was decided at the processing time: A then B gave EXPIRED (B refused
    as ENDED), B then A ACTIVE. The rule reads the send times only (`Shop.authorization_end_refused`): B was sent
    before A's end, so the later end wins in every order, and A is refused only when it comes after B."""
    sent_a = T0 - timedelta(hours=12)
    notices = {
        "A": (T0 - timedelta(hours=2), sent_a),
        "B": (T0 + timedelta(days=29), sent_a + timedelta(seconds=5)),
    }
    # when the two notices are received in the order given, in one batch or two, at T0 (after A's end)
    for name in arrivals:
        end, sent = notices[name]
        await world.receive(7, {"expiration_time": str(int(end.timestamp()))}, name, at=sent)
        if batches == 2:
            await world.process()
    await world.process()
    # then B's end stands: the shop is ACTIVE until it
    shop = world.store.shops[world.shop.id]
    assert (shop.status(world.clock.now()), shop.expires_at) == (ShopStatus.ACTIVE, T0 + timedelta(days=29))
    outcome = {e.tts_notification_id: (e.outcome, e.error_message) for e in world.store.webhook_events.values()}
    assert outcome["B"] == (EventOutcome.PROCESSED, None)
    assert outcome["A"] == (
        (EventOutcome.IGNORED, intake.EARLIER_END_NOTICE) if arrivals == "BA" else (EventOutcome.PROCESSED, None)
    )


async def test_an_end_notice_sent_after_the_end_never_renews_the_authorization(world: World) -> None:
    """tryout71 O2 with the send time: a notice TikTok sent once the stored end had passed is refused as ENDED; an
    undated one counts as sent when received (`WebhookEvent.sent_no_later_than`), so it is refused too."""
    # given a shop whose announced end passed an hour ago
    ended = T0 - timedelta(hours=1)
    await world.receive(7, {"expiration_time": str(int(ended.timestamp()))}, "end", at=T0 - timedelta(hours=3))
    await world.process()
    # when a notice sent after that end, and an undated one received now, announce an end 29 days ahead
    later = str(int((T0 + timedelta(days=29)).timestamp()))
    await world.receive(7, {"expiration_time": later}, "dated", at=T0 - timedelta(minutes=30))
    undated = Notification(7, "undated", TIKTOK_SHOP, None, {"expiration_time": later})
    assert await inbox.receive_notification(world.uow, world.clock, undated) is not None
    await world.process()
    # then both are refused as ENDED and the shop stays EXPIRED with its end
    shop = world.store.shops[world.shop.id]
    assert (shop.status(world.clock.now()), shop.expires_at) == (ShopStatus.EXPIRED, ended)
    refused = {e.tts_notification_id: (e.outcome, e.error_message) for e in world.store.webhook_events.values()}
    assert refused["dated"] == refused["undated"] == (EventOutcome.IGNORED, intake.ENDED_NOTICE)


async def test_an_expiry_notice_of_0_is_ignored_with_its_reason_and_changes_nothing(world: World) -> None:
    # given a shop whose end TikTok announced, then a notice whose expiration_time is TikTok's zero value
    ends = T0 + timedelta(days=5)
    await world.receive(7, {"expiration_time": str(int(ends.timestamp()))}, "e1")
    await world.receive(7, {"message": "expiring", "expiration_time": 0}, "e2", at=T0 + timedelta(hours=1))
    await world.process()
    # then it is no failure (nothing to replay, nothing wrong with the shop): IGNORED, saying why, the end kept
    zero = next(e for e in world.store.webhook_events.values() if e.data.get("expiration_time") == 0)
    assert (zero.outcome, zero.error_code, zero.error_message) == (EventOutcome.IGNORED, None, NO_END_DATE)
    assert world.store.shops[world.shop.id].authorization_expires_at == ends


async def test_a_notice_that_moves_the_end_or_revokes_signals_the_shop(world: World) -> None:
    # given the intake publishes to the event bus
    published = FakeEventPublisher()
    world.deps = replace(world.deps, events=published)
    # when an expiry notice is processed
    ends = T0 + timedelta(days=5)
    await world.receive(7, {"expiration_time": str(int(ends.timestamp()))}, "e1")
    await world.process()
    # then `shopUpdated` is told once: the shop's expiresAt and status changed
    assert world.store.shops[world.shop.id].expires_at == ends
    assert published.shop_changes == [world.shop.id]
    # when the same end is announced again (TikTok repeats it daily): nothing changed, nothing said
    await world.receive(7, {"expiration_time": str(int(ends.timestamp()))}, "e2", at=T0 + timedelta(days=1))
    await world.process()
    assert published.shop_changes == [world.shop.id]
    # when the seller removes the app: REVOKED, said again
    await world.receive(6, {"message": "bye"}, "d1", at=T0 + timedelta(days=1))
    await world.process()
    assert world.store.shops[world.shop.id].revoked_at is not None
    assert published.shop_changes == [world.shop.id, world.shop.id]


async def test_replay_is_the_owners_alone(world: World) -> None:
    event = await world.receive(1, {"order_id": oid(1)}, "a")
    assert event is not None
    with pytest.raises(NotFoundError):
        await intake.replay_event(world.uow, world.queue, "someone-else", event.id)
    assert world.queue.webhook_events == []


async def test_a_late_event_stores_tiktoks_current_order_not_what_the_event_said(world: World) -> None:
    # Events only trigger a re-fetch: a day-old UNPAID notice brings in the order as TikTok has it now. (That an
    # older fetched version never overwrites a newer stored one is the catalog repository's rule, tested in
    # tests/integration/test_db_webhook_events.py.)
    newer = replace(world.orders[1], status="CANCELLED", updated_at=T0)
    world.api.orders[oid(1)] = newer
    await world.receive(1, {"order_id": oid(1), "order_status": "UNPAID"}, "old", at=T0 - timedelta(days=1))
    await world.process()
    assert world.store.shop_orders(world.shop.id)[oid(1)].status == "CANCELLED"


async def test_registration_puts_every_handled_type_and_records_the_outcome(world: World) -> None:
    address = "https://shopbridge.example/webhooks/tiktok"
    assert await register_shop_webhooks(world.uow, world.api.factory, world.clock, world.shop.id, address)
    assert world.api.registrations == [(address, t.name) for t in SUBSCRIBED_EVENT_TYPES]
    shop = world.store.shops[world.shop.id]
    registered_at = world.clock.now()
    assert (shop.webhooks_registered_at, shop.webhook_registration_error) == (registered_at, None)
    # a failure is recorded and raised (the queue retries); the shop stays as it was otherwise
    world.api.error = TikTokUnavailableError("down")
    with pytest.raises(TikTokUnavailableError):
        await register_shop_webhooks(world.uow, world.api.factory, world.clock, world.shop.id, address)
    shop = world.store.shops[world.shop.id]
    assert shop.webhook_registration_error and "down" in shop.webhook_registration_error
    assert shop.webhooks_registered_at == registered_at and shop.status(T0) is ShopStatus.ACTIVE


@pytest.mark.parametrize("path", ["registration", "processing"])
async def test_tokens_refreshed_on_the_webhook_side_are_stored_and_dated(world: World, path: str) -> None:
    # given TikTok answering the next call with 105002, so the client refreshes the pair first
    world.clock.advance(timedelta(hours=1))
    fresh = replace(make_tokens(world.clock.now()), access_token="access-2", refresh_token="refresh-2")
    world.api.refreshed_tokens = fresh
    # when a registration, or the processing of an event, calls TikTok
    if path == "registration":
        await register_shop_webhooks(world.uow, world.api.factory, world.clock, world.shop.id, "https://x.example/w")
    else:
        await world.receive(1, {"order_id": oid(1)}, "n1")
        await world.process()
    # then the new pair is stored, dated now (the token sweep plans the next refresh from that date)
    shop = world.store.shops[world.shop.id]
    assert shop.tokens.access_token == "access-2" and shop.tokens.refresh_token == "refresh-2"
    assert shop.tokens_refreshed_at == world.clock.now()


async def test_a_backlog_larger_than_one_batch_is_processed_in_batches(world: World) -> None:
    for i in range(20):
        await world.receive(1, {"order_id": oid(i)}, f"n{i}")
    assert await intake.process_shop_events(world.deps, world.shop.id, batch_size=7) == 20
    assert [len(call) for call in world.api.order_calls] == [7, 7, 6]
    assert {outcome for _, outcome, _ in world.outcomes()} == {EventOutcome.PROCESSED}
