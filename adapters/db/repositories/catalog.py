"""SqlCatalogRepository: batched, idempotent upserts of products (with SKUs and stock) and orders (with items).

The hot path of an import. Per chunk of a page: one SELECT of the stored fingerprints, one executemany upsert
of the new and changed parents, one DELETE of the changed parents' children, one executemany upsert of the
children. Unchanged records cost nothing but the SELECT. A record's fingerprint is a digest of the rows it is
stored in, so "unchanged" means exactly "same rows". Row ids are digests of (shop, kind, TikTok id), so a record
keeps its id across re-imports and two writers of the same page converge on the same rows.

An older version never overwrites a newer one: a record whose `update_time` is before the stored one's counts as
unchanged (a late webhook's re-fetch, an import page fetched before a webhook's), and the parent upsert itself only
updates when the incoming `update_time` is not older, for two writers racing on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Table, delete, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from adapters.db.errors import ShopGoneError, is_foreign_key_violation
from adapters.db.repositories.fingerprint import rows_fingerprint
from adapters.db.tables import inventory_links, line_items, orders, products, shops, skus
from domain.catalog import Order, Product
from domain.clock import Clock, SystemClock
from domain.ports import UpsertCounts
from domain.sync import SyncKind

# Parents per round trip: a whole batch of the import engine (see `SyncOptions.batch_records`). Far below asyncpg's
# 32,767 bind parameters even for the IN list of the SELECT, and SQLAlchemy splits the executemany inserts under
# each driver's limit by itself.
CHUNK_SIZE = 2000

T = TypeVar("T")


def row_id(shop_id: str, kind: str, tiktok_id: str) -> str:
    """A stable 32-hex id for an imported record: the same TikTok record of the same shop gets the same id."""
    return hashlib.blake2b(f"{shop_id}\x1f{kind}\x1f{tiktok_id}".encode(), digest_size=16).hexdigest()


class SqlCatalogRepository:
    """Implements `domain.ports.CatalogRepository`. Raises `ShopGoneError` when the shop no longer exists."""

    def __init__(self, session: AsyncSession, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or SystemClock()
        self._dialect_name = session.bind.dialect.name if session.bind is not None else "sqlite"
        self._statements = _upsert_statements(self._dialect_name)

    async def upsert_products(self, shop_id: str, products_: Sequence[Product]) -> UpsertCounts:
        latest = _last_wins(products_, lambda p: p.tiktok_product_id)
        return await self._upsert(shop_id, [_product_rows(shop_id, p) for p in latest.values()], products)

    async def upsert_orders(self, shop_id: str, orders_: Sequence[Order]) -> UpsertCounts:
        latest = _last_wins(orders_, lambda o: o.tiktok_order_id)
        return await self._upsert(shop_id, [_order_rows(shop_id, o) for o in latest.values()], orders)

    async def refresh_statistics(self, kind: SyncKind) -> None:
        """ANALYZE the kind's tables on PostgreSQL, whose statistics otherwise wait for autovacuum; SQLite's query
        planner keeps no statistics unless asked (`ANALYZE` there would have to be rerun forever): a no-op."""
        if self._dialect_name != "postgresql":
            return
        tables = "orders, line_items" if kind is SyncKind.ORDERS else "products, skus, inventory_links"
        await self._session.execute(text(f"ANALYZE {tables}"))

    async def _upsert(self, shop_id: str, records: list[_Rows], table: Table) -> UpsertCounts:
        if not records:
            return UpsertCounts()
        await self._hold_shop(shop_id)
        now = self._clock.now()
        tiktok_id = table.c.tiktok_product_id if table is products else table.c.tiktok_order_id
        created = updated = unchanged = 0
        for start in range(0, len(records), CHUNK_SIZE):
            chunk = records[start : start + CHUNK_SIZE]
            existing = await self._session.execute(
                select(tiktok_id, table.c.fingerprint, table.c.updated_at).where(
                    table.c.shop_id == shop_id, tiktok_id.in_([r.parent[tiktok_id.name] for r in chunk])
                )
            )
            stored: dict[str, tuple[str, Any]] = {key: (fp, updated_at) for key, fp, updated_at in existing}
            to_write: list[_Rows] = []
            changed_ids: list[str] = []
            for record in chunk:
                known = stored.get(record.parent[tiktok_id.name])
                previous = None if known is None else known[0]
                if known is not None and known[1] > record.parent["updated_at"]:
                    unchanged += 1  # an older version than the one stored: TikTok's newer state stays
                    continue
                if previous is None:
                    created += 1
                elif previous != record.fingerprint:
                    updated += 1
                    changed_ids.append(record.parent["id"])
                else:
                    unchanged += 1
                    continue
                record.parent["fingerprint"] = record.fingerprint
                record.parent["imported_at"] = now
                to_write.append(record)
            if to_write:
                try:
                    await self._write(table, to_write, changed_ids)
                except IntegrityError as exc:
                    if is_foreign_key_violation(exc):
                        raise ShopGoneError(shop_id) from exc
                    raise
        return UpsertCounts(created=created, updated=updated, unchanged=unchanged)

    async def _hold_shop(self, shop_id: str) -> None:
        """Fail fast when the shop is gone; on PostgreSQL also hold it until commit.

        `FOR KEY SHARE` makes a concurrent shop delete wait for this page's commit and then cascade over it, so a
        late page can never leave rows behind; SQLite's write transactions are exclusive, so the check suffices.
        """
        query = select(shops.c.id).where(shops.c.id == shop_id).with_for_update(read=True, key_share=True)
        if (await self._session.execute(query)).first() is None:
            raise ShopGoneError(shop_id)

    async def _write(self, table: Table, batch: list[_Rows], changed_ids: list[str]) -> None:
        """Upsert the parents, replace the changed parents' children wholesale, upsert every child."""
        execute = self._session.execute
        if self._dialect_name == "postgresql":
            batch, changed_ids = await self._upsert_parents_pg(table, batch)
        else:  # SQLite's write transactions are exclusive: what the SELECT saw still holds
            await execute(self._statements[table.name], [record.parent for record in batch])
        if changed_ids and table is products:
            changed_skus = select(skus.c.id).where(skus.c.product_id.in_(changed_ids))
            await execute(delete(inventory_links).where(inventory_links.c.sku_id.in_(changed_skus)))
            await execute(delete(skus).where(skus.c.product_id.in_(changed_ids)))
        elif changed_ids:
            await execute(delete(line_items).where(line_items.c.order_id.in_(changed_ids)))
        for child in _CHILDREN[table.name]:
            # Keyed by primary key: a child repeated in a batch is written once, the last one wins.
            rows = {_child_key(child, row): row for record in batch for row in record.children.get(child, ())}
            if rows:
                await execute(self._statements[child], list(rows.values()))

    async def _upsert_parents_pg(self, table: Table, batch: list[_Rows]) -> tuple[list[_Rows], list[str]]:
        """PostgreSQL: upsert the parents and learn from RETURNING which rows hold our version now, and which of
        those existed before. A concurrent writer may have stored the same record between our SELECT and this
        statement: if its version is newer, the upsert's WHERE kept it (the row is not returned, and we must not
        touch its children); if it is older, ours replaced it (the row was not inserted, so its children must go
        even though the SELECT called the record new). The upsert locks every row it touched until commit."""
        statement = self._statements[table.name].returning(table.c.id, literal_column("xmax = 0").label("inserted"))
        result = await self._session.execute(statement, [record.parent for record in batch])
        outcome = {row_id_: bool(inserted) for row_id_, inserted in result}
        winners = [r for r in batch if r.parent["id"] in outcome]
        return winners, [row_id_ for row_id_, inserted in outcome.items() if not inserted]


