"""Retention's rules in the domain: which finished sync task a newer one supersedes (`SyncTask.superseded_by`,
`may_be_pruned`), when an OAuth request may go, and the one batching loop every retention runs (with fakes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.authorization import KEPT_AFTER_EXPIRY, AuthorizationRequest
from domain.services.retention import FINISHED_TASKS, SPENT_AUTHORIZATIONS, prune, prune_in_batches
from domain.shops import Region
from domain.sync import RetentionRole, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from tests.fakes import T0, FakeClock, FakeStore, FakeUnitOfWork

DAY = timedelta(days=1)
SUCCEEDED, FAILED, CANCELLED = SyncTaskStatus.SUCCEEDED, SyncTaskStatus.FAILED, SyncTaskStatus.CANCELLED
IMPORT, POLL = SyncTrigger.MANUAL, SyncTrigger.SCHEDULED


def _task(
    status: SyncTaskStatus = SUCCEEDED,
    trigger: SyncTrigger = IMPORT,
    created_at: datetime = T0,
    *,
    shop_id: str = "s1",
    kind: SyncKind = SyncKind.ORDERS,
    changes: int = 0,
) -> SyncTask:
    finished_at = created_at + timedelta(minutes=5) if status.is_terminal else None
    return SyncTask(
        id=f"t-{created_at.timestamp()}-{status}-{trigger}-{changes}", shop_id=shop_id, merchant_id="m1", kind=kind,
        trigger=trigger, status=status, created_at=created_at, finished_at=finished_at, updated=changes,
    )  # fmt: skip


class TestRoles:
    @pytest.mark.parametrize(
        ("task", "role"),
        [
            (_task(SUCCEEDED, SyncTrigger.AUTHORIZATION), RetentionRole.IMPORT),
            (_task(SUCCEEDED, IMPORT), RetentionRole.IMPORT),
            (_task(SUCCEEDED, POLL), RetentionRole.POLL),
            (_task(SUCCEEDED, POLL, changes=2), RetentionRole.CHANGES_FOUND),
            (_task(FAILED, IMPORT), RetentionRole.UNSUCCESSFUL_IMPORT),
            (_task(CANCELLED, SyncTrigger.REAUTHORIZATION), RetentionRole.UNSUCCESSFUL_IMPORT),
            (_task(FAILED, POLL), RetentionRole.FINISHED),
            (_task(CANCELLED, POLL, changes=2), RetentionRole.FINISHED),
        ],
    )
    def test_a_finished_task_has_the_role_its_readers_look_for(self, task: SyncTask, role: RetentionRole) -> None:
        assert task.retention_role is role

    def test_a_poll_that_found_changes_counts_created_and_updated_records_not_failures(self) -> None:
        task = _task(SUCCEEDED, POLL)
        task.failed = 3
        assert task.retention_role is RetentionRole.POLL
        task.created = 1
        assert task.retention_role is RetentionRole.CHANGES_FOUND


class TestSuperseded:
    @pytest.mark.parametrize(
        ("older", "newer", "superseded"),
        [
            # any newer finished task stands in for a poll's failure or cancel
            (_task(FAILED, POLL), _task(SUCCEEDED, POLL, T0 + DAY), True),
            (_task(CANCELLED, POLL), _task(FAILED, IMPORT, T0 + DAY), True),
            # an import's failure or cancel only a newer import, whatever its status: the newest import is what the
            # re-run rules read (`latest_import`), never a poll (review70 F5)
            (_task(FAILED), _task(FAILED, SyncTrigger.REAUTHORIZATION, T0 + DAY), True),
            (_task(FAILED), _task(CANCELLED, IMPORT, T0 + DAY), True),
            (_task(CANCELLED), _task(SUCCEEDED, SyncTrigger.AUTHORIZATION, T0 + DAY), True),
            (_task(FAILED), _task(SUCCEEDED, POLL, T0 + DAY, changes=3), False),
            (_task(FAILED), _task(SUCCEEDED, POLL, T0 + DAY), False),
            (_task(CANCELLED), _task(FAILED, POLL, T0 + DAY), False),
            # a succeeded import only by a newer succeeded import (the first poll's start)
            (_task(SUCCEEDED, IMPORT), _task(SUCCEEDED, SyncTrigger.AUTHORIZATION, T0 + DAY), True),
            (_task(SUCCEEDED, IMPORT), _task(SUCCEEDED, POLL, T0 + DAY, changes=5), False),
            (_task(SUCCEEDED, IMPORT), _task(FAILED, IMPORT, T0 + DAY), False),
            # a poll that found changes only by a newer one (WEBHOOKS_SILENT)
            (_task(SUCCEEDED, POLL, changes=1), _task(SUCCEEDED, POLL, T0 + DAY, changes=1), True),
            (_task(SUCCEEDED, POLL, changes=1), _task(SUCCEEDED, POLL, T0 + DAY), False),
            (_task(SUCCEEDED, POLL, changes=1), _task(FAILED, POLL, T0 + DAY), False),
            # a poll that found nothing by any newer succeeded poll (the last successful poll)
            (_task(SUCCEEDED, POLL), _task(SUCCEEDED, POLL, T0 + DAY, changes=1), True),
            (_task(SUCCEEDED, POLL), _task(SUCCEEDED, POLL, T0 + DAY), True),
            (_task(SUCCEEDED, POLL), _task(FAILED, POLL, T0 + DAY), False),
            # never by an active task, an older one, one of the same instant, another shop's or kind's
            (_task(FAILED), _task(SyncTaskStatus.RUNNING, IMPORT, T0 + DAY), False),
            (_task(FAILED), _task(SyncTaskStatus.QUEUED, IMPORT, T0 + DAY), False),
            (_task(FAILED, created_at=T0 + DAY), _task(FAILED), False),
            (_task(FAILED), _task(FAILED, POLL), False),
            (_task(FAILED), _task(FAILED, created_at=T0 + DAY, shop_id="s2"), False),
            (_task(FAILED), _task(FAILED, created_at=T0 + DAY, kind=SyncKind.PRODUCTS), False),
        ],
    )
    def test_a_newer_task_supersedes_an_older_one_of_a_role_it_stands_in_for(
        self, older: SyncTask, newer: SyncTask, superseded: bool
    ) -> None:
        assert older.superseded_by(newer) is superseded

    def test_a_later_creation_with_an_earlier_finish_supersedes_nothing(self) -> None:
        # given two tasks whose clocks disagree (an API host created the newer, a worker finished the older late)
        older, newer = _task(FAILED), _task(FAILED, created_at=T0 + timedelta(minutes=1))
        older.finished_at = T0 + timedelta(minutes=10)
        # then neither stands in for the other: a reader ordering by creation and one by finish pick different rows
        assert not older.superseded_by(newer) and not newer.superseded_by(older)

    def test_an_active_task_is_never_pruned_however_old(self) -> None:
        running = _task(SyncTaskStatus.RUNNING)
        assert not running.may_be_pruned(T0 + 1000 * DAY, [_task(FAILED, created_at=T0 + DAY)])

    def test_a_superseded_task_goes_only_once_finished_before_the_time(self) -> None:
        older, newer = _task(FAILED), _task(FAILED, created_at=T0 + DAY)
        assert older.finished_at is not None
        assert not older.may_be_pruned(older.finished_at, [newer])
        assert older.may_be_pruned(older.finished_at + timedelta(microseconds=1), [newer])
        assert not older.may_be_pruned(T0 + 1000 * DAY, [])  # alone: the newest of its shop and kind


class TestAuthorizationRequests:
    def test_a_request_goes_a_day_after_it_expired_used_or_not(self) -> None:
        request, _ = AuthorizationRequest.start("m1", Region.US, "My shop", True, T0)
        assert KEPT_AFTER_EXPIRY == DAY
        assert not request.may_be_pruned(request.expires_at)
        assert request.may_be_pruned(request.expires_at + timedelta(microseconds=1))


class TestPruning:
    async def test_tasks_go_in_batches_oldest_first_and_the_newest_stays(self) -> None:
        # given five finished imports of one shop and kind, a day apart, 40 days ago and more
        store = FakeStore()
        tasks = [_task(SUCCEEDED, IMPORT, T0 + n * DAY) for n in range(5)]
        store.tasks.update({task.id: task for task in tasks})
        clock = FakeClock(T0 + 45 * DAY)
        # when the sweep may run two batches of two
        deleted = await prune(
            lambda: FakeUnitOfWork(store), clock, FINISHED_TASKS, 30 * DAY, batch_size=2, max_batches=2, pause_seconds=0
        )
        # then the four oldest are gone, and the newest stays however often it runs
        assert deleted == 4
        assert list(store.tasks) == [tasks[-1].id]
        assert await prune(lambda: FakeUnitOfWork(store), clock, FINISHED_TASKS, 30 * DAY, pause_seconds=0) == 0

    async def test_requests_a_day_past_their_expiry_go(self) -> None:
        store = FakeStore()
        old, _ = AuthorizationRequest.start("m1", Region.US, "My shop", True, T0)
        recent, _ = AuthorizationRequest.start("m1", Region.US, "My shop", True, T0 + DAY)
        store.authorizations.update({old.state_digest: old, recent.state_digest: recent})
        deleted = await prune(lambda: FakeUnitOfWork(store), FakeClock(T0 + 2 * DAY), SPENT_AUTHORIZATIONS)
        assert deleted == 1 and list(store.authorizations) == [recent.state_digest]

    async def test_the_loop_stops_at_a_short_batch_and_commits_each(self) -> None:
        # given a table of 7 rows a batch deletes 3 of at a time
        left, commits = [7], []

        async def delete_batch(uow: Any, limit: int) -> int:
            count = min(limit, left[0])
            uow.after_commit(lambda: _record(commits, count))
            left[0] -= count
            return count

        # when the loop runs
        deleted = await prune_in_batches(lambda: FakeUnitOfWork(FakeStore()), delete_batch, batch_size=3)
        # then it ran three batches, each committed, and stopped after the short one
        assert deleted == 7 and commits == [3, 3, 1]


async def _record(commits: list[int], count: int) -> None:
    commits.append(count)
