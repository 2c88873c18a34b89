"""Alembic, configured in code: `upgrade(url)` applies the migrations, `current(url)` names the applied revision,
`schema_position(revisions)` says where a database stands against this code's migrations.

Alembic is imported by the functions that run it (upgrade, downgrade, current), not with this module: `head` and
`known_revisions` read the migration files' text, so a process that only checks where a schema stands (the API's
`/readyz`, a worker's schema gate) never imports Alembic (~0.4 s of CPU at every start, imports71).

All are synchronous (call them from a CLI, a test fixture, or `asyncio.to_thread`) and use a sync driver derived
from the application's async URL.

Every lock `upgrade` waits for is bounded by `lock_timeout_seconds` (SHOPBRIDGE_MIGRATE_LOCK_TIMEOUT): on PostgreSQL
the migration lock another `migrate` holds, and each table lock a migration statement waits for (PostgreSQL's
`lock_timeout`); on SQLite the file's write lock (the busy timeout). Past it, `MigrationLockTimeoutError`, the
transaction rolled back (on PostgreSQL nothing changed; SQLite's DDL is not transactional: the steps before stay).
"""

from __future__ import annotations

import ast
import functools
import logging
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from adapters import postgres_url
from adapters.db.engine import make_sqlite_file_private
from adapters.text import shown_path

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_LOCK_TIMEOUT_SECONDS = 30.0
MIGRATION_LOCK = 0x5B_B1D6E  # a PostgreSQL advisory lock key of this app's own, held for the migration's transaction
APPLICATION_NAME = "shopbridge-migrate"  # how its PostgreSQL sessions show in pg_stat_activity

_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "postgres": "postgresql+psycopg2",
}


class MigrationLockTimeoutError(Exception):
    """A lock the migration needed was not granted within the lock timeout; its transaction was rolled back."""


class SchemaPosition(Enum):
    """Where a database's applied revision stands against the migrations of this code."""

    AT_HEAD = "at_head"
    BEHIND = "behind"  # a revision this code knows, before its head: `migrate` has not run for this release
    NEWER = "newer"  # a revision this code does not know: taken as a later release's (see `schema_position`)
    EMPTY = "empty"  # no migration was ever applied


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did: the revisions before and after; `newer` when the database was at a later release's
    revision, left as it was."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    newer: bool = False


def sync_url(database_url: str) -> str:
    """The URL with a synchronous driver: sqlite+aiosqlite → sqlite, postgresql+asyncpg → postgresql+psycopg2 (with
    asyncpg's `ssl=` given to libpq as `sslmode=`: `adapters.postgres_url`)."""
    url = make_url(database_url)
    driver = _SYNC_DRIVERS.get(url.drivername, url.drivername)
    rendered = url.set(drivername=driver).render_as_string(hide_password=False)
    return postgres_url.for_psycopg2(rendered) if driver.startswith("postgresql") else rendered


