"""The write side shared by every change of the pool: lock items, then ledger rows, counters, movements, dirty marks.

A change is gathered in a `PoolWrite` (final ledger rows, counter deltas per item, movements) and written with a
fixed number of statements whatever its size: one executemany upsert of the ledger rows (PostgreSQL: one COPY of
those no stored row holds, one upsert of the others), one statement of arithmetic counter updates (`reserved =
reserved + :d`, never read-modify-write: an executemany on SQLite, one UPDATE joined to the deltas' arrays on
PostgreSQL), one insert of the movements, one upsert of the shop's running units per SKU and one outbox statement.
The items are locked first, in id order (`SELECT ... FOR UPDATE` on PostgreSQL, as Saleor does, so that two writers
never deadlock on them; SQLite's write transaction is exclusive already), and the ledger rows the change depends on
are read only after that, so concurrent writers of the same item see each other's committed rows (live-sync.md §7.2).

The running units (`sku_ledger_units`: per shop and TikTok SKU, the units of its lines that took stock and of those
released; the push's fence reads them, a lookup where a SUM over the lines grew with the SKU's history) change here
and only here, from each written row's state before (`PoolWrite.line`'s `before`) to its state after, in the
transaction that writes the rows: they can never disagree with the lines. Lock order on PostgreSQL, one way for
every writer: the items (id order), the link rows (`sku_id` order, below), the ledger rows, the running units
(TikTok SKU id order, the upsert's ORDER BY), then the outbox rows (`mark_push_dirty`). The running units are a
shop's, and a shop's ledger writers take turns already (order batches: the orders' writer lock, `catalog.hold_writers`;
link changes: `hold_shop_links`, exclusive; its delete: the shop row), so no two transactions wait on each other's
units; the order keeps it so for any writer added later. The push only reads them.

The link rows (`sku_links`) come after the items and before the ledger rows. Among themselves, one way for every
writer: `sku_id` order (the table's key; a shop's rows only, as every writer writes one shop's), each transaction
either writing them in that order, statement after statement, or holding all it writes at once first
(`lock_links`, `FOR NO KEY UPDATE`, the lock an UPDATE takes) when its statements go in another order or span
several products. Every writer of them, PostgreSQL:

- link changes (an import's `links.auto_link_products`, the merchant's `link_sku`): the shop's link turn
  (`hold_shop_links`) exclusively, the items (`hold_relink`), then the stored links they write held at once
  (`lock_links`: the upsert's rows, the drops, the seed and join baselines), `upsert_links` in `sku_id` order, then
  the ledger rows (`relink_lines`), running units, outbox;
- order batches (`ledger.apply_orders`): the turn shared, the items, then the links of their fence counts held at
  once (`ledger._counted_before_push`: its statements name them by TikTok SKU id, one pass per count), then
  `flush`;
- the push (`inventory_push_links`): the shop's row, then the links of the products it records, without the turn (it
  writes only what it pushed, and waits for no link change: the row order keeps it from deadlocking with one), and
  without the items: it writes each link once in a transaction, one UPDATE (`inventory_push_links._one_update`),
  changing no column with a foreign key, so PostgreSQL checks none (a second UPDATE of a row the transaction wrote
  checks every foreign key of the row, `FOR KEY SHARE` on the items `inventory_item_id` and `unlinked_item_id` name: an
  item lock after links, lock63); one product's written in `sku_id` order (`record_intents`, `record_link_results`),
  those of a transaction that finishes several claims held at once first (`hold_links`:
  `inventory_push._record_unchanged`, 50 products a transaction), then its outbox rows (`mark_item_links_dirty`,
  `finish_claim`), those of a transaction that finishes several claims held at once first in (shop, product) order
  (`hold_push_rows`: the claims' own rows and the rows their moved holds mark, other shops' too);
- the reconcile (`inventory_reconcile._record_observations`): the shop's row `FOR KEY SHARE` (`shops.hold`: its
  other writers, the webhook batch, the push's finishes, renames, token refreshes, never wait for it), the turn
  shared (`hold_link_turn`, as order batches: they do not wait for each other) before it reads its candidates (an
  import's page holds the turn exclusively for its whole transaction: a reconcile that read first compared TikTok's
  stock with links the page rewrote, and waited for the page holding the shop `FOR NO KEY UPDATE`, review51), its
  observations in `sku_id` order (`record_observed`), then its outbox rows (`mark_dirty`);
- a shop's delete: the shop's row `FOR UPDATE` first, which every writer above holds before any link (`FOR KEY
  SHARE`, the push `FOR NO KEY UPDATE`), then the items, then the shop's links go (`shop_items`);
- an item removed (`shop_items.delete_items`: an import's link change, `remove_unclaimed_items`, or a shop's delete,
  after the items are held) holds the links that remember it (`unlinked_item_id`; no link names it as its item, the
  rule of removal), any shop's, at once in `sku_id` order, then clears them. (Left to the foreign key's `ON DELETE
  SET NULL`, they were cleared item after item in their rows' table order: a writer holding a lower one while it
  asked for a higher one deadlocked with it, 40P01.)

Five deadlocks this order ends (40P01, PostgreSQL aborting one side;
`tests/integration/test_db_inventory_lock_order.py`, `tests/integration/test_inventory_push_release_order.py`): a
reconcile writing its observations one row at a time in its read's order (TikTok SKU id), without the turn, while an
import upserted the same links in its rows' order (upgrade50: the import's page aborted, an ERROR and one of its
attempts spent); and a push finishing 50 unchanged products in one transaction, product after product, each product's
links in turn, while an order batch held the same links at once in `sku_id` order (CI of 6e9f3a4: the orders import's
page aborted); and that push marking, product after product, the rows of the items whose holds moved (one product's
item's row of another shop before the next product's own row) while a webhook batch marked some of the same rows in
(shop, product) order (review51: the batch's run failed); and an import's page removing an item, the links that
remembered it cleared in their table order, while another writer held a lower of them and asked for a higher one (the
page aborted); and a push recording a link with two UPDATEs (its record, then its error and intent cleared), the second
checking the link's foreign keys (`FOR KEY SHARE` on its items) while it held the link and, finishing unchanged
products, their outbox rows, as an order batch held the items (`lock_items`, `FOR UPDATE`) and went on to that link (its
fence counts) or, another shop's batch sharing the items, to that outbox row (`mark_push_dirty`), in cycles of two or
three (lock63: 7-24 aborts a minute when three shops of one merchant sharing seller SKUs were connected). A transaction
aborted as a deadlock (or a serialization failure) anyway is run again whole (`domain.services.conflicts`, one WARNING):
an import's batch and its finish or failure (`importer`), a webhook batch's write (`intake._write_batch`, settling
copies of its events), `skuLink` / `skuUnlink` (`inventory.link_sku`) and the merchant's item edits
(`inventorySetOnHand`, `inventoryAdjust`, `inventoryItemUpdate`, `inventoryItemCreate`), a shop's delete
(`shops.delete_shop`), the reconcile, and the push's intents, outcomes and unchanged products. Not the best-effort
writes of a run that failed (`importer._failed_attempt`, `_hand_back`, `intake._count_attempt`: the run is retried by
the queue, or counted by the next).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among, decimal_texts, dialect_of
from adapters.db.repositories.bulk import (
    Record,
    columns,
    insert_records,
    sqlite_executemany,
    sqlite_time,
    upsert_records,
)
from adapters.db.repositories.inventory.outbox import mark_push_dirty
from adapters.db.tables import (
    UTCDateTime,
    inventory_items,
    inventory_movements,
    order_line_stock,
    sku_ledger_units,
    sku_links,
)
from domain.inventory.ledger import LedgerLine, LineState, StockEffect, Transition
from domain.ports import PoolChange

LedgerKey = tuple[str, str, str]  # (tiktok_order_id, tiktok_line_item_id, component_sku_id) within one shop


# Arithmetic, never read-modify-write: (on_hand delta, reserved delta, now, item id).
_ADD_TO_COUNTERS = (
    "UPDATE inventory_items SET on_hand = on_hand + ?, reserved = reserved + ?, version = version + 1, "
    "updated_at = ? WHERE id = ?"
)
# PostgreSQL: the same for every item in one statement, the items (distinct) and their deltas as three arrays; the
# items are locked already, so the order in which it updates them does not matter. Every array is bound as text[]
# (the numbers as their decimal text, `decimal_texts`), cast to integers by the server: asyncpg decodes text[] with a
# codec of its own, but looks up any other array type (varchar[], int4[]) in the server's catalogs once per new
# connection, a recursive query over pg_type and ~18 ms of a fresh database's CPU (suitepg74: one in every PostgreSQL
# test of the pool, 2-7 in an end-to-end one; a production connection pays it once).
_ADD_TO_COUNTERS_PG = text(
    "UPDATE inventory_items AS i SET on_hand = i.on_hand + d.on_hand, reserved = i.reserved + d.reserved, "
    "version = i.version + 1, updated_at = :now "
    "FROM unnest(CAST(:ids AS TEXT[]), CAST(CAST(:on_hand AS TEXT[]) AS INTEGER[]), "
    "CAST(CAST(:reserved AS TEXT[]) AS INTEGER[])) "
    "AS d(id, on_hand, reserved) WHERE i.id = d.id"
).bindparams(bindparam("now", type_=UTCDateTime()))


# The shop's running units per TikTok SKU (`sku_ledger_units`), added to arithmetically: (shop, SKU, ingested delta,
# released delta). A SKU's first counted line inserts its row.
_ADD_TO_UNITS = (
    "INSERT INTO sku_ledger_units (shop_id, tiktok_sku_id, ingested, released) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (shop_id, tiktok_sku_id) DO UPDATE SET ingested = ingested + excluded.ingested, "
    "released = released + excluded.released"
)
# PostgreSQL: one statement; its rows are upserted (and locked) in the order the SELECT gives them: by SKU. Arrays
# bound as text[], as `_ADD_TO_COUNTERS_PG`'s.
_ADD_TO_UNITS_PG = text(
    "INSERT INTO sku_ledger_units AS u (shop_id, tiktok_sku_id, ingested, released) "
    "SELECT :shop_id, d.sku, d.ingested, d.released "
    "FROM unnest(CAST(:skus AS TEXT[]), CAST(CAST(:ingested AS TEXT[]) AS INTEGER[]), "
    "CAST(CAST(:released AS TEXT[]) AS INTEGER[])) "
    "AS d(sku, ingested, released) ORDER BY d.sku "
    "ON CONFLICT (shop_id, tiktok_sku_id) DO UPDATE SET ingested = u.ingested + excluded.ingested, "
    "released = u.released + excluded.released"
)
if tuple(sku_ledger_units.c.keys()) != ("shop_id", "tiktok_sku_id", "ingested", "released"):
    raise RuntimeError("sku_ledger_units: the columns differ from those PoolWrite adds to")
# Which running count a line's units are in, by its state (none: PENDING_LINK, HISTORICAL).
_INGESTED, _RELEASED = 0, 1
_COUNTED_IN = {
    LineState.RESERVED.value: _INGESTED, LineState.DEDUCTED.value: _INGESTED, LineState.RELEASED.value: _RELEASED
}  # fmt: skip


# The records written, built straight in their tables' column order (checked here, once, against the tables).
_LEDGER_ROW = (
    "shop_id", "tiktok_order_id", "tiktok_line_item_id", "component_sku_id", "merchant_id", "tiktok_sku_id",
    "inventory_item_id", "quantity", "state", "wanted", "order_updated_at", "updated_at", "left_out_of_seed",
)  # fmt: skip
_MOVEMENT_ROW = (
    "id", "inventory_item_id", "merchant_id", "kind", "on_hand_delta", "reserved_delta", "reason", "shop_id",
    "tiktok_order_id", "created_at",
)  # fmt: skip
_SKU, _QUANTITY, _STATE, _ITEM = (
    _LEDGER_ROW.index(name) for name in ("tiktok_sku_id", "quantity", "state", "inventory_item_id")
)
if columns(order_line_stock.name) != _LEDGER_ROW or columns(inventory_movements.name) != _MOVEMENT_ROW:
    raise RuntimeError("order_line_stock or inventory_movements: the columns differ from the records PoolWrite builds")


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def dialect_insert(session: AsyncSession) -> Any:
    """The dialect's INSERT construct (both offer `on_conflict_do_update` / `on_conflict_do_nothing`)."""
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if name == "postgresql" else sqlite_insert


