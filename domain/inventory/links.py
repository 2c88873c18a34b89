"""SKU links: each shop SKU links to at most one inventory item; auto-linking by exact seller SKU, and seeding.

Auto-link rules (issue 8, live-sync.md §7.5), per shop, after every product import or product change:
- the seller SKU is trimmed (whitespace and other invisible characters at its ends), taken in NFC (a precomposed
  "É" and "E" + a combining accent are one letter) and matched exactly (case-sensitive) against the merchant's item
  SKUs; the SKU's own seller SKU is stored as TikTok sent it;
- a SKU without a seller SKU stays unlinked as `NO_SELLER_SKU`; one whose seller SKU TikTok sent too long for the
  catalog to keep (`domain.stored.seller_sku_too_long`, over 255 code points) as `LONG_SELLER_SKU`: it has one, and
  the merchant shortens it on TikTok or links the SKU by hand (sku57; it read NO_SELLER_SKU before);
- a seller SKU found on two or more SKUs of one shop leaves all of them unlinked as `AMBIGUOUS`: never guess;
- a bundle (combo) SKU is `EXCLUDED`: TikTok derives its stock from its components (12052850);
- a link the merchant made or removed by hand (`MANUAL`) survives every later import; one made to an item survives
  the shop's delete too: the same TikTok shop connected again links that SKU by hand to it again
  (`relinked_by_hand`); one unlinked by hand is linked by seller SKU at the reconnect, and the sales made under the
  link it ended still count on that link's item (`ledger.counted_under_a_deleted_link`: a unit sold under a link
  period counts against that period's item, whatever the SKU links to after a reconnect);
- a LINKED link that leaves LINKED, by hand or by these rules, remembers its item until linked again
  (`remembered_on_unlink`), and when it left it (`unlinked_since`: a sale made before, first seen after, counts
  there); linked back to that item, it keeps its first time (`relinked_since`); linked back after the merchant's
  unlink to another item it had a link period of on the connection, the pause is kept as that item's (`resumed_pause`);
- a SKU TikTok drops from its product keeps its link, `DROPPED`: its orders still count on its item
  (`counts_orders`), it is never pushed, and back in the product (the same TikTok SKU id) it is linked as before
  (`back_from_drop`).
A seller SKU no item has yet creates one, seeded from this shop's TikTok stock (`seed_on_hand`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import DomainError, ErrorCode
from domain.text import normalized, strip_invisible


class LinkState(StrEnum):
    LINKED = "LINKED"
    AMBIGUOUS = "AMBIGUOUS"  # the seller SKU appears on several SKUs of the shop
    NO_SELLER_SKU = "NO_SELLER_SKU"  # none at TikTok (or blank)
    # TikTok's is longer than the catalog keeps (`domain.stored.MAX_SELLER_SKU_CHARS`). Not SELLER_SKU_TOO_LONG:
    # `sku_links.state` is VARCHAR(16), and the name pairs with NO_SELLER_SKU as a reason of the same kind.
    LONG_SELLER_SKU = "LONG_SELLER_SKU"
    EXCLUDED = "EXCLUDED"  # a bundle (combo) SKU: never linked, never pushed
    UNLINKED = "UNLINKED"  # the merchant unlinked it by hand


# `sku_links.state` of a SKU its product no longer has (Get Product / Search Products list it no more: the seller
# deleted that variant in Seller Center, PRODUCT_INFORMATION_CHANGE `others`, live-sync.md §2.4). Not a `LinkState`:
# the API shows a link with its SKU, and the SKU is gone. The row keeps its item, source and times.
DROPPED = "DROPPED"


class LinkSource(StrEnum):
    AUTO = "AUTO"
    MANUAL = "MANUAL"


@dataclass(frozen=True, slots=True)
class ShopSku:
    """A SKU of the shop as imported, with its current link (None: never decided)."""

    sku_id: str
    seller_sku: str | None
    bundle: bool = False
    source: LinkSource | None = None
    state: LinkState | None = None
    inventory_item_id: str | None = None
    # its seller SKU was too long to keep (`skus.seller_sku_too_long`): `seller_sku` is None
    seller_sku_too_long: bool = False


@dataclass(frozen=True, slots=True)
class LinkDecision:
    """What auto-linking decided for one SKU: its state, and for LINKED the item SKU (the trimmed seller SKU)."""

    sku_id: str
    state: LinkState
    seller_sku: str | None  # trimmed, None when blank
    item_sku: str | None = None


def trimmed(seller_sku: str | None) -> str | None:
    """The seller SKU as matched: surrounding whitespace and other invisible characters removed
    (`domain.text.strip_invisible`: a zero-width space or BOM pasted with it at its end), then in NFC
    (`domain.text.normalized`); None when nothing is left. "MUG" + U+200B is then MUG, and "CAFE" + U+0301 COMBINING
    ACUTE ACCENT is "CAFÉ" (precomposed), not a second item a merchant sees as the same SKU (and could never type:
    `checked_sku`). NFC, not NFKC: full-width "SKU-1" (U+FF33 U+FF2B U+FF35 - U+FF11) stays another SKU, as TikTok,
    which keeps a seller SKU as typed, has it. The one rule: the catalog stores each SKU's result as its key
    (`skus.seller_sku_key`), which the later batches' twin lookup compares in SQL."""
    if seller_sku is None:
        return None
    value = normalized(strip_invisible(seller_sku))
    return value or None


