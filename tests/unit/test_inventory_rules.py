"""The pool's pure rules: available/oversold, merchant edits, the ledger's transitions and rows (bundles too),
auto-linking, seeding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import DomainError, ErrorCode
from domain.inventory.items import InventoryItem, MovementKind, adjust, applied, checked_sku, set_on_hand
from domain.inventory.ledger import (
    LINE_ITSELF,
    LedgerLine,
    LineState,
    StockEffect,
    StockLine,
    link_pending,
    stock_lines,
    transition,
    unlink_reserved,
    wanted_effect,
)
from domain.inventory.links import LinkSource, LinkState, ShopSku, auto_link, seed_on_hand

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def item(on_hand: int = 10, reserved: int = 0, safety: int = 0) -> InventoryItem:
    return InventoryItem("i1", "m1", "SKU-1", on_hand, reserved, safety, 1, T0, T0)


def line(state: LineState, wanted: StockEffect = StockEffect.RESERVE, at: datetime = T0) -> LedgerLine:
    return LedgerLine(state, wanted, at, "i1", 1)


def test_available_subtracts_reserved_and_safety_stock_and_may_go_negative() -> None:
    assert (item(10, 3, 2).available, item(10, 3, 2).oversold) == (5, False)
    assert (item(2, 3, 1).available, item(2, 3, 1).oversold) == (-2, True)
    after = applied(item(10, 3), -1, -1, T1)
    assert (after.on_hand, after.reserved, after.version, after.updated_at) == (9, 2, 2, T1)


@pytest.mark.parametrize(
    ("status", "effect"),
    [("UNPAID", StockEffect.RESERVE), ("ON_HOLD", StockEffect.RESERVE), ("AWAITING_SHIPMENT", StockEffect.RESERVE),
     ("PARTIALLY_SHIPPING", StockEffect.RESERVE), ("AWAITING_COLLECTION", StockEffect.RESERVE),
     ("IN_TRANSIT", StockEffect.DEDUCT), ("DELIVERED", StockEffect.DEDUCT), ("COMPLETED", StockEffect.DEDUCT),
     ("CANCELLED", StockEffect.RELEASE), ("SOMETHING_NEW", None)],
)  # fmt: skip
def test_each_status_asks_for_its_effect(status: str, effect: StockEffect | None) -> None:
    assert wanted_effect(status) is effect


def test_a_first_seen_open_line_reserves_or_waits_for_a_link() -> None:
    reserved = transition(None, StockEffect.RESERVE, T0, "i1")
    assert reserved is not None
    assert (reserved.state, reserved.reserved_delta, reserved.on_hand_delta) == (LineState.RESERVED, 1, 0)
    assert reserved.movement is MovementKind.RESERVED and reserved.item_moved == "i1" and reserved.changes_available
    pending = transition(None, StockEffect.RESERVE, T0, None)
    assert pending is not None and pending.state is LineState.PENDING_LINK and pending.item_moved is None


@pytest.mark.parametrize("wanted", [StockEffect.DEDUCT, StockEffect.RELEASE])
def test_a_line_first_seen_shipped_or_cancelled_is_history(wanted: StockEffect) -> None:
    for linked in ("i1", None):
        history = transition(None, wanted, T0, linked)
        assert history is not None and history.state is LineState.HISTORICAL and history.item_moved is None


def test_a_reservation_is_deducted_or_released_once_and_never_goes_back() -> None:
    deducted = transition(line(LineState.RESERVED), StockEffect.DEDUCT, T1, "i1")
    assert deducted is not None and (deducted.state, deducted.on_hand_delta, deducted.reserved_delta) == (
        LineState.DEDUCTED, -1, -1,
    )  # fmt: skip
    assert not deducted.changes_available
    released = transition(line(LineState.RESERVED), StockEffect.RELEASE, T1, "i1")
    assert released is not None and (released.state, released.on_hand_delta, released.reserved_delta) == (
        LineState.RELEASED, 0, -1,
    )  # fmt: skip
    for final in (LineState.DEDUCTED, LineState.RELEASED, LineState.HISTORICAL):
        for wanted in StockEffect:
            assert transition(line(final, at=T0), wanted, T1, "i1") is None


def test_an_older_or_repeated_status_changes_nothing() -> None:
    current = line(LineState.RESERVED, at=T1)
    assert transition(current, StockEffect.RELEASE, T0, "i1") is None  # older: ignored
    assert transition(current, StockEffect.RESERVE, T1, "i1") is None  # the same: nothing
    moved = transition(current, StockEffect.RESERVE, T1 + timedelta(seconds=1), "i1")
    assert moved is not None and moved.item_moved is None and moved.order_updated_at > T1


def test_a_pending_line_applies_when_linked_and_is_history_if_no_longer_open() -> None:
    pending = LedgerLine(LineState.PENDING_LINK, StockEffect.RESERVE, T0, None, 1)
    assert transition(pending, StockEffect.RESERVE, T0, None) is None
    later = transition(pending, StockEffect.DEDUCT, T1, None)
    assert later is not None and later.state is LineState.PENDING_LINK and later.wanted is StockEffect.DEDUCT
    linked = transition(pending, StockEffect.RESERVE, T1, "i1")
    assert linked is not None and linked.state is LineState.RESERVED and linked.reserved_delta == 1
    assert link_pending(StockEffect.RESERVE, T0, "i1", 1).state is LineState.RESERVED
    assert link_pending(StockEffect.DEDUCT, T0, "i1", 1).state is LineState.HISTORICAL


def test_unlinking_gives_a_reservation_back_to_its_item() -> None:
    back = unlink_reserved(line(LineState.RESERVED))
    assert back is not None and back.state is LineState.PENDING_LINK and back.reserved_delta == -1
    assert back.item_moved == "i1" and back.inventory_item_id == "i1"  # the item it was reserved on, remembered
    assert unlink_reserved(line(LineState.DEDUCTED)) is None


def test_set_on_hand_with_a_stale_compare_value_is_a_version_conflict() -> None:
    assert set_on_hand(item(10), 7, None).on_hand_delta == -3
    assert set_on_hand(item(10), 12, 10).on_hand_delta == 2
    with pytest.raises(DomainError) as conflict:
        set_on_hand(item(10), 12, 9)
    assert conflict.value.code is ErrorCode.VERSION_CONFLICT
    with pytest.raises(DomainError) as negative:
        set_on_hand(item(10), -1, None)
    assert negative.value.code is ErrorCode.INVALID_INPUT


def test_adjust_needs_a_reason_and_keeps_on_hand_at_or_above_zero() -> None:
    edit = adjust(item(10), -4, "  damaged in transit ")
    assert (edit.kind, edit.on_hand_delta, edit.reason) == (MovementKind.ADJUSTED, -4, "damaged in transit")
    for delta, reason in ((0, "count"), (3, "  "), (-11, "count")):
        with pytest.raises(DomainError) as refused:
            adjust(item(10), delta, reason)
        assert refused.value.code is ErrorCode.INVALID_INPUT
    with pytest.raises(DomainError):
        checked_sku("   ")
    assert checked_sku("  A-1 ") == "A-1"


def test_auto_link_matches_trimmed_seller_skus_and_never_guesses() -> None:
    decisions = auto_link(
        [ShopSku("s1", " TEE-RED "), ShopSku("s2", "DUP"), ShopSku("s3", "DUP "), ShopSku("s4", None),
         ShopSku("s5", "  "), ShopSku("s6", "BUNDLE", bundle=True),
         ShopSku("s7", "TEE-RED-M", source=LinkSource.MANUAL, state=LinkState.UNLINKED)]
    )  # fmt: skip
    by_sku = {d.sku_id: (d.state, d.item_sku) for d in decisions}
    assert by_sku == {
        "s1": (LinkState.LINKED, "TEE-RED"),
        "s2": (LinkState.AMBIGUOUS, None),
        "s3": (LinkState.AMBIGUOUS, None),
        "s4": (LinkState.NO_SELLER_SKU, None),
        "s5": (LinkState.NO_SELLER_SKU, None),
        "s6": (LinkState.EXCLUDED, None),
    }  # s7: the merchant's manual decision is not touched


def test_seeding_counts_the_open_orders_once() -> None:
    # TikTok shows 7 available after 3 open orders: on-hand 10, the 3 reserve, available 7 as on TikTok
    assert seed_on_hand(7, 3) == 10
    assert seed_on_hand(-2, 0) == 0


def test_refused_edits_say_what_is_wrong_with_the_value_given() -> None:
    # a compare value no on-hand can have is bad input, not someone else's change
    with pytest.raises(DomainError) as negative:
        set_on_hand(item(10), 12, -1_000_000_001)
    assert (negative.value.code, negative.value.field) == (ErrorCode.INVALID_INPUT, ("compareOnHand",))
    cases = (
        (item(10), 0, "delta must not be 0: give the units to add (above 0) or remove (below 0)."),
        (item(10), 2_000_000_000, "delta must be between -1000000000 and 1000000000 units (this one is 2000000000)."),
        (
            item(1_000_000_000),
            1,
            "On-hand is 1000000000: adding 1 would pass the maximum of 1000000000 units (add at most 0).",
        ),
        (item(10), -11, "On-hand is 10: it cannot drop by 11 (at most 10)."),
    )
    for stocked, delta, message in cases:
        with pytest.raises(DomainError) as refused:
            adjust(stocked, delta, "count")
        assert (refused.value.code, refused.value.message) == (ErrorCode.INVALID_INPUT, message)


def test_an_ordinary_line_is_one_row_of_its_own_sku() -> None:
    assert stock_lines("s1", 1) == (StockLine(LINE_ITSELF, "s1", 1),)
    assert stock_lines("s1", 3, []) == (StockLine(LINE_ITSELF, "s1", 3),)


def test_a_bundle_line_is_one_row_per_component_of_sku_count_units_and_none_of_the_bundle_sku() -> None:
    # given a line of a virtual bundle (live-sync.md sec. 1.5): 2 mugs and 1 cup per bundle, the cup listed twice
    components = [("mug", 2), ("cup", 1), ("cup", 1)]
    # then each component is reserved sku_count times per unit of the line, and the bundle SKU itself never
    assert stock_lines("bundle", 1, components) == (StockLine("cup", "cup", 2), StockLine("mug", "mug", 2))
    assert stock_lines("bundle", 2, components) == (StockLine("cup", "cup", 4), StockLine("mug", "mug", 4))
    # and each component row moves through the ledger like a line of that many units
    move = transition(None, StockEffect.RESERVE, T0, "i1", stock_lines("bundle", 1, components)[1].quantity)
    assert move is not None and (move.state, move.reserved_delta) == (LineState.RESERVED, 2)
