"""Orders into the ledger, links into the ledger, a shop out of it: `domain.inventory.ledger` on batches of rows.

Every function runs in the caller's transaction (the one that upserts the orders, changes the links or deletes the
shop) with a fixed number of statements per batch. An order batch (`apply_orders`): read the shop's merchant and its
links of the batch's SKUs (one statement); on PostgreSQL, lock the items they name and those the batch's RESERVED
rows count on (SQLite's write transaction is exclusive already); read the batch's ledger rows; ask the rules; write
(`PoolWrite.flush`). Its reads are built once per dialect and return their times as the driver does, each distinct
time converted once (`_times`): an import runs them for every batch.

A line's rows are `ledger.stock_lines`: its own SKU's, or a virtual bundle's components' (live-sync.md §1.5), each
keyed by (order, line item, component) and linked through its own SKU, so links, seeding and relinks treat every
row alike. A bundle line first stored before its components were known (before migration 0005) left a row of the
bundle SKU itself, which never links (EXCLUDED) and moved nothing: it goes once the components' rows are written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import NullType

from adapters.db.engine import POSTGRES_IMPORT_BATCH_RECORDS, SQLITE_IMPORT_BATCH_RECORDS
from adapters.db.lists import among, among_param, among_rows, decimal_texts, dialect_of, listed
from adapters.db.repositories.catalog import hold_writers
from adapters.db.repositories.inventory.writer import (
    LedgerKey,
    PoolWrite,
    hold_shop_links,
    ledger_line,
    lock_items,
    lock_links,
    touch_items,
)
from adapters.db.repositories.inventory_push_links import holds_remembered
from adapters.db.retention import delete_oldest
from adapters.db.tables import (
    LEDGER_BY_SKU,
    UTCDateTime,
    deleted_shop_connections,
    deleted_shop_holds,
    deleted_shop_lines,
    deleted_shop_links,
    inventory_items,
    inventory_movements,
    order_line_stock,
    shops,
    sku_ledger_units,
    sku_link_periods,
    sku_links,
)
from adapters.db.tables import orders as orders_table
from domain.catalog import Order
from domain.inventory.items import MovementKind
from domain.inventory.ledger import (
    COUNTED_BEFORE_DELETE_REASON,
    DELETED_LINE_KEPT,
    EARLIER_PERIOD,
    LINE_ITSELF,
    KeptLink,
    LedgerLine,
    LineState,
    Relinked,
    StockEffect,
    Transition,
    back_from_counted_unseen,
    back_from_unseen,
    back_from_unseen_elsewhere,
    back_with_its_shop,
    counted_in_stock,
    counted_under_a_deleted_link,
    counted_unseen_back_on_hand,
    counted_unseen_units,
    deducted_on_copy,
    first_link_here,
    kept_pause,
    leaves_with_its_shop,
    left_before_relink,
    left_before_relink_with_its_shop,
    left_out_of_seed,
    left_shelf_by,
    line_effect,
    link_pending,
    order_timing,
    paused_period,
    pending_with_its_shop,
    relink_line,
    seen_before_push,
    shipped_before_a_deleted_relink,
    shipped_before_relink,
    shipped_under_a_deleted_link,
    sold_before_unlink,
    sold_in_pause,
    sold_under_an_earlier_link,
    stays_reserved,
    stock_lines,
    takes_units,
    through_the_gap,
    took_units_now,
    transition,
    uncounted_sale,
    unseen_back_elsewhere,
    unseen_back_on_hand,
    unseen_units,
    waits_with_its_shop,
    wanted_effect,
    with_kept_pause,
)
from domain.inventory.links import (
    DROPPED,
    LEFT_BY_IMPORT,
    LinkSource,
    LinkState,
    counts_orders,
    hold_item,
    hold_parts,
    left_by_import,
    on_seed,
)
from domain.inventory_push import DEFAULT_HOLD_HORIZON, standing_units
from domain.ports import PoolChange
from domain.stored import OrderRecord, StoredOrder

# Orders per round of statements: a whole import batch on either database (`Database.import_batch_records`: 2,000
# on PostgreSQL, 1,000 on SQLite), so a batch writes each ledger-unit, item and link row once. With 1,000, a PostgreSQL
# batch ran two rounds, and the second wrote again the SKUs' rows the first had written in the same transaction
# (`sku_ledger_units`' upsert hitting its own new rows, the items' counters, the links' fence counts): PostgreSQL
# re-checks every foreign key at an UPDATE of a row its own transaction wrote (`RI_FKey_fk_upd_check_required`) and
# writes a new version into each index (bench/README.md "Benchmark 1's orders import on PostgreSQL, stop 74"). Its
# lists of ids and keys travel as arrays (`among`, `among_rows`), not as IN lists of one parameter per value: a
# row-value IN list of a chunk's ledger keys (thousands) overflowed PostgreSQL's parser stack (review69 P1).
CHUNK = max(POSTGRES_IMPORT_BATCH_RECORDS, SQLITE_IMPORT_BATCH_RECORDS)


async def merchant_of(session: AsyncSession, shop_id: str, *, hold: bool = False) -> str | None:
    """The shop's merchant; None once the shop is gone. `hold`: the shop is held `FOR KEY SHARE` until commit
    (PostgreSQL), as every writer of a shop's rows holds it before writing: a delete under way (`FOR UPDATE`)
    finishes first and the shop is then found gone, rather than the write failing on a foreign key or deadlocking
    with the delete over the rows it removes."""
    query = select(shops.c.merchant_id).where(shops.c.id == shop_id)
    if hold:
        query = query.with_for_update(read=True, key_share=True)
    return (await session.execute(query)).scalar_one_or_none()


# (order id, status, update time, create time, [(line item id, component, TikTok SKU id, units, line status,
# package status)], fulfilled by TikTok, when its shipped lines left the shelf at the latest: `ledger.left_shelf_by`):
# the ledger rows an order asks for (`stock_lines`), flat, each with its line's own status and its package's (None:
# not given)
_Line = tuple[str, str, str, int, str | None, str | None]
_OrderLines = tuple[str, str, datetime, datetime, list[_Line], bool, datetime]
# A line first seen cancelled: (TikTok SKU id, its order's `create_time`, `update_time`, units, the item of the
# earlier link period of this connection it was made under, None: none or not one)
_Cancelled = tuple[str, datetime, datetime, int, str | None]


def _order_lines(record: OrderRecord) -> _OrderLines:
    """The `_OrderLines` of a stored or domain order; a bundle line asks one row per component (`stock_lines`)."""
    if isinstance(record, StoredOrder):
        values = record.values
        statuses = record.line_statuses or (None,) * len(record.line_items)
        packages = record.package_statuses or (None,) * len(record.line_items)
        lines: list[_Line]
        if not record.components:  # most orders: each line one row of its own SKU, as `stock_lines` makes it
            lines = [
                (li[0], LINE_ITSELF, li[1], li[5], status, package)
                for li, status, package in zip(record.line_items, statuses, packages, strict=True)
            ]
        else:
            parts: dict[str, list[tuple[str, int]]] = {}
            for line_id, sku_id, sku_count, _ in record.components:
                parts.setdefault(line_id, []).append((sku_id, sku_count))
            lines = [
                (li[0], *stock, status, package)
                for li, status, package in zip(record.line_items, statuses, packages, strict=True)
                for stock in stock_lines(li[1], li[5], parts.get(li[0], ()))
            ]
        shipped_by = left_shelf_by(values[1], values[3], record.collected_at, len(set(record.package_ids)))
        return values[0], values[1], values[3], values[2], lines, record.fulfilled_by_tiktok, shipped_by
    assert isinstance(record, Order)
    lines = [
        (li.tiktok_line_item_id, *stock, li.display_status, li.package_status)
        for li in record.line_items
        for stock in stock_lines(
            li.tiktok_sku_id, li.quantity, [(c.tiktok_sku_id, c.sku_count) for c in li.combined_listing_skus]
        )
    ]
    return (
        record.tiktok_order_id,
        record.status,
        record.updated_at,
        record.created_at,
        lines,
        record.fulfilled_by_tiktok,
        left_shelf_by(record.status, record.updated_at, record.collected_at, len(set(record.package_ids))),
    )


async def apply_orders(
    session: AsyncSession, shop_id: str, records: Sequence[OrderRecord], now: datetime, *, none_stored: bool = False
) -> PoolChange:
    """Move the ledger of the shop's order lines to what each line's status asks (`ledger.line_effect`: its own
    status, else its order's; `ledger.transition`). A line whose status and order status this version does not know
    moves nothing. `none_stored`: the catalog's upsert of `records`, earlier in this transaction, found none of them
    stored, so none has a ledger row: the batch's ledger rows are not read (`domain.services.inventory.store_orders`:
    a ledger row is written only in the transaction that stores its order, after its upsert, and an order leaves
    only with its shop, whose delete takes its ledger rows; from the catalog's read to commit, no other writer stores
    one of the shop's orders: PostgreSQL's turn of its order writers, `catalog.hold_writers`, SQLite's exclusive
    write transaction)."""
    change = PoolChange()
    if not records:
        return change
    await hold_shop_links(session, shop_id, exclusive=False)
    latest = {lines[0]: lines for lines in map(_order_lines, records)}  # a repeated order: the last one wins
    orders = [order for order in latest.values() if _has_effect(order)]
    for start in range(0, len(orders), CHUNK):
        applied = await _apply_chunk(session, shop_id, orders[start : start + CHUNK], now, none_stored)
        if applied is None:
            return PoolChange()  # the shop is gone
        change |= applied
    return change


def _has_effect(order: _OrderLines) -> bool:
    """Whether some line of the order asks an effect (`line_effect`): one of a status this version knows."""
    status = order[1]
    return (
        order[5]
        or wanted_effect(status) is not None
        or any(line_effect(status, line[4]) is not None for line in order[4])
    )


async def _apply_chunk(
    session: AsyncSession, shop_id: str, orders: list[_OrderLines], now: datetime, none_stored: bool = False
) -> PoolChange | None:
    """One round of statements over `orders`; None when the shop is gone (nothing written). `none_stored`: see
    `apply_orders` (no ledger row of `orders` exists: neither the held read nor the stored read is made)."""
    dialect = dialect_of(session)
    statements = _statements(dialect)
    sku_ids = sorted({line[2] for order in orders for line in order[4]})
    linked = await _linked_items(session, shop_id, sku_ids)
    if linked is None:
        return None
    merchant_id, links, unlinked_from, joined_read, seeds, came_back = linked
    # the SKUs' earlier link periods on this connection (`sku_link_periods`): a sale first seen shipped counts on the
    # item it was made under (`ledger.sold_under_an_earlier_link`)
    earlier = await _earlier_periods(session, shop_id, sku_ids)
    params = {"shop_id": shop_id, "orders": listed([o[0] for o in orders], dialect)}
    # The lines the delete of this TikTok shop's earlier connection deducted (`deleted_shop_lines`), read only when the
    # merchant has some of it (`came_back`, read with the links): their units are off on-hand already
    deducted: dict[LedgerKey, _Deducted] = {}
    # and when its links of the batch's SKUs had taken effect (`deleted_shop_links`)
    linked_before: _LinkedBefore = {}
    if came_back is not None:
        deducted = await _deducted_at_delete(session, merchant_id, came_back, [o[0] for o in orders])
        # (periods of links that named their item run through the gap to the SKU's link here: `through_the_gap`)
        next_link = {sku: linked_at or counted for sku, (_, counted, linked_at) in links.items()}
        next_link.update((sku, remembered[1]) for sku, remembered in unlinked_from.items() if sku not in next_link)
        # (to the first link of this connection, the link times of the periods its link changes ended too: a sale
        # made under one counts on its item, `sold_under_an_earlier_link`, not on the delete's: `first_link_here`)
        next_link = {sku: first_link_here(next_link.get(sku), earlier.get(sku, {})) for sku in {*next_link, *earlier}}
        linked_before = await _linked_before(session, merchant_id, came_back, sku_ids, next_link)
    held_items: set[str] | None = None  # (PostgreSQL: the items this batch holds)
    # whether the batch's orders may have ledger rows (the caller's catalog upsert created them all: none; PostgreSQL:
    # else known from the held read)
    has_rows = not none_stored
    if dialect == "postgresql":
        # The turn of the shop's order writers (held already when the catalog upsert ran in this transaction): a
        # ledger key without a row here gets none from another transaction before this one ends, as only order
        # batches insert ledger rows (a relink rewrites rows it read; a shop's delete waits on the shop row the
        # upsert holds). `flush` then inserts those rows by COPY, no upsert.
        await hold_writers(session, orders_table, shop_id)
        # Items of the stored rows too: a RESERVED line counts on the item it was applied to, whatever the link
        # says, and a PENDING_LINK one names the item it was reserved on before an unlink (written back as it is,
        # it must not be an item a concurrent removal just took out of the row: `shop_items`). Its rows are read
        # again once the items are held, as concurrent writers of those items left them. The read returns a row (a
        # None) for the others too: none at all says the batch's orders have no ledger row, and, as no other
        # transaction inserts one before this one ends (the turn above), none at the re-read either, which is skipped
        # (a first import's batches: bench/README.md, "Server work per record, stop 61").
        held_rows = (await session.execute(statements.held, params)).scalars().all() if has_rows else ()
        has_rows = bool(held_rows)
        held = {i for i in held_rows if i is not None}
        remembered = {item for item, *_ in unlinked_from.values()}
        remembered |= {item for of_sku in linked_before.values() for item in of_sku}  # (a line may wait on one)
        remembered |= {item for item, _, state, _ in deducted.values() if state == LineState.PENDING_LINK.value}
        remembered |= {item for of_sku in earlier.values() for item in of_sku}
        if came_back is not None:  # (the items its delete took units sold unseen off: a line gives them back there)
            query = _held_unseen_query(merchant_id, came_back, sku_ids, dialect)
            remembered |= set((await session.execute(query)).scalars())
        present = held_items = await lock_items(session, {item for item, _, _ in links.values()} | held | remembered)
        # (an item an unlinked SKU remembers may have gone since the links were read: its link forgot it too; and
        # one a deleted shop's link or waiting line named: its record went with it)
        unlinked_from = {sku: link for sku, link in unlinked_from.items() if link[0] in present}
        linked_before = {
            sku: {item: periods for item, periods in of_sku.items() if item in present}
            for sku, of_sku in linked_before.items()
        }
        deducted = {
            key: record for key, record in deducted.items()
            if record[0] in present or record[2] != LineState.PENDING_LINK.value
        }  # fmt: skip
        earlier = {
            sku: {item: periods for item, periods in of_sku.items() if item in present}
            for sku, of_sku in earlier.items()
        }
    # (SQLite: the write transaction is exclusive from its first statement on: there is nothing to hold, and the
    # rows read now stay as they are until commit.)
    time_of = _times(session)
    stored: dict[LedgerKey, LedgerLine] = {}
    stamped: dict[LedgerKey, Any] = {}  # each stored row's `updated_at`, as the driver gives it
    stored_rows = await session.execute(statements.stored, params) if has_rows else ()
    for row in stored_rows:
        order_id, line_id, component, state, wanted, updated_at, item_id, quantity, stamp, left_out_of = row
        stored[order_id, line_id, component] = LedgerLine(
            _STATE[state], _EFFECT[wanted], time_of(updated_at), item_id, quantity, left_out_of
        )
        stamped[order_id, line_id, component] = stamp
    write = PoolWrite(shop_id, merchant_id, now)
    # the units that delete took off as sold unseen, read now that their items are held
    unseen = None if came_back is None else await _unseen_holds(session, merchant_id, came_back, sku_ids, held_items)
    stale: set[LedgerKey] = set()
    # TikTok SKU id -> units of lines in the seed (`Transition.in_seed`), or first taken (reserved or deducted) on a
    # joining link whose page's stock read left them out (`seen_before_push`, `_counted_before_push`)
    seeded: dict[str, int] = {}
    released_early: dict[str, int] = {}  # TikTok SKU id -> units released cancelled before the seed's read
    unlinked = (None, None, None)
    last_count = _LastCounts(session)
    served: list[LedgerKey] = []  # keys of `deducted` first seen now
    made_at: dict[LedgerKey, datetime] = {}  # each line's order's `create_time` (`PoolWrite.ingested_by_item`)
    cancelled: list[_Cancelled] = []  # lines first seen cancelled (`_counted_before_push`)
    for order_id, status, updated_at, created_at, lines, by_tiktok, shipped_by in orders:
        for line_id, component, sku_id, units, line_status, package_status in lines:
            wanted = line_effect(status, line_status, by_tiktok, package_status)
            if wanted is None:
                continue  # neither the line's status nor the order's is one this version knows: nothing yet
            key: LedgerKey = (order_id, line_id, component)
            made_at[key] = created_at
            current = stored.get(key)
            item_id, counted_at, linked_at = links.get(sku_id, unlinked)
            was_linked_to, by_import, before_unlink = None, False, False
            if item_id is None and sku_id in unlinked_from:
                # that link's time decides `after_link`, and the unlink's which sales were made before it
                was_linked_to, linked_at, by_import, unlinked_at = unlinked_from[sku_id]
                before_unlink = sold_before_unlink(created_at, unlinked_at)
            record = deducted.get(key) if current is None else None
            if current is None and record is None and wanted is StockEffect.RELEASE and not by_tiktok:
                # (first seen cancelled, no unit applied: a split's part standing for this sale gives it back)
                made_under = sold_under_an_earlier_link(created_at, earlier[sku_id]) if sku_id in earlier else None
                cancelled.append((sku_id, created_at, updated_at, units, made_under))
            # (a line the delete's ledger had applied already, `_Deducted`: no link kept makes it move again; one it
            # held waiting on an item moves as it would have there, `pending_with_its_shop`)
            pending_on = record[0] if record is not None and record[2] == LineState.PENDING_LINK.value else None
            seen = record is not None and pending_on is None and record[2] != LineState.RESERVED.value
            # (with the deleted connection's unlinked pause, when the SKU's link now makes it that item's:
            # `kept_pause`, detour59b; none kept for the SKU, every line but a reconnected shop's: none added, as
            # `with_kept_pause` returns what it is given)
            kept_of_sku = linked_before.get(sku_id) if linked_before else None
            of_sku = (
                _NONE_KEPT if seen or pending_on is not None or not kept_of_sku
                else with_kept_pause(item_id, kept_of_sku)
            )  # fmt: skip
            if item_id is not None and current is None and of_sku:
                # sold under a deleted link to another item than the SKU's now: it counts there, the reconnect's link
                # as it is (a delete's record of it names that item, or none)
                sold_on = counted_under_a_deleted_link(
                    item_id, created_at, of_sku, shipped=wanted is StockEffect.DEDUCT
                )
                if sold_on != item_id and (record is None or record[0] == sold_on):
                    item_id, counted_at, linked_at = sold_on, None, None
            periods = _link_to_delete(of_sku.get(item_id, ())) if of_sku and item_id is not None else ()
            in_seed, after_link = order_timing(created_at, counted_at, linked_at, periods)
            if item_id is None and was_linked_to is None and current is None and record is None and of_sku:
                # (the reconnect's orders ahead of its products: a sale shipped under a deleted link waits on its item;
                # no period kept of the SKU, none: `shipped_under_a_deleted_link`)
                was_linked_to = shipped_under_a_deleted_link(
                    wanted, created_at, {item: _link_to_delete(kept) for item, kept in of_sku.items()}
                )
                after_link = after_link or was_linked_to is not None
            seed = seeds.get(sku_id)
            seed_read_at = _in_seed_of(current, seed, created_at)
            reason = None
            covering = None  # (the count since its shipment a first deduction read: `_UnseenHolds.take`)
            deducted_from = None if seen or pending_on is not None else record
            if deducted_from is not None and deducted_from[0] == item_id:
                # the shop's delete deducted it from this very item: it comes back as it was, never taken twice, or as
                # the merchant's count since that delete found it
                counted_at = await last_count.since(item_id, deducted_from[3])
                move: Transition | None
                left = None
                if wanted is StockEffect.DEDUCT:  # (shipped before a link change of that connection moved it here)
                    left = shipped_before_a_deleted_relink(
                        item_id, shipped_by, deducted_from[3], of_sku, created_at, units
                    )
                if left is not None:
                    back, move = left_before_relink_with_its_shop(
                        wanted, updated_at, item_id, left, units, counted_at, await last_count.since(left, shipped_by),
                        shipped_by,
                    )  # fmt: skip
                    write.line(
                        key, sku_id, units, back, before=None, new=True, left_out_of=None,
                        reason=_SHIPPED_BEFORE_RELINK,
                    )  # fmt: skip
                    reason = _SHIPPED_BEFORE_RELINK
                else:
                    # (a count before the delete that covered its shipment: `back_with_its_shop`)
                    counted_before = None
                    if wanted is StockEffect.DEDUCT and counted_at is None:
                        counted_before = await last_count.since(item_id, shipped_by)
                    move = back_with_its_shop(
                        wanted, updated_at, deducted_from[0], units, created_at, deducted_from[1], counted_at,
                        shipped_by, counted_before,
                    )  # fmt: skip
                    reason = _CONNECTED_AGAIN
            elif pending_on is not None:
                # made in the deleted connection's unlinked pause, its SKU linked now to the item that makes it
                # that item's (`kept_pause`): it moves as that connection's link back would have moved it
                if item_id is not None and item_id != pending_on:
                    if sold_in_pause(created_at, kept_pause(item_id, linked_before.get(sku_id, {}))):
                        pending_on = item_id
                move = pending_with_its_shop(wanted, updated_at, item_id, units, pending_on)
            elif deducted_from is not None and item_id is None and current is None:
                # deducted by the delete, its SKU not linked yet: it waits for the link with its record (`relink_lines`)
                move = waits_with_its_shop(wanted, updated_at)
            else:
                counted_at = None
                if wanted is StockEffect.DEDUCT:  # the item's last count: `counted_after_shipment`
                    if current is not None and current.state is LineState.RESERVED:
                        counted_at = await last_count.since(current.inventory_item_id, shipped_by)
                    elif current is None and after_link:
                        counted_at = await last_count.since(item_id, shipped_by)
                move = transition(
                    current, wanted, updated_at, item_id, units, in_seed, after_link, was_linked_to, seed_read_at,
                    by_import, before_unlink, counted_at, shipped_by,
                )  # fmt: skip
                if (
                    move is not None and move.state is LineState.DEDUCTED and current is not None
                    and current.state is LineState.RESERVED and sku_id in earlier
                    and (
                        left := shipped_before_relink(
                            current, shipped_by, earlier[sku_id], _link_time(links, unlinked_from, sku_id), created_at
                        )
                    ) is not None
                ):  # fmt: skip
                    # shipped before a link change moved its reservation: it deducts from the item it left and
                    # gives the reservation back where it is (`ledger.left_before_relink`; a count of the item it
                    # left, after the shipment, covers it; an unlink before that change left it there,
                    # `ledger.reserved_until`)
                    back, move = left_before_relink(
                        current, wanted, updated_at, left, await last_count.since(left, shipped_by), shipped_by
                    )
                    write.line(
                        key, sku_id, current.quantity, back, before=current, stamped_at=time_of(stamped[key]),
                        left_out_of=current.left_out_of, reason=_SHIPPED_BEFORE_RELINK,
                    )  # fmt: skip
                    reason = _SHIPPED_BEFORE_RELINK
                if (
                    move is not None and move.state is LineState.HISTORICAL and wanted is StockEffect.DEDUCT
                    and current is None and record is None and sku_id in earlier
                ):  # fmt: skip
                    # shipped, first seen, made under an earlier link of this connection: it deducts from its item
                    if (made_under := sold_under_an_earlier_link(created_at, earlier[sku_id])) is not None:
                        counted_at = await last_count.since(made_under, shipped_by)
                        move = transition(
                            None,
                            wanted,
                            updated_at,
                            made_under,
                            units,
                            after_link=True,
                            counted_at=counted_at,
                            shipped_by=shipped_by,
                        )
                covering = counted_at
            if deducted_from is not None and not (move is not None and _waits_unseen(move)):
                served.append(key)  # (a line waiting for its SKU's link keeps it: `relink_lines` counts it back)
            elif unseen is not None and move is not None and current is None:
                # (that delete took it off as sold unseen: back, on the move's item or on the hold's)
                back = unseen.take(sku_id, move, created_at, write, order_id, units, shipped_by, covering)
                move, reason = back, (_CONNECTED_AGAIN_UNSEEN if back is not move else reason)
            if seen or (pending_on is not None and item_id is not None):
                served.append(key)  # (a waiting line: its row remembers the item now; on no link yet, `relink_lines`
                # serves its record: it tells that line, made after the unlink, from one sold under the deleted link)
            if move is not None:
                # No stored row, and none can appear before commit (above): `flush` inserts it.
                took_now = took_units_now(current, move)
                kept = None if took_now else time_of(stamped[key])
                write.line(
                    key, sku_id, units if current is None else current.quantity, move, before=current,
                    new=current is None, stamped_at=kept,
                    left_out_of=left_out_of_seed(current, move, created_at, seed), reason=reason,
                )  # fmt: skip
                if seen_before_push(move, took_now, created_at, joined_read.get(sku_id)):
                    seeded[sku_id] = seeded.get(sku_id, 0) + units
                elif seed_read_at is not None and move.state is LineState.RELEASED and move.on_hand_delta < 0:
                    # cancelled before the seed's read (`released_before_read`): TikTok's available had the units
                    # back before any baseline the fence measures from; a release counted since it would pass for
                    # units TikTok gained since, and hold as many back as sales unseen, or, in the released count,
                    # make up for units a push restored unseen and hide as many sales unseen (`fence_counts`)
                    seeded[sku_id] = seeded.get(sku_id, 0) + move.reserved_delta
                    released_early[sku_id] = released_early.get(sku_id, 0) - move.reserved_delta
            if component != LINE_ITSELF:
                stale |= _unlinked_bundle_row(stored, (order_id, line_id, LINE_ITSELF))
    if stale:  # (rows that counted no units: the running units per SKU stay as they are)
        columns = order_line_stock.c
        await session.execute(
            delete(order_line_stock).where(
                columns.shop_id == shop_id,
                among_rows(_key_columns(columns), sorted(stale), dialect_of(session)),
            )
        )
    if served and came_back is not None:  # in the ledger now (counted back, or on another item: never): served
        await _forget_deducted(session, merchant_id, came_back, served)
    if unseen is not None:
        await unseen.save(session)
    # (sales applied now: a split hold's part of their item is seen, review62 R2, if made before its push, review63 F2)
    applied = write.ingested_by_item(made_at)
    counted = write.ingested_deltas()  # (a moved hold's SKU-wide count: kept to its own sales, review64 F4/F6/F9)
    if seeded or released_early or applied or counted or cancelled:  # before `flush` marks the outbox: a push
        # writes links then the outbox
        await _counted_before_push(session, shop_id, seeded, released_early, applied, counted, cancelled)
    return await write.flush(session)


class _LastCounts:
    """The instant of an item's last count (its newest SET movement, `inventorySetOnHand`) made in or after the
    second a shipment left the shelf by (`ledger.left_shelf_by`: the carrier's collection, or the order version's
    `update_time`), None if none; read once per item and instant a batch asks,
    only for an item a line deducts from (`ledger.counted_after_shipment`: an earlier count cannot cover that
    shipment, so it is not read), or that a line its shop's delete deducted comes back to (from that delete's
    instant on: `ledger.back_with_its_shop`). Through the movements' `(inventory_item_id, created_at, id)` index,
    from that instant on: the movements made since the shipment's order version, not the item's whole history.
    Read once the batch holds its items (PostgreSQL: their rows locked; SQLite: the one writer), so a count of one of
    them is wholly before this batch or wholly after it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.read: dict[tuple[str, datetime], datetime | None] = {}

    async def since(self, item_id: str | None, shipped_by: datetime) -> datetime | None:
        if item_id is None:
            return None
        key = (item_id, shipped_by)
        if key not in self.read:
            moves = inventory_movements.c
            self.read[key] = await self.session.scalar(  # (`UTCDateTime`: aware UTC)
                select(func.max(moves.created_at)).where(
                    moves.inventory_item_id == item_id,
                    moves.created_at >= shipped_by,
                    moves.kind == MovementKind.SET.value,
                )
            )
        return self.read[key]

    async def of_shipment(self, item_id: str | None, line: LedgerLine, left_by: datetime | None) -> datetime | None:
        """`since` for a shipped line (`line.wanted` DEDUCT) deducting from `item_id`: the count since its units left
        the shelf by (`left_by`, the carrier's collection; None: the order version's `update_time`,
        `line.order_updated_at`), which covers the shipment (`ledger.link_pending`'s `counted_at`, review61 F5).
        None for a line that does not deduct, or for no item."""
        if line.wanted is not StockEffect.DEDUCT:
            return None
        return await self.since(item_id, left_by or line.order_updated_at)


