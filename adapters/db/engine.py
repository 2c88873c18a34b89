"""Async engines and sessionmakers: `Database(url)` gives a write and a read sessionmaker; SQLite is tuned for it.

SQLite has one writer at a time. Write transactions start with `BEGIN IMMEDIATE` so that a transaction that
reads and then writes waits on the busy timeout for the lock instead of failing at once with "database is
locked" when it upgrades; reads run in WAL mode with plain (deferred) `BEGIN` on a separate engine and never wait
for the writer. On PostgreSQL reads (in autocommit) and writes share one engine; the webhook intake has its own
connection.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

from adapters import postgres_url
from adapters.config import Settings
from adapters.db.checkout_waits import CheckoutWaitPool
from adapters.db.pool import AnsweringPool
from adapters.db.sessions import UninterruptedSession
from adapters.db.write_turns import write_turns

SQLITE_BUSY_TIMEOUT_MS = 30_000
# A writer's page cache and how much WAL it lets grow before it checkpoints. SQLite's defaults (2 MiB of cache,
# a checkpoint every 1,000 pages, i.e. 4 MiB) are sized for small transactions: an import's transaction of 500
# orders (measured at 500; 1,000 since stop 70, `SQLITE_IMPORT_BATCH_RECORDS`) touches more index pages than 2 MiB
# hold, so they spilled mid-transaction, and about every other commit ran a checkpoint, whose fsync the commit
# waited for (synchronous=NORMAL syncs at checkpoints only). Measured on an
# ORDERS import of 14,935 orders (2026-12-01, quiet, 2 vCPU, `python -m bench.writer_stages`): the ledger's writes
# 2.85 -> 1.47 s with a 64 MiB cache, the commits 3.0 -> 1.8 s with the later checkpoint, the import 12.2 -> 9.5 s;
# with the 32 MiB kept, 8.6 s. The cache is filled only as pages are used, and the WAL file is cut back to
# `journal_size_limit` after a checkpoint. Checkpoints cost the disk's time wherever they run (bench/README.md).
SQLITE_WRITER_PRAGMAS = (
    "PRAGMA cache_size=-32768",  # KiB: 32 MiB per write connection
    "PRAGMA wal_autocheckpoint=16384",  # pages (64 MiB of WAL)
    "PRAGMA journal_size_limit=67108864",  # bytes: the WAL file kept after a checkpoint, at most
    # Statement journals in memory. Inside a transaction every statement that may fail halfway (an INSERT ... ON
    # CONFLICT, foreign keys) keeps the pages it changes in a statement journal to undo itself alone; past 64 KiB it
    # spills to a temp file (/var/tmp/etilqs_*), and an import's executemany upserts touch ~27 pages a row, so a
    # products import of 2,000 wrote ~450 MB there for a 15 MB database (sqlwrites74, bench/README.md). That
    # journal is never read after a crash (the WAL is what makes commits durable), so memory loses nothing; it is
    # emptied at each statement's end, its size the pages one statement changes (a shop's delete: a table's rows).
    "PRAGMA temp_store=MEMORY",
)

# Records an import stores per transaction on each database (`Database.import_batch_records`, which the worker's
# resources pass as `SyncOptions.batch_records`). A transaction keeps waiting whatever conflicts with its locks until
# it commits, and what that is differs: on SQLite every other write (a merchant's mutation, a webhook, a push) waits
# for the one write lock, so the batch stays shorter than PostgreSQL's (1,000 since stop 70: the engine's CPU per
# order -5 to -14 % against 500, median -10 %; the price, a write or a shop's delete waiting for a transaction about
# twice as long, benchmark 9's p95 ~180-290 ms at 500 on a quiet machine; bench/README.md "SQLite's records per
# transaction, stop 70"); on PostgreSQL a write waits only for the rows the batch shares with it (benchmark 9's p95
# ~11-20 ms, a rename of the shop not at all: the batch holds the shop's row FOR KEY SHARE), and a shop's delete
# waits for the one batch in flight. There the larger batch's fewer, larger statements pay (benchmark 2 +18 % at
# 2,000 on 2026-12-02, quiet); bench/README.md "Records per transaction by database, stop 69" has the figures and
# the price: the delete's wait.
SQLITE_IMPORT_BATCH_RECORDS = 1_000
POSTGRES_IMPORT_BATCH_RECORDS = 2_000


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_database_file(url: str) -> Path | None:
    """The file a SQLite URL names, as written (relative to the working directory when relative): the URL's path
    (`sqlite+aiosqlite:////srv/shopbridge.db`), or a `file:` URI's, percent-decoded (`...///file:/srv/x.db?uri=true`);
    None for PostgreSQL or a SQLite database without a file (`:memory:`, none named; the settings refuse them)."""
    if not is_sqlite(url):
        return None
    name = make_url(url).database or ""
    if name.startswith("file:"):
        name = urllib.parse.unquote(urllib.parse.urlsplit(name).path)
    return Path(name) if name not in ("", ":memory:") else None


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def make_sqlite_file_private(url: str) -> dict[str, int]:
    """The SQLite database a URL names made unreadable to other local users: created empty with mode 0600 when
    missing and its directory exists (SQLite takes an empty file for a new database, and makes its `-wal` and `-shm`
    files with the database file's mode), and an existing one of this user's (or its `-wal`, `-shm`, `-journal`) open
    to every user stripped of the others' bits (0644 -> 0640: group bits stay the operator's, as the data directory's
    do). Returns the files changed, path -> the mode they had, for the caller's WARNING; {} for PostgreSQL, a missing
    directory (the open that follows says why) or nothing to change. Another user's file is left as it is.

    Why (tryout63 F1): the data directory is made private (0700), but a database `SHOPBRIDGE_DATABASE_URL` puts
    elsewhere (the README's `/srv/shopbridge.db`) was made by SQLite with the umask's 0644, its WAL likewise: every
    local user could read buyers' names and addresses, orders and the tokens' ciphertexts."""
    path = sqlite_database_file(url)
    if path is None or not path.parent.is_dir():
        return {}
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # there already; or a directory it cannot be made in, which the open that follows explains
        pass
    changed: dict[str, int] = {}
    for suffix in SQLITE_COMPANIONS:
        file = f"{path}{suffix}"
        try:
            found = os.stat(file)
            if found.st_uid == os.geteuid() and found.st_mode & 0o007:
                os.chmod(file, found.st_mode & 0o770)
                changed[file] = found.st_mode & 0o7777
        except OSError:  # gone meanwhile, or a read-only file system: nothing this process can change
            continue
    return changed


class SqliteFile:
    """The SQLite file a `Database` opened, told apart from whatever its path names later.

    A file removed while the server runs (`make clean` does `rm -rf var`) stays open for the connections that have
    it: in WAL mode SQLite takes their writes into the unlinked inode, which the next start never sees; and a new
    connection opened in SQLite's default mode would create an empty file at the path, which the next start took
    for a database never migrated. `remember()` records the file's (device, inode) when the `Database` is made (the
    file exists: `serve` opened or created it before, `demo` migrated it) or else at the first connection, which
    creates it; from then on `opened` is True and the engines open every new connection without creating the file
    (`open_existing`). `changed()` costs one `os.stat` and says, in one sentence, how the path differs (removed, or
    another file), else None."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._opened: tuple[int, int] | None = None

    def remember(self) -> None:
        if self._opened is None:
            try:
                found = os.stat(self.path)
            except OSError:  # gone already: the next connection remembers what it opens
                return
            self._opened = (found.st_dev, found.st_ino)

    @property
    def opened(self) -> bool:
        """Whether a file was remembered: from then on, no connection of the engines may create one."""
        return self._opened is not None

    def changed(self) -> str | None:
        if self._opened is None:
            return None
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return f"the database file {self.path} was removed while this process ran; {_RESTART}"
        except OSError as exc:
            return f"the database file {self.path} cannot be examined ({exc.strerror}); {_RESTART}"
        if (found.st_dev, found.st_ino) != self._opened:
            return f"the database file {self.path} was replaced by another file while this process ran; {_RESTART}"
        return None

    def refuse_if_changed(self, statement: str) -> None:
        """Raise `OperationalError` (SQLITE_READONLY_DBMOVED, which `adapters.db.outage` counts as an outage, so
        GraphQL answers SERVICE_UNAVAILABLE and workers retry) when `changed()`: a write would be lost, a read would
        answer from the removed file (a connection the pool holds)."""
        if (reason := self.changed()) is None:
            return
        raise OperationalError(statement, None, _moved(reason))

    def open_existing(self, dialect: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        """A new DBAPI connection to the remembered file, opened without creating it (the SQLite URI
        `file:<path>?mode=rw`), for SQLAlchemy's `do_connect` event; None (SQLAlchemy opens it as configured, creating
        a missing file) before a file is remembered, or when the URL is already a SQLite URI (`uri=true`).

        `cargs[0]` is the file's absolute path, as SQLAlchemy's SQLite dialects give it. A file that `changed()`
        (one `os.stat` per new connection) is not opened: `sqlite3.OperationalError` with that sentence and
        SQLITE_READONLY_DBMOVED, which SQLAlchemy wraps as `sqlalchemy.exc.OperationalError` and `adapters.db.outage`
        counts as an outage (GraphQL's SERVICE_UNAVAILABLE): the same refusal as at BEGIN, and no empty file left at
        the path. The same when the file goes between that look and the open, which `mode=rw` then refuses (SQLITE_
        CANTOPEN); any other error of the open is raised as SQLite gave it."""
        if not self.opened or cparams.get("uri") or not cargs:
            return None
        if (reason := self.changed()) is not None:
            # Not even tried: aiosqlite's failed open stops its thread with a callback to this event loop, which
            # raises in that thread when the loop has closed meanwhile (a process or a test ending).
            raise _moved(reason)
        uri = f"file:{urllib.parse.quote(str(cargs[0]))}?mode=rw"  # SQLite decodes %HH: a '#' or '%' in the path
        try:
            return dialect.connect(uri, *cargs[1:], **{**cparams, "uri": True})
        except sqlite3.Error as exc:  # SQLITE_CANTOPEN ("unable to open database file") for a removed file
            if (reason := self.changed()) is None:
                raise
            raise _moved(reason) from exc


def _moved(reason: str) -> sqlite3.OperationalError:
    """The driver error of a file that `changed()`: SQLITE_READONLY_DBMOVED (1032), saying `reason`."""
    moved = sqlite3.OperationalError(reason)
    moved.sqlite_errorcode = sqlite3.SQLITE_READONLY_DBMOVED
    moved.sqlite_errorname = "SQLITE_READONLY_DBMOVED"
    return moved


_RESTART = (
    "reads and writes are refused (a write would be lost, a read would answer from a file that is gone); restore it "
    "or run `shopbridge migrate`, then restart the server"
)


# SQLAlchemy's defaults, which Settings' db_pool_size, db_max_overflow and db_pool_timeout_seconds default to too.
POOL_SIZE = 5
MAX_OVERFLOW = 10
POOL_TIMEOUT_SECONDS = 30.0
APPLICATION_NAME = "shopbridge"


def create_engine(
    url: str,
    *,
    pool_size: int = POOL_SIZE,
    max_overflow: int = MAX_OVERFLOW,
    pool_timeout: float = POOL_TIMEOUT_SECONDS,
    application_name: str = APPLICATION_NAME,
    echo: bool = False,
    read_only: bool = False,
    sqlite_file: SqliteFile | None = None,
) -> AsyncEngine:
    """An async engine whose pool keeps `pool_size` connections, opens up to `max_overflow` more under load, and
    makes a caller wait up to `pool_timeout` seconds for one when all are in use (then `sqlalchemy.exc.TimeoutError`,
    DATABASE_BUSY: `adapters.db.outage.pool_exhausted`; on PostgreSQL `adapters.db.pool.DatabaseNotAnswering`, an
    outage, when the server gave no sign of answering: no connect or ping answered during the wait, nor the pool's
    probe connection within `PROBE_TIMEOUT_SECONDS`). On PostgreSQL each connection names the process in
    `pg_stat_activity.application_name` (`application_name`, e.g. `shopbridge-serve`). On SQLite: WAL, busy
    timeout, foreign keys, and `BEGIN IMMEDIATE` unless `read_only`; with `sqlite_file`, the file is remembered at
    the first connection (unless it was already), each new connection then opens it without creating it (a removed
    file: refused, no empty file made), and each transaction, a read or a write, is refused once it changed
    (`SqliteFile`): one `os.stat` at each BEGIN."""
    if not is_sqlite(url):
        connect_args: dict[str, Any] = {}
        if "+asyncpg" in url.split("://", 1)[0]:
            # asyncpg prepares every statement; after five runs PostgreSQL may cache a generic plan made while a
            # table was still small (a sequential scan) and keep it as the table grows to 100,000 rows, turning
            # an import's per-page lookup from an index probe into a scan. Custom plans cost ~0.1 ms to make.
            # application_name: which process holds a connection, for whoever reads pg_stat_activity (soak53: 48
            # connections, all nameless).
            connect_args["server_settings"] = {
                "plan_cache_mode": "force_custom_plan",
                "application_name": application_name,
            }
        engine = create_async_engine(
            postgres_url.for_asyncpg(url),  # libpq's `sslmode=` as asyncpg's `ssl=`, which it takes
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=True,
            poolclass=AnsweringPool,  # a wait timed out on a server that gives no answer is no busy pool
            echo=echo,
            connect_args=connect_args,
            hide_parameters=True,  # a logged DBAPI error must not print bound values (encrypted tokens, ids)
        )
        if engine.dialect.driver == "asyncpg":
            # The dialect is this engine's own instance: the override reaches no other engine.
            engine.sync_engine.dialect.do_ping = ping_in_one_round_trip  # type: ignore[method-assign]
        return engine
    if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
        # Every pooled connection would see its own empty database, and one shared connection would serialise
        # unrelated coroutines; Shopbridge always uses a file.
        raise ValueError("Shopbridge needs a SQLite database file, not an in-memory database")
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        poolclass=CheckoutWaitPool,  # SQLAlchemy's own for a file, whose wait a cancelled caller ends at once
        echo=echo,
        hide_parameters=True,
    )
    _configure_sqlite(
        engine, begin="BEGIN" if read_only else "BEGIN IMMEDIATE", read_only=read_only, sqlite_file=sqlite_file
    )
    return engine


