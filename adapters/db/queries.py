"""Read side for GraphQL: merchant-scoped, keyset-paginated queries returning read models.

Every function takes the merchant id and sees nothing of another merchant's. The number of SQL statements of a
page never depends on its size: a page is one SELECT, its children one more, its total one more when asked.
Use a session from `Database.read_sessionmaker`, one per resolver batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, Table, and_, func, literal, select, tuple_, union_all
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.crypto import TokenCipher
from adapters.db.cursors import CursorKind, decode_cursor
from adapters.db.read_models import (
    LineItemRead,
    OrderRead,
    Page,
    ProductRead,
    ShopRead,
    SkuRead,
    SyncTaskRead,
)
from adapters.db.rows import sync_task_fields
from adapters.db.tables import (
    ACTIVE_TASK_WHERE,
    UTCDateTime,
    line_items,
    orders,
    products,
    shop_catalog_counts,
    shops,
    sku_links,
    skus,
    sync_tasks,
)
from domain.catalog import Money
from domain.shops import Region
from domain.stock_levels import last_known_stock
from domain.sync import SyncTaskStatus, SyncTrigger

_SHOP_COLUMNS = [c for c in shops.columns if not c.name.endswith("_encrypted")]  # tokens never leave the table


# -- shops ----------------------------------------------------------------------------------------------------


# Shop reads given a `cipher` also read one encrypted token, only to tell whether a configured key decrypts it
# (`ShopRead.tokens_unreadable`: SHOPBRIDGE_ENCRYPTION_KEY lost or changed); the token itself is dropped there.


def _shop_columns(cipher: TokenCipher | None) -> list[Any]:
    return _SHOP_COLUMNS if cipher is None else [*_SHOP_COLUMNS, shops.c.refresh_token_encrypted]


async def shop_page(
    session: AsyncSession,
    merchant_id: str,
    first: int,
    after: str | None = None,
    *,
    with_total: bool = True,
    cipher: TokenCipher | None = None,
) -> Page[ShopRead]:
    """The merchant's shops, oldest first."""
    where = shops.c.merchant_id == merchant_id
    query = select(*_shop_columns(cipher)).where(where)
    rows, has_next = await _keyset(session, query, shops, first, after, descending=False, kind="shops")
    total = await _count(session, shops, where) if with_total else None
    return Page(tuple(_shop(r, cipher) for r in rows), has_next, total)


async def shops_by_ids(
    session: AsyncSession, merchant_id: str, ids: Collection[str], *, cipher: TokenCipher | None = None
) -> dict[str, ShopRead]:
    """The merchant's shops among `ids` (for DataLoaders); ids of other merchants' shops are simply absent."""
    if not ids:
        return {}
    query = select(*_shop_columns(cipher)).where(shops.c.merchant_id == merchant_id, shops.c.id.in_(list(ids)))
    return {r["id"]: _shop(r, cipher) for r in (await session.execute(query)).mappings()}


async def merchant_shops(
    session: AsyncSession, merchant_id: str, limit: int, *, cipher: TokenCipher | None = None
) -> dict[str, ShopRead]:
    """The merchant's shops by id, at most `limit` of them, oldest first (`shopsUpdated`'s periodic read)."""
    query = (
        select(*_shop_columns(cipher))
        .where(shops.c.merchant_id == merchant_id)
        .order_by(shops.c.created_at, shops.c.id)
        .limit(limit)
    )
    return {r["id"]: _shop(r, cipher) for r in (await session.execute(query)).mappings()}


# -- products -------------------------------------------------------------------------------------------------


async def product_page(
    session: AsyncSession,
    merchant_id: str,
    shop_id: str,
    first: int,
    after: str | None = None,
    *,
    with_total: bool = True,
) -> Page[ProductRead]:
    """A shop's products with their SKUs, newest first (by TikTok's create time)."""
    where = and_(products.c.shop_id == shop_id, _shop_of(merchant_id, shop_id))
    rows, has_next = await _keyset(
        session, select(products).where(where), products, first, after, descending=True, kind="products"
    )
    sku_map = await skus_for_products(session, [r["id"] for r in rows])
    total = await _catalog_total(session, products, merchant_id, shop_id) if with_total else None
    return Page(tuple(_product(r, sku_map.get(r["id"], ())) for r in rows), has_next, total)


