"""The order ledger's whole transition table (issue 8; live-sync.md §3.5, §7.2), stated as literals.

Every row gives a stored line (or none), the effect the order's status asks for, the order's `update_time` (older
than, equal to or newer than the one applied) and the item the SKU links to now, and the exact `Transition` the
rules ask for, deltas in units. A stored line holds 3 units and was applied to item "A"; the SKU now links to "B"
(or to nothing), so a row that applies to the wrong item, or counts the wrong quantity, fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.inventory.items import MovementKind
from domain.inventory.ledger import (
    DELETED_LINE_KEPT,
    LINE_ITSELF,
    OPEN_ENDED,
    KeptLink,
    KeptPeriod,
    LedgerLine,
    LineState,
    StockEffect,
    StockLine,
    Transition,
    back_from_counted_unseen,
    back_from_unseen,
    back_from_unseen_elsewhere,
    back_with_its_shop,
    count_in_seed,
    counted_after_shipment,
    counted_under_a_deleted_link,
    counted_unseen_back_on_hand,
    counted_unseen_units,
    deducted_on_copy,
    first_link_here,
    first_seen_unlinked,
    in_seed_again,
    kept_pause,
    leaves_with_its_shop,
    left_before_relink,
    left_before_relink_with_its_shop,
    left_out_of_seed,
    left_shelf_by,
    line_effect,
    link_pending,
    order_timing,
    pending_with_its_shop,
    released_before_read,
    relink_line,
    reserved_until,
    shipped_before_a_deleted_relink,
    shipped_before_relink,
    shipped_under_a_deleted_link,
    sold_before_unlink,
    sold_in_pause,
    sold_under_an_earlier_link,
    sold_while_linked_before,
    stays_reserved,
    stock_lines,
    through_the_gap,
    took_units_now,
    transition,
    uncounted_sale,
    unlink_reserved,
    unseen_back_elsewhere,
    unseen_back_on_hand,
    waits_with_its_shop,
    with_kept_pause,
)

OLDER = datetime(2026, 11, 30, 11, 59, tzinfo=UTC)
APPLIED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NEWER = datetime(2026, 11, 30, 12, 1, tzinfo=UTC)

RESERVE, DEDUCT, RELEASE = StockEffect.RESERVE, StockEffect.DEDUCT, StockEffect.RELEASE
MOVED_RESERVED, MOVED_DEDUCTED, MOVED_RELEASED = MovementKind.RESERVED, MovementKind.DEDUCTED, MovementKind.RELEASED
PENDING, RESERVED, DEDUCTED, RELEASED, HISTORICAL = (
    LineState.PENDING_LINK, LineState.RESERVED, LineState.DEDUCTED, LineState.RELEASED, LineState.HISTORICAL,
)  # fmt: skip


def stored(state: LineState, wanted: StockEffect) -> LedgerLine:
    """A line applied at APPLIED, of 3 units; an applied one counted on item "A", a pending one on none."""
    return LedgerLine(state, wanted, APPLIED, None if state is PENDING else "A", 3)


# (first seen) wanted, linked item, in_seed -> the transition of a 3-unit line seen at NEWER
FIRST_SEEN = [
    (RESERVE, "B", False, Transition(RESERVED, RESERVE, NEWER, "B", 0, 3, MOVED_RESERVED)),
    # created before the item was seeded from TikTok's stock, which left these 3 units out: on-hand gets them back
    (RESERVE, "B", True, Transition(RESERVED, RESERVE, NEWER, "B", 3, 3, MOVED_RESERVED)),
    (RESERVE, None, False, Transition(PENDING, RESERVE, NEWER, None)),
    (RESERVE, None, True, Transition(PENDING, RESERVE, NEWER, None)),
    (DEDUCT, "B", False, Transition(HISTORICAL, DEDUCT, NEWER, "B")),
    (DEDUCT, "B", True, Transition(HISTORICAL, DEDUCT, NEWER, "B")),
    (DEDUCT, None, False, Transition(HISTORICAL, DEDUCT, NEWER, None)),
    (RELEASE, "B", False, Transition(HISTORICAL, RELEASE, NEWER, "B")),
    (RELEASE, "B", True, Transition(HISTORICAL, RELEASE, NEWER, "B")),
    (RELEASE, None, False, Transition(HISTORICAL, RELEASE, NEWER, None)),
]


@pytest.mark.parametrize(("wanted", "linked", "in_seed", "expected"), FIRST_SEEN)
def test_a_line_seen_for_the_first_time(
    wanted: StockEffect, linked: str | None, in_seed: bool, expected: Transition
) -> None:
    assert transition(None, wanted, NEWER, linked, 3, in_seed) == expected


# order status, line status (TikTok's `display_status`; None: not given), the line's `package_status` (None: not
# given) -> the effect asked of the line
LINE_EFFECTS = [
    # an item-level cancellation (US/UK): one line CANCELLED on an order still open releases that line alone
    ("AWAITING_SHIPMENT", "CANCELLED", None, RELEASE),
    ("UNPAID", "CANCELLED", None, RELEASE),
    ("ON_HOLD", "CANCELLED", None, RELEASE),
    ("AWAITING_SHIPMENT", "AWAITING_SHIPMENT", None, RESERVE),
    # a PARTIALLY_SHIPPING order: its shipped lines deduct, those still to ship stay reserved
    ("PARTIALLY_SHIPPING", "IN_TRANSIT", None, DEDUCT),
    ("PARTIALLY_SHIPPING", "AWAITING_SHIPMENT", None, RESERVE),
    ("IN_TRANSIT", "CANCELLED", None, RELEASE),  # cancelled before the rest shipped: TikTok gave its unit back
    # ON_HOLD is no line status: a line of an ON_HOLD order says AWAITING_SHIPMENT (or nothing)
    ("ON_HOLD", "AWAITING_SHIPMENT", None, RESERVE),
    # the order's status decides when the line gives none, or one this version does not know
    ("AWAITING_SHIPMENT", None, None, RESERVE),
    ("COMPLETED", None, None, DEDUCT),
    ("CANCELLED", "SOMETHING_NEW", None, RELEASE),
    ("SOMETHING_NEW", "IN_TRANSIT", None, DEDUCT),
    ("SOMETHING_NEW", None, None, None),
    ("SOMETHING_NEW", "SOMETHING_ELSE", None, None),
    # cancelled after its package left the shelf (in transit, delivered, lost or damaged): no automatic restock,
    # its units are gone (live-sync.md §3.5, "cancelled after shipping; package CANCELLED (lost)")
    ("CANCELLED", "CANCELLED", "CANCELLED", DEDUCT),
    ("CANCELLED", None, "CANCELLED", DEDUCT),
    ("CANCELLED", "SOMETHING_NEW", "CANCELLED", DEDUCT),
    ("CANCELLED", "CANCELLED", "FULFILLING", DEDUCT),
    ("CANCELLED", "CANCELLED", "COMPLETED", DEDUCT),
    ("IN_TRANSIT", "CANCELLED", "CANCELLED", DEDUCT),  # a line of a shipped order, its own package lost
    # cancelled while its package was still on the shelf (to fulfil; arranged, awaiting collection): released
    ("CANCELLED", "CANCELLED", "TO_FULFILL", RELEASE),
    ("CANCELLED", "CANCELLED", "PROCESSING", RELEASE),
    ("AWAITING_COLLECTION", "CANCELLED", "PROCESSING", RELEASE),
    ("CANCELLED", "CANCELLED", "SOMETHING_NEW", RELEASE),  # a package status this version does not know
    # the package's status turns only a cancellation into a deduction: open and shipped lines ask as before
    ("AWAITING_SHIPMENT", "AWAITING_SHIPMENT", "TO_FULFILL", RESERVE),
    ("AWAITING_COLLECTION", "AWAITING_COLLECTION", "PROCESSING", RESERVE),
    ("IN_TRANSIT", "IN_TRANSIT", "FULFILLING", DEDUCT),
    ("DELIVERED", None, "COMPLETED", DEDUCT),
    ("SOMETHING_NEW", None, "CANCELLED", None),
]


@pytest.mark.parametrize(("order_status", "line_status", "package_status", "expected"), LINE_EFFECTS)
def test_a_lines_own_status_decides_its_effect_and_its_orders_stands_in(
    order_status: str, line_status: str | None, package_status: str | None, expected: StockEffect | None
) -> None:
    assert line_effect(order_status, line_status, package_status=package_status) is expected


@pytest.mark.parametrize(("order_status", "line_status", "package_status", "_"), LINE_EFFECTS)
def test_a_line_of_an_order_tiktok_fulfils_asks_a_release_whatever_its_status(
    order_status: str, line_status: str | None, package_status: str | None, _: StockEffect | None
) -> None:
    # an FBT order ships from TikTok's warehouse: none of its units is on the merchant's shelf (live-sync.md §1.5)
    assert line_effect(order_status, line_status, fulfilled_by_tiktok=True, package_status=package_status) is RELEASE


def test_a_line_cancelled_after_its_package_left_moves_as_a_shipped_one() -> None:
    # given the effect of a line cancelled with its package lost in transit (live-sync.md §3.5)
    lost = line_effect("CANCELLED", "CANCELLED", package_status="CANCELLED")
    assert lost is DEDUCT
    # then a line reserved before (its shipment's webhook lost) deducts its units: they are gone from the shelf
    reserved = LedgerLine(RESERVED, RESERVE, APPLIED, "A", 3)
    assert transition(reserved, lost, NEWER, "A") == Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, -3, MOVED_DEDUCTED)
    # a line deducted at its shipment stays so
    assert transition(LedgerLine(DEDUCTED, DEDUCT, APPLIED, "A", 3), lost, NEWER, "A") is None
    # first seen so, it is history, as a shipped line first seen; made since its SKU's link, it deducts from
    # on-hand (its units left the pool's counted stock; nothing was reserved)
    assert transition(None, lost, NEWER, "B", 3) == Transition(HISTORICAL, DEDUCT, NEWER, "B")
    assert transition(None, lost, NEWER, "B", 3, False, True) == Transition(
        DEDUCTED, DEDUCT, NEWER, "B", -3, 0, MOVED_DEDUCTED
    )


def test_an_orders_timing_against_its_links_seeding_and_linking() -> None:
    seeded, linked = datetime(2026, 11, 30, 10, tzinfo=UTC), datetime(2026, 11, 30, 11, tzinfo=UTC)
    before, between, at, after = (
        datetime(2026, 11, 30, h, m, tzinfo=UTC) for h, m in ((9, 0), (10, 30), (11, 0), (12, 0))
    )
    assert order_timing(before, seeded, linked) == (True, False)
    assert order_timing(seeded, seeded, linked) == (False, False)  # created as the stock was read: not before it
    assert order_timing(between, seeded, linked) == (False, False)
    assert order_timing(at, seeded, linked) == (False, True)
    assert order_timing(after, seeded, linked) == (False, True)
    assert order_timing(between, seeded, None) == (False, True)  # a link older than link times: its seeding time
    assert order_timing(before, None, linked) == (False, False)  # a shop that joined: never in the seed
    assert order_timing(after, None, None) == (False, False)
    # TikTok's create_time is whole seconds: an order of the second the stock was counted (or the link made) in
    # may have come after it, and counts as after
    counted = seeded + timedelta(milliseconds=400)
    assert order_timing(seeded, counted, None) == (False, True)
    assert order_timing(seeded - timedelta(seconds=1), counted, None) == (True, False)


# (first seen) wanted, linked item -> the transition of a 3-unit line of an order created since its SKU was linked
FIRST_SEEN_AFTER_LINK = [
    # shipped before Shopbridge saw it (webhooks lost, a stop): its units left the pool's counted stock
    (DEDUCT, "B", Transition(DEDUCTED, DEDUCT, NEWER, "B", -3, 0, MovementKind.DEDUCTED)),
    (DEDUCT, None, Transition(HISTORICAL, DEDUCT, NEWER, None)),  # no item to take them from
    (RELEASE, "B", Transition(HISTORICAL, RELEASE, NEWER, "B")),  # cancelled: TikTok gave them back
    (RESERVE, "B", Transition(RESERVED, RESERVE, NEWER, "B", 0, 3, MOVED_RESERVED)),
]


@pytest.mark.parametrize(("wanted", "linked", "expected"), FIRST_SEEN_AFTER_LINK)
def test_a_line_of_an_order_made_since_its_link_seen_for_the_first_time(
    wanted: StockEffect, linked: str | None, expected: Transition
) -> None:
    assert transition(None, wanted, NEWER, linked, 3, False, True) == expected


# (stored state, stored wanted) x wanted x update time x linked item -> transition (None: nothing changes)
APPLIED_TABLE = [
    # PENDING_LINK, still unlinked: only a new status or a newer time is recorded; nothing moves
    (PENDING, RESERVE, RESERVE, APPLIED, None, None),
    (PENDING, RESERVE, RESERVE, NEWER, None, Transition(PENDING, RESERVE, NEWER, None)),
    (PENDING, RESERVE, DEDUCT, APPLIED, None, Transition(PENDING, DEDUCT, APPLIED, None)),
    (PENDING, RESERVE, DEDUCT, NEWER, None, Transition(PENDING, DEDUCT, NEWER, None)),
    (PENDING, RESERVE, RELEASE, APPLIED, None, Transition(PENDING, RELEASE, APPLIED, None)),
    (PENDING, RESERVE, RELEASE, NEWER, None, Transition(PENDING, RELEASE, NEWER, None)),
    (PENDING, DEDUCT, DEDUCT, APPLIED, None, None),
    (PENDING, DEDUCT, DEDUCT, NEWER, None, Transition(PENDING, DEDUCT, NEWER, None)),
    # an open snapshot as old as the shipped one applied (one second of TikTok's times): stale, nothing moves
    (PENDING, DEDUCT, RESERVE, APPLIED, None, None),
    (PENDING, RELEASE, RESERVE, APPLIED, None, None),
    # PENDING_LINK, now linked: open reserves its 3 units on the new item; shipped or cancelled is history
    (PENDING, RESERVE, RESERVE, APPLIED, "B", Transition(RESERVED, RESERVE, APPLIED, "B", 0, 3, MOVED_RESERVED)),
    (PENDING, RESERVE, RESERVE, NEWER, "B", Transition(RESERVED, RESERVE, NEWER, "B", 0, 3, MOVED_RESERVED)),
    (PENDING, RESERVE, DEDUCT, APPLIED, "B", Transition(HISTORICAL, DEDUCT, APPLIED, "B")),
    (PENDING, RESERVE, DEDUCT, NEWER, "B", Transition(HISTORICAL, DEDUCT, NEWER, "B")),
    (PENDING, RESERVE, RELEASE, NEWER, "B", Transition(HISTORICAL, RELEASE, NEWER, "B")),
    (PENDING, DEDUCT, DEDUCT, APPLIED, "B", Transition(HISTORICAL, DEDUCT, APPLIED, "B")),
    (PENDING, DEDUCT, RESERVE, NEWER, "B", Transition(RESERVED, RESERVE, NEWER, "B", 0, 3, MOVED_RESERVED)),
    # ... but an open snapshot as old as the shipped or cancelled one applied is stale: linked, the line is history
    (PENDING, DEDUCT, RESERVE, APPLIED, "B", Transition(HISTORICAL, DEDUCT, APPLIED, "B")),
    (PENDING, RELEASE, RESERVE, APPLIED, "B", Transition(HISTORICAL, RELEASE, APPLIED, "B")),
    # RESERVED: shipped deducts from on-hand and reserved, cancelled releases, both on the item it reserved ("A")
    (RESERVED, RESERVE, DEDUCT, APPLIED, "B", Transition(DEDUCTED, DEDUCT, APPLIED, "A", -3, -3, MOVED_DEDUCTED)),
    (RESERVED, RESERVE, DEDUCT, NEWER, "B", Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, -3, MOVED_DEDUCTED)),
    (RESERVED, RESERVE, DEDUCT, NEWER, None, Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, -3, MOVED_DEDUCTED)),
    (RESERVED, RESERVE, RELEASE, APPLIED, "B", Transition(RELEASED, RELEASE, APPLIED, "A", 0, -3, MOVED_RELEASED)),
    (RESERVED, RESERVE, RELEASE, NEWER, "B", Transition(RELEASED, RELEASE, NEWER, "A", 0, -3, MOVED_RELEASED)),
    (RESERVED, RESERVE, RELEASE, NEWER, None, Transition(RELEASED, RELEASE, NEWER, "A", 0, -3, MOVED_RELEASED)),
    # RESERVED and still open: a replay changes nothing, a newer time only moves the row's time
    (RESERVED, RESERVE, RESERVE, APPLIED, "B", None),
    (RESERVED, RESERVE, RESERVE, APPLIED, None, None),
    (RESERVED, RESERVE, RESERVE, NEWER, "B", Transition(RESERVED, RESERVE, NEWER, "A")),
    (RESERVED, RESERVE, RESERVE, NEWER, None, Transition(RESERVED, RESERVE, NEWER, "A")),
] + [
    # DEDUCTED, RELEASED, HISTORICAL are final: nothing, whatever comes, linked or not
    (state, stored_wanted, wanted, at, linked, None)
    for state, stored_wanted in ((DEDUCTED, DEDUCT), (RELEASED, RELEASE), (HISTORICAL, DEDUCT), (HISTORICAL, RELEASE))
    for wanted in (RESERVE, DEDUCT, RELEASE)
    for at in (APPLIED, NEWER)
    for linked in ("B", None)
]  # fmt: skip


@pytest.mark.parametrize(("state", "stored_wanted", "wanted", "at", "linked", "expected"), APPLIED_TABLE)
def test_a_line_already_stored(
    state: LineState,
    stored_wanted: StockEffect,
    wanted: StockEffect,
    at: datetime,
    linked: str | None,
    expected: Transition | None,
) -> None:
    # the quantity given is the new line's; a stored line keeps its own (3 units)
    assert transition(stored(state, stored_wanted), wanted, at, linked) == expected
    assert transition(stored(state, stored_wanted), wanted, at, linked, 7, in_seed=True) == expected


@pytest.mark.parametrize("state", list(LineState))
@pytest.mark.parametrize("wanted", list(StockEffect))
@pytest.mark.parametrize("linked", ["B", None])
def test_an_older_status_than_the_one_applied_changes_nothing(
    state: LineState, wanted: StockEffect, linked: str | None
) -> None:
    for stored_wanted in StockEffect:
        assert transition(stored(state, stored_wanted), wanted, OLDER, linked) is None


class _CountedTime(datetime):
    """A time that counts how often its fraction is dropped (`replace`)."""

    replaced = 0

    def replace(self, *args: Any, **kwargs: Any) -> Any:
        _CountedTime.replaced += 1
        return super().replace(*args, **kwargs)


class _CountedPeriods(tuple[KeptPeriod, ...]):
    """Kept link periods that count how often they are walked."""

    walked = 0

    def __iter__(self) -> Iterator[KeptPeriod]:
        _CountedPeriods.walked += 1
        return super().__iter__()


class _CountedLinks(dict[str, list[KeptLink]]):
    """Kept links by item that count how often their periods are listed."""

    listed = 0

    def values(self) -> Any:
        _CountedLinks.listed += 1
        return super().values()


def test_an_orders_timing_drops_a_link_times_fraction_once_for_every_line() -> None:
    """`order_timing` runs once per line of every order batch, against the few seed reads and link times of the
    batch's SKUs; `datetime.replace` (the fraction dropped, `_whole_second`) cost ~10 times a cache hit and was ~6 % of
    an orders import's writer (bench/README.md, "Our CPU per record, stop 61"). A UTC time's second is computed once;
    a time of another offset (whose second is another instant's) each time, as before."""
    read = _CountedTime(2026, 11, 30, 10, 0, 7, 123_457, tzinfo=UTC)
    linked = _CountedTime(2026, 11, 30, 10, 0, 9, 654_321, tzinfo=UTC)
    _CountedTime.replaced = 0
    created = [datetime(2026, 11, 30, 10, 0, s, tzinfo=UTC) for s in range(6, 11)] * 20
    timings = [order_timing(at, read, linked) for at in created]
    assert _CountedTime.replaced == 2
    assert timings[:5] == [(True, False), (False, False), (False, False), (False, True), (False, True)]
    assert timings == timings[:5] * 20
    paris = timezone(timedelta(hours=1))
    local = _CountedTime(2026, 11, 30, 11, 0, 9, 654_321, tzinfo=paris)
    _CountedTime.replaced = 0
    assert [order_timing(at, None, local) for at in created[:5]] == [(False, False)] * 3 + [(False, True)] * 2
    assert _CountedTime.replaced == 5


def test_a_line_with_no_kept_link_period_walks_none() -> None:
    """Every line of an import but a reconnected shop's has no link period a deleted connection kept: `order_timing`
    and `kept_pause` answer at once, without walking the empty periods (a generator, a sort) once per line."""
    at, read = datetime(2026, 11, 30, 10, tzinfo=UTC), datetime(2026, 11, 30, 11, tzinfo=UTC)
    _CountedPeriods.walked = _CountedLinks.listed = 0
    assert order_timing(at, read, read, _CountedPeriods()) == (True, False)
    assert kept_pause("A", _CountedLinks()) is None
    links = _CountedLinks()
    assert with_kept_pause("A", links) is links
    assert (_CountedPeriods.walked, _CountedLinks.listed) == (0, 0)
    period = (at - timedelta(hours=1), read)
    assert order_timing(at, read, read, _CountedPeriods([period])) == (True, True)  # a kept period is walked
    assert _CountedPeriods.walked == 1


def test_what_each_transition_moves_and_whether_a_push_is_due() -> None:
    reserve = Transition(RESERVED, RESERVE, APPLIED, "B", 0, 3, MOVED_RESERVED)
    seeded = Transition(RESERVED, RESERVE, APPLIED, "B", 3, 3, MOVED_RESERVED)
    deduct = Transition(DEDUCTED, DEDUCT, APPLIED, "A", -3, -3, MOVED_DEDUCTED)
    release = Transition(RELEASED, RELEASE, APPLIED, "A", 0, -3, MOVED_RELEASED)
    unlink = Transition(PENDING, RESERVE, APPLIED, None, 0, -3, MOVED_RELEASED, "A")
    row_only = Transition(RESERVED, RESERVE, NEWER, "A")
    history = Transition(HISTORICAL, DEDUCT, APPLIED, "B")
    moved = [t.item_moved for t in (reserve, seeded, deduct, release, unlink, row_only, history)]
    assert moved == ["B", "B", "A", "A", "A", None, None]
    # a reservation or a release moves `available`; a deduction, a seeded reservation and a row change do not
    due = [t.changes_available for t in (reserve, seeded, deduct, release, unlink, row_only, history)]
    assert due == [True, False, False, True, True, False, False]


def test_linking_a_pending_line_reserves_it_if_open_else_makes_it_history() -> None:
    assert link_pending(RESERVE, NEWER, "B", 4) == Transition(RESERVED, RESERVE, NEWER, "B", 0, 4, MOVED_RESERVED)
    assert link_pending(DEDUCT, NEWER, "B", 4) == Transition(HISTORICAL, DEDUCT, NEWER, "B")
    assert link_pending(RELEASE, NEWER, "B", 4) == Transition(HISTORICAL, RELEASE, NEWER, "B")


def test_unlinking_gives_a_reserved_line_back_to_the_item_it_reserved_and_remembers_it() -> None:
    back = unlink_reserved(stored(RESERVED, RESERVE))
    assert back == Transition(PENDING, RESERVE, APPLIED, "A", 0, -3, MOVED_RELEASED, "A")
    assert back.item_moved == "A" and back.changes_available
    for state, wanted in ((PENDING, RESERVE), (PENDING, DEDUCT), (DEDUCTED, DEDUCT), (RELEASED, RELEASE),
                          (HISTORICAL, DEDUCT), (HISTORICAL, RELEASE)):  # fmt: skip
        assert unlink_reserved(stored(state, wanted)) is None


# (a PENDING_LINK line of 3 units reserved on "A" before its SKU was unlinked) wanted, linked item -> transition
UNLINKED_AFTER_RESERVING = [
    # still unlinked: it keeps the item it was reserved on, whatever its order says meanwhile
    (DEDUCT, None, Transition(PENDING, DEDUCT, NEWER, "A")),
    (RELEASE, None, Transition(PENDING, RELEASE, NEWER, "A")),
    (RESERVE, None, Transition(PENDING, RESERVE, NEWER, "A")),
    # shipped while unlinked, linked to "A" again: the unlink gave its units back to A, they left A's shelf since
    (DEDUCT, "A", Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MOVED_DEDUCTED)),
    # linked to another item: history, as any line that waited (which shelf is the merchant's to count)
    (DEDUCT, "B", Transition(HISTORICAL, DEDUCT, NEWER, "B")),
    # cancelled meanwhile: its units went back at the unlink, nothing more moves
    (RELEASE, "A", Transition(HISTORICAL, RELEASE, NEWER, "A")),
    # still open: it reserves again, on whichever item
    (RESERVE, "A", Transition(RESERVED, RESERVE, NEWER, "A", 0, 3, MOVED_RESERVED)),
    (RESERVE, "B", Transition(RESERVED, RESERVE, NEWER, "B", 0, 3, MOVED_RESERVED)),
]


