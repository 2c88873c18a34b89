"""Sync tasks: what the Task Center lists. One row per import, with status, progress, counts and a checkpoint."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.errors import DomainError, ErrorCode, ValidationError, when_to_retry
from domain.shops import TOKENS_UNREADABLE_MESSAGE, Shop, ShopStatus, TokenSet, new_id

ORDERS_DEFAULT_WINDOW = timedelta(days=30)
ORDERS_MAX_WINDOW = timedelta(days=90)
MAX_RECORDED_FAILURES = 100
# Records kept as unreadable per shop and kind (`CatalogRepository.mark_unreadable`): a feed of broken records makes
# one attention item naming the first, not an unbounded table.
MAX_UNREADABLE_RECORDS = 100
# Records created or changed by one import past which the database's planner statistics are refreshed when it
# succeeds: a table grown this much since the last autovacuum would otherwise be planned as if it were still small.
# Records, not rows: each product brings its SKUs, their stock, links and items, each order its lines and ledger
# rows. 1,000: a shop deleted right after a first import of 5,000 products and 50,000 orders took 17 s on PostgreSQL
# with its links never analyzed (the pool's joins planned for a handful of rows: a scan of the shop's links for each
# item), 16 ms for the same statement analyzed; the ANALYZE itself samples at most 30,000 rows a table.
STATISTICS_REFRESH_AFTER = 1_000
# How many syncs of one shop and kind a merchant may start by hand (`syncStart`, trigger MANUAL) within
# `MANUAL_START_WINDOW`, by default (SHOPBRIDGE_MAX_SYNC_STARTS_PER_HOUR): see `check_manual_starts`.
DEFAULT_MAX_MANUAL_STARTS = 6
MANUAL_START_WINDOW = timedelta(hours=1)
INTERNAL_ERROR = ErrorCode.INTERNAL  # a task's error code when a bug, not TikTok or a rule, ended it


class SyncKind(StrEnum):
    PRODUCTS = "PRODUCTS"
    ORDERS = "ORDERS"


# The imports a shop's connection queues, in the order they are queued and begin (`domain.services.sync.
# queue_authorization_sync`; `SyncTask.waits_for_import_ahead` keeps that order through the registration's wait).
CONNECTION_KINDS = (SyncKind.PRODUCTS, SyncKind.ORDERS)


class SyncTrigger(StrEnum):
    AUTHORIZATION = "AUTHORIZATION"
    MANUAL = "MANUAL"
    # a new run of an import (AUTHORIZATION, MANUAL or itself) a lost authorization failed, queued once the shop is
    # re-authorized (`rerun_after_reauthorization`); automatic, as AUTHORIZATION: no merchant's start counts it
    REAUTHORIZATION = "REAUTHORIZATION"
    SCHEDULED = "SCHEDULED"  # a poll of the backstop (domain.polling): changes by update_time since a cursor


class SyncTaskStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (SyncTaskStatus.SUCCEEDED, SyncTaskStatus.FAILED, SyncTaskStatus.CANCELLED)


ACTIVE_STATUSES = (SyncTaskStatus.QUEUED, SyncTaskStatus.RUNNING)
TERMINAL_STATUSES = tuple(status for status in SyncTaskStatus if status.is_terminal)
IMPORT_TRIGGERS = tuple(trigger for trigger in SyncTrigger if trigger is not SyncTrigger.SCHEDULED)


class RetentionRole(StrEnum):
    """What a finished task may still be read for besides the Task Center's history. Retention (`may_be_pruned`)
    keeps, per shop and kind, the newest task of each role, so that every reader of "the newest such task" finds
    the row it finds today:

    - every finished task: the newest task of a shop and kind is its current state (the Task Center,
      `syncTaskUpdated`'s first message, `adapters.db.latest_tasks`), and the newest finished one says whether
      the kind's syncs are failing (`SYNC_FAILING`, `adapters.db.shop_facts`): FINISHED (a FAILED or CANCELLED
      poll) is superseded by any newer finished task;
    - UNSUCCESSFUL_IMPORT, an import (not a poll) that FAILED or was CANCELLED: the newest import of a shop and kind,
      whatever its status, is what the re-run rules read (`SyncTaskRepository.latest_import`,
      `rerun_after_reauthorization`, `rerun_after_poll`): one a lost authorization FAILED is the only record of the
      window never read, run again at the next re-authorization or lifting refresh while it is the newest import;
      superseded only by a newer import (IMPORT or UNSUCCESSFUL_IMPORT), never by a poll (review70 F5: the polls of
      a shop ACTIVE again without its re-run deleted it once past the retention, and the re-authorization then
      re-ran nothing; a newest CANCELLED import deleted would have made an older failure the newest again);
    - IMPORT, a SUCCEEDED import: where the first poll of its kind starts while the shop has no poll cursor yet
      (`domain.polling.initial_cursor`, through `SyncTaskRepository.last_succeeded`); superseded by a newer one;
    - POLL, a SUCCEEDED poll that found nothing (`last_succeeded` of polls): superseded by any newer SUCCEEDED poll;
    - CHANGES_FOUND, a SUCCEEDED poll that created or updated records: when polls last found a change, which
      `WEBHOOKS_SILENT` compares with the last webhook (`domain.attention`, `adapters.db.shop_facts`); superseded
      by a newer one (and it supersedes the POLL ones older than it).
    """

    FINISHED = "FINISHED"
    UNSUCCESSFUL_IMPORT = "UNSUCCESSFUL_IMPORT"
    IMPORT = "IMPORT"
    POLL = "POLL"
    CHANGES_FOUND = "CHANGES_FOUND"

    @property
    def stand_ins(self) -> frozenset[RetentionRole]:
        """The roles of the newer tasks that supersede a task of this role."""
        return _STAND_INS[self]


_STAND_INS = {
    RetentionRole.FINISHED: frozenset(RetentionRole),
    RetentionRole.UNSUCCESSFUL_IMPORT: frozenset({RetentionRole.IMPORT, RetentionRole.UNSUCCESSFUL_IMPORT}),
    RetentionRole.IMPORT: frozenset({RetentionRole.IMPORT}),
    RetentionRole.POLL: frozenset({RetentionRole.POLL, RetentionRole.CHANGES_FOUND}),
    RetentionRole.CHANGES_FOUND: frozenset({RetentionRole.CHANGES_FOUND}),
}


def task_progress(status: SyncTaskStatus, processed: int, total: int | None) -> float | None:
    """Share done in [0, 1]: 1 once succeeded, None while TikTok has not told the total."""
    if status is SyncTaskStatus.SUCCEEDED:
        return 1.0
    if not total:
        return None
    return min(1.0, processed / total)


def parse_kinds(kinds: list[SyncKind]) -> list[SyncKind]:
    """The kinds a sync start asks for: at least one, each once, else INVALID_INPUT on `kinds` ("kinds must name at
    least one of PRODUCTS, ORDERS (this one is empty).", "kinds must name each kind once (this one names ORDERS twice
    or more).")."""
    if not kinds:
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"kinds must name at least one of {', '.join(SyncKind)} (this one is empty).",
            ("kinds",),
        )
    if twice := sorted(kind.value for kind, count in Counter(kinds).items() if count > 1):
        raise ValidationError(
            ErrorCode.INVALID_INPUT,
            f"kinds must name each kind once (this one names {' and '.join(twice)} twice or more).",
            ("kinds",),
        )
    return list(kinds)


