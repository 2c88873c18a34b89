"""Push the pool to TikTok: claim a shop's dirty outbox rows, compute each product's targets when sent, one Update
Inventory per product, record the outcome (live-sync.md sec. 7.3, issue 8 "Push to TikTok").

Coalescing: the stock change writes `dirty_version + 1` on the (shop, product) row; the pusher claims the row with
the version it saw, computes the targets from the items' counters read after the claim, and on success sets
`pushed_version` to that claimed version. Changes made during the call leave the row dirty, so the run claims it
again and sends exactly one more call: a burst of N sales costs at most two calls per shop and product. A lease
(`claimed_by`/`claimed_until`) keeps every other worker off a claimed row, so the values of one product are sent
one at a time and the last one sent is computed from the newest counters; a push whose lease ran out re-dirties
the row (`finish_claim`), so even then the newest value is sent last.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from domain.catalog import Order, Product
from domain.clock import Clock
from domain.inventory_push import (
    DEFAULT_HOLD_HORIZON,
    InventoryPolicy,
    LinkedSku,
    OutboxClaim,
    ProductPushOutcome,
    PushAction,
    PushIntent,
    SkuPushError,
    carried_hold,
    carried_restore,
    counted_at_intent,
    fence_counts,
    hold_carried,
    hold_changed,
    hold_ends,
    hold_started,
    push_action,
    push_backoff,
    released_at_intent,
    restore_started,
    settled,
    warehouse_plan,
)
from domain.polling import MAX_CURSOR_AGE, PollSettings, initial_cursor
from domain.ports import (
    AuthorizationLostError,
    EventPublisher,
    GatewayError,
    InventoryApi,
    InventoryApiFactory,
    Page,
    PoolChange,
    ShopApi,
    ShopApiFactory,
    ShopBeingDeletedError,
    ShopGoneError,
    TaskQueue,
    TikTokUnavailableError,
    UnitOfWork,
    UnitOfWorkFactory,
    traced,
)
from domain.services.conflicts import run_again_on_conflict
from domain.services.intake import reread_product
from domain.services.inventory import after_pool_change, signal_items, store_orders
from domain.services.order_slices import UPDATE_TIME, OrderSlice, slice_pages
from domain.services.shop_tokens import StoredShopTokens, revoke_refused_authorization
from domain.shops import Shop, ShopStatus
from domain.stock_levels import InventoryUpdateResult, SkuStock
from domain.stored import ACTIVE_PRODUCT_STATUS, OrderRecord, StoredOrder
from domain.sync import RecordFailure, SyncKind

log = logging.getLogger(__name__)

DEFAULT_WAREHOUSE_TTL_SECONDS = 600.0
MAX_SEARCH_SKU_IDS = 600  # Inventory Search by sku_ids (tiktok-api.md sec. 9, live-sync.md sec. 1.2)


class PushMetrics:
    """Told of every product push (`ok` | `partial` | `retry` | `noop`: nothing to write | `not_on_sale`: refused so,
    stored so, its row left waiting; none for a push whose shop was deleted, or whose row another worker took, while
    it read the product again), its lag, drift; no-ops."""

    def push_sent(self, outcome: str) -> None:
        pass

    def push_lag(self, seconds: float) -> None:
        pass

    def drift_found(self, count: int) -> None:
        pass


# Claims finished per transaction, at most: unchanged products' (`_finish_unchanged`) and claims handed back
# (`_release`: after an import, a round pushes `batch` products and hands back the rest). Such a transaction holds the
# shop until its commit (PostgreSQL: its row FOR KEY SHARE; SQLite: the one write lock) and a shop's delete, which
# takes the shop first, waits for it: after a 500-product import, the round's 491 unchanged products (1,899
# single-row statements in one transaction, 4.5-4.8 s) kept a shopDelete waiting 3.7-4.9 s on a loaded PostgreSQL.
CLAIMS_PER_TRANSACTION = 50


@dataclass
class PushDeps:
    """`holder` names this process in leases. A run renews its claims every `renew_every` while it pushes, so
    `lease` need not outlast a slow Update Inventory with its retries, only a renewal's gap: it is how long a
    killed process's claims keep every other worker off its products (their TikTok stock meanwhile stays what the
    dead run left, above the pool's target when other shops sell)."""

    uow_factory: UnitOfWorkFactory
    inventory_api: InventoryApiFactory
    clock: Clock
    holder: str
    lease: timedelta = timedelta(seconds=30)
    renew_every: timedelta = timedelta(seconds=10)
    batch: int = 20  # rows claimed at a time
    concurrency: int = 4  # products of one shop in flight at once
    metrics: PushMetrics = field(default_factory=PushMetrics)
    events: EventPublisher | None = None  # `shopUpdated` when a refused authorization revokes the shop
    # Sends, right after their commit, the imports a token refresh of a push's session queues again when it lifts the
    # shop's revocation (`shop_tokens.store_refreshed_pair`); None (some tests): marked unsent, the scheduler's tick
    # sends them.
    queue: TaskQueue | None = None
    # The committed fence (live-sync.md sec. 7.3): read TikTok's available right before each product's write and
    # hold back the units it sold that the pool has not ingested yet (`unseen_sales`); one Inventory Search per
    # product written. A fenced round claims `fence_batch` rows; when it claims more than `concurrency`, one read
    # of all their SKUs (600 ids per Inventory Search) first finishes the products TikTok already shows at their
    # targets, with no search of their own (`_finish_unchanged`).
    fence: bool = False
    fence_batch: int = MAX_SEARCH_SKU_IDS
    # How long the fence keeps holding back units sold at TikTok that the ledger has not ingested (`carried_hold`):
    # by then an order poll has brought in a sale its webhook lost. Default: two polls of 300 s and their 30 s settle.
    hold_horizon: timedelta = DEFAULT_HOLD_HORIZON
    # Sends `push_inventory(shop_id)` after commit to the other shops whose pushes a changed hold made due
    # (`hold_changed`); None: the scheduler's tick finds them (their rows are due now).
    enqueue_push: Callable[[str], Awaitable[None]] | None = None
    # How long a stop (a cancelled run: the worker's shutdown) waits for a product whose Update Inventory is under way
    # to get TikTok's answer and record it (`_push_through_a_stop`). Below the worker's 30 s drain of cancelled work
    # (`workers.resources.SHUTDOWN_DRAIN_SECONDS`); one call answers within TikTok's 10 s request timeout, unless it is
    # retried: past this wait the claim is handed back unrecorded (README, "Pushing to TikTok").
    stop_wait: timedelta = timedelta(seconds=15)
    # How long a round (the products of one claim) may take before it is stopped as a stop stops it (its products in
    # flight waited for `stop_wait`, the claims handed back due now; one WARNING, reason `push_round_deadline`). A
    # live run renews its claims, so without it a call that never ends (an answer trickling in: httpx's timeout is
    # per read, not per request) kept every other worker off the round's products until the actor's time limit
    # (5 min). A round of `batch` products takes seconds; one of its calls, retried, at most ~75 s.
    round_deadline: timedelta = timedelta(seconds=120)
    # shop id -> (monotonic expiry, default sales warehouse id): Get Warehouses at most every 10 min per shop.
    default_warehouses: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    # The shop's orders API (the order poll's Search Orders by update time) for the fence's re-base after push on or
    # a re-authorization (`rebase_fence`); None: no re-base (the fence holds what it finds, as before tryout63 F1).
    orders_api: ShopApiFactory | None = None
    # How far before the shop's orders poll cursor the re-base's orders read starts (`SHOPBRIDGE_POLL_OVERLAP`): the
    # poll's own overlap, for changes TikTok's search index published late.
    orders_overlap: timedelta = PollSettings().overlap
    # How long after its reading of TikTok's available the re-base's orders read begins when the reading moved since
    # the last push (`SHOPBRIDGE_POLL_SETTLE`, the order poll's allowance for TikTok's search index lag): a sale made
    # right before the reading is searchable by then (`rebase_fence`).
    orders_settle: timedelta = PollSettings().settle
    # The longest orders window a push run reads for a re-base itself (from the orders poll cursor less its overlap
    # to now); a longer one is left to the shop's orders poll first (the actor's 5-minute limit: `rebase_fence`).
    orders_read_span: timedelta = timedelta(hours=6)


@dataclass
class PushReport:
    calls: int = 0  # Update Inventory calls sent
    products: int = 0  # claims finished
    rounds: int = 0  # rounds pushed (claims taken and finished)
    # Stopped at its `rounds` limit with rows still due, or at a round's deadline (its claims handed back due now):
    # the caller sends the rest on
    more_due: bool = False
    # Ended with dirty rows of the shop none could claim yet (`InventoryPushRepository.next_due`: a failed push's
    # backoff, a hold's end, another worker's lease): when the first becomes due (UTC). The caller sends the shop's
    # push for then: no message of the shop may be queued for it (a failed push's reschedule; a change marked while
    # another worker held the row, whose run the mark's message found nothing to claim in).
    due_at: datetime | None = None


