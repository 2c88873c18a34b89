"""The links' side of the push (`SqlInventoryPushRepository` inherits it): linked SKUs with their items' counters and
warehouses, the ledger's sales since a push (the fence), push results and reconcile observations on `sku_links`."""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, exists, func, insert, literal, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ClauseElement

from adapters.db.repositories.inventory.writer import hold_shop_links, lock_links
from adapters.db.tables import (
    LEDGER_BY_SKU,
    inventory_items,
    inventory_push_outbox,
    order_line_stock,
    products,
    sku_ledger_units,
    sku_links,
    skus,
    warehouse_stocks,
)
from domain.inventory.links import DROPPED, HOLDS_ON_ITS_ITEM, LEFT_BY_IMPORT, LinkSource
from domain.inventory_push import LinkedSku, ProductPushOutcome, PushIntent
from domain.stored import ACTIVE_PRODUCT_STATUS

_outbox = inventory_push_outbox.c
_links = sku_links.c
_units = sku_ledger_units.c
LINKED = "LINKED"
EXCLUDED = "EXCLUDED"
AUTO = LinkSource.AUTO.value
HOLDS_ON, LEFT_BY = sorted(HOLDS_ON_ITS_ITEM), sorted(LEFT_BY_IMPORT)  # `holds_for`'s states, in a stable order


def on_sale(shop_id: Any, tiktok_product_id: Any) -> Any:
    """Whether the shop's product (columns of the row at hand) is on sale at TikTok as stored: no product of it is
    stored in any status but ACTIVATE (a draft, in review, failed review, deactivated by the seller or by TikTok,
    frozen, deleted: `domain.stored.ACTIVE_PRODUCT_STATUS`). Update Inventory refuses the others (12052901, DELETED
    12052048; live-sync.md sec. 1.1): no push claims their outbox rows (`inventory_push._ON_SALE`), and the reconcile
    reads none of their links (`reconcile_candidates`, `shops_to_reconcile`): what TikTok shows there is no drift of
    a value Shopbridge may write. A product not stored (none is: links come from stored SKUs) counts as on sale. One
    probe of the products' unique (shop_id, tiktok_product_id) index per row."""
    return ~exists(
        select(products.c.id).where(
            products.c.shop_id == shop_id,
            products.c.tiktok_product_id == tiktok_product_id,
            products.c.status != ACTIVE_PRODUCT_STATUS,
        )
    )


# Product ids per SELECT of `linked_skus_of`: each is a bound parameter, and with the shop and state the statement
# stays under SQLite's oldest limit (999; 32,766 since 3.32) and asyncpg's (32,767). A fenced push round claims up
# to 600 products (`PushDeps.fence_batch`): one statement.
LINKS_CHUNK = 900


