"""A SKU's earlier link periods on its connection: `sku_link_periods` (kept57, pool57 F2).

When a SKU's link leaves an item for another (the merchant's `skuLink` to another item, an import's relink after a
seller SKU renamed in Seller Center), the period it counted orders on the item it leaves is kept: a sale made under
it and first seen shipped after the change (its webhooks lost, read by a poll) deducts from that item
(`domain.inventory.ledger.sold_under_an_earlier_link`). Before, the link forgot it, and linked back to that item
the link's time restarted: the sale was history, its units on sale on every shop for good.

A new table, empty at the upgrade: links changed before it keep no period (their sales first seen later stay history,
as before). A release before this one ignores the table (writes none: the periods of its link changes are lost, as
before). The downgrade drops it, losing only those periods.

Revision ID: 0049_sku_link_periods
Revises: 0048_sku_seller_sku_too_long
Create Date: 2026-12-05 19:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0049_sku_link_periods"
down_revision: str | None = "0048_sku_seller_sku_too_long"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sku_link_periods",
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("tiktok_sku_id", sa.String(length=64), nullable=False),
        sa.Column("inventory_item_id", sa.String(length=32), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_sku_link_periods_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["inventory_items.id"],
            name=op.f("fk_sku_link_periods_inventory_item_id_inventory_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "shop_id", "tiktok_sku_id", "inventory_item_id", "ended_at", name=op.f("pk_sku_link_periods")
        ),
    )
    op.create_index(
        op.f("ix_sku_link_periods_inventory_item_id"), "sku_link_periods", ["inventory_item_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sku_link_periods_inventory_item_id"), table_name="sku_link_periods")
    op.drop_table("sku_link_periods")
