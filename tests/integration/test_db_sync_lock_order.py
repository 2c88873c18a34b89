"""A shop's row before its sync tasks' rows, in every transaction that locks both (PostgreSQL; SQLite runs one writer
at a time): the order the importer (`importer._begin`), a shop's delete, `syncStart` and the polls take them in.

CI run 1625 (`test_rename[postgres]`): right after a connection whose webhook registration failed, the two imports'
messages asked whether they still wait (`webhook_registration.import_waits_for_registration`), each locking its own
task's row and then the shop's; the ORDERS one then the PRODUCTS task's row as well (does the import ahead wait?).
ORDERS held the shop and waited for the PRODUCTS task; PRODUCTS held its task and waited for the shop, queued
behind a `shopRename` that waited too: PostgreSQL aborted the rename (40P01), an INTERNAL_SERVER_ERROR to the
merchant.

The test holds the shop's row as the rename did, lets the ORDERS look, then the PRODUCTS look, wait for it (in that
order, so the ORDERS look gets the shop first when the rename ends), and then lets it go.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.uow import SqlUnitOfWork
from domain.services.webhook_registration import import_waits_for_registration
from domain.sync import CONNECTION_KINDS, SyncKind, SyncTask, SyncTrigger
from tests.fakes import FakeClock
from tests.fixtures.servers import POSTGRES_ONLY
from tests.integration.db_samples import NOW, add_shop, make_shop, until_a_writer_waits_on_a_lock

pytestmark = POSTGRES_ONLY

LONGEST = timedelta(seconds=30)  # workers.actors.REGISTRATION_WAIT_LONGEST
_HOLD_SHOP = text("SELECT id FROM shops WHERE id = :id FOR NO KEY UPDATE")  # what a rename's `shops.get` takes


async def test_a_connections_imports_asking_whether_they_wait_take_the_shop_before_their_tasks(
    database: Database, cipher: TokenCipher
) -> None:
    # given a shop just connected whose webhook registration failed (so its imports wait no more for it), and the two
    # imports its connection queued, neither begun
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, dataclasses.replace(make_shop(), webhook_registration_error="GatewayError: refused"))
    tasks = {
        kind: SyncTask.queue(shop.id, shop.merchant_id, kind, SyncTrigger.AUTHORIZATION, NOW - timedelta(seconds=1))
        for kind in CONNECTION_KINDS
    }
    await _add_tasks(uows, list(tasks.values()))
    clock = FakeClock(NOW)

    def waits_for(kind: SyncKind) -> asyncio.Task[str | None]:
        return asyncio.create_task(import_waits_for_registration(uows, clock, tasks[kind].id, LONGEST))

    # when a rename holds the shop's row, the ORDERS import's message asks whether it waits, then the PRODUCTS
    # import's (each blocked on a lock before the next begins), and the rename then ends
    async with database.write_engine.connect() as rename:
        await rename.execute(_HOLD_SHOP, {"id": shop.id})
        orders = waits_for(SyncKind.ORDERS)
        await until_a_writer_waits_on_a_lock(database)
        products = waits_for(SyncKind.PRODUCTS)
        await until_a_writer_waits_on_a_lock(database, writers=2)
        await rename.commit()
        answers = await asyncio.wait_for(asyncio.gather(orders, products, return_exceptions=True), timeout=60)

    # then neither was aborted as a deadlock (40P01): the ORDERS import waits for the PRODUCTS one, which goes on
    assert answers == ["its products import", None]


async def _add_tasks(uows: Callable[[], SqlUnitOfWork], tasks: list[SyncTask]) -> None:
    async with uows() as uow:
        for task in tasks:
            await uow.sync_tasks.add(task)
        await uow.commit()
