"""Pushing the pool to TikTok: a shop's policy, the target it turns an item's `available` into, the per-SKU plan
of one Update Inventory call, and what to do with each per-SKU error TikTok returns inside a `code: 0` answer.

Sources: live-sync.md sec. 1.1 (Update Inventory, its error table), sec. 7.1 (the channel rule, i.e. the policy),
sec. 7.3 (push with coalescing, multi-warehouse SKUs); tiktok-api.md sec. 9.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.catalog import WarehouseStock
from domain.errors import ErrorCode, ValidationError, ValidationErrors

MAX_PUSH_QUANTITY = 99_999  # Update Inventory's documented maximum (live-sync.md sec. 1.1: clamp by default)
# How long the fence holds back units sold unseen when no setting says (`PushDeps.hold_horizon`; the worker's is two
# polls and their settle, `Settings.hold_horizon_seconds`): two polls of 300 s and their 30 s settle
DEFAULT_HOLD_HORIZON = timedelta(seconds=630)
PUSH_BACKOFF_BASE = timedelta(seconds=2)
PUSH_BACKOFF_CAP = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class InventoryPolicy:
    """How much of the pool one shop shows: `pushEnabled`, `sharePercent` (1..100), `maxQuantity` (None: no cap,
    else 0..99,999), `outOfStockThreshold` (0..1,000,000,000). Defaults: on, 100 %, no cap, 0 (issue 8)."""

    push_enabled: bool = True
    share_percent: int = 100
    max_quantity: int | None = None
    out_of_stock_threshold: int = 0

    def __post_init__(self) -> None:
        """Every field is checked and every refusal told at once (`ValidationErrors`, as `shopAuthorizationStart`
        does: a form marks each field in one answer); one alone is raised as itself."""
        problems: list[ValidationError] = []
        if not 1 <= self.share_percent <= 100:
            problems.append(
                ValidationError(
                    ErrorCode.INVALID_SHARE_PERCENT, "sharePercent must be between 1 and 100.", ("sharePercent",)
                )
            )
        if self.max_quantity is not None and not 0 <= self.max_quantity <= MAX_PUSH_QUANTITY:
            problems.append(
                ValidationError(
                    ErrorCode.INVALID_MAX_QUANTITY,
                    f"maxQuantity must be between 0 and {MAX_PUSH_QUANTITY}, or null for no maximum.",
                    ("maxQuantity",),
                )
            )
        if not 0 <= self.out_of_stock_threshold <= 10**9:
            problems.append(
                ValidationError(
                    ErrorCode.INVALID_OUT_OF_STOCK_THRESHOLD,
                    "outOfStockThreshold must be between 0 and 1000000000.",
                    ("outOfStockThreshold",),
                )
            )
        if problems:
            raise ValidationErrors.of(problems)

    def target(self, available: int) -> int:
        """The quantity to show for an item with `available` units (negative: oversold): 0 at or below the
        out-of-stock threshold, else min(floor(available x sharePercent / 100), maxQuantity, 99,999)."""
        if available <= self.out_of_stock_threshold:  # the threshold is never negative: covers available <= 0
            return 0
        shared = available * self.share_percent // 100
        cap = MAX_PUSH_QUANTITY if self.max_quantity is None else min(self.max_quantity, MAX_PUSH_QUANTITY)
        return max(0, min(shared, cap))


@dataclass(frozen=True, slots=True)
class LinkedSku:
    """A LINKED shop SKU of one product, with its item's counters and the warehouses TikTok assigned to it."""

    sku_id: str  # Shopbridge's SKU id (the link's key)
    tiktok_sku_id: str
    tiktok_product_id: str
    inventory_item_id: str
    available: int  # on_hand - reserved - safety_stock of the item, read when the push is computed
    warehouse_ids: tuple[str, ...]
    pushed_quantity: int | None = None  # what TikTok last accepted for this SKU, and when its target was read
    pushed_at: datetime | None = None
    held_quantity: int = 0  # units that push held back (`unseen_sales`), and since when some have been held
    held_since: datetime | None = None
    # Units of the shop's ledger lines of this SKU that have taken TikTok's stock (RESERVED or DEDUCTED), read with
    # `available` (one statement: the same instant); and that count when the last push read it (None: not kept then)
    ingested: int = 0
    ingested_at_push: int | None = None
    # Units of the shop's RELEASED lines of this SKU, read with `ingested`, and that count at the last push; units
    # TikTok showed above the pool's view that the last push overwrote (`fence_counts`)
    released: int = 0
    released_at_push: int | None = None
    restored_quantity: int = 0
    # Units the item's other links (any shop of the merchant) hold back now for it, summed (`standing_hold`), read
    # with `available`: their holds that belong to it (`domain.inventory.links.hold_item`: the item a hold recorded,
    # else the one its link holds for, `holds_for`) and their moved holds of it (`moved_hold_item_id`); the larger of
    # the two when both are (fence61). Sold at their shops, not ingested yet, so not this link's to sell either
    # (`pushable`)
    held_elsewhere: int = 0
    # A link whose shop's TikTok stock seeded its item, that joined an item from its product page, or that the
    # merchant made by hand (`sku_links.seeded_available`, migrations 0018-0020): TikTok's available right after
    # the link as the pool counts it, `ingested_at_push` / `released_at_push` being the ledger's counts of that
    # instant; the fence's baseline until the link's first push (`baseline`). None otherwise.
    seeded_available: int | None = None
    # What a push of this link committed before its Update Inventory and never recorded TikTok's answer of (the
    # worker died between the two): TikTok may show it. None: nothing in flight (`settled`).
    intent: PushIntent | None = None
    # When the earliest of the holds summed in `held_elsewhere` began (UTC; None: none stands): a push that subtracts
    # them is due again at that hold's end (`hold_ends`), as its holder may never be pushed again to say so
    held_elsewhere_since: datetime | None = None
    # Since when some of `restored_quantity` have been carried (UTC; migration 0053): past the hold's horizon they
    # make up for no release (`carried_restore`). None: none carried, or carried by a release before 0053.
    restored_since: datetime | None = None
    # The items of the link's push record and of its hold (`sku_links.pushed_item_id`, `held_item_id`, migration
    # 0056; None: not recorded): a hold begun by this push is of the record's item, one carried keeps its own
    # (`domain.inventory.links.hold_item`), and a hold that changes makes that item's other links due too
    # (`hold_items`), not only those of the item the link names.
    pushed_item_id: str | None = None
    held_item_id: str | None = None
    # The item of a split hold's other part (`sku_links.held_rest_item_id`, migration 0062; None: not split): its
    # other links subtract that part, so a change of the hold makes them due too (review62 R1)
    held_rest_item_id: str | None = None

    @property
    def hold_items(self) -> frozenset[str]:
        """The items whose other links subtract this link's hold, before its push or after it (a hold begun then is
        of its record's item, `pushed_item_id`; one read was of `held_item_id`; either, or the link's item when not
        recorded: `domain.inventory.links.hold_item`): a push whose hold changes makes all their links due
        (`hold_changed`). Mostly the link's item alone; after a hand move to another item, the item moved from too
        (fence61: CAP's other shops were not pushed when HAT's push began holding CAP's unseen sale)."""
        items = (self.inventory_item_id, self.pushed_item_id, self.held_item_id, self.held_rest_item_id)
        return frozenset(item for item in items if item is not None)

    @property
    def baseline(self) -> int | None:
        """TikTok's available the fence measures its fall from (units): what the last push wrote (`pushed_quantity`);
        for a link never pushed whose stock seeded its item, what TikTok showed right after the link
        (`seeded_available`: the seed's on-hand less its reservations, `domain.inventory.links.seed_on_hand`'s rule;
        for one that joined an existing item from its product page, or that the merchant made by hand, TikTok's
        available as the product's last stock read saw it less the sales since the read the ledger has
        (`adapters.db.repositories.inventory.links._keep_join_baselines`); README, "A link's first push is fenced").
        None: nothing to measure from (a link never pushed whose product's read time is unknown, or made before
        migrations 0018-0020: its first push is not fenced)."""
        return self.pushed_quantity if self.pushed_quantity is not None else self.seeded_available

    @property
    def pushable(self) -> int:
        """The item's units this link may show before its own hold: `available` less the other links' holds."""
        return self.available - self.held_elsewhere

    @property
    def released_since_push(self) -> int:
        """Units the ledger released since the last push read the pool (0 when it kept no count)."""
        return 0 if self.released_at_push is None else max(0, self.released - self.released_at_push)

    @property
    def ingested_since_push(self) -> int | None:
        """The units the ledger applied since the last push read the pool, less those it released since (a
        cancellation gives TikTok's available its units back): may be negative. None when the push kept no count."""
        return None if self.ingested_at_push is None else self.ingested - self.ingested_at_push


