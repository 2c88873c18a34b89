"""The per-request (per-WebSocket-connection) GraphQL context and the `Info` alias resolvers take."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strawberry.types import Info as StrawberryInfo

if TYPE_CHECKING:
    from adapters.request_rate import RequestRate
    from gql.container import Services
    from gql.loaders import Loaders

# What a WebSocket whose token has expired is told (UNAUTHENTICATED), by a field or for a whole operation
RECONNECT_MESSAGE = "The token has expired; reconnect with a new one."

# True while a subscription event's selection set is executed (`executing_message`, set by gql/shared_events.py): in
# the execution's own task and in the tasks it starts (graphql-core's gathered fields), which copy it. Not a loader's
# batch: it runs in the context of its first load, maybe another operation's; loads are checked when made instead.
_executing_message: ContextVar[bool] = ContextVar("shopbridge_executing_message", default=False)


@contextmanager
def executing_message() -> Iterator[None]:
    """While a subscription message's execution runs: no `Context.require_merchant` in it checks a token.

    The execution is shared by every subscriber of the merchant that asked the same document and variables
    (gql/shared_events.py) and runs with the context of the one whose generator yielded first: a token checked in it
    would be that one socket's, said to all (review56 F4: another socket's expiry during a page read's wait,
    `gql.live_outage.read_live`, made every socket's message `data: null` with UNAUTHENTICATED, valid tokens
    included). Each subscriber's own token is checked instead by its generator before it yields (and after each
    wake-up) and by the executor before the result is handed to it (`SharedEventExecutor`): an expired one ends that
    subscription alone, with UNAUTHENTICATED. What the execution reads stays the merchant's: the sharing key holds
    the merchant, and every read is scoped by its id."""
    reset = _executing_message.set(True)
    try:
        yield
    finally:
        _executing_message.reset(reset)


@dataclass
class Context:
    """Who is asking (`merchant_id`, None until a WebSocket says who) and what to answer with.

    `loaders` are per operation: HTTP builds a context per request; a WebSocket connection shares one context
    across its operations, so subscriptions call `reset_loaders()` for every message they send. They are built
    on first use: a subscription message that needs none (most do not; and 1,000 subscribers of one task share one
    execution, gql/shared_events.py) allocates none, which kept the API's garbage collector busy. The loaders
    reach this context through a weak reference, so a context and its loaders are no reference cycle: a request's
    are freed when it ends, not at the garbage collector's next full collection (gql/loaders.py `Loaders`).
    """

    services: Services
    merchant_id: str | None
    request: Any = None
    response: Any = None
    connection_params: dict[str, object] | None = None
    token_expires_at: float | None = None  # a WebSocket's token: its subscriptions end when it expires
    request_rate: RequestRate | None = None  # the merchant's requests a minute: a mutation's fields draw on it too
    _loaders: Loaders | None = field(default=None, init=False, repr=False)
    # Loader batches still reading that every awaiter left (gql/loaders.py `_Awaiters`): a socket's end waits for them
    _reads_left: set[asyncio.Future[Any]] = field(default_factory=set, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            from gql.loaders import Loaders

            me = weakref.ref(self)
            self._loaders = Loaders(self.services, _merchant_of(me), _load_check_of(me), _left_reading_of(me))
        return self._loaders

    def left_reading(self, read: asyncio.Future[Any]) -> None:
        """`read` (a loader's batch) runs on with nobody awaiting it, its connection held until its statement ends
        (adapters/db/sessions.py): `reads_left_ended()` waits for it."""
        self._reads_left.add(read)
        read.add_done_callback(self._reads_left.discard)

    async def reads_left_ended(self) -> None:
        """Once every read left running by this context's operations (`left_reading`) has ended, its connection back
        in the pool, however often the caller is cancelled meanwhile (a WebSocket's end: gql/websocket.py); a
        cancellation meanwhile is raised then (`until_ended`)."""
        while self._reads_left:
            await until_ended(set(self._reads_left))

    def _check_load(self) -> None:
        """Whether the operation loading may read (called by each `load()`, in that operation's context: gql/loaders.py
        `Loaders`): UnauthenticatedError once the WebSocket's token has expired, but in a subscription message's
        execution (`executing_message`); nothing without a merchant (the loaders read nothing then). A socket's token
        was checked by the resolvers that call `require_merchant` alone, so after it expired the fields that read only
        through loaders (`shop(id:)`, `node(id:)`, `inventoryItem(id:)`) still answered with the merchant's data on
        that socket. Checked at `load()`, not in the batch: a batch runs in the context of its first load, which may
        be another operation's of the same socket (review56b F2)."""
        if self.merchant_id is not None:
            self.require_merchant()

    def reset_loaders(self) -> None:
        """Forget what the loaders hold: the next use of `loaders` builds new ones (nothing is built until then)."""
        self._loaders = None

    def fresh_loaders(self) -> Loaders:
        """New loaders, now."""
        self.reset_loaders()
        return self.loaders

    def require_merchant(self) -> str:
        """The merchant whose data is read: UnauthenticatedError (UNAUTHENTICATED) without one, or once the
        WebSocket's token has expired (`RECONNECT_MESSAGE`; `require_token`), but in a subscription message's
        execution, shared by its merchant's subscribers, the merchant alone (`executing_message`)."""
        if self.merchant_id is None:  # the view refuses such requests first; this is the second lock
            from gql.errors import UnauthenticatedError

            raise UnauthenticatedError()
        if not _executing_message.get():
            self.require_token()
        return self.merchant_id

    @contextmanager
    def ending_at_expiry(self, fail: Callable[[BaseException], object]) -> Iterator[None]:
        """While the block runs, `fail(UnauthenticatedError(RECONNECT_MESSAGE))` at the WebSocket's token's expiry
        (`token_expires_at`, Unix seconds, put on the loop's clock: one timer for the block, no polling); nothing
        without an expiry. For a subscription following a feed (`fail`: its follower's, whose next wait then raises
        it): it ends at the expiry with the same UNAUTHENTICATED as when it checks the token itself, where it did so
        only when the feed next woke it (every 1.5 s for tasks and items, 30 s for shops, and during a database
        outage at the feed's next retry, up to 5 s, or once a read that waited for a busy pool gave up)."""
        if self.token_expires_at is None:
            yield
            return
        from gql.errors import UnauthenticatedError

        loop = asyncio.get_running_loop()
        expiry = loop.call_at(
            loop.time() + (self.token_expires_at - time.time()), lambda: fail(UnauthenticatedError(RECONNECT_MESSAGE))
        )
        try:
            yield
        finally:
            expiry.cancel()

    def require_token(self) -> None:
        """UnauthenticatedError (UNAUTHENTICATED, `RECONNECT_MESSAGE`) once the WebSocket's token has expired: its
        `exp` (`token_expires_at`, Unix seconds) at or before the server's clock. An HTTP request's the view checked."""
        if self.token_expires_at is not None and time.time() >= self.token_expires_at:
            from gql.errors import UnauthenticatedError  # here: gql.errors imports what imports this module

            raise UnauthenticatedError(RECONNECT_MESSAGE)


def _merchant_of(context: weakref.ref[Context]) -> Callable[[], str | None]:
    """Whose objects a context's loaders read, in a batch: its `merchant_id` (every load in the batch was checked by
    `Context._check_load` when it was made); None once the context is gone."""

    def merchant() -> str | None:
        found = context()
        return None if found is None else found.merchant_id

    return merchant


async def until_ended(futures: set[asyncio.Future[Any]]) -> None:
    """Wait for each of `futures` to end, whatever its outcome, however often the caller is cancelled meanwhile; a
    cancellation that came meanwhile is raised once they have all ended (a read's connection back in the pool before
    its operation, or its socket, ends: `Context.reads_left_ended`, gql/live_outage.py `wait_out`)."""
    cancelled: asyncio.CancelledError | None = None  # the first cancellation, raised once they have ended
    pending = {future for future in futures if not future.done()}
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError as error:
            cancelled = cancelled or error
        pending = {future for future in pending if not future.done()}
    if cancelled is not None:
        raise cancelled  # the object itself: its message (uvicorn's stop) and its traceback, where it waited


def _left_reading_of(context: weakref.ref[Context]) -> Callable[[asyncio.Future[Any]], None]:
    """`Context.left_reading` of a context's loaders (nothing once the context is gone)."""

    def left(read: asyncio.Future[Any]) -> None:
        found = context()
        if found is not None:
            found.left_reading(read)

    return left


def _load_check_of(context: weakref.ref[Context]) -> Callable[[], None]:
    """`Context._check_load` of a context's loaders (nothing once the context is gone: they read nothing then)."""

    def check() -> None:
        found = context()
        if found is not None:
            found._check_load()

    return check


Info = StrawberryInfo[Context, None]
