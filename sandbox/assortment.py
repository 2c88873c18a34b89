"""What local shops sell: the words of generated titles, and the one catalog all local sellers' shops draw from
(issue 8: shared seller SKUs with a merchant's usual quirks, and a virtual bundle)."""

from __future__ import annotations

import random
from typing import Any

from sandbox.sellers import Shop

ADJECTIVES = ("Crème", "Cozy", "Ærø", "Süße", "Jalapeño", "Ōkami", "Piñata", "Nordic", "Tropical", "Café", "Zen")
NOUNS = ("Socks", "Mug", "Tote Bag", "Candle", "Notebook", "Hoodie", "Phone Case", "Sunglasses", "Tea Set", "Scarf")
FLAIR = ("", "", "", " 🧦", " ☕", " ✨", " 日本限定", " — édition limitée", " 🎁", " (2-pack)")
VARIANTS = ("Red", "Blue", "Black", "White", "Green", "S", "M", "L", "XL", "Größe 42")

BUNDLE_SKU_COUNT = 2


def make_bundle(products: list[dict[str, Any]], n: int, create_time: int) -> None:
    """Product `n` becomes a virtual bundle (COMBINED_PRODUCT) of 2 units of product 0's first SKU: TikTok derives
    its stock and refuses to have it edited (12052850). `create_time` makes it the shop's oldest product, so
    newest-first readers meet it last."""
    bundle, component = products[n], products[0]["skus"][0]
    bundle["product_types"] = ["COMBINED_PRODUCT"]
    bundle["create_time"] = create_time
    for sku in bundle["skus"]:
        sku["seller_sku"] = f"SB-BUNDLE-{sku['seller_sku']}" if sku["seller_sku"] else ""
        sku["combined_skus"] = [
            {
                "product_id": products[0]["id"],
                "sku_id": component["id"],
                "sku_count": BUNDLE_SKU_COUNT,
                "seller_sku": component["seller_sku"],
            }
        ]


def combined_listing(sku: dict[str, Any]) -> list[dict[str, Any]] | None:
    """What an order line of `sku` carries as `combined_listing_skus` (Get Order List/Detail, live-sync.md
    sec. 1.5): each component's sku_id, sku_count and seller_sku for a virtual bundle's SKU; None for any other."""
    if not sku.get("combined_skus"):
        return None
    return [{k: part[k] for k in ("sku_id", "sku_count", "seller_sku")} for part in sku["combined_skus"]]


def shared_product(seed: int, n: int) -> tuple[str, int]:
    """Title and variant count of product `n` in the one catalog all local sellers' shops draw from."""
    rng = random.Random(f"{seed}:local-catalog:{n}")
    return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}{rng.choice(FLAIR)}", rng.randint(1, 5)


def seller_sku(shop: Shop, seed: int, n: int, variant_index: int) -> str:
    """Local shops share seller SKUs the way one merchant's shops do (issue 8): `SB-{n}-{variant}` on every shop,
    except that about 1 product in 12 is this shop's own (its code in the SKU), 1 SKU in 30 has none (TikTok
    answers "") and 1 in 30 repeats the shop's previous product's first SKU. Cross-border shops' SKUs are their own.
    """
    variant = VARIANTS[variant_index % len(VARIANTS)]
    if shop.seller_type != "LOCAL":
        return f"SB-{shop.code[:6]}-{n:05d}-{variant}"
    quirk = random.Random(f"{seed}:{shop.id}:sku:{n}:{variant_index}").random()
    own = random.Random(f"{seed}:{shop.id}:own:{n}").random() < 1 / 12
    if own:
        return f"SB-{shop.code[:6]}-{n:05d}-{variant}"
    if quirk < 1 / 30:
        return ""
    if quirk < 2 / 30 and n > 0:
        return f"SB-{n - 1:05d}-{VARIANTS[0]}"
    return f"SB-{n:05d}-{variant}"
