"""The order ledger keys a row by component too: a virtual bundle's line reserves its components (issue 8).

`order_line_stock` gains `component_sku_id` and its primary key becomes (shop_id, tiktok_order_id,
tiktok_line_item_id, component_sku_id). Convention: `''` for an ordinary line (the row moves the line's own SKU,
as every row did before); for a bundle line, one row per component, the component's TikTok SKU id (equal to the
row's `tiktok_sku_id`), `sku_count` units (live-sync.md §1.5). Existing rows are kept as they are, with `''`.

The downgrade gives the units of RESERVED component rows back to their items (so `reserved` stays the sum of
the ledger's RESERVED rows) and drops the component rows: the old key cannot hold them.

Revision ID: 0005_bundle_components
Revises: 0004
Create Date: 2026-11-30 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_bundle_components"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LINE_KEY = ["shop_id", "tiktok_order_id", "tiktok_line_item_id"]


def upgrade() -> None:
    # Batch mode: SQLite cannot change a primary key in place (the table is copied); PostgreSQL alters it.
    with op.batch_alter_table("order_line_stock", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("component_sku_id", sa.String(length=64), server_default=sa.text("''"), nullable=False)
        )
        batch_op.drop_constraint("pk_order_line_stock", type_="primary")
        batch_op.create_primary_key("pk_order_line_stock", [*_LINE_KEY, "component_sku_id"])


def downgrade() -> None:
    components = "FROM order_line_stock WHERE state = 'RESERVED' AND component_sku_id <> ''"
    op.execute(
        "UPDATE inventory_items SET reserved = reserved - (SELECT COALESCE(SUM(quantity), 0) "  # noqa: S608
        f"{components} AND inventory_item_id = inventory_items.id), version = version + 1 "
        f"WHERE id IN (SELECT inventory_item_id {components})"
    )
    op.execute("DELETE FROM order_line_stock WHERE component_sku_id <> ''")
    with op.batch_alter_table("order_line_stock", schema=None) as batch_op:
        batch_op.drop_constraint("pk_order_line_stock", type_="primary")
        batch_op.create_primary_key("pk_order_line_stock", _LINE_KEY)
        batch_op.drop_column("component_sku_id")
