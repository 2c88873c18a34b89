"""One SHOPBRIDGE_DATABASE_URL with a TLS mode reaches PostgreSQL from `migrate` (psycopg2) and from `serve` and
`worker` (asyncpg), whichever of the two names the operator writes (`sslmode=`, libpq's and every provider's
connection string; `ssl=`, asyncpg's).

PostgreSQL only: SQLite URLs take no TLS mode. The throwaway server has no TLS, so `disable` connects and `require`
is refused by each driver for that reason (the mode reached it), never by a keyword it does not know.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from adapters.db import create_engine, migrate
from tests.fixtures.servers import PostgresServer

# How each driver refuses a required TLS the server does not offer: libpq's words, then asyncpg's.
SERVER_HAS_NO_TLS = "(?i)server does not support SSL|rejected SSL upgrade"


@pytest.mark.parametrize("parameter", ["sslmode", "ssl"])
async def test_a_tls_mode_in_the_url_reaches_both_drivers(postgres_server: PostgresServer, parameter: str) -> None:
    # given a database URL carrying a TLS mode, under either name
    url = f"{postgres_server.create_database()}?{parameter}=disable"
    # when `migrate` runs on it (psycopg2; `ssl=` was "invalid connection option") ...
    outcome = migrate.upgrade(url)
    assert outcome.after == (migrate.head(),)
    # ... and `serve` / `worker` open their engine on it (asyncpg; `sslmode=` was a TypeError traceback)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
    # then both reached the same migrated database
    assert revision == migrate.head()


@pytest.mark.parametrize("parameter", ["sslmode", "ssl"])
async def test_a_required_tls_mode_is_honoured_by_both_drivers(postgres_server: PostgresServer, parameter: str) -> None:
    # given a URL that requires TLS of a server that offers none
    url = f"{postgres_server.url()}?{parameter}=require"
    # when each driver connects, then each refuses for want of TLS: the mode reached it (not dropped, not a TypeError)
    with pytest.raises(Exception, match=SERVER_HAS_NO_TLS):
        migrate.upgrade(url)
    engine = create_engine(url)
    try:
        with pytest.raises(Exception, match=SERVER_HAS_NO_TLS):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