@dataclass(frozen=True, slots=True)
class PushIntent:
    """What a fenced push is about to write for one SKU, committed before its Update Inventory: the record a success
    makes (`ProductPushOutcome` for that SKU). `quantity` units sent; `at` when the targets were read; `held` units
    held back since `held_since`; `ingested` / `released`: the ledger's counts read with the targets (None: not
    kept); `restored`: units restored unseen (`fence_counts`), carried since `restored_since` (`restore_started`)."""

    quantity: int
    at: datetime
    held: int = 0
    held_since: datetime | None = None
    ingested: int | None = None
    released: int | None = None
    restored: int = 0
    # The call failed without TikTok refusing it (retries spent on timeouts, 5xx, 429, a lost token): it may have
    # been applied, but likelier not; False: no answer at all (the worker died while it was under way).
    failed: bool = False
    # The link's `ingested_at_push` as it stood when `ingested` was read (None: not kept, or an intent written before
    # it was), and the item the link named then: what order batches add to the column since is kept when the intent
    # is taken as applied, while the link names that item still (`counted_at_intent`)
    ingested_base: int | None = None
    item_id: str | None = None
    # The link's `released_at_push` as it stood when `released` was read (None: not kept, or an intent written
    # before it was): what order batches add to that column since is kept the same way (`released_at_intent`)
    released_base: int | None = None
    restored_since: datetime | None = None  # None in an intent written before migration 0053
    # Of `held`, the units carried from the link's last hold (`hold_carried`; 0 in an intent written before fence62):
    # a hold restarted carrying another item's units keeps them with it (`ProductPushOutcome.held_carried`)
    held_carried: int = 0
    # Whether the link had been pushed when the push read it (None: not kept, an intent written before fence62): one
    # found never pushed since was fenced anew meanwhile (`fenced_anew`; `ProductPushOutcome.base_pushed`)
    pushed_at_read: bool | None = None


