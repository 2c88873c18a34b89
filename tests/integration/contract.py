"""One unit-of-work factory per implementation of the persistence ports: the fake, SQLite and PostgreSQL.

The contract tests (tests/integration/test_contract_*.py) take `uows` and assert only through the ports, so the
same assertions hold for `tests.fakes.FakeUnitOfWork` and `adapters.db.SqlUnitOfWork`: a fake that drifts from
the adapter it stands for fails there, not in a service test that trusted it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from adapters.crypto import TokenCipher
from adapters.db import uow_factory
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.fixtures.servers import opened_database

UowFactory = Callable[[], Any]


@pytest.fixture(params=["fake", "sqlite", "postgres"])
async def uows(request: pytest.FixtureRequest, cipher: TokenCipher) -> AsyncIterator[UowFactory]:
    if request.param == "fake":
        store = FakeStore()
        yield lambda: FakeUnitOfWork(store)
        return
    async with opened_database(str(request.getfixturevalue(f"{request.param}_url"))) as db:
        yield uow_factory(db, cipher)
