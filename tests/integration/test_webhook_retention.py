"""The webhook inbox's retention on SQLite and PostgreSQL: settled events past the retention period are deleted in
bounded batches, PENDING ones never; two sweeps at once share the work; the worker's sweep runs it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.tables import webhook_events
from domain.intake import EventOutcome, Notification, WebhookEvent
from domain.services.inbox import SETTLED_EVENTS
from domain.services.retention import prune
from domain.shops import Shop
from tests.fakes import FakeClock
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, sync_settings, utc_now
from tests.integration.db_samples import NOW, add_shop, make_shop

RETENTION = timedelta(days=7)
SWEEP_WAIT_SECONDS = 15.0  # the sweep runs every 0.5 to 1 s here: many turns, even on a loaded machine


def _event(shop: Shop | None, tts_id: str, received_at, outcome: EventOutcome = EventOutcome.PROCESSED) -> WebhookEvent:
    notification = Notification(1, tts_id, shop.tiktok_shop_id if shop else "7000", 1_700_000_000, {"order_id": "1"})
    event = WebhookEvent.receive(notification, shop.id if shop else None, received_at)  # no shop: IGNORED at once
    if shop is not None and outcome is not EventOutcome.PENDING:
        event.finish(received_at + timedelta(seconds=1), outcome)
    return event


async def _store(database: Database, cipher: TokenCipher, events: list[WebhookEvent]) -> None:
    async with uow_factory(database, cipher)() as uow:
        await uow.webhook_events.add_many(events)
        await uow.commit()


async def _stored_ids(database: Database) -> set[str]:
    async with database.read_sessionmaker() as session:
        return set((await session.execute(select(webhook_events.c.id))).scalars())


async def test_settled_events_past_the_retention_are_deleted_in_batches_and_pending_ones_kept(
    database: Database, cipher: TokenCipher
) -> None:
    # given a shop's inbox: five settled events received 8 days ago (processed, failed, one of no shop: ignored),
    # one PENDING as old, and settled ones 6 days old
    shop = await add_shop(uow_factory(database, cipher), make_shop())
    old = NOW - timedelta(days=8)
    expired = [
        _event(shop, "1", old),
        _event(shop, "2", old + timedelta(minutes=1), EventOutcome.FAILED),
        _event(None, "3", old + timedelta(minutes=2)),
        _event(shop, "4", old + timedelta(minutes=3), EventOutcome.IGNORED),
        _event(shop, "5", old + timedelta(minutes=4)),
    ]
    pending = _event(shop, "6", old - timedelta(days=30), EventOutcome.PENDING)
    recent = [_event(shop, "7", NOW - timedelta(days=6)), _event(None, "8", NOW - timedelta(days=6))]
    await _store(database, cipher, [*expired, pending, *recent])
    uows = uow_factory(database, cipher)
    # when the sweep runs with a retention of 7 days, two events per transaction
    deleted = await prune(uows, FakeClock(NOW), SETTLED_EVENTS, RETENTION, batch_size=2, pause_seconds=0)
    # then the five expired ones are gone, the PENDING one (work to do) and the recent ones stay
    assert deleted == 5
    assert await _stored_ids(database) == {pending.id, *(e.id for e in recent)}
    # and a retry of a recent notification is still recognised as one
    async with uows() as uow:
        assert await uow.webhook_events.add(_event(shop, "7", NOW)) is False
        await uow.commit()
    # and running it again changes nothing
    assert await prune(uows, FakeClock(NOW), SETTLED_EVENTS, RETENTION, batch_size=2, pause_seconds=0) == 0
    # and one call deletes at most max_batches * batch_size: the next sweep goes on
    await _store(database, cipher, [_event(shop, f"b{n}", old) for n in range(5)])
    assert await prune(uows, FakeClock(NOW), SETTLED_EVENTS, RETENTION, batch_size=2, max_batches=2) == 4
    assert await prune(uows, FakeClock(NOW), SETTLED_EVENTS, RETENTION, batch_size=2, max_batches=2) == 1


async def test_two_sweeps_at_once_delete_each_event_once(database: Database, cipher: TokenCipher) -> None:
    # given 60 expired settled events
    shop = await add_shop(uow_factory(database, cipher), make_shop())
    old = NOW - timedelta(days=9)
    await _store(database, cipher, [_event(shop, str(n), old + timedelta(seconds=n)) for n in range(60)])
    uows = uow_factory(database, cipher)

    async def sweep() -> int:
        total = 0
        while deleted := await prune(uows, FakeClock(NOW), SETTLED_EVENTS, RETENTION, batch_size=5, pause_seconds=0):
            total += deleted
        return total

    # when two sweeps (two worker processes) run at once
    counts = await asyncio.gather(sweep(), sweep())
    # then together they deleted every one exactly once, without an error
    assert sum(counts) == 60
    assert await _stored_ids(database) == set()


async def test_a_sweep_on_postgres_never_waits_for_an_event_another_transaction_holds(
    postgres_url: str, cipher: TokenCipher
) -> None:
    # given three expired settled events, one of them locked by another transaction (a replay writing it)
    database = Database(postgres_url)
    try:
        shop = await add_shop(uow_factory(database, cipher), make_shop())
        old = NOW - timedelta(days=8)
        events = [_event(shop, str(n), old + timedelta(minutes=n)) for n in range(3)]
        await _store(database, cipher, events)
        async with database.write_sessionmaker() as holder, holder.begin():
            locked = select(webhook_events.c.id).where(webhook_events.c.id == events[0].id).with_for_update()
            await holder.execute(locked)
            # when the sweep runs meanwhile
            sweep = asyncio.create_task(
                prune(uow_factory(database, cipher), FakeClock(NOW), SETTLED_EVENTS, RETENTION, pause_seconds=0)
            )
            finished, _ = await asyncio.wait({sweep}, timeout=SWEEP_WAIT_SECONDS)
        deleted = await sweep  # the lock is released by now, whatever happened
        # then it deleted the two others at once instead of waiting (or deadlocking with another sweep)
        assert finished, "the sweep waited for the locked event"
        assert deleted == 2
        assert await _stored_ids(database) == {events[0].id}
    finally:
        await database.dispose()


async def test_the_workers_sweep_prunes_the_inbox(database_url: str, sandbox: SandboxServer, tmp_path: Path) -> None:
    # given an embedded worker pool whose sweep runs every second, and an inbox with an expired settled event
    settings = sync_settings(database_url, sandbox, tmp_path, sync_stale_after_seconds=1)
    assert settings.webhook_retention_seconds == 7 * 24 * 3600  # the default
    harness = SyncHarness(settings)
    try:
        expired = _event(None, "1", utc_now() - timedelta(days=8))  # of no connected shop: IGNORED, settled
        kept = _event(None, "2", utc_now() - timedelta(days=6))
        async with harness.uow_factory() as uow:
            await uow.webhook_events.add_many([expired, kept])
            await uow.commit()
        # when the worker runs
        harness.start_worker()
        # then its sweep deletes the expired event within a few seconds, and keeps the other
        deadline = asyncio.get_running_loop().time() + SWEEP_WAIT_SECONDS
        while True:
            async with harness.db.read_sessionmaker() as session:
                ids = set((await session.execute(select(webhook_events.c.id))).scalars())
            if expired.id not in ids or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.1)
        assert ids == {kept.id}
    finally:
        await harness.close()
