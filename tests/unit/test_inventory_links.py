"""SKU links (issue 8; live-sync.md §7.5): auto-linking decisions in full, whether a decision relinks a SKU, and
seeding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.inventory.links import (
    DROPPED,
    LinkDecision,
    LinkSource,
    LinkState,
    ShopSku,
    auto_link,
    back_from_drop,
    counts_orders,
    ended_period,
    held_part_applied,
    hold_item,
    hold_parts,
    holds_for,
    left_by_import,
    on_seed,
    relink_needed,
    relinked_by_hand,
    relinked_since,
    remembered_on_unlink,
    resumed_pause,
    seed_copies,
    seed_on_hand,
    standing_state,
    trimmed,
    unlinked_since,
)

AUTO, MANUAL = LinkSource.AUTO, LinkSource.MANUAL
LINKED, AMBIGUOUS, NO_SELLER_SKU, EXCLUDED, UNLINKED = (
    LinkState.LINKED, LinkState.AMBIGUOUS, LinkState.NO_SELLER_SKU, LinkState.EXCLUDED, LinkState.UNLINKED,
)  # fmt: skip


def test_a_seller_sku_is_matched_trimmed_and_blank_is_none() -> None:
    assert [trimmed(raw) for raw in (None, "", "  \t", " TEE-RED ", "TEE")] == [None, None, None, "TEE-RED", "TEE"]


def test_a_seller_sku_is_matched_in_nfc_so_its_two_spellings_are_one_and_not_ambiguous() -> None:
    # given a seller SKU spelled with a precomposed É (U+00C9) and with E + U+0301 COMBINING ACUTE ACCENT
    composed, decomposed = "CAF\u00c9-1", "CAFE\u0301-1"
    # then both are matched as the precomposed one (TikTok's own value is stored elsewhere, as it came)
    assert [trimmed(composed), trimmed(decomposed + "\u200b")] == [composed, composed]
    # and two SKUs of one shop carrying them share one seller SKU: neither is linked on a guess
    decisions = auto_link([ShopSku("s1", composed), ShopSku("s2", decomposed)])
    assert decisions == [LinkDecision("s1", AMBIGUOUS, composed), LinkDecision("s2", AMBIGUOUS, composed)]


def test_a_full_width_seller_sku_is_another_sku_as_it_is_at_tiktok() -> None:
    """Decision: matching takes NFC (canonical), never NFKC (compatibility). TikTok keeps a seller SKU as the string
    the seller typed (tiktok-api.md: `skus[].seller_sku`, a plain string, and Search Products' `seller_skus[]` filter
    takes it as is; nothing there folds width or case), so "SKU-1" in full-width letters and digit (U+FF33 U+FF2B
    U+FF35 - U+FF11) is a second SKU at TikTok. Folding it to "SKU-1" would make two SKUs that TikTok keeps apart
    AMBIGUOUS, or draw one on an item TikTok's seller never gave that SKU."""
    full_width = "\uff33\uff2b\uff35-\uff11"
    assert trimmed(full_width) == full_width
    # given a shop with both spellings, then each links to its own item, neither is ambiguous
    decisions = auto_link([ShopSku("s1", "SKU-1"), ShopSku("s2", full_width)])
    assert decisions == [
        LinkDecision("s1", LINKED, "SKU-1", "SKU-1"),
        LinkDecision("s2", LINKED, full_width, full_width),
    ]


def test_auto_link_decides_every_sku_in_order_after_a_manual_one_is_skipped() -> None:
    decisions = auto_link(
        [
            ShopSku("s0", "HAND-MADE", source=MANUAL, state=UNLINKED),  # first: the ones after it are still decided
            ShopSku("s1", " TEE-RED "),
            ShopSku("s2", "DUP", source=AUTO, state=LINKED, inventory_item_id="i9"),
            ShopSku("s3", None),
            ShopSku("s4", " GIFT ", bundle=True),
            ShopSku("s5", "MUG", source=MANUAL, state=LINKED, inventory_item_id="i7"),
            ShopSku("s6", " DUP"),
            ShopSku("s7", "  "),
            ShopSku("s8", "tee-red"),  # matching is case-sensitive
        ]
    )
    assert decisions == [
        LinkDecision("s1", LINKED, "TEE-RED", "TEE-RED"),
        LinkDecision("s2", AMBIGUOUS, "DUP", None),
        LinkDecision("s3", NO_SELLER_SKU, None, None),
        LinkDecision("s4", EXCLUDED, "GIFT", None),
        LinkDecision("s6", AMBIGUOUS, "DUP", None),
        LinkDecision("s7", NO_SELLER_SKU, None, None),
        LinkDecision("s8", LINKED, "tee-red", "tee-red"),
    ]


