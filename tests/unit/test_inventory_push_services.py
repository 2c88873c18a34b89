"""Pushing the pool to TikTok over fakes (`push_shop`): what Update Inventory is sent, what is recorded on the links
and the outbox for each of TikTok's answers, the metrics an operator reads, and the shops that are not pushed."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from domain.catalog import Money, Product, Sku, WarehouseStock
from domain.inventory_push import InventoryPolicy, push_backoff
from domain.ports import AuthorizationLostError, GatewayRefusedError, PoolChange, TikTokUnavailableError
from domain.services.inventory_push import PushDeps, PushMetrics, push_shop
from domain.stock_levels import InventoryUpdateResult, SkuUpdateFailure, Warehouse
from tests.fakes import T0, FakeClock, FakeEventPublisher, FakeStore, FakeUnitOfWork, make_shop
from tests.fakes_inventory_push import FakeInventoryApi, FakeLink, FakeOutboxRow

NOW = T0 + timedelta(hours=1)
DIRTY_SINCE = NOW - timedelta(seconds=30)


class Metrics(PushMetrics):
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lags: list[float] = []

    def push_sent(self, outcome: str) -> None:
        self.sent.append(outcome)

    def push_lag(self, seconds: float) -> None:
        self.lags.append(seconds)


class World:
    def __init__(self) -> None:
        self.store, self.clock, self.api = FakeStore(), FakeClock(NOW), FakeInventoryApi()
        self.shop = make_shop("m1", now=T0)
        self.store.shops[self.shop.id] = self.shop
        self.metrics = Metrics()
        self.deps = PushDeps(self.uow, self.api.factory, self.clock, "w1", metrics=self.metrics)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def link(self, sku: str, product: str, available: int, *warehouses: str) -> FakeLink:
        return self.store.push.link(
            self.shop.id, FakeLink(sku, f"t-{sku}", product, f"item-{sku}", available, tuple(warehouses))
        )

    def dirty(self, product: str, version: int = 1, attempts: int = 0) -> FakeOutboxRow:
        row = FakeOutboxRow(NOW, DIRTY_SINCE, dirty_version=version, attempts=attempts)
        self.store.push.outbox[(self.shop.id, product)] = row
        return row

    async def push(self):  # type: ignore[no-untyped-def]
        return await push_shop(self.shop.id, self.deps)

    def sent(self) -> list[tuple[str, list[tuple[str, list[tuple[str, int]]]]]]:
        return [
            (product, [(s.sku_id, [(w.warehouse_id, w.quantity) for w in s.warehouses]) for s in skus])
            for product, skus in self.api.updates
        ]


@pytest.fixture
def world() -> World:
    return World()


def refusal(sku: str | None, code: int, message: str = "refused") -> InventoryUpdateResult:
    return InventoryUpdateResult((SkuUpdateFailure(sku, code, message),))


async def test_each_linked_sku_is_set_to_its_target_and_the_outbox_row_is_pushed(world: World) -> None:
    world.store.push.policies[world.shop.id] = InventoryPolicy(share_percent=50, max_quantity=4)
    first, second = world.link("a", "p1", 7, "w1"), world.link("b", "p1", 20)
    row = world.dirty("p1", version=3, attempts=2)
    report = await world.push()
    assert (report.calls, report.products) == (1, 1)
    assert world.sent() == [("p1", [("t-a", [("w1", 3)]), ("t-b", [("", 4)])])]
    assert [(link.pushed_quantity, link.pushed_at) for link in (first, second)] == [(3, NOW), (4, NOW)]
    assert (row.pushed_version, row.attempts, row.claimed_by, row.last_error, row.next_attempt_at) == (
        3, 0, None, None, NOW,
    )  # fmt: skip
    assert world.metrics.sent == ["ok"] and world.metrics.lags == [30.0]
    assert world.api.built_for == [world.shop.id]


async def test_a_push_signals_the_items_of_the_links_it_recorded_once_committed(world: World) -> None:
    """Rule (`_record`): the items whose links a push recorded are signalled after its commit. `inventoryItemUpdated`
    over every item follows signals only: the Inventory list kept "pushed N" of the push before."""
    # given a product due, one of its SKUs refused by TikTok, and a product not due
    world.deps.events = events = FakeEventPublisher()
    world.link("a", "p1", 7), world.link("b", "p1", 3), world.link("c", "p2", 2)
    world.dirty("p1")
    world.api.results = [refusal("t-a", 12019024, "quantity out of range")]
    # when it is pushed
    await world.push()
    # then the items of its links, pushed or refused, are signalled; the product not due is not
    assert sorted(events.item_changes) == ["item-a", "item-b"]


async def test_products_are_claimed_in_batches_until_none_is_left(world: World) -> None:
    for n in range(3):
        world.link(f"s{n}", f"p{n}", 5)
        world.dirty(f"p{n}")
    world.deps.batch = 2
    report = await world.push()
    assert (report.calls, report.products) == (3, 3)
    assert sorted(product for product, _ in world.api.updates) == ["p0", "p1", "p2"]
    assert all(row.pushed_version == 1 for row in world.store.push.outbox.values())
    assert (await world.push()).calls == 0  # nothing due any more


async def test_a_run_limited_to_rounds_stops_with_rows_due_and_says_so_and_the_next_run_goes_on(world: World) -> None:
    # given 5 dirty products, claimed 2 a round
    for n in range(5):
        world.link(f"s{n}", f"p{n}", 5)
        world.dirty(f"p{n}")
    world.deps.batch = 2
    # when a run may push 2 rounds: 4 products, and the fifth is left due
    first = await push_shop(world.shop.id, world.deps, rounds=2)
    assert (first.rounds, first.products, first.more_due) == (2, 4, True)
    assert sum(row.pushed_version == 1 for row in world.store.push.outbox.values()) == 4
    # then the next run pushes the last one and stops with nothing due (not `more_due`)
    second = await push_shop(world.shop.id, world.deps, rounds=2)
    assert (second.rounds, second.products, second.more_due) == (1, 1, False)
    assert sorted(product for product, _ in world.api.updates) == ["p0", "p1", "p2", "p3", "p4"]
    # and a run that finds exactly its rounds' worth stops with nothing due
    for n in range(4):
        world.dirty(f"p{n}", version=2)
    assert (await push_shop(world.shop.id, world.deps, rounds=2)).more_due is False


@pytest.mark.parametrize("why", ["nothing due", "gone", "revoked", "expired", "push disabled", "held by another"])
async def test_nothing_is_sent_for_a_shop_that_cannot_be_pushed(world: World, why: str) -> None:
    world.link("a", "p1", 5)
    row = world.dirty("p1", version=0 if why == "nothing due" else 1)
    if why == "gone":
        del world.store.shops[world.shop.id]
    elif why == "revoked":
        world.shop.revoke(T0)
    elif why == "expired":
        world.clock.current = world.shop.expires_at
    elif why == "push disabled":
        world.store.push.policies[world.shop.id] = InventoryPolicy(push_enabled=False)
    elif why == "held by another":
        row.claimed_by, row.claimed_until = "w2", NOW + timedelta(seconds=1)
    report = await world.push()
    assert (report.calls, report.products, world.api.updates) == (0, 0, [])


async def test_a_product_with_no_linked_sku_left_is_finished_without_a_call(world: World) -> None:
    row = world.dirty("p1")
    report = await world.push()
    assert (report.calls, report.products, row.pushed_version) == (0, 1, 1)
    assert world.metrics.sent == ["noop"] and world.metrics.lags == []


async def test_a_quantity_refused_is_recorded_on_its_sku_and_not_retried(world: World) -> None:
    refused, accepted = world.link("a", "p1", 5), world.link("b", "p1", 6)
    row = world.dirty("p1")
    world.api.results = [refusal("t-a", 12019024, "quantity out of range")]
    await world.push()
    assert (refused.pushed_quantity, refused.push_error_code, refused.push_error_message) == (
        None, "12019024", "quantity out of range",
    )  # fmt: skip
    assert (accepted.pushed_quantity, accepted.push_error_code) == (6, None)
    assert (row.pushed_version, row.last_error) == (1, "1 SKU(s) refused, e.g. 12019024 quantity out of range")
    assert world.metrics.sent == ["partial"] and world.metrics.lags == [30.0]


async def test_a_transient_refusal_is_retried_after_the_backoff(world: World) -> None:
    world.link("a", "p1", 5)
    row = world.dirty("p1", attempts=2)
    world.api.results = [refusal("t-a", 36009003, "internal error")]
    report = await world.push()
    assert (report.calls, report.products) == (1, 1)
    assert (row.pushed_version, row.attempts, row.next_attempt_at, row.claimed_by) == (
        0, 3, NOW + timedelta(seconds=8), None,
    )  # fmt: skip
    assert world.metrics.sent == ["retry"] and world.metrics.lags == []


async def test_a_sku_never_writable_here_is_excluded(world: World) -> None:
    excluded = world.link("a", "p1", 5)
    world.dirty("p1")
    world.api.results = [refusal("t-a", 12052850, "combo")]
    await world.push()
    assert (excluded.state, excluded.push_error_code) == ("EXCLUDED", "12052850")


async def test_an_error_naming_no_sku_sent_counts_for_every_sku(world: World) -> None:
    links = [world.link("a", "p1", 5), world.link("b", "p1", 6)]
    world.dirty("p1")
    world.api.results = [refusal(None, 12052553, "bad request")]
    await world.push()
    assert [(link.push_error_code, link.pushed_quantity) for link in links] == [("12052553", None)] * 2


async def test_changed_warehouses_are_read_again_stored_and_the_sku_retried_once(world: World) -> None:
    moved = world.link("a", "p1", 5, "w-old")
    world.link("b", "p1", 6, "w1")
    row = world.dirty("p1")
    sku = Sku("t-a", "A", Money(Decimal("1.00"), "USD"), (WarehouseStock("w-new", 0),))
    world.api.products["p1"] = Product("p1", "Mug", "ACTIVATE", T0, T0, (sku,))
    world.api.results = [refusal("t-a", 12019028, "warehouse changed")]
    report = await world.push()
    assert report.calls == 2 and world.api.product_calls == ["p1"]
    assert world.sent()[1] == ("p1", [("t-a", [("w-new", 5)])])
    assert (moved.warehouse_ids, moved.pushed_quantity, moved.push_error_code) == (("w-new",), 5, None)
    assert row.pushed_version == 1 and world.metrics.sent == ["ok"]


async def test_tiktok_unavailable_retries_the_product_later(world: World) -> None:
    world.link("a", "p1", 5)
    row = world.dirty("p1")
    world.api.error = TikTokUnavailableError("down")
    report = await world.push()
    assert (report.calls, row.pushed_version, row.attempts, row.last_error) == (0, 0, 1, "TikTok unavailable: down")
    assert row.next_attempt_at == NOW + timedelta(seconds=2) and world.metrics.sent == ["retry"]


async def test_a_lost_authorization_releases_the_claim_and_revokes_the_shop_at_once(world: World) -> None:
    world.link("a", "p1", 5)
    row = world.dirty("p1")
    world.api.error = AuthorizationLostError("105002")
    await world.push()
    assert world.store.shops[world.shop.id].revoked_at == world.clock.now()
    assert (row.pushed_version, row.attempts, row.claimed_by, row.last_error) == (
        0,
        1,
        None,
        "authorization lost: 105002",
    )


@pytest.mark.parametrize(
    ("code", "retry", "failed"),
    [(12052031, False, "12052031"), (36009003, True, "36009003"), (None, False, None)],
)
async def test_a_whole_update_refused_is_recorded_and_retried_only_if_its_code_may_pass(
    world: World, code: int | None, retry: bool, failed: str | None
) -> None:
    link = world.link("a", "p1", 5)
    row = world.dirty("p1")
    error = GatewayRefusedError("product gone")
    if code is not None:
        error.code = code  # type: ignore[attr-defined]
    world.api.error = error
    await world.push()
    assert (row.pushed_version, row.last_error) == (0 if retry else 1, "TikTok refused the update: product gone")
    assert (link.push_error_code, link.push_error_message) == (failed, "product gone" if failed else None)


async def test_a_refusal_as_not_on_sale_whose_product_cannot_be_read_is_retried_with_no_push_error(
    world: World,
) -> None:
    """Rule (README, "A product TikTok does not sell is not pushed"): TikTok's 12052901 sends the push to read the
    product again; when Get Product is unavailable, the status is unknown: no push error is shown (the product is
    likely off sale), the row is retried after its backoff, and the note says why."""
    # given a dirty product TikTok refuses as not on sale, and Get Product down once that refusal came
    link = world.link("a", "p1", 5)
    row = world.dirty("p1")
    not_on_sale = GatewayRefusedError("product status does not allow it")
    not_on_sale.code = 12052901  # type: ignore[attr-defined]
    world.api.error = not_on_sale

    async def down_when_read_again() -> None:
        if world.api.product_calls:
            world.api.error = TikTokUnavailableError("timed out")

    world.api.during_call = down_when_read_again
    # when the shop is pushed
    await world.push()
    # then the product was read again, no push error is shown, and the row is retried after its backoff
    assert world.api.product_calls == ["p1"] and link.push_error_code is None
    assert (row.pushed_version, row.attempts, row.next_attempt_at) == (0, 1, NOW + push_backoff(1))
    assert row.last_error is not None and "Get Product, to read its status: timed out" in row.last_error
    assert world.metrics.sent == ["retry"]


def not_on_sale_refusal() -> GatewayRefusedError:
    refused = GatewayRefusedError("product status does not allow it")
    refused.code = 12052901  # type: ignore[attr-defined]
    return refused


def stored_on_sale(world: World, product_id: str, status: str = "ACTIVATE") -> Product:
    """The product `product_id` stored for the shop (a claim takes only a product stored ACTIVATE), with one SKU."""
    sku = Sku("t-a", "SA", Money(Decimal("9.90"), "USD"), ())
    product = Product(product_id, "Thing", status, T0, T0 + timedelta(minutes=1), (sku,))
    world.store.products[(world.shop.id, product_id)] = product
    return product


@pytest.mark.parametrize("stop_wait", [0, 3600])
async def test_a_stop_while_a_product_refused_as_not_on_sale_is_read_again_leaves_no_intent(
    world: World, stop_wait: int
) -> None:
    """Rule (README, "A product TikTok does not sell is not pushed"): TikTok refused the whole call and kept what it
    had, so the refused call's intents are cleared right after the refusal, before the product is read again (Get
    Product, then up to 3 Search Products x 5 pages, each retried), and a stop then no longer waits for the push.
    Before, they were cleared only once the read was stored: a stop during it (past `stop_wait`) handed the claim
    back with the intent taken for sent (`failed=False`), and the next push took TikTok's unchanged 5 for 4 units
    sold unseen: it pushed 5 and held 4 back, for 9 in the pool (`stop_wait` 0 s); and the stop waited for the read
    (`stop_wait`: 15 s by default; an hour here, past the test's 10 s)."""
    # given a fenced push of a product last pushed at 5 (TikTok shows 5), the pool now at 9, refused as not on sale,
    # and Get Product, reading its status again, that does not answer
    world.deps.fence = True
    world.deps.stop_wait = timedelta(seconds=stop_wait)  # for a call under way, not for the read after it
    link = world.link("a", "p1", 9)
    link.pushed_quantity, link.pushed_at = 5, NOW - timedelta(minutes=5)
    world.api.available["t-a"] = 5
    row = world.dirty("p1")
    reading, never = asyncio.Event(), asyncio.Event()

    async def during() -> None:
        if world.api.product_calls:
            reading.set()
            await never.wait()
        elif world.api.updates:
            raise not_on_sale_refusal()

    world.api.during_call = during
    push = asyncio.create_task(world.push())
    await reading.wait()
    # when the worker stops during that read
    push.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):  # the stop is not held for `stop_wait`: else TimeoutError
            await push
    # then the refused call left no intent, and the row is handed back due now
    assert link.push_intent is None
    assert (row.pushed_version, row.claimed_by, row.next_attempt_at) == (0, None, NOW)
    # and the next push (the product on sale again) sends the pool's 9, holding nothing back
    world.api.during_call = None
    await world.push()
    assert world.sent()[-1] == ("p1", [("t-a", [("", 9)])])
    assert (link.pushed_quantity, link.held_quantity, row.pushed_version) == (9, 0, 1)


