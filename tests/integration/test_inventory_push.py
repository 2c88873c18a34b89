"""The pool's push below GraphQL: real database (both), the sandbox over HTTP as TikTok, `push_shop` called the way
the `push_inventory` actor calls it. Items and links are written straight into the tables (linking is tested
with the pool itself); each stock change marks the outbox dirty in its transaction, as the pool's services do."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from domain.clock import SystemClock
from domain.inventory_push import InventoryPolicy, push_backoff
from domain.ports import UpsertCounts
from domain.services.intake import store_fetched
from domain.services.inventory_push import push_shop
from domain.services.inventory_reconcile import inventory_tick, reconcile_shop
from domain.shops import Shop
from gql.container import Services
from gql.context import Context
from gql.schema import schema
from gql.types import global_id
from tests.fakes import FakeClock, FakeTaskQueue
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.servers import SQLITE_ONLY
from tests.fixtures.waiting import DEADLINE_SECONDS, until
from tests.integration.pool_push_support import (
    PushWorld,
    add_item,
    change_stock,
    imported_shop,
    link,
    link_row,
    now,
    outbox_row,
    sandbox_products,
    tiktok_stock,
    updates,
    world_fixture,  # noqa: F401 - the `world` fixture
)


def product_of(sandbox: SandboxServer, shop: Shop, seller_sku_prefix: str) -> dict[str, Any]:
    return next(
        p
        for p in sandbox_products(sandbox, shop)
        if any(s["seller_sku"].startswith(seller_sku_prefix) for s in p["skus"])
    )


async def pooled_product(
    world: PushWorld, shop: Shop, prefix: str, on_hand: int = 10, reserved: int = 0, safety: int = 0
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Every SKU of the product whose seller SKUs start with `prefix`, linked to an item of its own:
    (sandbox product, TikTok SKU id -> item id, TikTok SKU id -> Shopbridge SKU id)."""
    product = product_of(world.sandbox, shop, prefix)
    items, sku_ids = {}, {}
    for sku in product["skus"]:
        items[sku["id"]] = await add_item(world.db, shop.merchant_id, sku["seller_sku"], on_hand, reserved, safety)
        sku_ids[sku["id"]] = await link(world.db, shop, sku["id"], items[sku["id"]], product["id"])
    return product, items, sku_ids


async def test_a_push_sets_every_linked_sku_to_its_target_on_every_warehouse(world: PushWorld) -> None:
    # given a shop sharing 50 % of the pool, and a product whose SKUs each have 2 warehouses; available 7
    shop = await imported_shop(world)
    async with world.uows() as uow:
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(share_percent=50), now())
        await uow.commit()
    product, items, sku_ids = await pooled_product(world, shop, "SB-00000-", on_hand=10, reserved=2, safety=1)
    await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])

    # when the shop is pushed
    report = await push_shop(shop.id, world.deps())

    # then one call set every SKU to floor(7 x 50 %) = 3, all on the default warehouse, the other one 0
    assert report.calls == 1
    stock = tiktok_stock(world.sandbox, shop)
    for tiktok_sku_id in items:
        levels = stock[tiktok_sku_id]
        assert sorted(levels.values()) == [0, 3], levels
        assert (await link_row(world.db, sku_ids[tiktok_sku_id]))["pushed_quantity"] == 3
    row = await outbox_row(world.db, shop, product["id"])
    assert row["pushed_version"] == row["dirty_version"] and row["claimed_by"] is None
    sent = updates(world.sandbox, shop, product["id"])
    assert len(sent) == 1 and {len(s["inventory"]) for s in sent[0]["skus"]} == {2}  # every warehouse of each SKU


SKU_QUANTITY = "query($id: ID!) { node(id: $id) { ... on Sku { quantity } } }"


async def sku_quantity(world: PushWorld, shop: Shop, sku_id: str) -> int:
    """`Sku.quantity` of Shopbridge's SKU `sku_id`, through the GraphQL schema over the world's database (the
    services a read of it uses: the database and the clock; nothing else is touched)."""
    unused: Any = None
    services = Services(
        settings=unused, db=world.db, uow_factory=world.uows, tiktok=world.tiktok, queue=unused, events=unused,
        clock=SystemClock(), intake=unused, cipher=unused,
    )  # fmt: skip
    context = Context(services, shop.merchant_id)
    result = await schema.execute(SKU_QUANTITY, variable_values={"id": global_id("Sku", sku_id)}, context_value=context)
    assert result.errors is None and result.data is not None, result.errors
    return int(result.data["node"]["quantity"])