@pytest.mark.parametrize(("wanted", "linked", "expected"), UNLINKED_AFTER_RESERVING)
def test_a_line_unlinked_after_it_reserved_moves_by_the_item_it_reserved_on(
    wanted: StockEffect, linked: str | None, expected: Transition
) -> None:
    # given the line as the unlink left it
    back = unlink_reserved(stored(RESERVED, RESERVE))
    assert back is not None
    waiting = LedgerLine(back.state, back.wanted, back.order_updated_at, back.inventory_item_id, 3)
    # then its order's news (or a link) moves it; a link change moves it the same way (`link_pending`)
    assert transition(waiting, wanted, NEWER, linked) == expected
    if linked is not None:
        assert link_pending(wanted, NEWER, linked, 3, waiting.inventory_item_id) == expected
        # it took its units when first reserved: the row keeps that stamp
        assert not took_units_now(waiting, expected)


# (first seen while the SKU is unlinked from "A") wanted, created since that link took effect -> the first move,
# then the move once linked to "A" again, and once linked to "B" instead
FIRST_SEEN_UNLINKED = [
    pytest.param(
        RESERVE, False, Transition(PENDING, RESERVE, NEWER, "A"),
        Transition(RESERVED, RESERVE, NEWER, "A", 0, 3, MOVED_RESERVED),
        Transition(RESERVED, RESERVE, NEWER, "B", 0, 3, MOVED_RESERVED),
        id="open-reserves-on-either",
    ),
    # sold and shipped while unlinked: its units left A's shelf; as history they would be sold again
    pytest.param(
        DEDUCT, True, Transition(PENDING, DEDUCT, NEWER, "A"),
        Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MOVED_DEDUCTED),
        Transition(HISTORICAL, DEDUCT, NEWER, "B"),
        id="shipped-since-link-deducts-on-a",
    ),
    # shipped before the SKU was linked to A: A's count never held it, as had it been seen while linked
    pytest.param(
        DEDUCT, False, Transition(HISTORICAL, DEDUCT, NEWER, None), None, None, id="shipped-before-link-history"
    ),
    pytest.param(
        RELEASE, True, Transition(HISTORICAL, RELEASE, NEWER, None), None, None, id="cancelled-history"
    ),
]  # fmt: skip


