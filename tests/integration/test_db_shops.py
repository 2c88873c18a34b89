"""SqlShopRepository on SQLite and PostgreSQL: round trip, encrypted tokens, uniqueness under races, delete."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert, select, text

from adapters.crypto import TokenCipher
from adapters.db import ConcurrentUpdateError, Database, queries, uow_factory
from adapters.db.tables import authorization_requests, shop_inventory_policies, shops
from domain.authorization import AuthorizationRequest
from domain.errors import DomainError, ErrorCode
from domain.intake import Notification, WebhookEvent
from domain.polling import PollCursor
from domain.services.shops import delete_shop
from domain.shops import Region, ShopStatus
from domain.sync import SyncKind, SyncTask
from tests.fakes import FakeClock, FakeEventPublisher
from tests.fixtures.waiting import DEADLINE_SECONDS
from tests.integration.db_samples import (
    NOW,
    add_shop,
    finishes_before_waiting_on_a_lock,
    make_order,
    make_product,
    make_shop,
    make_task,
    row_counts,
    until_a_writer_waits_on_a_lock,
)


async def test_a_shop_round_trips_with_its_tokens_encrypted_at_rest(database: Database, cipher: TokenCipher) -> None:
    # given a shop saved through a unit of work
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())

    # when it is read back, by id and by TikTok shop id
    async with uows() as uow:
        by_id = await uow.shops.get(shop.id)
        by_tiktok_id = await uow.shops.get_by_tiktok_shop_id(shop.tiktok_shop_id)

    # then it is equal, tokens decrypted, datetimes aware UTC
    assert by_id == shop
    assert by_tiktok_id == shop
    assert by_id is not None and by_id.created_at.utcoffset() == timedelta(0)

    # and the stored columns hold ciphertext, never the plaintext tokens
    async with database.read_sessionmaker() as session:
        raw = (await session.execute(select(shops).where(shops.c.id == shop.id))).mappings().one()
    stored = " ".join(str(value) for value in raw.values())
    assert shop.tokens.access_token not in stored
    assert shop.tokens.refresh_token not in stored
    assert cipher.decrypt(raw["access_token_encrypted"]) == shop.tokens.access_token


async def test_get_is_scoped_to_the_merchant(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop(merchant_id="merchant-a"))
    async with uows() as uow:
        assert await uow.shops.get(shop.id, merchant_id="merchant-a") == shop
        assert await uow.shops.get(shop.id, merchant_id="merchant-b") is None


async def test_a_taken_tiktok_shop_is_refused_and_the_unit_of_work_goes_on(
    database: Database, cipher: TokenCipher
) -> None:
    # given a TikTok shop connected by merchant A
    uows = uow_factory(database, cipher)
    first = await add_shop(uows, make_shop(merchant_id="merchant-a", tiktok_shop_id="7001"))

    # when merchant B connects the same TikTok shop
    async with uows() as uow:
        with pytest.raises(DomainError) as refused:
            await uow.shops.add(make_shop(merchant_id="merchant-b", tiktok_shop_id="7001"))
        # then SHOP_ALREADY_CONNECTED, and the same transaction can still write
        assert refused.value.code is ErrorCode.SHOP_ALREADY_CONNECTED
        other = make_shop(merchant_id="merchant-b", tiktok_shop_id="7002")
        await uow.shops.add(other)
        await uow.commit()

    async with uows() as uow:
        assert await uow.shops.get(first.id) == first
        assert await uow.shops.get(other.id) == other


async def test_two_concurrent_completions_of_one_tiktok_shop_exactly_one_wins(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    started = asyncio.Event()

    async def complete(merchant_id: str, hold: bool) -> str:
        async with uows() as uow:
            try:
                await uow.shops.add(make_shop(merchant_id=merchant_id, tiktok_shop_id="7777"))
            except DomainError as error:
                return error.code.value
            if hold:
                # Keep the first transaction open while the second one tries: the race window.
                started.set()
                await until_a_writer_waits_on_a_lock(database)  # the other writer is blocked behind us
            await uow.commit()
            return "won"

    async def second() -> str:
        await started.wait()
        return await complete("merchant-b", hold=False)

    results = await asyncio.gather(complete("merchant-a", hold=True), second())

    assert sorted(results) == ["SHOP_ALREADY_CONNECTED", "won"]
    async with database.read_sessionmaker() as session:
        owners = (await session.execute(select(shops.c.merchant_id).where(shops.c.tiktok_shop_id == "7777"))).all()
    assert [tuple(row) for row in owners] == [("merchant-a",)]


async def test_update_saves_changes_and_refuses_a_stale_copy(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())
    stale = replace(shop)

    async with uows() as uow:
        loaded = await uow.shops.get(shop.id)
        assert loaded is not None
        loaded.rename("  Renamed  ")
        loaded.refresh_tokens(replace(loaded.tokens, access_token="ROW_new-access"))
        loaded.revoke(NOW)
        await uow.shops.update(loaded)
        await uow.commit()

    async with uows() as uow:
        again = await uow.shops.get(shop.id)
    assert again is not None
    assert (again.name, again.tokens.access_token, again.revoked_at, again.version) == (
        "Renamed",
        "ROW_new-access",
        NOW,
        2,
    )

    # a copy read before that update would overwrite it: refused
    async with uows() as uow:
        stale.region = Region.UK
        with pytest.raises(ConcurrentUpdateError):
            await uow.shops.update(stale)


async def test_every_read_of_a_shop_ends_its_authorization_at_the_announced_end(
    database: Database, cipher: TokenCipher
) -> None:
    """Rule (domain.shops.authorization_end): the end is min(refresh token's expiry, webhook 7's end). The domain
    entity, the GraphQL read model and the scheduler's view are built from different queries: all must agree."""
    # given a shop whose refresh token expires in a year, and a notice that its authorization ends in 5 days
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())
    ends = NOW + timedelta(days=5)
    async with uows() as uow:
        loaded = await uow.shops.get(shop.id)
        assert loaded is not None and loaded.note_authorization_end(ends, NOW, NOW)
        await uow.shops.update(loaded)
        await uow.commit()

    # when it is read as an entity, as a read model and as the scheduler's view
    async with uows() as uow:
        entity = await uow.shops.get(shop.id)
        (schedule,) = [s for s in await uow.shops.schedules(NOW) if s.shop_id == shop.id]
    async with database.read_sessionmaker() as session:
        read = (await queries.shops_by_ids(session, shop.merchant_id, [shop.id]))[shop.id]

    # then each ends on the announced day: EXPIRING_SOON, still syncing until then, not after
    assert entity is not None
    assert (entity.expires_at, read.expires_at, schedule.expires_at) == (ends, ends, ends)
    assert (entity.status(NOW), read.status(NOW)) == (ShopStatus.EXPIRING_SOON, ShopStatus.EXPIRING_SOON)
    assert schedule.may_sync(NOW) and not schedule.may_sync(ends)
    # and the refresh token keeps its own expiry, on which its renewal is planned
    assert (entity.tokens.refresh_token_expires_at, read.refresh_token_expires_at) == (NOW + timedelta(days=365),) * 2