def alembic_config(database_url: str, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Config:
    """An Alembic Config without an ini file; env.py reads the URL from `attributes`, never from the ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Through `attributes` rather than set_main_option: ini interpolation would mangle a '%' in a password.
    config.attributes["database_url"] = sync_url(database_url)
    config.attributes["lock_timeout_seconds"] = lock_timeout_seconds
    return config


def migration_engine(database_url: str, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> Engine:
    """The sync engine migrations run on: SQLite waits `lock_timeout_seconds` for the write lock (its busy
    timeout); PostgreSQL sessions are named `APPLICATION_NAME` (its `lock_timeout` is set per transaction)."""
    url = sync_url(database_url)
    if url.startswith("sqlite"):
        return create_engine(url, poolclass=NullPool, connect_args={"timeout": lock_timeout_seconds})
    return create_engine(url, poolclass=NullPool, connect_args={"application_name": APPLICATION_NAME})


def upgrade(
    database_url: str, revision: str = "head", *, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS
) -> Upgrade:
    """Apply the migrations up to `revision`. A database at a revision this code does not know is left alone
    (`newer`): a later release migrated it, and this release runs on that schema (README, rolling deploys).
    `MigrationLockTimeoutError` when a lock was not granted within `lock_timeout_seconds`."""
    from alembic import command

    _private_sqlite_file(database_url)
    config = alembic_config(database_url, lock_timeout_seconds)
    config.attributes["leave_newer_alone"] = True
    try:
        with _sqlite_file_explained(database_url):
            command.upgrade(config, revision)
    except MigrationLockTimeoutError as exc:
        raise MigrationLockTimeoutError(f"{exc}; {_where(database_url)}") from exc
    outcome = Upgrade(
        before=tuple(config.attributes.get("revisions_before", ())),
        after=tuple(config.attributes.get("revisions_after", ())),
        newer=bool(config.attributes.get("newer")),
    )
    if database_url.startswith("sqlite"):
        # Leave SQLite in WAL mode (persistent in the file): the switch takes an exclusive lock, better taken here,
        # once, than raced for by the first connections of the running processes.
        engine = migration_engine(database_url, lock_timeout_seconds)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        finally:
            engine.dispose()
    return outcome


def _where(database_url: str) -> str:
    """Where the database stands after a failed upgrade (PostgreSQL: where it was, the transaction rolled back;
    SQLite: the steps before the failed one may have been applied, its DDL not being transactional)."""
    try:
        return f"the database stays at revision {current(database_url) or 'none (empty)'}"
    except Exception:  # a courtesy of the error line, which is about the lock
        return "the migration's transaction was rolled back"


def downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


# A migration file's `revision`, `down_revision` and `depends_on` lines (annotated or not), as Alembic's template
# writes them, each value on its line.
_REVISION_LINE = re.compile(r"^(revision|down_revision|depends_on)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
_NAMES = ("revision", "down_revision", "depends_on")


class MigrationFilesError(Exception):
    """A migration file whose revisions cannot be read from its text, or migrations with several heads."""


def _assigned_literals(path: Path) -> dict[str, object]:
    """A migration file's top-level `revision`, `down_revision` and `depends_on` values, as literals.

    First from their lines (`_REVISION_LINE`: a few ms for every file); a file where one of them does not read so,
    e.g. a merge migration's tuple that `ruff format` split over several lines, is parsed whole (`ast`), its
    module-level assignments read. MigrationFilesError when a value is not a literal or the file does not parse."""
    text = path.read_text(encoding="utf-8")
    found: dict[str, object] = {}
    try:
        for name, value in _REVISION_LINE.findall(text):
            found.setdefault(name, ast.literal_eval(value))
        if "revision" in found and "down_revision" in found:
            return found
    except (ValueError, SyntaxError):
        pass
    found = {}
    try:
        module = ast.parse(text, filename=path.name)
    except SyntaxError as exc:
        raise MigrationFilesError(f"{path.name}: not Python ({exc.msg}, line {exc.lineno})") from exc
    for node in module.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        value = getattr(node, "value", None)
        for target in targets:
            if isinstance(target, ast.Name) and target.id in _NAMES and value is not None:
                try:
                    found.setdefault(target.id, ast.literal_eval(value))
                except ValueError as exc:
                    raise MigrationFilesError(f"{path.name}: {target.id} is not a literal") from exc
    return found


# Both read this code's migration files, which cannot change while the process runs: read once, however many apps,
# readiness probes and schema gates the process builds.
@functools.cache
def _revision_graph() -> dict[str, tuple[str, ...]]:
    """Each revision of this code's migrations (`MIGRATIONS_DIR/versions/*.py`) -> the revisions it revises.

    Read from each file's `revision`, `down_revision` and `depends_on` assignments (literals, as Alembic's template
    writes them: a string, None, or a tuple for a merge; `_assigned_literals`), not by loading the file as Alembic
    does: that imports Alembic and every migration (~0.4 s of CPU). tests/integration/test_db_migrations.py holds
    the result to Alembic's own reading. MigrationFilesError when a file lacks `revision` or `down_revision`, gives
    something else than a literal, or has a `depends_on` (a cross-branch dependency, which this reading does not
    place: none of ours has one; say so here before adding one)."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = _assigned_literals(path)
        revision, down = found.get("revision"), found.get("down_revision", ...)
        if not isinstance(revision, str) or down is ...:
            raise MigrationFilesError(f"{path.name}: no `revision = ...` and `down_revision = ...` assignments")
        if found.get("depends_on") is not None:
            raise MigrationFilesError(f"{path.name}: depends_on is not read at start (adapters/db/migrate.py)")
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)  # type: ignore[arg-type]
        graph[revision] = tuple(str(each) for each in downs)
    return graph


@functools.cache
def head() -> str | None:
    """The revision no other migration revises (Alembic's `heads`); None when there is no migration.
    MigrationFilesError when there are several (Alembic would refuse to upgrade to "head" too)."""
    graph = _revision_graph()
    revised = {down for downs in graph.values() for down in downs}
    heads = sorted(revision for revision in graph if revision not in revised)
    if len(heads) > 1:
        raise MigrationFilesError(f"the migrations have several heads: {', '.join(heads)}; merge them")
    return heads[0] if heads else None


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision of this code's migrations."""
    return frozenset(_revision_graph())


