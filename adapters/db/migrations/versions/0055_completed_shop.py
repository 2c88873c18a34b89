"""The shop an authorization's completion connected or renewed: `authorization_requests.completed_shop_id` (tryout60 F4).

A completion submitted twice by its merchant (a double-submitted callback, a second tab, a retry whose answer was
lost) was refused "This authorization link was already used; start again." although the first had connected the
shop. The repeat is now answered with that shop (`AuthorizationRequest.completed_for`), without spending or exchanging
anything again.

Additive, nullable, no backfill: a request completed before this migration has no shop recorded, and its repeat is
refused as before (it expires within 30 minutes anyway). No foreign key: a shop deleted since is looked up and not
found (the repeat is then refused as a used state). A release before this one ignores the column. The downgrade drops
it, losing only that.

Revision ID: 0055_completed_shop
Revises: 0054_moved_holds
Create Date: 2026-12-06 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0055_completed_shop"
down_revision: str | None = "0054_moved_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("authorization_requests", sa.Column("completed_shop_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorization_requests") as batch:
        batch.drop_column("completed_shop_id")
