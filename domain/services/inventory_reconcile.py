"""Reconcile and the push sweep (live-sync.md sec. 7.7): read TikTok's stock of a shop's linked SKUs (Inventory
Search, at most 600 SKU ids a call), count drift where it differs from the pool's target, and push again; and the
scheduler's inventory tick, which re-enqueues pushes a lost message left behind and starts due reconciles.

Drift is judged only for products with no push pending (clean outbox row, no lease), and against what a push would
write, read again after TikTok answered (`pushed_now`: the target less the units held back, the link's own and the
other links' of its item), so a sale Shopbridge applied meanwhile, or a unit a push held back, is not mistaken for
drift. A SKU TikTok shows at what the last push wrote while the push would now write another value (a hold let go
by its horizon moves no counter, so marks nothing) is pushed again without counting drift. A TikTok sale not
yet ingested does look like drift for the length of the intake lag; the re-push it causes is the push that sale
causes anyway (live-sync.md sec. 1.3).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from domain.inventory_push import pushed_now
from domain.ports import AuthorizationLostError, traced
from domain.services.conflicts import run_again_on_conflict
from domain.services.inventory import give_back_unexplained_holds
from domain.services.inventory_push import PushDeps, _api, read_available
from domain.services.shop_tokens import revoke_refused_authorization
from domain.shops import ShopStatus

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    observed: int = 0
    drifted: list[str] = field(default_factory=list)  # Shopbridge SKU ids whose TikTok stock differed
    stale: list[str] = field(default_factory=list)  # SKU ids showing the last push, whose holds have since ended
    searches: int = 0


async def reconcile_shop(
    shop_id: str, deps: PushDeps, enqueue_push: Callable[[str], Awaitable[None]]
) -> ReconcileReport:
    """Compare TikTok's available of every linked SKU of the shop with what a push would write (`pushed_now`);
    drift: drift_count + 1, observed_quantity/observed_at recorded, the product marked dirty and a push enqueued
    after commit. A SKU showing what its last push wrote (`pushed_quantity`) while a push would write another value
    (`ReconcileReport.stale`: a hold let go by its horizon) is marked and pushed the same way, no drift counted.
    A revoked, expired or push-disabled shop is skipped (nothing is pushed there, so nothing can drift); TikTok
    refusing the shop's tokens revokes it at once (`revoke_refused_authorization`)."""
    report = ReconcileReport()
    async with deps.uow_factory() as uow:
        shop = await uow.shops.get(shop_id)
        if shop is None or shop.status(deps.clock.now()) in (ShopStatus.REVOKED, ShopStatus.EXPIRED):
            return report
        policy = await uow.inventory_push.policy(shop_id)
        candidates = await uow.inventory_push.reconcile_candidates(shop_id, deps.clock.now())
    if not policy.push_enabled or not candidates:
        return report
    api = _api(deps, shop)
    # TikTok SKU id -> available, 600 ids per call (the push's fence reads the same way)
    try:
        observed, report.searches = await read_available(api, [link.tiktok_sku_id for link in candidates])
    except AuthorizationLostError as exc:
        await revoke_refused_authorization(
            deps.uow_factory, deps.events, deps.clock, shop, "an inventory reconcile", exc
        )
        return report
    # One transaction from the reading on, run again whole if the database aborts it as a deadlock (it reads the
    # candidates afresh and compares them with the same observations)
    return await run_again_on_conflict(
        partial(_record_observations, shop_id, deps, enqueue_push, observed, report.searches),
        f"the reconcile of shop {shop_id}",
    )


