"""Whether a shop's delete holds its row now: the probe a shop's worker run makes before it takes the shop.

A shop's delete (`domain.services.shops.delete_shop`) holds the shop's row `FOR UPDATE` for its whole transaction:
15-27 s on a 20k-order shop on PostgreSQL (README, Production, "Deleting a large shop"). Every run of that shop (a
push, a webhook run, a reconcile, a token refresh, a registration, a poll's request) takes the row first
(`ShopRepository.get`, `hold`), so one that starts meanwhile waits for the delete's end, holding its worker thread
(tryout59: 4-5 such runs held every thread of `--threads 4`; a sale on another shop waited 78 s). A run that
probes first (`shop_being_deleted`) can give its thread back instead (`workers.resources.Resources.serving`).

An import already running takes the shop again at each batch: `hold_unless_deleting` never waits for the delete
(it raises `ShopBeingDeletedError`, and the engine hands the run back: `domain.services.importer`). The delete marks
itself first (`mark_delete`, an advisory lock it asks for before the row), so a batch, and the probes, also see a
delete still waiting for the row, which PostgreSQL would otherwise let them pass (delete60 "Not closed" (b)).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.engine import Database
from adapters.db.tables import shops, sync_tasks
from domain.ports import ShopBeingDeletedError

LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a row lock `NOWAIT` could not take at once (class 55, object not in prerequisite state)."""