async def products_by_ids(session: AsyncSession, merchant_id: str, ids: Collection[str]) -> dict[str, ProductRead]:
    if not ids:
        return {}
    query = select(products).where(products.c.id.in_(list(ids)), products.c.shop_id.in_(_merchant_shops(merchant_id)))
    rows = list((await session.execute(query)).mappings())
    sku_map = await skus_for_products(session, [r["id"] for r in rows])
    return {r["id"]: _product(r, sku_map.get(r["id"], ())) for r in rows}


async def skus_for_products(session: AsyncSession, product_ids: Sequence[str]) -> dict[str, tuple[SkuRead, ...]]:
    """The SKUs of every given product in one query, in TikTok's order. Ids must come from a scoped query. Each
    SKU's quantity is TikTok's stock as last known (`last_known_stock`: the newer of its product's read and its
    link's last push, as of that push's landing), read with its product's read time and its link in the same
    statement."""
    if not product_ids:
        return {}
    query = (
        select(skus, products.c.stock_read_at)
        .add_columns(sku_links.c.pushed_quantity, sku_links.c.pushed_at, sku_links.c.push_landed_at)
        .select_from(skus)
        .join(products, products.c.id == skus.c.product_id)
        .outerjoin(sku_links, sku_links.c.sku_id == skus.c.id)
        .where(skus.c.product_id.in_(list(product_ids)))
        .order_by(skus.c.product_id, skus.c.position)
    )
    grouped: defaultdict[str, list[SkuRead]] = defaultdict(list)
    for r in (await session.execute(query)).mappings():
        grouped[r["product_id"]].append(
            SkuRead(
                id=r["id"],
                product_id=r["product_id"],
                tiktok_sku_id=r["tiktok_sku_id"],
                seller_sku=r["seller_sku"],
                price=Money(r["price_amount"], r["currency"]),
                quantity=last_known_stock(
                    r["quantity"], r["stock_read_at"], r["pushed_quantity"], r["pushed_at"], r["push_landed_at"]
                ),
            )
        )
    return {product_id: tuple(items) for product_id, items in grouped.items()}


async def product_counts(session: AsyncSession, merchant_id: str, shop_ids: Collection[str]) -> dict[str, int]:
    """Number of products per shop (0 included) for the merchant's shops among `shop_ids`."""
    return await _catalog_totals(session, products, merchant_id, shop_ids)


# -- orders ---------------------------------------------------------------------------------------------------


async def order_page(
    session: AsyncSession,
    merchant_id: str,
    shop_id: str,
    first: int,
    after: str | None = None,
    *,
    status: str | None = None,
    created_after: datetime | None = None,
    with_total: bool = True,
) -> Page[OrderRead]:
    """A shop's orders with their line items, newest first (by TikTok's create time)."""
    conditions = [orders.c.shop_id == shop_id, _shop_of(merchant_id, shop_id)]
    if status is not None:
        conditions.append(orders.c.status == status)
    if created_after is not None:
        conditions.append(orders.c.created_at > created_after)
    where = and_(*conditions)
    rows, has_next = await _keyset(
        session, select(orders).where(where), orders, first, after, descending=True, kind="orders"
    )
    item_map = await line_items_for_orders(session, [r["id"] for r in rows])
    if not with_total:
        total = None
    elif status is None and created_after is None:  # the whole shop's: its running count, whatever its size
        total = await _catalog_total(session, orders, merchant_id, shop_id)
    else:
        total = await _count(session, orders, where)
    return Page(tuple(_order(r, item_map.get(r["id"], ())) for r in rows), has_next, total)


async def orders_by_ids(session: AsyncSession, merchant_id: str, ids: Collection[str]) -> dict[str, OrderRead]:
    if not ids:
        return {}
    query = select(orders).where(orders.c.id.in_(list(ids)), orders.c.shop_id.in_(_merchant_shops(merchant_id)))
    rows = list((await session.execute(query)).mappings())
    item_map = await line_items_for_orders(session, [r["id"] for r in rows])
    return {r["id"]: _order(r, item_map.get(r["id"], ())) for r in rows}


