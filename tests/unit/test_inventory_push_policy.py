"""The push policy's limits at both sides, its refusals' exact code, field and message, the target near 0, and the
committed fence (live-sync.md sec. 1.3, 7.1, 7.3; issue 8). Policies are built inside the tests, so that the rules
checked are the ones running (not values built once when the tests were collected)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.errors import DomainError, ErrorCode, ValidationErrors
from domain.inventory_push import (
    InventoryPolicy,
    LinkedSku,
    carried_hold,
    fence_counts,
    hold_started,
    unseen_sales,
)


def test_the_limits_themselves_are_accepted() -> None:
    for values in (
        {"share_percent": 1}, {"share_percent": 100}, {"max_quantity": 0}, {"max_quantity": 99_999},
        {"out_of_stock_threshold": 0}, {"out_of_stock_threshold": 1_000_000_000},
    ):  # fmt: skip
        assert InventoryPolicy(**values)  # refused: DomainError


@pytest.mark.parametrize(
    ("values", "code", "message", "field"),
    [
        ({"share_percent": 0}, ErrorCode.INVALID_SHARE_PERCENT, "sharePercent must be between 1 and 100.",
         ("sharePercent",)),
        ({"share_percent": 101}, ErrorCode.INVALID_SHARE_PERCENT, "sharePercent must be between 1 and 100.",
         ("sharePercent",)),
        ({"max_quantity": -1}, ErrorCode.INVALID_MAX_QUANTITY,
         "maxQuantity must be between 0 and 99999, or null for no maximum.", ("maxQuantity",)),
        ({"max_quantity": 100_000}, ErrorCode.INVALID_MAX_QUANTITY,
         "maxQuantity must be between 0 and 99999, or null for no maximum.", ("maxQuantity",)),
        ({"out_of_stock_threshold": -1}, ErrorCode.INVALID_OUT_OF_STOCK_THRESHOLD,
         "outOfStockThreshold must be between 0 and 1000000000.", ("outOfStockThreshold",)),
        ({"out_of_stock_threshold": 1_000_000_001}, ErrorCode.INVALID_OUT_OF_STOCK_THRESHOLD,
         "outOfStockThreshold must be between 0 and 1000000000.", ("outOfStockThreshold",)),
    ],
)  # fmt: skip
def test_a_value_out_of_range_is_refused_with_its_code_message_and_field(
    values: dict[str, Any], code: ErrorCode, message: str, field: tuple[str, ...]
) -> None:
    with pytest.raises(DomainError) as refused:
        InventoryPolicy(**values)
    assert (refused.value.code, refused.value.message, refused.value.field) == (code, message, field)


def test_every_value_out_of_range_is_refused_at_once_in_the_fields_order() -> None:
    # a form marks each bad field in one answer (`ValidationErrors`), as shopAuthorizationStart's does
    with pytest.raises(ValidationErrors) as refused:
        InventoryPolicy(share_percent=0, max_quantity=100_000, out_of_stock_threshold=-1)
    assert [(e.code, e.field) for e in refused.value.errors] == [
        (ErrorCode.INVALID_SHARE_PERCENT, ("sharePercent",)),
        (ErrorCode.INVALID_MAX_QUANTITY, ("maxQuantity",)),
        (ErrorCode.INVALID_OUT_OF_STOCK_THRESHOLD, ("outOfStockThreshold",)),
    ]


def test_one_unit_available_is_shown_as_one() -> None:
    # above the default threshold 0: min(floor(1 x 100 / 100), 99,999) = 1
    assert InventoryPolicy().target(1) == 1
    assert InventoryPolicy().target(0) == 0
    assert InventoryPolicy().target(-3) == 0  # oversold: nothing to show, never a negative quantity
    assert InventoryPolicy(out_of_stock_threshold=1).target(2) == 2


@pytest.mark.parametrize(
    ("pushed", "tiktok_available", "ingested", "held_back"),
    [
        (None, 5, 0, 0),  # never pushed: nothing to compare with
        (10, None, 0, 0),  # no reading of TikTok's stock
        (10, 10, 0, 0),
        (10, 7, 0, 3),  # 3 sold on TikTok that the pool has not seen yet
        (10, 7, 2, 1),  # 2 of them already applied by the ledger
        (10, 7, 3, 0),
        (10, 7, 5, 0),  # never negative
        (10, 12, 0, 0),  # raised in Seller Center: reconcile's business, not held back
        (9, 9, -1, 1),  # a cancellation the ledger released gave TikTok 1 back, and 1 was sold unseen
        (9, 10, -1, 0),  # the cancellation alone
    ],
)
def test_the_committed_fence_holds_back_sales_the_pool_has_not_seen(
    pushed: int | None, tiktok_available: int | None, ingested: int, held_back: int
) -> None:
    assert unseen_sales(pushed, tiktok_available, ingested) == held_back


@pytest.mark.parametrize(
    ("pushed", "held_at_push", "tiktok_available", "ingested", "held_back"),
    [
        (9, 1, 9, 0, 1),  # the unit held back at the last push is still unseen: held back again
        (9, 1, 8, 0, 2),  # and one more sold since
        (9, 1, 9, 1, 0),  # the ledger applied it since
        (9, 1, 8, 1, 1),
        (9, 3, 9, 5, 0),  # never negative
    ],
)
def test_units_held_back_at_the_last_push_count_until_the_ledger_applies_them(
    pushed: int, held_at_push: int, tiktok_available: int, ingested: int, held_back: int
) -> None:
    assert unseen_sales(pushed, tiktok_available, ingested, held_at_push) == held_back


@pytest.mark.parametrize(
    ("tiktok_available", "ingested", "restored_at_push", "released", "counts"),
    [
        (10, 0, 0, 0, (0, 1)),  # pushed 9; a cancellation TikTok made, not released yet: 1 restored unseen
        (9, -1, 1, 1, (0, 0)),  # that push wrote 9 over it; its release since is no gain of TikTok's
        (9, 0, 1, 0, (0, 1)),  # not released yet: carried
        (8, -1, 1, 1, (1, 0)),  # released, and 1 sold unseen since: held back
        (10, -1, 0, 1, (0, 0)),  # a cancellation after the push, released: TikTok gained 1, nothing held back
        (9, -1, 0, 1, (1, 0)),  # the same, and 1 sold unseen: held back
    ],
    ids=["restored-unseen", "overwritten-then-released", "carried", "released-then-sold", "released-after", "sold"],
)
def test_a_cancellation_a_push_overwrote_is_no_gain_when_released(
    tiktok_available: int, ingested: int, restored_at_push: int, released: int, counts: tuple[int, int]
) -> None:
    assert fence_counts(9, tiktok_available, ingested, 0, restored_at_push, released) == counts


AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HORIZON = timedelta(seconds=630)


def held_link(units: int, since: datetime | None) -> LinkedSku:
    return LinkedSku("s", "t", "p", "i", 10, (), 9, AT, units, since)


@pytest.mark.parametrize(
    ("units", "since", "carried"),
    [
        (0, None, 0),
        (2, AT, 2),
        (2, AT - HORIZON, 2),  # held exactly the horizon: still carried
        (2, AT - HORIZON - timedelta(seconds=1), 0),  # beyond it: no sale (a Seller Center edit), let go
        (2, None, 0),  # no start recorded: nothing to carry
    ],
    ids=["none", "fresh", "at-horizon", "past-horizon", "no-start"],
)
def test_a_hold_is_carried_within_its_horizon(units: int, since: datetime | None, carried: int) -> None:
    assert carried_hold(held_link(units, since), AT, HORIZON) == carried


def test_a_hold_keeps_its_start_while_carried_and_starts_again_otherwise() -> None:
    earlier, now = AT - timedelta(minutes=3), AT
    assert hold_started(held_link(1, earlier), 2, 1, now) == earlier  # carried: the hold goes on
    assert hold_started(held_link(1, earlier), 2, 0, now) == now  # not carried (past the horizon): a new hold
    assert hold_started(held_link(0, None), 1, 0, now) == now
    assert hold_started(held_link(1, earlier), 0, 1, now) is None  # nothing held any more
    # TikTok sold since the last push (9 pushed, 8 now): the unit held may be that sale, its hold starts now
    assert hold_started(held_link(1, earlier), 1, 1, now, tiktok_available=8) == now
    assert hold_started(held_link(1, earlier), 1, 1, now, tiktok_available=9) == earlier


@pytest.mark.parametrize(
    ("pushed", "seeded", "baseline"),
    [(None, 7, 7), (9, 7, 9), (9, None, 9), (None, None, None)],
    ids=["seeded-never-pushed", "pushed-since-seeding", "pushed", "joined-never-pushed"],
)
def test_the_fence_measures_from_the_last_push_else_from_what_the_seeding_link_showed(
    pushed: int | None, seeded: int | None, baseline: int | None
) -> None:
    # A link whose stock seeded its item keeps TikTok's available right after the link until its first push; a push's
    # own value stands once there is one; a link that joined an item has none (README, "Shared inventory pool")
    link = LinkedSku("s", "t", "p", "i", 10, (), pushed, None if pushed is None else AT, seeded_available=seeded)
    assert link.baseline == baseline


def test_a_sale_since_the_seeding_read_is_unseen_until_the_ledger_applies_it() -> None:
    # given a seeding link: TikTok showed 7 right after it, when the shop's ledger counted 3 units of the SKU
    seeded = LinkedSku("s", "t", "p", "i", 7, (), ingested=3, ingested_at_push=3, seeded_available=7)
    # when TikTok sells 1 unit the ledger has not seen: 1 held back; once the ledger has it (counted 4), none
    assert fence_counts(seeded.baseline, 6, seeded.ingested_since_push or 0) == (1, 0)
    ingested = replace(seeded, ingested=4)
    assert fence_counts(ingested.baseline, 6, ingested.ingested_since_push or 0) == (0, 0)
