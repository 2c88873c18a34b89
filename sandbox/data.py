"""Deterministic sample data: a shop's warehouses, products and orders in TikTok's 202309 JSON shape.

The same (seed, shop, sizes, now) always give the same data; its ids also depend on where the shop's id sequences
start and on the ids' own seed (sandbox/ids.py: an id is never issued twice). Money is computed in minor units and
rendered as decimal strings; each order line item is one unit, as in TikTok's 202309 order model.
"""

from __future__ import annotations

import functools
import itertools
import random
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from sandbox.assortment import ADJECTIVES, FLAIR, NOUNS, combined_listing, make_bundle, seller_sku, shared_product
from sandbox.quote import quoted
from sandbox.sellers import Shop

DAY = 86400
ORDER_WINDOW = 45 * DAY
PRODUCT_WINDOW = 365 * DAY

PRODUCT_STATUSES = (
    "ACTIVATE",
    "DRAFT",
    "SELLER_DEACTIVATED",
    "PENDING",
    "FAILED",
    "PLATFORM_DEACTIVATED",
    "FREEZE",
    "DELETED",
)
_PRODUCT_STATUS_WEIGHTS = tuple(itertools.accumulate((60, 10, 10, 6, 4, 5, 3, 2)))

ORDER_STATUSES = (
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "PARTIALLY_SHIPPING",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
)
# Older orders have mostly run their course; recent ones are still moving.
_RECENT_WEIGHTS = tuple(itertools.accumulate((8, 4, 25, 5, 10, 20, 10, 8, 10)))
_OLD_WEIGHTS = tuple(itertools.accumulate((1, 1, 2, 1, 1, 3, 10, 70, 11)))
NO_ADDRESS_STATUSES = frozenset({"UNPAID", "ON_HOLD"})
SHIPPED_STATUSES = frozenset({"AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED"})
# A line's `package_status` (live-sync.md sec. 3.2) for its status: to fulfil while open, PROCESSING once arranged
# for collection, FULFILLING in transit, COMPLETED delivered. CANCELLED is no status of its own (`package_status`).
PACKAGE_STATUSES = ("TO_FULFILL", "PROCESSING", "FULFILLING", "COMPLETED", "CANCELLED")
_PACKAGE_OF_STATUS = {
    "AWAITING_COLLECTION": "PROCESSING",
    "IN_TRANSIT": "FULFILLING",
    "DELIVERED": "COMPLETED",
    "COMPLETED": "COMPLETED",
}
PACKAGE_ON_THE_SHELF = frozenset({"TO_FULFILL", "PROCESSING"})
# The statuses of an order the carrier has collected (Get Order Detail's `collection_time` set): IN_TRANSIT and on.
COLLECTED_STATUSES = frozenset({"IN_TRANSIT", "DELIVERED", "COMPLETED"})
PACKAGE_LOST = "CANCELLED"  # the package lost or damaged after it left the seller (live-sync.md sec. 3.2, 3.5)
FULFILLMENT_BY_SELLER, FULFILLMENT_BY_TIKTOK = "FULFILLMENT_BY_SELLER", "FULFILLMENT_BY_TIKTOK"  # `fulfillment_type`
# With `rare_cases` (`make_rare`): the share of orders fulfilled by TikTok (FBT), and of cancelled orders cancelled
# after their package left the shelf. Small, as at TikTok, yet enough for a 300-order shop to hold both.
FBT_SHARE = 0.05
CANCELLED_AFTER_SHIPPING_SHARE = 0.25


def package_status(line_status: str, current: str | None = None) -> str:
    """The `package_status` of a line moving to `line_status` whose package was `current` (None: a new line, or
    one from before packages had a status): its status's own; a line cancelled keeps a package still on the
    seller's shelf (TO_FULFILL, PROCESSING; a new one is TO_FULFILL), and one whose package had left is lost
    (CANCELLED: TikTok cancels a package lost or damaged in transit)."""
    if line_status == "CANCELLED":
        return current or "TO_FULFILL" if current is None or current in PACKAGE_ON_THE_SHELF else PACKAGE_LOST
    return _PACKAGE_OF_STATUS.get(line_status, "TO_FULFILL")


