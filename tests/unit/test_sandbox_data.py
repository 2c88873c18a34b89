"""The sandbox's generated data: the default generation is the one benchmark 1's published figures were measured on.

The same (seed, shop, sizes, now) must give the same bytes: a change to the generator that moves one random draw
changes the data benchmark 1 times (bench/README.md), and its figures could no longer be compared with earlier ones.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sandbox.data import ShopSeed, generate_shop, render_order, sellable_skus
from sandbox.sellers import build_sellers

NOW = 1_790_000_000

# sha256 of `_generation()` (every seller's first shop, seed 1, 50 products, 300 orders), computed on the generator
# as of commit 56dc41f and hard-coded here: the default output must stay
# byte-identical, or benchmark 1's published figures were measured on other data than the benchmark now makes.
DEFAULT_DIGEST = "a2d234f28447af177b4bd246a6a86f191795b361909a8a3da3b7382af02bf1e3"


def _generation(**knobs: Any) -> dict[str, Any]:
    """Each seller's first shop's data: warehouses, products, committed stock, order metadata and rendered orders."""
    shops = {}
    for key, seller in build_sellers().items():
        shop = seller.shops[0]
        generated = generate_shop(ShopSeed(shop=shop, seed=1, products=50, orders=300, now=NOW))
        sellable = sellable_skus(generated.products)
        shops[key] = {
            "warehouses": generated.warehouse_ids,
            "products": generated.products,
            "committed": generated.committed,
            "metas": generated.orders,
            "orders": [render_order(shop, 1, sellable, meta, **knobs) for meta in generated.orders],
        }
    return shops


def _digest(generation: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(generation, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def test_the_default_generation_is_byte_identical_to_the_one_before_the_knob() -> None:
    assert _digest(_generation()) == DEFAULT_DIGEST
