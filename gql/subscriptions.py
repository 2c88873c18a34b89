"""`syncTaskUpdated`, `shopUpdated`, `shopsUpdated`: the database is the truth; signals only say when to look again.
Each sends the current state first (`shopsUpdated`: every shop of the merchant, read after the subscriber joined its
feed), then the changes.

The first messages are the current state (with `taskId` that task; else each shop's latest task of each kind, at
most 100, and every active one, so a client sees where things stand even when nothing runs); then each change
(a task started later included), coalesced per task to at most one message per `MIN_INTERVAL` (the latest state
wins; every task that changed sends at least its final state: `Follower.take_changed` in gql/feeds.py).
`syncTaskUpdated` subscribers do not read the database themselves: the merchant's feed (`gql.feeds`) reads once per
change signal for all of them, and every `FALLBACK_INTERVAL` whatever happens (signals can be lost: pub/sub is
at-most-once). No database session is held while waiting.

A followed task that disappears while still active was removed with its shop (`shopDelete` cancels and deletes
in one transaction): its final message is its last state as CANCELLED with `errorCode = SHOP_DELETED` (and a null
`shop`). A subscription to one task then completes; one to a deleted shop ends with a NOT_FOUND error.

A database outage ends no subscription, open or starting (gql/live_outage.py): its reads (the feeds', the subscriber's
own: its start's checks and first read, `shopUpdated`'s re-reads; and a message's nested fields' loader reads, a
task's shop or a shop's counts: `load_live`) are tried again with a bounded back-off, nothing is sent meanwhile, and
the current state goes out once the database answers. One started during the outage stays open
and runs its start then, refusals included (NOT_FOUND for a shop that is not the merchant's, as without an outage); a
query or mutation during one is still refused SERVICE_UNAVAILABLE (gql/errors.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
import time
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import strawberry

from adapters.db.read_models import SyncTaskRead
from adapters.events import mark
from domain.errors import NotFoundError
from domain.sync import ACTIVE_STATUSES
from domain.sync import SyncTaskStatus as DomainStatus
from gql import mappers, readers
from gql import types as t
from gql.context import Info
from gql.errors import BadRequestError
from gql.feeds import Follower, Snapshot, task_feed
from gql.ids import from_global_id, internal_id, to_global_id
from gql.live_outage import wait_out_own
from gql.shared_reads import next_read, next_tick
from gql.shop_feeds import shop_feed

MIN_INTERVAL = 0.1
SHOP_MIN_INTERVAL = 0.25  # a shop re-read costs its counts: at most four a second during an import
SHOP_DELETED = "SHOP_DELETED"
_TERMINAL = frozenset(status.value for status in DomainStatus if status.is_terminal)  # a set look-up per message


def _gone(last: t.SyncTask, now: Any) -> t.SyncTask:
    """The final state of a task deleted with its shop while active: it was cancelled by the deletion."""
    return dataclasses.replace(
        last,
        status=DomainStatus.CANCELLED,
        cancel_requested=True,
        error_code=SHOP_DELETED,
        error_message="The shop was deleted; the task was cancelled with it.",
        finished_at=last.finished_at or now,
    )


def _signature(task: Any) -> tuple[object, ...]:
    return (
        task.status,
        task.processed,
        task.total,
        task.created,
        task.updated,
        task.unchanged,
        task.failed,
        task.attempts,
        task.failed_attempts,
        task.error_code,
        task.cancel_requested,
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Sync task changes. With taskId: that task (first as it is), completing after its final "
        "state. With shopId: that shop's tasks; with neither: all of the merchant's. The first messages are the "
        "current state: each shop's latest task of each kind (at most 100, oldest first, finished ones included) "
        "and every active task; then each change of a task in scope, a task started later included. Changes close "
        "together are coalesced per task (at most one message per task every 0.1 s, the latest state wins), but "
        "every task that changed sends at least its final state, one that started and finished between two "
        "messages included. Nothing is sent first when no task exists yet. With both: the task must be of that "
        "shop, else BAD_USER_INPUT."
    )
    async def sync_task_updated(
        self,
        info: Info,
        task_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this task (SyncTask.id); null: every task.")
        ] = None,
        shop_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this shop's tasks (Shop.id); null: every shop.")
        ] = None,
    ) -> AsyncGenerator[t.SyncTask, None]:
        merchant_id = info.context.require_merchant()
        task_filter = internal_id(task_id, "SyncTask", "taskId") if task_id is not None else None
        shop_filter = None
        if shop_id is not None:
            parsed = from_global_id(shop_id)
            if parsed is None or parsed[0] != "Shop":
                raise NotFoundError("Shop", ("shopId",))
            shop_filter = parsed[1]

        async def start() -> set[str]:
            """The subscriber's own reads, once: its shop is the merchant's, its two filters agree, and each shop's
            latest task of each kind (the ids; the feed then reads them for it)."""
            if shop_filter is not None and await info.context.fresh_loaders().shop.load(shop_filter) is None:
                raise NotFoundError("Shop", ("shopId",))
            if task_filter is not None and shop_filter is not None:
                # Both: they must agree, as inventoryItemUpdated refuses two contradicting arguments (a task of
                # another shop is a mistake, not a filter). A task that does not exist stays NOT_FOUND below.
                found = await readers.sync_task_rows(info, merchant_id, {task_filter})
                if found and found[0].shop_id != shop_filter:
                    raise BadRequestError("taskId is a task of another shop than shopId.")
            if task_filter is not None:
                return set()
            return {row.id for row in await readers.latest_sync_task_rows(info, merchant_id, shop_filter)}

        # Started during a database outage, it waits it out, then starts (its refusals included) as it would have.
        latest = await wait_out_own(info, "syncTaskUpdated", start)
        # The feed taken after that read, with no await before following it: one taken before could have lost its
        # last follower meanwhile and left the registry, and following it would run a second reader beside the next.
        feed = task_feed(info.context.services, merchant_id)
        async with feed.follow(shop_filter) as me:
            with info.context.ending_at_expiry(me.fail):
                async for message in _follow(info, me, feed.refresh(), task_filter, shop_filter, latest):
                    yield message

    @strawberry.subscription(
        description="The shop, first as it is, then whenever its status, attention, name, counts or last sync "
        "change (coalesced: the latest state wins, at most four messages a second). Ends with NOT_FOUND once the shop "
        "is deleted."
    )
    async def shop_updated(
        self, info: Info, shop_id: Annotated[strawberry.ID, strawberry.argument(description="The shop's id (Shop.id).")]
    ) -> AsyncGenerator[t.Shop, None]:
        merchant_id = info.context.require_merchant()
        internal = internal_id(shop_id, "Shop", "shopId")
        services = info.context.services
        events = services.events
        reads = services.shop_reads
        loop = asyncio.get_running_loop()
        sent: tuple[object, ...] | None = None
        with reads.following((merchant_id, internal)):
            # One slot for the merchant's shop signals and task signals, each naming a shop (a task's: its own).
            async with events.subscribe_shop_activity(merchant_id) as signals:
                # Each state from a read shared by the shop's followers in this process (gql/shop_reads.py): the first
                # one begun after the signals are heard, then one begun after the signal naming the shop that woke
                # this follower, or the one at the fallback tick. The first read waits out an outage too: a
                # subscription started during one starts once it is over.
                after, not_before = mark(), -math.inf
                while True:
                    reading = functools.partial(
                        reads.state, services, merchant_id, internal, after=after, not_before=not_before
                    )
                    state = await wait_out_own(info, "shopUpdated", reading)
                    if state is None:  # none of the merchant's, or deleted since: NOT_FOUND either way
                        raise NotFoundError("Shop", ("shopId",))
                    if state.signature != sent:
                        sent = state.signature
                        # its counts answer from this read (its sync facts came with the shop), not reads of their own
                        loaders = info.context.fresh_loaders()
                        loaders.shop.prime(internal, state.shop)
                        loaders.product_count.prime(internal, state.product_count)
                        loaders.order_count.prime(internal, state.order_count)
                        yield state.shop  # the read's one object, whoever follows it: its execution is shared
                        await asyncio.sleep(SHOP_MIN_INTERVAL)  # coalesce: what changes meanwhile goes out next
                    # A task of this shop may have moved its counts or last sync, a shop signal naming it anything
                    # else; signals of the merchant's other shops and their tasks are let go (they did not touch it).
                    tick = next_tick(loop.time())
                    after, not_before = await next_read(signals, internal, tick, info.context.require_merchant)

    @strawberry.subscription(
        description="The merchant's shops: first each of them as it is (read after this subscription started, "
        "oldest first, at most 500; nothing when it has none), so a change made while a client read `shops` is not "
        "lost; then each shop whose name, status, attention (a notice's code or time), expiresAt, productCount, "
        "orderCount or inventoryPolicy changes, as it is then: a revocation (webhook 6, or a token refresh TikTok "
        "refuses), a re-authorization, an authorization ending or announced (webhook 7), a token renewal, an order or "
        "product new to the shop (a webhook's or a sync's), a shopInventoryPolicyUpdate that changed the "
        "policy. The first messages are the complete "
        "current list: a shop a client listed that none of them names was deleted before this subscription "
        "started (`shopsDeleted` does not send it). Changes close together are coalesced (the latest state wins); "
        "a status that moves with the clock (EXPIRING_SOON, EXPIRED) arrives within 30 seconds. A shop deleted "
        "later sends nothing here (`shopsDeleted` sends its id; `shopUpdated` ends with NOT_FOUND). Ends with "
        "UNAUTHENTICATED once the connection's token expires."
    )
    async def shops_updated(self, info: Info) -> AsyncGenerator[t.Shop, None]:
        merchant_id = info.context.require_merchant()
        # One reader per merchant and process for every subscriber (gql/shop_feeds.py): a signal costs one read. The
        # first batch is every shop, from a read begun after this follower joined: only this newcomer (and others
        # joining with it) receives it, the feed's other followers hear only what that read found changed.
        async with shop_feed(info.context.services, merchant_id).follow(first=True) as me:
            with info.context.ending_at_expiry(me.fail):
                while True:
                    changed = await me.next()  # at least every FALLBACK_INTERVAL, changes or not
                    info.context.require_merchant()  # a subscription does not outlive its token
                    me.take_deleted()  # `shopsDeleted` tells them
                    for shop in changed:
                        info.context.reset_loaders()
                        yield shop  # the feed's one object per shop and read: its execution is shared

    @strawberry.subscription(
        description="The id of each of the merchant's shops deleted (`shopDelete`, from any session or device), "
        "once, so that a list of shops drops its row: `shopsUpdated` sends nothing for a deleted shop. Nothing is "
        "sent first: a shop deleted before this subscription started is not sent (the first messages of "
        "`shopsUpdated`, the complete current list, leave it out). A deletion arrives as soon as it is committed "
        "(its signal names the shop, which the feed then finds gone), within 30 seconds if that signal was lost. "
        "Ends with UNAUTHENTICATED once the connection's token expires."
    )
    async def shops_deleted(self, info: Info) -> AsyncGenerator[strawberry.ID, None]:
        merchant_id = info.context.require_merchant()
        # The same one reader per merchant and process as `shopsUpdated` (gql/shop_feeds.py), with no first batch.
        async with shop_feed(info.context.services, merchant_id).follow(first=False) as me:
            with info.context.ending_at_expiry(me.fail):
                while True:
                    await me.next()  # at least every FALLBACK_INTERVAL, changes or not
                    info.context.require_merchant()  # a subscription does not outlive its token
                    for shop_id in me.take_deleted():
                        yield strawberry.ID(to_global_id("Shop", shop_id))


async def _follow(
    info: Info, me: Follower, generation: int, task_filter: str | None, shop_filter: str | None, first_ids: set[str]
) -> AsyncGenerator[t.SyncTask, None]:
    """One subscriber's messages from the shared snapshots of its merchant's feed (no read of its own, except
    the rare shop check when a followed task vanished)."""
    sent: dict[str, tuple[object, ...]] = {}
    sent_at: dict[str, float] = {}
    # Finished tasks whose final state a subscriber remembers, so that a signal naming one again sends nothing: the
    # latest this many (SHOPBRIDGE_SUBSCRIPTION_FINISHED_KEPT, 100 by default); an older one signalled again (seldom:
    # its worker signalled it after its final commit) is sent once more.
    kept = info.context.services.subscription_finished_kept
    finished: dict[str, None] = {}  # tasks whose final state is out, oldest first (their `sent` kept: `kept`)
    followed: set[str] = set()
    pending: set[str] = set(first_ids)  # the first messages: each shop's latest task of each kind, finished or not
    last_active: dict[str, t.SyncTask] = {}  # the last state sent of each task still active then
    me.ids = {task_filter} if task_filter is not None else set(first_ids)
    latest: Snapshot = await me.first(generation)
    # The first snapshot may come long after the subscription's start checked the token (the feed's first read waits
    # out an outage): a token expired meanwhile ends it here, before the current state goes out, as after every wait.
    info.context.require_merchant()
    snapshot: Snapshot | None = latest
    first = True
    while True:
        if snapshot is not None:
            latest = snapshot
            # Every id named since the last snapshot taken, those of the snapshots it replaced included (each read by
            # this one): a task that started and finished while this generator was suspended at a yield is sent.
            named = me.take_changed()
            pending |= {task for task in named if _named_in_scope(latest, task, task_filter, shop_filter)}
            me.ids |= pending  # read from now on, not only from the next wait: a coalesced final state is not put off
        rows = _in_scope(latest, followed | pending, task_filter, shop_filter)
        if first and task_filter is not None and not rows:
            raise NotFoundError("Sync task", ("taskId",))
        first = False
        # Vanished: read (asked) and absent, so deleted with their shop while active.
        vanished = {task for task in last_active if task in latest.asked and task not in latest.rows}
        for gone_id in sorted(vanished):
            followed.discard(gone_id)
            info.context.reset_loaders()
            yield _gone(last_active.pop(gone_id), info.context.services.clock.now())
        if task_filter is not None and vanished:
            return  # the task is gone with its shop: its final state is out
        if vanished and shop_filter is not None and await _shop_gone(info, shop_filter):
            raise NotFoundError("Shop", ("shopId",))
        now = time.monotonic()
        delay: float | None = None
        for row in rows:
            followed.add(row.id)
            signature = _signature(row)
            if sent.get(row.id) == signature:
                pending.discard(row.id)
                continue
            wait = sent_at.get(row.id, 0.0) + MIN_INTERVAL - now
            if wait > 0:  # coalesce: the latest state goes out when the slot opens
                delay = wait if delay is None else min(delay, wait)
                pending.add(row.id)
                continue
            sent[row.id] = signature
            sent_at[row.id] = now
            pending.discard(row.id)
            info.context.reset_loaders()
            message = _message(latest, row)
            terminal = row.status in _TERMINAL
            if terminal:
                last_active.pop(row.id, None)
            else:
                last_active[row.id] = message
                finished.pop(row.id, None)  # active again: remembered while it is
            yield message
            if task_filter is not None and terminal:
                return
        # Forget finished tasks once their final state is out, so the followed set stays small; and what was sent of
        # them but the latest `kept` final states, so that what a subscriber keeps does not grow with every
        # task of the merchant while it is open (its token's days: mem54).
        for row in rows:
            if row.status in _TERMINAL and sent.get(row.id) == _signature(row):
                followed.discard(row.id)
                sent_at.pop(row.id, None)
                finished[row.id] = None
        while len(finished) > kept:
            oldest = next(iter(finished))
            del finished[oldest]
            sent.pop(oldest, None)
        ids = followed | pending
        ids.update(last_active)
        if task_filter is not None:
            ids.add(task_filter)
        me.ids = ids
        # No timer unless a coalesced state waits for its slot: the feed sends every follower a snapshot at least
        # every FALLBACK_INTERVAL, which re-evaluates the latest state and the token.
        snapshot = await me.next(delay)
        info.context.require_merchant()  # a subscription does not outlive its token
        if (
            snapshot is not None
            and snapshot.shops is not None
            and shop_filter is not None
            and not followed
            and shop_filter not in snapshot.shops
        ):
            raise NotFoundError("Shop", ("shopId",))  # deleted while none of its tasks was active


def _message(snapshot: Snapshot, row: SyncTaskRead) -> t.SyncTask:
    """The snapshot's one `SyncTask` of `row`, built by its first subscriber: every follower of the merchant's feed
    yields the same object for the same read, so graphql-core's execution of it is shared (gql/shared_events.py)."""
    message = snapshot.messages.get(row.id)
    if message is None:
        message = snapshot.messages[row.id] = mappers.sync_task(row)
    return message


