"""What `/readyz` makes of the database and Redis (adapters/readiness.py), on real servers: a schema behind this code,
at its head, or ahead of it (a later release migrated it during a rolling deploy); a database that refuses writes
(set read-only, or a hot standby); Redis down (degraded, not unready)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from adapters.db import Database, migrate
from adapters.db.outage import unavailable
from adapters.readiness import Problem, Readiness, ReadinessProbe
from tests.fixtures.servers import PostgresServer, start_postgres_server

HEAD = "0071_items_seeded_from"
BEHIND = "0008_webhook_retention"  # the revision before HEAD
LATER_RELEASE = "0009_later_release"  # a revision these migrations do not know


def _execute(url: str, *statements: str) -> None:
    engine = create_engine(migrate.sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture
async def probe_on(postgres_url: str) -> AsyncIterator[ReadinessProbe]:
    """A probe over a fresh migrated PostgreSQL database, no broker."""
    db = Database(postgres_url)
    probe = ReadinessProbe(db, None)
    try:
        yield probe
    finally:
        await probe.aclose()
        await db.dispose()


def _up(dependency: str) -> float | None:
    return REGISTRY.get_sample_value("shopbridge_dependency_up", {"dependency": dependency})


async def test_a_database_at_head_is_ready(probe_on: ReadinessProbe) -> None:
    readiness = await probe_on.check()
    assert readiness == Readiness() and readiness.body() == {"status": "ready"}
    assert _up("database") == 1


async def test_a_database_behind_this_code_is_not_ready(postgres_url: str, probe_on: ReadinessProbe) -> None:
    # given a database a release behind this code (its migration not yet run)
    migrate.downgrade(postgres_url, BEHIND)
    # then the process is kept out of rotation until `migrate` has run
    readiness = await probe_on.check()
    assert not readiness.ready
    assert readiness.problems == (
        Problem("migrations", f"database at revision {BEHIND}, code expects {HEAD}: run migrate"),
    )


async def test_a_database_a_later_release_migrated_is_ready_and_says_so(
    postgres_url: str, probe_on: ReadinessProbe
) -> None:
    # given a database a later release has migrated (an additive change, as the contract requires), while this
    # release's processes still serve: a rolling deploy
    _execute(
        postgres_url,
        "ALTER TABLE shops ADD COLUMN later_release_note TEXT",
        f"UPDATE alembic_version SET version_num = '{LATER_RELEASE}'",
    )
    # then this process stays in rotation, and the body says why the revision is not its own
    readiness = await probe_on.check()
    assert readiness.ready and readiness.status == "ready"
    (note,) = readiness.notes
    assert note.check == "migrations"
    assert LATER_RELEASE in note.reason and HEAD in note.reason and "later release" in note.reason
    assert readiness.body()["notes"] == [note.as_json()]


async def test_an_empty_database_is_not_ready(postgres_server: PostgresServer) -> None:
    db = Database(postgres_server.create_database())
    probe = ReadinessProbe(db, None)
    try:
        (problem,) = (await probe.check()).problems
        assert problem == Problem("migrations", f"database at revision none, code expects {HEAD}: run migrate")
    finally:
        await probe.aclose()
        await db.dispose()


async def test_a_database_set_read_only_is_not_ready(postgres_server: PostgresServer, postgres_url: str) -> None:
    # given a database whose sessions start read-only (an operator's `default_transaction_read_only`)
    name = postgres_url.rsplit("/", 1)[1]
    postgres_server.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    db = Database(postgres_url)
    probe = ReadinessProbe(db, None)
    try:
        # then it is reachable, but not ready: the API writes
        readiness = await probe.check()
        assert readiness.problems == (
            Problem(
                "read_only",
                "the database refuses writes: its transactions are read-only (default_transaction_read_only is on)",
            ),
        )
        assert _up("database") == 1
    finally:
        await probe.aclose()
        await db.dispose()


@pytest.fixture
def standby(postgres_server: PostgresServer, postgres_url: str) -> Iterator[str]:
    """The URL of `postgres_url`'s database on a hot standby of its server."""
    server = start_postgres_server(standby_of=postgres_server)
    try:
        yield server.url(postgres_url.rsplit("/", 1)[1])
    finally:
        server.stop()


async def test_a_hot_standby_is_not_ready(standby: str) -> None:
    # given a database URL that leads to a hot standby (a failover that left the URL on the old side)
    db = Database(standby)
    probe = ReadinessProbe(db, None)
    try:
        # then it answers and is migrated, but it is not ready, and the reason names the standby
        (problem,) = (await probe.check()).problems
        assert problem.check == "read_only"
        assert "standby in recovery" in problem.reason and "primary" in problem.reason
    finally:
        await probe.aclose()
        await db.dispose()