@pytest.mark.parametrize(("wanted", "after_link", "first", "on_a", "on_b"), FIRST_SEEN_UNLINKED)
def test_a_line_first_seen_while_its_sku_is_unlinked_moves_like_one_reserved_before(
    wanted: StockEffect, after_link: bool, first: Transition, on_a: Transition | None, on_b: Transition | None
) -> None:
    # given a SKU the merchant unlinked from item "A"
    # when a 3-unit line of it is first seen
    assert transition(None, wanted, NEWER, None, 3, after_link=after_link, unlinked_from="A") == first
    if on_a is None or on_b is None:
        return
    # then, its SKU linked again, it moves by the item it remembers; its order's news meanwhile keeps that item
    waiting = LedgerLine(first.state, first.wanted, first.order_updated_at, first.inventory_item_id, 3)
    assert transition(waiting, wanted, NEWER, None) is None
    assert link_pending(wanted, NEWER, "A", 3, waiting.inventory_item_id) == on_a
    assert link_pending(wanted, NEWER, "B", 3, waiting.inventory_item_id) == on_b
    # and a replay of its order once moved changes nothing
    done = LedgerLine(on_a.state, on_a.wanted, on_a.order_updated_at, on_a.inventory_item_id, 3)
    assert transition(done, wanted, NEWER, "A") is None


# A 3-unit line first seen open, its SKU's link having seeded item "S" from a stock read at APPLIED: the item its
# move leaves it out of the seed of, by (the move, when its order was created)
LEFT_OUT_OF_SEED = [
    # away from S: waiting (unlinked) or reserved on another item, made before the read: S's seed never held it
    pytest.param(Transition(PENDING, RESERVE, NEWER, "S"), OLDER, "S", id="waiting-made-before-the-read"),
    pytest.param(Transition(PENDING, RESERVE, NEWER, None), OLDER, "S", id="waiting-never-linked-here"),
    pytest.param(
        Transition(RESERVED, RESERVE, NEWER, "B", 0, 3, MOVED_RESERVED), OLDER, "S", id="reserved-elsewhere-before"
    ),
    # made at the read's second or after: in the stock read, nothing owed
    pytest.param(Transition(PENDING, RESERVE, NEWER, "S"), APPLIED, None, id="waiting-made-at-the-read"),
    # reserved in S's seed: counted already
    pytest.param(
        Transition(RESERVED, RESERVE, NEWER, "S", 3, 3, MOVED_RESERVED), OLDER, None, id="reserved-in-the-seed"
    ),
    # first seen shipped or cancelled: nothing the seed ever counts
    pytest.param(Transition(HISTORICAL, DEDUCT, NEWER, None), OLDER, None, id="shipped-history"),
    pytest.param(Transition(PENDING, DEDUCT, NEWER, "S"), OLDER, None, id="shipped-waiting"),
]  # fmt: skip


@pytest.mark.parametrize(("move", "created_at", "expected"), LEFT_OUT_OF_SEED)
def test_a_line_first_seen_open_away_from_its_skus_seed_is_left_out_of_it(
    move: Transition, created_at: datetime, expected: str | None
) -> None:
    assert left_out_of_seed(None, move, created_at, ("S", APPLIED)) == expected
    # a link that seeded nothing leaves nothing owed; a stored line keeps its own mark, whatever moves it
    assert left_out_of_seed(None, move, created_at, None) is None
    assert left_out_of_seed(stored(PENDING, RESERVE)._replace(left_out_of="S"), move, created_at, None) == "S"
    assert left_out_of_seed(stored(PENDING, RESERVE), move, created_at, ("S", APPLIED)) is None


def test_a_line_left_out_of_a_seed_counts_in_only_back_on_that_seed() -> None:
    owed = LedgerLine(PENDING, RESERVE, APPLIED, "S", 3, "S")
    assert in_seed_again(owed, "S", "S")
    assert not in_seed_again(owed, "B", "S")  # linked elsewhere: a plain sale there
    assert not in_seed_again(owed, "S", "N")  # the link seeded another item since, which counted it in its seed
    assert not in_seed_again(owed._replace(left_out_of=None), "S", "S")  # counted in the seed already


# (a waiting 3-unit line left out of "S"'s seed) what its order asks now -> its moves back on S: as first seen there
COUNTED_IN_SEED = [
    pytest.param(RESERVE, (0, 0), (3, 3), id="open-reserves-in-the-seed"),
    pytest.param(DEDUCT, (-3, -3), (0, 0), id="shipped-deducts-what-the-seed-never-held"),
    pytest.param(RELEASE, (0, -3), (3, 0), id="cancelled-puts-its-units-on-sale"),
]


@pytest.mark.parametrize(("wanted", "then", "net"), COUNTED_IN_SEED)
def test_a_line_left_out_of_a_seed_moves_back_on_it_as_first_seen_there(
    wanted: StockEffect, then: tuple[int, int], net: tuple[int, int]
) -> None:
    moves = count_in_seed(LedgerLine(PENDING, wanted, APPLIED, "B", 3, "S"), "S")
    assert moves[0] == Transition(RESERVED, wanted, APPLIED, "S", 3, 3, MOVED_RESERVED)
    assert [(m.on_hand_delta, m.reserved_delta) for m in moves[1:]] == ([then] if wanted is not RESERVE else [])
    assert (sum(m.on_hand_delta for m in moves), sum(m.reserved_delta for m in moves)) == net
    assert all(m.item_moved == "S" for m in moves)


def test_a_sale_shipped_while_unlinked_and_linked_elsewhere_is_history_the_running_count_never_holds() -> None:
    shipped = LedgerLine(PENDING, DEDUCT, APPLIED, "A", 3)
    assert uncounted_sale(shipped, link_pending(DEDUCT, NEWER, "B", 3, "A"))  # history on B: never counted
    assert not uncounted_sale(shipped, link_pending(DEDUCT, NEWER, "A", 3, "A"))  # deducted on A: counted
    cancelled = LedgerLine(PENDING, RELEASE, APPLIED, "A", 3)  # TikTok's available got its units back: no sale
    assert not uncounted_sale(cancelled, link_pending(RELEASE, NEWER, "B", 3, "A"))


def test_a_sku_linked_or_never_linked_ignores_what_an_unlink_would_remember() -> None:
    # a link now wins over a remembered item; none remembered: today's rule (shipped: history)
    linked = transition(None, DEDUCT, NEWER, "B", 3, after_link=True, unlinked_from="A")
    assert linked == Transition(DEDUCTED, DEDUCT, NEWER, "B", -3, 0, MOVED_DEDUCTED)
    assert transition(None, DEDUCT, NEWER, None, 3, after_link=True) == Transition(HISTORICAL, DEDUCT, NEWER, None)


def test_an_ordinary_line_is_one_row_of_its_own_sku_of_all_its_units() -> None:
    assert stock_lines("tee", 3) == (StockLine(LINE_ITSELF, "tee", 3),)
    assert stock_lines("tee", 3, ()) == (StockLine("", "tee", 3),)


def test_a_bundle_line_is_one_row_per_component_of_units_times_sku_count() -> None:
    # live-sync.md §1.5: reserve the components x sku_count, never the bundle SKU; rows sorted by component SKU id
    components = [("mug", 2), ("cup", 1), ("lid", 3), ("cup", 2)]
    assert stock_lines("gift-box", 3, components) == (
        StockLine("cup", "cup", 9),  # 3 x 1 + 3 x 2: a component listed twice adds up
        StockLine("lid", "lid", 9),
        StockLine("mug", "mug", 6),
    )
    assert stock_lines("gift-box", 1, [("mug", 1)]) == (StockLine("mug", "mug", 1),)


def test_a_line_took_its_units_when_first_reserved_not_when_paid_or_shipped() -> None:
    # the row's stamp, which the push's fence counts as "sales ingested since the last push"
    reserved = LedgerLine(RESERVED, RESERVE, APPLIED, "item-1", 1)
    paid, shipped = transition(reserved, RESERVE, NEWER, "item-1"), transition(reserved, DEDUCT, NEWER, "item-1")
    assert paid is not None and shipped is not None
    assert not took_units_now(reserved, paid) and not took_units_now(reserved, shipped)
    first = transition(None, RESERVE, APPLIED, "item-1")
    shipped_unseen = transition(None, DEDUCT, APPLIED, "item-1", after_link=True)
    assert first is not None and shipped_unseen is not None
    assert took_units_now(None, first) and took_units_now(None, shipped_unseen)
    waiting = LedgerLine(PENDING, RESERVE, APPLIED, None, 1)
    linked = transition(waiting, RESERVE, NEWER, "item-1")
    assert linked is not None and took_units_now(waiting, linked)


def test_a_reserved_line_stays_on_its_item_when_its_sku_is_left_without_one() -> None:
    # a RESERVED line on "A": its SKU linked to "A" still, or left without an item, by an import (AMBIGUOUS...) or by
    # the merchant's `skuUnlink` (before try-out pool51 the merchant's unlink gave it back): stays
    reserved = stored(RESERVED, RESERVE)
    assert stays_reserved(reserved, "A") and stays_reserved(reserved, None)
    # a link to another item moves it (`unlink_reserved`); other states are not kept
    assert not stays_reserved(reserved, "B")
    for state, wanted in ((PENDING, RESERVE), (DEDUCTED, DEDUCT), (RELEASED, RELEASE), (HISTORICAL, DEDUCT)):
        assert not stays_reserved(stored(state, wanted), None)


def test_a_release_of_a_line_reserved_in_the_seed_and_cancelled_before_the_read_takes_its_units_off_on_hand() -> None:
    # given a line of 3 units reserved in the seed of the stock read at 12:00:30.5 (its units added to on-hand)
    read = datetime(2026, 11, 30, 12, 0, 30, 500_000, tzinfo=UTC)
    reserved = LedgerLine(RESERVED, RESERVE, APPLIED, "A", 3)
    # then a cancellation dated before the read's second, or within it, came no later than the read: TikTok's
    # available had its units back already, so the release takes them off on-hand too (available as it was)
    for cancelled in (read.replace(second=29, microsecond=0), read.replace(microsecond=0)):
        assert released_before_read(cancelled, read)
        assert transition(reserved, RELEASE, cancelled, "A", seed_read_at=read) == Transition(
            RELEASED, RELEASE, cancelled, "A", -3, -3, MOVED_RELEASED
        )
    # an update_time after the read's second does not date the cancellation: a plain release, as without a seed
    later = read.replace(second=31, microsecond=0)
    assert not released_before_read(later, read)
    plain = Transition(RELEASED, RELEASE, later, "A", 0, -3, MOVED_RELEASED)
    assert transition(reserved, RELEASE, later, "A", seed_read_at=read) == plain
    assert transition(reserved, RELEASE, later, "A") == plain
    # and a shipment deducts as ever
    assert transition(reserved, DEDUCT, later, "A", seed_read_at=read) == Transition(
        DEDUCTED, DEDUCT, later, "A", -3, -3, MOVED_DEDUCTED
    )


