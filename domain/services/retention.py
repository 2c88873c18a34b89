"""Retention: rows nobody reads any more are deleted by the worker's sweep, in short batches, oldest first.

One loop (`prune_in_batches`) for every table and one call per kind of row (`prune` of a `Retained`); what may go
is each repository's `delete_*`, after the rule of its model: settled webhook events past
`SHOPBRIDGE_WEBHOOK_RETENTION` (`domain.services.inbox.SETTLED_EVENTS`), finished sync tasks past
`SHOPBRIDGE_TASK_RETENTION` but the newest of each role of each shop and kind (`FINISHED_TASKS`,
`SyncTask.may_be_pruned`), OAuth requests a day past their expiry (`SPENT_AUTHORIZATIONS`,
`AuthorizationRequest.may_be_pruned`), the records of lines a shop's delete deducted that no reconnect can match any
more (`DELETED_SHOP_LINES`, `domain.inventory.ledger.deleted_line_forgotten`), and the marks of records a sync could
not read (RECORDS_UNREADABLE) that first failed past `SHOPBRIDGE_TASK_RETENTION` (`UNREADABLE_RECORDS`).

Each batch is its own short transaction (milliseconds of SQLite's single write lock), with a pause between two
so that writers waiting for that lock (imports, the webhook intake) go first; a call stops after `max_batches`,
and the next sweep goes on with a backlog (the first sweep after an upgrade). Every call is idempotent and safe
beside another process's: the repositories take rows no other sweep holds (PostgreSQL: FOR UPDATE SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.authorization import KEPT_AFTER_EXPIRY
from domain.clock import Clock
from domain.inventory.ledger import DELETED_LINE_KEPT
from domain.ports import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

PRUNE_BATCH_SIZE = 500  # rows deleted per transaction: milliseconds of SQLite's single write lock
PRUNE_MAX_BATCHES = 200  # per call: a backlog (the first sweep after an upgrade) is worked off over several sweeps
PRUNE_PAUSE_SECONDS = 0.05  # between two batches: writers waiting for SQLite's lock (imports, the intake) go first

DeleteBatch = Callable[[UnitOfWork, int], Awaitable[int]]
"""Delete at most the given number of rows in the unit of work (oldest first); returns how many it deleted."""


async def prune_in_batches(
    uow_factory: UnitOfWorkFactory,
    delete_batch: DeleteBatch,
    *,
    batch_size: int = PRUNE_BATCH_SIZE,
    max_batches: int = PRUNE_MAX_BATCHES,
    pause_seconds: float = PRUNE_PAUSE_SECONDS,
) -> int:
    """Run `delete_batch` in a transaction of its own each time until it deletes fewer than `batch_size` rows, at
    most `max_batches` times; returns how many rows it deleted in all."""
    deleted = 0
    for batch in range(max_batches):
        if batch:
            await asyncio.sleep(pause_seconds)
        async with uow_factory() as uow:
            count = await delete_batch(uow, batch_size)
            await uow.commit()
        deleted += count
        if count < batch_size:
            break
    return deleted


@dataclass(frozen=True, slots=True)
class Retained:
    """A kind of row the sweep deletes once it is older than its time (`prune`): `delete(uow, cutoff, limit)` is
    its repository's `delete_*` (at most `limit` rows older than the UTC `cutoff`, oldest first; returns how many),
    `what` names them in the log line, `kept` is how long they stay when the caller gives no time of its own
    (None: the caller must, from a setting)."""

    what: str
    delete: Callable[[UnitOfWork, datetime, int], Awaitable[int]]
    kept: timedelta | None = None


async def prune(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    retained: Retained,
    kept: timedelta | None = None,
    *,
    batch_size: int = PRUNE_BATCH_SIZE,
    max_batches: int = PRUNE_MAX_BATCHES,
    pause_seconds: float = PRUNE_PAUSE_SECONDS,
) -> int:
    """Delete the rows of `retained` older than `kept` (or `retained.kept`), `prune_in_batches`; one INFO line
    "pruned <n> <what> before <cutoff>" when any row went. Returns how many did.

    Raises ValueError when neither `kept` nor `retained.kept` is given."""
    kept = kept if kept is not None else retained.kept
    if kept is None:
        raise ValueError(f"no retention period for {retained.what}")
    cutoff = clock.now() - kept

    async def delete_batch(uow: UnitOfWork, limit: int) -> int:
        return await retained.delete(uow, cutoff, limit)

    deleted = await prune_in_batches(
        uow_factory, delete_batch, batch_size=batch_size, max_batches=max_batches, pause_seconds=pause_seconds
    )
    if deleted:
        log.info("pruned %d %s before %s", deleted, retained.what, cutoff.isoformat())
    return deleted


FINISHED_TASKS = Retained(
    "sync task(s) finished", lambda uow, cutoff, limit: uow.sync_tasks.delete_finished(cutoff, limit)
)
"""Sync tasks that finished (SUCCEEDED, FAILED, CANCELLED) before the cutoff (`SHOPBRIDGE_TASK_RETENTION`).

Never a QUEUED or RUNNING task, and never the newest task of a role of its shop and kind (`RetentionRole`): the
Task Center's current state, the last finished sync, the last successful import and poll, the last poll that
found a change, and the newest import whatever its status (the re-run a lost authorization owes, review70 F5) stay,
however old. Nothing else references a task's row (its checkpoint is in it)."""

SPENT_AUTHORIZATIONS = Retained(
    "authorization request(s) expired",
    lambda uow, cutoff, limit: uow.authorizations.delete_expired(cutoff, limit),
    KEPT_AFTER_EXPIRY,
)
"""OAuth authorization requests (used or not) that expired more than `KEPT_AFTER_EXPIRY` (a day) ago. Their state
can no longer be spent: a late redirect with it is INVALID_STATE either way."""

DELETED_SHOP_LINES = Retained(
    "deleted shop line record(s)",
    lambda uow, cutoff, limit: uow.inventory.forget_deleted_lines(cutoff, limit),
    DELETED_LINE_KEPT,
)
"""The records a shop's delete kept for that TikTok shop connected again, the open lines it deducted and the lines
it had applied (`deleted_shop_lines`), the units it took off as sold unseen (`deleted_shop_holds`) and its links'
times (`deleted_shop_links`), more than `DELETED_LINE_KEPT` (97 days) ago. No import of that TikTok shop connected
again can match them any more: the rule and why in `domain.inventory.ledger.deleted_line_forgotten`. (Before, a
shop deleted and never connected again kept a row per open line for good, until its item went.)"""

UNREADABLE_RECORDS = Retained(
    "unreadable record mark(s) failed", lambda uow, cutoff, limit: uow.catalog.forget_unreadable(cutoff, limit)
)
"""The marks of records a sync could not read (`CatalogRepository.mark_unreadable`, RECORDS_UNREADABLE) whose first
failure is older than the cutoff (`SHOPBRIDGE_TASK_RETENTION`, as the tasks that failed them). A read of the record
stored clears its mark at once; this ends the marks no read will clear (review52b: a product deleted at TikTok, a
completed order never updated again, read by no poll or import again): the notice would otherwise stay for good,
and 100 such marks of a kind would keep any new failure out. A record that still fails is marked again, with that
failure's time, by the next sync that reads it."""