async def test_redis_down_is_degraded_not_unready(sqlite_url: str) -> None:
    # given a process whose Redis does not answer (nothing listens on port 1)
    db = Database(sqlite_url)
    probe = ReadinessProbe(db, "redis://127.0.0.1:1/0")
    try:
        readiness = await probe.check()
        # then it stays ready, reported degraded, and the gauge to alert on says Redis is down
        assert readiness.ready and readiness.status == "degraded" and readiness.problems == ()
        (degraded,) = readiness.degraded
        assert degraded.check == "redis" and degraded.reason.startswith("unreachable: ConnectionError")
        assert readiness.body()["degraded"] == [degraded.as_json()]
        assert (_up("redis"), _up("database")) == (0, 1)
    finally:
        await probe.aclose()
        await db.dispose()


@pytest.mark.parametrize("change", ["removed", "replaced"])
async def test_a_sqlite_file_removed_or_replaced_while_serving_is_not_ready_and_refuses_writes(
    sqlite_url: str, tmp_path: Path, change: str
) -> None:
    # given a process serving from its SQLite file, ready, its write connection open
    db = Database(sqlite_url)
    probe = ReadinessProbe(db, None)
    path = Path(make_url(sqlite_url).database or "")
    try:
        assert (await probe.check()).ready and _up("database") == 1
        async with db.write_sessionmaker() as session, session.begin():
            await session.execute(text("SELECT 1"))
        # when the file is removed (`make clean`), or replaced by another file (a copy put back)
        copy = tmp_path / "copy.db"
        shutil.copyfile(path, copy)
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        if change == "replaced":
            os.replace(copy, path)
        # then /readyz answers 503 `database`, naming the file and what happened (before: `migrations`, "database at
        # revision none", once a new connection created an empty file), and the gauge says the database is down
        readiness = await probe.check()
        (problem,) = readiness.problems
        assert problem.check == "database" and f"the database file {path} was {change}" in problem.reason
        assert _up("database") == 0
        # and a write is refused as an outage (GraphQL: SERVICE_UNAVAILABLE; workers retry), where it succeeded into
        # the unlinked file, lost at the next start
        for _ in range(2):  # each time: a refused begin hands this process's write turn on
            with pytest.raises(OperationalError) as refused:
                async with db.write_sessionmaker() as session, session.begin():
                    await session.execute(text("SELECT 1"))
            assert unavailable(refused.value) and f"was {change}" in str(refused.value.orig)
        # and so is a read (before, a connection the pool held answered from the removed file, and a new one
        # created an empty file at the path and failed: INTERNAL_SERVER_ERROR)
        with pytest.raises(OperationalError) as refused:
            async with db.read_sessionmaker() as session, session.begin():
                await session.execute(text("SELECT 1"))
        assert unavailable(refused.value) and f"was {change}" in str(refused.value.orig)
        # and so are both engines' new connections (here the pools' connections all closed, as a pool replaces
        # them), which open the file without creating it: a removed file stays missing, where each new connection
        # created an empty file at the path (a restart then found "revision none", not a missing file)
        left = _inode(path)  # the replacing file's, or None
        await db.write_engine.dispose()
        await db.read_engine.dispose()
        for sessionmaker in (db.write_sessionmaker, db.read_sessionmaker, db.write_sessionmaker):
            with pytest.raises(OperationalError) as refused:
                async with sessionmaker() as session, session.begin():
                    await session.execute(text("SELECT 1"))
            assert unavailable(refused.value) and f"was {change}" in str(refused.value.orig)
        assert _inode(path) == left
        assert f"was {change}" in (await probe.check()).problems[0].reason
    finally:
        await probe.aclose()
        await db.dispose()


async def test_a_sqlite_file_removed_before_any_connection_is_not_created_anew(sqlite_url: str) -> None:
    # given a process started on its SQLite file (`serve` opens or creates it first), whose engines have not opened
    # a connection yet
    db = Database(sqlite_url)
    probe = ReadinessProbe(db, None)
    path = Path(make_url(sqlite_url).database or "")
    try:
        # when the file is removed (`make clean`)
        path.unlink()
        # then /readyz answers 503 `database`, saying so (before: the first connection created an empty file, taken
        # for the database: `migrations`, "revision none"), and writes and reads are refused as an outage
        (problem,) = (await probe.check()).problems
        assert problem.check == "database" and f"the database file {path} was removed" in problem.reason
        for sessionmaker in (db.write_sessionmaker, db.read_sessionmaker):
            with pytest.raises(OperationalError) as refused:
                async with sessionmaker() as session, session.begin():
                    await session.execute(text("SELECT 1"))
            assert unavailable(refused.value) and "was removed" in str(refused.value.orig)
        # and no connection created a file at the path
        assert not path.exists()
    finally:
        await probe.aclose()
        await db.dispose()


def _inode(path: Path) -> int | None:
    """The inode of the file at `path`, None when there is none."""
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