async def test_a_refusal_as_not_on_sale_of_a_product_read_on_sale_is_retried_after_its_backoff(world: World) -> None:
    """Rule (README, "A product TikTok does not sell is not pushed"): when the product read again after TikTok's
    12052901 is ACTIVATE (back on sale meanwhile, or TikTok's two answers disagree), TikTok did not take the value
    and the product is sellable: the row stays dirty and is retried after its backoff (the attempt counted, so a
    lasting refusal backs off to 30 min), the refusal shown on the link until a push lands. Before, the row passed
    for pushed (metric `partial`): the pool's value waited for the next stock change or reconcile."""
    # given a dirty product stored ACTIVATE, refused as not on sale, that Get Product then reads ACTIVATE
    world.api.products["p1"] = stored_on_sale(world, "p1")
    link = world.link("a", "p1", 5)
    row = world.dirty("p1")
    world.api.error = not_on_sale_refusal()

    async def on_sale_when_read_again() -> None:
        if world.api.product_calls:
            world.api.error = None

    world.api.during_call = on_sale_when_read_again
    # when the shop is pushed
    await world.push()
    # then the row is due again after its backoff, the refusal shown and counted as a retry
    assert world.api.product_calls == ["p1"]
    assert (row.pushed_version, row.attempts, row.next_attempt_at) == (0, 1, NOW + push_backoff(1))
    assert link.push_error_code == "12052901" and world.metrics.sent == ["retry"]
    # and once due, the pool's value lands and the error is cleared
    world.clock.advance(push_backoff(1))
    await world.push()
    assert world.sent()[-1] == ("p1", [("t-a", [("", 5)])])
    assert (row.pushed_version, link.pushed_quantity, link.push_error_code) == (1, 5, None)


