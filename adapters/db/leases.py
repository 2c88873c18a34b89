"""Leases in the database: `try_hold(db, name, holder, ttl)` makes one process the holder of a role for a while.

Why the database rather than a Redis lock: every process of every deployment already shares it (the embedded
default has no Redis at all), so one mechanism serves SQLite and PostgreSQL, one process or many, and the tests
exercise the very code production runs. Taking or renewing is ONE conditional statement, atomic on both
databases: an UPDATE that succeeds only for the current holder or once the lease has lapsed; if no row exists
yet, an INSERT ... ON CONFLICT DO NOTHING. PostgreSQL re-checks the UPDATE's WHERE after waiting for a
concurrent writer's row lock; SQLite runs one write transaction at a time (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.db.engine import Database
from adapters.db.tables import scheduler_leases


async def try_hold(db: Database, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease `name` for `holder` until `now + ttl`; False while another holder's is current."""
    leases = scheduler_leases.c
    async with db.write_sessionmaker() as session, session.begin():
        renewed = await session.execute(
            update(scheduler_leases)
            .where(leases.name == name, or_(leases.holder == holder, leases.expires_at <= now))
            .values(holder=holder, expires_at=now + ttl)
        )
        if renewed.rowcount == 1:  # type: ignore[attr-defined]
            return True
        insert = postgresql.insert if db.dialect_name == "postgresql" else sqlite.insert
        created = await session.execute(
            insert(scheduler_leases)
            .values(name=name, holder=holder, expires_at=now + ttl)
            .on_conflict_do_nothing(index_elements=[leases.name])
        )
        return bool(created.rowcount == 1)  # type: ignore[attr-defined]


async def release(db: Database, name: str, holder: str, now: datetime) -> None:
    """Give the lease up at shutdown, so that another process takes over at its next tick, not after the TTL."""
    leases = scheduler_leases.c
    async with db.write_sessionmaker() as session, session.begin():
        await session.execute(
            update(scheduler_leases).where(leases.name == name, leases.holder == holder).values(expires_at=now)
        )
