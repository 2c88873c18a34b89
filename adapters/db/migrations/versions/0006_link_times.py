"""A link records when it took effect: a sale first seen already shipped after that time still lowers on-hand.

`sku_links.linked_at` (UTC): when the SKU was linked to its current item (auto or by hand); null for links made
before this revision (their first-seen shipped orders stay history, as before). The ledger reads it: an order
created at or after it that is first seen shipped (its webhooks lost, Shopbridge down through the shipping) left
the pool after the pool counted its stock, so it deducts its units from on-hand instead of being history.

Revision ID: 0006_link_times
Revises: 0005_bundle_components
Create Date: 2026-11-30 15:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_link_times"
down_revision: str | None = "0005_bundle_components"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links", schema=None) as batch_op:
        batch_op.drop_column("linked_at")
