"""The inventory pool's rows in the limit (`bench.limit`): what the engine's pool stores during benchmark 1, written
the bare loop's way (issue 13: both sides do the same work).

Products (`ProductPool`): each batch's SKUs are auto-linked by the pool's own rule (`domain.inventory.links.auto_link`,
over every SKU of the shop seen so far, kept in memory: the limit imports one shop into a fresh database), a new item
per newly linked seller SKU, inserted with its seed already on hand (`seed_on_hand`, with its SEEDED movement), the
batch's link rows (new SKUs inserted; earlier twins that turn AMBIGUOUS updated), and an outbox row per product
with a newly linked SKU (the quantity push the engine seeds). Orders (`OrderPool`): the shop's LINKED links are read
once; each line's ledger row comes from the pool's rule for a first-seen line (`domain.inventory.ledger.transition`,
the effect its own status or its order's asks: `line_effect`),
the batch's counter deltas and movements are summed per item (and per order, as the engine's), the items' counters
move in one statement and the outbox rows of the products whose `available` moved are marked dirty.

Nothing here reads back what it wrote, checks fingerprints, locks or upserts: the rows go in as tuples in column
order, `COPY` on PostgreSQL, a driver-level `executemany` on SQLite (see `bench.limit`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.db.tables import inventory_items, inventory_movements, inventory_push_outbox, order_line_stock, sku_links
from adapters.tiktok import wire
from domain.catalog import fulfilled_by_tiktok
from domain.inventory.items import sku_search_key
from domain.inventory.ledger import LineState, line_effect, order_timing, stock_lines, transition
from domain.inventory.links import LinkState, ShopSku, auto_link, seed_on_hand, trimmed
from domain.stored import DELETED_PRODUCT_STATUS

SEEDED_REASON = "TikTok stock of the first linked shop"  # the engine's reason of a SEEDED movement

# Updates the bare loop needs besides its inserts: (operation, parameter tuples); see `bench.limit`'s executors.
Updates = list[tuple[str, list[tuple[Any, ...]]]]


def _server_default(column: Any) -> Any:
    """The value a column's server default stores (the integer ones `sku_links` has), None when it has none."""
    if column.server_default is None:
        return None
    text = str(getattr(column.server_default.arg, "text", column.server_default.arg))
    return int(text) if text.lstrip("-").isdigit() else text


# `sku_links` in column order, with each column's default: a row is built by name (`_link_row`), so a column a
# migration adds gets its default instead of shifting every value after it (as a fixed tuple did: benchmark 1
# failed with "Incorrect number of bindings" after migrations 0010 and 0011).
_LINK_COLUMNS = tuple((column.name, _server_default(column)) for column in sku_links.c)


def _link_row(**values: Any) -> tuple[Any, ...]:
    """A `sku_links` row as a tuple in column order: `values` by column name, each other column's default."""
    unknown = values.keys() - {name for name, _ in _LINK_COLUMNS}
    if unknown:
        raise KeyError(f"sku_links has no column {sorted(unknown)}")
    return tuple(values.get(name, default) for name, default in _LINK_COLUMNS)


# A ledger row's state -> which of the shop's running units per SKU (`sku_ledger_units`) it counts in, as the
# engine's `PoolWrite` keeps them: 0 ingested (RESERVED, DEDUCTED), 1 released.
_COUNTED_IN = {LineState.RESERVED.value: 0, LineState.DEDUCTED.value: 0, LineState.RELEASED.value: 1}


@dataclass
class _Link:
    sku_id: str
    product_id: str
    seller_sku: str | None
    bundle: bool
    state: LinkState | None = None
    item_id: str | None = None


def pooled_skus(product: wire.Product) -> list[wire.Sku]:
    """The SKUs of `product` the engine's pool links: none of one TikTok reports DELETED (stored, but left out of the
    pool: `adapters.db.repositories.inventory.links.auto_link_products`), else all."""
    return [] if product.status == DELETED_PRODUCT_STATUS else list(product.skus or ())