def fenced_anew(pushed_at_read: bool | None, pushed_now: bool) -> bool:
    """Whether a link a push read was fenced anew since (`links._fence_anew`: a hand move to another item after its
    product's stock read forgot its push record, its fence measured from that read, the old item's sales the read
    left out kept as its moved hold): pushed at the read (`pushed_at_read`; None: not known, taken as not) and never
    pushed now (`pushed_now` False). Such a push's record and hold are not the link's (review61 F3: RED's push in
    flight across a move to BLACK wrote RED's hold onto the link, and BLACK's push held RED's sale back again, the
    sale standing twice): neither written by the push on TikTok's answer (`inventory_push_links._not_fenced_anew`,
    this rule in SQL, read as the UPDATE finds the row) nor taken as applied by the next push when the answer went
    unrecorded (`settled`; fence62: the intent committed after the move, then the worker died, and the next push
    recorded RED's hold from it). A fence anew needs no intent standing, so one committed after the move is the
    only way an intent meets it."""
    return bool(pushed_at_read) and not pushed_now


def as_applied(link: LinkedSku) -> LinkedSku:
    """`link` as if TikTok's answer to its intent had been recorded (itself when it has none)."""
    intent = link.intent
    if intent is None:
        return link
    return replace(
        link, pushed_quantity=intent.quantity, pushed_at=intent.at, held_quantity=intent.held,
        held_since=intent.held_since, ingested_at_push=counted_at_intent(link, intent),
        released_at_push=released_at_intent(link, intent),
        restored_quantity=intent.restored, restored_since=intent.restored_since, seeded_available=None, intent=None,
    )  # fmt: skip


def counted_at_intent(link: LinkedSku, intent: PushIntent) -> int | None:
    """The ledger count `intent`, taken as applied, pairs its quantity with (`ingested_at_push`): the count it read
    (`PushIntent.ingested`) plus what order batches added to the link's count since it read it (the link's
    `ingested_at_push` now less `PushIntent.ingested_base`: `ledger._counted_before_push`, units TikTok's available had
    lost before the baseline, such as open orders the seed left out, ingested while the push was in flight). Without
    them those units passed for sales applied since and hid as many sales TikTok made unseen. Units; None: not kept.
    A link moved to another item since (`PushIntent.item_id`) had its count set anew with its new baseline
    (`links._keep_seed_baselines`, `_keep_join_baselines`): no move of batches, the count read as it is."""
    return carried_count(intent.ingested, intent.ingested_base, link.ingested_at_push, intent.item_id, link)


def released_at_intent(link: LinkedSku, intent: PushIntent) -> int | None:
    """The released count `intent`, taken as applied, pairs its quantity with (`released_at_push`): the count it read
    (`PushIntent.released`) plus what order batches added to the link's count since it read it (`released_at_push`
    now less `PushIntent.released_base`: `ledger._counted_before_push`'s releases of orders cancelled before the
    seeding read, `released_before_read`, ingested while the push was in flight). Without them those units passed
    for releases since the push, made up for the units it restored unseen (`fence_counts`' offset) and hid as many
    sales TikTok made unseen (`tests/integration/test_inventory_push_fence_released_early.py`). Units; None: not
    kept. A link moved to another item since: the count read as it is (`counted_at_intent`)."""
    return carried_count(intent.released, intent.released_base, link.released_at_push, intent.item_id, link)