async def read_products(world: PushWorld, shop: Shop) -> list[Any]:
    """A Search Products page of the shop as a poll reads it now (each product's `stock_read_at`: now)."""
    page = await world.tiktok.search_products(shop.tokens.access_token, shop.tiktok_shop_cipher, page_size=100)
    return list(page.items)


async def upsert_products(world: PushWorld, shop: Shop, page: list[Any]) -> UpsertCounts:
    async with world.uows() as uow:
        counts = await uow.catalog.upsert_products(shop.id, page)
        await uow.commit()
    return counts


@SQLITE_ONLY
async def test_a_skus_tiktok_stock_reads_as_the_newer_of_its_products_last_read_and_its_last_push(
    world: PushWorld,
) -> None:
    """Rule (README "A SKU's TikTok stock"; `Sku.quantity`): once a push lands, the SKU's TikTok stock reads as the
    quantity pushed, until a read of its product sent after the push was computed; a read sent before it, stored
    after it, does not bring the older stock back. It read as the last import for as long as no poll came: "TikTok
    stock 12" where TikTok had the 9 just pushed."""
    # given a pooled SKU imported at TikTok's stock, and a page of its product read when TikTok showed 77 (a Seller
    # Center edit), not stored yet (a poll's page in flight)
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=10)
    tiktok_sku = next(iter(items))
    imported = await sku_quantity(world, shop, sku_ids[tiktok_sku])
    assert imported != 10
    world.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": tiktok_sku, "quantity": 77}]})
    in_flight = await read_products(world, shop)

    # when the pool pushes its 10 units, and TikTok takes them
    await change_stock(world, items[tiktok_sku], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 10

    # then the SKU's TikTok stock reads 10, with no read since
    assert await sku_quantity(world, shop, sku_ids[tiktok_sku]) == 10
    # and the page read before the push, stored after it, leaves it at 10
    await upsert_products(world, shop, in_flight)
    assert await sku_quantity(world, shop, sku_ids[tiktok_sku]) == 10
    # and a read sent after the push (TikTok at 55 now, a Seller Center edit) is what it reads then
    world.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": tiktok_sku, "quantity": 55}]})
    await upsert_products(world, shop, await read_products(world, shop))
    assert await sku_quantity(world, shop, sku_ids[tiktok_sku]) == 55


@SQLITE_ONLY
async def test_a_product_read_again_unchanged_after_a_push_reads_as_tiktok_has_it_again(world: PushWorld) -> None:
    """Rule (README "A SKU's TikTok stock"; `confirm_stock_reads`): a read sent after a push that finds the product
    as stored (TikTok came back to the imported stock) is the SKU's stock. The import writes no row of an unchanged
    product, so its read time stayed the import's, and the SKU read as the push for good: 2 units too many."""
    # given a SKU imported at TikTok's stock, then pushed 2 units more, and 2 sales at TikTok (not in the pool yet)
    shop = await imported_shop(world)
    product = product_of(world.sandbox, shop, "SB-00021-")
    tiktok_sku = product["skus"][0]["id"]
    imported = sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values())
    item = await add_item(world.db, shop.merchant_id, "SB-00021-only", imported + 2)
    sku_id = await link(world.db, shop, tiktok_sku, item, product["id"])
    await change_stock(world, item, 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    assert await sku_quantity(world, shop, sku_id) == imported + 2
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": tiktok_sku, "quantity": 2})
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == imported

    # when a poll reads the product again: every value as the import stored it
    counts = await upsert_products(world, shop, await read_products(world, shop))
    assert counts.created == counts.updated == 0

    # then the SKU reads as TikTok has it, the import's stock again
    assert await sku_quantity(world, shop, sku_id) == imported


@SQLITE_ONLY
async def test_a_products_read_sent_while_a_push_was_on_its_way_gives_way_to_the_push_once_it_lands(
    world: PushWorld,
) -> None:
    """Rule (README "A SKU's TikTok stock"; `last_known_stock`, `confirm_stock_reads`): a read sent before the push
    landed (TikTok's success recorded) may show the stock before it, so the push wins over it; a read sent after the
    landing stands, even one that finds the product as that earlier read stored it. Compared with when the push was
    computed, the read sent meanwhile stood for good, as unchanged products are not read again:
    "Sku.quantity=200 TikTok=220" for 335 s and more (tryout48-read-during-push)."""
    # given a SKU pooled alone of its product, TikTok at 77 (a Seller Center edit), and the pool's push of 79 held at
    # TikTok, computed
    shop = await imported_shop(world)
    product = product_of(world.sandbox, shop, "SB-00021-")
    tiktok_sku = product["skus"][0]["id"]
    item = await add_item(world.db, shop.merchant_id, "SB-00021-only", 79)
    sku_id = await link(world.db, shop, tiktok_sku, item, product["id"])
    world.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": tiktok_sku, "quantity": 77}]})
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    await change_stock(world, item, 0, [(shop.id, product["id"])])
    pushing = asyncio.create_task(push_shop(shop.id, world.deps()))
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)

    # when a products read is sent meanwhile (TikTok still shows 77) and stored, then the push lands
    counts = await upsert_products(world, shop, await read_products(world, shop))
    assert counts.updated == 1
    assert await sku_quantity(world, shop, sku_id) == 77  # nothing landed yet: the read stands
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    await asyncio.wait_for(pushing, timeout=DEADLINE_SECONDS)
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 79

    # then the SKU's TikTok stock reads as pushed, 79, with no read since (before: the read's 77, for good)
    assert await sku_quantity(world, shop, sku_id) == 79
    # and after 2 sales at TikTok (not in the pool yet), a read sent after the landing that finds the product as the
    # read meanwhile stored it (no row written: its read time moves) is TikTok's word: 77
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": tiktok_sku, "quantity": 2})
    counts = await upsert_products(world, shop, await read_products(world, shop))
    assert counts.created == counts.updated == 0
    assert await sku_quantity(world, shop, sku_id) == 77


