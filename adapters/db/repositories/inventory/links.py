"""SKU links: auto-linking a shop's SKUs after a product import or change, and the merchant's manual links.

Auto-linking (`domain.inventory.links.auto_link`) sees every SKU of the shop that shares a seller SKU with the
changed products' SKUs (one query, by the key stored with each SKU row, `skus.seller_sku_key`: its seller SKU as
`domain.inventory.links.trimmed` matches it), so a duplicate in another product is found. A seller SKU no item has yet
creates the item, seeded from this shop's TikTok stock plus the units its waiting open orders reserve
(`seed_on_hand`), those of orders created before that stock was read (the product page's request, which the
product carries: `Product.stock_read_at`); `INSERT ... ON CONFLICT DO NOTHING` makes the first shop to get there
the one that seeds.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among, dialect_of
from adapters.db.repositories.bulk import copy_and_move, sqlite_executemany, sqlite_tuples, temporary_table
from adapters.db.repositories.inventory.copies import record_copies
from adapters.db.repositories.inventory.items import get_item
from adapters.db.repositories.inventory.ledger import hold_relink, merchant_of, relink_lines
from adapters.db.repositories.inventory.shop_items import remove_unclaimed_items
from adapters.db.repositories.inventory.writer import (
    dialect_insert,
    hold_shop_links,
    lock_items,
    lock_links,
    touch_items,
)
from adapters.db.tables import (
    HISTORICAL_LINES,
    LEDGER_BY_SKU,
    deleted_shop_links,
    inventory_items,
    order_line_stock,
    orders,
    products,
    shops,
    sku_ledger_units,
    sku_link_periods,
    sku_links,
    skus,
)
from domain.errors import DomainError, ErrorCode, NotFoundError
from domain.inventory.items import sku_search_key
from domain.inventory.ledger import DELETED_LINE_KEPT, LineState, StockEffect, counted_in_stock, paused_period
from domain.inventory.links import (
    DROPPED,
    LinkDecision,
    LinkSource,
    LinkState,
    ShopSku,
    auto_link,
    back_from_drop,
    ended_period,
    hold_item,
    hold_parts,
    link_compared,
    paused_since,
    relink_needed,
    relinked_by_hand,
    relinked_since,
    remembered_on_unlink,
    resumed_pause,
    seed_copies,
    seed_on_hand,
    standing_state,
    trimmed,
    unlinked_by_hand,
    unlinked_since,
)
from domain.inventory_push import fence_counts
from domain.ports import PoolChange
from domain.stored import DELETED_PRODUCT_STATUS


async def auto_link_products(
    session: AsyncSession, shop_id: str, tiktok_product_ids: Sequence[str], now: datetime,
    stock_read_at: Mapping[str, datetime] | None = None,
) -> PoolChange:  # fmt: skip
    """Link the SKUs of the shop's products `tiktok_product_ids` (and their seller-SKU twins in the shop).
    `stock_read_at`: by TikTok product id, when TikTok's stock of the product was read (the page's request); a
    new item seeded from it counts at that instant (`_create_items`), others at `now`."""
    merchant_id = await merchant_of(session, shop_id)
    if merchant_id is None or not tiktok_product_ids:
        return PoolChange()
    await hold_shop_links(session, shop_id, exclusive=True)
    dialect = dialect_of(session)
    product_ids = select(products.c.id).where(
        products.c.shop_id == shop_id, among(products.c.tiktok_product_id, sorted(set(tiktok_product_ids)), dialect)
    )
    columns = (
        skus.c.id, skus.c.tiktok_sku_id, skus.c.seller_sku, skus.c.seller_sku_key, skus.c.quantity, skus.c.bundle,
        skus.c.seller_sku_too_long, products.c.tiktok_product_id, products.c.stock_read_at,
    )  # fmt: skip
    # The SKUs of a product TikTok reports DELETED are stored (the merchant sees them) but on sale no more: the pool
    # leaves them out, as SKUs their product dropped (their links DROPPED below; no twin of a re-listing).
    of_products = (
        select(*columns)
        .join(products, products.c.id == skus.c.product_id)
        .where(products.c.status != DELETED_PRODUCT_STATUS)
    )
    changed = (await session.execute(of_products.where(skus.c.product_id.in_(product_ids)))).all()
    # The products' links as they stand: the seller SKUs they matched on were maybe renamed or dropped, which may
    # leave a twin elsewhere in the shop alone with its seller SKU (no longer AMBIGUOUS: it links now).
    linked_query = select(
        sku_links.c.sku_id,
        sku_links.c.tiktok_sku_id,
        sku_links.c.seller_sku,
        sku_links.c.inventory_item_id,
        sku_links.c.state,
    ).where(
        sku_links.c.shop_id == shop_id, among(sku_links.c.tiktok_product_id, sorted(set(tiktok_product_ids)), dialect)
    )
    linked = (await session.execute(linked_query)).all()
    # The seller SKUs as matched (`trimmed`): the changed SKUs' stored keys (computed when their rows were written)
    # and the links' (stored trimmed). Twins are found by the stored key through its index (`skus.seller_sku_key`).
    keys = {r.seller_sku_key for r in changed} | {trimmed(r.seller_sku) for r in linked}
    seller_skus = sorted(k for k in keys if k is not None)
    twins: list[Any] = []
    if seller_skus:
        twin_query = of_products.where(skus.c.shop_id == shop_id, among(skus.c.seller_sku_key, seller_skus, dialect))
        twins = list((await session.execute(twin_query)).all())
    rows = {r.id: r for r in [*changed, *twins]}
    existing = await _links(session, list(rows))
    # SKUs with no link on this shop yet that the merchant had linked by hand before a delete of an earlier connection
    # of this TikTok shop: linked by hand to that item again, not by seller SKU (`relinked_by_hand`)
    by_hand = await _linked_by_hand_before(
        session, shop_id, merchant_id, [r for r in rows.values() if r.id not in existing and not r.bundle]
    )
    # Links of SKUs the changed products no longer have (TikTok dropped them): DROPPED, item and lines kept, so that
    # their open orders still ship from (or are cancelled back to) that item (`counts_orders`); never pushed.
    gone = sorted(r.sku_id for r in linked if r.sku_id not in rows and r.state != DROPPED)
    still_named = {r.inventory_item_id for r in linked if r.sku_id not in rows}
    # DROPPED links whose SKU is back: the merchant's (MANUAL) decision stands (`back_from_drop`); AUTO ones are
    # decided again below, as any SKU (`_current` makes them due).
    returning = {
        sku_id: back for sku_id, link in existing.items()
        if link.state == DROPPED and (back := back_from_drop(LinkSource(link.source), link.inventory_item_id))
    }  # fmt: skip

    def shop_skus_of(by_hand: Mapping[str, str]) -> list[ShopSku]:
        """The SKUs as `auto_link` sees them: those linked by hand again as MANUAL links (it leaves them out)."""
        return [
            ShopSku(r.id, r.seller_sku, bool(r.bundle), LinkSource.MANUAL, LinkState.LINKED, by_hand[r.id])
            if r.id in by_hand
            else ShopSku(
                r.id, r.seller_sku, bool(r.bundle), *(_current(existing.get(r.id))), bool(r.seller_sku_too_long)
            )
            for r in rows.values()
        ]

    shop_skus = shop_skus_of(by_hand)
    decisions = auto_link(shop_skus)
    wanted_items = sorted({d.item_sku for d in decisions if d.item_sku is not None})
    read_at = stock_read_at or {}
    items, seeds, seeding = await _create_items(
        session, shop_id, merchant_id, decisions, rows, await _item_ids(session, merchant_id, wanted_items), now,
        read_at,
    )  # fmt: skip
    by_id = {sku.sku_id: sku for sku in shop_skus}

    def link_changes(
        items: Mapping[str, str], seeds: Mapping[str, int], seeding: Mapping[str, datetime]
    ) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
        """The link rows to write and, by TikTok SKU id, the item each changed SKU links now (None: none). A seeding
        link's row carries the baseline its seed gives when no line moves (`_seed_baseline`)."""
        link_rows, new_items = [], {}
        for decision in decisions:
            row = rows[decision.sku_id]
            if not relink_needed(by_id[decision.sku_id], decision, items):
                continue
            item_id = items.get(decision.item_sku) if decision.item_sku is not None else None
            previous = existing.get(decision.sku_id)
            remembered, since = _kept(previous, item_id, now)
            # a seed copies the count of the item the SKU was linked to (its seller SKU renamed to a new one)
            copied = seed_copies(previous.state, previous.inventory_item_id) if previous is not None else None
            link_rows.append(
                _link_row(
                    shop_id, merchant_id, row, decision.state, LinkSource.AUTO, item_id, now, seeding.get(row.id),
                    remembered, since, seeded_from=copied,
                    baseline=_seed_baseline(seeds[item_id]) if row.id in seeding and item_id is not None else None,
                )
            )  # fmt: skip
            new_items[row.tiktok_sku_id] = item_id
        for sku_id, back in returning.items():  # as the merchant left it: its item, its time, what it remembers
            link, row = existing[sku_id], rows[sku_id]
            item_id = link.inventory_item_id if back is LinkState.LINKED else None
            link_rows.append(
                _link_row(
                    shop_id, merchant_id, row, back, LinkSource.MANUAL, item_id, now,
                    remembered=(link.unlinked_item_id, link.linked_at, link.unlinked_at), linked_since=link.linked_at,
                )
            )  # fmt: skip
            if item_id is not None:  # (its lines count on its item already: nothing moves; its pushes are due)
                new_items[row.tiktok_sku_id] = item_id
        for sku_id, item_id in sorted(by_hand.items()):  # a new link, by hand, joining its item (its time: now)
            row = rows[sku_id]
            link_rows.append(_link_row(shop_id, merchant_id, row, LinkState.LINKED, LinkSource.MANUAL, item_id, now))
            new_items[row.tiktok_sku_id] = item_id
        return link_rows, new_items

    link_rows, new_items = link_changes(items, seeds, seeding)
    # The items SKUs of these products linked before (those no longer linked are removed below once nobody draws on
    # them, `remove_unclaimed_items`) and those the changed links name: held, with those the changed SKUs' reserved
    # lines count on, all at once in id order before a link names one (`hold_relink`). Nothing changed: no lock.
    before = {link.inventory_item_id for link in existing.values()} | {r.inventory_item_id for r in linked}
    before.discard(None)
    if new_items or seeds:
        await hold_relink(session, shop_id, new_items, {*before, *seeds, *(i for i in new_items.values() if i)})
        vanished = set(by_hand.values()) - await _existing_items(session, by_hand.values()) if by_hand else set()
        if vanished:  # (PostgreSQL: removed by another transaction meanwhile) decided by seller SKU, as if never kept
            by_hand = {sku_id: item_id for sku_id, item_id in by_hand.items() if item_id not in vanished}
            shop_skus = shop_skus_of(by_hand)
            by_id, decisions = {sku.sku_id: sku for sku in shop_skus}, auto_link(shop_skus)
            wanted_items = sorted({d.item_sku for d in decisions if d.item_sku is not None})
        held = await _item_ids(session, merchant_id, wanted_items) if dialect == "postgresql" or vanished else items
        if held != items or vanished:
            # An item another shop's relink (or a shop's delete) removed while this waited for it is gone: it is
            # created again, seeded from this shop's stock as any missing one. (An item another transaction created in
            # that moment is taken last, the one lock out of id order left: should it deadlock, PostgreSQL aborts
            # one side and the page is retried.)
            items, more_seeds, more_seeding = await _create_items(
                session, shop_id, merchant_id, decisions, rows, held, now, read_at
            )
            seeds, seeding = {**seeds, **more_seeds}, {**seeding, **more_seeding}
            await lock_items(session, set(items.values()) - set(seeds))
            link_rows, new_items = link_changes(items, seeds, seeding)
    # Every stored link row this change writes, held at once in their order (`lock_links`): the push holds no link
    # turn, and these are written by several statements (the upsert, then the drops and the baselines below).
    await lock_links(session, shop_id, [*(r["sku_id"] for r in link_rows), *gone])
    await record_link_periods(session, shop_id, _ended_periods(link_rows, existing, now), now)
    await upsert_links(session, link_rows)
    # a new item seeded as a copy of another's count remembers it (`copies`: the link's may be overwritten later)
    await record_copies(
        session, {r["seeded_item_id"]: r["seeded_from_item_id"] for r in link_rows if r["seeded_from_item_id"]}
    )
    # The items a link joined or left (held by `hold_relink`: a link row to write makes `new_items`) changed, counters
    # moved or not: their `updated_at` says so (`writer.touch_items`).
    await touch_items(session, _relinked(link_rows, existing), now)
    if gone:
        dropped = among(sku_links.c.sku_id, gone, dialect)
        await session.execute(update(sku_links).where(dropped).values(state=DROPPED, updated_at=now))
    joined = [i for i in new_items.values() if i is not None]  # a shop joining an item receives its quantity
    left = sorted(i for i in before if i not in new_items.values() and i not in still_named)
    # (SKUs the import leaves without an item, AMBIGUOUS, NO_SELLER_SKU, EXCLUDED: their open orders stay reserved on
    # the item they were placed on, `ledger.stays_reserved`)
    change = await relink_lines(
        session, shop_id, merchant_id, new_items, now, seeds=seeds, extra_dirty=[*joined, *left]
    )
    await _keep_seed_baselines(session, [r["sku_id"] for r in link_rows if r["stock_counted_at"] is not None])
    joining = {
        r["sku_id"]: (r["tiktok_sku_id"], rows[r["sku_id"]].quantity, min(now, _read_of(rows[r["sku_id"]], read_at)))
        for r in link_rows
        if r["state"] == LinkState.LINKED.value and r["inventory_item_id"] is not None
        and r["stock_counted_at"] is None and r["tiktok_product_id"] in read_at
    }  # fmt: skip
    await _keep_join_baselines(session, shop_id, joining)
    await remove_unclaimed_items(session, merchant_id, left)
    # An item whose link a drop changed (its counters did not move): its subscribers learn it shows one link fewer.
    dropped_ids = set(gone)
    dropped_on = frozenset(r.inventory_item_id for r in linked if r.sku_id in dropped_ids and r.inventory_item_id)
    return change | PoolChange(dropped_on, frozenset(), merchant_id) if dropped_on else change