async def test_a_product_refused_as_deleted_is_stored_so_and_its_row_waits_with_no_push_error(world: World) -> None:
    """Rule (README, "A product TikTok does not sell is not pushed"): TikTok's 12052048 (not in the shop) reads the
    product again: Get Product does not serve it and Search Products lists it nowhere, so it is stored DELETED, and
    its row is left dirty, untouched, with no push error (metric `not_on_sale`). The shops whose rows its links'
    change made due are enqueued, but not the run's own: the run claims its rows again before it ends."""
    # given a dirty product stored ACTIVATE that TikTok has deleted, its item linked in another shop too
    enqueued: list[str] = []

    async def enqueue(shop_id: str) -> None:
        enqueued.append(shop_id)

    world.deps.enqueue_push = enqueue
    world.store.push.ledger_change = PoolChange(push_shop_ids=frozenset({world.shop.id, "s-other"}))
    stored_on_sale(world, "p1")
    link = world.link("a", "p1", 5)
    row = world.dirty("p1")
    gone = GatewayRefusedError("product not in the shop")
    gone.code = 12052048  # type: ignore[attr-defined]
    world.api.unserved = {"p1"}

    async def refused_once() -> None:
        if not world.api.product_calls:
            raise gone

    world.api.during_call = refused_once
    # when the shop is pushed
    await world.push()
    # then the product is stored DELETED, its row left dirty and unclaimed, no push error shown
    assert world.store.products[(world.shop.id, "p1")].status == "DELETED"
    assert world.api.product_searches
    assert (row.pushed_version, row.attempts, row.claimed_by, row.last_error) == (0, 0, None, None)
    assert link.push_error_code is None and world.metrics.sent == ["not_on_sale"]
    # and only the other shop's push is enqueued
    assert enqueued == ["s-other"]