def auto_link(shop_skus: Iterable[ShopSku]) -> list[LinkDecision]:
    """Decisions for the given SKUs of one shop (every SKU of the shop sharing a seller SKU with one of them must
    be among them, so that duplicates are seen). MANUAL links are left out: the merchant's word stands."""
    skus = list(shop_skus)
    counts = Counter(trimmed(s.seller_sku) for s in skus if not s.bundle and trimmed(s.seller_sku) is not None)
    decisions = []
    for sku in skus:
        if sku.source is LinkSource.MANUAL:
            continue
        seller_sku = trimmed(sku.seller_sku)
        if sku.bundle:
            decisions.append(LinkDecision(sku.sku_id, LinkState.EXCLUDED, seller_sku))
        elif seller_sku is None:
            reason = LinkState.LONG_SELLER_SKU if sku.seller_sku_too_long else LinkState.NO_SELLER_SKU
            decisions.append(LinkDecision(sku.sku_id, reason, None))
        elif counts[seller_sku] > 1:
            decisions.append(LinkDecision(sku.sku_id, LinkState.AMBIGUOUS, seller_sku))
        else:
            decisions.append(LinkDecision(sku.sku_id, LinkState.LINKED, seller_sku, seller_sku))
    return decisions


def seed_on_hand(tiktok_available: int, open_units: int, shipped_since_read: int = 0) -> int:
    """A new item's on-hand when the first shop's SKU links to it: TikTok's available quantity (which already
    excludes the units TikTok holds for open orders, live-sync.md §1.3) plus the units this shop's open orders of
    the SKU created before that stock was read are about to reserve in the pool, so that right after linking the
    pool's `available` equals what TikTok shows: open orders are counted once, not twice. Less the units of this
    shop's orders of the SKU created since the read and already shipped when seen (history to the ledger, which
    would never deduct them): their units were in the quantity read and are gone. Never below 0."""
    return max(0, max(0, tiktok_available) - max(0, shipped_since_read)) + max(0, open_units)


def relink_needed(sku: ShopSku, decision: LinkDecision, item_ids: Mapping[str, str]) -> bool:
    """Whether the decision changes the SKU's link: another state, or LINKED to another item."""
    new_item = item_ids.get(decision.item_sku) if decision.item_sku is not None else None
    return sku.state is not decision.state or sku.inventory_item_id != new_item or sku.source is not LinkSource.AUTO