class LinkPushState:
    _session: AsyncSession

    # -- links -------------------------------------------------------------------------------------------------------

    async def linked_skus(
        self, shop_id: str, tiktok_product_id: str, *, holds_since: datetime | None = None
    ) -> list[LinkedSku]:
        found = await self.linked_skus_of(shop_id, [tiktok_product_id], holds_since=holds_since)
        return found[tiktok_product_id]

    async def linked_skus_of(
        self, shop_id: str, tiktok_product_ids: Sequence[str], *, holds_since: datetime | None = None
    ) -> dict[str, list[LinkedSku]]:
        asked = list(dict.fromkeys(tiktok_product_ids))
        found: dict[str, list[LinkedSku]] = {product_id: [] for product_id in asked}
        for start in range(0, len(asked), LINKS_CHUNK):
            chunk = asked[start : start + LINKS_CHUNK]
            # `_linked` orders by TikTok SKU id: grouped by product, each list keeps `linked_skus`'s order.
            where = (_links.shop_id == shop_id, _links.tiktok_product_id.in_(chunk))
            for link in await self._linked(*where, holds_since=holds_since):
                found[link.tiktok_product_id].append(link)
        return found

    async def linked_products(self, shop_id: str) -> list[str]:
        query = (
            select(_links.tiktok_product_id)
            .where(_links.shop_id == shop_id, _links.state == LINKED, _links.inventory_item_id.is_not(None))
            .distinct()
        )
        return sorted((await self._session.execute(query)).scalars())

    async def reconcile_candidates(
        self, shop_id: str, now: datetime, *, holds_since: datetime | None = None
    ) -> list[LinkedSku]:
        # A row due later with no failed attempt is a push scheduled at its holds' end (`push_again_at`), not a
        # change to send: the product is reconciled as a clean one (a drift found marks it due now).
        scheduled = and_(_outbox.attempts == 0, _outbox.next_attempt_at > now)
        pending = select(_outbox.tiktok_product_id).where(
            _outbox.shop_id == shop_id,
            or_(and_(_outbox.dirty_version > _outbox.pushed_version, not_(scheduled)), _outbox.claimed_until > now),
        )
        return await self._linked(
            _links.shop_id == shop_id,
            _links.tiktok_product_id.not_in(pending),
            on_sale(_links.shop_id, _links.tiktok_product_id),  # TikTok refuses the others' stock: nothing to repair
            counted=False,
            holds_since=holds_since,
        )

    async def _linked(self, *where: Any, counted: bool = True, holds_since: datetime | None = None) -> list[LinkedSku]:
        """The LINKED links matching `where`; `counted`: with `LinkedSku.ingested` and `released` (the fence's;
        else 0), the shop's running units of each SKU (`sku_ledger_units`, kept by the ledger's writes) read in the
        statement that reads the items' counters, so both are of one instant (a line the ledger applies after the
        read is in neither, one applied before in both: `LinkedSku.ingested_since_push`). A lookup per link: a SUM
        over the SKU's lines, as before, grew with its order history. `holds_since`: with `held_elsewhere`
        and `held_elsewhere_since` (`_held_elsewhere`, `_held_elsewhere_since`), in the same statement."""
        query = _linked_select(counted, holds_since is not None).where(*where)
        parameters = {} if holds_since is None else {"holds_since": holds_since}
        found: dict[str, LinkedSku] = {}
        for row in (await self._session.execute(query, parameters)).all():
            known = found.get(row.sku_id)
            warehouses = (row.warehouse_id,) if row.warehouse_id else ()
            if known is None:
                found[row.sku_id] = LinkedSku(
                    row.sku_id,
                    row.tiktok_sku_id,
                    row.tiktok_product_id,
                    row.inventory_item_id,
                    row.available,
                    warehouses,
                    row.pushed_quantity,
                    row.pushed_at,
                    row.held_quantity,
                    row.held_since,
                    int(row.ingested),
                    row.ingested_at_push,
                    int(row.released),
                    row.released_at_push,
                    row.restored_quantity,
                    int(row.held_elsewhere),
                    row.seeded_available,
                    intent_of(row.push_intent),
                    held_elsewhere_since=row.held_since_min,
                    restored_since=row.restored_since,
                    pushed_item_id=row.pushed_item_id,
                    held_item_id=row.held_item_id,
                    held_rest_item_id=row.held_rest_item_id,
                )
            else:
                found[row.sku_id] = replace(known, warehouse_ids=known.warehouse_ids + warehouses)
        return list(found.values())

    async def ingested_since(self, shop_id: str, since: Mapping[str, datetime]) -> dict[str, int]:
        lines = order_line_stock.c
        counted: dict[str, int] = {}
        for tiktok_sku_id, at in since.items():
            query = select(func.coalesce(func.sum(lines.quantity), 0)).where(
                lines.shop_id == shop_id,
                lines.tiktok_sku_id == tiktok_sku_id,
                lines.state.in_(("RESERVED", "DEDUCTED")),
                lines.updated_at > at,
                LEDGER_BY_SKU,
            )
            counted[tiktok_sku_id] = int((await self._session.execute(query)).scalar_one())
        return counted

    async def ledger_counts(self, shop_id: str, tiktok_sku_ids: Collection[str]) -> dict[str, tuple[int, int]]:
        asked = sorted(set(tiktok_sku_ids))
        counts = dict.fromkeys(asked, (0, 0))
        if not asked:
            return counts
        query = select(_units.tiktok_sku_id, _units.ingested, _units.released).where(
            _units.shop_id == shop_id, _units.tiktok_sku_id.in_(asked)
        )
        for tiktok_sku_id, ingested, released in (await self._session.execute(query)).all():
            counts[tiktok_sku_id] = (int(ingested or 0), int(released or 0))
        return counts

    async def record_intents(
        self, shop_id: str, intents: Mapping[str, PushIntent], applied: Mapping[str, PushIntent]
    ) -> None:
        # Link by link in `sku_id` order, the order of every writer of links (`writer.lock_links`): the push takes no
        # link turn, and an import's link change or an order batch's fence counts write the same rows meanwhile. One
        # UPDATE a link (`_one_update`): a second one locked its items (`_one_update`'s why, lock63).
        for sku_id in sorted({*applied, *intents}):
            written: list[tuple[Any, ...]] = []
            if (earlier := applied.get(sku_id)) is not None:  # the push before, now known to be TikTok's: recorded so
                # (its landing unknown: as computed, `push_landing`; by the rules of its own answer's record)
                written.append(_push_record(earlier, landed_at=None))
            if (intent := intents.get(sku_id)) is not None:
                written.append(({"push_intent": intent_json(intent)},))
            await self._session.execute(
                update(sku_links)
                .where(_links.sku_id == sku_id, _links.shop_id == shop_id)
                .values(**_one_update(written))
            )

    async def hold_links(self, shop_id: str, sku_ids: Collection[str]) -> None:
        await lock_links(self._session, shop_id, sku_ids)

    async def record_link_results(self, shop_id: str, outcome: ProductPushOutcome, now: datetime) -> None:
        # Link by link in `sku_id` order, as `record_intents`; a link's own statements in `_link_results`' order, as
        # one UPDATE (`_one_update`: a second one locked its items, lock63).
        written = {*outcome.pushed, *outcome.failed, *outcome.withdrawn, *outcome.doubtful}
        for sku_id in sorted(written):
            if statements := _link_results(outcome, sku_id, now):
                await self._session.execute(
                    update(sku_links)
                    .where(_links.sku_id == sku_id, _links.shop_id == shop_id)
                    .values(**_one_update(statements))
                )

    async def replace_warehouses(self, shop_id: str, tiktok_sku_id: str, warehouse_ids: Sequence[str]) -> None:
        sku_row = (
            await self._session.execute(
                select(skus.c.id).where(skus.c.shop_id == shop_id, skus.c.tiktok_sku_id == tiktok_sku_id)
            )
        ).first()
        if sku_row is None:
            return
        stocks = warehouse_stocks.c
        kept = {
            row.warehouse_id: row.quantity
            for row in (await self._session.execute(select(warehouse_stocks).where(stocks.sku_id == sku_row.id)))
        }
        await self._session.execute(delete(warehouse_stocks).where(stocks.sku_id == sku_row.id))
        if warehouse_ids:
            await self._session.execute(
                insert(warehouse_stocks),
                [
                    {"sku_id": sku_row.id, "warehouse_id": w, "shop_id": shop_id, "quantity": kept.get(w, 0)}
                    for w in sorted(set(warehouse_ids))
                ],
            )

    async def hold_link_turn(self, shop_id: str) -> None:
        await hold_shop_links(self._session, shop_id, exclusive=False)

    async def record_observed(
        self, shop_id: str, observed: Mapping[str, int], drifted: Sequence[str], now: datetime
    ) -> None:
        # The shop's link turn, shared (as order batches take it: they do not wait for each other; the reconcile
        # holds it already, `hold_link_turn`, so it is taken again at once), then the rows in `sku_id` order, the
        # order of every writer of links (`writer.lock_links`). In the read's order (TikTok SKU id), without the
        # turn, while an import upserted the same links in its rows' order, each waited on the other (40P01: the
        # import's page aborted, an ERROR and a retry spent).
        await hold_shop_links(self._session, shop_id, exclusive=False)
        drift = set(drifted)
        for sku_id, quantity in sorted(observed.items()):
            values: dict[str, Any] = {"observed_quantity": quantity, "observed_at": now}
            if sku_id in drift:
                values["drift_count"] = _links.drift_count + 1
            await self._session.execute(
                update(sku_links).where(_links.sku_id == sku_id, _links.shop_id == shop_id).values(**values)
            )