@pytest.mark.parametrize("meanwhile", ["shop deleted", "claim lost"])
async def test_a_refusal_as_not_on_sale_whose_row_was_not_left_is_not_counted_so(world: World, meanwhile: str) -> None:
    """Rule (`shopbridge_inventory_pushes_total{outcome="not_on_sale"}`): counted only when the push left the row
    waiting; not when the shop was deleted, or another worker took the row, while the product was read again."""
    # given a dirty product refused as not on sale, that Get Product reads deactivated
    world.api.products["p1"] = replace(stored_on_sale(world, "p1"), status="SELLER_DEACTIVATED")
    world.link("a", "p1", 5)
    row = world.dirty("p1")
    world.api.error = not_on_sale_refusal()

    async def when_read_again() -> None:
        if world.api.product_calls:
            world.api.error = None
            if meanwhile == "shop deleted":
                del world.store.shops[world.shop.id]
            else:
                row.claimed_by = "w2"

    world.api.during_call = when_read_again
    # when the shop is pushed
    await world.push()
    # then nothing is counted as left waiting, and the row is not touched
    assert world.metrics.sent == [] and (row.pushed_version, row.attempts) == (0, 0)


async def test_several_warehouses_put_the_target_on_the_default_sales_warehouse_read_once(world: World) -> None:
    world.link("a", "p1", 5, "w1", "w2", "w3")
    world.dirty("p1")
    world.api.warehouse_list = [
        Warehouse("w3", None, "RETURN_WAREHOUSE", "ENABLED", True),
        Warehouse("w2", None, "SALES_WAREHOUSE", "ENABLED", True),
    ]
    await world.push()
    assert world.sent() == [("p1", [("t-a", [("w1", 0), ("w2", 5), ("w3", 0)])])]
    world.dirty("p1", version=2)
    await world.push()
    assert world.api.warehouse_calls == 1 and world.sent()[1] == world.sent()[0]


