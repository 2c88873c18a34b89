"""`UnitOfWork.writers_waiting`: whether another writer waits for a lock the open transaction holds, the signal on
which an import's writer commits after its current batch instead of taking more (`domain.services.importer._store`).

SQLite: this process's writers waiting for their write turn (`adapters.db.write_turns`); PostgreSQL: any session
blocked by the transaction's backend (`pg_blocking_pids`), and only by it.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.tables import shops
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.db_samples import add_shop, make_shop


async def _delete_shop(database: Database, cipher: TokenCipher, shop_id: str) -> bool:
    async with uow_factory(database, cipher)() as uow:
        deleted = await uow.shops.delete(shop_id)
        await uow.commit()
    return deleted


async def test_a_shop_delete_waiting_for_the_import_s_transaction_is_seen_and_runs_once_it_commits(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())
    async with uows() as uow:
        # given a transaction holding the shop against its delete, as an import's batch does
        assert await uow.shops.hold(shop.id)
        assert not await uow.writers_waiting()  # nobody waits yet
        # when the merchant deletes the shop meanwhile
        deleting = asyncio.create_task(_delete_shop(database, cipher, shop.id))
        # then the transaction sees a writer waiting for it, and the delete does wait
        await until(uow.writers_waiting, "the delete seen waiting")
        assert not deleting.done()
        await uow.commit()
    # and once it commits, the delete goes through
    assert await asyncio.wait_for(deleting, DEADLINE_SECONDS)


async def test_a_transaction_blocking_nobody_is_not_fooled_by_other_sessions_waiting_on_postgres(
    postgres_url: str, cipher: TokenCipher
) -> None:
    # given two other sessions, one waiting for a lock the other holds (not for anything of ours)
    database = Database(postgres_url)
    uows = uow_factory(database, cipher)
    try:
        shop = await add_shop(uows, make_shop())
        other = await add_shop(uows, make_shop(tiktok_shop_id="other-shop"))
        async with database.write_sessionmaker() as holder:
            await holder.execute(sa.select(shops.c.id).where(shops.c.id == other.id).with_for_update())
            deleting = asyncio.create_task(_delete_shop(database, cipher, other.id))
            waiting = sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")

            async def someone_waits() -> bool:
                async with database.read_sessionmaker() as session:
                    return bool((await session.execute(waiting)).scalar_one())

            await until(someone_waits, "the other delete waiting")
            # when a transaction of ours holds its own shop
            async with uows() as uow:
                assert await uow.shops.hold(shop.id)
                # then nobody waits for it
                assert not await uow.writers_waiting()
                await uow.commit()
            await holder.commit()
        assert await asyncio.wait_for(deleting, DEADLINE_SECONDS)
    finally:
        await database.dispose()
