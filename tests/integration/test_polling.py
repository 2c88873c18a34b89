"""The polling backstop below GraphQL: real database (both), the sandbox over HTTP, the embedded worker pool.

Polls are started the way the scheduler's message starts them (`start_poll`), one at a time, so that each
test knows exactly which polls ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import and_, func, or_, select

from adapters.db import leases
from adapters.db.shop_facts import shop_sync_facts
from adapters.db.tables import inventory_push_outbox, order_line_stock, products, sync_tasks, unreadable_records
from domain.catalog import Product
from domain.polling import PollCursor, PollSettings
from domain.ports import ShopApi, ShopTokens
from domain.services.intake import IntakeDeps
from domain.services.polling import start_poll
from domain.services.rereads import REREAD_ORDERS, REREAD_PRODUCTS, reread_unreadable
from domain.services.sync import queue_authorization_sync
from domain.shops import Shop
from domain.stored import DELETED_PRODUCT_STATUS
from domain.sync import UNKNOWN_RECORD_ID, RecordFailure, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import SQLITE_ONLY
from tests.fixtures.sync import SyncHarness, connect_shop, expected_catalog, stored_catalog, sync_settings
from tests.fixtures.waiting import DEADLINE_SECONDS, log_lines
from workers.broker import LIVE_QUEUE

ORDER_SEARCH = "/order/202309/orders/search"
PRODUCT_SEARCH = "/product/202309/products/search"
ORDER_DETAIL = "/order/202309/orders"
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
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    await _import(harness, shop)
    return shop


async def _import(harness: SyncHarness, shop: Shop) -> None:
    """The shop's imports, as its authorization queues them, run to SUCCEEDED."""
    assert harness.queue is not None
    async with harness.uow_factory() as uow:
        tasks = await queue_authorization_sync(uow, harness.queue, shop, harness.clock.now())
        await uow.commit()
    for task in tasks:
        assert (await harness.wait(task.id)).status is SyncTaskStatus.SUCCEEDED


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


async def _marks(harness: SyncHarness, shop: Shop) -> dict[tuple[str, str], str]:
    """The shop's unreadable marks: (kind, TikTok id) → reason."""
    u = unreadable_records.c
    async with harness.db.read_sessionmaker() as session:
        rows = await session.execute(select(u.kind, u.tiktok_id, u.reason).where(u.shop_id == shop.id))
    return {(row.kind, row.tiktok_id): row.reason for row in rows}


async def _reread_at(harness: SyncHarness, shop: Shop, tiktok_id: str) -> datetime:
    """When the mark of `tiktok_id` was last read again by id (it must have been)."""
    u = unreadable_records.c
    async with harness.db.read_sessionmaker() as session:
        query = select(u.reread_at).where(u.shop_id == shop.id, u.tiktok_id == tiktok_id)
        reread_at = (await session.execute(query)).scalar_one()
    assert reread_at is not None
    return reread_at


async def _polls_run(harness: SyncHarness, shop: Shop, *kinds: SyncKind) -> None:
    """Each kind's poll message sent as the scheduler sends it (`poll_shop`), and waited for to its end."""
    assert harness.worker is not None and harness.worker.broker is not None
    from workers.actors import poll_shop

    for kind in kinds:
        poll_shop.send(shop.id, kind.value, None)
    await asyncio.to_thread(harness.worker.broker.join, LIVE_QUEUE, fail_fast=True)