def carried_count(
    read: int | None, base: int | None, now: int | None, item_id: str | None, link: LinkedSku
) -> int | None:
    """A fence count a push read (`read`: units) plus the move of the link's recorded count since (`now - base`:
    what order batches added to the column while the push was in flight), while `link` names the item it named then
    (`item_id`); `read` as it is when one of them is unknown (None) or the link moved to another item (its counts
    set anew with its new baseline). The rule of `counted_at_intent` and `released_at_intent`, and, in SQL, of the
    push's record (`inventory_push_links._counted_at`), which also takes a link pushed at its read and never pushed
    at the record for one fenced anew though it names the same item again (`ProductPushOutcome.base_pushed`; an
    intent fenced anew is not taken as applied at all: `settled`, `fenced_anew`)."""
    if read is None or base is None or now is None or item_id != link.inventory_item_id:
        return read
    return read + now - base


def signed_unseen(link: LinkedSku, tiktok_available: int | None, now: datetime, horizon: timedelta) -> int | None:
    """`fence_counts`' estimate before its clamp: units TikTok sold unseen since `link`'s last push (negative: units
    it restored unseen) with `tiktok_available` read now; None when nothing measures it (no baseline, no count kept,
    no reading)."""
    baseline, ingested = link.baseline, link.ingested_since_push
    if baseline is None or ingested is None or tiktok_available is None:
        return None
    offset = min(carried_restore(link, now, horizon), link.released_since_push)
    return baseline + carried_hold(link, now, horizon) - tiktok_available - ingested - offset


def settled(link: LinkedSku, tiktok_available: int | None, now: datetime, horizon: timedelta) -> LinkedSku:
    """The push `link` is measured from when a push of it was left unrecorded (`LinkedSku.intent`: the worker died
    between committing what it sent and recording TikTok's answer): that push, taken as applied (`as_applied`),
    unless TikTok's available read now says it was not. Without an intent: `link` itself.

    The intent is committed right before the request leaves, and TikTok applies a request it received whether or not
    its sender still waits: applied is by far the likelier. Measured from the push before it, the fence took what
    TikTok was sent for sales (the pool fell: those units held back from every shop for the whole horizon) or for
    units restored (the pool rose: sales made since put back on sale). TikTok's reading tells them apart when, taken
    as applied, TikTok shows more than the intent less the sales the ledger has (an unseen restore: rare) while
    measured from the push before it shows no more than that push did: the request never reached TikTok. Otherwise
    (both or neither consistent) it is taken as applied. An intent whose call failed in a live run (`PushIntent.failed`:
    TikTok answered it with errors until the retries ran out) is likelier not applied: the other way round, taken as
    applied only when measured from the push before TikTok shows more than that push did while the intent explains
    it. An intent older than the push recorded is superseded by it. An intent of a push that read the link before a
    hand move fenced it anew (`fenced_anew`) is not taken as applied: its record and hold are another item's, and
    the link measures from the move's read, as when that push's answer is recorded (`ProductPushOutcome.base_pushed`).
    `tiktok_available`: TikTok's available now (None: not read); `now`, `horizon`: as for `carried_hold`."""
    intent = link.intent
    if intent is None:
        return link
    applied, before = as_applied(link), replace(link, intent=None)
    if link.pushed_at is not None and intent.at < link.pushed_at:
        return before  # a push recorded since (by a release that does not clear intents: a rolling deploy)
    if fenced_anew(intent.pushed_at_read, link.pushed_at is not None):
        return before  # its record is not the link's: measured from the move's read, as its answer recorded would be
    if_applied = signed_unseen(applied, tiktok_available, now, horizon)
    if_not = signed_unseen(before, tiktok_available, now, horizon)
    if if_applied is None or if_not is None:
        return before if intent.failed else applied
    if intent.failed:
        return applied if if_not < 0 <= if_applied else before
    return before if if_applied < 0 <= if_not else applied


def unseen_sales(
    pushed_quantity: int | None, tiktok_available: int | None, ingested_since_push: int, held_at_push: int = 0
) -> int:
    """The committed fence (live-sync.md sec. 1.3 / 7.3): units TikTok sold on this shop that the pool has not
    ingested yet. Since the last push, TikTok's available fell from what we pushed by the units its buyers took
    (and rose by those its cancellations gave back); `held_at_push` more were sold before it and held back by it
    (`carried_hold`). `ingested_since_push`, the units the ledger applied since that push less those it released
    (`LinkedSku.ingested_since_push`), are in the pool's available: a cancellation the ledger applied is negative
    here, as it raised TikTok's available too, and must not pass for a sale unseen made up. The rest would be put
    back on sale by an absolute set computed without them, so the push holds them back, and the next push counts
    them again until the ledger has them: held back for one push only, a unit sold unseen went back on sale at the
    second. 0 without a previous push or a reading; a Seller Center edit upwards lowers the estimate (reconcile's
    business), downwards holds units back as a sale would, for at most `carried_hold`'s horizon."""
    if pushed_quantity is None or tiktok_available is None:
        return 0
    return max(0, pushed_quantity + held_at_push - tiktok_available - ingested_since_push)