def ensure_shop_can_sync(shop: Shop, now: datetime) -> None:
    """A revoked or expired authorization cannot import anything: REAUTHORIZATION_REQUIRED, in words that name the
    cause as the shop's notice does (domain.attention): tokens no configured key decrypts (REVOKED here, though
    TikTok still honours them) are `TOKENS_UNREADABLE_MESSAGE`; else "The shop's authorization has ended"."""
    if shop.tokens_unreadable:
        raise DomainError(ErrorCode.REAUTHORIZATION_REQUIRED, TOKENS_UNREADABLE_MESSAGE)
    if shop.status(now) in (ShopStatus.REVOKED, ShopStatus.EXPIRED):
        raise DomainError(
            ErrorCode.REAUTHORIZATION_REQUIRED, "The shop's authorization has ended; re-authorize it to sync."
        )


# The `RecordFailure.tiktok_id` of a record TikTok sent without a readable id (`adapters.tiktok.wire`): its mark
# names no record, so no read by id can ask for it (`CatalogRepository.marks_to_reread` never returns it).
UNKNOWN_RECORD_ID = "(no id)"
# The most code points a TikTok id takes where a failure is kept (`unreadable_records.tiktok_id`, as every
# tiktok_*_id column; `domain.stored.MAX_ID_CHARS`)
MAX_RECORD_ID_CHARS = 64


