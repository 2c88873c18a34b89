"""Migrations apply from scratch on SQLite and PostgreSQL, land on head, and match the tables in code."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from adapters.db import migrate
from adapters.db.tables import metadata
from tests.fixtures.servers import PostgresServer


def _assert_migrates_to_head(url: str) -> None:
    # given an empty database
    assert migrate.current(url) is None
    # when the migrations run
    migrate.upgrade(url)
    # then it is at head and the schema equals the tables in code
    assert migrate.current(url) == migrate.head() == "0004"
    engine = create_engine(migrate.sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrations_apply_from_scratch_on_sqlite(tmp_path: Path) -> None:
    _assert_migrates_to_head(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


def test_migrations_apply_from_scratch_on_postgres(postgres_server: PostgresServer) -> None:
    _assert_migrates_to_head(postgres_server.create_database())


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert migrate.current(url) == "0004"


def test_sync_url_swaps_the_async_drivers() -> None:
    assert migrate.sync_url("sqlite+aiosqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert migrate.sync_url("postgresql+asyncpg://u:p%25w@h:5432/db") == "postgresql+psycopg2://u:p%25w@h:5432/db"