@dataclass
class ProductPool:
    """The products import's pool rows, batch by batch; the shop's SKUs and items so far kept in memory."""

    shop_id: str
    merchant_id: str
    links: dict[str, _Link] = field(default_factory=dict)  # SKU id -> its link as written
    by_seller_sku: dict[str, list[str]] = field(default_factory=dict)  # trimmed seller SKU -> SKU ids
    items: dict[str, str] = field(default_factory=dict)  # item SKU -> item id

    def rows(self, page: list[wire.Product], now: Any) -> tuple[dict[Any, list[tuple[Any, ...]]], Updates]:
        quantity: dict[str, int] = {}
        touched: dict[str, _Link] = {}
        new_ids: set[str] = set()
        for product in page:
            bundle_product = "COMBINED_PRODUCT" in (product.product_types or ())
            for sku in pooled_skus(product):
                link = _Link(sku.id, product.id, trimmed(sku.seller_sku), bundle_product or bool(sku.combined_skus))
                self.links[sku.id] = touched[sku.id] = link
                new_ids.add(sku.id)
                quantity[sku.id] = sum(s.quantity for s in sku.inventory or ())
                if link.seller_sku is not None:
                    self.by_seller_sku.setdefault(link.seller_sku, []).append(sku.id)
        for link in list(touched.values()):  # earlier SKUs sharing a seller SKU with this batch's (twins)
            for twin in self.by_seller_sku.get(link.seller_sku or "", ()) if link.seller_sku else ():
                touched.setdefault(twin, self.links[twin])
        shop_skus = [ShopSku(k.sku_id, k.seller_sku, k.bundle, None, k.state, k.item_id) for k in touched.values()]
        item_rows: list[tuple[Any, ...]] = []
        movement_rows: list[tuple[Any, ...]] = []
        link_rows: list[tuple[Any, ...]] = []
        link_updates: list[tuple[Any, ...]] = []
        outbox_rows: list[tuple[Any, ...]] = []
        for decision in auto_link(shop_skus):
            link = touched[decision.sku_id]
            seeded = False
            item_id = None
            if decision.item_sku is not None:
                item_id = self.items.get(decision.item_sku)
                if item_id is None:  # a new seller SKU: its item, seeded from this SKU's TikTok stock
                    item_id = self.items[decision.item_sku] = uuid.uuid4().hex
                    seed, seeded = seed_on_hand(quantity[link.sku_id], 0), True
                    item_rows.append(
                        (item_id, self.merchant_id, decision.item_sku, sku_search_key(decision.item_sku), seed, 0,
                         0, 1, now, now, None)  # seeded_from_item_id (migration 0071): a first import copies none
                    )  # fmt: skip
                    if seed:
                        movement_rows.append(
                            (uuid.uuid4().hex, item_id, self.merchant_id, "SEEDED", seed, 0, SEEDED_REASON,
                             self.shop_id, None, now)
                        )  # fmt: skip
            if link.sku_id not in new_ids and decision.state is link.state and item_id == link.item_id:
                continue
            linked = decision.state is LinkState.LINKED
            link.state, link.item_id = decision.state, item_id
            if link.sku_id in new_ids:
                link_rows.append(
                    _link_row(
                        sku_id=link.sku_id, shop_id=self.shop_id, merchant_id=self.merchant_id,
                        inventory_item_id=item_id, tiktok_product_id=link.product_id, tiktok_sku_id=link.sku_id,
                        seller_sku=link.seller_sku, state=decision.state.value,
                        stock_counted_at=now if seeded else None, linked_at=now if linked else None, source="AUTO",
                        updated_at=now,
                    )
                )  # fmt: skip
            else:  # an earlier SKU's link changes (a twin turned it AMBIGUOUS)
                link_updates.append((decision.state.value, item_id, now if linked else None, now, link.sku_id))
            if linked:
                outbox_rows.append((self.shop_id, link.product_id, 1, 0, now, 0, None, None, None, now))
        outbox = list({row[1]: row for row in outbox_rows}.values())
        inserts: dict[Any, list[tuple[Any, ...]]] = {
            inventory_items: item_rows, sku_links: link_rows, inventory_movements: movement_rows,
            inventory_push_outbox: outbox,
        }  # fmt: skip
        return inserts, [("relink", link_updates)] if link_updates else []


