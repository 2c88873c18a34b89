"""A SKU whose seller SKU TikTok sent too long to keep says so: `skus.seller_sku_too_long`.

Since longsku56 a seller SKU longer than the catalog keeps (`domain.stored.MAX_SELLER_SKU_CHARS`, 255 code points)
is stored as none, and its SKU's link read NO_SELLER_SKU: the merchant was told "no seller SKU" of a SKU that has one
on TikTok (sku57). The column keeps the fact, so that auto-linking leaves such a SKU LONG_SELLER_SKU
(`domain.inventory.links.auto_link`): shorten the seller SKU on TikTok, or link it by hand.

A NOT NULL `ADD COLUMN` with a constant default, false (PostgreSQL 11 and later: no table rewrite; SQLite: an
`ALTER TABLE ADD COLUMN`). Rows written before this revision read false: a product stored without its over-long
seller SKU is rewritten with the flag at its next import or product event, its fingerprint including the flag
(`domain.stored.store_product`), and its SKU is then linked LONG_SELLER_SKU. A release before this one ignores the
column. The downgrade drops it, turns the links in state LONG_SELLER_SKU (which that release does not know) into
NO_SELLER_SKU, as that release would have left them, and clears the fingerprint of the products holding a marked SKU,
so that their next import rewrites them (after an upgrade back, the mark again).

Revision ID: 0048_sku_seller_sku_too_long
Revises: 0047_changed_since_indexes
Create Date: 2026-12-05 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0048_sku_seller_sku_too_long"
down_revision: str | None = "0047_changed_since_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "skus", sa.Column("seller_sku_too_long", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )


def downgrade() -> None:
    op.execute("UPDATE sku_links SET state = 'NO_SELLER_SKU' WHERE state = 'LONG_SELLER_SKU'")
    # A product holding a marked SKU keeps no fingerprint: its next import, by whichever release, rewrites it. Kept,
    # it matched that of the same product read again after an upgrade back to 0048 (the mark is in the fingerprint),
    # which then rewrote nothing: the mark, dropped with the column, never came back (review57 F-roundtrip).
    op.execute("UPDATE products SET fingerprint = '' WHERE id IN (SELECT product_id FROM skus WHERE seller_sku_too_long)")
    with op.batch_alter_table("skus", schema=None) as batch:
        batch.drop_column("seller_sku_too_long")
