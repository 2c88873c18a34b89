"""`UninterruptedSession`: an `AsyncSession` whose database calls a cancellation cannot cut in half.

Cancelling a task while it awaits SQLAlchemy's asyncio driver raises inside SQLAlchemy's greenlet, mid-statement:
the connection is invalidated and its graceful close queued behind whatever the driver still runs. With SQLite
that can be a `BEGIN IMMEDIATE` waiting out the busy timeout for a write lock held by another connection of the
same cancelled import, and the process wedges: the aiosqlite threads outlive the event loop and keep the lock
(the flaky-test shutdown bug; with three concurrent writers cancelled at a random moment, the drain stalled
past 8 s in most of 30 runs). Here every call runs to its end first and the cancellation is raised right after
it, outside SQLAlchemy: the unit of work rolls back as usual and the connection goes back to the pool (the same
30 runs drained within 0.6 s at worst). A call is one statement or a commit: a cancelled task stops within one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction

from adapters.db.checkout_waits import give_up_waiting
from adapters.db.write_turns import WriteTurns

T = TypeVar("T")


async def run_to_completion(call: Awaitable[T]) -> T:
    """Await `call` to its end even if the caller is cancelled meanwhile; then re-raise the cancellation (with the
    caller's cancel message, if it had one).

    Raises whatever `call` raises; if the caller was cancelled, `asyncio.CancelledError` once `call` finished, also
    when `call` failed (then raised from its error: the cancellation is never lost, as `adapters.cancellation`'s
    `cancel_kept`). A call still waiting for a pool connection then ends at once
    (`adapters.db.checkout_waits.give_up_waiting`).
    """
    task = asyncio.ensure_future(call)
    cancelled: asyncio.CancelledError | None = None  # our caller's cancellation, if it came (its args kept)
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError as error:
            if task.done():  # the call itself was cancelled (not by our caller): propagate as is
                if cancelled is not None:  # given up on after our caller's (checkout_waits): that one
                    raise cancelled from None
                raise
            cancelled = cancelled or error  # our caller was: finish the call first
            # unless it still waits for a pool connection: it began nothing, and the wait lasted up to the pool's
            # timeout (adapters/db/checkout_waits.py)
            give_up_waiting(task)
        except Exception as error:
            if cancelled is not None:
                # The call failed after our caller was cancelled: raising its error instead lost the cancellation,
                # and a caller that handles database errors went on as if never cancelled (shutdown56: the worker's
                # sweep went back to sleep in its loop, and the stop waited for it twice 30 s).
                raise cancelled from error
            raise
    if cancelled is not None:  # the object itself: its message (uvicorn's stop: gql.logfilters.CancelledAtStopLines)
        raise cancelled  # and its traceback, where the caller waited
    return result


class _UninterruptedTransaction:
    """`session.begin()` / `begin_nested()` whose BEGIN / SAVEPOINT and COMMIT / ROLLBACK run to completion."""

    def __init__(self, session: UninterruptedSession, transaction: AsyncSessionTransaction) -> None:
        self._session = session
        self._transaction = transaction

    async def __aenter__(self) -> AsyncSessionTransaction:
        return await self._session._in_turn(self._transaction.__aenter__())

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            await run_to_completion(self._transaction.__aexit__(kind, error, traceback))
        finally:
            self._session._end_turn()


class UninterruptedSession(AsyncSession):
    """The session of every sessionmaker of `Database`; see the module docstring.

    With `info={"write_turns": WriteTurns}` (SQLite's write sessions, `Database`), a call that begins a transaction
    first waits for this process's next turn to write (`adapters.db.write_turns`), and the end of the transaction
    (commit, rollback, close) hands the turn on."""

    _turn = False  # this session holds a write turn

    async def _in_turn(self, call: Awaitable[T], *, begins: bool = True) -> T:
        """`call` to completion; first, if it may begin a transaction (`begins`), in a write turn (when the session
        takes them); a turn is handed on once the call leaves no transaction open."""
        turns: WriteTurns | None = self.info.get("write_turns")
        if begins and turns is not None and not self._turn and not self.in_transaction():
            try:
                self._turn = await turns.acquire()
            except BaseException:  # cancelled while waiting: the call never starts
                if isinstance(call, Coroutine):
                    call.close()
                raise
        try:
            return await run_to_completion(call)
        finally:
            self._end_turn()

    def _end_turn(self) -> None:
        """Hand the turn on once no transaction is open (a statement that failed to begin one ends it too)."""
        if self._turn and not self.in_transaction():
            self._turn = False
            self.info["write_turns"].release()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._in_turn(super().execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._in_turn(super().scalar(*args, **kwargs))

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return await self._in_turn(super().scalars(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._in_turn(super().get(*args, **kwargs))

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        await self._in_turn(super().flush(*args, **kwargs))

    async def commit(self) -> None:
        await self._in_turn(super().commit(), begins=False)

    async def rollback(self) -> None:
        await self._in_turn(super().rollback(), begins=False)

    async def close(self) -> None:
        await self._in_turn(super().close(), begins=False)

    async def connection(self, *args: Any, **kwargs: Any) -> Any:
        # The checkout and the BEGIN (SQLite: BEGIN IMMEDIATE, which may wait out the busy timeout for the lock).
        # Calls made on the returned connection itself bypass this class: wrap them in `run_to_completion`.
        return await self._in_turn(super().connection(*args, **kwargs))

    def begin(self) -> Any:
        return _UninterruptedTransaction(self, super().begin())

    def begin_nested(self) -> Any:
        return _UninterruptedTransaction(self, super().begin_nested())