async def _record_observations(
    shop_id: str, deps: PushDeps, enqueue_push: Callable[[str], Awaitable[None]], observed: dict[str, int],
    searches: int,
) -> ReconcileReport:  # fmt: skip
    """`reconcile_shop`'s transaction once TikTok's available is read (`observed`, by TikTok SKU id)."""
    report = ReconcileReport(searches=searches)
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        # The shop first, as a shop's delete takes it, `FOR KEY SHARE` (its row is not needed: renames, token
        # refreshes, the webhook batch and the push's finishes update it meanwhile), then the shop's link turn,
        # before any read: an import's page holds the turn for its whole transaction, and a reconcile that read its
        # candidates first compared TikTok's stock with links the page then rewrote (false drift), and waited for
        # the page holding the shop `FOR NO KEY UPDATE`, making every writer of the shop's row wait too (review51)
        if not await uow.shops.hold(shop_id):
            return report  # deleted meanwhile
        await uow.inventory_push.hold_link_turn(shop_id)
        policy = await uow.inventory_push.policy(shop_id)
        # targets as of now, still clean, with the holds standing now (the push's own reading of them)
        fresh = await uow.inventory_push.reconcile_candidates(shop_id, now, holds_since=now - deps.hold_horizon)
        seen = {link.sku_id: observed[link.tiktok_sku_id] for link in fresh if link.tiktok_sku_id in observed}
        differ = [
            link
            for link in fresh
            if link.sku_id in seen and seen[link.sku_id] != pushed_now(policy, link, now, deps.hold_horizon)
        ]
        # TikTok shows what the last push wrote, and only the pool's side moved without a change of its counters (a
        # hold let go by its horizon, here or on another link of the item): pushed again, no drift
        stale = [link for link in differ if seen[link.sku_id] == link.pushed_quantity]
        drifted = [link for link in differ if seen[link.sku_id] != link.pushed_quantity]
        await uow.inventory_push.record_observed(shop_id, seen, [link.sku_id for link in drifted], now)
        products = sorted({link.tiktok_product_id for link in differ})
        if products:
            await uow.inventory_push.mark_dirty(shop_id, products, now)
            uow.after_commit(lambda: enqueue_push(shop_id))
        await uow.commit()
    report.observed, report.drifted = len(seen), [link.sku_id for link in drifted]
    report.stale = [link.sku_id for link in stale]
    if drifted:
        deps.metrics.drift_found(len(drifted))
        log.info("shop %s: %d SKU(s) drifted from their target at TikTok; pushing again", shop_id, len(drifted))
    return report


@dataclass
class InventoryTick:
    """What one scheduler tick found: shops whose dirty rows nobody pushes, shops due for a reconcile."""

    pushes: list[str] = field(default_factory=list)
    reconciles: list[str] = field(default_factory=list)
    given_back: int = 0  # units a shop's delete took off as sold unseen that no sale explained, back on on-hand


async def inventory_tick(
    deps: PushDeps,
    enqueue_push: Callable[[str], Awaitable[None]],
    enqueue_reconcile: Callable[[str], Awaitable[None]],
    reconcile_interval: timedelta,
    last_reconciled: dict[str, datetime],
) -> InventoryTick:
    """Run by the scheduler (one process at a time): enqueue a push for every shop with due, unheld dirty rows
    (a lost message never strands a row), and a reconcile for every shop whose linked SKUs were not observed
    within `reconcile_interval` (`last_reconciled`, the scheduler's memory of its last enqueue per shop, keeps a
    reconcile still under way from being sent again). Then the units shops' deletes took off as sold unseen that no
    sale explained, once their TikTok shops are connected again and imported, go back on on-hand
    (`domain.services.inventory.give_back_unexplained_holds`, within `deps.hold_horizon`'s reach; soak59 F3)."""
    tick, now = InventoryTick(), deps.clock.now()
    async with deps.uow_factory() as uow:
        tick.pushes = await uow.inventory_push.shops_due(now, limit=1000)
        linked = await uow.inventory_push.shops_to_reconcile(now - reconcile_interval, limit=1000, now=now)
    await _enqueue_pushes(tick.pushes, enqueue_push)
    for shop_id in linked:
        last = last_reconciled.get(shop_id)
        if last is not None and now - last < reconcile_interval:
            continue
        try:
            await enqueue_reconcile(shop_id)
        except Exception as exc:
            log.warning("could not enqueue the reconcile of shop %s: %s", shop_id, exc, exc_info=traced(exc))
            continue
        last_reconciled[shop_id] = now
        tick.reconciles.append(shop_id)
    tick.given_back = await give_back_unexplained_holds(deps.uow_factory, enqueue_push, deps.events, deps.hold_horizon)
    return tick


async def resume_due_pushes(deps: PushDeps, enqueue_push: Callable[[str], Awaitable[None]]) -> list[str]:
    """Enqueue a push for every shop with due, unheld dirty rows (`shops_due`, as the tick's), at an embedded start:
    the in-memory queue died with the process before, and with it the pushes it held, and those of the claims the
    stop handed back due now (`inventory_push._release`). The scheduler's tick finds them too, but only when the
    scheduler is on (`SHOPBRIDGE_SCHEDULER`) and this process holds its lease. Returns the shop ids; a failed enqueue
    is one WARNING line."""
    async with deps.uow_factory() as uow:
        shop_ids = await uow.inventory_push.shops_due(deps.clock.now(), limit=1000)
    await _enqueue_pushes(shop_ids, enqueue_push)
    if shop_ids:
        log.info("re-enqueued the inventory push of %d shop(s)", len(shop_ids))
    return shop_ids


async def _enqueue_pushes(shop_ids: list[str], enqueue_push: Callable[[str], Awaitable[None]]) -> None:
    for shop_id in shop_ids:
        try:
            await enqueue_push(shop_id)
        except Exception as exc:
            log.warning(
                "could not enqueue the push of shop %s; the next tick will: %s", shop_id, exc, exc_info=traced(exc)
            )
