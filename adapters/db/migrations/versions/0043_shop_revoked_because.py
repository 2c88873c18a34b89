"""Why a shop was revoked: `shops.revoked_because` (`domain.shops.Revocation`).

A refresh of a shop's pair stored after the token sweep's refresh of that same pair was refused lifts the sweep's
revocation (the refused refresh token may have been one the other process had just spent: clientreview53 item 1).
It lifted any revocation made since the pair was issued, the seller's deauthorization too (webhook 6, committed
between TikTok's answer to a refresh and its commit: review53 item 1). Now only a refused refresh's
(`REFRESH_REFUSED`) is lifted; `DEAUTHORIZED` and `REFUSED` (a call's refusal) stand until a re-authorization.

A nullable `ADD COLUMN` (PostgreSQL: no table rewrite). Null: not revoked, or revoked before this revision (the
reason unknown: never lifted, as a deauthorization). A release before this one leaves the column as it is.

Revision ID: 0043_shop_revoked_because
Revises: 0042_deleted_shop_links
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0043_shop_revoked_because"
down_revision: str | None = "0042_deleted_shop_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shops", sa.Column("revoked_because", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shops", schema=None) as batch:
        batch.drop_column("revoked_because")
