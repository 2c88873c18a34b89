"""The polling backstop below GraphQL: real database (both), the sandbox over HTTP, the embedded worker pool.

Polls are started the way the scheduler's message starts them (`start_poll`), one at a time, so that each
test knows exactly which polls ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import and_, func, or_, select

from adapters.db import leases
from adapters.db.tables import inventory_push_outbox, products, sync_tasks
from domain.polling import PollCursor, PollSettings
from domain.services.polling import start_poll
from domain.services.sync import queue_authorization_sync
from domain.shops import Shop
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS

ORDER_SEARCH = "/order/202309/orders/search"
PRODUCT_SEARCH = "/product/202309/products/search"
POLLS = PollSettings(interval=timedelta(seconds=1), overlap=timedelta(seconds=600), settle=timedelta(0))


@pytest.fixture
def harness(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> SyncHarness:
    # The webhook address counts as configured app-wide: no registration traffic mixes with what a poll costs.
    settings = sync_settings(database_url, sandbox, tmp_path).with_overrides(webhooks_app_wide=True)
    harness = sync_harness_factory(settings)
    harness.start_worker()
    return harness


async def _imported_shop(harness: SyncHarness, sandbox: SandboxServer) -> Shop:
    assert harness.queue is not None
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.uow_factory() as uow:
        tasks = await queue_authorization_sync(uow, harness.queue, shop, harness.clock.now())
        await uow.commit()
    for task in tasks:
        assert (await harness.wait(task.id)).status is SyncTaskStatus.SUCCEEDED
    return shop


async def _pushes_done(harness: SyncHarness, timeout: float = DEADLINE_SECONDS) -> None:
    """Until the pool's outbox has no row dirty or claimed: the import's pushes (issue 8) have all been sent. A row of
    a product TikTok does not sell (not ACTIVATE) is left out: it waits, dirty, for its status, never pushed."""
    c = inventory_push_outbox.c
    of_product = and_(products.c.shop_id == c.shop_id, products.c.tiktok_product_id == c.tiktok_product_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with harness.db.read_sessionmaker() as session:
            pending = (
                await session.execute(
                    select(func.count())
                    .select_from(inventory_push_outbox.join(products, of_product))
                    .where(
                        or_(c.dirty_version > c.pushed_version, c.claimed_by.is_not(None)),
                        products.c.status == "ACTIVATE",
                    )
                )
            ).scalar_one()
        if not pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{pending} outbox row(s) still unpushed after {timeout} s")
        await asyncio.sleep(0.05)


async def _poll(harness: SyncHarness, shop: Shop, kind: SyncKind) -> SyncTask:
    assert harness.queue is not None
    task_id = await start_poll(harness.uow_factory, harness.queue, harness.events, harness.clock, POLLS, shop.id, kind)
    assert task_id is not None
    return await harness.wait(task_id)


async def _scheduled(harness: SyncHarness, shop: Shop, kind: SyncKind) -> list[str]:
    async with harness.db.read_sessionmaker() as session:
        query = select(sync_tasks.c.id).where(
            sync_tasks.c.shop_id == shop.id,
            sync_tasks.c.kind == kind.value,
            sync_tasks.c.trigger == SyncTrigger.SCHEDULED.value,
        )
        return list((await session.execute(query)).scalars())


async def _cursor_seconds(harness: SyncHarness, shop: Shop, kind: SyncKind) -> int:
    async with harness.uow_factory() as uow:
        cursor = await uow.poll_cursors.get(shop.id, kind)
    assert cursor is not None and cursor.cursor_at is not None
    return int(cursor.cursor_at.timestamp())


async def test_a_poll_of_an_unchanged_shop_costs_one_request_per_kind(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given an imported shop that nothing changed since, its pool's first pushes to TikTok done
    shop = await _imported_shop(harness, sandbox)
    await _pushes_done(harness)
    sandbox.control("POST", "/counters/reset")
    # when it is polled for orders and for products
    orders = await _poll(harness, shop, SyncKind.ORDERS)
    products = await _poll(harness, shop, SyncKind.PRODUCTS)
    # then each poll succeeded, found nothing, and cost exactly one search request
    for task in (orders, products):
        assert task.status is SyncTaskStatus.SUCCEEDED, task.error_message
        assert task.trigger is SyncTrigger.SCHEDULED and task.found_nothing
    by_path = sandbox.control("GET", "/counters")["by_path"]
    assert {path: sum(outcomes.values()) for path, outcomes in by_path.items()} == {ORDER_SEARCH: 1, PRODUCT_SEARCH: 1}


async def test_empty_polls_are_folded_to_the_last_three_and_a_poll_that_found_something_stays(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given an imported shop polled five times with nothing new
    shop = await _imported_shop(harness, sandbox)
    empty = [await _poll(harness, shop, SyncKind.ORDERS) for _ in range(5)]
    # then only the last three empty polls remain
    assert sorted(await _scheduled(harness, shop, SyncKind.ORDERS)) == sorted(t.id for t in empty[-3:])
    # when an order arrives at TikTok and the next polls find it, then find nothing again, four times
    a_moment_ago = int(harness.clock.now().timestamp()) - 5  # the window ends at the current second, exclusive
    new_order = {"create_time": a_moment_ago, "update_time": a_moment_ago}
    sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/orders", {"orders": [new_order]})
    found = await _poll(harness, shop, SyncKind.ORDERS)
    assert (found.created, found.status) == (1, SyncTaskStatus.SUCCEEDED)
    later = [await _poll(harness, shop, SyncKind.ORDERS) for _ in range(4)]
    # then the poll that found something is kept, beside the last three empty ones
    kept = set(await _scheduled(harness, shop, SyncKind.ORDERS))
    assert kept == {found.id, *(t.id for t in later[-3:])}


async def test_the_cursor_follows_the_stored_pages_and_ends_at_the_window_end(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given an imported shop, and 150 orders changed at TikTok (two pages of 100) at distinct seconds
    shop = await _imported_shop(harness, sandbox)
    first = await _poll(harness, shop, SyncKind.ORDERS)
    start = await _cursor_seconds(harness, shop, SyncKind.ORDERS)
    assert start == first.checkpoint["poll"]["lt"]
    now = int(harness.clock.now().timestamp())
    sandbox.control(
        "POST",
        f"/shops/{shop.tiktok_shop_id}/orders",
        {"orders": [{"create_time": now - 300 - i, "update_time": now - 300 + i} for i in range(150)]},
    )
    # when the next poll runs
    second = await _poll(harness, shop, SyncKind.ORDERS)
    # then it read all of them, and the cursor is at its window's end, never beyond
    assert second.created == 150 and second.status is SyncTaskStatus.SUCCEEDED
    assert await _cursor_seconds(harness, shop, SyncKind.ORDERS) == second.checkpoint["poll"]["lt"]
    assert second.checkpoint["poll"]["ge"] == start - 600


async def test_a_poll_is_skipped_while_an_import_of_its_kind_runs(harness: SyncHarness, sandbox: SandboxServer) -> None:
    # given a shop whose orders import is queued (not yet run: its message is held back)
    assert harness.queue is not None
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    async with harness.uow_factory() as uow:
        await uow.sync_tasks.add(
            SyncTask.queue(shop.id, "m1", SyncKind.ORDERS, SyncTrigger.MANUAL, harness.clock.now())
        )
        await uow.commit()
    # when a poll of orders is due
    skipped = await start_poll(
        harness.uow_factory, harness.queue, harness.events, harness.clock, POLLS, shop.id, SyncKind.ORDERS
    )
    # then it is skipped, and no SCHEDULED task exists
    assert skipped is None
    async with harness.db.read_sessionmaker() as session:
        count = await session.execute(select(func.count()).where(sync_tasks.c.trigger == "SCHEDULED"))
    assert count.scalar_one() == 0


async def test_one_lease_holder_at_a_time_until_it_lapses_or_is_released(harness: SyncHarness) -> None:
    now, ttl = harness.clock.now(), timedelta(seconds=10)
    # given process a holds the scheduler lease
    assert await leases.try_hold(harness.db, "scheduler", "a", ttl, now)
    # then b cannot take it, a can renew it
    assert not await leases.try_hold(harness.db, "scheduler", "b", ttl, now + timedelta(seconds=5))
    assert await leases.try_hold(harness.db, "scheduler", "a", ttl, now + timedelta(seconds=5))
    # when a stops renewing, b takes it once it lapsed, and a cannot come back meanwhile
    assert not await leases.try_hold(harness.db, "scheduler", "b", ttl, now + timedelta(seconds=14))
    assert await leases.try_hold(harness.db, "scheduler", "b", ttl, now + timedelta(seconds=16))
    assert not await leases.try_hold(harness.db, "scheduler", "a", ttl, now + timedelta(seconds=17))
    # and a lease released at shutdown is free at once
    await leases.release(harness.db, "scheduler", "b", now + timedelta(seconds=18))
    assert await leases.try_hold(harness.db, "scheduler", "a", ttl, now + timedelta(seconds=18))


async def test_a_cursor_never_moves_back_whoever_writes_it(harness: SyncHarness, sandbox: SandboxServer) -> None:
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    now = harness.clock.now()
    # given a cursor stored by a poll
    async with harness.uow_factory() as uow:
        await uow.poll_cursors.save(PollCursor(shop.id, SyncKind.ORDERS, cursor_at=now, polled_at=now), now)
        await uow.commit()
    # when the scheduler, having read it earlier, writes its stamp with older times (or none)
    stale = PollCursor(shop.id, SyncKind.ORDERS, cursor_at=now - timedelta(hours=1), scheduled_at=now)
    async with harness.uow_factory() as uow:
        await uow.poll_cursors.save(stale, now)
        await uow.commit()
    # then each time is the later of the two
    async with harness.uow_factory() as uow:
        stored = await uow.poll_cursors.get(shop.id, SyncKind.ORDERS)
    assert stored is not None
    assert (stored.cursor_at, stored.scheduled_at, stored.polled_at) == (now, now, now)
