"""Benchmark 1's honesty check, in the suite: the engine and the bare limit loop store the same rows.

Benchmark 1 (bench/README.md) times the sync engine against a bare loop (`bench.limit`, `bench.limit_pool`) that must do
the same work; its check (`bench.import_bench.check_same_work` over `bench.import_counts.stored_rows`) compares every
catalog table, the products and orders per status, `sku_links` and `order_line_stock` per state (the ledger also per
effect asked), the linked items' summed `on_hand` and `reserved`, their movements and the outbox rows. The loop copies
the engine's rules, so it drifts when a rule changes on one side only: once a product TikTok reports DELETED was stored
without SKUs by the engine alone, and only a full-size `make bench` noticed (14,796 SKUs against 15,095; since tryout 49
both sides store them and pool none). Here one round (`one_round`: sync, limit, catalog-only limit, each side from a
sandbox process of its own, as the benchmark runs it) imports a small shop on each database, through the bench's own
harness, into the suite's servers.

The data must still hold each case the rules branch on, or an equal count proves little: the test names them
(`CASES`) and fails when the generator at this size stops making one. Two line rules (`domain.inventory.ledger.
line_effect`, copied as `bench.limit_pool`'s) need data benchmark 1's own lacks: an order fulfilled by TikTok (FBT)
releases its lines whatever their status, and a cancelled line whose package had left the shelf deducts (a lost
package). Here the sandbox makes some of each (`Sizes.rare_cases`: `--rare-cases`, `sandbox.data.make_rare`), and
the sides' ledger rows are compared per effect asked and order status: a limit that ignores the FBT flag, or the
package status, stores other counts and fails the round (checked by breaking `bench.limit_pool`'s `line_effect`
each way).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.harness import Harness
from bench.import_bench import Sizes, one_round
from sandbox.data import ORDER_STATUSES
from tests.fixtures.servers import PostgresServer

# The smallest data `Sizes.scaled` makes (`--scale 0.004` or less): 50 products (the first 8 walk through every
# status, DELETED included; a virtual bundle from 17 on) and 300 orders over 45 days, ~190 of them in the window;
# with the rare cases benchmark 1's own data has none of (`rare_cases`: some orders FBT, some cancelled ones lost).
SIZES = Sizes(products=50, orders=300, runs=1, rare_cases=True)

# Each case the compared rules branch on -> the counts of `stored_rows(...)["same"]` of which one must be > 0.
CASES = {
    "a product TikTok reports DELETED (its SKUs stored, not pooled)": ("products.DELETED",),
    "a SKU auto-linked to an item": ("sku_links.LINKED",),
    "a seller SKU on two SKUs (AMBIGUOUS)": ("sku_links.AMBIGUOUS",),
    "a SKU of a virtual bundle (EXCLUDED)": ("sku_links.EXCLUDED",),
    "a SKU without a seller SKU": ("sku_links.NO_SELLER_SKU",),
    "a cancelled order": ("orders.CANCELLED",),
    "a shipped order": ("orders.AWAITING_COLLECTION", "orders.IN_TRANSIT", "orders.DELIVERED", "orders.COMPLETED"),
    "a partly shipped order (its lines' own statuses)": ("orders.PARTIALLY_SHIPPING",),
    "an open order's line reserving units": ("order_line_stock.RESERVED",),
    "a line sold before its SKU's link (history)": ("order_line_stock.HISTORICAL",),
    "a line of an unlinked SKU": ("order_line_stock.PENDING_LINK",),
    "a line asking to release (cancelled)": ("order_line_stock.wanted.RELEASE",),
    "a line asking to deduct (shipped)": ("order_line_stock.wanted.DEDUCT",),
    # The generator cancels no line on its own: a line releasing in an order not CANCELLED is one of an FBT order.
    "a line of an order fulfilled by TikTok (FBT: releases whatever its status)": tuple(
        f"order_line_stock.wanted.RELEASE.{status}" for status in ORDER_STATUSES if status != "CANCELLED"
    ),
    "a cancelled line whose package had left the shelf (lost: deducts)": ("order_line_stock.wanted.DEDUCT.CANCELLED",),
}


@pytest.fixture(params=["sqlite", "postgres"])
def bench_harness(request: pytest.FixtureRequest) -> Iterator[tuple[str, Harness]]:
    """(database kind, a bench `Harness` making its databases from the suite's templates and servers)."""
    kind = str(request.param)
    if kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        harness = Harness(sqlite_template=template)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        harness = Harness(postgres=server, postgres_template=request.getfixturevalue("postgres_template").template)
    with harness:
        yield kind, harness


async def test_benchmark_1s_sync_and_limit_store_the_same_rows(bench_harness: tuple[str, Harness]) -> None:
    kind, harness = bench_harness

    sides = await one_round(harness, kind, SIZES)  # raises, naming each count that differs, when the sides differ

    assert sorted(sides) == ["catalog", "limit", "sync"]
    stored = sides["sync"]["stored"]["same"]
    assert stored == sides["limit"]["stored"]["same"]
    missing = [case for case, counts in CASES.items() if not any(stored.get(count, 0) > 0 for count in counts)]
    size = f"{SIZES.products} products, {SIZES.orders} orders"
    assert missing == [], f"the data ({size}) no longer holds {missing}; the sync stored {stored}"
