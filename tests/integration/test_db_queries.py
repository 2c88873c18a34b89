"""Read queries on SQLite and PostgreSQL: keyset pages, merchant scoping, and a constant number of statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, text

from adapters.crypto import TokenCipher
from adapters.db import Database, queries, uow_factory
from adapters.db.cursors import InvalidCursorError
from adapters.db.read_models import ShopRead
from adapters.db.tables import ACTIVE_TASK_WHERE, shops
from domain.catalog import Money
from domain.shops import ShopStatus
from domain.sync import ACTIVE_STATUSES, SyncKind, SyncTaskStatus
from tests.fixtures.plans import plan_of
from tests.fixtures.servers import POSTGRES_ONLY
from tests.integration.db_samples import NOW, add_shop, make_order, make_product, make_shop, make_task


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.read_engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.read_engine.sync_engine, "before_cursor_execute", record)


async def test_shop_pages_walk_every_shop_once_and_only_the_merchants(database: Database, cipher: TokenCipher) -> None:
    # given 5 shops of merchant A (some created at the same instant) and 2 of merchant B
    uows = uow_factory(database, cipher)
    mine = [await add_shop(uows, make_shop("merchant-a", created_at=NOW + timedelta(minutes=n // 2))) for n in range(5)]
    for _ in range(2):
        await add_shop(uows, make_shop("merchant-b"))

    # when merchant A pages through them two at a time
    seen: list[ShopRead] = []
    after = None
    async with database.read_sessionmaker() as session:
        while True:
            page = await queries.shop_page(session, "merchant-a", 2, after)
            assert page.total_count == 5
            seen.extend(page.items)
            if not page.has_next_page:
                break
            after = page.items[-1].cursor

    # then every shop of A comes once, oldest first, and none of B
    expected = sorted(mine, key=lambda s: (s.created_at, s.id))
    assert [s.id for s in seen] == [s.id for s in expected]
    assert {s.merchant_id for s in seen} == {"merchant-a"}
    first = seen[0]
    assert first.expires_at == expected[0].tokens.refresh_token_expires_at
    assert first.status(NOW) is ShopStatus.ACTIVE
    # no token, not even encrypted: only their expiries and whether a configured key decrypts them (a flag)
    fields = ShopRead.__dataclass_fields__
    assert not any("token" in name and "expires" not in name and name != "tokens_unreadable" for name in fields)
    assert first.tokens_unreadable is False  # read without a cipher: not checked

    async with database.read_sessionmaker() as session:
        found = await queries.shops_by_ids(session, "merchant-b", [s.id for s in mine])
    assert found == {}


async def test_product_page_loads_skus_newest_first(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    async with uows() as uow:
        await uow.catalog.upsert_products(
            shop.id, [make_product(f"p{n}", skus=n % 3 + 1, created_at=NOW + timedelta(hours=n)) for n in range(7)]
        )
        await uow.commit()

    async with database.read_sessionmaker() as session:
        page = await queries.product_page(session, "merchant-a", shop.id, 3)
        rest = await queries.product_page(session, "merchant-a", shop.id, 10, page.items[-1].cursor)
        other_merchant = await queries.product_page(session, "merchant-b", shop.id, 10)
        counts = await queries.product_counts(session, "merchant-a", [shop.id, "unknown"])
        by_id = await queries.products_by_ids(session, "merchant-a", [page.items[0].id])

    assert [p.tiktok_product_id for p in page.items] == ["p6", "p5", "p4"]
    assert page.has_next_page and page.total_count == 7
    assert [p.tiktok_product_id for p in rest.items] == ["p3", "p2", "p1", "p0"]
    assert not rest.has_next_page
    assert [s.tiktok_sku_id for s in page.items[0].skus] == ["p6-sku0"]
    assert page.items[0].skus[0].price == Money(Decimal("19.90"), "USD")
    assert page.items[0].skus[0].quantity == 3
    assert other_merchant.items == () and other_merchant.total_count == 0
    assert counts == {shop.id: 7}
    assert by_id == {page.items[0].id: page.items[0]}


async def test_order_page_filters_paginates_and_is_scoped(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    other = await add_shop(uows, make_shop("merchant-b"))
    async with uows() as uow:
        await uow.catalog.upsert_orders(
            shop.id,
            [
                make_order(f"o{n}", status="COMPLETED" if n % 2 else "AWAITING_SHIPMENT", created_at=NOW + timedelta(n))
                for n in range(10)
            ],
        )
        await uow.catalog.upsert_orders(other.id, [make_order("theirs")])
        await uow.commit()

    async with database.read_sessionmaker() as session:
        completed = await queries.order_page(session, "merchant-a", shop.id, 3, status="COMPLETED")
        after = await queries.order_page(
            session, "merchant-a", shop.id, 3, completed.items[-1].cursor, status="COMPLETED"
        )
        recent = await queries.order_page(
            session, "merchant-a", shop.id, 50, created_after=NOW + timedelta(days=6), with_total=False
        )
        foreign = await queries.order_page(session, "merchant-a", other.id, 50)
        counts = await queries.order_counts(session, "merchant-a", [shop.id, other.id])

    assert [o.tiktok_order_id for o in completed.items] == ["o9", "o7", "o5"]
    assert completed.total_count == 5 and completed.has_next_page
    assert [o.tiktok_order_id for o in after.items] == ["o3", "o1"] and not after.has_next_page
    assert [o.tiktok_order_id for o in recent.items] == ["o9", "o8", "o7"] and recent.total_count is None
    assert foreign.items == () and foreign.total_count == 0
    assert counts == {shop.id: 10}
    line_items = completed.items[0].line_items
    assert [(i.tiktok_line_item_id, i.quantity) for i in line_items] == [("o9-li0", 1), ("o9-li1", 2)]
    assert completed.items[0].total == Money(Decimal("39.80"), "USD")


async def test_the_orders_page_runs_the_same_statements_whatever_its_size(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    async with uows() as uow:
        await uow.catalog.upsert_orders(
            shop.id, [make_order(f"o{n}", items=3, created_at=NOW + timedelta(minutes=n)) for n in range(60)]
        )
        await uow.commit()

    sizes = {}
    for first in (10, 50):
        async with database.read_sessionmaker() as session:
            with count_statements(database) as statements:
                page = await queries.order_page(session, "merchant-a", shop.id, first)
        assert len(page.items) == first and all(len(o.line_items) == 3 for o in page.items)
        sizes[first] = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(sizes[10]) == len(sizes[50]) == 3  # page, line items, total


async def test_sync_task_pages_filter_by_shop_and_status(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    shop_one = await add_shop(uows, make_shop("merchant-a"))
    shop_two = await add_shop(uows, make_shop("merchant-a"))
    foreign = await add_shop(uows, make_shop("merchant-b"))
    async with uows() as uow:
        done = make_task(shop_one, SyncKind.PRODUCTS, created_at=NOW)
        done.begin_attempt(NOW)
        done.succeed(NOW)
        await uow.sync_tasks.add(done)
        await uow.sync_tasks.add(make_task(shop_one, SyncKind.ORDERS, created_at=NOW + timedelta(seconds=1)))
        await uow.sync_tasks.add(make_task(shop_two, SyncKind.ORDERS, created_at=NOW + timedelta(seconds=2)))
        await uow.sync_tasks.add(make_task(foreign, SyncKind.ORDERS, created_at=NOW))
        await uow.commit()

    async with database.read_sessionmaker() as session:
        everything = await queries.sync_task_page(session, "merchant-a", 10)
        of_shop_one = await queries.sync_task_page(session, "merchant-a", 10, shop_id=shop_one.id)
        queued = await queries.sync_task_page(session, "merchant-a", 1, statuses=[SyncTaskStatus.QUEUED])
        no_status = await queries.sync_task_page(session, "merchant-a", 10, statuses=[])  # a set: matches none
        single = await queries.sync_task(session, "merchant-a", done.id)
        not_mine = await queries.sync_task(session, "merchant-b", done.id)

    assert [t.shop_id for t in everything.items] == [shop_two.id, shop_one.id, shop_one.id]
    assert everything.total_count == 3
    assert [t.kind for t in of_shop_one.items] == [SyncKind.ORDERS, SyncKind.PRODUCTS]
    assert queued.total_count == 2 and queued.has_next_page and len(queued.items) == 1
    assert (no_status.items, no_status.total_count, no_status.has_next_page) == ((), 0, False)
    assert single is not None and single.status is SyncTaskStatus.SUCCEEDED and single.progress == 1.0
    assert not_mine is None


async def test_a_forged_cursor_is_refused(database: Database) -> None:
    async with database.read_sessionmaker() as session:
        with pytest.raises(InvalidCursorError):
            await queries.shop_page(session, "merchant-a", 10, "not-a-cursor")


async def test_tasks_by_id_are_read_through_their_primary_key_not_the_merchants_history(database: Database) -> None:
    # given a page's worth of task ids (a Task Center page, a feed's followed tasks)
    statement = queries.sync_tasks_by_ids_query([f"{n:032x}" for n in range(20)])
    # when the database plans their read, as lookups (PostgreSQL: scans priced out, which its statistics of a long
    # history rule out; SQLite keeps none, it plans by the query's shape alone)
    sqlite = database.dialect_name == "sqlite"
    plan = " ".join(await plan_of(database, statement))
    # then it goes through the tasks' primary key, never through `(merchant_id, created_at, id)`, every task of the
    # merchant's history tested against the ids (20 ids beside 30,000 tasks: 7.2 ms on SQLite, growing with it)
    assert ("sqlite_autoindex_sync_tasks_1" if sqlite else "pk_sync_tasks") in plan, plan
    assert "ix_sync_tasks_merchant_id" not in plan, plan


@pytest.mark.parametrize("followed", [0, 20], ids=["no-ids", "20-ids"])
async def test_a_feeds_read_takes_the_active_tasks_from_their_own_index_not_the_merchants_history(
    database: Database, followed: int
) -> None:
    # given a feed's read: the merchant's active tasks (at most 100) and the ids its followers follow
    statement = queries.followed_sync_tasks_query("merchant-a", [f"{n:032x}" for n in range(followed)], 100)
    # when the database plans it (PostgreSQL: scans priced out, which its statistics of a long history rule out;
    # SQLite keeps none, it plans by the query's shape alone)
    sqlite = database.dialect_name == "sqlite"
    plan = " ".join(await plan_of(database, statement))
    # then the active tasks come from the index of the active ones alone (migration 0026), the followed ids by the
    # primary key, never through `(merchant_id, created_at, id)`: each read walked the merchant's whole history to
    # find the few active tasks (30,000 finished tasks: 12.5 ms a read on SQLite), once per update of a running task
    assert "ix_sync_tasks_active_merchant_id_created_at_id" in plan, plan
    # (the index's predicate, which the read repeats as a literal, is the domain's active statuses)
    assert str(ACTIVE_TASK_WHERE) == f"status IN ({', '.join(repr(s.value) for s in ACTIVE_STATUSES)})"
    assert "ix_sync_tasks_merchant_id" not in plan, plan
    assert (("sqlite_autoindex_sync_tasks_1" if sqlite else "pk_sync_tasks") in plan) is (followed > 0), plan


@POSTGRES_ONLY  # SQLite's reads have their own read-only connections, whose deferred BEGIN takes no lock
async def test_a_read_session_keeps_no_transaction_open_between_its_statements(database: Database) -> None:
    """soak53: under a CPU-starved event loop a GraphQL read kept its pooled connection for the loop's turns around
    its statements, and a transaction open all along (BEGIN, and ROLLBACK at its close: two round trips more, the
    ACCESS SHARE locks of the tables it read held meanwhile, which a migration's ALTER TABLE queues behind). Reads
    run in autocommit: each statement is a transaction of its own, as READ COMMITTED gave each a snapshot of its own."""
    async with database.read_sessionmaker() as session:
        backend = await session.scalar(text("SELECT pg_backend_pid()"))
        await session.execute(select(shops.c.id).limit(1))
        # while the read's session is still open (its caller awaiting something else)
        async with database.write_sessionmaker() as observer:
            state, locks = (
                await observer.execute(
                    text(
                        "SELECT state, (SELECT count(*) FROM pg_locks WHERE pid = :pid"
                        " AND relation = 'shops'::regclass) FROM pg_stat_activity WHERE pid = :pid"
                    ),
                    {"pid": backend},
                )
            ).one()
    # then its connection is idle, not "idle in transaction", and holds no lock on what it read
    assert (state, locks) == ("idle", 0)