async def test_without_a_default_warehouse_the_first_takes_the_target(world: World) -> None:
    world.link("a", "p1", 5, "w2", "w1")
    world.dirty("p1")
    world.api.warehouse_list = [Warehouse("w2", None, None, "ENABLED", False)]
    await world.push()
    assert world.sent() == [("p1", [("t-a", [("w1", 5), ("w2", 0)])])]


async def test_get_warehouses_unavailable_falls_back_to_the_first_warehouse(world: World) -> None:
    world.link("a", "p1", 5, "w2", "w1")
    world.dirty("p1")
    calls = 0

    async def down_once() -> None:
        nonlocal calls
        calls += 1
        if world.api.warehouse_calls == 1 and calls == 1:
            raise TikTokUnavailableError("down")

    world.api.during_call = down_once
    await world.push()
    assert world.sent() == [("p1", [("t-a", [("w1", 5), ("w2", 0)])])]


async def test_one_warehouse_per_sku_never_asks_for_warehouses(world: World) -> None:
    world.link("a", "p1", 5, "w1")
    world.dirty("p1")
    await world.push()
    assert world.api.warehouse_calls == 0


async def test_the_fence_holds_back_sales_tiktok_made_that_the_pool_has_not_ingested(world: World) -> None:
    # given a SKU pushed at 20 an hour ago, TikTok now at 15 (5 sold there), 2 of which the ledger already applied
    world.deps.fence = True
    link = world.link("a", "p1", 18)
    link.pushed_quantity, link.pushed_at = 20, NOW - timedelta(hours=1)
    world.store.push.ingested = [(world.shop.id, "t-a", 2, NOW - timedelta(minutes=5))]
    world.api.available["t-a"] = 15
    world.dirty("p1")
    await world.push()
    # then 3 units are held back: 18 - 3 = 15, which TikTok already shows: nothing is written
    assert world.api.searches == [["t-a"]] and world.api.updates == []
    assert (link.pushed_quantity, world.metrics.sent) == (15, ["noop"])


async def test_a_reading_an_order_batch_overtook_is_taken_again_before_the_write(world: World) -> None:
    # given a SKU in two warehouses pushed at 10 an hour ago (the ledger's count 0 then), TikTok at 10, the pool's 9
    world.deps.fence = True
    link = world.link("a", "p1", 9, "w1", "w2")
    link.pushed_quantity, link.pushed_at, link.ingested_at_push = 10, NOW - timedelta(hours=1), 0
    world.api.available["t-a"] = 10
    world.dirty("p1")
    landed = False

    async def sold_and_ingested() -> None:
        # while the push asks Get Warehouses (after its reading of TikTok, before its intents): a buyer takes 2 units
        # at TikTok (8) and the ledger reserves them (the pool's 7)
        nonlocal landed
        if world.api.warehouse_calls == 1 and not landed:
            landed = True
            world.api.available["t-a"] -= 2
            world.store.push.ingested.append((world.shop.id, "t-a", 2, NOW))
            link.available -= 2

    world.api.during_call = sold_and_ingested
    await world.push()

    # then the push read TikTok again before it wrote, and wrote the pool's 7 once, nothing held or restored: written
    # as first read (9 over TikTok's 8) and paired with the count of before the sale, the 2 units went back on sale and
    # the next push took them for units TikTok restored unseen
    assert world.api.searches == [["t-a"], ["t-a"]]
    assert world.sent() == [("p1", [("t-a", [("w1", 7), ("w2", 0)])])]
    assert (link.pushed_quantity, link.held_quantity, link.restored_quantity, link.ingested_at_push) == (7, 0, 0, 2)