def ping_in_one_round_trip(dbapi_connection: Any) -> bool:
    """`pool_pre_ping`'s check of a pooled asyncpg connection before its checkout: one `SELECT 1` in the simple query
    protocol, one round trip; returns True, or raises the error of a connection that does not answer as SQLAlchemy's
    own ping raises it (the adapted DBAPI error, which the pool takes for a disconnect, then reconnects once;
    `AnsweringPool` times a ping that never answers).

    SQLAlchemy 2.1's asyncpg ping (`AsyncAdapt_asyncpg_connection._async_ping`) wraps a prepared `;` in a transaction
    of its own, for PgBouncer's transaction mode (its issue #10226): BEGIN, the statement, ROLLBACK, three round trips
    at every checkout, i.e. every session (suitepg74: 12-25 checkouts in an integration test of the pool, 130-400 in
    an end-to-end test on PostgreSQL). A simple-protocol statement prepares nothing, so it is as safe behind PgBouncer
    in transaction mode (README "Production" suggests one), with a third of the round trips."""
    try:
        await_(dbapi_connection.driver_connection.execute("SELECT 1"))
    except Exception as error:  # as SQLAlchemy's ping: translated into the dialect's DBAPI error, and raised
        dbapi_connection._handle_exception(error)
    return True


def _configure_sqlite(engine: AsyncEngine, *, begin: str, read_only: bool, sqlite_file: SqliteFile | None) -> None:
    """SQLAlchemy's documented recipe: take BEGIN away from the driver and emit our own (see module doc)."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
        # Driver-level autocommit: the sqlite3 module no longer opens transactions behind our back (its legacy
        # mode skips BEGIN before SELECT and SAVEPOINT, which breaks savepoints and repeatable reads).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # The busy timeout first: switching a database to WAL takes an exclusive lock, and several connections
            # opening at once (API, worker pool, sweeps) must wait for each other, not fail with "locked".
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
            cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite; ON DELETE CASCADE needs it
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable across application crashes in WAL mode
            if read_only:
                cursor.execute("PRAGMA query_only=ON")  # a stray write on the read engine fails loudly
            else:
                for pragma in SQLITE_WRITER_PRAGMAS:
                    cursor.execute(pragma)
        finally:
            cursor.close()
        if sqlite_file is not None:
            sqlite_file.remember()

    @event.listens_for(engine.sync_engine, "do_connect")
    def on_do_connect(
        dialect: Any, connection_record: ConnectionPoolEntry, cargs: list[Any], cparams: dict[str, Any]
    ) -> Any:
        return None if sqlite_file is None else sqlite_file.open_existing(dialect, cargs, cparams)

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        if sqlite_file is not None:
            sqlite_file.refuse_if_changed(begin)
        connection.exec_driver_sql(begin)


class Database:
    """The engines of one database and their sessionmakers (`expire_on_commit=False`).

    `write_sessionmaker` is for units of work; `read_sessionmaker` is for GraphQL reads, which must not write (on
    PostgreSQL in autocommit: a stray write would be committed at once; SQLite's read connections refuse it);
    `intake_sessionmaker` is the webhook intake's (on PostgreSQL one connection of its own, opened on first use).
    Create one per process (or per event loop) at start-up and `await dispose()` at shutdown; `from_settings` sizes
    and names it from the settings (SHOPBRIDGE_DB_POOL_SIZE, _MAX_OVERFLOW, _POOL_TIMEOUT, _APPLICATION_NAME). On
    PostgreSQL a process holds at most `pool_size + max_overflow` connections, plus the intake's one once a webhook
    came in; on SQLite twice that (two engines).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = POOL_SIZE,
        max_overflow: int = MAX_OVERFLOW,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
        application_name: str = APPLICATION_NAME,
        read_pool_size: int | None = None,
        echo: bool = False,
    ) -> None:
        self.url = url
        self.dialect_name = "sqlite" if is_sqlite(url) else "postgresql"
        # SQLite: the file the engines opened, checked by writes and /readyz (None on PostgreSQL).
        self.sqlite_file = SqliteFile(make_url(url).database or "") if is_sqlite(url) else None
        if self.sqlite_file is not None:
            # A file already there is the database: no connection may create another at its path (not even the
            # first, should it be removed before any connection opened).
            self.sqlite_file.remember()
        sizes: dict[str, Any] = {"max_overflow": max_overflow, "pool_timeout": pool_timeout, "echo": echo}
        self.write_engine = create_engine(
            url, pool_size=pool_size, application_name=application_name, sqlite_file=self.sqlite_file, **sizes
        )
        if is_sqlite(url):
            self.read_engine = create_engine(
                url,
                pool_size=read_pool_size or pool_size,
                read_only=True,
                **sizes,
                sqlite_file=self.sqlite_file,
            )
        else:
            self.read_engine = self.write_engine
        # Sessions whose database calls a cancellation cannot cut in half (see adapters.db.sessions).
        # SQLite: this process's writers take turns, first come first served (adapters.db.write_turns).
        turns = (
            {"write_turns": write_turns(self.write_engine.url.database or url, SQLITE_BUSY_TIMEOUT_MS / 1000)}
            if self.is_sqlite
            else None
        )
        self.write_sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.write_engine, class_=UninterruptedSession, expire_on_commit=False, info=turns
        )
        # PostgreSQL: reads in autocommit, on the shared pool. Each statement is a transaction of its own (READ
        # COMMITTED gave each its own snapshot already): no BEGIN and ROLLBACK round trips, during which a starved
        # event loop kept the connection, and no ACCESS SHARE locks held between statements (soak53).
        self.read_sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.read_engine if self.is_sqlite else self.read_engine.execution_options(isolation_level="AUTOCOMMIT"),
            class_=UninterruptedSession,
            expire_on_commit=False,
        )
        # The webhook intake's group commit (gql/webhooks/batcher.py) on PostgreSQL: one connection of its own, so
        # that a push never queues for the shared pool behind GraphQL reads and subscriptions (soak53: they held all
        # 15 connections and pushes waited past TikTok's 3 s). Its one writer stores one batch at a time: one
        # connection is all it uses. SQLite: the write engine, which reads never use, and writers take turns anyway.
        self.intake_engine = (
            self.write_engine
            if self.is_sqlite
            else create_engine(
                url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=pool_timeout,
                application_name=application_name,
                echo=echo,
            )
        )
        self.intake_sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.intake_engine, class_=UninterruptedSession, expire_on_commit=False, info=turns
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The process's database as configured: its URL, pool sizes, pool timeout and application name."""
        return cls(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            application_name=settings.db_application_name,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def import_batch_records(self) -> int:
        """The records an import should store per transaction here (`SyncOptions.batch_records`): 1,000 on SQLite,
        2,000 on PostgreSQL (`SQLITE_IMPORT_BATCH_RECORDS`, `POSTGRES_IMPORT_BATCH_RECORDS`: why, beside them)."""
        return SQLITE_IMPORT_BATCH_RECORDS if self.is_sqlite else POSTGRES_IMPORT_BATCH_RECORDS

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
        if self.intake_engine is not self.write_engine:
            await self.intake_engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.write_engine.url!r})"  # SQLAlchemy's URL repr hides the password
