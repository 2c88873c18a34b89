"""The order ledger: what each order line did to the pool, moved forward exactly once per state.

One row per (shop, order, line item, component); TikTok line items are one unit each (live-sync.md §3.2). An
ordinary line is one row of its own SKU (component `LINE_ITSELF`); a virtual bundle (combo) line is one row per
component, `sku_count` units of the component's SKU each, and never one of the bundle SKU, whose stock TikTok
derives from the components (live-sync.md §1.5, `stock_lines`). Every row, component or not, links through its
own SKU and follows the same transitions below. A line's status asks for an effect (`line_effect`, issue 8 and
live-sync.md §3.2, §3.5, §7.2): open statuses reserve, shipped ones deduct (on-hand and reserved both drop),
CANCELLED releases. The line's own `display_status` decides when TikTok gives one this version knows (an item-level
cancellation leaves the order open with one line CANCELLED; a PARTIALLY_SHIPPING order has lines shipped and lines
still to ship), the order's status otherwise; a line of an order TikTok fulfils (FBT) asks a release, as it never
draws on the merchant's shelf; a cancelled line whose package had left the shelf (`package_status`, lost or damaged
after shipping) asks a deduction: no automatic restock. `transition` moves a line's state, monotonically:

    (first seen, open)            -> RESERVED, or PENDING_LINK while the SKU has no item
    (first seen, shipped/cancel)  -> HISTORICAL: history, moves nothing (the import of past orders is safe)
    (first seen, SKU unlinked)    -> as a line reserved before the unlink (PENDING_LINK remembering the item the SKU
                                     was linked to) when open, or shipped and sold since that link took effect;
                                     else as above; but sold since that link (left by an import), or since it
                                     and before the merchant's unlink (`sold_before_unlink`): on that item at
                                     once, open RESERVED, shipped DEDUCTED (`first_seen_unlinked`)
    PENDING_LINK                  -> RESERVED once linked if still open, else HISTORICAL (TikTok's stock that seeded
                                     or fed the item already excluded the unit: never counted twice), but for a
                                     line reserved before its SKU was unlinked, shipped since and linked to that
                                     same item again: DEDUCTED (its units left that item's shelf); and for a line
                                     left out of the seed of the item it comes back to (`left_out_of_seed`): as
                                     first seen there, reserved in the seed then moved by its status
                                     (`in_seed_again`, `count_in_seed`)
    RESERVED                      -> DEDUCTED | RELEASED | PENDING_LINK (its SKU linked to another item: the units
                                     go back, then on to that item; left without an item, by the merchant's unlink
                                     or an import's, it stays RESERVED: `stays_reserved`); a
                                     line reserved in the seed and cancelled before the seed's read releases its
                                     units from on-hand too (`released_before_read`); a shipment the merchant's
                                     count already found gone takes its units off reserved only
                                     (`counted_after_shipment`, dated by `left_shelf_by`); one shipped before a link
                                     change moved the line deducts from the item it left (`shipped_before_relink`)
    DEDUCTED, RELEASED, HISTORICAL   final

An update whose order `update_time` is older than the one applied changes nothing; a replay of the same one
changes nothing either, nor does an open snapshot of the same `update_time` as a shipped or cancelled one applied
(TikTok's times are seconds; a line never reopens). So a re-import, a duplicated or reordered event, or two
workers applying the same order move the counters exactly once (the persistence side serialises writers on the
item rows).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from domain.catalog import OrderStatus
from domain.inventory.items import MovementKind
from domain.sync import ORDERS_MAX_WINDOW


class StockEffect(StrEnum):
    """The effect an order status asks of a line (`order_line_stock.wanted`)."""

    RESERVE = "RESERVE"
    DEDUCT = "DEDUCT"
    RELEASE = "RELEASE"


class LineState(StrEnum):
    """The effect applied so far (`order_line_stock.state`)."""

    # the SKU has no item (yet, or no longer: unlinked): applied when it gets linked. A line a merchant's unlink gave
    # back before try-out pool51 (today it stays RESERVED, `stays_reserved`) keeps the item it was reserved on
    # (`inventory_item_id`), whose counters no longer hold it; one first seen while unlinked, the item the SKU was
    # unlinked from (`first_seen_unlinked`)
    PENDING_LINK = "PENDING_LINK"
    RESERVED = "RESERVED"
    DEDUCTED = "DEDUCTED"
    RELEASED = "RELEASED"
    HISTORICAL = "HISTORICAL"  # shipped or cancelled when first seen (or while unlinked): moves nothing


OPEN_STATUSES = frozenset(
    {OrderStatus.UNPAID, OrderStatus.ON_HOLD, OrderStatus.AWAITING_SHIPMENT, OrderStatus.PARTIALLY_SHIPPING,
     OrderStatus.AWAITING_COLLECTION}
)  # fmt: skip
SHIPPED_STATUSES = frozenset({OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED, OrderStatus.COMPLETED})
FINAL_STATES = frozenset({LineState.DEDUCTED, LineState.RELEASED, LineState.HISTORICAL})
# A line's `package_status` (Get Order List/Detail `line_items[].package_status`: TO_FULFILL, PROCESSING,
# FULFILLING, COMPLETED, CANCELLED = lost or damaged; live-sync.md §3.2) once its units have left the merchant's
# shelf: in transit (FULFILLING), delivered (COMPLETED), or lost or damaged on the way (CANCELLED). TO_FULFILL and
# PROCESSING (arranged, awaiting collection: "goods still on the shelf", §3.5) have not; nor does `rts_time` say
# they have (ready to ship is AWAITING_COLLECTION, and a buyer may cancel between RTS and collection, §2.4).
PACKAGE_LEFT_THE_SHELF = frozenset({"FULFILLING", "COMPLETED", "CANCELLED"})


# Looked up once per imported order: a dict of the statuses' text, not an enum parse and three set tests.
_EFFECT_OF_STATUS: dict[str, StockEffect] = {
    **dict.fromkeys(OPEN_STATUSES, StockEffect.RESERVE),
    **dict.fromkeys(SHIPPED_STATUSES, StockEffect.DEDUCT),
    OrderStatus.CANCELLED: StockEffect.RELEASE,
}


def wanted_effect(status: str) -> StockEffect | None:
    """The effect TikTok order status `status` asks for (tiktok-api.md §8 statuses); None for a status this
    version does not know (TikTok adds some): such an order moves nothing until a known status arrives."""
    return _EFFECT_OF_STATUS.get(status)


# (Pure, of a few texts and a flag, asked for every line of every imported order: kept, bounded, as TikTok's statuses
# are not ours to count)
@functools.lru_cache(maxsize=1024)
def line_effect(
    order_status: str, line_status: str | None, fulfilled_by_tiktok: bool = False, package_status: str | None = None
) -> StockEffect | None:
    """The effect asked of one line item: its own `display_status` (the order's statuses but ON_HOLD and
    PARTIALLY_SHIPPING, live-sync.md §3.2) when it is one this version knows, else its order's `wanted_effect`.
    So a line cancelled on its own (an item-level cancellation, US/UK: CANCELLED on a line of an AWAITING_SHIPMENT
    order) releases its units while the order's other lines stay reserved, and a line shipped from a
    PARTIALLY_SHIPPING order deducts while the rest stay reserved: "release per line, not per order" (§3.2).

    A line of an order TikTok fulfils from its own warehouses (`fulfilled_by_tiktok`, FBT) releases, whatever its
    status: none of its units is on the merchant's shelf, so it never reserves nor deducts ("exclude FBT orders from
    the pool ... to avoid double deduction", live-sync.md §1.5, §3.5, §7.2). First seen, it is history; a line
    reserved before this rule gives its units back. Reserved and then deducted, an FBT sale took units the
    merchant still has from every shop's count, for good (review37).

    A line cancelled (its own status or its order's CANCELLED) whose package had left the merchant's shelf
    (`package_status` in `PACKAGE_LEFT_THE_SHELF`: FULFILLING, COMPLETED, or CANCELLED, lost or damaged) deducts
    rather than releases: "cancelled after shipping; package CANCELLED (lost): no automatic restock" (live-sync.md
    §3.5). Its units are gone: a line reserved before deducts them from on-hand, one first seen so is history as any
    shipped line first seen (`transition`; deducted when sold since its link, `after_link`). Released, units lost in
    transit went back on sale on every shop, an oversell (a shipment's webhook lost, the order next seen CANCELLED).
    A cancellation before the package left (TO_FULFILL, PROCESSING, none given) releases as before."""
    if fulfilled_by_tiktok:
        return StockEffect.RELEASE
    effect = _EFFECT_OF_STATUS.get(line_status) if line_status is not None else None
    if effect is None:
        effect = _EFFECT_OF_STATUS.get(order_status)
    if effect is StockEffect.RELEASE and package_status in PACKAGE_LEFT_THE_SHELF:
        return StockEffect.DEDUCT
    return effect


LINE_ITSELF = ""  # the component key of an ordinary line's row: the line moves its own SKU

# The values below are NamedTuples rather than frozen dataclasses: the import builds one or two per order line, and
# a frozen dataclass's __init__ (one object.__setattr__ per field) costs about four times a NamedTuple's.


class StockLine(NamedTuple):
    """One ledger row an order line asks for: `component_sku_id` (`LINE_ITSELF`, or the bundle component's TikTok
    SKU id), the TikTok SKU whose link the row counts on, and its units."""

    component_sku_id: str
    tiktok_sku_id: str
    quantity: int


def stock_lines(tiktok_sku_id: str, units: int, components: Collection[tuple[str, int]] = ()) -> tuple[StockLine, ...]:
    """The ledger rows of a line of `units` units of SKU `tiktok_sku_id`: without components, one row of the
    line's own SKU; a bundle line (its `combined_listing_skus` as (component SKU id, sku_count) pairs) gets one row
    per component SKU of `units * sku_count` units (a component listed twice: the counts add up), and none of the
    bundle SKU itself: "reserve the components x sku_count; never push to a bundle SKU" (live-sync.md §1.5)."""
    if not components:  # the common case, once per imported line: no dict
        return (StockLine(LINE_ITSELF, tiktok_sku_id, units),)
    per_component: dict[str, int] = {}
    for sku_id, sku_count in components:
        per_component[sku_id] = per_component.get(sku_id, 0) + units * sku_count
    return tuple(StockLine(sku_id, sku_id, quantity) for sku_id, quantity in sorted(per_component.items()))


class LedgerLine(NamedTuple):
    """A stored ledger row, as much of it as the rules need. `inventory_item_id`: the item the line counts on
    (RESERVED, DEDUCTED, RELEASED), was linked to when it became history (HISTORICAL), or, PENDING_LINK, the item
    it was reserved on before its SKU was unlinked (`unlink_reserved`), or that its SKU was unlinked from when the
    line was first seen (`first_seen_unlinked`; None: neither). `left_out_of`: the item whose seed left the line's
    units out and has not counted them since (`order_line_stock.left_out_of_seed`, migration 0023,
    `left_out_of_seed`; None: nothing owed)."""

    state: LineState
    wanted: StockEffect
    order_updated_at: datetime
    inventory_item_id: str | None
    quantity: int
    left_out_of: str | None = None


class Transition(NamedTuple):
    """A line's next state and what it does to its item: `on_hand_delta`, `reserved_delta` (units), and the
    movement kind when the counters move (None: only the row changes)."""

    state: LineState
    wanted: StockEffect
    order_updated_at: datetime
    inventory_item_id: str | None
    on_hand_delta: int = 0
    reserved_delta: int = 0
    movement: MovementKind | None = None
    counted_on: str | None = None  # the item whose counters the deltas move (an unlink's is the row's old item)

    @property
    def item_moved(self) -> str | None:
        """The item whose counters move, or None when the counters stay as they are."""
        return (self.counted_on or self.inventory_item_id) if self.movement is not None else None

    @property
    def changes_available(self) -> bool:
        """A reservation or release moves `available` (a push is due); a deduction moves on-hand and reserved
        together and leaves it as it was."""
        return self.reserved_delta != self.on_hand_delta

    @property
    def in_seed(self) -> bool:
        """A first reservation of units the stock that seeded the item had already left out (`transition`'s
        `in_seed`: it adds them to on-hand too). TikTok's available lost them before that stock was read, so before
        any push of the SKU: the push's fence must not take them for a sale since its last push
        (`sku_links.ingested_at_push`), or they would hide as many sales TikTok made unseen."""
        return self.state is LineState.RESERVED and self.on_hand_delta > 0


def transition(
    current: LedgerLine | None,
    wanted: StockEffect,
    order_updated_at: datetime,
    linked_item_id: str | None,
    quantity: int = 1,
    in_seed: bool = False,
    after_link: bool = False,
    unlinked_from: str | None = None,
    seed_read_at: datetime | None = None,
    left_by_import: bool = False,
    before_unlink: bool = False,
    counted_at: datetime | None = None,
    shipped_by: datetime | None = None,
) -> Transition | None:
    """The line's move for an order status asking `wanted` at `order_updated_at`; None when nothing changes.

    `linked_item_id` is the item the line's SKU links to now (None: unlinked); a line already applied keeps the
    item it was applied to, whatever the link says now. `in_seed`: the order was created before this shop's
    TikTok stock seeded the item, so that stock already left its units out (TikTok's available excludes its
    committed units, live-sync.md §1.3): first seen open, it reserves AND adds its units to on-hand, leaving
    `available` as TikTok showed it (issue 8, "do not count open orders twice", whichever import ran first).
    `after_link`: the order was created at or after the SKU's link took effect, so a sale first seen already
    shipped (its webhooks lost, Shopbridge down while it shipped) took its units from the pool's stock: it deducts
    them from on-hand (nothing was reserved) instead of being history, or the pool would oversell them.
    `unlinked_from`: the SKU has no link now, and it left its link to that item (the merchant's unlink, or an
    import's: AMBIGUOUS...; `after_link` then reads that link's time): see `first_seen_unlinked`.
    `seed_read_at`: the line is RESERVED in its SKU's seed, the stock read at that instant (its order made before
    it, on the item that read seeded: its units were added to that item's on-hand); see `released_before_read`.
    `left_by_import`: `unlinked_from` was left by an import (AMBIGUOUS, NO_SELLER_SKU, EXCLUDED, or DROPPED from its
    product after that: `domain.inventory.links.left_by_import`), not the merchant.
    `before_unlink`: the order was created before its SKU left `unlinked_from` (`sold_before_unlink`).
    `counted_at`: the instant of the last count (`inventorySetOnHand`, its SET movement; None: never counted) of
    the item a RESERVED line is on, or, for a line first seen shipped and sold since its link (`after_link`), of the
    item it links to; see `counted_after_shipment`. `shipped_by`: when the line's units left the shelf at the latest
    (`left_shelf_by`: the carrier's collection, when it dates this line's; None: `order_updated_at`), which the count
    is compared with.
    """
    left_by = order_updated_at if shipped_by is None else min(shipped_by, order_updated_at)
    if current is None:
        if linked_item_id is None and unlinked_from is not None:
            return first_seen_unlinked(
                wanted, order_updated_at, unlinked_from, after_link, left_by_import, quantity, before_unlink
            )
        if wanted is StockEffect.DEDUCT and after_link and linked_item_id is not None:
            if counted_at is not None and counted_after_shipment(left_by, counted_at):
                # sold and shipped unseen before the merchant's count, which found its units gone: nothing to move
                return Transition(LineState.DEDUCTED, wanted, order_updated_at, linked_item_id)
            return Transition(
                LineState.DEDUCTED, wanted, order_updated_at, linked_item_id, -quantity, 0, MovementKind.DEDUCTED
            )
        if wanted is not StockEffect.RESERVE:
            return Transition(LineState.HISTORICAL, wanted, order_updated_at, linked_item_id)
        if linked_item_id is None:
            return Transition(LineState.PENDING_LINK, wanted, order_updated_at, None)
        if in_seed:
            return Transition(
                LineState.RESERVED, wanted, order_updated_at, linked_item_id, quantity, quantity, MovementKind.RESERVED
            )
        return _reserve(wanted, order_updated_at, linked_item_id, quantity)
    if order_updated_at < current.order_updated_at:
        return None  # an older status than the one applied: TikTok's newer word stands
    if order_updated_at == current.order_updated_at and wanted is StockEffect.RESERVE is not current.wanted:
        # Two snapshots of one `update_time` (seconds: TikTok changed the order twice within a second, a poll and a
        # webhook interleaved), one shipped or cancelled, the other open: the open one is the older, as a TikTok
        # line never reopens; the line keeps what it asked (else a waiting line linked later reserved for good).
        wanted = current.wanted
    if current.state is LineState.PENDING_LINK:
        was_reserved_on = current.inventory_item_id
        if linked_item_id is None:
            if wanted is current.wanted and order_updated_at == current.order_updated_at:
                return None
            return Transition(LineState.PENDING_LINK, wanted, order_updated_at, was_reserved_on)
        return link_pending(wanted, order_updated_at, linked_item_id, current.quantity, was_reserved_on)
    if current.state is LineState.RESERVED:
        item, q = current.inventory_item_id, current.quantity
        if wanted is StockEffect.DEDUCT:
            if counted_at is not None and counted_after_shipment(left_by, counted_at):
                # the count already found the units gone: the shipment releases its commitment only
                return Transition(LineState.DEDUCTED, wanted, order_updated_at, item, 0, -q, MovementKind.DEDUCTED)
            return Transition(LineState.DEDUCTED, wanted, order_updated_at, item, -q, -q, MovementKind.DEDUCTED)
        if wanted is StockEffect.RELEASE:
            if seed_read_at is not None and released_before_read(order_updated_at, seed_read_at):
                return Transition(LineState.RELEASED, wanted, order_updated_at, item, -q, -q, MovementKind.RELEASED)
            return Transition(LineState.RELEASED, wanted, order_updated_at, item, 0, -q, MovementKind.RELEASED)
        if order_updated_at == current.order_updated_at:
            return None
        return Transition(LineState.RESERVED, wanted, order_updated_at, item)  # still open: only the time moves
    return None  # DEDUCTED, RELEASED, HISTORICAL are final


def first_seen_unlinked(
    wanted: StockEffect,
    order_updated_at: datetime,
    unlinked_from: str,
    after_link: bool,
    left_by_import: bool = False,
    quantity: int = 1,
    before_unlink: bool = False,
) -> Transition:
    """A line first seen while its SKU is unlinked from item `unlinked_from` (by the merchant's `skuUnlink`, or by
    an import: its seller SKU found on a twin, AMBIGUOUS; cleared, NO_SELLER_SKU; `links.remembered_on_unlink`):
    it waits for a link remembering that item (`link_pending`'s `was_reserved_on`), when it is open, or shipped and
    created since that link took effect (`after_link`: linked, it would have deducted). Linked back to that same
    item, an open one reserves and a shipped one deducts its units from on-hand: they left that item's shelf, and as
    history the pool would sell them again (issue: oversell after an unlink, or an ambiguity, and a relink).
    Linked to another item, it is history as before. Cancelled, or shipped and older than that link: HISTORICAL.

    A SKU an import left without an item (`left_by_import`: its seller SKU found on a twin, AMBIGUOUS; cleared,
    NO_SELLER_SKU; made a bundle, EXCLUDED) is not the merchant's "not that item": its orders made since its link to
    that item took effect (`after_link`) were placed on that item's SKU and ship from its shelf, as those reserved
    before the import do and keep doing (`stays_reserved`). First seen now (a webhook late or lost: the sale the
    push's fence held back as unseen, a hold that stops counting for the item's other shops once the link is not
    LINKED), such a line reserves on that item when open, and deducts from its on-hand when shipped. Waiting
    instead, its unit stayed on sale on every other shop of the item until the merchant linked the SKU to it again
    (for good when nobody did): sold twice. Orders made before that link wait as before.

    A SKU the merchant unlinked (`skuUnlink`) counts so the orders made before the unlink (`before_unlink`:
    `sold_before_unlink`, from `sku_links.unlinked_at`, migration 0036) and since its link took effect
    (`after_link`): placed while the SKU was that item's, they ship from its shelf as the lines the unlink found open
    do (`stays_reserved`), whenever their webhook, a poll or an import brings them. Waiting instead, an open one's
    unit was on sale on the item's other shops meanwhile, an oversell through our fault (the link did not record
    when it was unlinked). Orders made after the unlink wait for a link (the merchant said "not that item"), as do
    those of a link unlinked before 0036 (no instant: nothing tells them apart)."""
    if (left_by_import or before_unlink) and after_link and wanted is not StockEffect.RELEASE:
        if wanted is StockEffect.RESERVE:
            return _reserve(wanted, order_updated_at, unlinked_from, quantity)
        return Transition(
            LineState.DEDUCTED, wanted, order_updated_at, unlinked_from, -quantity, 0, MovementKind.DEDUCTED
        )
    if wanted is StockEffect.RESERVE or (wanted is StockEffect.DEDUCT and after_link):
        return Transition(LineState.PENDING_LINK, wanted, order_updated_at, unlinked_from)
    return Transition(LineState.HISTORICAL, wanted, order_updated_at, None)


def left_out_of_seed(
    current: LedgerLine | None, move: Transition, created_at: datetime, seed: tuple[str, datetime] | None
) -> str | None:
    """The item whose seed the line's units stay left out of once `move`d (`order_line_stock.left_out_of_seed`), or
    None. `seed`: (the item its SKU's link seeded from its shop's TikTok stock, when that stock was read;
    `sku_links.seeded_item_id`, `stock_counted_at`), None when the link seeded none.

    A line first seen open while its SKU is away from that item (linked to another, where it reserves as any sale,
    or unlinked: it waits), of an order created before the read (`counted_in_stock`: TikTok's available had already
    lost its units, so the seed never held them), is owed to that item: back on it, its seed again (`on_seed`), it
    counts in as it would have first seen there (`in_seed_again`). Without the mark it looks like a line reserved in
    the seed before the SKU went away, which counted its units already: moved back as a plain reservation, the item
    stayed one unit short for good (review34: 10 on hand, 1 reserved, 9 available instead of 11/1/10).
    A stored line keeps its mark (`count_in_seed` clears it); a line reserved in the seed is counted already."""
    if current is not None:
        return current.left_out_of
    if seed is None or move.wanted is not StockEffect.RESERVE or move.in_seed:
        return None
    item_id, read_at = seed
    away = move.state is LineState.PENDING_LINK or (
        move.state is LineState.RESERVED and move.inventory_item_id != item_id
    )
    return item_id if away and counted_in_stock(created_at, read_at) else None


def in_seed_again(line: LedgerLine, item_id: str, seeded_item_id: str | None, carried: bool = False) -> bool:
    """Whether a waiting line whose SKU now links to `item_id` counts into that item (`count_in_seed`): it is owed to
    that item (`LedgerLine.left_out_of`: its seed left it out, or it counted the line's units out when the line
    left, `carries_its_units`) and either the link's read seeded that very item (`seeded_item_id`; `on_seed`) or the
    item the line leaves takes its units off its on-hand now (`carried`). Linked to another item, it moves as any
    sale: counting it there would count one unit on two items (the one it is owed to never held it either; a link
    that seeded another item since counted it in that seed, `links.seed_on_hand`, and gives it up only when
    `carried`)."""
    return line.left_out_of is not None and line.left_out_of == item_id and (item_id == seeded_item_id or carried)


def count_in_seed(line: LedgerLine, item_id: str) -> tuple[Transition, ...]:
    """A waiting line left out of item `item_id`'s seed, its SKU back on it (`in_seed_again`): it moves as if first
    seen there, open, in the seed (`transition`'s `in_seed`: reserved, and its units added to on-hand, `available`
    unchanged), then on to what its status asks now (`transition`): shipped meanwhile, deducted (on-hand back: its
    units left a shelf the item never counted them on); cancelled, released (its units back on sale, as TikTok's
    available got them back after the read). Still open, only the first move."""
    q, wanted, at = line.quantity, line.wanted, line.order_updated_at
    seeded = Transition(LineState.RESERVED, wanted, at, item_id, q, q, MovementKind.RESERVED)
    then = transition(LedgerLine(LineState.RESERVED, wanted, at, item_id, q), wanted, at, item_id)
    return (seeded,) if then is None else (seeded, then)


def seen_before_push(
    move: Transition, first_taken: bool, created_at: datetime, joined_read_at: datetime | None
) -> bool:
    """Whether a line's `move` adds its units to the push fence's count of its link's last push
    (`sku_links.ingested_at_push`, `ledger._counted_before_push`) instead of counting as a sale applied since: TikTok's
    available had already lost them when the baseline was read. A line reserved in the seed (`Transition.in_seed`),
    and one of an order created before the product page's read that made its SKU join an existing item
    (`joined_read_at`, `sku_links.baseline_read_at`: `counted_in_stock`) whose units the ledger takes now for the
    first time (`first_taken`: `took_units_now`), reserved or deducted: a link back to the item it remembers keeps
    its first time (`links.relinked_since`), so a sale made after that and shipped before the read, first seen later,
    deducts (README, "A link's first push is fenced")."""
    if move.in_seed:
        return True
    return (
        move.state in (LineState.RESERVED, LineState.DEDUCTED)
        and first_taken
        and joined_read_at is not None
        and counted_in_stock(created_at, joined_read_at)
    )


def uncounted_sale(line: LedgerLine, moved: Transition) -> bool:
    """Whether a link change's last move `moved` of waiting line `line` makes history of a sale whose units left
    TikTok's available: shipped while its SKU was unlinked (PENDING_LINK asking DEDUCT), its SKU linked now to another
    item than the one it remembers (`link_pending`: which shelf it left is the merchant's count to say). The shop's
    running count of the SKU (`takes_units`) never holds it, so a push fence measuring from a baseline older than the
    order must count it as a sale applied since (`ledger._history_since_baseline`), or it holds its unit back as one
    TikTok made unseen: one unit less on every shop of the item for the hold's horizon."""
    return (
        line.state is LineState.PENDING_LINK
        and line.wanted is StockEffect.DEDUCT
        and moved.state is LineState.HISTORICAL
    )


def takes_units(state: LineState) -> int:
    """1 when a line in `state` holds units TikTok's available lost (RESERVED or DEDUCTED: the shop's running count
    of its SKU, `sku_ledger_units.ingested`, counts them), else 0: a link change's effect on that count is the
    line's quantity times the difference of this before and after it."""
    return 1 if state in (LineState.RESERVED, LineState.DEDUCTED) else 0


def took_units_now(current: LedgerLine | None, move: Transition) -> bool:
    """Whether `move` is when the line's units leave TikTok's available, as the pool counts them: its first
    reservation or deduction (or one after a link). A RESERVED line that only moves on (paid: still open, only the
    time moves; shipped: deducted) took its units when it was reserved. The row's `updated_at` keeps that instant:
    the push's fence reads it as "sales the ledger applied since the last push" (`unseen_sales`), and a payment or a
    shipment stamped anew would count a unit TikTok's available lost before that push, hiding an unseen sale.
    A link change (`unlink_reserved`, `link_pending` of a line stored before) moves a line between items and takes
    nothing from TikTok: the row keeps its stamp too (`relink_lines`), that of when it was stored or reserved; so
    does a line reserved before its SKU was unlinked when it is linked again (it took its units when first
    reserved)."""
    if current is None:
        return True
    if current.state is LineState.PENDING_LINK:  # (one first seen while unlinked is relinked by `relink_lines`)
        return current.inventory_item_id is None
    return not (current.state is LineState.RESERVED and move.state in (LineState.RESERVED, LineState.DEDUCTED))


# A kept link period as `sold_while_linked_before` reads it: (when the link took effect, when its shop was deleted), or
# with a third time, when it ends if not at the delete (None: at the delete; `through_the_gap`)
KeptPeriod = tuple[datetime, datetime] | tuple[datetime, datetime, datetime | None]


def order_timing(
    created_at: datetime,
    stock_counted_at: datetime | None,
    linked_at: datetime | None,
    linked_before: Collection[KeptPeriod] = (),
) -> tuple[bool, bool]:
    """(`in_seed`, `after_link`) of an order line for `transition`, from when the order was created: before its
    shop's TikTok stock that seeded the item was read (`stock_counted_at`: the product page's request, not the
    page's write, which comes later; None: it did not seed it), and at or after the SKU's link took effect
    (`linked_at`: a seeding link's is that same read, as the stock counted from then on is the pool's; the seeding
    time for links made before links kept their time; neither: never).

    TikTok's `create_time` is whole seconds, our times are not: an order of the very second the stock was counted
    or the link made may have come before or after it. It counts as after, the side that never sells a unit twice
    (in the seed, it would add to on-hand a unit the stock read may already hold; shipped, it deducts).

    `linked_before`: (when the link took effect, when its shop was deleted[, when it ends if not at the delete:
    `through_the_gap`]) of the links of this SKU to the same item that the merchant's delete of an earlier connection
    of this TikTok shop took (`deleted_shop_links`, migration 0042), for a line that connection's ledger never had
    (`sold_while_linked_before`)."""
    in_seed = stock_counted_at is not None and counted_in_stock(created_at, stock_counted_at)
    since = linked_at or stock_counted_at
    after_link = since is not None and created_at >= _whole_second(since)
    # (no kept period, every line but a reconnected shop's: not even an empty generator, once per line of an import)
    return in_seed, after_link or (bool(linked_before) and sold_while_linked_before(created_at, linked_before))


def sold_while_linked_before(
    created_at: datetime, linked_before: Collection[KeptPeriod], whole_seconds: bool = False
) -> bool:
    """Whether an order created at `created_at` (TikTok's `create_time`, whole seconds) was made while an earlier
    connection of its TikTok shop had the SKU linked to the item it links to now: at or after one of `linked_before`'s
    link times (`linked_at`, its second counting as after, as in `order_timing`) and before that shop's delete.

    The delete took the shop's ledger (README "Deleting a shop"); the same TikTok shop connected again gets a link
    whose time is the new read, so a sale made under the old link and first seen shipped after the reconnect (its
    webhooks lost, no poll before the delete) was history, and its units stayed on the item's on-hand for good
    (poolreview53 defect 2: 10/0/10 where the shelf held 8). It took them from the stock the pool counted under the
    old link, so it deducts them, as `after_link` does on the same connection. The caller passes no period for a line
    that connection's ledger had (the delete's record of it, `deleted_shop_lines`): deducted then, or history, it
    must not move twice.

    A period starts no earlier than `DELETED_LINE_KEPT` (97 days) before its delete (`until`), however old the link:
    the delete keeps its ledger's applied lines only of orders made since that instant (`deleted_shop_lines`, the
    adapter's `_record_deducted`), so an older order has no record saying the old ledger applied it, and must not be
    taken for a sale that ledger never saw. It is history, as before migration 0042: a poll or webhook of the new
    connection reads orders by `update_time` and brings an old order's later status (COMPLETED) too, whose sale that
    ledger had deducted already (review54b finding 4: 8/0/8 where the shelf held 9). The cap rather than records of
    every applied line whatever its age: one rule in one place, for the periods kept before this rule too, and the
    kept records stay bounded by the orders a reconnect's import reads (`deleted_line_forgotten`). What it gives up:
    a sale made over 97 days before the delete that the old ledger never saw and that ships unseen after the
    reconnect stays on on-hand (history), as every such sale did before 0042.

    A period may carry a third time, when it ends if not at its delete (`KeptLink.ends_at`, `through_the_gap`: a
    link that named its item at the delete runs on through the gap until the SKU's next link); the 97 days still
    count back from the delete.

    `whole_seconds`: a period ends at the start of its end's second instead (`_made_under`: that second belongs to
    the period that starts in it)."""
    return any(
        max(_whole_second(period[0]), period[1] - DELETED_LINE_KEPT)
        <= created_at
        < (_whole_second(_ends(period)) if whole_seconds else _ends(period))
        for period in linked_before
    )


def _made_under(created_at: datetime, periods: Mapping[str, Collection[KeptPeriod]]) -> set[str]:
    """The items of `periods` (item -> its link periods) under one of whose periods an order created at `created_at`
    (TikTok's `create_time`, whole seconds) was made (`sold_while_linked_before`), read so that consecutive periods do
    not overlap: a period's start is taken to its second (its second counting as after the change), and its end is
    our clock's (microseconds), so the second of a link change was in both the period it ended and the one it began.
    That second belongs to the period that begins in it (the same rule, "the second of a change counts as after
    it"): the ends are read to their second first (`whole_seconds`), and only when no period holds the order so, to
    their microseconds, as before (a period's last second that no next period begins in, an end at a delete or at the
    merchant's unlink, still holds the orders of that second). Before, a sale of that very second first seen after a
    second change matched two items, and "never guess" left it history: its units on sale on every shop for good
    (review58 R2)."""
    for whole_seconds in (True, False):
        items = {
            item for item, of_item in periods.items() if sold_while_linked_before(created_at, of_item, whole_seconds)
        }
        if items:
            return items
    return set()


def _ends(period: KeptPeriod) -> datetime:
    """When a kept period (link time, delete time[, end]) ends: its end when it has one, else at its delete."""
    return period[2] if len(period) > 2 and period[2] is not None else period[1]


def sold_under_an_earlier_link(
    created_at: datetime, periods: Mapping[str, Collection[tuple[datetime, datetime]]]
) -> str | None:
    """The item a line first seen shipped (asking DEDUCT) and history by the link as it is now counts on instead: the
    item of the earlier link period of its SKU on this connection under which its order was made (`periods`: item ->
    (when that link took effect, when it ended), `sku_link_periods`, migration 0049, `links.ended_period`;
    `sold_while_linked_before`: the link's second counting as after, the 97 days counting back from the end), when
    there is exactly one such item; None otherwise (none, or two: never guess).

    The rule (kept57, pool57 F2): a sale counts on the item its SKU was linked to when the sale was made, across any
    sequence of relinks. Its units left that item's shelf: it deducts them from that item's on-hand (the caller moves
    the line there, `DEDUCTED`). Before, the link kept no earlier period: a sale made under L1 (SKU -> A), its
    webhooks lost, first seen shipped after the merchant linked the SKU to B and back to A (or its seller SKU was
    renamed in Seller Center and back) was history, its link's time restarted by the second change, and A kept the
    units on sale on every shop for good (pool57 run5). Only shipped lines: an open one reserves on the item the SKU
    links to now, as the same sale seen in time would have moved there with the link (`relink_line`), and a cancelled
    one is history either way. Orders older than the orders window never arrive first seen; the 97 days
    (`DELETED_LINE_KEPT`) bound the periods kept, as for a deleted shop's."""
    items = _made_under(created_at, periods)
    return next(iter(items)) if len(items) == 1 else None


def shipped_before_relink(
    line: LedgerLine,
    order_updated_at: datetime,
    periods: Mapping[str, Collection[tuple[datetime, datetime]]],
    linked_at: datetime | None = None,
    created_at: datetime | None = None,
) -> str | None:
    """The item whose shelf a RESERVED line's shipment left, when that is not the item the line is reserved on now:
    its order version asking a deduction (shipped, or cancelled after its package left, `line_effect`) dated
    `order_updated_at` (TikTok's `update_time`, whole seconds) falls within an earlier link period of its SKU on this
    connection (`periods`: item -> (when that link took effect, when it ended), `sku_link_periods`, migration 0049,
    `links.ended_period`) of exactly one item other than the line's, read to whole seconds (`sold_while_linked_before`
    with `whole_seconds`), each period read to when a reserved line left its item (`reserved_until`; `linked_at`: when
    the SKU's link now took effect, or the link an unlinked SKU remembers; None: none; `created_at`: the order's
    `create_time`); None otherwise (none, the line's own, or two: never guess).

    The rule (the README's "a sale counts on the item its SKU was linked to when it was made"; review58 R5): a link
    change to another item moves a RESERVED line with it (`relink_line`: the reservation follows the SKU's stock),
    and a shipment the ledger learns of only after such a change (its webhook lost, the next poll) is then deducted
    on the item the line moved to, though its units left the shelf of the item the line was reserved on when it
    shipped: that item keeps units on sale that have left, the other loses units it still holds, for good. So
    shipped before the change, it deducts its units from that item's on-hand and gives its reservation back on the
    one it is on now (`left_before_relink`), as the same sale first seen shipped counts on the item of its period
    (`sold_under_an_earlier_link`).

    Which time bound is safe: `update_time` bounds the shipment from above (TikTok changes an order no later than that
    version's update_time, `counted_after_shipment`), and so does the carrier's collection where it dates the line's
    (`left_shelf_by`, which the caller passes as `order_updated_at`), but it is whole seconds: the change itself may be
    up to a second later. An update_time before the second of the period's end proves the units left before the link
    moved; one of that very second may have come before it or after: taken as after, the side TikTok's seconds cannot
    tell apart (deducted from the item the line is on, as before). A later update_time proves nothing either.
    A line marked owed to an item (`LedgerLine.left_out_of`) is left as it was: carried off the item it left with its
    units (`carries_its_units`: a seller SKU renamed to a new item seeded from TikTok's stock, which counted its
    units in), that item no longer holds them, and the item it is on deducts them; a seed's mark, the same.
    With two relinks or more (A -> B -> X), the item is the one the line was reserved on when it shipped: shipped
    while on B, it deducts from B, not from A, where it was sold (relink58)."""
    if line.left_out_of is not None:
        return None
    items = {
        item for item, of_item in reserved_until(periods, linked_at, created_at, line.inventory_item_id).items()
        if sold_while_linked_before(order_updated_at, of_item, True)
    }  # fmt: skip
    if len(items) != 1 or line.inventory_item_id in items:
        return None
    return next(iter(items))


def reserved_until(
    periods: Mapping[str, Collection[tuple[datetime, datetime]]],
    linked_at: datetime | None,
    created_at: datetime | None = None,
    reserved_on: str | None = None,
) -> dict[str, list[tuple[datetime, datetime]]]:
    """The earlier link periods of one SKU (`periods`: item -> (when that link took effect, when it ended),
    `sku_link_periods`) each to when a RESERVED line counting on its item left it: the link change that named
    another item (`relink_line` moves the line then), which is the period's end, unless the period ended at the
    merchant's unlink (`links.ended_period`: its end is `sku_links.unlinked_at`), after which the line stayed reserved
    on the item (`stays_reserved`) until the next link took effect: the first start of another period, or
    `linked_at` (when the SKU's link now took effect, or the link an unlinked SKU remembers), after the end.

    A period ended at a link change has the next link start in it (at its end; a link seeded from the stock read
    starts at the read, before the change's instant): its end stands. One with none in it ended at an unlink; none
    after it either (still unlinked: no line moved off it), its end stands too. The 97 days of
    `sold_while_linked_before` then count back from the later end (a line reserved so long is rare).
    Only a line of an order made before the unlink (`created_at`, TikTok's `create_time`: `sold_before_unlink`; None:
    unknown, none) stayed on the item: one made after it waited for a link (PENDING_LINK, `first_seen_unlinked`), and
    was never reserved there.

    `reserved_on`: the item the line is reserved on now (None: none). A period of an item ending where a link of
    that same item begins (another of its periods, or, the line's item, `linked_at`) is the SKU's unlinked pause kept
    for it (`links.resumed_pause`: linked back after the merchant's unlink to an item it had a period of; no link
    change ends a period of an item and begins one of it at once): no link took effect at its start and no line was
    reserved by it, so it is neither a start here nor a period a line left (soak59 F2: a line reserved on B at the
    unlink, shipped in the pause, first seen shipped after the link back to A, deducts from B as before)."""
    pauses = {
        (item, start, end)
        for item, of_item in periods.items()
        for start, end in of_item
        if any(later == end > start for later, _ in of_item) or (item == reserved_on and end == linked_at)
    }
    starts = sorted(
        {start for item, of_item in periods.items() for start, end in of_item if (item, start, end) not in pauses}
        | ({linked_at} if linked_at else set())
    )
    left: dict[str, list[tuple[datetime, datetime]]] = {}
    for item, of_item in periods.items():
        for start, end in of_item:
            if (item, start, end) in pauses:
                continue
            if (
                created_at is not None
                and sold_before_unlink(created_at, end)
                and not any(start < at <= end for at in starts)
            ):
                end = next((at for at in starts if at > end), end)
            left.setdefault(item, []).append((start, end))
    return left


def left_before_relink(
    line: LedgerLine,
    wanted: StockEffect,
    order_updated_at: datetime,
    shipped_from: str,
    counted_at: datetime | None,
    shipped_by: datetime | None = None,
) -> tuple[Transition, Transition]:
    """The moves of a RESERVED line shipped from item `shipped_from` before a link change moved it to the item it is
    on (`shipped_before_relink`), asking `wanted` (a deduction) at `order_updated_at`: its reservation goes back on
    the item it is on (reserved -q there, RELEASED: none of its units left that shelf), then it deducts its units
    from `shipped_from`'s on-hand (DEDUCTED, the line now on that item; nothing was reserved there any more). Both
    items' `available` move, the first up, the second down. `counted_at`: the last count of `shipped_from`
    (`inventorySetOnHand`) in or after the shipment's second; when it covers the shipment (`counted_after_shipment`:
    the count found the units gone, the shipment dated `shipped_by`, `left_shelf_by`; None: `order_updated_at`), the
    deduction moves nothing more."""
    q, item = line.quantity, line.inventory_item_id
    back = Transition(
        LineState.DEDUCTED, wanted, order_updated_at, shipped_from, 0, -q, MovementKind.RELEASED, counted_on=item
    )
    if counted_at is not None and counted_after_shipment(shipped_by or order_updated_at, counted_at):
        return back, Transition(LineState.DEDUCTED, wanted, order_updated_at, shipped_from)
    return back, Transition(LineState.DEDUCTED, wanted, order_updated_at, shipped_from, -q, 0, MovementKind.DEDUCTED)


def shipped_before_a_deleted_relink(
    item_id: str,
    shipped_by: datetime,
    deleted_at: datetime,
    linked_before: Mapping[str, Collection[KeptLink]],
    created_at: datetime | None,
    quantity: int,
) -> str | None:
    """The item whose shelf the shipment of a line its shop's delete deducted from item `item_id` (RESERVED then:
    `leaves_with_its_shop`, `deleted_shop_lines` at `deleted_at`) left, when that is not `item_id`: the line, first
    seen again shipped by the same merchant's shop of that TikTok shop connected again (its units having left the
    shelf by `shipped_by`, `left_shelf_by`, whole seconds), had shipped before a link change of the deleted connection
    moved its reservation to `item_id` (`shipped_before_relink`, review58 R5); None otherwise (shipped while on
    `item_id`, in two periods of other items, or no earlier period kept: never guess).

    Read against what that delete kept of the SKU's links (`linked_before`: item -> `KeptLink`, `deleted_shop_links`):
    its earlier periods (`KeptLink.earlier`, source `EARLIER_PERIOD`: the periods link changes of that connection
    ended, `sku_link_periods` copied by the delete, each (link time, end), no later than `deleted_at`) as the
    connection's own `sku_link_periods`, and, as the next start after a period an unlink ended (`reserved_until`),
    the link time of `item_id`'s link as it stood at that delete (`KeptLink.since` of a row of that delete that is not
    an earlier one; None: none). `created_at`: the order's `create_time` (`reserved_until`); `quantity`: the line's
    units. The rule is the live connection's, so that the delete and reconnect (the moment lost webhooks are read,
    the reconnect's import) never decide which shelf a sale left: read as the line coming back on `item_id`
    (`back_with_its_shop`), the delete's deduction there was taken for the shipment, and the item it left kept the
    units on sale on every shop (review59 F3: HAT 10/0/10, SOCK 8/0/8 where the never-deleted connection gives
    HAT 8/0/8, SOCK 10/0/10)."""
    periods = {
        item: [(kept.since, kept.deleted_at) for kept in of_item if kept.earlier and kept.deleted_at <= deleted_at]
        for item, of_item in linked_before.items()
    }
    periods = {item: of_item for item, of_item in periods.items() if of_item}
    if not periods:
        return None
    linked_at = min(
        (kept.since for kept in linked_before.get(item_id, ()) if not kept.earlier and kept.deleted_at == deleted_at),
        default=None,
    )
    line = LedgerLine(LineState.RESERVED, StockEffect.DEDUCT, shipped_by, item_id, quantity)
    return shipped_before_relink(line, shipped_by, periods, linked_at, created_at)


def left_before_relink_with_its_shop(
    wanted: StockEffect,
    order_updated_at: datetime,
    item_id: str,
    shipped_from: str,
    quantity: int,
    counted_at: datetime | None,
    counted_there: datetime | None,
    shipped_by: datetime | None = None,
) -> tuple[Transition, Transition]:
    """The moves of a line its shop's delete deducted from item `item_id`, first seen again asking `wanted` (a
    deduction) at `order_updated_at`, whose shipment left the shelf of item `shipped_from` before a link change moved
    its reservation to `item_id` (`shipped_before_a_deleted_relink`): the delete's deduction on `item_id` is undone
    (on-hand +`quantity` there, reserved as it is: none of its units left that shelf; the delete took the reservation
    already), but for a count of `item_id` since the delete (`counted_at`, as `back_with_its_shop` reads it: it set
    on-hand to a shelf that held them), then the line deducts its units from `shipped_from`'s on-hand, DEDUCTED there,
    as `left_before_relink` on the live connection (`counted_there`: the last count of `shipped_from` in or after the
    shipment's second; when it covers the shipment, dated `shipped_by`, the deduction moves nothing more)."""
    undone = 0 if counted_at is not None else quantity
    back = Transition(
        LineState.DEDUCTED, wanted, order_updated_at, shipped_from, undone, 0,
        MovementKind.RELEASED if undone else None, counted_on=item_id if undone else None,
    )  # fmt: skip
    line = LedgerLine(LineState.RESERVED, wanted, order_updated_at, item_id, quantity)
    return back, left_before_relink(line, wanted, order_updated_at, shipped_from, counted_there, shipped_by)[1]


def shipped_under_a_deleted_link(
    wanted: StockEffect, created_at: datetime, linked_before: Mapping[str, Collection[KeptPeriod]]
) -> str | None:
    """The item a line first seen before its SKU has a link waits remembering (`first_seen_unlinked` with
    `after_link`: PENDING_LINK on that item, deducted there once the SKU links to it again, `link_pending`), when it
    asks a deduction (shipped) and its order was made while the link of its SKU to that item, which the merchant's
    delete of an earlier connection of this TikTok shop took, stood (`linked_before`: item -> (link time, delete
    time), `deleted_shop_links`; `sold_while_linked_before`). That is the reconnect's orders import running ahead of
    its products import: as history the sale's units stayed on the item's on-hand for good, as when its products
    come first without this rule (poolreview53 defect 2). None otherwise: an open line waits as any (the delete's
    record of it decides once linked, `back_with_its_shop`), and so does a sale of two such items' periods (never
    guess). The caller passes no period for a line that connection's ledger had; no period at all (every line of a
    shop never deleted): None."""
    if wanted is not StockEffect.DEDUCT or not linked_before:
        return None
    items = _made_under(created_at, linked_before)
    return next(iter(items)) if len(items) == 1 else None


class KeptLink(NamedTuple):
    """A link period a shop's delete kept (`deleted_shop_links`), all UTC: when the link took effect; when its shop
    was deleted; when the merchant unlinked the SKU from the item (`skuUnlink`: None for a link that named its item at
    the delete, one an import left, or one kept before migration 0046); and when the period ends if not at the delete
    (`through_the_gap`: None, at the delete); and whether it is an earlier period of that connection, one a link change
    ended before the delete (`sku_link_periods` kept by the delete, `deleted_shop_links.source` = `EARLIER_PERIOD`:
    it counts only sales first seen shipped, `counted_under_a_deleted_link`).
    """

    since: datetime
    deleted_at: datetime
    unlinked_at: datetime | None = None
    ends_at: datetime | None = None
    earlier: bool = False


# `deleted_shop_links.source` of a row a shop's delete copied from the shop's earlier link periods (`sku_link_periods`,
# migration 0049; kept58): the period a link change of that connection ended, not a link as it stood at the delete
EARLIER_PERIOD = "EARLIER"


# A kept period that runs on while the SKU has no next link yet (`through_the_gap`)
OPEN_ENDED = datetime.max.replace(tzinfo=UTC)


def through_the_gap(
    kept: Collection[tuple[str, datetime, datetime, datetime | None, bool, bool]],
    next_link_at: datetime | None,
    other_connections: Collection[tuple[datetime, datetime]] = (),
) -> dict[str, list[KeptLink]]:
    """The kept link periods of one TikTok SKU by item (`counted_under_a_deleted_link`'s `linked_before`), from the
    rows the merchant's deletes of earlier connections of its TikTok shop kept (`kept`: (item id, link time, delete
    time, unlink time or None, whether the link named its item at the delete: `deleted_shop_links.source` AUTO or
    MANUAL, migration 0045; whether it is an earlier period a link change ended, source `EARLIER_PERIOD`,
    `KeptLink.earlier`) and `next_link_at`: when the SKU's first link on the connection reading them took effect
    (`first_link_here`; None: it has had none yet).

    The product rule (kept57, pool57 F1): a link that named its item at the delete (LINKED, or DROPPED with it) runs
    on through the gap, after the delete, until the SKU's next link took effect: the next connection's (the earliest
    kept link time at or after this delete, of a later delete; else `next_link_at`; else it runs on,
    `OPEN_ENDED`). TikTok went on selling the SKU meanwhile, and the units left the same shelf the item counts: a
    sale made in the gap, first seen by the reconnect's import (shipped already), counts on that item as if the shop
    had never been deleted (before: history, its units on sale on every shop for good, pool57 run4: 7 units over the
    shelf). It is not counted twice: the old ledger never saw it (made after the delete, it has no
    `deleted_shop_lines` record), and a reconnect joining the existing item seeds nothing from TikTok's stock (the
    item keeps its count; an item the delete removed goes with its periods, `ON DELETE CASCADE`, and the reconnect
    seeds a new one from a read that already left the sale out). A link the merchant had unlinked, or one an import
    left without its item, or one kept before 0045 (no source) ends at the delete (or the unlink) as before.

    `other_connections`: when other merchants had the same TikTok shop connected, (from, to) each (their deletes
    keep it, `deleted_shop_connections`; a delete before migration 0051: from its earliest kept link time to that
    delete, `deleted_shop_links`; a TikTok shop is connected to one Shopbridge shop at a time, `shops.tiktok_shop_id`
    unique). The gap leaves those spans out: the shop was that merchant's then, its sales left that merchant's shelf
    and were counted in that merchant's pool (review58 R6: running on, the gap counted them in both pools), and it
    runs on after each (review58b F1: ended for good at the other merchant's connection, a sale made after that
    merchant's delete and before this merchant's reconnect was counted in no pool). So a gap period may come in
    pieces, a `KeptLink` each (the first from the link time, the next from the end of a span). Only those instants
    cross between merchants, no row of theirs.

    A gap ends at the start of its end's second, the next link's or the other merchant's connection's (TikTok's
    `create_time` is whole seconds, our times are not): that second belongs to the period that begins in it, as
    `_made_under` reads consecutive periods ("the second of a change counts as after it", `order_timing`). The
    reconnect's own link is no kept period, so `_made_under`'s whole-second reading never saw it begin: a sale of
    the second its products import linked the SKU to another item counted on the gap's item (review58b F3), and one
    of the second another merchant connected the shop, counted by that merchant's link as after it, in both pools
    (ledger59). The second of the other merchant's delete already begins the gap's next piece (a period's start is
    read to its second)."""
    later = sorted(since for _, since, *_ in kept)
    spans = sorted(other_connections)
    periods: dict[str, list[KeptLink]] = {}
    for item_id, since, deleted_at, unlinked_at, named_its_item, earlier in kept:
        of_item = periods.setdefault(item_id, [])
        if not (named_its_item and unlinked_at is None):
            of_item.append(KeptLink(since, deleted_at, unlinked_at, None, earlier))
            continue
        following = [at for at in later if at >= deleted_at]
        next_at = following[0] if following else next_link_at
        # (the second of the next link, or of another merchant's connection, belongs to the period that begins in it)
        ends_at = OPEN_ENDED if next_at is None else max(deleted_at, _whole_second(next_at))
        start = since
        for span_from, span_to in ((_whole_second(began), ended) for began, ended in spans):
            if span_to <= deleted_at or span_from >= ends_at:
                continue  # (over before the delete, or after the gap)
            if max(span_from, deleted_at) > start:
                of_item.append(KeptLink(start, deleted_at, None, max(span_from, deleted_at), earlier))
            start = max(start, span_to)
        if start < ends_at:
            of_item.append(KeptLink(start, deleted_at, None, ends_at, earlier))
    return periods


def kept_pause(item_id: str, linked_before: Mapping[str, Collection[KeptLink]]) -> KeptLink | None:
    """The merchant's unlinked pause of a SKU on a deleted connection of its TikTok shop that the SKU's link to item
    `item_id` on the connection reading it makes that item's (`linked_before`: item -> `KeptLink`s, `through_the_gap`;
    all UTC): a period of `item_id` from the first second after the unlink (`sold_before_unlink`: the unlink's own
    second counts as before it) to the delete, or None.

    The rule (detour59b, soak59 F2), as on the never-deleted connection (`links.resumed_pause`, the merchant's link
    back): when the latest delete kept the SKU unlinked by the merchant (`KeptLink.unlinked_at`) from an item other
    than `item_id`, and kept an earlier period of `item_id` too (`KeptLink.earlier`: a link change of that connection
    ended it), the unlink was a correction of a detour (A, then B by mistake, `skuUnlink`), and a sale made after it
    left A's shelf: linked to A again (the reconnect's link by seller SKU plays the merchant's), it counts on A however
    the link and the sale's first read are ordered (open, it reserves there; shipped, it deducts; cancelled,
    history). A sale made before the unlink still counts on the item it was made under (that item's period ends at
    the unlink). None: no such unlink (a link that named its item, an import's unlink, one before migration 0046), the
    item it remembers (the pause runs to the delete as any period of `item_id`, `counted_under_a_deleted_link`), or
    an item it had no period of on that connection (the merchant said "not that item": history, as before). The
    pause ends at the delete: a sale made while the shop was deleted (the gap) is history, as before."""
    if not linked_before:  # (no deleted connection kept a link of the SKU: every line but a reconnected shop's)
        return None
    # (the links as they stood at each delete; an earlier period's `deleted_at` is its own end, `_linked_before`)
    deletes = sorted(
        {period.deleted_at for periods in linked_before.values() for period in periods if not period.earlier}
    )
    if not deletes:
        return None
    latest, previous = deletes[-1], deletes[-2] if len(deletes) > 1 else None
    unlinked = [
        (item, period.unlinked_at) for item, periods in linked_before.items() for period in periods
        if not period.earlier and period.deleted_at == latest and period.unlinked_at is not None
    ]  # fmt: skip
    if len(unlinked) != 1 or unlinked[0][0] == item_id:
        return None
    unlinked_at = unlinked[0][1]
    assert unlinked_at is not None
    # (an earlier period of `item_id` on that connection: ended after the delete before it, by the unlink)
    if not any(
        period.earlier and (previous is None or period.deleted_at > previous) and period.deleted_at <= unlinked_at
        for period in linked_before.get(item_id, ())
    ):
        return None
    return paused_period(unlinked_at, latest)


def paused_period(unlinked_at: datetime, until: datetime) -> KeptLink | None:
    """The unlinked pause from the merchant's unlink at `unlinked_at` to `until` (the link back, or the delete; UTC)
    as a period `sold_while_linked_before` reads: from the first second after the unlink's (`sold_before_unlink`: the
    unlink's own second counts as before it, on the item unlinked from) to `until`; None when that is empty."""
    since = _whole_second(unlinked_at) + timedelta(seconds=1)
    return KeptLink(since, until) if since < until else None


def sold_in_pause(created_at: datetime, pause: KeptLink | None) -> bool:
    """Whether an order created at `created_at` (TikTok's `create_time`, whole seconds, UTC) was made in `pause`
    (`paused_period`, `kept_pause`; None: no pause): False for none."""
    return pause is not None and sold_while_linked_before(created_at, [(pause.since, pause.deleted_at)])


def with_kept_pause(
    item_id: str | None, linked_before: Mapping[str, Collection[KeptLink]]
) -> Mapping[str, Collection[KeptLink]]:
    """`linked_before` (item -> `KeptLink`s of one SKU) with `kept_pause`'s period added to `item_id`'s, when there is
    one: a line of the SKU linked now to `item_id` first seen shipped, its order made in the pause, deducts from it
    (`order_timing`), as after the merchant's link back on the never-deleted connection."""
    pause = kept_pause(item_id, linked_before) if item_id is not None and linked_before else None
    if pause is None or item_id is None:
        return linked_before
    return {**linked_before, item_id: [*linked_before.get(item_id, ()), pause]}


def first_link_here(
    linked_at: datetime | None, earlier: Mapping[str, Collection[tuple[datetime, datetime]]]
) -> datetime | None:
    """When the SKU's first link on the connection reading a deleted shop's kept links took effect: `through_the_gap`'s
    `next_link_at`, UTC. The earliest of its link's time now (`linked_at`: its `linked_at`, its seed's read, or the
    time a link not LINKED remembers; None: none) and the link times of the periods this connection's link changes
    ended (`earlier`: item -> (link time, end), `sku_link_periods`, migration 0049, `links.ended_period`); None while
    it has had no link (its orders imported first: the kept period runs on, `OPEN_ENDED`).

    The rule (kept58, kept57's F1 edge): a sale counts on the item its SKU was linked to when it was made. A kept
    period runs through the gap to the reconnect's first link of the SKU, not to its link now: the reconnect links g1
    to HAT (its seller SKU renamed in the gap), a sale is made under HAT, the merchant then links g1 by hand to SOCK,
    the item of the delete; the sale, first seen shipped after that, counted on SOCK, the kept period running to the
    hand link (HAT kept the units on sale, SOCK lost them). Ended at the first link, the sale falls in HAT's period
    on this connection (`sold_under_an_earlier_link`). A sale made before the first link (the gap, or between the
    reconnect's authorization and its products import) still counts on the item of the delete (kept57 item 3).
    Every period a link change of this connection ended is kept (a link changed to another item, or one left
    without its item then linked to another), so its earliest link time is the first link's, as long as its period
    is kept: one ended over `DELETED_LINE_KEPT` ago is forgotten (no sale made under it can be first seen any more),
    and so is one of an item removed since (`ON DELETE CASCADE`)."""
    times = [since for periods in earlier.values() for since, _ in periods]
    return min([*times, linked_at] if linked_at is not None else times, default=None)


def counted_under_a_deleted_link(
    item_id: str, created_at: datetime, linked_before: Mapping[str, Collection[KeptLink]], *, shipped: bool = True
) -> str:
    """The item a line of a SKU linked now to `item_id` counts on when first seen, its order made at `created_at`
    (TikTok's `create_time`, UTC): the item of the link of its SKU under which it was sold, which the merchant's
    delete of an earlier connection of this TikTok shop took (`linked_before`: item -> `KeptLink`s,
    `deleted_shop_links`, migrations 0042, 0045, 0046; `sold_while_linked_before`), when that is not `item_id`; else
    `item_id` itself (no such period; a period of `item_id`; or the periods of two other items: never guess).
    A period of another item the merchant unlinked the SKU from ends at the unlink (`sold_before_unlink`: its second
    counting as before); one of `item_id` itself runs to the delete, as `order_timing` reads it (poolfix54 finding 1).

    The pool's rule: a unit sold under a link period is counted against the item that period linked, whatever the
    SKU links to after a reconnect. The reconnect's own link choice stands (by seller SKU for a SKU unlinked at the
    delete, poolfix54 finding 1; by hand for a hand link, `links.relinked_by_hand`), and the line moves that item
    as on the never-deleted connection, where it is first seen while the SKU is unlinked from that item
    (`first_seen_unlinked`: a sale made before the merchant's `skuUnlink`, or under an import's, reserves or
    deducts there) or linked to it: open, it reserves there and its cancellation releases there; shipped, it deducts
    from that item's on-hand; reserved at the delete, it comes back there (`back_with_its_shop`). Counted on the new
    link's item instead, a sale the old ledger never saw was history there and its units stayed on sale on every
    shop of the first (relink56, found but not fixed 1: 10/0/10 where the shelf held 8), and a reservation the
    delete deducted was reserved a second time there (units taken twice).

    A sale made after the merchant's `skuUnlink` and before the delete, first seen after the reconnect, is not one
    made under the link: on the same connection it waits remembering the item unlinked from and, the SKU linked to
    another item, is history there (shipped) or reserves there (open), `link_pending`. Counted on the item unlinked
    from, its units left that item's on-hand though its shelf never shipped them (unlink56, not fixed 1: 8/0/8 where
    the shelf held 10); so such a period ends at the unlink (`deleted_shop_links.unlinked_at`, migration 0046). What
    it gives up: a period kept before 0046, or of a link unlinked before 0036, still runs to the delete. A period of a
    link that named its item at the delete runs on through the gap to the SKU's next link (`through_the_gap`, pool57
    F1): a sale made while the shop was deleted counts on that item too. The caller
    passes no period for a line that connection's ledger had (the delete's record of it, `deleted_shop_lines`, not
    RESERVED): applied already, it must not move again.

    `shipped`: whether the line asks a deduction (DEDUCT). A line that does not (open, cancelled) leaves out the
    earlier periods of another item (`KeptLink.earlier`: a link change of that connection ended them before the
    delete), as on that connection (`sold_under_an_earlier_link`: first seen open it reserves on the item the SKU
    links to then, as the same sale seen in time would have moved there with the link): counted on the earlier
    period's item, an open sale made under SOCK, the SKU linked back to HAT before the delete, reserved on SOCK after
    the reconnect where the never-deleted connection reserved it on HAT (kept58's reconnect fuzz, seed 28)."""
    own = [_to_its_end(period) for period in linked_before.get(item_id, ())]
    for whole_seconds in (True, False):  # a link change's second counts as after it first (`_made_under`)
        if sold_while_linked_before(created_at, own, whole_seconds):
            return item_id
        items = {
            item for item, periods in linked_before.items()
            if item != item_id and any(
                (shipped or not (isinstance(period, KeptLink) and period.earlier))
                and sold_while_linked_before(created_at, [_to_its_end(period)], whole_seconds)
                and (period[2] is None or sold_before_unlink(created_at, period[2]))
                for period in periods
            )
        }  # fmt: skip
        if items:
            return next(iter(items)) if len(items) == 1 else item_id
    return item_id


def _to_its_end(period: KeptLink | tuple[datetime, datetime, datetime | None]) -> tuple[datetime, datetime, datetime]:
    """A kept period (`KeptLink`, or a plain (link time, delete time, unlink time)) as `sold_while_linked_before`
    reads it: (link time, delete time, when it ends)."""
    return period[0], period[1], period[3] if len(period) > 3 and period[3] is not None else period[1]


def sold_before_unlink(created_at: datetime, unlinked_at: datetime | None) -> bool:
    """Whether an order created at `created_at` (TikTok's `create_time`, whole seconds, UTC) was placed before its
    SKU left the item its link remembers, at `unlinked_at` (`sku_links.unlinked_at`, `links.unlinked_since`; None:
    unknown, a link unlinked before migration 0036: False). An order of the unlink's very second may have come
    before it or after: taken as before, the side that never sells a unit twice (reserved on the item it may not ship
    from, the item is undersold by its units until it ships or is cancelled; waiting, they were on sale on every
    shop of the item while still to ship)."""
    return unlinked_at is not None and created_at < _whole_second(unlinked_at) + timedelta(seconds=1)


def counted_in_stock(created_at: datetime, stock_read_at: datetime) -> bool:
    """Whether an order created at `created_at` (TikTok's create_time, whole seconds) is one TikTok's stock read at
    `stock_read_at` already reflects: its units were committed, out of that available quantity (live-sync.md §1.3).
    Only an order created before the read's second is; one of that very second or later may have come after it,
    and its units are still in the quantity read (counted in as well, they would be sold twice). The one rule for
    both sides of a seed: the open orders a new item's on-hand adds (`links.seed_on_hand`) and those the ledger
    later finds in the seed (`order_timing`), so that the two agree on one instant, the read."""
    return created_at < _whole_second(stock_read_at)


def released_before_read(order_updated_at: datetime, stock_read_at: datetime) -> bool:
    """Whether a line reserved in the seed of the stock read at `stock_read_at` (its order made before the read: the
    seed added its units to on-hand, as TikTok's available had left them out), now released by an order version
    of `order_updated_at` (TikTok's update_time, whole seconds), was cancelled no later than the read's second:
    TikTok's available had its units back already when it was read, and the seed counted them twice. Its release
    then takes them off on-hand too (`transition`: on-hand and reserved both drop, `available` as it was); released
    as a plain release, they went on sale twice, on every shop (an oversell: an order stored open by the orders
    import, cancelled before the product page's read, the cancellation ingested after the link).

    An order's update_time is never before its cancellation, so an update_time before the read's second proves the
    cancellation came before the read; one of the read's very second may have come before it or after: taken as
    before, the side that never sells a unit twice (undersold by the order's units at worst, until a count). A
    later update_time proves nothing: the cancellation may be older still, and the release stays a plain one, as
    that of the far more common cancellation after the read (whose units the read had left out: taken off on-hand
    too, it would be undersold for good). TikTok dates no cancellation (a line item has no cancel time, live-sync.md
    §3.2), so a cancellation before the read seen only in a later version (its own lost, the order changed since: a
    line cancelled alone, then the rest shipped) keeps the seed's double count until a count (README, "Seeding";
    poolreview53's physical fuzz, seeds 4, 52, 88, 127)."""
    return order_updated_at < _whole_second(stock_read_at) + timedelta(seconds=1)


def counted_after_shipment(shipped_by: datetime, counted_at: datetime) -> bool:
    """Whether the merchant's count of an item at `counted_at` (`inventorySetOnHand`, the instant of its SET
    movement, microseconds) already covers a RESERVED line of it whose shipment the ledger learns of now, in an order
    version that asks a deduction (shipped, or cancelled after its package left, `line_effect`), the line's units
    having left the shelf at `shipped_by` at the latest (`left_shelf_by`: whole seconds). Then the deduction takes
    the units off reserved only (the count set on-hand to a shelf they had left already); otherwise off on-hand too,
    as before this rule. A line first seen shipped, sold since its SKU's link (`after_link`: it deducts from on-hand,
    nothing having been reserved), moves nothing when the count covers its shipment.

    Rule (Shopify's and every WMS's: a count is the truth as of its time): a count taken at T covers every shipment
    whose units left the shelf at or before T; seen after it (a webhook late or lost, the next poll), it releases its
    committed units and does not lower on-hand again (pool57 F3: 377 on-hand where the shelf held 378, for good).

    A `shipped_by` before the count's second proves the shipment came first; one of the count's very second may
    have come before it or after: taken as after (deducted, undersold by the line's units at worst until the next
    count, never sold twice), as `released_before_read` does for a seed's read. A later one proves nothing: the
    deduction stays whole, as before. A count's instant is Shopbridge's clock and TikTok's times are TikTok's: they
    are taken as one clock."""
    return shipped_by < _whole_second(counted_at)


def left_shelf_by(
    order_status: str, order_updated_at: datetime, collected_at: datetime | None, package_count: int
) -> datetime:
    """When the units of an order version's shipped lines left the shelf at the latest (whole seconds, UTC): what
    `counted_after_shipment` compares a count with. The version is in `order_status`, of TikTok's `update_time`
    `order_updated_at`; `collected_at` is its `collection_time` (when the carrier collected the order; None: not
    given), `package_count` how many packages it lists (`packages[]`).

    - One package, the order not PARTIALLY_SHIPPING, collected: min(`collected_at`, `order_updated_at`). The
      carrier's collection is when the units left the shelf (TikTok sets `collection_time` once the order's last
      package is collected, as it moves to IN_TRANSIT, and keeps it after, tiktok-api.md sec. 8): a shipment
      collected before a count and first seen after it in a later version (DELIVERED, its webhooks lost, the poll
      finding it after the count) is covered by the count (collect58; count57's "found, not fixed" 1). The
      `update_time` bounds it too (TikTok's order changed no later than it), so a collection time TikTok dates
      after its own update is no later than that.
    - Otherwise: `order_updated_at`, the update_time of the version first seen shipped (count57's rule): TikTok
      changes an order (status, a line's `display_status`, `package_status`) no later than that, so the units left
      at or before it; never too early, known for every order. A line item dates no shipment of its own (`rts_time`
      is ready to ship: the units still on the shelf, live-sync.md sec. 3.2).
      Why not the collection time for an order of several packages, or one PARTIALLY_SHIPPING: TikTok gives one
      `collection_time` per order, not per package, and does not say which package's collection it is when there
      are several. A line in another package may have left later than the time given: dated by it, a count taken
      between the two collections would pass for covering a shipment it never saw, and the pool would keep units
      the shelf no longer holds (an oversell: the side this rule never takes). A PARTIALLY_SHIPPING version has
      lines still on the shelf and packages yet to be collected: whatever collection time it carries dates none of
      its lines for sure. No collection time given (not collected yet, not sent, an order stored before 0050): the
      update_time, as before."""
    if collected_at is None or package_count != 1 or order_status == OrderStatus.PARTIALLY_SHIPPING:
        return order_updated_at
    return min(collected_at, order_updated_at)


def _whole_second(moment: datetime) -> datetime:
    """`moment` to TikTok's resolution: its second, the fraction dropped.

    Asked once or twice per line of every order batch (`order_timing`: the SKU's seed read and link time), of the same
    few times over and over (a batch's SKUs share their products' reads), and `datetime.replace` is ~10 times a cache
    hit (its keyword parsing; 0.7-2 us a call on this machine, ~6 % of an orders import's writer, bench/README.md
    "Our CPU per record, stop 61"): a UTC time, every time the pool compares, is looked up (`_whole_utc_second`); one
    of another offset is computed (equal instants of two offsets would share an entry, and an offset's second need
    not be UTC's: an offset may hold seconds)."""
    if moment.tzinfo is UTC:
        return _whole_utc_second(moment)
    return moment.replace(microsecond=0)


@functools.lru_cache(maxsize=4096)
def _whole_utc_second(moment: datetime) -> datetime:
    """`_whole_second` of a UTC time, kept for the next asks (bounded: the least recently asked go first)."""
    return moment.replace(microsecond=0)


def link_pending(
    wanted: StockEffect,
    order_updated_at: datetime,
    item_id: str,
    quantity: int,
    was_reserved_on: str | None = None,
    counted_at: datetime | None = None,
    shipped_by: datetime | None = None,
) -> Transition:
    """A PENDING_LINK line whose SKU just got linked to `item_id`: an open one reserves, any other is history
    (TikTok's stock, which seeded or fed the item, no longer held that unit), but for a shipped line that was
    reserved on this very item before its SKU was unlinked, or first seen while its SKU was unlinked from it
    (`was_reserved_on`, `first_seen_unlinked`): the unlink gave its units back to the item (or nothing ever held
    them), they left its shelf since, and the item's count still holds them: it deducts them from on-hand
    (nothing is reserved any more). As history it would leave them on sale, an oversell. Linked to another item, it
    stays history: which shelf the units left is the merchant's to say, by a count.

    `counted_at`: the instant of `item_id`'s last count made in or after the second its units left the shelf by
    (`shipped_by`: `left_shelf_by`; None: `order_updated_at`), None if none (the caller reads it for a shipped line
    only). A count that covers the shipment (`counted_after_shipment`) already found those units gone: the line is
    deducted with nothing moved, as a shipment seen after a count is elsewhere (review61 F5: a sale in the unlinked
    pause shipped, the item counted, then the sale read and the SKU linked back took the units off a second time:
    6 where the shelf held 8, for good; read after the link back, it gave 8)."""
    if wanted is StockEffect.RESERVE:
        return _reserve(wanted, order_updated_at, item_id, quantity)
    if wanted is StockEffect.DEDUCT and was_reserved_on == item_id:
        left_by = order_updated_at if shipped_by is None else min(shipped_by, order_updated_at)
        if counted_at is not None and counted_after_shipment(left_by, counted_at):
            return Transition(LineState.DEDUCTED, wanted, order_updated_at, item_id)
        return Transition(LineState.DEDUCTED, wanted, order_updated_at, item_id, -quantity, 0, MovementKind.DEDUCTED)
    return Transition(LineState.HISTORICAL, wanted, order_updated_at, item_id)


def stays_reserved(line: LedgerLine, new_item: str | None) -> bool:
    """Whether a link change leaves a line as it is rather than moving it (`unlink_reserved`, `link_pending`): a
    RESERVED one whose SKU links to the item it reserved on still, or whose SKU is left without an item, whether by
    the merchant (`skuUnlink`) or by an import (its seller SKU found on a second SKU of the shop, AMBIGUOUS; cleared
    in Seller Center, NO_SELLER_SKU; the SKU made a bundle, EXCLUDED). Its order was placed while the SKU was that
    item's and TikTok ships it from that item's shelf, whatever the link says since: it keeps its units reserved
    there, moves on by its status (shipped: deducted from that item, as a DROPPED SKU's lines are,
    `links.counts_orders`; cancelled: released), and the unlink (or "never guess") holds for what the SKU's link
    decides from now on. Given back instead, its units went on sale on every shop while still to ship, and once
    shipped they stayed on that item's on-hand until the merchant linked the SKU to that same item again: sold twice,
    for good when nobody did (review37 for an import's unlink; try-out pool51 for the merchant's: 12/4/8 became
    12/2/10 at `skuUnlink`, and two other shops were pushed 10 where 8 were free). Linked to another item (the
    merchant's `skuLink`, or an import's), a RESERVED line moves there: that item holds the reservation, so no unit is
    on sale twice, and the merchant's link says which shelf the SKU's units are on."""
    if line.state is not LineState.RESERVED:
        return False
    return new_item is None or line.inventory_item_id == new_item


def unlink_reserved(current: LedgerLine, carried: bool = False) -> Transition | None:
    """A line whose SKU links to another item now (`relink_line`; one left without an item stays, `stays_reserved`):
    a RESERVED one gives its units back to its item and waits for its new link (PENDING_LINK), remembering that item
    (`link_pending`'s `was_reserved_on`); a line in any other state stays as it is. (Lines a merchant's unlink gave
    back before try-out pool51 wait so still, and move by `link_pending` once linked.) `carried`: the item its SKU
    goes to counts its units in (`carries_its_units`): they leave this item's on-hand with the reservation
    (`available` unchanged)."""
    if current.state is not LineState.RESERVED:
        return None
    q, item = current.quantity, current.inventory_item_id
    on_hand = -q if carried else 0
    return Transition(
        LineState.PENDING_LINK, current.wanted, current.order_updated_at, item, on_hand, -q, MovementKind.RELEASED, item
    )


class Relinked(NamedTuple):
    """What a link change does to one waiting line (`relink_line`): its moves, in order (none: it stays as it is),
    and the item owed its units afterwards (`order_line_stock.left_out_of_seed`, `LedgerLine.left_out_of`; None:
    none)."""

    moves: tuple[Transition, ...]
    left_out_of: str | None


def relink_line(
    line: LedgerLine,
    new_item: str | None,
    link_seed: tuple[str, datetime] | None,
    seeded_now: bool = False,
    counted_at: datetime | None = None,
    shipped_by: datetime | None = None,
) -> Relinked:
    """The moves of a RESERVED or PENDING_LINK line whose SKU a link change (an import's auto-link, the merchant's
    `skuLink` / `skuUnlink`) links to `new_item` now (None: to nothing), the line not kept where it is
    (`stays_reserved`). `link_seed`: (the item the SKU's link seeded, when its stock was read;
    `sku_links.seeded_item_id`, `stock_counted_at`, as the change wrote the link), None when it seeded none;
    `seeded_now`: `new_item` was created by this very change, seeded from that read (`links.seed_on_hand`).

    A RESERVED line leaves its item (`unlink_reserved`). Where the item it goes to counts its units in, they leave
    the item it left with their order (`carries_its_units`): on-hand and reserved both drop there, `available` as it
    was, and that item is owed them should the line come back (its mark). Otherwise only the reservation goes back.
    Then, linked, a line owed to the item it goes to counts in as first seen there (`in_seed_again`,
    `count_in_seed`: on-hand and reserved + its units), any other moves as a waiting line does (`link_pending`, with
    `counted_at` and `shipped_by`: `new_item`'s count since the line's shipment, which covers it)."""
    seeded_item = link_seed[0] if link_seed is not None else None
    carried = carries_its_units(line, new_item, seeded_item, seeded_now)
    moves: list[Transition] = []
    owed = line.left_out_of
    if line.state is LineState.RESERVED:
        back = unlink_reserved(line, carried)
        assert back is not None
        moves.append(back)
    if new_item is not None:
        if in_seed_again(line, new_item, seeded_item, carried):
            moves.extend(count_in_seed(line, new_item))
            owed = None
        else:
            was_on, when = line.inventory_item_id, line.order_updated_at
            moves.append(link_pending(line.wanted, when, new_item, line.quantity, was_on, counted_at, shipped_by))
    return Relinked(tuple(moves), line.inventory_item_id if carried else owed)


def carries_its_units(line: LedgerLine, new_item: str | None, seeded_item: str | None, seeded_now: bool) -> bool:
    """Whether a RESERVED line moving to item `new_item` takes its units off the on-hand of the item it leaves, not
    only off its reservations: the unit leaves with its order whenever the item it goes to counts it in, so that it
    is on one item's on-hand, never two (README "Shared inventory pool", a seller SKU renamed in Seller Center).

    The item it goes to counts it in when the link change created it, seeded from the SKU's TikTok stock read now
    (`seeded_now`, `seeded_item` that item): TikTok's available then lacked the units of the SKU's open orders made
    before the read, which the seed adds (`links.seed_on_hand`), and held those of orders made since, so every open
    order's unit is in the seed; and when the line comes back to the item it left so (its mark, `left_out_of`). The
    item it leaves holds its units when the line carries no mark (reserved in that item's seed, its units added then;
    or a sale since the stock that item was counted from, its unit in that count), or when that item is the link's
    seed (counted in there). A line marked owed elsewhere that reserved on another item as any sale (first seen
    while its SKU was away from its seed, `left_out_of_seed`) never added its units to that item: it gives back only
    the reservation, as does any line moving where nothing counts it in (a link or a rename to an existing item,
    whose count is of its own shelf). Before, a RESERVED line always gave back only its
    reservation: renamed to a new seller SKU, the order's unit stayed on the old item's on-hand while the new item's
    seed counted it too, and the old item's other shops were pushed it (on sale twice)."""
    if line.state is not LineState.RESERVED or new_item is None or line.inventory_item_id == new_item:
        return False
    counted_there = (seeded_now and seeded_item == new_item) or line.left_out_of == new_item
    held_here = line.left_out_of is None or line.inventory_item_id == seeded_item
    return counted_there and held_here


def deducted_on_copy(line: LedgerLine, new_item: str | None, seed_copy: tuple[str, str] | None) -> Transition | None:
    """The move of a DEDUCTED line whose SKU a link change links to `new_item` (None: to nothing), or None.
    `seed_copy`: (the item the SKU's link seeded, the item the SKU was LINKED to when it did;
    `sku_links.seeded_item_id`, `seeded_from_item_id`, migration 0030), None when the seed copied none.

    A seller SKU renamed in Seller Center to one no item has creates an item seeded from the shop's TikTok stock
    (`links.seed_on_hand`), which is the count the item before pushed: the seed is a copy, and that item's on-hand
    still holds every unit in it. A sale on the copy's SKU first seen there (made before its read and left out of
    it, `in_seed`, or since, its unit in the read) that ships deducts the copy alone; the item the seed copied never
    counted it out. So when the SKU goes back to that item, the line comes back with it and deducts its units there
    (on-hand -q, reserved as it was: nothing was reserved there), the rule `carries_its_units` applies the other way
    (what the copy counted out, the item it copied counts out): the unit that left the shelf leaves the count it
    comes back to too (a copy that stays, another shop linking it, keeps its deduction: its count held it). Before,
    the copy went with its movements (`shop_items.remove_unclaimed_items`) and the unit stayed on the
    item's on-hand, on sale on every shop (a try-out: `SB-00026-White` 370/1/369 where 369/1/368 was right).

    A line marked owed to an item (`left_out_of`) moves nothing: carried off the item it left with its units
    (`carries_its_units`: that item counted it out then), or left out of that item's seed (it never held it). A line
    on another item, or a link to another item (whose count is its own shelf's, README "Linked to another item it
    stays history") moves nothing either. Once moved the line is on `new_item`: the same change again moves nothing."""
    if seed_copy is None or new_item is None or line.state is not LineState.DEDUCTED or line.left_out_of is not None:
        return None
    copy, copied = seed_copy
    if copy == copied or line.inventory_item_id != copy or new_item != copied:
        return None
    q = line.quantity
    return Transition(LineState.DEDUCTED, line.wanted, line.order_updated_at, new_item, -q, 0, MovementKind.DEDUCTED)


def leaves_with_its_shop(line: LedgerLine) -> Transition | None:
    """What a line of a shop being deleted (`shopDelete`) does to its item before the row goes: a RESERVED line
    (an open order, units committed on the merchant's shelf) deducts its units: on-hand and reserved both drop by
    its quantity, `available` stays as it was. Any other line moves nothing (None).

    Deleting the shop in Shopbridge leaves the shop and its open orders on TikTok, which the merchant still ships
    from the shared shelf; from then on the pool sees neither their shipment nor their cancellation (live-sync.md
    §7.2: a channel order is a fact). Released instead (before this rule), the units went back on sale on every
    other shop while still promised to the deleted shop's buyers: sold twice once those orders shipped. A
    cancellation the pool no longer sees leaves its units off the count: undersold, never oversold, until the
    merchant's count (`inventorySetOnHand`) says what is on the shelf."""
    if line.state is not LineState.RESERVED or line.inventory_item_id is None:
        return None
    q = line.quantity
    return Transition(
        LineState.DEDUCTED, line.wanted, line.order_updated_at, line.inventory_item_id, -q, -q, MovementKind.DEDUCTED
    )


def back_with_its_shop(
    wanted: StockEffect,
    order_updated_at: datetime,
    item_id: str,
    quantity: int,
    created_at: datetime | None = None,
    seed_read_at: datetime | None = None,
    counted_at: datetime | None = None,
    shipped_by: datetime | None = None,
    counted_since_shipment: datetime | None = None,
) -> Transition:
    """The first move of a line that its shop's delete deducted (`leaves_with_its_shop`: on-hand and reserved both
    dropped, "shop deleted"), first seen again by the same merchant's shop of that TikTok shop (connected again) on
    the same item `item_id` (the delete's record, `deleted_shop_lines`): the delete already took its `quantity`
    units off on-hand, so the line comes back as it was before the delete instead of taking them a second time.

    Open (`wanted` RESERVE): RESERVED with its units back on on-hand (on-hand and reserved both rise by `quantity`,
    `available` as it was: the delete's deduction undone), so its shipment deducts them once and its cancellation
    puts them on sale, as for any open order (README "Deleting a shop": the merchant still ships them from the
    shared shelf; live-sync.md §7.2: an order moves the pool once). Shipped since (DEDUCT): DEDUCTED, the counters
    as they are (the delete's deduction was its shipment). Cancelled since (RELEASE): RELEASED with its units back on
    on-hand (`available` up by `quantity`: the cancelled units are on the shelf again, which the delete had taken
    off; its cancellation would otherwise leave them off the count until the merchant counts).
    (Before this rule, an open one reserved again, as any open order of a joining shop: available fell by its units
    a second time, and its shipment deducted them a second time, for good: SB-00026-White 376 -> 370 on-hand for
    one shipped sale of 3, review46.)

    `seed_read_at`: the stock read that seeded `item_id` from this shop's SKU, when the delete found the line on that
    seed's item (`deleted_shop_lines.seed_read_at`, migration 0041); `created_at`: the order's `create_time`. A line
    so reserved in the seed (`counted_in_stock`: made before the read, its units added to the seed's on-hand) and
    cancelled no later than that read (`released_before_read`) had its units counted twice by the seed (TikTok's
    available had them back already); on the same connection its release takes them off on-hand (`transition`), and
    the delete's deduction did exactly that: RELEASED, the counters as they are. Put back on on-hand as any
    cancellation, the seed's double count came back, on sale on every shop (poolreview53 defect 1: 11/0/11 where
    the shelf held 10).

    `counted_at`: the instant of the merchant's last count of `item_id` made since the delete (`inventorySetOnHand`,
    its SET movement, at or after the record's `deleted_shop_lines.deleted_at`; None: none). The rules above undo the
    delete's deduction, which holds only while on-hand still lacks the units it took off; a count since then set
    on-hand to the shelf, which held the line's units unless they had shipped already (a count is the truth as of its
    time, `counted_after_shipment`). So the line comes back as one the count found on the shelf: open, RESERVED with
    on-hand as counted (reserved up by `quantity`, `available` down by it: still to ship); shipped, DEDUCTED with its
    units off on-hand (they left the counted shelf; reserved as it is, nothing held them), but for a shipment dated
    before the count's second (`counted_after_shipment`: the count found them gone; dated by `shipped_by`, when its
    units left the shelf at the latest, `left_shelf_by`, as `transition` dates it; None: `order_updated_at`),
    DEDUCTED moving nothing;
    cancelled, RELEASED moving nothing (the count found them on the shelf). Undone as if no count came between, the
    units the count had already put back went back a second time, for good (review58 R3: HAT 10/0/10 after the
    shipment where the shelf held 8; 12/0/12 cancelled where it held 10).

    `counted_since_shipment`: the instant of the merchant's last count of `item_id` made in or after the second the
    shipment left the shelf by (`shipped_by`, else `order_updated_at`; None: none), read only when none was made since
    the delete (`counted_at` None: so this one came before the delete). Shipped, and that count covers the shipment
    (`counted_after_shipment`: it found the units gone and set on-hand without them, the line still reserved), the
    delete's deduction took them off on-hand a second time: the line comes back DEDUCTED with its units back on
    on-hand (`available` up by them, reserved as it is), as the same shipment seen on the never-deleted connection
    releases its reservation only (`transition`). Taken as the shipment instead, the shelf was undersold by them for
    good, until the next count (review59 F4: 6/0/6 where the shelf held 8; R3's mirror, a count before the delete)."""
    left_by = order_updated_at if shipped_by is None else min(shipped_by, order_updated_at)
    if counted_at is not None:  # (on-hand as the count found the shelf)
        if wanted is StockEffect.RESERVE:
            return _reserve(wanted, order_updated_at, item_id, quantity)
        if wanted is StockEffect.RELEASE:
            return Transition(LineState.RELEASED, wanted, order_updated_at, item_id)
        if counted_after_shipment(left_by, counted_at):
            return Transition(LineState.DEDUCTED, wanted, order_updated_at, item_id)
        return Transition(LineState.DEDUCTED, wanted, order_updated_at, item_id, -quantity, 0, MovementKind.DEDUCTED)
    if wanted is StockEffect.RELEASE and created_at is not None and seed_read_at is not None:
        if counted_in_stock(created_at, seed_read_at) and released_before_read(order_updated_at, seed_read_at):
            return Transition(LineState.RELEASED, wanted, order_updated_at, item_id)
    if wanted is StockEffect.RESERVE:
        return Transition(
            LineState.RESERVED, wanted, order_updated_at, item_id, quantity, quantity, MovementKind.RESERVED
        )
    if wanted is StockEffect.DEDUCT:
        if counted_since_shipment is not None and counted_after_shipment(left_by, counted_since_shipment):
            # (a count before the delete found the units gone: the delete's deduction took them off again)
            return Transition(LineState.DEDUCTED, wanted, order_updated_at, item_id, quantity, 0, MovementKind.RELEASED)
        return Transition(LineState.DEDUCTED, wanted, order_updated_at, item_id)
    return Transition(LineState.RELEASED, wanted, order_updated_at, item_id, quantity, 0, MovementKind.RELEASED)


def waits_with_its_shop(wanted: StockEffect, order_updated_at: datetime) -> Transition:
    """The first move of a line its shop's delete deducted (`leaves_with_its_shop`, `deleted_shop_lines` state
    RESERVED), first seen again by the same merchant's shop of that TikTok shop (connected again) before its SKU has a
    link (the reconnect's orders import ahead of its products import, or the SKU unlinked meanwhile): it waits for the
    link on no item (PENDING_LINK), whatever its status, keeping its record, and its SKU's link moves it as the
    products-first path would have (`relink_lines`: linked to the record's item, `back_with_its_shop`; to another,
    as any waiting line, `link_pending`). So the import's order never decides the outcome.

    Before this rule only an open one waited: one first seen cancelled (or shipped) before the link was history at
    once and its record gone, so a cancellation the delete had deducted never came back (poolfuzz54 finding 2: 9/0/9
    where the shelf held 10, and where products first gave 10/0/10). Shipped, the outcome is the same either way (the
    delete's deduction was its shipment: `back_with_its_shop` moves nothing)."""
    return Transition(LineState.PENDING_LINK, wanted, order_updated_at, None)


def pending_with_its_shop(
    wanted: StockEffect, order_updated_at: datetime, linked_item_id: str | None, quantity: int, remembered: str
) -> Transition:
    """The first move of a line its shop's delete found PENDING_LINK remembering item `remembered` (the item it was
    reserved on before its SKU was unlinked, or that its SKU was unlinked from when first seen: `first_seen_unlinked`;
    `deleted_shop_lines`, state PENDING_LINK), first seen again by the same merchant's shop of that TikTok shop
    (connected again), whose SKU links to `linked_item_id` now (None: not yet).

    It moves as it would have on the connection that was deleted, where it waited for its SKU's link: linked, as a
    waiting line linked (`link_pending`: open, it reserves; shipped and linked to `remembered` again, it deducts its
    units from on-hand, as they left that item's shelf; else history); not linked yet (the reconnect's orders ahead of
    its products), it waits again remembering `remembered`, and its SKU's link moves it so (`relink_line`). As any
    line the delete's ledger had applied (a final state), it was history instead: its units stayed on the item's
    on-hand for good, on sale on every shop though they had left the shelf (review54b finding 1: 10/0 where the
    shelf held 8). The delete moved nothing for it (`leaves_with_its_shop`), so nothing is given back."""
    if linked_item_id is None:
        return Transition(LineState.PENDING_LINK, wanted, order_updated_at, remembered)
    return link_pending(wanted, order_updated_at, linked_item_id, quantity, remembered)


def back_from_unseen(move: Transition, created_at: datetime, sold_before: datetime, units: int) -> int:
    """How many of `units` (> 0), units its shop's delete took off `move`'s item as sold unseen (a hold of the
    link's push that still stood: README "Deleting a shop", `deleted_shop_holds`), the first move `move` of a line of
    that SKU first seen by the same merchant's shop of that TikTok shop connected again takes back on on-hand: at
    most the units the move takes (`unseen_units`: first reserved or first deducted on that item) when its order was
    made at or before `sold_before` (the hold's last push, which found the sales it held back already made; TikTok's
    `create_time`, whole seconds); else 0. The caller adds them to the move's `on_hand_delta`, unless the merchant
    counted the item since that delete (`unseen_back_on_hand`).

    The delete deducted those units because their orders would never reach the pool; this one did. Open, it
    reserves them: back on on-hand, `available` stays as it was instead of falling by them a second time (the
    delete's deduction undone), so its shipment deducts them once (live-sync.md §7.2: an order moves the pool once).
    Shipped when first seen and deducted (made while the deleted shop's link stood, `sold_while_linked_before`, or
    waiting on that link's item and linked there, `link_pending`), the delete's deduction was its shipment: the units
    it gives back offset the deduction, and on-hand falls by the line's units once in all (review54b finding 2:
    deducted a second time since migration 0042, 6/0/6 where the shelf held 8). History or cancelled, a line takes
    nothing back (cancelled, its units stay off the count, undersold, as a cancellation the delete never saw: an order
    first seen cancelled may be one the ledger had released before the delete). When more lines of the SKU were
    made before that push than it held, the first ones take the units back: the counts are the same whichever, each
    line moving its own units and the item's on-hand getting the held units back once in all."""
    if created_at > sold_before:
        return 0
    return min(units, unseen_units(move))


def back_from_unseen_elsewhere(
    move: Transition, created_at: datetime, sold_before: datetime, units: int, quantity: int
) -> int:
    """How many of `units` (> 0), units its shop's delete took off another item than `move`'s as sold unseen (a
    hold of the SKU's push that still stood, on the item its link named then: `deleted_shop_holds`), the first move
    `move` of a line of `quantity` units of that SKU, first seen by the same merchant's shop of that TikTok shop
    connected again, takes back: at most the line's own `quantity` when its order was made at or before
    `sold_before` (the hold's last push; TikTok's `create_time`, whole seconds) and the move counts the sale on an
    item (first RESERVED or DEDUCTED there); else 0. The caller gives them back on the record's item
    (`unseen_back_elsewhere`).

    Unlike `back_from_unseen` (a record of the move's own item, whose give-back offsets the move's own deduction),
    this is not bounded by the units the move takes off its item: the hold's item never lost them whatever the move
    does on the sale's item. A count of the sale's item that covered its shipment makes the move take nothing there
    (`counted_after_shipment`), and the hold's units still come back on the hold's item (review59 F2: 8/0/8 for good
    where the hold's shelf held 10). History or cancelled when first seen, or waiting for its SKU's link, a line
    takes nothing back (as `back_from_unseen`)."""
    if created_at > sold_before or move.inventory_item_id is None:
        return 0
    if move.state not in (LineState.RESERVED, LineState.DEDUCTED):
        return 0
    return min(units, quantity)


def unseen_back_on_hand(
    units: int, move: Transition, counted_at: datetime | None, shipped_by: datetime | None = None
) -> int:
    """How many of `units`, the units a line's first move `move` takes back from its shop's delete's record of units
    sold unseen (`back_from_unseen`), go back on its item's on-hand: all of them, unless the merchant counted the item
    since that delete (`counted_at`: the instant of the last count, `inventorySetOnHand`'s SET movement, at or after
    the record's `deleted_shop_holds.deleted_at`; None: none). The delete took them off on-hand as sold unseen; a
    count since set on-hand to the shelf, which held them until they shipped, so giving them back as well put them on
    sale twice, for good (review58 R3, as for the lines the delete deducted: `back_with_its_shop`): open, the line
    reserves them on on-hand as counted; shipped after the count, its deduction takes them off the counted shelf once.
    But for a deduction of a shipment dated before the count's second (`counted_after_shipment`: the count found them
    gone), on a path the count rule does not reach (a waiting line linked, `link_pending`): it took them off on-hand
    again, and they go back, on-hand as counted. The record's units are taken all the same: the line is the sale
    they stood for. `shipped_by`: when the shipment left the shelf at the latest, as the count rule dates it
    (`left_shelf_by`: the carrier's collection for an order of one package; None: the move's `order_updated_at`)."""
    if counted_at is None:
        return units
    if move.state is LineState.DEDUCTED and counted_after_shipment(shipped_by or move.order_updated_at, counted_at):
        return units
    return 0


# The reason of the movement that gives a record's units back for a line a count before the delete covered
# (`counted_unseen_back_on_hand`; stable: tests, console)
COUNTED_BEFORE_DELETE_REASON = "shop connected again: sold unseen, counted before the delete"


def counted_unseen_units(
    move: Transition, quantity: int, counted_at: datetime | None, shipped_by: datetime | None = None
) -> int:
    """The units of a line of `quantity` units whose first move `move` deducts nothing from its item because the
    merchant's count of that item covered its shipment: `quantity` when `move` is DEDUCTED on an item with no
    counters moved and the count at `counted_at` (the item's last count made in or after the second the units left
    the shelf by, as the caller read it for `move`; None: none) covers the shipment (`counted_after_shipment`, the
    shipment dated by `shipped_by`, `left_shelf_by`, bounded by the move's `order_updated_at`); else 0.

    Such a line is a sale its shop's delete may have taken off as sold unseen (`deleted_shop_holds`) although the
    count had found its units gone already: `back_from_counted_unseen` lets it take those units (review61 F6). A
    line that deducted its units (`unseen_units`) takes them by `back_from_unseen` instead."""
    if move.state is not LineState.DEDUCTED or move.inventory_item_id is None or move.movement is not None:
        return 0
    if move.on_hand_delta or move.reserved_delta or counted_at is None:
        return 0
    left_by = move.order_updated_at if shipped_by is None else min(shipped_by, move.order_updated_at)
    return quantity if counted_after_shipment(left_by, counted_at) else 0


def back_from_counted_unseen(created_at: datetime, sold_before: datetime, units: int, covered: int) -> int:
    """How many of `units` (> 0), units its shop's delete took off an item as sold unseen (`deleted_shop_holds`, the
    hold's last push `sold_before`), a line of that SKU on that item first seen by the same merchant's shop of that
    TikTok shop connected again takes when a count covered its shipment (`covered`: `counted_unseen_units`, its
    units, > 0): at most `covered` when its order was made at or before `sold_before` (TikTok's `create_time`, whole
    seconds), as `back_from_unseen`; else 0. The record's units so taken are spent; whether they go back on on-hand
    is `counted_unseen_back_on_hand`'s rule."""
    return 0 if created_at > sold_before else min(units, covered)


def counted_unseen_back_on_hand(units: int, counted_since_delete: datetime | None) -> int:
    """How many of `units`, a delete's record of units sold unseen taken by a line whose shipment a count covered
    (`back_from_counted_unseen`), go back on the record's item's on-hand: all of them when the merchant has not
    counted the item since that delete (`counted_since_delete`: the last count at or after the record's
    `deleted_shop_holds.deleted_at`; None: none), else none.

    The rule (review61 F6; decided, with its conservative sides kept): the count that covered the shipment was made
    before the delete, and found the sale's units gone already; the push after it still held them back (while the
    sale is unseen its drop at TikTok may be an order not yet shipped, still on the shelf the count saw: holding is
    the undersell side, never an oversell), and the delete, which cannot tell, took them off on-hand as sold unseen
    a second time (HAT pushed 20, a sale of 3 shipped unseen, the shelf counted 18, the delete 15, and 15 for good
    after the reconnect: its line, covered by the count, deducted nothing and left the record). Now that the sale is
    seen and its shipment dated before the count, that second deduction is known to be one: the units go back, a
    movement of their own (`MovementKind.CORRECTED`, reason `COUNTED_BEFORE_DELETE_REASON`). A count since the
    delete set on-hand to the shelf after the delete's deduction: the truth as of its time, nothing goes back (as
    `unseen_back_elsewhere`, and holds60's give-back of a record no sale explains). Either way the record's units are
    spent: the line is the sale they stood for (a later line of the SKU takes nothing of them, and the scheduler's
    give-back, `domain.inventory.unexplained`, finds no record). A TikTok shop never connected again keeps the
    delete's deduction: without the sale's order, its shipment cannot be dated against the count."""
    return units if counted_since_delete is None else 0


def unseen_back_elsewhere(units: int, counted_at: datetime | None) -> int:
    """How many of `units`, the units a line's first move takes back from its shop's delete's record of units sold
    unseen (`back_from_unseen`) when the record names another item than the one the move counts on, go back on the
    record's item's on-hand: all of them, unless the merchant counted that item since that delete (`counted_at`, as
    for `unseen_back_on_hand`; None: none). A push's hold is of its SKU (`sku_links.held_quantity`: TikTok's available
    of the SKU fell by sales not in the ledger), so its sales may be of an earlier link to another item: one made
    under that link counts there (`sold_under_an_earlier_link`, `counted_under_a_deleted_link`), while the delete took
    the held units off the item the link named then (hold58: 8/0/8 where the shelf held 10, for good). The line's own
    move takes its units off the item it counts on; those held go back on the hold's item, whose shelf never lost
    them. A count since that delete set on-hand to that shelf, which held them all along: nothing goes back (no
    deduction of this line follows on that item, unlike `unseen_back_on_hand`'s)."""
    return units if counted_at is None else 0


def unseen_units(move: Transition) -> int:
    """The units a line's first move `move` takes from its item, which a hold's units sold unseen may be
    (`back_from_unseen`): a first reservation's (RESERVED, reserved rising, not in a seed: a seed's adds its units
    to on-hand already, more back would put them on sale twice), a first deduction's (DEDUCTED, on-hand falling,
    nothing reserved); else 0."""
    if move.inventory_item_id is None:
        return 0
    if move.state is LineState.RESERVED and move.reserved_delta > 0 and move.on_hand_delta <= 0:
        return move.reserved_delta
    if move.state is LineState.DEDUCTED and move.reserved_delta == 0 and move.on_hand_delta < 0:
        return -move.on_hand_delta
    return 0


# How long the record of a line a shop's delete deducted (`deleted_shop_lines`, `back_with_its_shop`) waits for that
# TikTok shop connected again: see `deleted_line_forgotten`.
DELETED_LINE_KEPT = ORDERS_MAX_WINDOW + timedelta(days=7)


def deleted_line_forgotten(deleted_at: datetime, now: datetime, kept: timedelta = DELETED_LINE_KEPT) -> bool:
    """Whether the record of a line deducted by its shop's delete at `deleted_at` (UTC) may go at `now`: once it is
    older than `kept` (`DELETED_LINE_KEPT`, 97 days), the retention sweep deletes it (`domain.services.retention`).

    Why that bound: the record serves a line a reconnect's import first sees (open or cancelled, it comes back as it
    was; shipped, the delete's deduction was its shipment, and it is not deducted again: `back_with_its_shop`). An
    orders import covers orders created within its window, 30 days by default and at most 90
    (`domain.sync.ORDERS_MAX_WINDOW`, `ordersCreatedSince`), and the line's order was created before its shop's delete
    (`deleted_at` bounds its `create_time`): 90 days after the delete no import created from then on can see it. The
    7 days beyond cover an import task created before then and still running (its window is fixed when it is
    created), with the window's own 5 minutes of tolerance. What is left after the bound is an order TikTok still
    keeps open more than 90 days after it was placed and that a poll or webhook then brings: first seen open it is
    reserved again (`available` short by its units, undersold, never oversold, until it ships or the merchant
    counts), as a line of a shop deleted before migration 0031. Without a bound the table grew by every open line of
    every shop deleted and never connected again, until its item went (README "Storage" under Operations). The same
    rule holds for the units the delete took off as sold unseen (`deleted_shop_holds`, `back_from_unseen`) and for its
    links' times (`deleted_shop_links`, `sold_while_linked_before`): their orders too were made before the delete."""
    return deleted_at < now - kept


def _reserve(wanted: StockEffect, order_updated_at: datetime, item_id: str, quantity: int) -> Transition:
    return Transition(LineState.RESERVED, wanted, order_updated_at, item_id, 0, quantity, MovementKind.RESERVED)
