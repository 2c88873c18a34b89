"""The polling backstop's rules: when a shop is due, which `update_time` window a poll reads, where its cursor goes.

Every shop that may sync is polled per kind (ORDERS, PRODUCTS) every `interval`. A poll reads what TikTok changed
in `[cursor - overlap, now - settle)`: the overlap re-reads changes TikTok's search index may have published late,
the settle margin leaves alone changes too recent to be indexed yet (live-sync.md §3.3, §7.7: M2E polls every
300 s; the design keeps a 10-minute overlap and a 30-second settle). The cursor is "every change before this
instant is stored": it moves only forward, and only in the transaction that stored the changes before it.

A poll is a sync task with trigger SCHEDULED; its window lives in its checkpoint under `poll`, so a resumed poll
reads the same window. A poll that found nothing is kept only among the last `KEEP_EMPTY_POLLS` of its shop and
kind, so that a shop polled every 5 minutes does not bury the Task Center under empty entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from domain.shops import Shop, new_id
from domain.sync import ORDERS_MAX_WINDOW, SyncKind, SyncTask, SyncTaskStatus, SyncTrigger

KEEP_EMPTY_POLLS = 3
POLL_KINDS = (SyncKind.ORDERS, SyncKind.PRODUCTS)
# Why: a poll's window must never start before TikTok's 90-day order search horizon.
MAX_CURSOR_AGE = ORDERS_MAX_WINDOW


@dataclass(frozen=True, slots=True)
class PollSettings:
    """`SHOPBRIDGE_POLL_INTERVAL`, `_OVERLAP` and `_SETTLE` (seconds in the environment)."""

    interval: timedelta = timedelta(seconds=300)
    overlap: timedelta = timedelta(seconds=600)
    settle: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class PollWindow:
    """Changes with `ge <= update_time < lt`, whole Unix seconds."""

    ge: int
    lt: int

    def to_json(self) -> dict[str, int]:
        return {"ge": self.ge, "lt": self.lt}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PollWindow:
        return cls(ge=int(data["ge"]), lt=int(data["lt"]))


class Tick(Enum):
    """What a scheduler tick does with one shop's and kind's poll (`PollCursor.at_tick`)."""

    WAIT = "wait"  # not due, or a catch-up waiting for the task of its kind to end: nothing saved, nothing sent
    STAMP = "stamp"  # due, but a task of its kind is active: `scheduled_at` saved, nothing sent (it would be skipped)
    SEND = "send"  # due: `scheduled_at` saved, the poll sent


@dataclass(slots=True)
class PollCursor:
    """One shop's and kind's polling state: how far changes are stored, and when it was last scheduled/started."""

    shop_id: str
    kind: SyncKind
    cursor_at: datetime | None = None
    scheduled_at: datetime | None = None
    polled_at: datetime | None = None
    updated_at: datetime | None = field(default=None, compare=False)

    def is_due(self, now: datetime, interval: timedelta) -> bool:
        """Due when never scheduled, or scheduled at least one interval ago."""
        return self.scheduled_at is None or now - self.scheduled_at >= interval

    def at_tick(self, now: datetime, settings: PollSettings, authorized_at: datetime | None, *, busy: bool) -> Tick:
        """What the scheduler's tick at `now` does with this poll, `scheduled_at` set to `now` unless WAIT. Due
        (`is_due`, or `catch_up_due` after the (re-)authorization at `authorized_at`), it is sent; but not while
        `busy` (a task of this shop and kind is QUEUED or RUNNING), as its message would be a no-op (`start_poll`
        skips a poll beside an active task of its kind): a regular poll is stamped all the same (its interval
        restarts, as the skipped message's did), a catch-up is not (it stays due, and goes at the first tick after
        that task ended).

        Stop 53: while a first catch-up of two days of orders ran, each of its kinds was sent a no-op follow-up once
        per `settle` (30 s) until it ended; now none, and the follow-up a tick after it ended, not up to a settle."""
        catching_up = self.catch_up_due(now, authorized_at, settings.settle)
        if not (catching_up or self.is_due(now, settings.interval)) or (busy and catching_up):
            return Tick.WAIT
        self.scheduled_at = now
        return Tick.STAMP if busy else Tick.SEND

    def catch_up_due(self, now: datetime, authorized_at: datetime | None, settle: timedelta) -> bool:
        """Due once more when the settle margin has passed since the shop's (re-)authorization at `authorized_at`
        (UTC) and no poll has covered up to it yet: stored changes end before it (`cursor_at`), and no poll has
        started since that margin passed (`polled_at`), so this is one extra poll, never a loop. Until one starts,
        while a catch-up begun since the authorization may still run, it is sent again once per `settle`.

        Rule (README "Polling"): a re-authorization makes the polls due at the next tick (`make_due`), but that
        catch-up reads only up to `now - settle`; what changed while the shop could not sync has no webhook, and
        its last `settle` seconds before the re-authorization were left to the next regular poll, a whole interval
        later (try-out newcomer52: a sale 3 s before the re-authorization came in 5 min 50 s later, the pool
        reserving nothing for it meanwhile). This follow-up reads up to the whole second after `authorized_at` or
        later: what changed before the re-authorization is in within `settle`, a second and a tick. A first
        catch-up still running when it is due would make its message a no-op (one active task per shop and kind),
        so it stays due until a poll actually starts (review52b: a first catch-up reading two days of orders outran
        the settle, and the follow-up, stamped, was never sent again); the scheduler does not send it while that
        task runs (`at_tick`), and sent, one that found it running all the same (a message late in the queue) is
        sent again a settle later. A follow-up that starts and fails leaves the rest to the regular poll."""
        if authorized_at is None or (self.cursor_at is not None and self.cursor_at >= authorized_at):
            return False
        # A window ends on a whole second (`poll_window`): settled once it takes in the authorization's own second.
        settled_at = authorized_at.replace(microsecond=0) + timedelta(seconds=1) + settle
        if now < settled_at or (self.polled_at is not None and self.polled_at >= settled_at):
            return False
        if self.scheduled_at is None or self.scheduled_at < settled_at:
            return True
        # Sent, not started: a catch-up begun since the authorization may still run (it skips the follow-up), so
        # again once per settle. Anything else holding it back (an import) ends in a poll reading past it anyway.
        return self.polled_at is not None and self.polled_at >= authorized_at and now - self.scheduled_at >= settle

    def already_polled_for(self, scheduled_at: datetime | None) -> bool:
        """Whether a poll started since the message for `scheduled_at` was sent: a duplicate message is a no-op."""
        return scheduled_at is not None and self.polled_at is not None and self.polled_at >= scheduled_at


def initial_cursor(shop: Shop, last_import: SyncTask | None, now: datetime) -> datetime:
    """Where the first poll of a kind starts: where the last successful import's window ended (orders: its
    `orders_created_until`; products: when it was queued, since it walked everything updated before), else when
    the shop last synced or was authorized. Never before TikTok's 90-day horizon."""
    if last_import is not None:
        start = last_import.orders_created_until or last_import.created_at
    else:
        start = shop.last_synced_at or shop.authorized_at
    return max(start, now - MAX_CURSOR_AGE)


