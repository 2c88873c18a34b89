"""The import engine: `run_sync_task(task_id, deps)` runs (or resumes) one sync task; calling it twice is safe.

Each stored batch and the task's counters, checkpoint and heartbeat go in ONE transaction, so the data and the
checkpoint never disagree: a run killed anywhere resumes from its checkpoint with nothing missing or doubled.
Every write re-reads the task first and stops quietly when the run lost it: cancelled (status CANCELLED),
finished, taken over by a newer attempt (a redelivered message), or gone with its shop.

Errors: TikTok unavailable, the run's time limit passed, or a bug → re-raised for the queue to retry (resuming
from the checkpoint) until `max_attempts` runs failed (`SyncTask.failed_attempts`), then FAILED (TIKTOK_UNAVAILABLE /
TIME_LIMIT_EXCEEDED / INTERNAL); a run cancelled from outside (a shutdown) → the task handed back QUEUED, no failed
run counted, and the cancellation re-raised; a run whose worker died → counted as failed by the next begin;
its shop's delete met before a batch (it holds the shop, or waits to take it) → the batch rolled back, the task handed
back QUEUED (or left RUNNING under the run's lease while the delete holds its row), no failed run counted, and
`HandedBack` returned for the worker to send the message again; authorization lost → FAILED
REAUTHORIZATION_REQUIRED and the shop revoked; TikTok refusing a request (retrying
cannot help) → FAILED at once, the shop untouched: MISSING_SCOPE (one API's permission is missing),
TIKTOK_CURSOR_STUCK (its paging loops), TIKTOK_REJECTED (any other refusal; TikTok's code and message named); a
record that cannot be mapped → a per-record failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, Literal

from domain.catalog import Order, Product
from domain.clock import Clock
from domain.errors import DomainError, ErrorCode
from domain.ports import (
    AuthorizationLostError,
    EventPublisher,
    GatewayRefusedError,
    Page,
    ShopApi,
    ShopApiFactory,
    ShopBeingDeletedError,
    ShopGoneError,
    TaskQueue,
    TikTokUnavailableError,
    UnitOfWork,
    UnitOfWorkFactory,
    UpsertCounts,
    failure,
    traced,
)
from domain.services import inventory
from domain.services.conflicts import run_again_on_conflict
from domain.services.order_slices import load_slices, slice_pages
from domain.services.pipeline import Chunk, Source, run_pipeline
from domain.services.polling import finish_poll, poll_source, record_poll_progress
from domain.services.run_limits import TimeLimitExceededError, refusal_outcome, within_time_limit
from domain.services.shop_tokens import StoredShopTokens
from domain.services.sync import add_unless_running, publish_quietly, publish_shop_quietly, send_tasks
from domain.shops import Shop
from domain.stored import OrderRecord, StoredOrder, StoredProduct
from domain.sync import (
    CONNECTION_KINDS,
    INTERNAL_ERROR,
    RecordFailure,
    SyncKind,
    SyncTask,
    SyncTaskStatus,
    SyncTrigger,
    ensure_shop_can_sync,
    rerun_after_poll,
    rerun_after_reauthorization,
)

log = logging.getLogger(__name__)

# Tuples: `StoredOrder | Order` would build a union at every isinstance, twice or more per imported record.
_ORDER_TYPES = (StoredOrder, Order)
_PRODUCT_TYPES = (StoredProduct, Product)


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """Tuning of the engine; the defaults keep ~50 requests/s busy at 100 ms of TikTok latency."""

    order_slices: int = 16  # time slices of the orders window, fetched concurrently
    page_size: int = 100  # TikTok's maximum
    # Fetched pages waiting for the writer. With `batch_records` it bounds a run's memory: the writer holds its batch
    # (up to batch_records / page_size pages) while the queue fills again, so a run holds up to 32 + 20 pages at
    # PostgreSQL's 2,000 records (32 + 10 at SQLite's 1,000), and a page in each source waiting to put it (review69 D1).
    queue_pages: int = 32
    # Records stored per transaction, at most (whole pages: 5 of TikTok's largest at 500). The worker sets it from its
    # database (`workers.resources.build_resources`: the persistence adapter's `Database.import_batch_records`, 1,000
    # or 2,000), because what a long transaction makes wait differs by database; 500 here is the default of code
    # that names none (tests, fakes). A transaction holds the shop until its commit (PostgreSQL: its row FOR KEY
    # SHARE; SQLite: the one write lock, which every other write waits for), and a shop's delete, which takes the
    # shop first, waits for it: at 2,000 a shopDelete sent mid-import waited 0.7-2.3 s (SQLite) and 4.6 s
    # (PostgreSQL) behind one on a loaded machine, the engine being CPU-bound inside its transactions.
    # Each transaction also costs ~8 round trips (task, shop, fingerprints, rows, checkpoint, commit), which once
    # made 2,000 faster than 500; the engine is CPU-bound since: 500 products + 6,604 orders took 21.7 / 16.2 s
    # at 2,000 and 21.9 / 18.1 s at 500 on SQLite, 32.6 / 31.1 and 35.2 / 27.9 s on PostgreSQL (load 10-16), no
    # difference beyond the noise there. On a quiet machine 2,000 gave benchmark 2 +10 % (SQLite) and +18 %
    # (PostgreSQL), from fewer, larger statements; several batches of 500 in one transaction gave nothing measurable
    # and longer waits for a merchant's write (bench/README.md, "the adaptive writer"). Stop 69 (bench/README.md,
    # "Records per transaction by database"): PostgreSQL at 2,000, the engine's CPU per order -7 to -8 % (worker and
    # server, 4 pairs at load 9-16); the price there, a shopDelete mid-import waiting for the batch in flight, p50
    # 0.4 -> 4.6 s at load 11-12; benchmark 9 not longer (its write shares no lock with a batch on PostgreSQL).
    # Imports and polls alike: a poll (SCHEDULED) runs the same pipeline, so on PostgreSQL it writes 2,000 a
    # transaction too (review69 D1). Stop 70 (bench/README.md, "SQLite's records per transaction"): SQLite at 1,000,
    # the engine's CPU per order -5 to -14 % against 500 (3 pairs at load 12-15); the price, a shopDelete mid-import
    # waiting p50 0.60 -> 0.94 s (load 16-30) and benchmark 9's write p50 about doubled in 2 of 3 pairs at load 13-17
    # (at load 4-5 not longer: p95 566-671 ms against 827-933 ms at 500).
    batch_records: int = 500
    max_attempts: int = 5  # failed runs of one task (`SyncTask.failed_attempts`; interrupted ones not) before it FAILS
    time_limit_seconds: float | None = None  # one run's deadline (then TIME_LIMIT_EXCEEDED, or a retry); None: none
    heartbeat_seconds: float = 15.0  # the task's heartbeat while no page arrives


@dataclass(frozen=True, slots=True)
class SyncDeps:
    uow_factory: UnitOfWorkFactory
    shop_api: ShopApiFactory
    events: EventPublisher
    clock: Clock
    options: SyncOptions = field(default_factory=SyncOptions)
    queue: TaskQueue | None = None  # the pool's pushes after a batch changed stock (None: the pusher's sweep)
    # The delay the queue will retry the current run after, should it fail on an outage (drawn before: the worker's
    # `workers.outages.drawn_retry_delay`); None when unknown. Sets a retried task's `retry_at`.
    retry_delay: Callable[[], timedelta | None] = lambda: None


class _Stopped(Exception):
    """The run no longer owns the task (cancelled, finished, taken over, shop gone): stop, write nothing."""


@dataclass(frozen=True, slots=True)
class HandedBack:
    """`run_sync_task`'s answer when the run met its shop's delete, which holds the shop or waits to take it, before it
    took the shop (as it begins, before a batch, before its finish), and gave the run back instead of waiting for the
    delete's end (15-27 s on a 20k-order shop, its worker thread held: README "Deleting a large shop"): nothing of
    that unit of work was written, the checkpoint is the last batch's. The caller sends the task's message again
    (`workers.actors.run_sync_task`: 1 s later, its retries untouched) with `attempt` as its `resumes_attempt`: once
    the delete rolls back the task resumes from its checkpoint, no failed run counted; once it commits the task is
    gone and the message a no-op. `attempt`: the lease the task may still be RUNNING under (None: none)."""

    attempt: int | None


@dataclass(frozen=True, slots=True)
class StaleStatistics:
    """`run_sync_task`'s answer when its task SUCCEEDED after creating or changing more than
    `domain.sync.STATISTICS_REFRESH_AFTER` records of `kind` (`SyncTask.wrote_many_rows`): the planner's statistics of
    the tables it wrote are stale. The caller refreshes them (`refresh_statistics`) once the run is over, outside the
    import's own time: `workers.actors.run_sync_task` at once, before its import slot is given back. The task is
    already SUCCEEDED and its shop's count counted again; nothing of the import waits for the refresh. `task_id`: the
    task, for the log line of a refresh that failed."""

    task_id: str
    kind: SyncKind


@dataclass(frozen=True, slots=True)
class _Run:
    deps: SyncDeps
    task: SyncTask  # as it began; the writer re-reads the row each time
    attempt: int


async def run_sync_task(
    task_id: str, deps: SyncDeps, resumes_attempt: int | None = None
) -> HandedBack | StaleStatistics | None:
    """Run the task to its end, or raise for the queue to retry it; a finished or unknown task is a no-op. Returns
    `HandedBack` when the run gave the task back to its shop's delete (send its message again); `StaleStatistics`
    when it SUCCEEDED after writing many rows (refresh the planner's statistics: `refresh_statistics`); else None.
    `resumes_attempt`: a handed-back run's lease (`HandedBack.attempt`), resumed without counting it as failed."""
    try:
        begun = await _begin(task_id, deps, resumes_attempt)
    except ShopBeingDeletedError:
        log.info("sync task %s not begun: its shop's delete holds the shop or waits for it; sent again", task_id)
        return HandedBack(resumes_attempt)
    if begun is None:
        return None
    run, shop = begun
    try:
        await _import_within_time_limit(run, shop)
        return await _finish(run)
    except _Stopped:
        log.info("sync task %s stopped (cancelled, taken over or its shop deleted)", task_id)
    except ShopBeingDeletedError:
        return await _yield_to_delete(run)
    except AuthorizationLostError as exc:
        log.warning(
            "sync task %s: TikTok refused the shop's authorization (request_id=%s); the shop needs re-authorizing",
            task_id,
            exc.request_id,
        )
        message = "TikTok no longer honours the shop's authorization; re-authorize it."
        return await _fail(
            run, ErrorCode.REAUTHORIZATION_REQUIRED, message, refused=shop, refused_token=exc.refused_access_token
        )
    except GatewayRefusedError as exc:  # retrying the same request cannot help: fail this task only, at once
        log.warning("sync task %s: TikTok refused a request: %s", task_id, exc)
        return await _fail(run, *refusal_outcome(exc))
    except (TikTokUnavailableError, TimeLimitExceededError) as exc:
        if isinstance(exc, TimeLimitExceededError):
            code, message = ErrorCode.TIME_LIMIT_EXCEEDED, str(exc)
        else:
            code, message = ErrorCode.TIKTOK_UNAVAILABLE, f"TikTok stayed unavailable: {exc}"
        # an outage's retry is the worker's, with the delay drawn for it (a time limit's may be too: not assumed)
        retry_in = run.deps.retry_delay() if code is ErrorCode.TIKTOK_UNAVAILABLE else None
        if await _failed_attempt(run, code, message, retry_in) == "retry":
            raise  # the queue retries with backoff; the next attempt resumes from the checkpoint
    except DomainError as exc:  # a rule refused the import: retrying cannot help (the actor `throws=` it too)
        return await _fail(run, exc.code, exc.message)
    except asyncio.CancelledError:
        # Stopped from outside (a shutdown or deploy cancels its runs and sends their messages again): the run did
        # not fail, so the task goes back QUEUED with no failed run counted. Shielded: the write outlives the cancel.
        await asyncio.shield(_hand_back(run))
        raise
    except Exception:
        if await _gone(run):  # e.g. a foreign-key error from a write racing the shop's deletion
            log.info("sync task %s stopped (cancelled, taken over or its shop deleted)", task_id)
            return None
        outcome = await _failed_attempt(run, INTERNAL_ERROR, "The import failed unexpectedly; it has been logged.")
        if outcome == "retry":
            raise
        if outcome == "failed":
            log.exception("sync task %s failed on its last attempt", task_id)
    return None


async def _import_within_time_limit(run: _Run, shop: Shop) -> None:
    limit, deps = run.deps.options.time_limit_seconds, run.deps
    # A token another process refreshed meanwhile is no lost authorization: the session adopts the stored pair.
    api = deps.shop_api(shop, StoredShopTokens(deps.uow_factory, deps.clock, shop, deps.events, deps.queue))
    try:
        await within_time_limit(limit, _import(run, api))
    except TimeLimitExceededError:
        log.warning("sync task %s: run %d passed its time limit of %s s", run.task.id, run.attempt, limit)
        raise


async def _begin(task_id: str, deps: SyncDeps, resumes_attempt: int | None = None) -> tuple[_Run, Shop] | None:
    """The task RUNNING under a new lease, committed, and the shop; None when there is nothing to run. Raises
    `ShopBeingDeletedError`, nothing written, when the shop's delete holds the shop or waits for it."""
    # Rows are locked shop first, then task, everywhere (as a shop's deletion does): no deadlock on PostgreSQL.
    async with deps.uow_factory() as uow:
        peek = await uow.sync_tasks.get(task_id)
    if peek is None or peek.status.is_terminal:
        return None  # already done, or gone with its shop: at-least-once delivery makes this normal
    now = deps.clock.now()
    run: _Run | None = None
    try:
        async with deps.uow_factory() as uow:
            # Never waits for the shop's delete (it raises), and held, no delete takes the shop before the commit.
            await uow.shops.hold_unless_deleting(peek.shop_id)
            shop = await uow.shops.get(peek.shop_id)
            task = await uow.sync_tasks.get(task_id)
            if shop is None or task is None:
                return None
            was_active = task.is_active
            if not task.begin_attempt(now, deps.options.max_attempts, resumes_attempt):
                if not was_active:
                    return None
                # a cancel arrived while it waited in the queue, or its failed runs (workers that died) spent the budget
                if task.status is SyncTaskStatus.FAILED:
                    log.error("sync task %s given up: %s", task_id, task.error_message)
                await _save_and_publish(uow, deps, task)
                if task.status is SyncTaskStatus.FAILED:
                    await publish_shop_quietly(deps.events, shop)  # its attention (failing syncs) changed
                return None
            try:
                ensure_shop_can_sync(shop, now)
            except DomainError as exc:
                task.fail_run(exc.code, exc.message, now)
                await _save_and_publish(uow, deps, task)
                return None
            run = _Run(deps, task, task.attempts)
            if not await _save_and_publish(uow, deps, task):
                return None
    except asyncio.CancelledError:
        # Stopped from outside as it began (its commit of RUNNING done, its signal under way): handed back like any
        # interrupted run, not left RUNNING for the stale sweep to count as failed. After the transaction ended (it
        # holds the task's row, which the hand-back takes); a commit that did not happen leaves nothing to hand back.
        if run is not None:
            await asyncio.shield(_hand_back(run))
        raise
    return run, shop


async def _import(run: _Run, api: ShopApi) -> None:
    options = run.deps.options
    task = await _owned_task(run)  # the checkpoint as stored now (a token renewal restarts mid-way)
    sources: list[Source]
    store: _Upsert
    if task.trigger is SyncTrigger.SCHEDULED:  # a poll of the backstop: changes in its update_time window
        sources = [poll_source(api, task, options.page_size)]
        store = _upsert_orders if task.kind is SyncKind.ORDERS else _upsert_products
    elif task.kind is SyncKind.PRODUCTS:
        sources = [partial(_product_pages, api, task.checkpoint.get("products"), options.page_size)]
        store = _upsert_products
    else:
        since, until = task.orders_created_since, task.orders_created_until
        assert since is not None and until is not None  # an ORDERS task always has its window
        plan = load_slices(task.checkpoint, since, until, options.order_slices)
        sources = [
            partial(slice_pages, partial(_search_created, api), plan, index, options.page_size)
            for index, state in enumerate(plan)
            if not state.done
        ]
        store = _upsert_orders
    await run_pipeline(
        sources,
        partial(_store, run, store),
        concurrency=len(sources),
        queue_pages=options.queue_pages,
        batch_records=options.batch_records,
        heartbeat_seconds=options.heartbeat_seconds,
    )


async def _owned_task(run: _Run) -> SyncTask:
    async with run.deps.uow_factory() as uow:
        task = await uow.sync_tasks.get(run.task.id)
    if task is None or not task.holds_lease(run.attempt):
        raise _Stopped
    return task


async def _product_pages(api: ShopApi, checkpoint: dict[str, Any] | None, page_size: int) -> AsyncIterator[Chunk]:
    async for scan in api.scan_products(checkpoint, page_size):
        yield Chunk(scan.page.items, partial(_mark_products, scan.checkpoint, scan.total_count))


def _mark_products(checkpoint: dict[str, Any], total: int | None, task: SyncTask) -> None:
    task.checkpoint["products"] = checkpoint
    if total is not None:
        task.total = total


async def _search_created(api: ShopApi, page_size: int, token: str | None, ge: int, lt: int) -> Page[OrderRecord]:
    return await api.search_orders(page_size=page_size, page_token=token, create_time_ge=ge, create_time_lt=lt)


_Upsert = Callable[[UnitOfWork, "SyncDeps", str, list[object]], Awaitable[UpsertCounts]]


async def _upsert_products(uow: UnitOfWork, deps: SyncDeps, shop_id: str, records: list[object]) -> UpsertCounts:
    products = [r for r in records if isinstance(r, _PRODUCT_TYPES)]
    counts = await uow.catalog.upsert_products(shop_id, products)
    await inventory.pool_products(uow, deps.queue, deps.events, shop_id, products)  # same transaction
    return counts


async def _upsert_orders(uow: UnitOfWork, deps: SyncDeps, shop_id: str, records: list[object]) -> UpsertCounts:
    orders = [r for r in records if isinstance(r, _ORDER_TYPES)]
    return await inventory.store_orders(uow, deps.queue, deps.events, shop_id, orders)  # the batch writer


async def _store(run: _Run, upsert: _Upsert, chunks: list[Chunk]) -> None:
    """One batch, the counters and the checkpoint in one transaction; or stop if the run lost the task. A transaction
    the database aborted as a deadlock or a serialization failure is run again whole (`run_again_on_conflict`: it
    reads the task afresh and upserts the same records), not the run's attempt spent with an ERROR."""
    await run_again_on_conflict(partial(_store_once, run, upsert, chunks), f"sync task {run.task.id}: a batch")


async def _store_once(run: _Run, upsert: _Upsert, chunks: list[Chunk]) -> None:
    deps = run.deps
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        # The shop, then the task, as everywhere: holding the task while the batch's upsert waited for the shop,
        # a page deadlocked with the shop's delete on PostgreSQL (it holds the shop, then locks the shop's tasks).
        # Held against its delete only: the batch changes no column of the shop, and a rename or a token refresh
        # waited for the batch's whole transaction (up to 1.4 s a rename during a large import, bench 9). Never
        # waiting for the delete (`hold_unless_deleting` raises `ShopBeingDeletedError` while it holds the shop or
        # waits to take it: the run is handed back, `_yield_to_delete`), nor keeping it waiting past this batch.
        shop_exists = await uow.shops.hold_unless_deleting(run.task.shop_id)
        task = await uow.sync_tasks.get(run.task.id)
        if not shop_exists or task is None or not task.holds_lease(run.attempt):
            raise _Stopped
        if task.honour_cancel(now):
            await _save(uow, task)
            await publish_quietly(deps.events, task)
            raise _Stopped
        records, failures, duplicates = _split([item for chunk in chunks for item in chunk.items])
        try:
            counts = await upsert(uow, deps, task.shop_id, records) if records else UpsertCounts()
        except ShopGoneError:
            raise _Stopped from None
        task.record_batch(counts.created, counts.updated, counts.unchanged + duplicates, failures)
        if failures:  # kept past the task (RECORDS_UNREADABLE) until a read of the same id is stored
            await uow.catalog.mark_unreadable(task.shop_id, task.kind, failures, now)
        for chunk in chunks:
            chunk.mark(task)
        task.touch(now)
        await record_poll_progress(uow, task, now)  # a poll's cursor moves with the pages it stored
        if not await _save(uow, task):
            raise _Stopped
    await publish_quietly(deps.events, task)  # after the transaction: never hold a connection for a signal


def _split(items: Sequence[object]) -> tuple[list[object], list[RecordFailure], int]:
    """Records (deduplicated by TikTok id: one batch may not repeat a key), failures, and duplicates dropped."""
    by_id: dict[str, object] = {}
    failures: list[RecordFailure] = []
    for item in items:
        if isinstance(item, RecordFailure):
            failures.append(item)
        elif isinstance(item, _PRODUCT_TYPES):
            by_id[item.tiktok_product_id] = item
        elif isinstance(item, _ORDER_TYPES):
            by_id[item.tiktok_order_id] = item
    duplicates = len(items) - len(failures) - len(by_id)
    return list(by_id.values()), failures, duplicates


async def _finish(run: _Run) -> StaleStatistics | None:
    """The task's last write (SUCCEEDED, or CANCELLED by a pending cancel; the shop's last sync; a poll's cursor),
    then, after it, the shop's count; `StaleStatistics` when the planner's statistics are to be refreshed, which the
    caller does after the run (`refresh_statistics`: stop 66 took the `ANALYZE`, 0.7-2 s after a 50,000-order import,
    out of the import's own time; bench/README.md "Benchmarks 1 and 2 on PostgreSQL, stop 66"). The write is one
    whole unit of work (it reads the shop and the task afresh, changes only what it read, commits, then signals), so
    it is run again whole when the database aborts it as a deadlock or a serialization failure
    (`run_again_on_conflict`): before, such a conflict failed the run after all its pages were stored, and its next
    attempt imported everything again."""
    task = await run_again_on_conflict(partial(_finish_once, run), f"sync task {run.task.id}: its finish")
    if task.status is not SyncTaskStatus.SUCCEEDED:
        return None
    await _recount(run, task.kind)
    return StaleStatistics(task.id, task.kind) if task.wrote_many_rows else None


async def _finish_once(run: _Run) -> SyncTask:
    deps = run.deps
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        await uow.shops.hold_unless_deleting(run.task.shop_id)  # as a batch: never waits for the shop's delete
        shop = await uow.shops.get(run.task.shop_id)
        task = await uow.sync_tasks.get(run.task.id)
        if shop is None or task is None or not task.holds_lease(run.attempt):
            raise _Stopped  # its last page was stored, then the shop deleted (or the task taken over)
        if not task.honour_cancel(now):
            task.succeed(now)
            shop.record_sync(now)
            await uow.shops.update(shop)
            await finish_poll(uow, task, now)  # a poll: cursor to its window's end; older empty polls folded
            await _rerun_after_poll(uow, deps, shop, task)
        if not await _save_and_publish(uow, deps, task):
            raise _Stopped
    await publish_shop_quietly(deps.events, shop)
    return task


async def _recount(run: _Run, kind: SyncKind) -> None:
    """After an import, the shop's running count of its kind counted again (`CatalogRepository.recount`): one COUNT,
    which mends what a writer of an earlier release left uncounted. Best effort, after the task is reported done.

    The shop is taken first as a batch takes it (`ShopRepository.hold_unless_deleting`), so the count never waits
    for the shop's delete with the worker's thread (before: its row's foreign key waited for the delete's end, 15-27 s
    on a 20k-order shop): gone, or being deleted, it is not counted again (one INFO line); the count the batches kept,
    in their own transactions, stands, and the next import's recount mends what this one would have."""
    try:
        async with run.deps.uow_factory() as uow:
            if not await uow.shops.hold_unless_deleting(run.task.shop_id):
                return  # gone with its shop
            await uow.catalog.recount(run.task.shop_id, kind)
            await uow.commit()
    except ShopBeingDeletedError:
        log.info(
            "sync task %s: the shop's %s not counted again: its delete holds the shop or waits for it",
            run.task.id,
            kind.lower(),
        )
    except Exception as exc:
        _could_not(run, f"count the shop's {kind.lower()} again", exc)


async def refresh_statistics(stale: StaleStatistics, deps: SyncDeps) -> None:
    """After a large import (`run_sync_task`'s `StaleStatistics`), fresh planner statistics of the tables an import
    of `stale.kind` writes (`CatalogRepository.refresh_statistics`: PostgreSQL's `ANALYZE`; SQLite keeps none), so the
    orders page, a shop's delete and the next import's reads are planned for the tables' real size at once rather
    than after the next autovacuum. Best effort: a failure is one WARNING line ("sync task {id}: could not refresh
    the planner's statistics: {the error}"), and swallowed."""
    try:
        async with deps.uow_factory() as uow:
            await uow.catalog.refresh_statistics(stale.kind)
            await uow.commit()
    except Exception as exc:
        what = "refresh the planner's statistics"
        log.warning("sync task %s: could not %s: %s", stale.task_id, what, failure(exc), exc_info=traced(exc))


async def _fail(
    run: _Run, code: ErrorCode, message: str, *, refused: Shop | None = None, refused_token: str | None = None
) -> HandedBack | None:
    """Fail the task with `code`; `refused`: the shop as the run loaded it, whose authorization TikTok refused (the
    shop is revoked then, by `Shop.revoke_refused`'s rule; `refused_token`: the access token refused, when known).
    Returns `HandedBack` instead, nothing written (`_yield_to_delete`), when the failure meets its shop's delete,
    which holds the shop or waits for it (`ShopRepository.hold_unless_deleting`; before, the write waited for the
    delete's end with the worker's thread, 15-27 s on a 20k-order shop); else None.
    One whole unit of work (the shop and the task read afresh, `refused` only read), run again whole when the database
    aborts it as a deadlock or a serialization failure (`run_again_on_conflict`): before, the conflict was raised out of
    the run, the task left RUNNING with its failure unsaid until the queue's retry (or the stale sweep) counted the run
    as failed and ran it again."""
    what = f"sync task {run.task.id}: its failure"
    try:
        shop = await run_again_on_conflict(partial(_fail_once, run, code, message, refused, refused_token), what)
    except ShopBeingDeletedError:
        # Its shop's delete holds the shop or waits for it: nothing written, the run handed back as a batch's is. A
        # delete that commits leaves nothing to record; after a rollback the resumed run asks TikTok the same request
        # from the same checkpoint and records the refusal it meets then (counted once: the handed-back run is not).
        log.info("sync task %s: its failure (%s) met its shop's delete; handed back", run.task.id, code)
        return await _yield_to_delete(run)
    if shop is not None:
        await publish_shop_quietly(run.deps.events, shop)  # its status (revoked) or attention (failing) changed
    return None


async def _fail_once(
    run: _Run, code: ErrorCode, message: str, refused: Shop | None, refused_token: str | None
) -> Shop | None:
    """`_fail`'s unit of work; the shop as stored, or None when the run no longer owns the task. Raises
    `ShopBeingDeletedError`, nothing written, when the shop's delete holds the shop or waits for it."""
    deps = run.deps
    now = deps.clock.now()
    async with deps.uow_factory() as uow:
        await uow.shops.hold_unless_deleting(run.task.shop_id)  # as a batch: never waits for the shop's delete
        shop = await uow.shops.get(run.task.shop_id)
        task = await uow.sync_tasks.get(run.task.id)
        if shop is None or task is None or not task.holds_lease(run.attempt):
            return None
        task.fail_run(code, message, now)
        if refused is not None and shop.revoke_refused(refused, now, refused_token):
            await uow.shops.update(shop)
        elif refused is not None and shop.authorized_at != refused.authorized_at and shop.revoked_at is None:
            await _run_again_after_reauthorization(uow, deps, task)
        await _save_and_publish(uow, deps, task)
    return shop


async def _run_again_after_reauthorization(uow: UnitOfWork, deps: SyncDeps, failed: SyncTask) -> None:
    """In `_fail_once`'s transaction, for a run whose refused request was sent with the authorization the merchant
    has replaced since (the shop re-authorized while the import ran, so that re-authorization found it active and
    queued nothing, `domain.services.sync.rerun_failed_imports`): queue the import again as the re-authorization
    would have (`domain.sync.rerun_after_reauthorization`: PRODUCTS or ORDERS from an authorization or a merchant's
    start, ORDERS over the failed task's window), sent after the commit (`send_tasks`). A poll is left to the next
    poll. Nothing when a task of the kind became active meanwhile (SYNC_ALREADY_RUNNING). review69 R1: before, the
    task FAILED with REAUTHORIZATION_REQUIRED on an ACTIVE shop and the window was never read again."""
    if failed.trigger is SyncTrigger.SCHEDULED or failed.kind not in CONNECTION_KINDS:
        return
    again = rerun_after_reauthorization(failed, None, deps.clock.now())
    if again is None:
        return
    await uow.sync_tasks.update(failed)  # FAILED first: the one active task of a shop and kind may be the new one
    if not await add_unless_running(uow, again):
        return
    log.info("sync task %s: refused with the authorization replaced since; %s queued again", failed.id, again.id)
    if deps.queue is not None:
        uow.after_commit(partial(send_tasks, deps.uow_factory, deps.queue, deps.events, [again]))


async def _rerun_after_poll(uow: UnitOfWork, deps: SyncDeps, shop: Shop, poll: SyncTask) -> None:
    """In `_finish_once`'s transaction, for a poll that SUCCEEDED: queue again its kind's import that a lost
    authorization failed before the shop's re-authorization, which found this poll active and could not queue it
    (`domain.sync.rerun_after_poll`, review69 R2), sent after the commit (`send_tasks`). One indexed read of the
    kind's newest import per successful poll; nothing when a task of the kind became active meanwhile, nor for a shop
    that cannot sync now (the seller removed the app again while the poll read: its begin would fail the re-run, a
    second FAILED task, review70 F4; the next re-authorization queues it). A refresh that lifts a revocation queues
    its re-runs itself (`domain.services.sync.rerun_failed_imports`): no poll can hold the kind then (review71 F1)."""
    if poll.trigger is not SyncTrigger.SCHEDULED or poll.kind not in CONNECTION_KINDS:
        return
    now = deps.clock.now()
    try:
        ensure_shop_can_sync(shop, now)
    except DomainError:
        return
    latest = await uow.sync_tasks.latest_import(shop.id, poll.kind)
    again = rerun_after_poll(latest, shop.authorized_at, now)
    if again is None or again.merchant_id != shop.merchant_id:
        return
    await uow.sync_tasks.update(poll)  # SUCCEEDED first: the one active task of a shop and kind may be the new one
    if not await add_unless_running(uow, again):
        return
    log.info("shop %s: its %s import, failed by the lost authorization, runs again after poll %s", shop.id,
             poll.kind, poll.id)  # fmt: skip
    if deps.queue is not None:
        uow.after_commit(partial(send_tasks, deps.uow_factory, deps.queue, deps.events, [again]))


async def _gone(run: _Run) -> bool:
    """True when the task's row no longer exists (its shop was deleted)."""
    try:
        async with run.deps.uow_factory() as uow:
            return await uow.sync_tasks.get(run.task.id) is None
    except Exception:
        return False


async def _save(uow: UnitOfWork, task: SyncTask) -> bool:
    """Update and commit; False (nothing committed) when the task's row is gone with its shop."""
    if not await uow.sync_tasks.update(task):
        return False
    await uow.commit()
    return True


async def _save_and_publish(uow: UnitOfWork, deps: SyncDeps, task: SyncTask) -> bool:
    if not await _save(uow, task):
        return False
    await publish_quietly(deps.events, task)
    return True


async def _failed_attempt(
    run: _Run, code: ErrorCode, message: str, retry_in: timedelta | None = None
) -> Literal["retry", "failed", "stopped"]:
    """The run failed in a way another run may get past (`SyncTask.fail_attempt`): "retry" when the queue should
    retry it (the task QUEUED meanwhile, the failed run counted); "failed" when this was its last allowed failure
    (FAILED with `code` and `message`); "stopped" when a pending cancel ended it or the run no longer owns it (gone
    with its shop, taken over). `retry_in`: the queue's retry delay, if known (the task's `retry_at`). Best effort:
    should the database fail too, "retry": the task stays RUNNING, and the next run's `begin_attempt` (or the stale
    sweep's `requeue`) counts this run as failed. So too, nothing written, when the shop's delete holds the shop or
    waits for it (`ShopRepository.hold_unless_deleting`; before, the write waited for the delete's end with the
    worker's thread): the queue's retry, sent back while the delete lasts (`workers.resources.Resources.serving`),
    is a no-op once it commits and counts this run as failed once it rolls back (`SyncTask.begin_attempt`: the task
    RUNNING under another lease than the message's `resumes_attempt`); the task shows no error code meanwhile, and
    on the last allowed failure it ends FAILED at that begin, code INTERNAL, not `code`."""
    deps = run.deps
    try:
        async with deps.uow_factory() as uow:
            await uow.shops.hold_unless_deleting(run.task.shop_id)  # as a batch: never waits for the shop's delete
            shop = await uow.shops.get(run.task.shop_id)
            task = await uow.sync_tasks.get(run.task.id)
            owned = shop is not None and task is not None and task.holds_lease(run.attempt)
            if owned:
                assert task is not None
                now = deps.clock.now()
                retry_at = now + retry_in if retry_in is not None else None
                retry = task.fail_attempt(code, message, now, deps.options.max_attempts, retry_at)
                owned = await _save_and_publish(uow, deps, task)
    except ShopBeingDeletedError:
        log.info(
            "sync task %s: its failed run (%s) met its shop's delete; left to the queue's retry, which counts it",
            run.task.id,
            code,
        )
        return "retry"
    except Exception as exc:
        _could_not(run, "record its failed run", exc)
        return "retry"
    if not owned or task is None or shop is None or task.status is SyncTaskStatus.CANCELLED:
        log.info("sync task %s stopped (cancelled, taken over or its shop deleted)", run.task.id)
        return "stopped"
    if task.status is SyncTaskStatus.FAILED:
        await publish_shop_quietly(deps.events, shop)  # its attention (failing syncs) changed
        return "failed"
    return "retry" if retry else "stopped"


async def _hand_back(run: _Run) -> None:
    """A run stopped from outside (a shutdown): the task QUEUED again, no failed run counted (`SyncTask.hand_back`).
    Best effort: should the database fail, the task stays RUNNING and the next run counts this one as failed."""
    deps = run.deps
    try:
        async with deps.uow_factory() as uow:
            task = await uow.sync_tasks.get(run.task.id)
            if task is None or not task.holds_lease(run.attempt):
                return
            task.hand_back(deps.clock.now())
            await _save_and_publish(uow, deps, task)
    except Exception as exc:
        _could_not(run, "hand it back after the interruption", exc)


async def _yield_to_delete(run: _Run) -> HandedBack | None:
    """The run met its shop's delete (`ShopBeingDeletedError`) before a batch or its finish, whose unit of work rolled
    back with nothing written. The task is handed back QUEUED (`SyncTask.hand_back`: no failed run counted), or
    CANCELLED by a cancel the merchant asked for meanwhile (the delete asks nothing of the task outside its own
    transaction, so a delete that rolls back leaves a running import to go on: review61b D1), in a unit
    of work that never waits: while the delete holds the task's row (it cancels, then removes, the shop's tasks in
    its transaction) nothing is written and the task stays RUNNING under the run's lease, which the next delivery
    resumes (`SyncTask.begin_attempt(resumes=)`) should the delete roll back. Returns `HandedBack(run.attempt)`
    (the message to send again) unless the task ended here or another run has taken it over. Best effort: should
    the database fail, `HandedBack` all the same (the next delivery resumes the task)."""
    deps = run.deps
    try:
        async with deps.uow_factory() as uow:
            task = await uow.sync_tasks.get(run.task.id, unless_locked=True)
            if task is not None:
                if not task.holds_lease(run.attempt):
                    log.info("sync task %s stopped (cancelled, taken over or its shop deleted)", run.task.id)
                    return None
                handed_back = task.hand_back(deps.clock.now())  # False: a pending cancel ended it
                if not await _save_and_publish(uow, deps, task) or not handed_back:
                    log.info("sync task %s stopped (cancelled, taken over or its shop deleted)", run.task.id)
                    return None
    except Exception as exc:
        _could_not(run, "hand it back to its shop's delete", exc)
    log.info(
        "sync task %s handed back: its shop's delete holds the shop or waits for it; it resumes from its checkpoint "
        "if the delete rolls back",
        run.task.id,
    )
    return HandedBack(run.attempt)


def _could_not(run: _Run, what: str, exc: Exception) -> None:
    """The WARNING line of a best-effort write that failed: "sync task {id}: could not {what}: {the error}"; one
    line when the database (or another registered outage) is unavailable, with its traceback for a bug (`traced`)."""
    log.warning("sync task %s: could not %s: %s", run.task.id, what, failure(exc), exc_info=traced(exc))