async def _pushed_at_10_and_9_at_tiktok(world: World) -> FakeLink:
    """A SKU of 10 units pushed at 10, TikTok at 9 (1 unit sold unseen, or lowered in Seller Center), pushed by the
    fence: the link after that push."""
    world.deps.fence = True
    link = world.link("a", "p1", 10)
    link.pushed_quantity, link.pushed_at = 10, NOW - timedelta(minutes=5)
    world.api.available["t-a"] = 9
    world.dirty("p1")
    await world.push()
    return link


async def test_a_unit_held_back_stays_held_back_until_the_ledger_applies_it(world: World) -> None:
    # given a SKU pushed at 10; TikTok sold 1 unit whose webhook was lost (TikTok shows 9, the pool still 10)
    link = await _pushed_at_10_and_9_at_tiktok(world)
    assert (link.pushed_quantity, link.held_quantity, link.held_since) == (9, 1, NOW)
    # when the pool changes again before the sale is ingested (another shop's stock count, say), and it is pushed
    world.clock.current = NOW + timedelta(seconds=10)
    world.dirty("p1", version=2)
    await world.push()
    # then the unit is still held back: 9, not 10 (held back for one push only, it went back on sale here)
    assert world.api.updates == [] and (link.pushed_quantity, link.held_quantity, link.held_since) == (9, 1, NOW)
    # when the ledger applies the sale, the hold ends
    link.available = 9
    world.store.push.ingested = [(world.shop.id, "t-a", 1, NOW + timedelta(seconds=20))]
    world.clock.current = NOW + timedelta(seconds=30)
    world.dirty("p1", version=3)
    await world.push()
    assert world.api.updates == [] and (link.pushed_quantity, link.held_quantity, link.held_since) == (9, 0, None)


async def test_a_hold_the_ledger_never_explains_ends_after_its_horizon(world: World) -> None:
    # given a SKU pushed at 10 and lowered to 9 in Seller Center: the fence holds 1 unit back, as for a sale
    link = await _pushed_at_10_and_9_at_tiktok(world)
    assert (link.pushed_quantity, link.held_quantity) == (9, 1)
    # when no sale reaches the ledger within the horizon (two polls), the next push lets the unit go
    world.clock.current = NOW + world.deps.hold_horizon + timedelta(seconds=1)
    world.dirty("p1", version=2)
    await world.push()
    assert world.sent() == [("p1", [("t-a", [("", 10)])])]
    assert (link.pushed_quantity, link.held_quantity, link.held_since) == (10, 0, None)


async def test_a_sale_held_back_keeps_its_own_horizon_when_an_older_hold_ends(world: World) -> None:
    # given a SKU of 10 pushed; TikTok sold 1 unit whose webhook was lost: held back since NOW (TikTok 9)
    link = await _pushed_at_10_and_9_at_tiktok(world)
    assert (link.pushed_quantity, link.held_quantity, link.held_since) == (9, 1, NOW)
    # when, 10 minutes on, a poll brings that sale in (the pool: 9) and another buyer takes 1 unit whose webhook is
    # lost too (TikTok 8), and a change pushes the SKU: the one unit held back now is the new sale
    later = NOW + timedelta(minutes=10)
    link.available = 9
    world.store.push.ingested = [(world.shop.id, "t-a", 1, later - timedelta(seconds=5))]
    world.api.available["t-a"] = 8
    world.clock.current = later
    world.dirty("p1", version=2)
    await world.push()
    assert (link.pushed_quantity, link.held_quantity) == (8, 1)
    # and 40 s later (the first hold began more than two polls ago) another change pushes it again
    world.clock.current = later + timedelta(seconds=40)
    world.dirty("p1", version=3)
    await world.push()

    # then the new sale, 40 s old, is still held back: 8. Its hold had inherited the start of the first one, and the
    # horizon let it go with it: 9 written, one unit on sale twice until the next poll.
    assert world.api.updates == [] and (link.pushed_quantity, link.held_quantity) == (8, 1)
    assert link.held_since == later


async def test_the_fence_writes_what_differs(world: World) -> None:
    world.deps.fence = True
    link = world.link("a", "p1", 12)
    world.api.available["t-a"] = 10
    world.dirty("p1")
    await world.push()
    assert world.sent() == [("p1", [("t-a", [("", 12)])])] and link.pushed_quantity == 12


async def test_a_shop_deleted_during_the_push_ends_it_quietly(world: World) -> None:
    world.link("a", "p1", 5)
    world.dirty("p1")

    async def deleted() -> None:
        world.store.shops.clear()

    world.api.during_call = deleted
    report = await world.push()
    assert report.products == 1 and world.metrics.sent == ["ok"]


