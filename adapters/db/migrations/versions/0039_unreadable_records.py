"""Records TikTok sent that Shopbridge could not read: `unreadable_records`, kept until the record is stored.

Try-out livesync52 (defect 5): an order served with `create_time: 0` failed each poll whose overlap re-read it for
about a minute, then no poll read it again (its `update_time` left the overlap); `Shop.attention` never said so and the
only trace was on old poll tasks, pruned with them. A record a sync fails is now kept here (TikTok's id, the first
reason, when) until a read of the same id is stored (`CatalogRepository.upsert_*`: a poll, an import, a webhook), so
`Shop.attention` shows RECORDS_UNREADABLE for as long as it holds. At most `domain.sync.MAX_UNREADABLE_RECORDS` per
shop and kind. No backfill: failures recorded before this revision only live on their tasks.

Revision ID: 0039_unreadable_records
Revises: 0038_sync_task_retry_at
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039_unreadable_records"
down_revision: str | None = "0038_sync_task_retry_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unreadable_records",
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tiktok_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_unreadable_records_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "kind", "tiktok_id", name=op.f("pk_unreadable_records")),
    )


def downgrade() -> None:
    op.drop_table("unreadable_records")