async def push_shop(shop_id: str, deps: PushDeps, *, rounds: int | None = None) -> PushReport:
    """Push every due dirty product of shop `shop_id` until none is left to claim, or for at most `rounds` rounds
    (None: no limit); idempotent (nothing dirty, a revoked or expired shop, a shop with push disabled, or rows
    claimed by another worker: nothing to do).

    A round claims at most `deps.batch` rows (`deps.fence_batch` for a fenced run's first) and finishes them before
    the next. Stopped at the limit with rows still due, the report says `more_due`: the `push_inventory` actor then
    sends the shop's push again, behind the messages that waited meanwhile (a webhook waits for `rounds` rounds of
    a large push, not all of them: README, "A large push takes turns with the webhooks"). A continuation's first
    round claims `fence_batch` rows again, so the products handed back are read once more (one Inventory Search per
    600 SKUs).

    Ended with nothing left to claim now but dirty rows due later (a failed push's backoff, a hold's end, a lease of
    another worker, alive or dead), the report says when the first is due (`due_at`): the actor sends the shop's push
    for then. Without it such a row waited for the scheduler's inventory tick (up to `SHOPBRIDGE_SCHEDULER_TICK`
    after it was due: TikTok kept the older, higher stock meanwhile), and the tick was its only way out.

    When TikTok no longer honours the shop's tokens the claims are released and the shop is revoked at once
    (`revoke_refused_authorization`: REAUTHORIZATION_REQUIRED, one WARNING line), as a poll does. Any other error a
    round meets (a database error recording a result, a bug) is raised once the claims the round had not finished
    are handed back, due after a failed push's backoff (`_round_failed`; README, "A run that meets an unexpected
    error"); a shop deleted meanwhile ends the run quietly instead."""
    report = PushReport()
    # A pending re-base (`rebase_fence`) is looked for in each claim's transaction: one found there ends that
    # transaction unclaimed (`rebase`) and is done before the next claim. Looked for once a run, push turned on while
    # the run was under way (its look before it, its claim after) pushed from the old baseline, the re-base skipped
    # (stop 64: 15 units lowered in Seller Center held back, 2 runs in 6 under load); the claim's own read is what
    # closes that race, so the look reads nothing of it (rebase65). `tried`: the pending re-base this run tried;
    # failed (TikTok unavailable...) or left to the orders poll, the run pushes fenced as before.
    rebases = deps.fence and deps.orders_api is not None
    tried: datetime | None = None
    rebase: datetime | None = None
    # A fenced round claims up to `fence_batch` rows, for its one read to finish the unchanged ones; once a round
    # had to hand back products needing a write (see `_push_claims`), the others claim `batch`: a row is handed
    # back once per run, not once per round.
    limit = deps.fence_batch if deps.fence else deps.batch
    while True:
        # A look first, outside any write transaction: most messages of a burst find their rows already claimed
        # or pushed, and a claim is a write (SQLite's single writer lock, which the ledger needs too).
        async with deps.uow_factory() as uow:
            if not await uow.inventory_push.has_due(shop_id, now := deps.clock.now()):
                report.due_at = await uow.inventory_push.next_due(shop_id, now, deps.holder)
                return report
        if rebase is not None:  # before any claim: no push measures from the old baseline
            tried, rebase = rebase, None
            await rebase_fence(shop_id, deps)
        if rounds is not None and report.rounds >= rounds:
            report.more_due = True
            return report
        committing = False
        try:
            async with deps.uow_factory() as uow:
                shop = await uow.shops.get(shop_id)
                if shop is None or shop.status(deps.clock.now()) in (ShopStatus.REVOKED, ShopStatus.EXPIRED):
                    return report
                policy = await uow.inventory_push.policy(shop_id)
                if not policy.push_enabled:
                    return report
                if rebases and (found := await uow.inventory_push.rebase_pending(shop_id)) not in (None, tried):
                    rebase = found  # push turned on (or the shop re-authorized): re-based first, then claimed
                    continue
                claims = await uow.inventory_push.claim_due(shop_id, deps.holder, deps.clock.now(), deps.lease, limit)
                committing = True
                await uow.commit()
        except asyncio.CancelledError:
            # A stop during the claim's commit is raised once the commit is done (`adapters.db.sessions`): the claims
            # are taken, and nothing of this run would finish or hand them back. Back, due now (shielded: the release
            # must land), as a stop hands back every claim it cuts; else they waited for their lease to run out, and
            # then for the scheduler's tick, no message of the shop being queued for them.
            if committing and claims:
                await asyncio.shield(_release(deps, claims, SHUTDOWN_NOTE))
            raise
        if not claims:
            return report
        # The round's claims not finished yet, by product id: what an unexpected error hands back (`_round_failed`)
        unfinished = {claim.tiktok_product_id: claim for claim in claims}
        renewing = asyncio.create_task(_renew_claims(deps, shop_id))
        deadline = asyncio.timeout(deps.round_deadline.total_seconds())
        stop_note = functools.partial(_stop_note, deadline, deps.round_deadline)
        try:
            async with deadline:
                if await _push_claims(deps, shop, policy, claims, report, stop_note, unfinished):
                    limit = deps.batch
            report.rounds += 1
        except TimeoutError as exc:
            if not deadline.expired():  # not the round's deadline: an unexpected error like any other (below)
                if await _round_failed(deps, shop_id, list(unfinished.values()), exc):
                    raise
                return report
            log.warning(
                "inventory push of shop %s stopped (reason=push_round_deadline): a round of %d product(s) outlasted "
                "its %d s deadline; the products not finished are handed back for the next push",
                shop_id, len(claims), deps.round_deadline.total_seconds(),
            )  # fmt: skip
            # Handed back due now, and no message of the shop may be queued for them (this run's was): one more
            report.more_due = True
            return report
        except AuthorizationLostError as exc:  # the claims are back; nothing more is pushed until re-authorized
            await revoke_refused_authorization(
                deps.uow_factory, deps.events, deps.clock, shop, "an inventory push", exc
            )
            return report
        except Exception as exc:
            if await _round_failed(deps, shop_id, list(unfinished.values()), exc):
                raise
            return report
        finally:
            renewing.cancel()
            await asyncio.wait([renewing])  # ends within one database call (`adapters.db.sessions`)


SHUTDOWN_NOTE = "interrupted by a shutdown"
REBASE_PAGE_SIZE = 50  # orders per Search Orders page of the re-base's orders read, the poll's default
ORDERS_READ_AHEAD = timedelta(days=1)  # the re-base's orders read ends this far past now (`_read_orders`)


async def rebase_fence(shop_id: str, deps: PushDeps) -> bool:
    """Re-base the fence of a shop whose pushes could not run, when it is pending (`request_rebase`: push turned
    on, or the shop re-authorized after it was REVOKED or EXPIRED; migration 0064): True when done by this call.

    Meanwhile the merchant may have edited stock in Seller Center, and measured from the last push's baseline the
    fence took a stock lowered there for sales unseen and held it back on every shop of the item for the hold's
    horizon (tryout63 F1: 20 lowered to 5, push on, 15 units held back everywhere). Forgetting the baselines instead
    put a sale made meanwhile whose order was not ingested yet back on sale (an oversell until the order poll). So,
    in this order: (1) one Inventory Search reads TikTok's available of the shop's LINKED SKUs; (2) the shop's
    orders updated since its orders poll cursor less `orders_overlap` (the window no poll may have read yet; the
    poll's own read, Search Orders by update time, up to a day past now: all TikTok has) are stored and applied to
    the ledger, page by page, by the poll's own batch writer (`domain.services.inventory.store_orders`); (3) in one
    transaction the reading becomes each link's baseline, paired with the ledger's counts of after that read
    (`InventoryPushRepository.rebase_links`), its holds let go (their other links' pushes made due), and the shop's
    linked products made due. Every sale made before the reading is in the counts (the orders read came after it)
    and its fall in the reading: no unseen sale is forgiven, and no Seller Center edit is held back. A sale between
    the reading and the orders read is in both the counts and TikTok's fall since the reading: the next push holds
    it back though ingested, for the hold's horizon (undersold, never oversold); a sale after the orders read is held
    back by the fence as any unseen sale.

    TikTok's order search lags its stock: an order is searchable `orders_settle` after it is made at the latest (the
    order poll's own rule, `SHOPBRIDGE_POLL_SETTLE`). So when the reading shows a linked SKU at another quantity than
    its last push recorded (a sale or an edit since), step 2 begins no sooner than `orders_settle` after the reading
    (a wait in this run; the shop's pushes wait with it): a sale made in the seconds before the reading whose webhook
    was lost is then in the orders read, not taken for an edit and put back on sale until the next order poll
    (stop 64's note, section 2; rebase65). Unchanged readings (and links never pushed, which the fence measures
    nothing of) cannot hide such a sale, but for an edit raising the stock by exactly the units sold: no wait.

    The orders read runs in this push run (the actor's 5-minute limit); a window longer than `orders_read_span` (the
    orders poll cursor far behind: a shop revoked for days, whose polls stopped) is left to the shop's orders poll
    (the catch-up poll after its re-authorization, in the sync engine's actor, resumable): nothing is done (False,
    one INFO line), the re-base stays pending, and a push run after that poll re-bases with a short read.

    Run by a push run of the shop (`push_shop`) whose claim's transaction found it pending, before it claims
    anything, so no push of the shop measures from the old baseline once the re-base can be done (a shop with
    nothing due pushes nothing, so measures nothing, until a row is due). Nothing is done (False) without a pending
    re-base, with the fence off, without `orders_api`, for a shop gone, revoked, expired or with push off. The
    reading or the orders read failing (TikTok unavailable or refusing, the shop's authorization lost, an order
    TikTok answers unreadable), the shop being deleted, or another run re-basing first: nothing of the re-base is
    written, one WARNING (INFO for the race) says why, it stays pending, and the push goes on as before, its fence
    holding what it finds (undersold at worst); the next push run tries again. A worker killed anywhere before step
    3's commit leaves it pending: the next run does it all again (the orders stored are stored once)."""
    if not deps.fence or deps.orders_api is None:
        return False
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        pending = await uow.inventory_push.rebase_pending(shop_id)
        if pending is None:
            return False
        shop = await uow.shops.get(shop_id)
        if shop is None or shop.status(now) in (ShopStatus.REVOKED, ShopStatus.EXPIRED):
            return False
        if not (await uow.inventory_push.policy(shop_id)).push_enabled:
            return False
        links = await uow.inventory_push.links_to_rebase(shop_id)
        since = await _orders_read_since(uow, shop, now, deps.orders_overlap)
    if now - since > deps.orders_read_span:
        log.info(
            "the push fence's re-base of shop %s waits for its orders poll: its orders since %s are more than %s to "
            "read in a push run; its fence holds what it finds meanwhile", shop_id, since.isoformat(),
            deps.orders_read_span,
        )  # fmt: skip
        return False
    try:
        read_at = deps.clock.now()
        shown, _ = await read_available(_api(deps, shop), [tiktok_sku_id for _, tiktok_sku_id, _ in links])
        readings = {sku_id: shown[tiktok_sku_id] for sku_id, tiktok_sku_id, _ in links if tiktok_sku_id in shown}
        if any(pushed is not None and readings.get(sku_id, pushed) != pushed for sku_id, _, pushed in links):
            await _search_settled(deps, read_at)
        orders = await _read_orders(deps, shop, since)
        done = await run_again_on_conflict(
            functools.partial(_rebase_links, deps, shop, pending, readings, read_at),
            f"the fence's re-base of shop {shop_id}",
        )
    except (GatewayError, _OrdersUnread, ShopGoneError, ShopBeingDeletedError) as exc:
        log.warning(
            "could not re-base the push fence of shop %s (reason=%s); its fence holds what it finds until a later "
            "push re-bases it", shop_id, _reason(exc),
        )  # fmt: skip
        return False
    if done:
        log.info(
            "re-based the push fence of shop %s on TikTok's reading of %d SKU(s) after reading %d order(s) since %s",
            shop_id, len(readings), orders, since.isoformat(),
        )  # fmt: skip
    else:
        log.info("the push fence of shop %s was re-based by another run meanwhile", shop_id)
    return done


