"""A shop's worker runs while its delete holds the shop, on PostgreSQL (tryout59, delete59 Finding 3): they give their
thread back instead of waiting for the delete, so another shop's live sync goes on, and they run once the delete
ends: for a shop kept (the delete rolled back) as if nothing happened, for a shop deleted as no-ops.

Real parts: the embedded pool (Dramatiq's StubBroker and Worker) of ONE thread, so that one run waiting on the shop
would stop every other; PostgreSQL; the sandbox over HTTP. The test holds the shop's row in its own connection (or
lets the real delete hold it, waiting on a row of the test's). Everything is counted (deliveries, sends, events,
TikTok's calls); the waits are for conditions, never for time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.config import Settings
from domain.intake import EventOutcome, Notification
from domain.ports import TaskQueue
from domain.services import inbox
from domain.services.shops import delete_shop
from domain.services.sync import start_sync
from domain.shops import Shop
from domain.sync import SyncKind
from sandbox.config import SandboxConfig
from tests.fakes import FakeTaskQueue
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import POSTGRES_ONLY
from tests.fixtures.sync import SyncHarness, row_counts, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.db_samples import until_a_writer_waits_on_a_lock
from tests.integration.pool_push_support import (
    PushWorld,
    change_stock,
    imported_shop,
    outbox_row,
    sandbox_products,
    updates,
)
from tests.integration.test_inventory_push import pooled_product
from workers.broker import LIVE_QUEUE
from workers.resources import SHOP_DELETE_WAIT_DELAY_MS

# The shop's runs sent while its delete holds it: each takes the shop's row first (`ShopRepository.get` / `hold`).
SHOP_RUNS = ("push_inventory", "process_webhook_events", "reconcile_inventory", "refresh_shop_tokens",
             "register_webhooks")  # fmt: skip

# How long the other shop's webhook run may take to settle its event while the delete holds the first shop: its
# delivery and a TikTok order read (milliseconds); room for a loaded machine. Before, the one thread waited on the
# deleted shop's row for as long as the delete held it: here, for as long as the test holds it (until this passed).
OTHER_SHOP_SETTLES_WITHIN_SECONDS = 30.0


class Deliveries(Middleware):
    """Every message enqueued on the broker with its delay (`after_enqueue`), and every delivery's end with the
    exception it raised, if any (`after_process_message`); Dramatiq's hooks, any thread."""

    def __init__(self) -> None:
        self.sent: list[tuple[dramatiq.Message[Any], int | None]] = []
        self.ended: list[tuple[str, tuple[Any, ...], BaseException | None]] = []

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None) -> None:
        self.sent.append((message, delay))

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self.ended.append((message.actor_name, tuple(message.args), exception))

    def sent_back(self, shop_id: str) -> dict[str, int]:
        """Per actor, how many of the shop's messages were sent again for its delete (with that delay)."""
        counts = dict.fromkeys(SHOP_RUNS, 0)
        for message, delay in list(self.sent):
            if message.args[:1] == (shop_id,) and delay == SHOP_DELETE_WAIT_DELAY_MS and message.actor_name in counts:
                counts[message.actor_name] += 1
        return counts

    def ran(self, shop_id: str) -> bool:
        """Whether each of the shop's runs (one message each) has had a delivery that was not sent back: a delivery
        sends its message back before it ends, so one ended more than sent back is the one that ran."""
        ended = [name for name, args, _ in list(self.ended) if args[:1] == (shop_id,)]
        return all(ended.count(name) > sent_back for name, sent_back in self.sent_back(shop_id).items())

    def failed(self) -> list[tuple[str, tuple[Any, ...], BaseException | None]]:
        return [ended for ended in list(self.ended) if ended[2] is not None]


@dataclass
class Pooled:
    """A pooled shop with a linked SKU (its pool item `item_id`) whose stock changed: a push to do."""

    shop: Shop
    product_id: str
    sku_id: str
    item_id: str


@dataclass
class World:
    harness: SyncHarness
    push: PushWorld
    queue: TaskQueue
    broker: dramatiq.Broker
    deliveries: Deliveries
    kept: Pooled  # the shop the test holds or deletes
    other: Pooled  # another merchant's shop, whose live sync must go on
    kept_updates_before: int  # TikTok's Update Inventory calls of the kept shop before the test (its boot push)