async def _earlier_periods(
    session: AsyncSession, shop_id: str, sku_ids: Collection[str]
) -> dict[str, dict[str, list[tuple[datetime, datetime]]]]:
    """By TikTok SKU id and item id, the earlier link periods (link time, end) of the shop's SKUs `sku_ids` on this
    connection (`sku_link_periods`, migration 0049; `links.ended_period`). One statement (none without SKUs)."""
    if not sku_ids:
        return {}
    dialect = dialect_of(session)
    params = {"shop_id": shop_id, "skus": listed(sorted(set(sku_ids)), dialect)}
    periods: dict[str, dict[str, list[tuple[datetime, datetime]]]] = {}
    for sku, item, linked_at, ended_at in (await session.execute(_statements(dialect).earlier, params)).all():
        periods.setdefault(sku, {}).setdefault(item, []).append((linked_at, ended_at))
    return periods


def _link_time(links: _Links, unlinked_from: _Unlinked, sku_id: str) -> datetime | None:
    """When the SKU's link now took effect (`linked_at`, else its seed's read), or, the SKU unlinked, when the link it
    remembers did (`ledger.reserved_until`); None: neither."""
    if sku_id in links:
        _, counted, linked_at = links[sku_id]
        return linked_at or counted
    return unlinked_from[sku_id][1] if sku_id in unlinked_from else None


def _waits_unseen(move: Transition) -> bool:
    """A line first seen waiting for its SKU's link, on no item (`relink_lines` links it)."""
    return move.state is LineState.PENDING_LINK and move.inventory_item_id is None


_CONNECTED_AGAIN = "shop connected again"  # the movement of a line its shop's delete deducted, counted back


_CONNECTED_AGAIN_UNSEEN = "shop connected again: sold unseen"  # a sale its delete took off as sold unseen, back


_SHIPPED_BEFORE_RELINK = "shipped before its SKU was linked elsewhere"  # `ledger.left_before_relink`'s two moves


