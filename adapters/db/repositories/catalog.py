"""SqlCatalogRepository: batched, idempotent upserts of products (with SKUs and stock) and orders (with items).

The hot path of an import. Per chunk of a page: one SELECT of the shop (held until commit) joined to the stored
fingerprints (PostgreSQL: each record looked up by its row id, `lists.each_looked_up`), one executemany upsert of
the new and changed parents, one DELETE of the changed parents' children, one executemany upsert of the children
(PostgreSQL, orders: the new orders and every line item by one COPY straight into the table each, the stored orders
by the upsert; `_write_orders_pg`). Unchanged records cost nothing but the SELECT (and, for products, one UPDATE
per page that writes only those whose SKUs were pushed since their stored read). Records come in their
stored form (`domain.stored`): values and fingerprint computed once, where the record was decoded; a record's
fingerprint is a digest of the values it is stored as, so "unchanged" means exactly "same rows", and rows are
built only for the records written (but a product read again unchanged after a push of one of its SKUs: its read
time moves, `confirm_stock_reads`, one UPDATE per page). Row ids are digests of (shop, kind, TikTok id), so a
record keeps its id across re-imports and two writers of the same page converge on the same rows.

An older version never overwrites a newer one: a record whose `update_time` is before the stored one's counts as
unchanged (a late webhook's re-fetch, an import page fetched before a webhook's), as does an order of the same
`update_time` whose status is earlier in TikTok's order life (`domain.catalog.older_order_version`: two changes
within one second, Get Order Detail serving the first); the parent upsert itself applies the same rule
(`bulk.upsert_records`), for two writers racing on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Column, Table, and_, delete, select, text, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.errors import ShopGoneError, is_foreign_key_violation
from adapters.db.lists import among, each_looked_up
from adapters.db.repositories.bulk import Record, columns, insert_records, sqlite_time, upsert_records
from adapters.db.repositories.stock_reads import confirm_stock_reads
from adapters.db.repositories.unreadable import (
    clear_unreadable,
    clear_unreadable_statement,
    forget_unreadable,
    mark_unreadable,
    marks_to_reread,
    note_reread,
    note_still_unreadable,
)
from adapters.db.tables import line_items, orders, products, shops, skus, warehouse_stocks
from domain.catalog import older_order_version
from domain.clock import Clock, SystemClock
from domain.inventory.links import trimmed
from domain.ports import UpsertCounts
from domain.stored import (
    LINE_ITEM_VALUES,
    ORDER_VALUES,
    PRODUCT_VALUES,
    SKU_VALUES,
    OrderRecord,
    ProductRecord,
    StoredOrder,
    StoredProduct,
    order_as_stored,
    product_as_stored,
)
from domain.sync import RecordFailure, SyncKind
from domain.unserved_products import KnownProduct

# Parents per round trip: a whole batch of the import engine (see `SyncOptions.batch_records`). Far below asyncpg's
# 32,767 bind parameters even for the IN list of the SELECT, and SQLAlchemy splits the executemany inserts under
# each driver's limit by itself.
CHUNK_SIZE = 2000

T = TypeVar("T")


def row_id(shop_id: str, kind: str, tiktok_id: str) -> str:
    """A stable 32-hex id for an imported record: the same TikTok record of the same shop gets the same id."""
    return hashlib.blake2b(f"{shop_id}\x1f{kind}\x1f{tiktok_id}".encode(), digest_size=16).hexdigest()


# The tables an import of each kind writes (the catalog's, then the pool's: `pool_products` links SKUs and seeds
# items; `pool_orders` writes ledger lines, running units and movements), analyzed after a large one. The pool's
# count too: a shop's delete and a relink join links, items, lines and movements (`shop_items.left_behind_query`).
_ANALYZED = {
    SyncKind.PRODUCTS: (
        "products", "skus", "warehouse_stocks", "sku_links", "inventory_items", "inventory_movements",
    ),
    SyncKind.ORDERS: (
        "orders", "line_items", "order_line_stock", "sku_ledger_units", "inventory_items", "inventory_movements",
    ),
}  # fmt: skip


class SqlCatalogRepository:
    """Implements `domain.ports.CatalogRepository`. Raises `ShopGoneError` when the shop no longer exists."""

    def __init__(self, session: AsyncSession, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or SystemClock()
        self._dialect_name = session.bind.dialect.name if session.bind is not None else "sqlite"

    async def upsert_products(self, shop_id: str, products_: Sequence[ProductRecord]) -> UpsertCounts:
        latest = _last_wins(products_, lambda p: p.tiktok_product_id)
        return await self._upsert(shop_id, [product_as_stored(p) for p in latest.values()], products)

    async def upsert_orders(self, shop_id: str, orders_: Sequence[OrderRecord]) -> UpsertCounts:
        latest = _last_wins(orders_, lambda o: o.tiktok_order_id)
        return await self._upsert(shop_id, [order_as_stored(o) for o in latest.values()], orders)

    async def mark_unreadable(
        self, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
    ) -> None:
        await mark_unreadable(self._session, shop_id, kind, failures, now)

    async def forget_unreadable(self, failed_before: datetime, limit: int) -> int:
        return await forget_unreadable(self._session, failed_before, limit)

    async def marks_to_reread(self, shop_id: str, kind: SyncKind, limit: int) -> list[str]:
        return await marks_to_reread(self._session, shop_id, kind, limit)

    async def note_still_unreadable(
        self, shop_id: str, kind: SyncKind, failures: Sequence[RecordFailure], now: datetime
    ) -> list[str]:
        return await note_still_unreadable(self._session, shop_id, kind, failures, now)

    async def note_reread(self, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str], now: datetime) -> None:
        await note_reread(self._session, shop_id, kind, tiktok_ids, now)

    async def clear_unreadable(self, shop_id: str, kind: SyncKind, tiktok_ids: Sequence[str]) -> None:
        await clear_unreadable(self._session, shop_id, kind, tiktok_ids)

    async def known_product(self, shop_id: str, tiktok_product_id: str) -> KnownProduct | None:
        """See `domain.ports.CatalogRepository.known_product`: two indexed reads (the product, its SKUs' seller
        SKUs in position order)."""
        query = select(
            products.c.id, products.c.title, products.c.status, products.c.created_at, products.c.updated_at
        ).where(products.c.shop_id == shop_id, products.c.tiktok_product_id == tiktok_product_id)
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        seller_skus = (
            await self._session.scalars(
                select(skus.c.seller_sku)
                .where(skus.c.product_id == row.id, skus.c.seller_sku.is_not(None))
                .order_by(skus.c.position)
            )
        ).all()
        return KnownProduct(
            tiktok_product_id, row.title, row.status, row.created_at, row.updated_at, tuple(s for s in seller_skus if s)
        )

    async def refresh_statistics(self, kind: SyncKind) -> None:
        """ANALYZE the tables an import of `kind` writes on PostgreSQL, whose statistics otherwise wait for
        autovacuum: the catalog's and the inventory pool's (`_ANALYZED`); SQLite's query planner keeps no statistics
        unless asked (`ANALYZE` there would have to be rerun forever): a no-op."""
        if self._dialect_name != "postgresql":
            return
        await self._session.execute(text(f"ANALYZE {', '.join(_ANALYZED[kind])}"))

    async def recount(self, shop_id: str, kind: SyncKind) -> None:
        """See `domain.ports.CatalogRepository.recount`. On PostgreSQL the count waits for the turn of the shop's
        writers of that table (`hold_writers`): none inserts between the COUNT and the commit, and none that
        committed before is missed; SQLite's write transactions are exclusive. One COUNT over the shop's rows."""
        table = orders if kind is SyncKind.ORDERS else products
        if self._dialect_name == "postgresql":
            await hold_writers(self._session, table, shop_id)
        await self._session.execute(_RECOUNT[table.name], {"shop_id": shop_id})

    async def _upsert(self, shop_id: str, records: Sequence[StoredOrder | StoredProduct], table: Table) -> UpsertCounts:
        """Store `records` (the latest version of each, by TikTok id) and forget their unreadable marks
        (`clear_unreadable`): on PostgreSQL in each chunk's fingerprint read, on SQLite after the writes."""
        if not records:
            return UpsertCounts()
        now = self._clock.now()
        # Rows are built once, in the form the driver binds (`bulk.upsert_records(driver_form=True)`).
        as_time: Callable[[datetime], Any] = _same if self._dialect_name == "postgresql" else sqlite_time
        imported_at = as_time(now)
        tiktok_id = table.c.tiktok_product_id if table is products else table.c.tiktok_order_id
        created = updated = unchanged = inserted = 0
        for start in range(0, len(records), CHUNK_SIZE):
            chunk = records[start : start + CHUNK_SIZE]
            stored = await self._hold_shop_and_read_fingerprints(
                shop_id, table, tiktok_id, [r.values[0] for r in chunk]
            )
            to_write: list[_Rows] = []
            changed_ids: list[str] = []
            # Products read again unchanged, by the page's read time: `confirm_stock_reads`
            confirmed: dict[datetime, list[str]] = {}
            updated_at = _UPDATED_AT[table.name]
            for record in chunk:
                known = stored.get(record.values[0])
                previous = None if known is None else known[0]
                if known is not None and _older(record, updated_at, known):
                    unchanged += 1  # an older version than the one stored: TikTok's newer state stays
                    continue
                if previous is None:
                    created += 1
                elif previous != record.fingerprint:
                    updated += 1
                else:
                    unchanged += 1
                    if isinstance(record, StoredProduct) and record.stock_read_at is not None:
                        confirmed.setdefault(record.stock_read_at, []).append(record.values[0])
                    continue
                rows = _rows(shop_id, record, imported_at, as_time)
                if previous is not None:
                    changed_ids.append(rows.parent[0])
                to_write.append(rows)
            if to_write:
                try:
                    inserted += await self._write(table, to_write, changed_ids)
                except IntegrityError as exc:
                    if is_foreign_key_violation(exc):
                        raise ShopGoneError(shop_id) from exc
                    raise
            if confirmed:
                await confirm_stock_reads(self._session, shop_id, confirmed)
        if inserted:
            await self._session.execute(ADD_TO_COUNT, {"shop_id": shop_id, "catalog": table.name, "added": inserted})
        if self._dialect_name != "postgresql":  # (PostgreSQL: with the fingerprints, `_hold_shop_and_read_...`)
            await clear_unreadable(self._session, shop_id, _KIND[table.name], [r.values[0] for r in records])
        return UpsertCounts(created=created, updated=updated, unchanged=unchanged)

    async def _hold_shop_and_read_fingerprints(
        self, shop_id: str, table: Table, tiktok_id: Column[str], keys: list[str]
    ) -> dict[str, tuple[str, datetime, str]]:
        """The stored (fingerprint, updated_at, status) of `keys`, by TikTok id; in the same statement, fail fast
        when the shop is gone and, on PostgreSQL, hold the shop until commit and forget the unreadable marks of
        `keys` (`clear_unreadable`'s DELETE as a data-modifying CTE: one round trip fewer a batch, bench/README.md
        "Benchmark 2 on PostgreSQL, stop 67"; the records are stored in this transaction, which commits both or
        neither, and the marks' row locks are taken under the turn, as they were after the writes before).

        `FOR KEY SHARE OF shops` makes a concurrent shop delete wait for this page's commit and then cascade over
        it, so a late page can never leave rows behind; SQLite's write transactions are exclusive, so the check
        suffices there. The shop's row comes back even when none of `keys` is stored (the outer join).
        """
        if self._dialect_name == "postgresql":
            # Writers of one shop's orders (or products) take turns: the rows carry two unique keys (the id, derived
            # from the TikTok id, and the TikTok id itself), and ON CONFLICT settles a race on one of them only, so two
            # writers inserting the same new order at once would otherwise fail on the other. Transaction-scoped.
            await hold_writers(self._session, table, shop_id)
        stored = (tiktok_id, table.c.fingerprint, table.c.updated_at, table.c.status)
        if self._dialect_name == "postgresql":
            # Each record looked up by its row id (a digest of the shop and the TikTok id: the primary key),
            # whatever the statistics of the table the import is growing say (`lists.each_looked_up`): `= ANY` of
            # the TikTok ids was planned as a scan of every row of the shop, filtered, in every batch.
            ids = [row_id(shop_id, table.name, key) for key in keys]
            found, each = each_looked_up(select(*stored), table.c.id, ids, "stored")
            query = select(shops.c.id, *each.c).select_from(shops.outerjoin(found, true()))
            query = query.add_cte(clear_unreadable_statement(shop_id, _KIND[table.name], keys, "postgresql").cte())
        else:
            on_keys = and_(table.c.shop_id == shops.c.id, among(tiktok_id, keys, self._dialect_name))
            query = select(shops.c.id, *stored).select_from(shops.outerjoin(table, on_keys))
        query = query.where(shops.c.id == shop_id).with_for_update(read=True, key_share=True, of=shops)
        rows = (await self._session.execute(query)).all()
        if not rows:
            raise ShopGoneError(shop_id)
        return {key: (fingerprint, updated, status) for _, key, fingerprint, updated, status in rows if key is not None}

    async def _write(self, table: Table, batch: list[_Rows], changed_ids: list[str]) -> int:
        """Upsert the parents, replace the changed parents' children wholesale, upsert every child. Returns the
        number of parents inserted (not there before)."""
        execute = self._session.execute
        postgres = self._dialect_name == "postgresql"
        if postgres and table is orders:
            batch, changed_ids, inserted = await self._write_orders_pg(batch, set(changed_ids))
        elif postgres:
            batch, changed_ids, inserted = await self._upsert_parents_pg(table, batch)
        else:  # SQLite's write transactions are exclusive: what the SELECT saw still holds
            await upsert_records(self._session, table.name, [record.parent for record in batch], driver_form=True)
            inserted = len(batch) - len(changed_ids)
        if changed_ids and table is products:
            changed_skus = select(skus.c.id).where(skus.c.product_id.in_(changed_ids))
            await execute(delete(warehouse_stocks).where(warehouse_stocks.c.sku_id.in_(changed_skus)))
            await execute(delete(skus).where(skus.c.product_id.in_(changed_ids)))
        elif changed_ids:
            await execute(delete(line_items).where(line_items.c.order_id.in_(changed_ids)))
        for child in _CHILDREN[table.name]:
            # Keyed by primary key: a child repeated in a batch is written once, the last one wins.
            key = _CHILD_KEYS[child]
            rows = {key(row): row for record in batch for row in record.children.get(child, ())}
            if not rows:
                continue
            if postgres and table is orders:
                # A line item's id is a digest of its order's id and TikTok's line item id: only its own order holds
                # it, and every order written here is new (the turn of the shop's order writers, held since the
                # fingerprints were read, lets no other writer store it before commit) or had its line items deleted
                # just above. No key can conflict: one COPY straight into the table, no temporary table, no ON CONFLICT.
                await insert_records(self._session, child, list(rows.values()), driver_form=True)
            else:
                await upsert_records(self._session, child, list(rows.values()), driver_form=True)
        return inserted

    async def _write_orders_pg(self, batch: list[_Rows], stored_ids: set[str]) -> tuple[list[_Rows], list[str], int]:
        """PostgreSQL, orders: the orders the fingerprint read found stored (`stored_ids`, by row id) upserted as
        `_upsert_parents_pg` does, the others COPYed straight into the table: no writer of the shop's orders but this
        one can store an order before commit (`hold_writers`, held since that read), so an order not stored then is
        still not stored, and is inserted, ours; an order's row id is a digest of (shop, TikTok id), one of its two
        unique keys. Saves the temporary table's pass, the conflict checks and RETURNING on a first import, where
        every order is new (benchmarks 1 and 2: bench/README.md, "Server work per record, stop 61")."""
        new = [record for record in batch if record.parent[0] not in stored_ids]
        if new:
            await insert_records(self._session, orders.name, [record.parent for record in new], driver_form=True)
        if len(new) == len(batch):
            return batch, [], len(new)
        winners, changed, inserted = await self._upsert_parents_pg(
            orders, [record for record in batch if record.parent[0] in stored_ids]
        )
        return [*new, *winners], changed, len(new) + inserted

    async def _upsert_parents_pg(self, table: Table, batch: list[_Rows]) -> tuple[list[_Rows], list[str], int]:
        """PostgreSQL: upsert the parents and learn from RETURNING which rows hold our version now, and which of
        those existed before. A concurrent writer may have stored the same record between our SELECT and this
        statement: if its version is newer, the upsert's WHERE kept it (the row is not returned, and we must not
        touch its children); if it is older, ours replaced it (the row was not inserted, so its children must go
        even though the SELECT called the record new). The upsert locks every row it touched until commit."""
        parents = [record.parent for record in batch]
        outcome = dict(await upsert_records(self._session, table.name, parents, driver_form=True))
        winners = [record for record in batch if record.parent[0] in outcome]
        changed = [row for row, inserted in outcome.items() if not inserted]
        return winners, changed, len(outcome) - len(changed)


