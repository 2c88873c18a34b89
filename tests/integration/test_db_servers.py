"""The throwaway servers the database tests stand on: Redis answers, PostgreSQL databases are fresh per test."""

from __future__ import annotations

import redis.asyncio as redis

from tests.fixtures.servers import PostgresServer, RedisServer


async def test_the_redis_server_answers(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert await client.ping() is True
        await client.set("shopbridge:test", "1")
        assert await client.get("shopbridge:test") == b"1"
    finally:
        await client.aclose()


def test_each_postgres_database_is_fresh(postgres_server: PostgresServer, postgres_url: str) -> None:
    assert postgres_url.startswith(f"postgresql+asyncpg://postgres@127.0.0.1:{postgres_server.port}/test_")


def test_a_fresh_postgres_database_starts_with_the_templates_relation_cache(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    # given a test's fresh copy of the migrated template, which nothing has connected to yet
    name = postgres_url.rsplit("/", 1)[1]
    connection = postgres_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,))
            (oid,) = cursor.fetchone()
    finally:
        connection.close()
    # then it holds the template's relation-cache init file: its first backend loads it instead of rebuilding it from
    # the catalogs (a file-by-file copy, `COPY_STRATEGY`; PostgreSQL 15's default WAL_LOG copy leaves it out)
    assert (postgres_server.data_dir / "base" / str(oid) / "pg_internal.init").is_file()
