"""Alembic environment: runs migrations online with a sync engine built from the URL in `config.attributes`.

`config.attributes` in: `database_url`, `lock_timeout_seconds`, `leave_newer_alone` (upgrade: a database at a
revision these files do not know is a later release's: touch nothing). Out: `revisions_before`, `revisions_after`,
`newer`. Lock waits past the timeout raise `adapters.db.migrate.MigrationLockTimeoutError` (rolled back).
"""

from __future__ import annotations

import logging
import sqlite3

from alembic import context
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from adapters.db.migrate import (
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    MIGRATION_LOCK,
    MigrationLockTimeoutError,
    migration_engine,
)
from adapters.db.tables import metadata
from adapters.text import one_line

config = context.config
log = logging.getLogger("shopbridge.migrate")
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE when `lock_timeout` cancels a statement
_SQLITE_LOCKED = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database URL: call adapters.db.migrate.upgrade(url)")
    timeout = float(config.attributes.get("lock_timeout_seconds") or DEFAULT_LOCK_TIMEOUT_SECONDS)
    # Plain sqlite3 leaves foreign_keys OFF, which batch mode needs: it rebuilds a table by copy, drop and rename,
    # and with foreign keys ON dropping the old table would cascade-delete the rows that reference it.
    engine = migration_engine(url, timeout)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER TABLE is too limited
                compare_type=True,
            )
            try:
                with context.begin_transaction():
                    _migrate(connection, timeout)
            except DBAPIError as exc:
                if not _lock_not_granted(exc):
                    raise
                raise MigrationLockTimeoutError(_waited_for(exc, timeout)) from exc
    finally:
        engine.dispose()


def _migrate(connection: Connection, timeout: float) -> None:
    if connection.dialect.name == "postgresql":
        # Every lock this transaction waits for, the migration lock and each table a statement alters, is waited
        # for `timeout` at most: a long transaction holding a table must fail the deploy in one line, not hang it
        # (and a statement queued for a table's lock makes every later query of that table queue behind it).
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, round(timeout * 1000))}")
        _take_migration_lock(connection, timeout)
    migration = context.get_context()
    before = migration.get_current_heads()
    config.attributes["revisions_before"] = before
    if config.attributes.get("leave_newer_alone"):
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if any(revision not in known for revision in before):
            config.attributes["newer"] = True
            config.attributes["revisions_after"] = before
            return
    context.run_migrations()
    config.attributes["revisions_after"] = migration.get_current_heads()


def _take_migration_lock(connection: Connection, timeout: float) -> None:
    """One `migrate` at a time (two replicas' start-up commands, say): the second waits here until the first
    commits, then reads the version it left and has nothing to do. Without it both created the same tables and the
    second died on a unique violation in the catalog. The wait is bounded by the transaction's `lock_timeout`."""
    if connection.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({MIGRATION_LOCK})").scalar():
        return
    holder = connection.execute(
        text(
            "SELECT l.pid, a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"key": MIGRATION_LOCK},
    ).first()
    who = f"by PostgreSQL backend pid {holder[0]}, application '{holder[1] or ''}'" if holder else "by a session"
    log.info("the migration lock is held %s (another migrate); waiting for it up to %gs", who, timeout)
    try:
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    except DBAPIError as exc:
        if not _lock_not_granted(exc):
            raise
        raise MigrationLockTimeoutError(
            f"the migration lock was held for more than {timeout:g}s {who} (another `shopbridge migrate`)"
        ) from exc


def _lock_not_granted(exc: DBAPIError) -> bool:
    cause = exc.orig
    if getattr(cause, "pgcode", None) == LOCK_NOT_AVAILABLE:
        return True
    return isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) in _SQLITE_LOCKED


def _waited_for(exc: DBAPIError, timeout: float) -> str:
    if isinstance(exc.orig, sqlite3.Error):
        return f"the database file stayed locked by another connection's write for more than {timeout:g}s"
    statement = one_line(" ".join(str(exc.statement or "a statement").split()), 160)
    return (
        f"`{statement}` waited more than {timeout:g}s for a lock another transaction holds (a long transaction "
        "on that table: see pg_stat_activity)"
    )


if context.is_offline_mode():
    raise RuntimeError("Offline (SQL script) migrations are not supported; run them against a database")
run_migrations_online()