@dataclass(slots=True)
class _Rows:
    """A record as the rows it is stored in, and a digest of exactly those rows."""

    parent: dict[str, Any]
    children: dict[str, list[dict[str, Any]]]
    fingerprint: str = ""

    def __post_init__(self) -> None:
        self.fingerprint = rows_fingerprint(self.parent, self.children)


_CHILDREN = {"products": ("skus", "inventory_links"), "orders": ("line_items",)}


def _child_key(table_name: str, row: dict[str, Any]) -> Any:
    return (row["sku_id"], row["warehouse_id"]) if table_name == "inventory_links" else row["id"]


def _product_rows(shop_id: str, product: Product) -> _Rows:
    product_id = row_id(shop_id, "products", product.tiktok_product_id)
    sku_rows: list[dict[str, Any]] = []
    stock_rows: list[dict[str, Any]] = []
    for position, sku in enumerate(product.skus):
        sku_id = row_id(shop_id, "skus", sku.tiktok_sku_id)
        sku_rows.append(
            {
                "id": sku_id,
                "product_id": product_id,
                "shop_id": shop_id,
                "tiktok_sku_id": sku.tiktok_sku_id,
                "seller_sku": sku.seller_sku,
                "price_amount": sku.price.amount,
                "currency": sku.price.currency,
                "quantity": sku.quantity,
                "position": position,
            }
        )
        stock_rows.extend(
            {"sku_id": sku_id, "warehouse_id": stock.warehouse_id, "shop_id": shop_id, "quantity": stock.quantity}
            for stock in sku.stock
        )
    parent = {
        "id": product_id,
        "shop_id": shop_id,
        "tiktok_product_id": product.tiktok_product_id,
        "title": product.title,
        "status": product.status,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }
    return _Rows(parent, {"skus": sku_rows, "inventory_links": stock_rows})