# Minor units per major unit: IDR prices have no decimals.
_EXPONENT = {"USD": 2, "GBP": 2, "MYR": 2, "SGD": 2, "IDR": 0}
# Price range in minor units, and tax rules: US adds sales tax on top; elsewhere VAT/GST is included.
_PRICE_RANGE = {"USD": (299, 12999), "GBP": (249, 9999), "MYR": (990, 49900), "SGD": (390, 15900)}
_IDR_RANGE = (15_000, 750_000)
_VAT = {"US": 0.0, "GB": 0.20, "MY": 0.10, "SG": 0.09, "ID": 0.11}

_FIRST_NAMES = ("Alex", "Zoë", "Siti", "Wei", "Priya", "José", "Noah", "Aisha", "Łukasz", "Mei", "Budi", "Olivia")
_LAST_NAMES = ("Smith", "Müller", "Tan", "Rahman", "García", "Nguyen", "O'Brien", "Lim", "Santoso", "Kowalski")
_STREETS = ("Main St", "High Street", "Jalan Ampang", "Orchard Road", "Jl. Sudirman", "Market Lane", "King's Road")
_CITIES = {
    "US": ("Austin, TX", "95110"),
    "GB": ("London", "SW1A 1AA"),
    "MY": ("Kuala Lumpur", "50450"),
    "SG": ("Singapore", "238859"),
    "ID": ("Jakarta", "10220"),
}
_PHONE_PREFIX = {"US": "(+1)", "GB": "(+44)", "MY": "(+60)", "SG": "(+65)", "ID": "(+62)"}

# Id prefixes per kind; an id is prefix (3) + shop index (2) + permuted sequence (14) = 19 digits.
PRODUCT, SKU, WAREHOUSE, ORDER, LINE_ITEM, PACKAGE, USER = "172", "173", "706", "576", "577", "115", "702"
_ID_SPACE = 10**14
_ID_MULTIPLIER = 7_919_787_341  # coprime with 10**14, so the permutation is a bijection: ids never collide


def make_id(kind: str, shop: Shop, sequence: int, seed: int) -> str:
    """A 19-digit id, unique per (kind, shop, sequence), random-looking, and stable for a given seed."""
    salt = (seed * 1_000_003 + int(kind) * 982_451_653 + shop.index * 49_979_687) % _ID_SPACE
    permuted = ((sequence + salt) * _ID_MULTIPLIER) % _ID_SPACE
    return f"{kind}{shop.index:02d}{permuted:014d}"


@functools.lru_cache(maxsize=65536)
def money(minor_units: int, currency: str) -> str:
    """Minor units as TikTok's decimal string (`"121.11"`, or `"15000"` for IDR)."""
    exponent = _EXPONENT[currency]
    if exponent == 0:
        return str(minor_units)
    sign = "-" if minor_units < 0 else ""
    major, minor = divmod(abs(minor_units), 10**exponent)
    return f"{sign}{major}.{minor:0{exponent}d}"


def _price(rng: random.Random, currency: str) -> int:
    if currency == "IDR":
        return rng.randrange(*_IDR_RANGE, 500)
    low, high = _PRICE_RANGE[currency]
    return rng.randrange(low, high)


def _pick(rng: random.Random, choices: Any) -> Any:
    # rng.choice/randint cost several calls each; one random() keeps generating 100k orders within seconds.
    return choices[int(rng.random() * len(choices))]


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


@dataclass
class ShopSeed:
    """What a shop's data is generated from."""

    shop: Shop
    seed: int
    products: int
    orders: int
    now: int
    # Where this generation's id sequences start (sandbox/ids.py): products, SKUs, orders; and the ids' seed.
    first_sequences: tuple[int, int, int] = (0, 0, 0)
    id_seed: int | None = None  # None: `seed`

    @property
    def ids_seed(self) -> int:
        return self.seed if self.id_seed is None else self.id_seed