def fence_counts(
    pushed_quantity: int | None,
    tiktok_available: int | None,
    ingested_since_push: int,
    held_at_push: int = 0,
    restored_at_push: int = 0,
    released_since_push: int = 0,
) -> tuple[int, int]:
    """(units to hold back, units restored unseen) of a push: `unseen_sales`, signed, with the restored units.

    A cancellation TikTok made that the ledger has not released yet raises TikTok's available above the pool's
    view: it lowers the estimate (below 0: units restored unseen). A push that holds nothing back writes the pool's
    target over them: when the ledger later releases that cancellation (`ingested_since_push` negative), TikTok
    gained nothing since, and counted as a gain it would hold a unit back for nothing (for the whole horizon). So
    the units restored unseen are carried (`restored_at_push`) and make up for the releases since the push
    (`released_since_push`), first, for the hold's horizon only (`carried_restore`: the caller passes 0 past it).
    (When some units are held back, a cancellation unseen lowers the hold and its units stay on TikTok: its release
    counts, and raises the hold again.)"""
    if pushed_quantity is None or tiktok_available is None:
        return 0, 0
    offset = min(restored_at_push, released_since_push)
    unseen = pushed_quantity + held_at_push - tiktok_available - ingested_since_push - offset
    return max(0, unseen), max(0, -unseen) + restored_at_push - offset


def carried_hold(link: LinkedSku, now: datetime, horizon: timedelta) -> int:
    """The units `link`'s last push held back that this push counts again: all of them, unless the hold is older
    than `horizon` (then 0): TikTok's available has not fallen unexplained for that long (`hold_started`). A sale
    the webhooks lost reaches the ledger by the next order poll; units still unseen beyond that were no sale (a
    stock lowered in Seller Center, reconcile's business) and are no longer held back. Only the sales since the last
    push are then held back."""
    if link.held_quantity <= 0 or link.held_since is None or now - link.held_since > horizon:
        return 0
    return link.held_quantity


def carried_restore(link: LinkedSku, now: datetime, horizon: timedelta) -> int:
    """The units `link`'s pushes restored unseen that this push carries (`fence_counts`' `restored_at_push`): all
    of them, unless carried for longer than `horizon` since `restored_since` (then 0; None: 0 too), the hold's
    horizon (`carried_hold`), by the same rule mirrored. A unit restored unseen is a cancellation TikTok made that
    the ledger had not released; the order poll brings that release within the horizon. A unit still carried beyond
    it was no such cancellation (a Seller Center edit upwards, a sale's units overwritten in flight: fence58's
    analysis, item 1), and made up for the next release however late, hiding as many sales TikTok made unseen then:
    put back on sale on every shop of the item until ingested (soak59 F1: 13-43 such units after every storm)."""
    if link.restored_quantity <= 0 or link.restored_since is None or now - link.restored_since > horizon:
        return 0
    return link.restored_quantity


def restore_started(link: LinkedSku, restored: int, carried: int, now: datetime) -> datetime | None:
    """Since when the units restored unseen a push carries on (`restored`, `fence_counts`' second count) are
    carried, for `carried_restore`'s horizon: None if none; the link's `restored_since` if some of the units it
    carried (`carried`) are left once the releases since the push made up for them (`released_since_push`); else
    `now`. Units restored now alongside older ones keep the older date: they expire with them, and a release
    ingested after that counts as a gain, holding a unit back for nothing until the hold's horizon; dated now, the
    older units would make up for releases longer and hide sales TikTok made unseen: never on sale twice."""
    if restored <= 0:
        return None
    left = carried - min(carried, link.released_since_push)
    return link.restored_since if left > 0 and link.restored_since is not None else now


def standing_hold(link: LinkedSku, now: datetime, horizon: timedelta) -> int:
    """The units of `link`'s last hold that still stand for the pool's other links: each other LINKED link of its
    item (any shop of the merchant) pushes that many fewer (`LinkedSku.held_elsewhere`), as a unit sold unseen on
    one shop left the shelf for all of them. What `carried_hold` carries (0 past `horizon`, the same horizon), less
    the units the ledger applied for the link since that push (`ingested_since_push`, a release not subtracting):
    the order of a held sale, once ingested, reserves its units on the item, and the reservation replaces the
    hold, so they are never counted twice. Units, 0..held_quantity. (Applied before a new sale it also frees the
    older held one for the others until this link's next push, which the ingest marks due and which records its
    hold again: `hold_changed`.)"""
    return standing_units(link.held_quantity, link.held_since, link.ingested_since_push, now, horizon)