def test_a_shipment_seen_after_a_count_that_found_its_units_gone_deducts_them_from_reserved_only() -> None:
    # given a RESERVED line of 3 units on "A", and the merchant's count of "A" at 12:00:30.5 (`inventorySetOnHand`)
    counted = datetime(2026, 11, 30, 12, 0, 30, 500_000, tzinfo=UTC)
    reserved = LedgerLine(RESERVED, RESERVE, APPLIED, "A", 3)
    # when its shipment, dated by TikTok (update_time) before the count's second, is seen only now (pool57 F3):
    # the count found the units gone already, so only the commitment goes (on-hand as counted, available up by 3)
    shipped = counted.replace(second=29, microsecond=0)
    assert counted_after_shipment(shipped, counted)
    assert transition(reserved, DEDUCT, shipped, "A", counted_at=counted) == Transition(
        DEDUCTED, DEDUCT, shipped, "A", 0, -3, MOVED_DEDUCTED
    )
    # a shipment of the count's very second may have come after it, and a later one did (or the order changed
    # since): the units come off on-hand too, as without a count (undersold at worst, never sold twice)
    for later in (counted.replace(microsecond=0), counted.replace(second=31, microsecond=0)):
        assert not counted_after_shipment(later, counted)
        assert transition(reserved, DEDUCT, later, "A", counted_at=counted) == Transition(
            DEDUCTED, DEDUCT, later, "A", -3, -3, MOVED_DEDUCTED
        )
    # never counted: as ever; and a count dates no cancellation (a release gives the units back to sale)
    assert transition(reserved, DEDUCT, shipped, "A") == Transition(
        DEDUCTED, DEDUCT, shipped, "A", -3, -3, MOVED_DEDUCTED
    )
    assert transition(reserved, RELEASE, shipped, "A", counted_at=counted) == Transition(
        RELEASED, RELEASE, shipped, "A", 0, -3, MOVED_RELEASED
    )
    # and the line is final: the same shipment again (a replay, a re-import) moves nothing
    deducted = LedgerLine(DEDUCTED, DEDUCT, shipped, "A", 3)
    assert transition(deducted, DEDUCT, shipped, "A", counted_at=counted) is None


def test_a_sale_shipped_unseen_before_a_count_that_found_its_units_gone_is_first_seen_moving_nothing() -> None:
    # given a sale made since its SKU's link to "A" and shipped, both unseen (webhooks lost), and the merchant's count
    # of "A" at 12:00:30.5, after the shipment
    counted = datetime(2026, 11, 30, 12, 0, 30, 500_000, tzinfo=UTC)
    shipped = counted.replace(second=29, microsecond=0)
    # when the line is first seen shipped: the count found its units gone, nothing was reserved: nothing moves
    assert transition(None, DEDUCT, shipped, "A", 3, after_link=True, counted_at=counted) == Transition(
        DEDUCTED, DEDUCT, shipped, "A"
    )
    # shipped in the count's second or after it, or never counted: deducted from on-hand, as ever
    later = counted.replace(microsecond=0)
    deducts = Transition(DEDUCTED, DEDUCT, later, "A", -3, 0, MOVED_DEDUCTED)
    assert transition(None, DEDUCT, later, "A", 3, after_link=True, counted_at=counted) == deducts
    assert transition(None, DEDUCT, later, "A", 3, after_link=True) == deducts
    # and one sold before the link is history whatever the count
    assert transition(None, DEDUCT, shipped, "A", 3, counted_at=counted) == Transition(HISTORICAL, DEDUCT, shipped, "A")


def test_a_shipment_is_dated_by_the_carriers_collection_when_its_order_left_in_one_package() -> None:
    # given an order collected by the carrier at 12:00:10 (TikTok's collection_time), first seen shipped only in a
    # later version (DELIVERED at 12:05:00: its webhooks lost, the poll finding it then)
    collected = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)
    delivered = datetime(2026, 11, 30, 12, 5, 0, tzinfo=UTC)
    # then with one package its units left the shelf at the collection, the update_time bounding it too
    assert left_shelf_by("DELIVERED", delivered, collected, 1) == collected
    assert left_shelf_by("IN_TRANSIT", collected, delivered, 1) == collected  # (a collection dated after the update)
    # and the update_time of the version stays the bound (count57's rule) when the collection dates no line for
    # sure: several packages (TikTok gives one collection_time per order), a PARTIALLY_SHIPPING version, no
    # collection time (not collected, not sent, stored before migration 0050), no package listed
    assert left_shelf_by("DELIVERED", delivered, collected, 2) == delivered
    assert left_shelf_by("PARTIALLY_SHIPPING", delivered, collected, 1) == delivered
    assert left_shelf_by("DELIVERED", delivered, None, 1) == delivered
    assert left_shelf_by("DELIVERED", delivered, collected, 0) == delivered


def test_a_shipment_collected_before_a_count_and_first_seen_delivered_after_it_is_covered_by_the_count() -> None:
    # given a RESERVED line of 3 units on "A", collected at 12:00:10, the merchant's count of "A" at 12:00:30.5,
    # and the order first seen shipped only DELIVERED at 12:05:00 (update_time after the count: collect58)
    collected = datetime(2026, 11, 30, 12, 0, 10, tzinfo=UTC)
    counted = datetime(2026, 11, 30, 12, 0, 30, 500_000, tzinfo=UTC)
    delivered = datetime(2026, 11, 30, 12, 5, 0, tzinfo=UTC)
    reserved = LedgerLine(RESERVED, RESERVE, APPLIED, "A", 3)
    # when the ledger learns of it, dated by its collection: the count found the units gone, only the commitment
    # goes (on-hand as counted); the line keeps the version's update_time (its order version, for the next one)
    assert transition(reserved, DEDUCT, delivered, "A", counted_at=counted, shipped_by=collected) == Transition(
        DEDUCTED, DEDUCT, delivered, "A", 0, -3, MOVED_DEDUCTED
    )
    # dated by the update_time alone (no collection time, several packages: `left_shelf_by`), or collected in the
    # count's second or after it: off on-hand too, as before (undersold at worst until the next count)
    whole = Transition(DEDUCTED, DEDUCT, delivered, "A", -3, -3, MOVED_DEDUCTED)
    assert transition(reserved, DEDUCT, delivered, "A", counted_at=counted) == whole
    for late in (counted.replace(microsecond=0), counted.replace(second=31, microsecond=0)):
        assert transition(reserved, DEDUCT, delivered, "A", counted_at=counted, shipped_by=late) == whole
    # a collection time later than the version's update_time dates nothing later than that update_time
    shipped = counted.replace(second=29, microsecond=0)
    assert transition(reserved, DEDUCT, shipped, "A", counted_at=counted, shipped_by=delivered) == Transition(
        DEDUCTED, DEDUCT, shipped, "A", 0, -3, MOVED_DEDUCTED
    )
    # and a sale made since the link, first seen DELIVERED after the count, collected before it: nothing moves
    assert transition(
        None, DEDUCT, delivered, "A", 3, after_link=True, counted_at=counted, shipped_by=collected
    ) == Transition(DEDUCTED, DEDUCT, delivered, "A")
    assert transition(None, DEDUCT, delivered, "A", 3, after_link=True, counted_at=counted) == Transition(
        DEDUCTED, DEDUCT, delivered, "A", -3, 0, MOVED_DEDUCTED
    )
    # and the line is final: the same shipment again moves nothing
    deducted = LedgerLine(DEDUCTED, DEDUCT, delivered, "A", 3)
    assert transition(deducted, DEDUCT, delivered, "A", counted_at=counted, shipped_by=collected) is None


def test_a_line_first_seen_while_an_import_left_its_sku_without_an_item_moves_that_item() -> None:
    # given a SKU an import left without item "A" (AMBIGUOUS, NO_SELLER_SKU, EXCLUDED), a 3-unit line first seen:
    # made since its link to "A" took effect, it was placed on A's SKU and ships from A's shelf
    assert first_seen_unlinked(RESERVE, NEWER, "A", True, True, 3) == Transition(
        RESERVED, RESERVE, NEWER, "A", 0, 3, MOVED_RESERVED
    )
    assert first_seen_unlinked(DEDUCT, NEWER, "A", True, True, 3) == Transition(
        DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MOVED_DEDUCTED
    )
    assert first_seen_unlinked(RELEASE, NEWER, "A", True, True, 3) == Transition(HISTORICAL, RELEASE, NEWER, None)
    # made before that link, or unlinked by the merchant's hand (the SKU is not A's): it waits, as before
    assert first_seen_unlinked(RESERVE, NEWER, "A", False, True, 3) == Transition(PENDING, RESERVE, NEWER, "A")
    assert first_seen_unlinked(RESERVE, NEWER, "A", True, False, 3) == Transition(PENDING, RESERVE, NEWER, "A")
    assert first_seen_unlinked(DEDUCT, NEWER, "A", True, False, 3) == Transition(PENDING, DEDUCT, NEWER, "A")
    # and `transition` asks it so for a line of a SKU with no link now
    assert transition(None, RESERVE, NEWER, None, 3, False, True, "A", left_by_import=True) == Transition(
        RESERVED, RESERVE, NEWER, "A", 0, 3, MOVED_RESERVED
    )


def test_a_line_made_before_the_merchants_unlink_and_first_seen_after_it_moves_that_item() -> None:
    # given a SKU the merchant unlinked from item "A", a 3-unit line first seen after the unlink whose order was made
    # before it (`before_unlink`) and since its link to "A" took effect: placed on A's SKU, it ships from A's shelf as
    # the lines the unlink found open do (`stays_reserved`)
    assert first_seen_unlinked(RESERVE, NEWER, "A", True, False, 3, True) == Transition(
        RESERVED, RESERVE, NEWER, "A", 0, 3, MOVED_RESERVED
    )
    assert first_seen_unlinked(DEDUCT, NEWER, "A", True, False, 3, True) == Transition(
        DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MOVED_DEDUCTED
    )
    cancelled = Transition(HISTORICAL, RELEASE, NEWER, None)
    assert first_seen_unlinked(RELEASE, NEWER, "A", True, False, 3, True) == cancelled
    # made before that link took effect: it waits, as an import-left SKU's does
    assert first_seen_unlinked(RESERVE, NEWER, "A", False, False, 3, True) == Transition(PENDING, RESERVE, NEWER, "A")
    # and `transition` asks it so for a line of a SKU with no link now
    assert transition(None, DEDUCT, NEWER, None, 3, False, True, "A", before_unlink=True) == Transition(
        DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MOVED_DEDUCTED
    )


def test_an_order_of_the_unlinks_second_counts_as_made_before_it() -> None:
    # given an unlink at 12:00:30.250 (TikTok's create_time is whole seconds)
    unlinked_at = datetime(2026, 11, 30, 12, 0, 30, 250_000, tzinfo=UTC)
    # then an order of 12:00:29 or 12:00:30 was made before it (the second's order may have come first: counted on the
    # item, never on sale twice), one of 12:00:31 after it; and a link unlinked before its instant was kept, none
    assert sold_before_unlink(unlinked_at.replace(second=29, microsecond=0), unlinked_at)
    assert sold_before_unlink(unlinked_at.replace(microsecond=0), unlinked_at)
    assert not sold_before_unlink(unlinked_at.replace(second=31, microsecond=0), unlinked_at)
    assert not sold_before_unlink(unlinked_at, None)


