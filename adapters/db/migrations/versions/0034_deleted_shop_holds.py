"""The units a shop's delete took off as sold unseen, kept for the same TikTok shop connected again: `deleted_shop_holds`.

`shopDelete` takes the units its links' push held back as sold unseen (a hold that still stands: TikTok sold them, the
pool never ingested their orders) off their items' on-hand ("shop deleted: sold unseen"). Connected again, the shop's
import brought those orders, still open, and reserved them: `available` fell by their units a second time (8/0/8
after the delete of a shop holding 2 back, 8/3/5 instead of 10/3/7 once that sale and a later one of 1 were imported,
6/1/5 once the sale of 2 shipped; review47). The delete now records those units by merchant,
TikTok shop, SKU and item, with the hold's last push (the sales were made before it); the first open lines of that
SKU the reconnect's import finds made before then take them back on on-hand as they reserve
(`domain.inventory.ledger.back_from_unseen`).

A new empty table: shops deleted before this revision left no record (their reconnects keep the old behaviour).

Revision ID: 0034_deleted_shop_holds
Revises: 0033_deleted_lines_retention
Create Date: 2026-12-04 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_deleted_shop_holds"
down_revision: str | None = "0033_deleted_lines_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deleted_shop_holds",
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("tiktok_shop_id", sa.String(length=64), nullable=False),
        sa.Column("tiktok_sku_id", sa.String(length=64), nullable=False),
        sa.Column("inventory_item_id", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("sold_before", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inventory_item_id"],
            ["inventory_items.id"],
            name=op.f("fk_deleted_shop_holds_inventory_item_id_inventory_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id",
            "tiktok_shop_id",
            "tiktok_sku_id",
            "inventory_item_id",
            "deleted_at",
            name=op.f("pk_deleted_shop_holds"),
        ),
    )
    op.create_index(
        op.f("ix_deleted_shop_holds_inventory_item_id"), "deleted_shop_holds", ["inventory_item_id"], unique=False
    )
    op.create_index(op.f("ix_deleted_shop_holds_deleted_at"), "deleted_shop_holds", ["deleted_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_deleted_shop_holds_deleted_at"), table_name="deleted_shop_holds")
    op.drop_index(op.f("ix_deleted_shop_holds_inventory_item_id"), table_name="deleted_shop_holds")
    op.drop_table("deleted_shop_holds")
