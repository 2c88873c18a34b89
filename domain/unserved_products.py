"""A stored product Get Product no longer serves: how to ask TikTok what it holds, and what to store then.

TikTok's Get Product leaves out products in status `FREEZE` and `DELETED` (tiktok-api.md §7), and answers them as a
product not in the shop (12052048, `RecordNotFoundError`); Search Products still lists them, with their status. So a
webhook naming a product the seller just deleted (5 PRODUCT_STATUS_CHANGE, live-sync.md §2.4) leads to "not found".
For a product Shopbridge has stored for the shop, the intake (`domain.services.intake`) confirms with Search
Products (`confirming_searches`) and stores what it finds exactly as the product poll would store that record
(`domain.stored.store_product`: as TikTok lists it, SKUs included; a DELETED product's SKUs are left out of the
pool, their links DROPPED). A product TikTok lists nowhere is stored DELETED (`settle`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.catalog import Product
from domain.stored import DELETED_PRODUCT_STATUS, ProductRecord, StoredProduct, product_as_stored

# Search Products body filters (tiktok-api.md §7): at most 10 seller SKUs; `ALL` lists every status.
MAX_SELLER_SKUS = 10
ALL_STATUSES = "ALL"
# The statuses Get Product does not serve (tiktok-api.md §7): the ones a product it calls "not found" may be in.
UNSERVED_STATUSES = (DELETED_PRODUCT_STATUS, "FREEZE")
MAX_PAGES_PER_SEARCH = 5  # of 100 products: a confirming search's filters name a handful of products


@dataclass(frozen=True, slots=True)
class KnownProduct:
    """A product as the catalog stores it for a shop: the facts a confirming search starts from."""

    tiktok_product_id: str
    title: str
    status: str
    created_at: datetime
    updated_at: datetime
    seller_skus: tuple[str, ...]  # its SKUs' seller SKUs as stored (none if never given, or stored listed nowhere)


@dataclass(frozen=True, slots=True)
class ProductSearch:
    """The body filters of one Search Products call (tiktok-api.md §7); `update_time_ge` in Unix seconds,
    inclusive."""

    status: str = ALL_STATUSES
    seller_skus: tuple[str, ...] = ()
    update_time_ge: int | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """What to store for an unserved product (None: nothing, it is stored so already), and the event's message;
    `deleted_already`: stored DELETED and listed nowhere, so what is stored is TikTok's last word on it (no read of
    it will bring anything: the poll's read of unreadable marks forgets its mark, `domain.services.rereads`)."""

    record: ProductRecord | None
    message: str
    deleted_already: bool = False


def confirming_searches(known: KnownProduct) -> list[ProductSearch]:
    """The Search Products calls that find `known` if TikTok still lists it, cheapest first: by its seller SKUs
    (the first 10, status ALL: one call, any status) when it has some, then each unserved status (DELETED, FREEZE)
    updated since the stored version (a deletion or a freeze changes the product after what Shopbridge stored;
    `update_time_ge` is inclusive). The caller stops at the first search that lists the product."""
    seller_skus = tuple(sorted({s for s in known.seller_skus if s and s.strip()}))[:MAX_SELLER_SKUS]
    searches = [ProductSearch(seller_skus=seller_skus)] if seller_skus else []
    since = int(known.updated_at.timestamp())
    return searches + [ProductSearch(status=status, update_time_ge=since) for status in UNSERVED_STATUSES]


def listed(records: Sequence[object], tiktok_product_id: str) -> ProductRecord | None:
    """The product `tiktok_product_id` among a search page's records (products and unreadable ones), if there."""
    return next(
        (r for r in records if isinstance(r, Product | StoredProduct) and r.tiktok_product_id == tiktok_product_id),
        None,
    )


def settle(known: KnownProduct, found: ProductRecord | None, now: datetime) -> Settled:
    """What to store for `known`, which Get Product calls not found, given what Search Products lists (`found`).

    Listed: that record, as the product poll stores it (with its SKUs as listed; a DELETED one's are left out of
    the pool, their links DROPPED); listed in a version older than the stored one, nothing (the catalog keeps the
    newer `update_time`, so the message says nothing changed; the next poll or webhook settles it).

    Listed nowhere: DELETED, without SKUs (TikTok lists none of them any more). Reasoning: Get Product and every
    confirming search agree that TikTok sells nothing of it in this shop any more, which for the pool is a deletion
    (nothing to push to, nothing to link a re-listing's seller SKU against; its open orders still count on their
    item through the DROPPED links); were it to come back, the next poll or webhook stores it with its SKUs again
    and their links come back (`domain.inventory.links.back_from_drop`). It keeps its title and create time; its
    update time is `now` (when TikTok was found not to list it: a poll page read before that cannot bring it back),
    or the stored one if later. Already stored DELETED and listed nowhere: nothing to store (a replay is a no-op).
    """
    if found is not None:
        _, _, status, _, updated_at = product_as_stored(found).values
        if updated_at < known.updated_at:  # the catalog keeps the newer version: storing it would change nothing
            return Settled(None, f"{_UNSERVED} Search Products lists an older version ({status}): nothing changed.")
        dropped = " with its SKUs, out of the pool (their links DROPPED)" if status == DELETED_PRODUCT_STATUS else ""
        return Settled(found, f"{_UNSERVED} Search Products lists it {status}: stored {status}{dropped}.")
    if known.status == DELETED_PRODUCT_STATUS:
        return Settled(None, f"{_UNSERVED} Search Products lists it nowhere: already stored DELETED.", True)
    deleted = Product(
        known.tiktok_product_id, known.title, DELETED_PRODUCT_STATUS, known.created_at, max(known.updated_at, now), ()
    )
    message = f"{_UNSERVED} Search Products lists it nowhere: stored DELETED without its SKUs (their links DROPPED)."
    return Settled(deleted, message)


_UNSERVED = "Get Product no longer serves this product (TikTok leaves out FREEZE and DELETED ones);"