async def _search_settled(deps: PushDeps, read_at: datetime) -> None:
    """Wait until `deps.orders_settle` has passed since `read_at` (`deps.clock`): every order made before the reading
    is searchable then (`rebase_fence`). Cancelled (a stop), nothing of the re-base is written."""
    left = (read_at + deps.orders_settle - deps.clock.now()).total_seconds()
    if left > 0:
        await asyncio.sleep(left)


class _OrdersUnread(Exception):
    """The re-base's orders read met an order TikTok answered unreadable: not every sale is in the ledger."""


async def _orders_read_since(uow: UnitOfWork, shop: Shop, now: datetime, overlap: timedelta) -> datetime:
    """Where the re-base's orders read starts (UTC): the shop's orders poll cursor (every change before it is stored;
    else where its first poll would start, `initial_cursor`) less `overlap`, never before TikTok's 90-day horizon."""
    cursor = await uow.poll_cursors.get(shop.id, SyncKind.ORDERS)
    cursor_at = cursor.cursor_at if cursor is not None else None
    if cursor_at is None:
        last_import = await uow.sync_tasks.last_succeeded(shop.id, SyncKind.ORDERS, scheduled=False)
        cursor_at = initial_cursor(shop, last_import, now)
    return max(cursor_at - overlap, now - MAX_CURSOR_AGE)


async def _read_orders(deps: PushDeps, shop: Shop, since: datetime) -> int:
    """The orders of `shop` updated from `since` on (up to `ORDERS_READ_AHEAD` past now), stored and applied to the
    ledger page by page, one transaction a page, by the order poll's batch writer (`inventory.store_orders`: the
    pushes of the other shops and the signals its changes ask are sent after each commit). Returns how many orders
    were read. Raises `_OrdersUnread` at an order TikTok answered unreadable (its page not stored), and
    `GatewayError` as the API does."""
    assert deps.orders_api is not None
    api = deps.orders_api(shop, StoredShopTokens(deps.uow_factory, deps.clock, shop, deps.events, deps.queue))
    # Up to a day past now: every order TikTok has when it answers, whatever its clock says (a sale TikTok stamped
    # a few seconds ahead of ours, left out, would be forgiven by the re-base: its fall is in the reading)
    ge, lt = int(since.timestamp()), int((deps.clock.now() + ORDERS_READ_AHEAD).timestamp())
    plan = [OrderSlice(ge=ge, lt=lt, resume_ge=ge, by=UPDATE_TIME)]
    count = 0
    async for chunk in slice_pages(functools.partial(_search_updated, api), plan, 0, REBASE_PAGE_SIZE):
        if any(isinstance(item, RecordFailure) for item in chunk.items):
            raise _OrdersUnread("an order of the read is unreadable")
        orders = [item for item in chunk.items if isinstance(item, (StoredOrder, Order))]
        if orders:
            await run_again_on_conflict(
                functools.partial(_store_orders, deps, shop, orders), f"the re-base's orders of shop {shop.id}"
            )
        count += len(orders)
    return count


async def _search_updated(api: ShopApi, page_size: int, token: str | None, ge: int, lt: int) -> Page[OrderRecord]:
    return await api.search_updated_orders(page_size=page_size, page_token=token, update_time_ge=ge, update_time_lt=lt)


@dataclass(frozen=True)
class _OtherShops:
    """`inventory.PushQueue` over `PushDeps.enqueue_push`, leaving out `shop_id` (the push run re-basing it pushes
    its own rows); without `enqueue_push` nothing is sent (the scheduler's tick finds the rows due)."""

    enqueue: Callable[[str], Awaitable[None]] | None
    shop_id: str

    async def enqueue_inventory_push(self, shop_id: str) -> None:
        if self.enqueue is not None and shop_id != self.shop_id:
            await self.enqueue(shop_id)


async def _store_orders(deps: PushDeps, shop: Shop, orders: Sequence[OrderRecord]) -> None:
    async with deps.uow_factory() as uow:
        if not await uow.shops.hold_unless_deleting(shop.id):
            raise ShopGoneError(shop.id)
        await store_orders(uow, _OtherShops(deps.enqueue_push, shop.id), deps.events, shop.id, orders)
        await uow.commit()


async def _rebase_links(
    deps: PushDeps, shop: Shop, pending: datetime, readings: Mapping[str, int], read_at: datetime
) -> bool:
    """Step 3 of `rebase_fence`, one transaction: False when the re-base is no longer pending as read."""
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        if not await uow.shops.hold_unless_deleting(shop.id):
            raise ShopGoneError(shop.id)
        items = await uow.inventory_push.rebase_links(shop.id, pending, readings, read_at, now)
        if items is None:
            return False
        others = await uow.inventory_push.mark_item_links_dirty(sorted(items), now, (shop.id, "")) if items else []
        await uow.inventory_push.mark_dirty(shop.id, await uow.inventory_push.linked_products(shop.id), now)
        change = PoolChange(frozenset(items), frozenset(others), shop.merchant_id)
        after_pool_change(uow, _OtherShops(deps.enqueue_push, shop.id), deps.events, change)
        await uow.commit()
    return True


def _stop_note(deadline: asyncio.Timeout, seconds: timedelta) -> str:
    """The note (`last_error`) on the claims a round hands back when it is cut: its deadline when that is what
    cancelled it (`deadline` has expired: asyncio cancels the round then), else a stop of the worker."""
    if deadline.expired():
        return f"stopped at the push round's {seconds.total_seconds():g} s deadline (reason=push_round_deadline)"
    return SHUTDOWN_NOTE


async def _renew_claims(deps: PushDeps, shop_id: str) -> None:
    """Keep this run's claims of the shop leased while it pushes (until cancelled). A renewal the database refuses
    is left to the next one; the push meets the same outage in its own writes. Each failed renewal is one WARNING
    naming the shop and the reason (`_reason`: the error's class and first line, no traceback, no token): past the
    lease another worker may take the products and push them beside this run, which an operator must be able to
    see (it was logged at DEBUG, so never)."""
    while True:
        await asyncio.sleep(deps.renew_every.total_seconds())
        try:
            async with deps.uow_factory() as uow:
                await uow.inventory_push.renew_claims(shop_id, deps.holder, deps.clock.now(), deps.lease)
                await uow.commit()
        except Exception as exc:
            log.warning(
                "could not renew the push claims of shop %s (reason=%s); tried again in %d s, the claims lapse "
                "%d s after the last renewal",
                shop_id, _reason(exc), deps.renew_every.total_seconds(), deps.lease.total_seconds(),
            )  # fmt: skip


MAX_REASON_CHARS = 200


def _reason(error: BaseException) -> str:
    """`error` in one short line for a log: its class and the first line of its message (a database driver's first
    line names the failure; the lines after it carry the statement and its parameters), at most
    `MAX_REASON_CHARS` characters."""
    lines = str(error).strip().splitlines()
    reason = f"{type(error).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


async def _shop_exists(deps: PushDeps, shop_id: str) -> bool:
    async with deps.uow_factory() as uow:
        return await uow.shops.get(shop_id) is not None


async def _round_failed(deps: PushDeps, shop_id: str, unfinished: Sequence[OutboxClaim], error: Exception) -> bool:
    """After a round met an unexpected error (not a stop, its deadline or a lost authorization: a database error
    recording a result, a bug), whether `push_shop` raises it. False: the shop was deleted meanwhile (its outbox went
    with it; a write of ours then breaks a foreign key), one INFO line: nothing is left to push, and TikTok is never
    touched for a deleted shop. Else the claims the round had not finished are handed back first (`_hand_back`): the
    actor's retry, or another worker, pushes them after a short backoff, not once their lease (30 s) and then the
    scheduler's tick have passed, TikTok showing the older, higher stock meanwhile."""
    try:
        exists = await _shop_exists(deps, shop_id)
    except Exception:  # the database cannot say (down too, most likely): `error` is raised as it is, not this one
        exists = True
    if not exists:
        log.info("inventory push of shop %s stopped: the shop was deleted", shop_id)
        return False
    if unfinished:
        # Shielded: a stop now still lets the hand-back land (as a stop's own `_release` does), then is raised
        await asyncio.shield(_hand_back(deps, shop_id, unfinished, error))
    return True