async def line_items_for_orders(session: AsyncSession, order_ids: Sequence[str]) -> dict[str, tuple[LineItemRead, ...]]:
    """The line items of every given order in one query, in TikTok's order. Ids must come from a scoped query."""
    if not order_ids:
        return {}
    query = (
        select(line_items)
        .where(line_items.c.order_id.in_(list(order_ids)))
        .order_by(line_items.c.order_id, line_items.c.position)
    )
    grouped: defaultdict[str, list[LineItemRead]] = defaultdict(list)
    for r in (await session.execute(query)).mappings():
        grouped[r["order_id"]].append(
            LineItemRead(
                id=r["id"],
                order_id=r["order_id"],
                tiktok_line_item_id=r["tiktok_line_item_id"],
                tiktok_sku_id=r["tiktok_sku_id"],
                tiktok_product_id=r["tiktok_product_id"],
                seller_sku=r["seller_sku"],
                product_name=r["product_name"],
                quantity=r["quantity"],
                sale_price=Money(r["sale_price_amount"], r["currency"]),
                display_status=r["display_status"],
                cancel_reason=r["cancel_reason"],
                cancel_user=r["cancel_user"],
            )
        )
    return {order_id: tuple(items) for order_id, items in grouped.items()}


async def order_counts(session: AsyncSession, merchant_id: str, shop_ids: Collection[str]) -> dict[str, int]:
    """Number of orders per shop (0 included) for the merchant's shops among `shop_ids`."""
    return await _catalog_totals(session, orders, merchant_id, shop_ids)


# -- sync tasks -----------------------------------------------------------------------------------------------


async def sync_task_page(
    session: AsyncSession,
    merchant_id: str,
    first: int,
    after: str | None = None,
    *,
    shop_id: str | None = None,
    statuses: Collection[SyncTaskStatus] | None = None,
    triggers: Collection[SyncTrigger] | None = None,
    with_total: bool = True,
) -> Page[SyncTaskRead]:
    """The merchant's sync tasks, newest first; optionally of one shop, in some statuses and started by some triggers
    (`statuses`, `triggers` None: any; empty: none)."""
    conditions = [sync_tasks.c.merchant_id == merchant_id]
    if shop_id is not None:
        conditions.append(sync_tasks.c.shop_id == shop_id)
    if statuses is not None:
        conditions.append(sync_tasks.c.status.in_([s.value for s in statuses]))
    if triggers is not None:
        conditions.append(sync_tasks.c.trigger.in_([t.value for t in triggers]))
    where = and_(*conditions)
    rows, has_next = await _keyset(
        session, select(sync_tasks).where(where), sync_tasks, first, after, descending=True, kind="sync_tasks"
    )
    total = await _count(session, sync_tasks, where) if with_total else None
    return Page(tuple(_sync_task(r) for r in rows), has_next, total)


async def sync_task(session: AsyncSession, merchant_id: str, task_id: str) -> SyncTaskRead | None:
    found = await sync_tasks_by_ids(session, merchant_id, [task_id])
    return found.get(task_id)


async def sync_tasks_by_ids(session: AsyncSession, merchant_id: str, ids: Collection[str]) -> dict[str, SyncTaskRead]:
    """The merchant's tasks among `ids`. The merchant is tested on the rows: with `merchant_id = ?` in the statement,
    SQLite took a list of more than a few ids through `(merchant_id, created_at, id)`, every task of the merchant's
    history tested against them (20 ids: 0.4 ms beside 1,000 tasks, 2.3 ms beside 10,000, 7.2 ms beside 30,000)."""
    if not ids:
        return {}
    rows = (await session.execute(sync_tasks_by_ids_query(ids))).mappings()
    return {r["id"]: _sync_task(r) for r in rows if r["merchant_id"] == merchant_id}


def sync_tasks_by_ids_query(ids: Collection[str]) -> Select[Any]:
    """`sync_tasks_by_ids`' statement, of any merchant: by the tasks' primary key."""
    return select(sync_tasks).where(sync_tasks.c.id.in_(list(ids)))


async def followed_sync_tasks(
    session: AsyncSession, merchant_id: str, ids: Collection[str], limit: int
) -> dict[str, SyncTaskRead]:
    """In ONE statement, the merchant's active tasks (newest first, at most `limit`) and the tasks among `ids`
    whatever their status, by task id: what a subscription feed reads per update (`gql.feeds`)."""
    rows = (await session.execute(followed_sync_tasks_query(merchant_id, ids, limit))).mappings()
    return {r["id"]: _sync_task(r) for r in rows if r["merchant_id"] == merchant_id}


