"""A SQLite database named by `SHOPBRIDGE_DATABASE_URL` outside the data directory is no more readable by other local
users than the data directory's (tryout63 F1: SQLite made `/srv/shopbridge.db` and its WAL with the umask's 0644:
buyers' names and addresses, orders and the tokens' ciphertexts readable by every local user)."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.db.migrate import open_sqlite, upgrade


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common default umask: what SQLite's files took before."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_a_database_file_made_by_the_first_migration_is_private_to_its_user(tmp_path: Path, umask_022: None) -> None:
    # given a directory open to every user (as /srv is) and a database file not made yet
    database = tmp_path / "shopbridge.db"
    # when the first start migrates it (and SQLite writes its WAL beside it)
    upgrade(f"sqlite+aiosqlite:///{database}")
    with sqlite3.connect(database) as connection:
        connection.execute("SELECT count(*) FROM shops").fetchone()
        wal = Path(f"{database}-wal")
        wal_mode = wal.stat().st_mode & 0o777 if wal.exists() else 0o600
    # then the file is its user's only, and so is its WAL (SQLite gives it the database file's mode)
    assert (database.stat().st_mode & 0o777, wal_mode) == (0o600, 0o600)


def test_an_existing_database_file_open_to_all_loses_the_others_bits_said_in_one_warning(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    # given a database file of this user's, made readable by all before (SQLite's 0644)
    database = tmp_path / "shopbridge.db"
    upgrade(f"sqlite+aiosqlite:///{database}")
    database.chmod(0o644)
    # when a server opens it
    with caplog.at_level(logging.WARNING, logger="shopbridge"):
        open_sqlite(f"sqlite+aiosqlite:///{database}")
    # then others may no longer read either, the group's bits kept (an operator's choice, as the data directory's)
    assert database.stat().st_mode & 0o777 == 0o640
    said = [r.getMessage() for r in caplog.records if "readable by other local users" in r.getMessage()]
    assert len(said) == 1 and "(mode 0644;" in said[0] and "made it 0640" in said[0], said
