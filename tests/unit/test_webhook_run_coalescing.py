"""The `process_webhook_events` actor's runs of one shop, over the fakes of the intake's ports: runs take turns,
and a message arriving while another run of the shop already waits its turn returns at once (that run starts
later and sees every event committed before the message was sent)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from adapters.config import load_settings
from domain.catalog import Order
from domain.intake import EventOutcome, Notification
from domain.services import inbox, intake
from domain.sync import RecordFailure
from tests.fakes import T0, FakeClock, FakeRefreshApi, FakeStore, FakeUnitOfWork, make_order, make_shop
from workers.broker import setup_broker

SHOP = "7001"


class HeldApi(FakeRefreshApi):
    """Get Order Detail that waits for the test to let it answer (a run in flight)."""

    def __init__(self, orders: list[Order]) -> None:
        super().__init__(orders, [])
        self.called = asyncio.Event()
        self.answer = asyncio.Event()

    async def get_orders(self, ids: Iterable[str]) -> list[Order | RecordFailure]:
        self.called.set()
        await self.answer.wait()
        return await super().get_orders(ids)


async def test_a_message_behind_a_waiting_run_of_its_shop_returns_at_once(tmp_path: Path) -> None:
    broker = setup_broker(load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}))
    from workers.actors import _process_webhook_events

    store, clock = FakeStore(), FakeClock()
    shop = make_shop(now=T0 - timedelta(days=2), tiktok_shop_id=SHOP)
    store.shops[shop.id] = shop
    orders = [replace(make_order(i, T0 - timedelta(days=1)), tiktok_order_id=str(576000000000 + i)) for i in range(4)]
    api = HeldApi(orders)
    deps = intake.IntakeDeps(lambda: FakeUnitOfWork(store), api.factory, clock)

    async def receive(i: int) -> None:
        clock.advance(timedelta(seconds=1))
        note = Notification(1, f"n{i}", SHOP, int(T0.timestamp()), {"order_id": orders[i].tiktok_order_id})
        await inbox.receive_notification(lambda: FakeUnitOfWork(store), clock, note)

    await receive(0)
    # given a run of the shop in flight (waiting for TikTok's answer)
    first = asyncio.create_task(_process_webhook_events(deps, shop.id))
    await api.called.wait()
    # when three more events arrive, each with its message
    runs = []
    for i in (1, 2, 3):
        await receive(i)
        runs.append(asyncio.create_task(_process_webhook_events(deps, shop.id)))
    await asyncio.sleep(0)
    # then the first message waits its turn and the two others return at once
    assert [run.done() for run in runs] == [False, True, True]
    api.answer.set()
    await asyncio.gather(first, *runs)
    # and every event is processed, in two runs: one Get Order Detail each
    assert {e.outcome for e in store.webhook_events.values()} == {EventOutcome.PROCESSED}
    assert api.order_calls == [[orders[0].tiktok_order_id], [o.tiktok_order_id for o in orders[1:]]]
    broker.close()


async def test_a_run_waiting_for_its_shops_turn_renews_its_mark_meanwhile(tmp_path: Path, monkeypatch) -> None:
    """Rule (workers/actors.py `_process_webhook_events`): a message waiting for its shop's turn is the shop's waiting
    message; it renews its coalescing mark every REARM_SECONDS (`waiting()`), or the mark aged past
    ORPHANED_AFTER_SECONDS and let one more message through per 10 s while a long run held the turn."""
    broker = setup_broker(load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}))
    import workers.actors as actors

    monkeypatch.setattr(actors, "REARM_SECONDS", 0.01)
    store, clock = FakeStore(), FakeClock()
    shop = make_shop(now=T0 - timedelta(days=2), tiktok_shop_id=SHOP)
    store.shops[shop.id] = shop
    orders = [replace(make_order(i, T0 - timedelta(days=1)), tiktok_order_id=str(576000000000 + i)) for i in range(2)]
    api = HeldApi(orders)
    deps = intake.IntakeDeps(lambda: FakeUnitOfWork(store), api.factory, clock)
    for i in range(2):
        clock.advance(timedelta(seconds=1))
        note = Notification(1, f"n{i}", SHOP, int(T0.timestamp()), {"order_id": orders[i].tiktok_order_id})
        await inbox.receive_notification(lambda: FakeUnitOfWork(store), clock, note)
        if i == 0:
            # given a run of the shop holding its turn (waiting for TikTok's answer)
            first = asyncio.create_task(actors._process_webhook_events(deps, shop.id))
            await api.called.wait()
    # when another message's run waits for the turn
    renewed, started = asyncio.Event(), asyncio.Event()

    async def waiting() -> None:
        renewed.set()

    async def start() -> None:
        started.set()

    second = asyncio.create_task(actors._process_webhook_events(deps, shop.id, start, waiting))
    # then it renews its mark while it waits, and starts (clearing it) only once it has the turn
    await asyncio.wait_for(renewed.wait(), 30)
    assert not started.is_set()
    api.answer.set()
    await asyncio.gather(first, second)
    assert started.is_set()
    assert {e.outcome for e in store.webhook_events.values()} == {EventOutcome.PROCESSED}
    broker.close()
