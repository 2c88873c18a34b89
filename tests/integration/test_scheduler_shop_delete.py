"""The scheduler's tick while a shop's delete holds the shop, on PostgreSQL (review60b F3): the tick leaves that shop
out instead of waiting for the delete, so it never holds the other shops' rows it claimed (their pushes would wait
on them, worker threads held) nor stalls the scheduler for the delete's length (15-27 s for a 20k-order shop).

Real parts: PostgreSQL; the test holds the shop's row `FOR UPDATE` in its own connection, as the delete holds it
(`ShopRepository.get(for_delete=True)`). Counted, never timed: the tick either ends or a session waits on a lock
(`finishes_before_waiting_on_a_lock`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, text

from adapters.crypto import TokenCipher
from adapters.db import uow_factory
from adapters.db.tables import shops
from domain.polling import PollSettings
from domain.services.polling import schedule_tick
from domain.sync import SyncKind
from tests.fakes import FakeScheduledWork
from tests.fixtures.servers import POSTGRES_ONLY, opened_database
from tests.integration.db_samples import finishes_before_waiting_on_a_lock, make_shop, until_a_writer_waits_on_a_lock

POLLS = PollSettings(interval=timedelta(seconds=1), overlap=timedelta(seconds=600), settle=timedelta(0))


@dataclass
class At:
    """A clock stopped at one instant."""

    instant: datetime

    def now(self) -> datetime:
        return self.instant


@POSTGRES_ONLY
async def test_the_tick_claims_the_other_shops_refresh_without_waiting_for_a_shops_delete(
    database_url: str, cipher: TokenCipher
) -> None:
    async with opened_database(database_url) as db:
        uows = uow_factory(db, cipher)
        # given two shops whose access tokens are due for renewal at the same tick, the other shop first in id
        # order (the tick claims it before it reaches the deleted one)
        other, deleted = replace(make_shop(), id="shop-1-other"), replace(make_shop(), id="shop-2-deleted")
        async with uows() as uow:
            await uow.shops.add(other)
            await uow.shops.add(deleted)
            await uow.commit()
        due = At(max(other.tokens.access_token_expires_at, deleted.tokens.access_token_expires_at))
        work = FakeScheduledWork()

        # when the scheduler ticks while the second shop's delete holds its row FOR UPDATE
        async with db.write_engine.connect() as delete:
            await delete.execute(text("SELECT id FROM shops WHERE id = :id FOR UPDATE"), {"id": deleted.id})
            tick = asyncio.create_task(schedule_tick(uows, work, due, POLLS))
            try:
                finished = await finishes_before_waiting_on_a_lock(db, tick)
                # then the tick ended while the delete still holds the shop (before: it waited on the held row,
                # holding the other shop's row it had claimed, until the delete ended)
                assert finished, "the tick waited on the shop its delete holds"
                # and it claimed the other shop's refresh and sent its polls, nothing of the held shop's
                assert work.refreshes == [other.id]
                assert sorted((shop_id, kind) for shop_id, kind, _ in work.polls) == [
                    (other.id, SyncKind.ORDERS), (other.id, SyncKind.PRODUCTS),
                ]  # fmt: skip
            finally:
                await delete.rollback()  # the delete fails: the shop is kept
                await tick

        # then the held shop's refresh was left unclaimed, and the next tick claims it (the other's claim stands)
        async with db.read_sessionmaker() as session:
            claims = dict((await session.execute(select(shops.c.id, shops.c.access_token_refresh_claimed_at))).all())
        assert claims == {other.id: due.instant, deleted.id: None}
        await schedule_tick(uows, work, due, POLLS)
        assert work.refreshes == [other.id, deleted.id]


@POSTGRES_ONLY
async def test_the_tick_leaves_out_a_shop_whose_delete_only_waits_for_it(
    database_url: str, cipher: TokenCipher
) -> None:
    async with opened_database(database_url) as db:
        uows = uow_factory(db, cipher)
        # given two shops whose access tokens are due for renewal at the same tick
        other, deleted = replace(make_shop(), id="shop-1-other"), replace(make_shop(), id="shop-2-deleted")
        async with uows() as uow:
            await uow.shops.add(other)
            await uow.shops.add(deleted)
            await uow.commit()
        due = At(max(other.tokens.access_token_expires_at, deleted.tokens.access_token_expires_at))
        work = FakeScheduledWork()
        # and the second shop's delete waiting to take its row FOR UPDATE (its mark taken) behind another holder of
        # the row FOR KEY SHARE (an import's batch, a push)
        async with db.write_engine.connect() as holder:
            await holder.execute(text("SELECT id FROM shops WHERE id = :id FOR KEY SHARE"), {"id": deleted.id})

            async def delete_waiting_then_failing() -> None:
                async with uows() as uow:
                    assert await uow.shops.get(deleted.id, for_delete=True) is not None

            delete = asyncio.create_task(delete_waiting_then_failing())
            try:
                await until_a_writer_waits_on_a_lock(db)
                # when the scheduler ticks
                await schedule_tick(uows, work, due, POLLS)
                # then it leaves the shop whose delete waits out, as one whose delete holds it (before: PostgreSQL
                # granted it the row beside the waiting delete, which then waited for the tick's commit too)
                assert work.refreshes == [other.id]
                assert {shop_id for shop_id, _, _ in work.polls} == {other.id}
            finally:
                await holder.rollback()
                await delete  # the delete takes the shop, then fails: the shop is kept
        # and the next tick claims it
        await schedule_tick(uows, work, due, POLLS)
        assert work.refreshes == [other.id, deleted.id]