class _UnseenHolds:
    """The units the merchant's delete of an earlier connection of the TikTok shop took off as sold unseen
    (`deleted_shop_holds`), by TikTok SKU id, oldest delete first (then item id), each with its item and that item's
    last count since that delete: `take` gives a first move some back (`ledger.back_from_unseen`), on the move's own
    on-hand when the record names the item it counts on (unless counted since, `ledger.unseen_back_on_hand`), else
    on the record's item (`ledger.unseen_back_elsewhere`: a hold is of its SKU, and the sale may count on the item of
    an earlier link, hold58); a first move that deducts nothing because a count covered its shipment takes its own
    item's records too, and gives them back unless that item was counted since the delete
    (`ledger.counted_unseen_units`, `counted_unseen_back_on_hand`, review61 F6); `save` writes what is left (a record
    taken back whole goes). On PostgreSQL the caller
    holds every record's item (`_held_unseen_items`, locked with the batch's others in id order) and passes the items
    it holds as `held`: a record of another is left as it is (none should be: records come only from deletes)."""

    def __init__(
        self, merchant_id: str, tiktok_shop_id: str, rows: Sequence[Any], held: Collection[str] | None = None
    ) -> None:
        self.merchant_id, self.tiktok_shop_id = merchant_id, tiktok_shop_id
        self.records: dict[str, list[list[Any]]] = {}
        for sku, item, deleted_at, quantity, sold_before, counted_at in rows:
            if held is None or item in held:
                self.records.setdefault(sku, []).append([deleted_at, quantity, sold_before, counted_at, item])
        self.changed: list[tuple[str, list[Any]]] = []

    def take(
        self,
        tiktok_sku_id: str,
        move: Transition,
        created_at: datetime,
        write: PoolWrite,
        order_id: str,
        quantity: int,
        shipped_by: datetime | None = None,
        counted_at: datetime | None = None,
    ) -> Transition:
        """`move` (of a line of `quantity` units) with the units it takes back on its own on-hand added (itself when
        none); units of a record of another item go back there, as a movement of `write` (the move's kind, for order
        `order_id`), whatever the move takes on its own item (`ledger.back_from_unseen_elsewhere`). `shipped_by`: the
        shipment's date as the count rule reads it (`ledger.left_shelf_by`; None: the move's update time).
        `counted_at`: the last count of the move's item in or after that second, as the caller read it for `move`
        (None: none, or not read): a move that deducts nothing because that count covered its shipment takes the
        records of its own item all the same (`ledger.counted_unseen_units`), and gives them back as a CORRECTED
        movement of `write` when that item was not counted since their delete (`ledger.counted_unseen_back_on_hand`,
        review61 F6); the move itself is returned as it is."""
        taken = back = 0
        kind = (MovementKind.DEDUCTED if move.state is LineState.DEDUCTED else MovementKind.RESERVED).value
        covered = counted_unseen_units(move, quantity, counted_at, shipped_by)
        for record in self.records.get(tiktok_sku_id, []):
            own = record[4] == move.inventory_item_id
            left = ((unseen_units(move) or covered) if own else quantity) - taken
            if record[1] <= 0 or left <= 0:
                continue
            if own and covered:
                units = min(left, back_from_counted_unseen(created_at, record[2], record[1], covered))
            elif own:
                units = min(left, back_from_unseen(move, created_at, record[2], record[1]))
            else:
                units = min(left, back_from_unseen_elsewhere(move, created_at, record[2], record[1], quantity))
            if not units:
                continue
            record[1] -= units
            taken += units
            self.changed.append((tiktok_sku_id, record))
            if own and covered:
                if given := counted_unseen_back_on_hand(units, record[3]):
                    write.count(
                        record[4], given, 0, MovementKind.CORRECTED.value, COUNTED_BEFORE_DELETE_REASON, order_id
                    )
            elif own:
                back += unseen_back_on_hand(units, move, record[3], shipped_by)
            elif elsewhere := unseen_back_elsewhere(units, record[3]):
                write.count(record[4], elsewhere, 0, kind, _CONNECTED_AGAIN_UNSEEN, order_id)
        return move._replace(on_hand_delta=move.on_hand_delta + back) if back else move

    async def save(self, session: AsyncSession) -> None:
        held = deleted_shop_holds.c
        for sku, (deleted_at, quantity, *_, item) in {id(r): (s, r) for s, r in self.changed}.values():
            this = and_(
                held.merchant_id == self.merchant_id, held.tiktok_shop_id == self.tiktok_shop_id,
                held.tiktok_sku_id == sku, held.inventory_item_id == item, held.deleted_at == deleted_at,
            )  # fmt: skip
            if quantity > 0:
                await session.execute(update(deleted_shop_holds).where(this).values(quantity=quantity))
            else:
                await session.execute(delete(deleted_shop_holds).where(this))


def _held_unseen_query(
    merchant_id: str | Any, tiktok_shop_id: str | Any, sku_ids: Collection[str], dialect: str
) -> Any:
    """The items the records of units sold unseen (`deleted_shop_holds`) of the merchant's TikTok shop
    `tiktok_shop_id` (its id, or an expression of it) and TikTok SKUs `sku_ids` name: a first move of a line of one of
    those SKUs may give units back there (`_UnseenHolds.take`), so a writer holds them with its other items."""
    held = deleted_shop_holds.c
    return select(held.inventory_item_id).where(
        held.merchant_id == merchant_id, held.tiktok_shop_id == tiktok_shop_id,
        among(held.tiktok_sku_id, sorted(set(sku_ids)), dialect),
    )  # fmt: skip


async def _unseen_holds(
    session: AsyncSession,
    merchant_id: str,
    tiktok_shop_id: str,
    sku_ids: Collection[str],
    held_items: Collection[str] | None = None,
) -> _UnseenHolds:
    """`_UnseenHolds` of TikTok SKUs `sku_ids`, read as the caller holds their items (PostgreSQL: locked, the records'
    items with them, `_held_unseen_query`; `held_items`: the items it holds, None: all, SQLite's one writer), so a
    count of one of them is wholly before the read or wholly after the caller's commit (as `_LastCounts` reads it:
    the item's newest SET movement, here since the record's delete)."""
    held, moves = deleted_shop_holds.c, inventory_movements.c
    counted = (
        select(func.max(moves.created_at))
        .where(
            moves.inventory_item_id == held.inventory_item_id, moves.created_at >= held.deleted_at,
            moves.kind == MovementKind.SET.value,
        )
        .scalar_subquery()
    )  # fmt: skip
    query = (
        select(held.tiktok_sku_id, held.inventory_item_id, held.deleted_at, held.quantity, held.sold_before, counted)
        .where(
            held.merchant_id == merchant_id, held.tiktok_shop_id == tiktok_shop_id,
            among(held.tiktok_sku_id, sorted(set(sku_ids)), dialect_of(session)),
        )
        .order_by(held.deleted_at, held.inventory_item_id)
    )  # fmt: skip
    rows = (await session.execute(query)).all() if sku_ids else []
    return _UnseenHolds(merchant_id, tiktok_shop_id, rows, held_items)


async def _unseen_holds_of_shop(
    session: AsyncSession, shop_id: str, merchant_id: str, sku_ids: Collection[str]
) -> _UnseenHolds:
    """`_unseen_holds` for the shop's TikTok shop, read through the shop's row."""
    tiktok_shop_id = (await session.execute(select(shops.c.tiktok_shop_id).where(shops.c.id == shop_id))).scalar_one()
    return await _unseen_holds(session, merchant_id, tiktok_shop_id, sku_ids)


# (the item a shop's delete deducted a line from, the stock read that seeded that item from the shop's SKU if any:
# `deleted_shop_lines.seed_read_at`, the line's ledger state at the delete: RESERVED, deducted by it; any other,
# applied already, `deleted_shop_lines.state`; when that delete was: a count since, `back_with_its_shop`)
_Deducted = tuple[str, datetime | None, str, datetime]


async def _deducted_at_delete(
    session: AsyncSession,
    merchant_id: str,
    tiktok_shop_id: str | Any,
    order_ids: Sequence[str],
    state: LineState | None = None,
) -> dict[LedgerKey, _Deducted]:
    """The item each line of `order_ids` was deducted from by the merchant's delete of an earlier connection of
    TikTok shop `tiktok_shop_id` (its id, or `_tiktok_shop_of`'s expression), with the seed's read kept for it and its
    state then, by ledger key (a line not RESERVED then was applied by that ledger already: recorded, not deducted);
    only the records in `state` when given."""
    deleted = deleted_shop_lines.c
    query = select(
        deleted.tiktok_order_id, deleted.tiktok_line_item_id, deleted.component_sku_id, deleted.inventory_item_id,
        deleted.seed_read_at, deleted.state, deleted.deleted_at,
    ).where(
        deleted.merchant_id == merchant_id,
        deleted.tiktok_shop_id == tiktok_shop_id,
        among(deleted.tiktok_order_id, sorted(set(order_ids)), dialect_of(session)),
    )  # fmt: skip
    if state is not None:
        query = query.where(deleted.state == state.value)
    return {(o, line, c): (item, read, state, at) for o, line, c, item, read, state, at in await session.execute(query)}


def _tiktok_shop_of(shop_id: str) -> Any:
    """The TikTok shop id of shop `shop_id`, as an expression: a read by it stays one statement."""
    return select(shops.c.tiktok_shop_id).where(shops.c.id == shop_id).scalar_subquery()


# TikTok SKU id -> item id -> (when a link took effect, when its shop was deleted, when unlinked, when it ends)
_LinkedBefore = dict[str, dict[str, list[KeptLink]]]
_NONE_KEPT: Mapping[str, list[KeptLink]] = MappingProxyType({})  # a SKU's, when none is kept (read only, shared)


def _link_to_delete(kept: Collection[KeptLink]) -> list[tuple[datetime, datetime, datetime | None]]:
    """`kept`'s periods as (link time, delete time, end), the unlink's time left out: the periods of the item a SKU
    links to, or waits on, run to the delete, or through the gap for a link that named its item then
    (`ledger.order_timing`, `shipped_under_a_deleted_link`; poolfix54 finding 1; `ledger.through_the_gap`)."""
    return [(period.since, period.deleted_at, period.ends_at) for period in kept]


async def _linked_before(
    session: AsyncSession,
    merchant_id: str,
    tiktok_shop_id: str | Any,
    sku_ids: Collection[str],
    next_link: Mapping[str, datetime | None] | None = None,
) -> _LinkedBefore:
    """By TikTok SKU id and item id, (when the link took effect, when its shop was deleted, when the merchant had
    unlinked it, when it ends: `ledger.KeptLink`, migrations 0045, 0046) of the links of `sku_ids`
    the merchant's deletes of earlier connections of TikTok shop `tiktok_shop_id` took (`deleted_shop_links`), for
    `ledger.order_timing`'s `linked_before` and `ledger.shipped_under_a_deleted_link`. `next_link`: by TikTok SKU id,
    when its link on the shop reading them took effect (none: it has had none yet), where a link that named its item
    at the delete ends (`ledger.through_the_gap`)."""
    kept = deleted_shop_links.c
    query = select(
        kept.tiktok_sku_id, kept.inventory_item_id, kept.linked_at, kept.deleted_at, kept.unlinked_at, kept.source
    ).where(
        kept.merchant_id == merchant_id,
        kept.tiktok_shop_id == tiktok_shop_id,
        among(kept.tiktok_sku_id, sorted(set(sku_ids)), dialect_of(session)),
    )
    rows: dict[str, list[tuple[str, datetime, datetime, datetime | None, bool, bool]]] = {}
    for sku, item, linked_at, deleted_at, unlinked_at, source in (
        (await session.execute(query)).all() if sku_ids else []
    ):
        earlier = source == EARLIER_PERIOD  # (a copy of an earlier period: `_record_links`)
        rows.setdefault(sku, []).append(
            (item, linked_at, deleted_at, unlinked_at, source is not None and not earlier, earlier)
        )
    others: list[tuple[datetime, datetime]] = []
    if any(named and unlinked_at is None for of_sku in rows.values() for _, _, _, unlinked_at, named, _ in of_sku):
        # a gap period leaves out the spans another merchant had the TikTok shop connected (`through_the_gap`)
        others = await _other_connections(session, merchant_id, tiktok_shop_id)
    return {sku: through_the_gap(of_sku, (next_link or {}).get(sku), others) for sku, of_sku in rows.items()}


async def _other_connections(
    session: AsyncSession, merchant_id: str, tiktok_shop_id: str | Any
) -> list[tuple[datetime, datetime]]:
    """When other merchants had TikTok shop `tiktok_shop_id` connected, (from, to) each, as their deletes kept it
    (`deleted_shop_connections.connected_at` to `deleted_at`, migration 0051; a delete before it: from the earliest
    link time it kept, `deleted_shop_links.linked_at`, no later than that connection's first link, while its item
    stands, to that delete). Times only: nothing else of another merchant's is read. One statement."""
    kept, connections = deleted_shop_links.c, deleted_shop_connections.c
    query = union(
        select(connections.connected_at, connections.deleted_at).where(
            connections.tiktok_shop_id == tiktok_shop_id, connections.merchant_id != merchant_id
        ),
        select(func.min(kept.linked_at), kept.deleted_at)
        .where(kept.tiktok_shop_id == tiktok_shop_id, kept.merchant_id != merchant_id)
        .group_by(kept.merchant_id, kept.deleted_at),
    )
    return [
        (began, ended)
        for began, ended in (await session.execute(query)).all()
        if began is not None and ended is not None
    ]


async def _record_connection(session: AsyncSession, shop_id: str, now: datetime) -> None:
    """Keep when the shop's connection of its TikTok shop began (its row's `created_at`) and ended (`now`), by merchant
    (`deleted_shop_connections`, migration 0051): another merchant's deleted links' gap periods of that TikTok shop
    leave that span out (`_other_connections`, `ledger.through_the_gap`). One statement."""
    await session.execute(
        insert(deleted_shop_connections).from_select(
            ["merchant_id", "tiktok_shop_id", "connected_at", "deleted_at"],
            select(shops.c.merchant_id, shops.c.tiktok_shop_id, shops.c.created_at, literal(now, UTCDateTime)).where(
                shops.c.id == shop_id
            ),
        )
    )


async def _linked_before_of_shop(
    session: AsyncSession, shop_id: str, merchant_id: str, sku_ids: Collection[str]
) -> _LinkedBefore:
    """`_linked_before` for the shop's TikTok shop, read through the shop's row (one statement)."""
    return await _linked_before(session, merchant_id, _tiktok_shop_of(shop_id), sku_ids)


async def _deducted_of_shop(
    session: AsyncSession,
    shop_id: str,
    merchant_id: str,
    order_ids: Sequence[str],
    state: LineState = LineState.RESERVED,
) -> dict[LedgerKey, _Deducted]:
    """`_deducted_at_delete` for the shop's TikTok shop, read through the shop's row: the records in `state` (RESERVED:
    deducted by the delete; PENDING_LINK: held waiting by that ledger)."""
    return await _deducted_at_delete(session, merchant_id, _tiktok_shop_of(shop_id), order_ids, state)


