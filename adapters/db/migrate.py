"""Alembic, configured in code: `upgrade(url)` applies the migrations, `current(url)` names the applied revision.

Both are synchronous (call them from a CLI, a test fixture, or `asyncio.to_thread`) and use a sync driver derived
from the application's async URL.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "postgres": "postgresql+psycopg2",
}


def sync_url(database_url: str) -> str:
    """The URL with a synchronous driver: sqlite+aiosqlite → sqlite, postgresql+asyncpg → postgresql+psycopg2."""
    url = make_url(database_url)
    driver = _SYNC_DRIVERS.get(url.drivername, url.drivername)
    return url.set(drivername=driver).render_as_string(hide_password=False)


def alembic_config(database_url: str) -> Config:
    """An Alembic Config without an ini file; env.py reads the URL from `attributes`, never from the ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Through `attributes` rather than set_main_option: ini interpolation would mangle a '%' in a password.
    config.attributes["database_url"] = sync_url(database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
    if database_url.startswith("sqlite"):
        # Leave SQLite in WAL mode (persistent in the file): the switch takes an exclusive lock, better taken here,
        # once, than raced for by the first connections of the running processes.
        engine = create_engine(sync_url(database_url), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        finally:
            engine.dispose()


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current(database_url: str) -> str | None:
    """The revision the database is at, or None when no migration was ever applied."""
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