def test_a_seller_sku_too_long_to_keep_is_long_seller_sku_not_no_seller_sku() -> None:
    # given a SKU stored without its seller SKU because TikTok's was too long to keep, and one TikTok has none for
    decisions = auto_link([ShopSku("s1", None, seller_sku_too_long=True), ShopSku("s2", None), ShopSku("s3", "MUG")])
    # then the first says why (the merchant shortens it on TikTok or links it by hand), the second has none
    assert decisions == [
        LinkDecision("s1", LinkState.LONG_SELLER_SKU, None, None),
        LinkDecision("s2", NO_SELLER_SKU, None, None),
        LinkDecision("s3", LINKED, "MUG", "MUG"),
    ]
    # and a LINKED SKU whose seller SKU became too long leaves its item as an import's decision, remembering it: its
    # sales made meanwhile count there when it is linked back (`left_by_import`), as after NO_SELLER_SKU
    assert left_by_import(LinkState.LONG_SELLER_SKU.value, AUTO.value)
    assert holds_for(LinkState.LONG_SELLER_SKU.value, None, "i1", AUTO.value) == "i1"
    # and the merchant's link by hand stands over it
    assert auto_link([ShopSku("s1", None, source=MANUAL, state=LINKED, seller_sku_too_long=True)]) == []


def test_a_bundle_sharing_a_seller_sku_does_not_make_it_ambiguous() -> None:
    # a bundle is never linked, so it does not compete for its seller SKU
    assert auto_link([ShopSku("b1", "MUG", bundle=True), ShopSku("s1", "MUG")]) == [
        LinkDecision("b1", EXCLUDED, "MUG", None),
        LinkDecision("s1", LINKED, "MUG", "MUG"),
    ]
    assert auto_link([ShopSku("b1", "MUG", bundle=True), ShopSku("b2", "MUG", bundle=True)]) == [
        LinkDecision("b1", EXCLUDED, "MUG", None),
        LinkDecision("b2", EXCLUDED, "MUG", None),
    ]


def test_a_manual_sku_sharing_a_seller_sku_still_makes_the_others_ambiguous() -> None:
    # "a seller SKU found on two or more SKUs of one shop leaves all of them unlinked": the merchant's link stays
    assert auto_link([ShopSku("s1", "MUG", source=MANUAL, state=LINKED, inventory_item_id="i1"),
                      ShopSku("s2", "MUG")]) == [LinkDecision("s2", AMBIGUOUS, "MUG", None)]  # fmt: skip
    assert auto_link([]) == []


def test_relink_is_needed_only_when_the_state_the_item_or_the_source_changes() -> None:
    items = {"TEE": "i1", "MUG": "i2"}
    linked_tee = ShopSku("s1", "TEE", source=AUTO, state=LINKED, inventory_item_id="i1")
    assert relink_needed(linked_tee, LinkDecision("s1", LINKED, "TEE", "TEE"), items) is False
    # the seller SKU now names another item, or an item not created yet
    assert relink_needed(linked_tee, LinkDecision("s1", LINKED, "MUG", "MUG"), items) is True
    assert relink_needed(linked_tee, LinkDecision("s1", LINKED, "CAP", "CAP"), items) is True
    # another state
    assert relink_needed(linked_tee, LinkDecision("s1", AMBIGUOUS, "TEE", None), items) is True
    # the same decision as stored, with no item
    ambiguous = ShopSku("s1", "TEE", source=AUTO, state=AMBIGUOUS)
    assert relink_needed(ambiguous, LinkDecision("s1", AMBIGUOUS, "TEE", None), items) is False
    no_sku = ShopSku("s2", None, source=AUTO, state=NO_SELLER_SKU)
    assert relink_needed(no_sku, LinkDecision("s2", NO_SELLER_SKU, None, None), items) is False
    # never decided before (no state, no source): recorded even when the state would be the same
    assert relink_needed(ShopSku("s2", None), LinkDecision("s2", NO_SELLER_SKU, None, None), items) is True
    fresh = ShopSku("s1", "TEE", state=LINKED, inventory_item_id="i1")
    assert relink_needed(fresh, LinkDecision("s1", LINKED, "TEE", "TEE"), items) is True
    # a stored decision that was the merchant's becomes the automatic one
    manual = ShopSku("s1", "TEE", source=MANUAL, state=LINKED, inventory_item_id="i1")
    assert relink_needed(manual, LinkDecision("s1", LINKED, "TEE", "TEE"), items) is True