async def _pooled(world: PushWorld, seller: str, merchant_id: str) -> Pooled:
    shop = await imported_shop(world, seller, merchant_id=merchant_id)
    first = next(p for p in sandbox_products(world.sandbox, shop) if p["status"] == "ACTIVATE")
    product, items, _ = await pooled_product(world, shop, first["skus"][0]["seller_sku"], on_hand=50)
    sku, item = next(iter(items.items()))
    await change_stock(world, item, -5, [(shop.id, product["id"])])
    return Pooled(shop, product["id"], sku, item)


@pytest.fixture
async def world(
    database_url: str, sandbox_factory: Callable[[SandboxConfig], SandboxServer], tmp_path: Path,
    sync_harness_factory: Callable[[Settings], SyncHarness],
) -> AsyncIterator[World]:  # fmt: skip
    # a worker process of ONE thread (no thread reserved from imports: it takes the `live` queue too), two pooled
    # shops of two merchants (the sandbox's catalogs share seller SKUs), each with a push to do
    sandbox = sandbox_factory(SandboxConfig(products=10, orders=30))
    settings = sync_settings(
        database_url, sandbox, tmp_path, embedded_worker_threads=1, worker_reserved_threads=0,
        public_url="https://shopbridge.example",  # TikTok registers https addresses only (36009004)
    )  # fmt: skip
    harness = sync_harness_factory(settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=60.0)))
    push = PushWorld(harness.db, harness.uow_factory, harness.tiktok, harness.http, sandbox)
    kept = await _pooled(push, "us-local", "m1")
    other = await _pooled(push, "uk-local", "m2")
    queue = harness.start_worker()
    assert harness.worker is not None and harness.worker.broker is not None
    broker = harness.worker.broker
    # and the worker idle once its boot sweep's work is done (both shops' webhook registrations and pushes): no run
    # of the kept shop is under way when the test takes its row (one already past its probe would wait, as before)

    async def boot_work_done() -> bool:
        async with harness.db.read_sessionmaker() as session:
            registered = await session.execute(
                text("SELECT count(*) FROM shops WHERE webhooks_registered_at IS NOT NULL")
            )
            count = registered.scalar_one()
        pushed = [await outbox_row(harness.db, p.shop, p.product_id) for p in (kept, other)]
        return count == 2 and all(row["pushed_version"] == row["dirty_version"] for row in pushed)

    await until(boot_work_done, "the boot sweep's registrations and pushes done")
    await asyncio.to_thread(broker.join, LIVE_QUEUE, timeout=int(DEADLINE_SECONDS * 1000))
    # and the kept shop's stock changed again since: a push to do
    await change_stock(push, kept.item_id, -1, [(kept.shop.id, kept.product_id)])
    deliveries = Deliveries()
    broker.add_middleware(deliveries)
    yield World(harness, push, queue, broker, deliveries, kept, other, len(updates(sandbox, kept.shop)))


async def _sale(world: World, pooled: Pooled, name: str) -> str:
    """A buyer's order of 1 of the pooled SKU at TikTok, its webhook stored (PENDING); the event's id."""
    shop = pooled.shop
    sale = world.push.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": pooled.sku_id,
                                                                                        "quantity": 1})  # fmt: skip
    note = Notification(1, name, shop.tiktok_shop_id, int(time.time()), {"order_id": sale["order_id"]})
    event = await inbox.receive_notification(world.harness.uow_factory, world.harness.clock, note)
    assert event is not None
    return event.id


async def _outcome(world: World, event_id: str) -> EventOutcome | None:
    async with world.harness.uow_factory() as uow:
        stored = await uow.webhook_events.get(event_id)
    return None if stored is None else stored.outcome


async def _sessions_waiting_on_a_lock(world: World) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    async with world.harness.db.read_sessionmaker() as session:
        return int((await session.execute(text(query))).scalar_one())