async def test_a_hundred_sales_during_a_push_cost_one_more_call_with_the_last_value(world: PushWorld) -> None:
    # given a pooled product of 200 units per SKU, pushed once, and TikTok holding the next update in flight
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=200)
    item, tiktok_sku = next(iter(items.values())), next(iter(items))
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    await change_stock(world, item, -1, [(shop.id, product["id"])])
    first = asyncio.create_task(push_shop(shop.id, world.deps(holder="w0")))
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)

    # when 99 more sales land meanwhile, each enqueueing a push (other workers, which find the row claimed)
    others = []
    for n in range(99):
        await change_stock(world, item, -1, [(shop.id, product["id"])])
        others.append(asyncio.create_task(push_shop(shop.id, world.deps(holder=f"w{1 + n % 3}"))))
    await asyncio.gather(*others)
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    await first

    # then two calls in all: 199 (the value when the first was computed), then 100, the final target
    sent = updates(world.sandbox, shop, product["id"])
    quantities = [sum(r["quantity"] for s in u["skus"] if s["id"] == tiktok_sku for r in s["inventory"]) for u in sent]
    assert quantities == [199, 100]
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 100
    row = await outbox_row(world.db, shop, product["id"])
    assert row["pushed_version"] == row["dirty_version"] == 100


async def test_sales_spread_over_pushes_never_send_an_older_value_last(world: PushWorld) -> None:
    # given a pooled product, and a TikTok that takes 100 ms per call
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=200)
    item, tiktok_sku = next(iter(items.values())), next(iter(items))
    world.sandbox.control("POST", "/latency", {"ms": 100})

    # when 60 sales each enqueue a push, served by three concurrent "workers"
    pushes = []
    for n in range(60):
        await change_stock(world, item, -1, [(shop.id, product["id"])])
        pushes.append(asyncio.create_task(push_shop(shop.id, world.deps(holder=f"w{n % 3}"))))
    await asyncio.gather(*pushes)

    # then the values sent only go down (sales only) and TikTok ends at the final target
    sent = updates(world.sandbox, shop, product["id"])
    quantities = [sum(r["quantity"] for s in u["skus"] if s["id"] == tiktok_sku for r in s["inventory"]) for u in sent]
    assert quantities == sorted(quantities, reverse=True) and quantities[-1] == 140
    assert len(quantities) < 60  # coalesced
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 140


async def test_a_hundred_marks_before_a_push_cost_one_call(world: PushWorld) -> None:
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=200)
    item = next(iter(items.values()))
    for _ in range(100):
        await change_stock(world, item, -1, [(shop.id, product["id"])])
    report = await push_shop(shop.id, world.deps())
    assert report.calls == 1 and len(updates(world.sandbox, shop, product["id"])) == 1
    assert sum(tiktok_stock(world.sandbox, shop)[next(iter(items))].values()) == 100