def test_seeding_adds_the_open_units_to_tiktoks_available_and_never_goes_below_zero() -> None:
    # TikTok shows 7 available while 3 units wait in open orders: on-hand 10, so the pool's available is 7 too
    assert seed_on_hand(7, 3) == 10
    assert seed_on_hand(0, 0) == 0
    assert seed_on_hand(-2, 3) == 3
    assert seed_on_hand(5, -1) == 5
    assert seed_on_hand(1, 1) == 2


def test_seeding_takes_out_the_units_shipped_since_the_stock_was_read() -> None:
    # TikTok read 5, 1 open order before the read waits, 2 units shipped since the read (gone from the 5): 3 + 1
    assert seed_on_hand(5, 1, 2) == 4
    assert seed_on_hand(1, 2, 3) == 2  # never below what the open orders reserve
    assert seed_on_hand(4, 0, -1) == 4


def test_an_unlink_records_when_the_skus_sales_stopped_counting_on_the_item_it_remembers() -> None:
    before, now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC), datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    # a link that named its item (LINKED, or DROPPED with it), or that an import had left (its sales since its link
    # counted there): now
    assert unlinked_since("LINKED", "item-a", "AUTO", "item-a", None, now) == now
    assert unlinked_since(DROPPED, "item-a", "MANUAL", "item-a", None, now) == now
    assert unlinked_since("AMBIGUOUS", None, "AUTO", "item-a", before, now) == now
    assert unlinked_since(DROPPED, None, "AUTO", "item-a", before, now) == now
    # one the merchant had unlinked already (a second skuUnlink, or dropped since): its instant, no later
    assert unlinked_since("UNLINKED", None, "MANUAL", "item-a", before, now) == before
    assert unlinked_since(DROPPED, None, "MANUAL", "item-a", before, now) == before
    # remembering no item, or no link yet: none
    assert unlinked_since("LINKED", "item-a", "AUTO", None, None, now) is None
    assert unlinked_since(None, None, None, None, None, now) is None


def test_an_unlink_remembers_the_item_the_sku_was_linked_to_and_since_when() -> None:
    linked_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    # a LINKED SKU: its item and its link's time
    assert remembered_on_unlink(LINKED, "item-a", linked_at, None) == ("item-a", linked_at)
    # unlinked again: what it remembered stays; remembering nothing, no time either
    assert remembered_on_unlink(UNLINKED, None, linked_at, "item-a") == ("item-a", linked_at)
    assert remembered_on_unlink(UNLINKED, None, linked_at, None) == (None, None)
    # never linked, or linked to nothing the pool counted: nothing
    assert remembered_on_unlink(None, None, None, None) == (None, None)
    assert remembered_on_unlink(AMBIGUOUS, None, None, None) == (None, None)
    assert remembered_on_unlink(NO_SELLER_SKU, None, linked_at, None) == (None, None)
    assert remembered_on_unlink(LINKED, None, linked_at, None) == (None, None)


@pytest.mark.parametrize("state", [AMBIGUOUS, NO_SELLER_SKU, EXCLUDED], ids=["ambiguous", "no-seller-sku", "excluded"])
def test_a_link_an_import_took_away_keeps_the_item_it_remembers(state: LinkState) -> None:
    # an import left the LINKED SKU without its item (its seller SKU found on a twin, cleared, the SKU a bundle)
    # and it remembered that item: rewritten again (unlinked by hand, or another import's decision), it keeps it.
    # Before, only an UNLINKED link kept what it remembered
    linked_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert remembered_on_unlink(state, None, linked_at, "item-a") == ("item-a", linked_at)