class OrderMeta(NamedTuple):
    """What search needs to know about an order without building it; the full order renders from `sequence`."""

    id: str
    sequence: int
    status: str
    create_time: int
    update_time: int


@dataclass
class GeneratedShop:
    """A shop's freshly generated data, before indexing: orders as metadata, rendered on demand."""

    warehouse_ids: list[str]
    products: list[dict[str, Any]]
    committed: dict[str, dict[str, int]]  # sku id -> warehouse id -> committed quantity
    orders: list[OrderMeta]

    @property
    def sku_count(self) -> int:
        return sum(len(product["skus"]) for product in self.products)


def generate_shop(spec: ShopSeed) -> GeneratedShop:
    """Warehouses, products and order metadata for one shop."""
    # Warehouses are the shop's own, not data: the same ids in every generation.
    warehouse_ids = [make_id(WAREHOUSE, spec.shop, n, spec.ids_seed) for n in range(2)]
    products, committed = _generate_products(spec, warehouse_ids)
    return GeneratedShop(warehouse_ids, products, committed, _generate_order_metas(spec))


def _generate_products(
    spec: ShopSeed, warehouse_ids: list[str]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    shop, seed, now, id_seed = spec.shop, spec.seed, spec.now, spec.ids_seed
    first_product, sku_sequence, _ = spec.first_sequences
    rng = random.Random(f"{seed}:{shop.id}:products")
    currency = shop.currency
    vat = _VAT[shop.region]
    products: list[dict[str, Any]] = []
    committed: dict[str, dict[str, int]] = {}
    for n in range(spec.products):
        # The first products walk through every status so that even a tiny catalog has each one.
        status = (
            PRODUCT_STATUSES[n]
            if n < len(PRODUCT_STATUSES)
            else rng.choices(PRODUCT_STATUSES, cum_weights=_PRODUCT_STATUS_WEIGHTS)[0]
        )
        create_time = now - rng.randrange(DAY, PRODUCT_WINDOW)
        update_time = create_time + rng.randrange(0, now - create_time + 1)
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}{rng.choice(FLAIR)}"
        warehouses = warehouse_ids[: rng.randint(1, 2)]
        base_price = _price(rng, currency)
        skus = []
        variants = rng.randint(1, 5)
        if shop.seller_type == "LOCAL":
            title, variants = shared_product(seed, n)
        for variant_index in range(variants):
            sku_id = make_id(SKU, shop, sku_sequence, id_seed)
            sku_sequence += 1
            sale = base_price + variant_index * (100 if currency != "IDR" else 1000)
            tax_exclusive = round(sale / (1 + vat)) if vat else sale
            skus.append(
                {
                    "id": sku_id,
                    "seller_sku": seller_sku(shop, seed, n, variant_index),
                    "price": {
                        "currency": currency,
                        "sale_price": money(sale, currency),
                        "tax_exclusive_price": money(tax_exclusive, currency),
                    },
                    "inventory": [{"warehouse_id": w, "quantity": rng.randint(0, 500)} for w in warehouses],
                }
            )
            committed[sku_id] = {w: rng.randint(0, 5) for w in warehouses}
        products.append(
            {
                "id": make_id(PRODUCT, shop, first_product + n, id_seed),
                "title": title,
                "status": status,
                "create_time": create_time,
                "update_time": update_time,
                "sales_regions": [shop.region],
                "is_not_for_sale": False,
                "skus": skus,
            }
        )
    if shop.seller_type == "LOCAL" and spec.products > 2 * len(PRODUCT_STATUSES):
        make_bundle(products, n=len(PRODUCT_STATUSES), create_time=now - PRODUCT_WINDOW - DAY)
    return products, committed