def remembered_on_unlink(
    state: LinkState | None, item_id: str | None, linked_at: datetime | None, unlinked_item_id: str | None
) -> tuple[str | None, datetime | None]:
    """(`unlinked_item_id`, `linked_at`) of a link that is not LINKED once rewritten, from the link as it stood (None:
    no link yet). It leaves LINKED by the merchant's `skuUnlink` or by an import's decision (`auto_link`: its seller
    SKU found on a second SKU of the shop, AMBIGUOUS; cleared in Seller Center, NO_SELLER_SKU; made too long to keep,
    LONG_SELLER_SKU; the SKU made a bundle, EXCLUDED): it remembers the item it was LINKED to and when that link took
    effect, so that a sale first seen meanwhile and linked back to that same item moves that item
    (`ledger.first_seen_unlinked`). A link already not LINKED keeps what it remembered (an AMBIGUOUS SKU the merchant
    unlinks, or whose seller SKU is then cleared); a link never LINKED (or to nothing the pool counted) remembers
    nothing."""
    if state is LinkState.LINKED:
        return (item_id, linked_at) if item_id is not None else (None, None)
    if state is None or unlinked_item_id is None:
        return None, None
    return unlinked_item_id, linked_at


def unlinked_since(
    state: str | None,
    item_id: str | None,
    source: str | None,
    remembered: str | None,
    unlinked_at: datetime | None,
    now: datetime,
) -> datetime | None:
    """`sku_links.unlinked_at` (migration 0036) of a link written now (`now`, UTC) not LINKED, remembering item
    `remembered` (`remembered_on_unlink`; None: it remembers none, and has no such instant), from the link as it
    stood (`state`, `item_id`, `source`, `unlinked_at`: its stored `sku_links` columns; `state` None: no link yet):
    the instant from which the SKU's new sales stopped counting on that item. Now when they counted there until this
    write: the link named its item (LINKED, or DROPPED with it: `counts_orders`), or an import had left it
    (`left_by_import`: its sales made since its link went on counting there, `ledger.first_seen_unlinked`). Else the
    link's stored instant, kept: a second `skuUnlink`, or an import's rewrite of a link the merchant unlinked, moves
    it no later.

    A sale made before that instant and first seen only after it (a webhook late, a poll or an import reading it
    later) was placed while the SKU was that item's, and TikTok ships it from that item's shelf: it counts there as
    the lines the unlink found open do (`ledger.sold_before_unlink`, live-sync.md §7.2: a channel order is a fact;
    README "Shared inventory pool"). Without the instant (before this record, try-out pool51's follow-up) it waited
    for a link, and its unit was on sale on the item's other shops meanwhile: an oversell. A link LINKED again
    clears it (`_link_row`: its new link counts its sales from then on); the item's delete forgets the item it goes
    with (`unlinked_item_id`, `ON DELETE SET NULL`: the instant alone is read by nobody), a shop's delete the row."""
    if remembered is None or state is None:
        return None
    if counts_orders(state, item_id) is not None or (source is not None and left_by_import(state, source)):
        return now
    return unlinked_at


def relinked_since(
    state: LinkState | None, item_before: str | None, linked_at: datetime | None, item_id: str
) -> datetime | None:
    """When a link of a SKU to item `item_id`, made now (the merchant's `skuLink` or an import's auto-link), takes
    effect (`sku_links.linked_at`, read by `ledger.order_timing`), from the link as it stood (`state`; `item_before`:
    the item a LINKED link names, or the one a link not LINKED remembers, `remembered_on_unlink`): that link's time
    when the SKU goes to that same item. Linked back after an unlink or an ambiguity, the gap was a pause, and a
    sale made meanwhile that is first seen only after the relink, already shipped (its webhook lost), left that
    item's shelf as one first seen while unlinked did (`ledger.first_seen_unlinked`): it deducts rather than be
    history. Linked again to the item it is LINKED to (a `skuLink` that changes nothing but the link's source), a
    sale made before the click and first seen shipped after it deducts as it would have without the click: a new
    time would make it history, and its units oversold. None otherwise: it takes effect now (or, a link whose
    shop's stock seeds its item, when that stock was read)."""
    if item_before == item_id and linked_at is not None and state is not None:
        return linked_at
    return None


