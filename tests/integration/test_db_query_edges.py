"""Edges of the read queries and the push's reads on SQLite and PostgreSQL, found by mutation testing of the database
adapter (docs/mutation/adapters-db.md): limits that must cut, every field a line item is read back with, the
cursor's exact text, the push's reconcile candidates when one product of the shop is dirty."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from adapters.crypto import TokenCipher
from adapters.db import Database, queries, uow_factory
from adapters.db.cursors import InvalidCursorError, decode_cursor, encode_cursor
from domain.catalog import Money
from domain.inventory_push import InventoryPolicy
from domain.shops import Shop
from domain.sync import SyncKind
from tests.fixtures.inventory_pool import Pool, order, product
from tests.integration.db_samples import NOW, add_shop, make_order, make_product, make_shop, make_task
from tests.integration.pool_push_support import add_item, link


async def test_a_line_item_reads_back_every_field_it_was_imported_with(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    async with uows() as uow:
        await uow.catalog.upsert_orders(shop.id, [make_order("o1")])
        await uow.commit()
    async with database.read_sessionmaker() as session:
        page = await queries.order_page(session, "merchant-a", shop.id, 10)
    read = [
        (i.tiktok_line_item_id, i.tiktok_sku_id, i.tiktok_product_id, i.seller_sku, i.product_name, i.quantity)
        for i in page.items[0].line_items
    ]
    assert read == [
        ("o1-li0", "sku-0", "product-0", "SELLER-0", "Product 0", 1),
        ("o1-li1", "sku-1", "product-1", "SELLER-1", "Product 1", 2),
    ]
    assert [i.sale_price for i in page.items[0].line_items] == [Money(Decimal("19.90"), "USD")] * 2


async def test_a_subscription_feed_reads_at_most_its_limit_of_active_tasks(
    database: Database, cipher: TokenCipher
) -> None:
    # given three active tasks of the merchant (one per shop and kind), a second apart
    uows = uow_factory(database, cipher)
    one, two = [await add_shop(uows, make_shop("merchant-a")) for _ in range(2)]
    tasks = [
        make_task(one, SyncKind.PRODUCTS, created_at=NOW),
        make_task(one, SyncKind.ORDERS, created_at=NOW + timedelta(seconds=1)),
        make_task(two, SyncKind.PRODUCTS, created_at=NOW + timedelta(seconds=2)),
    ]
    async with uows() as uow:
        for task in tasks:
            await uow.sync_tasks.add(task)
        await uow.commit()
    # and a finished task of the merchant's, and another merchant's
    theirs = await add_shop(uows, make_shop("merchant-b"))
    day_before = NOW - timedelta(days=1)
    done, other = make_task(one, SyncKind.ORDERS, created_at=day_before), make_task(theirs, created_at=day_before)
    for task in (done, other):
        task.begin_attempt(day_before)
        task.succeed(day_before)
    async with uows() as uow:
        for task in (done, other):
            await uow.sync_tasks.add(task)
        await uow.commit()
    # when a feed follows at most two, then the two newest come
    async with database.read_sessionmaker() as session:
        followed = await queries.followed_sync_tasks(session, "merchant-a", [], 2)
        # (and with ids followed: those of the merchant's whatever their status, never another merchant's)
        with_ids = await queries.followed_sync_tasks(session, "merchant-a", [done.id, tasks[2].id, other.id], 2)
    assert set(followed) == {tasks[2].id, tasks[1].id}
    assert set(with_ids) == {tasks[2].id, tasks[1].id, done.id}


CURSOR_OF_SHOPS = "WyJzaG9wcyIsIjIwMjUtMDMtMDFUMTI6MDA6MDArMDA6MDAiLCIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJd"


def test_a_cursor_is_urlsafe_base64_of_its_list_time_and_id() -> None:
    # [ "shops", "2025-03-01T12:00:00+00:00", "0123456789abcdef0123456789abcdef" ] as compact JSON (72 bytes)
    at = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    cursor = encode_cursor("shops", at, "0123456789abcdef0123456789abcdef")
    assert cursor == CURSOR_OF_SHOPS
    assert decode_cursor(cursor, "shops") == (at, "0123456789abcdef0123456789abcdef")


def test_a_cursor_of_another_list_or_of_a_release_without_lists_is_refused() -> None:
    # given a shops cursor, and the same position as a cursor of the release before lists had a kind
    before_kinds = "WyIyMDI1LTAzLTAxVDEyOjAwOjAwKzAwOjAwIiwiMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYiXQ"
    # when orders or shops read them, then only shops reads its own
    with pytest.raises(InvalidCursorError, match=r"^Invalid cursor\.$"):
        decode_cursor(CURSOR_OF_SHOPS, "orders")
    with pytest.raises(InvalidCursorError, match=r"^Invalid cursor\.$"):
        decode_cursor(before_kinds, "shops")


def test_a_cursor_whose_time_overflows_in_utc_is_refused_with_the_usual_message() -> None:
    far = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-12)))  # year 10000 in UTC
    cursor = encode_cursor("shops", far, "0123456789abcdef0123456789abcdef")
    with pytest.raises(InvalidCursorError, match=r"^Invalid cursor\.$"):
        decode_cursor(cursor, "shops")


@pytest.mark.parametrize("after", ["\x00", "x", "0", "\n"], ids=["NUL", "letter", "33rd digit", "newline"])
def test_a_cursor_whose_row_id_has_anything_after_its_32_hex_digits_is_refused(after: str) -> None:
    forged = encode_cursor("shops", datetime(2025, 3, 1, 12, 0, tzinfo=UTC), "0123456789abcdef0123456789abcdef" + after)
    with pytest.raises(InvalidCursorError, match=r"^Invalid cursor\.$"):  # a full match: it never reaches the database
        decode_cursor(forged, "shops")


async def _linked_shop(database: Database, cipher: TokenCipher, products: list[str], shop: Shop | None = None) -> str:
    """A shop of merchant-a (`shop`, else a new one) with `products` imported (two SKUs each) and every SKU linked
    to an item of its own."""
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, shop or make_shop("merchant-a"))
    async with uows() as uow:
        await uow.catalog.upsert_products(shop.id, [make_product(p) for p in products])
        await uow.commit()
    for tiktok_product_id in products:
        for n in range(2):
            item = await add_item(database, "merchant-a", f"ITEM-{shop.id[:6]}-{tiktok_product_id}-{n}", on_hand=5)
            await link(database, shop, f"{tiktok_product_id}-sku{n}", item, tiktok_product_id)
    return shop.id


async def test_a_dirty_product_is_no_reconcile_candidate_and_the_others_are(
    database: Database, cipher: TokenCipher
) -> None:
    shop_id = await _linked_shop(database, cipher, ["p1", "p2"])
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        await uow.inventory_push.mark_dirty(shop_id, ["p1"], NOW)
        await uow.commit()
    async with uows() as uow:
        candidates = await uow.inventory_push.reconcile_candidates(shop_id, NOW)
    assert sorted(c.tiktok_sku_id for c in candidates) == ["p2-sku0", "p2-sku1"]


async def test_shops_to_reconcile_come_in_id_order_up_to_the_limit(database: Database, cipher: TokenCipher) -> None:
    shop_ids = sorted([await _linked_shop(database, cipher, ["p1"]) for _ in range(3)])
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        first_two = await uow.inventory_push.shops_to_reconcile(NOW, limit=2, now=NOW)
        every = await uow.inventory_push.shops_to_reconcile(NOW, limit=10, now=NOW)
    assert first_two == shop_ids[:2]
    assert every == shop_ids


async def test_the_scheduler_lists_leave_out_every_shop_that_cannot_sync(
    database: Database, cipher: TokenCipher
) -> None:
    """Rule (domain.sync.ensure_shop_can_sync): a revoked or expired shop cannot sync, nor one whose tokens no
    configured key decrypts (SHOPBRIDGE_ENCRYPTION_KEY lost or changed: REVOKED, domain.shops.shop_status). The
    scheduler's lists must leave such shops out, else each tick queues a poll, refresh, push or reconcile of it."""
    # given four shops with linked SKUs and a dirty product each: one usable, one revoked, one whose authorization
    # ended, one whose tokens were encrypted with a key this process no longer has
    revoked, ended = make_shop("merchant-a"), make_shop("merchant-a")
    revoked.revoke(NOW - timedelta(days=1))
    ended.tokens = replace(ended.tokens, refresh_token_expires_at=NOW - timedelta(seconds=1))
    lost_key = TokenCipher(Fernet.generate_key().decode())
    usable = await _linked_shop(database, cipher, ["p1"])
    others = [
        await _linked_shop(database, cipher, ["p1"], revoked),
        await _linked_shop(database, cipher, ["p1"], ended),
        await _linked_shop(database, lost_key, ["p1"]),
    ]
    uows = uow_factory(database, cipher)
    async with uows() as uow:
        for shop_id in [usable, *others]:
            await uow.inventory_push.mark_dirty(shop_id, ["p1"], NOW)
        await uow.commit()

    # when the scheduler lists shops to poll and refresh, to push and to reconcile
    async with uows() as uow:
        scheduled = [s.shop_id for s in await uow.shops.schedules(NOW)]
        due = await uow.inventory_push.shops_due(NOW, limit=10)
        to_reconcile = await uow.inventory_push.shops_to_reconcile(NOW, limit=10, now=NOW)

    # then only the usable shop is listed
    assert (scheduled, due, to_reconcile) == ([usable], [usable], [usable])