@dataclass(slots=True)
class _Rows:
    """A record as the rows it is written in, each a tuple in its table's column order (`_LAYOUTS`), its values
    as the driver binds them (amounts as text; times as the dialect's `as_time` makes them)."""

    parent: Record
    children: dict[str, list[Record]]


# A stored record's values (`domain.stored`) sit in their table's column order between the ids the repository adds
# and the fingerprint and import time (a product's: and when its stock was read; a SKU's: and its seller SKU's match
# key, derived from a value stored; neither is fingerprinted), so a row is built by concatenation, with no
# per-column mapping; checked here, once, against the tables themselves.
_LAYOUTS = {
    "orders": ("id", "shop_id", *ORDER_VALUES, "fingerprint", "imported_at"),
    "line_items": ("id", "order_id", "shop_id", *LINE_ITEM_VALUES),
    "products": ("id", "shop_id", *PRODUCT_VALUES, "fingerprint", "imported_at", "stock_read_at"),
    "skus": ("id", "product_id", "shop_id", *SKU_VALUES, "seller_sku_key", "seller_sku_too_long"),
    "warehouse_stocks": ("sku_id", "warehouse_id", "shop_id", "quantity"),
}
for _table_name, _layout in _LAYOUTS.items():
    if columns(_table_name) != _layout:
        raise RuntimeError(f"{_table_name}: columns {columns(_table_name)} differ from the rows built {_layout}")