async def _hand_back(deps: PushDeps, shop_id: str, claims: Sequence[OutboxClaim], error: Exception) -> None:
    """Best effort, never raises: give back `claims` (unfinished by a round that met `error`), each due after
    `push_backoff` of its attempts and noted with the error (`last_error`: `the push run failed: <class>: <first
    line>`), as a failed push of the product is (`_record`): a persistent error backs off (2 s doubling, capped at 30
    min) instead of looping hot. One WARNING line either way, with the reason (`_reason`: no traceback, no token;
    the actor logs the error's traceback as it fails); a hand-back that fails itself leaves the claims to their
    lease (at most `deps.lease`)."""
    reason = _reason(error)
    try:
        await _release(deps, claims, f"the push run failed: {reason}", backoff=True)
    except Exception as exc:
        log.warning(
            "inventory push of shop %s failed (reason=%s); its %d unfinished claim(s) could not be handed back "
            "(reason=%s): they lapse with their lease, within %d s",
            shop_id, reason, len(claims), _reason(exc), deps.lease.total_seconds(),
        )  # fmt: skip
        return
    log.warning(
        "inventory push of shop %s failed (reason=%s): its %d unfinished claim(s) handed back, due again after "
        "their backoff",
        shop_id, reason, len(claims),
    )  # fmt: skip