async def test_per_sku_errors_are_recorded_and_retried_only_where_it_helps(world: PushWorld) -> None:
    # given a product whose first SKU is promotion-locked above its target, and a bundle SKU linked by mistake
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=5)
    locked, *free = list(items)
    world.sandbox.control("POST", f"/skus/{locked}/promotion-lock", {"quantity": 50})
    bundle = product_of(world.sandbox, shop, "SB-BUNDLE-")
    bundle_sku = bundle["skus"][0]["id"]
    bundle_item = await add_item(world.db, shop.merchant_id, "bundle", 5)
    bundle_link = await link(world.db, shop, bundle_sku, bundle_item, bundle["id"])
    await change_stock(world, items[locked], 0, [(shop.id, product["id"]), (shop.id, bundle["id"])])

    # when the shop is pushed (its clock standing still during the call: the locked SKU's retry is due 2 s after
    # the failure, and a call still running then would retry it; at load 20 one call outlasted those 2 s)
    clock = FakeClock(now())
    await push_shop(shop.id, world.deps(clock=clock))

    # then the free SKUs are set, the locked one keeps its code and is retried later, the bundle is excluded
    stock = tiktok_stock(world.sandbox, shop)
    assert all(sum(stock[s].values()) == 5 for s in free)
    locked_link = await link_row(world.db, sku_ids[locked])
    assert locked_link["push_error_code"] == "12052393" and locked_link["pushed_quantity"] is None
    row = await outbox_row(world.db, shop, product["id"])
    assert row["attempts"] == 1 and row["pushed_version"] < row["dirty_version"]
    assert row["next_attempt_at"] == clock.now() + push_backoff(1)
    assert row["last_error"] and "12052393" in row["last_error"]
    excluded = await link_row(world.db, bundle_link)
    assert (excluded["state"], excluded["push_error_code"]) == ("EXCLUDED", "12052850")
    bundle_row = await outbox_row(world.db, shop, bundle["id"])
    assert bundle_row["pushed_version"] == bundle_row["dirty_version"]  # not retried: it can never pass

    # when the lock is lifted and the row is due again, the retry sets it
    world.sandbox.control("POST", f"/skus/{locked}/promotion-lock", {"quantity": None})
    deps = world.deps()
    async with world.uows() as uow:
        await uow.inventory_push.mark_dirty(shop.id, [product["id"]], now())  # due now (the sweep would wait)
        await uow.commit()
    await push_shop(shop.id, deps)
    assert sum(tiktok_stock(world.sandbox, shop)[locked].values()) == 5
    assert (await link_row(world.db, sku_ids[locked]))["push_error_code"] is None


async def test_a_changed_warehouse_is_read_again_and_the_sku_retried_once(world: PushWorld) -> None:
    # given a SKU whose stored warehouse is not TikTok's any more
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00028-", on_hand=9)
    first = next(iter(items))
    async with world.uows() as uow:
        await uow.inventory_push.replace_warehouses(shop.id, first, ["7000000000000000001"])
        await uow.commit()
    await change_stock(world, items[first], 0, [(shop.id, product["id"])])

    report = await push_shop(shop.id, world.deps())

    # then Get Product told the real warehouse, and a second call set it
    assert report.calls == 2
    assert sum(tiktok_stock(world.sandbox, shop)[first].values()) == 9
    assert (await link_row(world.db, sku_ids[first]))["push_error_code"] is None
    sent = updates(world.sandbox, shop, product["id"])
    assert [u["errors"] for u in sent] == [[12052990], []]


async def test_revoked_and_push_disabled_shops_are_skipped(world: PushWorld) -> None:
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=5)
    await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
    async with world.uows() as uow:
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(push_enabled=False), now())
        await uow.commit()
    assert (await push_shop(shop.id, world.deps())).calls == 0
    async with world.uows() as uow:
        await uow.inventory_push.save_policy(shop.id, InventoryPolicy(), now())
        stored = await uow.shops.get(shop.id)
        assert stored is not None
        stored.revoke(now())
        await uow.shops.update(stored)
        await uow.commit()
    assert (await push_shop(shop.id, world.deps())).calls == 0
    assert updates(world.sandbox, shop) == []


async def test_an_access_token_tiktok_refuses_revokes_the_shop_at_once_with_a_warning(world: PushWorld, caplog) -> None:
    """A newcomer found it after `make run RESET_SANDBOX=1`: TikTok refused the shop's token at every push (every
    20-40 s, at INFO), while the shop stayed ACTIVE until its next poll revoked it, 5 minutes later."""
    # given a pooled product whose stock changed (a push due), and a seller who revoked the app at TikTok
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=5)
    await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
    world.sandbox.control("POST", "/sellers/us-local/revoke")

    # when the push meets TikTok's refusal
    with caplog.at_level(logging.INFO):
        report = await push_shop(shop.id, world.deps())

    # then the shop is revoked at once (the merchant is asked to re-authorize), said in one WARNING line
    async with world.uows() as uow:
        stored = await uow.shops.get(shop.id)
    assert stored is not None and stored.revoked_at is not None and report.calls == 0
    lines = [r for r in caplog.records if "refused its authorization" in r.getMessage()]
    assert [r.levelname for r in lines] == ["WARNING"], [r.getMessage() for r in caplog.records]
    assert "an inventory push" in lines[0].getMessage() and shop.id in lines[0].getMessage()
    # and the product stays dirty for after the re-authorization; until then nothing more is sent to TikTok
    assert (await outbox_row(world.db, shop, product["id"]))["claimed_by"] is None
    assert (await push_shop(shop.id, world.deps())).calls == 0 and updates(world.sandbox, shop) == []