def schema_position(revisions: Collection[str], head: str | None, known: Collection[str]) -> SchemaPosition:
    """Where a database whose `alembic_version` holds `revisions` stands against `head`, given the `known` ones.

    A revision this code does not know cannot be placed (its ancestry lives in a later release's files): it is
    taken as newer, the only way a database gets one being a later release's `migrate`. Sound as long as releases
    keep the expand-then-contract contract (README, Operations): a schema change the running release cannot work
    with waits for the release after the one that stopped using what it removes.
    """
    if not revisions:
        return SchemaPosition.EMPTY
    if head in revisions:
        return SchemaPosition.AT_HEAD
    if any(revision not in known for revision in revisions):
        return SchemaPosition.NEWER
    return SchemaPosition.BEHIND


def _private_sqlite_file(database_url: str) -> None:
    """`adapters.db.engine.make_sqlite_file_private`, one WARNING line per file whose mode it changed (tryout63 F1)."""
    for file, mode in make_sqlite_file_private(database_url).items():
        logging.getLogger("shopbridge").warning(
            "the SQLite file %s was readable by other local users (mode %04o; it holds buyers' names and addresses "
            "and the tokens' ciphertexts): made it %04o",
            file, mode, mode & 0o770,
        )  # fmt: skip


def open_sqlite(database_url: str) -> None:
    """Open a SQLite database's file (creating it when missing, as the server would) and read its header, then close
    it. Raises `sqlalchemy.exc.DBAPIError` for a file that cannot be opened or created (SQLITE_CANTOPEN: a missing
    or unwritable directory) or is not a database (SQLITE_NOTADB): `serve` refuses to start on it, as `migrate`
    does. A PostgreSQL URL is not touched (one down at start is an outage the server reports and outlives)."""
    if not sync_url(database_url).startswith("sqlite"):
        return
    _private_sqlite_file(database_url)
    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with _sqlite_file_explained(database_url), engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA schema_version")
    finally:
        engine.dispose()


def open_without_side_effects(database_url: str, *, reach_postgresql: bool) -> None:
    """Fail as opening `database_url` would, where finding out makes nothing, else return: for the commands that
    check the database before the settings make the data directory's keys (gql/cli.py).

    - SQLite: a file the file system says cannot be one (`sqlite_file_problem`: its directory missing or a file, the
      path a directory, a file that cannot be read or is not a database), where SQLite creates nothing, is opened
      for the driver's own error, raised as `SqliteFileError`. Any other file is left alone: opening a missing one
      creates it (`open_sqlite`, later).
    - PostgreSQL, with `reach_postgresql`: connected to and the connection closed, nothing read or written;
      `sqlalchemy.exc.DBAPIError` when it cannot be reached or refuses the login. Without it, not touched."""
    if sync_url(database_url).startswith("sqlite"):
        if sqlite_file_problem(database_url) is not None:
            open_sqlite(database_url)
        return
    if reach_postgresql:
        engine = migration_engine(database_url)
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()


class SqliteFileError(Exception):
    """A SQLite database file the driver could not open, with why as the file system tells it: the driver's
    error, then the reason, e.g. `OperationalError: unable to open database file (the directory '/srv/db' does not
    exist)`. SQLite's own message ("unable to open database file") names neither the file nor the cause."""


# The first 16 bytes of every SQLite database file (https://www.sqlite.org/fileformat.html, section 1.3.1); an empty
# file is a database too (SQLite writes the header on the first write).
SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_file_problem(database_url: str) -> str | None:
    """Why the file of a SQLite URL cannot be a database, as the file system tells it: the path is a directory, or
    its directory is missing or is a file; or the file exists and cannot be read (no read permission, `strerror`),
    or does not start with SQLite's header (`SQLITE_HEADER`: not a database). None when none of these (or for
    another database, or `:memory:`). Reads at most 16 bytes; writes nothing."""
    url = make_url(sync_url(database_url))
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    file = Path(url.database)
    if file.is_dir():
        return f"{shown_path(file)} is a directory"
    if not file.parent.exists():
        return f"the directory {shown_path(file.parent)} does not exist"
    if not file.parent.is_dir():
        return f"{shown_path(file.parent)} is a file, not a directory"
    if not file.exists():
        return None
    try:
        with file.open("rb") as opened:
            header = opened.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{shown_path(file)} cannot be read ({exc.strerror})"
    if header and header != SQLITE_HEADER:
        return f"{shown_path(file)} is not a SQLite database"
    return None


@contextmanager
def _sqlite_file_explained(database_url: str) -> Iterator[None]:
    """A driver error on a SQLite file the file system explains (`sqlite_file_problem`) becomes `SqliteFileError`."""
    try:
        yield
    except DBAPIError as exc:
        if (why := sqlite_file_problem(database_url)) is None:
            raise
        raise SqliteFileError(f"{type(exc.orig).__name__}: {exc.orig} ({why})") from exc


def current(database_url: str) -> str | None:
    """The revision the database is at, or None when no migration was ever applied."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(sync_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
