"""The polling backstop's use cases: the scheduler's tick, starting one poll, and a poll's part inside the engine.

    await schedule_tick(uow_factory, work, clock, settings)      # the scheduler (one process per deployment)
    task_id = await start_poll(uow_factory, queue, events, clock, settings, shop_id, kind, scheduled_at)
    # ... its task is enqueued after commit (send_tasks); the engine runs it as any sync task (importer.run_sync_task)

A poll is a SCHEDULED sync task: the engine (`domain.services.importer`) fetches its pages through the same
pipeline and upserts as an import, asking this module for the poll's page source (`poll_source`) and telling it
each stored batch (`record_poll_progress`, same transaction: the cursor never runs ahead of the data) and the end
(`finish_poll`). "One active task per shop and kind" (a partial unique index) keeps a poll from running twice at
once, or beside an import of its kind: such a poll is skipped, not queued.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from domain.clock import Clock, utc
from domain.errors import DomainError, ErrorCode
from domain.polling import (
    KEEP_EMPTY_POLLS,
    POLL_KINDS,
    PollCursor,
    PollSettings,
    Tick,
    cursor_reached,
    initial_cursor,
    poll_window,
    queue_poll,
    task_window,
)
from domain.ports import (
    EventPublisher,
    Page,
    ScheduledWork,
    ShopApi,
    ShopGoneError,
    TaskQueue,
    UnitOfWork,
    UnitOfWorkFactory,
    traced,
)
from domain.services.order_slices import UPDATE_TIME, OrderSlice, slice_pages
from domain.services.pipeline import Chunk, Source
from domain.services.sync import send_tasks
from domain.stored import OrderRecord
from domain.sync import SyncKind, SyncTask, SyncTrigger, ensure_shop_can_sync
from domain.tokens import ShopSchedule

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TickResult:
    polls: list[tuple[str, SyncKind]]
    token_refreshes: list[str]


async def schedule_tick(
    uow_factory: UnitOfWorkFactory, work: ScheduledWork, clock: Clock, settings: PollSettings
) -> TickResult:
    """Enqueue one poll per due (shop, kind) and one token refresh per shop whose token is due.

    A (shop, kind) is due an interval after its last schedule (`PollCursor.is_due`), and once more the settle
    margin after the shop's (re-)authorization if no poll covered up to it (`PollCursor.catch_up_due`); a poll is
    not sent while a task of its shop and kind is QUEUED or RUNNING, its message a no-op (`PollCursor.at_tick`).

    Run by exactly one process at a time (the scheduler lease). Due polls are stamped `scheduled_at` and token
    refreshes claimed in one transaction before anything is sent; a send that fails is retried by a later tick
    (a poll one interval later, a refresh once its claim lapses).

    A shop whose delete holds its row (PostgreSQL, 15-27 s for a 20k-order shop), or waits to take it, is left out
    of the tick, its claim and cursors untouched (`ShopRepository.hold(unless_being_deleted=True)` before the shop's
    first write): waiting for the delete would hold the rows of the shops claimed before it, so their pushes, and
    the whole scheduler, would wait as long (review60b F3); granted the row beside a delete still waiting for it,
    the tick made the delete wait for its commit too (delete61 "not fixed"). A delete that rolls back leaves the
    shop due: the next tick takes it."""
    now = clock.now()
    polls: list[tuple[str, SyncKind]] = []
    claimed: list[ShopSchedule] = []
    async with uow_factory() as uow:
        shops = [shop for shop in await uow.shops.schedules(now) if shop.may_sync(now)]
        held: set[str] = set()  # held against a delete (`FOR KEY SHARE`) until commit
        being_deleted: set[str] = set()

        async def still_ours(shop_id: str) -> bool:
            """Hold the shop once, before its first write; False (and skip it) while its delete holds it or waits."""
            if shop_id not in held and shop_id not in being_deleted:
                mine = await uow.shops.hold(shop_id, unless_being_deleted=True)
                (held if mine else being_deleted).add(shop_id)
            return shop_id in held

        # Shop rows before cursor rows, the order a poll's end locks them in: no deadlock on PostgreSQL.
        for shop in shops:
            if (
                shop.refresh_due(now)
                and await still_ours(shop.shop_id)
                and await uow.shops.claim_token_refresh(shop.shop_id, now, shop.claims_older_than(now))
            ):
                claimed.append(shop)
        cursors = {(c.shop_id, c.kind): c for c in await uow.poll_cursors.list_all()}
        busy = await uow.sync_tasks.active_kinds()  # a poll beside one of these is skipped: not sent (`at_tick`)
        for shop in shops:
            for kind in POLL_KINDS:
                cursor = cursors.get((shop.shop_id, kind)) or PollCursor(shop.shop_id, kind)
                tick = cursor.at_tick(now, settings, shop.authorized_at, busy=(shop.shop_id, kind) in busy)
                if tick is Tick.WAIT:
                    continue
                if not await still_ours(shop.shop_id):
                    break  # being deleted (or gone): its cursors are the delete's
                try:
                    await uow.poll_cursors.save(cursor, now)
                except ShopGoneError:
                    break  # deleted since the list was read
                if tick is Tick.SEND:
                    polls.append((shop.shop_id, kind))
        await uow.commit()
    for shop in claimed:
        _log_claim(shop, now)
    refreshes = [shop.shop_id for shop in claimed]
    stamp = now.isoformat()
    for shop_id, kind in polls:
        try:
            await work.enqueue_poll(shop_id, kind, stamp)
        except Exception as exc:
            log.warning(
                "could not enqueue the %s poll of shop %s; the next interval will: %s", kind, shop_id, exc,
                exc_info=traced(exc),
            )  # fmt: skip
    for shop_id in refreshes:
        try:
            await work.enqueue_token_refresh(shop_id)
        except Exception as exc:
            log.warning(
                "could not enqueue a token refresh of shop %s; a later tick will: %s",
                shop_id,
                exc,
                exc_info=traced(exc),
            )
    return TickResult(polls, refreshes)


def _log_claim(shop: ShopSchedule, now: datetime) -> None:
    """One INFO line per committed claim, when it was decided against its token's dates (ISO 8601, UTC): the
    column `shops.access_token_refresh_claimed_at` keeps only the latest claim, and the refresh lands later (a
    worker thread, TikTok's answer), so this line is what shows a renewal chosen in time (or not)."""
    log.info(
        "claimed the token refresh of shop %s at %s: due at %s, its access token expires at %s",
        shop.shop_id,
        now.isoformat(),
        shop.refresh_due_at().isoformat(),
        shop.access_token_expires_at.isoformat(),
    )


async def start_poll(
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue,
    events: EventPublisher | None,
    clock: Clock,
    settings: PollSettings,
    shop_id: str,
    kind: SyncKind,
    scheduled_at: datetime | None = None,
) -> str | None:
    """Queue a SCHEDULED task for the shop's changes of `kind` since its cursor, and enqueue it for the engine
    once committed (retries and the stale sweep then treat it as any sync task). Its id, or None when skipped:
    shop gone, revoked or expired; an import or poll of this kind active; a poll already started for the tick
    `scheduled_at` (a duplicate message); or an empty window."""
    now = clock.now()
    async with uow_factory() as uow:
        shop = await uow.shops.get(shop_id)
        if shop is None:
            return None
        try:
            ensure_shop_can_sync(shop, now)
        except DomainError:
            return None
        if await uow.sync_tasks.active(shop_id, kind) is not None:
            return None
        cursor = await uow.poll_cursors.get(shop_id, kind) or PollCursor(shop_id, kind)
        if cursor.already_polled_for(scheduled_at):
            return None
        if cursor.cursor_at is None:
            last_import = await uow.sync_tasks.last_succeeded(shop_id, kind, scheduled=False)
            cursor.cursor_at = initial_cursor(shop, last_import, now)
        window = poll_window(cursor.cursor_at, now, settings)
        if window is None:
            return None
        task = queue_poll(shop, kind, window, now)
        try:
            await uow.sync_tasks.add(task)  # the partial unique index: the last guard against a racing start
        except DomainError as exc:
            if exc.code is ErrorCode.SYNC_ALREADY_RUNNING:
                return None
            raise
        cursor.polled_at = now
        await uow.poll_cursors.save(cursor, now)
        uow.after_commit(partial(send_tasks, uow_factory, queue, events, [task]))
        await uow.commit()
    return task.id


def poll_source(api: ShopApi, task: SyncTask, page_size: int) -> Source:
    """The pages of a poll: orders updated in its window, oldest change first; or products updated in it."""
    window = task_window(task)
    if task.kind is SyncKind.ORDERS:
        stored = task.checkpoint.get("orders", {}).get("slices")
        plan = (
            [OrderSlice.from_json(item) for item in stored]
            if stored
            else [OrderSlice(ge=window.ge, lt=window.lt, resume_ge=window.ge, by=UPDATE_TIME)]
        )
        return partial(slice_pages, partial(_search_updated, api), plan, 0, page_size)
    return partial(_product_pages, api, window.ge, window.lt - 1, task.checkpoint.get("products"), page_size)


async def _search_updated(api: ShopApi, page_size: int, token: str | None, ge: int, lt: int) -> Page[OrderRecord]:
    return await api.search_updated_orders(page_size=page_size, page_token=token, update_time_ge=ge, update_time_lt=lt)


async def _product_pages(
    api: ShopApi, ge: int, le: int, checkpoint: dict[str, Any] | None, page_size: int
) -> AsyncIterator[Chunk]:
    async for scan in api.scan_updated_products(ge, le, checkpoint, page_size):
        yield Chunk(scan.page.items, partial(_mark_products, scan.checkpoint))


def _mark_products(checkpoint: dict[str, Any], task: SyncTask) -> None:
    task.checkpoint["products"] = checkpoint


async def record_poll_progress(uow: UnitOfWork, task: SyncTask, now: datetime) -> None:
    """In the transaction storing a poll's batch: move its shop's cursor up to what is now stored. No-op for
    imports."""
    if task.trigger is not SyncTrigger.SCHEDULED:
        return
    reached = cursor_reached(task)
    if reached is None:
        return
    cursor = await uow.poll_cursors.get(task.shop_id, task.kind) or PollCursor(task.shop_id, task.kind)
    cursor.cursor_at = utc(reached) if cursor.cursor_at is None else max(cursor.cursor_at, utc(reached))
    await uow.poll_cursors.save(cursor, now)


async def finish_poll(uow: UnitOfWork, task: SyncTask, now: datetime) -> None:
    """In the transaction that marks a poll SUCCEEDED: cursor to its window's end; if it found nothing, delete
    the older empty polls of its shop and kind beyond the last `KEEP_EMPTY_POLLS` (this one included)."""
    if task.trigger is not SyncTrigger.SCHEDULED:
        return
    await record_poll_progress(uow, task, now)
    if task.found_nothing:
        await uow.sync_tasks.fold_empty_polls(task.shop_id, task.kind, KEEP_EMPTY_POLLS - 1)
