"""Webhooks 27 (inventory status change) and 42 (combined listing change) over fakes: what they make Shopbridge
do (live-sync.md §7.6), and that neither is subscribed through the Event API (it has no name for them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.errors import ErrorCode
from domain.intake import INTERPRETED_EVENT_TYPES, SUBSCRIBED_EVENT_TYPES, EventOutcome, Notification
from domain.ports import AuthorizationLostError
from domain.services import inbox, intake
from domain.services.webhook_registration import register_shop_webhooks
from tests.fakes import (
    T0,
    FakeClock,
    FakeRefreshApi,
    FakeStore,
    FakeTaskQueue,
    FakeUnitOfWork,
    make_order,
    make_product,
    make_shop,
)

TIKTOK_SHOP = "7001"
SKU = "1729592969712207013"


def pid(i: int) -> str:
    return str(1729000000 + i)


class World:
    def __init__(self) -> None:
        self.store, self.clock, self.queue = FakeStore(), FakeClock(), FakeTaskQueue()
        products = [replace(make_product(i), tiktok_product_id=pid(i)) for i in range(3)]
        self.api = FakeRefreshApi([make_order(0, T0 - timedelta(days=1))], products)
        self.shop = make_shop(now=T0 - timedelta(days=2), tiktok_shop_id=TIKTOK_SHOP)
        self.store.shops[self.shop.id] = self.shop
        self.deps = intake.IntakeDeps(self.uow, self.api.factory, self.clock, queue=self.queue)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    async def receive(self, type_: int, data: dict, tts_id: str) -> None:
        self.clock.advance(timedelta(seconds=1))
        await inbox.receive_notification(self.uow, self.clock, Notification(type_, tts_id, TIKTOK_SHOP, None, data))

    def outcomes(self) -> list[tuple[int, EventOutcome, str | None]]:
        events = sorted(self.store.webhook_events.values(), key=lambda e: (e.received_at, e.id))
        return [(e.type, e.outcome, e.error_code) for e in events]


def low_stock(sku_id: object = SKU) -> dict:
    """Webhook 27's data as TikTok documents it (live-sync.md §2.4)."""
    return {
        "product_id": pid(1),
        "sku_id": sku_id,
        "current_inventory_status": "LOW_STOCK",
        "trigger_reason": {"alert_type": "REALTIME", "lead_days": 0, "low_stock_threshold": 5},
        "inventory_distribution": {"total": 3, "available": 3, "creator_reserved": 0, "campaign_reserved": 0,
                                   "committed": 0},
    }  # fmt: skip


async def test_an_inventory_status_change_sends_the_shops_reconcile_once_per_batch() -> None:
    # given two stock alerts of the shop's SKUs in one batch
    world = World()
    await world.receive(27, low_stock(), "a")
    await world.receive(27, low_stock(int(SKU) + 1), "b")  # a JSON number, as product ids may come
    # when they are processed
    assert await intake.process_shop_events(world.deps, world.shop.id) == 2
    # then both are PROCESSED with what was done, and the shop's reconcile (which reads those SKUs at TikTok) is
    # sent once, after the commit; nothing else is asked of TikTok
    assert world.outcomes() == [(27, EventOutcome.PROCESSED, None)] * 2
    assert {e.error_message for e in world.store.webhook_events.values()} == {intake.RECONCILE_SENT}
    assert world.queue.inventory_reconciles == [world.shop.id]
    assert (world.api.order_calls, world.api.product_calls) == ([], [])
    # and a replay reconciles again (idempotent: the reconcile only reads and pushes what drifted)
    event = next(iter(world.store.webhook_events.values()))
    await intake.replay_event(world.uow, world.queue, world.shop.merchant_id, event.id)
    await intake.process_shop_events(world.deps, world.shop.id)
    assert world.queue.inventory_reconciles == [world.shop.id] * 2


async def test_an_inventory_status_change_of_a_revoked_shop_waits_for_its_reauthorization() -> None:
    world = World()
    await world.receive(5, {"product_id": pid(1)}, "p")
    await world.receive(27, low_stock(), "a")
    world.api.error = AuthorizationLostError("revoked")
    await intake.process_shop_events(world.deps, world.shop.id)
    code = ErrorCode.REAUTHORIZATION_REQUIRED.value
    assert world.outcomes() == [(5, EventOutcome.FAILED, code), (27, EventOutcome.FAILED, code)]
    assert world.queue.inventory_reconciles == []


async def test_an_inventory_status_change_without_a_sku_id_is_malformed() -> None:
    world = World()
    await world.receive(27, {**low_stock(), "sku_id": None}, "a")
    await intake.process_shop_events(world.deps, world.shop.id)
    assert world.outcomes() == [(27, EventOutcome.FAILED, "MALFORMED_EVENT")]
    assert world.queue.inventory_reconciles == []


async def test_a_combined_listing_change_refreshes_its_products_as_a_product_event_does() -> None:
    # given a combined listing change naming two of the shop's products, one as an object, one as a JSON number
    world = World()
    data = {"combined_listing_id": "8800", "products": [{"product_id": pid(1)}, int(pid(2)), {"product_id": pid(1)}],
            "status": "ACTIVE", "change_type": "UPDATE"}  # fmt: skip
    await world.receive(42, data, "a")
    # when it is processed
    await intake.process_shop_events(world.deps, world.shop.id)
    # then each product is read once with Get Product and stored (the fetch relinks its SKUs, as 5/15/16's do)
    assert world.api.product_calls == [pid(1), pid(2)]
    assert set(world.store.shop_products(world.shop.id)) == {pid(1), pid(2)}
    assert world.outcomes() == [(42, EventOutcome.PROCESSED, None)]


async def test_types_27_and_42_are_interpreted_but_not_put_to_the_event_api() -> None:
    world = World()
    address = "https://shopbridge.example/webhooks/tiktok"
    assert await register_shop_webhooks(world.uow, world.api.factory, world.clock, world.shop.id, address)
    put = {name for _, name in world.api.registrations}
    assert put == {t.name for t in SUBSCRIBED_EVENT_TYPES} and len(world.api.registrations) == 9
    assert not put & {"INVENTORY_STATUS_CHANGE", "COMBINED_LISTING_CHANGE"}
    assert {t.value for t in INTERPRETED_EVENT_TYPES} == {1, 4, 5, 6, 7, 11, 12, 15, 16, 27, 42}