async def test_reconcile_finds_a_seller_center_edit_and_repairs_it(world: PushWorld) -> None:
    # given a pooled product pushed to TikTok (target 8 per SKU)
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=8)
    await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    pushes: list[str] = []

    async def enqueue_push(shop_id: str) -> None:
        pushes.append(shop_id)

    clean = await reconcile_shop(shop.id, world.deps(), enqueue_push)
    assert clean.drifted == [] and clean.observed == len(items) and clean.searches == 1 and pushes == []

    # when the seller sets one SKU to 99 in Seller Center, behind Shopbridge's back
    edited = next(iter(items))
    world.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": edited, "quantity": 99}]})
    found = await reconcile_shop(shop.id, world.deps(), enqueue_push)

    # then the drift is counted and visible on the link, the product is dirty and its push enqueued
    assert found.drifted == [sku_ids[edited]] and pushes == [shop.id]
    drifted = await link_row(world.db, sku_ids[edited])
    assert (drifted["drift_count"], drifted["observed_quantity"]) == (1, 99) and drifted["observed_at"] is not None
    assert (await link_row(world.db, sku_ids[next(s for s in items if s != edited)]))["drift_count"] == 0

    # and the push it enqueued repairs TikTok; a later reconcile finds nothing
    await push_shop(shop.id, world.deps())
    assert sum(tiktok_stock(world.sandbox, shop)[edited].values()) == 8
    assert (await reconcile_shop(shop.id, world.deps(), enqueue_push)).drifted == []
    assert (await link_row(world.db, sku_ids[edited]))["drift_count"] == 1


async def test_reconcile_reads_no_sku_of_a_product_tiktok_does_not_sell(world: PushWorld) -> None:
    """Rule (live-sync.md sec. 1.1: TikTok takes no stock for a product not ACTIVATE; README, "A product TikTok does
    not sell is not pushed"): the reconcile leaves out the clean links of a product stored in another status, as the
    push does: what TikTok shows there is no drift Shopbridge could repair (its push waits), and a shop whose only
    links are such is not sent a reconcile at all. Before, the reconcile read them, counted a Seller Center edit as
    drift, marked the product dirty and enqueued a push that could not go out, at every reconcile interval."""
    # given a pooled product pushed (8 a SKU) and reconciled clean
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=8)
    edited = next(iter(items))
    await change_stock(world, items[edited], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    pushes: list[str] = []

    async def enqueue_push(shop_id: str) -> None:
        pushes.append(shop_id)

    assert (await reconcile_shop(shop.id, world.deps(), enqueue_push)).observed == len(items)
    # when the seller deactivates the product, stored so (as a webhook or a poll stores it), then sets one of its
    # SKUs to 99 in Seller Center
    world.sandbox.control("POST", f"/products/{product['id']}", {"status": "SELLER_DEACTIVATED"})
    await upsert_products(world, shop, await read_products(world, shop))
    world.sandbox.control("POST", f"/products/{product['id']}", {"skus": [{"id": edited, "quantity": 99}]})
    report = await reconcile_shop(shop.id, world.deps(), enqueue_push)

    # then the reconcile read none of its SKUs: no search, no drift, nothing marked or enqueued
    assert (report.observed, report.searches, report.drifted, pushes) == (0, 0, [], [])
    link_after = await link_row(world.db, sku_ids[edited])
    assert (link_after["drift_count"], link_after["observed_quantity"]) == (0, 8)
    row = await outbox_row(world.db, shop, product["id"])
    assert row["dirty_version"] == row["pushed_version"]
    # and the scheduler's tick sends the shop no reconcile (its only links are the product's), however long ago the
    # last one was
    reconciles: list[str] = []

    async def enqueue_reconcile(shop_id: str) -> None:
        reconciles.append(shop_id)

    tick = await inventory_tick(world.deps(), enqueue_push, enqueue_reconcile, timedelta(0), {})
    assert (tick.reconciles, reconciles) == ([], [])


async def test_the_inventory_tick_re_enqueues_stranded_pushes_and_due_reconciles(world: PushWorld) -> None:
    # given a dirty product whose push message was lost, and a shop never reconciled
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=8)
    await change_stock(world, next(iter(items.values())), 0, [(shop.id, product["id"])])
    pushes: list[str] = []
    reconciles: list[str] = []

    async def enqueue_push(shop_id: str) -> None:
        pushes.append(shop_id)

    async def enqueue_reconcile(shop_id: str) -> None:
        reconciles.append(shop_id)

    memory: dict[str, Any] = {}
    tick = await inventory_tick(world.deps(), enqueue_push, enqueue_reconcile, timedelta(minutes=30), memory)
    assert (tick.pushes, tick.reconciles) == ([shop.id], [shop.id])
    # a second tick right after: the push is still due (nobody ran it), the reconcile is not sent twice
    tick = await inventory_tick(world.deps(), enqueue_push, enqueue_reconcile, timedelta(minutes=30), memory)
    assert (tick.pushes, tick.reconciles) == ([shop.id], [])
    # once pushed, nothing is due
    await push_shop(shop.id, world.deps())
    tick = await inventory_tick(world.deps(), enqueue_push, enqueue_reconcile, timedelta(minutes=30), memory)
    assert tick.pushes == []


