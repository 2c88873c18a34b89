"""Live subscriptions wait out a database outage: `wait_out(outage, where, read)` runs a live read again, with a
bounded back-off, while it fails on an outage, and returns its first success.

An outage is what `adapters.db.outage.unavailable` says it is (the project's one rule, as `workers/outages.py` and
`gql/errors.py` apply it): the server down or restarting, refusing or dropping connections, read-only, its pool
exhausted. A subscription does not end on one, whether it is open or starting (its first reads, the checks of its
arguments included: `subscribe` during an outage keeps the operation open, sending nothing): its read is tried again
after 0.5 s, then 1, 2 and 4 s, then every `MAX_RETRY_SECONDS`, and what it reads once the database answers is the
current state (the database is the truth: a re-read, not a replay of what changed meanwhile); a start's refusal
(NOT_FOUND, BAD_USER_INPUT) comes then, as without an outage. Any other error is raised as it was: it still ends the
subscription (a bug: INTERNAL_SERVER_ERROR). Queries and mutations do not wait: SERVICE_UNAVAILABLE (gql/errors.py).
Nothing of a socket's `connection_init` reads the database (a JWT, the process's socket slots, Redis's request rate).

The process logs one WARNING line when the first live read finds the database unavailable (naming the cause and
the subscription; `DATABASE_BUSY: this process's database connections are all in use …` when it is this process's
own pool exhausted, the database up: `adapters.db.outage.pool_exhausted`), and one INFO line when a live read succeeds
again (how long it lasted, which subscriptions
waited, how many retries), however many subscribers and retries there were: `DatabaseOutage`, one per process
(`gql.container.Services.database_outage`). A read that began before the outage was seen to end and failed after
is the old outage's tail (connections the pool had not yet found dead), not a new outage: counted, not logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationType

from adapters.db.outage import busy_line, describe, pool_exhausted, unavailable
from gql.context import until_ended

if TYPE_CHECKING:
    from strawberry.dataloader import DataLoader

    from gql.context import Info

log = logging.getLogger("shopbridge.subscriptions")

FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0  # a subscription sees the database back within this (plus a read) once it is

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class DatabaseOutage:
    """The process's live reads' view of the database: up, or unavailable since `since` (monotonic seconds: when
    the outage's first failed read began).
    `waiting`: the subscriptions (their GraphQL field names) whose reads failed in the current outage."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        first_retry: float = FIRST_RETRY_SECONDS,
        max_retry: float = MAX_RETRY_SECONDS,
    ) -> None:
        self.clock = clock
        self.first_retry = first_retry  # seconds before the first retry, doubled at each until `max_retry`
        self.max_retry = max_retry
        self.since: float | None = None
        self.waiting: frozenset[str] = frozenset()  # replaced, never changed in place: read from other threads
        self.retries = 0
        self._ended_at = float("-inf")  # when the last outage was seen to end

    def failed(self, where: str, error: BaseException, began: float) -> None:
        """A live read of `where` that began at `began` (monotonic seconds) failed on an outage: the first one
        logs a WARNING line."""
        self.retries += 1
        if self.since is None:
            if began < self._ended_at:
                return  # the last outage's tail: a read begun before it was seen to end
            # from when the failed read began, not from its failure: a read that waited the pool's whole timeout
            # (SHOPBRIDGE_DB_POOL_TIMEOUT, 30 s) before failing was the outage's first 30 s (soak55 F2: the INFO
            # line said "available again after 0.0 s" after such a wait, which an operator reads as a blip)
            self.since = began
            log.warning(
                "%s: live subscriptions wait and read it again every %.0f s at most, first %s",
                # this process's pool exhausted is no outage of the database: said as what it is (DATABASE_BUSY)
                f"DATABASE_BUSY: {busy_line(error)}"
                if pool_exhausted(error)
                else f"the database is unavailable ({describe(error)})",
                self.max_retry,
                where,
            )
        self.waiting = self.waiting | {where}

    def recovered(self) -> None:
        """A live read succeeded: an outage under way ends, in one INFO line."""
        if self.since is None:
            return
        now = self.clock()
        log.info(
            "the database is available again after %.1f s: live subscriptions read the current state (%s waited, "
            "%d retries)",
            now - self.since,
            ", ".join(sorted(self.waiting)),
            self.retries,
        )
        self.since, self._ended_at, self.waiting, self.retries = None, now, frozenset(), 0