def delete_mark_key(shop_id: str) -> int:
    """The PostgreSQL advisory lock key of shop `shop_id`'s delete mark: 64 bits (signed) of a BLAKE2b digest of
    "shop-delete:<id>", as the catalog's and the pool's advisory keys are made (`hold_writers`, `hold_shop_links`)."""
    digest = hashlib.blake2b(f"shop-delete:{shop_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def mark_delete(session: AsyncSession, shop_id: str) -> None:
    """PostgreSQL: the delete's mark, `pg_advisory_xact_lock(delete_mark_key)` (exclusive, until the delete's
    transaction ends, whether it commits or rolls back), taken before the delete asks for the shop's row `FOR
    UPDATE` (`SqlShopRepository.get(for_delete=True)`).

    Why: PostgreSQL grants a new `FOR KEY SHARE` that conflicts with no holder of the row while a `FOR UPDATE`
    waits for it, so import batches kept being granted the shop while its delete waited (delete60 "Not closed"
    (b)). An advisory lock queues: once the delete asks for the mark, a `pg_try_advisory_xact_lock_shared` of it
    fails (a conflicting request waits), so a batch that asks first (`hold_unless_deleting`) learns that a delete
    waits or holds, and the delete waits for at most the batches that hold the mark shared already (each until its
    commit). Its waits never form a cycle: nothing else waits for the mark, the batches and probes only try it.
    A no-op on SQLite (one writer: the delete's `BEGIN IMMEDIATE` already keeps every other writer out)."""
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": delete_mark_key(shop_id)})


async def hold_unless_deleting(session: AsyncSession, shop_id: str) -> bool:
    """`SqlShopRepository.hold_unless_deleting`: the shop's row `FOR KEY SHARE` (True; False when there is no such
    shop), never waiting for its delete, which raises `ShopBeingDeletedError` instead.

    PostgreSQL, one statement: `SELECT id, pg_try_advisory_xact_lock_shared(<mark>) FROM shops WHERE id = $1 FOR KEY
    SHARE OF shops NOWAIT`. The mark not free (`mark_delete`: a delete holds it, or asks for it) or the row held `FOR
    UPDATE` (SQLSTATE 55P03: a delete, or anything else that holds the row so, as a test does) mean "being deleted";
    the transaction is then the caller's to roll back. Held (True), the mark stays held shared until the caller's
    transaction ends, so no delete takes the shop before then: a batch holding it never waits for a delete.
    SQLite: `SELECT id FROM shops WHERE id = ?` (the delete holds the database's one write lock, which this
    transaction's `BEGIN IMMEDIATE` waited for; never raises)."""
    query = select(shops.c.id).where(shops.c.id == shop_id)
    if _dialect(session) != "postgresql":
        return (await session.execute(query)).first() is not None
    probe = select(shops.c.id, take_mark_shared_sql(shop_id)).where(shops.c.id == shop_id)
    try:
        row = (await session.execute(probe.with_for_update(read=True, key_share=True, nowait=True, of=shops))).first()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise ShopBeingDeletedError(shop_id) from None
        raise
    if row is None:
        return False
    if not row[1]:
        raise ShopBeingDeletedError(shop_id)
    return True


async def take_mark_shared(session: AsyncSession, shop_id: str) -> bool:
    """PostgreSQL: `pg_try_advisory_xact_lock_shared(<mark>)` alone, never waiting: True, the delete mark held shared
    until the transaction ends (no delete takes the shop's row before then: it asks for the mark first, `mark_delete`);
    False while a delete holds the mark or asks for it. Takes no row lock, so a caller that then leaves the shop alone
    holds nothing the delete waits for. SQLite: True, without a query (no mark: the delete holds the one write lock)."""
    if _dialect(session) != "postgresql":
        return True
    return bool((await session.execute(select(take_mark_shared_sql(shop_id)))).scalar_one())


def take_mark_shared_sql(shop_id: str) -> ColumnElement[bool]:
    """PostgreSQL SQL: true when the shop's delete mark could be taken shared now (and then is, held shared until the
    transaction ends), false while the shop's delete holds or asks for its mark; never waits. `take_mark_shared`'s
    try, for a statement that takes one shop's mark with its row or several shops' marks at once (the webhook
    intake's batch, `SqlWebhookEventRepository.resolve_shops`)."""
    return func.pg_try_advisory_xact_lock_shared(delete_mark_key(shop_id))


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def shop_being_deleted(db: Database, shop_id: str) -> bool:
    """True when shop `shop_id`'s delete is under way right now: it holds the shop's row `FOR UPDATE` (only the delete
    takes it so: `SqlShopRepository.get(for_delete=True)`; an UPDATE of the row takes `FOR NO KEY UPDATE`), or holds
    or waits for its delete mark (`mark_delete`, which the delete takes first); False otherwise, an unknown or
    already deleted shop included (its run then finds it gone and does nothing).

    PostgreSQL: `SELECT id, pg_try_advisory_xact_lock_shared(<mark>) FROM shops WHERE id = $1 FOR KEY SHARE NOWAIT`,
    one statement in autocommit (a transaction of its own, its locks released as it ends): `FOR KEY SHARE` conflicts
    with `FOR UPDATE` only, so neither a token refresh, an import batch nor a push holding the shop makes it True,
    and `NOWAIT` answers SQLSTATE 55P03 at once instead of waiting; the mark's try fails while a delete holds it or
    waits for it. It never waits for a lock; a delete that takes the mark a moment after it answered False is not
    seen (the run then waits for that delete, as before). The database unavailable raises as any query does.

    SQLite: always False, without a query. There the delete holds the database's one write lock (`BEGIN IMMEDIATE`)
    for its whole transaction, and every writer of every shop waits for it alike (this process's write turns, then
    the busy timeout): a run of another shop would wait as long as one of the deleted shop, so giving back the
    deleted shop's threads frees nothing."""
    if db.is_sqlite:
        return False
    return await _held_by_a_delete(db, shop_id)


async def task_shop_being_deleted(db: Database, task_id: str) -> bool:
    """`shop_being_deleted` for the shop of sync task `task_id` (its row read as committed, not locked: the delete may
    hold it too, having cancelled the task); False for an unknown task, or one whose shop is gone. Two statements
    (the task's shop, then the probe): the mark's key is made here, from the shop's id."""
    if db.is_sqlite:
        return False
    async with db.read_sessionmaker() as session:
        shop_id = (await session.execute(select(sync_tasks.c.shop_id).where(sync_tasks.c.id == task_id))).scalar()
    return shop_id is not None and await _held_by_a_delete(db, shop_id)


async def _held_by_a_delete(db: Database, shop_id: str) -> bool:
    """Whether shop `shop_id` is held `FOR UPDATE`, or its delete mark held or asked for, now: one statement in
    autocommit (PostgreSQL only), `FOR KEY SHARE OF shops NOWAIT` answering SQLSTATE 55P03 if held."""
    probe = select(shops.c.id, take_mark_shared_sql(shop_id)).where(shops.c.id == shop_id)
    probe = probe.with_for_update(read=True, key_share=True, nowait=True, of=shops)
    async with db.read_sessionmaker() as session:  # PostgreSQL: autocommit, the locks live for the statement only
        try:
            row = (await session.execute(probe)).first()
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                return True
            raise
    return row is not None and not row[1]