async def test_the_fence_holds_back_sales_tiktok_made_that_the_pool_has_not_ingested(world: PushWorld) -> None:
    # given a pooled product pushed at 20 units per SKU
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=20)
    sold = next(iter(items))
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sold].values()) == 20
    assert (await link_row(world.db, sku_ids[sold]))["pushed_quantity"] == 20

    # when buyers take 2 units at TikTok, not ingested yet, and another change pushes the product again
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": sold, "quantity": 2})
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))

    # then TikTok keeps showing 18: the absolute set did not put the 2 units back on sale
    assert sum(tiktok_stock(world.sandbox, shop)[sold].values()) == 18
    assert (await link_row(world.db, sku_ids[sold]))["pushed_quantity"] == 18

    # and once the ledger applies those sales (2 reserved), the next push shows 18 again, nothing held twice
    await ingest_sales(world, shop, sold, items[sold], units=2)
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sold].values()) == 18


async def test_without_the_fence_a_push_puts_unseen_sales_back_on_sale(world: PushWorld) -> None:
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=20)
    sold = next(iter(items))
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    world.sandbox.control("POST", f"/shops/{shop.tiktok_shop_id}/sales", {"sku_id": sold, "quantity": 2})
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps())
    assert sum(tiktok_stock(world.sandbox, shop)[sold].values()) == 20  # the race the fence closes


