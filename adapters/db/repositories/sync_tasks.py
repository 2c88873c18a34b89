"""SqlSyncTaskRepository: sync task rows; a partial unique index allows one active task per shop and kind.

Retention (`delete_finished`) deletes finished tasks past `SHOPBRIDGE_TASK_RETENTION` that a newer task of their
shop, kind and role supersedes: `SyncTask.may_be_pruned` in SQL, one correlated EXISTS per role, each a probe of
the `(shop_id, kind, status, trigger, created_at)` index (migration 0009). The newest task of each role is never
superseded, and a task standing in for one that stands in for another stands in for that one too: two sweeps at
once never leave a role without its newest task.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.errors import is_unique_violation
from adapters.db.retention import delete_oldest
from adapters.db.rows import sync_task_fields
from adapters.db.tables import ACTIVE_TASK_UNIQUE, ACTIVE_TASK_WHERE, sync_tasks
from domain.errors import DomainError, ErrorCode
from domain.sync import (
    ACTIVE_STATUSES,
    IMPORT_TRIGGERS,
    TERMINAL_STATUSES,
    RetentionRole,
    SyncKind,
    SyncTask,
    SyncTaskStatus,
    SyncTrigger,
)

_ACTIVE = [status.value for status in ACTIVE_STATUSES]
_TERMINAL = [status.value for status in TERMINAL_STATUSES]
_IMPORT_TRIGGERS = [trigger.value for trigger in IMPORT_TRIGGERS]
_SCHEDULED = SyncTrigger.SCHEDULED.value
_SUCCEEDED = SyncTaskStatus.SUCCEEDED.value
_QUEUED = SyncTaskStatus.QUEUED.value
_UNSUCCESSFUL = [status for status in _TERMINAL if status != _SUCCEEDED]


class SqlSyncTaskRepository:
    """Implements `domain.ports.SyncTaskRepository`.

    Reads lock the row (`FOR NO KEY UPDATE` on PostgreSQL) so that a worker's progress write and a merchant's
    cancel, each a read-modify-write in its own unit of work, are serialised instead of overwriting each other.

    Lock order on PostgreSQL, one way for every transaction that locks a shop's row and its tasks' rows: the shop's
    row first (`SqlShopRepository.get`, `hold`, `update`), then its tasks' (`get`, `active`,
    `cancel_active_for_shop`), then its poll cursors (`SqlPollCursorRepository.get`, `save`). A use case that knows
    only a task's id reads it in a unit of work of its own first, for its shop's id (`importer._begin`,
    `webhook_registration.import_waits_for_registration`). A task's row first, then the shop's, deadlocked with a
    transaction holding the shop and asking for that task (CI run 1625: a new shop's two imports asking whether they
    still wait, each task first; `tests/integration/test_db_sync_lock_order.py`).
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, task: SyncTask) -> None:
        try:
            # A savepoint, so that the unit of work survives the refusal (see SqlShopRepository.add).
            async with self._session.begin_nested():
                await self._session.execute(insert(sync_tasks).values(_to_row(task)))
        except IntegrityError as exc:
            if is_unique_violation(exc, ACTIVE_TASK_UNIQUE, "sync_tasks.shop_id, sync_tasks.kind"):
                raise DomainError(
                    ErrorCode.SYNC_ALREADY_RUNNING,
                    f"This shop's {task.kind.value.lower()} sync is already queued or running.",
                ) from None
            raise

    async def get(
        self, task_id: str, merchant_id: str | None = None, *, unless_locked: bool = False
    ) -> SyncTask | None:
        """`FOR NO KEY UPDATE` (PostgreSQL; SQLite's write transactions are exclusive), with `SKIP LOCKED` when
        `unless_locked` (None while another transaction holds the row)."""
        query = select(sync_tasks).where(sync_tasks.c.id == task_id)
        if merchant_id is not None:
            query = query.where(sync_tasks.c.merchant_id == merchant_id)
        query = query.with_for_update(key_share=True, skip_locked=unless_locked)
        row = (await self._session.execute(query)).first()
        return None if row is None else _from_row(row)

    async def active(self, shop_id: str, kind: SyncKind) -> SyncTask | None:
        query = select(sync_tasks).where(
            sync_tasks.c.shop_id == shop_id, sync_tasks.c.kind == kind.value, sync_tasks.c.status.in_(_ACTIVE)
        )
        row = (await self._session.execute(query.with_for_update(key_share=True))).first()
        return None if row is None else _from_row(row)

    async def active_kinds(self) -> set[tuple[str, SyncKind]]:
        # The predicate of `uq_sync_tasks_active_shop_kind` word for word: its small index answers (shop_id, kind).
        query = select(sync_tasks.c.shop_id, sync_tasks.c.kind).where(ACTIVE_TASK_WHERE)
        return {(shop_id, SyncKind(kind)) for shop_id, kind in await self._session.execute(query)}

    async def update(self, task: SyncTask) -> bool:
        values = _to_row(task)
        for key in ("id", "shop_id", "merchant_id", "kind", "trigger", "created_at"):
            del values[key]
        # A cancel request is never taken back: a worker writing progress from a task it read before the
        # merchant cancelled must not erase the request.
        values["cancel_requested"] = or_(sync_tasks.c.cancel_requested, literal(task.cancel_requested))
        result = await self._session.execute(update(sync_tasks).where(sync_tasks.c.id == task.id).values(values))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def list_resumable(self, heartbeat_before: datetime) -> list[SyncTask]:
        last_sign_of_life = func.coalesce(sync_tasks.c.heartbeat_at, sync_tasks.c.created_at)
        query = (
            select(sync_tasks)
            .where(sync_tasks.c.status.in_(_ACTIVE), last_sign_of_life < heartbeat_before)
            .order_by(sync_tasks.c.created_at, sync_tasks.c.id)
        )
        return [_from_row(row) for row in await self._session.execute(query)]

    async def cancel_active_for_shop(self, shop_id: str, now: datetime) -> list[SyncTask]:
        """Cancel every QUEUED task at once and ask every RUNNING one to stop at its next page."""
        query = (
            select(sync_tasks)
            .where(sync_tasks.c.shop_id == shop_id, sync_tasks.c.status.in_(_ACTIVE))
            .order_by(sync_tasks.c.created_at, sync_tasks.c.id)
            .with_for_update(key_share=True)
        )
        tasks = [_from_row(row) for row in await self._session.execute(query)]
        for task in tasks:
            task.request_cancel(now)
            await self.update(task)
        return tasks

    async def mark_unsent(self, task_ids: Sequence[str]) -> int:
        if not task_ids:
            return 0
        result = await self._session.execute(
            update(sync_tasks)
            .where(sync_tasks.c.id.in_(list(task_ids)), sync_tasks.c.status == _QUEUED)
            .values(unsent=True)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def list_unsent(self, limit: int) -> list[str]:
        # The `(status, heartbeat_at)` index finds the QUEUED tasks (a few per shop at most); `unsent` filters them.
        query = (
            select(sync_tasks.c.id)
            .where(sync_tasks.c.status == _QUEUED, sync_tasks.c.unsent)
            .order_by(sync_tasks.c.created_at, sync_tasks.c.id)
            .limit(limit)
        )
        return list((await self._session.execute(query)).scalars())

    async def claim_unsent(self, task_id: str, now: datetime) -> bool:
        # One conditional UPDATE: of two processes claiming at once, the second finds the mark cleared (PostgreSQL
        # re-checks the condition on the row the first one committed; SQLite runs one write at a time).
        result = await self._session.execute(
            update(sync_tasks)
            .where(sync_tasks.c.id == task_id, sync_tasks.c.status == _QUEUED, sync_tasks.c.unsent)
            .values(unsent=False, heartbeat_at=now)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def last_succeeded(self, shop_id: str, kind: SyncKind, *, scheduled: bool) -> SyncTask | None:
        trigger = sync_tasks.c.trigger
        query = (
            select(sync_tasks)
            .where(
                sync_tasks.c.shop_id == shop_id,
                sync_tasks.c.kind == kind.value,
                sync_tasks.c.status == SyncTaskStatus.SUCCEEDED.value,
                trigger == _SCHEDULED if scheduled else trigger != _SCHEDULED,
            )
            .order_by(sync_tasks.c.finished_at.desc(), sync_tasks.c.id.desc())
            .limit(1)
        )
        row = (await self._session.execute(query)).first()
        return None if row is None else _from_row(row)

    async def latest_import(self, shop_id: str, kind: SyncKind) -> SyncTask | None:
        # Every status and import trigger named, as `manual_started_since`: the `(shop_id, kind, status, trigger,
        # created_at)` index (migration 0009) finds a shop's few imports among its many polls.
        query = (
            select(sync_tasks)
            .where(
                sync_tasks.c.shop_id == shop_id,
                sync_tasks.c.kind == kind.value,
                sync_tasks.c.status.in_([status.value for status in SyncTaskStatus]),
                sync_tasks.c.trigger.in_(_IMPORT_TRIGGERS),
            )
            .order_by(sync_tasks.c.created_at.desc(), sync_tasks.c.id.desc())
            .limit(1)
        )
        row = (await self._session.execute(query)).first()
        return None if row is None else _from_row(row)

    async def manual_started_since(self, shop_id: str, kind: SyncKind, since: datetime, limit: int) -> list[datetime]:
        # Every status named, so that the `(shop_id, kind, status, trigger, created_at)` index (migration 0009)
        # answers all five conditions: a probe per status, not a walk through the shop's polls.
        query = (
            select(sync_tasks.c.created_at)
            .where(
                sync_tasks.c.shop_id == shop_id,
                sync_tasks.c.kind == kind.value,
                sync_tasks.c.status.in_([status.value for status in SyncTaskStatus]),
                sync_tasks.c.trigger == SyncTrigger.MANUAL.value,
                sync_tasks.c.created_at > since,
            )
            .order_by(sync_tasks.c.created_at.desc())
            .limit(limit)
        )
        return list((await self._session.execute(query)).scalars())

    async def fold_empty_polls(self, shop_id: str, kind: SyncKind, keep: int) -> int:
        """One DELETE of the empty finished polls older than the newest `keep` of them."""
        empty = and_(
            sync_tasks.c.shop_id == shop_id,
            sync_tasks.c.kind == kind.value,
            sync_tasks.c.trigger == _SCHEDULED,
            sync_tasks.c.status == SyncTaskStatus.SUCCEEDED.value,
            sync_tasks.c.created == 0,
            sync_tasks.c.updated == 0,
            sync_tasks.c.failed == 0,
        )
        kept = (
            select(sync_tasks.c.id)
            .where(empty)
            .order_by(sync_tasks.c.created_at.desc(), sync_tasks.c.id.desc())
            .limit(keep)
        )
        result = await self._session.execute(
            delete(sync_tasks).where(empty, sync_tasks.c.id.not_in(kept.scalar_subquery()))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def delete_finished(self, finished_before: datetime, limit: int) -> int:
        # Soonest finished first through the `finished_at` index, a batch no other sweep holds.
        return await delete_oldest(
            self._session, sync_tasks, "id", _prunable_since, _finished_at, limit, {"finished_before": finished_before}
        )


def _in_role(tasks: FromClause, role: RetentionRole) -> ColumnElement[bool]:
    """The rows of `tasks` (finished ones) whose `SyncTask.retention_role` is `role`; triggers and statuses are
    listed, so that the `(shop_id, kind, status, trigger, created_at)` index finds them."""
    t = tasks.c
    if role is RetentionRole.FINISHED:
        return and_(t.status.in_(_UNSUCCESSFUL), t.trigger == _SCHEDULED)
    if role is RetentionRole.UNSUCCESSFUL_IMPORT:
        return and_(t.status.in_(_UNSUCCESSFUL), t.trigger.in_(_IMPORT_TRIGGERS))
    if role is RetentionRole.IMPORT:
        return and_(t.status == _SUCCEEDED, t.trigger.in_(_IMPORT_TRIGGERS))
    found_changes = or_(t.created > 0, t.updated > 0)
    return and_(
        t.status == _SUCCEEDED,
        t.trigger == _SCHEDULED,
        found_changes if role is RetentionRole.CHANGES_FOUND else not_(found_changes),
    )


def _standing_in_for(newer: FromClause, role: RetentionRole) -> ColumnElement[bool]:
    """The rows of `newer` whose role is among `role.stand_ins`, written as one indexable condition."""
    n = newer.c
    if role is RetentionRole.FINISHED:
        return n.status.in_(_TERMINAL)
    if role is RetentionRole.UNSUCCESSFUL_IMPORT:  # any finished import, whatever its status
        return and_(n.status.in_(_TERMINAL), n.trigger.in_(_IMPORT_TRIGGERS))
    if role is RetentionRole.POLL:
        return and_(n.status == _SUCCEEDED, n.trigger == _SCHEDULED)
    return _in_role(newer, role)  # IMPORT and CHANGES_FOUND: only their own role stands in


def _finished_at(tasks: FromClause) -> ColumnElement[Any]:
    """Retention's order: soonest finished first (the `finished_at` index)."""
    return tasks.c.finished_at


@functools.cache
def _prunable_since(tasks: FromClause) -> ColumnElement[bool]:
    """`_prunable` of the rows of `tasks` (the table: `delete_oldest` passes no other), finished before the bind
    parameter `finished_before` (UTC). Built once: each build made ~1,200 objects, one alias of `sync_tasks` per
    retention role with its column proxies, left as cyclic garbage, twice per retention batch (rss58)."""
    return _prunable(tasks, bindparam("finished_before"))


def _prunable(tasks: FromClause, finished_before: Any) -> ColumnElement[bool]:
    """`SyncTask.may_be_pruned` of the rows of `tasks` (the table or an alias): finished before `finished_before`
    (a UTC datetime, or a bind parameter standing for one) and superseded by a newer finished task of the same shop
    and kind whose role stands in for theirs."""
    t = tasks.c

    def superseded(role: RetentionRole) -> ColumnElement[bool]:
        newer = sync_tasks.alias()
        n = newer.c
        same = [n.shop_id == t.shop_id, n.kind == t.kind, _standing_in_for(newer, role)]
        later = [n.created_at > t.created_at, n.finished_at > t.finished_at]
        return select(n.id).where(*same, *later).correlate(tasks).exists()

    return and_(
        t.status.in_(_TERMINAL),
        t.finished_at < finished_before,
        or_(*(and_(_in_role(tasks, role), superseded(role)) for role in RetentionRole)),
    )


def _to_row(task: SyncTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "shop_id": task.shop_id,
        "merchant_id": task.merchant_id,
        "kind": task.kind.value,
        "trigger": task.trigger.value,
        "status": task.status.value,
        "processed": task.processed,
        "total": task.total,
        "created": task.created,
        "updated": task.updated,
        "unchanged": task.unchanged,
        "failed": task.failed,
        "failures": [{"tiktok_id": f.tiktok_id, "reason": f.reason} for f in task.failures],
        "attempts": task.attempts,
        "failed_attempts": task.failed_attempts,
        "error_code": task.error_code,
        "error_message": task.error_message,
        "created_at": task.created_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "heartbeat_at": task.heartbeat_at,
        "retry_at": task.retry_at,
        "cancel_requested": task.cancel_requested,
        "unsent": task.unsent,
        "checkpoint": task.checkpoint,
        "orders_created_since": task.orders_created_since,
        "orders_created_until": task.orders_created_until,
    }


def _from_row(row: Row[Any]) -> SyncTask:
    m = row._mapping
    fields = sync_task_fields(m)
    return SyncTask(
        **{**fields, "failures": list(fields["failures"])}, checkpoint=m["checkpoint"] or {}, unsent=bool(m["unsent"])
    )
