"""Persistence: tables, migrations, repositories and unit of work (write side), read queries (GraphQL side).

Entry points: `Database(url)` (engines and sessionmakers), `uow_factory(db, cipher)`, `adapters.db.queries`,
`adapters.db.migrate.upgrade(url)`.

The names below are imported when first asked for (PEP 562), not with the package: importing any module of it
(`adapters.db.engine`, `adapters.db.migrate`) would otherwise load every repository, the tables and most of the
domain (~0.5 s of CPU), which `shopbridge migrate` and the `worker` command's checks do not use (imports71).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapters.db.engine import Database, create_engine
    from adapters.db.errors import ConcurrentUpdateError, ShopGoneError
    from adapters.db.uow import SqlUnitOfWork, uow_factory

__all__ = ["ConcurrentUpdateError", "Database", "ShopGoneError", "SqlUnitOfWork", "create_engine", "uow_factory"]

_HOME = {
    "Database": "adapters.db.engine",
    "create_engine": "adapters.db.engine",
    "ConcurrentUpdateError": "adapters.db.errors",
    "ShopGoneError": "adapters.db.errors",
    "SqlUnitOfWork": "adapters.db.uow",
    "uow_factory": "adapters.db.uow",
}


def __getattr__(name: str) -> Any:
    """`from adapters.db import Database` and the like: the name from its module, imported now (PEP 562)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value  # asked once: later lookups find it here
    return value