async def test_a_sale_stamped_by_a_clock_ahead_of_the_pushers_is_not_counted_twice(world: PushWorld) -> None:
    # given a pooled SKU pushed at 20
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=20)
    sold = next(iter(items))
    sales = f"/shops/{shop.tiktok_shop_id}/sales"
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    # when a buyer takes 1 unit, which a worker whose clock runs a minute ahead of the pusher's ingests (another
    # host; or the same one, stamped between the push's clock reading and its read of the pool), and the product is
    # pushed: TikTok and the pool both at 19, nothing to write
    world.sandbox.control("POST", sales, {"sku_id": sold, "quantity": 1})
    await ingest_sales(world, shop, sold, items[sold], units=1, at=now() + timedelta(minutes=1))
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    assert sum(tiktok_stock(world.sandbox, shop)[sold].values()) == 19
    # and a second buyer takes 1 unit whose webhook is lost, and the product is pushed again within that minute
    world.sandbox.control("POST", sales, {"sku_id": sold, "quantity": 1})
    await change_stock(world, items[sold], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    # then TikTok keeps 18. The first sale was in the counters the last push read; stamped after that push's clock
    # reading, it was counted again as a sale ingested since, the fence held back nothing, and the push set 19: one
    # unit on sale twice
    assert sum(tiktok_stock(world.sandbox, shop)[sold].values()) == 18


async def ingest_sales(
    world: PushWorld, shop: Shop, tiktok_sku_id: str, item_id: str, units: int, at: datetime | None = None
) -> None:
    """What the ledger does for `units` one-unit orders of the shop: RESERVED lines (stamped `at`, else now), the
    item's reserved up, the shop's running units of the SKU up (`sku_ledger_units`)."""
    from sqlalchemy import insert, update

    from adapters.db.tables import inventory_items, order_line_stock, sku_ledger_units

    async with world.db.write_sessionmaker() as session, session.begin():
        for n in range(units):
            await session.execute(
                insert(order_line_stock).values(
                    shop_id=shop.id, tiktok_order_id=f"57700000000000000{n:02d}", tiktok_line_item_id=f"1{n}",
                    merchant_id=shop.merchant_id, tiktok_sku_id=tiktok_sku_id, inventory_item_id=item_id, quantity=1,
                    state="RESERVED", wanted="RESERVED", order_updated_at=now(), updated_at=at or now(),
                )
            )  # fmt: skip
        await session.execute(
            update(inventory_items)
            .where(inventory_items.c.id == item_id)
            .values(reserved=inventory_items.c.reserved + units)
        )
        counts = sku_ledger_units.c
        of_sku = (counts.shop_id == shop.id, counts.tiktok_sku_id == tiktok_sku_id)
        added = await session.execute(update(sku_ledger_units).where(*of_sku).values(ingested=counts.ingested + units))
        if added.rowcount == 0:  # type: ignore[attr-defined]
            await session.execute(
                insert(sku_ledger_units).values(
                    shop_id=shop.id, tiktok_sku_id=tiktok_sku_id, ingested=units, released=0
                )
            )


async def test_a_push_stopped_before_its_update_is_due_again_at_once(world: PushWorld) -> None:
    # given a fenced push held at its reading of TikTok's stock, before its Update Inventory
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    tiktok_sku = next(iter(items))
    await change_stock(world, items[tiktok_sku], -5, [(shop.id, product["id"])])
    world.sandbox.hold("/product/202309/inventory/search")
    cut = asyncio.create_task(push_shop(shop.id, world.deps(holder="stopping", fence=True)))
    await until(lambda: world.sandbox.control("GET", "/hold")["waiting"] == 1)
    # when the worker stops (its run is cancelled)
    cut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cut
    world.sandbox.hold()
    # then nothing was sent, the row is no longer claimed and is due now: the next process pushes it at once, not
    # after the lease
    assert world.sandbox.control("GET", "/inventory-updates")["updates"] == []
    row = await outbox_row(world.db, shop, product["id"])
    assert row["claimed_by"] is None and row["dirty_version"] > row["pushed_version"]
    await push_shop(shop.id, world.deps(holder="restarted"))
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 45


async def test_a_push_whose_update_outlasts_the_stop_wait_is_handed_back_due_now(world: PushWorld) -> None:
    # given a push held in flight at TikTok, by a worker that waits for nothing when stopped
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    tiktok_sku = next(iter(items))
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    await change_stock(world, items[tiktok_sku], -5, [(shop.id, product["id"])])
    cut = asyncio.create_task(push_shop(shop.id, world.deps(holder="stopping", stop_wait=timedelta(0))))
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
    # when the worker stops (its run is cancelled) and TikTok has not answered within the wait
    cut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cut
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    # then the row is no longer claimed and is due now: the next process pushes it at once, not after the lease
    row = await outbox_row(world.db, shop, product["id"])
    assert row["claimed_by"] is None and row["dirty_version"] > row["pushed_version"]
    await push_shop(shop.id, world.deps(holder="restarted"))
    assert sum(tiktok_stock(world.sandbox, shop)[tiktok_sku].values()) == 45


async def test_a_shop_deleted_while_its_push_is_in_flight_ends_the_push_quietly(world: PushWorld) -> None:
    # given a push held in flight at TikTok
    shop = await imported_shop(world)
    product, items, _ = await pooled_product(world, shop, "SB-00021-", on_hand=50)
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": True})
    await change_stock(world, next(iter(items.values())), -5, [(shop.id, product["id"])])
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(holder="w")))
    await until(lambda: world.sandbox.control("GET", "/inventory-updates")["waiting"] == 1)
    # when the merchant deletes the shop meanwhile (its outbox and links go with it), and TikTok answers
    async with world.db.write_sessionmaker() as session:
        await session.execute(text("DELETE FROM shops WHERE id = :id"), {"id": shop.id})
        await session.commit()
    world.sandbox.control("POST", "/inventory-updates/hold", {"held": False})
    # then the push ends without an error (nothing is left to push) and wrote nothing back
    await asyncio.wait_for(pushing, timeout=DEADLINE_SECONDS)
    async with world.db.read_sessionmaker() as session:
        left = (await session.execute(text("SELECT count(*) FROM inventory_push_outbox"))).scalar_one()
    assert left == 0


UPDATE_INVENTORY = "/product/202309/products/{product_id}/inventory/update"


async def stored_status(world: PushWorld, shop: Shop, product_id: str) -> str:
    async with world.db.read_sessionmaker() as session:
        query = text("SELECT status FROM products WHERE shop_id = :s AND tiktok_product_id = :p")
        return str((await session.execute(query, {"s": shop.id, "p": product_id})).scalar_one())