def ended_period(
    state: str,
    item_id: str | None,
    source: str,
    linked_at: datetime | None,
    unlinked_item_id: str | None,
    unlinked_at: datetime | None,
    new_item: str | None,
    now: datetime,
) -> tuple[str, datetime, datetime] | None:
    """The link period a link change made at `now` (UTC) ends, kept for the ledger (`sku_link_periods`, migration
    0049): (item, when its link took effect, when it ended), or None. From the link as it stood (`state`, a
    `LinkState` value or `DROPPED`; `item_id`, `source`, `linked_at`: its time, or its seed's read;
    `unlinked_item_id`, `unlinked_at`: what a link not LINKED remembers, `remembered_on_unlink`, `unlinked_since`)
    and the item it names now (`new_item`; None: none).

    A period ends when the SKU's link names another item than the one its orders counted on: a link counting orders
    on its item (`counts_orders`) rewritten to another ends now; a link that had left its item (the merchant's unlink:
    at the unlink; an import's, `left_by_import`: its sales since went on counting there, so now) linked to another.
    Linked back to the same item, the period goes on (`relinked_since`); left without an item, the link remembers it
    (`remembered_on_unlink`). So a sale made under it and first seen shipped after the change counts on that item
    (`ledger.sold_under_an_earlier_link`, pool57 F2: after a `skuLink` to another item and back, or a seller SKU
    renamed in Seller Center and back, the link remembered nothing and the sale was history)."""
    if new_item is None or linked_at is None:
        return None
    counted = counts_orders(state, item_id)
    if counted is not None:
        return (counted, linked_at, now) if counted != new_item else None
    if unlinked_item_id is None or unlinked_item_id == new_item:
        return None
    ended = now if left_by_import(state, source) or unlinked_at is None else unlinked_at
    return unlinked_item_id, linked_at, ended


def resumed_pause(
    state: str,
    item_id: str | None,
    source: str,
    unlinked_item_id: str | None,
    unlinked_at: datetime | None,
    new_item: str | None,
    kept_on_item: bool,
    now: datetime,
) -> tuple[str, datetime, datetime] | None:
    """The link period a link made at `now` (UTC) to item `new_item` (None: none) keeps for its SKU's unlinked pause
    (`sku_link_periods`, as `ended_period`'s): (that item, the merchant's unlink, now), or None. From the link as it
    stood (`state`, a `LinkState` value or `DROPPED`; `item_id`, `source`; `unlinked_item_id`, `unlinked_at`: what a
    link not LINKED remembers, `remembered_on_unlink`, `unlinked_since`) and `kept_on_item`: the SKU had an earlier
    link period on `new_item` on this connection (`sku_link_periods`, migration 0049).

    The rule (soak59 F2): linked back after the merchant's unlink to an item it had a link period of, the pause was a
    pause, as it is linked back to the item it remembers (`relinked_since`: that link keeps its time). After a
    mis-click (A, then B, `skuUnlink`, A again) it remembers B, the link to A took effect now, and a sale made in the
    pause, its webhooks lost, first seen shipped after the link back, was in no period: history, its units on sale on
    every shop for good, where without the detour it deducts. With this period it deducts from A
    (`ledger.sold_under_an_earlier_link`). A sale made under B (before the unlink) still counts on B, by B's period
    (`ended_period`, which ends at the unlink), a sale of the unlink's own second too: the caller keeps the pause from
    the second after it (`ledger.paused_period`; `sold_before_unlink`: that second counts as before the unlink, as for
    a sale first read while unlinked, detour59b);
    a line reserved on B at the unlink and shipped in the pause deducts from B (`ledger.reserved_until` reads this
    period as a pause, not as a link change). None: not a merchant's unlink (`paused_since`), an item it remembers
    (`relinked_since` keeps its time), an item it never had a period of here (the merchant said "not that item":
    a sale made meanwhile is history, as before), or no unlink instant (before migration 0036)."""
    paused_at = paused_since(state, item_id, source, unlinked_at)
    if new_item is None or not kept_on_item or paused_at is None or unlinked_item_id == new_item or paused_at >= now:
        return None
    return new_item, paused_at, now


