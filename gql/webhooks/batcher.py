"""Group commit for `POST /webhooks/tiktok`: concurrent pushes are stored in one transaction, each push answered
once the transaction holding it has committed.

    batcher = IntakeBatcher(store, enqueue)      # store: domain.services.inbox.receive_notifications, bound
    event = await batcher.submit(notification)   # the stored event, None (already stored), or raises: answer 500
    await batcher.aclose()                       # at shutdown: stores what is waiting, then waits for the enqueues

One writer per process: while a batch is being written, the pushes that arrive meanwhile wait and become the
next batch (at most `max_batch`), so batches grow with the load and a lone push is written at once, with no
fixed delay. A push's answer still comes only after its own batch committed (durable before 200); a batch that
fails fails every push in it (500: TikTok retries them), except that a batch failing quickly is retried one push
at a time, so that one push the database refuses cannot fail the others (not when the database is unavailable: that
fails them all alike, in one WARNING line per batch, as does a database not migrated yet while this process waits for
`shopbridge migrate`; any other failure is an ERROR with its traceback). Processing
is enqueued after the commit, once per shop per batch (and at most one enqueue in flight per shop, plus one to follow
it). A push whose shop's delete holds the shop (PostgreSQL) is failed alone at once (`inbox.receive_notifications`
gives it a `ShopBeingDeletedError`): the writer never waits for a delete (break66 F3).

The store runs on the intake's own units of work (`gql.container.build_intake`: `Database.intake_sessionmaker`, on
PostgreSQL a connection of its own), so a batch never waits for a connection behind GraphQL's reads (soak53).

Measured in bench/README.md (benchmark 5): one transaction per push made the endpoint the bottleneck (on SQLite
every push queued for the single write lock, sleeping in SQLite's busy handler).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from adapters.db.outage import behind_migrations, busy_line, describe, pool_exhausted, unavailable
from adapters.metrics import WEBHOOK_INTAKE_BATCH
from domain.intake import EventOutcome, Notification, WebhookEvent
from domain.ports import ShopBeingDeletedError, traced
from gql.throttled_log import ThrottledLog

log = logging.getLogger("shopbridge.webhooks")
# A pool exhausted fails every batch for as long as it lasts: one line a minute, the next saying how many were left out.
_busy_log = ThrottledLog(log, 60.0)

MAX_BATCH = 200  # pushes per transaction: one multi-row insert, far below SQLite's and PostgreSQL's bind limits
SPLIT_BUDGET_SECONDS = 1.0  # a batch that failed faster than this is retried one push at a time (within it)

Store = Callable[[Sequence[Notification]], Awaitable[list[WebhookEvent | ShopBeingDeletedError | None]]]
# A push whose shop's delete holds the shop is refused at once (500, TikTok retries): one line a minute, as anyone's
# pushes for a large shop keep coming while its delete runs (15-27 s).
_deleting_log = ThrottledLog(log, 60.0)


class IntakeUnavailableError(Exception):
    """The push's batch could not be stored (the cause is chained and logged once per batch): answer 500."""


