"""The push's rules without I/O: the policy's target formula and validation, the warehouse plan, the per-SKU
error classes of Update Inventory (live-sync.md sec. 1.1), the retry backoff and when a push's holds end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.catalog import WarehouseStock
from domain.errors import DomainError, ErrorCode
from domain.inventory_push import (
    MAX_PUSH_QUANTITY,
    InventoryPolicy,
    LinkedSku,
    PushAction,
    PushIntent,
    as_applied,
    carried_hold,
    hold_carried,
    hold_ends,
    push_action,
    push_backoff,
    settled,
    warehouse_plan,
)


@pytest.mark.parametrize(
    ("policy", "available", "target"),
    [
        (InventoryPolicy(), 10, 10),  # defaults: on, 100 %, no maximum, threshold 0
        (InventoryPolicy(), 0, 0),
        (InventoryPolicy(), -3, 0),  # oversold: 0 everywhere
        (InventoryPolicy(share_percent=50), 7, 3),  # floor(7 x 50 / 100)
        (InventoryPolicy(share_percent=1), 99, 0),
        (InventoryPolicy(max_quantity=5), 100, 5),
        (InventoryPolicy(max_quantity=0), 100, 0),
        (InventoryPolicy(out_of_stock_threshold=3), 3, 0),  # at the threshold: out of stock
        (InventoryPolicy(out_of_stock_threshold=3), 4, 4),
        (InventoryPolicy(), 250_000, MAX_PUSH_QUANTITY),  # TikTok's maximum
        (InventoryPolicy(share_percent=30, max_quantity=20, out_of_stock_threshold=2), 50, 15),
    ],
)
def test_the_target_of_an_available_quantity(policy: InventoryPolicy, available: int, target: int) -> None:
    assert policy.target(available) == target


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"share_percent": 0}, ErrorCode.INVALID_SHARE_PERCENT, "sharePercent"),
        ({"share_percent": 101}, ErrorCode.INVALID_SHARE_PERCENT, "sharePercent"),
        ({"max_quantity": -1}, ErrorCode.INVALID_MAX_QUANTITY, "maxQuantity"),
        ({"max_quantity": 100_000}, ErrorCode.INVALID_MAX_QUANTITY, "maxQuantity"),
        ({"out_of_stock_threshold": -1}, ErrorCode.INVALID_OUT_OF_STOCK_THRESHOLD, "outOfStockThreshold"),
    ],
)
def test_a_bad_policy_value_is_refused_with_a_stable_code(changes: dict[str, int], code: ErrorCode, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        InventoryPolicy(**changes)  # type: ignore[arg-type]
    assert refused.value.code is code
    assert refused.value.field == (field,)


def test_every_warehouse_of_a_sku_is_sent_and_the_target_lands_once() -> None:
    # one warehouse: the target there
    assert warehouse_plan(7, ["w1"], None) == [WarehouseStock("w1", 7)]
    # several: the whole target on the shop's default warehouse, the others 0 (never the target twice)
    assert warehouse_plan(7, ["w2", "w1"], "w2") == [WarehouseStock("w1", 0), WarehouseStock("w2", 7)]
    # default unknown or not the SKU's: the first by id
    assert warehouse_plan(7, ["w2", "w1"], "other") == [WarehouseStock("w1", 7), WarehouseStock("w2", 0)]
    # no warehouse known: sent without one
    assert warehouse_plan(4, [], None) == [WarehouseStock("", 4)]


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (36009003, PushAction.RETRY),
        (12052393, PushAction.RETRY),  # promotion lock: keep trying later
        (12052097, PushAction.REFRESH_WAREHOUSES),
        (12019028, PushAction.REFRESH_WAREHOUSES),
        (12052055, PushAction.QUANTITY_REFUSED),
        (12052850, PushAction.EXCLUDE),  # combo
        (12052141, PushAction.EXCLUDE),  # global product
        (12052921, PushAction.EXCLUDE),
        (12052556, PushAction.PRODUCT_GONE),
        (12052901, PushAction.NOT_ON_SALE),  # product status does not allow it: re-read, waits dirty
        (12052048, PushAction.NOT_ON_SALE),  # product not in the shop (DELETED or gone): re-read
        (12052553, PushAction.REQUEST_BUG),
        (99999999, PushAction.RETRY),  # unknown: it may pass later
    ],
)
def test_per_sku_codes_map_to_what_retrying_can_do(code: int, action: PushAction) -> None:
    assert push_action(code) is action


def test_backoff_doubles_from_two_seconds_up_to_half_an_hour() -> None:
    assert [push_backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    assert push_backoff(50) == timedelta(minutes=30)


T0 = datetime(2026, 1, 1, tzinfo=UTC)
HORIZON = timedelta(seconds=630)


@pytest.mark.parametrize(
    ("held", "ends"),
    [
        ({}, None),
        ({"a": (0, None), "b": (0, None)}, None),  # nothing held back: no push to schedule
        ({"a": (2, T0)}, T0 + HORIZON + timedelta(seconds=1)),
        ({"a": (2, T0 + timedelta(seconds=50)), "b": (1, T0), "c": (0, None)}, T0 + HORIZON + timedelta(seconds=1)),
    ],
    ids=["no-links", "nothing-held", "one-hold", "the-earliest-hold"],
)
def test_a_push_is_due_again_when_its_first_hold_ends(
    held: dict[str, tuple[int, datetime | None]], ends: datetime | None
) -> None:
    assert hold_ends(held, HORIZON) == ends


def test_a_push_at_the_hold_end_no_longer_carries_the_hold() -> None:
    # the time `hold_ends` schedules is past `carried_hold`'s horizon; a second earlier was not
    link = LinkedSku("s", "t", "p", "i", 10, (), pushed_quantity=8, held_quantity=2, held_since=T0)
    ends = hold_ends({"s": (2, T0)}, HORIZON)
    assert ends is not None
    assert carried_hold(link, ends, HORIZON) == 0
    assert carried_hold(link, ends - timedelta(seconds=1), HORIZON) == 2


AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
HORIZON = timedelta(seconds=630)


@pytest.mark.parametrize(
    ("intended", "failed", "tiktok", "measured_from"),
    [
        # the worker died with its call under way: TikTok shows what it sent (45, or 44 after a sale since)
        (45, False, 45, 45),
        (45, False, 44, 45),
        # ... or the call never reached TikTok: it still shows the 50 of the push before, which the intent cannot
        # explain without a unit restored unseen (and the push before explains with no sale)
        (45, False, 50, 50),
        # a restock (60) under way: TikTok's 57 is 3 sales since it, or 7 restored units since the push before
        (60, False, 57, 60),
        # a call that failed until its retries ran out: the push before, unless TikTok shows more than it did while
        # the intent explains it (60 sent, 3 sold since)
        (60, True, 50, 50),
        (60, True, 57, 60),
        (45, True, 45, 50),
    ],
    ids=["took-45", "took-45-sold-1", "never-reached", "restock-took", "failed-untaken", "failed-took", "failed-45"],
)
def test_a_push_left_unrecorded_is_measured_as_tiktok_shows_it(
    intended: int, failed: bool, tiktok: int, measured_from: int
) -> None:
    # given a link last recorded pushed at 50, and a push of `intended` committed before its call, never recorded
    intent = PushIntent(intended, AT, ingested=0, released=0, failed=failed)
    link = LinkedSku(
        "s", "t", "p", "i", intended, (), 50, AT - timedelta(minutes=5), ingested=0, ingested_at_push=0,
        released=0, released_at_push=0, intent=intent,
    )  # fmt: skip
    # when the next push reads TikTok's available
    measured = settled(link, tiktok, AT + timedelta(seconds=30), HORIZON)
    # then it measures the fence from the push TikTok's reading says it shows, the intent settled either way
    assert (measured.baseline, measured.intent) == (measured_from, None)


def test_a_link_with_no_push_left_unrecorded_is_measured_from_its_last_push() -> None:
    link = LinkedSku("s", "t", "p", "i", 45, (), 50, AT, ingested=0, ingested_at_push=0)
    assert settled(link, 40, AT, HORIZON) is link


def test_an_intent_older_than_the_push_recorded_is_superseded_by_it() -> None:
    # given a link recorded pushed at 50 (a release that does not clear intents, during a rolling deploy) after an
    # intent of 45 left by a push before it
    intent = PushIntent(45, AT - timedelta(minutes=1), ingested=0, released=0)
    link = LinkedSku("s", "t", "p", "i", 45, (), 50, AT, ingested=0, ingested_at_push=0, intent=intent)
    # when the next push reads TikTok at 45 (which the old intent would explain)
    measured = settled(link, 45, AT + timedelta(seconds=30), HORIZON)
    # then it measures from the push recorded
    assert (measured.baseline, measured.intent) == (50, None)


@pytest.mark.parametrize("pushed_at_read", [True, None, False], ids=["fenced-anew", "unknown", "first"])
def test_an_intent_of_a_push_that_read_the_link_before_a_fence_anew_is_not_taken_as_applied(
    pushed_at_read: bool | None,
) -> None:
    # given a link never pushed now, fenced from its product's read (47): a hand move forgot its push record after a
    # push read it pushed, whose intent of 48 (its hold of 1, the old item's) was committed after the move
    intent = PushIntent(48, AT, held=1, held_since=AT, ingested=0, released=0, pushed_at_read=pushed_at_read)
    link = LinkedSku(
        "s", "t", "p", "i", 48, (), None, None, ingested=0, ingested_at_push=0, released=0, released_at_push=0,
        seeded_available=47, intent=intent,
    )  # fmt: skip
    # when the next push reads TikTok at 48 (what the intent sent)
    measured = settled(link, 48, AT + timedelta(seconds=30), HORIZON)
    # then, fenced anew since that push's read, it measures from the read, no hold of the old item's (fence62); an
    # intent of a first push (or one written before fence62, not known) is taken as applied, hold and all
    assert (measured.baseline, measured.held_quantity, measured.intent) == (
        (47, 0, None) if pushed_at_read else (48, 1, None)
    )


COUNTS = [
    # (the link's ingested_at_push now, the intent's base: as the column stood when its push read its counts, the
    # item the link named then, ingested_at_push taken as applied)
    (7, 5, "i", 6),  # order batches added 2 units TikTok had lost before the baseline meanwhile: kept (4 + 2)
    (5, 5, "i", 4),  # nothing added since: the count the push read
    (7, None, None, 4),  # an intent written before its base was kept: the count it read, as before
    (7, 5, "other", 4),  # the link moved to this item since: its count was set anew, no batch's move
]


@pytest.mark.parametrize(
    ("column", "base", "item", "counted"), COUNTS, ids=["moved-since", "unmoved", "no-base", "relinked"]
)
def test_an_intent_taken_as_applied_keeps_what_order_batches_added_to_the_count_since_its_read(
    column: int, base: int | None, item: str | None, counted: int
) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    intent = PushIntent(12, at, ingested=4, released=0, ingested_base=base, item_id=item)
    link = LinkedSku("s", "t", "p", "i", 10, (), 9, ingested=6, ingested_at_push=column, intent=intent)
    assert as_applied(link).ingested_at_push == counted


def test_a_restarted_hold_tells_the_units_it_carried_from_the_sales_since_the_last_push() -> None:
    # review61 F2: pushed 47 holding 3; 2 sold since (TikTok 45), unseen: 5 held, 3 of them carried
    assert hold_carried(47, 5, 3, 45, 0) == 3
    # the 2 ingested meanwhile (a webhook): 3 held, all carried
    assert hold_carried(47, 3, 3, 45, 2) == 3
    # one of the older units ingested, no sale since: 2 held, both carried
    assert hold_carried(47, 2, 3, 47, 1) == 2
    # nothing carried, nothing held, or no reading: 0
    assert hold_carried(47, 2, 0, 45, 0) == 0
    assert hold_carried(47, 0, 3, 47, 3) == 0
    assert hold_carried(None, 3, 3, 45, 0) == 0
    assert hold_carried(47, 3, 3, None, 0) == 0