def failure_id(tiktok_id: str) -> str:
    """The id a record's failure is kept under: `tiktok_id` without surrounding blanks, or `UNKNOWN_RECORD_ID` when
    that is empty or longer than `MAX_RECORD_ID_CHARS`. Rule: such an id is none TikTok issues, cannot be read by
    id, and did not fit the mark's column: on PostgreSQL the mark of a record refused for its 65-character id failed
    the batch it was to spare (try-out attack56, F-pg-poison)."""
    value = tiktok_id.strip()
    return value if value and len(value) <= MAX_RECORD_ID_CHARS else UNKNOWN_RECORD_ID


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """One record that could not be imported, and why (`tiktok_id`: `UNKNOWN_RECORD_ID` when it had none); the task
    goes on."""

    tiktok_id: str
    reason: str


@dataclass(slots=True)
class SyncTask:
    id: str
    shop_id: str
    merchant_id: str
    kind: SyncKind
    trigger: SyncTrigger
    status: SyncTaskStatus
    created_at: datetime
    orders_created_since: datetime | None = None
    orders_created_until: datetime | None = None
    processed: int = 0
    total: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[RecordFailure] = field(default_factory=list)
    attempts: int = 0  # runs begun, interrupted and redelivered ones included: the lease generation (`holds_lease`)
    failed_attempts: int = 0  # runs that failed: the retry budget (`may_retry`); see `begin_attempt`, `fail_attempt`
    error_code: str | None = None
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    cancel_requested: bool = False
    checkpoint: dict[str, Any] = field(default_factory=dict)
    # When the queue's retry of a failed run is due (UTC), while QUEUED for it (`fail_attempt`): known when the run's
    # retry delay was drawn before it failed (the worker's, `workers.outages`); None otherwise, and once a run begins.
    retry_at: datetime | None = None
    # QUEUED with no message in the queue: the send after its commit (or a sweep's re-send) failed, the broker down;
    # or it was never sent, a re-run a lifting refresh queued in a session built with no queue
    # (`domain.services.sync.rerun_failed_imports`; since rerun72 every session of a worker has one). The scheduler's
    # tick sends it once the broker takes it (`domain.services.sync.resend_unsent_tasks`).
    unsent: bool = False

    @classmethod
    def queue(
        cls,
        shop_id: str,
        merchant_id: str,
        kind: SyncKind,
        trigger: SyncTrigger,
        now: datetime,
        orders_created_since: datetime | None = None,
    ) -> SyncTask:
        """A new QUEUED task. Orders cover [since, now); since defaults to 30 days back, at most 90. INVALID_SYNC_WINDOW
        when since is not in the past or is beyond 90 days back (5 minutes of grace)."""
        since = until = None
        if kind is SyncKind.ORDERS:
            until = now
            since = orders_created_since or now - ORDERS_DEFAULT_WINDOW
            if since < now - ORDERS_MAX_WINDOW - timedelta(minutes=5) or since >= now:
                raise ValidationError(
                    ErrorCode.INVALID_SYNC_WINDOW,
                    "ordersCreatedSince must be in the past, at most 90 days back.",
                    ("ordersCreatedSince",),
                )
        return cls(
            id=new_id(),
            shop_id=shop_id,
            merchant_id=merchant_id,
            kind=kind,
            trigger=trigger,
            status=SyncTaskStatus.QUEUED,
            created_at=now,
            orders_created_since=since,
            orders_created_until=until,
        )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def begin_attempt(self, now: datetime, max_attempts: int | None = None, resumes: int | None = None) -> bool:
        """Start (or resume) running: a new lease (`attempts` + 1). False when there is nothing to do: finished,
        cancelled meanwhile, or FAILED now for runs that never ended.

        A task found RUNNING had a run that began and never ended: its worker was killed or died (a run a shutdown
        interrupts hands the task back QUEUED first, `hand_back`; one a failure ends leaves it QUEUED or finished,
        `fail_attempt`), or hangs and loses its lease now. That run counts as failed (`failed_attempts` + 1), so a
        task that kills its worker every time cannot loop for ever. With `max_attempts` (the engine's
        SHOPBRIDGE_SYNC_MAX_ATTEMPTS), a task whose failed runs reached it is not begun but FAILED, code INTERNAL
        (`INTERNAL_ERROR`): the stale sweep's `requeue` counts a dead run too and leaves the verdict to this begin.

        `resumes`: the lease (`attempts`) of a run that ended without a failure and could not hand the task back
        (its shop's delete held the task's row: `domain.services.importer`), its message sent again with it; a task
        still RUNNING under that lease is resumed without counting that run as failed.
        """
        if self.status.is_terminal:
            return False
        if self.cancel_requested:
            self.cancel(now)
            return False
        if self.status is SyncTaskStatus.RUNNING and self.attempts != resumes:
            self.failed_attempts += 1
        if max_attempts is not None and not self.may_retry(max_attempts):
            message = (
                f"The import's runs failed {self.failed_attempts} times, the last one's worker stopping before it "
                "ended (killed or crashed)."
            )
            self.fail(INTERNAL_ERROR, message, now)
            return False
        self.status = SyncTaskStatus.RUNNING
        self.retry_at = None  # the retry (or another delivery) is running it
        self.attempts += 1
        self.started_at = self.started_at or now
        self.heartbeat_at = now
        self.unsent = False  # a message is running it
        return True

    def holds_lease(self, attempt: int) -> bool:
        """True while the run that began `attempt` still owns the task.

        A redelivered message (a killed worker, a stale-task sweep) begins a newer attempt; the older run, if it
        is still alive, then sees it lost the task and stops without writing: one writer per task at a time.
        """
        return self.status is SyncTaskStatus.RUNNING and self.attempts == attempt

    def may_retry(self, max_attempts: int) -> bool:
        """Whether the task may run again after its failed runs: `failed_attempts` < `max_attempts`
        (SHOPBRIDGE_SYNC_MAX_ATTEMPTS). Counted in the database, so runs of every worker count; runs a shutdown
        interrupted, postponed or redelivered without a failure do not."""
        return self.failed_attempts < max_attempts

    def fail_attempt(
        self, code: ErrorCode, message: str, now: datetime, max_attempts: int, retry_at: datetime | None = None
    ) -> bool:
        """The current run failed in a way another run may get past (TikTok unavailable, the run's time limit, a
        bug): counted (`failed_attempts` + 1). True while `may_retry`: QUEUED until the queue's retry
        (`await_retry`), `error_code` and `error_message` saying why the last run failed (the Task Center showed a
        task waiting out a TikTok outage with neither: try-out livesync52), until a later run succeeds. False when
        the task ended instead: FAILED with `code` and `message` on the `max_attempts`-th failed run, or CANCELLED
        (no code: `cancel`) by a cancel asked while it ran. `retry_at`: when the queue's retry is due (UTC), if
        known."""
        self.failed_attempts += 1
        if self.may_retry(max_attempts):
            self.error_code, self.error_message = code, message
            retrying = self.await_retry(now)
            self.retry_at = retry_at if retrying else None
            return retrying
        self.fail(code, message, now)
        return False

    def hand_back(self, now: datetime) -> bool:
        """The current run was interrupted from outside, not failed (a shutdown or deploy cancelled it; its message
        is sent again): QUEUED and touched, no failed run counted, so deploys spend nothing of the retry budget.
        False when there is nothing to hand back (ended, or cancelled now)."""
        if self.honour_cancel(now) or not self.is_active:
            return False
        self.status = SyncTaskStatus.QUEUED
        self.heartbeat_at = now
        return True

    def honour_cancel(self, now: datetime) -> bool:
        """Cancel now if someone asked to while it ran; True when the run must stop."""
        if self.cancel_requested and self.is_active:
            self.cancel(now)
        return self.status is SyncTaskStatus.CANCELLED

    def touch(self, now: datetime) -> None:
        """Prove the run is alive; stale heartbeats are what the resume sweep looks for."""
        self.heartbeat_at = now

    def await_retry(self, now: datetime) -> bool:
        """The attempt failed and the queue will retry it after a backoff: QUEUED meanwhile, since nothing runs it.

        The Task Center then says so, a cancel takes effect at once, and the stale sweep (which re-sends RUNNING
        tasks silent for minutes) leaves the scheduled retry alone. False when a cancel asked earlier ended it.
        """
        if self.honour_cancel(now) or not self.is_active:
            return False
        self.status = SyncTaskStatus.QUEUED
        self.heartbeat_at = now
        return True

    def is_stale(self, now: datetime, running_after: timedelta, queued_after: timedelta) -> bool:
        """Whether nobody seems to run it: RUNNING with no heartbeat for `running_after` (its worker died), or
        QUEUED untouched for `queued_after` (its message was lost, e.g. a failed send to the broker)."""
        silent_for = now - (self.heartbeat_at or self.created_at)
        if self.status is SyncTaskStatus.RUNNING:
            return silent_for > running_after
        return self.status is SyncTaskStatus.QUEUED and silent_for > queued_after

    def requeue(self, now: datetime) -> bool:
        """Its message is about to be sent again: QUEUED (a run still alive loses its lease at its next write) and
        touched, so the sweeps leave it alone while that message waits. False when there is nothing to send.

        A RUNNING task's run went silent (`is_stale`: its worker died): counted as a failed run, as `begin_attempt`
        counts one it finds RUNNING; the next begin fails the task once the failed runs reach the budget."""
        if self.honour_cancel(now) or not self.is_active:
            return False
        if self.status is SyncTaskStatus.RUNNING:
            self.failed_attempts += 1
        self.status = SyncTaskStatus.QUEUED
        self.heartbeat_at = now
        self.unsent = False  # the sweep sends it now; should that fail, it marks it unsent again
        return True

    def waits_for_webhook_registration(self, now: datetime, longest: timedelta) -> bool:
        """Queued by its shop's connection, never begun, and queued less than `longest` ago: it may wait for the
        shop's first webhook registration (`domain.services.webhook_registration.import_waits_for_registration`).
        A resumed or retried run, a manual import and a poll never wait."""
        return (
            self.trigger is SyncTrigger.AUTHORIZATION
            and self.status is SyncTaskStatus.QUEUED
            and self.attempts == 0
            and now - self.created_at < longest
        )

    @property
    def connection_kind_ahead(self) -> SyncKind | None:
        """The kind its shop's connection queued just before it (`CONNECTION_KINDS`), when it is a connection's
        import (trigger AUTHORIZATION): ORDERS has PRODUCTS ahead of it, PRODUCTS nothing."""
        if self.trigger is not SyncTrigger.AUTHORIZATION:
            return None
        place = CONNECTION_KINDS.index(self.kind)
        return CONNECTION_KINDS[place - 1] if place else None

    def waits_for_import_ahead(self, ahead: SyncTask | None) -> bool:
        """Whether this connection's import should wait for `ahead`, its shop's active task of
        `connection_kind_ahead`: the import queued just before it by the same connection (AUTHORIZATION, created
        no later), which has not begun yet. The imports then begin in the order the connection queued them, as
        they would with no wait (README "Registering the address with TikTok"): their messages, sent again while
        the registration runs, come back in whichever order they were sent last (`workers.actors.run_sync_task`).
        An `ahead` that began once (even back in the queue for a retry) or ended is waited for no more."""
        return (
            ahead is not None
            and ahead.id != self.id
            and ahead.kind is self.connection_kind_ahead
            and ahead.trigger is SyncTrigger.AUTHORIZATION
            and ahead.status is SyncTaskStatus.QUEUED
            and ahead.attempts == 0
            and ahead.created_at <= self.created_at
        )

    def wait_for_worker(self, now: datetime, touch_after: timedelta) -> tuple[bool, bool]:
        """Its message found no free import slot in a worker and is sent again later: (keep waiting, touched).

        Nothing to wait for once it has ended. A QUEUED task untouched for `touch_after` is touched: the sweep
        re-sends QUEUED tasks left untouched for long (a lost message), and a waiting message is not lost. A
        RUNNING one is left as is: its heartbeat is its run's, and a redelivered message waits like any other.
        """
        if not self.is_active:
            return False, False
        if self.status is SyncTaskStatus.QUEUED and now - (self.heartbeat_at or self.created_at) >= touch_after:
            self.heartbeat_at = now
            return True, True
        return True, False

    def request_cancel(self, now: datetime) -> None:
        """A QUEUED task is cancelled at once; a RUNNING one stops at its next page."""
        if self.status.is_terminal:
            raise SyncTaskFinishedError(self)
        self.cancel_requested = True
        if self.status is SyncTaskStatus.QUEUED:
            self.cancel(now)

    def cancel(self, now: datetime) -> None:
        """CANCELLED (`syncTaskCancel`): a failed run's reason and its retry's time (`fail_attempt`) are cleared, so
        the Task Center does not give an outage as the reason of the merchant's own cancel (review52b). The one
        CANCELLED with a code, SHOP_DELETED, is a deleted task's last message (gql/subscriptions.py), never stored."""
        self.status = SyncTaskStatus.CANCELLED
        self.finished_at = now
        self.error_code = self.error_message = None
        self.retry_at = None

    def record_batch(self, created: int, updated: int, unchanged: int, failures: list[RecordFailure]) -> None:
        self.created += created
        self.updated += updated
        self.unchanged += unchanged
        self.failed += len(failures)
        self.processed += created + updated + unchanged + len(failures)
        room = MAX_RECORDED_FAILURES - len(self.failures)
        if room > 0:
            self.failures.extend(failures[:room])

    def succeed(self, now: datetime) -> None:
        """SUCCEEDED; a failed run's reason (`fail_attempt`) is cleared: it no longer says anything."""
        self.status = SyncTaskStatus.SUCCEEDED
        self.error_code = self.error_message = None
        self.retry_at = None
        self.finished_at = now
        if self.total is None or self.total < self.processed:
            self.total = self.processed

    @property
    def found_nothing(self) -> bool:
        """Nothing created, changed or failed: an empty poll, which the Task Center keeps only a few of."""
        return self.created == 0 and self.updated == 0 and self.failed == 0

    @property
    def found_changes(self) -> bool:
        """Created or updated records (failures aside): what `WEBHOOKS_SILENT` counts of a poll."""
        return self.created > 0 or self.updated > 0

    @property
    def retention_role(self) -> RetentionRole:
        """The role retention keeps the newest task of (see `RetentionRole`). Meaningful once finished."""
        succeeded = self.status is SyncTaskStatus.SUCCEEDED
        if self.trigger is not SyncTrigger.SCHEDULED:
            return RetentionRole.IMPORT if succeeded else RetentionRole.UNSUCCESSFUL_IMPORT
        if not succeeded:
            return RetentionRole.FINISHED
        return RetentionRole.CHANGES_FOUND if self.found_changes else RetentionRole.POLL

    def superseded_by(self, newer: SyncTask) -> bool:
        """Whether `newer` stands in for this task everywhere a finished task is read: both finished, same shop
        and kind, `newer` created and finished strictly later, and of a role that stands in for this one's
        (`RetentionRole.stand_ins`). A QUEUED or RUNNING task supersedes nothing (the newest finished task still
        says how the last sync ended), and equal times supersede nothing either (a reader ordering by them may
        pick either row)."""
        if not (self.status.is_terminal and newer.status.is_terminal):
            return False
        if self.finished_at is None or newer.finished_at is None:
            return False
        if (newer.shop_id, newer.kind) != (self.shop_id, self.kind):
            return False
        if newer.created_at <= self.created_at or newer.finished_at <= self.finished_at:
            return False
        return newer.retention_role in self.retention_role.stand_ins

    def may_be_pruned(self, finished_before: datetime, others: Iterable[SyncTask]) -> bool:
        """Whether retention may delete this task: finished before `finished_before` and superseded by one of
        `others` (see `superseded_by`). Never a QUEUED or RUNNING task, however old, nor the newest task of any
        role of its shop and kind: the Task Center, the polls and the shop's attention still read those."""
        if not self.status.is_terminal or self.finished_at is None or self.finished_at >= finished_before:
            return False
        return any(self.superseded_by(other) for other in others)

    @property
    def wrote_many_rows(self) -> bool:
        """True when this import created or changed enough records to make the planner's statistics stale."""
        return self.created + self.updated > STATISTICS_REFRESH_AFTER

    def fail_run(self, code: ErrorCode, message: str, now: datetime) -> None:
        """The current run failed in a way no other run can get past (a refusal, a rule, a lost authorization):
        counted (`failed_attempts` + 1) and the task FAILED with `code` and `message`."""
        self.failed_attempts += 1
        self.fail(code, message, now)

    def fail(self, code: ErrorCode, message: str, now: datetime) -> None:
        """FAILED with `code` and `message`; no run counted (`fail_run`, `fail_attempt` count theirs)."""
        self.status = SyncTaskStatus.FAILED
        self.error_code = code
        self.error_message = message
        self.finished_at = now
        self.retry_at = None

    @property
    def progress(self) -> float | None:
        return task_progress(self.status, self.processed, self.total)