async def _while_held(world: World, kept_event: str, waiting_on_a_lock: int) -> None:
    """With the kept shop's row held `FOR UPDATE` (by the test or by its delete): its runs sent, then the other
    shop's sale's webhook; checks the other shop's event settles meanwhile and the kept shop's runs gave their thread
    back (its sale's event `kept_event` still PENDING)."""
    from workers.actors import reconcile_inventory, refresh_shop_tokens, register_webhooks

    kept, other = world.kept.shop, world.other.shop
    # when the held shop's runs are sent: its push, its webhook event's processing, a reconcile, a token refresh and
    # a webhook registration (each takes the shop's row first)
    await world.queue.enqueue_inventory_push(kept.id)
    await world.queue.enqueue_webhook_events(kept.id)
    for actor in (reconcile_inventory, refresh_shop_tokens, register_webhooks):
        actor.send(kept.id)
    # and then a buyer orders on the other shop, whose webhook is stored and its processing sent
    other_event = await _sale(world, world.other, "other-sale")
    await world.queue.enqueue_webhook_events(other.id)

    # then the other shop's event is processed while the shop is still held (before: the one thread waited on it)
    async def settled() -> EventOutcome | None:
        outcome = await _outcome(world, other_event)
        return outcome if outcome is not EventOutcome.PENDING else None

    outcome = await until(settled, "the other shop's event settled", timeout=OTHER_SHOP_SETTLES_WITHIN_SECONDS)
    assert outcome is EventOutcome.PROCESSED
    # and every run of the held shop was delivered and sent again for later, none started: nothing of it reached
    # TikTok, its event waits, and no session waits on a lock but what the test set up
    await until(lambda: min(world.deliveries.sent_back(kept.id).values()) >= 1, "each held run sent back")
    assert len(updates(world.push.sandbox, kept)) == world.kept_updates_before
    assert await _outcome(world, kept_event) is EventOutcome.PENDING
    assert await _sessions_waiting_on_a_lock(world) == waiting_on_a_lock
    assert world.deliveries.failed() == []


@asynccontextmanager
async def _held(world: World, query: str, key: str) -> AsyncIterator[AsyncConnection]:
    """A row held by the test's own connection (its transaction open) for the block; rolled back on exit."""
    async with world.harness.db.write_engine.connect() as holder:
        await holder.execute(text(query), {"id": key})
        try:
            yield holder
        finally:
            await holder.rollback()


@POSTGRES_ONLY
async def test_a_held_shops_runs_give_their_thread_back_and_run_once_its_delete_rolls_back(world: World) -> None:
    # given the kept shop's row held FOR UPDATE, as its delete holds it (15-27 s on a 20k-order shop)
    # (and a sale of the shop's, its webhook stored)
    kept = world.kept
    kept_event = await _sale(world, kept, "kept-sale")
    async with _held(world, "SELECT id FROM shops WHERE id = :id FOR UPDATE", kept.shop.id):
        await _while_held(world, kept_event, waiting_on_a_lock=0)
    # when the hold ends with a rollback (a delete that failed: the shop is kept)
    # then nothing of its runs was lost: its event is processed and its stock reaches TikTok

    async def settled() -> bool:
        return await _outcome(world, kept_event) is not EventOutcome.PENDING

    await until(settled, "the kept shop's event settled")

    async def pushed() -> bool:
        row = await outbox_row(world.harness.db, kept.shop, kept.product_id)
        return row["pushed_version"] == row["dirty_version"]

    await until(pushed, "the kept shop's stock pushed")
    assert await _outcome(world, kept_event) is EventOutcome.PROCESSED
    assert len(updates(world.push.sandbox, kept.shop, kept.product_id)) > world.kept_updates_before
    # and each of its runs sent back ran in the end, none failed
    await until(lambda: world.deliveries.ran(kept.shop.id), "each of the kept shop's runs ran")
    assert world.deliveries.failed() == []


@POSTGRES_ONLY
async def test_a_deleted_shops_runs_give_their_thread_back_and_end_as_no_ops_once_the_delete_commits(
    world: World,
) -> None:
    # given the real delete of the kept shop, holding its row FOR UPDATE and waiting (as a long delete's statements
    # take the time) on the shop's pool item, which the test holds; and a sale of the shop's, its webhook stored
    kept = world.kept
    kept_event = await _sale(world, kept, "kept-sale")
    async with _held(world, "SELECT id FROM inventory_items WHERE id = :id FOR UPDATE", kept.item_id):
        deleting = asyncio.create_task(
            delete_shop(world.harness.uow_factory, world.harness.clock, kept.shop.merchant_id, kept.shop.id)
        )
        await until_a_writer_waits_on_a_lock(world.harness.db)
        await _while_held(world, kept_event, waiting_on_a_lock=1)  # the delete, on the test's item
    # when the delete goes on and commits
    assert await deleting == kept.shop.id
    # then the shop's runs sent back find it gone and end quietly: each ran once more (and did nothing), none
    # failed, nothing of the shop is left and nothing more reached TikTok
    await until(lambda: world.deliveries.ran(kept.shop.id), "each of the deleted shop's runs ran")
    assert world.deliveries.failed() == []
    assert set((await row_counts(world.harness.db, kept.shop.id)).values()) == {0}
    assert len(updates(world.push.sandbox, kept.shop)) == world.kept_updates_before