def test_a_reserved_line_moved_to_an_item_whose_seed_counted_it_takes_its_units_off_the_item_it_leaves() -> None:
    # given an open order's 3 units RESERVED on "A" (on A's on-hand: in A's seed, or in the stock A was read from),
    # and its SKU's seller SKU renamed in Seller Center to one no item has: "N", created now and seeded from the
    # shop's TikTok stock read at NEWER plus the open orders that read left out (this one: `links.seed_on_hand`)
    reserved_on_a = stored(RESERVED, RESERVE)
    # when the link change moves the line to N
    away = relink_line(reserved_on_a, "N", ("N", NEWER), seeded_now=True)
    # then the units leave A with their order (on-hand and reserved -3, A's available as it was: no push is due),
    # as N's seed counted them in and only reserves them; A is owed them should the line come back. (Before: A
    # released the 3 units onto its available, counted on two items' on-hand, and A's other shops were pushed them.)
    assert away.moves == (
        Transition(PENDING, RESERVE, APPLIED, "A", -3, -3, MOVED_RELEASED, "A"),
        Transition(RESERVED, RESERVE, APPLIED, "N", 0, 3, MOVED_RESERVED),
    )
    assert not away.moves[0].changes_available and away.left_out_of == "A"
    # when the seller renames it back (its SKU joins A again; the link's seed is still N's)
    on_n = LedgerLine(RESERVED, RESERVE, APPLIED, "N", 3, away.left_out_of)
    back = relink_line(on_n, "A", ("N", NEWER))
    # then the units leave N and A counts them in again: A as before the rename, N without them
    assert back.moves == (
        Transition(PENDING, RESERVE, APPLIED, "N", -3, -3, MOVED_RELEASED, "N"),
        Transition(RESERVED, RESERVE, APPLIED, "A", 3, 3, MOVED_RESERVED),
    )
    assert back.left_out_of == "N"


# (a RESERVED 3-unit line on "B") its mark, the link's seed, the item it moves to -> what "B" does and the mark after:
# the item it goes to counts nothing in, so the one it leaves counts nothing out (only the reservation goes back)
MOVED_AS_A_SALE = [
    # the merchant's skuUnlink, or a skuLink / rename to another existing item
    pytest.param(None, ("B", OLDER), None, None, id="unlinked"),
    pytest.param(None, ("B", OLDER), "C", None, id="to-an-existing-item"),
    # first seen on B while away from S's seed (as any sale there), back on S: S counts it in, B held nothing of it
    pytest.param("S", ("S", OLDER), "S", None, id="back-to-the-seed-that-left-it-out"),
]


def test_a_line_deducted_on_the_copy_a_rename_seeded_deducts_on_the_item_it_copied_once_back() -> None:
    # given a seller SKU renamed from A's to one no item had: "N" seeded from the shop's TikTok stock, a copy of A's
    # count (`seeded_from_item_id` A), and a sale on N's SKU since that shipped: 3 units DEDUCTED on N, never on A
    shipped_on_n = LedgerLine(DEDUCTED, DEDUCT, APPLIED, "N", 3)
    # when the seller renames it back: the SKU links A again
    back = deducted_on_copy(shipped_on_n, "A", ("N", "A"))
    # then the line comes back to A and deducts its units from A's on-hand (nothing was reserved on A), as the copy
    # did: before, N went with its movements and the 3 units stayed on A's on-hand, on sale on every shop
    assert back == Transition(DEDUCTED, DEDUCT, APPLIED, "A", -3, 0, MOVED_DEDUCTED)
    # and once on A it moves nothing more, whatever change comes again
    on_a = LedgerLine(back.state, back.wanted, back.order_updated_at, back.inventory_item_id, 3)
    assert deducted_on_copy(on_a, "A", ("N", "A")) is None


# (a 3-unit line on "N", the link's seed copying "A" unless given) state, mark, the seed (copy, copied), where the SKU
# goes -> nothing moves
NOT_BROUGHT_BACK = [
    # marked owed to A: carried off A with its units when the SKU left (`carries_its_units`), then shipped on N (A
    # counted it out then), or first seen on N while away from A's seed, which had left it out (A never held it)
    pytest.param(DEDUCTED, "A", ("N", "A"), "A", id="owed-to-a"),
    pytest.param(DEDUCTED, None, ("N", "A"), "C", id="to-another-item"),
    pytest.param(DEDUCTED, None, ("N", "A"), None, id="unlinked"),
    pytest.param(DEDUCTED, None, None, "A", id="the-seed-copied-no-item"),
    pytest.param(DEDUCTED, None, ("S", "A"), "A", id="on-an-item-the-link-did-not-seed"),
    pytest.param(RELEASED, None, ("N", "A"), "A", id="released: its unit back on the shelf both counted"),
    pytest.param(HISTORICAL, None, ("N", "A"), "A", id="history"),
]


@pytest.mark.parametrize(("state", "mark", "seed_copy", "to"), NOT_BROUGHT_BACK)
def test_a_line_on_the_copy_moves_nothing_unless_deducted_there_alone_and_back_on_the_item_copied(
    state: LineState, mark: str | None, seed_copy: tuple[str, str] | None, to: str | None
) -> None:
    assert deducted_on_copy(LedgerLine(state, DEDUCT, APPLIED, "N", 3, mark), to, seed_copy) is None


@pytest.mark.parametrize(("mark", "seed", "to", "left_out_of"), MOVED_AS_A_SALE)
def test_a_reserved_line_moved_where_nothing_counts_it_in_gives_back_only_its_reservation(
    mark: str | None, seed: tuple[str, datetime], to: str | None, left_out_of: str | None
) -> None:
    moved = relink_line(LedgerLine(RESERVED, RESERVE, APPLIED, "B", 3, mark), to, seed)
    assert moved.moves[0] == Transition(PENDING, RESERVE, APPLIED, "B", 0, -3, MOVED_RELEASED, "B")
    assert moved.left_out_of == left_out_of


# a 3-unit line its shop's delete deducted from "A", first seen again (the TikTok shop connected again) asking ->
# the transition: the delete's deduction undone, never taken twice
BACK_WITH_ITS_SHOP = [
    # still open: reserved again with its units back on on-hand (available as it was); its shipment deducts once
    pytest.param(RESERVE, Transition(RESERVED, RESERVE, NEWER, "A", 3, 3, MOVED_RESERVED), id="open"),
    # shipped meanwhile: the delete's deduction was its shipment, nothing moves
    pytest.param(DEDUCT, Transition(DEDUCTED, DEDUCT, NEWER, "A"), id="shipped-meanwhile"),
    # cancelled meanwhile: its units are on the shelf again, which the delete took off: back on sale
    pytest.param(RELEASE, Transition(RELEASED, RELEASE, NEWER, "A", 3, 0, MOVED_RELEASED), id="cancelled-meanwhile"),
]


@pytest.mark.parametrize(("wanted", "expected"), BACK_WITH_ITS_SHOP)
def test_a_line_its_shops_delete_deducted_comes_back_as_it_was_before_the_delete(
    wanted: StockEffect, expected: Transition
) -> None:
    left = leaves_with_its_shop(stored(RESERVED, RESERVE))
    assert left == Transition(DEDUCTED, RESERVE, APPLIED, "A", -3, -3, MOVED_DEDUCTED)
    back = back_with_its_shop(wanted, NEWER, "A", 3)
    assert back == expected
    # delete then reconnect, and the order's end (shipped: -3 on-hand once; cancelled: nothing off at all)
    on_hand = left.on_hand_delta + back.on_hand_delta
    reserved = left.reserved_delta + back.reserved_delta
    if back.state is RESERVED:
        end = transition(LedgerLine(RESERVED, RESERVE, NEWER, "A", 3), DEDUCT, NEWER + timedelta(minutes=1), "A")
        assert end is not None
        on_hand, reserved = on_hand + end.on_hand_delta, reserved + end.reserved_delta
    assert (on_hand, reserved) == ((0, -3) if wanted is RELEASE else (-3, -3))


# a 3-unit line of an order made at `made` that its shop's delete deducted from "A", the item the shop's stock read at
# `read` seeded (`deleted_shop_lines.seed_read_at`), first seen again cancelled by a version of `cancelled` -> the
# on-hand it puts back
BACK_IN_A_SEED = [
    # reserved in the seed and cancelled before the read (its second too): the seed counted it twice, the delete's
    # deduction took that off; back on on-hand, it was on sale twice (poolreview53 defect 1)
    pytest.param(OLDER, APPLIED, APPLIED, 0, id="cancelled-before-the-read"),
    # cancelled after the read: its units are on the shelf again, back on sale as any cancellation
    pytest.param(OLDER, APPLIED, NEWER, 3, id="cancelled-after-the-read"),
    # made at the read's second: not in the seed (its units were in the stock read), back on sale
    pytest.param(APPLIED, APPLIED, APPLIED, 3, id="made-at-the-read"),
    # no seed kept (none, or a record written before migration 0041): the rule before
    pytest.param(OLDER, None, APPLIED, 3, id="no-seed"),
]


@pytest.mark.parametrize(("made", "read", "cancelled", "on_hand"), BACK_IN_A_SEED)
def test_a_line_of_the_seed_cancelled_before_its_read_comes_back_with_no_on_hand(
    made: datetime, read: datetime | None, cancelled: datetime, on_hand: int
) -> None:
    back = back_with_its_shop(RELEASE, cancelled, "A", 3, made, read)
    assert (back.state, back.on_hand_delta, back.reserved_delta) == (RELEASED, on_hand, 0)


# a 3-unit line its shop's delete deducted from "A", first seen again asking `wanted` by a version of `seen`, after the
# merchant counted "A" at APPLIED (+ half a second: our clock), since the delete -> the transition: the line comes
# back as one the count found on the shelf, on-hand as counted (review58 R3)
COUNTED = APPLIED + timedelta(microseconds=500_000)
BACK_AFTER_A_COUNT = [
    # still open: reserved on the counted on-hand (the count held its units); its shipment then deducts once
    pytest.param(RESERVE, NEWER, Transition(RESERVED, RESERVE, NEWER, "A", 0, 3, MOVED_RESERVED), id="open"),
    # shipped after the count (its second too: taken as after): its units leave the counted shelf
    pytest.param(DEDUCT, NEWER, Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MOVED_DEDUCTED), id="shipped-after"),
    pytest.param(
        DEDUCT, APPLIED, Transition(DEDUCTED, DEDUCT, APPLIED, "A", -3, 0, MOVED_DEDUCTED), id="shipped-in-its-second"
    ),
    # shipped before the count's second: the count found its units gone, nothing moves
    pytest.param(DEDUCT, OLDER, Transition(DEDUCTED, DEDUCT, OLDER, "A"), id="shipped-before"),
    # cancelled: its units on the shelf the count found, nothing moves
    pytest.param(RELEASE, NEWER, Transition(RELEASED, RELEASE, NEWER, "A"), id="cancelled"),
]


@pytest.mark.parametrize(("wanted", "seen", "expected"), BACK_AFTER_A_COUNT)
def test_a_line_its_shops_delete_deducted_comes_back_as_a_count_since_the_delete_found_it(
    wanted: StockEffect, seen: datetime, expected: Transition
) -> None:
    assert back_with_its_shop(wanted, seen, "A", 3, counted_at=COUNTED) == expected
    # (made before a seed's read and cancelled before it: the count found its units on the shelf all the same)
    assert back_with_its_shop(wanted, seen, "A", 3, OLDER - timedelta(days=1), OLDER, COUNTED) == expected


def test_a_line_its_shops_delete_deducted_collected_before_a_count_since_comes_back_moving_nothing() -> None:
    # first seen DELIVERED (updated after the count), the carrier having collected it before the count
    # (`left_shelf_by`): the count found its units gone, as `transition` dates the shipment
    back = back_with_its_shop(DEDUCT, NEWER, "A", 3, counted_at=COUNTED, shipped_by=OLDER)
    assert back == Transition(DEDUCTED, DEDUCT, NEWER, "A")


@pytest.mark.parametrize(
    ("shipped_by", "counted_before", "on_hand"),
    [(OLDER, COUNTED, 3), (APPLIED, COUNTED, 0), (OLDER, None, 0)],
    ids=["shipped-before-the-counts-second", "shipped-in-its-second", "no-count"],
)
def test_a_line_its_shops_delete_deducted_shipped_before_a_count_before_the_delete_gets_its_units_back(
    shipped_by: datetime, counted_before: datetime | None, on_hand: int
) -> None:
    # given a reserved line of 3 units on "A" whose shipment (unseen) a count of "A" covered, before the shop's delete
    # took its units off on-hand again (no count since the delete)
    # when first seen shipped after the reconnect
    back = back_with_its_shop(DEDUCT, NEWER, "A", 3, shipped_by=shipped_by, counted_since_shipment=counted_before)
    # then the delete's deduction is undone (on-hand as counted, `available` up by 3), as the never-deleted connection
    # releases the reservation only (review59 F4); a shipment of the count's second, or no count, as before
    assert back == (
        Transition(DEDUCTED, DEDUCT, NEWER, "A", 3, 0, MOVED_RELEASED)
        if on_hand
        else Transition(DEDUCTED, DEDUCT, NEWER, "A")
    )
    # (a count since the delete decides alone, review58 R3: it set on-hand to the shelf)
    assert back_with_its_shop(
        DEDUCT, NEWER, "A", 3, counted_at=COUNTED + timedelta(hours=1), shipped_by=shipped_by,
        counted_since_shipment=counted_before,
    ) == Transition(DEDUCTED, DEDUCT, NEWER, "A")  # fmt: skip
    # (open or cancelled, the count found its units on the shelf: undone as before)
    assert back_with_its_shop(RESERVE, NEWER, "A", 3, counted_since_shipment=counted_before).on_hand_delta == 3


