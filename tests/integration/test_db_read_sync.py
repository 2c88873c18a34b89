"""GraphQL read models of sync and intake on SQLite and PostgreSQL, called directly (no app server): a shop's webhook
events (`Shop.webhookEvents`, `node(id)`), what its tasks say for `Shop.attention`, the latest task of each kind
(what `syncTaskUpdated` sends first), and orders by id (`node(id)`); another merchant's rows never come back."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from adapters.crypto import TokenCipher
from adapters.db import Database, queries, uow_factory
from adapters.db.latest_tasks import latest_sync_tasks
from adapters.db.shop_facts import shop_sync_facts, shop_sync_facts_query
from adapters.db.tables import CHANGES_FOUND_WHERE, FINISHED_TASK_WHERE, orders
from adapters.db.webhook_queries import webhook_event_page, webhook_events_by_ids
from domain.attention import SyncFacts
from domain.intake import Notification, WebhookEvent
from domain.shops import Shop
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.integration.db_samples import NOW, add_shop, make_order, make_shop

MINUTE = timedelta(minutes=1)


def _id(name: str) -> str:
    """A row id (32 hex digits, as every id is) spelling `name`, so ids order as their names do."""
    return name.encode().hex().ljust(32, "0")


def _event(event_id: str, shop: Shop, tts_id: str, at: Any) -> WebhookEvent:
    notification = Notification(1, tts_id, shop.tiktok_shop_id, 1_700_000_000, {"order_id": tts_id})
    return replace(WebhookEvent.receive(notification, shop.id, at), id=event_id)


async def test_a_shops_webhook_events_newest_first_paged_and_the_merchants_only(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    shop, sibling = [await add_shop(uows, make_shop("merchant-a")) for _ in range(2)]
    theirs = await add_shop(uows, make_shop("merchant-b"))
    async with uows() as uow:
        for event in [
            _event(_id("ev-1"), shop, "101", NOW),
            _event(_id("ev-3"), shop, "103", NOW + MINUTE),
            _event(_id("ev-2"), shop, "102", NOW + MINUTE),  # same time as ev-3: the id breaks the tie
            _event(_id("ev-4"), shop, "104", NOW + 2 * MINUTE),
            _event(_id("ev-5"), sibling, "105", NOW + 3 * MINUTE),
            _event(_id("ev-6"), theirs, "106", NOW + 3 * MINUTE),
        ]:
            await uow.webhook_events.add(event)
        await uow.commit()

    async def page(merchant: str, first: int, after: str | None = None, shop_id: str = shop.id):  # type: ignore[no-untyped-def]
        async with database.read_sessionmaker() as session:
            return await webhook_event_page(session, merchant, shop_id, first, after, with_total=True)

    first = await page("merchant-a", 2)
    assert ([r.event.id for r in first.items], first.has_next_page, first.total_count) == (
        [_id("ev-4"), _id("ev-3")],
        True,
        4,
    )
    rest = await page("merchant-a", 2, first.items[-1].cursor)
    assert ([r.event.id for r in rest.items], rest.has_next_page, rest.total_count) == (
        [_id("ev-2"), _id("ev-1")],
        False,
        4,
    )
    assert (rest.items[0].event.tts_notification_id, rest.items[0].event.received_at) == ("102", NOW + MINUTE)
    assert rest.items[0].event.data == {"order_id": "102"}
    assert (await page("merchant-a", 4)).has_next_page is False
    assert (await page("merchant-b", 10)) == ((), False, 0)  # not merchant-b's shop
    assert [r.event.id for r in (await page("merchant-b", 10, shop_id=theirs.id)).items] == [_id("ev-6")]
    async with database.read_sessionmaker() as session:
        untotalled = await webhook_event_page(session, "merchant-a", shop.id, 1, with_total=False)
        by_ids = await webhook_events_by_ids(
            session, "merchant-a", [_id("ev-1"), _id("ev-5"), _id("ev-6"), _id("ev-9")]
        )
        none = await webhook_events_by_ids(session, "merchant-a", [])
    assert ([r.event.id for r in untotalled.items], untotalled.total_count) == ([_id("ev-4")], None)
    assert {k: (v.event.id, v.event.shop_id) for k, v in by_ids.items()} == {
        _id("ev-1"): (_id("ev-1"), shop.id), _id("ev-5"): (_id("ev-5"), sibling.id),
    }  # fmt: skip
    assert none == {}


def _task(task_id: str, shop: Shop, kind: SyncKind, trigger: SyncTrigger, status: SyncTaskStatus, **kw: Any):  # type: ignore[no-untyped-def]
    return SyncTask(task_id, shop.id, shop.merchant_id, kind, trigger, status, kw.pop("created_at", NOW), **kw)


async def _add_tasks(database: Database, cipher: TokenCipher, *tasks: SyncTask) -> None:
    async with uow_factory(database, cipher)() as uow:
        for task in tasks:
            await uow.sync_tasks.add(task)
        await uow.commit()


async def test_what_a_shops_tasks_say_for_its_attention(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    polled, failing, idle = [await add_shop(uows, make_shop("merchant-a")) for _ in range(3)]
    theirs = await add_shop(uows, make_shop("merchant-b"))
    p, o = SyncKind.PRODUCTS, SyncKind.ORDERS
    poll, manual = SyncTrigger.SCHEDULED, SyncTrigger.MANUAL
    ok, failed = SyncTaskStatus.SUCCEEDED, SyncTaskStatus.FAILED
    await _add_tasks(
        database,
        cipher,
        # polls that found a change: one created (1), one updated (1); the later one's finish is the fact
        _task("a-1", polled, p, poll, ok, created=1, finished_at=NOW + MINUTE),
        _task("a-2", polled, p, poll, ok, updated=1, finished_at=NOW + 2 * MINUTE),
        _task("a-3", polled, o, poll, ok, unchanged=7, finished_at=NOW + 5 * MINUTE),  # found nothing new
        _task("a-4", polled, p, manual, ok, created=5, finished_at=NOW + 6 * MINUTE),  # not a poll
        _task("a-5", polled, o, poll, failed, created=3, finished_at=NOW + 4 * MINUTE),  # failed, then a-3 ran
        _task("a-6", polled, p, poll, failed, error_code="TIKTOK_UNAVAILABLE", finished_at=NOW + 3 * MINUTE),
        # the latest PRODUCTS task failed; the latest ORDERS one lost the authorization (the shop's status says it)
        _task("b-1", failing, p, manual, ok, created=2, finished_at=NOW + MINUTE),
        _task("b-2", failing, p, manual, failed, error_code="TIKTOK_UNAVAILABLE", finished_at=NOW + 10 * MINUTE),
        _task("b-3", failing, o, poll, failed, error_code="REAUTHORIZATION_REQUIRED", finished_at=NOW + 20 * MINUTE),
        _task("b-4", failing, o, manual, SyncTaskStatus.RUNNING, created_at=NOW + 30 * MINUTE),  # not finished
        _task("d-1", theirs, o, poll, failed, error_code="TIKTOK_UNAVAILABLE", finished_at=NOW + 7 * MINUTE),
    )
    async with database.read_sessionmaker() as session:
        mine = await shop_sync_facts(session, "merchant-a", [polled.id, failing.id, idle.id, theirs.id])
        one = await shop_sync_facts(session, "merchant-a", [failing.id])
        for_b = await shop_sync_facts(session, "merchant-b", [polled.id, theirs.id])
        none = await shop_sync_facts(session, "merchant-a", [])
    # (each failing one with its failed task's code: SYNC_FAILING's words depend on it, newcomer57 F10)
    unavailable = "TIKTOK_UNAVAILABLE"
    b_2 = SyncFacts(failing_since=NOW + 10 * MINUTE, failing_kind="PRODUCTS", failing_code=unavailable)
    assert mine == {polled.id: SyncFacts(changes_found_at=NOW + 2 * MINUTE), failing.id: b_2, idle.id: SyncFacts()}
    assert one == {failing.id: b_2}
    assert for_b == {
        theirs.id: SyncFacts(failing_since=NOW + 7 * MINUTE, failing_kind="ORDERS", failing_code=unavailable)
    }
    assert none == {}


@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "analyzed"])
async def test_a_shops_sync_facts_are_index_seeks_not_a_walk_of_its_task_history(
    database: Database, cipher: TokenCipher, analyzed: bool
) -> None:
    # given a shop with a history of polls, some that found a change, and manual imports of both kinds
    shop = await add_shop(uow_factory(database, cipher), make_shop("merchant-a"))
    p, o = SyncKind.PRODUCTS, SyncKind.ORDERS
    poll, manual, ok = SyncTrigger.SCHEDULED, SyncTrigger.MANUAL, SyncTaskStatus.SUCCEEDED
    await _add_tasks(
        database,
        cipher,
        *(
            _task(f"h-{n:03}", shop, [p, o][n % 2], [poll, manual][n % 3 == 0], ok, updated=n % 5 == 0,
                  finished_at=NOW + n * MINUTE)
            for n in range(60)
        ),
    )  # fmt: skip
    sqlite = database.dialect_name == "sqlite"
    statement = shop_sync_facts_query("merchant-a", [shop.id, _id("no-such-shop")])
    if analyzed:
        async with database.write_engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    # PostgreSQL: in a transaction (the write sessions'), rolled back at the end with its `SET`s; the read sessions run
    # in autocommit, where they would stay on the pooled connection for whoever takes it next
    async with (database.read_sessionmaker if sqlite else database.write_sessionmaker)() as session:
        if sqlite:
            sql = str(statement.compile(dialect=database.read_engine.dialect, compile_kwargs={"literal_binds": True}))
            plans = {"literal": (await session.execute(text("EXPLAIN QUERY PLAN " + sql))).all()}
        else:
            # PostgreSQL: scans priced out (a long history rules them out), and the generic plan of the prepared
            # statement asyncpg runs (bound parameters: a partial index's predicate must be in the query's text)
            await session.execute(text("SET enable_seqscan = off"))
            compiled = statement.compile(
                dialect=database.read_engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            await session.execute(text("SET plan_cache_mode = force_generic_plan"))
            await session.execute(text(f"PREPARE facts AS {compiled}"))
            values = compiled.construct_params()
            arguments = ", ".join(f"'{values[name]}'" for name in compiled.positiontup or ())
            plans = {"generic": (await session.execute(text(f"EXPLAIN EXECUTE facts({arguments})"))).all()}
            sql = str(statement.compile(dialect=database.read_engine.dialect, compile_kwargs={"literal_binds": True}))
            plans["literal"] = (await session.execute(text(f"EXPLAIN {sql}"))).all()
            await session.execute(text("DEALLOCATE facts"))
    for rows in plans.values():
        plan = "\n".join(str(row[-1]) for row in rows)
        # then each fact is one seek down its partial index (migration 0027), newest first, one row: when a poll
        # last found a change, and the latest finished task of each kind; no other index of sync_tasks, nothing
        # sorted (grouping the history cost 41 ms on SQLite, 34 ms on PostgreSQL at 30,000 tasks of the shop)
        assert plan.count("ix_sync_tasks_changes_found_shop_id_finished_at") == 1, plan
        assert plan.count("ix_sync_tasks_finished_shop_id_kind_finished_at_id") == len(SyncKind), plan
        tasks_indexes = [line for line in plan.splitlines() if "sync_tasks" in line]
        assert len(tasks_indexes) == 1 + len(SyncKind), plan
        if sqlite:
            assert "TEMP B-TREE" not in plan and "SCAN sync_tasks" not in plan, plan
        else:
            assert plan.count("Scan Backward using ix_sync_tasks_") == 1 + len(SyncKind), plan
            assert plan.count("Limit") == 1 + len(SyncKind) and "Sort" not in plan, plan
    # (the indexes' predicates, which the read repeats as literals, are the facts' conditions)
    assert (str(FINISHED_TASK_WHERE), str(CHANGES_FOUND_WHERE)) == (
        "finished_at IS NOT NULL",
        f"\"trigger\" = '{poll}' AND status = '{ok}' AND (created > 0 OR updated > 0)",
    )
    async with database.read_sessionmaker() as session:
        facts = await shop_sync_facts(session, "merchant-a", [shop.id])
    assert facts == {shop.id: SyncFacts(changes_found_at=NOW + 55 * MINUTE)}  # h-055: updated, a poll


async def test_the_latest_task_of_each_shop_and_kind_oldest_first_up_to_the_limit(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    one, two = [await add_shop(uows, make_shop("merchant-a")) for _ in range(2)]
    theirs = await add_shop(uows, make_shop("merchant-b"))
    p, o, manual = SyncKind.PRODUCTS, SyncKind.ORDERS, SyncTrigger.MANUAL
    ok, failed = SyncTaskStatus.SUCCEEDED, SyncTaskStatus.FAILED
    await _add_tasks(
        database,
        cipher,
        _task("a-1", one, p, manual, ok, created_at=NOW),
        _task("a-2", one, p, manual, failed, created_at=NOW + 2 * MINUTE),
        _task("a-3", one, o, manual, ok, created_at=NOW + MINUTE, created=4),
        _task("b-1", two, p, manual, ok, created_at=NOW + 3 * MINUTE),
        _task("b-2", two, o, manual, ok, created_at=NOW + 4 * MINUTE),
        _task("b-3", two, o, manual, failed, created_at=NOW + 4 * MINUTE),  # same time as b-2: the id breaks the tie
        _task("d-1", theirs, o, manual, ok, created_at=NOW + 5 * MINUTE),
    )

    async def latest(merchant: str, shop_id: str | None = None, limit: int = 100) -> list[str]:
        async with database.read_sessionmaker() as session:
            return [t.id for t in await latest_sync_tasks(session, merchant, shop_id, limit=limit)]

    assert await latest("merchant-a") == ["a-3", "a-2", "b-1", "b-3"]
    assert await latest("merchant-a", limit=2) == ["b-1", "b-3"]
    assert await latest("merchant-a", one.id) == ["a-3", "a-2"]
    assert await latest("merchant-a", theirs.id) == []
    assert await latest("merchant-b") == ["d-1"]
    async with database.read_sessionmaker() as session:
        (read,) = await latest_sync_tasks(session, "merchant-a", one.id, limit=1)
    assert (read.id, read.shop_id, read.kind, read.status, read.created_at) == (
        "a-2",
        one.id,
        p,
        failed,
        NOW + 2 * MINUTE,
    )
    async with database.read_sessionmaker() as session:
        (orders_task,) = [t for t in await latest_sync_tasks(session, "merchant-a", one.id) if t.kind is o]
    assert (orders_task.created, orders_task.status) == (4, ok)


async def test_orders_by_id_with_their_line_items_are_the_merchants_only(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    theirs = await add_shop(uows, make_shop("merchant-b"))
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [make_order("o1", items=3), make_order("o2", status="COMPLETED")])
        await uow.catalog.upsert_orders(theirs.id, [make_order("o3")])
        await uow.commit()
    async with database.read_sessionmaker() as session:
        ids = dict((await session.execute(select(orders.c.tiktok_order_id, orders.c.id))).all())
        found = await queries.orders_by_ids(session, "merchant-a", [ids["o1"], ids["o3"], "nope"])
        none = await queries.orders_by_ids(session, "merchant-a", [])
        for_b = await queries.orders_by_ids(session, "merchant-b", [ids["o1"], ids["o2"], ids["o3"]])
    assert list(found) == [ids["o1"]]
    o1 = found[ids["o1"]]
    assert (o1.shop_id, o1.tiktok_order_id, o1.status, o1.created_at, o1.recipient_name) == (
        shop.id, "o1", "AWAITING_SHIPMENT", NOW, "Ada",
    )  # fmt: skip
    assert [(i.tiktok_line_item_id, i.quantity) for i in o1.line_items] == [("o1-li0", 1), ("o1-li1", 2), ("o1-li2", 3)]
    assert none == {}
    assert {k: [i.tiktok_line_item_id for i in v.line_items] for k, v in for_b.items()} == {
        ids["o3"]: ["o3-li0", "o3-li1"]
    }
