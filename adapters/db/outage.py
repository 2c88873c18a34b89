"""`unavailable(error)`: whether an exception means the database cannot serve right now, not that our code is wrong;
`login_refused(error)`: whether PostgreSQL answered and refused the login, a mistake in the URL rather than an outage.

Down, restarting or unreachable (a refused or dropped connection, a connection the pool found dead), refusing
connections (too many, starting up, shutting down), its pool exhausted, read-only (a failover to a standby) or
its disk full; on SQLite a file locked past the busy timeout, read-only or full. Such an error is an outage to report
in one line and retry, where a bug deserves a traceback. `describe(error)` names it in one short line, no secret.

`pool_exhausted(error)`: whether the outage is this process's own connection pool, every connection in use past the
pool's wait (SQLAlchemy's `TimeoutError`, "QueuePool limit of size 5 overflow 10 reached"): the database is up and
answers the other processes; this one is busy. Still `unavailable` (retried, waited out, no traceback), but told as
what it is: GraphQL's DATABASE_BUSY, not SERVICE_UNAVAILABLE, and `busy_line` names the pool's size and the settings
that size it (SHOPBRIDGE_DB_POOL_SIZE, SHOPBRIDGE_DB_MAX_OVERFLOW; soak53: 15 minutes of pool waits read as an outage).
On PostgreSQL only with evidence that the server answers (a connect or ping of the pool answered during the wait, or
the pool's probe connection opened); without it the wait raises `adapters.db.pool.DatabaseNotAnswering` (a server
stopped, hung or cut off, whether it caught the connections idle, review53b, or mid-statement, review54b): the
database's outage, told as such. SQLite's pool has no such evidence to give and keeps SQLAlchemy's `TimeoutError`.

`file_moved(error)`: on SQLite, the database file was removed or replaced while this process ran
(SQLITE_READONLY_DBMOVED, from SQLite itself or from `adapters.db.engine.SqliteFile`): an outage that never ends by
itself, as every other may; only a restart (after the file is restored or migrated anew) mends it.

`behind_migrations(error)`: a database error while this process's schema gate waits for `shopbridge migrate`
(`adapters.db.schema.migrations_pending`): a table or column this code reads is not there yet, which `migrate`
mends; told as the database not ready, not as a bug.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from adapters.db.pool import DatabaseNotAnswering
from adapters.db.schema import migrations_pending

# SQLSTATE classes and codes (PostgreSQL's errcodes): connection exceptions (08...), too many connections, the
# server shutting down or starting (57P01-57P03), a read-only transaction, a full disk.
_SQLSTATES = frozenset({"53100", "53300", "57P01", "57P02", "57P03", "25006"})
# SQLite's primary result codes; Python reports the extended one (SQLITE_IOERR_WRITE is 778, SQLITE_READONLY_DBMOVED
# 1032), whose low 8 bits are its primary code.
_SQLITE_CODES = frozenset(
    getattr(sqlite3, name)
    for name in ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_READONLY", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_IOERR")
)
_SQLITE_PRIMARY = 0xFF
_MAX_CHAIN = 8
# OSErrors of files, not of a connection: a bug or a set-up fault of ours (a path that does not exist, a directory
# we may not write), never the database server's state. SQLite's own file faults come as sqlite3 errors with codes.
_FILE_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def _chain(error: BaseException) -> list[BaseException]:
    """The error and, for a driver error SQLAlchemy wrapped, the driver's own errors under it (what it wraps, what
    caused that). Only there: an OSError further down another library's chain (an HTTP client's refused connection,
    say) is that library's outage, not the database's."""
    found: list[BaseException] = [error]
    pending: list[BaseException | None] = [error.orig] if isinstance(error, DBAPIError) else []
    while pending and len(found) < _MAX_CHAIN:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or current in found:
            continue
        found.append(current)
        pending += [current.__cause__, current.__context__]
    return found


def _is_outage(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PoolTimeout):  # the pool's wait
        return True
    if isinstance(error, OSError):  # a socket's refusal, reset or timeout, raised by the driver as it is
        return not isinstance(error, _FILE_ERRORS)
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _SQLSTATES):
        return True
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
    return isinstance(code, int) and (code & _SQLITE_PRIMARY) in _SQLITE_CODES


def unavailable(error: BaseException) -> bool:
    """Whether `error` (as raised by a database call, wrapped or not) means the database cannot serve right now."""
    return any(_is_outage(link) for link in _chain(error))


def file_moved(error: BaseException) -> bool:
    """Whether `error` (as raised by a database call, wrapped or not) is SQLite's SQLITE_READONLY_DBMOVED (1032): the
    file at the database's path is not the one this process opened (removed, as `make clean`'s `rm -rf var` does, or
    replaced). `unavailable` too; told apart because waiting never mends it: the server must be restarted."""
    return any(
        isinstance(link, sqlite3.Error) and getattr(link, "sqlite_errorcode", None) == sqlite3.SQLITE_READONLY_DBMOVED
        for link in _chain(error)
    )


def pool_exhausted(error: BaseException) -> bool:
    """Whether `error` (as raised by a database call) is SQLAlchemy's pool timeout (`sqlalchemy.exc.TimeoutError`:
    every connection of this process's pool in use for the pool's whole wait): the database itself may well be up. Not
    `DatabaseNotAnswering`, the same wait timed out on a server that gave no sign of answering (`adapters.db.pool`)."""
    return any(isinstance(link, PoolTimeout) and not isinstance(link, DatabaseNotAnswering) for link in _chain(error))


def busy_line(error: BaseException) -> str:
    """A pool timeout in one line: `this process's database connections are all in use (the database is up;
    QueuePool limit of size 5 overflow 10 reached, …): raise SHOPBRIDGE_DB_POOL_SIZE or SHOPBRIDGE_DB_MAX_OVERFLOW`."""
    return (
        f"this process's database connections are all in use, the database itself may be up ({describe(error)}); "
        "if this lasts, raise SHOPBRIDGE_DB_POOL_SIZE or SHOPBRIDGE_DB_MAX_OVERFLOW (README, Scaling)"
    )


# SQLSTATEs of a server that answered and refused the login (PostgreSQL's errcodes): no such database (3D000,
# invalid_catalog_name), no such role or a wrong password (class 28, invalid_authorization_specification). Retrying
# never helps: the URL's database name, user or password is wrong.
_LOGIN_REFUSED_CLASSES = ("3D000", "28")


def login_refused(error: BaseException) -> bool:
    """Whether `error` (as raised by a database call, wrapped or not) is PostgreSQL refusing the login: no such
    database, role or password. Not an outage (`unavailable` is False for it): a mistake in SHOPBRIDGE_DATABASE_URL."""
    for link in _chain(error):
        sqlstate = getattr(link, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_LOGIN_REFUSED_CLASSES):
            return True
    return False


def describe(error: BaseException) -> str:
    """The outage in one line: the innermost cause's class and first line, e.g. `ConnectionRefusedError: [Errno
    111] Connection refused`. Driver messages name no password (a URL is never in them)."""
    cause = [link for link in _chain(error) if _is_outage(link)][-1:] or [error]
    text = str(cause[0]).strip().splitlines()
    return f"{type(cause[0]).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def behind_migrations(error: BaseException) -> bool:
    """Whether `error` is a database error raised while a schema gate of this process waits for `shopbridge migrate`
    (module docstring): the statement's table or column is not there yet."""
    if not migrations_pending():
        return False
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < _MAX_CHAIN:
        if isinstance(current, DBAPIError):
            return True
        seen.append(current)
        current = current.__cause__ or current.__context__
    return False


def outage_line(error: BaseException) -> str | None:
    """`domain.ports.register_outage`'s rule for the database: `the database is unavailable (<describe>)` when
    `unavailable(error)` (`busy_line` for this process's pool exhausted), else None."""
    if pool_exhausted(error):
        return busy_line(error)
    return f"the database is unavailable ({describe(error)})" if unavailable(error) else None
