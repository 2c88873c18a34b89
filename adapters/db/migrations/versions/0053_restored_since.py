"""Since when a link's units restored unseen are carried: `sku_links.restored_since` (soak59 F1).

A push that wrote the pool's count over units TikTok showed above it (a cancellation TikTok made, not yet released by
the ledger) carries them (`restored_quantity`, migration 0011), and they make up for the next releases. Nothing
retired them: units that were no such cancellation (a sale's units overwritten in flight, a Seller Center edit
upwards) stayed, and each later hid one sale TikTok made unseen coinciding with a release. They now count for the
fence's hold horizon only, from this date (`domain.inventory_push.carried_restore`), as holds do (`held_since`).

Additive, nullable, no backfill: a carried count without a date counts no more (the units left by every storm go at
the upgrade; a real one of the last minutes costs at most one unit held back for nothing, for the horizon). A release
before this one ignores the column (during a rolling deploy its pushes keep a date older than their units, which
then expire sooner: the same side). The downgrade drops it, losing only the dates.

Revision ID: 0053_restored_since
Revises: 0052_orders_package_count
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0053_restored_since"
down_revision: str | None = "0052_orders_package_count"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sku_links", sa.Column("restored_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sku_links") as batch:
        batch.drop_column("restored_since")