async def _forget_deducted(
    session: AsyncSession, merchant_id: str, tiktok_shop_id: str | Any, keys: Collection[LedgerKey]
) -> None:
    """Drop the delete's records of `keys`, lines now in the ledger of the TikTok shop's new connection. One
    statement whatever the number of keys (a batch's lines that came back: thousands), the keys bound as arrays
    (`among_rows`): as a row-value IN list, ~8,000 of them overflowed PostgreSQL's parser stack (review69 P1)."""
    deleted = deleted_shop_lines.c
    await session.execute(
        delete(deleted_shop_lines).where(
            deleted.merchant_id == merchant_id,
            deleted.tiktok_shop_id == tiktok_shop_id,
            among_rows(_key_columns(deleted), sorted(keys), dialect_of(session)),
        )
    )


def _key_columns(columns: Any) -> list[ColumnElement[Any]]:
    """A ledger key's columns (`LedgerKey`: order, line item, component) of a table's columns."""
    return [columns.tiktok_order_id, columns.tiktok_line_item_id, columns.component_sku_id]


async def forget_deleted_lines(session: AsyncSession, deleted_before: datetime, limit: int) -> int:
    """Delete at most `limit` records a shop's delete before `deleted_before` (UTC) kept for its TikTok shop
    connected again, oldest first: the lines it deducted or had applied (`deleted_shop_lines`), then the units it took
    off as sold unseen (`deleted_shop_holds`), then its links' times (`deleted_shop_links`, the same key as the
    holds'), then its connection's (`deleted_shop_connections`: no gap period it ends outlives it); the rule:
    `domain.inventory.ledger.deleted_line_forgotten`. Returns how many.
    Through each table's `deleted_at` index (migrations 0033, 0034, 0042), a batch no other sweep holds
    (`adapters.db.retention`); a record an import consumes meanwhile is simply gone (its delete and this one touch
    the same rows, in either order)."""
    lines = await delete_oldest(
        session, deleted_shop_lines, _DELETED_KEY, lambda rows: rows.c.deleted_at < deleted_before,
        lambda rows: rows.c.deleted_at, limit,
    )  # fmt: skip
    if lines >= limit:
        return lines
    lines += await delete_oldest(
        session, deleted_shop_holds, _HELD_KEY, lambda rows: rows.c.deleted_at < deleted_before,
        lambda rows: rows.c.deleted_at, limit - lines,
    )  # fmt: skip
    if lines >= limit:
        return lines
    lines += await delete_oldest(
        session, deleted_shop_links, _HELD_KEY, lambda rows: rows.c.deleted_at < deleted_before,
        lambda rows: rows.c.deleted_at, limit - lines,
    )  # fmt: skip
    if lines >= limit:
        return lines
    return lines + await delete_oldest(
        session, deleted_shop_connections, _CONNECTION_KEY, lambda rows: rows.c.deleted_at < deleted_before,
        lambda rows: rows.c.deleted_at, limit - lines,
    )  # fmt: skip


_DELETED_KEY = ("merchant_id", "tiktok_shop_id", "tiktok_order_id", "tiktok_line_item_id", "component_sku_id")
_HELD_KEY = ("merchant_id", "tiktok_shop_id", "tiktok_sku_id", "inventory_item_id", "deleted_at")
_CONNECTION_KEY = ("merchant_id", "tiktok_shop_id", "deleted_at")


async def _record_deducted(session: AsyncSession, shop_id: str, now: datetime) -> None:
    """Keep the shop's RESERVED lines (those `leaves_with_its_shop` deducts) by merchant and TikTok shop, for an
    import of that TikTok shop connected again (`deleted_shop_lines`, `ledger.back_with_its_shop`); a record of the
    same line left by an earlier delete is replaced. Each keeps the stock read that seeded its item from the line's
    SKU (`seed_read_at`: the `stock_counted_at` of the shop's link of that SKU whose `seeded_item_id` is the line's
    item, as `_in_seed_of` reads it on the same connection), so that a line reserved in that seed and cancelled
    before the read comes back with no on-hand change (`back_with_its_shop`).

    The shop's other lines of orders made within `DELETED_LINE_KEPT` of now (those a reconnect's import can still
    read) are kept too, with their state (`deleted_shop_lines.state`) and the item their line or their SKU's link
    names: that ledger applied them already, so a link's time the delete keeps (`_record_links`) must not make them
    move again (`ledger.sold_while_linked_before`: a sale it deducted, deducted twice). An older order is outside
    every kept link period (`sold_while_linked_before` starts one no earlier than `DELETED_LINE_KEPT` before its
    delete), so it needs no record: a later status of it (a poll or webhook, by update time) is history. Three
    statements, whatever the shop's size."""
    lines, deleted, links = order_line_stock.c, deleted_shop_lines.c, sku_links.c
    seed_read = (
        select(func.max(links.stock_counted_at))
        .where(
            links.shop_id == lines.shop_id, links.tiktok_sku_id == lines.tiktok_sku_id,
            links.seeded_item_id == lines.inventory_item_id,
        )
        .scalar_subquery()
    )  # fmt: skip
    leaving = (
        select(
            lines.merchant_id, shops.c.tiktok_shop_id, lines.tiktok_order_id, lines.tiktok_line_item_id,
            lines.component_sku_id, lines.inventory_item_id, lines.quantity, literal(now, UTCDateTime), seed_read,
        )
        .join(shops, shops.c.id == lines.shop_id)
        .where(
            lines.shop_id == shop_id, lines.state == LineState.RESERVED.value, lines.inventory_item_id.is_not(None)
        )
    )  # fmt: skip
    same_shop = select(shops.c.merchant_id, shops.c.tiktok_shop_id).where(shops.c.id == shop_id)
    await session.execute(
        delete(deleted_shop_lines).where(
            tuple_(deleted.merchant_id, deleted.tiktok_shop_id).in_(same_shop),
            tuple_(deleted.tiktok_order_id, deleted.tiktok_line_item_id, deleted.component_sku_id).in_(
                select(lines.tiktok_order_id, lines.tiktok_line_item_id, lines.component_sku_id).where(
                    lines.shop_id == shop_id
                )
            ),
        )
    )
    columns = [
        deleted.merchant_id, deleted.tiktok_shop_id, deleted.tiktok_order_id, deleted.tiktok_line_item_id,
        deleted.component_sku_id, deleted.inventory_item_id, deleted.quantity, deleted.deleted_at,
        deleted.seed_read_at,
    ]  # fmt: skip
    await session.execute(insert(deleted_shop_lines).from_select(columns, leaving))
    columns = [*columns[:-1], deleted.state]
    await session.execute(insert(deleted_shop_lines).from_select(columns, kept_applied_lines(shop_id, now)))


def kept_applied_lines(shop_id: str, now: datetime) -> Select[Any]:
    """`_record_deducted`'s lines applied already: (merchant_id, tiktok_shop_id, tiktok_order_id, tiktok_line_item_id,
    component_sku_id, item, quantity, `now`, state) of the shop's lines not RESERVED, of orders made within
    `DELETED_LINE_KEPT` of `now`, whose line or SKU's link names an item."""
    lines, links = order_line_stock.c, sku_links.c
    # (a SKU left without its item names the one it remembers, as its kept period does, `_record_links`: a line that
    # ledger made history on no item must not pass for a sale it never saw). One row per SKU of the shop, joined:
    # as a subquery per line (evaluated twice, in the list and the filter) it took 5.9-8.0 s of a 20k-order shop's
    # delete on PostgreSQL (tryout59 F-delete-pg; bench/README.md, "A large shop's delete").
    linked = (
        select(
            links.tiktok_sku_id,
            func.max(func.coalesce(links.inventory_item_id, links.unlinked_item_id)).label("item_id"),
        )
        .where(links.shop_id == shop_id)
        .group_by(links.tiktok_sku_id)
        .subquery()
    )
    item = func.coalesce(lines.inventory_item_id, linked.c.item_id)
    stored = orders_table.c
    return (
        select(
            lines.merchant_id, shops.c.tiktok_shop_id, lines.tiktok_order_id, lines.tiktok_line_item_id,
            lines.component_sku_id, item, lines.quantity, literal(now, UTCDateTime), lines.state,
        )
        .join(shops, shops.c.id == lines.shop_id)
        .join(orders_table, and_(stored.shop_id == lines.shop_id, stored.tiktok_order_id == lines.tiktok_order_id))
        .outerjoin(linked, linked.c.tiktok_sku_id == lines.tiktok_sku_id)
        .where(
            lines.shop_id == shop_id, lines.state != LineState.RESERVED.value,
            stored.created_at >= now - DELETED_LINE_KEPT, item.is_not(None),
        )
    )  # fmt: skip


async def _record_links(session: AsyncSession, shop_id: str, merchant_id: str, now: datetime) -> None:
    """Keep when each of the shop's links that count orders on an item (LINKED, DROPPED with one:
    `domain.inventory.links.counts_orders`) took effect (`linked_at`, else its seed's read `stock_counted_at`, as
    `ledger.order_timing` reads it) by merchant, TikTok shop, SKU and item (`deleted_shop_links`), for that TikTok
    shop connected again: a sale made under that link and first seen shipped there deducts, as on the same connection
    (`ledger.sold_while_linked_before`).

    So does each link left without its item that remembers it (`sku_links.unlinked_item_id`: the merchant's
    `skuUnlink`, or an import's AMBIGUOUS, NO_SELLER_SKU, EXCLUDED; `links.remembered_on_unlink`), on that item, from
    when that link took effect to the delete: on the same connection a sale of that SKU made since, first seen shipped,
    deducts from that item once its SKU links to it again (`ledger.first_seen_unlinked`: at once when made before the
    unlink or left by an import, else waiting for the relink, `link_pending`), and the reconnect's import links it
    again by seller SKU. Without its period such a sale the old ledger never saw was history after the reconnect, its
    units on sale on every shop though they had left the shelf (poolfuzz54 finding 1: 10/0/10 where the shelf held 8).

    Each row of a link the merchant unlinked (`skuUnlink`: not left by an import, `links.left_by_import`) keeps the
    unlink's time (`deleted_shop_links.unlinked_at`, migration 0046, from `sku_links.unlinked_at`; null when unknown,
    a link unlinked before 0036): a sale made after it counts on that item no more once the reconnect links the SKU to
    another (`ledger.counted_under_a_deleted_link`; unlink56, not fixed 1).

    Each row of a link that named its item keeps the link's source too (`deleted_shop_links.source`, migration 0045;
    null for a link that only remembers its item): the reconnect's products import links a SKU the merchant had linked
    by hand to that item by hand again (`links.relinked_by_hand`), where it linked it by seller SKU before (poolfix54
    finding 3).

    And each earlier link period of the shop's SKUs (`sku_link_periods`, migration 0049), as a row of its own ending
    at its end (`deleted_at`; no unlink time; source `ledger.EARLIER_PERIOD`, kept58): a sale made under it and first
    seen shipped after the reconnect counts on its item (`ledger.counted_under_a_deleted_link`, kept57); one first seen
    open reserves on the SKU's link then, as on the never-deleted connection. Such a row starts no earlier than
    `DELETED_LINE_KEPT` (97 days) before this delete, to the whole second after (TikTok's `create_time` is whole
    seconds), and one that ended before then is not kept: `ledger.sold_while_linked_before` counts a row's 97 days
    back from its `deleted_at`, here the period's end, while this delete keeps its ledger's applied lines
    (`_record_deducted`) only of orders made since its own instant less those 97 days. Bounded from the period's end,
    an order made between the two bounds that the old ledger had deducted has no record and fell under the period: a
    later status of it read by the new connection (a poll or webhook, by update time) deducted it a second time
    (review58 R1: 6/0/6 where the shelf held 8). Two statements."""
    links, kept = sku_links.c, deleted_shop_links.c
    since = func.coalesce(links.linked_at, links.stock_counted_at)
    item = func.coalesce(links.inventory_item_id, links.unlinked_item_id)
    counts = and_(links.state.in_((LinkState.LINKED.value, DROPPED)), links.inventory_item_id.is_not(None))
    remembers = and_(links.inventory_item_id.is_(None), links.unlinked_item_id.is_not(None))
    # (the merchant's unlink, not an import's leaving: `links.left_by_import`)
    by_merchant = and_(
        remembers, links.state.not_in(sorted(LEFT_BY_IMPORT)),
        or_(links.state != DROPPED, links.source != LinkSource.AUTO.value),
    )  # fmt: skip
    taken = (
        select(
            literal(merchant_id), shops.c.tiktok_shop_id, links.tiktok_sku_id, item, literal(now, UTCDateTime),
            func.min(since), func.max(case((counts, links.source))), func.max(case((by_merchant, links.unlinked_at))),
        )
        .join(shops, shops.c.id == links.shop_id)
        .where(links.shop_id == shop_id, or_(counts, remembers), since.is_not(None))
        .group_by(shops.c.tiktok_shop_id, links.tiktok_sku_id, item)
    )  # fmt: skip
    columns = [kept.merchant_id, kept.tiktok_shop_id, kept.tiktok_sku_id, kept.inventory_item_id, kept.deleted_at]
    kept_too = [kept.linked_at, kept.source, kept.unlinked_at]
    await session.execute(insert(deleted_shop_links).from_select([*columns, *kept_too], taken))
    # and the earlier link periods of the shop's SKUs (`sku_link_periods`, migration 0049), each as a row of its own
    # ended at its end (its `deleted_at`; source `EARLIER_PERIOD`, no unlink: it ends there), so that a sale made under
    # one and first seen shipped after the reconnect counts on its item as on the never-deleted connection
    # (`counted_under_a_deleted_link`)
    periods = sku_link_periods.c
    # (before the delete's own instant, even when it ended in it: the latest delete's rows are its links as they stood,
    # `links.relinked_by_hand`; a whole-second order is on the same side of either instant)
    ended = case(
        (periods.ended_at < literal(now, UTCDateTime), periods.ended_at),
        else_=literal(now - timedelta(microseconds=1), UTCDateTime),
    )
    # (from no earlier than the first whole second of the orders `_record_deducted` keeps: review58 R1, above)
    oldest = now - DELETED_LINE_KEPT
    kept_from = literal(oldest + timedelta(microseconds=-oldest.microsecond % 1_000_000), UTCDateTime)
    started = case((periods.linked_at < kept_from, kept_from), else_=periods.linked_at)
    earlier = (
        select(
            literal(merchant_id), shops.c.tiktok_shop_id, periods.tiktok_sku_id, periods.inventory_item_id, ended,
            started, literal(EARLIER_PERIOD),
        )
        .join(shops, shops.c.id == periods.shop_id)
        .where(periods.shop_id == shop_id, periods.ended_at > kept_from)
    )  # fmt: skip
    await session.execute(insert(deleted_shop_links).from_select([*columns, kept.linked_at, kept.source], earlier))


class _MovedNow(NamedTuple):
    """What an order batch does to a link's moved hold (`_counted_before_push`): the hold as read (its item, the
    read's time), the units the SKU's running count gains that are none of its sales (its count moved up by as
    many), and its part's item's units of them (off the part). Units."""

    item_id: str
    sold_before: datetime
    not_its_own: int
    part: int