async def _push_claims(
    deps: PushDeps,
    shop: Shop,
    policy: InventoryPolicy,
    claims: Sequence[OutboxClaim],
    report: PushReport,
    stop_note: Callable[[], str],
    unfinished: dict[str, OutboxClaim],
) -> bool:
    """Push the claimed products, `deps.concurrency` at a time; every claim is finished even if one fails. Returns
    whether claims were handed back unpushed (see below). A round cut (a stop, its deadline) hands its unfinished
    claims back due now with the note `stop_note()` says, read when they are handed back. `unfinished` (by product
    id): each claim is taken out of it once finished or handed back; what is left when this raises is what the
    round still holds (`_round_failed`).

    A fenced round of more than `deps.concurrency` claims (a catalog's worth, as after an import) first reads TikTok's
    available of all their SKUs together, only to finish the products with nothing to write (`_finish_unchanged`).
    Every product that needs a write is pushed as in any round, with its own reading right before its write: the
    gap in which a sale at TikTok can be overwritten stays one round trip, however many products were claimed. At
    most `deps.batch` of them are pushed in the round and the others handed back due now (one transaction), so the
    round lasts no longer than a round of `deps.batch` products did before the batch read (within the lease)."""
    api, limit = _api(deps, shop), asyncio.Semaphore(deps.concurrency)
    read_error: Exception | None = None
    later: Sequence[OutboxClaim] = ()
    if deps.fence and len(claims) > deps.concurrency:
        try:
            to_write = await _finish_unchanged(deps, api, shop, policy, claims, report, unfinished)
        except asyncio.CancelledError:  # a stop during the round's read: every claim back, due now (see below)
            await asyncio.shield(_release(deps, claims, stop_note()))
            raise
        except Exception as exc:  # each product meets the read's failure in its push, as it met its own read's
            read_error = exc
        else:
            claims, later = to_write[: deps.batch], to_write[deps.batch :]
    if later:  # pushed by the next rounds, each read again then
        try:
            await asyncio.shield(_release(deps, later, error=None))
        except asyncio.CancelledError:
            await asyncio.shield(_release(deps, claims, stop_note()))
            raise
        for claim in later:
            unfinished.pop(claim.tiktok_product_id, None)

    async def one(claim: OutboxClaim) -> None:
        started = False
        try:
            async with limit:
                started = True
                # Not `report.calls += await ...`: that reads the count before the await, and the products in
                # flight beside this one would overwrite each other's calls.
                calls = await _push_through_a_stop(deps, api, shop, policy, claim, stop_note, read_error)
            unfinished.pop(claim.tiktok_product_id, None)
            report.calls += calls
        except asyncio.CancelledError:
            if not started:
                # A stop while the push waited its turn: hand the row back due now (shielded: the release must
                # land), so the restarted process or another worker sends it at once, not when the lease runs out
                # later while TikTok still shows the older, higher stock. A crash still waits for the (short) lease.
                await asyncio.shield(_release(deps, [claim], stop_note()))
            raise
        report.products += 1

    results = await asyncio.gather(*(one(claim) for claim in claims), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return bool(later)


async def _finish_unchanged(
    deps: PushDeps,
    api: InventoryApi,
    shop: Shop,
    policy: InventoryPolicy,
    claims: Sequence[OutboxClaim],
    report: PushReport,
    unfinished: dict[str, OutboxClaim],
) -> list[OutboxClaim]:
    """Read the claimed products' links (`linked_skus_of`: one statement, not one per product) and TikTok's available
    of all their SKUs (`_unseen`: ceil(SKUs / 600) Inventory Search calls); finish the claims of the products with
    nothing to write (no linked SKU, or TikTok shows every target once the unseen sales are held back), as their own
    push would have, `CLAIMS_PER_TRANSACTION` a transaction.
    Returns the other claims, in claim order: each needs a write, and so a reading of its own right before it.
    Raises what the reads raise (no claim finished). Each claim finished is taken out of `unfinished` once its
    transaction commits."""
    computed_at = deps.clock.now()
    async with deps.uow_factory() as uow:
        links = await uow.inventory_push.linked_skus_of(
            shop.id, [claim.tiktok_product_id for claim in claims], holds_since=computed_at - deps.hold_horizon
        )
    every = [link for found in links.values() for link in found]
    held, shown, restored, _, carried = (
        await _unseen(deps, api, shop, every, computed_at) if every else ({}, {}, {}, {}, {})
    )
    unchanged: list[tuple[OutboxClaim, ProductPushOutcome]] = []
    to_write: list[OutboxClaim] = []
    for claim in claims:
        found = _holding(links[claim.tiktok_product_id], held)
        if _to_send(found, shown, policy):
            to_write.append(claim)
        else:
            targets = {link.sku_id: policy.target(link.available) for link in found}
            outcome = ProductPushOutcome(
                pushed=targets, computed_at=computed_at, held=held, restored=restored, held_carried=carried
            )
            outcome.ingested = {link.sku_id: link.ingested for link in found}
            outcome.ingested_base = {link.sku_id: link.ingested_at_push for link in found}
            outcome.released_base = {link.sku_id: link.released_at_push for link in found}
            outcome.held_elsewhere_since = _held_elsewhere_since(found)
            outcome.base_items = {link.sku_id: link.inventory_item_id for link in found}
            outcome.base_pushed = {link.sku_id for link in found if link.pushed_at is not None}
            outcome.released = {link.sku_id: link.released for link in found}
            outcome.holds_moved = _holds_moved(deps, found, outcome, computed_at)
            unchanged.append((claim, outcome))
    unchanged.sort(key=lambda finished: finished[0].tiktok_product_id)  # as `_in_product_order`, and for its reason
    for start in range(0, len(unchanged), CLAIMS_PER_TRANSACTION):
        finished = unchanged[start : start + CLAIMS_PER_TRANSACTION]
        what = f"the push of shop {shop.id}: {len(finished)} unchanged products"
        if not await run_again_on_conflict(functools.partial(_record_unchanged, deps, shop, finished), what):
            return []  # deleted meanwhile: its links and outbox went with it
        for claim, _ in finished:
            unfinished.pop(claim.tiktok_product_id, None)
        for _ in finished:
            deps.metrics.push_sent("noop")
        report.products += len(finished)
    return to_write


async def _record_unchanged(
    deps: PushDeps, shop: Shop, finished: Sequence[tuple[OutboxClaim, ProductPushOutcome]]
) -> bool:
    """`_finish_unchanged`'s transaction for `finished` (at most `CLAIMS_PER_TRANSACTION`); False: the shop is gone."""
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        if await uow.shops.get(shop.id) is None:  # the shop first, as a shop's delete takes it
            return False
        # Their links all at once, in the order every writer of links takes them, before the first product's:
        # recorded product after product, an order batch holding some of them at once deadlocked with it (40P01, the
        # orders import's page aborted; `adapters.db.repositories.inventory.writer`)
        await uow.inventory_push.hold_links(shop.id, {sku_id for _, outcome in finished for sku_id in outcome.pushed})
        # then their outbox rows all at once in (shop, product) order, with those their moved holds mark: marked
        # product after product, the push held one product's other shops' rows before the next product's own rows,
        # and a webhook batch marking some of the same rows in their order deadlocked with it (40P01; the batch's run
        # failed, review51)
        await uow.inventory_push.hold_push_rows(
            [(claim.shop_id, claim.tiktok_product_id) for claim, _ in finished],
            {item for _, outcome in finished for item in outcome.holds_moved},
        )
        for claim, outcome in finished:
            await _record(deps, uow, claim, outcome, now, shop.merchant_id)
        await uow.commit()
    return True


async def _push_through_a_stop(
    deps: PushDeps,
    api: InventoryApi,
    shop: Shop,
    policy: InventoryPolicy,
    claim: OutboxClaim,
    stop_note: Callable[[], str],
    read_error: Exception | None = None,
) -> int:
    """`_push_product` in a task of its own, which a stop (this task cancelled) cannot cut between TikTok's answer
    and its record. Returns the Update Inventory calls made; raises what `_push_product` raises.

    Once the product's Update Inventory has reached TikTok, TikTok applies it whether or not we wait (cancelling the
    push ends its request, `adapters.tiktok.transport.sent_whole`, but not what TikTok read); a record left undone makes
    the fence take the values TikTok accepted, against the last ones recorded, for sales it has not seen, and hold them
    back for a whole horizon.
    So a stop then waits for the push to record TikTok's answer and finish the claim, at most `deps.stop_wait`,
    and is raised after it (`CancelledError`). A stop before the call (a fence's reading, the links), after a refusal
    as not on sale (the product's read again, `_left_not_on_sale`: the refused call's intents are withdrawn before
    it), or past the wait, cancels the push and hands the claim back due now (`_release`)."""
    sending = asyncio.Event()
    pushing = asyncio.create_task(_push_product(deps, api, shop, policy, claim, read_error, sending))
    pushing.add_done_callback(_retrieve)
    try:
        return await asyncio.shield(pushing)
    except asyncio.CancelledError:
        if pushing.done():  # the push itself was cancelled, not this task: nothing of it to wait for
            await asyncio.shield(_release(deps, [claim], stop_note()))
            raise
        if sending.is_set():
            await asyncio.wait([pushing], timeout=deps.stop_wait.total_seconds())
        if pushing.done() and not pushing.cancelled() and pushing.exception() is None:
            raise  # TikTok's answer recorded, the claim finished
        pushing.cancel()
        await asyncio.wait([pushing])  # ends within one database call (`adapters.db.sessions`)
        await asyncio.shield(_release(deps, [claim], stop_note()))
        raise


def _retrieve(task: asyncio.Task[int]) -> None:
    """A push a stop left (cancelled, or failed while nobody waited): its exception is retrieved, not logged as
    never retrieved; the claim is handed back by `_push_through_a_stop`."""
    if not task.cancelled():
        task.exception()


async def _product_links(deps: PushDeps, shop: Shop, claim: OutboxClaim, computed_at: datetime) -> list[LinkedSku]:
    """The claimed product's linked SKUs with their items' counters and the ledger's counts, read at `computed_at`."""
    async with deps.uow_factory() as uow:
        return await uow.inventory_push.linked_skus(
            shop.id, claim.tiktok_product_id, holds_since=computed_at - deps.hold_horizon
        )


async def _push_product(
    deps: PushDeps,
    api: InventoryApi,
    shop: Shop,
    policy: InventoryPolicy,
    claim: OutboxClaim,
    read_error: Exception | None = None,
    sending: asyncio.Event | None = None,
) -> int:
    """Send one product's targets; finish the claim. Returns the Update Inventory calls made. With the fence, TikTok's
    available of its SKUs is read right before the write (`_unseen`); `read_error`: the round's reading failed with
    it, and the product is finished as if its own reading had. `sending` is set right before the first Update
    Inventory, before its intent is committed (`_push_through_a_stop`), and cleared once TikTok refused that call as
    not on sale and its intents are withdrawn (`_withdraw`): the product's read after it is no call under way."""
    computed_at = deps.clock.now()
    outcome, calls = ProductPushOutcome(computed_at=computed_at), 0
    links = await _product_links(deps, shop, claim, computed_at)
    held: dict[str, tuple[int, datetime | None]] = {}
    applied: dict[str, PushIntent] = {}
    recorded: dict[str, PushIntent] = {}  # those of `applied` recorded on their links before the call (`_intend`)
    reread: set[str] = set()  # the links read again after a refusal (`_refresh_warehouses`)
    unanswered: dict[str, PushIntent] = {}  # the intents of the call under way (fenced)
    answered = 0  # Update Inventory calls TikTok answered
    try:
        if links:
            readings = 0
            while True:
                links = _holding(links, held)  # the other links' holds, whether this push fences or not
                to_send = list(links)
                if deps.fence:
                    if read_error is not None:
                        raise read_error
                    held, shown, outcome.restored, applied, outcome.held_carried = await _unseen(
                        deps, api, shop, links, computed_at
                    )
                    outcome.held = held
                    links = _holding(links, held, own_only=True)
                    to_send = _to_send(links, shown, policy)
                failures: dict[str, SkuPushError] = {}
                default = await _default_warehouse(deps, api, shop, to_send) if to_send else None
                if to_send and sending is not None:
                    # A stop from here waits for the call (`_push_through_a_stop`): an intent committed is always sent
                    sending.set()
                if not (to_send and deps.fence):
                    break
                # right before the call: a death between the two is taken for one after it
                unanswered = _intents(to_send, policy, outcome, computed_at, applied)
                readings += 1
                counted = {link.tiktok_sku_id: (link.ingested, link.released) for link in to_send}
                intended = await _intend(
                    deps, shop, unanswered, applied, counted if readings < FENCE_READINGS else None
                )
                if intended is Intended.COMMITTED:
                    recorded = applied
                    break
                if intended is Intended.GONE:
                    to_send = []  # the shop was deleted meanwhile: TikTok is not touched (`_finish` records nothing)
                    break
                # An order batch landed since the reading (`Intended.MOVED`): nothing committed, nothing sent; the pool
                # and TikTok read again, as a new push would
                unanswered, held, applied = {}, {}, {}
                if sending is not None:
                    sending.clear()
                computed_at = deps.clock.now()
                outcome = ProductPushOutcome(computed_at=computed_at)
                links = await _product_links(deps, shop, claim, computed_at)
            if to_send:
                result = await _send(api, claim.tiktok_product_id, to_send, policy, default)
                calls, answered, unanswered = calls + 1, answered + 1, {}
                failures = outcome.failed = _failures(result, to_send)
                refresh = [sku_id for sku_id, e in failures.items() if e.action is PushAction.REFRESH_WAREHOUSES]
                if refresh:  # the SKUs' warehouses changed at TikTok: read them again and retry those SKUs once
                    _, retried = await _refresh_warehouses(deps, api, shop, claim.tiktok_product_id, refresh)
                    retried = _holding(retried, held)
                    # The other SKUs are recorded as this push read them: what TikTok took (or showed already) was
                    # computed from those counters, not from the ones read again now
                    again = {link.sku_id: link for link in retried}
                    reread = set(again)
                    links = [again.get(link.sku_id, link) for link in links]
                    if retried and deps.fence:
                        unanswered = _intents(retried, policy, outcome, computed_at)
                        await _intend(deps, shop, unanswered, {})
                    if retried:
                        result = await _send(api, claim.tiktok_product_id, retried, policy, default)
                        calls, answered, unanswered = calls + 1, answered + 1, {}
                        failures = {k: v for k, v in failures.items() if k not in refresh} | _failures(result, retried)
            targets = {link.sku_id: policy.target(link.available) for link in links}
            outcome.pushed = {sku: qty for sku, qty in targets.items() if sku not in failures}
            outcome.ingested = {link.sku_id: link.ingested for link in links}  # read with the targets' counters
            bases = {link.sku_id: fence_base(link, recorded, reread) for link in links}
            outcome.ingested_base = {sku_id: ingested for sku_id, (ingested, _) in bases.items()}
            outcome.released_base = {sku_id: released for sku_id, (_, released) in bases.items()}
            outcome.held_elsewhere_since = _held_elsewhere_since(links)
            outcome.base_items = {link.sku_id: link.inventory_item_id for link in links}
            outcome.base_pushed = {link.sku_id for link in links if link.pushed_at is not None}
            outcome.released = {link.sku_id: link.released for link in links}
            outcome.failed = failures
            outcome.holds_moved = _holds_moved(deps, links, outcome, computed_at)
            outcome.retry = any(
                e.action in (PushAction.RETRY, PushAction.REFRESH_WAREHOUSES) for e in failures.values()
            )
            if failures:
                first = next(iter(failures.values()))
                outcome.error = f"{len(failures)} SKU(s) refused, e.g. {first.code} {first.message}"
    # A call that failed without a refusal of it leaves its intents, doubted (`PushIntent.failed`): the next push
    # takes it as applied only if TikTok's reading says so. The SKUs an earlier call of this push refused are
    # recorded as refused (`outcome.failed`); those it took keep their intents, settled by the next push.
    except TikTokUnavailableError as exc:
        outcome.retry, outcome.error = True, f"TikTok unavailable: {exc}"
        outcome.doubtful = _doubted(unanswered)
    except AuthorizationLostError as exc:
        lost = ProductPushOutcome(retry=True, error=f"authorization lost: {exc}", doubtful=_doubted(unanswered))
        await _finish(deps, claim, lost)
        raise
    except GatewayError as exc:  # the whole call refused (e.g. the product is gone): not retried as is
        code = getattr(exc, "code", None)
        outcome.error = f"TikTok refused the update: {exc}"
        outcome.retry = isinstance(code, int) and push_action(code) is PushAction.RETRY
        if isinstance(code, int):
            # Every link when no call was answered (the product's own refusal); else the SKUs of the refused call
            refused = [link for link in links if not answered or link.sku_id in unanswered]
            outcome.failed = {link.sku_id: SkuPushError(code, str(exc)) for link in refused}
            if not answered and push_action(code) is PushAction.NOT_ON_SALE:
                # The product left sale after the claim (its status was stored ACTIVATE): a fact, not a failed push.
                # TikTok kept what it had: the refused call's intents go first, in a transaction of their own; the
                # read after it (Get Product, Search Products: up to 16 calls, each retried) is no call under way, so
                # a stop from there cancels the push at once and hands the claim back with nothing left to settle.
                # (Cleared only after the read, a stop during it left them taken for sent: `settled` then took
                # TikTok's unchanged value for sales unseen, held back for the horizon.)
                if unanswered:
                    await _withdraw(deps, claim, unanswered)
                if sending is not None:
                    sending.clear()
                try:
                    read_again = await _left_not_on_sale(deps, api, shop, claim)
                except TikTokUnavailableError as unavailable:  # its status unread: no error shown, tried again
                    outcome.failed, outcome.retry = {}, True
                    outcome.error = f"{outcome.error}; Get Product, to read its status: {unavailable}"
                except AuthorizationLostError as lost_now:
                    await _finish(deps, claim, ProductPushOutcome(retry=True, error=f"authorization lost: {lost_now}"))
                    raise
                else:
                    if read_again is Reread.LEFT:
                        deps.metrics.push_sent("not_on_sale")
                    if read_again in (Reread.LEFT, Reread.GONE):
                        return calls
                    if read_again is Reread.ON_SALE:  # TikTok did not take the value, yet sells the product: again
                        outcome.retry = True
                        outcome.error = f"{outcome.error}; Get Product reads it {ACTIVE_PRODUCT_STATUS}"
        else:
            outcome.doubtful = _doubted(unanswered)
    await _finish(deps, claim, outcome)
    deps.metrics.push_sent("retry" if outcome.retry else "partial" if outcome.failed else "ok" if calls else "noop")
    if not outcome.retry and claim.dirty_since is not None and calls:
        deps.metrics.push_lag(max(0.0, deps.clock.now().timestamp() - claim.dirty_since))
    return calls


class Reread(Enum):
    """What reading again a product Update Inventory refused as not on sale found (`_left_not_on_sale`)."""

    LEFT = "LEFT"  # stored in another status than ACTIVATE: the claim given back untouched, the row waits dirty
    ON_SALE = "ON_SALE"  # TikTok serves it ACTIVATE (stored so): the refusal is retried after its backoff
    UNREAD = "UNREAD"  # nothing read to store (refused, garbled, never stored), still ACTIVATE: recorded as refused
    GONE = "GONE"  # the shop deleted, or its row another worker's now: nothing of this push to record


async def _withdraw(deps: PushDeps, claim: OutboxClaim, refused: Mapping[str, PushIntent]) -> None:
    """Clear the intents of a call TikTok refused as a whole (`refused`, by Shopbridge SKU id: TikTok kept what it had;
    `ProductPushOutcome.withdrawn`), in one transaction; only while this run holds the claim (another worker's push
    of the product since has recorded its own intents on the links), and not for a shop deleted meanwhile."""
    async with deps.uow_factory() as uow:
        if await uow.shops.get(claim.shop_id) is None:  # the shop first, as a shop's delete takes it
            return  # deleted meanwhile: its links and outbox went with it
        if await uow.inventory_push.holds_claim(claim, deps.holder):
            withdrawn = ProductPushOutcome(withdrawn=set(refused))
            await uow.inventory_push.record_link_results(claim.shop_id, withdrawn, deps.clock.now())
            await uow.commit()


async def _left_not_on_sale(deps: PushDeps, api: InventoryApi, shop: Shop, claim: OutboxClaim) -> Reread:
    """After Update Inventory refused the claimed product as a whole as not on sale (`PushAction.NOT_ON_SALE`:
    12052901, its status does not allow it; 12052048, not in the shop), with its status stored ACTIVATE (a claim takes
    no other: the seller deactivated it, or TikTok froze or deleted it, after the claim, or before a webhook or poll
    told us): read the product again and store it as a webhook naming it would (`intake.reread_product`: Get Product,
    Search Products for one it no longer serves; live-sync.md sec. 1.1's table: "re-fetch product, relink"), then,
    stored in another status, give the claim back untouched (`leave_claim`): its row waits, dirty, as a claim skipping
    it would leave it (`inventory_push._ON_SALE`), with no push error shown, until the product is stored ACTIVATE
    again (`outbox.waiting_on_sale` enqueues the shop's push then). One transaction after the read, as a webhook's
    batch stores it. The caller has cleared the refused call's intents already (`_withdraw`).

    Re-read rather than marked: the refusal does not say the status (12052901 covers a draft, a review, a
    deactivation, a freeze; 12052048 a deletion or a product gone), and TikTok may have put the product back on sale
    since. Returns what it found (`Reread`): LEFT, ON_SALE (read and stored ACTIVATE, or read in a version older than
    the stored ACTIVATE one), UNREAD (nothing read to store), GONE (the shop deleted meanwhile, or the row claimed by
    another worker since: its push meets the status stored now). Raises what Get Product raises
    (`TikTokUnavailableError`, `AuthorizationLostError`)."""
    record = await reread_product(deps.uow_factory, deps.clock, shop, api, claim.tiktok_product_id)
    async with deps.uow_factory() as uow:
        if await uow.shops.get(shop.id) is None:  # the shop first, as a shop's delete takes it
            return Reread.GONE  # deleted meanwhile: its links and outbox went with it
        change = PoolChange()
        if record is not None:  # the catalog's writers' turn first, then the pool's (`intake.store_fetched`)
            await uow.catalog.upsert_products(shop.id, [record])
            read_at = {record.tiktok_product_id: record.stock_read_at} if record.stock_read_at is not None else {}
            change = await uow.inventory.auto_link(shop.id, [record.tiktok_product_id], read_at)
        known = await uow.catalog.known_product(shop.id, claim.tiktok_product_id)
        found = Reread.UNREAD if record is None else Reread.ON_SALE
        if known is not None and known.status != ACTIVE_PRODUCT_STATUS:
            found = Reread.GONE
            if await uow.inventory_push.holds_claim(claim, deps.holder):
                await uow.inventory_push.leave_claim(claim, deps.holder)
                found = Reread.LEFT
        uow.after_commit(functools.partial(_after_reread, deps, shop, change))
        await uow.commit()
    if found is Reread.LEFT:
        log.info(
            "inventory push of shop %s: TikTok refused product %s as not on sale; stored %s, its push waits until it "
            "is ACTIVATE again",
            shop.id, claim.tiktok_product_id, known.status if known is not None else "?",
        )  # fmt: skip
    return found


async def _after_reread(deps: PushDeps, shop: Shop, change: PoolChange) -> None:
    """After the commit of a product read again (`_left_not_on_sale`): the pushes its links' change made due in other
    shops (a DELETED product's links DROPPED move their items; this run claims its own shop's rows again before it
    ends, as `_record` leaves them), and its items' signals, as `inventory.after_pool_change`."""
    if deps.enqueue_push is not None:
        for shop_id in sorted(change.push_shop_ids - {shop.id}):
            try:
                await deps.enqueue_push(shop_id)
            except Exception as exc:  # the outbox row stays dirty: the scheduler's tick sends it later
                log.warning("could not enqueue the inventory push of shop %s: %s", shop_id, exc, exc_info=traced(exc))
    if deps.events is not None and change.item_ids:
        await signal_items(deps.events, change.merchant_id or shop.merchant_id, change.item_ids)


def fence_base(
    link: LinkedSku, recorded: Mapping[str, PushIntent], reread: Collection[str]
) -> tuple[int | None, int | None]:
    """The link's (`ingested_at_push`, `released_at_push`) as they stood when its `ingested` and `released` were read
    (`ProductPushOutcome.ingested_base`, `released_base`): as read with them, but the intent of an earlier push this
    push recorded as applied before its call (`recorded`, `_intend`) for a link it did not read again since
    (`reread`). The push records each count as the one it read plus what order batches added to the column since
    (`ledger._counted_before_push`: units TikTok's available had lost before the fence's baseline, such as open
    orders the seed left out; releases of orders cancelled before the seeding read; ingested while the push was in
    flight). Written over with the counts read, those units passed for sales (or releases) applied since at the next
    push and hid as many sales TikTok made unseen, which it put back on sale (README, "Shared inventory pool", the
    fence; `tests/integration/test_inventory_push_fence_inflight.py`, `test_inventory_push_fence_released_early.py`)."""
    if link.sku_id in recorded and link.sku_id not in reread:
        intent = recorded[link.sku_id]
        return counted_at_intent(link, intent), released_at_intent(link, intent)
    return link.ingested_at_push, link.released_at_push


def _to_send(links: Sequence[LinkedSku], shown: dict[str, int], policy: InventoryPolicy) -> list[LinkedSku]:
    """The links whose target TikTok does not show (a SKU already at its target is not written: its spread over
    warehouses is kept); `links` with the unseen sales held back, `shown`: TikTok's available by Shopbridge SKU id."""
    return [link for link in links if shown.get(link.sku_id) != policy.target(link.available)]


async def read_available(api: InventoryApi, tiktok_sku_ids: Sequence[str]) -> tuple[dict[str, int], int]:
    """TikTok's available quantity of the given SKUs, read `MAX_SEARCH_SKU_IDS` ids per Inventory Search call:
    (TikTok SKU id -> available, the calls made). A SKU TikTok does not return is absent. Shared by the push's
    fence and the reconcile."""
    ids = sorted(set(tiktok_sku_ids))
    available: dict[str, int] = {}
    searches = 0
    for start in range(0, len(ids), MAX_SEARCH_SKU_IDS):
        levels = await api.search_inventory(sku_ids=ids[start : start + MAX_SEARCH_SKU_IDS])
        searches += 1
        available.update({level.sku_id: level.available_quantity for level in levels})
    return available, searches


class HoldLines:
    """Which level a hold's line takes (`_unseen`): INFO for the first hold of a shop's SKU within `horizon` (the
    push's clock, `now`), DEBUG for the next ones within it. Kept per process, for the SKUs of the last horizon only
    (pruned as it grows past `MAX_REMEMBERED`); shared by a worker's threads, hence the lock."""

    MAX_REMEMBERED = 10_000

    def __init__(self) -> None:
        self._logged: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def level(self, shop_id: str, tiktok_sku_id: str, now: datetime, horizon: timedelta) -> int:
        key = (shop_id, tiktok_sku_id)
        with self._lock:
            last = self._logged.get(key)
            if last is not None and timedelta(0) <= now - last < horizon:
                return logging.DEBUG
            if len(self._logged) >= self.MAX_REMEMBERED:
                self._logged = {k: at for k, at in self._logged.items() if timedelta(0) <= now - at < horizon}
            self._logged[key] = now
            return logging.INFO


HOLD_LINES = HoldLines()
# Per Shopbridge SKU id: (units, since when): held back (`hold_started`) or restored unseen (`restore_started`)
Held = dict[str, tuple[int, datetime | None]]


async def _unseen(
    deps: PushDeps, api: InventoryApi, shop: Shop, links: Sequence[LinkedSku], now: datetime
) -> tuple[Held, dict[str, int], Held, dict[str, PushIntent], dict[str, int]]:
    """TikTok's available of the links' SKUs now (`read_available`: one Inventory Search per 600 SKUs, so one for
    a product), and per Shopbridge SKU id the units to hold back (`unseen_sales`: against what was last pushed and
    held back then, within `deps.hold_horizon`, less what the ledger applied since, releases included:
    `LinkedSku.ingested_since_push`) with since when some have been held (`hold_started`), and the units restored
    unseen to carry (`fence_counts`, within the same horizon: `carried_restore`) with since when (`restore_started`).
    A link never pushed whose stock seeded its item, or that joined one from its
    product page, is measured from what TikTok showed right after the link, with the ledger's counts of that instant
    (`LinkedSku.baseline`); one linked by hand has no baseline and holds nothing back. (held, shown, restored, the
    earlier intents applied, and of the units held those carried from the last hold, `hold_carried`, when some are),
    keyed by Shopbridge SKU id; `now`: when the targets were read."""
    tiktok, _ = await read_available(api, [link.tiktok_sku_id for link in links])
    # A push left unrecorded (its worker died after TikTok took it): measured from what it sent, as TikTok shows it.
    measured = [settled(link, tiktok.get(link.tiktok_sku_id), now, deps.hold_horizon) for link in links]
    applied = {
        link.sku_id: link.intent
        for link, measured_from in zip(links, measured, strict=True)
        if link.intent is not None and measured_from != replace(link, intent=None)
    }
    links = measured
    # A push records pushed_quantity and pushed_at together (`record_link_results`): one of them tells both.
    since = {link.tiktok_sku_id: link.pushed_at for link in links if link.pushed_at is not None}
    ingested = {link.tiktok_sku_id: n for link in links if (n := link.ingested_since_push) is not None}
    # A link last pushed before pushes kept the ledger's count (migration 0011): the lines stamped since, once.
    stamped = {sku: at for sku, at in since.items() if sku not in ingested}
    if stamped:
        async with deps.uow_factory() as uow:
            ingested |= await uow.inventory_push.ingested_since(shop.id, stamped)  # a count for every SKU asked
    held: dict[str, tuple[int, datetime | None]] = {}
    restored: dict[str, tuple[int, datetime | None]] = {}
    held_carried: dict[str, int] = {}
    for link in links:
        if link.baseline is not None and link.tiktok_sku_id in ingested:  # every pushed link, a seeding or joining one
            carried, available = carried_hold(link, now, deps.hold_horizon), tiktok.get(link.tiktok_sku_id)
            kept = carried_restore(link, now, deps.hold_horizon)
            units, units_restored = fence_counts(
                link.baseline, available, ingested[link.tiktok_sku_id], carried, kept, link.released_since_push
            )
            restored[link.sku_id] = (units_restored, restore_started(link, units_restored, kept, now))
            held[link.sku_id] = (units, hold_started(link, units, carried, now, available))
            if (kept_units := hold_carried(link.baseline, units, carried, available, ingested[link.tiktok_sku_id])) > 0:
                held_carried[link.sku_id] = kept_units
            if units > carried and available is not None:
                # The one trace of a hold: every shop of the item shows that much less until the sales are ingested
                # or the horizon passes (a hard stop mid-push can make it the whole stock: README, "A stop").
                # INFO once per shop and SKU within a horizon, then DEBUG: under steady sales each push that races
                # a webhook holds a unit or two back for a moment (soak53: 0.29 lines per sale, the same SKU twice
                # in 0.35 s), and the first line already says why the item shows less.
                log.log(
                    HOLD_LINES.level(shop.id, link.tiktok_sku_id, now, deps.hold_horizon),
                    "inventory push of shop %s: TikTok shows %d of SKU %s, %d unit(s) below the pool's account of "
                    "it: held back from every shop of its item as sales not yet ingested, for at most %d s",
                    shop.id, available, link.tiktok_sku_id, units, deps.hold_horizon.total_seconds(),
                )  # fmt: skip
    shown = {link.sku_id: tiktok[link.tiktok_sku_id] for link in links if link.tiktok_sku_id in tiktok}
    return held, shown, restored, applied, held_carried  # 0 held (the most common) subtracts nothing


def _intents(
    links: Sequence[LinkedSku],
    policy: InventoryPolicy,
    outcome: ProductPushOutcome,
    computed_at: datetime,
    applied: Mapping[str, PushIntent] | None = None,
) -> dict[str, PushIntent]:
    """What a success records for each of `links` (lowered by the holds: what is sent), by Shopbridge SKU id, as
    `ProductPushOutcome.record_of` would (the split of a restarted hold, whether the link was pushed at the read: the
    next push records an intent left unrecorded by the same rule, fence62); `computed_at`: when the targets were
    read; `applied`: the earlier intents recorded as applied with them (`_intend`), which the links' count of the last
    push is then (`fence_base`)."""
    intents: dict[str, PushIntent] = {}
    for link in links:
        ingested_base, released_base = fence_base(link, applied or {}, ())
        intents[link.sku_id] = PushIntent(
            policy.target(link.available),
            computed_at,
            *outcome.held.get(link.sku_id, (0, None)),
            ingested=link.ingested,
            released=link.released,
            restored=(restored := outcome.restored.get(link.sku_id, (0, None)))[0],
            restored_since=restored[1],
            ingested_base=ingested_base,
            item_id=link.inventory_item_id,
            released_base=released_base,
            held_carried=outcome.held_carried.get(link.sku_id, 0),
            pushed_at_read=link.pushed_at is not None,  # (as `ProductPushOutcome.base_pushed`)
        )
    return intents


def _doubted(intents: dict[str, PushIntent]) -> dict[str, PushIntent]:
    return {sku_id: replace(intent, failed=True) for sku_id, intent in intents.items()}


class Intended(Enum):
    """What committing a fenced push's intents found (`_intend`)."""

    COMMITTED = "COMMITTED"  # the intents are committed: the call may leave
    GONE = "GONE"  # the shop was deleted meanwhile: nothing committed, nothing is sent
    # The ledger applied an order batch of a SKU to send since the push read its targets (its running counts moved):
    # nothing committed; the push reads the pool and TikTok again before it writes
    MOVED = "MOVED"


# How many times a fenced push of one product reads the pool and TikTok at most before it writes: a reading an order
# batch overtook (`Intended.MOVED`) is taken again, twice; the third is written whatever batches land meanwhile, so
# a SKU that keeps selling is still pushed (each product costs one Inventory Search more per reading taken again).
FENCE_READINGS = 3


async def _intend(
    deps: PushDeps,
    shop: Shop,
    intents: dict[str, PushIntent],
    applied: dict[str, PushIntent],
    counted: Mapping[str, tuple[int, int]] | None = None,
) -> Intended:
    """Commit what a fenced push is about to send before it sends it (`record_intents`): a worker that dies before
    recording TikTok's answer leaves it for the next push to settle (`settled`), which otherwise measured TikTok's new
    value from the push before and took the difference for sales unseen (held back from every shop for the horizon)
    or restored units (sales made since put back on sale). One transaction per product written. GONE: the shop was
    deleted meanwhile (nothing is sent). Run again whole if the database aborts it as a deadlock.

    `counted` (TikTok SKU id -> the shop's running (ingested, released) units its targets were read with, of the SKUs
    to send; None: not checked): when the ledger's counts differ now (`ledger_counts`, read in this transaction before
    anything is written), an order batch landed while the push's reading of TikTok stood, and nothing is committed
    (MOVED): the push reads again. Written as it was, the Update Inventory (an absolute set) overwrote what that
    order did at TikTok after the reading: a cancellation's units given back (its release then counted as units
    TikTok gained since: held back as sales unseen until the hold's horizon, pool57 F-low-1) or a sale's units taken
    (its order then counted as a sale since: as many sales unseen put back on sale). The push's own waits between
    its reading and its call (this transaction's turn behind the batch: SQLite's one writer; the worker's event loop
    running the batch) are when such a batch lands."""

    async def intend() -> Intended:
        async with deps.uow_factory() as uow:
            if not await uow.shops.hold(shop.id):  # the shop first, as a shop's delete takes it; its row is not needed
                return Intended.GONE
            if counted is not None and await uow.inventory_push.ledger_counts(shop.id, list(counted)) != counted:
                return Intended.MOVED  # (rolled back: nothing written)
            await uow.inventory_push.record_intents(shop.id, intents, applied)
            await uow.commit()
        return Intended.COMMITTED

    return await run_again_on_conflict(intend, f"the push of shop {shop.id}: its intents")


def _holding(
    links: Sequence[LinkedSku], held: dict[str, tuple[int, datetime | None]], *, own_only: bool = False
) -> list[LinkedSku]:
    """The links with `available` lowered to what their push may show: less the units the item's other links hold
    back (`LinkedSku.pushable`; once: `held_elsewhere` is then 0) and less the units each holds back itself (`held`,
    by Shopbridge SKU id). `own_only`: links lowered by the others' holds already."""
    return [
        replace(
            link,
            available=(link.available if own_only else link.pushable) - held.get(link.sku_id, (0, None))[0],
            held_elsewhere=0,
        )
        for link in links
    ]


def _held_elsewhere_since(links: Sequence[LinkedSku]) -> dict[str, datetime]:
    """`ProductPushOutcome.held_elsewhere_since` of `links`: the SKUs whose push subtracted other links' holds."""
    return {link.sku_id: link.held_elsewhere_since for link in links if link.held_elsewhere_since is not None}


def _holds_moved(deps: PushDeps, links: Sequence[LinkedSku], outcome: ProductPushOutcome, now: datetime) -> set[str]:
    """The items whose links subtract the hold of a SKU `outcome` records as pushed when that hold changes
    (`hold_changed`; `LinkedSku.hold_items`: the SKU's item, and the items of its record and hold; `links` as read,
    their hold fields untouched by `_holding`)."""
    return {
        item
        for link in links
        if link.sku_id in outcome.pushed
        and hold_changed(link, outcome.held.get(link.sku_id, (0, None))[0], now, deps.hold_horizon)
        for item in link.hold_items
    }


async def _release(deps: PushDeps, claims: Sequence[OutboxClaim], error: str | None, *, backoff: bool = False) -> None:
    """Give unfinished claims of one shop back, due now, `CLAIMS_PER_TRANSACTION` a transaction (each holds the
    shop, which a shop's delete waits for: a round after an import hands back hundreds); a claim finished meanwhile
    is marked dirty again: one more push. `error`: the rows' note. `backoff`: each due after `push_backoff` of its
    attempts instead, as a failed push (`_record`; a round that met an unexpected error: `_hand_back`).

    The rows are written in product order (`_in_product_order`), not claim order."""
    now = deps.clock.now()
    claims = _in_product_order(claims)
    for start in range(0, len(claims), CLAIMS_PER_TRANSACTION):
        async with deps.uow_factory() as uow:
            if await uow.shops.get(claims[0].shop_id) is None:  # the shop first, as a shop's delete takes it
                return  # deleted meanwhile: its outbox went with it
            for claim in claims[start : start + CLAIMS_PER_TRANSACTION]:
                await uow.inventory_push.finish_claim(
                    claim, deps.holder, now, pushed=False,
                    next_attempt_at=now + push_backoff(claim.attempts + 1) if backoff else now, error=error,
                )  # fmt: skip
            await uow.commit()


def _in_product_order(claims: Sequence[OutboxClaim]) -> list[OutboxClaim]:
    """`claims` (of one shop) sorted by TikTok product id: the order every writer of several outbox rows in one
    transaction takes them in (`mark_dirty`; an import's stock marks, `mark_push_dirty`: shop, then product).
    PostgreSQL: rows written in claim order (due time first) while an import marked the same rows dirty in product
    order deadlocked (40P01); the import's page was aborted, an ERROR and one of its attempts spent
    (tests/integration/test_inventory_push_release_order.py)."""
    return sorted(claims, key=lambda claim: claim.tiktok_product_id)


async def _finish(deps: PushDeps, claim: OutboxClaim, outcome: ProductPushOutcome) -> None:
    """Record `outcome` and finish the claim (`_record`), in one transaction, run again whole if the database aborts
    it as a deadlock (`run_again_on_conflict`)."""
    what = f"the push of shop {claim.shop_id}, product {claim.tiktok_product_id}"
    await run_again_on_conflict(functools.partial(_finish_once, deps, claim, outcome), what)


async def _finish_once(deps: PushDeps, claim: OutboxClaim, outcome: ProductPushOutcome) -> None:
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        if (shop := await uow.shops.get(claim.shop_id)) is None:  # the shop first, as a shop's delete takes it
            return  # deleted meanwhile: its links and outbox went with it
        await _record(deps, uow, claim, outcome, now, shop.merchant_id)
        await uow.commit()


async def _record(
    deps: PushDeps, uow: UnitOfWork, claim: OutboxClaim, outcome: ProductPushOutcome, now: datetime, merchant_id: str
) -> None:
    """The outcome on the links and the claim finished, in `uow` (the caller commits). A hold that changed marks
    the other links of its item due (`holds_moved`), the rows of other shops enqueued after commit; this claim's
    own row is left to `finish_claim` (this push has just read it). A pushed product that holds units back is due
    again when the first of its holds reaches its horizon (`hold_ends`): that push lets the hold go even if nothing
    else pushes the product (README, "Holds carry over").

    A claim this run no longer holds (its lease ran out and another worker took the row) records nothing on the links:
    that worker has pushed the product since, or is pushing it, and the links' record must stay what TikTok shows for
    the fence (a late answer of ours recorded over it made the next push take the difference for sales unseen and
    hold it back). The row is marked dirty again: one more push, computed then, has the last word. (Checked without
    a lock: the row's claim moves only once our lease has run out, long before this record.)

    Once committed, the items of the links recorded are signalled (`inventory_item_changed`, at most
    `MAX_ITEM_SIGNALS`): `inventoryItemUpdated` without an item follows signals only, and the Inventory list kept
    "pushed N" of the push before (an item's own subscription re-reads it every 1.5 s, and showed the push)."""
    if not await uow.inventory_push.holds_claim(claim, deps.holder):  # no longer ours: `finish_claim` re-dirties
        await uow.inventory_push.finish_claim(claim, deps.holder, now, pushed=False, next_attempt_at=now, error=None)
        return
    await uow.inventory_push.record_link_results(claim.shop_id, outcome, now)
    recorded = {
        outcome.base_items[sku_id] for sku_id in (*outcome.pushed, *outcome.failed) if sku_id in outcome.base_items
    }
    if deps.events is not None and recorded:
        uow.after_commit(functools.partial(signal_items, deps.events, merchant_id, recorded))
    if outcome.holds_moved:
        shops = await uow.inventory_push.mark_item_links_dirty(
            sorted(outcome.holds_moved), now, (claim.shop_id, claim.tiktok_product_id)
        )
        enqueue = deps.enqueue_push
        if enqueue is not None:
            for shop_id in shops:
                if shop_id != claim.shop_id:  # this run claims its own shop's rows again before it ends
                    uow.after_commit(functools.partial(enqueue, shop_id))
    finished = await uow.inventory_push.finish_claim(
        claim, deps.holder, now, pushed=not outcome.retry,
        next_attempt_at=now + push_backoff(claim.attempts + 1), error=outcome.error,
    )  # fmt: skip
    ends = hold_ends(outcome.held, deps.hold_horizon, outcome.held_elsewhere_since.values())
    if finished and not outcome.retry and ends is not None:
        await uow.inventory_push.push_again_at(claim.shop_id, claim.tiktok_product_id, ends)


async def _send(
    api: InventoryApi, product_id: str, links: Sequence[LinkedSku], policy: InventoryPolicy, default: str | None
) -> InventoryUpdateResult:
    skus = [
        SkuStock(link.tiktok_sku_id, warehouse_plan(policy.target(link.available), link.warehouse_ids, default))
        for link in links
    ]
    return await api.update_inventory(product_id, skus)


def _failures(result: InventoryUpdateResult, links: Sequence[LinkedSku]) -> dict[str, SkuPushError]:
    """Per-SKU errors keyed by Shopbridge's SKU id; an error naming no SKU we sent counts for all of them."""
    by_tiktok = {link.tiktok_sku_id: link.sku_id for link in links}
    failures: dict[str, SkuPushError] = {}
    for failure in result.failures:
        code, message = failure.specific
        error = SkuPushError(code, message)
        owners = [by_tiktok[failure.sku_id]] if failure.sku_id in by_tiktok else list(by_tiktok.values())
        for sku_id in owners:
            failures.setdefault(sku_id, error)
    return failures


async def _refresh_warehouses(
    deps: PushDeps, api: InventoryApi, shop: Shop, product_id: str, sku_ids: Sequence[str]
) -> tuple[list[LinkedSku], list[LinkedSku]]:
    """Re-read the product's SKUs' warehouses (Get Product), store them; (all links, the links to send again)."""
    product = await api.get_product(product_id)
    skus = product.skus if isinstance(product, Product) else ()
    fresh = {sku.tiktok_sku_id: [s.warehouse_id for s in sku.stock] for sku in skus}
    async with deps.uow_factory() as uow:
        if await uow.shops.get(shop.id) is None:  # the shop first, as a shop's delete takes it
            return [], []
        links = await uow.inventory_push.linked_skus(shop.id, product_id)
        for link in links:
            if link.sku_id in sku_ids and link.tiktok_sku_id in fresh:
                await uow.inventory_push.replace_warehouses(shop.id, link.tiktok_sku_id, fresh[link.tiktok_sku_id])
        await uow.commit()
    async with deps.uow_factory() as uow:
        links = await uow.inventory_push.linked_skus(
            shop.id, product_id, holds_since=deps.clock.now() - deps.hold_horizon
        )
    return links, [link for link in links if link.sku_id in sku_ids and link.tiktok_sku_id in fresh]


async def _default_warehouse(deps: PushDeps, api: InventoryApi, shop: Shop, links: Sequence[LinkedSku]) -> str | None:
    """The shop's default sales warehouse, read only when a SKU has several warehouses; cached per process."""
    if all(len(link.warehouse_ids) <= 1 for link in links):
        return None
    cached = deps.default_warehouses.get(shop.id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        found = await api.warehouses()
    except TikTokUnavailableError:
        log.info("shop %s: Get Warehouses unavailable; the SKU's first warehouse takes the stock", shop.id)
        found = []
    sales = [w for w in found if w.type in (None, "SALES_WAREHOUSE")]
    default = next((w.id for w in sales if w.is_default), None)
    deps.default_warehouses[shop.id] = (time.monotonic() + DEFAULT_WAREHOUSE_TTL_SECONDS, default)
    return default


def _api(deps: PushDeps, shop: Shop) -> InventoryApi:
    return deps.inventory_api(shop, StoredShopTokens(deps.uow_factory, deps.clock, shop, deps.events, deps.queue))