@dataclass
class OrderPool:
    """The orders import's ledger, batch by batch, over the shop's links as the products import left them."""

    shop_id: str
    merchant_id: str
    links: dict[str, tuple[str, datetime | None, datetime | None]]  # TikTok SKU id -> item, counted at, linked at
    products_of: dict[str, set[str]]  # item id -> TikTok product ids of its LINKED SKUs in the shop

    @classmethod
    async def load(cls, connection: AsyncConnection, shop_id: str, merchant_id: str) -> OrderPool:
        c = sku_links.c
        query = select(c.tiktok_sku_id, c.inventory_item_id, c.stock_counted_at, c.linked_at, c.tiktok_product_id)
        query = query.where(c.shop_id == shop_id, c.state == LinkState.LINKED.value, c.inventory_item_id.is_not(None))
        links: dict[str, tuple[str, datetime | None, datetime | None]] = {}
        products_of: dict[str, set[str]] = {}
        for sku_id, item_id, counted, linked, product_id in (await connection.execute(query)).all():
            links[sku_id] = (item_id, counted, linked)
            products_of.setdefault(item_id, set()).add(product_id)
        return cls(shop_id, merchant_id, links, products_of)

    def rows(
        self, page: list[wire.Order], when: Callable[[int], Any], now: Any
    ) -> tuple[dict[Any, list[tuple[Any, ...]]], Updates]:
        ledger: list[tuple[Any, ...]] = []
        deltas: dict[str, list[int]] = {}
        moved: dict[tuple[str, str, str], list[int]] = {}
        units: dict[str, list[int]] = {}  # TikTok SKU id -> [ingested, released] units (the fence's running count)
        unlinked = (None, None, None)
        for order in page:
            status = order.status or "UNKNOWN"
            fbt = fulfilled_by_tiktok(order.fulfillment_type)
            created = datetime.fromtimestamp(order.create_time, UTC)
            updated = when(order.create_time if order.update_time is None else order.update_time)
            for item in order.line_items or ():
                # the line's own status first, its package's and the order's FBT flag, as the engine
                wanted = line_effect(status, item.display_status, fbt, item.package_status)
                if wanted is None:
                    continue
                parts = [(c.sku_id, c.sku_count) for c in item.combined_listing_skus or ()]
                for stock in stock_lines(item.sku_id, item.quantity, parts):
                    item_id, counted, linked = self.links.get(stock.tiktok_sku_id, unlinked)
                    in_seed, after_link = order_timing(created, counted, linked)
                    move = transition(None, wanted, updated, item_id, stock.quantity, in_seed, after_link)
                    assert move is not None  # a first-seen line always moves
                    ledger.append(
                        (self.shop_id, order.id, item.id, stock.component_sku_id, self.merchant_id,
                         stock.tiktok_sku_id, move.inventory_item_id, stock.quantity, move.state.value,
                         wanted.value, updated, now, None)  # (left out of no seed: each link is on its own)
                    )  # fmt: skip
                    counted = _COUNTED_IN.get(move.state.value)
                    if counted is not None:
                        units.setdefault(stock.tiktok_sku_id, [0, 0])[counted] += stock.quantity
                    if move.movement is not None and move.item_moved is not None:
                        totals = deltas.setdefault(move.item_moved, [0, 0])
                        totals[0] += move.on_hand_delta
                        totals[1] += move.reserved_delta
                        sums = moved.setdefault((move.item_moved, move.movement.value, order.id), [0, 0])
                        sums[0] += move.on_hand_delta
                        sums[1] += move.reserved_delta
        movements = [
            (uuid.uuid4().hex, item, self.merchant_id, kind, on_hand, reserved, None, self.shop_id, order_id, now)
            for (item, kind, order_id), (on_hand, reserved) in moved.items()
            if on_hand or reserved
        ]
        counters = [(d[0], d[1], now, item) for item, d in deltas.items() if d[0] or d[1]]
        dirty = sorted({p for item, d in deltas.items() if d[0] != d[1] for p in self.products_of.get(item, ())})
        inserts = {order_line_stock: ledger, inventory_movements: movements}
        running = [(self.shop_id, sku, *units[sku]) for sku in sorted(units)]
        return inserts, [
            ("counters", counters), ("outbox", [(now, now, self.shop_id, p) for p in dirty]), ("units", running)
        ]  # fmt: skip