def _one_update(statements: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """The values of one UPDATE of a link that writes what `statements` (at least one, each (values, *conditions
    added to the WHERE), as `_link_results` and `_push_record` give them) would write one after the other: the first
    one's conditions become a CASE per column (the column kept where they fail), a later statement's values replace
    an earlier one's. `ValueError` for a later statement with conditions or a value that reads the row (it would read
    the row as the earlier ones left it, this UPDATE reads it as it was): `_link_results`' and `record_intents'`
    later statements are constants.

    Why one UPDATE (lock63): PostgreSQL checks every foreign key of a row the transaction has written already
    (`RI_FKey_fk_upd_check_required`: the old row's xmin is its own), changed or not, taking `FOR KEY SHARE` on the
    items the link names (`inventory_item_id`, `unlinked_item_id`; the push changes neither, and the items its own
    columns name have no foreign key: `tables.sku_links`). The second UPDATE of the same link (the record, then the
    error and intent cleared) so locked items after links and outbox rows, against the pool's lock order
    (`adapters.db.repositories.inventory.writer`), and waited for an order batch holding them (`lock_items`, `FOR
    UPDATE`) that went on to that link or outbox row: 40P01, 7-24 aborts a minute with three shops of one merchant
    connected, each push and batch run again whole. Written once in its transaction, a link's UPDATE checks no foreign
    key: the push takes no lock on an item."""
    (first, *conditions), *later = statements
    values = dict(first)
    if conditions:
        holds = and_(*conditions)
        values = {name: case((holds, _as_sql(name, value)), else_=_links[name]) for name, value in values.items()}
    for then, *also in later:
        if also or any(isinstance(value, ClauseElement) for value in then.values()):
            raise ValueError("a later statement of a link's UPDATE must be unconditional constants")
        values.update(then)
    return values


def _as_sql(name: str, value: Any) -> Any:
    """`value` for column `name` of `sku_links` as SQL: a constant bound with the column's type (a CASE's branch is
    not typed by the column it is assigned to)."""
    return value if isinstance(value, ClauseElement) else literal(value, _links[name].type)


def _link_results(outcome: ProductPushOutcome, sku_id: str, now: datetime) -> list[tuple[Any, ...]]:
    """The statements `record_link_results` writes on the link of `sku_id`, as one UPDATE (`_one_update`), each as
    (values, *conditions added to the UPDATE's WHERE), in this order: pushed (its record, only on a link whose fence
    was not started anew since the push read it: `_not_fenced_anew`; then the error and intent cleared, whatever the
    link), failed, withdrawn (refused as a whole: TikTok kept what it had, nothing to show but the intent cleared),
    doubtful."""
    written: list[tuple[Any, ...]] = []
    if (record := outcome.record_of(sku_id, now)) is not None:
        written.append(_push_record(record, landed_at=now))
        cleared = {"push_error_code": None, "push_error_message": None, "push_intent": None, "updated_at": now}
        written.append((cleared,))
    if (error := outcome.failed.get(sku_id)) is not None:
        failed: dict[str, Any] = {
            "push_error_code": str(error.code),
            "push_error_message": error.message[:1000],
            "push_intent": None,  # refused: TikTok kept what it had
            "updated_at": now,
        }
        if sku_id in outcome.excluded:
            failed["state"] = EXCLUDED
        written.append((failed,))
    if sku_id in outcome.withdrawn:
        written.append(({"push_intent": None},))
    if (intent := outcome.doubtful.get(sku_id)) is not None:
        written.append(({"push_intent": intent_json(intent)},))
    return written


def _push_record(record: PushIntent, landed_at: datetime | None) -> tuple[Any, ...]:
    """The record of a push TikTok took on one link, `record` (what it sent and measured, as its intent holds it:
    `ProductPushOutcome.record_of`), as (values, *conditions added to the UPDATE's WHERE): written by the push itself
    on TikTok's answer (`record_link_results`, `landed_at` the answer's time) and by the next push for a push whose
    answer went unrecorded, taken as applied (`record_intents`' `applied`, `landed_at` None: unknown, `push_landing`
    takes it as computed). One rule for both (fence62: the intent's record carried no split of a restarted hold,
    review61 F2's relabelling again, and was written onto a link fenced anew, review61 F3's sale standing twice):
    `pushed_quantity` and its time, the hold and units restored, the fence counts (`ingested_at_push`,
    `released_at_push`: the ledger's counts read with the targets plus what order batches added to the columns since,
    `_counted_at`: `ledger._counted_before_push`'s units TikTok's available had lost before the baseline and releases
    of orders cancelled before the seeding read, ingested while the push was in flight; None when it read none), the
    items (`_items_of_push`, the carried units' split among them), only on a link
    not fenced anew since the read (`_not_fenced_anew`)."""
    pushed = bool(record.pushed_at_read)
    values = {
        "pushed_quantity": record.quantity, "pushed_at": record.at, "push_landed_at": landed_at,
        "held_quantity": record.held, "held_since": record.held_since,
        "ingested_at_push": _counted_at(record.ingested, record.ingested_base, record.item_id, pushed=pushed),
        "released_at_push": _counted_at(
            record.released, record.released_base, record.item_id, _links.released_at_push, pushed=pushed
        ),
        "restored_quantity": record.restored, "restored_since": record.restored_since, "seeded_available": None,
        **_items_of_push(record.item_id, record.held, record.held_since, record.held_carried),
    }  # fmt: skip
    return (values, *_not_fenced_anew(record.pushed_at_read))


def _not_fenced_anew(pushed_at_read: bool | None) -> tuple[Any, ...]:
    """The condition on a link under which a push's record (`pushed_quantity`, its hold, restored units, fence counts
    and items) is written on it: `domain.inventory_push.fenced_anew` in SQL, read as the UPDATE finds the row. A
    link pushed when the push read it (`pushed_at_read`: `ProductPushOutcome.base_pushed`,
    `PushIntent.pushed_at_read`) and found never pushed now was fenced anew meanwhile (`links._fence_anew`, a hand
    move to another item while the push read TikTok), the record and hold it had gone, its fence measured from its
    product's later read, and the old item's sales the read left out kept as its moved hold (`moved_hold_*`): the
    push's record and hold, measured against the record forgotten and of the old item, are not written over that
    (review61 F3: RED's push in flight wrote RED's hold of an unseen sale onto the link, and BLACK's push held that
    sale back again, 47 where BLACK's available was 48, the sale standing twice, as the link's hold and as RED's
    moved hold; fence62: the same through the intent the next push recorded). The same test as `_counted_at`'s for
    the counts. A link not pushed at the read (or not known to be, an intent written before fence62): no condition
    (no fence anew can start on it: `_fence_anew` forgets a push record only)."""
    return (_links.pushed_at.is_not(None),) if pushed_at_read else ()


def _items_of_push(item_id: str | None, held: int, held_since: datetime | None, carried: int = 0) -> dict[str, Any]:
    """The items a push's record names (migration 0056, review60b F1), as SQL values of the UPDATE that writes it
    (their right-hand sides read the row as it was): `pushed_item_id`, the item the push was made for (`item_id`, the
    item the link named at its read; None: the one it names); `held_item_id`, the item the sales its hold of `held`
    units (begun at `held_since`) stand for were made under: a hold carried (its start unchanged) keeps its item, a
    hold begun now is of the record it measured from (`pushed_item_id` as it was: a SKU linked by hand from CAP to
    HAT, CAP's record kept, has HAT's push hold CAP's unseen sale), or of the pushed item without one (a first push
    measures from a baseline of this item's link); none without a hold. This CASE is the write side of
    `domain.inventory.links.hold_item`'s case 2 (the rule's one statement is there), kept in SQL: the carried test
    and the record's item must be read from the row as the UPDATE finds it, not as the push read it (a hand link
    change may rewrite them between the two).

    `held_item_quantity` (migration 0059, review61 F2; read by `domain.inventory.links.hold_parts`): of the hold,
    the units of `held_item_id`, the rest `held_rest_item_id`'s (migration 0062); null: all `held_item_id`'s. A hold
    begun now that carries `carried` units of the last one (`domain.inventory_push.hold_carried`: restarted by a
    sale since the last push) whose item is another than the item its new units are of (the record's) keeps that
    item with the carried units it held (at most its part of the last hold: the older part, the one kept), the new
    units the record's item's, named as the rest's item (CAP's 3 carried by HAT's push, 2 more sold under HAT: 3
    CAP's, 2 HAT's; before, all 5 HAT's, and a link back to CAP kept none), whatever item the push is for (review62
    R0: the SKU linked straight back to CAP before any push under HAT saw HAT's 2, CAP's push named all 5 HAT's);
    all carried: all that item's. A hold carried keeps its split, its item's part at most the hold (the ledger takes
    the applied units of its item off it, the others come off the rest), and the rest's item whatever item this push
    is made for (review62 R1: rewritten with `pushed_item_id`, HAT's 2 became SOCK's, or CAP's, when the SKU was
    linked on before another products read). Three items (the record's, the pushed item's and the last hold's) are
    told apart the same way: the carried units the last hold's, the new ones the record's (those sold after the hand
    move and before this push are counted as the record's item's, as a hold begun now without a carried part counts
    them). A restarted split keeps its parts (`hold_parts` of the carried units), the new units joined to a part of
    the record's item, else its rest (review63 F2: the SKU linked straight back to CAP, CAP's next sale named all
    CAP's); two columns hold two items, so a split of two others restarted under a third's record names its rest's
    units the record's item's (a known limit)."""
    pushed_for = _links.inventory_item_id if item_id is None else literal(item_id, _links.pushed_item_id.type)
    carried_on = and_(
        _links.held_item_id.is_not(None),
        _links.held_since == literal(held_since, _links.held_since.type),
    )
    started = func.coalesce(_links.pushed_item_id, pushed_for)
    none_item, none_units = literal(None, _links.held_item_id.type), literal(None, _links.held_item_quantity.type)
    if held <= 0 or held_since is None:
        return {
            "pushed_item_id": pushed_for, "held_item_id": none_item, "held_item_quantity": none_units,
            "held_rest_item_id": none_item,
        }  # fmt: skip
    part = _links.held_item_quantity
    # (a split carried: its rest's item kept, `held_rest_item_id`, review62 R1; a split of 0059 without it: the
    # record's item, `pushed_item_id` as it was, what that split meant; never a rest of the part's own item: all of
    # it is that item's, review64 F5)
    kept_rest = func.coalesce(_links.held_rest_item_id, _links.pushed_item_id)
    two_items = or_(kept_rest.is_(None), kept_rest != _links.held_item_id)
    kept_part = case((and_(part.is_not(None), part < held, two_items), part), else_=none_units)
    kept_split = and_(carried_on, part.is_not(None), part < held, two_items)
    if carried <= 0:
        held_for = case((carried_on, _links.held_item_id), else_=started)
        return {
            "pushed_item_id": pushed_for, "held_item_id": held_for,
            "held_item_quantity": case((carried_on, kept_part), else_=none_units),
            "held_rest_item_id": case((kept_split, kept_rest), else_=none_item),
        }  # fmt: skip
    # (the last hold's units of its item: the older part, kept first, at most what is carried)
    last_part = func.coalesce(part, _links.held_quantity)
    carried_part = case((last_part < carried, last_part), else_=literal(carried))
    # The carried units told apart by the last hold's parts (`hold_parts`: its item's part first, the rest the rest's
    # item's), the new units the record's item's (review62 R0: a link straight back, CAP's push after HAT's record,
    # named all HAT's), whatever item the push is for; an item's units kept together: the older item (the part's, or
    # the rest's once the part is all seen) keeps its part, the other is the rest. review63 F2: the restart made a
    # split only when the last hold's item was not the record's, so a split whose part is the record's item (the
    # link straight back: CAP 3, rest HAT 2) restarted by CAP's next sale was named all CAP's, and one carried under
    # a third item's push named its rest's units that item's even when none was sold under it.
    restarted = and_(not_(carried_on), _links.held_item_id.is_not(None))
    two_carried = and_(part.is_not(None), carried_part > 0, carried_part < carried, kept_rest != _links.held_item_id)
    older = case((carried_part > 0, _links.held_item_id), else_=func.coalesce(kept_rest, started))
    if held - carried <= 0:  # no new units: the carried ones as they were held
        older_part = case((two_carried, carried_part), else_=none_units)
        rest = case((two_carried, kept_rest), else_=none_item)
    else:
        older_new = older == started  # (the new units join the older part; else they are the rest, whose carried
        # units, if of a third item, are named the record's: two columns hold two items, the report of review63 F2)
        older_part = case(
            (and_(older_new, two_carried), carried_part + (held - carried)), (older_new, none_units),
            (two_carried, carried_part), else_=literal(carried),
        )  # fmt: skip
        rest = case((and_(older_new, two_carried), kept_rest), (older_new, none_item), else_=started)
    return {
        "pushed_item_id": pushed_for,
        "held_item_id": case((carried_on, _links.held_item_id), (restarted, older), else_=started),
        "held_item_quantity": case((carried_on, kept_part), (restarted, older_part), else_=none_units),
        "held_rest_item_id": case((kept_split, kept_rest), (restarted, rest), else_=none_item),
    }


def _counted_at(
    count: int | None, base: int | None, item_id: str | None, column: Any = _links.ingested_at_push, *,
    pushed: bool = False,
) -> Any:  # fmt: skip
    """`count` (a ledger count a push read) plus the move of the link's `column` (`ingested_at_push`, or
    `released_at_push`) since it stood at `base` (None: not known, `count` as it is), in SQL: what order batches
    added to it meanwhile stays (`domain.inventory_push.carried_count`). Only while the link names `item_id`, the
    item it named then: moved to another since, its counts were set anew with its new baseline
    (`links._keep_seed_baselines`, `_keep_join_baselines`), no move of batches: `count` as it is. So too when the
    link had been pushed at the read (`pushed`) and is found never pushed now: a link change fenced it anew meanwhile
    (`links._fence_anew`, then `_keep_join_baselines`), though it names `item_id` again (linked to another item and
    back while the push read TikTok: the new baseline's count less the old one passed for batches' moves, and the
    next push held that many units back as sold unseen, soak59 F3)."""
    if count is None or base is None or item_id is None:
        return count
    moved = func.coalesce(column - base, 0)
    same = _links.inventory_item_id == item_id
    if pushed:
        same = and_(same, _links.pushed_at.is_not(None))
    return case((same, count + moved), else_=count)


@functools.cache
def _linked_select(counted: bool, holds: bool) -> Select[Any]:
    """`LinkPushState._linked`'s SELECT before its caller's `where`: the LINKED links with their items' counters and
    warehouses, ordered by TikTok SKU id then warehouse; `counted`: with the shop's running units of each SKU
    (`ingested`, `released`; else 0); `holds`: with `held_elsewhere` and `held_since_min` (`_held_elsewhere`,
    `_held_elsewhere_since`), whose horizon is the bind parameter `holds_since` (UTC; else 0 and NULL).

    Built once per (counted, holds), four at most, not at every read: each build made ~1,000 objects, the two
    subqueries' aliases of `sku_links` and `sku_ledger_units` with their column proxies, left as cyclic garbage
    that waits for the worker's rare older-generation collections (`workers/resources.py`,
    `YOUNG_GENERATION_THRESHOLD`; rss58), and ~1.8 ms of CPU per push read on the benchmark machine. The compiled
    cache covers only the compilation. A caller's `.where(...)` copies the SELECT, not its columns or subqueries."""
    items = inventory_items.c
    source = sku_links.join(inventory_items, items.id == _links.inventory_item_id).outerjoin(
        warehouse_stocks, warehouse_stocks.c.sku_id == _links.sku_id
    )
    if counted:  # the shop's running units of the SKU: no row, no counted line
        source = source.outerjoin(
            sku_ledger_units, and_(_units.shop_id == _links.shop_id, _units.tiktok_sku_id == _links.tiktok_sku_id)
        )
    return (
        select(
            _links.sku_id,
            _links.tiktok_sku_id,
            _links.tiktok_product_id,
            _links.inventory_item_id,
            _links.pushed_quantity,
            _links.pushed_at,
            _links.held_quantity,
            _links.held_since,
            _links.ingested_at_push,
            _links.released_at_push,
            _links.restored_quantity,
            _links.restored_since,
            _links.seeded_available,
            _links.push_intent,
            _links.pushed_item_id,
            _links.held_item_id,
            _links.held_rest_item_id,
            (func.coalesce(_units.ingested, 0) if counted else literal(0)).label("ingested"),
            (func.coalesce(_units.released, 0) if counted else literal(0)).label("released"),
            (items.on_hand - items.reserved - items.safety_stock).label("available"),
            warehouse_stocks.c.warehouse_id,
            (_held_elsewhere() if holds else literal(0)).label("held_elsewhere"),
            (_held_elsewhere_since() if holds else literal(None)).label("held_since_min"),
        )
        .select_from(source)
        .where(_links.state == LINKED)
        .order_by(_links.tiktok_sku_id, warehouse_stocks.c.warehouse_id)
    )


def _held_elsewhere() -> Any:
    """`domain.inventory_push.standing_hold` summed over the holds of the item's other links (any shop), as a scalar
    subquery correlated with `sku_links` (0 when none stands): per link, the units it held back at its last push
    (`held_quantity`, begun at or after `holds_since`: the horizon) less the units the ledger applied for it since
    (its shop's running count now less `ingested_at_push`; a release subtracting nothing; no count kept: 0), never
    below 0; and its moved hold the same way (`moved_hold_quantity` since `moved_hold_since`, less what the count
    gained since `moved_hold_ingested_at_push`). Only links holding something are read, by the item's indexes. The
    horizon is the bind parameter `holds_since`.

    A link's own hold counts for the item it belongs to (`domain.inventory.links.hold_item`, in SQL: `_hold_is_of`):
    the item its sales were made under as the hold recorded it (`held_item_id`, migration 0056: a SKU linked by
    hand from CAP to HAT whose push held CAP's unseen sale holds for CAP; fence61: for HAT, and CAP's other shops were
    pushed its units again until the sale was ingested); recorded before 0056, the item it holds for
    (`domain.inventory.links.holds_for`): those naming it LINKED, DROPPED from their product or EXCLUDED by a push
    (`HOLDS_ON_ITS_ITEM`: no longer pushed, their held sale still ships from the item's shelf; a DROPPED link's order
    reserves there once ingested, `counts_orders`), and those a products import left without it that remember it
    (`unlinked_item_id`, state AMBIGUOUS, NO_SELLER_SKU or EXCLUDED, `LEFT_BY_IMPORT`, or DROPPED from their product
    after that, AUTO: `left_by_import`): the sale held back was placed on the item's SKU and ships from its shelf,
    and once ingested it reserves (or deducts) on that item (`domain.inventory.ledger.first_seen_unlinked`), raising
    the link's running count, which then replaces the hold as for a LINKED link. Before, the hold stopped counting at
    the import (or the drop, or the push's exclusion, or the drop of a SKU an import had left), and until the sale
    was ingested the other shops were pushed its units again: sold twice (`tests/e2e/test_inventory_hold_unlinked.py`,
    `tests/integration/test_inventory_push_holds_left.py`, `tests/integration/test_db_inventory_shop_delete.py`). So
    do those the merchant unlinked (`UNLINKED`, and DROPPED after that) with the unlink's instant recorded
    (`unlinked_at`, migration 0036; `holds_remembered`): the held sales came before it and count on that item once
    ingested (`domain.inventory.ledger.sold_before_unlink`). One unlinked before 0036 holds for no item.

    A link's moved hold (`moved_hold_*`, migration 0054, `links._left_by_move`: the sales of the item the merchant
    moved its SKU from by hand, made under it and not ingested) counts for that item (`moved_hold_item_id`; fence61:
    it counted nowhere, and from the move to the sale's ingestion the item's other shops were pushed its units
    again). On the item of the link's own hold too, the larger of the two counts, as a shop's delete takes them
    (`ledger._sold_unseen`: both measure TikTok's fall of the same SKU). A moved hold of two items (migration 0063,
    the parts of a split hold the move left) counts each part for its item (`hold_parts`)."""
    holding = _holds_elsewhere()
    return holding.holders.add_columns(func.coalesce(func.sum(holding.standing), 0)).scalar_subquery()


def _held_elsewhere_since() -> Any:
    """When the earliest of the holds `_held_elsewhere` sums began (`sku_links.held_since`, or a moved hold's
    `moved_hold_since`; UTC) among those standing for at least a unit, as a scalar subquery correlated with
    `sku_links`; NULL when none stands. A push that subtracts them is due again at that hold's end
    (`domain.inventory_push.hold_ends`): the holder may never be pushed again to tell the other shops (a link DROPPED,
    EXCLUDED or left by an import; a moved hold, which no push of its link lets go)."""
    holding = _holds_elsewhere()
    return holding.holders.add_columns(func.min(holding.since)).where(holding.standing > 0).scalar_subquery()


@dataclass(frozen=True)
class _Holding:
    """`_holds_elsewhere`: the SELECT without columns over the item's other links holding for it (`holders`), a
    holder's standing units for the item (`standing`, >= 0) and since when they are held (`since`)."""

    holders: Any
    standing: Any
    since: Any


def _holds_elsewhere() -> _Holding:
    """The item's other links that hold for it since the bind parameter `holds_since` (see `_held_elsewhere`), with
    new aliases at each call: each of the two subqueries has its own (built once with `_linked_select`). Each OR arm
    of the WHERE reads `sku_links` through an index of its own (the item's, `unlinked_item_id`'s, `held_item_id`'s and
    `moved_hold_item_id`'s, migration 0058; `held_rest_item_id`'s where a hold is split, 0062), so PostgreSQL combines
    them (BitmapOr) and SQLite's OR optimisation looks each up, rather than scan the table per link read."""
    other, units = sku_links.alias("held_by"), sku_ledger_units.alias("held_units")
    item = _links.inventory_item_id
    now_counted = func.coalesce(units.c.ingested, 0)

    def left(quantity: Any, counted_at: Any) -> Any:  # units less those the ledger applied since, never below 0
        applied = now_counted - func.coalesce(counted_at, now_counted)
        return quantity - case((applied > 0, applied), else_=0)

    own = and_(other.c.held_quantity > 0, other.c.held_since >= bindparam("holds_since"))
    moved_standing = and_(other.c.moved_hold_quantity > 0, other.c.moved_hold_since >= bindparam("holds_since"))
    # (a moved hold of two items, migration 0063: its item's part and the rest's, each the arm of an index of its own,
    # told apart as the own hold's split is, `domain.inventory.links.hold_parts`)
    moved_split = other.c.moved_hold_item_quantity
    moved_rest = and_(moved_split.is_not(None), other.c.moved_hold_rest_item_id == item, moved_standing)
    moved = or_(and_(other.c.moved_hold_item_id == item, moved_standing), moved_rest)
    held_units = left(other.c.held_quantity, other.c.ingested_at_push)
    moved_all = left(other.c.moved_hold_quantity, other.c.moved_hold_ingested_at_push)
    moved_part = case((moved_split < moved_all, moved_split), else_=moved_all)
    moved_units = case(
        (and_(moved_split.is_not(None), other.c.moved_hold_item_id == item), moved_part),
        (and_(moved_split.is_not(None), other.c.moved_hold_rest_item_id == item), moved_all - moved_part),
        else_=moved_all,
    )
    # (one OR arm per index: an AND inside an arm's OR is not split into index lookups by PostgreSQL's planner)
    arms = [and_(arm, own) for arm in _hold_is_of(other.c, item)]
    # A hold a push restarted carrying another item's units (`held_item_quantity`, migration 0059, review61 F2:
    # `domain.inventory.links.hold_parts`): its item's part, the older, at most the units standing, counts for
    # `held_item_id`, the rest for `held_rest_item_id` (0062), the arm of an index of its own (its item never the
    # held one)
    split = other.c.held_item_quantity
    rest = and_(split.is_not(None), other.c.held_rest_item_id == item, own)
    arms.append(rest)
    item_part = case((split < held_units, split), else_=held_units)
    own_units = case(
        (and_(split.is_not(None), other.c.held_item_id == item), item_part),
        (and_(split.is_not(None), other.c.held_rest_item_id == item), held_units - item_part),
        else_=held_units,
    )
    held_here, moved_here = or_(*arms), moved
    units_here = case(
        (and_(held_here, moved_here), case((own_units > moved_units, own_units), else_=moved_units)),
        (held_here, own_units),
        (moved_here, moved_units),
        else_=0,
    )
    standing = case((units_here > 0, units_here), else_=0)
    since = case(
        (and_(held_here, moved_here), case((other.c.held_since < other.c.moved_hold_since, other.c.held_since),
                                           else_=other.c.moved_hold_since)),
        (held_here, other.c.held_since),
        else_=other.c.moved_hold_since,
    )  # fmt: skip
    holders = (
        select()
        .select_from(
            other.outerjoin(
                units, and_(units.c.shop_id == other.c.shop_id, units.c.tiktok_sku_id == other.c.tiktok_sku_id)
            )
        )
        .where(other.c.sku_id != _links.sku_id, or_(*arms, moved_here))
    )
    return _Holding(holders, standing, since)


def _hold_is_of(link: Any, item_id: Any) -> list[Any]:
    """Whether `link`'s own hold (the columns of `sku_links` or an alias of it) belongs to item `item_id`, as the arms
    of an OR: `domain.inventory.links.hold_item`'s cases 2 and 3 in SQL (case 1, no units held, is the caller's),
    kept in SQL as it is read for every link a push reads, in the statement that reads the items' counters. Each arm
    is a lookup of an index of its own (`_holds_elsewhere`)."""
    return [
        link.held_item_id == item_id,
        and_(link.held_item_id.is_(None), link.inventory_item_id == item_id, link.state.in_(HOLDS_ON)),
        and_(
            link.held_item_id.is_(None),
            or_(link.inventory_item_id.is_(None), link.state.not_in(HOLDS_ON)),
            link.unlinked_item_id == item_id,
            holds_remembered(link),
        ),
    ]


def left_by_import(link: Any) -> Any:
    """`domain.inventory.links.left_by_import` in SQL, over `link` (the columns of `sku_links` or an alias of it): a
    state an import leaves a link in without its item (`LEFT_BY_IMPORT`), or DROPPED from its product after that
    (AUTO: the merchant's unlink is MANUAL)."""
    return or_(link.state.in_(LEFT_BY), and_(link.state == DROPPED, link.source == AUTO))


def holds_remembered(link: Any) -> Any:
    """Whether a link not naming its item holds for the item it remembers (`domain.inventory.links.holds_for`), in
    SQL over `link` (the columns of `sku_links` or an alias of it): an import left it (`left_by_import`), or the
    merchant unlinked it with the instant recorded (`unlinked_at`, migration 0036)."""
    return or_(left_by_import(link), link.unlinked_at.is_not(None))


def intent_json(intent: PushIntent) -> str:
    """`sku_links.push_intent`'s text (migration 0024): the intent's fields, times in ISO 8601 with their
    offset."""
    return json.dumps(
        {
            "quantity": intent.quantity,
            "at": intent.at.isoformat(),
            "held": intent.held,
            "held_since": None if intent.held_since is None else intent.held_since.isoformat(),
            "ingested": intent.ingested,
            "released": intent.released,
            "restored": intent.restored,
            "failed": intent.failed,
            "ingested_base": intent.ingested_base,
            "item_id": intent.item_id,
            "released_base": intent.released_base,
            "restored_since": None if intent.restored_since is None else intent.restored_since.isoformat(),
            "held_carried": intent.held_carried,
            "pushed_at_read": intent.pushed_at_read,
        },
        separators=(",", ":"),
    )


def intent_of(text: str | None) -> PushIntent | None:
    """`intent_json`'s inverse; None for a null column."""
    if text is None:
        return None
    fields = json.loads(text)
    held_since, restored_since = fields["held_since"], fields.get("restored_since")  # None before migration 0053
    return PushIntent(
        quantity=fields["quantity"],
        at=datetime.fromisoformat(fields["at"]),
        held=fields["held"],
        held_since=None if held_since is None else datetime.fromisoformat(held_since),
        ingested=fields["ingested"],
        released=fields["released"],
        restored=fields["restored"],
        failed=fields.get("failed", False),
        ingested_base=fields.get("ingested_base"),
        item_id=fields.get("item_id"),
        released_base=fields.get("released_base"),
        restored_since=None if restored_since is None else datetime.fromisoformat(restored_since),
        held_carried=fields.get("held_carried", 0),  # (0 and None before fence62)
        pushed_at_read=fields.get("pushed_at_read"),
    )
