"""A stored product Get Product no longer serves, over fakes: the confirming searches (`domain.unserved_products`),
what is stored for each answer, and the event's outcome when the confirmation itself fails (the main paths run
end to end, sandbox over HTTP, in tests/e2e/test_webhook_unserved_products.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.catalog import Product
from domain.intake import EventOutcome
from domain.ports import GatewayRefusedError
from domain.stored import product_as_stored
from domain.unserved_products import KnownProduct, ProductSearch, confirming_searches, settle
from tests.fakes import T0
from tests.unit.test_intake_services import World, pid

SINCE = T0 - timedelta(days=3)


@pytest.fixture
def world() -> World:
    return World()


def known(status: str = "ACTIVATE", seller_skus: tuple[str, ...] = ("S1",)) -> KnownProduct:
    return KnownProduct("1729000001", "Mug", status, T0 - timedelta(days=9), SINCE, seller_skus)


def test_searches_go_by_seller_skus_first_at_most_10_then_by_each_unserved_status_since_the_stored_version() -> None:
    skus = ("S9", " ", "", "S1", "S1", *(f"T{n:02d}" for n in range(12)))
    since = int(SINCE.timestamp())
    assert confirming_searches(known(seller_skus=skus)) == [
        ProductSearch("ALL", ("S1", "S9", "T00", "T01", "T02", "T03", "T04", "T05", "T06", "T07")),
        ProductSearch("DELETED", (), since),
        ProductSearch("FREEZE", (), since),
    ]
    # a product without seller SKUs (or stored DELETED as listed nowhere, without SKUs) is looked for by status alone
    assert confirming_searches(known(seller_skus=())) == [
        ProductSearch("DELETED", (), since),
        ProductSearch("FREEZE", (), since),
    ]


@pytest.mark.parametrize(
    ("stored_status", "stores"),
    [("ACTIVATE", "DELETED"), ("FREEZE", "DELETED"), ("DELETED", None)],
    ids=["activate", "freeze", "deleted"],
)
def test_a_product_listed_nowhere_is_stored_deleted_once(stored_status: str, stores: str | None) -> None:
    now = T0
    settled = settle(known(stored_status), None, now)
    if stores is None:  # stored DELETED already: a replay stores nothing
        assert settled.record is None and "already stored DELETED" in settled.message
        assert settled.deleted_already  # TikTok's last word: a poll's read forgets its unreadable mark
        return
    assert isinstance(settled.record, Product) and not settled.deleted_already
    values = product_as_stored(settled.record)
    assert (values.values, values.skus) == (("1729000001", "Mug", "DELETED", T0 - timedelta(days=9), now), ())


def test_a_listing_older_than_the_stored_version_stores_nothing_and_says_so() -> None:
    older = Product("1729000001", "Mug", "DELETED", T0 - timedelta(days=9), SINCE - timedelta(seconds=1), ())
    settled = settle(known(), older, T0)
    assert settled.record is None and settled.message.endswith("lists an older version (DELETED): nothing changed.")
    # the same version as stored (a deletion TikTok did not date later) is stored
    assert settle(known(), replace(older, updated_at=SINCE), T0).record == replace(older, updated_at=SINCE)


async def stored_then_unserved(world: World) -> Product:
    """Product 0 stored through its webhook 16, then no longer served by Get Product; returns it as stored."""
    await world.receive(16, {"product_id": pid(0)}, "created")
    await world.process()
    product = world.api.products.pop(pid(0))
    assert world.store.shop_products(world.shop.id) == {pid(0): product}
    return product


async def test_a_refused_confirmation_is_tiktok_error_and_changes_nothing(world: World) -> None:
    product = await stored_then_unserved(world)
    world.api.listed[pid(0)] = replace(product, status="DELETED", updated_at=T0)

    world.api.search_error = GatewayRefusedError("TikTok refused the request (36009004): param status is invalid")
    await world.receive(5, {"product_id": pid(0)}, "deleted")
    await world.process()
    event = max(world.store.webhook_events.values(), key=lambda e: e.received_at)
    assert (event.outcome, event.error_code) == (EventOutcome.FAILED, "TIKTOK_ERROR")
    assert event.error_message is not None
    assert "12052048" in event.error_message and "Search Products, to confirm: " in event.error_message
    assert "36009004" in event.error_message
    assert world.store.shop_products(world.shop.id) == {pid(0): product}


async def test_a_confirmation_past_its_pages_stays_not_found_and_changes_nothing(world: World) -> None:
    # given TikTok listing more than 5 pages of products with the stored product's seller SKU, and it in none
    product = await stored_then_unserved(world)
    for n in range(501):
        twin = replace(product, tiktok_product_id=str(1729100000 + n), status="ACTIVATE")
        world.api.listed[twin.tiktok_product_id] = twin
    await world.receive(5, {"product_id": pid(0)}, "deleted")
    await world.process()
    # then the event stays PRODUCT_NOT_FOUND, saying why, and the product is left for the next poll
    event = max(world.store.webhook_events.values(), key=lambda e: e.received_at)
    assert (event.outcome, event.error_code) == (EventOutcome.FAILED, "PRODUCT_NOT_FOUND")
    assert event.error_message is not None and "could not confirm it in 5 pages" in event.error_message
    assert len(world.api.searches) == 5 and world.store.shop_products(world.shop.id) == {pid(0): product}


async def test_a_product_found_by_status_alone_is_stored_as_listed(world: World) -> None:
    # given a stored product TikTok lists DELETED with other seller SKUs than the stored ones
    product = await stored_then_unserved(world)
    deleted = replace(product, status="DELETED", updated_at=T0)
    world.api.listed[pid(0)] = replace(deleted, skus=tuple(replace(s, seller_sku="RENAMED") for s in product.skus))
    await world.receive(5, {"product_id": pid(0)}, "deleted")
    await world.process()
    # then the seller-SKU search misses it, the DELETED one finds it, and it is stored DELETED with its SKUs as listed
    assert [s.status for s in world.api.searches] == ["ALL", "DELETED"]
    event = max(world.store.webhook_events.values(), key=lambda e: e.received_at)
    assert (event.outcome, event.error_code) == (EventOutcome.PROCESSED, None)
    (stored,) = world.store.shop_products(world.shop.id).values()
    assert product_as_stored(stored).values[2] == "DELETED"
    assert [s[1] for s in product_as_stored(stored).skus] == ["RENAMED"] * len(product.skus) != []
