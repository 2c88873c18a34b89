"""Sample domain objects for the database tests: shops, products, orders and tasks with sensible defaults."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select, text

from adapters.db.engine import Database
from adapters.db.tables import (
    SHOP_OWNED_TABLES,
    order_line_stock,
    orders,
    products,
    shop_catalog_counts,
    shops,
    sku_ledger_units,
)
from adapters.db.uow import SqlUnitOfWork
from domain.catalog import LineItem, Money, Order, Product, Sku, WarehouseStock
from domain.shops import Region, Shop, TokenSet
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fixtures.waiting import DEADLINE_SECONDS

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_shop(
    merchant_id: str = "merchant-a",
    tiktok_shop_id: str | None = None,
    created_at: datetime = NOW,
    name: str | None = None,
) -> Shop:
    """A shop of `merchant_id`, named after its TikTok shop id unless `name` is given: no two of a merchant's shops may
    share a name (the unique index of migration 0057)."""
    tiktok_shop_id = tiktok_shop_id or f"7{uuid.uuid4().int % 10**15:015d}"
    return Shop(
        id=uuid.uuid4().hex,
        merchant_id=merchant_id,
        name=name or f"My TikTok store {tiktok_shop_id}",
        region=Region.US,
        tiktok_shop_id=tiktok_shop_id,
        tiktok_shop_name="Tok Shop",
        tiktok_shop_cipher="GCP_cipher_" + tiktok_shop_id,
        tiktok_shop_code="USLC1234",
        seller_name="Seller Inc",
        tokens=TokenSet(
            access_token="ROW_access-" + uuid.uuid4().hex,
            access_token_expires_at=NOW + timedelta(days=7),
            refresh_token="ROW_refresh-" + uuid.uuid4().hex,
            refresh_token_expires_at=NOW + timedelta(days=365),
            seller_name="Seller Inc",
            open_id="open-1",
        ),
        authorized_at=NOW,
        created_at=created_at,
    )


def make_product(tiktok_id: str, *, title: str = "T-shirt", skus: int = 2, created_at: datetime = NOW) -> Product:
    return Product(
        tiktok_product_id=tiktok_id,
        title=title,
        status="ACTIVATE",
        created_at=created_at,
        updated_at=created_at,
        skus=tuple(
            Sku(
                tiktok_sku_id=f"{tiktok_id}-sku{n}",
                seller_sku=f"SELLER-{tiktok_id}-{n}",
                price=Money(Decimal("19.90"), "USD"),
                stock=(WarehouseStock("wh-1", 3), WarehouseStock("wh-2", n)),
            )
            for n in range(skus)
        ),
    )


def make_order(
    tiktok_id: str, *, status: str = "AWAITING_SHIPMENT", items: int = 2, created_at: datetime = NOW
) -> Order:
    return Order(
        tiktok_order_id=tiktok_id,
        status=status,
        created_at=created_at,
        updated_at=created_at,
        total=Money(Decimal("39.80"), "USD"),
        line_items=tuple(
            LineItem(
                tiktok_line_item_id=f"{tiktok_id}-li{n}",
                tiktok_sku_id=f"sku-{n}",
                tiktok_product_id=f"product-{n}",
                seller_sku=f"SELLER-{n}",
                product_name=f"Product {n}",
                quantity=n + 1,
                sale_price=Money(Decimal("19.90"), "USD"),
            )
            for n in range(items)
        ),
        buyer_user_id="buyer-1",
        recipient_name="Ada",
        recipient_region="US",
    )


def make_task(shop: Shop, kind: SyncKind = SyncKind.PRODUCTS, created_at: datetime = NOW) -> SyncTask:
    return SyncTask.queue(shop.id, shop.merchant_id, kind, SyncTrigger.MANUAL, created_at)


def make_task_as(
    shop: Shop,
    kind: SyncKind,
    trigger: SyncTrigger,
    status: SyncTaskStatus,
    days_ago: float,
    now: datetime = NOW,
    **counts: int,
) -> SyncTask:
    """A task in `status`, created `days_ago` days before `now`; a finished one ran for five minutes."""
    created_at = now - timedelta(days=days_ago)
    finished_at = created_at + timedelta(minutes=5) if status.is_terminal else None
    return SyncTask(
        id=uuid.uuid4().hex, shop_id=shop.id, merchant_id=shop.merchant_id, kind=kind, trigger=trigger,
        status=status, created_at=created_at, finished_at=finished_at, **counts,
    )  # fmt: skip


async def add_shop(uow_factory: Callable[[], SqlUnitOfWork], shop: Shop) -> Shop:
    async with uow_factory() as uow:
        await uow.shops.add(shop)
        await uow.commit()
    return shop


async def row_counts(db: Database, shop_id: str) -> dict[str, int]:
    """Rows of the shop in every table that holds a shop's rows, the shop row included."""
    async with db.read_sessionmaker() as session:
        counts = {
            table.name: (await session.execute(select(func.count()).where(table.c.shop_id == shop_id))).scalar_one()
            for table in SHOP_OWNED_TABLES
        }
        counts["shops"] = (await session.execute(select(func.count()).where(shops.c.id == shop_id))).scalar_one()
    return counts


