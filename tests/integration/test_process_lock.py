"""adapters/process_lock.py on a real file system: the lock of a SQLite database is one per file, however a URL
names it (crash52: a second process on the same file from another data directory was not refused)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.db.engine import sqlite_database_file
from adapters.process_lock import AlreadyLocked, data_dir_lock, database_lock, hold, holder


def test_every_name_of_one_sqlite_file_names_one_lock_held_beside_it(tmp_path: Path, monkeypatch) -> None:
    # given a database file, a symbolic link to it, and a working directory beside it
    data = tmp_path / "data"
    data.mkdir()
    database = data / "shopbridge.db"
    (tmp_path / "link.db").symlink_to(database)
    monkeypatch.chdir(tmp_path)
    # when a process holds the lock of the file as its default URL names it
    held = hold(database_lock(sqlite_database_file(f"sqlite+aiosqlite:///{database}") or Path()))
    try:
        # then the lock file is beside the database, apart from the data directory's, and holds the pid
        assert database_lock(database) == Path(os.path.realpath(data)) / "shopbridge.db.lock"
        assert database_lock(database) != data_dir_lock(data) and holder(data_dir_lock(data)) is None
        # and every other URL of the same file is told it is held, by whom: relative, through `..`, through a link,
        # as a SQLite `file:` URI (percent-encoded)
        for url in (
            "sqlite+aiosqlite:///data/shopbridge.db",
            f"sqlite+aiosqlite:///{data}/../data/shopbridge.db",
            f"sqlite+aiosqlite:///{tmp_path}/link.db",
            f"sqlite+aiosqlite:///file:{str(database).replace('/data/', '/%64ata/')}?mode=rwc&uri=true",
        ):
            file = sqlite_database_file(url)
            assert file is not None, url
            found = holder(database_lock(file))
            assert isinstance(found, AlreadyLocked) and found.holder_pid == os.getpid(), url
            with pytest.raises(AlreadyLocked):  # taking it is refused too (a lock is per open file description)
                hold(database_lock(file))
        # and another file's lock is free
        assert holder(database_lock(data / "other.db")) is None
    finally:
        os.close(held)
    # and once its holder lets go, it is free (the kernel does the same when the process ends)
    assert holder(database_lock(database)) is None


def test_postgresql_and_in_memory_databases_have_no_file_to_lock() -> None:
    assert sqlite_database_file("postgresql+asyncpg://u:p@host/db") is None
    assert sqlite_database_file("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_database_file("sqlite+aiosqlite://") is None
