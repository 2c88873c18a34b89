"""The open order lines a shop's delete deducted, kept for the same TikTok shop connected again: `deleted_shop_lines`.

`shopDelete` takes its open orders' units off their items' on-hand (DEDUCTED, "shop deleted": the merchant still ships
them from the shared shelf). Connected again, the shop's import found those orders open and reserved them once more,
and their shipment deducted them a second time: on-hand short by their units for good (review46). Each deducted line
is now recorded by merchant and TikTok shop (the shop's own rows go), and the next import of that TikTok shop by the
same merchant counts it back on its item as it was (`domain.inventory.ledger.back_with_its_shop`), then drops it.

A new empty table: shops deleted before this revision left no record (their reconnects keep the old behaviour).

Revision ID: 0031_deleted_shop_lines
Revises: 0030_seeded_from_item
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_deleted_shop_lines"
down_revision: str | None = "0030_seeded_from_item"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deleted_shop_lines",
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("tiktok_shop_id", sa.String(length=64), nullable=False),
        sa.Column("tiktok_order_id", sa.String(length=64), nullable=False),
        sa.Column("tiktok_line_item_id", sa.String(length=64), nullable=False),
        sa.Column("component_sku_id", sa.String(length=64), nullable=False),
        sa.Column("inventory_item_id", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["inventory_items.id"],
            name=op.f("fk_deleted_shop_lines_inventory_item_id_inventory_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id",
            "tiktok_shop_id",
            "tiktok_order_id",
            "tiktok_line_item_id",
            "component_sku_id",
            name=op.f("pk_deleted_shop_lines"),
        ),
    )
    op.create_index(
        op.f("ix_deleted_shop_lines_inventory_item_id"), "deleted_shop_lines", ["inventory_item_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_deleted_shop_lines_inventory_item_id"), table_name="deleted_shop_lines")
    op.drop_table("deleted_shop_lines")