def _generate_order_metas(spec: ShopSeed) -> list[OrderMeta]:
    shop, seed, now = spec.shop, spec.seed, spec.now
    first_order = spec.first_sequences[2]
    rng = random.Random(f"{seed}:{shop.id}:orders")
    metas = []
    for n in range(spec.orders):
        create_time = now - rng.randrange(60, ORDER_WINDOW)
        weights = _RECENT_WEIGHTS if now - create_time < 7 * DAY else _OLD_WEIGHTS
        # The first orders walk through every status so that even a tiny shop has each one.
        status = ORDER_STATUSES[n] if n < len(ORDER_STATUSES) else rng.choices(ORDER_STATUSES, cum_weights=weights)[0]
        update_time = create_time + rng.randrange(0, min(now - create_time, 10 * DAY) + 1)
        sequence = first_order + n
        metas.append(
            OrderMeta(make_id(ORDER, shop, sequence, spec.ids_seed), sequence, status, create_time, update_time)
        )
    return metas


def sellable_skus(products: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(product, sku) pairs an order can sell."""
    return [(p, s) for p in products for s in p["skus"]]


def render_order(
    shop: Shop,
    seed: int,
    sellable: list[tuple[dict[str, Any], dict[str, Any]]],
    meta: OrderMeta,
    id_seed: int | None = None,
    rare_cases: bool = False,
) -> dict[str, Any]:
    """The full order for its metadata: the same (seed, shop, sequence) always renders the same order; its ids
    are made with `id_seed` (None: `seed`, as in states saved before sandbox/ids.py). `rare_cases` (off by default,
    `SandboxConfig.rare_cases`): a share of orders FBT or cancelled after shipping (`make_rare`)."""
    rng = random.Random(seed * 1_000_003 + shop.index * 10**12 + meta.sequence)
    ids_seed = seed if id_seed is None else id_seed
    order = build_order(shop, ids_seed, meta.sequence, rng, sellable, meta.status, meta.create_time, meta.update_time)
    if rare_cases:
        make_rare(order, shop, seed, ids_seed, meta.sequence)
    return order


def collected(order: dict[str, Any], status: str, update_time: int) -> None:
    """Set TikTok's `collection_time` (Get Order Detail, int64 Unix seconds: when the carrier collected the order) on
    `order` (a fresh copy) moving to `status` at `update_time`: set once its (last) package is collected, as the order
    moves to IN_TRANSIT (or straight on past it), kept after (DELIVERED, COMPLETED, a package lost: CANCELLED);
    absent before (and on a PARTIALLY_SHIPPING order, whose last package has not left)."""
    if status in COLLECTED_STATUSES and not order.get("collection_time"):
        order["collection_time"] = update_time


def _collection_time(status: str, create_time: int, paid_time: int | None, update_time: int) -> int | None:
    """A generated order's `collection_time`: an IN_TRANSIT order was collected at its last update, a DELIVERED or
    COMPLETED one halfway between its payment and that update; None (absent) before collection. No random draw: the
    order's other fields render as they did before the field."""
    if status not in COLLECTED_STATUSES:
        return None
    if status == "IN_TRANSIT":
        return update_time
    since = paid_time or create_time
    return min(update_time, since + max(0, update_time - since) // 2)


def make_rare(order: dict[str, Any], shop: Shop, seed: int, ids_seed: int, sequence: int) -> None:
    """Make a rendered order one of the rare cases the inventory pool's line rules branch on (live-sync.md sec. 1.5,
    3.2, 3.5, 7.2), in place, for a share of orders: a cancelled order (`CANCELLED_AFTER_SHIPPING_SHARE` of them)
    cancelled after its package left the shelf, each line's `package_status` FULFILLING or CANCELLED (lost: the
    sandbox's own for a line cancelled in transit, `package_status`), shipped and paid for; else an order
    (`FBT_SHARE`) fulfilled by TikTok (`fulfillment_type` FULFILLMENT_BY_TIKTOK). Never both: an FBT line releases
    whatever its package. Drawn from a random stream of the order's own (seeded by text: sha512, no hash
    randomization), never from the order's: without the knob every order renders byte for byte as before it."""
    rng = random.Random(f"{seed}:{shop.id}:rare:{sequence}")
    if order["status"] == "CANCELLED":
        if rng.random() >= CANCELLED_AFTER_SHIPPING_SHARE:
            return
        package_id = make_id(PACKAGE, shop, sequence, ids_seed)
        package = _pick(rng, ("FULFILLING", PACKAGE_LOST))
        for item in order["line_items"]:
            item["package_status"], item["package_id"] = package, package_id
        order["packages"] = [{"id": package_id}]
        order["paid_time"] = order["create_time"] + _between(rng, 5, 600)
        # collected (its package left with the carrier), then cancelled in transit or lost: kept, as at TikTok
        order["collection_time"] = min(order["update_time"], order["paid_time"])
    elif rng.random() < FBT_SHARE:
        order["fulfillment_type"] = FULFILLMENT_BY_TIKTOK


def build_order(
    shop: Shop,
    seed: int,
    sequence: int,
    rng: random.Random,
    sellable: list[tuple[dict[str, Any], dict[str, Any]]],
    status: str,
    create_time: int,
    update_time: int,
) -> dict[str, Any]:
    """One order in Get Order List/Detail shape; at most 8 line items, whose ids derive from the order's; `seed`
    makes the ids (the randomness is `rng`'s)."""
    currency = shop.currency
    shipped = status in SHIPPED_STATUSES or status == "PARTIALLY_SHIPPING"
    package_id = make_id(PACKAGE, shop, sequence, seed) if shipped else None
    line_items = []
    sub_total = original_total = 0
    warehouse_id = ""
    for position in range(_between(rng, 1, 4)):
        if sellable:
            product, sku = _pick(rng, sellable)
            product_id, product_name, sku_id, seller_sku = product["id"], product["title"], sku["id"], sku["seller_sku"]
            sale = parse_price(sku["price"]["sale_price"], currency)
            warehouse_id = warehouse_id or sku["inventory"][0]["warehouse_id"]
        else:
            product_id, product_name, sku_id, seller_sku = "0", "Sandbox item", "0", "SB-NONE"
            sale = _price(rng, currency)
        original = sale + (_pick(rng, (0, 0, 0, 50, 100)) * (10 if currency == "IDR" else 1))
        sub_total += sale
        original_total += original
        item_status = status
        if status == "PARTIALLY_SHIPPING":
            item_status = "IN_TRANSIT" if position == 0 else "AWAITING_SHIPMENT"
        item: dict[str, Any] = {
            "id": make_id(LINE_ITEM, shop, sequence * 8 + position, seed),
            "sku_id": sku_id,
            "seller_sku": seller_sku,
            "product_id": product_id,
            "product_name": product_name,
            "sku_name": seller_sku.rsplit("-", 1)[-1],
            "sale_price": money(sale, currency),
            "original_price": money(original, currency),
            "seller_discount": money(original - sale, currency),
            "platform_discount": money(0, currency),
            "currency": currency,
            "display_status": item_status,
            "package_status": package_status(item_status),
            "is_gift": False,
        }
        if package_id and item_status != "AWAITING_SHIPMENT":
            item["package_id"] = package_id
        listing = combined_listing(sku) if sellable else None
        if listing is not None:  # a virtual bundle's line names its components (live-sync.md sec. 1.5)
            item["combined_listing_skus"] = listing
        line_items.append(item)
    shipping_fee = 0 if rng.random() < 0.4 else (_price(rng, currency) // 10)
    tax = round(sub_total * 0.0825) if shop.region == "US" else 0
    first, last = _pick(rng, _FIRST_NAMES), _pick(rng, _LAST_NAMES)
    order: dict[str, Any] = {
        "id": make_id(ORDER, shop, sequence, seed),
        "status": status,
        "create_time": create_time,
        "update_time": update_time,
        "paid_time": (create_time + _between(rng, 5, 600)) if status not in ("UNPAID", "CANCELLED") else None,
        "payment": {
            "currency": currency,
            "sub_total": money(sub_total, currency),
            "shipping_fee": money(shipping_fee, currency),
            "seller_discount": money(original_total - sub_total, currency),
            "platform_discount": money(0, currency),
            "total_amount": money(sub_total + shipping_fee + tax, currency),
            "original_total_product_price": money(original_total, currency),
            "original_shipping_fee": money(shipping_fee, currency),
            "tax": money(tax, currency),
        },
        "line_items": line_items,
        "recipient_address": {} if status in NO_ADDRESS_STATUSES else address_for(rng, shop.region, first, last),
        "user_id": make_id(USER, shop, sequence, seed),
        "buyer_email": f"{first.lower()[:1]}***{sequence % 97}@scs.tiktokw.us",
        "buyer_message": _pick(rng, ("", "", "Please gift wrap 🎁", "Leave at the door, merci!")),
        "shipping_type": _pick(rng, ("TIKTOK", "TIKTOK", "SELLER")),
        "fulfillment_type": FULFILLMENT_BY_SELLER,
        "delivery_option_name": "Standard shipping",
        "payment_method_name": _pick(rng, ("Credit card", "PayPal", "Cash on delivery")),
        "warehouse_id": warehouse_id,
        "is_on_hold_order": status == "ON_HOLD",
        "is_cod": False,
        "packages": [{"id": package_id}] if package_id else [],
    }
    if order["paid_time"] is None:
        del order["paid_time"]
    collection_time = _collection_time(status, create_time, order.get("paid_time"), update_time)
    if collection_time is not None:
        order["collection_time"] = collection_time
    if status == "CANCELLED":
        order["cancel_reason"] = _pick(rng, ("Buyer changed mind", "Out of stock", "Payment timeout"))
        order["cancellation_initiator"] = _pick(rng, ("BUYER", "SELLER", "SYSTEM"))
    return order


MAX_PRICE_DIGITS = 30  # digits before the point: beyond any price, within Python's int-from-text limit (4300)


class BadPrice(ValueError):
    """A price text the sandbox cannot read exactly; the message says what is allowed."""


@functools.lru_cache(maxsize=65536)
def parse_price(amount: str, currency: str) -> int:
    """A price as TikTok writes it (a decimal string in `currency`'s major units) in minor units: 1 to
    `MAX_PRICE_DIGITS` digits, then for a currency with minor units optionally a point and 1 or 2 digits ("12.5" is
    1250 cents, as "12.50"; IDR has none: "15000"). The one reader of the sandbox's prices (a sale's and a
    generated order's lines alike). Raises `BadPrice` for anything else: a sign, an exponent ("1e3"), grouping
    ("1,234.00"), blanks, more decimals than the currency has ("0.001")."""
    exponent = _EXPONENT[currency]
    fraction = rf"(?:\.(\d{{1,{exponent}}}))?" if exponent else ""
    match = re.fullmatch(rf"(\d{{1,{MAX_PRICE_DIGITS}}}){fraction}", amount, re.ASCII)
    if match is None:
        decimals = f", optionally a point and 1 to {exponent} digits" if exponent else " (no decimals)"
        raise BadPrice(
            f"price must be a decimal string in {currency}: 1 to {MAX_PRICE_DIGITS} digits{decimals}, e.g. "
            f"{money(1999 if exponent else 150000, currency)!r}; no sign, exponent, grouping or blanks; got "
            f"{quoted(amount)}"
        )
    minor = (match.group(2) or "") if exponent else ""
    return int(match.group(1) + minor.ljust(exponent, "0"))  # "12" + "50": 1250 minor units


def address_for(rng: random.Random, region: str, first: str, last: str) -> dict[str, Any]:
    """A recipient address in the shop's region, phone number masked as TikTok masks it."""
    city, postal_code = _CITIES[region]
    line1 = f"{_between(rng, 1, 999)} {_pick(rng, _STREETS)}"
    return {
        "name": f"{first} {last}",
        "first_name": first,
        "last_name": last,
        "phone_number": f"{_PHONE_PREFIX[region]}{_between(rng, 100, 999)}-***-{_between(rng, 1000, 9999)}",
        "address_line1": line1,
        "address_line2": "",
        "address_detail": line1,
        "postal_code": postal_code,
        "region_code": region,
        "full_address": f"{line1}, {city}, {postal_code}, {region}",
    }
