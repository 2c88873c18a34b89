"""The webhook intake while a shop's delete holds the shop, on PostgreSQL (break66 F3).

Found by attack: a shop's delete holds its row `FOR UPDATE` for its whole transaction (15-27 s on a 20k-order shop,
README "Deleting a large shop"), and the worker's runs of that shop were taught not to wait for it. The intake was
not: a push for that shop resolved it, then its INSERT's foreign-key check (`FOR KEY SHARE` of the shop's row) waited
for the delete. The intake has one writer per API process (group commit), so every push to that process, any
merchant's, waited behind it, past TikTok's 3 s; and once the delete committed, the key check failed the whole
batch, other shops' pushes with it, with a 500 and an ERROR traceback. Now such a push is answered 500 at once,
nothing of it stored (TikTok retries it in 2 min: the shop is gone by then, or kept if the delete rolled back), and
the others of its batch are stored and answered 200, never waiting on the deleted shop's row.

Real parts: PostgreSQL, the API process's intake as `gql.container.build_intake` wires it (its own connection,
`inbox.receive_notifications`); the test holds the shop's row in its own connection as the delete holds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.crypto import TokenCipher
from adapters.db import Database, uow_factory
from adapters.db.shop_deletes import delete_mark_key
from domain.clock import SystemClock
from domain.intake import Notification
from gql.container import build_intake
from gql.webhooks.batcher import IntakeUnavailableError
from tests.fakes import FakeTaskQueue
from tests.fixtures.servers import POSTGRES_ONLY
from tests.integration.db_samples import add_shop, finishes_before_waiting_on_a_lock, make_shop


@asynccontextmanager
async def _held(db: Database, shop_id: str) -> AsyncIterator[AsyncConnection]:
    """The shop held by the test's own connection as its delete holds it (`delete_shop`: its delete mark, then its row
    `FOR UPDATE`); rolled back on exit (a delete that failed: the shop is kept)."""
    async with db.write_engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": delete_mark_key(shop_id)})
        await holder.execute(text("SELECT id FROM shops WHERE id = :id FOR UPDATE"), {"id": shop_id})
        try:
            yield holder
        finally:
            await holder.rollback()


@POSTGRES_ONLY
async def test_a_push_for_a_shop_its_delete_holds_is_refused_at_once_and_the_others_are_stored(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    deleted = await add_shop(uows, make_shop("merchant-a"))
    other = await add_shop(uows, make_shop("merchant-b"))
    queue = FakeTaskQueue()
    intake = build_intake(database, cipher, SystemClock(), queue)
    try:
        # given the first shop's row held by its delete
        async with _held(database, deleted.id):
            # when a push for it and one for another merchant's shop arrive together (one batch)
            pushes = [
                Notification(1, "held-1", deleted.tiktok_shop_id, 0, {"order_id": "1"}),
                Notification(1, "other-1", other.tiktok_shop_id, 0, {"order_id": "2"}),
            ]
            answers = asyncio.ensure_future(
                asyncio.gather(*(intake.submit(push) for push in pushes), return_exceptions=True)
            )
            # then the batch is written without waiting on the held row (was: its key check waited for the delete,
            # and every push of the process behind it)
            assert await finishes_before_waiting_on_a_lock(database, answers)
            held_answer, other_answer = answers.result()
            # and the held shop's push is refused (500: TikTok retries it), the other stored for its shop
            assert isinstance(held_answer, IntakeUnavailableError), held_answer
            assert not isinstance(other_answer, BaseException) and other_answer is not None
            assert other_answer.shop_id == other.id
            # and a push arriving while the delete still holds the shop is refused at once too, not queued behind it
            late = asyncio.ensure_future(intake.submit(Notification(1, "held-2", deleted.tiktok_shop_id, 0, {})))
            assert await finishes_before_waiting_on_a_lock(database, late)
            with pytest.raises(IntakeUnavailableError):
                late.result()
        # when the delete rolls back (the shop is kept), TikTok's retry of the refused push is stored for it
        retried = await intake.submit(Notification(1, "held-1", deleted.tiktok_shop_id, 0, {"order_id": "1"}))
        assert retried is not None and retried.shop_id == deleted.id
    finally:
        await intake.aclose()
    assert sorted(queue.webhook_events) == sorted({other.id, deleted.id})


@POSTGRES_ONLY
async def test_another_merchants_delete_of_a_shop_id_does_not_refuse_its_owners_pushes(
    database: Database, cipher: TokenCipher
) -> None:
    """review66 R1: `shopDelete` with another merchant's shop id took that shop's delete mark before it found the shop
    was not the caller's, and while its unit of work lasted the owner's pushes were refused (500)."""
    uows = uow_factory(database, cipher)
    owned = await add_shop(uows, make_shop("merchant-a"))
    intake = build_intake(database, cipher, SystemClock(), FakeTaskQueue())
    try:
        # given merchant B's delete of merchant A's shop id, which finds no shop of B's (NOT_FOUND coming)
        async with uows() as uow:
            assert await uow.shops.get(owned.id, "merchant-b", for_delete=True) is None
            # when A's shop's push arrives before that unit of work has rolled back
            answer = await intake.submit(Notification(1, "a-1", owned.tiktok_shop_id, 0, {"order_id": "1"}))
            # then it is stored for A's shop
            assert answer is not None and answer.shop_id == owned.id
    finally:
        await intake.aclose()
