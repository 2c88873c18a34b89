"""Records TikTok sent unreadably, read again by id at each poll of their shop and kind (RECORDS_UNREADABLE).

    reread = await reread_unreadable(intake_deps, shop_id, kind)   # `workers.actors.poll_shop`, after `start_poll`

A sync that cannot read a record keeps a mark of it (`CatalogRepository.mark_unreadable`, `unreadable_records`) until
a read of it is stored. A poll reads by `update_time`, an import by `create_time` in its window: a record whose next
version never comes (or an order with `create_time: 0`, outside every window) was never read again, and its mark
kept the shop's RECORDS_UNREADABLE for 30 days (the retention sweep). So each poll of a shop and kind reads a few of
its marks again by id, as a webhook naming them reads them (`intake.fetch_records`: Get Order Detail, Get Product),
on the `live` queue like the poll's own message:

- a record now readable is stored as a webhook's fetch stores it (`intake.store_fetched`: the catalog, then the
  pool's ledger), which removes its mark (`upsert_*`);
- one TikTok says it has no such record (ORDER_NOT_FOUND, PRODUCT_NOT_FOUND: deleted, or never the shop's) has its
  mark removed (`clear_unreadable`): no read will ever clear it; so has a product stored DELETED already that TikTok
  serves and lists nowhere (`Settled.deleted_already`): nothing is stored, and no read will ever bring more;
- one still unreadable keeps its mark with the new reason and the time of this read (`note_still_unreadable`), with
  one WARNING line the first time only (a mark is not a line per poll);
- any other mark read keeps its reason and takes the time of this read too (`note_reread`): a call TikTok refuses
  (TIKTOK_ERROR, one WARNING line per run), a product listed in a version older than the stored one. Every mark read
  so waits its turn behind the others: one that settles nothing no longer goes first at every poll, taking every
  poll's reads for good (review53 item 3);
- a read TikTok failed transiently, its retries spent (a 5xx or timeout for that product's Get Product, or for the
  Get Order Detail call of the batch: `fetch_records(unavailable_per_record=True)`), keeps its mark and reason, dated
  with this read (`note_reread`) like a refusal, and stops no other read: the records read with it are stored. One
  id TikTok kept failing dropped every read of its batch and dated no mark, so each poll took the same batch and the
  other marks were never stored (review54a F2). One INFO line a poll (the process's outage lines are the
  transport's: `adapters.tiktok.availability`); TikTok refusing the shop's authorization revokes the shop
  (`revoke_refused_authorization`), as the poll's own run would.

The mark of records without an id (`UNKNOWN_RECORD_ID`) is never read by id (`marks_to_reread` leaves it out): there
is nothing to ask for, and asking for "(no id)" in a Get Order Detail batch would fail the whole call.

Bounded per poll (`REREAD_ORDERS` orders: one Get Order Detail call; `REREAD_PRODUCTS` products: that many Get
Product calls), the marks taking turns (`marks_to_reread`: never read again first, then the longest ago). Idempotent,
and safe when two polls overlap: the stores keep the newest version, removing a mark twice removes it once, and of two
`note_still_unreadable` only one reports a mark read again for the first time.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from domain.errors import DomainError
from domain.intake import EventError
from domain.ports import AuthorizationLostError
from domain.services.conflicts import run_again_on_conflict
from domain.services.intake import Fetched, IntakeDeps, fetch_records, store_fetched
from domain.services.shop_tokens import revoke_refused_authorization
from domain.services.sync import publish_shop_quietly
from domain.shops import Shop
from domain.sync import RecordFailure, SyncKind, ensure_shop_can_sync

log = logging.getLogger(__name__)

REREAD_ORDERS = 50  # marked orders read again per orders poll: one Get Order Detail call (its `ids` take 50)
REREAD_PRODUCTS = 10  # marked products read again per products poll: one Get Product call each
_NOT_FOUND = (EventError.ORDER_NOT_FOUND, EventError.PRODUCT_NOT_FOUND)


@dataclass(frozen=True, slots=True)
class Reread:
    """What one poll's read of marks by id did, in records: `stored` (read and stored, mark removed), `gone` (TikTok
    has no such record, or serves and lists nowhere one stored DELETED already: mark removed), `unreadable` (mark
    kept, reason refreshed), `refused` (TikTok refused the call: mark kept, its reason too), `unavailable` (TikTok
    failed the read transiently: mark kept, its reason too). Every mark kept is dated with this read
    (`reread_at`)."""

    stored: int = 0
    gone: int = 0
    unreadable: int = 0
    refused: int = 0
    unavailable: int = 0


async def reread_unreadable(deps: IntakeDeps, shop_id: str, kind: SyncKind) -> Reread | None:
    """Read the shop's oldest marks of `kind` again by id and settle each (module docstring); None when nothing was
    read: no mark, the shop gone or unable to sync (revoked, expired: as a poll, TikTok is not asked), or its
    authorization refused (the shop is then revoked). A read TikTok failed transiently is counted in `unavailable`
    (its mark dated: the next poll takes the marks that waited longer first)."""
    limit = REREAD_ORDERS if kind is SyncKind.ORDERS else REREAD_PRODUCTS
    async with deps.uow_factory() as uow:  # the marks first: most polls find none, and load no shop
        marked = await uow.catalog.marks_to_reread(shop_id, kind, limit)
        shop = await uow.shops.get(shop_id) if marked else None
    if shop is None:
        return None
    try:
        ensure_shop_can_sync(shop, deps.clock.now())
    except DomainError:
        return None
    orders, products = (marked, []) if kind is SyncKind.ORDERS else ([], marked)
    try:
        fetched = await fetch_records(deps, shop, orders, products, unavailable_per_record=True)
    except AuthorizationLostError as exc:
        await revoke_refused_authorization(
            deps.uow_factory, deps.events, deps.clock, shop, "a read of unreadable records by id", exc
        )
        return None
    now = deps.clock.now()
    written = await run_again_on_conflict(
        functools.partial(_write, deps, shop, kind, marked, fetched, now),
        f"shop {shop_id}: unreadable {kind.value.lower()} read again",
    )
    if written is None:
        return None  # the shop was deleted meanwhile: its marks went with it
    reread, first_failures = written
    for failure in first_failures:
        log.warning(
            "shop %s: %s %s read again by id is still unreadable (%s); its mark stays (RECORDS_UNREADABLE) until a "
            "read of it is stored, TikTok no longer has it, or retention forgets it; later polls read it again "
            "without another line",
            shop_id, kind.value.lower().rstrip("s"), failure.tiktok_id, failure.reason,
        )  # fmt: skip
    if reread.refused:
        key = next(key for key in fetched.failures if fetched.failures[key][0] is EventError.TIKTOK_ERROR)
        log.warning("shop %s: TikTok refused to read %d unreadable record(s) again by id (first, %s: %s); their marks "
                    "stay as they are", shop_id, reread.refused, key, fetched.failures[key][1])  # fmt: skip
    if reread.unavailable:
        key = next(key for key in fetched.failures if fetched.failures[key][0] is EventError.TIKTOK_UNAVAILABLE)
        log.info("shop %s: %d unreadable %s mark(s) not read again (first, %s: %s); the next poll reads them after "
                 "the marks that waited longer", shop_id, reread.unavailable, kind.value.lower(), key,
                 fetched.failures[key][1])  # fmt: skip
    if reread.stored or reread.gone:  # the shop's attention (and maybe its counts) changed
        await publish_shop_quietly(deps.events, shop)
    return reread


async def _write(
    deps: IntakeDeps, shop: Shop, kind: SyncKind, marked: list[str], fetched: Fetched, now: datetime
) -> tuple[Reread, list[RecordFailure]] | None:
    """One unit of work, safe to run again whole (`run_again_on_conflict`: `fetched` is only read): the records
    stored and pooled, the marks of records gone removed, those still unreadable refreshed; returns what was done and
    the failures logged for the first time, or None when the shop is gone."""
    prefix = "order:" if kind is SyncKind.ORDERS else "product:"
    failures = {tiktok_id: fetched.failures.get(prefix + tiktok_id) for tiktok_id in marked}
    gone = [
        tiktok_id
        for tiktok_id, failure in failures.items()
        if (failure is not None and failure[0] in _NOT_FOUND) or prefix + tiktok_id in fetched.deleted_already
    ]
    unreadable = [
        RecordFailure(tiktok_id, failure[1])
        for tiktok_id, failure in failures.items()
        if failure is not None and failure[0] is EventError.UNREADABLE_RECORD
    ]
    refused = sum(failure is not None and failure[0] is EventError.TIKTOK_ERROR for failure in failures.values())
    unavailable = sum(
        failure is not None and failure[0] is EventError.TIKTOK_UNAVAILABLE for failure in failures.values()
    )
    async with deps.uow_factory() as uow:
        if await uow.shops.get(shop.id) is None:
            return None
        await store_fetched(uow, deps.queue, deps.events, shop.id, fetched.orders, fetched.products)
        await uow.catalog.clear_unreadable(shop.id, kind, gone)
        first = set(await uow.catalog.note_still_unreadable(shop.id, kind, unreadable, now))
        # the other marks read (stored ones are gone with their upsert): dated too, whatever the outcome
        settled = set(gone) | {failure.tiktok_id for failure in unreadable}
        await uow.catalog.note_reread(
            shop.id, kind, [tiktok_id for tiktok_id in marked if tiktok_id not in settled], now
        )
        await uow.commit()
    stored = len(fetched.orders) + len(fetched.products)
    reread = Reread(stored=stored, gone=len(gone), unreadable=len(unreadable), refused=refused, unavailable=unavailable)
    return reread, [failure for failure in unreadable if failure.tiktok_id in first]
