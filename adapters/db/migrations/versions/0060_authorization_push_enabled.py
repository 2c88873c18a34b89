"""A new connection's choice of stock push: `authorization_requests.push_enabled` (decide62).

Add store joined every SKU of the new shop whose seller SKU matched one of the merchant's items to that item, and
the first push replaced TikTok's stock of them with the pool's available, unannounced (tryout61 F5: 32 of a
Malaysian shop's 38 listings, 196 -> 609). `shopAuthorizationStart(input: {pushEnabled: false})` now lets the merchant
choose, before TikTok's consent, that the shop starts with stock push off; the pending request keeps the choice until
its completion connects the shop (`AuthorizationRequest.starting_policy`).

Additive, nullable, no backfill: null reads as "the defaults" (push on), what every request started before this
migration asked for; a re-authorization stores null. A release before this one ignores the column (a start it
completes connects with push on, as it always did). The downgrade drops it, losing only pending choices.

Revision ID: 0060_authorization_push_enabled
Revises: 0059_held_item_quantity
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0060_authorization_push_enabled"
down_revision: str | None = "0059_held_item_quantity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("authorization_requests", sa.Column("push_enabled", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authorization_requests") as batch:
        batch.drop_column("push_enabled")