async def test_the_units_ingested_since_a_push_are_the_reserved_or_deducted_ones_written_after_it(
    database: Database, cipher: TokenCipher
) -> None:
    # given a SKU auto-linked by its seller SKU, then three units of it sold in two open orders (reserved at NOW)
    world = Pool(database, cipher)
    shop = await world.shop()
    await world.products(shop, product("p1", ("s1", "TEE-RED", 10)))
    await world.orders(shop, order("o1", "AWAITING_SHIPMENT", "s1", "s1"), order("o2", "AWAITING_SHIPMENT", "s1"))
    async with world.uows() as uow:
        before = await uow.inventory_push.ingested_since(shop.id, {"s1": NOW - timedelta(seconds=1)})
        after = await uow.inventory_push.ingested_since(shop.id, {"s1": NOW})
    assert (before, after) == ({"s1": 3}, {"s1": 0})
    # when, after a push at NOW, o2 ships (its reserved line is deducted) and o3 comes in already shipped
    world.clock.advance(timedelta(minutes=1))
    await world.orders(shop, order("o2", "IN_TRANSIT", "s1"), order("o3", "IN_TRANSIT", "s1", "s1"))
    # then o3's two units count as ingested since the push: a sale first seen shipped is as seen as an open one;
    # o2's do not: its unit left TikTok's available when it was reserved, before the push, and its shipment keeps
    # that time (`took_units_now`; counted again, it hid an unseen sale from the fence: an oversell)
    async with world.uows() as uow:
        shipped = await uow.inventory_push.ingested_since(shop.id, {"s1": NOW})
    assert shipped == {"s1": 2}