async def catalog_totals(db: Database) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(the running count of each shop's products and orders, as `shop_catalog_counts` keeps them; the same counted
    over the rows): equal, or a page's `totalCount` and a shop's counts are wrong. Zero counts are left out of both
    (a shop with nothing of a table imported has no row for it)."""
    async with db.read_sessionmaker() as session:
        kept = select(shop_catalog_counts.c.shop_id, shop_catalog_counts.c.catalog, shop_catalog_counts.c.total)
        running = {(shop, catalog): total for shop, catalog, total in await session.execute(kept) if total}
        counted: dict[tuple[str, str], int] = {}
        for table in (products, orders):
            query = select(table.c.shop_id, func.count()).group_by(table.c.shop_id)
            counted.update({(shop, table.name): count for shop, count in await session.execute(query)})
    return running, counted


async def ledger_units(db: Database) -> tuple[dict[tuple[str, str], tuple[int, int]], ...]:
    """(the running units per shop and TikTok SKU, (ingested, released), as `sku_ledger_units` keeps them; the same
    summed over the ledger lines, as the push read them before): equal, or the fence reads wrong counts. SKUs at
    (0, 0) are left out of both (a SKU none of whose lines counts may have a row or not)."""
    lines = order_line_stock.c
    ingested = func.sum(case((lines.state.in_(("RESERVED", "DEDUCTED")), lines.quantity), else_=0))
    released = func.sum(case((lines.state == "RELEASED", lines.quantity), else_=0))
    summed_query = select(lines.shop_id, lines.tiktok_sku_id, ingested, released).group_by(
        lines.shop_id, lines.tiktok_sku_id
    )
    units = sku_ledger_units.c
    async with db.read_sessionmaker() as session:
        running_rows = (
            await session.execute(select(units.shop_id, units.tiktok_sku_id, units.ingested, units.released))
        ).all()
        summed_rows = (await session.execute(summed_query)).all()
    running = {(shop, sku): (int(i), int(r)) for shop, sku, i, r in running_rows if (i, r) != (0, 0)}
    summed = {(shop, sku): (int(i), int(r)) for shop, sku, i, r in summed_rows if (i, r) != (0, 0)}
    return running, summed


async def until_a_writer_waits_on_a_lock(db: Database, timeout: float = DEADLINE_SECONDS, *, writers: int = 1) -> None:
    """PostgreSQL: until `writers` other sessions of this database wait for a lock (the racing writers are now
    blocked behind the caller's open transaction); raises after `timeout` seconds. SQLite runs one writer at a time
    (`BEGIN IMMEDIATE`) and shows no waiter to observe: the racing writer is blocked or not yet started, and either
    way cannot write before the caller commits, so this returns at once."""
    if db.is_sqlite:
        return
    deadline = time.monotonic() + timeout
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while True:
        async with db.read_sessionmaker() as session:
            if (await session.execute(waiting)).scalar_one() >= writers:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {writers} writer(s) waited on a lock within {timeout} s")
        await asyncio.sleep(0.02)


async def finishes_before_waiting_on_a_lock(
    db: Database, writer: asyncio.Task[object], timeout: float = DEADLINE_SECONDS
) -> bool:
    """PostgreSQL: True once `writer` is done, False once a session of this database waits for a lock first (the
    writer is blocked behind the caller's open transaction); raises after `timeout` seconds. Unlike racing
    `until_a_writer_waits_on_a_lock` as a task, nothing is cancelled here: a poll cancelled mid-query left its
    connection to be closed after the test's event loop had ended (the leaked connection of CI run 43)."""
    deadline = time.monotonic() + timeout
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while True:
        done, _ = await asyncio.wait({writer}, timeout=0.02)
        if done:
            return True
        async with db.read_sessionmaker() as session:
            if (await session.execute(waiting)).scalar_one() > 0:
                return writer.done()
        if time.monotonic() > deadline:
            raise AssertionError(f"the writer neither finished nor waited on a lock within {timeout} s")