class IntakeBatcher:
    """See the module docstring. Use from one event loop (the server's); `submit` is safe to cancel: the push is
    then still stored, and TikTok's retry of it is a duplicate."""

    def __init__(
        self,
        store: Store,
        enqueue: Callable[[str], Awaitable[None]],
        *,
        max_batch: int = MAX_BATCH,
        split_budget_seconds: float = SPLIT_BUDGET_SECONDS,
    ) -> None:
        self._store = store
        self._enqueue = enqueue
        self._max_batch = max_batch
        self._split_budget = split_budget_seconds
        self._waiting: list[tuple[Notification, asyncio.Future[WebhookEvent | None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._enqueuing: set[str] = set()  # shops with an enqueue in flight
        self._again: set[str] = set()  # shops whose in-flight enqueue must be followed by another
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def submit(self, notification: Notification) -> WebhookEvent | None:
        """Store one verified notification with whatever else is waiting; the stored event, or None when its
        notification key was already stored. `IntakeUnavailableError` when its batch could not be stored, or
        `RuntimeError` after `aclose()`."""
        if self._closed:
            raise RuntimeError("the webhook intake is closed")
        future: asyncio.Future[WebhookEvent | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((notification, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all(), name="webhook-intake-writer")
        return await asyncio.shield(future)

    async def aclose(self) -> None:
        """Refuse new pushes, store those waiting, then wait for the enqueues in flight."""
        self._closed = True
        if self._writer is not None:
            await asyncio.shield(self._writer)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _write_all(self) -> None:
        try:
            await asyncio.sleep(0)  # pushes whose bodies arrived in this loop iteration join the first batch
            while self._waiting:
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: list[tuple[Notification, asyncio.Future[WebhookEvent | None]]]) -> None:
        started = time.monotonic()
        try:
            events = await self._store([notification for notification, _ in batch])
        except Exception as exc:
            if pool_exhausted(exc):  # this process's pool, not the database down: DATABASE_BUSY, a line a minute
                _busy_log.warning(
                    "busy",
                    "could not store %d webhook(s), DATABASE_BUSY: %s; answering 500 so that TikTok retries",
                    len(batch),
                    busy_line(exc),
                )
                self._fail(batch, exc)
                return
            if unavailable(exc):  # an outage fails each push alike: one WARNING line, no traceback (README, Logs)
                log.warning(
                    "could not store %d webhook(s), the database is unavailable (%s); answering 500 so that TikTok "
                    "retries",
                    len(batch),
                    describe(exc),
                )
                self._fail(batch, exc)
                return
            if behind_migrations(exc):  # a process waiting for `shopbridge migrate`: each push alike, until it ran
                log.warning(
                    "could not store %d webhook(s), the database is not migrated yet (MIGRATIONS_PENDING: run "
                    "`shopbridge migrate`; %s); answering 500 so that TikTok retries",
                    len(batch),
                    describe(exc),
                )
                self._fail(batch, exc)
                return
            if len(batch) > 1 and time.monotonic() - started < self._split_budget:
                log.warning("a batch of %d webhooks could not be stored (%r); storing each alone", len(batch), exc)
                for index, item in enumerate(batch):
                    if time.monotonic() - started >= self._split_budget:
                        self._fail(batch[index:], exc)
                        return
                    await self._write([item])
                return
            log.error("could not store %d webhook(s); answering 500 so that TikTok retries", len(batch), exc_info=exc)
            self._fail(batch, exc)
            return
        WEBHOOK_INTAKE_BATCH.observe(len(batch))
        stored: list[WebhookEvent] = []
        for (notification, future), event in zip(batch, events, strict=True):
            if isinstance(event, ShopBeingDeletedError):
                _deleting_log.warning(
                    "deleting",
                    "a webhook for TikTok shop %s came while its shop's delete holds it; answering 500 so that "
                    "TikTok retries (the shop gone by then, or kept)",
                    event.shop_id,
                )
                self._fail([(notification, future)], event)
                continue
            if event is not None:
                stored.append(event)
            if not future.done():
                future.set_result(event)
        pending = {e.shop_id for e in stored if e.shop_id and e.outcome is EventOutcome.PENDING}
        for shop_id in sorted(pending):
            self._request_enqueue(shop_id)

    @staticmethod
    def _fail(batch: list[tuple[Notification, asyncio.Future[WebhookEvent | None]]], exc: Exception) -> None:
        for _, future in batch:
            if not future.done():
                error = IntakeUnavailableError(f"the inbox could not be written: {exc!r}")
                error.__cause__ = exc
                future.set_exception(error)
                future.exception()  # retrieved here: a cancelled push's future is awaited by nobody

    def _request_enqueue(self, shop_id: str) -> None:
        if shop_id in self._enqueuing:
            self._again.add(shop_id)
            return
        self._enqueuing.add(shop_id)
        task = asyncio.create_task(self._enqueue_shop(shop_id), name=f"webhook-enqueue-{shop_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _enqueue_shop(self, shop_id: str) -> None:
        try:
            while True:
                self._again.discard(shop_id)
                try:
                    await self._enqueue(shop_id)
                except Exception as exc:
                    # Stored and PENDING: the shop's next event, a replay or the pending sweep processes it.
                    log.warning(
                        "could not enqueue webhook processing of shop %s: %s", shop_id, exc, exc_info=traced(exc)
                    )
                if shop_id not in self._again:
                    return
        finally:
            self._enqueuing.discard(shop_id)
