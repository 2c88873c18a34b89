"""A completed authorization frees its place: `authorization_requests.completed_at`.

SHOPBRIDGE_MAX_AUTHORIZATION_STARTS counted every start of the last 30 minutes, completed ones too, so a merchant
renewing a fleet of shops that expire together (a year after the sitting that connected them) was held 30 minutes
after every 20 (newcomer54 finding 8). The column records when a request's completion connected or renewed a shop;
`domain.authorization.check_room` then counts only the starts without it (pending, denied, failed), and every start
toward ten times the limit, which keeps the rows bounded.

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite). Null for the rows of a release before this one: they count
as they did, until they expire (30 minutes). A release before this one leaves the column as it is.

Revision ID: 0044_authorization_completed
Revises: 0043_shop_revoked_because
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0044_authorization_completed"
down_revision: str | None = "0043_shop_revoked_because"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("authorization_requests", sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorization_requests", schema=None) as batch:
        batch.drop_column("completed_at")
