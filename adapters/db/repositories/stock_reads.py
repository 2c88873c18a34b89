"""A products page that read a product's stored values again: its stock read moves to the page's, where a push landed
after the stored read (`confirm_stock_reads`; README, "A SKU's TikTok stock")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.lists import among, dialect_of
from adapters.db.tables import products, sku_links


async def confirm_stock_reads(session: AsyncSession, shop_id: str, reads: Mapping[datetime, Sequence[str]]) -> None:
    """The shop's products `reads` names (page read time -> TikTok product ids), each read again unchanged (the same
    fingerprint: the same stock, so the stored quantities are TikTok's as of that read too): `products.stock_read_at`
    moves to the page's read, for the rows where a push of one of their SKUs landed after their stored read alone.

    A SKU's TikTok stock is the newer of its product's read and its last push, as of that push's landing
    (`domain.stock_levels.last_known_stock`); a page that found the product unchanged writes no row, so the stock
    TikTok came back to after a push (a push of 12 over an imported 10, then 2 sales at TikTok) read as the push, 12,
    for good. One UPDATE per page read time, writing no row where no push landed since (most of a re-import); the
    later read only (a page read before the stored one moves nothing). The pair stays true: the stored quantities, as
    read then. A push's landing is `push_landing`'s, the later of `push_landed_at` and `pushed_at` (migration 0035):
    it is after the stored read when either is; compared with `pushed_at` alone, a read stored while a push was on
    its way kept its product out of this UPDATE, and TikTok's stock back at that read's read as the push for good."""
    for read_at, product_ids in reads.items():
        landed_since = (
            select(sku_links.c.sku_id)
            .where(
                sku_links.c.shop_id == products.c.shop_id,
                sku_links.c.tiktok_product_id == products.c.tiktok_product_id,
                sku_links.c.pushed_at.is_not(None),
                or_(
                    products.c.stock_read_at.is_(None),
                    sku_links.c.pushed_at > products.c.stock_read_at,
                    sku_links.c.push_landed_at > products.c.stock_read_at,
                ),
            )
            .exists()
        )
        await session.execute(
            update(products)
            .where(
                products.c.shop_id == shop_id,
                among(products.c.tiktok_product_id, sorted(set(product_ids)), dialect_of(session)),
                or_(products.c.stock_read_at.is_(None), products.c.stock_read_at < read_at),
                landed_since,
            )
            .values(stock_read_at=read_at)
        )