# the delete's kept rows of g1: HAT from OLDER to the relink at RELINKED_AT (an earlier period, `EARLIER_PERIOD`), then
# SOCK from RELINKED_AT (the link as it stood at the delete, at DELETED)
DELETED, RELINKED_AT = NEWER + timedelta(hours=1), APPLIED + timedelta(microseconds=500_000)
KEPT_RELINK = through_the_gap(
    [("HAT", OLDER, RELINKED_AT, None, False, True), ("SOCK", RELINKED_AT, DELETED, None, True, False)], None
)


@pytest.mark.parametrize(
    ("shipped_by", "left"),
    [(APPLIED - timedelta(seconds=1), "HAT"), (APPLIED, None), (NEWER, None)],
    ids=["before-the-relinks-second", "in-its-second", "after-the-relink"],
)
def test_a_line_its_shops_delete_deducted_names_the_item_it_left_before_a_relink_of_that_connection(
    shipped_by: datetime, left: str | None
) -> None:
    # given a line of 2 units the delete deducted from SOCK (RESERVED there at DELETED), made under HAT
    # when first seen again shipped by `shipped_by`: then it left HAT's shelf if that is before the relink's second
    # (review58 R5, across the delete: review59 F3)
    assert shipped_before_a_deleted_relink("SOCK", shipped_by, DELETED, KEPT_RELINK, OLDER, 2) == left
    # (no earlier period kept; or one of a later delete than the record's: none)
    own = {"SOCK": KEPT_RELINK["SOCK"]}
    assert shipped_before_a_deleted_relink("SOCK", shipped_by, DELETED, own, OLDER, 2) is None
    assert shipped_before_a_deleted_relink("SOCK", shipped_by, OLDER, KEPT_RELINK, OLDER, 2) is None


@pytest.mark.parametrize("counted_sock", [False, True], ids=["sock-not-counted", "sock-counted-since-the-delete"])
@pytest.mark.parametrize("counted_hat", [False, True], ids=["hat-not-counted", "hat-counted-after-the-shipment"])
def test_a_line_its_shops_delete_deducted_shipped_before_a_relink_undoes_the_delete_and_deducts_from_the_item_it_left(
    counted_sock: bool, counted_hat: bool
) -> None:
    back, deducted = left_before_relink_with_its_shop(
        DEDUCT, NEWER, "SOCK", "HAT", 2, DELETED if counted_sock else None, COUNTED if counted_hat else None, OLDER
    )
    # the delete's deduction on SOCK is undone (on-hand +2; reserved as the delete left it), unless a count of SOCK
    # since the delete set on-hand to its shelf
    assert back == (
        Transition(DEDUCTED, DEDUCT, NEWER, "HAT") if counted_sock
        else Transition(DEDUCTED, DEDUCT, NEWER, "HAT", 2, 0, MOVED_RELEASED, counted_on="SOCK")
    )  # fmt: skip
    # and its units leave HAT's on-hand, unless a count of HAT after the shipment found them gone
    assert deducted == (
        Transition(DEDUCTED, DEDUCT, NEWER, "HAT") if counted_hat
        else Transition(DEDUCTED, DEDUCT, NEWER, "HAT", -2, 0, MOVED_DEDUCTED)
    )  # fmt: skip


# a first move of a line on item "A" that takes 2 units back from its shop's delete's record of units sold unseen, and
# the merchant's count of "A" since that delete (at COUNTED, or none) -> the units back on on-hand
UNSEEN_BACK_ON_HAND = [
    pytest.param(Transition(RESERVED, RESERVE, NEWER, "A", 0, 2, MOVED_RESERVED), None, 2, id="open-no-count"),
    # the count found them on the shelf: reserved on the counted on-hand
    pytest.param(Transition(RESERVED, RESERVE, NEWER, "A", 0, 2, MOVED_RESERVED), COUNTED, 0, id="open-counted"),
    # shipped after the count: its deduction takes them off the counted shelf once
    pytest.param(
        Transition(DEDUCTED, DEDUCT, NEWER, "A", -2, 0, MOVED_DEDUCTED), COUNTED, 0, id="shipped-after-the-count"
    ),
    # shipped before the count, deducted by a path the count rule does not reach (`link_pending`): the count found them
    # gone, and they go back, on-hand as counted
    pytest.param(
        Transition(DEDUCTED, DEDUCT, OLDER, "A", -2, 0, MOVED_DEDUCTED), COUNTED, 2, id="shipped-before-the-count"
    ),
]


@pytest.mark.parametrize(("move", "counted_at", "expected"), UNSEEN_BACK_ON_HAND)
def test_units_a_delete_took_off_as_sold_unseen_go_back_on_hand_unless_a_count_since_found_them(
    move: Transition, counted_at: datetime | None, expected: int
) -> None:
    assert unseen_back_on_hand(2, move, counted_at) == expected


def test_units_sold_unseen_of_a_shipment_the_carrier_collected_before_the_count_go_back_on_hand() -> None:
    # given a first deduction dated after the count (a DELIVERED version first seen late), of an order the carrier
    # collected before it (`left_shelf_by`: the count rule's date of the shipment)
    shipped = Transition(DEDUCTED, DEDUCT, NEWER, "A", -2, 0, MOVED_DEDUCTED)
    # then the count found the units gone, and they go back, on-hand as counted (review58b F2: dated by its update
    # time, the count was taken for one made before the shipment, and the units stayed off on-hand)
    assert unseen_back_on_hand(2, shipped, COUNTED, shipped_by=OLDER) == 2
    assert unseen_back_on_hand(2, shipped, COUNTED) == 0


# a first move of a line of an order made at `made` on item "A", and 2 units its shop's delete took off "A" as sold
# unseen by a hold whose push was at APPLIED -> the units it takes back on on-hand
BACK_FROM_UNSEEN = [
    # first reserved there, made before the hold's push (its second too: TikTok's seconds): up to its quantity
    pytest.param(Transition(RESERVED, RESERVE, NEWER, "A", 0, 1, MOVED_RESERVED), OLDER, 1, id="open-1-unit"),
    pytest.param(Transition(RESERVED, RESERVE, NEWER, "A", 0, 3, MOVED_RESERVED), APPLIED, 2, id="open-3-units"),
    # reserved in a seed (its units added to on-hand already): none more, or available would rise by them (review:
    # unreachable today, a hold naming an item that existed at the delete, which no seed creates)
    pytest.param(Transition(RESERVED, RESERVE, NEWER, "A", 3, 3, MOVED_RESERVED), OLDER, 0, id="open-in-seed"),
    # made after the push: a sale that hold never counted
    pytest.param(Transition(RESERVED, RESERVE, NEWER, "A", 0, 1, MOVED_RESERVED), NEWER, 0, id="made-after-push"),
    # first seen shipped and deducted (sold while the deleted shop's link stood): the delete's deduction was its
    # shipment, up to its quantity (review54b finding 2); a reserved line's shipment is no first move
    pytest.param(
        Transition(DEDUCTED, DEDUCT, NEWER, "A", -1, 0, MovementKind.DEDUCTED), OLDER, 1, id="shipped-deducted-1-unit"
    ),
    pytest.param(
        Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MovementKind.DEDUCTED), APPLIED, 2, id="shipped-deducted-3"
    ),
    pytest.param(Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, 0, MovementKind.DEDUCTED), NEWER, 0, id="shipped-after"),
    pytest.param(
        Transition(DEDUCTED, DEDUCT, NEWER, "A", -3, -3, MovementKind.DEDUCTED), OLDER, 0, id="reserved-then-shipped"
    ),
    # history, or cancelled when first seen (a cancelled one may be one the ledger had released before the delete),
    # or waiting for its SKU's link
    pytest.param(Transition(HISTORICAL, DEDUCT, NEWER, "A"), OLDER, 0, id="shipped"),
    pytest.param(Transition(HISTORICAL, RELEASE, NEWER, "A"), OLDER, 0, id="cancelled"),
    pytest.param(Transition(PENDING, RESERVE, NEWER, None), OLDER, 0, id="waiting"),
]


@pytest.mark.parametrize(("move", "made", "expected"), BACK_FROM_UNSEEN)
def test_a_sale_its_shops_delete_took_off_as_sold_unseen_takes_its_units_back_once(
    move: Transition, made: datetime, expected: int
) -> None:
    assert back_from_unseen(move, made, APPLIED, 2) == expected


def test_units_sold_unseen_held_on_another_item_than_the_sales_go_back_there_unless_it_was_counted_since() -> None:
    # given 2 units a delete took off item "A" as sold unseen, and a sale of the SKU made under an earlier link to "B"
    # (first seen shipped, it deducts its 2 units from "B", made before the hold's push: it takes the record's units)
    sale = Transition(DEDUCTED, DEDUCT, NEWER, "B", -2, 0, MovementKind.DEDUCTED)
    assert back_from_unseen(sale, OLDER, APPLIED, 2) == 2
    # then they go back on "A", whose shelf never lost them (hold58), but none once "A" was counted since the delete
    # (the count found them there), whenever the sale shipped
    assert unseen_back_elsewhere(2, None) == 2
    assert unseen_back_elsewhere(2, NEWER) == 0
    assert unseen_back_elsewhere(2, OLDER) == 0


def test_units_sold_unseen_held_on_another_item_go_back_there_even_when_a_count_made_the_sale_move_nothing() -> None:
    # given 2 units a delete took off item "A" as sold unseen, and a sale of 2 units of the SKU made under an earlier
    # link to "B" before the hold's push, first seen shipped after a count of "B" that covered it: it moves nothing
    covered = Transition(DEDUCTED, DEDUCT, NEWER, "B")
    assert back_from_unseen(covered, OLDER, APPLIED, 2) == 0  # (a record of its own item: nothing to offset)
    # then a record of "A" is taken all the same, up to the line's units ("A"'s shelf never lost them: review59 F2)
    assert back_from_unseen_elsewhere(covered, OLDER, APPLIED, 2, 2) == 2
    assert back_from_unseen_elsewhere(covered, OLDER, APPLIED, 3, 2) == 2
    assert back_from_unseen_elsewhere(covered, OLDER, APPLIED, 1, 2) == 1
    reserved = Transition(RESERVED, RESERVE, NEWER, "B", 0, 2, MOVED_RESERVED)
    assert back_from_unseen_elsewhere(reserved, APPLIED, APPLIED, 2, 2) == 2
    # but not by a sale made after the push, nor by history, a cancellation or a line still waiting for its link
    assert back_from_unseen_elsewhere(covered, NEWER, APPLIED, 2, 2) == 0
    assert back_from_unseen_elsewhere(Transition(HISTORICAL, DEDUCT, NEWER, "B"), OLDER, APPLIED, 2, 2) == 0
    assert back_from_unseen_elsewhere(Transition(RELEASED, RELEASE, NEWER, "B"), OLDER, APPLIED, 2, 2) == 0
    assert back_from_unseen_elsewhere(Transition(PENDING, RESERVE, NEWER, None), OLDER, APPLIED, 2, 2) == 0


# a first move of a line of 2 units on item "A", the last count of "A" in or after the second its units left the
# shelf (at COUNTED, or none), the shipment dated OLDER -> the units a count covered (`counted_unseen_units`)
COUNTED_UNSEEN_UNITS = [
    # deducted nothing: the count after the shipment found its units gone (review61 F6)
    pytest.param(Transition(DEDUCTED, DEDUCT, NEWER, "A"), COUNTED, OLDER, 2, id="covered"),
    # the same move with no count read, or a count of the shipment's second or before it: not covered
    pytest.param(Transition(DEDUCTED, DEDUCT, NEWER, "A"), None, OLDER, 0, id="no-count"),
    pytest.param(Transition(DEDUCTED, DEDUCT, NEWER, "A"), COUNTED, COUNTED, 0, id="count-of-the-shipments-second"),
    # a deduction of its units (it takes the record by `back_from_unseen`), a reservation, history, a line waiting
    pytest.param(Transition(DEDUCTED, DEDUCT, NEWER, "A", -2, 0, MOVED_DEDUCTED), COUNTED, OLDER, 0, id="deducted"),
    pytest.param(Transition(RESERVED, RESERVE, NEWER, "A", 0, 2, MOVED_RESERVED), COUNTED, OLDER, 0, id="open"),
    pytest.param(Transition(HISTORICAL, DEDUCT, NEWER, "A"), COUNTED, OLDER, 0, id="history"),
    pytest.param(Transition(PENDING, DEDUCT, NEWER, "A"), COUNTED, OLDER, 0, id="waiting"),
    pytest.param(Transition(DEDUCTED, DEDUCT, NEWER, None), COUNTED, OLDER, 0, id="on-no-item"),
]


