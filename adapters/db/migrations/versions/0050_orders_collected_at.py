"""When the carrier collected an order: `orders.collected_at` (TikTok's `collection_time`, collect58).

A merchant's count covers the shipments whose units left the shelf before it (`domain.inventory.ledger.
counted_after_shipment`); until this revision a shipment was dated only by the `update_time` of the order version
first seen shipped, so an order collected before a count and first seen after it in a later version (DELIVERED, its
webhook lost) was deducted a second time (count57's "found, not fixed" 1). Get Order Detail's `collection_time`
dates the collection itself; the catalog now stores it with the order (`domain.stored`: in the fingerprint only where
set), and the ledger reads it from the order it applies (`ledger.left_shelf_by`).

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite; SQLite: an `ALTER TABLE ADD COLUMN`). Orders stored before
this revision read NULL (no collection known) and keep their fingerprint: the next import or event that brings one
with a `collection_time` rewrites it with the time. A release before this one ignores the column. The downgrade
drops it, and clears the fingerprint of the orders that had one, so that their next import rewrites them (after an
upgrade back, with the time again: kept, their fingerprint, which includes the time, would match the same order read
again and nothing would write it back; as 0048 does for its flag).

Revision ID: 0050_orders_collected_at
Revises: 0049_sku_link_periods
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050_orders_collected_at"
down_revision: str | None = "0049_sku_link_periods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE orders SET fingerprint = '' WHERE collected_at IS NOT NULL")
    with op.batch_alter_table("orders", schema=None) as batch:
        batch.drop_column("collected_at")