async def test_a_claim_is_leased_for_30_s_20_rows_at_a_time(world: World) -> None:
    for n in range(21):
        world.link(f"s{n:02d}", f"p{n:02d}", 5)
        world.dirty(f"p{n:02d}")
    seen: list[tuple[int, set[object]]] = []

    async def look() -> None:
        rows = [row for row in world.store.push.outbox.values() if row.claimed_by == "w1"]
        seen.append((len(rows), {row.claimed_until for row in rows}))

    world.api.during_call = look
    world.deps.concurrency = 1
    report = await world.push()
    assert seen[0] == (20, {NOW + timedelta(seconds=30)}) and seen[-1] == (1, {NOW + timedelta(seconds=30)})
    assert (report.calls, report.products) == (21, 21) and world.api.searches == []  # no fence by default


async def test_at_most_four_products_of_a_shop_are_in_flight(world: World) -> None:
    for n in range(6):
        world.link(f"s{n}", f"p{n}", 5)
        world.dirty(f"p{n}")
    in_flight, most = 0, 0

    async def slow() -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(10):  # let every other product that may start, start
            await asyncio.sleep(0)
        in_flight -= 1

    world.api.during_call = slow
    assert (await world.push()).calls == 6 and most == 4


async def test_targets_are_dated_when_read_and_the_row_when_finished(world: World) -> None:
    link = world.link("a", "p1", 5)
    row = world.dirty("p1")
    world.api.results = [refusal("t-a", 36009003)]

    async def slow() -> None:
        world.clock.advance(timedelta(minutes=1))

    world.api.during_call = slow
    await world.push()
    assert row.next_attempt_at == NOW + timedelta(minutes=1, seconds=2)  # finished a minute later, + backoff
    world.api.during_call, world.api.results = slow, []
    row.next_attempt_at = NOW
    await world.push()
    assert (link.pushed_quantity, link.pushed_at) == (5, NOW + timedelta(minutes=1))  # read before the call


async def test_the_lag_is_never_negative_and_several_refusals_are_counted(world: World) -> None:
    world.link("a", "p1", 5)
    world.link("b", "p1", 6)
    row = world.dirty("p1")
    row.updated_at = NOW + timedelta(seconds=5)  # a clock a little ahead of ours marked it
    world.api.results = [
        InventoryUpdateResult((SkuUpdateFailure("t-a", 12019024, "too many"), SkuUpdateFailure("t-b", 12052055, "no")))
    ]
    await world.push()
    assert row.last_error == "2 SKU(s) refused, e.g. 12019024 too many"
    assert world.metrics.sent == ["partial"] and world.metrics.lags == [0.0]


async def test_an_unexpected_error_is_raised_once_the_unfinished_claim_is_handed_back_after_a_backoff(
    world: World,
) -> None:
    world.link("a", "p1", 5)
    row = world.dirty("p1")

    async def broken() -> None:
        raise RuntimeError("bug")

    world.api.during_call = broken
    with pytest.raises(RuntimeError, match="bug"):
        await world.push()
    # not held until its lease runs out: the retry or another worker pushes it after a failed push's backoff
    assert (row.claimed_by, row.claimed_until, row.attempts) == (None, None, 1)
    assert row.next_attempt_at == NOW + push_backoff(1)
    assert row.last_error == "the push run failed: RuntimeError: bug"


async def test_a_stop_mid_push_hands_the_row_back_due_now(world: World) -> None:
    world.link("a", "p1", 5)
    row = world.dirty("p1", attempts=1)
    started, never = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        started.set()
        await never.wait()

    world.api.during_call = held
    world.deps.stop_wait = timedelta(0)  # the push outlasts the stop's wait (15 s in production) at once
    push = asyncio.create_task(world.push())
    await started.wait()
    world.clock.advance(timedelta(seconds=10))
    push.cancel()
    with pytest.raises(asyncio.CancelledError):
        await push
    assert (row.claimed_by, row.next_attempt_at, row.attempts, row.pushed_version, row.last_error) == (
        None, NOW + timedelta(seconds=10), 2, 0, "interrupted by a shutdown",
    )  # fmt: skip


async def test_a_stop_after_the_shop_was_deleted_releases_nothing(world: World) -> None:
    world.link("a", "p1", 5)
    world.dirty("p1")
    started, never = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        started.set()
        await never.wait()

    world.api.during_call = held
    world.deps.stop_wait = timedelta(0)  # the push outlasts the stop's wait (15 s in production) at once
    world.deps.renew_every = timedelta(hours=1)  # no lease renewal within the stop's wait: no commit of its own
    push = asyncio.create_task(world.push())
    await started.wait()
    world.store.shops.clear()
    push.cancel()
    with pytest.raises(asyncio.CancelledError):
        await push
    assert world.store.commits == 1  # the claim only


async def test_a_sku_whose_warehouses_tiktok_no_longer_reports_is_not_retried(world: World) -> None:
    link = world.link("a", "p1", 5, "w-old")
    row = world.dirty("p1")
    world.api.results = [refusal("t-a", 12019028, "warehouse changed")]  # Get Product: not found
    report = await world.push()
    assert report.calls == 1 and world.api.product_calls == ["p1"]
    assert (link.warehouse_ids, link.push_error_code, row.pushed_version, row.attempts) == (
        ("w-old",),
        "12019028",
        0,
        1,
    )