def paused_since(state: str, item_id: str | None, source: str, unlinked_at: datetime | None) -> datetime | None:
    """When the merchant's unlink paused a stored link (`state`, a `LinkState` value or `DROPPED`; `item_id`,
    `source`, `unlinked_at`: its `sku_links` columns): its `unlinked_at` (`unlinked_since`) while it counts no orders
    on an item (`counts_orders`) and no import left it so (`left_by_import`: its sales went on counting on the item
    it remembers, and `ended_period` ends that period at the next link). None otherwise (LINKED, DROPPED with its
    item, an import's unlink, or unlinked before migration 0036: no instant)."""
    if counts_orders(state, item_id) is not None or left_by_import(state, source):
        return None
    return unlinked_at


def link_compared(state: str | None, item_id: str | None, compare_item_id: str | None) -> None:
    """`skuLink`'s compare-and-set (`compareInventoryItemId`, as `compareOnHand` is for a count: `items.compared`):
    the item a SKU's stored link in `state` naming `item_id` makes it draw on (its item while LINKED; otherwise, or
    with no link, none) must be `compare_item_id` (None: none). Else `DomainError(SKU_LINK_CHANGED)` on
    `compareInventoryItemId`: another tab linked or unlinked it since the client read it (tryout58 F3); the caller
    checks under the shop's link turn, before anything is written."""
    if (item_id if state == LinkState.LINKED else None) != compare_item_id:
        raise DomainError(
            ErrorCode.SKU_LINK_CHANGED,
            "This SKU's link changed since it was read (linked to another item, or unlinked, meanwhile): nothing "
            "was changed.",
            ("compareInventoryItemId",),
        )


def counts_orders(state: str, item_id: str | None) -> str | None:
    """The item the order lines of a SKU whose stored link is in `state` (a `LinkState` value or `DROPPED`) count on:
    its item when LINKED, and when DROPPED with one; None: no item (its lines wait for a link, `PENDING_LINK`).
    A SKU TikTok drops from its product may still have open orders, which TikTok ships (or cancels) from the stock
    the item counts: each of their lines goes on moving by its status there (live-sync.md §3.5: open reserves,
    shipped converts the reservation into a deduction, cancelled releases), and one first seen after the drop, made
    before it, reserves or deducts there too. Unlinked instead (as before), the reservations went back to the pool
    while their units were still to ship (an oversell), a shipment never left the item's on-hand, and a
    cancellation stayed waiting for a link that never came."""
    return item_id if state in (LinkState.LINKED, DROPPED) else None


# The states in which a link still names the item its held sales were placed on (`sku_links.inventory_item_id`):
# LINKED; DROPPED from its product (its orders count there, `counts_orders`); EXCLUDED by a push TikTok refused as not
# writable here (live-sync.md sec. 1.1: the push keeps the link's item; an import's EXCLUDED, a bundle, names none)
HOLDS_ON_ITS_ITEM = frozenset({LinkState.LINKED.value, DROPPED, LinkState.EXCLUDED.value})
# The states an import leaves a SKU in without its item (`auto_link`): it remembers that item (`unlinked_item_id`)
LEFT_BY_IMPORT = frozenset(
    state.value
    for state in (LinkState.AMBIGUOUS, LinkState.NO_SELLER_SKU, LinkState.LONG_SELLER_SKU, LinkState.EXCLUDED)
)