def standing_units(
    held_quantity: int, held_since: datetime | None, ingested_since_push: int | None, now: datetime, horizon: timedelta
) -> int:
    """`standing_hold` of a link's recorded hold (`sku_links.held_quantity`, `held_since`, UTC) with the units the
    ledger applied for it since its push (`LinkedSku.ingested_since_push`; None: no count kept, nothing subtracted):
    0 once `now - held_since` is past `horizon`, else the units held less those applied (a release not subtracting),
    never below 0. Also what a deleted shop's link leaves sold unseen (`adapters.db.repositories.inventory.ledger.
    release_shop`, README "Deleting a shop")."""
    if held_quantity <= 0 or held_since is None or now - held_since > horizon:
        return 0
    return max(0, held_quantity - max(0, ingested_since_push or 0))


def hold_changed(link: LinkedSku, held: int, now: datetime, horizon: timedelta) -> bool:
    """Whether a push of `link` that holds back `held` units changes what the item's other links subtract
    (`standing_hold` of the hold read before the push vs. the hold it records, which stands whole): their pushes are
    then due, as after a change of the item's counters. Also when the hold recorded is let go now, at its horizon,
    with units the ledger has not replaced (`let_go_at_horizon`): the other links were pushed while it stood and
    subtract it until they are pushed again (the push at a hold's end, `hold_ends`, is the one that sees it)."""
    return standing_hold(link, now, horizon) != max(0, held) or let_go_at_horizon(link, now, horizon)


def let_go_at_horizon(link: LinkedSku, now: datetime, horizon: timedelta) -> bool:
    """Whether `link`'s recorded hold is past its horizon (`carried_hold` no longer carries it) while units of it
    still stood for the other links as of its push (not replaced by ledger reservations since)."""
    if link.held_quantity <= 0 or link.held_since is None or now - link.held_since <= horizon:
        return False
    return link.held_quantity - max(0, link.ingested_since_push or 0) > 0


def pushed_now(policy: InventoryPolicy, link: LinkedSku, now: datetime, horizon: timedelta) -> int:
    """What a push of `link` would write now, short of a new reading of TikTok: the target of the item's available
    less the units the item's other links hold back (`held_elsewhere`) and less the link's own hold as it stands
    (`carried_hold`). The reconcile compares TikTok's available with it (live-sync.md sec. 7.7): a push that held
    units back wrote that much less, which is no drift."""
    return policy.target(link.pushable - carried_hold(link, now, horizon))


def hold_ends(
    held: Mapping[str, tuple[int, datetime | None]], horizon: timedelta, elsewhere: Iterable[datetime] = ()
) -> datetime | None:
    """When a push first lets one of a push's holds go (`held`: sku id -> (units held back, since when), as in
    `ProductPushOutcome.held`), or one the item's other links hold that it subtracted (`elsewhere`: when each began,
    `ProductPushOutcome.held_elsewhere_since`): the earliest `since + horizon` of a hold of units, plus one second
    (`carried_hold` carries a hold until it is *older* than the horizon, and a stored time may lose its fraction).
    None: nothing held. The push outbox schedules the product's next push then (README, "Holds carry over"). A hold
    elsewhere counts too: its holder's own push at that end marks this product due (`let_go_at_horizon`), but a
    holder no longer pushed (DROPPED, EXCLUDED, left by an import) never does, and this product showed its units
    fewer until something else moved it (`tests/integration/test_inventory_push_holds_left.py`)."""
    ends = [since + horizon for units, since in held.values() if units > 0 and since is not None]
    ends += [since + horizon for since in elsewhere]
    return min(ends) + timedelta(seconds=1) if ends else None


def hold_started(
    link: LinkedSku, held: int, carried: int, now: datetime, tiktok_available: int | None = None
) -> datetime | None:
    """Since when the units held back now (`held`) are held, for `carried_hold`'s horizon: None if none; the link's
    `held_since` if this push carried its hold (`carried` > 0) and TikTok sold nothing since the last push
    (`tiktok_available` not below what it pushed); else `now`. A sale since the last push may be among the units
    held now, however many the ledger applied meanwhile (they may be the older ones): its hold starts now, or a hold
    begun two polls ago would let it go with the older units, seconds after it was sold, before any poll could
    bring it in. An older unit no sale explains (a Seller Center edit) is then held back longer: never on sale twice."""
    if held <= 0:
        return None
    sold = link.pushed_quantity is not None and tiktok_available is not None and tiktok_available < link.pushed_quantity
    return link.held_since if carried > 0 and link.held_since is not None and not sold else now