@SQLITE_ONLY  # the marks' SQL on both databases: tests/integration/test_db_catalog.py
async def test_records_read_unreadably_are_read_again_by_id_at_each_poll_and_stored_once_readable(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    # given a shop whose import TikTok answers with two orders and a product unreadable (the sandbox's fault: the
    # records themselves unchanged), all three last changed hours ago: out of every poll's window
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    hours_ago = int(harness.clock.now().timestamp()) - 3 * 3600
    in_import = hours_ago - 29 * 86400  # the orders import reads 30 days back
    old_orders = [
        o["id"]
        for o in sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/orders")["orders"]
        if in_import < o["create_time"] < o["update_time"] < hours_ago
        and o.get("fulfillment_type") != "FULFILLMENT_BY_TIKTOK"
    ]
    (product,) = [
        p["id"]
        for p in sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/products")["products"]
        if p["status"] == "ACTIVATE" and p["update_time"] < hours_ago
    ][:1]
    readable, stays = old_orders[:2]
    sandbox.control("POST", "/faults/records", {"unreadable": [readable, stays, product]})
    await _import(harness, shop)
    create_time_0 = "create_time is 0: TikTok gave no creation time"
    assert (await _marks(harness, shop)).keys() == {("ORDERS", readable), ("ORDERS", stays), ("PRODUCTS", product)}
    # and two marks of records TikTok no longer has (deleted since), an order and a product
    async with harness.uow_factory() as uow:
        for kind, gone in ((SyncKind.ORDERS, "5760000000000000001"), (SyncKind.PRODUCTS, "1730000000000000001")):
            await uow.catalog.mark_unreadable(shop.id, kind, [RecordFailure(gone, "no title")], harness.clock.now())
        await uow.commit()
    # when TikTok serves the first order and the product readably again, not changed (no update_time, no webhook),
    # and each kind's poll runs
    sandbox.control("POST", "/faults/records", {"unreadable": [stays]})
    with log_lines("domain.services.rereads") as lines:
        await _polls_run(harness, shop, SyncKind.ORDERS, SyncKind.PRODUCTS)
        # then both are stored as TikTok has them, the order in the pool's ledger too, and their marks are gone, as
        # are those of the records TikTok does not have; the order still unreadable keeps its mark and reason, with
        # one WARNING line
        products_stored, orders_stored = await stored_catalog(harness.db, shop.id)
        expected_products, expected_orders = expected_catalog(
            sandbox, shop, datetime.fromtimestamp(in_import, UTC), harness.clock.now()
        )
        assert orders_stored[readable] == expected_orders[readable]
        assert products_stored[product] == expected_products[product]
        assert stays not in orders_stored
        assert await _ledger_lines(harness, shop, readable) > 0
        assert await _marks(harness, shop) == {("ORDERS", stays): create_time_0}
        assert [line for line in lines.messages if stays in line] == [
            f"shop {shop.id}: order {stays} read again by id is still unreadable ({create_time_0}); its mark stays "
            "(RECORDS_UNREADABLE) until a read of it is stored, TikTok no longer has it, or retention forgets it; "
            "later polls read it again without another line"
        ]
        # when the next orders poll reads it again, still unreadable
        await _polls_run(harness, shop, SyncKind.ORDERS)
        # then its mark stays, and no second line is written
        assert await _marks(harness, shop) == {("ORDERS", stays): create_time_0}
        assert len([line for line in lines.messages if stays in line]) == 1
        # when TikTok serves it readably too, but refuses Get Order Detail (a scope the app lacks) at the next poll
        sandbox.control("POST", "/faults/records", {"unreadable": []})
        refusal = {"rate": 1.0, "kinds": ["missing_scope"], "paths": [ORDER_DETAIL]}
        sandbox.control("POST", "/faults", refusal)
        read_before = await _reread_at(harness, shop, stays)
        await _polls_run(harness, shop, SyncKind.ORDERS)
        # then the mark stays with its reason, dated with this read (it waits its turn behind the others: review53
        # item 3), and the refusal is one line
        assert await _marks(harness, shop) == {("ORDERS", stays): create_time_0}
        assert await _reread_at(harness, shop, stays) > read_before
        (refused,) = [line for line in lines.messages if "refused" in line]
        assert refused.startswith(f"shop {shop.id}: TikTok refused to read 1 unreadable record(s) again by id")
    # when TikTok answers again, and a poll runs
    sandbox.control("POST", "/faults", {"rate": 0.0})
    await _polls_run(harness, shop, SyncKind.ORDERS)
    # then it is stored, no mark is left, and the shop's attention says nothing of unreadable records
    _, orders_stored = await stored_catalog(harness.db, shop.id)
    assert orders_stored[stays] == expected_orders[stays]
    assert await _marks(harness, shop) == {}
    async with harness.db.read_sessionmaker() as session:
        assert (await shop_sync_facts(session, shop.merchant_id, [shop.id]))[shop.id].unreadable is None


async def _ledger_lines(harness: SyncHarness, shop: Shop, tiktok_order_id: str) -> int:
    c = order_line_stock.c
    async with harness.db.read_sessionmaker() as session:
        query = select(func.count()).where(c.shop_id == shop.id, c.tiktok_order_id == tiktok_order_id)
        return int((await session.execute(query)).scalar_one())


@SQLITE_ONLY  # the marks' SQL on both databases: tests/integration/test_db_catalog.py
async def test_marks_whose_read_settles_nothing_do_not_hide_the_others(
    harness: SyncHarness, sandbox: SandboxServer
) -> None:
    """Review53 item 3: a mark whose read brought no outcome kept `reread_at` null and went first at every poll; ten
    of them (a poll's `REREAD_PRODUCTS`) took every products poll's reads, and no other product mark was read again."""
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    now = harness.clock.now()
    # given ten products stored DELETED, each marked unreadable an hour ago, that TikTok serves and lists nowhere
    deleted = [f"17300000000000{n:05d}" for n in range(REREAD_PRODUCTS)]
    async with harness.uow_factory() as uow:
        gone = [Product(p, f"Gone {p}", DELETED_PRODUCT_STATUS, now - timedelta(days=9), now - timedelta(days=2), ())
                for p in deleted]  # fmt: skip
        await uow.catalog.upsert_products(shop.id, gone)
        failures = [RecordFailure(p, "create_time is null") for p in deleted]
        await uow.catalog.mark_unreadable(shop.id, SyncKind.PRODUCTS, failures, now - timedelta(hours=1))
        await uow.commit()
    # and a product TikTok serves readably, marked after them, and a record TikTok sent without an id
    real = sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/products")["products"][0]["id"]
    async with harness.uow_factory() as uow:
        later = [RecordFailure(real, "no title"), RecordFailure(UNKNOWN_RECORD_ID, "Expected `str`, got `null`")]
        await uow.catalog.mark_unreadable(shop.id, SyncKind.PRODUCTS, later, now)
        await uow.commit()

    # when the products poll runs twice
    await _polls_run(harness, shop, SyncKind.PRODUCTS)
    await _polls_run(harness, shop, SyncKind.PRODUCTS)

    # then the deleted products' marks are gone (stored DELETED already: TikTok's last word), the readable product
    # has been read again and stored (its mark gone), and the mark without an id is left for retention, never read
    assert await _marks(harness, shop) == {("PRODUCTS", UNKNOWN_RECORD_ID): "Expected `str`, got `null`"}
    products_stored, _ = await stored_catalog(harness.db, shop.id)
    assert real in products_stored
    assert {products_stored[p]["status"] for p in deleted} == {DELETED_PRODUCT_STATUS}


def _reread_deps(harness: SyncHarness) -> IntakeDeps:
    """The poll's read of marks by id as `workers.resources` wires it (`IntakeDeps` over this harness)."""

    def shop_api(shop: Shop, tokens: ShopTokens) -> ShopApi:
        return harness.tiktok.for_shop(
            shop.tiktok_shop_cipher, shop.tokens, tokens.refreshed, stored_tokens=tokens.stored
        )

    return IntakeDeps(harness.uow_factory, shop_api, harness.clock, events=harness.events)


@pytest.fixture
def one_try_harness(
    database_url: str, sandbox: SandboxServer, tmp_path: Path, sync_harness_factory: Callable[..., SyncHarness]
) -> SyncHarness:
    """No worker, and a TikTok client that tries each call once: a failing read gives up at once."""
    settings = sync_settings(database_url, sandbox, tmp_path).with_overrides(webhooks_app_wide=True)
    return sync_harness_factory(settings.with_overrides(tiktok=replace(settings.tiktok, max_retries=0)))


@SQLITE_ONLY  # the marks' SQL on both databases: tests/integration/test_db_catalog.py
async def test_a_product_mark_whose_read_keeps_failing_does_not_hold_back_the_others(
    one_try_harness: SyncHarness, sandbox: SandboxServer
) -> None:
    """Review54a F2: one Get Product TikTok failed transiently (5xx, retries spent) dropped every read of the poll's
    batch and dated no mark: each poll took the same batch, and the other marks were never stored."""
    harness = one_try_harness
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    # given twelve marked products TikTok serves readably (more than a poll reads), the first in turn failing
    listed = sorted(
        p["id"]
        for p in sandbox.control("GET", f"/shops/{shop.tiktok_shop_id}/products")["products"]
        if p["status"] == "ACTIVATE"
    )[: REREAD_PRODUCTS + 2]
    failing = listed[0]
    async with harness.uow_factory() as uow:
        failures = [RecordFailure(p, "no title") for p in listed]
        await uow.catalog.mark_unreadable(shop.id, SyncKind.PRODUCTS, failures, harness.clock.now())
        await uow.commit()
    sandbox.control("POST", "/faults/failing", {"failing": [failing]})
    deps = _reread_deps(harness)

    # when the products poll reads marks again by id
    with log_lines("domain.services.rereads") as lines:
        first = await reread_unreadable(deps, shop.id, SyncKind.PRODUCTS)
    # then the reads TikTok answered are stored, the failing one's mark is dated and kept, and one INFO line says so
    assert first is not None and (first.stored, first.unavailable) == (REREAD_PRODUCTS - 1, 1)
    assert set(await _marks(harness, shop)) == {("PRODUCTS", p) for p in [failing, *listed[REREAD_PRODUCTS:]]}
    await _reread_at(harness, shop, failing)
    (said,) = [m for m in lines.messages if "not read again" in m]
    assert f"product:{failing}" in said, said
    # and the next poll reads the marks that waited longer: every readable product is stored, the failing one left
    await reread_unreadable(deps, shop.id, SyncKind.PRODUCTS)
    assert await _marks(harness, shop) == {("PRODUCTS", failing): "no title"}
    products_stored, _ = await stored_catalog(harness.db, shop.id)
    assert set(listed[1:]) <= products_stored.keys()


@SQLITE_ONLY  # the marks' SQL on both databases: tests/integration/test_db_catalog.py
async def test_an_order_batch_whose_call_fails_is_read_apart_down_to_the_failing_order(
    one_try_harness: SyncHarness, sandbox: SandboxServer
) -> None:
    """Review54a F2, orders: a poll's marked orders go in one Get Order Detail call; a 5xx of that call (one order
    TikTok cannot serve) dated no mark, and every poll asked for the same batch: none of its orders was ever read."""
    harness = one_try_harness
    shop = await connect_shop(harness.uow_factory, harness.tiktok, sandbox)
    # given more marked orders than a poll reads (TikTok has none of them), the first in turn failing the whole call
    marked = [f"57600000000{n:05d}" for n in range(REREAD_ORDERS + 10)]
    async with harness.uow_factory() as uow:
        failures = [RecordFailure(o, "create_time is 0") for o in marked]
        await uow.catalog.mark_unreadable(shop.id, SyncKind.ORDERS, failures, harness.clock.now())
        await uow.commit()
    sandbox.control("POST", "/faults/failing", {"failing": [marked[0]]})
    deps = _reread_deps(harness)

    # when the orders poll reads its batch again: TikTok fails the call
    first = await reread_unreadable(deps, shop.id, SyncKind.ORDERS)
    # then the batch is read apart, half by half, down to the failing order: the others are settled (TikTok has none
    # of them: their marks are removed), the failing one's mark is kept and dated
    assert first is not None and (first.stored, first.gone, first.unavailable) == (0, REREAD_ORDERS - 1, 1)
    # and the next poll reads the marks not read yet first, and settles them too
    second = await reread_unreadable(deps, shop.id, SyncKind.ORDERS)
    assert second is not None and (second.gone, second.unavailable) == (10, 1)
    assert await _marks(harness, shop) == {("ORDERS", marked[0]): "create_time is 0"}