async def hold_shop_links(session: AsyncSession, shop_id: str, *, exclusive: bool) -> None:
    """Order the shop's link changes against its order batches (PostgreSQL; SQLite has one writer anyway).

    Order batches hold the shop's advisory lock shared (they do not wait for each other), link changes hold it
    exclusively, both before reading any link: a batch that found a SKU unlinked and wrote its lines as
    PENDING_LINK has committed before the link change reads the waiting lines, or it reads the new link itself.
    Without it, a product import committing a link between a batch's read of links and its commit would leave the
    batch's lines waiting for a link that already exists. Transaction-scoped: released at commit or rollback.
    """
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.blake2b(f"pool-links:{shop_id}".encode(), digest_size=8).digest(), "big", signed=True)
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await session.execute(text(f"SELECT {function}(:key)"), {"key": key})


async def lock_links(
    session: AsyncSession, shop_id: str, sku_ids: Collection[str] = (), *, tiktok_sku_ids: Collection[str] = ()
) -> None:
    """Lock the shop's link rows of `sku_ids` (Shopbridge SKU ids) and `tiktok_sku_ids` until commit, in `sku_id` order
    (PostgreSQL; SQLite's write transaction is exclusive already: nothing to do there), before writing any of them
    in another order: the order every writer of a shop's links takes them in (the module docstring). Rows not stored
    are left out (a new link's INSERT locks a row nobody else can see yet). A single row has no order to keep: no
    statement. The rows are locked as the sort gives them (PostgreSQL's LockRows runs over the ORDER BY)."""
    if (
        len({*sku_ids}) + len({*tiktok_sku_ids}) < 2
        or session.bind is None
        or session.bind.dialect.name != "postgresql"
    ):
        return
    links = sku_links.c
    named = []
    if sku_ids:
        named.append(among(links.sku_id, sorted(sku_ids), "postgresql"))
    if tiktok_sku_ids:
        named.append(among(links.tiktok_sku_id, sorted(tiktok_sku_ids), "postgresql"))
    query = select(links.sku_id).where(links.shop_id == shop_id, or_(*named)).order_by(links.sku_id)
    await session.execute(query.with_for_update(key_share=True))  # FOR NO KEY UPDATE: what their UPDATEs take


