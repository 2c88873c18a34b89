"""Whether a shop's delete holds its row now: the probe a shop's worker run makes before it takes the shop.

A shop's delete (`domain.services.shops.delete_shop`) holds the shop's row `FOR UPDATE` for its whole transaction:
15-27 s on a 20k-order shop on PostgreSQL (README, Production, "Deleting a large shop"). Every run of that shop (a
push, a webhook run, a reconcile, a token refresh, a registration, a poll's request) takes the row first
(`ShopRepository.get`, `hold`), so one that starts meanwhile waits for the delete's end, holding its worker thread
(tryout59: 4-5 such runs held every thread of `--threads 4`; a sale on another shop waited 78 s). A run that
probes first (`shop_being_deleted`) can give its thread back instead (`workers.resources.Resources.serving`).
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.exc import DBAPIError

from adapters.db.engine import Database
from adapters.db.tables import shops, sync_tasks

LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a row lock `NOWAIT` could not take at once (class 55, object not in prerequisite state)."""


async def shop_being_deleted(db: Database, shop_id: str) -> bool:
    """True when shop `shop_id`'s row is held `FOR UPDATE` right now, i.e. its delete is under way (only the delete
    takes it so: `SqlShopRepository.get(for_delete=True)`; an UPDATE of the row takes `FOR NO KEY UPDATE`); False
    otherwise, an unknown or already deleted shop included (its run then finds it gone and does nothing).

    PostgreSQL: `SELECT id FROM shops WHERE id = $1 FOR KEY SHARE NOWAIT`, one statement in autocommit (a transaction
    of its own, its lock released as it ends): `FOR KEY SHARE` conflicts with `FOR UPDATE` only, so neither a token
    refresh, an import batch nor a push holding the shop makes it True, and `NOWAIT` answers SQLSTATE 55P03 at once
    instead of waiting. It never waits for a lock; a delete that takes the row a moment after it answered False is
    not seen (the run then waits for that delete, as before). The database unavailable raises as any query does.

    SQLite: always False, without a query. There the delete holds the database's one write lock (`BEGIN IMMEDIATE`)
    for its whole transaction, and every writer of every shop waits for it alike (this process's write turns, then
    the busy timeout): a run of another shop would wait as long as one of the deleted shop, so giving back the
    deleted shop's threads frees nothing."""
    if db.is_sqlite:
        return False
    return await _held_by_a_delete(db, select(shops.c.id).where(shops.c.id == shop_id))


async def task_shop_being_deleted(db: Database, task_id: str) -> bool:
    """`shop_being_deleted` for the shop of sync task `task_id` (its row read as committed, not locked: the delete may
    hold it too, having cancelled the task); False for an unknown task, or one whose shop is gone."""
    if db.is_sqlite:
        return False
    of_task = select(shops.c.id).join(sync_tasks, sync_tasks.c.shop_id == shops.c.id).where(sync_tasks.c.id == task_id)
    return await _held_by_a_delete(db, of_task)


async def _held_by_a_delete(db: Database, shop_query: Select[tuple[str]]) -> bool:
    """Whether the shop `shop_query` selects is held `FOR UPDATE` now: the query `FOR KEY SHARE OF shops NOWAIT`,
    one statement in autocommit (PostgreSQL only), answering SQLSTATE 55P03 if so."""
    probe = shop_query.with_for_update(read=True, key_share=True, nowait=True, of=shops)
    async with db.read_sessionmaker() as session:  # PostgreSQL: autocommit, the lock lives for the statement only
        try:
            await session.execute(probe)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                return True
            raise
    return False