async def _counted_before_push(
    session: AsyncSession, shop_id: str, seeded: Mapping[str, int], released: Mapping[str, int] | None = None,
    applied: Mapping[tuple[str, str, datetime], int] | None = None, counted: Mapping[str, int] | None = None,
    cancelled: Sequence[_Cancelled] = (),
) -> None:  # fmt: skip
    """Lines first reserved in the seed (`Transition.in_seed`) count, for the push's fence, as ledger units its link's
    last push had already seen (`sku_links.ingested_at_push`): TikTok's available lost them before the stock that
    seeded the item was read. Counted as applied since that push, they would make up for as many sales TikTok made
    unseen, and the push put those back on sale. A link never pushed whose stock seeded the item has its count of
    the link's instant there already (`links._keep_seed_baselines`), which its first push measures from: the same
    holds. So do lines of orders created before the product page's stock read that made a link join its item
    (`sku_links.baseline_read_at`, `links._keep_join_baselines`) first reserved (or deducted) after the link, before
    its first push or after it: that read had left them out, and the first push measured TikTok's fall from it.
    (`seeded`: TikTok SKU id -> units. A link never pushed otherwise, or pushed before the count was kept: nothing.)

    `released`: TikTok SKU id -> units of lines released as cancelled before the seed's read (`released_before_read`;
    their `seeded` units are the reservation they leave, negative), added to the link's released count of its last
    push (`sku_links.released_at_push`) as the ledger adds them to the shop's (`sku_ledger_units.released`): no
    release since that push either. Counted as one (`LinkedSku.released_since_push`), they made up for the units the
    push had restored unseen (`fence_counts`' offset: a cancellation TikTok made that the ledger had not released)
    and hid as many sales TikTok made unseen since, which the next push put back on sale
    (`tests/integration/test_inventory_push_fence_released_early.py`). A link without the count kept: nothing.

    `applied`: (TikTok SKU id, item id, the order's TikTok `create_time`) -> units of the batch's lines first
    counted on that item (`PoolWrite.ingested_by_item`): a link of the SKU whose hold is split (`held_item_quantity`,
    migration 0059) with its part of that item has the units of orders made no later than its push (`pushed_at`)
    taken off the part (`domain.inventory.links.held_part_applied`, in SQL with the row as the UPDATE finds it), so
    the units still held are told by item, not by the newer part first (review62 R2: CAP's sale ingested before
    HAT's left HAT's 2 units held as CAP's, and HAT's other shops sold them again). `pushed_at` is the time the push
    that made or carried the split read the pool, right before it read TikTok (`PushIntent.at`): the hold stands
    for sales TikTok's available had lost by then; a sale made since is none of its units (it restarts the hold at
    the next push, which measures it). Not `held_since` (a hold carried keeps an older start, while the push that
    carried it saw no sale since) nor the record's landing. (review63 F2: a new CAP sale read at once took CAP's
    part of 3 to 2, and CAP's next push gave the unit to HAT's rest: Desert showed CAP 14 where its shelf had 16.)
    A `create_time` has whole seconds: an order of the push's own second counts as made before it. A link whose push
    record a hand move forgot (`pushed_at` None: a hold the move kept, or `links._hold_again` gave back) cuts at its
    baseline's read (`baseline_read_at`): its held units were sold before that read; with neither time nothing comes
    off (review64 F5: the hold given back to CAP's link took a CAP sale made after the link back off its part, and
    the push recorded a "split" whose rest was CAP). A line first seen cancelled (`cancelled`, `_Cancelled`) of an
    order made under the hold's item (by the earlier link period, `sold_under_an_earlier_link`) no later than that
    cut and updated in its second or after comes off the part too (review64 F2: CAP's cancelled order applied
    nothing, its part stayed 3, and HAT's next push, holding HAT's 2, named them CAP's: Desert CAP 18 / HAT 52 where
    the shelves held 20 / 50). So does a hold of
    one recorded item (`held_item_id`, not split: its part starts at `held_quantity`): a push that read the pool
    before this batch and records a split after it carries at most that part (`inventory_push_links._items_of_push`,
    `coalesce(held_item_quantity, held_quantity)` as the UPDATE finds the row; split63: CAP's 3 applied between HAT's
    push's read and its record were read as part of the record's CAP part, the 2 units left as CAP's, and a delete
    took HAT's 2 off CAP). Each UPDATE names the item it read (a push that rewrote the hold meanwhile, of another
    item, keeps its part).

    A link's moved hold (`moved_hold_quantity`, migration 0054) stands for sales made before the move's stock read
    (`moved_hold_sold_before`) and not ingested then; its readers take off it what the shop's running count of the
    SKU gained since `moved_hold_ingested_at_push`. Only this batch's sales of orders made no later than that read
    are its units: `counted` (TikTok SKU id -> what the batch adds to the running `ingested` units,
    `PoolWrite.ingested_deltas`) less those (`applied`, any item: such an order first read open after the move
    reserves on the item linked now, its units still the moved hold's) moves `moved_hold_ingested_at_push` up, so a
    later sale of the SKU (under its new item, or after a link back) takes nothing off it (review64 F6: a SOCK sale
    took one of CAP's 3 moved units, a delete of the shop left CAP 18 where its shelf had 17; F4: A->B->C->A, every
    CAP sale after the link back took one of HAT's 2, Desert HAT 50 where its shelf had 49), and a release of a
    reservation (negative `counted`) gives the moved hold nothing back. A line first seen cancelled gives a moved hold
    nothing back either: nothing tells whether the hold counted its order (one made while a push's write was on its
    way was put back on sale by that write and is in no hold; taking it off released genuinely unseen sales: review65
    R1, Desert HAT 51 where its shelf had 49), so the hold stands to its horizon (review64 F9, read or not, stays
    open: undersold to the horizon, and a delete of the shop within it takes the units off the shelf). A moved hold
    split between two items (`moved_hold_item_quantity`, 0063) has its part take off the part's item's units of its
    sales. A moved hold without the read's time
    (none is written so) keeps the SKU-wide count. A `create_time` has whole seconds and the read's time is ours:
    an order of the read's own second counts as made before it.

    One read of the batch's SKUs' links holding for a recorded item or with a moved hold (through the (shop,
    TikTok SKU) index), one UPDATE per part or moved hold found. Units throughout."""
    links = sku_links.c
    split: dict[str, tuple[str, int]] = {}  # Shopbridge SKU id -> (its hold's item, units of it applied now)
    moved: dict[str, _MovedNow] = {}  # ... -> what this batch does to its moved hold
    batch_skus = sorted({sku for sku, _, _ in applied or {}} | set(counted or {}) | {c[0] for c in cancelled})
    dialect = dialect_of(session)
    if batch_skus:
        query = _statements(dialect).holding  # (built once: parameters `shop_id`, `skus`)
        params = {"shop_id": shop_id, "skus": listed(batch_skus, dialect)}

        def applied_units(tiktok_sku_id: str, item_id: str | None, made_by: datetime) -> int:
            return sum(
                n for (sku, item, made), n in (applied or {}).items()
                if sku == tiktok_sku_id and item_id in (None, item) and made <= made_by
            )  # fmt: skip

        for row in await session.execute(query, params):
            # (a hold on a link whose push record a move forgot, kept or held again, `links._hold_again`: its units
            # were sold before the move's read, the link's baseline, review64 F5; neither time: nothing comes off)
            made_by = row.pushed_at or row.baseline_read_at
            if made_by is not None and row.held_item_id:
                units = applied_units(row.tiktok_sku_id, row.held_item_id, made_by)
                # (cancelled in the push's second or later: a tie counts as after, as the part still held the units)
                units += sum(
                    n for sku, made, updated, n, made_under in cancelled
                    if sku == row.tiktok_sku_id and made_under == row.held_item_id
                    and made <= made_by < updated + timedelta(seconds=1)
                )  # fmt: skip
                if units:
                    split[row.sku_id] = (row.held_item_id, units)
            sold_before = row.moved_hold_sold_before
            if row.moved_hold_item_id is None or sold_before is None:
                continue
            of_part = 0
            if row.moved_hold_item_quantity is not None:
                of_part = applied_units(row.tiktok_sku_id, row.moved_hold_item_id, sold_before)
            now = _MovedNow(
                row.moved_hold_item_id, sold_before,
                (counted or {}).get(row.tiktok_sku_id, 0) - applied_units(row.tiktok_sku_id, None, sold_before),
                of_part,
            )  # fmt: skip
            if now.not_its_own or now.part:
                moved[row.sku_id] = now
    # The rows held first, at once, in the order every writer of links takes them (`lock_links`): these statements name
    # them by TikTok SKU id, one pass per count
    await lock_links(session, shop_id, {*split, *moved}, tiktok_sku_ids={*seeded, *(released or {})})
    part = func.coalesce(links.held_item_quantity, links.held_quantity)
    for sku_id, (item_id, units) in sorted(split.items()):  # (`held_part_applied`, the hold's item read)
        await session.execute(
            update(sku_links)
            .where(links.sku_id == sku_id, links.held_item_id == item_id, links.held_quantity > 0)
            .values(held_item_quantity=case((part > units, part - units), else_=0))
        )
    moved_part, moved_units = links.moved_hold_item_quantity, links.moved_hold_quantity
    for sku_id, now in sorted(moved.items()):  # (the moved hold as read: its item and read's time)
        await session.execute(
            update(sku_links)
            .where(
                links.sku_id == sku_id, links.moved_hold_item_id == now.item_id,
                links.moved_hold_sold_before == now.sold_before, moved_units > 0,
            )
            .values(
                moved_hold_ingested_at_push=links.moved_hold_ingested_at_push + now.not_its_own,
                moved_hold_item_quantity=case(
                    (moved_part > now.part, moved_part - now.part), (moved_part.is_not(None), 0), else_=None
                ),
            )
        )  # fmt: skip
    postgres = dialect == "postgresql"
    for count, units_of in (("ingested_at_push", seeded), ("released_at_push", released or {})):
        if not units_of:
            continue
        skus = sorted(units_of)
        if postgres:  # one statement, the SKUs and units as arrays: an executemany runs the UPDATE once per SKU
            await session.execute(
                _ADD_AT_PUSH_PG[count],
                {"shop_id": shop_id, "skus": skus, "units": decimal_texts(units_of[s] for s in skus)},
            )
            continue
        # SQLite: one executemany per count, whatever the batch (in-process: no round trip per row)
        rows = [{"b_shop": shop_id, "b_sku": sku, "b_units": units_of[sku]} for sku in skus]
        await session.execute(_ADD_AT_PUSH[count], rows)


# PostgreSQL: `_counted_before_push`'s UPDATE of one count column for a batch's SKUs in one statement (each SKU once:
# the units come summed per SKU). An orders import ran the executemany's UPDATE once per SKU, ~170 a batch of 500
# orders: 0.21 s of the database server's CPU in an import of 14,935 orders, against ~0.03 s as one statement
# (bench/README.md, "Benchmarks 1 and 2: what is left", 2026-12-05). Arrays bound as text[] (writer.py's
# `_ADD_TO_COUNTERS_PG` says why).
_ADD_AT_PUSH_PG = {
    name: text(
        f"UPDATE sku_links AS l SET {name} = l.{name} + d.units "  # noqa: S608 - two fixed column names
        "FROM unnest(CAST(:skus AS TEXT[]), CAST(CAST(:units AS TEXT[]) AS INTEGER[])) AS d(sku, units) "
        f"WHERE l.shop_id = :shop_id AND l.tiktok_sku_id = d.sku AND l.{name} IS NOT NULL"
    )
    for name in ("ingested_at_push", "released_at_push")
}
# SQLite: the same UPDATE per SKU (an executemany: `b_shop`, `b_sku`, `b_units`), built once.
_ADD_AT_PUSH = {
    count.name: update(sku_links)
    .where(
        sku_links.c.shop_id == bindparam("b_shop"), sku_links.c.tiktok_sku_id == bindparam("b_sku"), count.is_not(None)
    )
    .values({count: count + bindparam("b_units")})
    for count in (sku_links.c.ingested_at_push, sku_links.c.released_at_push)
}


def _in_seed_of(current: LedgerLine | None, seed: tuple[str, datetime] | None, created_at: datetime) -> datetime | None:
    """When the stock that seeded a stored RESERVED line's item was read, if the line is reserved in that seed: on the
    item its SKU's link seeded (`seed`: that item, when its stock was read; `sku_links.seeded_item_id`,
    `stock_counted_at`), of an order made before the read (`counted_in_stock`), so the seed (`links.seed_on_hand`)
    or its first reservation (`transition`'s `in_seed`, `count_in_seed`) added its units to on-hand. Else None."""
    if current is None or current.state is not LineState.RESERVED or seed is None:
        return None
    item_id, read_at = seed
    return read_at if current.inventory_item_id == item_id and counted_in_stock(created_at, read_at) else None


def _unlinked_bundle_row(stored: Mapping[LedgerKey, LedgerLine], key: LedgerKey) -> set[LedgerKey]:
    """{key} when a bundle line's own-SKU row is stored and moved nothing (PENDING_LINK or HISTORICAL), else {}."""
    line = stored.get(key)
    return {key} if line is not None and line.state in (LineState.PENDING_LINK, LineState.HISTORICAL) else set()


# By TikTok SKU id: (item, seeded at, linked at) of a LINKED SKU; (item, linked at) of one that left its link to an
# item; (the item its link seeded, when that stock was read) of a SKU whose link seeded one
_Links = dict[str, tuple[str, datetime | None, datetime | None]]
# (item, linked at, left by an import, when the SKU left that item: `sku_links.unlinked_at`, migration 0036)
_Unlinked = dict[str, tuple[str, datetime | None, bool, datetime | None]]
_Seeds = dict[str, tuple[str, datetime]]


async def _linked_items(
    session: AsyncSession, shop_id: str, sku_ids: Sequence[str]
) -> tuple[str, _Links, _Unlinked, dict[str, datetime], _Seeds, str | None] | None:
    """The shop's merchant; by TikTok SKU id, (item id, when this shop's stock seeded the item if it did (`on_seed`:
    the link's seeding read counts on the item it seeded alone), when the link took effect if known) of the shop's
    SKUs among `sku_ids` whose lines count on an item (`domain.inventory.links.counts_orders`: LINKED, or DROPPED
    from their product with an item); by TikTok SKU id, (item, when that link took effect if known) of the others
    that remember the item they left (`sku_links.unlinked_item_id`: the merchant's unlink, or an import's,
    AMBIGUOUS..., `domain.inventory.links.remembered_on_unlink`), whether an import left it, and when it left
    (`unlinked_at`, `domain.inventory.links.unlinked_since`); by TikTok SKU id, when the product page whose
    read made a SKU of the first kind join its item was read (`baseline_read_at`, migration 0019; those with one);
    and by TikTok SKU id, (the item the link's stock seeded, when that stock was read) of every link that seeded one
    (`seeded_item_id`, migration 0021), whatever it names now (`ledger.left_out_of_seed`); and the shop's TikTok shop
    id when the merchant's delete of an earlier connection of it left lines to count back (`deleted_shop_lines`),
    else None. None when the shop is gone. One statement: the shop's row, outer-joined to its links."""
    dialect = dialect_of(session)
    query = _statements(dialect).links
    params = {"shop_id": shop_id, "skus": listed(sku_ids, dialect)}
    rows = (await session.execute(query, params)).all()
    if not rows:
        return None
    came_back = rows[0][-2] if rows[0][-1] else None
    rows = [row[:-2] for row in rows]
    time_of = _times(session)
    links = {
        sku: (item, None if counted is None or not on_seed(item, seeded) else time_of(counted),
              None if linked is None else time_of(linked))
        for _, sku, state, item, counted, linked, _, _, seeded, _, _ in rows
        if state is not None and counts_orders(state, item) is not None
    }  # fmt: skip
    unlinked = {
        sku: (
            was_linked_to,
            None if linked is None else time_of(linked),
            left_by_import(state, source),
            None if left is None else time_of(left),
        )
        for _, sku, state, _, _, linked, was_linked_to, _, _, source, left in rows
        if sku not in links and was_linked_to is not None
    }
    joined_read = {
        sku: time_of(read) for _, sku, _, _, _, _, _, read, _, _, _ in rows if sku in links and read is not None
    }  # fmt: skip
    seeds = {
        sku: (seeded, time_of(counted))
        for _, sku, _, _, counted, _, _, _, seeded, _, _ in rows
        if seeded is not None and counted is not None
    }
    return rows[0][0], links, unlinked, joined_read, seeds, came_back