def hold_carried(
    baseline: int | None, held: int, carried: int, tiktok_available: int | None, ingested_since_push: int
) -> int:
    """Of the units a push holds back (`held`), how many it carried from the link's last hold (`carried`,
    `carried_hold`), the rest being sales since the last push: TikTok's fall since that push (from `baseline`,
    `LinkedSku.baseline`, to `tiktok_available`) less the units the ledger applied since (`ingested_since_push`; a
    release subtracting nothing) are new, the carried units what is left, at most `carried`. (A line applied since
    is taken as one of the newer sales: the older ones are longer unseen.) 0 without a hold carried, or without a
    reading. A hold that restarts (`hold_started`) keeps these units with the item they were held for
    (`inventory_push_links._items_of_push`, `sku_links.held_item_quantity`, migration 0059; review61 F2: CAP's 3
    carried by HAT's push, restarted by a sale under HAT, were relabelled HAT)."""
    if held <= 0 or carried <= 0 or baseline is None or tiktok_available is None:
        return 0
    fresh = max(0, baseline - tiktok_available - max(0, ingested_since_push))
    return max(0, min(carried, held, held - fresh))


def warehouse_plan(target: int, warehouse_ids: Sequence[str], default_warehouse_id: str | None) -> list[WarehouseStock]:
    """Every warehouse assigned to the SKU, no more, no fewer (TikTok's rule, codes 12019028 / 12052533).

    Multi-warehouse SKUs (live-sync.md sec. 7.3, v1): the whole target goes on the shop's default sales warehouse
    when the SKU has it, else on the SKU's first warehouse by id; every other warehouse is sent 0. So the units a
    shop shows are the target, never the target once per warehouse. A SKU with no known warehouse is sent without
    one (`warehouse_id` may be omitted when the SKU has a single warehouse).
    """
    ids = sorted(set(warehouse_ids))
    if not ids:
        return [WarehouseStock("", target)]
    main = default_warehouse_id if default_warehouse_id in ids else ids[0]
    return [WarehouseStock(w, target if w == main else 0) for w in ids]


class PushAction(StrEnum):
    """What a per-SKU error of Update Inventory asks for (live-sync.md sec. 1.1's table)."""

    RETRY = "RETRY"  # transient (internal error, promotion lock, seller or warehouse state): back off, push again
    REFRESH_WAREHOUSES = "REFRESH_WAREHOUSES"  # the SKU's warehouses changed: re-read them, retry once now
    QUANTITY_REFUSED = "QUANTITY_REFUSED"  # out of TikTok's bounds: recorded; the same value would be refused again
    EXCLUDE = "EXCLUDE"  # never writable here (global product, shared stock, combo, permissions): link EXCLUDED
    PRODUCT_GONE = "PRODUCT_GONE"  # product or SKU gone / not live: recorded; the product refresh relinks it
    # The product is not on sale (12052901 its status does not allow it; 12052048 not in the shop: DELETED, or gone):
    # the push reads the product again (live-sync.md sec. 1.1's table: "re-fetch product, relink") and, once stored
    # in a status other than ACTIVATE, leaves its row dirty with no push error (`domain.services.inventory_push`)
    NOT_ON_SALE = "NOT_ON_SALE"
    REQUEST_BUG = "REQUEST_BUG"  # our request is wrong: recorded, not retried


_ACTIONS: dict[int, PushAction] = {
    **dict.fromkeys((12019022, 12019028, 12052037, 12052097, 12052530, 12052533), PushAction.REFRESH_WAREHOUSES),
    **dict.fromkeys((12019024, 12052055), PushAction.QUANTITY_REFUSED),
    **dict.fromkeys((12052141, 12052921, 12052850, 12052849, 12052094, 12052160), PushAction.EXCLUDE),
    **dict.fromkeys((12052031, 12052032, 12052260, 12052556, 12052036, 12052308, 12052371), PushAction.PRODUCT_GONE),
    **dict.fromkeys((12052048, 12052901), PushAction.NOT_ON_SALE),
    **dict.fromkeys((12052553, 12052902, 12052050), PushAction.REQUEST_BUG),
    # Retrying can help: TikTok's internal error, a promotion lock that ends, a warehouse or seller state that
    # the seller fixes in Seller Center.
    **dict.fromkeys(
        (36009003, 12052393, 12052115, 12052364, 12052403, 12052465, 12052531, 12052532, 12052700, 12052704, 12052703),
        PushAction.RETRY,
    ),
}


def push_action(code: int) -> PushAction:
    """The action for one of TikTok's per-SKU codes; an unknown code is retried with backoff (it may pass)."""
    return _ACTIONS.get(code, PushAction.RETRY)


@dataclass(frozen=True, slots=True)
class SkuPushError:
    """A SKU TikTok refused inside a code-0 answer: the most specific code (a warehouse's, else the SKU's)."""

    code: int
    message: str

    @property
    def action(self) -> PushAction:
        return push_action(self.code)


