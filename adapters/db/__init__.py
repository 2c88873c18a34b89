"""Persistence: tables, migrations, repositories and unit of work (write side), read queries (GraphQL side).

Entry points: `Database(url)` (engines and sessionmakers), `uow_factory(db, cipher)`, `adapters.db.queries`,
`adapters.db.migrate.upgrade(url)`.
"""

from adapters.db.engine import Database, create_engine
from adapters.db.errors import ConcurrentUpdateError, ShopGoneError
from adapters.db.uow import SqlUnitOfWork, uow_factory

__all__ = ["ConcurrentUpdateError", "Database", "ShopGoneError", "SqlUnitOfWork", "create_engine", "uow_factory"]