@pytest.mark.parametrize(
    "state", [UNLINKED, AMBIGUOUS, NO_SELLER_SKU, EXCLUDED], ids=["unlinked", "ambiguous", "no-seller-sku", "excluded"]
)
def test_a_relink_to_the_item_a_link_remembers_keeps_that_links_time(state: LinkState) -> None:
    linked_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    # back to the item it remembers, by hand or by an import: the first link's time (the unlink or the ambiguity was
    # a pause; before, only after the merchant's unlink)
    assert relinked_since(state, "item-a", linked_at, "item-a") == linked_at
    # to another item, remembering no time: None (the link takes effect now, or when the stock seeding it was read)
    assert relinked_since(state, "item-a", linked_at, "item-b") is None
    assert relinked_since(state, "item-a", None, "item-a") is None


def test_a_link_to_an_item_from_a_link_remembering_nothing_takes_effect_now() -> None:
    linked_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert relinked_since(LINKED, None, linked_at, "item-a") is None
    assert relinked_since(None, None, None, "item-a") is None


def test_a_link_to_the_item_it_is_linked_to_keeps_its_time() -> None:
    # a `skuLink` that names the item the SKU is LINKED to changes only the link's source: its time stays (a new
    # one made a sale from before the click, first seen shipped after it, history: its units oversold)
    linked_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert relinked_since(LINKED, "item-a", linked_at, "item-a") == linked_at
    assert relinked_since(LINKED, "item-a", linked_at, "item-b") is None  # moved to another item: now


@pytest.mark.parametrize(
    ("state", "item", "counted_on"),
    [(LINKED, "item-1", "item-1"), (DROPPED, "item-1", "item-1"), (DROPPED, None, None), (UNLINKED, None, None),
     (AMBIGUOUS, None, None), (EXCLUDED, None, None), (NO_SELLER_SKU, None, None)],
    ids=["linked", "dropped", "dropped-unlinked", "unlinked", "ambiguous", "excluded", "no-seller-sku"],
)  # fmt: skip
def test_the_orders_of_a_sku_dropped_from_its_product_count_on_its_item(
    state: str, item: str | None, counted_on: str | None
) -> None:
    # a SKU TikTok dropped from its product still has orders to ship from (or cancel back to) its item's stock
    assert counts_orders(state, item) == counted_on


@pytest.mark.parametrize(
    ("state", "item", "standing"),
    [(DROPPED, "item-1", LINKED), (DROPPED, None, UNLINKED), (LINKED, "item-1", LINKED), (AMBIGUOUS, None, AMBIGUOUS)],
    ids=["dropped-linked", "dropped-unlinked", "linked", "ambiguous"],
)  # fmt: skip
def test_a_dropped_link_stands_for_linked_with_its_item_and_unlinked_without(
    state: str, item: str | None, standing: LinkState
) -> None:
    assert standing_state(state, item) is standing


@pytest.mark.parametrize(
    ("source", "item", "back"),
    [(MANUAL, "item-1", LINKED), (MANUAL, None, UNLINKED), (AUTO, "item-1", None), (AUTO, None, None)],
    ids=["manual-linked", "manual-unlinked", "auto-linked", "auto-unlinked"],
)  # fmt: skip
def test_a_sku_back_in_its_product_keeps_the_merchants_decision_and_auto_ones_are_decided_again(
    source: LinkSource, item: str | None, back: LinkState | None
) -> None:
    assert back_from_drop(source, item) is back


_FIRST, _LATER = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kept", "item"),
    [
        ([], None),
        ([("hat", "MANUAL", _FIRST)], "hat"),
        ([("sock", "AUTO", _FIRST)], None),
        ([("hat", None, _FIRST)], None),
        ([("hat", "MANUAL", _FIRST), ("sock", "AUTO", _LATER)], None),
        ([("sock", "AUTO", _FIRST), ("hat", "MANUAL", _LATER)], "hat"),
        ([("hat", "MANUAL", _LATER), ("cap", "MANUAL", _LATER)], None),
    ],
    ids=[
        "none-kept", "linked-by-hand", "linked-by-seller-sku", "only-remembered (an unlink)",
        "by-hand-then-by-seller-sku", "by-seller-sku-then-by-hand", "two-at-the-latest-delete",
    ],
)  # fmt: skip
def test_a_sku_linked_by_hand_at_the_latest_delete_is_linked_by_hand_to_that_item_again(
    kept: list[tuple[str, str | None, datetime]], item: str | None
) -> None:
    assert relinked_by_hand(kept) == item


