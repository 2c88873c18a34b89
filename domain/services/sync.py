"""Sync use cases: queue imports (on authorization or by hand), cancel them, and re-enqueue stale ones.

The import itself runs in `domain.services.importer`. Tasks are enqueued only after their row is committed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from domain.clock import Clock
from domain.errors import DomainError, ErrorCode, NotFoundError, ValidationError
from domain.ports import (
    EventPublisher,
    QueuedMessages,
    TaskQueue,
    UnitOfWork,
    UnitOfWorkFactory,
    failure,
    traced,
)
from domain.shops import Shop
from domain.sync import (
    CONNECTION_KINDS,
    DEFAULT_MAX_MANUAL_STARTS,
    MANUAL_START_WINDOW,
    SyncAlreadyRunningError,
    SyncKind,
    SyncTask,
    SyncTrigger,
    TooManySyncStartsError,
    check_manual_starts,
    ensure_shop_can_sync,
    parse_kinds,
    rerun_after_reauthorization,
)

__all__ = [
    "SyncAlreadyRunningError",
    "TooManySyncStartsError",
    "cancel_task",
    "publish_quietly",
    "publish_shop_quietly",
    "queue_authorization_sync",
    "rerun_failed_imports",
    "resend_unsent_tasks",
    "resume_stale_tasks",
    "send_tasks",
    "start_sync",
    "wait_for_worker",
]

log = logging.getLogger(__name__)


async def queue_authorization_sync(
    uow: UnitOfWork,
    queue: TaskQueue,
    shop: Shop,
    now: datetime,
    *,
    events: EventPublisher | None = None,
    uow_factory: UnitOfWorkFactory | None = None,
    after_webhook_registration: bool = False,
) -> list[SyncTask]:
    """Add the PRODUCTS and ORDERS (30 days before `now`) tasks to the caller's open unit of work.

    `after_webhook_registration`: the shop's webhook registration is queued with them (a connection, `shops.py`):
    they begin once it has ended (`TaskQueue.enqueue_sync`).

    The caller commits; the tasks are enqueued once it has (`send_tasks`: with `uow_factory`, a send the broker
    refuses marks them unsent, sent by the scheduler's tick once it is back), and dropped with it on rollback.
    """
    tasks = [
        SyncTask.queue(shop.id, shop.merchant_id, kind, SyncTrigger.AUTHORIZATION, now) for kind in CONNECTION_KINDS
    ]
    for task in tasks:
        await uow.sync_tasks.add(task)
    send = functools.partial(send_tasks, after_webhook_registration=after_webhook_registration)
    uow.after_commit(functools.partial(send, uow_factory, queue, events, tasks))
    return tasks


async def start_sync(
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue,
    events: EventPublisher,
    clock: Clock,
    merchant_id: str,
    shop_id: str,
    kinds: Sequence[SyncKind],
    orders_created_since: datetime | None = None,
    *,
    max_starts: int = DEFAULT_MAX_MANUAL_STARTS,
) -> list[SyncTask]:
    """Queue MANUAL tasks of the given kinds; all or none. When any kind has an active (queued or running) task,
    none is queued, the idle kinds neither: `SyncAlreadyRunningError` carries the active task of every such kind, in
    `kinds`' order. Then, when any kind already had `max_starts` MANUAL tasks created within the last hour
    (`domain.sync.check_manual_starts`), none is queued either: `TooManySyncStartsError` (TOO_MANY_SYNC_STARTS),
    its `retry_at` (UTC) when all of them may start again.

    `orders_created_since` (UTC) is the ORDERS task's window; given without ORDERS among `kinds` it would apply to
    nothing: INVALID_SYNC_WINDOW on `ordersCreatedSince`, rather than a window silently ignored.

    The tasks are returned QUEUED once committed, whether or not the broker took their messages (`send_tasks`): with
    the broker down they are marked unsent and sent by the scheduler's next tick once it is back."""
    wanted = parse_kinds(list(kinds))
    if orders_created_since is not None and SyncKind.ORDERS not in wanted:
        raise ValidationError(
            ErrorCode.INVALID_SYNC_WINDOW,
            "ordersCreatedSince applies to ORDERS only: add ORDERS to kinds, or leave it out.",
            ("ordersCreatedSince",),
        )
    now = clock.now()
    async with uow_factory() as uow:
        shop = await uow.shops.get(shop_id, merchant_id)
        if shop is None:
            raise NotFoundError("Shop", ("shopId",))
        ensure_shop_can_sync(shop, now)
        # Build (and so validate) every task before looking at what runs: bad input is reported as such.
        tasks = [
            SyncTask.queue(shop.id, merchant_id, kind, SyncTrigger.MANUAL, now, orders_created_since)
            for kind in wanted  # a PRODUCTS task has no window: it ignores `orders_created_since`
        ]
        if running := await _active_tasks(uow, shop.id, wanted):
            raise SyncAlreadyRunningError(running)
        since = now - MANUAL_START_WINDOW
        recent = uow.sync_tasks.manual_started_since
        started = [(kind, await recent(shop.id, kind, since, max_starts)) for kind in wanted]
        check_manual_starts(started, max_starts, now)
        try:
            for task in tasks:
                await uow.sync_tasks.add(task)  # the partial unique index is the last guard against a racing start
            uow.after_commit(functools.partial(send_tasks, uow_factory, queue, events, tasks))
            await uow.commit()
        except DomainError as exc:
            if exc.code is not ErrorCode.SYNC_ALREADY_RUNNING:
                raise
            lost_race = exc
        else:
            return tasks
    # A concurrent start won between our check and our insert: answer with its tasks, as if we had seen them.
    async with uow_factory() as uow:
        running = await _active_tasks(uow, shop_id, wanted)
    if running:
        raise SyncAlreadyRunningError(running) from lost_race
    raise lost_race


async def _active_tasks(uow: UnitOfWork, shop_id: str, kinds: Sequence[SyncKind]) -> list[SyncTask]:
    """The shop's queued or running task of each of `kinds` that has one, in `kinds`' order."""
    active = [await uow.sync_tasks.active(shop_id, kind) for kind in kinds]
    return [task for task in active if task is not None]


async def cancel_task(
    uow_factory: UnitOfWorkFactory, events: EventPublisher, clock: Clock, merchant_id: str, task_id: str
) -> SyncTask:
    """QUEUED: cancelled at once; RUNNING: stops at its next page; finished: SYNC_TASK_FINISHED."""
    async with uow_factory() as uow:
        task = await uow.sync_tasks.get(task_id, merchant_id)
        if task is None:
            raise NotFoundError("Sync task", ("taskId",))
        task.request_cancel(clock.now())
        if not await uow.sync_tasks.update(task):
            raise NotFoundError("Sync task", ("taskId",))  # its shop was deleted meanwhile
        await uow.commit()
    await publish_quietly(events, task)
    return task


async def resume_stale_tasks(
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue,
    clock: Clock,
    stale_after: timedelta,
    *,
    queued_after: timedelta | None = None,
    events: EventPublisher | None = None,
    messages: QueuedMessages | None = None,
    handed_back: Collection[str] = (),
) -> list[str]:
    """Re-send tasks nobody seems to run; returns their ids.

    RUNNING tasks silent for `stale_after` (their worker died) and QUEUED ones untouched for `queued_after`
    (default: `stale_after`; their message was lost: a send after commit that failed with no mark written, a process
    killed before it sent, a broker that restarted empty). Each is first marked
    QUEUED with a fresh heartbeat, in a short transaction that re-checks it under its row lock, then sent: the
    next sweeps leave it alone while that message waits. Make `queued_after` longer than the queue's longest
    retry backoff: a task waiting for a scheduled retry is QUEUED too (see `SyncTask.await_retry`).
    With `messages` (a queue that can tell which tasks it holds a message for), a QUEUED task untouched for
    `stale_after` whose message the queue does not hold is re-sent then, not after `queued_after`: a broker that
    restarted empty (Redis needs no persistence) or was down when the task was sent would otherwise leave the task
    QUEUED for `queued_after` (20 min by default), and with it every poll and `syncStart` of its shop and kind.
    `handed_back`: tasks whose message the queue has just put back from a dead worker process (Redis: its ack set,
    `DramatiqTaskQueue.requeue_dead_workers_messages`); that message runs them, a RUNNING one taken over by its
    run (`SyncTask.begin_attempt`), so none is sent a second: that second one would take the run over again and
    count one more failed run.
    Safe to over-deliver: a run that is in fact alive loses its lease and stops; a finished task is a no-op.
    """
    queued_after = stale_after if queued_after is None else queued_after
    now = clock.now()
    async with uow_factory() as uow:
        candidates = await uow.sync_tasks.list_resumable(now - min(stale_after, queued_after))
    # Read after the candidates: a message sent since is one of a task touched since, which the re-check skips.
    held = (
        await messages.sync_tasks_with_messages()
        if messages is not None and any(t.is_stale(now, stale_after, stale_after) for t in candidates)
        else None
    )

    def stale(task: SyncTask) -> bool:
        if task.id in handed_back:
            return False
        if task.is_stale(now, stale_after, queued_after):
            return True
        return held is not None and task.id not in held and task.is_stale(now, stale_after, stale_after)

    resent: list[str] = []
    for candidate in candidates:
        if not stale(candidate):
            continue
        async with uow_factory() as uow:
            task = await uow.sync_tasks.get(candidate.id)
            if task is None or not stale(task):
                continue  # a worker picked it up meanwhile
            send = task.requeue(now)
            if not await uow.sync_tasks.update(task):
                continue
            await uow.commit()
        await publish_quietly(events, task)
        if not send:
            continue  # a cancel asked while it was stale: cancelled now, nothing to run
        try:
            await queue.enqueue_sync(task.id)
        except Exception as exc:
            # Touched already: marked unsent, the scheduler's tick sends it once the broker is back (else the next
            # sweep after `queued_after` does).
            log.warning(
                "could not re-send sync task %s; sent once the queue takes it: %s", task.id, exc, exc_info=traced(exc)
            )
            await _mark_unsent(uow_factory, [task.id])
            continue
        resent.append(task.id)
    if resent:
        log.info("re-enqueued %d stale sync task(s)", len(resent))
    return resent


async def publish_quietly(events: EventPublisher | None, task: SyncTask) -> None:
    """Signal a change; a lost signal only delays a subscriber until its next re-read, so never fail on it."""
    if events is None:
        return
    try:
        await events.task_changed(task)
    except Exception:
        log.warning("could not publish a change of sync task %s", task.id, exc_info=True)


async def publish_shop_quietly(events: EventPublisher | None, shop: Shop) -> None:
    """Signal that a shop's status, attention, name or counts may have changed (`shopUpdated`); never fails."""
    if events is None:
        return
    try:
        await events.shop_changed(shop.id, shop.merchant_id)
    except Exception:
        log.warning("could not publish a change of shop %s", shop.id, exc_info=True)


async def add_unless_running(uow: UnitOfWork, task: SyncTask) -> bool:
    """Add the QUEUED `task` in `uow`'s transaction; False, nothing added, when a task of its shop and kind is active
    already (the one-active-task index's SYNC_ALREADY_RUNNING, refused in a savepoint: the transaction's other work
    stays). Other errors are raised. What a re-run queued by the rules (`domain.sync.rerun_after_reauthorization`)
    does rather than fail the work it rides with."""
    try:
        await uow.sync_tasks.add(task)
    except DomainError as exc:
        if exc.code is not ErrorCode.SYNC_ALREADY_RUNNING:
            raise
        return False
    return True


async def rerun_failed_imports(
    uow: UnitOfWork,
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue | None,
    events: EventPublisher | None,
    shop: Shop,
    now: datetime,
    because: str,
) -> list[SyncTask]:
    """In the transaction that makes a shop able to sync again after its authorization was lost: queue again each
    import (PRODUCTS, ORDERS) that a lost authorization FAILED (REAUTHORIZATION_REQUIRED) and nothing has run since,
    by `domain.sync.rerun_after_reauthorization`'s rule (tryout69 F1: the shop came back ACTIVE with part of its
    catalog, the 30-day orders window never read, so open orders reserved nothing in the pool). Two transactions do:
    a re-authorization (Re-authorize, or a connect that renews the merchant's own shop,
    `domain.services.shops.complete_authorization`), and a token refresh that lifts a revocation
    (`domain.services.shop_tokens.store_refreshed_pair`, review70 F3: that shop was ACTIVE again with its failed
    window unread until a later re-authorization). `because` ends the INFO line of each task queued
    ("re-authorized", "had its revocation lifted by a token refresh"). Nothing for a shop that cannot sync now
    (`domain.sync.ensure_shop_can_sync`: a refresh TikTok answered before webhook 7's announced end, stored after it,
    lifts the revocation of an EXPIRED shop): the re-run's begin would fail it at once, a second FAILED task of the
    kind (review71 F2, as the poll's rule, review70 F4); the failed task stays the kind's newest import, so the next
    re-authorization queues it.

    Returns the tasks queued, dropped with a rollback. With `queue`, they are sent after the commit (`send_tasks`: a
    refused send marks them unsent): every session of a worker has the worker's queue, a webhook registration's and a
    pool push's too (rerun72: those had none, and their re-runs waited up to `SHOPBRIDGE_SCHEDULER_TICK`, 30 s by
    default, for the tick; with the scheduler off, the stale sweep's minutes); without one (a session built without,
    as some tests build theirs), each is added marked `unsent`, so the scheduler's tick sends it
    (`resend_unsent_tasks`). A
    task of the kind active (a poll queued or running: the one-active-task index, SYNC_ALREADY_RUNNING, also when it
    became active since the look) leaves that kind alone rather than fail the transaction's own work: after a
    re-authorization, that poll's success queues the re-run then (`domain.sync.rerun_after_poll`, review69 R2); at a
    lift no poll of a kind whose import the lost authorization failed can be active (review71 F1), and in the
    compound case where one is (that failure already left un-re-run, a key restored for unreadable tokens) it waits
    for the next re-authorization or lifting refresh."""
    try:
        ensure_shop_can_sync(shop, now)
    except DomainError:
        return []
    queued: list[SyncTask] = []
    for kind in CONNECTION_KINDS:
        latest = await uow.sync_tasks.latest_import(shop.id, kind)
        task = rerun_after_reauthorization(latest, await uow.sync_tasks.active(shop.id, kind), now)
        if task is None or task.merchant_id != shop.merchant_id:
            continue
        task.unsent = queue is None
        if not await add_unless_running(uow, task):  # the transaction's own work stays
            continue
        log.info(
            "shop %s %s: its %s import, failed by the lost authorization, runs again%s", shop.id, because, kind,
            "" if queue is not None else " (no queue in this session: the scheduler's tick sends it)",
        )  # fmt: skip
        queued.append(task)
    if queued and queue is not None:
        uow.after_commit(functools.partial(send_tasks, uow_factory, queue, events, queued))
    return queued


async def send_tasks(
    uow_factory: UnitOfWorkFactory | None,
    queue: TaskQueue,
    events: EventPublisher | None,
    tasks: Sequence[SyncTask],
    *,
    after_webhook_registration: bool = False,
) -> None:
    """After the commit that queued `tasks`: send each one's message (`TaskQueue.enqueue_sync`) and signal it.

    A send that fails (`QueueUnavailableError`: the broker down, restarting, hung) marks the tasks whose message was
    not sent `unsent`, in one short transaction (`SyncTaskRepository.mark_unsent`): the scheduler's tick sends them
    once the broker takes messages again (`resend_unsent_tasks`: seconds, not the stale sweep's minutes during which
    their shop's `syncStart` and polls of that kind are refused as already running). Without `uow_factory`, or when
    that mark cannot be written either, the stale sweep re-sends them (`resume_stale_tasks`). Never raises: the
    commit has happened, and the tasks are QUEUED either way. An unsent task is not signalled: the signal would go
    through the same Redis (a hung one: another 5 s timeout for the mutation), and subscribers re-read anyway."""
    unsent: list[str] = []
    for task in tasks:
        try:
            if after_webhook_registration:
                await queue.enqueue_sync(task.id, after_webhook_registration=True)
            else:
                await queue.enqueue_sync(task.id)
        except Exception as exc:
            log.warning(
                "could not send sync task %s; sent once the queue takes it: %s", task.id, exc,
                exc_info=exc if traced(exc) else None,
            )  # fmt: skip
            unsent.append(task.id)
            continue
        await publish_quietly(events, task)
    if unsent and uow_factory is not None:
        await _mark_unsent(uow_factory, unsent)


async def _mark_unsent(uow_factory: UnitOfWorkFactory, task_ids: list[str]) -> None:
    """Mark the tasks `unsent`; a failure (the database down too) is one line: the stale sweep sends them then."""
    try:
        async with uow_factory() as uow:
            await uow.sync_tasks.mark_unsent(task_ids)
            await uow.commit()
    except Exception as exc:
        log.warning(
            "could not mark sync task(s) %s unsent; the stale sweep will send them: %s",
            ", ".join(task_ids), failure(exc), exc_info=exc if traced(exc) else None,
        )  # fmt: skip


UNSENT_BATCH = 500
"""Unsent tasks one `resend_unsent_tasks` sends at most (the rest at the next tick): one claim each."""


async def resend_unsent_tasks(
    uow_factory: UnitOfWorkFactory,
    queue: TaskQueue,
    clock: Clock,
    *,
    messages: QueuedMessages | None = None,
    limit: int = UNSENT_BATCH,
) -> list[str]:
    """Send the message of each QUEUED task marked `unsent` (its send failed, `send_tasks`; or it was never sent: a
    re-run a lifting refresh queued in a session built with no queue, `rerun_failed_imports`), oldest first; returns
    the ids sent. The row does not say which of the two, so the INFO line names both (review71 F3: it said every one had
    failed to send, which an operator counting Redis recoveries would miscount); the lift's own INFO line said which.
    Run by the scheduler's tick (workers' `_schedule`, the lease holder): a task started while Redis was down runs
    seconds after Redis is back, not 1 to 2 x `SHOPBRIDGE_SYNC_STALE_AFTER` later.

    Each task is claimed before its send (`SyncTaskRepository.claim_unsent`: the mark cleared and the task touched,
    one conditional UPDATE, its own transaction), so of several processes at once exactly one sends it, and the
    stale sweep leaves the touched task alone while its message waits. With `messages` (Redis), a task whose message
    the queue does hold (a send that timed out after Redis took it) is only unmarked, not sent twice; that read
    comes before any claim, so a broker still down costs one failed read (`QueueUnavailableError`, raised) and no
    write. A send that fails marks its task again and raises: the next tick tries again."""
    async with uow_factory() as uow:
        task_ids = await uow.sync_tasks.list_unsent(limit)
    if not task_ids:
        return []
    held = await messages.sync_tasks_with_messages() if messages is not None else None
    sent: list[str] = []
    try:
        for task_id in task_ids:
            async with uow_factory() as uow:
                claimed = await uow.sync_tasks.claim_unsent(task_id, clock.now())
                await uow.commit()
            if not claimed or (held is not None and task_id in held):
                continue  # another process took it, or a sweep sent it; or its message is in the queue already
            try:
                await queue.enqueue_sync(task_id)
            except Exception:
                await _mark_unsent(uow_factory, [task_id])
                raise
            sent.append(task_id)
    finally:
        if sent:
            log.info(
                "sent %d sync task(s) left with no message in the queue: a send after their commit that failed (the"
                " queue takes messages again), or re-runs a token refresh queued in a session with no queue",
                len(sent),
            )
    return sent


async def wait_for_worker(uow_factory: UnitOfWorkFactory, clock: Clock, task_id: str, touch_after: timedelta) -> bool:
    """Task `task_id`'s message found every import slot of its worker taken: whether to send it again (False: it
    ended or is gone meanwhile). Touches a QUEUED task now and then (`SyncTask.wait_for_worker`), so the sweep does
    not take the waiting message for a lost one and send a duplicate."""
    async with uow_factory() as uow:
        task = await uow.sync_tasks.get(task_id)
        if task is None:
            return False
        waiting, touched = task.wait_for_worker(clock.now(), touch_after)
        if touched and await uow.sync_tasks.update(task):
            await uow.commit()
    return waiting