def holds_for(
    state: str, item_id: str | None, unlinked_item_id: str | None, source: str, unlinked_at: datetime | None = None
) -> str | None:
    """The item a link's hold counts against for the item's other links (`domain.inventory_push.standing_hold`,
    `LinkedSku.held_elsewhere`): units its last push held back were sold unseen at its shop from that item's shelf,
    and stand until the ledger ingests their order or the hold's horizon passes, whether or not the link is still
    pushed. `state`: `sku_links.state` (a `LinkState` value or `DROPPED`); `item_id`, `unlinked_item_id`: the
    link's item and the item it remembers; `source`: a `LinkSource` value; `unlinked_at`: when the SKU left the item
    it remembers (`sku_links.unlinked_at`, `unlinked_since`). The item it names in a state of `HOLDS_ON_ITS_ITEM`
    (LINKED, DROPPED, EXCLUDED by a push); else the item it remembers when an import left it (`left_by_import`), or
    when the merchant unlinked it with that instant recorded (UNLINKED, and DROPPED after that; migration 0036): its
    last push came before the unlink, so the sales it held back were made before it, and once ingested they count on
    that item (`ledger.sold_before_unlink`) and replace the hold. Else None: a link the merchant unlinked before 0036
    holds for no item (its held sales, first seen, wait for a link). (Before 0036 a merchant-unlinked link's hold
    stopped counting at the unlink, and the item's other shops were pushed its units again until the sale was
    ingested and, waiting for a link, after: sold twice.)
    (Before, a DROPPED link's hold and a push-EXCLUDED one's counted for none: the other shops were pushed the sold
    unit again until its order was ingested, sold twice; `tests/integration/test_inventory_push_holds_left.py`. So
    did an import-left link's once its SKU was dropped: `tests/integration/test_db_inventory_shop_delete.py`.)"""
    if item_id is not None and state in HOLDS_ON_ITS_ITEM:
        return item_id
    return unlinked_item_id if left_by_import(state, source) or unlinked_at is not None else None


def hold_item(
    held_quantity: int,
    held_item_id: str | None,
    state: str,
    item_id: str | None,
    unlinked_item_id: str | None,
    source: str,
    unlinked_at: datetime | None = None,
) -> str | None:
    """The item a link's own hold belongs to: the item the sales it stands for were made under, whose shelf they
    ship from. Its other links subtract the hold (`LinkedSku.held_elsewhere`), a delete of the shop within the hold's
    horizon takes it off that item's on-hand (`ledger.release_shop`), and a hand move keeps or moves it by that item
    (`links._left_by_move`). From the link's stored columns: `held_quantity`, `held_item_id` (migration 0056),
    `state` (a `LinkState` value or `DROPPED`), `item_id` (`inventory_item_id`), `unlinked_item_id`, `source` (a
    `LinkSource` value), `unlinked_at`. None: no hold, or a hold of no item. The cases, first match:

    1. No units held (`held_quantity` <= 0): None.
    2. The hold recorded its item (`held_item_id`, migration 0056; review60b F1, fence60c): that item, whatever the
       link names now. A push records it (`inventory_push_links._items_of_push`, in SQL, as the UPDATE must read the
       row it writes): a hold begun at the push is of the record the push measured from (`pushed_item_id` as it
       was; none: the item pushed for, whose baseline it measured from), so a SKU linked by hand from CAP to HAT
       whose move kept CAP's record (the read older than CAP's push) has HAT's push hold CAP's unseen sale as CAP's;
       a hold carried (its `held_since` unchanged) keeps its item. A link moved back to the item of its moved hold
       holds it as that item's (`links._hold_again`, fence60b), and a fence started anew keeps the units it keeps
       with their item (`links._fence_anew`). A hold a push restarted while carrying units of another item is that
       item's for those units only (`held_item_quantity`, migration 0059): `hold_parts` splits it.
    3. Recorded before migration 0056 (no `held_item_id`): the item `holds_for` infers from the link as it stands
       (the item it names LINKED, DROPPED or EXCLUDED by a push; the one it remembers when an import or, since
       migration 0036, the merchant's unlink left it).

    (Before fence61 the delete and the other links' pushes used case 3 alone: a SKU linked by hand to HAT holding
    CAP's sale had a delete take it off HAT, and CAP's other shops were pushed its units again until it was
    ingested.) A link's moved hold (`moved_hold_item_id`, migration 0054) is another hold, of the item it names."""
    if held_quantity <= 0:
        return None
    if held_item_id is not None:
        return held_item_id
    return holds_for(state, item_id, unlinked_item_id, source, unlinked_at)


