"""The webhook inbox on SQLite and PostgreSQL, and the catalog's "an older version changes nothing" rule."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.tables import orders, products
from domain.intake import EventOutcome, Notification, WebhookEvent
from domain.ports import UpsertCounts
from domain.shops import Shop
from tests.integration.db_samples import NOW, add_shop, make_order, make_product, make_shop, row_counts


@pytest.fixture
async def shop(database: Database, cipher: TokenCipher) -> Shop:
    return await add_shop(uow_factory(database, cipher), make_shop())


def event(shop: Shop | None, tts_id: str | None, at=NOW, data: dict | None = None) -> WebhookEvent:
    notification = Notification(
        1, tts_id, shop.tiktok_shop_id if shop else "7000", 1_700_000_000, data or {"order_id": "1"}
    )
    return WebhookEvent.receive(notification, shop.id if shop else None, at)


async def test_a_notification_is_stored_once(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        assert await uow.webhook_events.resolve_shop(shop.tiktok_shop_id) == shop.id
        assert await uow.webhook_events.resolve_shop("7999") is None
        assert await uow.webhook_events.add(event(shop, "111")) is True
        assert await uow.webhook_events.add(event(shop, "111", NOW + timedelta(seconds=5))) is False
        assert await uow.webhook_events.add(event(None, None, data={"order_id": 18446744073709551617})) is True
        await uow.commit()

    # concurrent deliveries of one notification: exactly one row
    async def deliver() -> bool:
        async with uows() as uow:
            stored = await uow.webhook_events.add(event(shop, "222", NOW + timedelta(minutes=1)))
            await uow.commit()
            return stored

    assert sorted(await asyncio.gather(*(deliver() for _ in range(8)))) == [False] * 7 + [True]
    async with uows() as uow:
        pending = await uow.webhook_events.pending(shop.id, 10)
    assert [e.tts_notification_id for e in pending] == ["111", "222"]
    assert pending[0].received_at == NOW and pending[0].outcome is EventOutcome.PENDING
    assert pending[0].notified_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # timestamp 1700000000


async def test_events_are_scoped_saved_and_deleted_with_their_shop(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    uows = uow_factory(database, cipher)
    stored = event(shop, "333")
    async with uows() as uow:
        await uow.webhook_events.add(stored)
        await uow.commit()
    async with uows() as uow:
        assert await uow.webhook_events.get(stored.id, "someone-else") is None
        loaded = await uow.webhook_events.get(stored.id, shop.merchant_id)
        assert loaded is not None and loaded.data == {"order_id": "1"}
        loaded.attempts = 1
        loaded.finish(NOW, EventOutcome.FAILED, "ORDER_NOT_FOUND", "gone")
        await uow.webhook_events.save([loaded])
        await uow.webhook_events.note_webhook_received(shop.id, NOW)
        await uow.webhook_events.note_webhook_received(shop.id, NOW - timedelta(hours=1))  # never moves back
        await uow.commit()
    async with uows() as uow:
        again = await uow.webhook_events.get(stored.id)
        assert again is not None
        assert (again.outcome, again.attempts, again.error_code, again.processed_at) == (
            EventOutcome.FAILED, 1, "ORDER_NOT_FOUND", NOW,
        )  # fmt: skip
        reloaded = await uow.shops.get(shop.id)
        assert reloaded is not None and reloaded.last_webhook_at == NOW
        assert await uow.webhook_events.pending(shop.id, 10) == []
        await uow.shops.delete(shop.id)
        await uow.commit()
    assert (await row_counts(database, shop.id))["webhook_events"] == 0


async def test_replay_failed_makes_only_the_shops_events_failed_with_the_code_pending_again(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    # given three events of the shop: FAILED for its lost authorization, FAILED otherwise, and PROCESSED
    uows = uow_factory(database, cipher)
    revoked, missing, done = event(shop, "r"), event(shop, "m"), event(shop, "d")
    revoked.attempts = 2
    revoked.finish(NOW, EventOutcome.FAILED, "REAUTHORIZATION_REQUIRED", "re-authorize it, then replay the event")
    missing.finish(NOW, EventOutcome.FAILED, "ORDER_NOT_FOUND", "gone")
    done.finish(NOW, EventOutcome.PROCESSED)
    async with uows() as uow:
        for stored in (revoked, missing, done):
            await uow.webhook_events.add(stored)
        await uow.commit()
    # when the re-authorization replays the shop's REAUTHORIZATION_REQUIRED ones (another shop's id: none)
    async with uows() as uow:
        assert await uow.webhook_events.replay_failed("another-shop", "REAUTHORIZATION_REQUIRED") == 0
        assert await uow.webhook_events.replay_failed(shop.id, "REAUTHORIZATION_REQUIRED") == 1
        await uow.commit()
    # then that one is PENDING again, its error and processing time cleared and its attempts kept; the others stay
    async with uows() as uow:
        (pending,) = await uow.webhook_events.pending(shop.id, 10)
        assert (pending.id, pending.attempts, pending.error_code, pending.error_message, pending.processed_at) == (
            revoked.id, 2, None, None, None,
        )  # fmt: skip
        kept = [await uow.webhook_events.get(e.id) for e in (missing, done)]
    assert [(e.outcome, e.error_code) for e in kept if e] == [
        (EventOutcome.FAILED, "ORDER_NOT_FOUND"), (EventOutcome.PROCESSED, None),
    ]  # fmt: skip


async def test_an_older_order_or_product_changes_nothing(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    order_v1 = make_order("o1", status="AWAITING_SHIPMENT")
    order_v2 = replace(order_v1, status="CANCELLED", updated_at=order_v1.updated_at + timedelta(minutes=5))
    product_v1 = make_product("p1", title="Old title")
    product_v2 = replace(product_v1, title="New title", updated_at=product_v1.updated_at + timedelta(minutes=5))
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [order_v2])
        await uow.catalog.upsert_products(shop.id, [product_v2])
        await uow.commit()
    # when a late re-fetch (older update_time) arrives
    async with uows() as uow:
        assert await uow.catalog.upsert_orders(shop.id, [order_v1]) == UpsertCounts(unchanged=1)
        assert await uow.catalog.upsert_products(shop.id, [product_v1]) == UpsertCounts(unchanged=1)
        await uow.commit()
    # then the newer versions stay
    async with database.read_sessionmaker() as session:
        assert (await session.execute(select(orders.c.status))).scalar_one() == "CANCELLED"
        assert (await session.execute(select(products.c.title))).scalar_one() == "New title"
    # and a newer one still replaces it, as does a change at the same update_time and stage (a status earlier in
    # TikTok's order life at that time is the older version: test_contract_catalog)
    order_v3 = replace(order_v2, recipient_name="Bo")
    async with uows() as uow:
        assert await uow.catalog.upsert_orders(shop.id, [order_v3]) == UpsertCounts(updated=1)
        await uow.commit()


async def test_concurrent_writers_keep_the_newest_order(database: Database, cipher: TokenCipher, shop: Shop) -> None:
    uows = uow_factory(database, cipher)
    base = make_order("o9", items=2)
    await_first = make_order("o9", items=3)  # the older version has another line item
    versions = [
        replace(await_first, status="UNPAID", updated_at=base.updated_at),
        replace(base, status="DELIVERED", updated_at=base.updated_at + timedelta(minutes=9)),
    ]

    async def write(order: object) -> None:
        async with uows() as uow:
            await uow.catalog.upsert_orders(shop.id, [order])  # type: ignore[list-item]
            await uow.commit()

    for _ in range(5):
        await asyncio.gather(write(versions[0]), write(versions[1]))
        async with database.read_sessionmaker() as session:
            assert (await session.execute(select(orders.c.status))).scalar_one() == "DELIVERED"
        assert (await row_counts(database, shop.id))["line_items"] == 2


async def test_shops_with_events_left_pending_are_enqueued_again(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    from domain.services.intake import resume_pending_events
    from tests.fakes import FakeClock, FakeTaskQueue

    uows = uow_factory(database, cipher)
    async with uows() as uow:
        await uow.webhook_events.add(event(shop, "444", NOW))
        await uow.webhook_events.add(event(None, "445", NOW))  # no shop: never processed, never re-sent
        await uow.commit()
    queue = FakeTaskQueue()
    # not yet stale: left alone
    assert await resume_pending_events(uows, queue, FakeClock(NOW + timedelta(seconds=30)), timedelta(minutes=5)) == []
    # stale: its shop is enqueued
    later = FakeClock(NOW + timedelta(minutes=6))
    assert await resume_pending_events(uows, queue, later, timedelta(minutes=5)) == [shop.id]
    assert queue.webhook_events == [shop.id]


async def test_the_tick_enqueues_shops_with_events_unread_20_s_after_they_came_within_two_minutes(
    database: Database, cipher: TokenCipher, shop: Shop
) -> None:
    """Rule (`intake.resume_unread_events`, the scheduler's tick): an event no run has read 20 s after it came had
    its message lost (a try-out saw a burst's events PENDING until the shop's next webhook, 87 s; the stale sweep
    looks after 300 s): its shop's processing is sent again. An event a run read and left PENDING (a retry of its
    own: TikTok down, an order not served yet) keeps its pace; an older one is the stale sweep's."""
    from domain.services.intake import resume_unread_events
    from tests.fakes import FakeClock, FakeTaskQueue

    uows = uow_factory(database, cipher)
    read = event(shop, "447", NOW)
    read.attempts = 1  # a run read it, and left it PENDING for a retry of its own
    async with uows() as uow:
        await uow.webhook_events.add(event(shop, "446", NOW))
        await uow.webhook_events.add(read)
        await uow.commit()
    queue = FakeTaskQueue()
    # unread for 19 s: left alone (its message's run may be about to read it)
    assert await resume_unread_events(uows, queue, FakeClock(NOW + timedelta(seconds=19))) == []
    # unread for 21 s: its shop is enqueued
    assert await resume_unread_events(uows, queue, FakeClock(NOW + timedelta(seconds=21))) == [shop.id]
    assert queue.webhook_events == [shop.id]
    # past the two minutes' window: the stale sweep's
    assert await resume_unread_events(uows, queue, FakeClock(NOW + timedelta(minutes=3))) == []
    # read once (its own retry's pace): not the tick's
    async with uows() as uow:
        unread = next(e for e in await uow.webhook_events.pending(shop.id, 10) if e.attempts == 0)
        unread.attempts = 1
        await uow.webhook_events.save([unread])
        await uow.commit()
    assert await resume_unread_events(uows, queue, FakeClock(NOW + timedelta(seconds=21))) == []