def _named_in_scope(snapshot: Snapshot, task_id: str, task_filter: str | None, shop_filter: str | None) -> bool:
    """Whether a task a signal named is this subscriber's: its task, or one of its shop's (or of any shop). The
    snapshot read every id named since the last one taken (`Follower.take_changed`), so a task absent from it is gone
    (deleted with its shop: an active one it followed is sent as such, `_gone`). Without this, a `shopId` subscriber
    kept the merchant's other shops' tasks pending, never sent, never dropped: the feed read each again in every
    read for as long as the subscription lived."""
    if task_filter is not None:
        return task_id == task_filter
    row = snapshot.rows.get(task_id)
    return row is not None and (shop_filter is None or row.shop_id == shop_filter)


def _in_scope(
    snapshot: Snapshot, ids: set[str], task_filter: str | None, shop_filter: str | None
) -> list[SyncTaskRead]:
    """The snapshot's rows this subscriber follows: its task, or the active ones in scope plus `ids`."""
    if task_filter is not None:
        row = snapshot.rows.get(task_filter)
        return [row] if row is not None else []
    rows = [
        row
        for row in snapshot.rows.values()
        if (row.status in ACTIVE_STATUSES or row.id in ids) and (shop_filter is None or row.shop_id == shop_filter)
    ]
    rows.sort(key=lambda row: (row.created_at, row.id))  # oldest first
    return rows


async def _shop_gone(info: Info, shop_id: str) -> bool:
    async def read() -> bool:
        return await info.context.fresh_loaders().shop.load(shop_id) is None

    return await wait_out_own(info, "syncTaskUpdated", read)
