"""Read side: what a shop's sync tasks say about it, for `Shop.attention` (`domain.attention.SyncFacts`).

Per shop, when a poll last found a change and the latest finished task of each kind (FAILED there means the kind's
syncs are failing), each by one index seek newest first (migration 0027), whatever the length of the task history;
and its records that could not be read (`unreadable_records`, migration 0039: RECORDS_UNREADABLE); and its SKUs on
an item their seller SKU's rename seeded as a copy of another item's count, not settled (STOCK_COPIED).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    TextClause,
    UnaryExpression,
    exists,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.tables import (
    CHANGES_FOUND_WHERE,
    FINISHED_TASK_WHERE,
    HAND_MADE_MOVEMENTS,
    inventory_items,
    inventory_movements,
    shops,
    sku_links,
    sync_tasks,
    unreadable_records,
)
from domain.attention import CopiedStock, SyncFacts, Unreadable
from domain.errors import ErrorCode
from domain.inventory.links import LinkState
from domain.sync import SyncKind, SyncTaskStatus

t = sync_tasks.c
_LATEST = (t.finished_at.desc(), t.id.desc())  # a tie of finish times goes to the greater id
# LIMIT 1 as a literal, not a parameter: PostgreSQL's generic plans then know each seek reads one row
_ONE: ColumnElement[int] = literal_column("1")


def _newest(
    column: ColumnElement[Any], order: tuple[UnaryExpression[Any], ...], *where: ColumnElement[bool] | TextClause
) -> ScalarSelect[Any]:
    """`column` of the newest finished task (in `order`) among `where` of the shop in the outer row: one seek down
    the partial index whose predicate `where` repeats as a literal (`tables`: both planners use a partial index
    only where they can see the query's condition implies its predicate)."""
    return select(column).where(t.shop_id == shops.c.id, *where).order_by(*order).limit(_ONE).scalar_subquery()


def shop_sync_facts_query(merchant_id: str, shop_ids: Collection[str]) -> Select[Any]:
    """The merchant's shops among `shop_ids`, each with when a poll last found a change and the id of its latest
    finished task of each kind (`latest_<KIND>`): per shop one seek down ix_sync_tasks_changes_found_shop_id_finished_at
    and one per kind down ix_sync_tasks_finished_shop_id_kind_finished_at_id (migration 0027)."""
    return select(
        shops.c.id,
        _newest(t.finished_at, (t.finished_at.desc(),), CHANGES_FOUND_WHERE, FINISHED_TASK_WHERE).label(
            "changes_found_at"
        ),
        *(
            _newest(t.id, _LATEST, t.kind == kind.value, FINISHED_TASK_WHERE).label(f"latest_{kind.value}")
            for kind in SyncKind
        ),
    ).where(shops.c.merchant_id == merchant_id, shops.c.id.in_(list(shop_ids)))


async def shop_sync_facts(session: AsyncSession, merchant_id: str, shop_ids: Collection[str]) -> dict[str, SyncFacts]:
    """Facts per shop among `shop_ids` that are the merchant's (others are absent). Four statements for any number
    of shops (none for none; three when no shop has a finished task): the shops with their facts' seeks
    (`shop_sync_facts_query`: per shop 1 + len(SyncKind) index seeks of one row each), then their latest tasks by
    primary key, then their unreadable records (`_unreadable`), then their SKUs on a copied seed (`_copied_stock`,
    STOCK_COPIED; migrations 0069 and 0070). Its cost is per shop and kind, not per task. The figures below are of
    the first two statements only. One
    shop with 30,000 finished tasks (the probe; then the same with 3 in 4 of them polls, 1 in 20 finding a change),
    before -> after migration 0027 (the first two statements): SQLite 720,726 -> 128 VM steps (polls: 420,878 ->
    135), 27.5 -> 3.3 ms a call (24.8 -> 4.0); PostgreSQL 741 -> 18 shared buffers (1,488 -> 19), 25.3 -> 4.7 ms
    (33.5 -> 8.1): medians of 15 on a shared, loaded machine, where the "after" is mostly the session's own cost. It
    grouped the shops' whole task histories (3 statements).

    A shop whose latest tasks of several kinds failed is failing in the one that failed last; of tasks of one kind
    that finished at the same time, the one with the greater id is the latest."""
    if not shop_ids:
        return {}
    rows = (await session.execute(shop_sync_facts_query(merchant_id, shop_ids))).all()
    latest_ids = [task_id for row in rows for task_id in row[2:] if task_id is not None]
    failing: dict[str, tuple[datetime, str, str | None]] = {}  # shop id -> (finished at, kind, error code)
    if latest_ids:
        latest = select(t.shop_id, t.kind, t.status, t.error_code, t.finished_at).where(t.id.in_(latest_ids))
        for shop_id, kind, status, error_code, finished_at in await session.execute(latest):
            lost_authorization = error_code == ErrorCode.REAUTHORIZATION_REQUIRED.value  # the status says that one
            if status == SyncTaskStatus.FAILED.value and not lost_authorization:
                this = (finished_at, kind, error_code)
                failing[shop_id] = max(failing.get(shop_id, this), this, key=lambda each: each[:2])
    unreadable = await _unreadable(session, [row[0] for row in rows])
    copied = await _copied_stock(session, [row[0] for row in rows])
    facts: dict[str, SyncFacts] = {}
    for shop_id, changes_found_at, *_ in rows:
        since, kind, error_code = failing.get(shop_id, (None, None, None))
        facts[shop_id] = SyncFacts(
            changes_found_at=changes_found_at,
            failing_since=since,
            failing_kind=kind,
            unreadable=unreadable.get(shop_id),
            failing_code=error_code,
            copied_stock=copied.get(shop_id),
        )
    return facts


async def _unreadable(session: AsyncSession, shop_ids: list[str]) -> dict[str, Unreadable]:
    """Per shop among `shop_ids` with records that could not be read: their number and the first (by failure time,
    kind, TikTok id). One statement down the primary key (shop id first), none for no shop; it reads at most
    `MAX_UNREADABLE_RECORDS` rows per shop and kind."""
    if not shop_ids:
        return {}
    u = unreadable_records.c
    ranked = (
        select(
            u.shop_id,
            u.kind,
            u.tiktok_id,
            u.reason,
            u.failed_at,
            func.count().over(partition_by=u.shop_id).label("marked"),
            func.row_number().over(partition_by=u.shop_id, order_by=(u.failed_at, u.kind, u.tiktok_id)).label("rank"),
        )
        .where(u.shop_id.in_(shop_ids))
        .subquery()
    )
    r = ranked.c
    query = select(r.shop_id, r.kind, r.tiktok_id, r.reason, r.failed_at, r.marked).where(r.rank == 1)
    return {
        shop_id: Unreadable(count=marked, kind=kind, tiktok_id=tiktok_id, reason=reason, since=failed_at)
        for shop_id, kind, tiktok_id, reason, failed_at, marked in await session.execute(query)
    }


def copied_stock_query(shop_ids: list[str]) -> Select[Any]:
    """Per shop among `shop_ids`, its SKUs whose link still names the item its seller SKU's rename seeded as a copy
    of another item's count (`domain.attention` STOCK_COPIED: LINKED, `inventory_item_id = seeded_item_id`,
    `seeded_from_item_id` set), that item still there, and no movement of the merchant's hand (`HAND_MADE`) on the new
    item: (shop id, seller SKU, item SKU, copied item's SKU, item created at, how many of the shop's). Ranked by
    creation time then seller SKU: `rank` 1 is the first seeded. Through the partial index of links with a copied
    item (migration 0069: `seeded_from_item_id IS NOT NULL`, as the query says), a seek per shop; then per such link
    one probe of the partial index of hand-made movements (migration 0070: `kind IN ('ADJUSTED', 'CREATED', 'SET')`,
    stated literally), not a walk of the new item's every movement (review72c F1: 2 per unit sold)."""
    link, new, old = sku_links.c, inventory_items.alias("new_item"), inventory_items.alias("copied_item")
    moves = inventory_movements.c
    # the kinds literal (`HAND_MADE_MOVEMENTS`): bound, neither planner could match migration 0070's partial index
    by_hand = exists().where(moves.inventory_item_id == new.c.id, HAND_MADE_MOVEMENTS)
    ranked = (
        select(
            link.shop_id,
            link.seller_sku,
            new.c.sku.label("item_sku"),
            old.c.sku.label("copied_sku"),
            new.c.created_at,
            func.count().over(partition_by=link.shop_id).label("copies"),
            func.row_number()
            .over(partition_by=link.shop_id, order_by=(new.c.created_at, link.seller_sku, link.sku_id))
            .label("rank"),
        )
        .join(new, new.c.id == link.inventory_item_id)
        .join(old, old.c.id == link.seeded_from_item_id)
        .where(
            link.shop_id.in_(shop_ids),
            link.seeded_from_item_id.is_not(None),
            link.state == LinkState.LINKED.value,
            link.inventory_item_id == link.seeded_item_id,
            ~by_hand,
        )
        .subquery()
    )
    r = ranked.c
    return select(r.shop_id, r.seller_sku, r.item_sku, r.copied_sku, r.created_at, r.copies).where(r.rank == 1)


async def _copied_stock(session: AsyncSession, shop_ids: list[str]) -> dict[str, CopiedStock]:
    """Per shop among `shop_ids` with SKUs on an unsettled copied seed (STOCK_COPIED): their number and the first
    (`copied_stock_query`). One statement, none for no shop."""
    if not shop_ids:
        return {}
    return {
        shop_id: CopiedStock(
            count=copies, seller_sku=seller_sku or item_sku, item_sku=item_sku, copied_sku=copied_sku, since=created
        )
        for shop_id, seller_sku, item_sku, copied_sku, created, copies in await session.execute(
            copied_stock_query(shop_ids)
        )
    }
