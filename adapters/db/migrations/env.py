"""Alembic environment: runs migrations online with a sync engine built from the URL in `config.attributes`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from adapters.db.tables import metadata

config = context.config
MIGRATION_LOCK = 0x5B_B1D6E  # a PostgreSQL advisory lock key of this app's own, held for the migration's transaction


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database URL: call adapters.db.migrate.upgrade(url)")
    # Plain sqlite3 leaves foreign_keys OFF, which batch mode needs: it rebuilds a table by copy, drop and rename,
    # and with foreign keys ON dropping the old table would cascade-delete the rows that reference it.
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER TABLE is too limited
                compare_type=True,
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # One `migrate` at a time (two replicas' start-up commands, say): the second waits here until
                    # the first commits, then reads the version it left and has nothing to do. Without it both
                    # created the same tables and the second died on a unique violation in the catalog.
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("Offline (SQL script) migrations are not supported; run them against a database")
run_migrations_online()