@pytest.mark.parametrize(("move", "counted_at", "shipped_by", "expected"), COUNTED_UNSEEN_UNITS)
def test_a_first_deduction_a_count_covered_counts_its_units_as_a_sale_the_delete_may_have_held(
    move: Transition, counted_at: datetime | None, shipped_by: datetime, expected: int
) -> None:
    assert counted_unseen_units(move, 2, counted_at, shipped_by) == expected


def test_a_held_sale_a_count_before_the_delete_covered_gives_the_deletes_second_deduction_back() -> None:
    # given a record of 3 units a delete took off "A" as sold unseen (its hold's last push at APPLIED), and a line of
    # 2 units first seen shipped, covered by a count: it takes up to its units, made at or before that push
    assert back_from_counted_unseen(OLDER, APPLIED, 3, 2) == 2
    assert back_from_counted_unseen(APPLIED, APPLIED, 1, 2) == 1
    assert back_from_counted_unseen(NEWER, APPLIED, 3, 2) == 0  # (made after the push: not a sale it held)
    # then they go back on "A" when "A" was not counted since the delete (the covering count was before it, and
    # the delete took them off a second time); a count since the delete set the truth: none back (review61 F6)
    assert counted_unseen_back_on_hand(2, None) == 2
    assert counted_unseen_back_on_hand(2, NEWER) == 0


# an order made at `made`, and a link of its SKU to item "A" that took effect at OLDER and went with its shop's delete
# at NEWER (`deleted_shop_links`) -> whether it was sold while that link stood
SOLD_WHILE_LINKED_BEFORE = [
    pytest.param(APPLIED, True, id="between-the-link-and-the-delete"),
    pytest.param(OLDER, True, id="the-links-second"),
    pytest.param(OLDER - timedelta(seconds=1), False, id="before-the-link"),
    pytest.param(NEWER, False, id="at-the-delete"),
]


@pytest.mark.parametrize(("made", "sold"), SOLD_WHILE_LINKED_BEFORE)
def test_a_sale_made_while_a_deleted_shops_link_stood_counts_as_after_that_link(made: datetime, sold: bool) -> None:
    periods = [(OLDER + timedelta(milliseconds=400), NEWER)]  # (the link's time has a fraction; TikTok's has none)
    assert sold_while_linked_before(made, periods) is sold
    # the reconnect's link took effect later still: its own time alone makes the sale history (poolreview53 defect 2)
    reconnected = NEWER + timedelta(minutes=5)
    assert order_timing(made, None, reconnected) == (False, False)
    assert order_timing(made, None, reconnected, periods) == (False, sold)
    # first seen shipped before the new link: it waits on the item that link named (deducted once linked there)
    assert shipped_under_a_deleted_link(DEDUCT, made, {"A": periods}) == ("A" if sold else None)
    # open or cancelled, it waits as any line; a sale within two items' periods waits as any (never guess)
    assert shipped_under_a_deleted_link(RESERVE, made, {"A": periods}) is None
    assert shipped_under_a_deleted_link(RELEASE, made, {"A": periods}) is None
    assert shipped_under_a_deleted_link(DEDUCT, made, {"A": periods, "B": periods}) is None


@pytest.mark.parametrize(("made", "sold"), SOLD_WHILE_LINKED_BEFORE)
def test_a_sale_made_under_a_deleted_shops_link_counts_on_that_links_item_whatever_the_sku_links_to_now(
    made: datetime, sold: bool
) -> None:
    # given the link of the SKU to item "A" that a delete took (the merchant unlinked it before, or linked it by hand to
    # "A"); the reconnect's import links the SKU to "B" (its seller SKU's item)
    periods: list[tuple[datetime, datetime, datetime | None]] = [(OLDER + timedelta(milliseconds=400), NEWER, None)]
    # then a sale made under that link counts on "A" (relink56, not fixed 1), any other on "B"
    assert counted_under_a_deleted_link("B", made, {"A": periods}) == ("A" if sold else "B")
    # a period of "B" itself keeps it on "B"; periods of two other items: "B", never guess; no period: "B"
    assert counted_under_a_deleted_link("B", made, {"A": periods, "B": periods}) == "B"
    assert counted_under_a_deleted_link("B", made, {"A": periods, "C": periods}) == "B"
    assert counted_under_a_deleted_link("B", made, {}) == "B"
    # linked to "A" again, as before: "A"
    assert counted_under_a_deleted_link("A", made, {"A": periods}) == "A"


@pytest.mark.parametrize(
    ("made", "on_a"),
    [
        pytest.param(OLDER + timedelta(seconds=30), True, id="before-the-unlink"),
        pytest.param(APPLIED + timedelta(milliseconds=700), True, id="the-unlinks-second"),
        pytest.param(APPLIED + timedelta(seconds=1), False, id="after-the-unlink"),
        pytest.param(NEWER, False, id="at-the-delete"),
    ],
)
def test_a_deleted_shops_link_the_merchant_unlinked_counts_sales_on_its_item_up_to_the_unlink(
    made: datetime, on_a: bool
) -> None:
    # given the link of the SKU to item "A", linked at OLDER, that the merchant unlinked at APPLIED (+0.4 s) before
    # its shop's delete at NEWER; the reconnect's import links the SKU to "B"
    unlinked = [(OLDER, NEWER, APPLIED + timedelta(milliseconds=400))]
    # then a sale made up to the unlink (its second counting as before) counts on "A", one made after it on "B", as
    # on the never-deleted connection (unlink56, not fixed 1)
    assert counted_under_a_deleted_link("B", made, {"A": unlinked}) == ("A" if on_a else "B")
    # linked to "A" again, the period runs to the delete (poolfix54 finding 1)
    assert counted_under_a_deleted_link("A", made, {"A": unlinked}) == "A"


def test_a_deleted_shops_link_period_starts_no_earlier_than_the_records_of_its_applied_lines() -> None:
    # a link that stood for 200 days before its shop's delete: an order made over DELETED_LINE_KEPT before the delete
    # has no record of what that ledger did with it, so it is history, not a sale under that link (review54b finding
    # 4: a later status of an order that ledger had deducted, deducted twice); one made since is such a sale
    deleted = NEWER
    periods = [(deleted - timedelta(days=200), deleted)]
    assert not sold_while_linked_before(deleted - DELETED_LINE_KEPT - timedelta(seconds=1), periods)
    assert sold_while_linked_before(deleted - DELETED_LINE_KEPT, periods)
    assert not shipped_under_a_deleted_link(DEDUCT, deleted - timedelta(days=150), {"A": periods})


# (what the line asks, the item its SKU links to now) -> the first move of a line the delete found PENDING_LINK
# remembering item "A", as a waiting line linked on the same connection moves (`link_pending`)
PENDING_WITH_ITS_SHOP = [
    pytest.param(DEDUCT, "A", Transition(DEDUCTED, DEDUCT, NEWER, "A", -2, 0, MovementKind.DEDUCTED), id="shipped"),
    pytest.param(RESERVE, "A", Transition(RESERVED, RESERVE, NEWER, "A", 0, 2, MOVED_RESERVED), id="open"),
    pytest.param(RELEASE, "A", Transition(HISTORICAL, RELEASE, NEWER, "A"), id="cancelled"),
    pytest.param(DEDUCT, "B", Transition(HISTORICAL, DEDUCT, NEWER, "B"), id="shipped-linked-elsewhere"),
    pytest.param(DEDUCT, None, Transition(PENDING, DEDUCT, NEWER, "A"), id="not-linked-yet-waits-on-A"),
]


@pytest.mark.parametrize(("wanted", "linked_to", "expected"), PENDING_WITH_ITS_SHOP)
def test_a_line_the_deleted_ledger_held_waiting_moves_as_a_waiting_line_once_linked(
    wanted: StockEffect, linked_to: str | None, expected: Transition
) -> None:
    assert pending_with_its_shop(wanted, NEWER, linked_to, 2, "A") == expected


@pytest.mark.parametrize("wanted", [RESERVE, DEDUCT, RELEASE], ids=["open", "shipped", "cancelled"])
def test_a_line_the_delete_deducted_first_seen_before_its_skus_link_waits_on_no_item_whatever_its_status(
    wanted: StockEffect,
) -> None:
    # a line waiting on no item keeps the delete's record, and its SKU's link counts it back (`relink_lines`)
    assert waits_with_its_shop(wanted, NEWER) == Transition(PENDING, wanted, NEWER, None)


def test_a_link_that_named_its_item_at_the_delete_runs_through_the_gap_until_the_skus_next_link() -> None:
    # given the link of the SKU to item "A" (OLDER to the delete at NEWER) that named its item at the delete, and one
    # to "U" the merchant had unlinked (at APPLIED) before it
    delete, reconnect = NEWER, NEWER + timedelta(hours=2)
    kept = [("A", OLDER, delete, None, True, False), ("U", OLDER - timedelta(days=1), delete, APPLIED, False, False)]
    gap_sale, after = delete + timedelta(minutes=5), reconnect + timedelta(minutes=5)
    # when the SKU's link on the new connection took effect at `reconnect`
    periods = through_the_gap(kept, reconnect)
    # then "A"'s period runs on until that link (pool57 F1): a sale made in the gap counts on "A", whatever the SKU
    # links to now; one made after the new link counts on the new link's item
    assert periods["A"][0].ends_at == reconnect
    assert counted_under_a_deleted_link("B", gap_sale, periods) == "A"
    assert counted_under_a_deleted_link("B", after, periods) == "B"
    assert sold_while_linked_before(gap_sale, [(p.since, p.deleted_at, p.ends_at) for p in periods["A"]])
    # the unlinked link's period ends at the unlink, as before (no gap)
    assert periods["U"][0].ends_at is None
    # no link yet on the new connection (its orders import first): it runs on
    assert counted_under_a_deleted_link("B", after, through_the_gap(kept, None)) == "A"
    # a later delete's period of the same SKU starts the next link: the first ends there
    again = [*kept, ("B", reconnect, reconnect + timedelta(hours=1), None, True, False)]
    assert through_the_gap(again, None)["A"][0].ends_at == reconnect
    # another merchant's connection of the TikTok shop after the delete (before this connection's link) is left out of
    # it (review58 R6), and it runs on after that merchant's delete (review58b F1); one before the delete: nothing
    other, handed_back = delete + timedelta(minutes=30), delete + timedelta(hours=1)
    before = (delete - timedelta(days=2), delete - timedelta(days=1))
    pieces = through_the_gap(kept, reconnect, [before, (other, handed_back)])["A"]
    assert [(p.since, p.ends_at) for p in pieces] == [(OLDER, other), (handed_back, reconnect)]
    assert counted_under_a_deleted_link("B", other + timedelta(minutes=15), {"A": pieces}) == "B"
    assert counted_under_a_deleted_link("B", handed_back + timedelta(minutes=1), {"A": pieces}) == "A"
    assert [(p.since, p.ends_at) for p in through_the_gap(kept, None, [(other, handed_back)])["A"]] == [
        (OLDER, other), (handed_back, OPEN_ENDED),
    ]  # fmt: skip
    # two spans overlapping, or one running past the gap's end: no piece in them, none after the end
    spans = [(other, handed_back), (other + timedelta(minutes=15), reconnect + timedelta(hours=1))]
    assert [(p.since, p.ends_at) for p in through_the_gap(kept, reconnect, spans)["A"]] == [(OLDER, other)]
    # a link kept before migration 0045 (no source) ends at the delete, as before
    assert through_the_gap([("A", OLDER, delete, None, False, False)], reconnect)["A"][0].ends_at is None
    # the 97 days still count back from the delete
    long_ago = delete - DELETED_LINE_KEPT - timedelta(days=1)
    assert (
        counted_under_a_deleted_link("B", long_ago, through_the_gap([("A", long_ago, delete, None, True, False)], None))
        == "B"
    )