@POSTGRES_ONLY
async def test_an_import_started_as_the_delete_began_gives_its_thread_back_and_ends_with_the_shop(
    world: World,
) -> None:
    # given the delete of the kept shop begun (no task of the shop active) and waiting to take the
    # shop FOR UPDATE behind a holder of it FOR KEY SHARE (an import batch of the shop's, as in tryout59)
    kept = world.kept
    async with (
        _held(world, "SELECT id FROM inventory_items WHERE id = :id FOR UPDATE", kept.item_id),
        _held(world, "SELECT id FROM shops WHERE id = :id FOR KEY SHARE", kept.shop.id) as batch,
    ):
        deleting = asyncio.create_task(
            delete_shop(world.harness.uow_factory, world.harness.clock, kept.shop.merchant_id, kept.shop.id)
        )
        await until_a_writer_waits_on_a_lock(world.harness.db)
        # and an import of the shop started in that window (`syncStart`; its message not delivered yet)
        (task,) = await start_sync(
            world.harness.uow_factory, FakeTaskQueue(), world.harness.events, world.harness.clock,
            kept.shop.merchant_id, kept.shop.id, [SyncKind.PRODUCTS],
        )  # fmt: skip
        # and the batch then commits: the delete takes the shop, cancels the import (holding its row) and waits on
        # the shop's pool item, which the test holds
        await batch.rollback()
        await until(lambda: _cancelled_by_an_open_delete(world, task.id), "the delete cancelling the import")
        # when the import's message is delivered, to the worker's one thread, then another shop's sale's webhook
        from workers.actors import run_sync_task

        run_sync_task.send(task.id)
        other_event = await _sale(world, world.other, "other-sale")
        await world.queue.enqueue_webhook_events(world.other.shop.id)

        # then the other shop's event is processed while the delete holds the shop (before: the one thread waited
        # on the import's row, which the delete holds, for as long as the delete)
        async def settled() -> EventOutcome | None:
            outcome = await _outcome(world, other_event)
            return outcome if outcome is not EventOutcome.PENDING else None

        outcome = await until(settled, "the other shop's event settled", timeout=OTHER_SHOP_SETTLES_WITHIN_SECONDS)
        assert outcome is EventOutcome.PROCESSED
        assert _sent_back(world, "run_sync_task", task.id) >= 1
    # and once the delete commits, the import's message ends as a no-op with the shop: nothing failed, nothing left
    assert await deleting == kept.shop.id
    await until(lambda: _ended(world, "run_sync_task", task.id) > _sent_back(world, "run_sync_task", task.id), "ran")
    assert world.deliveries.failed() == []
    assert set((await row_counts(world.harness.db, kept.shop.id)).values()) == {0}


async def _cancelled_by_an_open_delete(world: World, task_id: str) -> bool:
    """Whether a session waits on a lock and the task's row is locked (the delete cancelled it, uncommitted)."""
    async with world.harness.db.write_engine.connect() as conn:
        free = await conn.execute(
            text("SELECT id FROM sync_tasks WHERE id = :id FOR SHARE SKIP LOCKED"), {"id": task_id}
        )
        locked = free.first() is None
        await conn.rollback()
    return locked and await _sessions_waiting_on_a_lock(world) >= 1


def _sent_back(world: World, actor_name: str, argument: str) -> int:
    return sum(
        1
        for message, delay in list(world.deliveries.sent)
        if message.actor_name == actor_name and message.args[:1] == (argument,) and delay == SHOP_DELETE_WAIT_DELAY_MS
    )


def _ended(world: World, actor_name: str, argument: str) -> int:
    return sum(1 for name, args, _ in list(world.deliveries.ended) if name == actor_name and args[:1] == (argument,))