async def lock_items(session: AsyncSession, item_ids: Collection[str]) -> set[str]:
    """Lock the items until commit, in id order (PostgreSQL; SQLite's write transaction is exclusive already and has
    no FOR UPDATE: nothing to do there). Returns those of `item_ids` that exist (SQLite: all of them, as read in this
    transaction: no other writer removed one since)."""
    if item_ids and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = select(inventory_items.c.id).where(among(inventory_items.c.id, sorted(item_ids), "postgresql"))
        return set((await session.execute(query.order_by(inventory_items.c.id).with_for_update())).scalars())
    return set(item_ids)


async def touch_items(session: AsyncSession, item_ids: Collection[str], now: datetime) -> None:
    """Set `updated_at` of the items to `now` (one statement; a later time is kept): a link joined or left them, their
    counters moved or not. The caller holds the items already (`lock_items`, in id order), so this takes no lock of
    its own. The all-items feed finds an item whose change signal was lost by that time
    (`inventory_queries.item_ids_changed_since`; a link that left an item no longer names it)."""
    if not item_ids:
        return
    items = inventory_items.c
    await session.execute(
        update(inventory_items)
        .where(among(items.id, sorted(item_ids), dialect_of(session)), items.updated_at < now)
        .values(updated_at=now)
    )


def ledger_line(row: Any) -> LedgerLine:
    return LedgerLine(
        LineState(row.state), StockEffect(row.wanted), row.order_updated_at, row.inventory_item_id, row.quantity,
        row.left_out_of_seed,
    )  # fmt: skip