def hold_parts(
    units: int, held_item: str | None, held_item_quantity: int | None, rest_item: str | None
) -> dict[str | None, int]:
    """`units` of a link's hold (its standing units: at most `held_quantity`, less the units the ledger applied since
    its push) by the item their sales were made under, units > 0 only. `held_item`: the hold's item (`hold_item`);
    `held_item_quantity` (`sku_links.held_item_quantity`, migration 0059): of the hold, the units of `held_item`
    not applied yet (the older part, carried from an earlier hold when a push restarted it; the ledger takes the
    units it applies on `held_item` off it as it applies them, `held_part_applied`); the rest, the sales since that
    push's last one, are of `rest_item` (`held_rest_item_id`, migration 0062: the item that push was made for, kept
    while the hold is carried, whatever item a later push is made for; review62 R1). None, or no
    `rest_item`: all `held_item`'s. So the units applied since the push that are not `held_item`'s come off the
    rest, and `held_item` keeps min(`held_item_quantity`, `units`). (review61 F2: CAP's 3 carried and HAT's 2 held
    anew by HAT's push were all labelled HAT, and a link back to CAP kept none of CAP's; review62 R2: CAP's sale
    ingested first, the 2 left were taken as CAP's, the newer part first, and HAT's other shops sold them again.)
    A link's moved hold of two items is read by the same rule (`moved_hold_item_quantity`, `moved_hold_rest_item_id`,
    migration 0063: the parts of a split hold a hand move left unseen; review62 R1's read variant)."""
    if units <= 0:
        return {}
    if held_item_quantity is None or rest_item is None or rest_item == held_item or held_item_quantity >= units:
        return {held_item: units}
    parts = {held_item: max(0, held_item_quantity), rest_item: units - max(0, held_item_quantity)}
    return {item: n for item, n in parts.items() if n > 0}


def held_part_applied(held_item_quantity: int, applied: int) -> int:
    """The units of a split hold's item (`held_item_quantity`, `hold_parts`) still unseen once the ledger applies
    `applied` more units of its SKU's sales on that item (lines first reserved or deducted on it, of orders made no
    later than the push that made or carried the split: the sales the part stands for, read at last; a later sale is
    none of them, review63 F2), never below 0. `hold_parts` then gives the units applied since the push that are not
    that item's to the rest. Written by the order batch that applies them (`ledger._counted_before_push`, in SQL
    with the row as the UPDATE finds it). A hold of one recorded item, not split, has its part start at its
    `held_quantity` the same way: a push in flight that records a split after the batch carries at most that part
    (split63: CAP's 3 applied between HAT's push's read and its record left the split's CAP part at 3, and HAT's 2
    units read as CAP's). (review62 R2: taken off the newer part first by count alone, CAP's 3 ingested left the 2
    units of HAT's sale standing as CAP's.)"""
    return max(0, held_item_quantity - applied)


def left_by_import(state: str, source: str) -> bool:
    """Whether a link without its item (`state`: `sku_links.state`; `source`: a `LinkSource` value) was left so by a
    products import, remembering the item its SKU's sales were placed on: AMBIGUOUS, NO_SELLER_SKU, LONG_SELLER_SKU
    or EXCLUDED (`LEFT_BY_IMPORT`), or DROPPED from its product after that, which keeps the link's source (an AUTO
    link without its item; the merchant's unlink, UNLINKED, is MANUAL, and a link that names its item keeps it when
    dropped)."""
    return state in LEFT_BY_IMPORT or (state == DROPPED and source == LinkSource.AUTO.value)


def standing_state(state: str, item_id: str | None) -> LinkState:
    """The `LinkState` a stored link (`state`, a `LinkState` value or `DROPPED`) stands for: a DROPPED link with an
    item as LINKED (`counts_orders`), one without as UNLINKED (what it remembers, `unlinked_item_id`, stays)."""
    if state == DROPPED:
        return LinkState.LINKED if item_id is not None else LinkState.UNLINKED
    return LinkState(state)