@pytest.mark.parametrize(
    ("item", "seeded", "counted"),
    [("item-1", "item-1", True), ("item-2", "item-1", False), ("item-1", None, True)],
    ids=["on-the-seeded-item", "on-another-item", "written-before-0021"],
)  # fmt: skip
def test_a_seeding_read_counts_on_the_item_it_seeded_alone(item: str, seeded: str | None, counted: bool) -> None:
    assert on_seed(item, seeded) is counted


@pytest.mark.parametrize(
    ("state", "item", "copied"),
    [
        (LINKED.value, "item-1", "item-1"), (None, None, None), (AMBIGUOUS.value, None, None),
        (UNLINKED.value, None, None), (DROPPED, "item-1", None),
    ],
    ids=["renamed-from-a-linked-sku", "first-link", "ambiguous", "unlinked", "dropped"],
)  # fmt: skip
def test_a_new_items_seed_copies_the_count_of_the_item_its_sku_was_linked_to(
    state: str | None, item: str | None, copied: str | None
) -> None:
    assert seed_copies(state, item) == copied


def test_a_hold_of_a_sku_the_merchant_unlinked_counts_for_its_item_once_the_unlink_has_an_instant() -> None:
    unlinked_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    # unlinked by hand with its instant (migration 0036; dropped since or not): its held sales came before the unlink
    assert holds_for("UNLINKED", None, "item-1", "MANUAL", unlinked_at) == "item-1"
    assert holds_for(DROPPED, None, "item-1", "MANUAL", unlinked_at) == "item-1"
    # unlinked by hand before 0036 (no instant): no item, as before; an import's leaving: its item either way
    assert holds_for("UNLINKED", None, "item-1", "MANUAL") is None
    assert holds_for("AMBIGUOUS", None, "item-1", "AUTO") == "item-1"


def test_a_link_change_to_another_item_ends_the_period_its_orders_counted_on_the_item_it_leaves() -> None:
    linked, unlinked, now = (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2026, 12, 2, tzinfo=UTC),
        datetime(2026, 12, 3, tzinfo=UTC),
    )
    # LINKED to A, linked to B now: A's period ends now (pool57 F2); linked to A again, or left without an item: none
    assert ended_period("LINKED", "A", "MANUAL", linked, None, None, "B", now) == ("A", linked, now)
    assert ended_period("DROPPED", "A", "AUTO", linked, None, None, "B", now) == ("A", linked, now)
    assert ended_period("LINKED", "A", "AUTO", linked, None, None, "A", now) is None
    assert ended_period("LINKED", "A", "AUTO", linked, None, None, None, now) is None
    # unlinked by the merchant from A, linked to B: A's period ended at the unlink; left by an import: now (its sales
    # since went on counting on A); linked back to A: none (the link keeps its time, `relinked_since`)
    assert ended_period("UNLINKED", None, "MANUAL", linked, "A", unlinked, "B", now) == ("A", linked, unlinked)
    assert ended_period("AMBIGUOUS", None, "AUTO", linked, "A", unlinked, "B", now) == ("A", linked, now)
    assert ended_period("UNLINKED", None, "MANUAL", linked, "A", unlinked, "A", now) is None
    # remembering nothing, or no time: none
    assert ended_period("NO_SELLER_SKU", None, "AUTO", None, None, None, "B", now) is None
    assert ended_period("LINKED", "A", "AUTO", None, None, None, "B", now + timedelta(days=1)) is None