# `_rows` spells the stored values out by name (one pass, each value converted where it sits): the names it uses.
if (ORDER_VALUES, LINE_ITEM_VALUES, PRODUCT_VALUES, SKU_VALUES) != (
    ("tiktok_order_id", "status", "created_at", "updated_at", "total_amount", "currency", "buyer_user_id",
     "recipient_name", "recipient_region", "collected_at", "package_count"),
    ("tiktok_line_item_id", "tiktok_sku_id", "tiktok_product_id", "seller_sku", "product_name", "quantity",
     "sale_price_amount", "currency", "position", "display_status", "cancel_reason", "cancel_user"),
    ("tiktok_product_id", "title", "status", "created_at", "updated_at"),
    ("tiktok_sku_id", "seller_sku", "price_amount", "currency", "quantity", "position", "bundle"),
):  # fmt: skip
    raise RuntimeError("domain.stored's values changed: update catalog._rows")

_CHILDREN = {"products": ("skus", "warehouse_stocks"), "orders": ("line_items",)}
# A child row's key: a child repeated in a batch is written once (warehouse_stocks: (sku_id, warehouse_id); else id).
_CHILD_KEYS = {"skus": itemgetter(0), "line_items": itemgetter(0), "warehouse_stocks": itemgetter(0, 1)}
_UPDATED_AT = {"products": PRODUCT_VALUES.index("updated_at"), "orders": ORDER_VALUES.index("updated_at")}
_ORDER_STATUS = ORDER_VALUES.index("status")  # where an order's status sits in its stored values


