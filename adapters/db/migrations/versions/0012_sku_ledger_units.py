"""The push's fence reads the shop's units per SKU from a running count: `sku_ledger_units`.

Before, each push read the units of the shop's ledger lines of a SKU that had taken stock (RESERVED or DEDUCTED)
and those released with two SUMs over the SKU's lines (`order_line_stock`), in the statement that reads the items'
counters: their cost grew with the SKU's order history (0.8 s on PostgreSQL at 100,000 lines). The ledger's one
write path (`PoolWrite.flush`) now keeps both counts per shop and TikTok SKU in the transaction that writes the
lines, and the push looks them up. This revision creates the table and fills it from the lines there are.

Revision ID: 0012_sku_ledger_units
Revises: 0011_push_ingested
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_sku_ledger_units"
down_revision: str | None = "0011_push_ingested"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sku_ledger_units",
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("tiktok_sku_id", sa.String(length=64), nullable=False),
        sa.Column("ingested", sa.Integer(), nullable=False),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_sku_ledger_units_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "tiktok_sku_id", name=op.f("pk_sku_ledger_units")),
    )
    # One pass over the lines, the same SQL on both databases. Lines a process of the previous release moves after it
    # (a rolling deploy) are not counted here: see the README's "Rolling deploys" for this release.
    op.execute(
        "INSERT INTO sku_ledger_units (shop_id, tiktok_sku_id, ingested, released) "
        "SELECT shop_id, tiktok_sku_id, "
        "SUM(CASE WHEN state IN ('RESERVED', 'DEDUCTED') THEN quantity ELSE 0 END), "
        "SUM(CASE WHEN state = 'RELEASED' THEN quantity ELSE 0 END) "
        "FROM order_line_stock WHERE state IN ('RESERVED', 'DEDUCTED', 'RELEASED') "
        "GROUP BY shop_id, tiktok_sku_id"
    )


def downgrade() -> None:
    op.drop_table("sku_ledger_units")