def rerun_after_reauthorization(
    latest_import: SyncTask | None, active: SyncTask | None, now: datetime
) -> SyncTask | None:
    """The import a shop's re-authorization queues again for one kind, or None. `latest_import`: the shop's newest
    task of that kind that is not a poll (trigger AUTHORIZATION, MANUAL or REAUTHORIZATION, any status:
    `SyncTaskRepository.latest_import`); `active`: its QUEUED or RUNNING task of that kind, if any.

    Rule (tryout69 F1; README "Re-authorizing a shop"): an import that FAILED with REAUTHORIZATION_REQUIRED (TikTok
    withdrew the authorization mid-import, `domain.services.importer`) is run again by the re-authorization, since
    the product's promise is every product and the past 30 days of orders after an authorization, and the polls
    only read changes since their cursor. A later import of the kind (one that SUCCEEDED, above all) is the newest
    one instead, so nothing is run again once one has run since. Nothing while a task of the kind is active (an
    import already runs; a poll holds the one-active-task index: its success queues the re-run,
    `rerun_after_poll`), so re-authorizing twice queues one run.

    A new QUEUED task with trigger REAUTHORIZATION (automatic: `check_manual_starts` does not count it; the Task
    Center says it is a re-run, review69 R3), not the failed one reopened: FAILED is final everywhere
    (`begin_attempt`, a subscription following the task ends there, retention, the Task Center's history of why it
    failed). ORDERS reads from the failed task's `orders_created_since` (30 days before a connection's import, what
    the merchant asked for a Sync now's), its part within TikTok's 90 days (`ORDERS_MAX_WINDOW`), up to now: not
    only to the failed window's end, since the polls' cursor need not start there (one made while the import had
    never succeeded starts at the shop's last sync or authorization, `domain.polling.initial_cursor`; review70 F1:
    an order placed while the shop was revoked, after the failed window, was read by neither), also when all of the
    failed window is past the 90 days: then [now - 90 days, now), since a revocation of months leaves what was
    placed meanwhile to no poll (review70b H1; review69 R3's "not re-run" lost it; the price, a stale failure read
    again once over up to 90 days, counted unchanged, is a re-read, not a loss). What it stored already is read
    again and counted unchanged."""
    if active is not None or latest_import is None or latest_import.status is not SyncTaskStatus.FAILED:
        return None
    if latest_import.error_code != ErrorCode.REAUTHORIZATION_REQUIRED:
        return None
    task = latest_import
    since = task.orders_created_since
    if since is not None:
        since = max(since, now - ORDERS_MAX_WINDOW)
    return SyncTask.queue(task.shop_id, task.merchant_id, task.kind, SyncTrigger.REAUTHORIZATION, now, since)


