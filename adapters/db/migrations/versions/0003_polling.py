"""Polling backstop and token lifecycle: per-shop poll cursors, scheduler leases, token refresh dates and claims.

Revision ID: 0003
Revises: 0001 (the lead re-points it to 0002 when merging the webhook intake)
Create Date: 2026-11-30 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_cursors",
        sa.Column("shop_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cursor_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_sync_cursors_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "kind", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    with op.batch_alter_table("shops") as batch:
        batch.add_column(sa.Column("tokens_refreshed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("access_token_refresh_claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops") as batch:
        batch.drop_column("access_token_refresh_claimed_at")
        batch.drop_column("tokens_refreshed_at")
    op.drop_table("scheduler_leases")
    op.drop_table("sync_cursors")