def followed_sync_tasks_query(merchant_id: str, ids: Collection[str], limit: int) -> Select[Any] | CompoundSelect[Any]:
    """`followed_sync_tasks`' statement: the merchant's active tasks through the index of the active ones alone
    (`ACTIVE_TASK_WHERE`, migration 0026), UNION ALL the tasks among `ids` (of any merchant: the caller keeps the
    merchant's) by primary key; a task in both comes twice. One condition `merchant_id = ? AND (active OR id IN ...)`
    walked the merchant's whole history through `(merchant_id, created_at, id)` on SQLite (30,000 finished tasks:
    180,500 VM steps a read, 600 now; 12.5 -> 1.7 ms); PostgreSQL, with statistics, read every merchant's active
    tasks through `uq_sync_tasks_active_shop_kind` instead (4.3 -> 2.7 ms beside 2 active tasks in all)."""
    active = (
        select(sync_tasks)
        .where(sync_tasks.c.merchant_id == merchant_id, ACTIVE_TASK_WHERE)
        .order_by(sync_tasks.c.created_at.desc(), sync_tasks.c.id.desc())
        .limit(limit)
        .subquery()
    )
    newest_active = select(*active.c)  # (SQLite: a compound's member holds a LIMIT only in a subquery)
    if not ids:
        return newest_active
    return union_all(newest_active, select(sync_tasks).where(sync_tasks.c.id.in_(list(ids))))


async def sync_tasks_changed_since(
    session: AsyncSession, merchant_id: str, since: datetime, page: int
) -> list[SyncTaskRead]:
    """Every task of the merchant created or finished at `since` or later (UTC), oldest created first, read `page`
    rows a statement (keyset on `(created_at, id)`) until none is left: what a task feed reads when change signals
    were lost (`gql.feeds`), so that a task that started and finished unsignalled is found, however many others
    changed with it (review56 F2: the 100 newest created, and no more, dropped the oldest). The table has no
    updated_at: a task the feed did not see active was created since, or ended since; one it saw active it re-reads
    by id anyway. Through the `(merchant_id, created_at, id)` index and the `finished_at` one."""
    changed = (sync_tasks.c.created_at >= since) | (sync_tasks.c.finished_at >= since)
    query = select(sync_tasks).where(sync_tasks.c.merchant_id == merchant_id, changed)
    key = tuple_(sync_tasks.c.created_at, sync_tasks.c.id)
    found: list[SyncTaskRead] = []
    after: tuple[datetime, str] | None = None
    while True:
        bounded = query
        if after is not None:
            bounded = query.where(key > tuple_(literal(after[0], UTCDateTime), literal(after[1], sync_tasks.c.id.type)))
        rows = list(
            (await session.execute(bounded.order_by(sync_tasks.c.created_at, sync_tasks.c.id).limit(page))).mappings()
        )
        found.extend(_sync_task(r) for r in rows)
        if len(rows) < page:
            return found
        after = (rows[-1]["created_at"], rows[-1]["id"])


async def existing_shop_ids(session: AsyncSession, merchant_id: str, ids: Collection[str]) -> set[str]:
    """The ids among `ids` of the merchant's shops that exist (one statement)."""
    if not ids:
        return set()
    query = select(shops.c.id).where(shops.c.merchant_id == merchant_id, shops.c.id.in_(list(ids)))
    return set((await session.execute(query)).scalars())


# -- helpers --------------------------------------------------------------------------------------------------


async def _keyset(
    session: AsyncSession,
    query: Select[Any],
    table: Table,
    first: int,
    after: str | None,
    *,
    descending: bool,
    kind: CursorKind,
) -> tuple[list[RowMapping], bool]:
    """One page by (created_at, id) after the cursor; fetches one row more to know whether another page exists."""
    if first < 0:
        raise ValueError("first must not be negative")
    key = tuple_(table.c.created_at, table.c.id)
    if after is not None:
        at, row_id = decode_cursor(after, kind)
        bound = tuple_(literal(at, UTCDateTime), literal(row_id, table.c.id.type))
        query = query.where(key < bound if descending else key > bound)
    if descending:
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc())
    else:
        query = query.order_by(table.c.created_at, table.c.id)
    rows = list((await session.execute(query.limit(first + 1))).mappings())
    return rows[:first], len(rows) > first