async def test_a_product_deactivated_after_its_claim_waits_dirty_with_no_push_error(world: PushWorld) -> None:
    """Rule (live-sync.md sec. 1.1: Update Inventory wants the product ACTIVATE, 12052901 else; its table: "re-fetch
    product"): a product the seller deactivates between a push's claim and its call is refused once, and the push
    takes that as the product's status, not as a failed push: the product read again (Get Product) and stored
    SELLER_DEACTIVATED, its row left dirty exactly as a claim skipping it leaves it, no push error on its links;
    once it is stored ACTIVATE again its push is enqueued and lands. A product deleted so (12052048) is stored DELETED
    alike. Before, the links showed 12052901 until the next push, and the row passed for pushed (the pool's value
    never sent once the product was back on sale)."""
    # given a pooled product on sale, pushed (8 a SKU), then its stock lowered by one (a push due)
    shop = await imported_shop(world)
    product, items, sku_ids = await pooled_product(world, shop, "SB-00021-", on_hand=8)
    first = next(iter(items))
    await change_stock(world, items[first], 0, [(shop.id, product["id"])])
    await push_shop(shop.id, world.deps(fence=True))
    await change_stock(world, items[first], -1, [(shop.id, product["id"])])
    waiting = await outbox_row(world.db, shop, product["id"])
    # and its push claimed, its Update Inventory held at TikTok
    world.sandbox.hold(UPDATE_INVENTORY)
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))
    await until(lambda: world.sandbox.control("GET", "/hold")["waiting"] == 1, what="the update held at TikTok")

    # when the seller deactivates the product in Seller Center meanwhile, and TikTok then answers the update
    world.sandbox.control("POST", f"/products/{product['id']}", {"status": "SELLER_DEACTIVATED"})
    world.sandbox.hold()
    await asyncio.wait_for(pushing, timeout=DEADLINE_SECONDS)

    # then the product is stored as TikTok has it now, and TikTok kept its stock
    assert await stored_status(world, shop, product["id"]) == "SELLER_DEACTIVATED"
    assert sum(tiktok_stock(world.sandbox, shop)[first].values()) == 8
    # and no push error is shown: the links keep their last push, no intent is left in flight
    for sku_id in sku_ids.values():
        row = await link_row(world.db, sku_id)
        assert (row["push_error_code"], row["pushed_quantity"], row["push_intent"]) == (None, 8, None), row
    # and the row waits, dirty, exactly as before the claim (no attempt counted, no error, due as it was)
    left = await outbox_row(world.db, shop, product["id"])
    assert left == waiting, (left, waiting)
    assert (await push_shop(shop.id, world.deps(fence=True))).calls == 0

    # when the seller activates it again and the product is stored ACTIVATE (as a webhook's or a poll's read does)
    world.sandbox.control("POST", f"/products/{product['id']}", {"status": "ACTIVATE"})
    queue = FakeTaskQueue()
    listed = [p for p in await read_products(world, shop) if p.tiktok_product_id == product["id"]]
    async with world.uows() as uow:
        await store_fetched(uow, queue, None, shop.id, [], listed)
        await uow.commit()
    # then its push is enqueued at once, and lands the pool's value (7)
    assert queue.inventory_pushes == [shop.id]
    assert (await push_shop(shop.id, world.deps(fence=True))).calls == 1
    assert sum(tiktok_stock(world.sandbox, shop)[first].values()) == 7
    assert (await link_row(world.db, sku_ids[first]))["push_error_code"] is None

    # when its stock is lowered again, and the seller deletes the product while that push is held at TikTok
    await change_stock(world, items[first], -1, [(shop.id, product["id"])])
    waiting = await outbox_row(world.db, shop, product["id"])
    world.sandbox.hold(UPDATE_INVENTORY)
    pushing = asyncio.create_task(push_shop(shop.id, world.deps(fence=True)))
    await until(lambda: world.sandbox.control("GET", "/hold")["waiting"] == 1, what="the second update held")
    world.sandbox.control("POST", f"/products/{product['id']}", {"status": "DELETED"})
    world.sandbox.hold()
    await asyncio.wait_for(pushing, timeout=DEADLINE_SECONDS)
    # then TikTok's 12052048 and Get Product's "not found" are settled by Search Products (tiktok-api.md sec. 7): the
    # product is stored DELETED, its links leave the pool (DROPPED) with no push error, its row left as it was
    assert await stored_status(world, shop, product["id"]) == "DELETED"
    for sku_id in sku_ids.values():
        row = await link_row(world.db, sku_id)
        assert (row["state"], row["push_error_code"], row["push_intent"]) == ("DROPPED", None, None), row
    assert await outbox_row(world.db, shop, product["id"]) == waiting
