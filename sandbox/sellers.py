"""The sandbox's fixed sellers and their shops (a contract): keys, regions, seller types, ids and ciphers.

Shop ids, ciphers, codes and open ids derive from the seller key alone, so they survive a reseed.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

CURRENCY_BY_REGION = {"US": "USD", "GB": "GBP", "MY": "MYR", "SG": "SGD", "ID": "IDR"}


@dataclass(frozen=True)
class Shop:
    """One TikTok shop as Get Authorized Shops describes it, plus the sandbox's bookkeeping."""

    index: int  # position among all shops: part of every generated id, which keeps ids unique across shops
    seller_key: str
    id: str
    name: str
    region: str
    seller_type: str
    cipher: str
    code: str

    @property
    def currency(self) -> str:
        return CURRENCY_BY_REGION[self.region]

    def as_tiktok(self) -> dict[str, str]:
        """The shop in `GET /authorization/202309/shops` shape."""
        return {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "seller_type": self.seller_type,
            "cipher": self.cipher,
            "code": self.code,
        }


@dataclass(frozen=True)
class Seller:
    """A seller account that can authorize the app; one token covers all its shops."""

    key: str
    name: str
    seller_type: str
    base_region: str
    open_id: str
    shops: tuple[Shop, ...]


# key, seller name, seller type, base region, [(shop name, region)]
_SPECS: tuple[tuple[str, str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("us-local", "Maple Street Goods", "LOCAL", "US", (("Maple Street Goods", "US"),)),
    ("us-local-2", "Desert Bloom Supply", "LOCAL", "US", (("Desert Bloom Supply", "US"),)),
    ("uk-local", "Café Britannia", "LOCAL", "GB", (("Café Britannia", "GB"),)),
    ("my-local", "Kedai Ceria", "LOCAL", "MY", (("Kedai Ceria", "MY"),)),
    ("sg-local", "Lion City Finds", "LOCAL", "SG", (("Lion City Finds", "SG"),)),
    (
        "cross-border",
        "Shenzhen Bright Trading",
        "CROSS_BORDER",
        "CN",
        (("Bright Trading UK", "GB"), ("Bright Trading MY", "MY")),
    ),
    ("id-local", "Toko Nusantara", "LOCAL", "ID", (("Toko Nusantara", "ID"),)),
)


def _digest(*parts: str) -> bytes:
    return hashlib.sha256(":".join(("shopbridge-sandbox", *parts)).encode()).digest()


def _nineteen_digits(*parts: str) -> str:
    return str(10**18 + int.from_bytes(_digest(*parts)[:8], "big") % (9 * 10**18))


def _shop(index: int, key: str, shop_name: str, region: str, seller_type: str) -> Shop:
    cipher_bytes = _digest("cipher", key, region)[:24]
    code_chars = base64.b32encode(_digest("code", key, region)).decode()[:8]
    return Shop(
        index=index,
        seller_key=key,
        id=_nineteen_digits("shop", key, region),
        name=shop_name,
        region=region,
        seller_type=seller_type,
        cipher="GCP_" + base64.urlsafe_b64encode(cipher_bytes).decode().rstrip("="),
        code=f"{region}LC{code_chars}" if seller_type == "LOCAL" else f"CN{region}CB{code_chars}",
    )


def local_seller(key: str, name: str, region: str, index: int) -> Seller:
    """Another local seller with one shop in `region`, its ids derived from `key` like the fixed sellers'."""
    shop = _shop(index, key, name, region, "LOCAL")
    return Seller(key, name, "LOCAL", region, _nineteen_digits("open_id", key), (shop,))


def build_sellers() -> dict[str, Seller]:
    """All sellers by key, in contract order."""
    sellers: dict[str, Seller] = {}
    index = 0
    for key, name, seller_type, base_region, shop_specs in _SPECS:
        shops = []
        for shop_name, region in shop_specs:
            shops.append(_shop(index, key, shop_name, region, seller_type))
            index += 1
        sellers[key] = Seller(
            key=key,
            name=name,
            seller_type=seller_type,
            base_region=base_region,
            open_id=_nineteen_digits("open_id", key),
            shops=tuple(shops),
        )
    return sellers