async def _count(session: AsyncSession, table: Table, where: ColumnElement[bool]) -> int:
    return int((await session.execute(select(func.count()).select_from(table).where(where))).scalar_one())


async def _catalog_total(session: AsyncSession, table: Table, merchant_id: str, shop_id: str) -> int:
    """The merchant's shop's rows of `table` (products or orders), from the running count the catalog's writer keeps
    (`shop_catalog_counts`): a lookup, where a COUNT grew with the shop (15-50 ms at 100,000 orders on PostgreSQL).
    0 for another merchant's shop, as the page's own rows are none."""
    query = select(shop_catalog_counts.c.total).where(
        shop_catalog_counts.c.shop_id == shop_id,
        shop_catalog_counts.c.catalog == table.name,
        _shop_of(merchant_id, shop_id),
    )
    return int((await session.execute(query)).scalar_one_or_none() or 0)


async def _catalog_totals(
    session: AsyncSession, table: Table, merchant_id: str, shop_ids: Collection[str]
) -> dict[str, int]:
    """`_catalog_total` of each of the merchant's shops among `shop_ids` (0 included), in one statement."""
    if not shop_ids:
        return {}
    query = (
        select(shops.c.id, shop_catalog_counts.c.total)
        .select_from(
            shops.outerjoin(
                shop_catalog_counts,
                and_(shop_catalog_counts.c.shop_id == shops.c.id, shop_catalog_counts.c.catalog == table.name),
            )
        )
        .where(shops.c.merchant_id == merchant_id, shops.c.id.in_(list(shop_ids)))
    )
    return {shop_id: total or 0 for shop_id, total in await session.execute(query)}


def _shop_of(merchant_id: str, shop_id: str) -> ColumnElement[bool]:
    """True when the shop is the merchant's: an uncorrelated EXISTS the planner evaluates once."""
    return select(shops.c.id).where(shops.c.id == shop_id, shops.c.merchant_id == merchant_id).exists()


def _merchant_shops(merchant_id: str) -> Select[Any]:
    return select(shops.c.id).where(shops.c.merchant_id == merchant_id)


def _shop(r: RowMapping, cipher: TokenCipher | None = None) -> ShopRead:
    return ShopRead(
        id=r["id"],
        merchant_id=r["merchant_id"],
        name=r["name"],
        region=Region(r["region"]),
        tiktok_shop_id=r["tiktok_shop_id"],
        tiktok_shop_name=r["tiktok_shop_name"],
        tiktok_shop_code=r["tiktok_shop_code"],
        seller_name=r["seller_name"],
        authorized_at=r["authorized_at"],
        refresh_token_expires_at=r["refresh_token_expires_at"],
        access_token_expires_at=r["access_token_expires_at"],
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
        last_synced_at=r["last_synced_at"],
        authorization_expires_at=r["authorization_expires_at"],
        webhooks_registered_at=r["webhooks_registered_at"],
        webhook_registration_error=r["webhook_registration_error"],
        last_webhook_at=r["last_webhook_at"],
        webhooks_registered_address=r["webhooks_registered_address"],
        tokens_unreadable=cipher is not None and not cipher.can_decrypt(r["refresh_token_encrypted"]),
    )


def _product(r: RowMapping, sku_list: tuple[SkuRead, ...]) -> ProductRead:
    return ProductRead(
        id=r["id"],
        shop_id=r["shop_id"],
        tiktok_product_id=r["tiktok_product_id"],
        title=r["title"],
        status=r["status"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        imported_at=r["imported_at"],
        skus=sku_list,
    )


def _order(r: RowMapping, items: tuple[LineItemRead, ...]) -> OrderRead:
    return OrderRead(
        id=r["id"],
        shop_id=r["shop_id"],
        tiktok_order_id=r["tiktok_order_id"],
        status=r["status"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        total=Money(r["total_amount"], r["currency"]),
        buyer_user_id=r["buyer_user_id"],
        recipient_name=r["recipient_name"],
        recipient_region=r["recipient_region"],
        imported_at=r["imported_at"],
        line_items=items,
    )


def _sync_task(r: RowMapping) -> SyncTaskRead:
    return SyncTaskRead(**sync_task_fields(r))
