"""The migrations a running process finds applied, read through its own async engines: `applied_revisions`.

`adapters.db.migrate.schema_position` places them against this code's migrations; `/readyz` (`adapters.readiness`)
and the worker's wait for a migrated schema (`workers.schema_gate`) read them here.

`migrations_pending()`: whether a schema gate of this process (`workers.schema_gate`) is waiting for `shopbridge
migrate` now (`waiting_for_migrate()` marks it), so that a request failing on a table or column the schema lacks yet
is told as the database not ready (`adapters.db.outage.behind_migrations`), not as a bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.db.engine import Database

VERSIONS = text("SELECT version_num FROM alembic_version")


async def revisions_on(connection: AsyncConnection) -> frozenset[str]:
    """The revisions in `alembic_version`; empty when no migration ever ran (the table is not there)."""
    migrated = await connection.run_sync(lambda sync: sync.dialect.has_table(sync, "alembic_version"))
    return frozenset((await connection.execute(VERSIONS)).scalars()) if migrated else frozenset()


async def applied_revisions(db: Database) -> frozenset[str]:
    """`revisions_on` a connection of `db`'s read engine (on SQLite it takes no write lock)."""
    async with db.read_engine.connect() as connection:
        return await revisions_on(connection)


_gates_waiting = 0  # schema gates of this process waiting for `shopbridge migrate` now


@contextmanager
def waiting_for_migrate() -> Iterator[None]:
    """While it lasts, `migrations_pending()` is true: a schema gate found the database behind this code's head."""
    global _gates_waiting
    _gates_waiting += 1
    try:
        yield
    finally:
        _gates_waiting -= 1


def migrations_pending() -> bool:
    """Whether a schema gate of this process is waiting for `shopbridge migrate` (module docstring)."""
    return _gates_waiting > 0
