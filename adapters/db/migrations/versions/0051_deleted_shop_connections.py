"""When each connection of a TikTok shop began, kept by its delete: `deleted_shop_connections` (review58 R6).

A deleted link's gap period (`domain.inventory.ledger.through_the_gap`) runs on until the SKU's next link; a sale made
while another merchant had the same TikTok shop connected was counted in both merchants' pools. The delete now keeps
(merchant, TikTok shop, when the shop was connected, when deleted), and the gap ends where another merchant's connection
began. No foreign key: it outlives the shop and its items; the retention sweep deletes a row 97 days after its delete,
with the delete's other records.

A new table, empty at the upgrade: deletes before it keep no row (another merchant's connection is then known only by
the link times its delete kept, `deleted_shop_links`, which go with their items). A release before this one ignores the
table. The downgrade drops it, losing only those rows.

Revision ID: 0051_deleted_shop_connections
Revises: 0050_orders_collected_at
Create Date: 2026-12-05 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0051_deleted_shop_connections"
down_revision: str | None = "0050_orders_collected_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deleted_shop_connections",
        sa.Column("merchant_id", sa.String(length=128), nullable=False),
        sa.Column("tiktok_shop_id", sa.String(length=64), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "merchant_id", "tiktok_shop_id", "deleted_at", name=op.f("pk_deleted_shop_connections")
        ),
    )
    op.create_index(
        op.f("ix_deleted_shop_connections_tiktok_shop_id_connected_at"),
        "deleted_shop_connections",
        ["tiktok_shop_id", "connected_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_deleted_shop_connections_deleted_at"), "deleted_shop_connections", ["deleted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_deleted_shop_connections_deleted_at"), table_name="deleted_shop_connections")
    op.drop_index(
        op.f("ix_deleted_shop_connections_tiktok_shop_id_connected_at"), table_name="deleted_shop_connections"
    )
    op.drop_table("deleted_shop_connections")