def poll_window(cursor_at: datetime, now: datetime, settings: PollSettings) -> PollWindow | None:
    """`[cursor - overlap, now - settle)`, or None when that is empty (the cursor is ahead of the settle line)."""
    ge = int((cursor_at - settings.overlap).timestamp())
    lt = int((now - settings.settle).timestamp())
    return PollWindow(ge, lt) if lt > ge else None


def queue_poll(shop: Shop, kind: SyncKind, window: PollWindow, now: datetime) -> SyncTask:
    """A QUEUED SCHEDULED task reading `window`; the engine runs it like an import (domain.services.importer)."""
    return SyncTask(
        id=new_id(),
        shop_id=shop.id,
        merchant_id=shop.merchant_id,
        kind=kind,
        trigger=SyncTrigger.SCHEDULED,
        status=SyncTaskStatus.QUEUED,
        created_at=now,
        checkpoint={"poll": window.to_json()},
    )


def task_window(task: SyncTask) -> PollWindow:
    """The window a SCHEDULED task reads (stored in its checkpoint when it was queued)."""
    return PollWindow.from_json(task.checkpoint["poll"])


def cursor_reached(task: SyncTask) -> int | None:
    """Unix seconds before which every change of the task's window is stored, judging by its checkpoint.

    Orders are read oldest change first, so after each stored page every change before the last stored
    `update_time` is in (later pages start at that second). Products come in no useful order: only a finished
    window counts. None while nothing can be claimed.
    """
    window = task_window(task)
    if task.status is SyncTaskStatus.SUCCEEDED:
        return window.lt
    if task.kind is SyncKind.ORDERS:
        slices = task.checkpoint.get("orders", {}).get("slices") or []
        if slices:
            state = slices[0]
            return window.lt if state.get("done") else int(state["resume_ge"])
    return None
