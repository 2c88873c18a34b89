"""Failures of the persistence adapter that callers must tell apart, and how integrity errors are recognised.

ShopGoneError             the shop row is gone (deleted mid-import); subclass of domain.ports.ShopGoneError
ConcurrentUpdateError     the row changed since it was read (optimistic version check failed)
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from domain import ports

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
# PostgreSQL's SQLSTATEs of a transaction it aborted to let another go on (class 40, transaction rollback): nothing of
# it was kept, and the same work run again from the start may well pass.
DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
_CONFLICTS = frozenset({DEADLOCK_DETECTED, SERIALIZATION_FAILURE})


class ShopGoneError(ports.ShopGoneError):
    """The shop was deleted while something was still writing for it; the write is refused, nothing is kept.

    A subclass of the domain's `ShopGoneError`, which is what services catch; this one also names the shop.
    """

    def __init__(self, shop_id: str) -> None:
        super().__init__(f"shop {shop_id} no longer exists")
        self.shop_id = shop_id


class ConcurrentUpdateError(ports.ConcurrentUpdateError):
    """Another transaction updated the row since it was read; reload and try again (the domain's error)."""


def is_unique_violation(exc: IntegrityError, constraint: str, sqlite_columns: str) -> bool:
    """Whether `exc` is a violation of the named unique constraint (PostgreSQL) or of those columns (SQLite).

    SQLite names the columns, never the constraint: "UNIQUE constraint failed: shops.tiktok_shop_id".
    """
    message = str(exc.orig)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == UNIQUE_VIOLATION) and f'"{constraint}"' in message
    return message.startswith("UNIQUE constraint failed") and message.endswith(sqlite_columns)


def is_foreign_key_violation(exc: IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == FOREIGN_KEY_VIOLATION)
    return "FOREIGN KEY constraint failed" in str(exc.orig)


def transaction_conflict(error: BaseException, *, through_context: bool = True) -> str | None:
    """`domain.ports.register_conflict`'s rule for the database: the SQLSTATE (`40P01` deadlock detected, `40001`
    serialization failure) when `error`, or an error it was raised from (SQLAlchemy's `DBAPIError` over the driver's),
    is PostgreSQL aborting the transaction as such; None otherwise (SQLite has one writer: none of these).
    `through_context`: an error raised while one was handled (`__context__`) counts too, as for the unit of work's
    retry, which runs the whole of it again; False for what a client is told (gql/errors.py TRANSACTION_CONFLICT): a
    bug raised while a conflict was handled is that bug, INTERNAL_SERVER_ERROR with its traceback (review56b F3)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        for candidate in (current, getattr(current, "orig", None)):
            sqlstate = getattr(candidate, "sqlstate", None)
            if isinstance(sqlstate, str) and sqlstate in _CONFLICTS:
                return sqlstate
        pending += [current.__cause__, current.__context__] if through_context else [current.__cause__]
    return None