async def _shop_with_everything(database: Database, cipher: TokenCipher, merchant_id: str) -> str:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop(merchant_id=merchant_id))
    async with uows() as uow:
        await uow.catalog.upsert_products(shop.id, [make_product(f"p{n}") for n in range(3)])
        await uow.catalog.upsert_orders(shop.id, [make_order(f"o{n}") for n in range(4)])
        # the pool: links, items, outbox marks (auto-link), ledger rows (orders of unlinked SKUs wait), a policy
        await uow.inventory.auto_link(shop.id, [f"p{n}" for n in range(3)])
        await uow.inventory.apply_orders(shop.id, [make_order(f"o{n}") for n in range(4)])
        # and an open line of a linked SKU: it reserves, and counts in the shop's running units of the SKU
        sold = make_order("o-linked", items=1)
        sold = replace(sold, line_items=(replace(sold.line_items[0], tiktok_sku_id="p0-sku0"),))
        await uow.catalog.upsert_orders(shop.id, [sold])
        await uow.inventory.apply_orders(shop.id, [sold])
        await uow.session.execute(insert(shop_inventory_policies).values(shop_id=shop.id, updated_at=NOW))
        await uow.sync_tasks.add(make_task(shop, SyncKind.PRODUCTS))
        await uow.sync_tasks.add(make_task(shop, SyncKind.ORDERS))
        await uow.poll_cursors.save(PollCursor(shop.id, SyncKind.ORDERS, cursor_at=NOW), NOW)
        request, _ = AuthorizationRequest.start_reauthorization(merchant_id, shop.id, shop.region, shop.name, NOW)
        await uow.authorizations.add(request)
        notification = Notification(1, None, shop.tiktok_shop_id, None, {"order_id": "1"})
        await uow.webhook_events.add(WebhookEvent.receive(notification, shop.id, NOW))
        await uow.commit()
    return shop.id


