"""The inbox over fakes: a batch of notifications stored in one transaction, in order, with its shops resolved;
per notification the stored event or None for one already stored or repeated earlier in the same batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.intake import TIKTOK_RETRY_SPAN, EventOutcome, Notification, released_key
from domain.services import inbox
from tests.fakes import T0, FakeClock, FakeStore, FakeUnitOfWork, make_shop

NOW = T0 + timedelta(minutes=5)


class World:
    def __init__(self) -> None:
        self.store, self.clock = FakeStore(), FakeClock(NOW)
        self.shops = {tid: make_shop("m1", now=T0, tiktok_shop_id=tid) for tid in ("7001", "7002")}
        for shop in self.shops.values():
            self.store.shops[shop.id] = shop

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)


@pytest.fixture
def world() -> World:
    return World()


def note(key: str | None, shop: str | None = "7001", type_: int = 1, at: int | None = 1748779200) -> Notification:
    return Notification(type_, key, shop, at, {"order_id": "576000000000001"})


async def test_a_batch_is_stored_in_one_commit_each_with_its_shop_and_times(world: World) -> None:
    events = await inbox.receive_notifications(
        world.uow, world.clock, [note("n1"), note("n2", shop="7002", type_=5, at=None)]
    )
    assert world.store.commits == 1
    first, second = events
    assert first is not None and second is not None
    assert (first.shop_id, first.tiktok_shop_id, first.type, first.outcome) == (
        world.shops["7001"].id,
        "7001",
        1,
        EventOutcome.PENDING,
    )
    assert (first.received_at, first.notified_at) == (NOW, datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
    assert (second.shop_id, second.type, second.notified_at) == (world.shops["7002"].id, 5, None)
    assert {e.id for e in world.store.webhook_events.values()} == {first.id, second.id}


async def test_repeats_in_a_batch_and_notifications_already_stored_give_none(world: World) -> None:
    (stored,) = await inbox.receive_notifications(world.uow, world.clock, [note("old")])
    events = await inbox.receive_notifications(
        world.uow, world.clock, [note("n1"), note("old"), note("n1"), note("n2"), note("n2")]
    )
    assert stored is not None
    assert [e is not None for e in events] == [True, False, False, True, False]
    assert len(world.store.webhook_events) == 3
    kept = {e.notification_key: e.id for e in world.store.webhook_events.values()}
    assert events[0] is not None and events[3] is not None
    assert set(kept.values()) == {stored.id, events[0].id, events[3].id}  # the first of each key is the one stored


async def test_an_undated_notification_repeats_a_stored_one_only_within_tiktoks_retry_span(world: World) -> None:
    # given a notification with neither id nor push time stored, and a dated one with the same data
    undated, dated = note(None, type_=6, at=None), note(None, type_=6)
    first = await inbox.receive_notifications(world.uow, world.clock, [undated, dated])
    assert all(e is not None for e in first)
    # when the same undated envelope comes within TikTok's retry span of that receipt: a retry, dropped
    world.clock.advance(TIKTOK_RETRY_SPAN - timedelta(seconds=1))
    assert await inbox.receive_notifications(world.uow, world.clock, [undated, undated, dated]) == [None] * 3
    # when it comes again after the span: no retry of it (TikTok's retries end by then), a new event, once
    world.clock.advance(timedelta(seconds=2))
    again, repeated, redated = await inbox.receive_notifications(world.uow, world.clock, [undated, undated, dated])
    assert again is not None and (repeated, redated) == (None, None)  # a dated push is its time: still a retry
    assert len(world.store.webhook_events) == 3
    # and the first keeps its row under a key of its own
    assert first[0] is not None and world.store.webhook_events[first[0].id].notification_key == released_key(
        first[0].id
    )
    assert world.store.webhook_events[again.id].notification_key == first[0].notification_key


async def test_notifications_of_no_or_an_unknown_shop_are_kept_but_ignored(world: World) -> None:
    events = await inbox.receive_notifications(
        world.uow, world.clock, [note("a", shop=None), note("b", shop=""), note("c", shop="7999"), note("d")]
    )
    assert [(e.shop_id, e.outcome, e.error_code) for e in events if e is not None] == [
        (None, EventOutcome.IGNORED, "UNKNOWN_SHOP"),
        (None, EventOutcome.IGNORED, "UNKNOWN_SHOP"),
        (None, EventOutcome.IGNORED, "UNKNOWN_SHOP"),
        (world.shops["7001"].id, EventOutcome.PENDING, None),
    ]
    assert len(world.store.webhook_events) == 4


async def test_a_batch_with_no_shop_id_at_all_resolves_nothing(world: World) -> None:
    (event,) = await inbox.receive_notifications(world.uow, world.clock, [note("a", shop=None)])
    assert event is not None and (event.shop_id, event.outcome) == (None, EventOutcome.IGNORED)


async def test_one_notification_is_a_batch_of_one(world: World) -> None:
    event = await inbox.receive_notification(world.uow, world.clock, note("one"))
    assert event is not None and event.shop_id == world.shops["7001"].id
    assert await inbox.receive_notification(world.uow, world.clock, note("one")) is None
