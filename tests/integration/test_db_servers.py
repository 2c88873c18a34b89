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