@dataclass
class PoolWrite:
    """One transaction's changes of a shop's ledger rows and of the items they touch."""

    shop_id: str | None  # None for a merchant's edit of an item
    merchant_id: str
    now: datetime
    rows: dict[LedgerKey, Record] = field(default_factory=dict)  # `order_line_stock` records (`_LEDGER_ROW`)
    new_rows: set[LedgerKey] = field(default_factory=set)  # keys of `rows` no stored row holds
    deltas: dict[str, list[int]] = field(default_factory=dict)  # item id -> [on_hand, reserved]
    movements: dict[tuple[str, str, str | None, str | None], list[int]] = field(default_factory=dict)
    # The rows of `rows` as stored before this write (None: no row), for the running units (`_units_deltas`)
    before: dict[LedgerKey, LedgerLine | None] = field(default_factory=dict)
    # `_units_deltas` of `rows` as they are (None: not worked out since the last `line`): read by the batch's fence
    # counts (`ingested_deltas`) and again by `flush`
    _units: dict[str, list[int]] | None = field(default=None, init=False, repr=False)

    def line(
        self,
        key: LedgerKey,
        tiktok_sku_id: str,
        quantity: int,
        move: Transition,
        *,
        before: LedgerLine | None,
        new: bool = False,
        stamped_at: datetime | None = None,
        left_out_of: str | None,
        reason: str | None = None,
    ) -> None:
        """Record a ledger row's move: its final values, and its deltas on the item it counts on. `before`: the row
        as this transaction read it, None when none holds `key` (the first one given for a key counts: a row moved
        twice in one write goes from its stored state to its last); `flush` moves the shop's running units of the
        SKU from it to the final row. `new`: the caller read that no row holds `key`, and no other writer can write
        one before this transaction ends (`flush` inserts it rather than upserts). `stamped_at`: the row's
        `updated_at` to keep (`took_units_now` is false), else it is stamped now. `left_out_of`: the row's
        `left_out_of_seed` after the move (`domain.inventory.ledger.left_out_of_seed`; a stored row's own, unless
        the move counted it into that seed), given every time: a row is written whole. `reason`: its movement's."""
        self.before.setdefault(key, before)
        # (`_value_`: the member's text as an attribute; `.value` is a property, ~0.1 us a call, twice a line)
        self.rows[key] = (
            self.shop_id, *key, self.merchant_id, tiktok_sku_id, move.inventory_item_id, quantity, move.state._value_,
            move.wanted._value_, move.order_updated_at, stamped_at or self.now, left_out_of,
        )  # fmt: skip
        self._units = None  # (the running units' deltas, read again)
        if new:
            self.new_rows.add(key)
        else:
            self.new_rows.discard(key)
        if move.movement is not None:  # (`item_moved` is None without a movement)
            item_id = move.item_moved
            if item_id is not None:
                self.count(item_id, move.on_hand_delta, move.reserved_delta, move.movement._value_, reason, key[0])

    def count(
        self, item_id: str, on_hand: int, reserved: int, kind: str, reason: str | None, order_id: str | None
    ) -> None:
        """Add deltas to an item's counters and to the movement of (item, kind, reason, order)."""
        totals = self.deltas.setdefault(item_id, [0, 0])
        totals[0] += on_hand
        totals[1] += reserved
        moved = self.movements.setdefault((item_id, kind, reason, order_id), [0, 0])
        moved[0] += on_hand
        moved[1] += reserved

    async def flush(self, session: AsyncSession, extra_dirty: Collection[str] = ()) -> PoolChange:
        """Write it all (the items must be locked already); the pool change for after-commit work."""
        dialect = _dialect(session)
        if self.new_rows and dialect == "postgresql":  # the new rows COPY straight into the table (no upsert)
            new = self.new_rows
            await insert_records(session, order_line_stock.name, [row for key, row in self.rows.items() if key in new])
            stored = [row for key, row in self.rows.items() if key not in new]
            if stored:
                await upsert_records(session, order_line_stock.name, stored)
        elif self.rows:
            await upsert_records(session, order_line_stock.name, list(self.rows.values()))
        moved = {item for item, (on_hand, reserved) in self.deltas.items() if on_hand or reserved}
        if moved and dialect != "postgresql":  # SQLite: straight to the driver, the same statement
            when = sqlite_time(self.now)
            counters = [(self.deltas[item][0], self.deltas[item][1], when, item) for item in sorted(moved)]
            await sqlite_executemany(session, _ADD_TO_COUNTERS, counters)
        elif moved:
            ids = sorted(moved)
            params = {
                "ids": ids,
                "on_hand": decimal_texts(self.deltas[item][0] for item in ids),
                "reserved": decimal_texts(self.deltas[item][1] for item in ids),
                "now": self.now,
            }
            await session.execute(_ADD_TO_COUNTERS_PG, params)
        merchant_id, shop_id, now = self.merchant_id, self.shop_id, self.now
        movements = [
            (uuid.uuid4().hex, item, merchant_id, kind, on_hand, reserved, reason, shop_id, order_id, now)
            for (item, kind, reason, order_id), (on_hand, reserved) in self.movements.items()
            if on_hand or reserved
        ]  # `_MOVEMENT_ROW`
        if movements:  # new rows (fresh ids): on PostgreSQL, COPY straight into the table too
            await insert_records(session, inventory_movements.name, movements)
        await self._add_to_units(session, dialect)  # after the ledger rows and items, before the outbox (lock order)
        # Pushes are due where `available` moved (net): a deduction alone (on-hand and reserved both -1) moves none.
        dirty = {item for item, (on_hand, reserved) in self.deltas.items() if on_hand != reserved} | set(extra_dirty)
        shops = await mark_push_dirty(session, dirty, self.now)
        return PoolChange(frozenset(moved | set(extra_dirty)), frozenset(shops), self.merchant_id)

    def _units_deltas(self) -> dict[str, list[int]]:
        """TikTok SKU id -> [ingested, released] deltas of the shop's running units: the written rows' counted units
        after, less before (a row keeps its SKU: its key names the line item and component, whose SKU never
        changes). SKUs whose units did not move are left out. Worked out once for the rows as they are (`line`
        forgets it); the caller does not change the lists."""
        if self._units is not None:
            return self._units
        deltas: dict[str, list[int]] = {}
        for key, row in self.rows.items():
            stored = self.before[key]
            was = None if stored is None else _COUNTED_IN.get(stored.state._value_)
            now = _COUNTED_IN.get(row[_STATE])
            if was is None and now is None:
                continue
            units = deltas.setdefault(row[_SKU], [0, 0])
            if was is not None and stored is not None:
                units[was] -= stored.quantity
            if now is not None:
                units[now] += row[_QUANTITY]
        self._units = {sku: units for sku, units in deltas.items() if units[0] or units[1]}
        return self._units

    def ingested_deltas(self) -> dict[str, int]:
        """TikTok SKU id -> what the written rows add to the shop's running `ingested` units of the SKU
        (`sku_ledger_units.ingested`; negative when reserved lines are released), SKUs whose count moves only: what
        a moved hold's SKU-wide count gains in this batch (`ledger._counted_before_push` keeps a moved hold's count
        to the units of its own sales)."""
        return {sku: units[0] for sku, units in self._units_deltas().items() if units[0]}

    def ingested_by_item(self, made_at: Mapping[LedgerKey, datetime]) -> dict[tuple[str, str, datetime], int]:
        """(TikTok SKU id, item id, the order's TikTok `create_time`) -> units the written rows first count in the
        shop's running `ingested` units on that item (a row not counted there before, now RESERVED or DEDUCTED on
        it: a sale the ledger applies now), units > 0 only: what a split hold of the item stands for that the ledger
        applied, if the order was made before the push that made or carried the split
        (`domain.inventory.links.held_part_applied`, `ledger._counted_before_push`). `made_at`: each row's order's
        `create_time` (every row written has one: the batch's lines)."""
        units: dict[tuple[str, str, datetime], int] = {}
        for key, row in self.rows.items():
            stored = self.before[key]
            was = None if stored is None else _COUNTED_IN.get(stored.state._value_)
            if was != _INGESTED and _COUNTED_IN.get(row[_STATE]) == _INGESTED and row[_ITEM] is not None:
                of = (row[_SKU], row[_ITEM], made_at[key])
                units[of] = units.get(of, 0) + row[_QUANTITY]
        return units

    async def _add_to_units(self, session: AsyncSession, dialect: str) -> None:
        """Add the rows' moves to the shop's running units (`sku_ledger_units`), by SKU (the lock order)."""
        deltas = self._units_deltas()
        if not deltas:
            return
        assert self.shop_id is not None  # ledger rows are a shop's
        skus = sorted(deltas)
        if dialect != "postgresql":  # SQLite: straight to the driver
            rows = [(self.shop_id, sku, deltas[sku][0], deltas[sku][1]) for sku in skus]
            await sqlite_executemany(session, _ADD_TO_UNITS, rows)
            return
        params = {
            "shop_id": self.shop_id,
            "skus": skus,
            "ingested": decimal_texts(deltas[sku][0] for sku in skus),
            "released": decimal_texts(deltas[sku][1] for sku in skus),
        }
        await session.execute(_ADD_TO_UNITS_PG, params)