def test_the_second_a_gap_ends_in_belongs_to_the_period_that_begins_in_it() -> None:
    # given the delete's link of the SKU to "SOCK" that named its item, and the reconnect's first link (to "HAT") at
    # X.5 s, or another merchant's connection of the TikTok shop at X.5 s
    delete = NEWER
    second = delete + timedelta(hours=2)
    half_past = second + timedelta(microseconds=500_000)
    kept = [("SOCK", OLDER, delete, None, True, False)]
    # when the gap's period is read
    to_the_link = through_the_gap(kept, half_past)["SOCK"]
    handed_over = through_the_gap(kept, None, [(half_past, half_past + timedelta(hours=1))])["SOCK"]
    # then it ends at the start of that second (review58b F3, ledger59): a sale made in the second X counts on the
    # reconnect's link ("HAT", `order_timing`'s `after_link` agreeing), or on the other merchant's, not through the gap
    assert to_the_link[0].ends_at == second
    assert counted_under_a_deleted_link("HAT", second, {"SOCK": to_the_link}) == "HAT"
    assert counted_under_a_deleted_link("HAT", second - timedelta(seconds=1), {"SOCK": to_the_link}) == "SOCK"
    assert [(p.since, p.ends_at) for p in handed_over] == [
        (OLDER, second), (half_past + timedelta(hours=1), OPEN_ENDED),
    ]  # fmt: skip
    assert not sold_while_linked_before(second, [(p.since, p.deleted_at, p.ends_at) for p in handed_over])
    # the second of that merchant's delete begins the gap's next piece (its start read to its second)
    assert sold_while_linked_before(
        second + timedelta(hours=1), [(p.since, p.deleted_at, p.ends_at) for p in handed_over]
    )
    # an end in the delete's own second never starts before the delete
    assert through_the_gap(kept, delete + timedelta(microseconds=1))["SOCK"][0].ends_at == delete


def test_a_kept_period_runs_through_the_gap_to_the_skus_first_link_on_the_new_connection_not_its_link_now() -> None:
    # given the delete's link of the SKU to "SOCK" (OLDER to the delete at NEWER) that named its item, and on the new
    # connection a link to "HAT" at `first`, ended by the merchant's link to "SOCK" at `hand` (the SKU's link now)
    delete, first = NEWER, NEWER + timedelta(hours=2)
    hand = first + timedelta(hours=1)
    kept = [("SOCK", OLDER, delete, None, True, False)]
    earlier = {"HAT": [(first, hand)]}
    # when the end of the kept period is read
    periods = through_the_gap(kept, first_link_here(hand, earlier))
    # then it ends at the first link (kept58): a sale made under HAT counts on HAT, not on SOCK; one made in the gap,
    # or before the first link, still on SOCK
    assert periods["SOCK"][0].ends_at == first
    under_hat, in_gap = first + timedelta(minutes=5), delete + timedelta(minutes=5)
    assert counted_under_a_deleted_link("SOCK", under_hat, periods) == "SOCK"  # (its own item's period: not in it)
    assert not sold_while_linked_before(under_hat, [(p.since, p.deleted_at, p.ends_at) for p in periods["SOCK"]])
    assert sold_under_an_earlier_link(under_hat, earlier) == "HAT"
    assert sold_while_linked_before(in_gap, [(p.since, p.deleted_at, p.ends_at) for p in periods["SOCK"]])
    # relinked several times, the earliest period's link time; no period: the link's time; neither: none (runs on)
    several = {"HAT": [(first, hand), (hand + timedelta(hours=1), hand + timedelta(hours=2))], "SOCK": [(hand, hand)]}
    assert first_link_here(hand + timedelta(hours=2), several) == first
    assert first_link_here(hand, {}) == hand
    assert first_link_here(None, {}) is None
    assert first_link_here(None, earlier) == first


def test_an_earlier_period_a_deleted_shops_link_change_ended_counts_only_shipped_lines_on_its_item() -> None:
    # given the delete's rows of a SKU: its link to "HAT" as it stood at the delete (from APPLIED), and a copy of its
    # earlier period on "SOCK" (OLDER to APPLIED: the merchant linked it to SOCK, then back to HAT)
    delete = NEWER + timedelta(hours=1)
    kept = [("HAT", APPLIED, delete, None, True, False), ("SOCK", OLDER, APPLIED, None, False, True)]
    periods = through_the_gap(kept, None)
    assert periods["SOCK"][0].earlier and not periods["HAT"][0].earlier
    made_under_sock = OLDER + timedelta(seconds=30)
    # when a line made under SOCK is first seen after the reconnect, the SKU linked to HAT
    # then shipped, it counts on SOCK (the shelf it left, kept57); open (or cancelled), on HAT, as on the never-deleted
    # connection, where seen in time it would have moved to HAT with the link (kept58)
    assert counted_under_a_deleted_link("HAT", made_under_sock, periods) == "SOCK"
    assert counted_under_a_deleted_link("HAT", made_under_sock, periods, shipped=False) == "HAT"
    # a period of the delete's own link keeps counting open lines on its item (relink56)
    own = through_the_gap([("SOCK", OLDER, APPLIED, None, True, False)], None)
    assert counted_under_a_deleted_link("HAT", made_under_sock, own, shipped=False) == "SOCK"


# A's link period on this connection: [OLDER, APPLIED + 0.5 s), then the SKU's link moved the line to B
MOVED_AT = APPLIED + timedelta(microseconds=500_000)


@pytest.mark.parametrize(
    ("shipped_at", "left"),
    [(APPLIED - timedelta(seconds=1), "A"), (APPLIED, None), (NEWER, None), (OLDER - timedelta(seconds=1), None)],
    ids=["before-the-changes-second", "in-the-changes-second", "after", "before-the-period"],
)
def test_a_reserved_line_shipped_before_a_relink_names_the_item_it_left_only_before_the_changes_second(
    shipped_at: datetime, left: str | None
) -> None:
    # given a line of 3 units reserved on B, moved there from A by a link change at APPLIED + 0.5 s
    line = LedgerLine(RESERVED, RESERVE, OLDER, "B", 3)
    # when its shipped version is dated `shipped_at`: then it left A's shelf only if that is before the change's second
    assert shipped_before_relink(line, shipped_at, {"A": [(OLDER, MOVED_AT)]}) == left
    # (its own item's period, or two items' periods, name none; nor does a line carried off A with its units)
    assert shipped_before_relink(line._replace(left_out_of="A"), shipped_at, {"A": [(OLDER, MOVED_AT)]}) is None
    assert shipped_before_relink(line, shipped_at, {"B": [(OLDER, MOVED_AT)]}) is None
    assert shipped_before_relink(line, shipped_at, {"A": [(OLDER, MOVED_AT)], "C": [(OLDER, MOVED_AT)]}) is None


def test_a_period_ended_at_an_unlink_holds_a_reserved_line_until_the_next_link() -> None:
    # given A's period ended by the merchant's unlink at APPLIED (the line stayed reserved on A), and g1 linked to B at
    # NEWER (the line moved there)
    unlinked = {"A": [(OLDER, APPLIED)]}
    # then the line left A at NEWER: shipped between the unlink and that link, it left A's shelf (relink58)
    assert reserved_until(unlinked, NEWER, OLDER) == {"A": [(OLDER, NEWER)]}
    line = LedgerLine(RESERVED, RESERVE, OLDER, "B", 3)
    assert shipped_before_relink(line, APPLIED, unlinked, NEWER, OLDER) == "A"
    # (an order made after the unlink waited for the link, never reserved on A: A's period keeps its end)
    assert reserved_until(unlinked, NEWER, APPLIED + timedelta(seconds=1)) == unlinked
    assert (
        shipped_before_relink(line, APPLIED + timedelta(seconds=2), unlinked, NEWER, APPLIED + timedelta(seconds=1))
        is None
    )
    # and a period ended at a link change (the next link starts in it: at its end, or at a seed's read before it),
    # or at an unlink no link followed, keeps its end
    assert reserved_until({"A": [(OLDER, APPLIED)], "B": [(APPLIED, NEWER)]}, NEWER, OLDER) == {
        "A": [(OLDER, APPLIED)], "B": [(APPLIED, NEWER)]
    }  # fmt: skip
    seeded = APPLIED - timedelta(seconds=5)
    assert reserved_until({"A": [(OLDER, APPLIED)]}, seeded, OLDER) == {"A": [(OLDER, APPLIED)]}
    assert reserved_until(unlinked, None, OLDER) == unlinked


def test_a_pause_kept_for_the_item_linked_back_to_is_no_link_change_for_a_line_reserved_before_it() -> None:
    # given g1 linked to A until APPLIED - 1 min, then to B by mistake until the merchant's unlink at APPLIED, and
    # linked back to A at NEWER, which keeps the pause as A's (`links.resumed_pause`); a line made under B reserved
    # there stayed on B through the pause and moved to A at NEWER
    mis_click, relinked = APPLIED - timedelta(minutes=1), NEWER
    first = OLDER - timedelta(minutes=5)
    periods = {"A": [(first, mis_click), (APPLIED, relinked)], "B": [(mis_click, APPLIED)]}
    line = LedgerLine(RESERVED, RESERVE, mis_click, "A", 2)
    made = mis_click + timedelta(seconds=10)
    # then B's period holds the line until the link back, and the pause names no item a line left (soak59 F2)
    assert reserved_until(periods, relinked, made, "A") == {"A": [(first, mis_click)], "B": [(mis_click, relinked)]}
    # so, shipped in the pause, it left B's shelf (relink58), as before the pause was kept
    assert shipped_before_relink(line, APPLIED + timedelta(seconds=30), periods, relinked, made) == "B"
    # and once A's link has moved on (to C at a later instant), the pause still reads as one
    moved_on = {**periods, "A": [*periods["A"], (relinked, relinked + timedelta(minutes=1))]}
    assert shipped_before_relink(
        line._replace(inventory_item_id="C"), APPLIED + timedelta(seconds=30), moved_on,
        relinked + timedelta(minutes=1), made,
    ) == "B"  # fmt: skip


@pytest.mark.parametrize("counted", [False, True], ids=["not-counted", "counted-after-the-shipment"])
def test_a_reserved_line_shipped_before_a_relink_gives_its_reservation_back_and_deducts_from_the_item_it_left(
    counted: bool,
) -> None:
    line = LedgerLine(RESERVED, RESERVE, OLDER, "B", 3)
    back, deducted = left_before_relink(line, DEDUCT, APPLIED, "A", NEWER if counted else None)
    assert back == Transition(DEDUCTED, DEDUCT, APPLIED, "A", 0, -3, MOVED_RELEASED, counted_on="B")
    assert back.item_moved == "B"
    assert deducted == (
        Transition(DEDUCTED, DEDUCT, APPLIED, "A") if counted
        else Transition(DEDUCTED, DEDUCT, APPLIED, "A", -3, 0, MOVED_DEDUCTED)
    )  # fmt: skip


def test_a_deleted_connections_unlinked_pause_is_the_items_its_sku_links_to_again_when_it_had_a_period_there() -> None:
    # given, kept by a delete at 12:10: g1 linked to A from 12:00, to B by mistake at 12:02 (A's earlier period, its
    # `deleted_at` its end), unlinked by the merchant at 12:04:30.5 (B's link, remembered), (detour59b, soak59 F2)
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    unlinked_at = at + timedelta(minutes=4, seconds=30, microseconds=500_000)
    deleted_at = at + timedelta(minutes=10)
    a = [KeptLink(at, at + timedelta(minutes=2), None, None, True)]
    b = [KeptLink(at + timedelta(minutes=2), deleted_at, unlinked_at, None, False)]
    kept = {"item-a": a, "item-b": b}

    # when the SKU links to A again (the reconnect's link): the pause is A's, from the second after the unlink's (that
    # second counts as before it, `sold_before_unlink`) to the delete
    pause = kept_pause("item-a", kept)
    assert pause is not None and (pause.since, pause.deleted_at) == (at + timedelta(minutes=4, seconds=31), deleted_at)
    made = [at + timedelta(minutes=4, seconds=30), at + timedelta(minutes=4, seconds=31), deleted_at]
    assert [sold_in_pause(created_at, pause) for created_at in made] == [False, True, False]
    assert not sold_in_pause(made[1], None)

    # but not linked to the item it remembers (B's period runs to the unlink, `counted_under_a_deleted_link`), nor to
    # an item it had no period of on that connection (history, as before), nor with A's period from an older delete
    # (before the delete at 11:59 that came before it), nor when the link at the delete named its item
    assert kept_pause("item-b", kept) is None
    assert kept_pause("item-c", kept) is None
    older = [KeptLink(at - timedelta(minutes=5), at - timedelta(minutes=2), None, None, True)]
    before = [KeptLink(at - timedelta(minutes=5), at - timedelta(minutes=1), None, None, False)]
    assert kept_pause("item-a", {"item-a": older, "item-b": b, "item-d": before}) is None
    assert kept_pause("item-a", {"item-a": a, "item-b": [b[0]._replace(unlinked_at=None)]}) is None