async def wait_out(
    outage: DatabaseOutage,
    where: str,
    read: Callable[[], Awaitable[T]],
    between: Callable[[], object] | None = None,
    expires_at: float | None = None,
) -> T:
    """`read()`'s result, `read` called again while it fails on a database outage (module docstring); any other
    error is raised. `between()` runs before each read again, after the back-off's sleep (a subscription's own read
    re-checks its token there: an outage does not stretch a token's life, not even by one sleep; what it raises is
    raised; a read shared by several subscribers passes none of their tokens: a feed wakes each to check its own,
    and a message's nested reads check none, gql/shared_events.py).
    `expires_at` (Unix seconds, with `between`: when `between()` starts raising, a subscription's token's expiry):
    the wait ends there, in a read or a back-off's sleep (a timer, no polling), with what `between()` raises: a
    subscriber whose token expires while its own read waits out an outage ends at the expiry, not at the next retry
    (up to `MAX_RETRY_SECONDS` later, or a read's pool timeout, `SHOPBRIDGE_DB_POOL_TIMEOUT`, when the pool is busy).
    The expiry ends this wait alone, never what its read awaits: the read runs in a task of its own, awaited through
    a shield, and left to end by itself at its next retry (`between()` raises then) or with its read's answer, dropped.
    Cancelled, it could cancel a DataLoader's future that another operation of the socket awaits too (a strawberry
    DataLoader hands every `load()` of a key one future): that operation, maybe a message shared with other sockets,
    ended with a bare CancelledError (review57 F-cancel). Cancelled from outside (the client's `complete`, its socket
    closed, a stop), the task is cancelled with it, and this wait ends once that task has (a statement under way runs
    to its end first: adapters/db/sessions.py), so that no read outlives its subscription: each `load()` of the
    socket's loaders awaits a future of its own (gql/loaders.py `_CheckedLoader`), so that cancellation leaves what the
    socket's other operations await alone (loader58). Ended at once instead, a closed socket's handler gave back its
    slot while its operations' reads still held pool connections (leak67: a client closing sockets with 20 operations
    each held connections past the caps on sockets and operations, and a stop disposed the engine under such reads,
    their connections left to the garbage collector).
    `where`: the subscription, as its GraphQL field."""
    if between is None or expires_at is None:
        return await _waited_out(outage, where, read, between)
    waited = asyncio.ensure_future(_waited_out(outage, where, read, between))
    waited.add_done_callback(_outcome_dropped)
    loop = asyncio.get_running_loop()
    while True:
        # the expiry on the loop's clock (monotonic), from how far ahead it is on the wall clock `between` reads
        expiry = asyncio.timeout_at(loop.time() + (expires_at - time.time()))
        try:
            async with expiry:
                return await asyncio.shield(waited)
        except TimeoutError:
            if not expiry.expired():  # the read's own TimeoutError, not the expiry
                raise
        except asyncio.CancelledError:
            waited.cancel()
            await until_ended({waited})  # its read's connection back in the pool before the operation ends
            raise
        between()  # raises: the token has expired (if the loop's clock ran a hair ahead of the wall clock: again)


def _outcome_dropped(task: asyncio.Future[Any]) -> None:
    """Mark a `wait_out` task's outcome as read: after the expiry nobody awaits it, and asyncio would log its
    exception (the token check's UnauthenticatedError at its next retry) as never retrieved."""
    if not task.cancelled():
        task.exception()


async def wait_out_own(info: Info, where: str, read: Callable[[], Awaitable[T]]) -> T:
    """`wait_out` for a subscription's own read (its start's checks, its state's reads): its token re-checked before
    each retry (`Context.require_merchant`) and the wait ended at the token's expiry (`Context.token_expires_at`) with
    the same UNAUTHENTICATED. `where`: the subscription, as its GraphQL field."""
    context = info.context
    return await wait_out(
        context.services.database_outage, where, read, context.require_merchant, context.token_expires_at
    )


async def _waited_out(
    outage: DatabaseOutage, where: str, read: Callable[[], Awaitable[T]], between: Callable[[], object] | None
) -> T:
    """`wait_out`'s loop: read, and on an outage sleep the back-off, call `between()` and read again."""
    delay = outage.first_retry
    while True:
        began = outage.clock()
        try:
            result = await read()
        except Exception as error:
            if not unavailable(error):
                raise
            outage.failed(where, error, began)
            await asyncio.sleep(delay)  # the back-off itself: nothing signals the database's return
            delay = min(delay * 2, outage.max_retry)
            if between is not None:  # after the sleep: a token that expired during it reads nothing more
                between()
            continue
        outage.recovered()
        return result