async def hold_writers(session: AsyncSession, table: Table, shop_id: str) -> None:
    """PostgreSQL: wait for, then hold until commit, the turn of the writers of `table` (orders or products) for one
    shop: a transaction-scoped advisory lock keyed by 64 bits of a digest of both names. Re-entrant: a transaction
    holding it already goes on at once, with no statement when this session took it in the same transaction outside
    any savepoint (`_turns_held`: an orders batch takes it for the catalog's upsert, then for the ledger; one round
    trip fewer a batch, bench/README.md "Benchmark 2 on PostgreSQL, stop 67"). (SQLite's write transactions are
    exclusive: never called there.)"""
    digest = hashlib.blake2b(f"catalog:{table.name}:{shop_id}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    if key in _turns_held(session):
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    if not session.in_nested_transaction():  # (a savepoint rolled back releases the locks taken inside it)
        _turns_held(session, taking=True).add(key)


_TURNS_HELD = "catalog_turns_held"  # `session.info` key: (the root transaction, the turns' keys it holds)


def _turns_held(session: AsyncSession, *, taking: bool = False) -> set[int]:
    """The keys of the turns `hold_writers` took in `session`'s transaction under way, outside any savepoint: held
    until that transaction ends (a transaction-scoped advisory lock is released at commit or rollback only, or with
    the savepoint it was taken in). Keyed by the transaction object itself, kept alive here, so a later transaction
    of the session, which holds nothing, never matches. `taking`: the set to add to, started for this transaction."""
    transaction = session.sync_session.get_transaction()
    held: tuple[object, set[int]] | None = session.info.get(_TURNS_HELD)
    if held is not None and transaction is not None and held[0] is transaction:
        return held[1]
    if not taking or transaction is None:
        return set()
    keys: set[int] = set()
    session.info[_TURNS_HELD] = (transaction, keys)
    return keys


_KIND = {"products": SyncKind.PRODUCTS, "orders": SyncKind.ORDERS}  # the sync kind whose records a table stores


# The shop's running count of a catalog table (`shop_catalog_counts`), added to in the transaction of the rows it
# counts; the writers of one shop's table take turns (`hold_writers`; SQLite: one writer), so the row is theirs alone.
ADD_TO_COUNT = text(
    "INSERT INTO shop_catalog_counts (shop_id, catalog, total) VALUES (:shop_id, :catalog, :added) "
    "ON CONFLICT (shop_id, catalog) DO UPDATE SET total = shop_catalog_counts.total + excluded.total"
)


# The shop's count of a catalog table set to its rows' (`recount`).
_RECOUNT = {
    name: text(
        "INSERT INTO shop_catalog_counts (shop_id, catalog, total) "  # noqa: S608 - two fixed table names
        f"SELECT CAST(:shop_id AS VARCHAR(32)), '{name}', COUNT(*) FROM {name} WHERE shop_id = :shop_id "
        "ON CONFLICT (shop_id, catalog) DO UPDATE SET total = excluded.total"
    )
    for name in ("products", "orders")
}


def _older(record: StoredOrder | StoredProduct, updated_at: int, stored: tuple[str, datetime, str]) -> bool:
    """Whether `record` (its `update_time` at `updated_at` among its values) is older than the version stored
    (fingerprint, updated_at, status): an earlier `update_time`; for an order, also the same one with a status
    earlier in TikTok's order life (`domain.catalog.older_order_version`, tiktok-api.md §8). A product's status is
    no life (ACTIVATE and SELLER_DEACTIVATED go both ways): two versions of one second are not told apart."""
    _, stored_at, stored_status = stored
    if isinstance(record, StoredOrder):
        return older_order_version(record.values[_ORDER_STATUS], record.values[updated_at], stored_status, stored_at)
    older: bool = record.values[updated_at] < stored_at
    return older


def _same(value: datetime) -> datetime:
    return value


def _rows(
    shop_id: str, record: StoredOrder | StoredProduct, imported_at: Any, as_time: Callable[[datetime], Any]
) -> _Rows:
    """The stored values as records (`_LAYOUTS`), with the shop, the row ids, the fingerprint and the import time
    (`imported_at`, already as the driver takes it) added, a product's stock read time (`stock_read_at`; None when
    unknown) and each SKU's `seller_sku_key`; amounts as their exact text (`DecimalText`), times as `as_time` makes
    them: the records `bulk.upsert_records` binds as they are (`driver_form`), built in one pass."""
    if isinstance(record, StoredOrder):
        return _order_rows(shop_id, record, imported_at, as_time)
    return _product_rows(shop_id, record, imported_at, as_time)


def _order_rows(shop_id: str, order: StoredOrder, imported_at: Any, as_time: Callable[[datetime], Any]) -> _Rows:
    oid, status, created, updated, amount, currency, buyer, name, region, collected, packages = order.values
    order_id = row_id(shop_id, "orders", oid)
    items = [
        (row_id(order_id, "line_items", item_id), order_id, shop_id, item_id, sku_id, product_id, seller_sku,
         product_name, quantity, str(price), item_currency, position, status, reason, user)
        for item_id, sku_id, product_id, seller_sku, product_name, quantity, price, item_currency, position, status,
        reason, user in order.line_items
    ]  # fmt: skip
    parent = (order_id, shop_id, oid, status, as_time(created), as_time(updated), str(amount), currency, buyer, name,
              region, None if collected is None else as_time(collected), packages, order.fingerprint,
              imported_at)  # fmt: skip
    return _Rows(parent, {"line_items": items})


def _product_rows(shop_id: str, product: StoredProduct, imported_at: Any, as_time: Callable[[datetime], Any]) -> _Rows:
    tiktok_product_id, title, status, created, updated = product.values
    product_id = row_id(shop_id, "products", tiktok_product_id)
    sku_ids = {sku[0]: row_id(shop_id, "skus", sku[0]) for sku in product.skus}
    # The seller SKU's match key (`trimmed`) computed here, once per SKU written: auto-linking finds twins by it; and
    # whether TikTok's seller SKU was too long to keep (`StoredProduct.too_long_seller_skus`, nearly always empty).
    too_long = product.too_long_seller_skus
    sku_rows = [
        (sku_ids[sku_id], product_id, shop_id, sku_id, seller_sku, str(price), currency, quantity, position, bundle,
         trimmed(seller_sku), bool(too_long) and sku_id in too_long)
        for sku_id, seller_sku, price, currency, quantity, position, bundle in product.skus
    ]  # fmt: skip
    stock_rows = [
        (sku_ids[sku_id], warehouse_id, shop_id, quantity) for sku_id, warehouse_id, quantity in product.stock
    ]
    read_at = product.stock_read_at
    parent = (product_id, shop_id, tiktok_product_id, title, status, as_time(created), as_time(updated),
              product.fingerprint, imported_at, None if read_at is None else as_time(read_at))  # fmt: skip
    return _Rows(parent, {"skus": sku_rows, "warehouse_stocks": stock_rows})


def _last_wins(records: Sequence[T], key: Callable[[T], str]) -> dict[str, T]:
    """The batch without repeated keys, keeping each key's last record (PostgreSQL refuses a repeated key)."""
    return {key(record): record for record in records}