_STATE = {state.value: state for state in LineState}
_EFFECT = {effect.value: effect for effect in StockEffect}


def _times(session: AsyncSession) -> Callable[[Any], Any]:
    """The ledger reads take their times as the driver gives them (SQLite: text): `UTCDateTime`'s conversion of a
    value (not None), run once per distinct value (an order's lines share its time, the links of one seeding share
    theirs)."""
    convert = _utc_time(session.bind.dialect if session.bind is not None else _SQLITE)
    seen: dict[Any, Any] = {}

    def time_of(raw: Any) -> Any:  # a datetime
        value = seen.get(raw)
        if value is None:
            value = seen[raw] = convert(raw)
        return value

    return time_of


_SQLITE = sqlite.dialect()


@functools.cache
def _utc_time(dialect: Dialect) -> Callable[[Any], datetime | None]:
    processor = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert processor is not None
    return processor


def _raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column as the driver returns it (no result processing): see `_times`."""
    return type_coerce(column, NullType())


class _Statements(NamedTuple):
    links: Select[Any]
    held: Select[Any]
    stored: Select[Any]
    earlier: Select[Any]  # `_earlier_periods`' read
    holding: Select[Any]  # `_counted_before_push`'s read of the links holding for an item or with a moved hold


@functools.cache
def _statements(dialect: str) -> _Statements:
    """`apply_orders`' reads, built once per dialect (parameters `shop_id`, `skus`, `orders`: `listed`): building a
    statement costs more Python than running a compiled one (the batch's `among` lists travel as one parameter)."""
    links, lines = sku_links.c, order_line_stock.c
    # The state is tested here rather than in SQL: SQLite would otherwise walk the shop's (shop, state) index,
    # every LINKED link of the shop, instead of looking up the batch's SKUs in (shop, TikTok SKU).
    deleted, holds, kept = deleted_shop_lines.c, deleted_shop_holds.c, deleted_shop_links.c
    came_back = or_(
        exists().where(deleted.merchant_id == shops.c.merchant_id, deleted.tiktok_shop_id == shops.c.tiktok_shop_id),
        exists().where(holds.merchant_id == shops.c.merchant_id, holds.tiktok_shop_id == shops.c.tiktok_shop_id),
        exists().where(kept.merchant_id == shops.c.merchant_id, kept.tiktok_shop_id == shops.c.tiktok_shop_id),
    )  # (the primary keys' first columns: one index probe each)
    linked = select(
        shops.c.merchant_id, links.tiktok_sku_id, links.state, links.inventory_item_id, _raw(links.stock_counted_at),
        _raw(links.linked_at), links.unlinked_item_id, _raw(links.baseline_read_at), links.seeded_item_id, links.source,
        _raw(links.unlinked_at), shops.c.tiktok_shop_id, came_back,
    ).select_from(
        shops.outerjoin(
            sku_links, and_(links.shop_id == shops.c.id, among_param(links.tiktok_sku_id, "skus", dialect))
        )
    ).where(shops.c.id == bindparam("shop_id"))  # fmt: skip
    of_batch = and_(lines.shop_id == bindparam("shop_id"), among_param(lines.tiktok_order_id, "orders", dialect))
    # (the item of each RESERVED or PENDING_LINK row; None for the others, so that no row at all says the batch's
    # orders have none; distinct: a batch with rows answers a handful of items)
    held_state = lines.state.in_((LineState.RESERVED.value, LineState.PENDING_LINK.value))
    held = select(case((held_state, lines.inventory_item_id), else_=None)).where(of_batch).distinct()
    stored = select(
        lines.tiktok_order_id, lines.tiktok_line_item_id, lines.component_sku_id, lines.state, lines.wanted,
        _raw(lines.order_updated_at), lines.inventory_item_id, lines.quantity, _raw(lines.updated_at),
        lines.left_out_of_seed,
    ).where(of_batch)  # fmt: skip
    periods = sku_link_periods.c
    earlier = select(periods.tiktok_sku_id, periods.inventory_item_id, periods.linked_at, periods.ended_at).where(
        periods.shop_id == bindparam("shop_id"), among_param(periods.tiktok_sku_id, "skus", dialect)
    )
    holding = select(
        links.sku_id, links.tiktok_sku_id, links.held_item_id, links.pushed_at, links.baseline_read_at,
        links.moved_hold_item_id, links.moved_hold_item_quantity, links.moved_hold_sold_before,
    ).where(
        links.shop_id == bindparam("shop_id"),
        or_(
            links.held_item_quantity.is_not(None),
            and_(links.held_item_id.is_not(None), links.held_quantity > 0),
            links.moved_hold_quantity > 0,
        ),
        among_param(links.tiktok_sku_id, "skus", dialect),
    )  # fmt: skip
    return _Statements(linked, held, stored, earlier, holding)


async def hold_relink(
    session: AsyncSession, shop_id: str, tiktok_sku_ids: Collection[str], item_ids: Collection[str]
) -> None:
    """Lock (PostgreSQL), all at once in id order, `item_ids` and the items the shop's RESERVED lines of SKUs
    `tiktok_sku_ids` count on: every item a link change of those SKUs writes (`relink_lines`), before the change
    names any. Before, because a row naming an item (a link, a ledger row) takes a share lock on it through its
    foreign key: taken ahead of the item locks, that lock is one out of id order (a writer holding a lower item then
    deadlocks with the change, 40P01), and a transaction removing the item fails the change on the foreign key
    instead of being waited for. The caller holds the shop's link changes (`hold_shop_links`, exclusive), so the
    lines read here stay as they are until commit and `relink_lines` takes no lock it does not hold already.
    (SQLite: nothing to lock, one writer at a time.)"""
    if dialect_of(session) != "postgresql":
        return
    reserved = select(order_line_stock.c.inventory_item_id).where(
        order_line_stock.c.shop_id == shop_id,
        among(order_line_stock.c.tiktok_sku_id, sorted(set(tiktok_sku_ids)), "postgresql"),
        order_line_stock.c.state == LineState.RESERVED.value,
        LEDGER_BY_SKU,
    )
    # and the items the links of those SKUs that a delete of the shop's TikTok shop kept name: a line sold under one
    # counts there (`counted_under_a_deleted_link`); one statement with the lines'
    kept = deleted_shop_links.c
    periods_of = (
        select(kept.inventory_item_id)
        .join(shops, and_(shops.c.tiktok_shop_id == kept.tiktok_shop_id, shops.c.merchant_id == kept.merchant_id))
        .where(shops.c.id == shop_id, among(kept.tiktok_sku_id, sorted(set(tiktok_sku_ids)), "postgresql"))
    )
    # and the items its delete took units sold unseen off (`deleted_shop_holds`): a line gives them back there
    tiktok_shop_id = select(shops.c.tiktok_shop_id).where(shops.c.id == shop_id).scalar_subquery()
    merchant_id = select(shops.c.merchant_id).where(shops.c.id == shop_id).scalar_subquery()
    held_on = _held_unseen_query(merchant_id, tiktok_shop_id, tiktok_sku_ids, "postgresql")
    statement = union(reserved, periods_of, held_on)
    counted_on = set((await session.execute(statement)).scalars()) if tiktok_sku_ids else set()
    await lock_items(session, {i for i in counted_on if i is not None} | set(item_ids))


async def relink_lines(
    session: AsyncSession,
    shop_id: str,
    merchant_id: str,
    new_items: Mapping[str, str | None],
    now: datetime,
    *,
    seeds: Mapping[str, int] | None = None,
    extra_dirty: Sequence[str] = (),
    paused_on: Mapping[str, tuple[str, datetime]] | None = None,
) -> PoolChange:
    """Apply link changes of the shop's SKUs (`new_items`: TikTok SKU id -> its item now, None when unlinked) to
    their ledger lines (`domain.inventory.ledger.relink_line`): a RESERVED line on another item gives its unit back
    there (`unlink_reserved`), off that item's on-hand too when the item it goes to counts it in, a new item this
    change seeds or one the line is owed to (`carries_its_units`); one whose SKU is left without an item (None: the
    merchant's unlink, or an import's, AMBIGUOUS...) stays reserved where it is (`stays_reserved`); a
    waiting line reserves on the new item, or deducts there if it shipped while unlinked from that same item, reserved
    before the unlink or first seen after it (`link_pending`); one left out of the new item's seed (first seen while
    the SKU was away from the item its stock seeded, `left_out_of_seed`) counts into it as first seen there
    (`in_seed_again`, `count_in_seed`: on-hand and reserved + its units), and owes nothing since.
    A waiting line of an order made under a link that the delete of this TikTok shop's earlier connection kept, to
    another item than the new one (`deleted_shop_links`), moves that item instead, as first seen under that link
    (`ledger.counted_under_a_deleted_link`; `back_with_its_shop` when that delete deducted it from it), but an open
    one when the new item is one this change seeds (its seed counted the line's units in, `seed_on_hand`), and one
    that connection's ledger held waiting (its PENDING_LINK record: it moves as it would have there).
    `seeds`: item id -> on-hand to add as SEEDED (new items).
    `paused_on`: TikTok SKU id -> (item, the merchant's unlink) of a link back that makes the SKU's unlinked pause
    that item's (`links.resumed_pause`, soak59 F2); the pause of a deleted connection's link is read here
    (`ledger.kept_pause`). A waiting line of an order made in the pause, the SKU linked now to that item, moves as if
    it remembered that item (`link_pending`: shipped, it deducts there; open, it reserves; cancelled, history),
    whether it was first seen before the link (waiting on the item unlinked from, or on none) or that connection's
    ledger held it waiting (detour59b: the same sale counted by arrival order before). One made before the unlink
    still counts by the item it remembers.
    The caller holds the items already (`hold_relink`, the kept links' items too), as it names them before this runs.
    A line moved keeps its stamp (`updated_at`, see `took_units_now`): a link change moves it from one item to
    another, and its units left TikTok's available of the SKU when the order took them, not now; stamped anew, the
    push's fence would take every open order of the SKU for a sale just ingested and hide as many unseen ones."""
    if not new_items and not seeds:
        return PoolChange()
    waiting = (LineState.RESERVED.value, LineState.PENDING_LINK.value)
    query = select(order_line_stock).where(
        order_line_stock.c.shop_id == shop_id,
        among(order_line_stock.c.tiktok_sku_id, sorted(new_items), dialect_of(session)),
        order_line_stock.c.state.in_(waiting),
        LEDGER_BY_SKU,
    )
    rows = (await session.execute(query)).all() if new_items else []
    # (a PENDING_LINK line's item is the one it was reserved on before: written only if it is the new item)
    reserved_on = {r.inventory_item_id for r in rows if r.state == LineState.RESERVED.value and r.inventory_item_id}
    items = {i for i in new_items.values() if i} | reserved_on
    await lock_items(session, items | set(seeds or {}) | set(extra_dirty))
    if new_items and dialect_of(session) == "postgresql":  # as they are now that the items are held (SQLite's
        rows = (await session.execute(query)).all()  # write transaction is exclusive: they were already)
    write = PoolWrite(shop_id, merchant_id, now)
    for item_id, units in (seeds or {}).items():
        write.count(item_id, units, 0, MovementKind.SEEDED.value, "TikTok stock of the first linked shop", None)
    taken: list[tuple[str, str, int]] = []  # (TikTok SKU id, order id, units the line takes now: < 0, gives back)
    history: list[
        tuple[str, str, int]
    ] = []  # (TikTok SKU id, order id, units) of sales made history (`uncounted_sale`)
    seeded_on = await _seeded_items(session, shop_id, rows, new_items, seeds or {})
    # Lines first seen waiting (never on an item) that the delete of this TikTok shop's earlier connection deducted
    first_waiting = [
        r.tiktok_order_id for r in rows
        if r.state == LineState.PENDING_LINK.value and r.inventory_item_id is None and new_items[r.tiktok_sku_id]
    ]  # fmt: skip
    deducted = await _deducted_of_shop(session, shop_id, merchant_id, first_waiting) if first_waiting else {}
    # and the units it took off as sold unseen, which waiting lines made before its hold's push take back as they
    # first reserve or deduct (those first seen waiting, and those waiting on an item: a sale first seen shipped
    # under that delete's link, `shipped_under_a_deleted_link`, or one that ledger held waiting,
    # `pending_with_its_shop`)
    linked_waiting = [
        r.tiktok_order_id for r in rows if r.state == LineState.PENDING_LINK.value and new_items[r.tiktok_sku_id]
    ]
    unseen, made_at, shipped_by = None, {}, {}
    # and the links of these SKUs it kept (`deleted_shop_links`), with the lines that ledger held waiting
    # (`pending_with_its_shop`, their record kept while the SKU had no link): a waiting line sold under such a link
    # to another item than the new one counts there (`counted_under_a_deleted_link`), as first seen linked
    periods: _LinkedBefore = {}
    held_waiting: set[LedgerKey] = set()
    if linked_waiting:
        # (the shipments' dates as the count rule reads them: `back_with_its_shop`, `_UnseenHolds.take`)
        shipped_by = await _left_shelf_by(
            session, shop_id, [r for r in rows if r.state == LineState.PENDING_LINK.value]
        )
        unseen = await _unseen_holds_of_shop(session, shop_id, merchant_id, {r.tiktok_sku_id for r in rows})
        periods = await _linked_before_of_shop(session, shop_id, merchant_id, {r.tiktok_sku_id for r in rows})
        seed_read = any(read is not None for _, read, *_ in deducted.values())  # (`back_with_its_shop` asks when made)
        if unseen.records or seed_read or periods or paused_on:
            made_at = await _made_at(session, shop_id, sorted(set(linked_waiting)))
        if periods:
            held_waiting = set(
                await _deducted_of_shop(session, shop_id, merchant_id, linked_waiting, LineState.PENDING_LINK)
            )
    last_count = _LastCounts(session)  # (a count since the delete of a line coming back: `back_with_its_shop`)
    served: list[LedgerKey] = []

    def pause_of(row: Any) -> KeptLink | None:
        # the SKU's unlinked pause its link now makes the new item's: this connection's (`paused_on`), or the
        # deleted connection's (`kept_pause`)
        sku, new_item = row.tiktok_sku_id, new_items[row.tiktok_sku_id]
        if new_item is None:
            return None
        if paused_on and sku in paused_on:
            item, unlinked_at = paused_on[sku]
            return paused_period(unlinked_at, now) if item == new_item else None
        return kept_pause(new_item, periods[sku]) if sku in periods else None

    for row in rows:
        line, new_item = ledger_line(row), new_items[row.tiktok_sku_id]
        if stays_reserved(line, new_item):
            continue
        key: LedgerKey = (row.tiktok_order_id, row.tiktok_line_item_id, row.component_sku_id)
        reason = None
        first_linked = line.state is LineState.PENDING_LINK and line.inventory_item_id is None
        if first_linked and new_item is not None and key in deducted:
            served.append(key)  # linked now: counted back here, or moving as any line on another item
        sold_on = new_item
        if key in held_waiting and new_item is not None:
            served.append(key)  # that ledger held it waiting: it moves as on that connection (`link_pending`)
        elif (
            line.state is LineState.PENDING_LINK
            and new_item is not None
            and row.tiktok_order_id in made_at
            and (line.wanted is not StockEffect.RESERVE or new_item not in (seeds or {}))
        ):  # (a new item's seed counts its SKU's waiting open lines in, `seed_on_hand`: they reserve there, as before)
            of_sku = periods.get(row.tiktok_sku_id, {})
            if line.inventory_item_id is not None and line.inventory_item_id not in of_sku:
                # (waiting on an item of this connection's own link: not a sale of the gap, `through_the_gap`)
                of_sku = {item: [kept._replace(ends_at=None) for kept in of_item] for item, of_item in of_sku.items()}
            sold_on = counted_under_a_deleted_link(
                new_item, made_at[row.tiktok_order_id], of_sku, shipped=line.wanted is StockEffect.DEDUCT
            )
            if sold_on != new_item and key in deducted and deducted[key][0] != sold_on:
                sold_on = new_item  # (the delete deducted it from a third item: it moves as any line)
        if first_linked and sold_on is not None and key in deducted and deducted[key][0] == sold_on:
            # linked to the item the shop's delete deducted it from, or sold under its link there: back as it was,
            # never taken twice, or as the merchant's count since that delete found it (the items are held)
            seed_read_at, counted_at = deducted[key][1], await last_count.since(sold_on, deducted[key][3])
            dated = shipped_by.get(row.tiktok_order_id, line.order_updated_at)  # (when it left the shelf at the latest)
            left = None
            if line.wanted is StockEffect.DEDUCT:
                # shipped before a link change of that connection moved it there (`ledger.left_before_relink`)
                left = shipped_before_a_deleted_relink(
                    sold_on, dated, deducted[key][3], periods.get(row.tiktok_sku_id, {}),
                    made_at.get(row.tiktok_order_id), line.quantity,
                )  # fmt: skip
            if left is not None:
                moves = left_before_relink_with_its_shop(
                    line.wanted, line.order_updated_at, sold_on, left, line.quantity, counted_at,
                    await last_count.since(left, dated), dated,
                )  # fmt: skip
                relinked, reason = Relinked(moves, None), _SHIPPED_BEFORE_RELINK
            else:
                # (a count before the delete that covered its shipment: `back_with_its_shop`)
                counted_before = None
                if line.wanted is StockEffect.DEDUCT and counted_at is None:
                    counted_before = await last_count.since(sold_on, dated)
                back = back_with_its_shop(
                    line.wanted, line.order_updated_at, sold_on, line.quantity, made_at.get(row.tiktok_order_id),
                    seed_read_at, counted_at, shipped_by.get(row.tiktok_order_id), counted_before,
                )  # fmt: skip
                relinked, reason = Relinked((back,), None), _CONNECTED_AGAIN
        elif sold_on != new_item and sold_on is not None:
            # sold under a deleted link to another item: it moves there as first seen under that link (open, it
            # reserves; shipped, it deducts, unless that item's count since the shipment covers it: `link_pending`'s
            # `counted_at`, as on the batch's path; cancelled, history), the SKU's new link as it is
            left_by = shipped_by.get(row.tiktok_order_id)
            covering = await last_count.of_shipment(sold_on, line, left_by)
            moved = link_pending(line.wanted, line.order_updated_at, sold_on, line.quantity, sold_on, covering, left_by)
            if key not in deducted and unseen is not None:  # (a sale that delete took off as sold unseen: back)
                back = unseen.take(
                    row.tiktok_sku_id, moved, made_at[row.tiktok_order_id], write, row.tiktok_order_id, line.quantity,
                    left_by, covering,
                )  # fmt: skip
                moved, reason = back, (_CONNECTED_AGAIN_UNSEEN if back is not moved else reason)
            relinked = Relinked((moved,), None)
        else:
            waited = line.state is LineState.PENDING_LINK
            left_by = shipped_by.get(row.tiktok_order_id)
            # a shipped line deducting from the item it links to: that item's count since the shipment covers it
            counted_at = await last_count.of_shipment(new_item, line, left_by) if waited else None
            relinked = relink_line(
                line, new_item, seeded_on.get(row.tiktok_sku_id), new_item in (seeds or {}), counted_at, left_by
            )
            made = made_at.get(row.tiktok_order_id)
            pending = len(relinked.moves) == 1 and relinked.moves[0].state is LineState.HISTORICAL
            if waited and pending and new_item is not None and made is not None and sold_in_pause(made, pause_of(row)):
                # made in the unlinked pause the link back makes the new item's: as if it remembered that item
                paused = link_pending(
                    line.wanted, line.order_updated_at, new_item, line.quantity, new_item, counted_at, left_by
                )
                relinked = relinked._replace(moves=(paused,))
            if waited and key not in deducted and unseen is not None and made is not None and relinked.moves:
                back = unseen.take(
                    row.tiktok_sku_id, relinked.moves[-1], made, write, row.tiktok_order_id, line.quantity,
                    shipped_by.get(row.tiktok_order_id), counted_at,
                )  # (the last)  # fmt: skip
                if back is not relinked.moves[-1]:
                    relinked = relinked._replace(moves=(*relinked.moves[:-1], back))
                    reason = _CONNECTED_AGAIN_UNSEEN
        for moved in relinked.moves:
            write.line(
                key, row.tiktok_sku_id, line.quantity, moved, before=line, stamped_at=row.updated_at,
                left_out_of=relinked.left_out_of, reason=reason,
            )  # fmt: skip
        state = relinked.moves[-1].state if relinked.moves else line.state
        if relinked.moves and uncounted_sale(line, relinked.moves[-1]):
            history.append((row.tiktok_sku_id, row.tiktok_order_id, line.quantity))
        if units := line.quantity * (takes_units(state) - takes_units(line.state)):
            taken.append((row.tiktok_sku_id, row.tiktok_order_id, units))
    for row in await _deducted_on_copies(session, shop_id, new_items, seeds or {}):
        line = ledger_line(row)
        copy = (row.seeded_item_id, row.seeded_from_item_id)
        if shipped := deducted_on_copy(line, new_items[row.tiktok_sku_id], copy):
            key = (row.tiktok_order_id, row.tiktok_line_item_id, row.component_sku_id)
            write.line(
                key, row.tiktok_sku_id, line.quantity, shipped, before=line, stamped_at=row.updated_at, left_out_of=None
            )  # fmt: skip
    fence = await _taken_before_read(session, shop_id, taken) if taken else {}
    for sku, units in (await _history_since_baseline(session, shop_id, history) if history else {}).items():
        fence[sku] = fence.get(sku, 0) - units  # sales since the baseline: its count falls as the ledger's would rise
    if fence := {sku: units for sku, units in fence.items() if units}:
        await _counted_before_push(session, shop_id, fence)  # before `flush` marks the outbox, as in a batch
    if served:
        tiktok_shop_id = select(shops.c.tiktok_shop_id).where(shops.c.id == shop_id).scalar_subquery()
        await _forget_deducted(session, merchant_id, tiktok_shop_id, served)
    if unseen is not None:
        await unseen.save(session)
    return await write.flush(session, extra_dirty=extra_dirty)


async def _deducted_on_copies(
    session: AsyncSession, shop_id: str, new_items: Mapping[str, str | None], seeds: Mapping[str, int]
) -> Sequence[Any]:
    """The shop's DEDUCTED ledger rows, unmarked, of the SKUs of `new_items` linked now to the item their link's
    seed copied (`sku_links.seeded_from_item_id`, migration 0030: back from the item that seed made) that count on
    that seed's item, each with the link's `seeded_item_id` and `seeded_from_item_id`: the lines
    `ledger.deducted_on_copy` brings back (the caller has just written the links). A SKU linked to nothing, or to an
    item this change seeds (`seeds`), has none: no statement when only such SKUs change."""
    wanted = sorted(sku for sku, item in new_items.items() if item is not None and item not in seeds)
    if not wanted:
        return []
    links, lines = sku_links.c, order_line_stock.c
    query = (
        select(order_line_stock, links.seeded_item_id, links.seeded_from_item_id)
        .join(sku_links, and_(links.shop_id == lines.shop_id, links.tiktok_sku_id == lines.tiktok_sku_id))
        .where(
            links.shop_id == shop_id,
            among(links.tiktok_sku_id, wanted, dialect_of(session)),
            links.seeded_from_item_id == links.inventory_item_id,
            lines.inventory_item_id == links.seeded_item_id,
            lines.state == LineState.DEDUCTED.value,
            lines.left_out_of_seed.is_(None),
            LEDGER_BY_SKU,
        )
    )
    return (await session.execute(query)).all()


async def _seeded_items(
    session: AsyncSession,
    shop_id: str,
    rows: Sequence[Any],
    new_items: Mapping[str, str | None],
    seeds: Mapping[str, int],
) -> dict[str, tuple[str, datetime]]:
    """By TikTok SKU id, the item its link's stock seeded and when that stock was read (`sku_links.seeded_item_id`,
    `stock_counted_at`, as the caller has just written the links), for the SKUs of `rows` (waiting ledger rows) that
    `ledger.relink_line` asks it for: a line linked now and owed to an item (`left_out_of_seed`; `in_seed_again`,
    `carries_its_units`), or a RESERVED line moving to an item this change seeded (`seeds`: a seller SKU renamed to a
    new one). No such line (the common case, a first import's waiting lines among them): no statement."""
    owed = sorted(
        {
            r.tiktok_sku_id for r in rows
            if (r.left_out_of_seed and new_items[r.tiktok_sku_id] is not None)
            or (r.state == LineState.RESERVED.value and new_items[r.tiktok_sku_id] in seeds)
        }
    )  # fmt: skip
    if not owed:
        return {}
    links = sku_links.c
    query = select(links.tiktok_sku_id, links.seeded_item_id, links.stock_counted_at).where(
        links.shop_id == shop_id,
        among(links.tiktok_sku_id, owed, dialect_of(session)),
        links.seeded_item_id.is_not(None),
        links.stock_counted_at.is_not(None),
    )
    return {sku: (item, read_at) for sku, item, read_at in (await session.execute(query)).all()}


async def _taken_before_read(
    session: AsyncSession, shop_id: str, taken: Sequence[tuple[str, str, int]]
) -> dict[str, int]:
    """By TikTok SKU id, the units of `taken` ((TikTok SKU id, order id, units a link change takes now, negative when
    it gives them back)) of orders made before the stock read the SKU's link's push fence measures from
    (`sku_links.baseline_read_at`, or the seed's `stock_counted_at`, the later; `counted_in_stock`; an order no longer
    stored is an old one), for `_counted_before_push`: the count the fence's baseline pairs with moves with them. A
    line the read had left out that a link change takes for the first time (first seen while its SKU was unlinked,
    reserved once linked again) is no sale since the baseline, as when the ledger first takes one on a linked SKU
    (`seen_before_push`); taken for one it hid a sale TikTok made unseen, which the push put back on sale. One taken
    before and given back by an unlink (the count falls), taken again at the relink, moves both counts alike. Links
    without a fence count or a read: nothing."""
    dialect = dialect_of(session)
    links = sku_links.c
    query = select(links.tiktok_sku_id, links.baseline_read_at, links.stock_counted_at).where(
        links.shop_id == shop_id,
        links.ingested_at_push.is_not(None),
        among(links.tiktok_sku_id, sorted({sku for sku, _, _ in taken}), dialect),
    )
    reads = {
        sku: max(t for t in (joined, seeded) if t is not None)
        for sku, joined, seeded in (await session.execute(query)).all()
        if joined is not None or seeded is not None
    }
    orders_of = sorted({order_id for sku, order_id, _ in taken if sku in reads})
    if not orders_of:
        return {}
    created = await _made_at(session, shop_id, orders_of)
    units: dict[str, int] = {}
    for sku, order_id, quantity in taken:
        at = created.get(order_id)
        if sku in reads and (at is None or counted_in_stock(at, reads[sku])):
            units[sku] = units.get(sku, 0) + quantity
    return {sku: n for sku, n in units.items() if n}


async def _history_since_baseline(
    session: AsyncSession, shop_id: str, history: Sequence[tuple[str, str, int]]
) -> dict[str, int]:
    """By TikTok SKU id, the units of `history` ((TikTok SKU id, order id, units) of sales a link change made history,
    `uncounted_sale`) of orders made since the instant the SKU's link's push fence measures from: its last push's
    target read (`pushed_at`), else its baseline's stock read (`baseline_read_at`, or the seed's `stock_counted_at`,
    the later; `counted_in_stock`). TikTok's available lost them after that baseline and the ledger has them, but its
    running count never will: `_counted_before_push` lowers the count the baseline pairs with by as many, so the
    fence takes them for the sales applied since that they are (review: a pushed SKU linked by hand to another item
    after a sale shipped while it was unlinked held that known sale back as unseen, one unit less on every shop of
    the item for the hold's horizon). Links without a fence count or an instant, orders no longer stored (old ones,
    made before any baseline kept): nothing."""
    dialect = dialect_of(session)
    links = sku_links.c
    query = select(links.tiktok_sku_id, links.pushed_at, links.baseline_read_at, links.stock_counted_at).where(
        links.shop_id == shop_id,
        links.ingested_at_push.is_not(None),
        among(links.tiktok_sku_id, sorted({sku for sku, _, _ in history}), dialect),
    )
    since = {
        sku: pushed or max(t for t in (joined, seeded) if t is not None)
        for sku, pushed, joined, seeded in (await session.execute(query)).all()
        if pushed is not None or joined is not None or seeded is not None
    }
    orders_of = sorted({order_id for sku, order_id, _ in history if sku in since})
    if not orders_of:
        return {}
    created = await _made_at(session, shop_id, orders_of)
    units: dict[str, int] = {}
    for sku, order_id, quantity in history:
        at = created.get(order_id)
        if sku in since and at is not None and not counted_in_stock(at, since[sku]):
            units[sku] = units.get(sku, 0) + quantity
    return units


async def release_shop(
    session: AsyncSession,
    shop_id: str,
    now: datetime,
    hold_horizon: timedelta = DEFAULT_HOLD_HORIZON,
    *,
    remember: bool = True,
) -> PoolChange:
    """Before a shop's rows go: take its RESERVED lines' units off their items (`leaves_with_its_shop`: on-hand and
    reserved both drop, movements DEDUCTED, reason "shop deleted", one per order naming it), so the items' `reserved` no
    longer counts that shop's open orders, which TikTok still has the merchant ship from the shelf, and `available`,
    what the other shops are pushed, stays as it was (released, those units went on sale twice). Each such line is
    recorded by merchant and TikTok shop (`_record_deducted`, `deleted_shop_lines`) for that TikTok shop connected
    again, whose import counts it back once (`ledger.back_with_its_shop`) rather than reserve and ship it twice (not
    when `remember` is False: a TikTok that forgot the shop, whose orders of the same ids would be others). Locks
    (PostgreSQL) every item the shop reserves on or links, and, when `remember`, every item the rows it keeps name
    (`_record_links`: links left without their item, earlier link periods), in id order, until commit, all at once
    before any of those rows takes a share lock on its item. The change names every item the
    shop links too (their links go with the shop, counters moved or not), so that `inventoryItemUpdated` says so.
    The items of the shop's links that hold units back (`sku_links.held_quantity`: sold unseen, which the item's
    other links subtract, `held_elsewhere`) get their other links' pushes due, as when a hold changes
    (`hold_changed`): the hold goes with the link, and nothing else would push them (the holder's push at the
    hold's end goes with the shop too); left as they were, the other shops showed those units fewer for good.
    The units such a hold still stands for (`domain.inventory_push.standing_units` within `hold_horizon`, less
    those the ledger applied since its push; of the item the hold belongs to, as `_held_elsewhere` reads it:
    `domain.inventory.links.hold_item`) were sold at TikTok and not ingested, and never will be
    now, while TikTok still has the merchant ship them: they leave their item's on-hand too (`DEDUCTED`, reason
    "shop deleted: sold unseen"), so `available` falls by what the other links subtracted and their pushes show what
    they showed. (Before, the hold went with the link and nothing took its place: the other shops were pushed those
    units again, sold twice once the deleted shop's order shipped. A hold that was a Seller Center edit rather than
    a sale leaves the units off the count, undersold, until the merchant counts.) Those units are recorded by
    merchant, TikTok shop, SKU and item with the hold's last push (`_record_sold_unseen`, `deleted_shop_holds`; not
    when `remember` is False): that TikTok shop connected again imports the sales' orders, and its first open lines
    of the SKU made before that push take them back on on-hand as they reserve (`ledger.back_from_unseen`), rather
    than take them a second time. The delete also keeps the shop's lines it had applied (`_record_deducted`) and when
    each of its links that count orders took effect (`_record_links`, `deleted_shop_links`): a sale made under such a
    link that shipped unseen deducts when that TikTok shop connected again first sees it, as on the same connection
    (`ledger.sold_while_linked_before`), and one this ledger had applied does not move twice."""
    merchant_id = await merchant_of(session, shop_id)
    if merchant_id is None:
        return PoolChange()
    reserved = and_(order_line_stock.c.shop_id == shop_id, order_line_stock.c.state == LineState.RESERVED.value)
    held = select(order_line_stock.c.inventory_item_id).where(reserved)
    # The items the shop links too, all at once in id order: the delete then removes those it leaves behind
    # (`shop_items.remove_shop_items`) without taking one more lock out of order.
    linked = select(sku_links.c.inventory_item_id).where(sku_links.c.shop_id == shop_id)
    # (and those its holds count for as an import or the merchant's unlink left them, `holds_for`: remembered, not
    # named)
    remembered = select(sku_links.c.unlinked_item_id).where(
        sku_links.c.shop_id == shop_id, sku_links.c.held_quantity > 0, holds_remembered(sku_links.c)
    )

    def existing_items(column: Any, *holding: Any) -> Any:
        """The items `column` of the shop's links holding so names that still exist."""
        return (
            select(column)
            .join(inventory_items, inventory_items.c.id == column)
            .where(sku_links.c.shop_id == shop_id, *holding)
        )

    # (and those its links' moved holds count for, the items they were made under that still exist: review60 F3;
    # the other part's of one split between two items, migration 0063)
    moved = existing_items(sku_links.c.moved_hold_item_id, sku_links.c.moved_hold_quantity > 0)
    moved_rest = existing_items(sku_links.c.moved_hold_rest_item_id, sku_links.c.moved_hold_quantity > 0)
    # (and those its holds recorded, the items their sales were made under that still exist, `hold_item`: a SKU
    # linked by hand from CAP to HAT whose push held CAP's sale holds for CAP, which it links no more; fence61)
    recorded = existing_items(sku_links.c.held_item_id, sku_links.c.held_quantity > 0)
    # (and the item of a split hold's other part, `held_rest_item_id`: migrations 0059, 0062, review61 F2)
    split = existing_items(
        sku_links.c.held_rest_item_id, sku_links.c.held_quantity > 0, sku_links.c.held_item_quantity.is_not(None)
    )
    found = await session.execute(held.union(linked, remembered, moved, moved_rest, recorded, split))
    touched = {i for i in found.scalars() if i is not None}
    # (and, when kept, those its links left without an item remember: `_record_links` keeps a period naming each, a
    # row whose foreign key takes a share lock on the item, which must not come out of id order)
    forgotten = select(sku_links.c.unlinked_item_id).where(
        sku_links.c.shop_id == shop_id, sku_links.c.inventory_item_id.is_(None)
    )
    # (and those its SKUs' earlier link periods name, which `_record_links` copies as rows of their own: an item the
    # SKU left, SOCK of HAT -> SOCK -> HAT, named by no link now; review58 R7)
    periods = select(sku_link_periods.c.inventory_item_id).where(sku_link_periods.c.shop_id == shop_id)
    kept_on = (
        {i for i in (await session.execute(forgotten.union(periods))).scalars() if i is not None} if remember else set()
    )
    await lock_items(session, touched | kept_on)
    # The items whose links go with the shop (DROPPED ones are not shown) changed, counters moved or not: their
    # `updated_at` says so, what the all-items feed reads after lost signals (`writer.touch_items`).
    shown = select(sku_links.c.inventory_item_id).where(sku_links.c.shop_id == shop_id, sku_links.c.state != DROPPED)
    await touch_items(session, {i for i in (await session.execute(shown)).scalars() if i is not None}, now)
    if remember:
        await _record_deducted(session, shop_id, now)
        await _record_links(session, shop_id, merchant_id, now)
        await _record_connection(session, shop_id, now)
    write = PoolWrite(shop_id, merchant_id, now)
    for row in (await session.execute(select(order_line_stock).where(reserved))).all():
        move = leaves_with_its_shop(ledger_line(row))
        if move is not None and move.movement is not None:
            item_id = move.inventory_item_id
            assert item_id is not None
            # one movement per order, naming it: the shop is gone, and its orders tell the merchant what took the units
            order_id = row.tiktok_order_id
            write.count(item_id, move.on_hand_delta, move.reserved_delta, move.movement.value, "shop deleted", order_id)
    sold_unseen = await _sold_unseen(session, shop_id, now, hold_horizon)
    by_item: dict[str, int] = {}
    for _, item_id, units, _ in sold_unseen:
        by_item[item_id] = by_item.get(item_id, 0) + units
    for item_id, units in sorted(by_item.items()):
        write.count(item_id, -units, 0, MovementKind.DEDUCTED.value, "shop deleted: sold unseen", None)
    if remember and sold_unseen:
        await _record_sold_unseen(session, shop_id, merchant_id, sold_unseen, now)
    write.shop_id = None  # the movements outlive the shop; its own outbox rows go with it
    holding = select(sku_links.c.inventory_item_id).where(
        sku_links.c.shop_id == shop_id, sku_links.c.held_quantity > 0, sku_links.c.inventory_item_id.is_not(None)
    )
    # (and the items the holds recorded, whose other links subtract them: fence61; locked above, `recorded`)
    held_on = sorted(set((await session.execute(holding)).scalars()) | {item for _, item, _, _ in sold_unseen})
    released = await write.flush(session, extra_dirty=held_on)
    # (the shop's own outbox rows, marked too, go with it: no push of it is queued)
    return PoolChange(released.item_ids | touched, released.push_shop_ids - {shop_id}, released.merchant_id)


async def _sold_unseen(
    session: AsyncSession, shop_id: str, now: datetime, hold_horizon: timedelta
) -> list[tuple[str, str, int, datetime]]:
    """(TikTok SKU id, item id, units, the link's last push: `pushed_at`, else `now`) of the shop's links whose holds
    still stand (`standing_units`: recorded by its last push, within `hold_horizon` of `held_since`, less the units
    its shop's running count of the SKU gained since that push, `sku_ledger_units.ingested` less `ingested_at_push`),
    on the item each belongs to (`domain.inventory.links.hold_item`: the item the hold recorded, `held_item_id`,
    migration 0056, while it exists; recorded before it, the item the link holds for, `holds_for`; fence61: a SKU
    linked by hand from CAP to HAT whose push held CAP's unseen sale had it taken off HAT); standing units only,
    by TikTok SKU id. A link's moved hold (`moved_hold_*`, migration 0054: the sales of the item the merchant moved
    it from, made under it before the move's stock read and not ingested, `links._left_by_move`) stands the same way,
    from the running count at the move and sold before that read, on that item while it exists (review60 F3: the
    delete took nothing off it, which kept the held sale's units for good); on the item of the link's own standing
    hold, the larger of the two (both measure TikTok's fall of the same SKU, the later push's from its own record:
    the same unseen sale is not taken twice)."""
    links, units, moved_to = sku_links.c, sku_ledger_units.c, inventory_items.alias("moved_hold_item")
    held_on = inventory_items.alias("held_item")  # (no foreign key: an item removed since is read as gone)
    rest_on = inventory_items.alias("rest_item")  # (a split hold's other part: `held_rest_item_id`'s, 0059, 0062)
    moved_rest_on = inventory_items.alias("moved_rest_item")  # (a split moved hold's: `moved_hold_rest_item_id`, 0063)
    query = (
        select(
            links.state, links.inventory_item_id, links.unlinked_item_id, links.source, links.held_quantity,
            links.held_since, links.ingested_at_push, units.ingested, links.tiktok_sku_id, links.pushed_at,
            links.unlinked_at, moved_to.c.id.label("moved_item_id"), links.moved_hold_quantity, links.moved_hold_since,
            links.moved_hold_ingested_at_push, links.moved_hold_sold_before, links.held_item_id,
            held_on.c.id.label("held_item_found"), links.held_item_quantity, rest_on.c.id.label("rest_item_found"),
            links.moved_hold_item_quantity, moved_rest_on.c.id.label("moved_rest_found"),
        )
        .select_from(
            sku_links.outerjoin(
                sku_ledger_units, and_(units.shop_id == links.shop_id, units.tiktok_sku_id == links.tiktok_sku_id)
            ).outerjoin(moved_to, moved_to.c.id == links.moved_hold_item_id)
            .outerjoin(held_on, held_on.c.id == links.held_item_id)
            .outerjoin(rest_on, rest_on.c.id == links.held_rest_item_id)
            .outerjoin(moved_rest_on, moved_rest_on.c.id == links.moved_hold_rest_item_id)
        )
        .where(links.shop_id == shop_id, or_(links.held_quantity > 0, links.moved_hold_quantity > 0))
    )  # fmt: skip
    standing: list[tuple[str, str, int, datetime]] = []
    for row in (await session.execute(query.order_by(links.tiktok_sku_id))).all():
        item_id = hold_item(
            row.held_quantity, row.held_item_id, row.state, row.inventory_item_id, row.unlinked_item_id, row.source,
            row.unlinked_at,
        )  # fmt: skip
        since = None if row.ingested_at_push is None else (row.ingested or 0) - row.ingested_at_push
        held = standing_units(row.held_quantity, row.held_since, since, now, hold_horizon)
        # (a hold a push restarted carrying another item's units: each part off its own item, review61 F2)
        rest_item = row.rest_item_found if row.held_item_quantity is not None else None
        parts = hold_parts(held, item_id, row.held_item_quantity, rest_item)
        if row.held_item_id is not None and row.held_item_found is None:
            parts.pop(item_id, None)  # the item its sales were made under is gone: nothing of it to take off
        moved_since = (
            None if row.moved_hold_ingested_at_push is None else (row.ingested or 0) - row.moved_hold_ingested_at_push
        )
        moved = standing_units(row.moved_hold_quantity, row.moved_hold_since, moved_since, now, hold_horizon)
        # (a moved hold of two items, the parts of a split hold the move left: each off its own item, migration 0063;
        # an item gone since keeps nothing of it to take off)
        moved_rest = row.moved_rest_found if row.moved_hold_item_quantity is not None else None
        moved_parts = hold_parts(moved, row.moved_item_id, row.moved_hold_item_quantity, moved_rest)
        moved_parts.pop(None, None)
        for moved_item, moved_units in list(moved_parts.items()):
            if moved_item in parts:
                parts[moved_item] = max(parts[moved_item], moved_units)
                del moved_parts[moved_item]
        for part_item, units_held in sorted(parts.items(), key=lambda part: str(part[0])):
            if part_item is not None and units_held > 0:
                standing.append((row.tiktok_sku_id, part_item, units_held, row.pushed_at or now))
        for moved_item, moved_units in sorted(moved_parts.items(), key=lambda part: str(part[0])):
            if moved_item is not None and moved_units > 0:
                standing.append((row.tiktok_sku_id, moved_item, moved_units, row.moved_hold_sold_before or now))
    return standing


async def _record_sold_unseen(
    session: AsyncSession,
    shop_id: str,
    merchant_id: str,
    sold_unseen: Sequence[tuple[str, str, int, datetime]],
    now: datetime,
) -> None:
    """Keep the units `_sold_unseen` found (TikTok SKU id, item, units, sold before) by merchant and TikTok shop
    (`deleted_shop_holds`), for that TikTok shop connected again, whose import takes them back on on-hand with the
    orders of those sales (`ledger.back_from_unseen`) rather than reserve them a second time. One statement."""
    tiktok_shop_id = (await session.execute(select(shops.c.tiktok_shop_id).where(shops.c.id == shop_id))).scalar_one()
    kept: dict[tuple[str, str], tuple[int, datetime]] = {}
    for sku, item, units, sold_before in sold_unseen:  # (one row per SKU and item: the table's key)
        before_units, before_sold = kept.get((sku, item), (0, sold_before))
        kept[sku, item] = (before_units + units, max(before_sold, sold_before))
    rows = [
        {"merchant_id": merchant_id, "tiktok_shop_id": tiktok_shop_id, "tiktok_sku_id": sku, "inventory_item_id": item,
         "deleted_at": now, "quantity": units, "sold_before": sold_before}
        for (sku, item), (units, sold_before) in sorted(kept.items())
    ]  # fmt: skip
    await session.execute(insert(deleted_shop_holds), rows)


async def _left_shelf_by(session: AsyncSession, shop_id: str, rows: Sequence[Any]) -> dict[str, datetime]:
    """When the units of the shop's waiting ledger rows `rows` that ask a deduction left the shelf at the latest, as the
    order batch dates them (`ledger.left_shelf_by`: the carrier's collection for a stored order of one package,
    `orders.collected_at` and `package_count`, migration 0052), by TikTok order id; a row's own `order_updated_at` (the
    update time of the version it applied) bounds it, as the version's does in a batch. An order not stored, or stored
    without both, has no entry (the caller dates it by the row's update time, as before 0052: review59 F1)."""
    waiting = {r.tiktok_order_id: r.order_updated_at for r in rows if r.wanted == StockEffect.DEDUCT.value}
    if not waiting:
        return {}
    stored = orders_table.c
    query = select(stored.tiktok_order_id, stored.status, stored.collected_at, stored.package_count).where(
        stored.shop_id == shop_id,
        stored.collected_at.is_not(None),
        among(stored.tiktok_order_id, sorted(waiting), dialect_of(session)),
    )
    return {
        order_id: left_shelf_by(status, waiting[order_id], collected_at, package_count or 0)
        for order_id, status, collected_at, package_count in (await session.execute(query)).all()
    }


async def _made_at(session: AsyncSession, shop_id: str, order_ids: Sequence[str]) -> dict[str, datetime]:
    """When each of the shop's stored orders among `order_ids` (TikTok order ids) was made (`orders.created_at`, UTC),
    by order id; an order not stored has no entry."""
    stored = orders_table.c
    made = select(stored.tiktok_order_id, stored.created_at).where(
        stored.shop_id == shop_id, among(stored.tiktok_order_id, order_ids, dialect_of(session))
    )
    return {order_id: at for order_id, at in (await session.execute(made)).all()}