async def test_the_default_warehouse_unknown_when_tiktok_was_down_is_remembered(world: World) -> None:
    world.link("a", "p1", 5, "w2", "w1")
    world.dirty("p1")
    world.api.error = None

    async def down() -> None:
        if world.api.warehouse_calls and not world.api.updates:
            raise TikTokUnavailableError("down")

    world.api.during_call = down
    await world.push()
    world.dirty("p1", version=2)
    await world.push()
    assert world.api.warehouse_calls == 1
    assert world.sent()[1] == ("p1", [("t-a", [("w1", 5), ("w2", 0)])])


async def test_an_expired_cached_default_warehouse_is_read_again(world: World) -> None:
    world.link("a", "p1", 5, "w1", "w2")
    world.dirty("p1")
    world.deps.default_warehouses[world.shop.id] = (time.monotonic() - 1, "w1")
    world.api.warehouse_list = [Warehouse("w2", None, "SALES_WAREHOUSE", "ENABLED", True)]
    await world.push()
    assert world.api.warehouse_calls == 1 and world.sent() == [("p1", [("t-a", [("w1", 0), ("w2", 5)])])]


async def test_the_fence_without_a_previous_push_holds_nothing_back(world: World) -> None:
    world.deps.fence = True
    link = world.link("a", "p1", 12)
    world.link("b", "p1", 3)
    world.api.available.update({"t-a": 4, "t-b": 3})
    world.dirty("p1")
    await world.push()
    assert world.sent() == [("p1", [("t-a", [("", 12)])])] and link.pushed_quantity == 12
    assert world.store.push.links[(world.shop.id, "b")].pushed_quantity == 3  # already shown: recorded as pushed


@pytest.mark.parametrize(
    ("ingested_since", "available", "tiktok"),
    [(0, 10, 9), (1, 9, 8)],
    ids=["a-sale-unseen", "a-sale-unseen-and-one-ingested"],
)
async def test_the_first_push_of_a_link_whose_stock_seeded_its_item_holds_back_a_sale_made_since(
    world: World, ingested_since: int, available: int, tiktok: int
) -> None:
    # given a link never pushed whose shop's stock seeded its item: TikTok showed 10 right after the link, when the
    # shop's ledger counted 2 units of the SKU; since then TikTok sold 1 unit the ledger has not seen (and, in the
    # second case, 1 it has: the pool's available 9)
    world.deps.fence = True
    link = world.link("a", "p1", available)
    link.seeded_available, link.ingested_at_push = 10, 2
    world.store.push.ingested = [(world.shop.id, "t-a", 2 + ingested_since, NOW - timedelta(minutes=5))]
    world.api.available["t-a"] = tiktok
    world.dirty("p1")
    await world.push()
    # then the unseen sale is held back: TikTok already shows the pool's available less it, nothing is written (without
    # the seeding baseline the push wrote the pool's available, that unit on sale twice); and from now on the push's
    # own value is the link's baseline
    assert world.api.searches == [["t-a"]] and world.api.updates == []
    assert (link.pushed_quantity, link.held_quantity, link.held_since) == (tiktok, 1, NOW)
    assert (link.seeded_available, link.ingested_at_push) == (None, 2 + ingested_since)


async def test_a_failed_lease_renewal_is_a_warning_naming_the_shop_and_the_reason(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # given a push whose Update Inventory is under way, renewing its claims at every turn of the loop
    world.link("a", "p1", 5)
    world.dirty("p1")
    renewal_failed = asyncio.Event()
    outage = False

    class OutageUnitOfWork(FakeUnitOfWork):
        async def commit(self) -> None:
            if outage:  # the database refuses the write (the renewal is the only writer during the call)
                renewal_failed.set()
                raise ConnectionRefusedError(111, "Connection refused\n[SQL: UPDATE inventory_push_outbox ...]")
            await super().commit()

    async def during_the_call() -> None:
        nonlocal outage
        outage = True  # when the database refuses the renewal while TikTok takes the update
        await renewal_failed.wait()
        outage = False

    world.deps.uow_factory = lambda: OutageUnitOfWork(world.store)
    world.deps.renew_every = timedelta(0)
    world.api.during_call = during_the_call
    with caplog.at_level(logging.WARNING, logger="domain.services.inventory_push"):
        await world.push()
    # then an operator sees it: one WARNING naming the shop and the reason's first line, and nothing of the shop's
    # tokens or of the statement
    renewals = [r for r in caplog.records if "could not renew the push claims" in r.getMessage()]
    assert renewals and {r.levelno for r in renewals} == {logging.WARNING}
    message = renewals[0].getMessage()
    assert world.shop.id in message and "reason=ConnectionRefusedError: [Errno 111] Connection refused" in message
    assert "SQL" not in message
    assert world.shop.tokens.access_token not in message and world.shop.tokens.refresh_token not in message
    # and the push itself went through, its claim finished
    assert len(world.sent()) == 1 and world.store.push.outbox[(world.shop.id, "p1")].claimed_by is None