def back_from_drop(source: LinkSource, item_id: str | None) -> LinkState | None:
    """The state of a DROPPED link whose SKU is back in its product (TikTok keeps SKU ids): the merchant's
    (`MANUAL`) decision stands, as it does through every import (LINKED to its item, or UNLINKED); None for an
    automatic one, which `auto_link` decides again from its seller SKU as it is now (back to its item, keeping
    that link's time, `relinked_since`, when the seller SKU still names it)."""
    if source is not LinkSource.MANUAL:
        return None
    return LinkState.LINKED if item_id is not None else LinkState.UNLINKED


def unlinked_by_hand(bundle: bool) -> tuple[LinkState, LinkSource]:
    """(state, source) of the link a merchant's `skuUnlink` leaves: UNLINKED by hand (MANUAL: every import keeps it
    so), but a bundle SKU EXCLUDED as imports leave it (AUTO, `auto_link`): its stock is TikTok's to derive
    (12052850), never the merchant's to link, so it keeps that reason (UNLINKED, it read "unlinked by you" with a
    Link that SKU_NOT_LINKABLE refused)."""
    return (LinkState.EXCLUDED, LinkSource.AUTO) if bundle else (LinkState.UNLINKED, LinkSource.MANUAL)


def relinked_by_hand(kept: Iterable[tuple[str, str | None, datetime]]) -> str | None:
    """The item a shop's products import links a SKU to by hand (LINKED, MANUAL) when the SKU has no link on the shop
    yet, from the links the merchant's deletes of earlier connections of the same TikTok shop kept for that TikTok SKU
    (`kept`: (item id, the link's source when it named that item at the delete, a `LinkSource` value, else None, when
    that delete was, UTC); `deleted_shop_links`, migration 0045): the item of the latest delete's link when the
    merchant had made it by hand (MANUAL). A link made by hand survives every import of its connection (`auto_link`);
    the same TikTok shop connected again is that shop to the merchant, and relinked by seller SKU instead, a sale made
    under the hand link and first seen by the reconnect's import counted on the seller SKU's item, an open order's
    reservation with it: stock wrong on every shop of both items (poolfix54 finding 3).

    None, and the import decides by seller SKU as for a SKU never linked (`auto_link`): the latest kept link was
    automatic, or only remembered its item (an unlink, the merchant's or an import's: poolfix54 finding 1 relinks it
    by seller SKU), or the latest delete kept more than one link of the SKU (never guess); or no link is kept: none
    was, the hand-linked item was deleted since (its rows go with it, `ON DELETE CASCADE`), or the retention sweep
    took it (`DELETED_LINE_KEPT`, 97 days after the delete)."""
    rows = list(kept)
    if not rows:
        return None
    latest = max(deleted_at for _, _, deleted_at in rows)
    at_latest = [(item_id, source) for item_id, source, deleted_at in rows if deleted_at == latest]
    if len(at_latest) != 1 or at_latest[0][1] != LinkSource.MANUAL.value:
        return None
    return at_latest[0][0]


def on_seed(item_id: str | None, seeded_item_id: str | None) -> bool:
    """Whether the ledger counts a link's seeding read (`sku_links.stock_counted_at`: the open orders its shop's
    stock read had left out reserve in the seed) while the link names `item_id`: only on the item that read seeded
    (`seeded_item_id`, migration 0021). Moved to another item (a seller SKU renamed), an order made before the read
    reserves there as any sale (that item's count never held its unit); back on the seeded item, in the seed again
    (`links.upsert_links` keeps the read). A link with no seeded item recorded (written by a release before 0021)
    kept its read only while on its seed: it counts."""
    return seeded_item_id is None or item_id == seeded_item_id


def seed_copies(state: str | None, item_id: str | None) -> str | None:
    """The item whose count a new item seeded from a SKU's TikTok stock copies (`sku_links.seeded_from_item_id`,
    migration 0030), from the SKU's link as it stood (`state`, a `LinkState` value or `DROPPED`; None: no link):
    the item it was LINKED to, whose count the pool pushed and TikTok showed (a seller SKU renamed in Seller Center to
    one no item has); None for a SKU pushed from no item (a first link; AMBIGUOUS..., unlinked, DROPPED: TikTok's
    stock was the seller's own, or the pool's as it stood when the pushes stopped)."""
    return item_id if state == LinkState.LINKED.value else None
