"""SqlUnitOfWork: one session and transaction over every repository; callbacks run after a successful commit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.crypto import TokenCipher
from adapters.db.engine import Database
from adapters.db.errors import transaction_conflict
from adapters.db.outage import outage_line
from adapters.db.repositories import (
    SqlAuthorizationRequestRepository,
    SqlCatalogRepository,
    SqlInventoryPushRepository,
    SqlPollCursorRepository,
    SqlShopRepository,
    SqlSyncTaskRepository,
    SqlWebhookEventRepository,
)
from adapters.db.repositories.inventory import SqlInventoryRepository
from domain.clock import Clock
from domain.ports import register_conflict, register_outage, traced

logger = logging.getLogger(__name__)


class SqlUnitOfWork:
    """Implements `domain.ports.UnitOfWork`. Use once: `async with uow: ...; await uow.commit()`.

    Leaving the block without `commit()` rolls back. `after_commit` callbacks (enqueue a task, publish an event)
    run in order once the commit succeeded, so that nobody acts on rows that do not exist yet; a failing callback
    is logged, not raised, because the transaction it follows has already happened. Rollback drops them.
    """

    shops: SqlShopRepository
    authorizations: SqlAuthorizationRequestRepository
    sync_tasks: SqlSyncTaskRepository
    catalog: SqlCatalogRepository
    poll_cursors: SqlPollCursorRepository
    webhook_events: SqlWebhookEventRepository
    inventory_push: SqlInventoryPushRepository
    inventory: SqlInventoryRepository

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], cipher: TokenCipher, clock: Clock | None = None
    ) -> None:
        self._sessionmaker = sessionmaker
        self._cipher = cipher
        self._clock = clock
        self._session: AsyncSession | None = None
        self._callbacks: list[Callable[[], Awaitable[None]]] = []

    @property
    def session(self) -> AsyncSession:
        """The open session, for adapter code that needs a query no repository offers."""
        if self._session is None:
            raise RuntimeError("The unit of work is not open; use `async with`.")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("A unit of work is used once; make a new one.")
        session = self._sessionmaker()
        self._session = session
        self.shops = SqlShopRepository(session, self._cipher)
        self.authorizations = SqlAuthorizationRequestRepository(session, self._clock)
        self.sync_tasks = SqlSyncTaskRepository(session)
        self.catalog = SqlCatalogRepository(session, self._clock)
        self.poll_cursors = SqlPollCursorRepository(session)
        self.webhook_events = SqlWebhookEventRepository(session)
        self.inventory_push = SqlInventoryPushRepository(session, self._cipher)
        self.inventory = SqlInventoryRepository(session, self._clock)
        return self

    async def __aexit__(self, *exc: object) -> None:
        session = self.session
        try:
            if session.in_transaction():
                await self.rollback()
        finally:
            self._callbacks.clear()
            await session.close()

    async def commit(self) -> None:
        await self.session.commit()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                await callback()
            except Exception as exc:
                name = getattr(callback, "__qualname__", callback)
                if traced(exc):
                    logger.exception("after-commit callback %r failed", name)
                else:  # the broker is down: what it should have sent is sent again by a sweep or the next tick
                    logger.warning("after-commit callback %r failed: %s", name, exc)

    async def rollback(self) -> None:
        self._callbacks.clear()
        await self.session.rollback()

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._callbacks.append(callback)


def uow_factory(
    db: Database,
    cipher: TokenCipher,
    clock: Clock | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> Callable[[], SqlUnitOfWork]:
    """A `domain.ports.UnitOfWorkFactory` over the database's write sessionmaker (or `sessionmaker`: the webhook
    intake's, `Database.intake_sessionmaker`). Registers the database's outage
    rule with the domain (`domain.ports.register_outage`), so the domain's best-effort writes tell an outage in one
    line and keep a bug's traceback, and its conflict rule (`register_conflict`: a deadlock or serialization failure
    aborted the transaction), so a unit of work the database aborted is run again whole
    (`domain.services.conflicts`)."""
    register_outage(outage_line)
    register_conflict(transaction_conflict)

    sessions = db.write_sessionmaker if sessionmaker is None else sessionmaker

    def make() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, cipher, clock)

    return make