def _order_rows(shop_id: str, order: Order) -> _Rows:
    order_id = row_id(shop_id, "orders", order.tiktok_order_id)
    item_rows = [
        {
            "id": row_id(order_id, "line_items", item.tiktok_line_item_id),
            "order_id": order_id,
            "shop_id": shop_id,
            "tiktok_line_item_id": item.tiktok_line_item_id,
            "tiktok_sku_id": item.tiktok_sku_id,
            "tiktok_product_id": item.tiktok_product_id,
            "seller_sku": item.seller_sku,
            "product_name": item.product_name,
            "quantity": item.quantity,
            "sale_price_amount": item.sale_price.amount,
            "currency": item.sale_price.currency,
            "position": position,
        }
        for position, item in enumerate(order.line_items)
    ]
    parent = {
        "id": order_id,
        "shop_id": shop_id,
        "tiktok_order_id": order.tiktok_order_id,
        "status": order.status,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "total_amount": order.total.amount,
        "currency": order.total.currency,
        "buyer_user_id": order.buyer_user_id,
        "recipient_name": order.recipient_name,
        "recipient_region": order.recipient_region,
    }
    return _Rows(parent, {"line_items": item_rows})


def _last_wins(records: Sequence[T], key: Callable[[T], str]) -> dict[str, T]:
    """The batch without repeated keys, keeping each key's last record (PostgreSQL refuses a repeated key)."""
    return {key(record): record for record in records}


_STATEMENTS: dict[str, dict[str, Insert]] = {}


def _upsert_statements(dialect_name: str) -> dict[str, Insert]:
    """INSERT ... ON CONFLICT DO UPDATE per table, built once per dialect.

    New rows are the common case and cost the same as a plain INSERT; the conflict branch covers changed rows
    and a concurrent writer of the same page.
    """
    if dialect_name not in _STATEMENTS:
        dialect_insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
        conflict_keys: dict[str, tuple[Table, list[str]]] = {
            "products": (products, ["shop_id", "tiktok_product_id"]),
            "skus": (skus, ["id"]),
            "inventory_links": (inventory_links, ["sku_id", "warehouse_id"]),
            "orders": (orders, ["shop_id", "tiktok_order_id"]),
            "line_items": (line_items, ["id"]),
        }
        statements: dict[str, Insert] = {}
        for name, (table, keys) in conflict_keys.items():
            statement = dialect_insert(table)
            # Parents: never replace a newer version (see the module docstring).
            newer_only = table.c.updated_at <= statement.excluded.updated_at if "updated_at" in table.c else None
            statements[name] = statement.on_conflict_do_update(
                index_elements=keys,
                set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in {*keys, "id"}},
                where=newer_only,
            )
        _STATEMENTS[dialect_name] = statements
    return _STATEMENTS[dialect_name]