def push_backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones (1, 2, ...): 2 s doubling, capped at 30 min."""
    delay: timedelta = PUSH_BACKOFF_BASE * (2 ** max(0, min(attempts - 1, 20)))
    return min(PUSH_BACKOFF_CAP, delay)


@dataclass(frozen=True, slots=True)
class OutboxClaim:
    """A dirty (shop, product) row this worker holds until `claimed_until`; `dirty_version` is what it pushes."""

    shop_id: str
    tiktok_product_id: str
    dirty_version: int
    attempts: int
    dirty_since: float | None = None  # Unix seconds of the oldest unpushed change, for the lag metric


@dataclass(slots=True)
class ProductPushOutcome:
    """What one product's push did, for the outbox row and the links."""

    pushed: dict[str, int] = field(default_factory=dict)  # sku_id -> quantity TikTok accepted
    failed: dict[str, SkuPushError] = field(default_factory=dict)  # sku_id -> the error kept on the link
    retry: bool = False  # push the product again after a backoff
    error: str | None = None  # the row's last_error
    computed_at: datetime | None = None  # when the targets were read: the links' pushed_at
    held: dict[str, tuple[int, datetime | None]] = field(default_factory=dict)  # sku_id -> (units held, since)
    # sku_id -> of the units held, those carried from the link's last hold (`hold_carried`; the rest: sales since)
    held_carried: dict[str, int] = field(default_factory=dict)
    # sku_id -> since when the earliest of the holds the item's other links hold back began, of the SKUs some stand
    # for (`LinkedSku.held_elsewhere_since`): the product is due again at the end of the first (`hold_ends`)
    held_elsewhere_since: dict[str, datetime] = field(default_factory=dict)
    ingested: dict[str, int] = field(default_factory=dict)  # sku_id -> `LinkedSku.ingested` read with the targets
    # sku_id -> the link's `ingested_at_push` as it stood when `ingested` was read (None: not kept), the push's own
    # record of an earlier intent included: the record keeps what order batches added to it since (`fence_base`)
    ingested_base: dict[str, int | None] = field(default_factory=dict)
    base_items: dict[str, str] = field(default_factory=dict)  # sku_id -> the item the link named then
    # The SKUs whose link had been pushed (`pushed_at`) when `ingested` was read: one found never pushed at the record
    # was fenced anew meanwhile (`links._fence_anew`: its counts set anew with a new baseline), even when it names the
    # same item again (a link to another item and back while the push read TikTok, soak59 F3)
    base_pushed: set[str] = field(default_factory=set)
    released: dict[str, int] = field(default_factory=dict)  # sku_id -> `LinkedSku.released` read with the targets
    # sku_id -> the link's `released_at_push` as it stood when `released` was read, as `ingested_base` (`fence_base`)
    released_base: dict[str, int | None] = field(default_factory=dict)
    # sku_id -> (units restored unseen, since when carried) (`fence_counts`, `restore_started`)
    restored: dict[str, tuple[int, datetime | None]] = field(default_factory=dict)
    # Items whose other links' pushes this outcome makes due: a pushed SKU's hold changed (`hold_changed`)
    holds_moved: set[str] = field(default_factory=set)
    # sku_id -> the intent of a call that failed without TikTok refusing it, marked `failed`, kept on the link
    doubtful: dict[str, PushIntent] = field(default_factory=dict)
    # SKUs of a call TikTok refused as a whole without changing anything (the product not on sale): their intents
    # are cleared, and nothing else of the links is recorded (no push error: `PushAction.NOT_ON_SALE`)
    withdrawn: set[str] = field(default_factory=set)

    @property
    def excluded(self) -> dict[str, SkuPushError]:
        return {sku: e for sku, e in self.failed.items() if e.action is PushAction.EXCLUDE}

    def record_of(self, sku_id: str, now: datetime) -> PushIntent | None:
        """The record this push makes on the link of `sku_id` (None: TikTok took nothing of it), in the shape of the
        intent it committed before its call (`PushIntent`), which the next push records the same way when this
        answer goes unrecorded (`inventory_push_links._push_record`: one rule for both; fence62). `at`: when the
        targets were read (`computed_at`, else `now`)."""
        quantity = self.pushed.get(sku_id)
        if quantity is None:
            return None
        held, held_since = self.held.get(sku_id, (0, None))
        restored, restored_since = self.restored.get(sku_id, (0, None))
        return PushIntent(
            quantity, self.computed_at or now, held, held_since, ingested=self.ingested.get(sku_id),
            released=self.released.get(sku_id), restored=restored, ingested_base=self.ingested_base.get(sku_id),
            item_id=self.base_items.get(sku_id), released_base=self.released_base.get(sku_id),
            restored_since=restored_since, held_carried=self.held_carried.get(sku_id, 0),
            pushed_at_read=sku_id in self.base_pushed,
        )  # fmt: skip