def rerun_after_poll(latest_import: SyncTask | None, authorized_at: datetime, now: datetime) -> SyncTask | None:
    """The re-run a poll's success queues for its kind, or None: `rerun_after_reauthorization`'s, when the kind's
    newest import (`latest_import`) FAILED before the shop's latest (re-)authorization (`authorized_at`, UTC).

    review69 R2: a poll of the kind QUEUED or RUNNING at the re-authorization holds the one-active-task index, so
    the re-authorization cannot queue the re-run; the poll's success, which frees the index and shows the new
    authorization works, queues it then, in the transaction that records the success. Read from the rows alone
    (the database is the truth: nothing remembers the skip), and once: the re-run is the newest import from then on.
    An import that failed after the latest authorization (a re-run refused again) waits for the next
    re-authorization, or a refresh that lifts a revocation (`domain.services.sync.rerun_failed_imports`), so polls
    never loop on it; one refused with the replaced authorization queues itself again (`domain.services.importer`,
    review69 R1).

    Not the pair's refresh time (`Shop.tokens_issued_at`), on purpose (review71 F1): no poll can hold the kind at a
    refresh that lifts a revocation (the failing import holds it until its failure, which revokes the shop in the
    same transaction; `start_poll` refuses a revoked shop; the lift queues the re-run, which then holds it), so that
    rule served no case of normal running, and it re-ran at their first poll after an upgrade every import a lift of
    an older release (which queued nothing) had left failed."""
    if latest_import is None or latest_import.finished_at is None or latest_import.finished_at >= authorized_at:
        return None
    return rerun_after_reauthorization(latest_import, None, now)