def _ended_periods(
    link_rows: Sequence[Mapping[str, Any]], previous: Mapping[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """The link periods the links of `link_rows` end, written at `now` over `previous` (stored link rows by SKU id):
    `domain.inventory.links.ended_period`, as `sku_link_periods` rows."""
    periods = []
    for row in link_rows:
        before = previous.get(row["sku_id"])
        if before is None:
            continue
        new_item = row["inventory_item_id"] if row["state"] == LinkState.LINKED.value else None
        ended = ended_period(
            before.state, before.inventory_item_id, before.source, before.linked_at or before.stock_counted_at,
            before.unlinked_item_id, before.unlinked_at, new_item, now,
        )  # fmt: skip
        if ended is not None:
            item_id, linked_at, ended_at = ended
            periods.append(
                {"shop_id": row["shop_id"], "tiktok_sku_id": row["tiktok_sku_id"], "inventory_item_id": item_id,
                 "linked_at": linked_at, "ended_at": ended_at}
            )  # fmt: skip
    return periods


async def record_link_periods(
    session: AsyncSession, shop_id: str, periods: Sequence[Mapping[str, Any]], now: datetime
) -> None:
    """Keep the link periods a link change ended (`sku_link_periods`, migration 0049; `_ended_periods`), and forget
    those of the same SKUs ended over `DELETED_LINE_KEPT` (97 days) before `now`: no sale made under them can be first
    seen any more (`ledger.sold_under_an_earlier_link` reads none older). Two statements, none without periods; the
    items are held by the caller (`hold_relink`: the items the links left)."""
    if not periods:
        return
    await session.execute(dialect_insert(session)(sku_link_periods).on_conflict_do_nothing(), list(periods))
    kept = sku_link_periods.c
    skus_of = sorted({str(p["tiktok_sku_id"]) for p in periods})
    await session.execute(
        delete(sku_link_periods).where(
            kept.shop_id == shop_id,
            among(kept.tiktok_sku_id, skus_of, dialect_of(session)),
            kept.ended_at < now - DELETED_LINE_KEPT,
        )
    )


async def _had_period_on(session: AsyncSession, shop_id: str, tiktok_sku_id: str, previous: Any, item_id: str) -> bool:
    """Whether the shop's TikTok SKU, its link `previous` (its row) paused by the merchant's unlink (`paused_since`)
    and linked now to item `item_id` other than the one it remembers, had a link period on that item that a link
    change ended on this connection (`sku_link_periods`, migration 0049; kept `DELETED_LINE_KEPT`,
    `record_link_periods`), for `resumed_pause`. One statement; none when it cannot matter."""
    if (
        previous.unlinked_item_id == item_id
        or paused_since(previous.state, previous.inventory_item_id, previous.source, previous.unlinked_at) is None
    ):
        return False
    kept = sku_link_periods.c
    query = select(kept.inventory_item_id).where(
        kept.shop_id == shop_id, kept.tiktok_sku_id == tiktok_sku_id, kept.inventory_item_id == item_id
    )
    return (await session.execute(query.limit(1))).first() is not None


def _relinked(link_rows: Sequence[Mapping[str, Any]], previous: Mapping[str, Any]) -> set[str]:
    """The items the links of `link_rows` join or leave: each row's item, and its item before (`previous`, stored link
    rows by SKU id), when they differ. A DROPPED link was not shown on its item: one coming back to it joins it."""
    changed: set[str] = set()
    for row in link_rows:
        before = previous.get(row["sku_id"])
        shown = before.inventory_item_id if before is not None and before.state != DROPPED else None
        if shown != row["inventory_item_id"]:
            changed.update(item_id for item_id in (shown, row["inventory_item_id"]) if item_id is not None)
    return changed


async def _keep_seed_baselines(session: AsyncSession, seeding: Sequence[str]) -> None:
    """The push fence's baseline of each link of `seeding` (SKU ids whose shop's TikTok stock seeded their item in
    this transaction) never pushed (README, "A link's first push is fenced"): run once `relink_lines` has
    applied the links' waiting lines, it keeps the item's `available` (`seeded_available`: the seed's on-hand less its
    reservations, `seed_on_hand`'s rule, safety stock 0 on a new item), which is TikTok's available at the read less
    the sales made since that the ledger has (reserved at the link, or shipped: `_open_pending_units`), with the
    shop's running units of the SKU now (`ingested_at_push`, `released_at_push`; 0 without a row): the ledger's
    count of that same instant, these sales in it. A line the ledger applies later counts as applied since, as it
    does after a push: a sale made after the read, TikTok's available lost it; an open order made before it, in the
    seed, adds itself to `ingested_at_push` (`ledger._counted_before_push`), as TikTok had left it out already.
    Nothing moves either meanwhile: the caller holds the item, the shop's ledger writers wait for its link changes
    (`hold_shop_links`, exclusive), and the link rows are this transaction's already (`upsert_links`). One statement;
    a link pushed already keeps its push's baseline (a count of this instant with it would not pair). A row holding
    these values already (an import's new link, written with `_seed_baseline`, where no line moved) is not written
    again: the same values, one write of the row instead of two."""
    if not seeding:
        return
    links, items = sku_links.c, inventory_items.c
    available = (
        select(items.on_hand - items.reserved - items.safety_stock)
        .where(items.id == links.inventory_item_id)
        .scalar_subquery()
    )
    baseline = {"seeded_available": available, **_running_units_now()}
    statement = (
        update(sku_links)
        .where(
            among(links.sku_id, sorted(seeding), dialect_of(session)),
            links.pushed_at.is_(None),
            or_(*(links[name].is_distinct_from(value) for name, value in baseline.items())),
        )
        .values(**baseline)
    )
    await session.execute(statement)


# A link's push record and what its push measured against it (`_fence_anew`)
_PUSH_FORGOTTEN: dict[str, Any] = {
    "pushed_quantity": None, "pushed_at": None, "push_landed_at": None, "held_quantity": 0, "held_since": None,
    "restored_quantity": 0, "restored_since": None, "pushed_item_id": None, "held_item_id": None,
    "held_item_quantity": None, "held_rest_item_id": None,
}  # fmt: skip


async def _fence_anew(session: AsyncSession, sku_id: str, read_at: datetime, left: _LeftByMove | None = None) -> bool:
    """Forget the push record of the link of `sku_id` (`pushed_quantity`, `pushed_at`, `push_landed_at`,
    `restored_quantity`), which a link change moving it to another item in this transaction (`inventoryItemCreate`'s
    `skuId`, `skuLink`) measures its fence from no more, when its product's stock read at `read_at` came after that
    push landed: then that read, already the later truth of TikTok's stock (`domain.stock_levels.last_known_stock`),
    is the baseline the caller keeps (`_keep_seed_baselines`, `_keep_join_baselines`: they fill a link never pushed),
    and a sale made under the item linked before, left out of that read and first seen after, counts in the fence as
    a sale before the baseline, not one since a push (review59b F3: the push held its 3 units back and wrote 14 to
    TikTok where the pool and the shelf had 17). A read no later than the push (`pushed_at`) or its landing
    (`push_landed_at`, when recorded), or a push whose answer is unrecorded (`push_intent` left:
    `domain.inventory_push.settled`), keeps the push's record and its baseline, as before (TikTok may show the
    push's quantity, not the read's). The push's hold (`held_quantity`, `held_since`) and its restored units
    (`restored_quantity`, `restored_since`) go with its record: they were measured against that push, and the read,
    later, already counts every sale and cancellation TikTok made before it (review60 F1: the new item's push held
    the old item's unseen sale back a second time and wrote 15 where TikTok, the pool and the shelf said 18), unless
    the hold's sales were made under the item linked now (`left.kept`, `held_item_id`, migration 0056): the read
    left them out too, and that item's pool still counts them, so the link keeps holding them (review60b F1: CAP's
    sale held by HAT's push, linked back to CAP, CAP wrote 20 where its shelf had 17). The
    sales of another item the read left out and the ledger has not (`left.moved`, `_left_by_move`; None or no units:
    the link's moved hold stays as it was) are kept as the link's moved hold of that item (`moved_hold_*`, migration
    0054): they left its shelf, a delete of the shop within the hold's horizon takes them off there
    (`ledger.release_shop`; review60 F3: HAT kept the sale's units for good, 21 where its shelf had 18), and a link
    back to it holds them again (`_hold_again`). True when forgotten. One statement."""
    links = sku_links.c
    moved = None if left is None else left.moved
    forgotten = dict(_PUSH_FORGOTTEN)
    if left is not None and left.kept > 0:  # (its start stays; all of it the kept units' item's: review61 F2)
        del forgotten["held_since"]
        forgotten["held_quantity"], forgotten["held_item_id"] = left.kept, left.kept_item
    statement = (
        update(sku_links)
        .where(
            links.sku_id == sku_id,
            links.pushed_at.is_not(None),
            links.pushed_at < read_at,
            or_(links.push_landed_at.is_(None), links.push_landed_at < read_at),
            links.push_intent.is_(None),
        )
        .values(**forgotten, **({} if moved is None or moved.units <= 0 else moved.values()))
    )
    return bool((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]


# A link with no moved hold (`_hold_again`)
_MOVED_HOLD_FORGOTTEN: dict[str, Any] = {
    "moved_hold_item_id": None, "moved_hold_quantity": 0, "moved_hold_since": None,
    "moved_hold_ingested_at_push": None, "moved_hold_sold_before": None, "moved_hold_item_quantity": None,
    "moved_hold_rest_item_id": None,
}  # fmt: skip


@dataclass(frozen=True)
class _MovedHold:
    """The units of a link's old item sold at TikTok and not ingested when the merchant moved its SKU elsewhere by
    hand (`_left_by_move`): the item, the units, since when held (UTC), the shop's running count of the SKU then
    (`sku_ledger_units.ingested`: what it gains since replaces them, as for a hold) and the time they were sold
    before (the read's). Of two items when the move left a split hold's two parts (migration 0063): `item_units` of
    `units` are `item_id`'s, the rest `rest_item_id`'s (`hold_parts`; None, None: all `item_id`'s)."""

    item_id: str
    units: int
    since: datetime
    ingested: int
    sold_before: datetime
    item_units: int | None = None
    rest_item_id: str | None = None

    def values(self) -> dict[str, Any]:
        """`sku_links.moved_hold_*` (migrations 0054, 0063)."""
        return {
            "moved_hold_item_id": self.item_id, "moved_hold_quantity": self.units, "moved_hold_since": self.since,
            "moved_hold_ingested_at_push": self.ingested, "moved_hold_sold_before": self.sold_before,
            "moved_hold_item_quantity": self.item_units, "moved_hold_rest_item_id": self.rest_item_id,
        }  # fmt: skip


async def _running_units(session: AsyncSession, shop_id: str, tiktok_sku_id: str) -> tuple[int, int]:
    """The shop's running units of the SKU now (`sku_ledger_units.ingested`, `released`; 0, 0 without a row)."""
    units = sku_ledger_units.c
    query = select(units.ingested, units.released).where(units.shop_id == shop_id, units.tiktok_sku_id == tiktok_sku_id)
    found = (await session.execute(query)).first()
    return (0, 0) if found is None else (found.ingested or 0, found.released or 0)


@dataclass(frozen=True)
class _LeftByMove:
    """What a hand move's fence started anew leaves unseen (`_left_by_move`): the units of the link's hold it keeps
    (its sales made under the item linked now, `kept_item`; 0: none) and the moved hold of another item (None:
    none)."""

    kept: int
    moved: _MovedHold | None
    kept_item: str | None = None


async def _left_by_move(
    session: AsyncSession, previous: Any, row: Any, read_at: datetime, item_id: str
) -> _LeftByMove | None:
    """What the link `previous` (its row before a hand move to item `item_id`) leaves unseen, as the fence of a push
    of its record's item would measure it against the SKU's stock read `row.quantity` at `read_at`: its push's record
    plus the hold it carried, less TikTok's available read and the units the ledger applied since that push
    (`domain.inventory_push.fence_counts`, the units it restored unseen making up for the releases since). These are
    sales made before the read and not ingested, split by the item they were made under (migration 0056, review60b
    F1): the hold's units still standing (the ledger's units since the push taken off them first, as
    `standing_units` does) are of the hold's item (`_held_for`), the rest, a sale its push never saw, of the record's
    item (`_pushed_for`; review60 F2's move and back: CAP pushed 20, a sale of 3 unseen, read 17, linked to NEW,
    then back to CAP, whose push wrote 20). Those of `item_id` stay as the link's hold (`kept`); those of another
    item are its moved hold (review60 F3): of one item, or of two (migration 0063: a split hold's two parts moved to a
    third item; review62 R1's read variant, the one-item moved hold dropped HAT's 2 and HAT's other shops sold them
    again), the one with more units (the hold's on a tie) its `moved_hold_item_id` with its units, the other its
    rest (`hold_parts`). Three items (a split carried under a third item's push that then sold unseen too, moved to a
    fourth) keep the two with more units. Held since the push's hold began (the hold's units), else since the read;
    without the push's running count (pushed before migration 0011), the recorded hold alone. None without a push
    record."""
    if previous.pushed_quantity is None:
        return None
    ingested, released = await _running_units(session, previous.shop_id, previous.tiktok_sku_id)
    held = max(0, previous.held_quantity)
    if previous.ingested_at_push is None:
        total, standing = held, held
    else:
        restored = previous.restored_quantity if previous.restored_since is not None else 0
        released_since = released - (previous.released_at_push if previous.released_at_push is not None else released)
        applied = ingested - previous.ingested_at_push
        total, _ = fence_counts(previous.pushed_quantity, row.quantity, applied, held, restored, released_since)
        standing = min(total, max(0, held - max(0, applied)))
    held_item, record_item = _held_for(previous), _pushed_for(previous)
    # (a hold a push restarted carrying another item's units: each part with its item, `hold_parts`, review61 F2)
    held_parts = hold_parts(standing, held_item, previous.held_item_quantity, previous.held_rest_item_id)
    by_item: dict[str | None, int] = dict(held_parts)
    by_item[record_item] = by_item.get(record_item, 0) + total - standing
    kept = held_parts.get(item_id, 0)
    units = {item: n for item, n in by_item.items() if item is not None and item != item_id}
    if not units:
        return _LeftByMove(kept, None, item_id)
    moved_item, *rest = sorted(units, key=lambda item: (units[item], item == held_item), reverse=True)
    held_since = previous.held_since if held > 0 and previous.held_since is not None else None
    since = held_since if moved_item in held_parts and held_since is not None else read_at
    if not rest:
        return _LeftByMove(kept, _MovedHold(moved_item, units[moved_item], since, ingested, read_at), item_id)
    # (two items: the larger part is the moved hold's item, the other its rest; held since the later of the two
    # starts, the read's when a part is a sale the push never saw: neither part is let go before its own horizon)
    rest_item = rest[0]
    if rest_item not in held_parts or held_since is None:
        since = read_at
    moved = _MovedHold(
        moved_item, units[moved_item] + units[rest_item], since, ingested, read_at, units[moved_item], rest_item
    )
    return _LeftByMove(kept, moved, item_id)


async def _hold_again(session: AsyncSession, previous: Any, sku_id: str, item_id: str) -> None:
    """A link moved by hand back to the item of its moved hold (`moved_hold_item_id`) holds those units again: its
    hold (`held_quantity`) gains them, less what the ledger applied between the moved hold's count and the link's
    fence count (`ingested_at_push`: its next push subtracts what comes after), since the earlier of the two holds'
    starts; the moved hold goes (unless this change kept another one). The item's pool still counts those sales
    (not ingested), and the link's baseline (the other item's push, or a read) already left them out: without the
    hold, its push put them back on sale (review60 F2's move and back: 20 where the shelf had 17). The hold's
    horizon applies as to any hold (`carried_hold`, from `moved_hold_since`); the hold is then of that item
    (`held_item_id`). A moved hold of two items (migration 0063) gives the link that item's part (`hold_parts`) and
    keeps the other part as its moved hold, of that item alone, as it stands now (the moved hold's own sales applied
    since its count taken off, `ledger._counted_before_push`), counted from the shop's running count now
    (A->B->C->A: CAP's 3 held again by CAP's link, HAT's 2 still HAT's, and a CAP sale since takes none of them:
    review64 F4). Three statements at most."""
    parts = (previous.moved_hold_item_id, previous.moved_hold_rest_item_id)
    if item_id not in parts or previous.moved_hold_quantity <= 0:
        return
    links = sku_links.c
    now = (
        await session.execute(
            select(links.held_quantity, links.held_since, links.ingested_at_push).where(links.sku_id == sku_id)
        )
    ).one()
    applied = (
        0
        if now.ingested_at_push is None or previous.moved_hold_ingested_at_push is None
        else max(0, now.ingested_at_push - previous.moved_hold_ingested_at_push)
    )
    standing = max(0, previous.moved_hold_quantity - applied)
    by_item = hold_parts(
        standing, previous.moved_hold_item_id, previous.moved_hold_item_quantity, previous.moved_hold_rest_item_id
    )
    units = by_item.get(item_id, 0)
    since = previous.moved_hold_since
    if now.held_quantity > 0 and now.held_since is not None and (since is None or now.held_since < since):
        since = now.held_since
    if units > 0 and since is not None:
        held = update(sku_links).where(links.sku_id == sku_id)
        await session.execute(
            held.values(
                held_quantity=links.held_quantity + units,
                held_since=since,
                held_item_id=item_id,
                held_item_quantity=None,
                held_rest_item_id=None,
            )
        )
    # (the moved hold as `previous` read it: this change kept no other one, `_fence_anew`)
    again = update(sku_links).where(
        links.sku_id == sku_id,
        links.moved_hold_item_id == previous.moved_hold_item_id,
        links.moved_hold_quantity == previous.moved_hold_quantity,
    )
    other = next((item for item in by_item if item != item_id), None)
    if other is None:
        await session.execute(again.values(**_MOVED_HOLD_FORGOTTEN))
        return
    # (the other part as it stands now, counted from now on: the SKU's running count gains only that moved hold's own
    # sales, `ledger._counted_before_push`; a CAP sale after the link back is none of HAT's, review64 F4)
    counted, _ = await _running_units(session, previous.shop_id, previous.tiktok_sku_id)
    if previous.moved_hold_ingested_at_push is not None:
        own = max(0, counted - previous.moved_hold_ingested_at_push)
        now_parts = hold_parts(
            max(0, previous.moved_hold_quantity - own), previous.moved_hold_item_id,
            previous.moved_hold_item_quantity, previous.moved_hold_rest_item_id,
        )  # fmt: skip
        by_item[other] = min(by_item[other], now_parts.get(other, 0))
    await session.execute(
        again.values(
            moved_hold_item_id=other,
            moved_hold_quantity=by_item[other],
            moved_hold_ingested_at_push=counted,
            moved_hold_item_quantity=None,
            moved_hold_rest_item_id=None,
        )
    )


def _running_units_now() -> dict[str, Any]:
    """The values of an UPDATE of `sku_links` that set a link's fence counts (`ingested_at_push`,
    `released_at_push`) to its shop's running units of its SKU now (`sku_ledger_units`; 0 without a row), as a push
    keeps them: the baselines' count of their instant."""
    links, units = sku_links.c, sku_ledger_units.c
    of_sku = and_(units.shop_id == links.shop_id, units.tiktok_sku_id == links.tiktok_sku_id)
    return {
        "ingested_at_push": func.coalesce(select(units.ingested).where(of_sku).scalar_subquery(), 0),
        "released_at_push": func.coalesce(select(units.released).where(of_sku).scalar_subquery(), 0),
    }


async def _keep_join_baselines(
    session: AsyncSession, shop_id: str, joining: Mapping[str, tuple[str, int, datetime]]
) -> None:
    """The push fence's baseline of each link of `joining` (SKU id -> (TikTok SKU id, TikTok's available as its
    product page read it, `skus.quantity`; when the page's stock was read, its request)) that joined an existing item
    in this transaction and was never pushed (README, "A link's first push is fenced"). Run once `relink_lines` has
    applied the links' waiting lines, it keeps, as one instant: the shop's running units of the SKU now
    (`ingested_at_push`, `released_at_push`; 0 without a row), and TikTok's available as the pool counts it then
    (`seeded_available`): the quantity read less the units of the shop's lines of the SKU of orders created since the
    read (`counted_in_stock` false) that the ledger has, RESERVED or DEDUCTED (in the count: TikTok's available lost
    them after the read) or shipped and history (never counted, lost too). Lines of orders created before the read
    are in the count and were never in the quantity read (TikTok had committed them): they pair as they are. A line
    the ledger applies later counts as applied since, as after a push, except one of an order created before the
    read (`baseline_read_at`, kept): it adds itself to `ingested_at_push` (`ledger._counted_before_push`). A link
    pushed already keeps its push's baseline. The caller holds the shop's link changes exclusively
    (`hold_shop_links`): no order batch moves the count meanwhile. One read, one executemany."""
    if not joining:
        return
    read_at = {tiktok_sku_id: at for tiktok_sku_id, _, at in joining.values()}
    lines, stored_orders = order_line_stock.c, orders.c
    of_order = and_(stored_orders.shop_id == lines.shop_id, stored_orders.tiktok_order_id == lines.tiktok_order_id)
    skus = among(lines.tiktok_sku_id, sorted(read_at), dialect_of(session))
    made_since = stored_orders.created_at >= min(read_at.values()) - timedelta(seconds=1)  # (exact rule below)
    applied = (
        select(lines.tiktok_sku_id, stored_orders.created_at, func.sum(lines.quantity))
        .join(orders, of_order)
        .where(
            lines.shop_id == shop_id, skus, made_since, LEDGER_BY_SKU,
            lines.state.in_((LineState.RESERVED.value, LineState.DEDUCTED.value)),
        )
        .group_by(lines.tiktok_sku_id, stored_orders.created_at)
    )  # fmt: skip
    # (history is not in the ledger's index by SKU, migration 0068: found by the orders made since the read)
    query: CompoundSelect[Any] = union_all(applied, _history_since(shop_id, skus, made_since))
    since: dict[str, int] = {}
    for sku, created_at, quantity in (await session.execute(query)).all():
        if not counted_in_stock(created_at, read_at[sku]):
            since[sku] = since.get(sku, 0) + int(quantity)
    links = sku_links.c
    statement = (
        update(sku_links)
        .where(links.sku_id == bindparam("b_sku_id"), links.pushed_at.is_(None))
        .values(
            seeded_available=bindparam("b_available"),
            baseline_read_at=bindparam("b_read_at", type_=links.baseline_read_at.type),
            **_running_units_now(),
        )
    )
    rows = [
        {"b_sku_id": sku_id, "b_available": quantity - since.get(tiktok_sku_id, 0), "b_read_at": at}
        for sku_id, (tiktok_sku_id, quantity, at) in sorted(joining.items())
    ]
    await session.execute(statement, rows)


async def _create_items(
    session: AsyncSession, shop_id: str, merchant_id: str, decisions: Sequence[LinkDecision], rows: Mapping[str, Any],
    items: dict[str, str], now: datetime, stock_read_at: Mapping[str, datetime],
) -> tuple[dict[str, str], dict[str, int], dict[str, datetime]]:  # fmt: skip
    """Create the items the `decisions` link that `items` (seller SKU -> item id, as read) lacks, each seeded from
    the TikTok stock of the shop's first SKU linking it (`seed_on_hand`), as read at `stock_read_at` of its product
    or at the stored product's read when later (`_read_of`: the quantity's own read); `now` when not given, or when
    given later: a clock ahead of ours would count orders after the read into it.
    Returns the items as they are now, the seeds of those created here (item id -> on-hand) and, by id of the SKU
    rows (`rows`, by SKU id) seeding them, the instant their stock was read."""
    # A set: a first import brings thousands of new seller SKUs at once.
    wanted_new = {d.item_sku for d in decisions if d.item_sku is not None and d.item_sku not in items}
    if not wanted_new:
        return items, {}, {}
    missing = sorted(wanted_new)
    first_of = {d.item_sku: rows[d.sku_id] for d in decisions if d.item_sku in wanted_new}
    read_at = {
        r.id: min(now, _read_of(r, stock_read_at)) if r.tiktok_product_id in stock_read_at else now
        for r in first_of.values()
    }
    open_units = await _open_pending_units(
        session, shop_id, {r.tiktok_sku_id: read_at[r.id] for r in first_of.values()}
    )
    new = [
        {"id": uuid.uuid4().hex, "merchant_id": merchant_id, "sku": sku, "sku_search": sku_search_key(sku),
         "on_hand": 0, "reserved": 0, "safety_stock": 0, "version": 1, "created_at": now, "updated_at": now}
        for sku in missing
    ]  # fmt: skip
    # `ON CONFLICT DO NOTHING`: an item another transaction created first is theirs, read back by its SKU.
    if dialect_of(session) == "postgresql":
        # The rows by COPY and one move that returns the items it created (the others are read back): before, an
        # executemany that PostgreSQL ran once per row, then a read of every SKU (bench/README.md, stop 74)
        records = [tuple(row[c] for c in _ITEM_COLUMNS) for row in new]
        created: dict[str, str] = dict(
            await copy_and_move(session, inventory_items.name, _ITEM_COLUMNS, records, _POSTGRES_INSERT_ITEMS,
                                returning=True)
        )  # fmt: skip
        taken = [sku for sku in missing if sku not in created]
        items = {**items, **created, **(await _item_ids(session, merchant_id, taken) if taken else {})}
    else:  # SQLite: one executemany straight to the driver (no per-value processing), then the SKUs read back
        await sqlite_executemany(session, _INSERT_ITEMS, sqlite_tuples(new, _ITEM_COLUMNS, _ITEM_TIMES))
        items = {**items, **await _item_ids(session, merchant_id, missing)}
    ours = {row["id"] for row in new}  # (the rows whose ids are ours are the ones created)
    seeds: dict[str, int] = {}
    seeding: dict[str, datetime] = {}  # SKU ids whose shop's TikTok stock seeded a new item now: when it was read
    for sku in missing:
        created_id = items.get(sku)
        if created_id is not None and created_id in ours:
            row = first_of[sku]
            units = open_units.get(row.tiktok_sku_id, (0, 0))
            seeds[created_id] = seed_on_hand(row.quantity, *units)
            seeding[row.id] = read_at[row.id]
    return items, seeds, seeding


def _read_of(row: Any, stock_read_at: Mapping[str, datetime]) -> datetime:
    """When the stock of a SKU row (`skus.quantity`, read in this transaction) was read at TikTok, for a product of
    the page being written (`stock_read_at`: TikTok product id -> the page's read; KeyError for another): the later
    of the page's read and the stored product's (`products.stock_read_at`, migration 0020), a true pair with the
    quantity either way. The page's product written, both are the same; unchanged (same values), the page saw the
    stored quantity, later; older than the stored one (an earlier `update_time`, not written), the stored quantity
    is a later read's. Paired with the page's read, that quantity had its sales between the two reads subtracted
    twice: a joining link's baseline that many units low (unseen sales hidden), a seed that many short for good."""
    page: datetime = stock_read_at[row.tiktok_product_id]
    stored: datetime | None = row.stock_read_at
    return page if stored is None else max(page, stored)


def _pushed_for(previous: Any) -> str | None:
    """The item a stored link's push record (`pushed_quantity`) was made for: the one the push recorded
    (`pushed_item_id`, migration 0056: a SKU moved by hand keeps its record when the move's read is older, review60b
    F1); recorded before it, the item it names when LINKED, else the item it remembers since the merchant's unlink
    (`unlinked_item_id`; None: none), the one `_kept` compares a link back with."""
    if previous.pushed_item_id is not None:
        return str(previous.pushed_item_id)
    was = standing_state(previous.state, previous.inventory_item_id)
    item: str | None = previous.inventory_item_id if was is LinkState.LINKED else previous.unlinked_item_id
    return item


def _held_for(previous: Any | None) -> str | None:
    """The item the sales a stored link's hold stands for were made under (`domain.inventory.links.hold_item`; None:
    no hold, or no link)."""
    if previous is None:
        return None
    p = previous
    return hold_item(p.held_quantity, p.held_item_id, p.state, p.inventory_item_id, p.unlinked_item_id, p.source,
                     p.unlinked_at)  # fmt: skip


def _hold_items(previous: Any) -> set[str]:
    """The items a stored link's holds belong to (its own, `_held_for`; its moved hold's, `moved_hold_item_id` and
    its rest's, `moved_hold_rest_item_id`) and
    its push record's (`_pushed_for`: a hold begun at its next push is of it)."""
    moved = (previous.moved_hold_item_id, previous.moved_hold_rest_item_id) if previous.moved_hold_quantity > 0 else ()
    return {item for item in (_held_for(previous), _pushed_for(previous), *moved) if item is not None}


def _kept(previous: Any, item_id: str | None, now: datetime) -> tuple[_Remembered, datetime | None]:
    """What a link rewritten at `now` from `previous` (its row; None: none) to item `item_id` (None: no item) keeps,
    as `_link_row` takes it: not linked now, the item it remembers, that link's time (`remembered_on_unlink`) and
    when the SKU left it (`unlinked_since`); linked, the time it takes effect if not now (`relinked_since`: back to
    the item it remembers)."""
    if previous is None:
        return _FORGOTTEN, None
    was, remembered = standing_state(previous.state, previous.inventory_item_id), previous.unlinked_item_id
    if item_id is None:
        item, linked_at = remembered_on_unlink(was, previous.inventory_item_id, previous.linked_at, remembered)
        left_at = unlinked_since(
            previous.state, previous.inventory_item_id, previous.source, item, previous.unlinked_at, now
        )
        return (item, linked_at, left_at), None
    before = previous.inventory_item_id if was is LinkState.LINKED else remembered
    return _FORGOTTEN, relinked_since(was, before, previous.linked_at, item_id)


# What a link not LINKED remembers (`_link_row`): (`unlinked_item_id`, `linked_at`, `unlinked_at`)
_Remembered = tuple[str | None, datetime | None, datetime | None]
_FORGOTTEN: _Remembered = (None, None, None)


def _current(link: Any) -> tuple[LinkSource | None, LinkState | None, str | None]:
    """(source, state, item) of a stored link for `auto_link` (`ShopSku`); a DROPPED link whose SKU is back has no
    state that any decision keeps: it is written again."""
    if link is None:
        return None, None, None
    state = None if link.state == DROPPED else LinkState(link.state)
    return LinkSource(link.source), state, link.inventory_item_id


async def _links(session: AsyncSession, sku_ids: Sequence[str]) -> dict[str, Any]:
    if not sku_ids:
        return {}
    query = select(sku_links).where(among(sku_links.c.sku_id, sku_ids, dialect_of(session)))
    return {r.sku_id: r for r in (await session.execute(query)).all()}


async def _linked_by_hand_before(
    session: AsyncSession, shop_id: str, merchant_id: str, unlinked: Sequence[Any]
) -> dict[str, str]:
    """By SKU id, the item each SKU row of `unlinked` (the shop's SKUs with no link yet) is linked to by hand again:
    the links the merchant's latest delete of an earlier connection of the shop's TikTok shop kept for its TikTok SKU
    (`deleted_shop_links`, its `source`: migration 0045), as `domain.inventory.links.relinked_by_hand` reads them.
    The latest delete that kept any link of that TikTok shop: a SKU it kept none of (its item deleted since, the row
    with it, `ON DELETE CASCADE`) is not linked by an older delete's link, which the merchant may have changed since.
    One statement (none without SKUs); the items named exist as read."""
    if not unlinked:
        return {}
    kept = deleted_shop_links.c
    sku_of = {r.tiktok_sku_id: r.id for r in unlinked}
    tiktok_shop_id = select(shops.c.tiktok_shop_id).where(shops.c.id == shop_id).scalar_subquery()
    of_shop = and_(kept.merchant_id == merchant_id, kept.tiktok_shop_id == tiktok_shop_id)
    latest = select(func.max(kept.deleted_at)).where(of_shop).scalar_subquery()
    query = select(kept.tiktok_sku_id, kept.inventory_item_id, kept.source, kept.deleted_at).where(
        of_shop, kept.deleted_at == latest, among(kept.tiktok_sku_id, sorted(sku_of), dialect_of(session))
    )
    rows: dict[str, list[tuple[str, str | None, datetime]]] = {}
    for tiktok_sku_id, item_id, source, deleted_at in (await session.execute(query)).all():
        rows.setdefault(tiktok_sku_id, []).append((item_id, source, deleted_at))
    return {
        sku_of[tiktok_sku_id]: item_id
        for tiktok_sku_id, kept_links in rows.items()
        if (item_id := relinked_by_hand(kept_links)) is not None
    }


async def _existing_items(session: AsyncSession, item_ids: Iterable[str]) -> set[str]:
    """Those of `item_ids` that exist."""
    wanted = sorted(set(item_ids))
    query = select(inventory_items.c.id).where(among(inventory_items.c.id, wanted, dialect_of(session)))
    return set((await session.execute(query)).scalars()) if wanted else set()


async def _item_ids(session: AsyncSession, merchant_id: str, item_skus: Sequence[str]) -> dict[str, str]:
    if not item_skus:
        return {}
    query = select(inventory_items.c.sku, inventory_items.c.id).where(
        inventory_items.c.merchant_id == merchant_id, among(inventory_items.c.sku, item_skus, dialect_of(session))
    )
    return {sku: item_id for sku, item_id in (await session.execute(query)).all()}


def _history_since(shop_id: str, skus: ColumnElement[bool], made_since: ColumnElement[bool], *by: Any) -> Select[Any]:
    """The units of the shop's HISTORICAL lines asking a deduction (shipped when first seen) of SKUs `skus` and of
    orders `made_since` (a lower bound on `orders.created_at`), grouped by TikTok SKU id, `by` and the order's
    creation: (tiktok_sku_id, *by, created_at, units). The ledger's index by SKU holds no HISTORICAL line (migration
    0068: most of an import's), so they are found from the shop's orders made since (`orders (shop_id,
    created_at)`), each order's lines by the ledger's key: as many probes as orders made since, a stock read's
    seconds for an import's page; a hand link's product read of days ago walks those days' orders."""
    lines, stored_orders = order_line_stock.c, orders.c
    of_order = and_(lines.shop_id == stored_orders.shop_id, lines.tiktok_order_id == stored_orders.tiktok_order_id)
    return (
        select(lines.tiktok_sku_id, *by, stored_orders.created_at, func.sum(lines.quantity))
        .select_from(orders.join(order_line_stock, of_order))
        .where(
            stored_orders.shop_id == shop_id, made_since, skus, HISTORICAL_LINES,
            lines.wanted == StockEffect.DEDUCT.value,
        )
        .group_by(lines.tiktok_sku_id, *by, stored_orders.created_at)
    )  # fmt: skip


async def _open_pending_units(
    session: AsyncSession, shop_id: str, stock_read_at: Mapping[str, datetime]
) -> dict[str, tuple[int, int]]:
    """Per TikTok SKU id (`stock_read_at`: TikTok SKU id -> when its seeding stock was read), the units its seed
    counts in and out (`seed_on_hand`): (open, shipped since the read).

    Open: units of the shop's open order lines about to reserve on the new item that the stock read already left
    out: lines waiting for a link, and those RESERVED on the item the SKU linked to before (a seller SKU renamed in
    Seller Center), which `relink_lines` moves to the new item, taking their units off the old item's on-hand
    (`ledger.carries_its_units`: every open order's unit is in the seed), of orders created before the read
    (`counted_in_stock`). An order created since (while the page was on its way to being written) still has its
    units in the stock read: it reserves them on the new item and adds none. A line whose order is no longer
    stored (retention) is an old one: counted.
    Shipped since the read: units of the shop's lines of orders created since the read whose status asks a
    deduction, whatever their state (history while unlinked, or deducted on the item linked before): their
    units were in the stock read and are gone, and the ledger never deducts them from the new item."""
    lines, stored_orders = order_line_stock.c, orders.c
    # (of recent orders only: the reads are this page's, seconds old; the exact rule is applied below)
    made_since = stored_orders.created_at >= min(stock_read_at.values()) - timedelta(seconds=1)
    skus = among(lines.tiktok_sku_id, sorted(stock_read_at), dialect_of(session))
    of_order = and_(stored_orders.shop_id == lines.shop_id, stored_orders.tiktok_order_id == lines.tiktok_order_id)
    waiting_or_applied = (
        select(lines.tiktok_sku_id, lines.wanted, stored_orders.created_at, func.sum(lines.quantity))
        .select_from(order_line_stock.outerjoin(orders, of_order))
        .where(
            lines.shop_id == shop_id,
            skus,
            LEDGER_BY_SKU,
            or_(
                and_(
                    lines.state.in_((LineState.PENDING_LINK.value, LineState.RESERVED.value)),
                    lines.wanted == StockEffect.RESERVE.value,
                ),
                and_(lines.wanted == StockEffect.DEDUCT.value, made_since),
            ),
        )
        .group_by(lines.tiktok_sku_id, lines.wanted, stored_orders.created_at)
    )
    # (history, shipped: not in the ledger's index by SKU, migration 0068: found by the orders made since the read)
    history = _history_since(shop_id, skus, made_since, lines.wanted)
    query: CompoundSelect[Any] = union_all(waiting_or_applied, history)
    units: dict[str, tuple[int, int]] = {}
    for sku, wanted, created_at, quantity in (await session.execute(query)).all():
        open_units, shipped = units.get(sku, (0, 0))
        in_stock = created_at is None or counted_in_stock(created_at, stock_read_at[sku])
        if wanted == StockEffect.RESERVE.value and in_stock:
            open_units += int(quantity)
        elif wanted == StockEffect.DEDUCT.value and not in_stock:
            shipped += int(quantity)
        units[sku] = (open_units, shipped)
    return units


def _link_row(
    shop_id: str, merchant_id: str, sku: Any, state: LinkState, source: LinkSource, item_id: str | None,
    now: datetime, stock_read_at: datetime | None = None, remembered: _Remembered = _FORGOTTEN,
    linked_since: datetime | None = None, seeded_from: str | None = None,
    baseline: tuple[int, int, int] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A link row written at `now`. `stock_read_at`: the link seeds its item from TikTok's stock read then; its
    stock counts at that instant, and so does the link (`ledger.order_timing`): a sale since then is in neither
    the stock read nor the orders seen, and is the pool's to count. `remembered`: a link's (`unlinked_item_id`,
    `linked_at`, `unlinked_at`) when it is not LINKED (unlinked by hand, AMBIGUOUS...),
    `domain.inventory.links.remembered_on_unlink`, `unlinked_since`; a LINKED link forgets them all.
    `linked_since`: a LINKED link's time when not `now` nor its stock's read
    (`domain.inventory.links.relinked_since`). `seeded_from`: the item whose count the seed copies
    (`domain.inventory.links.seed_copies`), kept only with a seed's read. `baseline`: a new row's push fence
    baseline (`seeded_available`, `ingested_at_push`, `released_at_push`; None: none), written only where no row is
    stored (`upsert_links`), checked by `_keep_seed_baselines`."""
    unlinked_item_id, linked_at, unlinked_at = remembered if state is not LinkState.LINKED else _FORGOTTEN
    if state is LinkState.LINKED:
        linked_at = linked_since or stock_read_at or now
    return {
        "sku_id": sku.id, "shop_id": shop_id, "merchant_id": merchant_id, "inventory_item_id": item_id,
        "tiktok_product_id": sku.tiktok_product_id, "tiktok_sku_id": sku.tiktok_sku_id,
        "seller_sku": trimmed(sku.seller_sku), "state": state.value, "source": source.value, "updated_at": now,
        "stock_counted_at": stock_read_at, "linked_at": linked_at, "unlinked_item_id": unlinked_item_id,
        "unlinked_at": unlinked_at,
        "seeded_item_id": item_id if stock_read_at is not None else None,
        "seeded_from_item_id": seeded_from if stock_read_at is not None else None,
        **dict(zip(_BASELINE_COLUMNS, baseline or (None, None, None), strict=True)),
    }  # fmt: skip


# The push fence's baseline of a link never pushed (README, "A link's first push is fenced"): `upsert_links` writes
# them into a row it inserts, never over a stored row's (a push column)
_BASELINE_COLUMNS = ("seeded_available", "ingested_at_push", "released_at_push")


def _seed_baseline(seed: int) -> tuple[int, int, int]:
    """The baseline (`_BASELINE_COLUMNS`) of a link whose shop's stock seeds its new item with `seed` units on hand
    (`seed_on_hand`), as `_keep_seed_baselines` keeps it once `relink_lines` has run, when that moves no line of the
    SKU: the item's available is its seed (nothing reserved, safety stock 0 on a new item) and the shop's running
    units of the SKU are 0 (no `sku_ledger_units` row): the case of a shop's first products import before its orders.
    Written with the link's row, it spares `_keep_seed_baselines` a second write of the row it inserted (PostgreSQL
    checks both of its foreign keys again at an UPDATE of a row its own transaction inserted, and writes every index
    of the new version: 0.53 s of a 1,000-product import, bench/README.md, stop 74); where a line moved, that UPDATE
    writes the true one."""
    return seed, 0, 0


async def upsert_links(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert or update link rows; the push columns (pushed quantity, errors, drift) are left as they are. The time
    a link's stock seeded its item (`stock_counted_at`) stays, unless the row sets one, with the item it seeded
    (`seeded_item_id`, migration 0021): the ledger counts it while the link names that item (`on_seed`), on no other,
    as no stock of its shop seeded another item (counted there, an open order made before that read and first seen
    then was taken for one the seed had left out: it added its units to the other item's on-hand too, sold twice);
    renamed away and back, the link is on its seed again (forgotten, such an order reserved out of the seed: one
    unit short for good). A row written before 0021 (no seeded item) keeps it only while it names its item or none
    (AMBIGUOUS..., which may come back to it: `_ON_SEED`). On a link to another item, the read goes on as its
    `baseline_read_at` too (the later of the two): TikTok had left those orders out, so when the ledger first
    reserves one it still adds itself to the push fence's count of its last push (`ledger._counted_before_push`).
    The rows are written in `sku_id` order, the order every writer of links takes them in (`writer.lock_links`)."""
    if not rows:
        return
    rows = sorted(rows, key=lambda row: str(row["sku_id"]))
    columns = tuple(rows[0])
    if dialect_of(session) != "postgresql":  # SQLite: the same upsert straight to the driver
        await sqlite_executemany(session, _sqlite_link_upsert(columns), sqlite_tuples(rows, columns, _LINK_TIMES))
        return
    # PostgreSQL: the rows by COPY into a temporary table, then one INSERT ... SELECT with the same rule. Before, one
    # executemany of the upsert, which PostgreSQL executed once per row: 14.0 s of a 2,000-product first import's
    # 46.8 s at load 17, 2.8 s after (bench/README.md, "Benchmark 1's products import, stop 73").
    # A SKU given twice (none of this module's callers does) cannot be moved by one statement, which may change a row
    # once: its rows go in runs, the first of each SKU, then the second..., each SKU's in the order given, as the
    # per-row upsert did (a row changes its own SKU's link only).
    for run in _runs_of_distinct_skus(rows):
        records = [tuple(row[c] for c in columns) for row in run]
        await copy_and_move(session, sku_links.name, columns, records, _postgres_link_upsert(columns))


def _runs_of_distinct_skus(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """`rows` (sorted by `sku_id`) as runs in which no `sku_id` repeats: the n-th run holds each SKU's n-th row, in
    `sku_id` order; a single run when no SKU repeats."""
    runs: list[list[dict[str, Any]]] = []
    seen: dict[Any, int] = {}
    for row in rows:
        nth = seen.get(row["sku_id"], 0)
        seen[row["sku_id"]] = nth + 1
        if nth == len(runs):
            runs.append([])
        runs[nth].append(row)
    return runs


_ITEM_COLUMNS = (
    "id",
    "merchant_id",
    "sku",
    "sku_search",
    "on_hand",
    "reserved",
    "safety_stock",
    "version",
    "created_at",
    "updated_at",
)
_INSERT_ITEMS = (
    f"INSERT INTO inventory_items ({', '.join(_ITEM_COLUMNS)}) "  # noqa: S608 (names of our own table)
    f"VALUES ({', '.join('?' for _ in _ITEM_COLUMNS)}) ON CONFLICT DO NOTHING"
)
# PostgreSQL: `_create_items`' move (`bulk.copy_and_move`), the same rule as `_INSERT_ITEMS`, in SKU order (the order
# two imports of the merchant's shops insert the same SKUs in: neither waits for the other's later row while holding
# an earlier one), returning the items it created: (sku, id).
_POSTGRES_INSERT_ITEMS = (
    f"WITH moved AS (DELETE FROM {temporary_table(inventory_items.name)} RETURNING {', '.join(_ITEM_COLUMNS)}) "  # noqa: S608
    f"INSERT INTO inventory_items ({', '.join(_ITEM_COLUMNS)}) SELECT {', '.join(_ITEM_COLUMNS)} FROM moved "
    "ORDER BY sku ON CONFLICT DO NOTHING RETURNING sku, id"
)
_ITEM_TIMES = {"created_at", "updated_at"}
_LINK_TIMES = {"stock_counted_at", "linked_at", "unlinked_at", "updated_at"}
# `upsert_links`' rule, in SQL both dialects share (`excluded`: the row given; `sku_links`: the row as it was). A link
# given no seed's time is on its seed while it names the item its read seeded (`seeded_item_id`; for a row a release
# before migration 0021 wrote, the item it names or remembers having left), or none.
_ON_SEED = (
    "(excluded.inventory_item_id IS NULL OR excluded.inventory_item_id = "
    "coalesce(sku_links.seeded_item_id, sku_links.inventory_item_id, sku_links.unlinked_item_id))"
)
# The read stays with the item it seeded, whatever the link names meanwhile (the ledger applies it on that item
# alone); a row without that item (before 0021) keeps it only while on its seed, as before.
_STOCK_COUNTED_AT = (
    "CASE WHEN excluded.stock_counted_at IS NOT NULL THEN excluded.stock_counted_at "
    f"WHEN sku_links.seeded_item_id IS NOT NULL OR {_ON_SEED} THEN sku_links.stock_counted_at END"
)
_SEEDED_ITEM_ID = (
    "CASE WHEN excluded.stock_counted_at IS NOT NULL THEN excluded.seeded_item_id "
    f"WHEN sku_links.seeded_item_id IS NOT NULL OR {_ON_SEED} THEN sku_links.seeded_item_id END"
)
# The item the seed copied (migration 0030) goes with the seed: written with a read, kept while the read is.
_SEEDED_FROM_ITEM_ID = (
    "CASE WHEN excluded.stock_counted_at IS NOT NULL THEN excluded.seeded_from_item_id "
    f"WHEN sku_links.seeded_item_id IS NOT NULL OR {_ON_SEED} THEN sku_links.seeded_from_item_id END"
)
_BASELINE_READ_AT = (
    f"CASE WHEN excluded.stock_counted_at IS NOT NULL OR {_ON_SEED} OR sku_links.stock_counted_at IS NULL "
    "OR sku_links.baseline_read_at >= sku_links.stock_counted_at THEN sku_links.baseline_read_at "
    "ELSE sku_links.stock_counted_at END"
)


@functools.cache
def _link_updates(columns: tuple[str, ...]) -> str:
    """`upsert_links`' SET clause, the same SQL on both databases: the push columns untouched (a row's baseline,
    `_BASELINE_COLUMNS`, too: it is written only into a row inserted), `stock_counted_at`,
    the seeded items and `baseline_read_at` by its rule, every other given column but the keys from the row given."""
    kept = {"sku_id", "shop_id", "merchant_id", *_BASELINE_COLUMNS}
    rules = {
        "stock_counted_at": _STOCK_COUNTED_AT, "seeded_item_id": _SEEDED_ITEM_ID,
        "seeded_from_item_id": _SEEDED_FROM_ITEM_ID,
    }  # fmt: skip
    updates = [
        f"{c} = {rules.get(c, f'excluded.{c}')}" for c in columns if c not in kept
    ] + [f"baseline_read_at = {_BASELINE_READ_AT}"]  # fmt: skip
    return ", ".join(updates)


@functools.cache
def _sqlite_link_upsert(columns: tuple[str, ...]) -> str:
    """`upsert_links`'s statement for SQLite (built once per column list: `_link_row`'s, or a test's)."""
    return (
        f"INSERT INTO sku_links ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "  # noqa: S608
        f"ON CONFLICT (sku_id) DO UPDATE SET {_link_updates(columns)}"
    )


@functools.cache
def _postgres_link_upsert(columns: tuple[str, ...]) -> str:
    """`upsert_links`' move for PostgreSQL (`bulk.copy_and_move`): the temporary table's rows out, into `sku_links`
    in `sku_id` order (the order every writer of links takes them in: `writer.lock_links`), by `upsert_links`'
    rule."""
    listed = ", ".join(columns)
    return (
        f"WITH moved AS (DELETE FROM {temporary_table(sku_links.name)} RETURNING {listed}) "  # noqa: S608 (names of our own table)
        f"INSERT INTO sku_links ({listed}) SELECT {listed} FROM moved ORDER BY sku_id "
        f"ON CONFLICT (sku_id) DO UPDATE SET {_link_updates(columns)}"
    )


async def sku_for_hand_link(session: AsyncSession, merchant_id: str, sku_id: str) -> Any | None:
    """The merchant's SKU `sku_id` with its product (the columns `_link_row` writes from, its product's TikTok id,
    `stock_read_at` and status), read for a change by hand (`link_manually`, `created_from.create_item_from_sku`)
    with its shop held and the shop's link turn taken (`hold_shop_links`, exclusive); None when it is not the
    merchant's (its shop deleted, meanwhile too)."""
    query = (
        select(
            skus.c.id,
            skus.c.shop_id,
            skus.c.tiktok_sku_id,
            skus.c.seller_sku,
            skus.c.bundle,
            skus.c.quantity,
            products.c.tiktok_product_id,
            products.c.stock_read_at,
            products.c.status,
        )
        .join(products, products.c.id == skus.c.product_id)
        .where(skus.c.id == sku_id)
    )
    shop_id = (await session.execute(select(skus.c.shop_id).where(skus.c.id == sku_id))).scalar_one_or_none()
    # The shop is held before anything is written: a delete of it under way finishes first, and it is then gone.
    if shop_id is None or await merchant_of(session, shop_id, hold=True) != merchant_id:
        return None
    await hold_shop_links(session, shop_id, exclusive=True)
    # The SKU and its product read under the shop's link turn: an import holding it may store the product DELETED
    # (its links DROPPED) meanwhile, and a change that read them before would then make one of its SKUs LINKED or
    # UNLINKED again (a review: an unlink gave an open order's unit back to the item, sold once more everywhere).
    return (await session.execute(query)).first()


async def write_hand_link(
    session: AsyncSession, row: Any, previous: Any | None, merchant_id: str, item_id: str | None, now: datetime,
    dirty: list[str], seeds: Mapping[str, int] | None = None,
) -> PoolChange:  # fmt: skip
    """Write the merchant's link (`item_id`) or unlink (None) of the SKU `row` (`sku_for_hand_link`; `previous`: its
    link before, None for none) at `now`, the items `dirty` already held (`hold_relink`): the link row, the period the
    change ended, the items touched, its lines moved (`relink_lines`), and the push fence's baseline. `seeds`: the new
    item's seed from the SKU's stock read (item id -> on-hand, `created_from`), the link keeping that read
    (`stock_counted_at`) and its fence starting from the seed; else a link never pushed (or moved to another item
    after its product's read) is fenced from that read."""
    sku_id = row.id
    state, source = (LinkState.LINKED, LinkSource.MANUAL) if item_id is not None else unlinked_by_hand(row.bundle)
    read_at = min(now, row.stock_read_at) if row.stock_read_at is not None else None
    remembered, since = _kept(previous, item_id, now)
    link = _link_row(
        row.shop_id, merchant_id, row, state, source, item_id, now, read_at if seeds else None, remembered, since
    )
    # The seed's read (`stock_counted_at`) goes by `upsert_links`' rule, as for an import: kept with the item it
    # seeded, counted while the link names that item (`on_seed`), handed on as `baseline_read_at` when the merchant
    # links it to another item, which no stock of this shop seeded. (Forgotten at an unlink, an open order the read
    # had left out, first seen after it, reserved out of the seed's count: one unit short for good.)
    before = {sku_id: previous} if previous is not None else {}
    periods = _ended_periods([link], before, now)
    # linked back after the merchant's unlink to an item it had a period of here: the pause is that item's
    # (`resumed_pause`, soak59 F2), for a sale first seen after the link (the period) and for one waiting since
    # before it (`relink_lines`' `paused_on`, detour59b item 1)
    paused_on: dict[str, tuple[str, datetime]] = {}
    if previous is not None and item_id is not None:
        kept_on_item = await _had_period_on(session, row.shop_id, row.tiktok_sku_id, previous, item_id)
        resumed = resumed_pause(
            previous.state, previous.inventory_item_id, previous.source, previous.unlinked_item_id,
            previous.unlinked_at, item_id, kept_on_item, now,
        )  # fmt: skip
        # (kept from the first second after the unlink's: that second counts as before it, `sold_before_unlink`, as
        # for a sale first read while unlinked and across a delete, `paused_period`)
        pause = paused_period(resumed[1], resumed[2]) if resumed is not None else None
        if resumed is not None and pause is not None:
            periods.append(
                {"shop_id": row.shop_id, "tiktok_sku_id": row.tiktok_sku_id, "inventory_item_id": resumed[0],
                 "linked_at": pause.since, "ended_at": pause.deleted_at}
            )  # fmt: skip
            paused_on[row.tiktok_sku_id] = (resumed[0], resumed[1])
    await record_link_periods(session, row.shop_id, periods, now)
    await upsert_links(session, [link])
    await touch_items(session, _relinked([link], before), now)
    change = await relink_lines(
        session, row.shop_id, merchant_id, {row.tiktok_sku_id: item_id}, now, seeds=seeds, extra_dirty=dirty,
        paused_on=paused_on,
    )  # fmt: skip
    # A link never pushed and without a baseline yet (not a seed's, not a join's) is fenced from its product's last
    # stock read, as a joining link is from its page's (README, "A link's first push is fenced"): the SKU's quantity
    # as read less the sales since the read the ledger has, with the shop's running counts of this instant. The
    # quantity and its read are a pair, written together (a page that changed no value rewrites neither: an older
    # read of the same quantity, whose sales since are subtracted in full, holds back less, never more).
    # A SKU pushed under another item measures from that read too when it came after the push (`_fence_anew`,
    # review59b F3: a sale made under the item before, first seen after, was held back from this item's push).
    # The item the old push was made for: the one the link names, or, not linked now, the one it remembers (as
    # `_kept` compares): a link back to it keeps that push's record (review60 F2: a sale made under it and unseen,
    # left out of the read, was no longer held back: TikTok 20 where the shelf had 17).
    moved = previous is not None and _pushed_for(previous) != item_id
    # (the sales of the item it counted for before, left out of the read and not ingested, are kept as its moved hold
    # of that item: review60 F3, and F2's move and back)
    fenced_anew = False
    if item_id is not None and read_at is not None and moved:
        left = await _left_by_move(session, previous, row, read_at, item_id)
        fenced_anew = await _fence_anew(session, sku_id, read_at, left)
    unfenced = fenced_anew or previous is None or (previous.pushed_at is None and previous.seeded_available is None)
    if seeds:
        await _keep_seed_baselines(session, [sku_id])
    elif item_id is not None and read_at is not None and unfenced:
        await _keep_join_baselines(session, row.shop_id, {sku_id: (row.tiktok_sku_id, row.quantity, read_at)})
    if item_id is not None and previous is not None:
        await _hold_again(session, previous, sku_id, item_id)
    return change


async def link_manually(
    session: AsyncSession, merchant_id: str, sku_id: str, item_id: str | None, now: datetime, *,
    compare: bool = False, compare_item_id: str | None = None,
) -> PoolChange | None:  # fmt: skip
    """The merchant links SKU `sku_id` to item `item_id` (None: unlinks it); a MANUAL link survives imports (a
    bundle SKU unlinked is EXCLUDED, AUTO, as an import leaves it; `SKU_NOT_LINKABLE` to link one; `PRODUCT_DELETED`
    to link or unlink a SKU of a product TikTok reports DELETED, which the pool leaves out). A link
    with no push and no baseline yet keeps the push fence's baseline from its product's last stock read
    (`products.stock_read_at`, migration 0020; README, "A link's first push is fenced"); so does a link moved to
    another item whose push under the item before came before that read (`_fence_anew`, review59b F3).
    None when the SKU is not the merchant's; `NotFoundError` when the item is not (or no longer exists).
    `compare`: `SKU_LINK_CHANGED` unless the SKU draws on `compare_item_id` (None: no item) as read under the shop's
    link turn, before anything is written (a list read before another tab linked it, tryout58 F3)."""
    row = await sku_for_hand_link(session, merchant_id, sku_id)
    if row is None:
        return None
    if row.status == DELETED_PRODUCT_STATUS:  # linked or unlinked alike: its link stays DROPPED with its orders' item
        raise DomainError(
            ErrorCode.PRODUCT_DELETED,
            "This SKU's product was deleted at TikTok (status DELETED): TikTok sells it no more and refuses its "
            "stock, so it cannot be linked or unlinked; any open orders of it still count on the item they reserved.",
            ("skuId",),
        )
    if row.bundle and item_id is not None:
        raise DomainError(
            ErrorCode.SKU_NOT_LINKABLE,
            "A bundle (combo) SKU cannot be linked: its stock is TikTok's to derive from its parts (12052850).",
            ("skuId",),
        )
    previous = (await _links(session, [sku_id])).get(sku_id)
    if compare:
        link_compared(previous.state if previous else None, previous.inventory_item_id if previous else None,
                      compare_item_id)  # fmt: skip
    state, source = (LinkState.LINKED, LinkSource.MANUAL) if item_id is not None else unlinked_by_hand(row.bundle)
    if row.bundle and item_id is None and previous is not None and (previous.state, previous.source) == (state, source):
        return PoolChange()  # a bundle EXCLUDED already, as this would leave it: nothing to write
    dirty = [i for i in (item_id, previous.inventory_item_id if previous else None) if i is not None]
    # (and the items the link's hold and push record belong to, and its moved hold's: the change may move a hold to
    # the link's moved hold, `_fence_anew`, or back, `_hold_again`, and those items' other links subtract it, fence61)
    # (those that still exist: `held_item_id`, `pushed_item_id` and `moved_hold_item_id` have no foreign key)
    if previous is not None and (more := _hold_items(previous) - set(dirty)):
        dirty += sorted(await _existing_items(session, more))
    # Every item the change writes, the new one included, is held at once in id order before the link names it
    # (`hold_relink`): an import's relink or a shop's delete removing the item meanwhile (`shop_items`) finishes first,
    # and it is then gone (NOT_FOUND), rather than the link failing on the foreign key; and no writer holding a lower
    # item of the set deadlocks with this one, as it did while the new item was taken first on its own.
    await hold_relink(session, row.shop_id, [row.tiktok_sku_id], dirty)
    if item_id is not None and await get_item(session, item_id, merchant_id) is None:
        raise NotFoundError("Inventory item", ("inventoryItemId",))
    return await write_hand_link(session, row, previous, merchant_id, item_id, now, dirty)