async def test_delete_removes_every_row_of_the_shop_and_nothing_else(database: Database, cipher: TokenCipher) -> None:
    # given two shops with products, SKUs, stock, orders, line items, tasks and a pending re-authorization
    doomed = await _shop_with_everything(database, cipher, "merchant-a")
    kept = await _shop_with_everything(database, cipher, "merchant-b")
    kept_before = await row_counts(database, kept)
    assert all(count > 0 for count in (await row_counts(database, doomed)).values())

    # when one is deleted
    async with uow_factory(database, cipher)() as uow:
        assert await uow.shops.delete(doomed) is True
        await uow.commit()

    # then none of its rows remain, and the other shop is untouched
    assert set((await row_counts(database, doomed)).values()) == {0}
    assert await row_counts(database, kept) == kept_before
    async with uow_factory(database, cipher)() as uow:
        assert await uow.shops.delete(doomed) is False


async def test_the_foreign_keys_alone_cascade_a_shop_delete(database: Database, cipher: TokenCipher) -> None:
    # The repository deletes children explicitly; the cascade is the backstop (SQLite needs foreign_keys=ON).
    shop_id = await _shop_with_everything(database, cipher, "merchant-a")
    async with database.write_sessionmaker() as session:
        await session.execute(delete(shops).where(shops.c.id == shop_id))
        await session.commit()
    assert set((await row_counts(database, shop_id)).values()) == {0}