class SyncAlreadyRunningError(DomainError):
    """SYNC_ALREADY_RUNNING, carrying the active (queued or running) tasks, one or more, so that the answer can show
    them; the message names every kind of them, in their order: "This shop's products and orders syncs are already
    running." (one: "This shop's orders sync is already running.")."""

    def __init__(self, tasks: Sequence[SyncTask]) -> None:
        if not tasks:
            raise ValueError("SyncAlreadyRunningError needs the active task(s)")
        kinds = " and ".join(task.kind.value.lower() for task in tasks)
        syncs = "sync is" if len(tasks) == 1 else "syncs are"
        super().__init__(ErrorCode.SYNC_ALREADY_RUNNING, f"This shop's {kinds} {syncs} already running.")
        self.tasks = list(tasks)


class SyncTaskFinishedError(DomainError):
    """SYNC_TASK_FINISHED, carrying the task as it ended, so that the answer can show it (as
    `SyncAlreadyRunningError` carries the running ones)."""

    def __init__(self, task: SyncTask) -> None:
        super().__init__(ErrorCode.SYNC_TASK_FINISHED, f"The task has already ended ({task.status.value}).")
        self.task = task


class TooManySyncStartsError(DomainError):
    """TOO_MANY_SYNC_STARTS (on no field), carrying `retry_at` (UTC): when every refused kind may start again. The
    message says it in seconds from `now` (rounded up) and as a UTC time."""

    def __init__(self, kinds: Sequence[SyncKind], limit: int, retry_at: datetime, now: datetime) -> None:
        names = " and ".join(kind.value.lower() for kind in kinds)
        minutes = int(MANUAL_START_WINDOW.total_seconds() // 60)
        super().__init__(
            ErrorCode.TOO_MANY_SYNC_STARTS,
            f"At most {limit} {names} syncs of this shop may be started within {minutes} minutes; "
            f"try again {when_to_retry(retry_at, now)}.",
        )
        self.retry_at = retry_at


def check_manual_starts(started: Sequence[tuple[SyncKind, Sequence[datetime]]], limit: int, now: datetime) -> None:
    """Refuse a merchant's `syncStart` (all its kinds or none) when any of its kinds already has `limit` MANUAL tasks
    created within `MANUAL_START_WINDOW` before `now`: `TooManySyncStartsError`, whose `retry_at` (UTC) is when the
    oldest of the last `limit` starts of every such kind has left the window.

    `started`: per kind, the creation times (UTC) of that shop's and kind's newest MANUAL tasks created since
    `now - MANUAL_START_WINDOW`, at most `limit` of them (`SyncTaskRepository.manual_started_since`). Only one
    task of a shop and kind is active at a time, but a small shop's import ends in seconds: a loop of starts made
    thousands of rows a day (kept `SHOPBRIDGE_TASK_RETENTION`) and held the shared import slots, delaying other
    merchants' imports (security review 44). Automatic tasks (AUTHORIZATION imports, SCHEDULED polls) neither
    count nor are refused. Concurrent starts each count before any commits, but the one-active-task index lets one
    of them through: the bound holds."""
    full = [(kind, times) for kind, times in started if len(times) >= limit]
    if not full:
        return
    retry_at = max(sorted(times, reverse=True)[limit - 1] for _, times in full) + MANUAL_START_WINDOW
    raise TooManySyncStartsError([kind for kind, _ in full], limit, retry_at, now)


class RefreshedTokens(StrEnum):
    """What to do with a pair a token refresh returned mid-import (see `judge_refreshed_tokens`)."""

    STORE = "STORE"  # the stored pair is the one refreshed: replace it
    ALREADY_STORED = "ALREADY_STORED"  # another session of this process shared the refresh and stored it
    SUPERSEDED = "SUPERSEDED"  # a newer pair is stored (a re-authorization, another refresh): use that one


def judge_refreshed_tokens(stored: TokenSet, refreshed_from: TokenSet, refreshed: TokenSet) -> RefreshedTokens:
    """Compare-and-set for refreshed tokens: a refresh replaces the stored pair only if that pair is still the one
    it was made from. Otherwise a re-authorization or another task's refresh committed meanwhile, and the stored
    pair wins: saving ours could put an older (possibly dead) pair over a newer one. Pairs are compared whole,
    since TikTok may hand the same refresh token back with a new access token."""
    if _same_pair(stored, refreshed):
        return RefreshedTokens.ALREADY_STORED
    if _same_pair(stored, refreshed_from):
        return RefreshedTokens.STORE
    return RefreshedTokens.SUPERSEDED


def _same_pair(one: TokenSet, other: TokenSet) -> bool:
    return (one.access_token, one.refresh_token) == (other.access_token, other.refresh_token)