def test_a_link_back_after_an_unlink_to_an_item_the_sku_had_a_period_of_keeps_the_pause_as_that_items() -> None:
    # given g1 linked to A, then to B by mistake (A's period kept), unlinked at `unlinked_at` (it remembers B)
    unlinked_at = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    now = unlinked_at + timedelta(minutes=1)
    unlinked = (UNLINKED.value, None, LinkSource.MANUAL.value, "item-b", unlinked_at)
    # when linked back to A, which it had a period of: the pause is A's, from the unlink to now (soak59 F2: before,
    # none, and a sale made in the pause and first seen shipped after was history)
    assert resumed_pause(*unlinked, "item-a", True, now) == ("item-a", unlinked_at, now)
    # but not to an item it never had a period of here (the merchant said "not that item"), nor to the item it
    # remembers (that link keeps its time, `relinked_since`), nor when unlinked to nothing
    assert resumed_pause(*unlinked, "item-c", False, now) is None
    assert resumed_pause(*unlinked, "item-b", True, now) is None
    assert resumed_pause(*unlinked, None, True, now) is None
    # nor from a link that counts orders on its item, an import's unlink (its sales counted on B meanwhile: B's
    # period runs to now, `ended_period`), or an unlink with no instant (before migration 0036)
    assert resumed_pause(LINKED.value, "item-b", LinkSource.MANUAL.value, None, None, "item-a", True, now) is None
    assert resumed_pause(DROPPED, "item-b", LinkSource.MANUAL.value, None, None, "item-a", True, now) is None
    ambiguous = (AMBIGUOUS.value, None, LinkSource.AUTO.value, "item-b", unlinked_at)
    assert resumed_pause(*ambiguous, "item-a", True, now) is None
    assert resumed_pause(UNLINKED.value, None, LinkSource.MANUAL.value, "item-b", None, "item-a", True, now) is None


@pytest.mark.parametrize(
    ("held", "held_item", "state", "item", "remembered", "source", "unlinked_at", "expected"),
    [
        # 1. nothing held: no item, whatever the link names or recorded
        (0, "cap", LINKED.value, "hat", None, MANUAL.value, None, None),
        # 2. recorded (migration 0056): a SKU linked by hand from CAP to HAT whose push held CAP's sale is CAP's
        (3, "cap", LINKED.value, "hat", None, MANUAL.value, None, "cap"),
        (3, "cap", UNLINKED.value, None, "hat", MANUAL.value, datetime(2026, 12, 1, tzinfo=UTC), "cap"),
        (3, "cap", DROPPED, "hat", None, AUTO.value, None, "cap"),
        # 3. recorded before 0056: `holds_for`'s inference from the link as it stands
        (3, None, LINKED.value, "hat", None, MANUAL.value, None, "hat"),
        (3, None, AMBIGUOUS.value, None, "hat", AUTO.value, None, "hat"),
        (3, None, UNLINKED.value, None, "hat", MANUAL.value, None, None),
    ],
    ids=["none-held", "recorded", "recorded-unlinked", "recorded-dropped", "linked", "left-by-import", "before-0036"],
)  # fmt: skip
def test_a_hold_belongs_to_the_item_it_recorded_else_to_the_one_its_link_holds_for(
    held: int, held_item: str | None, state: str, item: str | None, remembered: str | None, source: str,
    unlinked_at: datetime | None, expected: str | None,
) -> None:  # fmt: skip
    assert hold_item(held, held_item, state, item, remembered, source, unlinked_at) == expected


def test_a_hold_restarted_with_units_of_another_item_keeps_each_part_with_its_item() -> None:
    # review61 F2: HAT's push carried CAP's 3 and held 2 sold under HAT anew (held_item_quantity 3 of 5, the rest the
    # pushed item's)
    assert hold_parts(5, "cap", 3, "hat") == {"cap": 3, "hat": 2}
    # units applied since the push come off the newer part first: the older part is kept
    assert hold_parts(4, "cap", 3, "hat") == {"cap": 3, "hat": 1}
    assert hold_parts(2, "cap", 3, "hat") == {"cap": 2}
    # no split recorded (before migration 0059, or all one item's), or no item for the rest: all the hold's item's
    assert hold_parts(5, "cap", None, "hat") == {"cap": 5}
    assert hold_parts(5, "cap", 3, None) == {"cap": 5}
    assert hold_parts(5, "cap", 3, "cap") == {"cap": 5}
    # nothing standing: no part
    assert hold_parts(0, "cap", 3, "hat") == {}


def test_a_split_holds_part_loses_the_units_the_ledger_applies_on_its_item() -> None:
    # review62 R2: CAP's 3 carried, HAT's 2 held anew; CAP's sale read first: the 2 units left are HAT's
    assert hold_parts(5 - 3, "cap", held_part_applied(3, 3), "hat") == {"hat": 2}
    # HAT's sale read first: the 3 left are CAP's (units not of the part's item come off the rest)
    assert hold_parts(5 - 2, "cap", held_part_applied(3, 0), "hat") == {"cap": 3}
    # never below 0
    assert held_part_applied(3, 5) == 0