async def load_live(info: Info, loader: DataLoader[K, T], key: K) -> T:
    """`loader.load(key)` for a field of an object a subscription sends (a nested field, read by the message's
    execution through the per-message loaders): waited out through a database outage, a busy pool included, as the
    subscription's own reads are (`wait_out`), so the message goes out late with the field, not on time with the
    field null and a DATABASE_BUSY or SERVICE_UNAVAILABLE error (soak55 F2: `syncTaskUpdated`'s `shop`; nested55: a
    shop's counts, inventory policy and attention facts, a link's shop and item, an item's links, a SKU's link). In a
    query or mutation the load as it is: they do not wait (gql/errors.py). The wait is logged under the
    subscription's GraphQL field (`subscription_field`). A message shared by several subscribers
    (gql/shared_events.py) waits once for all of them, and checks none of their tokens (the loaders read the
    merchant's objects: `gql.context.executing_message`): each subscriber's is checked when the message is handed to
    it, an expired one ending that subscription alone (review56 F4)."""
    if info.operation.operation is not OperationType.SUBSCRIPTION:
        return await loader.load(key)
    return await _retried(info, lambda: loader.load(key), lambda: loader.clear(key))


async def load_many_live(info: Info, loader: DataLoader[K, T], keys: list[K]) -> list[T]:
    """`loader.load_many(keys)` as `load_live` loads one key: waited out in a subscription's message, the plain load
    in a query or mutation. Before a retry every key is cleared from the loader's cache (a failed batch failed them all;
    one that had answered is read again, as any retry reads the current state)."""
    if info.operation.operation is not OperationType.SUBSCRIPTION:
        return await loader.load_many(keys)

    def forget() -> None:
        for key in keys:
            loader.clear(key)

    return await _retried(info, lambda: loader.load_many(keys), forget)


async def read_live(info: Info, read: Callable[[], Awaitable[T]]) -> T:
    """`read()` (a field's own read in a short session: a connection's page, `products`, `orders`, `syncTasks`,
    `movements`) for a field of an object a subscription sends: waited out through a database outage, a busy pool
    included (`wait_out`), the wait logged under the subscription's GraphQL field (`subscription_field`); in a query
    or mutation the read as it is (they do not wait: gql/errors.py). Before (lists56), a message's nested page read
    failed in the field with DATABASE_BUSY or SERVICE_UNAVAILABLE while the subscription's own reads and the nested
    loader reads (`load_live`) waited. No token is checked at the retries: the message's execution is shared by every
    subscriber of the merchant with the same document (gql/shared_events.py), and checking the token of the one whose
    context runs it made another socket's expiry every socket's UNAUTHENTICATED with `data: null` (review56 F4); each
    subscriber's own is checked when the message is handed to it (an expired one ends that subscription alone), and
    the read is the merchant's (`fetch` scoped by its id, `gql.context.executing_message`)."""
    if info.operation.operation is not OperationType.SUBSCRIPTION:
        return await read()
    return await wait_out(info.context.services.database_outage, subscription_field(info), read)


async def _retried(info: Info, load: Callable[[], Awaitable[T]], forget: Callable[[], object]) -> T:
    """`load()` through `wait_out`, `forget()` before each retry: a DataLoader keeps a failed load in its cache, and
    loading the key again would answer the same failure without reading."""
    failed = False

    async def read() -> T:
        nonlocal failed
        if failed:
            forget()
        failed = True  # until it returns
        value = await load()
        failed = False
        return value

    return await wait_out(info.context.services.database_outage, subscription_field(info), read)


def subscription_field(info: Info) -> str:
    """The GraphQL field of the operation's root (a subscription has exactly one: graphql-core's
    SingleFieldSubscriptionsRule), by its name, not an alias, a fragment's included: e.g. "shopsUpdated". What
    `DatabaseOutage` logs as the subscription that waited, so that a nested field need not know under which
    subscription it is sent."""
    selections = list(info.operation.selection_set.selections)
    while selections:
        selection = selections.pop(0)
        if isinstance(selection, FieldNode):
            return selection.name.value
        if isinstance(selection, InlineFragmentNode):
            selections[:0] = selection.selection_set.selections
        elif isinstance(selection, FragmentSpreadNode):
            # graphql-core's resolve info holds the operation's fragments; strawberry's Info does not expose them
            fragment = info._raw_info.fragments.get(selection.name.value)
            if fragment is not None:
                selections[:0] = fragment.selection_set.selections
    return info.operation.operation.value  # not reached for a valid operation: "subscription"