async def test_the_sqlite_engine_runs_with_wal_and_foreign_keys(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.write_sessionmaker() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == 30_000
            # a writer's cache and checkpoint sized for an import's transactions (SQLITE_WRITER_PRAGMAS)
            assert (await session.execute(text("PRAGMA cache_size"))).scalar_one() == -32768
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 16384
            assert (await session.execute(text("PRAGMA journal_size_limit"))).scalar_one() == 64 * 1024 * 1024
            assert (await session.execute(text("PRAGMA temp_store"))).scalar_one() == 2  # MEMORY
        async with db.read_sessionmaker() as session:
            assert (await session.execute(text("PRAGMA cache_size"))).scalar_one() == -2000  # SQLite's default
            # the read engine refuses writes
            with pytest.raises(Exception, match=r"readonly|attempt to write"):
                await session.execute(delete(authorization_requests))
    finally:
        await db.dispose()


def _open_temp_files() -> list[str]:
    """The files this process holds open whose name is SQLite's temp file prefix (`etilqs_`, deleted at open)."""
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return [path for path in paths if "etilqs_" in path]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads the process's open files from /proc")
async def test_a_write_statement_inside_a_transaction_keeps_its_statement_journal_in_memory(sqlite_url: str) -> None:
    # given a table of 20,000 rows under a unique index (a statement on it may fail halfway: a statement journal)
    db = Database(sqlite_url)
    try:
        async with db.write_sessionmaker() as session, session.begin():
            await session.execute(text("CREATE TABLE journal_probe (k INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            await session.execute(
                text(
                    "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 20000) "
                    "INSERT INTO journal_probe SELECT k, printf('%040d', k) FROM n"
                )
            )
        # when one statement of a write transaction rewrites every page of it (megabytes: past SQLite's 64 KiB of
        # statement journal kept in memory by default before it spills to a temp file)
        async with db.write_sessionmaker() as session, session.begin():
            await session.execute(text("UPDATE journal_probe SET v = v || 'x'"))
            # then no temp file holds that journal (sqlwrites74: an import's upserts wrote ~30x the database there)
            assert _open_temp_files() == []
    finally:
        await db.dispose()


async def test_deleting_a_shop_through_the_service_cancels_its_tasks_and_signals_after_the_commit(
    database: Database, cipher: TokenCipher
) -> None:
    # given a shop with a queued and a running task, on a real database
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    queued, running = make_task(shop, SyncKind.PRODUCTS), make_task(shop, SyncKind.ORDERS)
    running.begin_attempt(NOW)
    async with uows() as uow:
        await uow.sync_tasks.add(queued)
        await uow.sync_tasks.add(running)
        await uow.commit()
    seen: list[tuple[str, str, bool, bool]] = []

    class Publisher(FakeEventPublisher):
        async def task_changed(self, task: SyncTask) -> None:  # what a subscriber would re-read at this moment
            async with uows() as uow:
                gone = await uow.sync_tasks.get(task.id) is None and await uow.shops.get(shop.id) is None
            seen.append((task.id, task.status.value, task.cancel_requested, gone))

    # when the merchant deletes it
    await delete_shop(uows, FakeClock(NOW), "merchant-a", shop.id, Publisher())

    # then the queued task was cancelled and the running one asked to stop, each signalled once the rows are gone
    assert sorted(seen) == sorted([(queued.id, "CANCELLED", True, True), (running.id, "RUNNING", True, True)])
    assert set((await row_counts(database, shop.id)).values()) == {0}


async def test_a_batch_holding_its_shop_lets_the_shop_be_renamed_and_makes_its_delete_wait(
    postgres_url: str, cipher: TokenCipher
) -> None:
    # given an import's batch of a shop, its transaction open, holding the shop (`hold`)
    database = Database(postgres_url)
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop())

    async def rename() -> None:
        async with uows() as uow:
            loaded = await uow.shops.get(shop.id)
            assert loaded is not None
            loaded.rename("Renamed")
            await uow.shops.update(loaded)
            await uow.commit()

    async def delete_it() -> None:
        async with uows() as uow:
            assert await uow.shops.get(shop.id, for_delete=True) is not None
            assert await uow.shops.delete(shop.id)
            await uow.commit()

    try:
        async with uows() as batch:
            assert await batch.shops.hold(shop.id)
            # when the merchant renames the shop meanwhile
            renaming = asyncio.create_task(rename())
            # then the rename commits without waiting for the batch (it waited for the batch's whole transaction:
            # up to 1.4 s during a large import, bench 9)
            assert await finishes_before_waiting_on_a_lock(database, renaming), "the rename waited for the batch's lock"
            await renaming
            # and a delete of the shop does wait for the batch, which then finds its rows as it left them
            deleting = asyncio.create_task(delete_it())
            await until_a_writer_waits_on_a_lock(database)
            assert not deleting.done()
            await batch.commit()
        await asyncio.wait_for(deleting, DEADLINE_SECONDS)
        async with uows() as uow:
            assert not await uow.shops.hold(shop.id)  # and once it is gone, a batch finds no shop to hold
    finally:
        await database.dispose()