async def test_an_outbox_row_is_claimed_by_one_holder_of_its_shop_until_pushed_or_its_lease_lapses(
    database: Database, cipher: TokenCipher
) -> None:
    uows = uow_factory(database, cipher)
    a, b = [await add_shop(uows, make_shop("merchant-a")) for _ in range(2)]
    lease = timedelta(seconds=60)

    def at(seconds: int) -> datetime:
        return NOW + timedelta(seconds=seconds)

    # given product p1 dirty in two shops (TikTok product ids are per shop; the same id may come twice)
    async with uows() as uow:
        await uow.inventory_push.mark_dirty(a.id, ["p1"], NOW)
        await uow.inventory_push.mark_dirty(b.id, ["p1"], NOW)
        await uow.commit()
    # when w1 claims shop A's: nobody else gets it during the lease, and shop B's row stays free
    async with uows() as uow:
        first = await uow.inventory_push.claim_due(a.id, "w1", NOW, lease, 10)
        held = await uow.inventory_push.claim_due(a.id, "w2", at(59), lease, 10)
        of_b = await uow.inventory_push.claim_due(b.id, "w2", NOW, lease, 10)
        await uow.commit()
    assert [(c.shop_id, c.tiktok_product_id, c.dirty_version) for c in first] == [(a.id, "p1", 1)]
    assert held == []
    assert [(c.shop_id, c.tiktok_product_id) for c in of_b] == [(b.id, "p1")]
    # once the lease lapsed, w3 claims it; w1's late finish is refused and marks the row dirty again
    async with uows() as uow:
        taken = await uow.inventory_push.claim_due(a.id, "w3", at(61), lease, 10)
        late = await uow.inventory_push.finish_claim(
            first[0], "w1", at(62), pushed=True, next_attempt_at=at(62), error=None
        )
        await uow.commit()
    assert ([c.dirty_version for c in taken], late) == ([1], False)
    # so w3's push of version 1 leaves version 2 due, and once that is pushed nothing is due
    async with uows() as uow:
        done = await uow.inventory_push.finish_claim(
            taken[0], "w3", at(63), pushed=True, next_attempt_at=at(63), error=None
        )
        again = await uow.inventory_push.claim_due(a.id, "w4", at(64), lease, 10)
        await uow.commit()
    assert (done, [c.dirty_version for c in again]) == (True, [2])
    async with uows() as uow:
        await uow.inventory_push.finish_claim(again[0], "w4", at(65), pushed=True, next_attempt_at=at(65), error=None)
        await uow.commit()
    async with uows() as uow:
        assert await uow.inventory_push.claim_due(a.id, "w5", at(66), lease, 10) == []


async def test_a_shops_inventory_policy_reads_back_every_setting(database: Database, cipher: TokenCipher) -> None:
    uows = uow_factory(database, cipher)
    shop = await add_shop(uows, make_shop("merchant-a"))
    saved = InventoryPolicy(push_enabled=False, share_percent=40, max_quantity=25, out_of_stock_threshold=3)
    async with uows() as uow:
        await uow.inventory_push.save_policy(shop.id, saved, NOW)
        await uow.commit()
    async with uows() as uow:
        read = await uow.inventory_push.policy(shop.id)
    assert (read.push_enabled, read.share_percent, read.max_quantity, read.out_of_stock_threshold) == (False, 40, 25, 3)
